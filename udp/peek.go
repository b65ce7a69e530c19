package udp

import "net/netip"

// PeekData copies the oldest datagram's payload into b like Dequeue but
// leaves it queued (recvmsg MSG_PEEK). ok is false when the queue is empty.
func (e *Endpoint) PeekData(b []byte) (n, full int, from netip.AddrPort, ok bool) {
	if e.rLen == 0 {
		return 0, 0, netip.AddrPort{}, false
	}
	r := e.recs[e.rHead]
	n = min(len(b), r.n)
	if n > 0 {
		e.readAt(b[:n], e.dHead)
	}
	return n, r.n, r.from, true
}
