package stack_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// UDP endpoints used directly (RFC 768, RFC 1122 §4.1), with Linux's
// errnos for what a UDP socket refuses.

func udpEndpoint(t *testing.T, e *env) *stack.UDPEndpoint {
	t.Helper()
	u, err := e.st.NewUDPEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// TestUDP_Broadcast_NeedsSOBroadcast_SentToTheBroadcastMAC: as Linux, a
// datagram to a broadcast address needs SO_BROADCAST (EACCES otherwise,
// also for connect); with it, one to the subnet or limited broadcast goes
// to the Ethernet broadcast address without ARP (RFC 1122 §3.3.6, RFC
// 894), DF set as any datagram that fits.
func TestUDP_Broadcast_NeedsSOBroadcast_SentToTheBroadcastMAC(t *testing.T) {
	e := newEnv(t)
	u := udpEndpoint(t, e)
	for _, dst := range []string{"10.0.0.255", "255.255.255.255"} {
		to := netip.AddrPortFrom(netip.MustParseAddr(dst), 9)
		if _, err := u.SendTo([]byte("x"), to); !errors.Is(err, syscall.EACCES) {
			t.Errorf("SendTo %v without SO_BROADCAST: %v, want EACCES", to, err)
		}
		if err := u.Connect(to); !errors.Is(err, syscall.EACCES) {
			t.Errorf("Connect %v without SO_BROADCAST: %v, want EACCES", to, err)
		}
	}
	e.none()
	u.SetBroadcast(true)
	for _, dst := range []string{"10.0.0.255", "255.255.255.255"} {
		to := netip.AddrPortFrom(netip.MustParseAddr(dst), 9)
		if n, err := u.SendTo([]byte("x"), to); n != 1 || err != nil {
			t.Fatalf("SendTo %v with SO_BROADCAST = %d, %v", to, n, err)
		}
		eth := e.next()
		ip, _ := ipv4.Parse(eth.Payload())
		if eth.Dst() != ethernet.Broadcast || eth.Type() != ethernet.TypeIPv4 || ip.Dst() != to.Addr() {
			t.Errorf("datagram to %v: frame to %v type %v, IP dst %v; want the broadcast MAC", to, eth.Dst(), eth.Type(), ip.Dst())
		}
		if err := u.Connect(to); err != nil {
			t.Errorf("Connect %v with SO_BROADCAST: %v", to, err)
		}
	}
	u.SetBroadcast(false)
	if _, err := u.SendTo([]byte("x"), netip.AddrPortFrom(netip.MustParseAddr("10.0.0.255"), 9)); !errors.Is(err, syscall.EACCES) {
		t.Errorf("after SO_BROADCAST off: %v, want EACCES", err)
	}
}

// TestUDP_SendTo_DFWhenItFits_ErrnosAsLinux: as Linux with
// IP_PMTUDISC_WANT, a datagram that fits the MTU has DF and one that does
// not is fragmented without it (RFC 791 §3.2); and what a UDP socket
// refuses, with Linux's errno.
func TestUDP_SendTo_DFWhenItFits_ErrnosAsLinux(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	u := udpEndpoint(t, e)
	fits := make([]byte, 1500-ipv4.HeaderMinLen-udp.HeaderLen)
	if n, err := u.SendTo(fits, peerAP); n != len(fits) || err != nil {
		t.Fatalf("SendTo of exactly the MTU = %d, %v", n, err)
	}
	if ip := e.nextIPv4(); !ip.DF() || ip.TotalLen() != 1500 {
		t.Errorf("datagram of exactly the MTU: DF=%v length %d; want DF, 1500", ip.DF(), ip.TotalLen())
	}
	e.none()
	if n, err := u.SendTo(append(fits, 0), peerAP); n != len(fits)+1 || err != nil {
		t.Fatalf("SendTo of one byte more = %d, %v", n, err)
	}
	for i := range 2 {
		if ip := e.nextIPv4(); ip.DF() {
			t.Errorf("fragment %d has DF", i)
		}
	}
	e.none()
	largest := make([]byte, ipv4.MaxTotalLen-ipv4.HeaderMinLen-udp.HeaderLen)
	if n, err := u.SendTo(largest, peerAP); n != len(largest) || err != nil {
		t.Errorf("SendTo of the largest datagram = %d, %v", n, err)
	}
	e.drain()
	for _, c := range []struct {
		name string
		b    []byte
		to   netip.AddrPort
		want error
	}{
		{"too big", append(largest, 0), peerAP, syscall.EMSGSIZE},
		{"port 0", []byte("x"), netip.AddrPortFrom(peerIP, 0), syscall.EINVAL},
		{"IPv6", []byte("x"), netip.MustParseAddrPort("[fd00::1]:9"), syscall.EAFNOSUPPORT},
	} {
		if n, err := u.SendTo(c.b, c.to); n != 0 || !errors.Is(err, c.want) {
			t.Errorf("%s: SendTo = %d, %v; want 0, %v", c.name, n, err, c.want)
		}
	}
	if err := u.Connect(netip.MustParseAddrPort("[fd00::1]:9")); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("Connect to IPv6: %v, want EAFNOSUPPORT", err)
	}
	e.none()
}

// TestUDP_Endpoint_BindConnectReceiveClose: the life of a UDP endpoint.
// Bind to our address or the wildcard (EADDRNOTAVAIL for another host's,
// EAFNOSUPPORT for IPv6, EINVAL twice, the address checked first as in
// Linux); an unbound endpoint binds an
// ephemeral port on connect or send (RFC 768); a connected one receives
// only from its peer (RFC 1122 §4.1.3.4 does not say; Linux's
// udp4_lib_lookup scores a connected socket only for its peer) and
// disconnects with the zero address; a reader that leaves a datagram
// behind wakes the next; a closed endpoint polls readable and refuses
// every call.
func TestUDP_Endpoint_BindConnectReceiveClose(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name string
		a    netip.AddrPort
		want error
	}{
		{"another host's address", netip.AddrPortFrom(otherIP, 7), syscall.EADDRNOTAVAIL},
		{"IPv6", netip.MustParseAddrPort("[fd00::2]:7"), syscall.EAFNOSUPPORT},
	} {
		if _, err := udpEndpoint(t, e).Bind(c.a, false); !errors.Is(err, c.want) {
			t.Errorf("Bind to %s: %v, want %v", c.name, err, c.want)
		}
	}
	u := udpEndpoint(t, e)
	if got, err := u.Bind(netip.AddrPortFrom(stackIP, 7), false); err != nil || got != stackAP {
		t.Fatalf("Bind = %v, %v", got, err)
	}
	if got := u.LocalAddr(); got != stackAP {
		t.Errorf("LocalAddr = %v, want %v", got, stackAP)
	}
	if _, err := u.Bind(netip.AddrPortFrom(stackIP, 8), false); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("second Bind: %v, want EINVAL", err)
	}
	// Linux's __inet_bind checks the address before the socket's state: a
	// second bind to an address that is not ours fails as a first one.
	if _, err := u.Bind(netip.AddrPortFrom(otherIP, 8), false); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("second Bind to another host's address: %v, want EADDRNOTAVAIL", err)
	}
	if _, err := u.Bind(netip.MustParseAddrPort("[fd00::2]:8"), false); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("second Bind to IPv6: %v, want EAFNOSUPPORT", err)
	}
	auto := udpEndpoint(t, e)
	if err := auto.Connect(peerAP); err != nil {
		t.Fatal(err)
	}
	if a := auto.LocalAddr(); a.Port() == 0 || auto.RemoteAddr() != peerAP {
		t.Errorf("connect on an unbound endpoint: local %v remote %v", a, auto.RemoteAddr())
	}
	// Its port is released on close like any other.
	autoPort := auto.LocalAddr().Port()
	auto.Close()
	if _, err := udpEndpoint(t, e).Bind(netip.AddrPortFrom(stackIP, autoPort), false); err != nil {
		t.Errorf("binding the port a closed connect had picked: %v", err)
	}
	sender := udpEndpoint(t, e)
	e.learnPeer()
	if _, err := sender.SendTo([]byte("x"), peerAP); err != nil {
		t.Fatal(err)
	}
	if a := sender.LocalAddr(); a.Port() == 0 {
		t.Errorf("send on an unbound endpoint left it unbound: %v", a)
	}
	e.drain()

	if err := u.Connect(peerAP); err != nil {
		t.Fatal(err)
	}
	other := netip.AddrPortFrom(otherIP, 40000)
	e.inject(udpFrame(other, stackAP, []byte("stranger")))
	e.drain() // port unreachable: a connected socket takes only its peer's
	e.inject(udpFrame(peerAP, stackAP, []byte("one")))
	e.inject(udpFrame(peerAP, stackAP, []byte("two")))
	if !u.PollReadable() || !readable(u.Readable()) {
		t.Fatal("not readable with two datagrams queued")
	}
	buf := make([]byte, 10)
	if n, _, from, err := u.TryRecvFrom(buf, false); err != nil || string(buf[:n]) != "one" || from != peerAP {
		t.Fatalf("first datagram %q from %v, %v", buf[:n], from, err)
	}
	if !readable(u.Readable()) {
		t.Error("a datagram is left, but the reader did not wake the next")
	}
	if n, _, _, err := u.TryRecvFrom(buf, false); err != nil || string(buf[:n]) != "two" {
		t.Fatalf("second datagram %q, %v", buf[:n], err)
	}
	if readable(u.Readable()) || u.PollReadable() {
		t.Error("readable with nothing queued")
	}
	if _, _, _, err := u.TryRecvFrom(buf, false); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("TryRecvFrom with nothing queued: %v, want EAGAIN", err)
	}
	// Disconnected: from anyone again.
	if err := u.Connect(netip.AddrPort{}); err != nil || u.RemoteAddr().IsValid() {
		t.Fatalf("disconnect: %v, remote %v", err, u.RemoteAddr())
	}
	e.inject(udpFrame(other, stackAP, []byte("stranger")))
	if n, _, from, err := u.TryRecvFrom(buf, false); err != nil || from != other {
		t.Errorf("after disconnecting: %q from %v, %v; want the stranger's", buf[:n], from, err)
	}

	u.Close()
	if !u.PollReadable() || !readable(u.Done()) {
		t.Error("a closed endpoint: not readable, or Done not closed")
	}
	for name, call := range map[string]func() error{
		"Bind":        func() error { _, err := u.Bind(netip.AddrPort{}, false); return err },
		"Connect":     func() error { return u.Connect(peerAP) },
		"SendTo":      func() error { _, err := u.SendTo([]byte("x"), peerAP); return err },
		"TryRecvFrom": func() error { _, _, _, err := u.TryRecvFrom(buf, false); return err },
		"Close":       u.Close,
	} {
		if err := call(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close: %v, want net.ErrClosed", name, err)
		}
	}
	// Its port is free again.
	if _, err := udpEndpoint(t, e).Bind(stackAP, false); err != nil {
		t.Errorf("binding the closed endpoint's port: %v", err)
	}
}

// TestUDP_ICMPError_OnlyAConnectedSocketIsTold: as Linux without
// IP_RECVERR, an ICMP error about a datagram (RFC 1122 §4.1.3.3 leaves the
// how to the implementation) is reported, once, to a connected socket as
// its next call's error, and not at all to an unconnected one, which could
// not tell which of its destinations it concerns.
func TestUDP_ICMPError_OnlyAConnectedSocketIsTold(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	for _, connected := range []bool{false, true} {
		u := udpEndpoint(t, e)
		if connected {
			u.Connect(peerAP)
		}
		if _, err := u.SendTo([]byte("knock"), peerAP); err != nil {
			t.Fatal(err)
		}
		sent := e.nextIPv4()
		e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, sent))
		_, _, _, err := u.TryRecvFrom(make([]byte, 10), false)
		if want := map[bool]error{false: syscall.EAGAIN, true: syscall.ECONNREFUSED}[connected]; !errors.Is(err, want) {
			t.Errorf("connected=%v: TryRecvFrom after port unreachable: %v, want %v", connected, err, want)
		}
		if _, err := u.SendTo([]byte("again"), peerAP); err != nil {
			t.Errorf("connected=%v: SendTo after the error was reported: %v", connected, err)
		}
		// The next call may be a send: it reports the error instead of
		// sending (Linux's sock_alloc_send_pskb takes sk_err first).
		sent = e.nextIPv4()
		e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, sent))
		want := map[bool]error{false: nil, true: syscall.ECONNREFUSED}[connected]
		if _, err := u.SendTo([]byte("third"), peerAP); !errors.Is(err, want) {
			t.Errorf("connected=%v: SendTo after port unreachable: %v, want %v", connected, err, want)
		}
		if connected {
			e.none() // not sent
		}
		e.drain()
	}
}

// TestUDP_EphemeralPortsExhausted_ConnectAndSendEAGAIN: with every
// ephemeral port (Linux's 32768-60999, RFC 6056) bound, an unbound
// socket's implicit bind fails as Linux's inet_autobind does: connect and
// sendto return EAGAIN, and nothing is sent.
func TestUDP_EphemeralPortsExhausted_ConnectAndSendEAGAIN(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	for port := 32768; port <= 60999; port++ {
		if _, err := udpEndpoint(t, e).Bind(netip.AddrPortFrom(stackIP, uint16(port)), false); err != nil {
			t.Fatalf("Bind(%d): %v", port, err)
		}
	}
	u := udpEndpoint(t, e)
	if err := u.Connect(peerAP); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("Connect on an unbound socket with no ephemeral port free: %v, want EAGAIN", err)
	}
	if _, err := u.SendTo([]byte("x"), peerAP); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("SendTo on an unbound socket with no ephemeral port free: %v, want EAGAIN", err)
	}
	// Disconnecting (connect to AF_UNSPEC) binds nothing, so it needs no
	// port (Linux's inet_dgram_connect calls udp_disconnect before any
	// autobind).
	if err := u.Connect(netip.AddrPort{}); err != nil {
		t.Errorf("disconnecting an unbound socket with no ephemeral port free: %v, want success", err)
	}
	if a := u.LocalAddr(); a.IsValid() && a.Port() != 0 {
		t.Errorf("disconnecting an unbound socket bound it to %v", a)
	}
	e.none()
}
