// Package interop holds the interoperability tests (layer 5 of DESIGN.md's
// "Tests, in layers"): tapstack and gVisor's netstack talk TCP to each other
// over an in-memory nic.Pipe that loses, duplicates and reorders frames in
// both directions, with deterministic seeds. Each test moves a block of
// pseudo-random data one way, checks it by SHA-256 at the other end, and
// checks that both sides close cleanly.
//
// tapstack runs on one end of the pipe; gVisor runs on the other, on a
// link/channel endpoint wrapped by link/ethernet, with two goroutines pumping
// frames between the channel and the pipe end. Both stacks run on the real
// clock: TCP's own timers pace the transfers, and nothing in the tests
// sleeps or asserts a duration.
//
// Sizes: 10 MiB per transfer, with or without -race; 1 MiB with -short.
// TestInterop_Loss10 moves 1 MiB each way at 10% loss, and
// TestInterop_GVisorReference runs gVisor against itself under the same
// conditions, as a yardstick for the throughput the other tests log. A
// failing run keeps a pcap of each end of the link, in the system temp
// directory; -interop.pcap=DIR keeps every run's (go test ./test/interop/
// -args -interop.pcap=DIR).
//
// The package has no non-test code: gVisor may be imported only from test
// files. Run it with go test ./test/interop/.
package interop
