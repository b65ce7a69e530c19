package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// A socket's own IP header fields, set with setsockopt(2): IP_TTL (RFC
// 9293 §3.9.2 MUST-49), IP_TOS (§3.9.1.9 MUST-48: the DiffServ field,
// passed to IP unchanged, SHLD-22, and changeable during a connection,
// SHLD-21), IPV6_UNICAST_HOPS and IPV6_TCLASS, on every packet the socket
// sends, with Linux's bounds and ECN masking (checked against Linux 6.18
// with setsockopt/getsockopt on TCP and UDP sockets of both families).

// setOpt sets an integer option, failing the test on an error.
func setOpt(t *testing.T, fd *socket.FD, level, opt, v int) {
	t.Helper()
	if err := fd.SetsockoptInt(level, opt, v); err != nil {
		t.Fatalf("setsockopt(%d, %d, %d): %v", level, opt, v, err)
	}
}

// wantOpt checks what getsockopt returns.
func wantOpt(t *testing.T, fd *socket.FD, level, opt, want int) {
	t.Helper()
	if got, err := fd.GetsockoptInt(level, opt); err != nil || got != want {
		t.Fatalf("getsockopt(%d, %d) = %d, %v; want %d", level, opt, got, err, want)
	}
}

// wantTTLTOS checks an IPv4 datagram's TTL and TOS octet.
func wantTTLTOS(t *testing.T, what string, d ipv4.Header, ttl, tos uint8) {
	t.Helper()
	if d.TTL() != ttl || d.TOS() != tos {
		t.Fatalf("%s: TTL %d TOS %#x, want TTL %d TOS %#x", what, d.TTL(), d.TOS(), ttl, tos)
	}
}

// A listener's IP_TTL and IP_TOS go on its SYN-ACK, and an accepted
// connection starts with them and then keeps its own: a later change on
// the listener does not reach it, a change on it reaches its next
// segment. On an ECN connection the TOS octet's ECN bits stay TCP's: the
// bits of IP_TOS are masked (as Linux's __ip_sock_set_tos on a stream
// socket), data leaves ECT(0) beside the DSCP (RFC 3168 §5).
func TestSockopt_TCPTTLAndTOS_OnEverySegment(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := listening(t, e)
	setOpt(t, l, socket.IPPROTO_IP, socket.IP_TTL, 7)
	setOpt(t, l, socket.IPPROTO_IP, socket.IP_TOS, 0xb9) // EF with ECT(1): the ECN bits are not the socket's
	wantOpt(t, l, socket.IPPROTO_IP, socket.IP_TTL, 7)
	wantOpt(t, l, socket.IPPROTO_IP, socket.IP_TOS, 0xb8)

	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN | tcp.FlagECE | tcp.FlagCWR, Window: peerWnd,
		Options: tcp.Options{MSS: 1460}}, nil))
	d := e.nextTCPDatagram()
	wantTTLTOS(t, "SYN-ACK", d, 7, 0xb8)
	iss := tcp.Header(d.Payload()).Seq()
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantOpt(t, c, socket.IPPROTO_IP, socket.IP_TTL, 7)
	wantOpt(t, c, socket.IPPROTO_IP, socket.IP_TOS, 0xb8)

	setOpt(t, l, socket.IPPROTO_IP, socket.IP_TTL, 9) // the listener's own, from now on
	if _, err := c.Send([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	wantTTLTOS(t, "data", e.nextTCPDatagram(), 7, 0xb8|tcp.ECNECT0)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 6, Flags: tcp.FlagACK, Window: peerWnd}, nil))

	// Changed during the connection (RFC 9293 §3.9.1.9 SHLD-21): the
	// next segment carries it.
	setOpt(t, c, socket.IPPROTO_IP, socket.IP_TTL, 100)
	setOpt(t, c, socket.IPPROTO_IP, socket.IP_TOS, 0x20)
	if _, err := c.Send([]byte("more"), 0); err != nil {
		t.Fatal(err)
	}
	wantTTLTOS(t, "data after the change", e.nextTCPDatagram(), 100, 0x20|tcp.ECNECT0)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 10, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	e.none()
	c.Close()
	wantTTLTOS(t, "FIN after close", e.nextTCPDatagram(), 100, 0x20)

	// A RST for a port no socket holds has the stack's defaults.
	e.inject(tcpFrame(tcp.Segment{SrcPort: peerPort + 1, DstPort: stackPort + 1, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	wantTTLTOS(t, "RST from a closed port", e.nextTCPDatagram(), ipv4.DefaultTTL, 0)
}

// An active open's SYN carries the options set before Connect, and
// IP_TTL -1 goes back to the stack's TTL, here Config.TTL (MUST-49's
// stack-wide setting) on the SYN's retransmission.
func TestSockopt_TCPTTLResetToStackTTL_ActiveOpen(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.TTL = 99 })
	e.learnPeer()
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer fd.Close()
	wantOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, 99)
	wantOpt(t, fd, socket.IPPROTO_IP, socket.IP_TOS, 0)
	setOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, 33)
	setOpt(t, fd, socket.IPPROTO_IP, socket.IP_TOS, 0x88)
	if err := fd.Connect(netip.AddrPortFrom(peerIP, 80)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	wantTTLTOS(t, "SYN", e.nextTCPDatagram(), 33, 0x88)
	setOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, -1)
	wantOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, 99)
	e.clk.Advance(tcp.DefaultRTOInitial)
	wantTTLTOS(t, "retransmitted SYN", e.nextTCPDatagram(), 99, 0x88)
}

// UDP: the datagrams carry the socket's TTL and the whole TOS octet, ECN
// bits included (Linux leaves them to a UDP application).
func TestSockopt_UDPTTLAndTOS(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	fd := bound(t, e, stackAP)
	setOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, 3)
	setOpt(t, fd, socket.IPPROTO_IP, socket.IP_TOS, 0xb9)
	wantOpt(t, fd, socket.IPPROTO_IP, socket.IP_TOS, 0xb9)
	if _, err := fd.SendTo([]byte("x"), 0, netip.AddrPortFrom(peerIP, 9)); err != nil {
		t.Fatal(err)
	}
	wantTTLTOS(t, "datagram", e.nextIPv4(), 3, 0xb9)
}

// IPv6: IPV6_UNICAST_HOPS and IPV6_TCLASS go on a TCP listener's SYN-ACK
// (the ECN bits masked) and on UDP datagrams (whole); an AF_INET6
// socket's IPv4-mapped peers get IP_TTL and IP_TOS instead, as on Linux.
func TestSockopt_IPv6HopLimitAndTrafficClass(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	e.learnPeer6()
	next6 := func() ipv6.Header {
		t.Helper()
		eth := e.next()
		if eth.Type() != ethernet.TypeIPv6 {
			t.Fatalf("got a %v frame, want IPv6", eth.Type())
		}
		h, err := ipv6.Parse(eth.Payload())
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	l := listening6(t, e, true)
	setOpt(t, l, socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 5)
	setOpt(t, l, socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0xb9)
	wantOpt(t, l, socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0xb8)
	e.inject(tcp6Frame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1440}}, nil))
	if h := next6(); h.NextHeader() != ipv6.ProtoTCP || h.HopLimit() != 5 || h.TrafficClass() != 0xb8 {
		t.Fatalf("SYN-ACK: next header %d hop limit %d traffic class %#x, want TCP 5 0xb8", h.NextHeader(), h.HopLimit(), h.TrafficClass())
	}

	u := socket6(t, e, socket.SOCK_DGRAM, false)
	setOpt(t, u, socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 0) // 0 is a hop limit (Linux: -1 to 255)
	setOpt(t, u, socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0xb9)
	setOpt(t, u, socket.IPPROTO_IP, socket.IP_TTL, 9)
	setOpt(t, u, socket.IPPROTO_IP, socket.IP_TOS, 0x28)
	if _, err := u.SendTo([]byte("x"), 0, peerAP6); err != nil {
		t.Fatal(err)
	}
	if h := next6(); h.NextHeader() != ipv6.ProtoUDP || h.HopLimit() != 0 || h.TrafficClass() != 0xb9 {
		t.Fatalf("UDP: next header %d hop limit %d traffic class %#x, want UDP 0 0xb9", h.NextHeader(), h.HopLimit(), h.TrafficClass())
	}
	if _, err := u.SendTo([]byte("x"), 0, netip.AddrPortFrom(netip.AddrFrom16(peerIP.As16()), 9)); err != nil {
		t.Fatal(err)
	}
	wantTTLTOS(t, "UDP to an IPv4-mapped peer", e.nextIPv4(), 9, 0x28)
	setOpt(t, u, socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, -1)
	wantOpt(t, u, socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, int(ipv6.DefaultHopLimit))
}

// Linux's bounds and errnos, on TCP and UDP sockets of both families:
// EINVAL outside them (the value unchanged), the low octet of any IP_TOS,
// -1 for the default, and ENOPROTOOPT for an IPv6 option on an AF_INET
// socket.
func TestSockopt_IPOptionBounds_LinuxErrnos(t *testing.T) {
	e := newEnv(t)
	for _, sk := range []struct {
		domain, typ int
		stream      bool
	}{
		{socket.AF_INET, socket.SOCK_STREAM, true},
		{socket.AF_INET, socket.SOCK_DGRAM, false},
		{socket.AF_INET6, socket.SOCK_STREAM, true},
		{socket.AF_INET6, socket.SOCK_DGRAM, false},
	} {
		fd, err := socket.Socket(e.st, sk.domain, sk.typ, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer fd.Close()
		setOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, 200)
		for _, v := range []int{0, 256, -2} {
			if err := fd.SetsockoptInt(socket.IPPROTO_IP, socket.IP_TTL, v); !errors.Is(err, syscall.EINVAL) {
				t.Errorf("domain %d type %d: IP_TTL %d: %v, want EINVAL", sk.domain, sk.typ, v, err)
			}
		}
		wantOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, 200)
		setOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, 255)
		wantOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, 255)
		setOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, -1)
		wantOpt(t, fd, socket.IPPROTO_IP, socket.IP_TTL, ipv4.DefaultTTL)

		ecnOff := 0xff
		if sk.stream {
			ecnOff = 0xfc
		}
		setOpt(t, fd, socket.IPPROTO_IP, socket.IP_TOS, 0x1ff) // the low octet, as Linux
		wantOpt(t, fd, socket.IPPROTO_IP, socket.IP_TOS, ecnOff)
		setOpt(t, fd, socket.IPPROTO_IP, socket.IP_TOS, 256)
		wantOpt(t, fd, socket.IPPROTO_IP, socket.IP_TOS, 0)

		if sk.domain == socket.AF_INET {
			for _, opt := range []int{socket.IPV6_UNICAST_HOPS, socket.IPV6_TCLASS} {
				if err := fd.SetsockoptInt(socket.IPPROTO_IPV6, opt, 1); !errors.Is(err, syscall.ENOPROTOOPT) {
					t.Errorf("AF_INET type %d: IPv6 option %d: %v, want ENOPROTOOPT", sk.typ, opt, err)
				}
			}
			continue
		}
		wantOpt(t, fd, socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, int(ipv6.DefaultHopLimit))
		for _, opt := range []int{socket.IPV6_UNICAST_HOPS, socket.IPV6_TCLASS} {
			setOpt(t, fd, socket.IPPROTO_IPV6, opt, 7)
			for _, v := range []int{-2, 256} {
				if err := fd.SetsockoptInt(socket.IPPROTO_IPV6, opt, v); !errors.Is(err, syscall.EINVAL) {
					t.Errorf("type %d: IPv6 option %d = %d: %v, want EINVAL", sk.typ, opt, v, err)
				}
			}
			want := 7
			if opt == socket.IPV6_TCLASS {
				want &= ecnOff
			}
			wantOpt(t, fd, socket.IPPROTO_IPV6, opt, want)
		}
		setOpt(t, fd, socket.IPPROTO_IPV6, socket.IPV6_TCLASS, -1) // RFC 3542 §6.5: the default, 0
		wantOpt(t, fd, socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0)
	}
}
