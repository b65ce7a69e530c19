// Package bench compares tapstack with gVisor's netstack side by side, each
// on a TAP in a network namespace of its own, with the same MTU and the same
// kernel-side clients (ping, a Go bulk sender and receiver, wrk, ab, a Go
// client that holds 10,000 idle connections), also under random loss on the
// TAP (nftables), and prints a markdown table. The loss rows also have
// tapstack with each other congestion control and Linux to Linux over a veth
// with the same loss rules (cubic and bbr). It is a benchmark, not a
// test: nothing here runs in a plain `go test ./...` and nothing asserts a
// timing.
//
//	go test ./test/bench -run '^$' -bench Table -benchtime 1x -timeout 60m
//
// gVisor runs in a separate process (the test binary re-executed with
// TAPSTACK_BENCH_GVISOR=1) so that its CPU time and peak RSS can be read from
// /proc exactly as tapstack's are. README.md lists what each row measures and
// the caveats.
package bench
