package stack

import (
	"net/netip"

	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/tcp"
)

// Path MTU discovery for IPv6 (RFC 8201). The path MTU of each destination
// that a Packet Too Big lowered is kept in s.pmtu6, a pmtuCache as for
// IPv4: at most pmtuMax destinations, each entry aging out pmtuExpiry (10
// minutes) after its last decrease, so that a larger MTU is tried again
// (RFC 8201 §4: "no less than 5 minutes after", "10 minutes is
// recommended"; Linux's ip6_rt_mtu_expires is 600 s). Sending uses it
// through pmtu6Locked: sendResolved6Locked fragments to it, and TCP's MSS
// is to follow it (tcpMSS6Locked).

// pmtu6Locked returns the path MTU to dst: the link MTU, lowered by a
// Packet Too Big for dst that has not aged out (RFC 8201 §4), where the
// link MTU is the IPv6 one (mtu6Locked).
func (s *Stack) pmtu6Locked(dst netip.Addr) int {
	link := s.mtu6Locked() // a router's MTU option may lower it (RFC 4861 §6.3.4)
	if mtu, ok := s.pmtu6.lookup(dst, s.nowLocked()); ok && mtu < link {
		return mtu
	}
	return link
}

// tcpMSS6Locked is the MSS a TCP connection to dst may send in one
// unfragmented packet: the path MTU less the IPv6 and TCP headers
// (RFC 8201 §5.2 for packetization layers; RFC 9293 §3.7.1). The TCP over
// IPv6 work calls it when it opens a connection and when
// pathMTU6ChangedLocked reports a decrease.
func (s *Stack) tcpMSS6Locked(dst netip.Addr) int {
	return s.pmtu6Locked(dst) - ipv6.HeaderLen - tcp.HeaderMinLen
}

// pathMTU6ChangedLocked is called when a Packet Too Big lowered the path
// MTU to dst to mtu: TCP shrinks the segments of its connections to dst
// (RFC 8201 §5.2: "the packetization layer ... should use the PMTU";
// tcpPathMTU6Locked).
func (s *Stack) pathMTU6ChangedLocked(dst netip.Addr, mtu int) {
	s.tcpPathMTU6Locked(dst, mtu)
}

// handlePacketTooBigLocked acts on a Packet Too Big (RFC 4443 §3.2,
// RFC 8201 §4) m, already checksummed, from src: the quoted packet must be
// one we sent (its source one of our unicast addresses) to a unicast
// destination; an MTU below 1280 is taken as 1280 (RFC 8200 §5: a node
// need not fragment below it, and RFC 8201 §4: "MUST NOT reduce its
// estimate of the Path MTU below the IPv6 minimum link MTU"; Linux's
// rt6_do_update_pmtu does the same); an MTU not below the link MTU, or
// above the path MTU we use, is ignored (RFC 8201 §4: "MUST NOT increase its estimate ... in response
// to the contents of a Packet Too Big message"). Each ignored message is
// counted in icmp6_in_ptb_ignored.
func (s *Stack) handlePacketTooBigLocked(m ipv6.ICMP) {
	st := &s.stats.IPv6
	st.ICMP6InPktTooBigs++
	q := m.Payload()
	if len(q) < ipv6.HeaderLen {
		st.ICMP6InPTBIgnored++
		return
	}
	orig := ipv6.Header(q)
	dst := orig.Dst()
	if src := orig.Src(); src.IsMulticast() || !s.ours6(src) || dst.IsMulticast() || dst.IsUnspecified() {
		st.ICMP6InPTBIgnored++
		return
	}
	mtu := int(min(m.MTU(), uint32(ipv6.MaxPayloadLen+ipv6.HeaderLen)))
	mtu = max(mtu, ipv6.MinMTU)
	if mtu >= s.mtu6Locked() || mtu > s.pmtu6Locked(dst) {
		st.ICMP6InPTBIgnored++
		return
	}
	// The same value again may renew the entry (pmtuCache.learn).
	s.pmtu6.learn(dst, mtu, s.nowLocked())
	s.pathMTU6ChangedLocked(dst, mtu)
}
