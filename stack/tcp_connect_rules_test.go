package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/socket"
)

// RFC 9293 §3.9.1.1 (MUST-46): "A TCP implementation MUST reject as an
// error a local OPEN call for an invalid remote IP address (e.g., a
// broadcast or multicast address)". As Linux (tcp_v4_connect refuses a
// route flagged RTCF_BROADCAST or RTCF_MULTICAST; tcp_v6_connect refuses
// a multicast address), the error is ENETUNREACH, nothing is sent, and
// the socket is left unconnected: a later Connect to a unicast peer
// works. Checked against Linux 6.18 in a namespace (connect(2) on
// 10.9.0.1/24: 10.9.0.255, 255.255.255.255, 224.0.0.1, 239.1.2.3,
// ff02::1 and ff0e::1 give ENETUNREACH, with or without a default route).
//
// Unlike Linux, which takes a connect to 0.0.0.0 or :: as one to the
// local host (127.0.0.1 or ::1, or the bound address;
// ip_route_output_key_hash_rcu, tcp_v6_connect: ECONNREFUSED with no
// listener there), a stack has no loopback address and refuses it with
// ENETUNREACH.
func TestTCP_ConnectToBroadcastMulticastUnspecified_ENETUNREACH(t *testing.T) {
	e := newEnv(t) // 10.0.0.2/24 with a default route: every address below has a route
	for _, tc := range []struct {
		domain int
		addr   string
	}{
		{socket.AF_INET, "10.0.0.255"},      // the subnet's broadcast
		{socket.AF_INET, "255.255.255.255"}, // limited broadcast
		{socket.AF_INET, "224.0.0.1"},       // link-local multicast
		{socket.AF_INET, "239.1.2.3"},       // administratively scoped multicast
		{socket.AF_INET, "0.0.0.0"},
		{socket.AF_INET6, "::ffff:10.0.0.255"}, // IPv4-mapped, on a dual-stack socket
		{socket.AF_INET6, "::ffff:224.0.0.1"},
		{socket.AF_INET6, "ff02::1"},
		{socket.AF_INET6, "ff0e::1"},
		{socket.AF_INET6, "::"},
	} {
		fd, err := socket.Socket(e.st, tc.domain, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := fd.Connect(netip.AddrPortFrom(netip.MustParseAddr(tc.addr), 80)); !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("Connect to %s: %v, want ENETUNREACH", tc.addr, err)
		}
		if _, err := fd.Getpeername(); !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("after Connect to %s: Getpeername %v, want ENOTCONN (not connected)", tc.addr, err)
		}
		fd.Close()
	}
	e.none()
	if got := e.st.Stats().TCP.ActiveOpens; got != 0 {
		t.Fatalf("ActiveOpens %d after refused opens, want 0", got)
	}
	// The same socket, refused once, then connects to a unicast peer;
	// the subnet's network address (host part zero) is not a broadcast
	// address to Linux either (its local table has a broadcast route for
	// 10.9.0.255 only): its SYN goes out.
	for _, to := range []netip.Addr{peerIP, netip.MustParseAddr("10.0.0.0")} {
		fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
		defer fd.Close()
		if err := fd.Connect(netip.AddrPortFrom(netip.MustParseAddr("224.0.0.1"), 80)); !errors.Is(err, syscall.ENETUNREACH) {
			t.Fatalf("Connect to 224.0.0.1: %v", err)
		}
		if err := fd.Connect(netip.AddrPortFrom(to, 80)); !errors.Is(err, syscall.EINPROGRESS) {
			t.Fatalf("Connect to %v after a refused one: %v, want EINPROGRESS", to, err)
		}
	}
	if got := e.st.Stats().TCP.ActiveOpens; got != 2 {
		t.Fatalf("ActiveOpens %d, want 2", got)
	}
}
