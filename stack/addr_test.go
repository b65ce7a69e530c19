package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// A stack without an address (Config.Addr zero) until SetAddr: what a DHCP
// client needs (RFC 2131 §4.1) and no more.

var (
	limitedBcast = netip.MustParseAddr("255.255.255.255")
	dhcpServer   = netip.AddrPortFrom(peerIP, 67)
	dhcpClient   = netip.AddrPortFrom(netip.IPv4Unspecified(), 68)
)

func newNoAddrEnv(t *testing.T) *env {
	return newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.Addr, c.Gateway = netip.Prefix{}, netip.Addr{} })
}

// dhcpEndpoint is a UDP endpoint on 0.0.0.0:68 allowed to broadcast.
func dhcpEndpoint(t *testing.T, e *env) *stack.UDPEndpoint {
	t.Helper()
	ep, err := e.st.NewUDPEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	ep.SetBroadcast(true)
	if _, err := ep.Bind(dhcpClient, false); err != nil {
		t.Fatalf("Bind(%v): %v", dhcpClient, err)
	}
	return ep
}

// With no address a datagram to 255.255.255.255 leaves from 0.0.0.0, in a
// link broadcast frame, with no ARP (RFC 2131 §4.1; RFC 1122 §3.2.1.3
// allows 0.0.0.0 as a source while a host learns its address).
func TestNoAddr_SendsBroadcastFromZero(t *testing.T) {
	e := newNoAddrEnv(t)
	if a, p := e.st.Addr(), e.st.Prefix(); a != netip.IPv4Unspecified() || p.IsValid() || len(e.st.Routes()) != 0 {
		t.Fatalf("no address: Addr %v Prefix %v Routes %v", a, p, e.st.Routes())
	}
	ep := dhcpEndpoint(t, e)
	if _, err := ep.SendTo([]byte("discover"), netip.AddrPortFrom(limitedBcast, 67)); err != nil {
		t.Fatal(err)
	}
	eth := e.next()
	if eth.Dst() != ethernet.Broadcast || eth.Type() != ethernet.TypeIPv4 {
		t.Fatalf("frame to %v type %v, want link broadcast IPv4", eth.Dst(), eth.Type())
	}
	ip, err := ipv4.Parse(eth.Payload())
	if err != nil || ip.Src() != netip.IPv4Unspecified() || ip.Dst() != limitedBcast {
		t.Fatalf("datagram %v -> %v (%v), want 0.0.0.0 -> 255.255.255.255", ip.Src(), ip.Dst(), err)
	}
	u, err := udp.Parse(ip.Payload())
	if err != nil || !u.VerifyIPv4(ip.Src(), ip.Dst()) || u.SrcPort() != 68 || u.DstPort() != 67 || string(u.Payload()) != "discover" {
		t.Fatalf("UDP %d -> %d %q (%v)", u.SrcPort(), u.DstPort(), u.Payload(), err)
	}
	e.none()
	// Nowhere else to send: no route (Linux: ENETUNREACH).
	if _, err := ep.SendTo([]byte("x"), dhcpServer); !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("unicast without an address: %v, want ENETUNREACH", err)
	}
}

// With no address the stack takes broadcasts to port 68, drops unicast
// datagrams (none is ours), neither answers ARP for 0.0.0.0 nor takes a
// probe for a conflict.
func TestNoAddr_ReceivesBroadcastToPort68(t *testing.T) {
	e := newNoAddrEnv(t)
	ep := dhcpEndpoint(t, e)
	e.inject(udpFrame(dhcpServer, netip.AddrPortFrom(limitedBcast, 68), []byte("offer")))
	buf := make([]byte, 64)
	n, _, from, err := ep.TryRecvFrom(buf, false)
	if err != nil || string(buf[:n]) != "offer" || from != dhcpServer {
		t.Fatalf("TryRecvFrom = %q from %v, %v; want the offer", buf[:n], from, err)
	}
	before := e.st.Stats().IPv4.InAddrErrors
	e.inject(udpFrame(dhcpServer, netip.AddrPortFrom(stackIP, 68), []byte("unicast")))
	if _, _, _, err := ep.TryRecvFrom(buf, false); !errors.Is(err, syscall.EAGAIN) || e.st.Stats().IPv4.InAddrErrors != before+1 {
		t.Fatalf("unicast to %v with no address: %v, in_addr_errors %d", stackIP, err, e.st.Stats().IPv4.InAddrErrors)
	}
	e.inject(udpFrame(dhcpServer, netip.AddrPortFrom(netip.IPv4Unspecified(), 68), []byte("to zero")))
	if _, _, _, err := ep.TryRecvFrom(buf, false); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("a datagram to 0.0.0.0 was delivered: %v", err)
	}
	e.inject(arpFrame(arp.OpRequest, peerMAC, netip.IPv4Unspecified(), ethernet.MAC{}, netip.IPv4Unspecified(), ethernet.Broadcast))
	e.none()
	if c := e.st.Stats().ARP.AddressConflicts; c != 0 {
		t.Fatalf("an ARP probe counted as %d conflicts", c)
	}
}

// SetAddr switches the address, prefix and routes: ARP and datagrams for
// the new address are answered, the old address is no longer ours, and a
// socket bound to 0.0.0.0 sends from the new one.
func TestSetAddr_SwitchesAddress(t *testing.T) {
	e := newEnv(t)
	newIP, gw := netip.MustParseAddr("10.0.0.50"), netip.MustParseAddr("10.0.0.1")
	if err := e.st.SetAddr(netip.PrefixFrom(newIP, 25), gw); err != nil {
		t.Fatal(err)
	}
	want := []ipv4.Route{{Dst: netip.MustParsePrefix("10.0.0.0/25")}, {Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw}}
	if got := e.st.Routes(); !sameRoutes(got, want) || e.st.Addr() != newIP || e.st.Prefix() != netip.MustParsePrefix("10.0.0.0/25") {
		t.Fatalf("after SetAddr: %v %v %+v", e.st.Addr(), e.st.Prefix(), got)
	}
	e.inject(arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast))
	e.none() // the old address is not ours any more
	e.inject(arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, newIP, ethernet.Broadcast))
	if eth := e.next(); eth.Type() != ethernet.TypeARP {
		t.Fatalf("no ARP reply for the new address")
	} else if h, _ := arp.Parse(eth.Payload()); h.Op() != arp.OpReply || h.SenderIP() != newIP {
		t.Fatalf("ARP reply from %v, want %v", h.SenderIP(), newIP)
	}
	e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Dst: newIP}, echoRequest(1, 1, nil)))
	if h, m := e.nextICMP(); h.Src() != newIP || m.Type() != ipv4.TypeEchoReply {
		t.Fatalf("echo reply from %v type %d, want from %v", h.Src(), m.Type(), newIP)
	}
	fd := bound(t, e, netip.AddrPortFrom(netip.IPv4Unspecified(), 7))
	if _, err := fd.SendTo([]byte("x"), 0, peerAP); err != nil {
		t.Fatal(err)
	}
	if h := e.nextIPv4(); h.Src() != newIP {
		t.Fatalf("UDP from %v, want %v", h.Src(), newIP)
	}

	// The zero prefix removes the address and every route.
	if err := e.st.SetAddr(netip.Prefix{}, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if len(e.st.Routes()) != 0 || e.st.Addr() != netip.IPv4Unspecified() {
		t.Fatalf("after removal: %v %+v", e.st.Addr(), e.st.Routes())
	}
	if _, err := fd.SendTo([]byte("x"), 0, peerAP); !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("send with no address: %v, want ENETUNREACH", err)
	}
	// A bad address or gateway changes nothing.
	for _, c := range []struct {
		p  string
		gw string
	}{{"10.0.0.9/24", "10.0.1.1"}, {"fd00::2/64", ""}, {"0.0.0.0/8", ""}} {
		var gw netip.Addr
		if c.gw != "" {
			gw = netip.MustParseAddr(c.gw)
		}
		if err := e.st.SetAddr(netip.MustParsePrefix(c.p), gw); !errors.Is(err, stack.ErrBadConfig) {
			t.Errorf("SetAddr(%s, %s) = %v, want ErrBadConfig", c.p, c.gw, err)
		}
	}
	if e.st.Addr() != netip.IPv4Unspecified() {
		t.Fatalf("a refused SetAddr changed the address to %v", e.st.Addr())
	}
}

// A started stack announces a new address with a gratuitous ARP (RFC 5227
// §3, RFC 2131 §4.4.1); with no address, Start announces nothing.
func TestSetAddr_AnnouncesOnceStarted(t *testing.T) {
	e := newNoAddrEnv(t)
	e.st.Start()
	newIP := netip.MustParseAddr("10.0.0.50")
	if err := e.st.SetAddr(netip.PrefixFrom(newIP, 24), peerIP); err != nil {
		t.Fatal(err)
	}
	eth := e.next() // nothing from Start comes before it
	h, err := arp.Parse(eth.Payload())
	if eth.Type() != ethernet.TypeARP || err != nil || eth.Dst() != ethernet.Broadcast || h.SenderIP() != newIP || h.TargetIP() != newIP {
		t.Fatalf("announcement: %v frame to %v, ARP %v -> %v (%v)", eth.Type(), eth.Dst(), h.SenderIP(), h.TargetIP(), err)
	}
	// The same address again is no change: no announcement.
	if err := e.st.SetAddr(netip.PrefixFrom(newIP, 24), peerIP); err != nil {
		t.Fatal(err)
	}
	e.none()
}
