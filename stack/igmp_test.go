package stack_test

import (
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// IPv4 multicast and IGMP as a host (RFC 1112 §6, RFC 3376 §5 and §7),
// at the packet level under the manual clock. Random delays are pinned
// to half their bound (PinRandom6Test: the stack has one random source).

var (
	groupA = netip.MustParseAddr("239.1.2.3")
	groupB = netip.MustParseAddr("239.1.2.4")
	// groupAlias shares groupA's Ethernet address (RFC 1112 §6.4: the
	// second octet's high bit is not mapped).
	groupAlias = netip.MustParseAddr("239.129.2.3")
)

func groupMAC(g netip.Addr) ethernet.MAC { return ethernet.MAC(ipv4.MulticastMAC(g)) }

// igmpSent is an IGMP message the stack sent, and its IP destination.
type igmpSent struct {
	dst netip.Addr
	m   ipv4.IGMP
}

// nextIGMP returns the next frame as an IGMP message, checking what
// every one must carry: the group's Ethernet address (RFC 1112 §6.4), TTL
// 1 and the Router Alert option (RFC 3376 §4, RFC 2113), our source.
func (e *env) nextIGMP() igmpSent {
	e.t.Helper()
	eth := e.next()
	h, err := ipv4.Parse(eth.Payload())
	if err != nil || h.Protocol() != ipv4.ProtoIGMP {
		e.t.Fatalf("want an IGMP datagram, got % x (%v)", eth, err)
	}
	if eth.Dst() != groupMAC(h.Dst()) {
		e.t.Fatalf("IGMP to %v sent to MAC %v, want %v", h.Dst(), eth.Dst(), groupMAC(h.Dst()))
	}
	if h.TTL() != 1 || !h.HasOption(0x94) || h.Src() != stackIP || h.TOS() != 0xc0 {
		e.t.Fatalf("IGMP datagram TTL %d, router alert %v, source %v, TOS %#x; want 1, true, %v, 0xc0", h.TTL(), h.HasOption(0x94), h.Src(), h.TOS(), stackIP)
	}
	m, err := ipv4.ParseIGMP(h.Payload())
	if err != nil {
		e.t.Fatalf("bad IGMP message: %v", err)
	}
	return igmpSent{h.Dst(), m}
}

// wantV3 checks an IGMPv3 report to 224.0.0.22 with one record of type
// typ per group, in order.
func (e *env) wantV3(typ uint8, groups ...netip.Addr) {
	e.t.Helper()
	s := e.nextIGMP()
	if s.dst != ipv4.AllIGMPv3Routers || s.m.Type != ipv4.TypeIGMPv3Report {
		e.t.Fatalf("got IGMP type %#x to %v, want a v3 report to 224.0.0.22", s.m.Type, s.dst)
	}
	var got []netip.Addr
	for _, r := range s.m.Records {
		if r.Type != typ || len(r.Sources) != 0 {
			e.t.Fatalf("record %+v, want type %d without sources", r, typ)
		}
		got = append(got, r.Group)
	}
	if !slices.Equal(got, groups) {
		e.t.Fatalf("records for %v, want %v", got, groups)
	}
}

// wantOld checks an IGMPv1/v2 message of type typ about group to dst.
func (e *env) wantOld(typ uint8, group, dst netip.Addr) {
	e.t.Helper()
	s := e.nextIGMP()
	if s.m.Type != typ || s.m.Group != group || s.dst != dst {
		e.t.Fatalf("got type %#x for %v to %v, want %#x for %v to %v", s.m.Type, s.m.Group, s.dst, typ, group, dst)
	}
}

func newMcastEnv(t *testing.T) *env {
	e := newEnv(t)
	e.st.PinRandom6Test(0.5)
	return e
}

// joined opens a UDP socket bound to the wildcard at port and joins groups.
func (e *env) joined(port uint16, groups ...netip.Addr) *stack.UDPEndpoint {
	e.t.Helper()
	ep, err := e.st.NewUDPEndpoint()
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ep.Close() })
	if _, err := ep.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), port), true); err != nil {
		e.t.Fatal(err)
	}
	for _, g := range groups {
		if err := ep.JoinGroup(g, netip.Addr{}, 0); err != nil {
			e.t.Fatalf("JoinGroup(%v): %v", g, err)
		}
	}
	return ep
}

// igmpFrame is an IGMP message from the peer (a router) to dst.
func igmpFrame(dst netip.Addr, m ipv4.IGMP) []byte {
	b := make([]byte, ipv4.IGMPSize(m))
	ipv4.EncodeIGMP(b, m)
	f := ipFrame(ipv4.Fields{TTL: 1, Protocol: ipv4.ProtoIGMP, Dst: dst, Options: ipv4.RouterAlert}, b)
	ethernet.Header(f).SetDst(groupMAC(dst))
	return f
}

func query(version int, code uint8, group netip.Addr) ipv4.IGMP {
	return ipv4.IGMP{Type: ipv4.TypeIGMPQuery, Version: version, MaxRespCode: code, Group: group}
}

// RFC 3376 §5.1: a join is reported at once and [Robustness Variable] - 1
// = 1 more time within the Unsolicited Report Interval, as is a leave;
// then nothing more.
func TestIGMP_JoinAndLeave_ReportedRobustnessTimes(t *testing.T) {
	e := newMcastEnv(t)
	ep := e.joined(5000, groupA)
	e.wantV3(ipv4.IGMPChangeToExclude, groupA)
	e.none()
	e.clk.Advance(499 * time.Millisecond)
	e.none()
	e.clk.Advance(time.Millisecond)
	e.wantV3(ipv4.IGMPChangeToExclude, groupA)
	e.clk.Advance(10 * time.Second)
	e.none()
	if err := ep.LeaveGroup(groupA, netip.Addr{}, 0); err != nil {
		t.Fatal(err)
	}
	e.wantV3(ipv4.IGMPChangeToInclude, groupA)
	e.clk.Advance(500 * time.Millisecond)
	e.wantV3(ipv4.IGMPChangeToInclude, groupA)
	e.clk.Advance(10 * time.Second)
	e.none()
	if st := e.st.Stats().IGMP; st.OutReports != 4 {
		t.Fatalf("out_reports %d, want 4", st.OutReports)
	}
}

// RFC 1112 §6: the interface is in a group while any socket is: a second
// socket's join and the first one's leave are not reported; the last
// leave, here by closing the socket, is. 224.0.0.1 is never reported.
func TestIGMP_MembershipsCountedPerSocket_AllSystemsNeverReported(t *testing.T) {
	e := newMcastEnv(t)
	a := e.joined(5000, groupA)
	e.wantV3(ipv4.IGMPChangeToExclude, groupA)
	e.clk.Advance(time.Second)
	e.wantV3(ipv4.IGMPChangeToExclude, groupA)
	b := e.joined(5001, groupA, ipv4.AllSystems)
	e.clk.Advance(5 * time.Second)
	e.none()
	if err := a.LeaveGroup(groupA, netip.Addr{}, 0); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(5 * time.Second)
	e.none()
	b.Close()
	e.wantV3(ipv4.IGMPChangeToInclude, groupA)
	e.clk.Advance(time.Second)
	e.wantV3(ipv4.IGMPChangeToInclude, groupA)
	e.none()
}

// A datagram to a group is received when the interface is in it: its
// Ethernet address passes the link layer's filter (RFC 1112 §6.4), and
// the IP layer takes it (§6.5) and gives it to every socket on the port.
// Before the join, and for another group, the frame is not for us; a group
// sharing the Ethernet address but not joined is dropped at the IP layer.
// 224.0.0.1 is always received.
func TestIGMP_GroupDatagramsReceivedOnlyWhenJoined(t *testing.T) {
	e := newMcastEnv(t)
	send := func(g netip.Addr) {
		f := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP, Dst: g, TTL: 1}, udpDatagram(netip.AddrPortFrom(peerIP, 9), netip.AddrPortFrom(g, 5000), []byte("hi")))
		ethernet.Header(f).SetDst(groupMAC(g))
		e.inject(f)
	}
	recv := func(ep *stack.UDPEndpoint) bool {
		b := make([]byte, 10)
		n, _, _, err := ep.TryRecvFrom(b, false)
		return err == nil && string(b[:n]) == "hi"
	}
	plain := e.joined(5000)
	send(groupA)
	if st := e.st.Stats(); st.Link.NotForUs != 1 || recv(plain) {
		t.Fatalf("before the join: not_for_us %d, want 1", st.Link.NotForUs)
	}
	member := e.joined(5000, groupA)
	send(groupA)
	if !recv(member) || !recv(plain) {
		t.Fatal("a datagram to the joined group did not reach both sockets on the port")
	}
	send(groupB)
	send(groupAlias)
	send(ipv4.AllSystems)
	if !recv(plain) || recv(plain) {
		t.Fatal("224.0.0.1 not received once")
	}
	st := e.st.Stats()
	if st.Link.NotForUs != 2 || st.IPv4.InMulticast != 1 || st.IPv4.InMcastPkts != 2 {
		t.Fatalf("not_for_us %d, in_multicast %d, in_mcast_pkts %d; want 2, 1, 2", st.Link.NotForUs, st.IPv4.InMulticast, st.IPv4.InMcastPkts)
	}
}

// RFC 3376 §5.2: a general query is answered after a random delay up to
// its Max Resp Time by one report of every group (MODE_IS_EXCLUDE); a
// second general query due later adds nothing (rule 1); a group query is
// answered for that group only, and not for a group we are not in.
func TestIGMP_V3Queries_AnsweredAfterRandomDelay(t *testing.T) {
	e := newMcastEnv(t)
	e.joined(5000, groupA, groupB)
	e.clk.Advance(5 * time.Second)
	e.drain()
	e.inject(igmpFrame(ipv4.AllSystems, query(3, 100, netip.IPv4Unspecified()))) // 10 s: answer at 5 s
	e.clk.Advance(time.Second)
	e.inject(igmpFrame(ipv4.AllSystems, query(3, 120, netip.IPv4Unspecified()))) // 12 s: would be at 7 s
	e.clk.Advance(3999 * time.Millisecond)
	e.none()
	e.clk.Advance(time.Millisecond)
	e.wantV3(ipv4.IGMPModeIsExclude, groupA, groupB)
	e.clk.Advance(20 * time.Second)
	e.none()

	e.inject(igmpFrame(ipv4.AllSystems, query(3, 100, netip.IPv4Unspecified()))) // at 5 s
	e.inject(igmpFrame(groupA, query(3, 120, groupA)))                           // at 6 s: the general answer covers it
	e.clk.Advance(5 * time.Second)
	e.wantV3(ipv4.IGMPModeIsExclude, groupA, groupB)
	e.clk.Advance(20 * time.Second)
	e.none()

	e.inject(igmpFrame(groupA, query(3, 20, groupA))) // 2 s: at 1 s
	e.inject(igmpFrame(ipv4.AllSystems, query(3, 20, netip.MustParseAddr("239.9.9.9"))))
	e.clk.Advance(time.Second)
	e.wantV3(ipv4.IGMPModeIsExclude, groupA)
	e.clk.Advance(20 * time.Second)
	e.none()

	// A group-and-source query: answered as the group's (Linux's too).
	gsq := query(3, 20, groupB)
	gsq.Sources = []netip.Addr{peerIP}
	e.inject(igmpFrame(groupB, gsq))
	e.clk.Advance(time.Second)
	e.wantV3(ipv4.IGMPModeIsExclude, groupB)
	if st := e.st.Stats().IGMP; st.InQueriesV3 != 7 {
		t.Fatalf("in_queries_v3 %d, want 7", st.InQueriesV3)
	}
}

// RFC 3376 §7.2.1: an IGMPv2 query puts the host in IGMPv2 mode for the
// Older Version Querier Present Timeout (2 × 125 s + 10 s), cancelling
// pending retransmissions; there each group is answered with a v2 report
// to the group, a leave is one Leave Group to 224.0.0.2 (RFC 2236 §3),
// and another host's report for the group stops our answer. Afterwards
// reports are IGMPv3 again.
func TestIGMP_V2Querier_CompatibilityMode(t *testing.T) {
	e := newMcastEnv(t)
	ep := e.joined(5000, groupA, groupB)
	e.drain() // the first reports; their retransmissions are pending
	e.inject(igmpFrame(ipv4.AllSystems, query(2, 100, netip.IPv4Unspecified())))
	e.clk.Advance(5 * time.Second)
	e.wantOld(ipv4.TypeIGMPv2Report, groupA, groupA)
	e.wantOld(ipv4.TypeIGMPv2Report, groupB, groupB)
	e.none() // the v3 retransmissions were cancelled

	e.inject(igmpFrame(ipv4.AllSystems, query(2, 100, netip.IPv4Unspecified())))
	e.inject(igmpFrame(groupA, ipv4.IGMP{Type: ipv4.TypeIGMPv2Report, Group: groupA})) // another member answers
	e.clk.Advance(5 * time.Second)
	e.wantOld(ipv4.TypeIGMPv2Report, groupB, groupB)
	e.none()

	if err := ep.LeaveGroup(groupA, netip.Addr{}, 0); err != nil {
		t.Fatal(err)
	}
	e.wantOld(ipv4.TypeIGMPv2Leave, groupA, ipv4.AllRouters)
	e.clk.Advance(5 * time.Second)
	e.none()

	e.clk.Advance(260 * time.Second) // the querier timed out
	if err := ep.JoinGroup(groupA, netip.Addr{}, 0); err != nil {
		t.Fatal(err)
	}
	e.wantV3(ipv4.IGMPChangeToExclude, groupA)
	if st := e.st.Stats().IGMP; st.InQueriesV2 != 2 || st.OutV2Reports != 3 || st.OutLeaves != 1 || st.InReports != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// RFC 3376 §7.2.1: with an IGMPv1 querier present, reports are v1 (RFC
// 1112 Appendix I) and a leave sends nothing; its Max Resp Time is 10 s.
func TestIGMP_V1Querier_CompatibilityMode(t *testing.T) {
	e := newMcastEnv(t)
	ep := e.joined(5000, groupA)
	e.drain()
	e.inject(igmpFrame(ipv4.AllSystems, query(1, 0, netip.IPv4Unspecified())))
	e.clk.Advance(4999 * time.Millisecond)
	e.none()
	e.clk.Advance(time.Millisecond)
	e.wantOld(ipv4.TypeIGMPv1Report, groupA, groupA)
	if err := ep.LeaveGroup(groupA, netip.Addr{}, 0); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(5 * time.Second)
	e.none()
	if err := ep.JoinGroup(groupB, netip.Addr{}, 0); err != nil {
		t.Fatal(err)
	}
	e.wantOld(ipv4.TypeIGMPv1Report, groupB, groupB)
}

// Bad IGMP from the wire is a drop and a counter (RFC 3376 §4: unknown
// types silently ignored; a bad checksum or a query of a length no
// version has, discarded).
func TestIGMP_BadMessages_DroppedAndCounted(t *testing.T) {
	e := newMcastEnv(t)
	e.joined(5000, groupA)
	e.clk.Advance(time.Second)
	e.drain()
	bad := igmpFrame(ipv4.AllSystems, query(2, 100, netip.IPv4Unspecified()))
	bad[len(bad)-1] ^= 1
	e.inject(bad)
	unknown := igmpFrame(ipv4.AllSystems, ipv4.IGMP{Type: 0x13, Group: groupA})
	e.inject(unknown)
	e.clk.Advance(20 * time.Second)
	e.none()
	st := e.st.Stats()
	if st.IGMP.InErrors != 1 || st.IGMP.InUnknown != 1 || st.Drops() != 2 {
		t.Fatalf("in_errors %d, in_unknown %d, drops %d; want 1, 1, 2", st.IGMP.InErrors, st.IGMP.InUnknown, st.Drops())
	}
}

// A datagram to a group goes to the group's Ethernet address without
// ARP (RFC 1112 §6.4), with IP_MULTICAST_TTL (default 1), and is looped
// back to our own sockets in the group while IP_MULTICAST_LOOP is on
// (default, as Linux). TTL 0 is looped back only.
func TestIGMP_SendToGroup_MappedMACTTLAndLoop(t *testing.T) {
	e := newMcastEnv(t)
	member := e.joined(6000, groupA)
	e.clk.Advance(time.Second)
	e.drain()
	before := e.st.Stats().IPv4.OutMcastPkts
	tx := e.joined(0)
	to := netip.AddrPortFrom(groupA, 6000)
	recv := func() bool {
		b := make([]byte, 10)
		_, _, _, err := member.TryRecvFrom(b, false)
		return err == nil
	}
	wire := func(ttl uint8) {
		t.Helper()
		eth := e.next()
		h, err := ipv4.Parse(eth.Payload())
		if err != nil || eth.Dst() != groupMAC(groupA) || h.Dst() != groupA || h.TTL() != ttl || h.Protocol() != ipv4.ProtoUDP {
			t.Fatalf("sent to %v, %v, TTL %d (%v); want %v, %v, TTL %d", eth.Dst(), h.Dst(), h.TTL(), err, groupMAC(groupA), groupA, ttl)
		}
	}
	// IP_TTL is for unicast: a group datagram takes IP_MULTICAST_TTL
	// (Linux's __ip_make_skb: mc_ttl for a multicast destination).
	if err := tx.SetIPOption(stack.IPTTL, 99); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.SendTo([]byte("x"), to); err != nil {
		t.Fatal(err)
	}
	wire(1)
	e.none() // no ARP
	if !recv() {
		t.Fatal("not looped back")
	}
	if err := tx.SetMulticastTTL(5); err != nil {
		t.Fatal(err)
	}
	tx.SetMulticastLoop(false)
	tx.SendTo([]byte("x"), to)
	wire(5)
	if recv() {
		t.Fatal("looped back with IP_MULTICAST_LOOP off")
	}
	tx.SetMulticastLoop(true)
	tx.SetMulticastTTL(0)
	tx.SendTo([]byte("x"), to)
	e.none()
	if !recv() {
		t.Fatal("TTL 0: not looped back")
	}
	tx.SetMulticastTTL(-1)
	tx.SendTo([]byte("x"), netip.AddrPortFrom(groupB, 6000))
	if eth := e.next(); eth.Dst() != groupMAC(groupB) {
		t.Fatalf("to %v", eth.Dst())
	}
	if recv() {
		t.Fatal("a group the interface is not in was looped back")
	}
	if st := e.st.Stats().IPv4; st.OutMcastPkts-before != 3 || st.InMulticast != 0 {
		t.Fatalf("out_mcast_pkts went up by %d, want 3; in_multicast %d, want 0 (nothing looped for a group we are not in)", st.OutMcastPkts-before, st.InMulticast)
	}
}

// Membership calls fail with Linux's errnos.
func TestIGMP_MembershipErrors(t *testing.T) {
	e := newMcastEnv(t)
	ep := e.joined(5000, groupA)
	for _, tc := range []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"join a unicast address", ep.JoinGroup(peerIP, netip.Addr{}, 0), syscall.EINVAL},
		{"join twice", ep.JoinGroup(groupA, netip.Addr{}, 0), syscall.EADDRINUSE},
		{"join on another interface", ep.JoinGroup(groupB, netip.Addr{}, 7), syscall.ENODEV},
		{"join on an address not ours", ep.JoinGroup(groupB, peerIP, 0), syscall.ENODEV},
		{"leave a group not joined", ep.LeaveGroup(groupB, netip.Addr{}, 0), syscall.EADDRNOTAVAIL},
		{"leave a unicast address", ep.LeaveGroup(peerIP, netip.Addr{}, 0), syscall.EINVAL},
		{"IP_MULTICAST_TTL 256", ep.SetMulticastTTL(256), syscall.EINVAL},
		{"IP_MULTICAST_IF not ours", ep.SetMulticastInterface(peerIP, 0), syscall.EADDRNOTAVAIL},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if err := ep.JoinGroup(groupB, stackIP, stack.LinkIndex); err != nil {
		t.Fatalf("join by our address and link index: %v", err)
	}
	for i := 2; i < 20; i++ {
		if err := ep.JoinGroup(netip.AddrFrom4([4]byte{239, 2, 0, byte(i)}), netip.Addr{}, 0); err != nil {
			t.Fatalf("membership %d: %v", i+1, err)
		}
	}
	if err := ep.JoinGroup(netip.MustParseAddr("239.3.0.1"), netip.Addr{}, 0); !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("membership 21: %v, want ENOBUFS", err)
	}
}

// A report holds the records the MTU has room for; more groups go in more
// reports (RFC 3376 §4.2.16: a report that would exceed the MTU is split).
// With an MTU of 68, 24 octets of IP header and router alert and an
// 8-octet report header leave room for 4 records.
func TestIGMP_ManyGroups_SplitToTheMTU(t *testing.T) {
	e := newEnv(t, func(_ *stack.Config, p *nic.PipeConfig) { p.MTU = 68 })
	e.st.PinRandom6Test(0.5)
	var groups []netip.Addr
	for i := range 5 {
		groups = append(groups, netip.AddrFrom4([4]byte{239, 1, 0, byte(i + 1)}))
	}
	e.joined(5000, groups...)
	e.clk.Advance(5 * time.Second)
	e.drain()
	e.inject(igmpFrame(ipv4.AllSystems, query(3, 10, netip.IPv4Unspecified())))
	e.clk.Advance(time.Second)
	e.wantV3(ipv4.IGMPModeIsExclude, groups[:4]...)
	e.wantV3(ipv4.IGMPModeIsExclude, groups[4])
	e.none()
}

// A UDP socket may bind a group's address (Linux's inet_bind takes a
// multicast address): it receives the group's datagrams to its port, not
// unicast ones, and sends from our address.
func TestIGMP_BindToGroup_TakesOnlyTheGroup(t *testing.T) {
	e := newMcastEnv(t)
	e.learnPeer()
	ep, err := e.st.NewUDPEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if _, err := ep.Bind(netip.AddrPortFrom(groupA, 1900), false); err != nil {
		t.Fatalf("bind to a group: %v", err)
	}
	if err := ep.JoinGroup(groupA, netip.Addr{}, 0); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(5 * time.Second)
	e.drain()
	to := func(dst netip.Addr) {
		f := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP, Dst: dst}, udpDatagram(netip.AddrPortFrom(peerIP, 9), netip.AddrPortFrom(dst, 1900), []byte("x")))
		if dst.IsMulticast() {
			ethernet.Header(f).SetDst(groupMAC(dst))
		}
		e.inject(f)
	}
	recv := func() bool { _, _, _, err := ep.TryRecvFrom(make([]byte, 4), false); return err == nil }
	to(groupA)
	if !recv() {
		t.Fatal("the group's datagram did not reach the socket bound to it")
	}
	to(stackIP)
	if recv() {
		t.Fatal("a unicast datagram reached the socket bound to the group")
	}
	e.drain() // the port unreachable
	if _, err := ep.SendTo([]byte("y"), netip.AddrPortFrom(peerIP, 9)); err != nil {
		t.Fatal(err)
	}
	if h := e.nextIPv4(); h.Src() != stackIP {
		t.Fatalf("sent from %v, want %v", h.Src(), stackIP)
	}
}

// IP_MULTICAST_ALL (Linux's ip_mc_sf_allow): on, the default, a socket on
// the port takes every group the interface is in; off, only the groups it
// joined itself. With no socket taking a group's datagram it is counted
// in ignored_multi. IPV6_MULTICAST_ALL does the same for IPv6 groups.
func TestIGMP_MulticastAll_OffTakesOnlyOwnGroups(t *testing.T) {
	e := newMcastEnv(t)
	own := e.joined(5000, groupA) // joined A, all off
	all := e.joined(5000)         // joined nothing, all on (default)
	none := e.joined(5000)        // joined nothing, all off
	e.joined(5001, groupB)        // B is joined on another port
	for _, ep := range []*stack.UDPEndpoint{own, none} {
		if err := ep.SetMulticastAll(false, false); err != nil {
			t.Fatal(err)
		}
	}
	if own.MulticastAll(false) || !all.MulticastAll(false) {
		t.Fatal("MulticastAll does not read back")
	}
	send := func(g netip.Addr) {
		f := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP, Dst: g, TTL: 1}, udpDatagram(netip.AddrPortFrom(peerIP, 9), netip.AddrPortFrom(g, 5000), []byte("g")))
		ethernet.Header(f).SetDst(groupMAC(g))
		e.inject(f)
	}
	got := func(ep *stack.UDPEndpoint) bool {
		_, _, _, err := ep.TryRecvFrom(make([]byte, 4), false)
		return err == nil
	}
	send(groupA)
	if !got(own) || !got(all) || got(none) {
		t.Fatal("to A: want the member and the all-on socket only")
	}
	send(groupB)
	if got(own) || !got(all) || got(none) {
		t.Fatal("to B: want the all-on socket only")
	}
	all.Close()
	ignored := e.st.Stats().UDP.IgnoredMulti
	send(groupB)
	if got(own) || got(none) || e.st.Stats().UDP.IgnoredMulti != ignored+1 {
		t.Fatal("to B with no all-on socket: want nobody, counted in ignored_multi")
	}

	// IPv6: the same rule with IPV6_MULTICAST_ALL, separate from IPv4's.
	e6 := newMcastEnv(t)
	own6, all6 := e6.joined6(5353, mdns6), e6.joined6(5353)
	if err := own6.SetMulticastAll(true, false); err != nil {
		t.Fatal(err)
	}
	e6.joined6(5354, other6)
	if !own6.MulticastAll(false) || own6.MulticastAll(true) {
		t.Fatal("IPV6_MULTICAST_ALL is not IP_MULTICAST_ALL")
	}
	send6 := func(g netip.Addr) {
		src, dst := netip.AddrPortFrom(peerLL, 9), netip.AddrPortFrom(g, 5353)
		u := make(udp.Header, udp.HeaderLen+1)
		udp.Encode(u, src.Port(), dst.Port(), 1)
		u.ComputeChecksumIPv6(src.Addr(), dst.Addr())
		e6.inject(ip6Frame(mac6(g), ipv6.Fields{NextHeader: ipv6.ProtoUDP, Src: src.Addr(), Dst: dst.Addr(), HopLimit: 255}, u))
	}
	send6(other6)
	if got(own6) || !got(all6) {
		t.Fatal("to ff02::fc: want the all-on socket only")
	}
	send6(mdns6)
	if !got(own6) || !got(all6) {
		t.Fatal("to ff02::fb: want both")
	}
	v4, _ := e.st.NewUDPEndpoint()
	defer v4.Close()
	if err := v4.SetMulticastAll(true, false); !errors.Is(err, syscall.ENOPROTOOPT) {
		t.Fatalf("IPV6_MULTICAST_ALL on AF_INET: %v, want ENOPROTOOPT", err)
	}
}
