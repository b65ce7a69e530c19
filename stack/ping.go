package stack

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/udp"
)

// PingEndpoint sends ICMP echo requests and receives the replies and the
// ICMP errors about them, like a Linux ping socket (SOCK_DGRAM,
// IPPROTO_ICMP, or IPPROTO_ICMPV6 for an IPv6 one): the stack owns the
// identifier and the checksum.
type PingEndpoint struct {
	notifier
	s     *Stack
	ident uint16
	v6    bool          // ICMPv6 (RFC 4443 §4.1-4.2); its table is s.pings6
	q     *udp.Endpoint // used only as a bounded datagram queue
}

// NewPingEndpoint opens an ICMP ping endpoint with a fresh random
// identifier.
func (s *Stack) NewPingEndpoint() (*PingEndpoint, error) { return s.newPingEndpoint(false) }

// NewPingEndpoint6 opens an ICMPv6 ping endpoint (Linux's SOCK_DGRAM,
// IPPROTO_ICMPV6) with a fresh random identifier. Its identifiers are
// apart from the ICMP ones, as Linux keys ping sockets by family too.
func (s *Stack) NewPingEndpoint6() (*PingEndpoint, error) { return s.newPingEndpoint(true) }

func (s *Stack) newPingEndpoint(v6 bool) (*PingEndpoint, error) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrStackClosed
	}
	table := s.pingTable(v6)
	var b [2]byte
	for tries := 0; ; tries++ {
		if tries == 1<<16 {
			return nil, syscall.EAGAIN
		}
		rand.Read(b[:])
		id := binary.BigEndian.Uint16(b[:])
		if table[id] == nil {
			p := &PingEndpoint{notifier: newNotifier(), s: s, ident: id, v6: v6, q: udp.NewEndpoint(s.udpRcvBuf)}
			table[id] = p
			return p, nil
		}
	}
}

// pingTable is the ping endpoints of one family by identifier.
func (s *Stack) pingTable(v6 bool) map[uint16]*PingEndpoint {
	if v6 {
		return s.pings6
	}
	return s.pings
}

// CheckBind checks an address bind(2) names on the endpoint, which binds
// nothing, as on Linux (ping_check_bind_addr): the zero Addr, the
// unspecified address or one of ours; EADDRNOTAVAIL otherwise (an
// IPv4-mapped one on an ICMPv6 endpoint: EINVAL).
func (p *PingEndpoint) CheckBind(a netip.Addr) error {
	s := p.s
	s.mu.Lock()
	defer s.unlock()
	switch {
	case !a.IsValid():
		return nil
	case p.v6:
		_, err := s.bindAddr6Locked(a, true)
		return err
	case !a.IsUnspecified() && a != s.addr:
		return syscall.EADDRNOTAVAIL
	}
	return nil
}

// V6 reports whether the endpoint sends ICMPv6 (NewPingEndpoint6).
func (p *PingEndpoint) V6() bool { return p.v6 }

// Ident returns the echo identifier the stack puts in every request.
func (p *PingEndpoint) Ident() uint16 { return p.ident }

// SendTo sends the ICMP echo request b (type 8 code 0, at least 8 bytes;
// on an ICMPv6 endpoint type 128 code 0) to dst. As a Linux ping socket,
// the stack overwrites the identifier and computes the checksum. Anything
// else is EINVAL.
func (p *PingEndpoint) SendTo(b []byte, dst netip.Addr) (int, error) {
	s := p.s
	s.mu.Lock()
	defer s.unlock()
	if p.closed {
		return 0, errClosed
	}
	if p.v6 {
		return p.sendTo6Locked(b, dst)
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

// sendTo6Locked is SendTo on an ICMPv6 endpoint: an echo request (RFC 4443
// §4.1) behind an IPv6 header from the source selected for dst (RFC 6724
// §5), its checksum over the IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200
// §8.1), through output6Locked (fragmented above the path MTU). As Linux's
// ping_v6_sendmsg: a message that is no echo request, or an IPv4-mapped
// destination, is EINVAL; an IPv4 one EAFNOSUPPORT.
func (p *PingEndpoint) sendTo6Locked(b []byte, dst netip.Addr) (int, error) {
	s := p.s
	dst = dst.WithZone("")
	switch {
	case len(b) < ipv6.ICMPHeaderLen || b[0] != ipv6.TypeEchoRequest || b[1] != 0:
		return 0, syscall.EINVAL
	case dst.Is4():
		return 0, syscall.EAFNOSUPPORT
	case dst.Is4In6():
		return 0, syscall.EINVAL
	case dst.IsUnspecified():
		return 0, syscall.ENETUNREACH // as a UDP send to :: (udp6.go)
	case len(b) > ipv6.MaxPayloadLen:
		return 0, syscall.EMSGSIZE
	}
	src := s.source6Locked(dst)
	if !src.IsValid() {
		return 0, syscall.ENETUNREACH
	}
	n := ipv6.HeaderLen + len(b)
	pkt := ipv6.Header(s.out[s.linkHdr : s.linkHdr+n])
	ipv6.Encode(pkt, ipv6.Fields{
		PayloadLen: len(b),
		NextHeader: ipv6.ProtoICMPv6,
		HopLimit:   s.hopLimit6Locked(),
		Src:        src,
		Dst:        dst,
	})
	m := ipv6.ICMP(pkt[ipv6.HeaderLen:])
	copy(m, b)
	binary.BigEndian.PutUint16(m[4:6], p.ident)
	m.SetChecksum(src, dst)
	s.stats.IPv6.ICMP6OutMsgs++
	s.stats.IPv6.ICMP6OutEchos++
	if err := s.output6Locked(pkt); err != nil {
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

// deliverLocked queues the ICMP or ICMPv6 message m from from.
func (p *PingEndpoint) deliverLocked(m []byte, from netip.Addr) {
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
	delete(p.s.pingTable(p.v6), p.ident)
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
