package stack_test

import (
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// IPv6 multicast for sockets: IPV6_JOIN_GROUP memberships reported with
// MLDv2 (RFC 3810 §6), group datagrams received, IPV6_MULTICAST_HOPS and
// IPV6_MULTICAST_LOOP on the send side (RFC 3493 §5.2).

var (
	mdns6  = netip.MustParseAddr("ff02::fb")
	other6 = netip.MustParseAddr("ff02::fc")
)

func mac6(g netip.Addr) ethernet.MAC {
	a := g.As16()
	return ethernet.MAC{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// joined6 opens an AF_INET6 UDP socket bound to [::]:port and joins groups.
func (e *env) joined6(port uint16, groups ...netip.Addr) *stack.UDPEndpoint {
	e.t.Helper()
	ep, err := e.st.NewUDPEndpoint6()
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ep.Close() })
	if _, err := ep.Bind(netip.AddrPortFrom(netip.IPv6Unspecified(), port), true); err != nil {
		e.t.Fatal(err)
	}
	for _, g := range groups {
		if err := ep.JoinGroup6(g, 0); err != nil {
			e.t.Fatalf("JoinGroup6(%v): %v", g, err)
		}
	}
	return ep
}

// mldRecords returns the records of the MLDv2 reports sent so far, failing
// on any other MLD message.
func mldRecords(e *env) [][]ipv6.MLDRecord {
	e.t.Helper()
	var out [][]ipv6.MLDRecord
	for _, s := range mldSent(e) {
		recs, ok := ipv6.MLDv2Records(s.m)
		if !ok || s.m.Type() != ipv6.TypeMLDv2Report {
			e.t.Fatalf("sent MLD type %d, want a v2 report", s.m.Type())
		}
		out = append(out, recs)
	}
	return out
}

// RFC 3810 §6.1: a socket's join is reported (CHANGE_TO_EXCLUDE) at once
// and once more within the Unsolicited Report Interval, its leave the
// same with CHANGE_TO_INCLUDE; the group is in the answers to general
// queries (§6.2) while joined. All-nodes and interface-local groups are
// never reported (§6).
func TestMLD6_SocketJoin_ReportedAndAnswered(t *testing.T) {
	e := envND(t)
	ep := e.joined6(5353, mdns6)
	join := []ipv6.MLDRecord{{Type: ipv6.MLDChangeToExclude, Group: mdns6}}
	for i := range 2 {
		if r := mldRecords(e); len(r) != 1 || !slices.Equal(r[0], join) {
			t.Fatalf("join report %d: %v, want one with %v", i, r, join)
		}
		e.clk.Advance(500 * time.Millisecond)
	}
	e.clk.Advance(10 * time.Second)
	if r := mldRecords(e); len(r) != 0 {
		t.Fatalf("reports after the robustness count: %v", r)
	}
	if err := ep.JoinGroup6(allNodes6, 0); err != nil {
		t.Fatal(err)
	}
	if err := ep.JoinGroup6(netip.MustParseAddr("ff01::1234"), 0); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(10 * time.Second)
	if r := mldRecords(e); len(r) != 0 {
		t.Fatalf("all-nodes or an interface-local group reported: %v", r)
	}
	e.inject(mldQuery(ipv6.MLDv2QueryLen, 1, netip.IPv6Unspecified()))
	e.clk.Advance(10 * time.Second)
	r := mldRecords(e)
	if len(r) != 1 || !slices.ContainsFunc(r[0], func(x ipv6.MLDRecord) bool { return x.Group == mdns6 && x.Type == ipv6.MLDModeIsExclude }) ||
		slices.ContainsFunc(r[0], func(x ipv6.MLDRecord) bool { return x.Group == allNodes6 || x.Group.As16()[1]&0x0f == 1 }) {
		t.Fatalf("answer to a general query: %v, want %v among the groups and neither ff02::1 nor ff01::1234", r, mdns6)
	}
	if err := ep.LeaveGroup6(mdns6, 0); err != nil {
		t.Fatal(err)
	}
	leave := []ipv6.MLDRecord{{Type: ipv6.MLDChangeToInclude, Group: mdns6}}
	for i := range 2 {
		if r := mldRecords(e); len(r) != 1 || !slices.Equal(r[0], leave) {
			t.Fatalf("leave report %d: %v, want one with %v", i, r, leave)
		}
		e.clk.Advance(500 * time.Millisecond)
	}
}

// A datagram to a group a socket joined passes the link layer (RFC 2464
// §7: 33:33 and the low 32 bits) and reaches the socket; another group's
// is not for us; after the leave neither is.
func TestMLD6_SocketJoin_GroupDatagramsReceived(t *testing.T) {
	e := envND(t)
	ep := e.joined6(5353, mdns6)
	e.clk.Advance(10 * time.Second)
	e.drain()
	send := func(g netip.Addr) {
		src, dst := netip.AddrPortFrom(peerLL, 5353), netip.AddrPortFrom(g, 5353)
		u := make(udp.Header, udp.HeaderLen+2)
		udp.Encode(u, src.Port(), dst.Port(), 2)
		copy(u[udp.HeaderLen:], "hi")
		u.ComputeChecksumIPv6(src.Addr(), dst.Addr())
		e.inject(ip6Frame(mac6(g), ipv6.Fields{NextHeader: ipv6.ProtoUDP, Src: src.Addr(), Dst: dst.Addr(), HopLimit: 255}, u))
	}
	got := func() bool {
		b := make([]byte, 8)
		n, _, _, err := ep.TryRecvFrom(b, false)
		return err == nil && string(b[:n]) == "hi"
	}
	send(mdns6)
	if !got() {
		t.Fatal("a datagram to the joined group was not received")
	}
	notForUs := e.st.Stats().Link.NotForUs
	send(other6)
	if err := ep.LeaveGroup6(mdns6, 0); err != nil {
		t.Fatal(err)
	}
	send(mdns6)
	if got() || e.st.Stats().Link.NotForUs != notForUs+2 {
		t.Fatalf("not_for_us went from %d to %d, want +2 (another group, then the left one)", notForUs, e.st.Stats().Link.NotForUs)
	}
}

// A datagram to a group goes to the group's MAC with IPV6_MULTICAST_HOPS
// (default 1) and is looped back to our own member sockets while
// IPV6_MULTICAST_LOOP is on (default); hop limit 0 is looped back only.
func TestMLD6_SendToGroup_HopsAndLoop(t *testing.T) {
	e := envND(t)
	member := e.joined6(5353, mdns6)
	tx := e.joined6(0)
	e.clk.Advance(10 * time.Second)
	e.drain()
	to := netip.AddrPortFrom(mdns6, 5353)
	looped := func() bool {
		_, _, _, err := member.TryRecvFrom(make([]byte, 8), false)
		return err == nil
	}
	wire := func(hops uint8) {
		t.Helper()
		eth := e.next()
		h, err := ipv6.Parse(eth.Payload())
		if err != nil || eth.Dst() != mac6(mdns6) || h.Dst() != mdns6 || h.HopLimit() != hops {
			t.Fatalf("sent to %v, %v, hop limit %d (%v); want %v, %v, %d", eth.Dst(), h.Dst(), h.HopLimit(), err, mac6(mdns6), mdns6, hops)
		}
	}
	// IPV6_UNICAST_HOPS is for unicast: a group packet takes
	// IPV6_MULTICAST_HOPS (Linux's ip6_sk_dst_hoplimit).
	if err := tx.SetIPOption(stack.IPv6HopLimit, 99); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.SendTo([]byte("q"), to); err != nil {
		t.Fatal(err)
	}
	wire(1)
	if !looped() {
		t.Fatal("not looped back")
	}
	if err := tx.SetMulticastHops(255); err != nil {
		t.Fatal(err)
	}
	if err := tx.SetMulticastLoop6(false); err != nil {
		t.Fatal(err)
	}
	tx.SendTo([]byte("q"), to)
	wire(255)
	if looped() {
		t.Fatal("looped back with IPV6_MULTICAST_LOOP off")
	}
	tx.SetMulticastLoop6(true)
	tx.SetMulticastHops(0)
	tx.SendTo([]byte("q"), to)
	e.none()
	if !looped() {
		t.Fatal("hop limit 0: not looped back")
	}
	tx.SetMulticastHops(-1)
	if tx.MulticastHops() != 1 {
		t.Fatalf("IPV6_MULTICAST_HOPS after -1: %d, want 1", tx.MulticastHops())
	}
}

// The membership calls fail with Linux's errnos.
func TestMLD6_MembershipErrors(t *testing.T) {
	e := envND(t)
	ep := e.joined6(5353, mdns6)
	v4, err := e.st.NewUDPEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	defer v4.Close()
	for _, tc := range []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"join a unicast address", ep.JoinGroup6(peerLL, 0), syscall.EINVAL},
		{"join an IPv4 group", ep.JoinGroup6(netip.MustParseAddr("239.1.2.3"), 0), syscall.EINVAL},
		{"join twice", ep.JoinGroup6(mdns6, 0), syscall.EADDRINUSE},
		{"join on another interface", ep.JoinGroup6(other6, 5), syscall.ENODEV},
		{"leave a group not joined", ep.LeaveGroup6(other6, 0), syscall.EADDRNOTAVAIL},
		{"join on an AF_INET socket", v4.JoinGroup6(other6, 0), syscall.ENOPROTOOPT},
		{"hops 256", ep.SetMulticastHops(256), syscall.EINVAL},
		{"IPV6_MULTICAST_IF 5", ep.SetMulticastInterface6(5), syscall.ENODEV},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if err := ep.JoinGroup6(other6, stack.LinkIndex); err != nil {
		t.Fatalf("join on the link's index: %v", err)
	}
}

// Closing a socket leaves its IPv6 groups (Linux's ipv6_sock_mc_close):
// the last membership's leave is reported.
func TestMLD6_SocketClose_LeavesGroups(t *testing.T) {
	e := envND(t)
	ep := e.joined6(5353, mdns6)
	e.clk.Advance(10 * time.Second)
	e.drain()
	ep.Close()
	leave := []ipv6.MLDRecord{{Type: ipv6.MLDChangeToInclude, Group: mdns6}}
	if r := mldRecords(e); len(r) != 1 || !slices.Equal(r[0], leave) {
		t.Fatalf("at close: %v, want one report with %v", r, leave)
	}
}
