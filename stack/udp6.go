package stack

import (
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/udp"
)

// maxUDP6Payload is the largest UDP payload we send over IPv6: what the
// output buffer (an IPv4 datagram's 65535 octets) holds behind the IPv6
// and UDP headers. Linux allows 65527 (RFC 8200 §3: Payload Length less
// the UDP header); no link we run on carries either unfragmented.
const maxUDP6Payload = ipv4.MaxTotalLen - ipv6.HeaderLen - udp.HeaderLen

// NewUDPEndpoint6 opens an unbound AF_INET6 datagram endpoint: it sends to
// and receives from IPv6 peers and, unless SetV6Only, IPv4 ones, which it
// reports as IPv4-mapped addresses (RFC 3493 §3.7).
func (s *Stack) NewUDPEndpoint6() (*UDPEndpoint, error) {
	e, err := s.NewUDPEndpoint()
	if err == nil {
		e.v6 = true
	}
	return e, err
}

// SetV6Only sets IPV6_V6ONLY, as TCPEndpoint.SetV6Only.
func (e *UDPEndpoint) SetV6Only(on bool) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	switch {
	case !e.v6:
		return syscall.ENOPROTOOPT
	case e.bound:
		return syscall.EINVAL
	}
	e.v6only = on
	return nil
}

// V6Only reports IPV6_V6ONLY.
func (e *UDPEndpoint) V6Only() bool {
	e.s.mu.Lock()
	defer e.s.unlock()
	return e.v6only
}

// peerAddrLocked checks a destination for Connect or SendTo and returns it
// in the table's form: an AF_INET endpoint takes IPv4 only (EAFNOSUPPORT);
// an AF_INET6 one IPv6, and IPv4 as a mapped address unless IPV6_V6ONLY
// or bound to an IPv6 address (ENETUNREACH, as Linux's udpv6_sendmsg and
// ip6_datagram_connect).
func (e *UDPEndpoint) peerAddrLocked(a netip.Addr) (netip.Addr, error) {
	if !e.v6 {
		if !a.Is4() {
			return netip.Addr{}, syscall.EAFNOSUPPORT
		}
		return a, nil
	}
	a = sockAddr6(a)
	local := e.ep.LocalAddr().Addr()
	if a.Is4() && (e.v6only || e.bound && !local.Is4() && !local.IsUnspecified()) {
		return netip.Addr{}, syscall.ENETUNREACH
	}
	if !a.Is4() && e.bound && local.Is4() {
		return netip.Addr{}, syscall.ENETUNREACH
	}
	return a, nil
}

// sendTo6Locked is SendTo to an IPv6 peer: a UDP datagram with its
// mandatory checksum (RFC 8200 §8.1) behind an IPv6 header, through
// output6Locked. The source is the bound address or, bound to ::, the one
// selected for to (RFC 6724 §5).
func (e *UDPEndpoint) sendTo6Locked(b []byte, to netip.AddrPort) (int, error) {
	s := e.s
	switch {
	case to.Port() == 0:
		return 0, syscall.EINVAL
	case to.Addr().IsUnspecified():
		return 0, syscall.ENETUNREACH
	case len(b) > maxUDP6Payload:
		return 0, syscall.EMSGSIZE
	}
	if !e.bound {
		if _, err := e.bindLocked(netip.AddrPort{}, false); err != nil {
			return 0, err
		}
	}
	src := e.ep.LocalAddr().Addr()
	if src.IsUnspecified() {
		src = s.source6Locked(to.Addr())
	}
	if !src.IsValid() {
		return 0, syscall.ENETUNREACH
	}
	n := ipv6.HeaderLen + udp.HeaderLen + len(b)
	pkt := ipv6.Header(s.out[s.linkHdr : s.linkHdr+n])
	ipv6.Encode(pkt, ipv6.Fields{
		TrafficClass: e.ip.tclass6(),
		PayloadLen:   udp.HeaderLen + len(b),
		NextHeader:   ipv6.ProtoUDP,
		HopLimit:     e.ip.hopLimit6(s.hopLimit6Locked()),
		Src:          src,
		Dst:          to.Addr(),
	})
	u := udp.Header(pkt[ipv6.HeaderLen:])
	udp.Encode(u, e.ep.LocalAddr().Port(), to.Port(), len(b))
	copy(u[udp.HeaderLen:], b)
	u.ComputeChecksumIPv6(src, to.Addr())
	s.stats.UDP.OutDatagrams++
	if err := s.output6Locked(pkt); err != nil {
		return 0, err
	}
	return len(b), nil
}
