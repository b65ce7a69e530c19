package stack

import (
	"net/netip"
	"slices"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
)

// MLDv2 as a host (RFC 3810 §6): reports for the solicited-node groups we
// join, so that snooping switches and bridges deliver neighbour discovery
// to us, sent unsolicited on joining and in answer to queries.

// MLD constants (RFC 3810 §9).
const (
	// mldRobustness is the Robustness Variable (§9.1): an unsolicited
	// report is sent this many times.
	mldRobustness = 2
	// mldUnsolicitedInterval is the Unsolicited Report Interval (§9.11):
	// the retransmission comes after a random delay up to it.
	mldUnsolicitedInterval = time.Second
	// mldOlderQuerierTimeout is the Older Version Querier Present Timeout
	// (§9.12): [Robustness Variable] times the [Query Interval] (125 s)
	// plus the [Query Response Interval] (10 s), the defaults, as an MLDv1
	// query carries neither (Linux's mld_v1_present timeout the same).
	mldOlderQuerierTimeout = mldRobustness*125*time.Second + 10*time.Second
)

// mldReport is a report waiting to be sent: for group with the record type
// typ, or (group ::) for every group, left more times.
type mldReport struct {
	group netip.Addr
	typ   uint8
	left  int
	at    time.Time
}

// joinLocked reports group as joined (§6.1: "When a node starts listening
// to a multicast address ... it immediately transmits an unsolicited
// State Change Report", then [Robustness Variable] - 1 more at random
// intervals up to the Unsolicited Report Interval), unless it already was.
// The first report goes at at (now, or later at start-up: RFC 4862 §5.4.2
// delays the first message after the interface comes up).
func (s *Stack) joinLocked(group netip.Addr, at, now time.Time) {
	v := &s.ip6
	// Joined again before its leave went out in full: the leave stops.
	v.mldReports = slices.DeleteFunc(v.mldReports, func(r mldReport) bool { return r.group == group && r.typ == ipv6.MLDChangeToInclude })
	if slices.ContainsFunc(v.mldReports, func(r mldReport) bool { return r.group == group && r.typ == ipv6.MLDChangeToExclude }) {
		return
	}
	// The group is reported once per address; an address already
	// assigned (DAD done) joined it then.
	v.mldReports = append(v.mldReports, mldReport{group: group, typ: ipv6.MLDChangeToExclude, left: mldRobustness, at: at})
	if !now.Before(at) {
		s.mldTimersLocked(now)
	}
}

// mldTimersLocked sends the reports due by now.
func (s *Stack) mldTimersLocked(now time.Time) {
	v := &s.ip6
	for i := range v.mldReports {
		r := &v.mldReports[i]
		if r.left == 0 || now.Before(r.at) {
			continue
		}
		r.left--
		r.at = now.Add(v.jitter(mldUnsolicitedInterval))
		switch {
		case r.group.IsUnspecified():
			s.sendMLDReportLocked(s.groups6Locked(), r.typ)
		case r.typ == ipv6.MLDChangeToInclude:
			s.sendMLDReportLocked([]netip.Addr{r.group}, r.typ)
			if s.mldV1Locked(now) {
				r.left = 0 // RFC 2710 §4: one Done
			}
		case s.joinedGroup6(r.group):
			s.sendMLDReportLocked([]netip.Addr{r.group}, r.typ)
		}
	}
	// Sent state-change reports stay (left 0) so a group is not
	// re-reported when DAD ends; answers to queries and leaves go.
	v.mldReports = slices.DeleteFunc(v.mldReports, func(r mldReport) bool { return r.left == 0 && r.typ != ipv6.MLDChangeToExclude })
}

// mldV1Locked reports whether the host is in MLDv1 compatibility mode
// (RFC 3810 §8.2.1): an MLDv1 query came within the Older Version Querier
// Present Timeout.
func (s *Stack) mldV1Locked(now time.Time) bool { return now.Before(s.ip6.mldV1Until) }

// sendMLDReportLocked reports groups with the record type typ: one Version
// 2 report with a record for each (RFC 3810 §5.2) to all MLDv2-capable
// routers (§5.2.14); in MLDv1 compatibility mode (§8.2.1) an MLDv1 Report
// to each group itself, or for a leave (CHANGE_TO_INCLUDE) an MLDv1 Done
// to all routers (RFC 2710 §4), since MLDv1 routers ignore Version 2
// reports.
func (s *Stack) sendMLDReportLocked(groups []netip.Addr, typ uint8) {
	if len(groups) == 0 {
		return
	}
	if s.mldV1Locked(s.nowLocked()) {
		for _, g := range groups {
			mt, dst := ipv6.TypeMLDv1Report, g
			if typ == ipv6.MLDChangeToInclude {
				mt, dst = ipv6.TypeMLDv1Done, ipv6.AllRouters
				s.stats.ND6.OutMLDv1Dones++
			} else {
				s.stats.ND6.OutMLDv1Reports++
			}
			s.sendMLDLocked(dst, ipv6.MLDv1Len, func(m []byte, src, dst netip.Addr) {
				ipv6.EncodeMLDv1(m, mt, g, src, dst)
			})
		}
		return
	}
	recs := make([]ipv6.MLDRecord, len(groups))
	for i, g := range groups {
		recs[i] = ipv6.MLDRecord{Type: typ, Group: g}
	}
	s.stats.ND6.OutMLDv2Reports++
	s.sendMLDLocked(ipv6.AllMLDv2Routers, ipv6.MLDv2ReportSize(len(recs)), func(m []byte, src, dst netip.Addr) {
		ipv6.EncodeMLDv2Report(m, recs, src, dst)
	})
}

// sendMLDLocked sends an MLD message of n octets that encode writes, to
// dst: hop limit 1 with a router alert (RFC 3810 §5, RFC 2710 §3), from
// our link-local address or, while it is not usable yet, from :: (RFC
// 3810 §5.2.13, RFC 3590 §4).
func (s *Stack) sendMLDLocked(dst netip.Addr, n int, encode func(m []byte, src, dst netip.Addr)) {
	src := s.usableLinkLocalLocked()
	if !src.IsValid() {
		src = netip.IPv6Unspecified()
	}
	hdr := ethernet.HeaderLen + ipv6.HeaderLen
	n += ipv6.RouterAlertHBHLen
	frame := s.frag[:hdr+n]
	ipv6.PutRouterAlertHBH(frame[hdr:], ipv6.ProtoICMPv6)
	encode(frame[hdr+ipv6.RouterAlertHBHLen:], src, dst)
	ipv6.Encode(frame[ethernet.HeaderLen:], ipv6.Fields{
		PayloadLen: n,
		NextHeader: ipv6.ProtoHopByHop,
		HopLimit:   ipv6.MLDHopLimit,
		Src:        src,
		Dst:        dst,
	})
	s.stats.IPv6.OutRequests++
	s.stats.IPv6.ICMP6OutMsgs++
	s.sendResolved6Locked(frame[ethernet.HeaderLen:], multicastMAC6(dst))
}

// handleMLDQueryLocked answers a query (RFC 3810 §6.2): after a random
// delay up to its Maximum Response Delay, a report of every group (a
// general query) or of the group asked about if we joined it.
// Group-and-source queries are answered as group queries (we join whole
// groups). An MLDv1 query (RFC 2710) puts the host in MLDv1 compatibility
// mode (RFC 3810 §8.2.1) for the Older Version Querier Present Timeout,
// re-armed by each one; entering it cancels the pending responses and
// retransmissions ("whenever a host changes its compatibility mode"), and
// while in it every report is MLDv1 (sendMLDReportLocked), the answers to
// MLDv2 queries too (as Linux: an MLDv1 router ignores Version 2 reports).
func (s *Stack) handleMLDQueryLocked(eth ethernet.Header, h ipv6.Header, m ipv6.ICMP) {
	q, err := ipv6.ParseMLDQuery(h.HopLimit(), h.Src(), m)
	if err != nil {
		s.dropFrameLocked(&s.stats.ND6.InBadMLD, catIPv6, "in_bad_mld", eth)
		return
	}
	now := s.nowLocked()
	v := &s.ip6
	if q.V1 {
		if !s.mldV1Locked(now) {
			for i := range v.mldReports {
				v.mldReports[i].left = 0
			}
			v.mldReports = slices.DeleteFunc(v.mldReports, func(r mldReport) bool { return r.typ != ipv6.MLDChangeToExclude })
		}
		v.mldV1Until = now.Add(mldOlderQuerierTimeout)
	}
	if !q.Group.IsUnspecified() && !s.joinedGroup6(q.Group) {
		return
	}
	at := now.Add(v.jitter(q.MaxResponse))
	for i := range v.mldReports {
		r := &v.mldReports[i]
		if r.typ == ipv6.MLDModeIsExclude && (r.group == q.Group || r.group.IsUnspecified()) {
			// §6.2: an answer already pending sooner stands.
			r.at = minTime(r.at, at)
			s.rearmLocked()
			return
		}
	}
	v.mldReports = append(v.mldReports, mldReport{group: q.Group, typ: ipv6.MLDModeIsExclude, left: 1, at: at})
	s.rearmLocked()
}

// leaveGroupsLocked leaves the groups no address needs any more (an
// address removed or found duplicate): a state-change report with a
// CHANGE_TO_INCLUDE_MODE record and no sources for each (RFC 3810 §6.1:
// how a node says it stopped listening), at once and [Robustness
// Variable] - 1 more times within the Unsolicited Report Interval, as a
// join; in MLDv1 compatibility mode one Done. Their join records go, so
// the list stays bounded by the address table and a group joined again
// is reported again.
func (s *Stack) leaveGroupsLocked() {
	v := &s.ip6
	var left []netip.Addr
	v.mldReports = slices.DeleteFunc(v.mldReports, func(r mldReport) bool {
		gone := !r.group.IsUnspecified() && !s.joinedGroup6(r.group) && r.typ != ipv6.MLDChangeToInclude
		if gone && r.typ == ipv6.MLDChangeToExclude {
			left = append(left, r.group)
		}
		return gone
	})
	if len(left) == 0 {
		return
	}
	now := s.nowLocked()
	for _, g := range left {
		v.mldReports = append(v.mldReports, mldReport{group: g, typ: ipv6.MLDChangeToInclude, left: mldRobustness, at: now})
	}
	s.mldTimersLocked(now)
	s.rearmLocked()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
