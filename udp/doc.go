// Package udp implements the User Datagram Protocol (RFC 768, with the
// requirements of RFC 1122 §4.1) for tapstack: the wire codec (wire.go),
// per-socket protocol state with a bounded receive queue (endpoint.go), and
// the demultiplexing table that binds endpoints to local ports and finds the
// endpoint for an arriving datagram (table.go).
//
// The package is sans-IO: it sends nothing, reads no clock and starts no
// goroutines. The stack owns the Table and every Endpoint; it parses an
// arriving datagram with Parse, verifies it with VerifyIPv4 or VerifyIPv6, finds the
// receiver with Table.Lookup and queues the payload with Endpoint.Enqueue
// (or sends ICMP port unreachable, or counts a drop). The socket layer drains
// the queue with Endpoint.Dequeue.
//
// Concurrency: nothing in this package is safe for concurrent use. The stack
// holds one lock around the Table and all its Endpoints for every call,
// including the read-only ones.
//
// User-facing errors are syscall errnos (syscall.EADDRINUSE, EAGAIN, EINVAL,
// EAFNOSUPPORT) so callers can test them with errors.Is. Malformed datagrams
// are never errors to a user: Parse's sentinel errors name the drop reason
// for the stack's counters.
//
// The per-datagram path (Parse, VerifyIPv4, ComputeChecksumIPv4, Lookup,
// Enqueue, Dequeue) does not allocate in the steady state.
package udp
