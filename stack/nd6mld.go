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
		if r.group.IsUnspecified() {
			s.sendMLDReportLocked(s.groups6Locked(), r.typ)
		} else if s.joinedGroup6(r.group) {
			s.sendMLDReportLocked([]netip.Addr{r.group}, r.typ)
		}
	}
	// Sent state-change reports stay (left 0) so a group is not
	// re-reported when DAD ends; answers to queries go.
	v.mldReports = slices.DeleteFunc(v.mldReports, func(r mldReport) bool { return r.left == 0 && r.typ != ipv6.MLDChangeToExclude })
}

// sendMLDReportLocked sends one Version 2 report with a record of type typ
// for each group (RFC 3810 §5.2): to all MLDv2-capable routers (§5.2.14),
// hop limit 1 with a router alert (§5), from our link-local address or,
// while it is not usable yet, from :: (§5.2.13).
func (s *Stack) sendMLDReportLocked(groups []netip.Addr, typ uint8) {
	if len(groups) == 0 {
		return
	}
	recs := make([]ipv6.MLDRecord, len(groups))
	for i, g := range groups {
		recs[i] = ipv6.MLDRecord{Type: typ, Group: g}
	}
	src := s.usableLinkLocalLocked()
	if !src.IsValid() {
		src = netip.IPv6Unspecified()
	}
	dst := ipv6.AllMLDv2Routers
	hdr := ethernet.HeaderLen + ipv6.HeaderLen
	n := ipv6.RouterAlertHBHLen + ipv6.MLDv2ReportSize(len(recs))
	frame := s.frag[:hdr+n]
	ipv6.PutRouterAlertHBH(frame[hdr:], ipv6.ProtoICMPv6)
	ipv6.EncodeMLDv2Report(frame[hdr+ipv6.RouterAlertHBHLen:], recs, src, dst)
	ipv6.Encode(frame[ethernet.HeaderLen:], ipv6.Fields{
		PayloadLen: n,
		NextHeader: ipv6.ProtoHopByHop,
		HopLimit:   ipv6.MLDHopLimit,
		Src:        src,
		Dst:        dst,
	})
	s.stats.IPv6.OutRequests++
	s.stats.IPv6.ICMP6OutMsgs++
	s.stats.ND6.OutMLDv2Reports++
	s.sendResolved6Locked(frame[ethernet.HeaderLen:], multicastMAC6(dst))
}

// handleMLDQueryLocked answers a query (RFC 3810 §6.2): after a random
// delay up to its Maximum Response Delay, a report of every group (a
// general query) or of the group asked about if we joined it.
// Partial: an MLDv1 query is answered with an MLDv2 report too; RFC 3810
// §8.2.1 would switch to MLDv1 compatibility mode. Group-and-source
// queries are answered as group queries (we join whole groups).
func (s *Stack) handleMLDQueryLocked(eth ethernet.Header, h ipv6.Header, m ipv6.ICMP) {
	q, err := ipv6.ParseMLDQuery(h.HopLimit(), h.Src(), m)
	if err != nil {
		s.dropFrameLocked(&s.stats.ND6.InBadMLD, catIPv6, "in_bad_mld", eth)
		return
	}
	if !q.Group.IsUnspecified() && !s.joinedGroup6(q.Group) {
		return
	}
	now := s.nowLocked()
	at := now.Add(s.ip6.jitter(q.MaxResponse))
	v := &s.ip6
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
// how a node says it stopped listening), and their records go, so the
// list stays bounded by the address table and a group joined again is
// reported again.
// Partial: the leave is sent once, not [Robustness Variable] times.
func (s *Stack) leaveGroupsLocked() {
	var left []netip.Addr
	s.ip6.mldReports = slices.DeleteFunc(s.ip6.mldReports, func(r mldReport) bool {
		gone := !r.group.IsUnspecified() && !s.joinedGroup6(r.group)
		if gone && r.typ == ipv6.MLDChangeToExclude {
			left = append(left, r.group)
		}
		return gone
	})
	s.sendMLDReportLocked(left, ipv6.MLDChangeToInclude)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
