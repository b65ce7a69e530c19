package stack

import (
	"syscall"
	"time"
	"unsafe"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
)

// IPv6 fragments (RFC 8200 §4.5): reassembly of those we receive, with
// the Parameter Problems and the Time Exceeded it calls for, and
// fragmentation of what we send above the path MTU.

// reassemble6Locked hands the non-atomic fragment h, whose Fragment header
// is fh, to the reassembler. It returns the reassembled packet when fh
// completed one; otherwise the fragment was held, or dropped and counted.
// Counters as Linux's /proc/net/snmp6: Ip6ReasmReqds per fragment,
// Ip6ReasmOKs per packet reassembled, Ip6ReasmFails per packet (or
// fragment) given up, Ip6ReasmOverlaps within it; the Parameter Problems
// count in Ip6InHdrErrors (Linux's ipv6_frag_rcv).
func (s *Stack) reassemble6Locked(eth ethernet.Header, h ipv6.Header, fh ipv6.Ext) (ipv6.Header, bool) {
	st := &s.stats.IPv6
	st.ReasmReqds++
	pkt, res, pp := s.reasm6.Add(h, fh, s.nowLocked())
	s.rearmLocked()
	switch res {
	case ipv6.Complete:
		st.ReasmOKs++
		return pkt, true
	case ipv6.Pending:
	case ipv6.Duplicate:
		s.dropFrameLocked(&st.ReasmDuplicates, catIPv6, "reasm_duplicates", eth)
	case ipv6.Overlap:
		st.ReasmOverlaps++
		s.dropFrameLocked(&st.ReasmFails, catIPv6, "reasm_overlaps", eth)
	case ipv6.Discarded:
		s.dropFrameLocked(&st.ReasmDiscarded, catIPv6, "reasm_discarded", eth)
	case ipv6.NoMemory:
		st.ReasmNoMemory++
		s.dropFrameLocked(&st.ReasmFails, catIPv6, "reasm_no_memory", eth)
	case ipv6.TooBig, ipv6.BadLength, ipv6.Incomplete:
		s.dropFrameLocked(&st.InHdrErrors, catIPv6, "in_hdr_errors", eth)
		s.icmp6ErrorLocked(h, ipv6.TypeParamProblem, pp.Code, pp.Pointer)
	default: // ipv6.Invalid
		s.dropFrameLocked(&st.ReasmFails, catIPv6, "reasm_fails", eth)
	}
	return nil, false
}

// expireReasm6Locked gives up the packets whose 60 s have passed (RFC 8200
// §4.5), each counted in Ip6ReasmFails and Ip6ReasmTimeout as Linux's
// ip6frag_expire_frag_queue.
func (s *Stack) expireReasm6Locked(now time.Time) {
	n := uint64(s.reasm6.Expire(now, s.reassembly6TimedOut))
	s.stats.IPv6.ReasmFails += n
	s.stats.IPv6.ReasmTimeout += n
	if s.dbg.on && n > 0 {
		s.logReasmTimeoutsLocked(catIPv6, "reasm_timeout", n)
	}
}

// reassembly6TimedOut is the reassembler's Expire callback for a packet
// whose first fragment had arrived: "an ICMP Time Exceeded -- Fragment
// Reassembly Time Exceeded message should be sent to the source of that
// fragment" (RFC 8200 §4.5), quoting it (Linux icmpv6_send of the head).
// Partial: whether that fragment came as a link-layer multicast is not
// remembered (RFC 4443 §2.4 (e.4)); only its IPv6 destination is checked.
func (s *Stack) reassembly6TimedOut(first ipv6.Header) {
	s.rx6LinkMcast = false
	s.icmp6ErrorLocked(first, ipv6.TypeTimeExceeded, ipv6.CodeReassemblyTimeout, 0)
}

// sendFragments6Locked sends pkt, larger than mtu, as fragments (RFC 8200
// §4.5) to the link address dst, each built in s.frag, under a fresh
// random Identification (ipv6.NewFragmentID, RFC 7739). Counters as
// Linux's Ip6FragOKs, Ip6FragCreates and Ip6FragFails.
func (s *Stack) sendFragments6Locked(pkt ipv6.Header, dst ethernet.MAC, mtu int) error {
	st := &s.stats.IPv6
	if overlaps(pkt, s.frag) {
		pkt = append(ipv6.Header(nil), pkt...) // the fragments are built where it lies
	}
	h := s.linkHdr
	err := ipv6.Fragment(pkt, mtu, ipv6.NewFragmentID(), func(hdr, data []byte) error {
		frame := s.frag[:h+len(hdr)+len(data)]
		copy(frame[h:], hdr)
		copy(frame[h+len(hdr):], data)
		if !s.ipLink {
			ethernet.Encode(frame, dst, s.mac, ethernet.TypeIPv6)
		}
		st.FragCreates++
		s.writeFrameLocked(frame)
		return nil
	})
	if err != nil {
		s.dropLocked(&st.FragFails, catIPv6, "frag_fails", pkt)
		return syscall.EMSGSIZE
	}
	st.FragOKs++
	return nil
}

// overlaps reports whether a and b share memory.
func overlaps(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}
