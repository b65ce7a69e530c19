package stack

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/udp"
)

// PingEndpoint sends ICMP echo requests and receives the replies and the
// ICMP errors about them, like a Linux ping socket (SOCK_DGRAM,
// IPPROTO_ICMP): the stack owns the identifier and the checksum.
type PingEndpoint struct {
	notifier
	s     *Stack
	ident uint16
	q     *udp.Endpoint // used only as a bounded datagram queue
}

// NewPingEndpoint opens a ping endpoint with a fresh random identifier.
func (s *Stack) NewPingEndpoint() (*PingEndpoint, error) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrStackClosed
	}
	var b [2]byte
	for tries := 0; ; tries++ {
		if tries == 1<<16 {
			return nil, syscall.EAGAIN
		}
		rand.Read(b[:])
		id := binary.BigEndian.Uint16(b[:])
		if s.pings[id] == nil {
			p := &PingEndpoint{notifier: newNotifier(), s: s, ident: id, q: udp.NewEndpoint(s.udpRcvBuf)}
			s.pings[id] = p
			return p, nil
		}
	}
}

// Ident returns the echo identifier the stack puts in every request.
func (p *PingEndpoint) Ident() uint16 { return p.ident }

// SendTo sends the ICMP echo request b (type 8 code 0, at least 8 bytes) to
// dst. As a Linux ping socket, the stack overwrites the identifier and
// computes the checksum. Anything else is EINVAL.
func (p *PingEndpoint) SendTo(b []byte, dst netip.Addr) (int, error) {
	s := p.s
	s.mu.Lock()
	defer s.unlock()
	if p.closed {
		return 0, errClosed
	}
	switch {
	case len(b) < ipv4.ICMPHeaderLen || b[0] != ipv4.TypeEcho || b[1] != 0:
		return 0, syscall.EINVAL
	case !dst.Is4():
		return 0, syscall.EAFNOSUPPORT
	case len(b) > ipv4.MaxTotalLen-ipv4.HeaderMinLen:
		return 0, syscall.EMSGSIZE
	case s.isBroadcast(dst):
		return 0, syscall.EACCES
	}
	n := ipv4.HeaderMinLen + len(b)
	pkt := ipv4.Header(s.out[s.linkHdr : s.linkHdr+n])
	ipv4.Encode(pkt, ipv4.Fields{
		TotalLen: n,
		ID:       s.ids.Next(s.addr, dst, ipv4.ProtoICMP),
		DF:       n <= s.mtu,
		TTL:      s.ttl,
		Protocol: ipv4.ProtoICMP,
		Src:      s.addr,
		Dst:      dst,
	})
	m := ipv4.ICMP(pkt[ipv4.HeaderMinLen:])
	copy(m, b)
	m.SetIdent(p.ident)
	m.SetChecksum()
	s.stats.ICMP.OutMsgs++
	s.stats.ICMP.OutEchos++
	if err := s.outputLocked(pkt); err != nil {
		return 0, err
	}
	return len(b), nil
}

// TryRecvFrom copies the next ICMP message for this endpoint (an echo reply,
// or an error quoting one of our requests) into b and returns its sender.
// EAGAIN when none is queued.
func (p *PingEndpoint) TryRecvFrom(b []byte) (n int, from netip.Addr, err error) {
	p.s.mu.Lock()
	defer p.s.unlock()
	if p.closed {
		return 0, netip.Addr{}, errClosed
	}
	n, _, ap, ok := p.q.Dequeue(b)
	if !ok {
		return 0, netip.Addr{}, syscall.EAGAIN
	}
	if d, _ := p.q.Queued(); d > 0 {
		p.notify()
	}
	return n, ap.Addr(), nil
}

func (p *PingEndpoint) deliverLocked(m ipv4.ICMP, from netip.Addr) {
	if p.q.Enqueue(m, netip.AddrPortFrom(from, 0)) {
		p.notify()
	}
}

// Close releases the identifier and wakes blocked callers.
func (p *PingEndpoint) Close() error {
	p.s.mu.Lock()
	defer p.s.unlock()
	if p.closed {
		return errClosed
	}
	p.closeLocked()
	return nil
}

func (p *PingEndpoint) closeLocked() {
	delete(p.s.pings, p.ident)
	p.close()
}

// PollReadable reports whether a receive would return without blocking.
func (p *PingEndpoint) PollReadable() bool {
	p.s.mu.Lock()
	defer p.s.unlock()
	d, _ := p.q.Queued()
	return d > 0 || p.closed
}

// AddWaiter registers w to be pinged when the endpoint may be readable.
func (p *PingEndpoint) AddWaiter(w chan struct{}) {
	p.s.mu.Lock()
	p.rd.addWaiter(w)
	p.s.mu.Unlock()
}

// RemoveWaiter undoes AddWaiter.
func (p *PingEndpoint) RemoveWaiter(w chan struct{}) {
	p.s.mu.Lock()
	p.rd.removeWaiter(w)
	p.s.mu.Unlock()
}
