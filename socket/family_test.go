package socket_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/socket"
)

// Families in the net adapters, as Go's net picks them: "tcp" on a
// wildcard listens dual-stack on [::], "tcp4" IPv4 only, "tcp6" IPv6 only
// (IPV6_V6ONLY); an address of the other family is "no suitable address".
func TestListen_NetworkPicksFamily(t *testing.T) {
	_, b := twoStacks(t)
	for _, c := range []struct {
		network, address, want string
		v6, v6only             bool
	}{
		{"tcp", ":7001", "[::]:7001", true, false},
		{"tcp", "0.0.0.0:7002", "[::]:7002", true, false},
		{"tcp", "[::]:7003", "[::]:7003", true, false},
		{"tcp", "10.0.0.2:7004", "10.0.0.2:7004", false, false},
		{"tcp4", ":7005", "0.0.0.0:7005", false, false},
		{"tcp6", ":7006", "[::]:7006", true, true},
	} {
		l, err := socket.Listen(b, c.network, c.address)
		if err != nil {
			t.Fatalf("Listen(%q, %q): %v", c.network, c.address, err)
		}
		if got := l.Addr().String(); got != c.want {
			t.Errorf("Listen(%q, %q).Addr() = %s, want %s", c.network, c.address, got, c.want)
		}
		v, err := l.FD().GetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
		switch {
		case !c.v6 && !errors.Is(err, syscall.ENOPROTOOPT):
			t.Errorf("Listen(%q, %q): IPV6_V6ONLY on AF_INET: %v, want ENOPROTOOPT", c.network, c.address, err)
		case c.v6 && (err != nil || (v == 1) != c.v6only):
			t.Errorf("Listen(%q, %q): IPV6_V6ONLY = %d, %v; want %v", c.network, c.address, v, err, c.v6only)
		}
		l.Close()
	}
	for _, c := range []struct{ network, address string }{
		{"tcp4", "[fe80::1]:80"}, {"tcp6", "10.0.0.2:80"}, {"tcp6", "[::ffff:10.0.0.2]:80"}, {"udp4", "[::]:80"}, {"udp6", "0.0.0.0:80"},
	} {
		var err error
		if strings.HasPrefix(c.network, "tcp") {
			_, err = socket.Listen(b, c.network, c.address)
		} else {
			_, err = socket.ListenPacket(b, c.network, c.address)
		}
		var ae *net.AddrError
		if !errors.As(err, &ae) || ae.Err != "no suitable address found" {
			t.Errorf("Listen(%q, %q): %v, want no suitable address found", c.network, c.address, err)
		}
	}
	if _, err := socket.Listen(b, "tcp6", "[fe80::1%eth9]:80"); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("Listen on a zone naming no link: %v, want ENODEV", err)
	}
	if _, err := socket.Listen(b, "tcp6", "[fe80::99]:80"); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("Listen on a link-local address not ours: %v, want EADDRNOTAVAIL", err)
	}
	ll := b.LinkLocal()
	l, err := socket.Listen(b, "tcp6", netip.AddrPortFrom(ll.WithZone(b.LinkName()), 7007).String())
	if err != nil {
		t.Fatalf("Listen on our link-local address with our link as zone: %v", err)
	}
	l.Close()
}

// A "tcp" listener on ":port" takes IPv4 clients, which it shows as
// IPv4-mapped addresses (Go prints them dotted), as a Go program on Linux
// sees them.
func TestListen_DualStack_AcceptsIPv4AsMapped(t *testing.T) {
	a, b := twoStacks(t)
	l, err := socket.Listen(b, "tcp", ":7010")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := socket.Dial(a, "tcp4", "10.0.0.2:7010")
		if err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	l.SetDeadline(time.Now().Add(guard))
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	if !ra.Addr().Is4In6() || ra.Addr().Unmap() != addrA || c.RemoteAddr().String() != ra.Addr().Unmap().String()+":"+strconv.Itoa(int(ra.Port())) {
		t.Fatalf("RemoteAddr %v (%v), want ::ffff:%v printed as %v", ra, c.RemoteAddr(), addrA, addrA)
	}
	if la := c.LocalAddr().(*net.TCPAddr).AddrPort(); la != netip.AddrPortFrom(netip.AddrFrom16(addrB.As16()), 7010) {
		t.Fatalf("LocalAddr %v, want ::ffff:%v:7010", la, addrB)
	}
	c.SetReadDeadline(time.Now().Add(guard))
	if got, err := io.ReadAll(c); err != nil || string(got) != "hi" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// A "udp6" dial binds the source address connect picks (our link-local
// one, as Linux's ip6_datagram_connect fixes the route's source) and an
// ephemeral port; "udp4" refuses an IPv6 address.
func TestDialUDP6_Addrs(t *testing.T) {
	a, _ := twoStacks(t)
	c, err := socket.Dial(a, "udp6", "[fe80::1]:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	la := c.LocalAddr().(*net.UDPAddr).AddrPort()
	if la.Addr() != a.LinkLocal() || la.Port() == 0 || c.RemoteAddr().String() != "[fe80::1]:53" {
		t.Fatalf("LocalAddr %v, RemoteAddr %v; want %v with an ephemeral port, [fe80::1]:53", la, c.RemoteAddr(), a.LinkLocal())
	}
	var ae *net.AddrError
	if _, err := socket.Dial(a, "udp4", "[fe80::1]:53"); !errors.As(err, &ae) {
		t.Fatalf("udp4 to an IPv6 address: %v, want no suitable address", err)
	}
}

// TCP and UDP over IPv6 between two stacks on the Pipe, link-local to
// link-local with the link as zone: neighbour discovery, the handshake
// and data both ways, the peer's address as Go's net shows it.
func TestTCP6AndUDP6_BetweenTwoStacks(t *testing.T) {
	a, b := twoStacks(t)
	l, err := socket.Listen(b, "tcp6", ":7020")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.Copy(c, c) // echo
			c.Close()
		}
	}()
	target := netip.AddrPortFrom(b.LinkLocal().WithZone(a.LinkName()), 7020)
	c, err := socket.Dial(a, "tcp6", target.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != target.String() {
		t.Fatalf("RemoteAddr %s, want %s", got, target)
	}
	c.SetDeadline(time.Now().Add(guard))
	if _, err := c.Write([]byte("over ipv6")); err != nil {
		t.Fatal(err)
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	if got, err := io.ReadAll(c); err != nil || string(got) != "over ipv6" {
		t.Fatalf("echo %q, %v", got, err)
	}

	pc, err := socket.ListenPacket(b, "udp6", ":7021")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	u, err := socket.Dial(a, "udp6", netip.AddrPortFrom(b.LinkLocal(), 7021).String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Write([]byte("datagram")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	pc.SetReadDeadline(time.Now().Add(guard))
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "datagram" || from.(*net.UDPAddr).AddrPort().Addr().WithZone("") != a.LinkLocal() {
		t.Fatalf("ReadFrom %q from %v, %v; want datagram from %v", buf[:n], from, err, a.LinkLocal())
	}
}
