package stack

import (
	"github.com/tapstack/tapstack/ipv6"
)

// ICMPv6 error messages (RFC 4443 §2.4, §3): when the stack sends one,
// to whom, from which address, quoting what, and how often.

// The per-destination rate limit of ICMPv6 errors (RFC 4443 §2.4 (f): "an
// IPv6 node MUST limit the rate of ICMPv6 error messages it originates";
// §2.4 (f) suggests a token bucket): icmpPeerLimit (icmplimit.go), as
// Linux's icmpv6_xrlim_allow, before the global bucket the stack shares
// with ICMPv4. Packet Too Big is not limited (Linux's default ratemask
// 0-1,3-127: "do not limit pmtu discovery").
// Deviation (Linux compat, partial): Linux shortens the interval for
// destinations reached through a shorter route prefix (by 2 per 32 bits:
// 250 ms on a /64); we have no routes and keep 1 s.

// icmp6ErrorLocked sends an ICMPv6 error of type typ and code about pkt,
// a packet we received (or the first fragment of one), to its source
// (RFC 4443 §2.2, §3). pointer is the message's second word: the Pointer
// of a Parameter Problem (an offset into pkt), the MTU of a Packet Too
// Big, ignored for the other types (sent as zero, "unused"). The
// message quotes as much of pkt as fits in the minimum MTU of 1280
// (§3.1-§3.4). The source is the unicast address pkt was sent to, or for
// a multicast one our address chosen for the destination (§2.2 (a), (c)).
//
// Nothing is sent when §2.4 (e) forbids it (counted in
// icmp6_out_errors_suppressed: see icmp6ErrorAllowed) or the rate limit
// says no (§2.4 (f), counted per bucket).
func (s *Stack) icmp6ErrorLocked(pkt ipv6.Header, typ, code uint8, pointer uint32) {
	st := &s.stats.IPv6
	if !icmp6ErrorAllowed(pkt, typ, code, pointer, s.rx6LinkMcast) {
		st.ICMP6OutErrorsSuppressed++
		return
	}
	to := pkt.Src()
	if typ != ipv6.TypePacketTooBig {
		now := s.nowLocked()
		if !s.icmp6Peers.allow(to, now, s.icmpPeerInterval) {
			st.ICMP6OutRateLimitHost++
			return
		}
		if !s.icmpLimit.allow(now) {
			st.ICMP6OutRateLimitGlobal++
			return
		}
	}
	from := pkt.Dst()
	if from.IsMulticast() || !s.ours6(from) {
		from = s.source6Locked(to)
	}
	if !from.IsValid() {
		s.dropLocked(&st.OutNoRoutes, catIPv6, "out_no_routes", pkt)
		return
	}
	switch typ {
	case ipv6.TypeParamProblem, ipv6.TypePacketTooBig:
	default:
		pointer = 0
	}
	n := ipv6.HeaderLen + ipv6.ICMPHeaderLen + min(len(pkt), ipv6.MaxQuote)
	out := ipv6.Header(s.out[s.linkHdr : s.linkHdr+n])
	ipv6.Encode(out, ipv6.Fields{
		PayloadLen: n - ipv6.HeaderLen,
		NextHeader: ipv6.ProtoICMPv6,
		HopLimit:   s.hopLimit6Locked(),
		Src:        from,
		Dst:        to,
	})
	ipv6.EncodeError(out[ipv6.HeaderLen:], typ, code, pointer, pkt, from, to)
	st.ICMP6OutMsgs++
	switch typ {
	case ipv6.TypeDestUnreachable:
		st.ICMP6OutDestUnreachs++
	case ipv6.TypePacketTooBig:
		st.ICMP6OutPktTooBigs++
	case ipv6.TypeTimeExceeded:
		st.ICMP6OutTimeExcds++
	case ipv6.TypeParamProblem:
		st.ICMP6OutParmProblems++
	}
	s.output6Locked(out)
}

// icmp6ErrorAllowed applies RFC 4443 §2.4 (e): no error in answer to
//   - (e.1) an ICMPv6 error or (e.2) a redirect;
//   - (e.3) a packet to a multicast address, (e.4, e.5) or sent as a
//     link-layer multicast or broadcast (linkMcast), except a Packet Too
//     Big and a Parameter Problem code 2 about an option whose type's two
//     high bits are 10 (§2.4 (e.3.1), (e.3.2); RFC 8200 §4.2);
//   - (e.6) a packet from a source that is not one node: the unspecified
//     address or a multicast one.
func icmp6ErrorAllowed(pkt ipv6.Header, typ, code uint8, pointer uint32, linkMcast bool) bool {
	if src := pkt.Src(); src.IsUnspecified() || src.IsMulticast() {
		return false
	}
	exception := typ == ipv6.TypePacketTooBig ||
		typ == ipv6.TypeParamProblem && code == ipv6.CodeUnknownOption && int(pointer) < len(pkt) &&
			ipv6.OptionAction(pkt[pointer]) == ipv6.ActDiscardICMP
	if !exception && (pkt.Dst().IsMulticast() || linkMcast) {
		return false
	}
	return !quotesICMPv6Error(pkt)
}

// quotesICMPv6Error reports whether pkt carries an ICMPv6 error or
// redirect, or an ICMPv6 message too short to tell (as Linux's
// is_ineligible). The header chain is skipped by lengths alone (pkt may
// be the very packet being refused for a bad header); a non-first
// fragment, whose upper-layer header is elsewhere, is not one (RFC 8200
// §4.5).
func quotesICMPv6Error(pkt ipv6.Header) bool {
	next, off := pkt.NextHeader(), ipv6.HeaderLen
	for range ipv6.MaxExtHeaders + 1 {
		if !ipv6.IsExt(next) {
			break
		}
		if len(pkt)-off < 8 {
			return false
		}
		n := 8
		if next == ipv6.ProtoFragment {
			if (ipv6.Ext{Data: pkt[off : off+8]}).FragOffset() != 0 {
				return false
			}
		} else {
			n = (int(pkt[off+1]) + 1) * 8
		}
		next = pkt[off]
		off += n
	}
	if next != ipv6.ProtoICMPv6 {
		return false
	}
	if off >= len(pkt) {
		return true
	}
	return ipv6.IsError(pkt[off]) || pkt[off] == ipv6.TypeRedirect
}
