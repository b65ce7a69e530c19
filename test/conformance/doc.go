// Package conformance holds the differential tests (layer 4 of DESIGN.md's
// "Tests, in layers"): the same scripted exchange of crafted Ethernet frames
// is played against tapstack and against gVisor's netstack, both on manual
// clocks, and what each stack sends back is compared after normalising the
// fields that may legitimately differ (IPv4 identification, checksums that
// depend on it, Ethernet padding). Every difference that remains is either
// listed, with its reason, in the known-differences table of the tests (and
// CONFORMANCE.md, which a test keeps in step), or a failure. Where the
// comparison says little about tapstack (a known difference, a field a
// script erases), tapstack's own transcript is pinned in
// testdata/tapstack and must match it exactly (go test -update rewrites
// them).
//
// TCP scripts play the peer with crafted segments; each stack's ISS is
// learned from its SYN or SYN-ACK and sequence numbers are compared
// relative to it.
//
// The package has no non-test code: gVisor may be imported only from test
// files. Run it with go test ./test/conformance/.
package conformance
