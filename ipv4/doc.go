// Package ipv4 implements the Internet Protocol version 4 (RFC 791) for
// tapstack: the header codec and its checks, ICMP (RFC 792) messages and the
// rules for when an error may be sent (RFC 1122 §3.2.2), the routing table,
// IP identification generation (RFC 6864), fragmentation and reassembly
// (RFC 791 §3.2, RFC 1122 §3.3).
//
// The package does no I/O, reads no clock and starts no goroutines: time comes
// in as a "now" argument and the Reassembler reports its next deadline.
//
// Ownership: Header and ICMP are views over the caller's bytes and never copy
// or retain them. Fragment hands out a header in a scratch buffer valid only
// during the emit call. The Reassembler copies fragment data into buffers it
// owns; a completed datagram is a new buffer handed to the caller.
//
// Concurrency: RouteTable and Reassembler are not safe for concurrent use; the
// stack serialises calls under its lock. IDGen is the one exception: Next uses
// atomic counters and may be called from any goroutine. The free functions
// are pure.
package ipv4
