package udp

import (
	"errors"
	"net/netip"
)

// DefaultRcvBuf is the receive queue bound used when NewEndpoint is given a
// non-positive size: Linux's net.core.rmem_default.
const DefaultRcvBuf = 212992

// DatagramOverhead is what each queued datagram costs against the receive
// bound on top of its payload, so that empty or tiny datagrams cannot queue
// without bound. Linux charges the skb's truesize (several hundred bytes);
// we charge a flat amount close to our own per-datagram bookkeeping.
const DatagramOverhead = 64

// ErrQueueFull is the drop reason the stack records when Enqueue refuses a
// datagram (Linux: UDP RcvbufErrors). It never reaches a user.
var ErrQueueFull = errors.New("udp: receive queue full")

// minDataRing and minRecRing are the initial sizes of the queue's rings;
// both grow by doubling as needed and never shrink.
const (
	minDataRing = 2048
	minRecRing  = 16
)

// record describes one queued datagram; its payload is the next n bytes of
// the data ring after the records before it.
type record struct {
	n    int
	from netip.AddrPort
}

// Endpoint is one UDP socket's protocol state: its binding, its connected
// peer, a pending ICMP error and a bounded FIFO receive queue of datagrams.
//
// The stack owns Endpoints and calls every method under its lock; an
// Endpoint is not safe for concurrent use. Binding and connecting go through
// a Table.
//
// The receive queue is a byte ring holding payloads back to back (a payload
// may wrap around the end) plus a ring of records (length and source). Both
// rings grow by doubling up to what the bound needs and are then reused, so
// steady-state Enqueue and Dequeue do not allocate; the byte ring is
// allocated on first use, so idle endpoints cost little memory.
type Endpoint struct {
	// Binding, maintained by Table.
	local  netip.AddrPort
	remote netip.AddrPort // zero when not connected
	bound  bool
	reuse  bool // SO_REUSEADDR at bind time
	v6     bool // AF_INET6 (SetV6)
	v6only bool // IPV6_V6ONLY

	err error // pending ICMP-derived error, see SetError

	// Receive queue.
	rcvBuf  int      // bound on charged bytes
	charged int      // sum of len(payload)+DatagramOverhead over queued datagrams
	data    []byte   // payload ring
	dHead   int      // offset of the oldest payload byte
	dLen    int      // payload bytes queued
	recs    []record // record ring, len is a power of two
	rHead   int      // index of the oldest record
	rLen    int      // records queued
	drops   uint64
}

// NewEndpoint returns an unbound Endpoint whose receive queue is bounded by
// rcvBuf bytes (DefaultRcvBuf if rcvBuf <= 0), counting each datagram as its
// payload length plus DatagramOverhead.
func NewEndpoint(rcvBuf int) *Endpoint {
	if rcvBuf <= 0 {
		rcvBuf = DefaultRcvBuf
	}
	return &Endpoint{rcvBuf: rcvBuf}
}

// SetV6 makes ep an AF_INET6 endpoint, with IPV6_V6ONLY set to v6only,
// for the Table's next Bind (see Table.Bind for what it changes).
func (ep *Endpoint) SetV6(v6only bool) { ep.v6, ep.v6only = true, v6only }

// fams is the address families ep takes, bound to addr: an AF_INET
// endpoint IPv4; an AF_INET6 one bound to :: both unless IPV6_V6ONLY, to
// an IPv4 address (given mapped) IPv4, to an IPv6 address IPv6 (Linux's
// inet6_bind and ipv6_only_sock).
func (ep *Endpoint) fams(addr netip.Addr) uint8 {
	switch {
	case !ep.v6 || addr.Is4():
		return fam4
	case addr.IsUnspecified() && !ep.v6only:
		return fam4 | fam6
	}
	return fam6
}

// DualStack reports whether ep is bound to :: for both families (SetV6
// without IPV6_V6ONLY).
func (ep *Endpoint) DualStack() bool { return ep.bound && ep.fams(ep.local.Addr()) == fam4|fam6 }

// Address families, as a set.
const (
	fam4 uint8 = 1 << iota
	fam6
)

// LocalAddr returns the bound local address, or the zero AddrPort when
// unbound. The address is 0.0.0.0 for a wildcard binding.
func (e *Endpoint) LocalAddr() netip.AddrPort { return e.local }

// RemoteAddr returns the connected peer, or the zero AddrPort when not
// connected.
func (e *Endpoint) RemoteAddr() netip.AddrPort { return e.remote }

// connected reports whether Connect gave the endpoint a peer.
func (e *Endpoint) connected() bool { return e.remote.Addr().IsValid() }

// SetRcvBuf changes the receive queue bound to n bytes (negative counts as
// 0). Datagrams already queued stay even if they now exceed the bound; new
// ones are refused until the queue drains below it. The socket layer applies
// Linux's SO_RCVBUF conventions (doubling, minimum) before calling this.
func (e *Endpoint) SetRcvBuf(n int) {
	e.rcvBuf = max(n, 0)
}

// Enqueue copies payload with its source into the receive queue and reports
// whether it fit. A datagram fits when the queue's charge plus
// len(payload)+DatagramOverhead stays within the bound; a false return is a
// receive-buffer drop (Linux UDP RcvbufErrors), counted by Drops.
//
// Deviation (Linux compat): like __udp_enqueue_schedule_skb ("always allow at
// least one packet for small buffer"), an empty queue accepts one datagram
// whatever its size, so a small SO_RCVBUF cannot blackhole large datagrams.
func (e *Endpoint) Enqueue(payload []byte, from netip.AddrPort) bool {
	cost := len(payload) + DatagramOverhead
	if e.rLen > 0 && e.charged+cost > e.rcvBuf {
		e.drops++
		return false
	}
	if len(e.data)-e.dLen < len(payload) {
		e.growData(len(payload))
	}
	if e.rLen == len(e.recs) {
		e.growRecs()
	}
	// Copy the payload in at the tail, wrapping if needed.
	if len(payload) > 0 {
		tail := e.dHead + e.dLen
		if tail >= len(e.data) {
			tail -= len(e.data)
		}
		k := copy(e.data[tail:], payload)
		copy(e.data, payload[k:])
	}
	e.dLen += len(payload)
	e.recs[(e.rHead+e.rLen)&(len(e.recs)-1)] = record{n: len(payload), from: from}
	e.rLen++
	e.charged += cost
	return true
}

// growData enlarges the payload ring so that need more bytes fit, and
// linearizes the queued bytes at its start.
func (e *Endpoint) growData(need int) {
	n := max(len(e.data)*2, minDataRing)
	for n-e.dLen < need {
		n *= 2
	}
	// The bound limits what can ever be queued; don't overshoot it by
	// doubling (one oversized datagram in an empty queue may exceed it).
	n = min(n, max(e.rcvBuf, e.dLen+need))
	d := make([]byte, n)
	e.readAt(d[:e.dLen], e.dHead)
	e.data, e.dHead = d, 0
}

// growRecs doubles the record ring, keeping records in order.
func (e *Endpoint) growRecs() {
	r := make([]record, max(len(e.recs)*2, minRecRing))
	for i := range e.rLen {
		r[i] = e.recs[(e.rHead+i)&(len(e.recs)-1)]
	}
	e.recs, e.rHead = r, 0
}

// readAt copies len(b) bytes from the payload ring starting at offset off,
// wrapping at the end of the ring.
func (e *Endpoint) readAt(b []byte, off int) {
	k := copy(b, e.data[off:])
	copy(b[k:], e.data)
}

// Dequeue copies the oldest datagram's payload into b and removes it from
// the queue. n is the number of bytes copied and full the payload's real
// length: n < full means the datagram was truncated and the rest discarded
// (recvmsg MSG_TRUNC semantics). ok is false when the queue is empty.
func (e *Endpoint) Dequeue(b []byte) (n, full int, from netip.AddrPort, ok bool) {
	if e.rLen == 0 {
		return 0, 0, netip.AddrPort{}, false
	}
	r := &e.recs[e.rHead]
	full, from = r.n, r.from
	n = min(len(b), full)
	if n > 0 {
		e.readAt(b[:n], e.dHead)
	}
	*r = record{} // drop the reference held by from's Addr
	e.rHead = (e.rHead + 1) & (len(e.recs) - 1)
	e.rLen--
	e.dHead += full
	if e.dHead >= len(e.data) {
		e.dHead -= len(e.data)
	}
	e.dLen -= full
	e.charged -= full + DatagramOverhead
	if e.rLen == 0 {
		e.dHead = 0 // keep the next payloads contiguous
	}
	return n, full, from, true
}

// Peek reports the payload length of the oldest datagram without removing
// it (Linux: FIONREAD / SIOCINQ on a UDP socket); ok is false when empty.
func (e *Endpoint) Peek() (full int, ok bool) {
	if e.rLen == 0 {
		return 0, false
	}
	return e.recs[e.rHead].n, true
}

// Queued reports how many datagrams and payload bytes are queued.
func (e *Endpoint) Queued() (datagrams, bytes int) { return e.rLen, e.dLen }

// Drops returns the number of datagrams Enqueue refused.
func (e *Endpoint) Drops() uint64 { return e.drops }

// SetError records an error derived from an ICMP message about this
// endpoint's traffic (for example syscall.ECONNREFUSED for port
// unreachable), replacing any pending one. RFC 1122 §4.1.3.3: "UDP MUST pass
// to the application layer all ICMP error messages that it receives from the
// IP layer."
//
// Deviation (Linux compat): the stack reports ICMP errors only on connected
// endpoints (Linux does the same unless IP_RECVERR is set); that policy is
// the stack's, SetError stores whatever it is given.
func (e *Endpoint) SetError(err error) { e.err = err }

// TakeError returns the pending error and clears it, so a later send or
// receive reports it once (Linux sock_error). It returns nil when none.
func (e *Endpoint) TakeError() error {
	err := e.err
	e.err = nil
	return err
}
