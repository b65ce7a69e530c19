package socket_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

var mcastGroup = netip.MustParseAddr("239.1.2.3")

// ListenMulticastUDP, as net.ListenMulticastUDP, receives what another
// host sends to the group at its port; closing it leaves the group, after
// which the group's frames are not for the stack any more.
func TestListenMulticastUDP_ReceivesTheGroupUntilClosed(t *testing.T) {
	a, b := twoStacks(t)
	gaddr := &net.UDPAddr{IP: mcastGroup.AsSlice(), Port: 5353}
	l, err := socket.ListenMulticastUDP(b, "udp4", nil, gaddr)
	if err != nil {
		t.Fatal(err)
	}
	if loop, _ := l.FD().GetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP); loop != 0 {
		t.Errorf("IP_MULTICAST_LOOP %d, want 0 (as Go's)", loop)
	}
	tx, err := socket.ListenPacket(a, "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.WriteTo([]byte("mdns"), gaddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	l.SetReadDeadline(time.Now().Add(guard))
	n, from, err := l.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "mdns" || from.(*net.UDPAddr).AddrPort().Addr() != addrA {
		t.Fatalf("got %q from %v (%v), want \"mdns\" from %v", buf[:n], from, err, addrA)
	}
	l.Close()
	// A unicast datagram sent after the group's one is the barrier: the
	// link is in order, so once it is read the group's was handled.
	barrier, err := socket.ListenPacket(b, "udp4", ":7000")
	if err != nil {
		t.Fatal(err)
	}
	defer barrier.Close()
	before := b.Stats().IPv4.InMcastPkts
	tx.WriteTo([]byte("gone"), gaddr)
	tx.WriteTo([]byte("barrier"), &net.UDPAddr{IP: addrB.AsSlice(), Port: 7000})
	barrier.SetReadDeadline(time.Now().Add(guard))
	if _, _, err := barrier.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	if got := b.Stats().IPv4.InMcastPkts; got != before {
		t.Fatalf("after Close the group's datagram was still taken (in_mcast_pkts %d, was %d)", got, before)
	}
	for _, tc := range []struct {
		name    string
		network string
		ifi     *net.Interface
		gaddr   *net.UDPAddr
		want    error
	}{
		{"unicast", "udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 1}, syscall.EINVAL},
		{"another interface", "udp4", &net.Interface{Name: "eth9"}, gaddr, syscall.ENODEV},
		{"IPv6 group on udp4", "udp4", nil, &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 1}, syscall.EINVAL},
		{"IPv4 group on udp6", "udp6", nil, gaddr, syscall.EINVAL},
	} {
		if _, err := socket.ListenMulticastUDP(b, tc.network, tc.ifi, tc.gaddr); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// The setsockopt layouts and errnos are Linux's: ip_mreq (8 octets) and
// ip_mreqn (12, with the interface index) told apart by length, shorter
// EINVAL; EADDRINUSE, EADDRNOTAVAIL, ENODEV, EPROTO on TCP;
// IP_MULTICAST_TTL default 1, -1 the default, 256 EINVAL;
// IP_MULTICAST_LOOP default 1; IP_MULTICAST_IF an address of ours.
func TestMulticastSockopts_LinuxLayoutsAndErrors(t *testing.T) {
	_, b := twoStacks(t)
	fd, err := socket.Socket(b, socket.AF_INET, socket.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	g := mcastGroup.As4()
	mreq := &syscall.IPMreq{Multiaddr: g}
	check := func(name string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) && (want != nil || err != nil) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	check("ip_mreq join", fd.SetsockoptIPMreq(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq), nil)
	check("join again", fd.SetsockoptIPMreq(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq), syscall.EADDRINUSE)
	check("7 octets", fd.SetsockoptBytes(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, make([]byte, 7)), syscall.EINVAL)
	check("ip_mreqn on interface 2", fd.SetsockoptIPMreqn(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, &syscall.IPMreqn{Multiaddr: [4]byte{239, 0, 0, 9}, Ifindex: 2}), syscall.ENODEV)
	check("ip_mreqn drop on our link", fd.SetsockoptIPMreqn(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, &syscall.IPMreqn{Multiaddr: g, Ifindex: stack.LinkIndex}), nil)
	check("drop again", fd.SetsockoptIPMreq(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, mreq), syscall.EADDRNOTAVAIL)
	check("join a unicast address", fd.SetsockoptIPMreq(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, &syscall.IPMreq{Multiaddr: addrA.As4()}), syscall.EINVAL)

	if v, err := fd.GetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL); v != 1 || err != nil {
		t.Errorf("IP_MULTICAST_TTL %d (%v), want 1", v, err)
	}
	check("TTL 7", fd.SetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 7), nil)
	if v, _ := fd.GetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL); v != 7 {
		t.Errorf("IP_MULTICAST_TTL %d, want 7", v)
	}
	check("TTL -1", fd.SetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, -1), nil)
	if v, _ := fd.GetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL); v != 1 {
		t.Errorf("IP_MULTICAST_TTL after -1: %d, want 1", v)
	}
	check("TTL 256", fd.SetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 256), syscall.EINVAL)
	if v, _ := fd.GetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP); v != 1 {
		t.Errorf("IP_MULTICAST_LOOP %d, want 1", v)
	}
	check("loop off", fd.SetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0), nil)
	if v, _ := fd.GetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP); v != 0 {
		t.Errorf("IP_MULTICAST_LOOP %d, want 0", v)
	}

	if v, _ := fd.GetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_ALL); v != 1 {
		t.Errorf("IP_MULTICAST_ALL %d, want 1", v)
	}
	check("IP_MULTICAST_ALL 2", fd.SetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_ALL, 2), syscall.EINVAL)
	check("IP_MULTICAST_ALL 0", fd.SetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_ALL, 0), nil)
	if v, _ := fd.GetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_ALL); v != 0 {
		t.Errorf("IP_MULTICAST_ALL %d, want 0", v)
	}

	check("IP_MULTICAST_IF ours", fd.SetsockoptInet4Addr(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, addrB.As4()), nil)
	if a, _ := fd.GetsockoptInet4Addr(socket.IPPROTO_IP, socket.IP_MULTICAST_IF); a != addrB.As4() {
		t.Errorf("IP_MULTICAST_IF %v, want %v", a, addrB)
	}
	check("IP_MULTICAST_IF not ours", fd.SetsockoptInet4Addr(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, addrA.As4()), syscall.EADDRNOTAVAIL)
	check("IP_MULTICAST_IF 3 octets", fd.SetsockoptBytes(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, []byte{1, 2, 3}), syscall.EINVAL)

	tcp, err := socket.Socket(b, socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	check("join on TCP", tcp.SetsockoptIPMreq(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq), syscall.EPROTO)
}

// IPv6: IPV6_JOIN_GROUP with a struct ipv6_mreq makes an AF_INET6 socket
// receive what another host sends to the group; the options' values and
// errnos are Linux's (ipv6_mreq shorter than 20 octets EINVAL,
// IPV6_MULTICAST_LOOP other than 0 or 1 EINVAL, an unknown index ENODEV,
// AF_INET ENOPROTOOPT, TCP EPROTO).
func TestMulticastSockopts6_JoinReceivesAndLinuxErrors(t *testing.T) {
	a, b := twoStacks(t)
	group := netip.MustParseAddr("ff02::fb")
	l, err := socket.ListenPacket(b, "udp6", "[::]:5353")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fd := l.FD()
	mreq := &syscall.IPv6Mreq{Multiaddr: group.As16(), Interface: stack.LinkIndex}
	if err := fd.SetsockoptIPv6Mreq(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq); err != nil {
		t.Fatal(err)
	}
	tx, err := socket.ListenPacket(a, "udp6", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.WriteTo([]byte("mdns6"), &net.UDPAddr{IP: group.AsSlice(), Port: 5353}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	l.SetReadDeadline(time.Now().Add(guard))
	n, _, err := l.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "mdns6" {
		t.Fatalf("got %q (%v), want \"mdns6\"", buf[:n], err)
	}

	check := func(name string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) && (want != nil || err != nil) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	check("join again", fd.SetsockoptIPv6Mreq(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq), syscall.EADDRINUSE)
	check("19 octets", fd.SetsockoptBytes(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, make([]byte, 19)), syscall.EINVAL)
	check("interface 7", fd.SetsockoptIPv6Mreq(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, &syscall.IPv6Mreq{Multiaddr: netip.MustParseAddr("ff02::fc").As16(), Interface: 7}), syscall.ENODEV)
	check("leave", fd.SetsockoptIPv6Mreq(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, mreq), nil)
	check("leave again", fd.SetsockoptIPv6Mreq(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, mreq), syscall.EADDRNOTAVAIL)
	if v, err := fd.GetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS); v != 1 || err != nil {
		t.Errorf("IPV6_MULTICAST_HOPS %d (%v), want 1", v, err)
	}
	check("hops 5", fd.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 5), nil)
	if v, _ := fd.GetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS); v != 5 {
		t.Errorf("IPV6_MULTICAST_HOPS %d, want 5", v)
	}
	check("loop 2", fd.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 2), syscall.EINVAL)
	check("loop 0", fd.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0), nil)
	if v, _ := fd.GetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP); v != 0 {
		t.Errorf("IPV6_MULTICAST_LOOP %d, want 0", v)
	}
	check("IPV6_MULTICAST_ALL 2", fd.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_ALL, 2), nil) // any value: on
	check("IPV6_MULTICAST_ALL 0", fd.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_ALL, 0), nil)
	if v, _ := fd.GetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_ALL); v != 0 {
		t.Errorf("IPV6_MULTICAST_ALL %d, want 0", v)
	}
	if v, _ := fd.GetsockoptInt(socket.IPPROTO_IP, socket.IP_MULTICAST_ALL); v != 1 {
		t.Errorf("IP_MULTICAST_ALL %d after IPV6_MULTICAST_ALL 0, want 1 (separate options)", v)
	}
	check("IPV6_MULTICAST_IF 7", fd.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, 7), syscall.ENODEV)
	check("IPV6_MULTICAST_IF link", fd.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, stack.LinkIndex), nil)

	v4, err := socket.Socket(b, socket.AF_INET, socket.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer v4.Close()
	check("AF_INET join", v4.SetsockoptIPv6Mreq(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq), syscall.ENOPROTOOPT)
	check("AF_INET hops", v4.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1), syscall.ENOPROTOOPT)
	tcp, err := socket.Socket(b, socket.AF_INET6, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	check("TCP join", tcp.SetsockoptIPv6Mreq(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq), syscall.EPROTO)
}

// ListenMulticastUDP over IPv6 ("udp6", as net's): an AF_INET6 socket
// joined to the group receives what the other stack sends to it; its
// loopback is off.
func TestListenMulticastUDP6_ReceivesTheGroup(t *testing.T) {
	a, b := twoStacks(t)
	gaddr := &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 5353}
	l, err := socket.ListenMulticastUDP(b, "udp6", nil, gaddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if loop, _ := l.FD().GetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP); loop != 0 {
		t.Errorf("IPV6_MULTICAST_LOOP %d, want 0", loop)
	}
	tx, err := socket.ListenPacket(a, "udp6", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.WriteTo([]byte("mdns"), gaddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	l.SetReadDeadline(time.Now().Add(guard))
	if n, _, err := l.ReadFrom(buf); err != nil || string(buf[:n]) != "mdns" {
		t.Fatalf("got %q (%v), want \"mdns\"", buf[:n], err)
	}
}

// PacketConn.JoinGroup, as x/net's ipv4/ipv6 PacketConn.JoinGroup: one
// dual-stack socket joins an IPv4 and an IPv6 group (mDNS's) and receives
// what the other stack sends to each; LeaveGroup of a group not joined is
// EADDRNOTAVAIL, another interface ENODEV.
func TestPacketConn_JoinGroupBothFamilies(t *testing.T) {
	a, b := twoStacks(t)
	pc, err := socket.ListenPacket(b, "udp", ":5353")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	g4 := &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
	g6 := &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 5353}
	for _, g := range []*net.UDPAddr{g4, g6} {
		if err := pc.JoinGroup(nil, g); err != nil {
			t.Fatalf("JoinGroup(%v): %v", g, err)
		}
	}
	tx, err := socket.ListenPacket(a, "udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	buf := make([]byte, 64)
	for _, g := range []*net.UDPAddr{g4, g6} {
		if _, err := tx.WriteTo([]byte(g.IP.String()), g); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(guard))
		if n, _, err := pc.ReadFrom(buf); err != nil || string(buf[:n]) != g.IP.String() {
			t.Fatalf("to %v: got %q (%v)", g.IP, buf[:n], err)
		}
	}
	if err := pc.LeaveGroup(nil, g4); err != nil {
		t.Fatal(err)
	}
	if err := pc.LeaveGroup(nil, g4); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("leave again: %v, want EADDRNOTAVAIL", err)
	}
	if err := pc.JoinGroup(&net.Interface{Name: "eth9"}, g4); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("join on another interface: %v, want ENODEV", err)
	}
}
