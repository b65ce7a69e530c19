package stack_test

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/udp"
)

// recvAll reports which of fds have a datagram with payload want queued,
// and takes it.
func recvAll(t *testing.T, fds map[string]*socket.FD, want string) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	buf := make([]byte, 100)
	for name, fd := range fds {
		n, _, err := fd.RecvFrom(buf, socket.MSG_DONTWAIT)
		if err == nil {
			if string(buf[:n]) != want {
				t.Errorf("%s received %q, want %q", name, buf[:n], want)
			}
			got[name] = true
		}
	}
	return got
}

// reuseBound opens a UDP socket of family fam with SO_REUSEADDR, bound to
// addr.
func reuseBound(t *testing.T, e *env, fam int, addr netip.AddrPort) *socket.FD {
	t.Helper()
	fd, err := socket.Socket(e.st, fam, socket.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.Close() })
	if err := fd.SetsockoptInt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := fd.Bind(addr); err != nil {
		t.Fatalf("Bind(%v): %v", addr, err)
	}
	return fd
}

// TestUDP_BroadcastAndMulticast_EveryMatchingSocket: a datagram sent to a
// broadcast or multicast address goes to every socket that takes it, as
// Linux's __udp4_lib_mcast_deliver and __udp6_lib_mcast_deliver: bound
// to the wildcard (not to our unicast address), unconnected or connected
// to the sender; each counted in in_datagrams. A unicast datagram to the
// same port still goes to one socket.
func TestUDP_BroadcastAndMulticast_EveryMatchingSocket(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	const port = 5000
	any4 := netip.AddrPortFrom(netip.IPv4Unspecified(), port)
	fds := map[string]*socket.FD{
		"wildcard A":             reuseBound(t, e, socket.AF_INET, any4),
		"wildcard B":             reuseBound(t, e, socket.AF_INET, any4),
		"our unicast address":    reuseBound(t, e, socket.AF_INET, netip.AddrPortFrom(stackIP, port)),
		"connected to the peer":  reuseBound(t, e, socket.AF_INET, any4),
		"connected to elsewhere": reuseBound(t, e, socket.AF_INET, any4),
	}
	if err := fds["connected to the peer"].Connect(peerAP); err != nil {
		t.Fatal(err)
	}
	if err := fds["connected to elsewhere"].Connect(netip.MustParseAddrPort("10.0.0.9:5000")); err != nil {
		t.Fatal(err)
	}
	for _, bc := range []string{"10.0.0.255", "255.255.255.255"} {
		before := e.st.Stats().UDP.InDatagrams
		e.inject(udpFrame(peerAP, netip.AddrPortFrom(netip.MustParseAddr(bc), port), []byte("all")))
		got := recvAll(t, fds, "all")
		if len(got) != 3 || !got["wildcard A"] || !got["wildcard B"] || !got["connected to the peer"] {
			t.Errorf("to %s: received by %v, want the two wildcard sockets and the one connected to the peer", bc, got)
		}
		if d := e.st.Stats().UDP.InDatagrams - before; d != 3 {
			t.Errorf("to %s: in_datagrams %+d, want +3", bc, d)
		}
	}
	e.inject(udpFrame(peerAP, netip.AddrPortFrom(stackIP, port), []byte("one")))
	if got := recvAll(t, fds, "one"); len(got) != 1 || !got["connected to the peer"] {
		t.Errorf("unicast: received by %v, want only the socket connected to the peer (Lookup's best match)", got)
	}
	// Our unicast address in a link-layer broadcast frame: still unicast
	// (fan-out follows the IP destination, as Linux's route flags).
	fr := udpFrame(peerAP, netip.AddrPortFrom(stackIP, port), []byte("one"))
	copy(fr[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	e.inject(fr)
	if got := recvAll(t, fds, "one"); len(got) != 1 || !got["connected to the peer"] {
		t.Errorf("unicast in a broadcast frame: received by %v, want only the socket connected to the peer", got)
	}

	// IPv6: the all-nodes group, which the stack is in.
	e.learnPeer6()
	any6 := netip.AddrPortFrom(netip.IPv6Unspecified(), port)
	six := map[string]*socket.FD{
		"v6 A": reuseBound(t, e, socket.AF_INET6, any6),
		"v6 B": reuseBound(t, e, socket.AF_INET6, any6),
	}
	src, dst := netip.AddrPortFrom(peerLL, 4000), netip.AddrPortFrom(netip.MustParseAddr("ff02::1"), port)
	u := make(udp.Header, udp.HeaderLen+3)
	udp.Encode(u, src.Port(), dst.Port(), 3)
	copy(u[udp.HeaderLen:], "all")
	u.ComputeChecksumIPv6(src.Addr(), dst.Addr())
	e.inject(ip6Frame(allNodesMAC, ipv6.Fields{NextHeader: ipv6.ProtoUDP, Src: src.Addr(), Dst: dst.Addr()}, u))
	if got := recvAll(t, six, "all"); len(got) != 2 {
		t.Errorf("to ff02::1: received by %v, want both IPv6 sockets", got)
	}
	e.none()
}
