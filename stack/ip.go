package stack

import (
	"encoding/binary"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// handleIPv4Locked validates a datagram (RFC 791 §3.1, RFC 1122 §3.2.1),
// reassembles fragments and hands the result to its protocol.
// linkBcast says the frame was link-layer broadcast or multicast.
func (s *Stack) handleIPv4Locked(b []byte, linkBcast bool, meta nic.Meta) {
	s.stats.IPv4.InReceives++
	h, err := ipv4.Parse(b)
	if err != nil {
		s.countIPv4ErrorLocked(err, b)
		return
	}
	dst, src := h.Dst(), h.Src()
	dstBcast := false
	switch {
	case s.ours(dst):
	case dst == s.bcast || dst == limitedBroadcast:
		dstBcast = true
	case dst.IsMulticast():
		s.dropLocked(&s.stats.IPv4.InMulticast, catIPv4, "in_multicast", b)
		return
	default:
		// A host does not forward (RFC 1122 §3.3.1): silently discard.
		s.dropLocked(&s.stats.IPv4.InAddrErrors, catIPv4, "in_addr_errors", b)
		return
	}
	// RFC 1122 §3.2.1.3: discard a datagram whose source is not a unicast
	// address; we also refuse our own address and the subnet broadcast
	// arriving from the wire (Linux's martian source check).
	if !ipv4.ValidSource(src) || src == s.bcast || (src == s.addr && !s.looping) {
		s.dropLocked(&s.stats.IPv4.InBadSource, catIPv4, "in_bad_source", b)
		return
	}
	// Deviation (Linux compat): RFC 1122 §3.3.5 lets a host accept source-
	// routed datagrams (and §3.2.2.6 then wants the reversed route in an
	// echo reply); Linux drops them by default (accept_source_route=0), as
	// source routing mostly serves to spoof. So do we.
	if h.HeaderLen() > ipv4.HeaderMinLen && (h.HasOption(ipv4.OptLooseSourceRoute) || h.HasOption(ipv4.OptStrictSourceRoute)) {
		s.dropLocked(&s.stats.IPv4.InSourceRouted, catIPv4, "in_source_routed", b)
		return
	}
	// RFC 791 §3.1: a malformed Record Route option is a parameter
	// problem (RFC 1122 §3.2.1.8 leaves the checks to us; these are
	// Linux's, ip_options_compile, which discards the datagram after the
	// error message; counted with the other option errors).
	if h.HeaderLen() > ipv4.HeaderMinLen {
		if ptr, ok := h.RecordRouteProblem(); !ok {
			s.sendICMPErrorLocked(ipv4.TypeParamProblem, 0, uint32(ptr)<<24, h, linkBcast, dstBcast)
			s.dropLocked(&s.stats.IPv4.InBadOptions, catIPv4, "in_bad_options", b)
			return
		}
	}
	if h.IsFragment() {
		s.stats.IPv4.ReasmReqds++
		pkt, res := s.reasm.Add(h, s.nowLocked())
		s.rearmLocked()
		switch res {
		case ipv4.Complete:
			s.stats.IPv4.ReasmOKs++
		case ipv4.Pending:
			return
		case ipv4.Duplicate:
			s.dropLocked(&s.stats.IPv4.ReasmDuplicates, catIPv4, "reasm_duplicates", b)
			return
		case ipv4.Overlap:
			s.stats.IPv4.ReasmFails++
			s.dropLocked(&s.stats.IPv4.ReasmOverlaps, catIPv4, "reasm_overlaps", b)
			return
		case ipv4.NoMemory:
			s.stats.IPv4.ReasmFails++
			s.dropLocked(&s.stats.IPv4.ReasmNoMemory, catIPv4, "reasm_no_memory", b)
			return
		default:
			s.dropLocked(&s.stats.IPv4.ReasmFails, catIPv4, "reasm_fails", b)
			return
		}
		if h, err = ipv4.Parse(pkt); err != nil {
			s.dropLocked(&s.stats.IPv4.ReasmFails, catIPv4, "reasm_fails", pkt)
			return
		}
		meta = nic.Meta{} // a reassembled datagram's checksum covers all fragments: verify it
	}
	s.stats.IPv4.InDelivers++
	switch h.Protocol() {
	case ipv4.ProtoICMP:
		s.handleICMPLocked(h, linkBcast || dstBcast)
	case ipv4.ProtoUDP:
		s.handleUDPLocked(h, linkBcast || dstBcast, meta)
	case ipv4.ProtoTCP:
		s.handleTCPLocked(h, linkBcast || dstBcast, meta)
	default:
		// RFC 1122 §3.2.2.1: protocol unreachable for a transport we lack.
		s.stats.IPv4.InDelivers--
		s.dropLocked(&s.stats.IPv4.InUnknownProtos, catIPv4, "in_unknown_protos", h)
		s.sendICMPErrorLocked(ipv4.TypeDestUnreachable, ipv4.CodeProtoUnreachable, 0, h, linkBcast, dstBcast)
	}
}

// csumTrustedLocked reports whether the transport checksum of a datagram
// received with meta may go unchecked, and counts it when it may: the
// device says the kernel left only the pseudo-header sum (CHECKSUM_PARTIAL:
// the data never left this host's memory, so there is nothing to verify) or
// verified it already (CHECKSUM_UNNECESSARY), as Linux's tcp_v4_rcv and
// udp_rcv skip it (skb_csum_unnecessary). The IPv4 header checksum is
// always verified (RFC 1122 §3.2.1.2).
func (s *Stack) csumTrustedLocked(meta nic.Meta) bool {
	if meta.Csum == nic.CsumUnverified {
		return false
	}
	s.stats.Offload.CsumSkipped++
	return true
}

// countIPv4ErrorLocked counts datagram b, which ipv4.Parse refused with err.
func (s *Stack) countIPv4ErrorLocked(err error, b []byte) {
	switch err {
	case ipv4.ErrTruncated:
		s.dropLocked(&s.stats.IPv4.InTruncated, catIPv4, "in_truncated", b)
	case ipv4.ErrVersion:
		s.dropLocked(&s.stats.IPv4.InBadVersion, catIPv4, "in_bad_version", b)
	case ipv4.ErrHeaderLen:
		s.dropLocked(&s.stats.IPv4.InBadHeaderLen, catIPv4, "in_bad_header_len", b)
	case ipv4.ErrTotalLen:
		s.dropLocked(&s.stats.IPv4.InBadTotalLen, catIPv4, "in_bad_total_len", b)
	case ipv4.ErrChecksum:
		s.dropLocked(&s.stats.IPv4.InCsumErrors, catIPv4, "in_csum_errors", b)
	default:
		s.dropLocked(&s.stats.IPv4.InBadOptions, catIPv4, "in_bad_options", b)
	}
}

// reassemblyTimedOut is the reassembler's Expire callback: RFC 792 and
// RFC 1122 §3.3.2 — time exceeded, fragment reassembly time exceeded, but
// only when the first fragment arrived.
func (s *Stack) reassemblyTimedOut(first ipv4.Header) {
	if s.dbg.on {
		s.dbg.timedOutFirsts++
		s.logDropLocked(catIPv4, "reasm_timeouts", first, false)
	}
	s.sendICMPErrorLocked(ipv4.TypeTimeExceeded, ipv4.CodeReassemblyTimeout, 0, first, false, false)
}

// handleICMPLocked answers echo requests and routes ICMP errors to the
// endpoint that sent the quoted datagram (RFC 792, RFC 1122 §3.2.2).
func (s *Stack) handleICMPLocked(h ipv4.Header, bcast bool) {
	s.stats.ICMP.InMsgs++
	m, err := ipv4.ParseICMP(h.Payload())
	if err != nil {
		s.dropLocked(&s.stats.ICMP.InErrors, catICMP, "in_errors", h)
		return
	}
	switch m.Type() {
	case ipv4.TypeEcho:
		s.stats.ICMP.InEchos++
		if bcast {
			// Deviation (Linux compat): RFC 1122 §3.2.2.6 lets a host answer
			// a broadcast echo; Linux ignores them by default
			// (icmp_echo_ignore_broadcasts=1) against smurf amplification.
			s.dropLocked(&s.stats.ICMP.InBroadcastEchos, catICMP, "in_broadcast_echos", h)
			return
		}
		s.sendEchoReplyLocked(h, m)
	case ipv4.TypeTimestamp:
		s.stats.ICMP.InTimestamps++
		if bcast {
			// RFC 1122 §3.2.2.8: a request to a broadcast address MAY be
			// discarded; Linux's icmp_echo_ignore_broadcasts covers both.
			s.dropLocked(&s.stats.ICMP.InBroadcastEchos, catICMP, "in_broadcast_echos", h)
			return
		}
		if len(m) < ipv4.ICMPHeaderLen+4 {
			// Linux's icmp_timestamp answers whenever the Originate
			// Timestamp is there (RFC 792 sends all three).
			s.dropLocked(&s.stats.ICMP.InErrors, catICMP, "in_errors", h)
			return
		}
		s.sendTimestampReplyLocked(h, m)
	case ipv4.TypeEchoReply:
		s.stats.ICMP.InEchoReps++
		if p := s.pings[m.Ident()]; p != nil {
			p.deliverLocked(m, h.Src())
		}
	case ipv4.TypeDestUnreachable, ipv4.TypeTimeExceeded, ipv4.TypeParamProblem, ipv4.TypeSourceQuench:
		if m.Type() == ipv4.TypeDestUnreachable {
			s.stats.ICMP.InDestUnreachs++
		} else if m.Type() == ipv4.TypeTimeExceeded {
			s.stats.ICMP.InTimeExcds++
		} else {
			s.stats.ICMP.InOther++
		}
		s.icmpErrorInLocked(m, h.Src(), false)
	default:
		s.stats.ICMP.InOther++
	}
}

// sendEchoReplyLocked answers an echo request (RFC 792; RFC 1122 §3.2.2.6:
// the data is returned unchanged). The reply is built in s.out: a fresh IP
// header, then the ICMP message with its type changed and the checksum
// updated incrementally (RFC 1624), which costs nothing per payload byte.
func (s *Stack) sendEchoReplyLocked(req ipv4.Header, m ipv4.ICMP) {
	pkt, r := s.icmpReplyLocked(req, len(m))
	copy(r, m)
	old := binary.BigEndian.Uint16(r[0:2])
	r.SetType(ipv4.TypeEchoReply)
	binary.BigEndian.PutUint16(r[2:4], checksum.Update16(m.Checksum(), old, binary.BigEndian.Uint16(r[0:2])))
	s.stats.ICMP.OutMsgs++
	s.stats.ICMP.OutEchoReps++
	s.outputLocked(pkt)
}

// icmpTimestampLen is a Timestamp or Timestamp Reply message: the ICMP
// header and the Originate, Receive and Transmit Timestamps (RFC 792).
const icmpTimestampLen = ipv4.ICMPHeaderLen + 12

// sendTimestampReplyLocked answers a timestamp request (RFC 792, RFC 1122
// §3.2.2.8, a MAY that Linux implements): identifier, sequence number and
// Originate Timestamp are returned, Receive and Transmit Timestamps are
// both now in the standard form, milliseconds since midnight UT (as
// Linux's inet_current_timestamp; the stack's clock).
func (s *Stack) sendTimestampReplyLocked(req ipv4.Header, m ipv4.ICMP) {
	pkt, r := s.icmpReplyLocked(req, icmpTimestampLen)
	clear(r)
	copy(r[4:12], m[4:12]) // identifier, sequence number, originate
	now := s.nowLocked().UTC()
	ms := uint32(now.Hour()*3600+now.Minute()*60+now.Second())*1000 + uint32(now.Nanosecond()/1e6)
	binary.BigEndian.PutUint32(r[12:16], ms)
	binary.BigEndian.PutUint32(r[16:20], ms)
	r.SetType(ipv4.TypeTimestampReply)
	r.SetChecksum()
	s.stats.ICMP.OutMsgs++
	s.stats.ICMP.OutTimestampReps++
	s.outputLocked(pkt)
}

// icmpReplyLocked writes in s.out the IP header of a reply to req
// carrying an ICMP message of n octets, and returns the datagram and the
// message's room in it.
// The reply goes from the address req was sent to (RFC 1122 §3.2.2.6,
// §3.2.2.8: the stack has one) with req's TOS, and carries req's Record
// Route option updated (RecordRouteReply).
func (s *Stack) icmpReplyLocked(req ipv4.Header, n int) (ipv4.Header, ipv4.ICMP) {
	var opts []byte
	if req.HeaderLen() > ipv4.HeaderMinLen {
		opts = req.RecordRouteReply(s.addr)
	}
	hl := ipv4.HeaderMinLen + len(opts)
	pkt := ipv4.Header(s.out[s.linkHdr : s.linkHdr+hl+n])
	ipv4.Encode(pkt, ipv4.Fields{
		TOS:      req.TOS(),
		TotalLen: hl + n,
		ID:       s.ids.Next(s.addr, req.Src(), ipv4.ProtoICMP),
		TTL:      s.ttl,
		Protocol: ipv4.ProtoICMP,
		Src:      s.addr,
		Dst:      req.Src(),
		Options:  opts,
	})
	return pkt, ipv4.ICMP(pkt[hl:])
}

// sendICMPErrorLocked sends an ICMP error about orig to its source, unless
// RFC 1122 §3.2.2 forbids it or a rate limit is exhausted: the source's
// own (icmplimit.go), then the global one (RFC 1812 §4.3.2.8). Linux's
// icmp_ratemask limits destination unreachable (but for fragmentation
// needed), source quench, time exceeded and parameter problem; of those
// a host stack sends destination unreachable (protocol and port) and
// time exceeded (reassembly), all limited here.
func (s *Stack) sendICMPErrorLocked(typ, code uint8, rest uint32, orig ipv4.Header, linkBcast, dstBcast bool) {
	if !ipv4.ErrorAllowed(orig, linkBcast, dstBcast) {
		s.stats.ICMP.OutErrorsSuppressd++
		return
	}
	now := s.nowLocked()
	if !s.icmpPeers.allow(orig.Src(), now, s.icmpPeerInterval) {
		s.stats.ICMP.OutRateLimitHost++
		return
	}
	if !s.icmpLimit.allow(now) {
		s.stats.ICMP.OutRateLimited++
		return
	}
	quote := min(len(orig), ipv4.MaxQuote)
	n := ipv4.HeaderMinLen + ipv4.ICMPHeaderLen + quote
	pkt := ipv4.Header(s.out[s.linkHdr : s.linkHdr+n])
	ipv4.Encode(pkt, ipv4.Fields{
		// As Linux's icmp_send: the offending datagram's TOS bits with
		// precedence "internetwork control" (RFC 1812 §4.3.2.5).
		TOS:      orig.TOS()&0x1e | 0xc0,
		TotalLen: n,
		ID:       s.ids.Next(s.addr, orig.Src(), ipv4.ProtoICMP),
		TTL:      s.ttl,
		Protocol: ipv4.ProtoICMP,
		Src:      s.addr,
		Dst:      orig.Src(),
	})
	ipv4.EncodeError(pkt[ipv4.HeaderMinLen:], typ, code, rest, orig)
	s.stats.ICMP.OutMsgs++
	switch typ {
	case ipv4.TypeDestUnreachable:
		s.stats.ICMP.OutDestUnreachs++
	case ipv4.TypeTimeExceeded:
		s.stats.ICMP.OutTimeExcds++
	case ipv4.TypeParamProblem:
		s.stats.ICMP.OutParmProbs++
	}
	s.outputLocked(pkt)
}

// localICMPErrorLocked reports an error about a datagram we originated to
// its local sender, as if our own stack had sent us the ICMP error (used
// when ARP resolution fails: RFC 1122 §2.3.2.2). The sender learns that the
// error is local (our link layer's, not a message from the network): TCP
// treats it differently (tcp.Conn.HandleLinkFailure).
func (s *Stack) localICMPErrorLocked(typ, code uint8, rest uint32, orig ipv4.Header) {
	buf := make([]byte, ipv4.ICMPHeaderLen+min(len(orig), ipv4.MaxQuote))
	n := ipv4.EncodeError(buf, typ, code, rest, orig)
	s.icmpErrorInLocked(ipv4.ICMP(buf[:n]), s.addr, true)
}

// icmpErrorInLocked hands an ICMP error to the endpoint that sent the quoted
// datagram (RFC 1122 §3.2.2: it MUST be passed to the transport layer): a
// UDP socket, a ping, or a TCP connection (RFC 1122 §4.2.3.9; the
// connection validates the quoted sequence number, RFC 5927 §4.1).
// linkFailure says our own link layer made it (localICMPErrorLocked).
func (s *Stack) icmpErrorInLocked(m ipv4.ICMP, from netip.Addr, linkFailure bool) {
	orig, tp, err := ipv4.Quoted(m)
	if err != nil || orig.Src() != s.addr {
		s.dropICMPErrorLocked(&s.stats.ICMP.InErrorsUnmatched, catICMP, "in_errors_unmatched", m, from)
		return
	}
	switch orig.Protocol() {
	case ipv4.ProtoUDP:
		local := netip.AddrPortFrom(orig.Src(), binary.BigEndian.Uint16(tp[0:2]))
		remote := netip.AddrPortFrom(orig.Dst(), binary.BigEndian.Uint16(tp[2:4]))
		ep := s.udp.Lookup(remote, local)
		if ep == nil || ep.LocalAddr().Port() != local.Port() {
			s.dropICMPErrorLocked(&s.stats.ICMP.InErrorsUnmatched, catICMP, "in_errors_unmatched", m, from)
			return
		}
		if e := s.udpEPs[ep]; e != nil {
			e.icmpErrorLocked(ipv4.Errno(m.Type(), m.Code()))
		}
	case ipv4.ProtoTCP:
		// The quote holds our source and destination ports (bytes 0-3) and
		// the segment's sequence number (bytes 4-7): RFC 1122 §4.2.3.9,
		// RFC 5927 §4.1.
		local := netip.AddrPortFrom(orig.Src(), binary.BigEndian.Uint16(tp[0:2]))
		remote := netip.AddrPortFrom(orig.Dst(), binary.BigEndian.Uint16(tp[2:4]))
		e := s.tcpConns[tcpKey{local: local, remote: remote}]
		if e == nil {
			s.dropICMPErrorLocked(&s.stats.ICMP.InErrorsUnmatched, catICMP, "in_errors_unmatched", m, from)
			return
		}
		s.tcpICMPErrorLocked(e, m, seqnum.Value(binary.BigEndian.Uint32(tp[4:8])), linkFailure)
	case ipv4.ProtoICMP:
		// The quote holds our echo request's header: ident at bytes 4-5.
		if tp[0] != ipv4.TypeEcho {
			s.dropICMPErrorLocked(&s.stats.ICMP.InErrorsUnmatched, catICMP, "in_errors_unmatched", m, from)
			return
		}
		if p := s.pings[binary.BigEndian.Uint16(tp[4:6])]; p != nil {
			p.deliverLocked(m, from)
			return
		}
		s.dropICMPErrorLocked(&s.stats.ICMP.InErrorsUnmatched, catICMP, "in_errors_unmatched", m, from)
	default:
		s.dropICMPErrorLocked(&s.stats.ICMP.InErrorsUnmatched, catICMP, "in_errors_unmatched", m, from)
	}
}
