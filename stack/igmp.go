package stack

import (
	"net/netip"
	"slices"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
)

// IGMP as a host (RFC 1112 §6, RFC 3376 §5 and §7, host side), as Linux's
// default (force_igmp_version 0: IGMPv3, falling back to an older querier's
// version): the groups the stack's sockets joined are reported so that
// snooping switches and multicast routers deliver them to us, unsolicited
// on a join and a leave, and in answer to queries. Any-source multicast
// only: a socket joins a whole group, so the interface state of a joined
// group is EXCLUDE{} and of a left one INCLUDE{} (RFC 3376 §3.2), and the
// records are CHANGE_TO_EXCLUDE_MODE (join), CHANGE_TO_INCLUDE_MODE
// (leave) and MODE_IS_EXCLUDE (answer), all without sources.

// IGMP constants (RFC 3376 §8, the defaults; Linux's the same).
const (
	// igmpRobustness is the Robustness Variable (§8.1): a state-change
	// report is sent this many times (§5.1).
	igmpRobustness = 2
	// igmpUnsolicitedInterval is the Unsolicited Report Interval (§8.11):
	// the retransmissions come after a random delay up to it (Linux's
	// IGMP_V3_UNSOLICITED_REPORT_INTERVAL, 1 s).
	igmpUnsolicitedInterval = time.Second
	// igmpOlderQuerierTimeout is the Older Version Querier Present Timeout
	// (§8.12): [Robustness Variable] times the [Query Interval] (125 s)
	// plus one [Query Response Interval] (10 s).
	igmpOlderQuerierTimeout = igmpRobustness*125*time.Second + 10*time.Second
	// igmpMaxMemberships bounds the groups one socket joins (Linux's
	// net.ipv4.igmp_max_memberships, 20): beyond it ENOBUFS.
	igmpMaxMemberships = 20
	// igmpTOS is the TOS of every IGMP message, as Linux's igmp_send_report
	// and igmpv3_newpack: precedence internetwork control.
	igmpTOS = 0xc0
)

// IGMPStats counts IGMP messages (Linux keeps no MIB for them; the names
// are ours).
type IGMPStats struct {
	InMsgs uint64 `json:"in_msgs"`
	// Queries received by version (RFC 3376 §7.1).
	InQueriesV1 uint64 `json:"in_queries_v1"`
	InQueriesV2 uint64 `json:"in_queries_v2"`
	InQueriesV3 uint64 `json:"in_queries_v3"`
	// InReports counts other hosts' reports and leaves: a host has
	// nothing to do with them but stop its own pending answer in IGMPv1
	// or v2 compatibility mode (RFC 2236 §3).
	InReports uint64 `json:"in_reports"`
	InErrors  uint64 `json:"in_errors"`  // drops: truncated, bad checksum, a query of no version's length
	InUnknown uint64 `json:"in_unknown"` // drops: a type IGMP does not know (RFC 3376 §4: silently ignored)
	// Reports sent: IGMPv3 reports (each may carry several records),
	// and in compatibility mode IGMPv2 and IGMPv1 reports and IGMPv2
	// leaves.
	OutReports   uint64 `json:"out_reports"`
	OutV2Reports uint64 `json:"out_v2_reports"`
	OutV1Reports uint64 `json:"out_v1_reports"`
	OutLeaves    uint64 `json:"out_leaves"`
}

func (g IGMPStats) drops() uint64 { return g.InErrors + g.InUnknown }

// igmpReport is a report waiting to be sent: for group (or, group
// 0.0.0.0, for every joined group) with the record type typ, left more
// times, the next at at.
type igmpReport struct {
	group netip.Addr
	typ   uint8
	left  int
	at    time.Time
}

// igmpState is the stack's IGMP host state.
type igmpState struct {
	// groups counts the sockets' memberships of each joined group
	// (RFC 1112 §6: the interface is in a group while any socket is).
	groups  map[netip.Addr]int
	reports []igmpReport
	// v1Until and v2Until: an IGMPv1 or IGMPv2 querier was heard, so
	// the host is in that compatibility mode until then (RFC 3376 §7.2.1).
	v1Until, v2Until time.Time
}

// joinedGroup4 reports whether the interface is in group: one a socket
// joined, or all-systems, which every host is in (RFC 1112 §4).
func (s *Stack) joinedGroup4(group netip.Addr) bool {
	return group == ipv4.AllSystems || s.igmp.groups[group] > 0
}

// multicastMAC4 is the Ethernet address of an IPv4 group (RFC 1112 §6.4).
func multicastMAC4(group netip.Addr) ethernet.MAC { return ethernet.MAC(ipv4.MulticastMAC(group)) }

// joined4 reports whether an IPv4 frame's Ethernet multicast destination
// is the address of a group the interface is in (RFC 1112 §6.4: the
// host's link layer takes the groups' addresses as it takes its own);
// ethernet.Header.ForUs knows no groups. Groups sharing the low 23 bits
// share the address: the IP layer tells them apart (handleIPv4Locked).
func (s *Stack) joined4(eth ethernet.Header) bool {
	if eth.Type() != ethernet.TypeIPv4 || s.ipLink {
		return false
	}
	d := eth.Dst()
	if d[0] != 0x01 || d[1] != 0x00 || d[2] != 0x5e {
		return false
	}
	if d == multicastMAC4(ipv4.AllSystems) {
		return true
	}
	for g := range s.igmp.groups {
		if d == multicastMAC4(g) {
			return true
		}
	}
	return false
}

// igmpVersionLocked is the host's compatibility mode (RFC 3376 §7.2.1):
// IGMPv1 while an IGMPv1 querier is present, else IGMPv2 while an IGMPv2
// one is, else IGMPv3.
func (s *Stack) igmpVersionLocked(now time.Time) int {
	switch {
	case now.Before(s.igmp.v1Until):
		return 1
	case now.Before(s.igmp.v2Until):
		return 2
	}
	return 3
}

// joinGroup4Locked adds a socket's membership of group. The first one
// joins the interface: RFC 3376 §5.1, "the system immediately transmits a
// State-Change Report" (CHANGE_TO_EXCLUDE_MODE, {}), retransmitted
// [Robustness Variable] - 1 more times at random intervals up to the
// Unsolicited Report Interval (§8.11); RFC 2236 §3 and RFC 1112 Appendix I
// do the same with a v2 or v1 report in compatibility mode. All-systems
// is never reported (RFC 3376 §5, RFC 2236 §6).
func (s *Stack) joinGroup4Locked(group netip.Addr) {
	g := &s.igmp
	if g.groups == nil {
		g.groups = make(map[netip.Addr]int)
	}
	g.groups[group]++
	if g.groups[group] > 1 || group == ipv4.AllSystems {
		return
	}
	// A leave still being retransmitted stops: the join supersedes it
	// (as Linux's igmpv3_del_delrec).
	g.reports = slices.DeleteFunc(g.reports, func(r igmpReport) bool { return r.group == group })
	now := s.nowLocked()
	g.reports = append(g.reports, igmpReport{group: group, typ: ipv4.IGMPChangeToExclude, left: igmpRobustness, at: now})
	s.igmpTimersLocked(now)
	s.rearmLocked()
}

// leaveGroup4Locked drops a socket's membership of group. The last one
// leaves the interface: in IGMPv3 a State-Change Report with
// CHANGE_TO_INCLUDE_MODE, {} sent as a join's (RFC 3376 §5.1); in IGMPv2
// compatibility mode one Leave Group message to all-routers (RFC 2236 §3;
// sent whether or not we were the last reporter, which §3 allows, as
// Linux without the reporter flag's bookkeeping); in IGMPv1 mode nothing,
// IGMPv1 having no leave (RFC 3376 §7.2.1).
func (s *Stack) leaveGroup4Locked(group netip.Addr) {
	g := &s.igmp
	if n := g.groups[group] - 1; n > 0 {
		g.groups[group] = n
		return
	}
	delete(g.groups, group)
	if group == ipv4.AllSystems || s.closed {
		return
	}
	g.reports = slices.DeleteFunc(g.reports, func(r igmpReport) bool { return r.group == group })
	now := s.nowLocked()
	left := igmpRobustness
	if s.igmpVersionLocked(now) < 3 {
		left = 1 // RFC 2236 §3: one Leave (IGMPv1: none, sendIGMPReportLocked)
	}
	g.reports = append(g.reports, igmpReport{group: group, typ: ipv4.IGMPChangeToInclude, left: left, at: now})
	s.igmpTimersLocked(now)
	s.rearmLocked()
}

// igmpTimersLocked sends the reports due by now.
func (s *Stack) igmpTimersLocked(now time.Time) {
	g := &s.igmp
	for i := range g.reports {
		r := &g.reports[i]
		if r.left == 0 || now.Before(r.at) {
			continue
		}
		r.left--
		r.at = now.Add(s.ip6.jitter(igmpUnsolicitedInterval))
		// A group's records go when it is joined or left
		// (joinGroup4Locked, leaveGroup4Locked): one pending is current.
		if r.group.IsUnspecified() {
			s.sendIGMPReportLocked(s.groups4Locked(), r.typ, now)
		} else {
			s.sendIGMPReportLocked([]netip.Addr{r.group}, r.typ, now)
		}
	}
	g.reports = slices.DeleteFunc(g.reports, func(r igmpReport) bool { return r.left == 0 })
}

// rearmIGMPLocked arms the stack's timer for the earliest pending report.
func (s *Stack) rearmIGMPLocked() {
	for _, r := range s.igmp.reports {
		if r.left > 0 {
			s.armLocked(r.at)
		}
	}
}

// groups4Locked returns the groups the interface reports: every joined
// group but all-systems (RFC 3376 §5), sorted so reports are stable.
func (s *Stack) groups4Locked() []netip.Addr {
	gs := make([]netip.Addr, 0, len(s.igmp.groups))
	for g := range s.igmp.groups {
		if g != ipv4.AllSystems {
			gs = append(gs, g)
		}
	}
	slices.SortFunc(gs, func(a, b netip.Addr) int { return a.Compare(b) })
	return gs
}

// sendIGMPReportLocked reports groups with the record type typ in the
// current compatibility mode (RFC 3376 §7.2.1): IGMPv3 reports to
// all-IGMPv3-routers with a record per group (§4.2.14), as many reports as
// the MTU needs (§4.2.16); in IGMPv2 mode a v2 report to each group, or
// for a leave a Leave Group to all-routers (RFC 2236 §3); in IGMPv1 mode a
// v1 report to each group (RFC 1112 Appendix I) and no leave.
func (s *Stack) sendIGMPReportLocked(groups []netip.Addr, typ uint8, now time.Time) {
	switch v := s.igmpVersionLocked(now); {
	case v < 3:
		for _, grp := range groups {
			m := ipv4.IGMP{Type: ipv4.TypeIGMPv2Report, Group: grp}
			dst := grp
			switch {
			case typ == ipv4.IGMPChangeToInclude && v == 1:
				continue
			case typ == ipv4.IGMPChangeToInclude:
				m.Type, dst = ipv4.TypeIGMPv2Leave, ipv4.AllRouters
				s.stats.IGMP.OutLeaves++
			case v == 1:
				m.Type = ipv4.TypeIGMPv1Report
				s.stats.IGMP.OutV1Reports++
			default:
				s.stats.IGMP.OutV2Reports++
			}
			s.sendIGMPLocked(dst, m)
		}
	default:
		per := (s.mtu - ipv4.HeaderMinLen - len(ipv4.RouterAlert) - ipv4.IGMPv3ReportLen) / ipv4.IGMPRecordLen
		for len(groups) > 0 {
			n := min(per, len(groups))
			m := ipv4.IGMP{Type: ipv4.TypeIGMPv3Report, Records: make([]ipv4.IGMPRecord, n)}
			for i, grp := range groups[:n] {
				m.Records[i] = ipv4.IGMPRecord{Type: typ, Group: grp}
			}
			groups = groups[n:]
			s.stats.IGMP.OutReports++
			s.sendIGMPLocked(ipv4.AllIGMPv3Routers, m)
		}
	}
}

// sendIGMPLocked sends an IGMP message to dst: TTL 1 (RFC 3376 §4, RFC
// 2236 §2), the Router Alert option (RFC 2113; RFC 3376 §4 and RFC 2236
// §2 require it; an IGMPv1 report carries it too, as Linux's), from our
// address or, while we have none, 0.0.0.0 (RFC 3376 §4.2.13), to the
// group's Ethernet address without ARP (RFC 1112 §6.4).
func (s *Stack) sendIGMPLocked(dst netip.Addr, m ipv4.IGMP) {
	hl := ipv4.HeaderMinLen + len(ipv4.RouterAlert)
	n := hl + ipv4.IGMPSize(m)
	pkt := ipv4.Header(s.out[s.linkHdr : s.linkHdr+n])
	ipv4.Encode(pkt, ipv4.Fields{
		TOS:      igmpTOS,
		TotalLen: n,
		ID:       s.ids.Next(s.addr, dst, ipv4.ProtoIGMP),
		DF:       true, // as Linux's
		TTL:      ipv4.IGMPTTL,
		Protocol: ipv4.ProtoIGMP,
		Src:      s.addr,
		Dst:      dst,
		Options:  ipv4.RouterAlert,
	})
	ipv4.EncodeIGMP(pkt[hl:], m)
	s.stats.IPv4.OutRequests++
	s.stats.IPv4.OutMcastPkts++
	s.sendResolvedLocked(pkt, multicastMAC4(dst))
}

// handleIGMPLocked takes an IGMP message (RFC 3376 §5.2 and §7, host
// side): queries are answered; other hosts' reports stop our pending
// answer for their group in IGMPv1 or v2 compatibility mode (RFC 2236 §3,
// RFC 1112 Appendix I: one report per group is enough; IGMPv3 has no
// suppression); anything else is dropped and counted.
func (s *Stack) handleIGMPLocked(h ipv4.Header) {
	st := &s.stats.IGMP
	st.InMsgs++
	m, err := ipv4.ParseIGMP(h.Payload())
	switch {
	case err == ipv4.ErrIGMPType:
		s.dropLocked(&st.InUnknown, catIPv4, "igmp_in_unknown", h)
		return
	case err != nil:
		s.dropLocked(&st.InErrors, catIPv4, "igmp_in_errors", h)
		return
	}
	now := s.nowLocked()
	switch m.Type {
	case ipv4.TypeIGMPQuery:
		s.igmpQueryLocked(m, now)
	case ipv4.TypeIGMPv1Report, ipv4.TypeIGMPv2Report:
		st.InReports++
		if s.igmpVersionLocked(now) < 3 {
			s.igmp.reports = slices.DeleteFunc(s.igmp.reports, func(r igmpReport) bool {
				return r.group == m.Group && r.typ == ipv4.IGMPModeIsExclude
			})
		}
	default:
		st.InReports++ // IGMPv3 reports, leaves: for routers
	}
}

// igmpQueryLocked answers a query. Its version (ipv4.ParseIGMP, RFC 3376
// §7.1) sets the compatibility mode: an IGMPv1 or v2 query (re)starts that
// version's Older Version Querier Present timer, and a change of mode
// cancels every pending response and retransmission (§7.2.1). The answer
// goes after a random delay up to the query's Max Resp Time (§5.2, RFC
// 2236 §3), for a general query or a group we are in (not all-systems):
//   - IGMPv3 (§5.2): a general query schedules one answer for all groups,
//     unless one is pending sooner (rules 1 and 2); a group query is
//     answered unless a general answer is pending sooner (rule 1), at the
//     earlier of a pending answer's time and the new delay (rules 3, 4).
//     A group-and-source query is answered as a group query: the
//     interface state EXCLUDE{} takes every source. Deviation (Linux
//     compat): RFC 3376 §5.2 would answer with the asked sources in an
//     IS_IN record; Linux's igmp_xmarksources, finding no source
//     excluded, falls back to a group query's MODE_IS_EXCLUDE answer.
//   - IGMPv1/v2 (RFC 2236 §3): each group's timer, started at the delay,
//     or left alone if already due sooner.
func (s *Stack) igmpQueryLocked(m ipv4.IGMP, now time.Time) {
	g := &s.igmp
	old := s.igmpVersionLocked(now)
	switch m.Version {
	case 1:
		s.stats.IGMP.InQueriesV1++
		g.v1Until = now.Add(igmpOlderQuerierTimeout)
	case 2:
		s.stats.IGMP.InQueriesV2++
		g.v2Until = now.Add(igmpOlderQuerierTimeout)
	default:
		s.stats.IGMP.InQueriesV3++
	}
	v := s.igmpVersionLocked(now)
	if v != old {
		g.reports = nil
	}
	general := m.Group.IsUnspecified()
	if !general && (m.Group == ipv4.AllSystems || !s.joinedGroup4(m.Group)) {
		return
	}
	groups := []netip.Addr{m.Group}
	if general {
		if v == 3 {
			groups = []netip.Addr{netip.IPv4Unspecified()}
		} else {
			groups = s.groups4Locked()
		}
	}
	for _, grp := range groups {
		at := now.Add(s.ip6.jitter(m.MaxResp()))
		if v == 3 && !general && slices.ContainsFunc(g.reports, func(r igmpReport) bool {
			return r.group.IsUnspecified() && r.left > 0 && !r.at.After(at)
		}) {
			continue // rule 1: the pending general answer covers it
		}
		i := slices.IndexFunc(g.reports, func(r igmpReport) bool { return r.group == grp && r.typ == ipv4.IGMPModeIsExclude })
		if i >= 0 {
			g.reports[i].at = minTime(g.reports[i].at, at)
			continue
		}
		g.reports = append(g.reports, igmpReport{group: grp, typ: ipv4.IGMPModeIsExclude, left: 1, at: at})
	}
	s.rearmLocked()
}
