package socket_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/tapstack/tapstack/socket"
)

// echo6Request is a marshalled ICMPv6 echo request (RFC 4443 §4.1): the
// stack fills in the identifier and the checksum.
func echo6Request(t *testing.T, seq int) []byte {
	t.Helper()
	m, err := (&icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{Seq: seq, Data: []byte("six")}}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readEcho6Reply reads one message from c, which must be an ICMPv6 echo
// reply, and returns it with its sender.
func readEcho6Reply(t *testing.T, c net.PacketConn) (*icmp.Echo, net.Addr) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(guard))
	buf := make([]byte, 1500)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := icmp.ParseMessage(58, buf[:n]) // 58: ICMPv6
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.Body.(*icmp.Echo)
	if m.Type != ipv6.ICMPTypeEchoReply || !ok {
		t.Fatalf("read %v %+v, want an ICMPv6 echo reply", m.Type, m.Body)
	}
	return e, from
}

// A ping socket is ICMPv6 when its peer (or local address) is IPv6: a
// dialed one pings the other stack's link-local address, zone and all,
// and reads its echo replies; a listening one on :: reports the sender
// with the link as its zone, on network "ping6".
func TestPing6_DialAndListen_EchoRepliesFromTheOtherStack(t *testing.T) {
	a, b := twoStacks(t)
	peer := b.LinkLocal().WithZone(a.LinkName())
	c, err := socket.DialPing(a, netip.Addr{}, peer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ra := c.RemoteAddr(); ra.Network() != "ping6" || ra.String() != peer.String() {
		t.Fatalf("RemoteAddr %s %s, want ping6 %s", ra.Network(), ra, peer)
	}
	if _, err := c.Write(echo6Request(t, 3)); err != nil {
		t.Fatal(err)
	}
	if e, _ := readEcho6Reply(t, c); e.Seq != 3 || string(e.Data) != "six" {
		t.Fatalf("reply seq %d data %q, want 3 \"six\"", e.Seq, e.Data)
	}

	l, err := socket.ListenPing(a, netip.IPv6Unspecified())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if la := l.LocalAddr(); la.Network() != "ping6" {
		t.Fatalf("LocalAddr network %s, want ping6", la.Network())
	}
	if _, err := l.WriteTo(echo6Request(t, 4), &net.IPAddr{IP: peer.AsSlice(), Zone: peer.Zone()}); err != nil {
		t.Fatal(err)
	}
	e, from := readEcho6Reply(t, l)
	if e.Seq != 4 || from.Network() != "ping6" || from.String() != peer.String() {
		t.Fatalf("reply seq %d from %s %s, want 4 from ping6 %s", e.Seq, from.Network(), from, peer)
	}
}

// Calls Linux refuses: an ICMP (IPv4) echo request on an ICMPv6 socket is
// EINVAL, an IPv4 local address for an IPv6 peer EAFNOSUPPORT, an IPv6
// address not ours EADDRNOTAVAIL; AF_INET with IPPROTO_ICMPV6 is
// EPROTONOSUPPORT.
func TestPing6_BadCalls_LinuxErrnos(t *testing.T) {
	a, b := twoStacks(t)
	peer := b.LinkLocal()
	c, err := socket.DialPing(a, netip.Addr{}, peer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v4, _ := (&icmp.Message{Type: ipv6.ICMPTypeEchoReply, Body: &icmp.Echo{}}).Marshal(nil)
	v4[0] = 8 // ICMP's echo request
	if _, err := c.Write(v4); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Write of an ICMP echo request: %v, want EINVAL", err)
	}
	if _, err := socket.DialPing(a, netip.MustParseAddr("10.0.0.1"), peer); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("DialPing from an IPv4 address to an IPv6 one: %v, want EAFNOSUPPORT", err)
	}
	if _, err := socket.ListenPing(a, netip.MustParseAddr("fe80::99")); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("ListenPing on an IPv6 address not ours: %v, want EADDRNOTAVAIL", err)
	}
	if _, err := socket.Socket(a, socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6); !errors.Is(err, syscall.EPROTONOSUPPORT) {
		t.Errorf("AF_INET with IPPROTO_ICMPV6: %v, want EPROTONOSUPPORT", err)
	}
}
