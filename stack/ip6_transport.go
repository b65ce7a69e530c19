package stack

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// TCP and UDP over IPv6 (issue 12). Both families share the transports'
// tables: a connection is keyed by its packets' addresses, 4-octet for
// IPv4 and 16-octet for IPv6, so the two never collide. IPv4-mapped
// addresses (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) exist only at the socket
// API, where an AF_INET6 socket shows the IPv4 peers of a dual-stack bind;
// on the wire they are refused (handleTransport6Locked).

// ipPacket is what the transports take from either IP layer.
type ipPacket struct {
	raw      []byte // the IP packet as received, for drop records
	src, dst netip.Addr
	payload  []byte // the transport header and data
	tc       uint8  // IPv4 TOS or IPv6 Traffic Class: its ECN bits (RFC 3168 §5)
}

func ipv4Packet(h ipv4.Header) ipPacket {
	return ipPacket{raw: h, src: h.Src(), dst: h.Dst(), payload: h.Payload(), tc: h.TOS()}
}

// Address families a socket takes packets of (its bind's reach).
const (
	fam4 uint8 = 1 << iota
	fam6
)

// famOf is the family of a packet address.
func famOf(a netip.Addr) uint8 {
	if a.Is4() {
		return fam4
	}
	return fam6
}

// famsOf is what a socket bound to a reaches: an AF_INET socket only IPv4;
// an AF_INET6 one bound to the wildcard both families (IPv4 as mapped
// addresses) unless IPV6_V6ONLY, bound to an IPv4-mapped address (kept
// unmapped) only IPv4, bound to an IPv6 address only IPv6 (Linux's
// inet6_bind, ipv6_only_sock).
func famsOf(v6, v6only bool, a netip.Addr) uint8 {
	switch {
	case !v6 || a.Is4():
		return fam4
	case a.IsUnspecified() && !v6only:
		return fam4 | fam6
	}
	return fam6
}

// presentAddr is how an AF_INET6 socket shows an address kept unmapped in
// the tables: an IPv4 one as ::ffff:a.b.c.d (RFC 4291 §2.5.5.2; RFC 3493
// §3.7); other sockets' addresses are shown as they are.
func presentAddr(v6 bool, ap netip.AddrPort) netip.AddrPort {
	if v6 && ap.Addr().Is4() {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	return ap
}

// sockAddr6 turns an address an AF_INET6 socket was given into the table's
// form: the zone dropped (one link: package socket checks it), the
// unspecified IPv4 address taken as :: and an IPv4 or IPv4-mapped one as
// IPv4 (as Go's net maps them for AF_INET6 sockets, ipToSockaddrInet6).
func sockAddr6(a netip.Addr) netip.Addr {
	a = a.WithZone("")
	switch {
	case !a.IsValid() || a == netip.IPv4Unspecified():
		return netip.IPv6Unspecified()
	case a.Is4In6():
		return a.Unmap()
	}
	return a
}

// mss6Locked is the MSS of a TCP connection over IPv6: the MTU less the
// fixed IPv6 and TCP headers (RFC 9293 §3.7.1; RFC 8200 §5: 40-octet
// header), or the configured MSS if smaller.
func (s *Stack) mss6Locked() int {
	return min(s.tcpCfg.MSS, s.mtu-ipv6.HeaderLen-tcp.HeaderMinLen)
}

// bindAddr6Locked checks an address an AF_INET6 socket is to be bound to
// (after sockAddr6): the wildcard, one of our IPv6 unicast addresses, or an
// IPv4 one bindAddrLocked accepts (EADDRNOTAVAIL otherwise, as Linux's
// inet6_bind). With IPV6_V6ONLY an IPv4-mapped address is EINVAL.
func (s *Stack) bindAddr6Locked(a netip.Addr, v6only bool) (netip.Addr, error) {
	if a.Is4() {
		if v6only {
			return netip.Addr{}, syscall.EINVAL
		}
		return s.bindAddrLocked(a)
	}
	if !a.IsUnspecified() && (a.IsMulticast() || !s.ours6(a)) {
		return netip.Addr{}, syscall.EADDRNOTAVAIL
	}
	return a, nil
}

// handleTransport6Locked hands a TCP or UDP payload (next header next, at
// b in h) to the transports.
func (s *Stack) handleTransport6Locked(eth ethernet.Header, h ipv6.Header, next uint8, b []byte, meta nic.Meta) {
	st := &s.stats.IPv6
	if h.Src().Is4In6() || h.Src().IsUnspecified() {
		// An IPv4-mapped source would be confused with the IPv4 peer it
		// names by an AF_INET6 socket (Linux's ip6_rcv_core drops them;
		// draft-itojun-v6ops-v4mapped-harmful); :: is no transport peer
		// (RFC 4291 §2.5.2: never a source but of DAD).
		s.dropFrameLocked(&st.InBadSource, catIPv6, "in_bad_source", eth)
		return
	}
	st.InDelivers++
	p := ipPacket{raw: h, src: h.Src(), dst: h.Dst(), payload: b, tc: h.TrafficClass()}
	// Transports are unicast only here: multicast groups we join carry
	// only ICMPv6 (TCP: RFC 1122 §4.2.3.10).
	bcast := h.Dst().IsMulticast()
	if next == ipv6.ProtoTCP {
		s.handleTCPPacketLocked(p, bcast, meta)
		return
	}
	s.handleUDPPacketLocked(p, bcast, meta)
}

// LinkName returns the name of the stack's link (the device's): the only
// zone an IPv6 link-local address can have here (RFC 4007 §11).
func (s *Stack) LinkName() string { return s.info.Name }

// icmp6ErrorInLocked hands an ICMPv6 error (RFC 4443 §3) to the transport
// endpoint that sent the packet it quotes (RFC 4443 §3: "the
// upper-layer protocol ... must be notified"): a TCP connection, which
// checks the quoted sequence number (RFC 5927 §4.1), or a UDP socket.
// The quote must start with an IPv6 header from one of our addresses and
// carry the transport header right after it.
//
// A Packet Too Big has acted already (handlePacketTooBigLocked: the path
// MTU, and through it every TCP connection to the destination); here it
// only reaches a connected UDP socket, and finding none is no drop.
// linkFailure says our own neighbour discovery made it
// (resolutionFailedLocked), which fails a connect at once, as the IPv4
// path's host unreachable after ARP fails (tcp.Conn.HandleLinkFailure).
func (s *Stack) icmp6ErrorInLocked(h ipv6.Header, m ipv6.ICMP, linkFailure bool) {
	st := &s.stats.IPv6
	ptb := m.Type() == ipv6.TypePacketTooBig
	q := m.Payload()
	if ptb && (len(q) < ipv6.HeaderLen+8 || q[6] != ipv6.ProtoUDP) {
		return
	}
	if len(q) < ipv6.HeaderLen+8 || q[0]>>4 != 6 {
		s.dropLocked(&st.ICMP6InErrorsUnmatched, catIPv6, "icmp6_in_errors_unmatched", h)
		return
	}
	src, dst := netip.AddrFrom16([16]byte(q[8:24])), netip.AddrFrom16([16]byte(q[24:40]))
	tp := q[ipv6.HeaderLen:]
	local := netip.AddrPortFrom(src, binary.BigEndian.Uint16(tp[0:2]))
	remote := netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tp[2:4]))
	if src.IsMulticast() || !s.ours6(src) {
		s.dropLocked(&st.ICMP6InErrorsUnmatched, catIPv6, "icmp6_in_errors_unmatched", h)
		return
	}
	switch q[6] {
	case ipv6.ProtoTCP:
		e := s.tcpConns[tcpKey{local: local, remote: remote}]
		if e == nil {
			s.dropLocked(&st.ICMP6InErrorsUnmatched, catIPv6, "icmp6_in_errors_unmatched", h)
			return
		}
		s.tcpICMPv6ErrorLocked(e, h, m, seqnum.Value(binary.BigEndian.Uint32(tp[4:8])), linkFailure)
	case ipv6.ProtoUDP:
		ep := s.udp.Lookup(remote, local)
		if ep == nil || ep.LocalAddr().Port() != local.Port() {
			if !ptb {
				s.dropLocked(&st.ICMP6InErrorsUnmatched, catIPv6, "icmp6_in_errors_unmatched", h)
			}
			return
		}
		// As Linux's __udp6_lib_err without IPV6_RECVERR: only the
		// errors icmpv6_err_convert calls fatal (Packet Too Big too,
		// EMSGSIZE, under the default path MTU discovery), and only to a
		// connected socket (icmpErrorLocked checks). The datagrams after
		// it are fragmented to the path MTU.
		if errno, fatal := tcp.FatalICMPv6Error(m.Type(), m.Code()); fatal {
			if e := s.udpEPs[ep]; e != nil {
				e.icmpErrorLocked(errno)
			}
		}
	case ipv6.ProtoICMPv6:
		// Our echo request's header: its identifier at bytes 4-5 names
		// the ping endpoint, which reads the error as a message, as the
		// ICMP one does (ip.go).
		if p := s.pings6[binary.BigEndian.Uint16(tp[4:6])]; p != nil && tp[0] == ipv6.TypeEchoRequest {
			p.deliverLocked(m, h.Src())
			return
		}
		s.dropLocked(&st.ICMP6InErrorsUnmatched, catIPv6, "icmp6_in_errors_unmatched", h)
	default:
		s.dropLocked(&st.ICMP6InErrorsUnmatched, catIPv6, "icmp6_in_errors_unmatched", h)
	}
}

// tcpICMPv6ErrorLocked is tcpICMPErrorLocked for an ICMPv6 error m (in
// h) quoting one of e's segments, with sequence number seq; linkFailure
// as for icmp6ErrorInLocked.
func (s *Stack) tcpICMPv6ErrorLocked(e *tcpEntry, h ipv6.Header, m ipv6.ICMP, seq seqnum.Value, linkFailure bool) {
	s.tcpErrorLocked(e, seq, linkFailure, tcp.SoftICMPv6Error(m.Type(), m.Code()),
		func(c *tcp.Conn, now time.Time) bool {
			return c.HandleICMPv6Error(m.Type(), m.Code(), seq, int(m.MTU()), now)
		},
		func() { s.dropLocked(&s.stats.TCP.OutOfWindowICMPs, catTCP, "out_of_window_icmps", h) })
}

// wildcardSourceLocked is the address a connection bound to a wildcard
// (accepted from a 0.0.0.0 or [::] listener) sends from to remote: our
// IPv4 address, or the IPv6 source selected for remote (RFC 6724 §5).
func (s *Stack) wildcardSourceLocked(remote netip.Addr) netip.Addr {
	if remote.Is4() {
		return s.addr
	}
	return s.source6Locked(remote)
}

// SourceAddr6 returns the source address the stack picks for a packet to
// the IPv6 address dst (RFC 6724 §5), the zero Addr when it has none (a
// new address is tentative until DAD ends, RFC 4862 §5.4): the local
// address a connected datagram socket reports, as Linux's
// ip6_datagram_connect fixes it.
func (s *Stack) SourceAddr6(dst netip.Addr) netip.Addr {
	s.mu.Lock()
	defer s.unlock()
	return s.source6Locked(dst.WithZone(""))
}
