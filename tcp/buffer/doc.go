// Package buffer holds TCP's per-connection byte buffers: Send, the send ring
// whose unacknowledged prefix is the retransmission queue, and Recv, the
// receive ring that keeps in-order data for the user and out-of-order data in
// place at its final position.
//
// Both are plain data structures: they do no I/O, read no clock and know
// nothing of sequence numbers. Offsets are ints relative to a base the TCB
// owns (SND.UNA for Send, RCV.NXT for Recv), so wraparound of the 32-bit
// sequence space is the TCB's concern, not theirs.
//
// Memory: a ring is allocated on the first write that stores a byte, with the
// capacity in force at that moment, so an idle connection costs only the
// struct. Rings are powers of two from 4 KiB (a capacity that is not one
// gets the size above it) and come from a process-wide pool of free lists,
// one per size class (pool.go): growing the capacity of an existing ring
// replaces it once by a larger one and gives the old one back, as Release
// and Reset do, so a connection that grows through several sizes leaves no
// garbage per step. The pool is bounded (Pooled reports what it keeps, on
// top of Memory's Used). Shrinking never moves or drops held data, it only
// limits what is accepted next. After the ring exists, no method allocates.
//
// The capacity of a Send is the TCB's to set: it starts small and follows
// congestion control (send-buffer autotuning, as Linux's
// tcp_sndbuf_expand), or is what the user asked with SO_SNDBUF.
//
// Neither type is safe for concurrent use: the stack calls them under the lock
// that guards the connection.
package buffer
