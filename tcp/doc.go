// Package tcp is TCP (RFC 9293): wire codec, the sans-IO TCB state machine,
// listeners, and the helpers they share.
//
// The wire layer (wire.go, options.go, segment.go) turns the IP payload of an
// arriving segment into a Segment value with Decode, and writes an outgoing
// header with Encode. Header is a view over the bytes with accessors named
// after the RFC 9293 §3.1 fields; Parse is the one checked way in, and after
// it succeeds no accessor panics. Options (RFC 9293 §3.2, RFC 7323, RFC 2018)
// are walked by a bounded loop that rejects illegal lengths. Decode, Encode,
// ParseOptions, EncodeOptions and the checksum functions do not allocate.
//
// isn.go generates initial sequence numbers (RFC 6528); reset.go builds the
// RST that answers a segment reaching no connection (RFC 9293 §3.10.7.1).
//
// Conn is the TCB (conn.go, input.go, output.go, timers.go, state.go,
// timestamps.go for RFC 7323 timestamps and PAWS, and sack.go for SACK:
// the receiver's blocks, RFC 2018, D-SACK, RFC 2883, and the sender's
// scoreboard with RFC 6675 loss recovery, NewReno, RFC 6582, when SACK is
// not negotiated): a sans-IO state
// machine over all eleven RFC 9293 states. It reads no clock,
// starts no goroutine and does no I/O: every input (a segment, a user call,
// a timer) carries the time, segments leave synchronously through the
// Output the caller supplied, and after each call the caller asks
// NextDeadline when to call HandleTimer and TakeEvents which sockets to
// wake. Listener (listener.go) is LISTEN (every §3.10.7.2 rule, through
// Listener.HandleSegment; the stack supplies the ISS and its admission
// limits in a ListenEnv) with bounded SYN and accept queues, and SYN
// cookies (cookie.go, RFC 4987) when the SYN queue is full. icmp.go applies ICMP errors to a connection (RFC 1122 §4.2.3.9,
// RFC 5927 validation, RFC 1191 MSS reduction). TimeWait (timewait.go) is
// the compact form of a Conn in TIME-WAIT, without buffers or congestion
// state, that answers segments exactly as the Conn would and decides RFC
// 6191 reuse by a new SYN. User data lives in tcp/buffer's rings: the retransmission queue
// is the unacknowledged part of the send ring, and out-of-order data waits
// in the receive ring at its final position.
//
// Concurrency: Header, Segment and Options are plain values with no locking;
// the functions over them are pure. ISNGenerator is safe for concurrent use.
// Conn, TimeWait and Listener are not: the stack calls them under its one
// lock.
package tcp
