package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/tcp"
)

// ICMPv6 errors (RFC 4443 §3) reaching the transports that sent the
// quoted packet, with Linux's errnos.

// icmp6ErrorFrame is an ICMPv6 error from the peer quoting pkt, a packet
// the stack sent (IPv6 header first).
func icmp6ErrorFrame(typ, code uint8, rest uint32, pkt []byte) []byte {
	b := make([]byte, ipv6.ICMPHeaderLen+len(pkt))
	n := ipv6.EncodeError(b, typ, code, rest, pkt, peerLL, stackLL)
	return ip6Frame(stackMAC, ipv6.Fields{}, b[:n])
}

// nextPacket6 returns the next frame's IPv6 packet, copied.
func (e *env) nextPacket6() []byte {
	e.t.Helper()
	eth := e.next()
	if eth.Type() != ethernet.TypeIPv6 {
		e.t.Fatalf("got a %v frame, want IPv6", eth.Type())
	}
	return append([]byte(nil), eth.Payload()...)
}

// connecting6 starts a connect from an AF_INET6 socket to [peerLL]:9 and
// returns the SYN's IPv6 packet.
func connecting6(t *testing.T) (*env, *socket.FD, []byte) {
	t.Helper()
	e := newEnv(t)
	e.learnPeer6()
	fd := socket6(t, e, socket.SOCK_STREAM, false)
	if err := fd.Connect(netip.AddrPortFrom(peerLL, 9)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	return e, fd, e.nextPacket6()
}

// A port unreachable quoting our SYN fails the connect with ECONNREFUSED
// (RFC 4443 §3.1 code 4, a hard error: RFC 1122 §4.2.3.9).
func TestTCP6_PortUnreachable_RefusesConnect(t *testing.T) {
	e, fd, syn := connecting6(t)
	e.inject(icmp6ErrorFrame(ipv6.TypeDestUnreachable, ipv6.CodePortUnreachable, 0, syn))
	if v, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); syscall.Errno(v) != syscall.ECONNREFUSED {
		t.Fatalf("SO_ERROR %v, want ECONNREFUSED", syscall.Errno(v))
	}
	if got := e.st.Stats().TCP.ICMPErrors; got != 1 {
		t.Fatalf("ICMPErrors %d, want 1", got)
	}
}

// A soft error (no route, RFC 4443 §3.1 code 0) leaves the connect
// running; if it then times out, the error is ENETUNREACH, not ETIMEDOUT
// (RFC 1122 §4.2.3.9, Linux's sk_err_soft).
func TestTCP6_NoRoute_SoftErrorReportedOnTimeout(t *testing.T) {
	e, fd, syn := connecting6(t)
	e.inject(icmp6ErrorFrame(ipv6.TypeDestUnreachable, ipv6.CodeNoRoute, 0, syn))
	if v, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); v != 0 {
		t.Fatalf("SO_ERROR %v after a soft error, want none yet", syscall.Errno(v))
	}
	// Past the SYN retries (127 s), the peer answering neighbour
	// unreachability detection (else the failed resolution would end the
	// connect with EHOSTUNREACH first: TestND6_ResolutionFailed_LocalSendersTold).
	for range 20 {
		e.inject(ip6Frame(stackMAC, ipv6.Fields{HopLimit: 255}, na(peerLL, peerMAC, true, true, false, peerLL, stackLL)))
		e.clk.Advance(10e9)
		e.drain()
	}
	if v, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); syscall.Errno(v) != syscall.ENETUNREACH {
		t.Fatalf("SO_ERROR %v, want ENETUNREACH", syscall.Errno(v))
	}
}

// A packet too big (RFC 4443 §3.2) lowers the path MTU to the peer
// (pmtu6.go) and with it the send MSS of the connection to the MTU less 60
// (RFC 8201 §5.2), what is in flight going again in segments that fit; a
// connection to the peer opened later starts at that MSS.
func TestTCP6_PacketTooBig_LowersMSS(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	l := listening6(t, e, true)
	c, synack := handshake6(t, e, l, peerLL)
	if _, err := c.Send(make([]byte, 4000), 0); err != nil {
		t.Fatal(err)
	}
	first := e.nextPacket6()
	seg, err := tcp.Decode(ipv6.Header(first).Payload(), stackLL, peerLL, true)
	if err != nil || len(seg.Payload) != int(mss6) {
		t.Fatalf("first segment: %v, %d octets, want %d", err, len(seg.Payload), mss6)
	}
	e.drain()
	e.inject(icmp6ErrorFrame(ipv6.TypePacketTooBig, 0, 1300, first))
	re := e.nextTCP6()
	if re.Seq != synack.Seq+1 || len(re.Payload) != 1300-60 {
		t.Fatalf("after packet too big 1300: %v with %d octets, want seq %d with %d", &re, len(re.Payload), synack.Seq+1, 1300-60)
	}
	e.drain()

	fd := socket6(t, e, socket.SOCK_STREAM, false)
	if err := fd.Connect(netip.AddrPortFrom(peerLL, 9)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	syn := e.nextTCP6()
	e.inject(tcp6Frame(tcp.Segment{SrcPort: 9, DstPort: syn.SrcPort, Seq: peerISS, Ack: syn.Seq + 1, Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd, Options: tcp.Options{MSS: 1440}}, nil))
	e.drain()
	fd.SetNonblock(true)
	if _, err := fd.Send(make([]byte, 3000), 0); err != nil {
		t.Fatal(err)
	}
	if got := e.nextTCP6(); len(got.Payload) != 1300-60 {
		t.Fatalf("a later connection's first segment: %d octets, want %d", len(got.Payload), 1300-60)
	}
}

// A connected UDP socket reports the errors Linux's icmpv6_err_convert
// calls fatal (port unreachable: ECONNREFUSED) and not the others (no
// route), as __udp6_lib_err without IPV6_RECVERR; an error quoting no
// socket of ours is counted unmatched.
func TestUDP6_ICMPv6Errors_ConnectedSocket(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	fd := socket6(t, e, socket.SOCK_DGRAM, false)
	if err := fd.Connect(netip.AddrPortFrom(peerLL, 53)); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Send([]byte("q"), 0); err != nil {
		t.Fatal(err)
	}
	sent := e.nextPacket6()
	e.inject(icmp6ErrorFrame(ipv6.TypeDestUnreachable, ipv6.CodeNoRoute, 0, sent))
	if _, err := fd.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("after no route: %v, want EAGAIN (not reported)", err)
	}
	e.inject(icmp6ErrorFrame(ipv6.TypeDestUnreachable, ipv6.CodePortUnreachable, 0, sent))
	if _, err := fd.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("after port unreachable: %v, want ECONNREFUSED", err)
	}
	// Packet Too Big: EMSGSIZE to the connected socket, as Linux's
	// __udp6_lib_err under the default path MTU discovery.
	big := make([]byte, 1400)
	if _, err := fd.Send(big, 0); err != nil {
		t.Fatal(err)
	}
	bigPkt := e.nextPacket6()
	e.inject(icmp6ErrorFrame(ipv6.TypePacketTooBig, 0, 1280, bigPkt))
	if _, err := fd.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("after packet too big: %v, want EMSGSIZE", err)
	}
	other := append([]byte(nil), sent...)
	other[ipv6.HeaderLen] ^= 0xff // another source port: no socket
	before := e.st.Stats().IPv6.ICMP6InErrorsUnmatched
	e.inject(icmp6ErrorFrame(ipv6.TypeDestUnreachable, ipv6.CodePortUnreachable, 0, other))
	if got := e.st.Stats().IPv6.ICMP6InErrorsUnmatched; got != before+1 {
		t.Fatalf("ICMP6InErrorsUnmatched %d, want %d", got, before+1)
	}
}
