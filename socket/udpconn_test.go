package socket_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/socket"
)

// guard bounds a read that must end by itself; it is never the expected end.
const guard = 10 * time.Second

func TestDialUDP_ConnectedExchangeAndAddrs(t *testing.T) {
	a, b := twoStacks(t)
	srv, err := socket.ListenPacket(b, "udp", ":5353")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, network := range []string{"udp", "udp4"} {
		c, err := socket.Dial(a, network, "10.0.0.2:5353")
		if err != nil {
			t.Fatalf("Dial(%q): %v", network, err)
		}
		uc, ok := c.(*socket.UDPConn)
		if !ok {
			t.Fatalf("Dial(%q) returned %T, want *socket.UDPConn", network, c)
		}
		if _, ok := c.RemoteAddr().(*net.UDPAddr); !ok || c.RemoteAddr().String() != "10.0.0.2:5353" {
			t.Fatalf("RemoteAddr = %v, want *net.UDPAddr 10.0.0.2:5353", c.RemoteAddr())
		}
		la := c.LocalAddr().(*net.UDPAddr).AddrPort()
		if la.Addr() != addrA || la.Port() == 0 {
			t.Fatalf("LocalAddr = %v, want 10.0.0.1 with an ephemeral port", la)
		}
		if _, err := c.Write([]byte("query")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		srv.SetReadDeadline(time.Now().Add(guard))
		n, from, err := srv.ReadFrom(buf)
		// A "udp" socket on ":5353" is dual-stack, as Go's: an IPv4 peer
		// comes as ::ffff:10.0.0.1 (printed 10.0.0.1 by net.UDPAddr).
		fromAP := from.(*net.UDPAddr).AddrPort()
		if err != nil || string(buf[:n]) != "query" || !fromAP.Addr().Is4In6() || netip.AddrPortFrom(fromAP.Addr().Unmap(), fromAP.Port()) != la {
			t.Fatalf("server got %q from %v (%v), want \"query\" from %v", buf[:n], from, err, la)
		}
		// A datagram from another port of the peer is not the peer's: the
		// connected socket does not deliver it (Linux's udp4_lib_lookup
		// matches the connected 4-tuple).
		other, err := socket.ListenPacket(b, "udp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		other.WriteTo([]byte("spoof"), net.UDPAddrFromAddrPort(la))
		other.Close()
		srv.WriteTo([]byte("answer"), from)
		c.SetReadDeadline(time.Now().Add(guard))
		if n, err = c.Read(buf); err != nil || string(buf[:n]) != "answer" {
			t.Fatalf("Read = %q, %v; want \"answer\" (and never \"spoof\")", buf[:n], err)
		}
		// Still a net.PacketConn, as *net.UDPConn is.
		var _ net.PacketConn = uc
		c.Close()
		if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
		}
	}
}

func TestDialUDP_ClosedPort_ReadGivesECONNREFUSEDOnce(t *testing.T) {
	a, _ := twoStacks(t)
	c, err := socket.Dial(a, "udp", "10.0.0.2:9999")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	// The peer stack answers with ICMP port unreachable (RFC 1122
	// §4.1.3.1); Linux reports it to a connected socket as ECONNREFUSED on
	// the next call, once.
	c.SetReadDeadline(time.Now().Add(guard))
	_, err = c.Read(make([]byte, 16))
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Read after a datagram to a closed port: %v, want a read *net.OpError matching ECONNREFUSED", err)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second Read: %v, want the error reported once, then a deadline", err)
	}
}

func TestDialUDP_Errors(t *testing.T) {
	a, _ := twoStacks(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := socket.DialContext(ctx, a, "udp", "10.0.0.2:53"); !errors.Is(err, context.Canceled) {
		t.Fatalf("DialContext(udp) with a canceled context: %v, want context.Canceled", err)
	}
	for _, tc := range []struct {
		network, addr string
	}{
		{"udp6", "10.0.0.2:53"},
		{"udp", "10.0.0.2"},
		{"udp", "dns.example:53"},
	} {
		_, err := socket.Dial(a, tc.network, tc.addr)
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" {
			t.Errorf("Dial(%q, %q) = %v, want a dial *net.OpError", tc.network, tc.addr, err)
		}
	}
}

func TestDialContext_TCPDeadline_TimeoutError(t *testing.T) {
	a, _ := twoStacks(t)
	// 10.0.0.77 never answers ARP: only the context can end the dial.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := socket.DialContext(ctx, a, "tcp", "10.0.0.77:80")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialContext past its deadline: %v, want a net.Error with Timeout() matching context.DeadlineExceeded", err)
	}
}

// A failed Dial returns a nil net.Conn, as Go's: not a nil *UDPConn
// inside a non-nil interface, which `c != nil` would take for a
// connection.
func TestDial_FailureReturnsNilConn(t *testing.T) {
	a, _ := twoStacks(t)
	for _, addr := range []string{"10.0.0.2", "10.0.0.2:0x"} {
		for _, network := range []string{"tcp", "udp"} {
			if c, err := socket.Dial(a, network, addr); c != nil || err == nil {
				t.Errorf("Dial(%s, %q) = %#v, %v; want a nil Conn and an error", network, addr, c, err)
			}
		}
	}
}
