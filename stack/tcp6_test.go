package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/udp"
)

// TCP and UDP over IPv6 (issue 12), packet by packet under the manual
// clock: the peer is peerLL (fe80::1) on the link, the stack answers from
// its link-local address stackLL.

var (
	peerAP6  = netip.AddrPortFrom(peerLL, peerPort)
	stackAP6 = netip.AddrPortFrom(stackLL, stackPort)
	// mss6 is a 1500-octet link's MSS over IPv6: the MTU less the IPv6
	// and TCP headers (RFC 9293 §3.7.1, RFC 8200 §5).
	mss6 = uint16(1500 - 40 - 20)
)

// tcp6Frame builds a segment from peerLL to stackLL.
func tcp6Frame(seg tcp.Segment, payload []byte) []byte {
	return tcp6FrameFrom(peerLL, seg, payload)
}

func tcp6FrameFrom(src netip.Addr, seg tcp.Segment, payload []byte) []byte {
	return ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoTCP, Src: src}, tcpSegment(seg, payload, src, stackLL))
}

// udp6Frame builds a datagram from src to dst (over IPv6, checksummed).
func udp6Frame(src, dst netip.AddrPort, payload []byte) []byte {
	u := make(udp.Header, udp.HeaderLen+len(payload))
	udp.Encode(u, src.Port(), dst.Port(), len(payload))
	copy(u[udp.HeaderLen:], payload)
	u.ComputeChecksumIPv6(src.Addr(), dst.Addr())
	return ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoUDP, Src: src.Addr(), Dst: dst.Addr()}, u)
}

// nextIP6 returns the next frame as an IPv6 packet from stackLL to peerLL
// with next header proto, sent to the peer's MAC.
func (e *env) nextIP6(proto uint8) ipv6.Header {
	e.t.Helper()
	eth := e.next()
	if eth.Type() != ethernet.TypeIPv6 || eth.Src() != stackMAC || eth.Dst() != peerMAC {
		e.t.Fatalf("got a %v frame %v -> %v, want IPv6 from us to the peer", eth.Type(), eth.Src(), eth.Dst())
	}
	h, err := ipv6.Parse(eth.Payload())
	if err != nil {
		e.t.Fatalf("the stack sent a bad IPv6 packet: %v", err)
	}
	if h.NextHeader() != proto || h.Src() != stackLL || h.Dst() != peerLL || h.HopLimit() != ipv6.DefaultHopLimit {
		e.t.Fatalf("IPv6 next header %d %v -> %v hop limit %d, want %d %v -> %v hop limit %d",
			h.NextHeader(), h.Src(), h.Dst(), h.HopLimit(), proto, stackLL, peerLL, ipv6.DefaultHopLimit)
	}
	return h
}

// nextTCP6 returns the next segment, checking its IPv6 header and its
// checksum over the IPv6 pseudo-header.
func (e *env) nextTCP6() tcp.Segment {
	e.t.Helper()
	h := e.nextIP6(ipv6.ProtoTCP)
	if !tcp.Header(h.Payload()).VerifyIPv6(h.Src(), h.Dst()) {
		e.t.Fatal("the segment's checksum is not the IPv6 pseudo-header's")
	}
	seg, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
	if err != nil {
		e.t.Fatalf("the stack sent a bad segment: %v", err)
	}
	seg.Payload = append([]byte(nil), seg.Payload...)
	return seg
}

// socket6 opens a non-blocking AF_INET6 socket, IPV6_V6ONLY as v6only.
func socket6(t *testing.T, e *env, typ int, v6only bool) *socket.FD {
	t.Helper()
	fd, err := socket.Socket(e.st, socket.AF_INET6, typ|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.Close() })
	if v6only {
		if err := fd.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); err != nil {
			t.Fatal(err)
		}
	}
	return fd
}

// listening6 opens an AF_INET6 listener on [::]:stackPort.
func listening6(t *testing.T, e *env, v6only bool) *socket.FD {
	t.Helper()
	fd := socket6(t, e, socket.SOCK_STREAM, v6only)
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv6Unspecified(), stackPort)); err != nil {
		t.Fatal(err)
	}
	if err := fd.Listen(8); err != nil {
		t.Fatal(err)
	}
	return fd
}

// handshake6 runs a passive handshake from src:peerPort against the
// listener l and returns the accepted socket and the SYN-ACK.
func handshake6(t *testing.T, e *env, l *socket.FD, src netip.Addr) (*socket.FD, tcp.Segment) {
	t.Helper()
	e.inject(tcp6FrameFrom(src, tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1440}}, nil))
	synack := e.nextTCP6()
	if synack.Flags != tcp.FlagSYN|tcp.FlagACK || synack.Ack != peerISS+1 {
		t.Fatalf("want SYN-ACK for %d, got %v", peerISS+1, &synack)
	}
	e.inject(tcp6FrameFrom(src, tcp.Segment{Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c, peer, err := l.Accept()
	if err != nil || peer != netip.AddrPortFrom(src, peerPort) {
		t.Fatalf("Accept: %v from %v, want %v", err, peer, netip.AddrPortFrom(src, peerPort))
	}
	t.Cleanup(func() { c.Close() })
	c.SetNonblock(true)
	return c, synack
}

// A passive open over IPv6: the SYN-ACK offers the IPv6 MSS (MTU less 60)
// from our link-local address with the IPv6 pseudo-header's checksum;
// data flows both ways; the close is a FIN each way.
func TestTCP6_PassiveOpen_HandshakeDataClose(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	l := listening6(t, e, true)
	c, synack := handshake6(t, e, l, peerLL)
	if synack.Options.MSS != mss6 {
		t.Fatalf("SYN-ACK MSS %d, want %d (MTU 1500 less 60)", synack.Options.MSS, mss6)
	}
	if la, _ := c.Getsockname(); la != stackAP6 {
		t.Fatalf("Getsockname = %v, want %v", la, stackAP6)
	}
	iss := synack.Seq
	e.inject(tcp6Frame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("hello")))
	buf := make([]byte, 16)
	if n, err := c.Recv(buf, 0); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
	if _, err := c.Send([]byte("world"), 0); err != nil {
		t.Fatal(err)
	}
	// The ACK of "hello" may ride on the data.
	seg := e.nextTCP6()
	if len(seg.Payload) == 0 {
		seg = e.nextTCP6()
	}
	if string(seg.Payload) != "world" || seg.Seq != iss+1 || seg.Ack != peerISS+6 {
		t.Fatalf("data segment %v %q", &seg, seg.Payload)
	}
	c.Close()
	if fin := e.nextTCP6(); fin.Flags&tcp.FlagFIN == 0 || fin.Seq != iss+6 {
		t.Fatalf("want our FIN at %d, got %v", iss+6, &fin)
	}
}

// RFC 9293 §3.10.7.1 over IPv6: a SYN to a closed port gets <RST,ACK>, an
// ACK gets <SEQ=SEG.ACK><RST>, from the address it was sent to.
func TestTCP6_ClosedPort_RST(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	e.inject(tcp6Frame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	if rst := e.nextTCP6(); rst.Flags != tcp.FlagRST|tcp.FlagACK || rst.Ack != peerISS+1 || rst.Seq != 0 {
		t.Fatalf("SYN to a closed port: %v", &rst)
	}
	e.inject(tcp6Frame(tcp.Segment{Seq: peerISS, Ack: 777, Flags: tcp.FlagACK, Window: peerWnd}, []byte("data")))
	if rst := e.nextTCP6(); rst.Flags != tcp.FlagRST || rst.Seq != 777 {
		t.Fatalf("ACK to a closed port: %v", &rst)
	}
	if got := e.st.Stats().TCP.OutRsts; got != 2 {
		t.Fatalf("OutRsts = %d, want 2", got)
	}
}

// An active open over IPv6: the SYN comes from our link-local address
// with the IPv6 MSS, and the handshake completes.
func TestTCP6_ActiveOpen(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	fd := socket6(t, e, socket.SOCK_STREAM, false)
	if err := fd.Connect(netip.AddrPortFrom(peerLL.WithZone("pipe-a"), 9)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	syn := e.nextTCP6()
	if syn.Flags&tcp.FlagSYN == 0 || syn.Options.MSS != mss6 || syn.DstPort != 9 {
		t.Fatalf("SYN %v, want MSS %d to port 9", &syn, mss6)
	}
	e.inject(tcp6Frame(tcp.Segment{SrcPort: 9, DstPort: syn.SrcPort, Seq: peerISS, Ack: syn.Seq + 1, Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd, Options: tcp.Options{MSS: 1440}}, nil))
	if ack := e.nextTCP6(); ack.Flags != tcp.FlagACK || ack.Ack != peerISS+1 {
		t.Fatalf("want the handshake's ACK, got %v", &ack)
	}
	if v, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); v != 0 {
		t.Fatalf("SO_ERROR %v", syscall.Errno(v))
	}
	if ra, err := fd.Getpeername(); err != nil || ra != netip.AddrPortFrom(peerLL, 9) {
		t.Fatalf("Getpeername = %v, %v", ra, err)
	}
	// A zone that names another link is refused (ENODEV, as Linux for a
	// scope id naming no interface).
	other := socket6(t, e, socket.SOCK_STREAM, false)
	if err := other.Connect(netip.AddrPortFrom(peerLL.WithZone("eth9"), 9)); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("Connect with zone eth9: %v, want ENODEV", err)
	}
}

// UDP echo over IPv6: a datagram to an AF_INET6 socket comes with the
// peer's address, and the reply carries the mandatory checksum (RFC 8200
// §8.1) over the IPv6 pseudo-header.
func TestUDP6_Echo(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	fd := socket6(t, e, socket.SOCK_DGRAM, false)
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv6Unspecified(), 7)); err != nil {
		t.Fatal(err)
	}
	e.inject(udp6Frame(peerAP6, netip.AddrPortFrom(stackLL, 7), []byte("hello")))
	buf := make([]byte, 100)
	n, from, err := fd.RecvFrom(buf, 0)
	if err != nil || string(buf[:n]) != "hello" || from != peerAP6 {
		t.Fatalf("RecvFrom = %q from %v, %v", buf[:n], from, err)
	}
	if _, err := fd.SendTo(buf[:n], 0, from); err != nil {
		t.Fatal(err)
	}
	h := e.nextIP6(ipv6.ProtoUDP)
	u, err := udp.Parse(h.Payload())
	if err != nil || u.Checksum() == 0 || !u.VerifyIPv6(h.Src(), h.Dst()) {
		t.Fatalf("reply: %v, checksum %#04x", err, u.Checksum())
	}
	if u.SrcPort() != 7 || u.DstPort() != peerPort || string(u.Payload()) != "hello" {
		t.Fatalf("reply %d -> %d %q", u.SrcPort(), u.DstPort(), u.Payload())
	}
}

// RFC 8200 §8.1: a UDP datagram over IPv6 with a zero checksum is
// discarded and counted as a checksum error, even when the device vouched
// for its checksum (Linux's udp6_csum_init checks before offloads count).
func TestUDP6_ZeroChecksum_Dropped(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	fd := socket6(t, e, socket.SOCK_DGRAM, false)
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv6Unspecified(), 7)); err != nil {
		t.Fatal(err)
	}
	frame := udp6Frame(peerAP6, netip.AddrPortFrom(stackLL, 7), []byte("hello"))
	frame[ethernet.HeaderLen+ipv6.HeaderLen+6], frame[ethernet.HeaderLen+ipv6.HeaderLen+7] = 0, 0
	for _, meta := range []nic.Meta{{}, {Csum: nic.CsumVerified}} {
		before := e.st.Stats().UDP
		e.st.HandleFrameTest(frame, meta)
		after := e.st.Stats().UDP
		if after.InCsumErrors != before.InCsumErrors+1 || after.InDatagrams != before.InDatagrams {
			t.Fatalf("meta %+v: InCsumErrors %d -> %d, InDatagrams %d -> %d", meta,
				before.InCsumErrors, after.InCsumErrors, before.InDatagrams, after.InDatagrams)
		}
	}
	if _, _, err := fd.RecvFrom(make([]byte, 10), 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("RecvFrom: %v, want EAGAIN (nothing delivered)", err)
	}
	e.none()
}

// A datagram to a closed port over IPv6 is counted as IPv4's is (no_ports)
// and answered with a destination unreachable, code 4 port unreachable
// (RFC 4443 §3.1), quoting it, from the address it was sent to.
func TestUDP6_ClosedPort_PortUnreachable(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	before := e.st.Stats().UDP.NoPorts
	frame := udp6Frame(peerAP6, netip.AddrPortFrom(stackLL, 9), []byte("x"))
	e.inject(frame)
	if got := e.st.Stats().UDP.NoPorts; got != before+1 {
		t.Fatalf("NoPorts %d, want %d", got, before+1)
	}
	_, h, m := e.nextIPv6()
	if m.Type() != ipv6.TypeDestUnreachable || m.Code() != ipv6.CodePortUnreachable || h.Src() != stackLL || h.Dst() != peerLL ||
		string(m.Payload()) != string(frame[ethernet.HeaderLen:]) {
		t.Fatalf("answer: type %d code %d %v -> %v, quoting % x", m.Type(), m.Code(), h.Src(), h.Dst(), m.Payload())
	}
}

// A packet whose IPv6 source is IPv4-mapped is dropped before the
// transports (Linux's ip6_rcv_core): an AF_INET6 socket would take it for
// the IPv4 peer it names.
func TestIPv6_MappedSource_Dropped(t *testing.T) {
	e := newEnv(t)
	fd := socket6(t, e, socket.SOCK_DGRAM, false)
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv6Unspecified(), 7)); err != nil {
		t.Fatal(err)
	}
	mapped := netip.AddrPortFrom(netip.AddrFrom16(peerIP.As16()), peerPort)
	frame := udp6Frame(mapped, netip.AddrPortFrom(stackLL, 7), []byte("spoof"))
	e.expectCounted("mapped source", map[string]int64{"Link.FramesIn": 1, "Link.BytesIn": int64(len(frame)),
		"IPv6.InReceives": 1, "IPv6.InBadSource": 1}, func() { e.inject(frame) })
	if _, _, err := fd.RecvFrom(make([]byte, 10), 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("RecvFrom: %v, want EAGAIN", err)
	}
}

// A dual-stack listener (AF_INET6 on [::], IPV6_V6ONLY off) takes both
// families, as Linux's: an IPv4 SYN is answered over IPv4 with the IPv4
// MSS and the connection shows its peer as ::ffff:10.0.0.1; an IPv6 SYN
// over IPv6 with the IPv6 MSS. The two connections share the port and the
// table, and data to each reaches its own socket.
func TestTCP_DualStackListener_BothFamilies(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	e.learnPeer6()
	l := listening6(t, e, false)

	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	synack4 := e.nextTCP()
	if synack4.Flags != tcp.FlagSYN|tcp.FlagACK || synack4.Options.MSS != 1460 {
		t.Fatalf("IPv4 SYN-ACK %v, want MSS 1460", &synack4)
	}
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: synack4.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c4, peer4, err := l.Accept()
	mapped := netip.AddrPortFrom(netip.AddrFrom16(peerIP.As16()), peerPort)
	if err != nil || peer4 != mapped {
		t.Fatalf("Accept: %v from %v, want %v", err, peer4, mapped)
	}
	defer c4.Close()
	c4.SetNonblock(true)
	if la, _ := c4.Getsockname(); la != netip.AddrPortFrom(netip.AddrFrom16(stackIP.As16()), stackPort) {
		t.Fatalf("IPv4 connection's Getsockname = %v, want ::ffff:%v", la, stackIP)
	}

	c6, synack6 := handshake6(t, e, l, peerLL)
	if synack6.Options.MSS != mss6 {
		t.Fatalf("IPv6 SYN-ACK MSS %d, want %d", synack6.Options.MSS, mss6)
	}

	// Same ports, both families: each segment finds its own connection.
	e.inject(tcp6Frame(tcp.Segment{Seq: peerISS + 1, Ack: synack6.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, []byte("six")))
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: synack4.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, []byte("four")))
	buf := make([]byte, 16)
	if n, err := c6.Recv(buf, 0); err != nil || string(buf[:n]) != "six" {
		t.Fatalf("IPv6 socket read %q, %v", buf[:n], err)
	}
	if n, err := c4.Recv(buf, 0); err != nil || string(buf[:n]) != "four" {
		t.Fatalf("IPv4 socket read %q, %v", buf[:n], err)
	}
}

// IPV6_V6ONLY leaves the port's IPv4 side alone: an IPv4 SYN gets a RST,
// and an AF_INET listener may share the port (Linux: no bind conflict
// between an AF_INET socket and a V6ONLY one); without V6ONLY the two
// conflict (EADDRINUSE).
func TestTCP_V6Only_SeparatesFamilies(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	e.learnPeer6()
	listening6(t, e, true)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	if rst := e.nextTCP(); rst.Flags != tcp.FlagRST|tcp.FlagACK {
		t.Fatalf("IPv4 SYN to a V6ONLY listener: %v, want RST", &rst)
	}
	listening(t, e) // AF_INET 0.0.0.0:80 beside it
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	if s := e.nextTCP(); s.Flags != tcp.FlagSYN|tcp.FlagACK {
		t.Fatalf("IPv4 SYN with an AF_INET listener: %v", &s)
	}
	dual := socket6(t, e, socket.SOCK_STREAM, false)
	if err := dual.Bind(netip.AddrPortFrom(netip.IPv6Unspecified(), stackPort)); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("dual-stack bind beside both: %v, want EADDRINUSE", err)
	}
	if err := dual.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); err != nil {
		t.Fatalf("IPV6_V6ONLY before bind: %v", err)
	}
	if v, err := dual.GetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY); v != 1 || err != nil {
		t.Fatalf("getsockopt IPV6_V6ONLY = %d, %v", v, err)
	}
	bound := socket6(t, e, socket.SOCK_STREAM, false)
	if err := bound.Bind(netip.AddrPortFrom(netip.IPv6Unspecified(), 81)); err != nil {
		t.Fatal(err)
	}
	if err := bound.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("IPV6_V6ONLY after bind: %v, want EINVAL", err)
	}
	v4, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM, 0)
	defer v4.Close()
	if err := v4.SetsockoptInt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); !errors.Is(err, syscall.ENOPROTOOPT) {
		t.Fatalf("IPV6_V6ONLY on AF_INET: %v, want ENOPROTOOPT", err)
	}
}

// An AF_INET socket never sees IPv6: an IPv6 SYN to the port of an
// AF_INET listener gets a RST, and an AF_INET UDP socket does not get an
// IPv6 datagram to its port; an AF_INET6 socket cannot bind or send to
// an IPv4-mapped address with IPV6_V6ONLY.
func TestTransport_V4Socket_NeverSeesIPv6(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	e.learnPeer6()
	listening(t, e)
	e.inject(tcp6Frame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	if rst := e.nextTCP6(); rst.Flags != tcp.FlagRST|tcp.FlagACK {
		t.Fatalf("IPv6 SYN to an AF_INET listener's port: %v, want RST", &rst)
	}
	u4 := bound(t, e, netip.AddrPortFrom(netip.IPv4Unspecified(), 7))
	before := e.st.Stats().UDP.NoPorts
	e.inject(udp6Frame(peerAP6, netip.AddrPortFrom(stackLL, 7), []byte("six")))
	if got := e.st.Stats().UDP.NoPorts; got != before+1 {
		t.Fatalf("IPv6 datagram to an AF_INET socket's port: NoPorts %d, want %d", got, before+1)
	}
	if _, _, err := u4.RecvFrom(make([]byte, 10), syscall.MSG_DONTWAIT); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("AF_INET socket: %v, want EAGAIN", err)
	}
	// A V6ONLY socket beside it on the same port takes the IPv6 one; the
	// AF_INET socket still takes IPv4.
	u6 := socket6(t, e, socket.SOCK_DGRAM, true)
	if err := u6.Bind(netip.AddrPortFrom(netip.IPv6Unspecified(), 7)); err != nil {
		t.Fatalf("V6ONLY bind beside AF_INET: %v", err)
	}
	e.inject(udp6Frame(peerAP6, netip.AddrPortFrom(stackLL, 7), []byte("six")))
	e.inject(udpFrame(peerAP, stackAP, []byte("four")))
	buf := make([]byte, 10)
	if n, from, err := u6.RecvFrom(buf, 0); err != nil || string(buf[:n]) != "six" || from != peerAP6 {
		t.Fatalf("V6ONLY socket: %q from %v, %v", buf[:n], from, err)
	}
	if n, from, err := u4.RecvFrom(buf, syscall.MSG_DONTWAIT); err != nil || string(buf[:n]) != "four" || from != peerAP {
		t.Fatalf("AF_INET socket: %q from %v, %v", buf[:n], from, err)
	}
	if _, err := u6.SendTo([]byte("x"), 0, netip.AddrPortFrom(netip.AddrFrom16(peerIP.As16()), 9)); !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("V6ONLY send to a mapped address: %v, want ENETUNREACH", err)
	}
	v6 := socket6(t, e, socket.SOCK_DGRAM, true)
	if err := v6.Bind(netip.AddrPortFrom(netip.AddrFrom16(stackIP.As16()), 0)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("V6ONLY bind to a mapped address: %v, want EINVAL", err)
	}
	if _, err := u4.SendTo([]byte("x"), 0, peerAP6); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Fatalf("AF_INET send to IPv6: %v, want EAFNOSUPPORT", err)
	}
}

// A dual-stack UDP socket takes IPv4 datagrams as ::ffff:a.b.c.d and
// answers them over IPv4.
func TestUDP_DualStack_MappedPeer(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	fd := socket6(t, e, socket.SOCK_DGRAM, false)
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv6Unspecified(), 7)); err != nil {
		t.Fatal(err)
	}
	e.inject(udpFrame(peerAP, stackAP, []byte("four")))
	buf := make([]byte, 10)
	n, from, err := fd.RecvFrom(buf, 0)
	mapped := netip.AddrPortFrom(netip.AddrFrom16(peerIP.As16()), peerAP.Port())
	if err != nil || string(buf[:n]) != "four" || from != mapped {
		t.Fatalf("RecvFrom = %q from %v, %v; want from %v", buf[:n], from, err, mapped)
	}
	if _, err := fd.SendTo([]byte("back"), 0, from); err != nil {
		t.Fatal(err)
	}
	ip := e.nextIPv4()
	if ip.Protocol() != ipv4.ProtoUDP || ip.Dst() != peerIP || ip.Src() != stackIP {
		t.Fatalf("reply %v -> %v proto %d, want IPv4 UDP to %v", ip.Src(), ip.Dst(), ip.Protocol(), peerIP)
	}
}

// RFC 9293 §3.7.1 (MUST-15): a SYN without an MSS option means 1220 over
// IPv6 (536 over IPv4): the IPv6 minimum MTU less 60.
func TestTCP6_NoMSSOption_Sends1220(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	l := listening6(t, e, true)
	e.inject(tcp6Frame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	synack := e.nextTCP6()
	e.inject(tcp6Frame(tcp.Segment{Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(make([]byte, 3000), 0); err != nil {
		t.Fatal(err)
	}
	if seg := e.nextTCP6(); len(seg.Payload) != 1220 {
		t.Fatalf("first segment %d octets, want 1220", len(seg.Payload))
	}
}

// FuzzTransport6 mutates a TCP SYN to a dual-stack listener or a UDP
// datagram to a dual-stack socket over IPv6 (kind byte even or odd; then
// an offset and bytes that overwrite the packet from there) and truncates
// it to a length byte: whatever arrives, no panic, the frame is received
// once by IPv6, and whatever the stack sends back is a well-formed IPv6
// packet from our link-local address carrying a TCP segment whose IPv6
// checksum verifies, or ICMPv6.
func FuzzTransport6(f *testing.F) {
	f.Add([]byte{0, 255, 0})
	f.Add([]byte{1, 255, 0})
	f.Add([]byte{0, 255, 6, 17})               // TCP payload read as UDP
	f.Add([]byte{1, 255, 6, 6})                // UDP payload read as TCP
	f.Add([]byte{0, 255, 8, 0, 0, 0xff, 0xff}) // a mapped source
	f.Add([]byte{1, 255, 46, 0, 0})            // zero UDP checksum
	f.Add([]byte{0, 255, 52, 0x10})            // TCP data offset 1
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		e := newEnv(t)
		e.learnPeer6()
		listening6(t, e, false)
		u := socket6(t, e, socket.SOCK_DGRAM, false)
		if err := u.Bind(netip.AddrPortFrom(netip.IPv6Unspecified(), 7)); err != nil {
			t.Fatal(err)
		}
		frame := tcp6Frame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1440, SACKPermitted: true}}, []byte("syn data"))
		if data[0]%2 == 1 {
			frame = udp6Frame(peerAP6, netip.AddrPortFrom(stackLL, 7), []byte("datagram"))
		}
		pkt := frame[ethernet.HeaderLen:]
		copy(pkt[int(data[2])%len(pkt):], data[3:])
		frame = frame[:ethernet.HeaderLen+min(int(data[1]), len(pkt))]
		before := e.st.Stats().IPv6.InReceives
		e.inject(frame)
		if got := e.st.Stats().IPv6.InReceives - before; got != 1 {
			t.Fatalf("in_receives %+d for one frame", got)
		}
		e.sentWellFormed6(true)
	})
}

// sentWellFormed6 reads everything the stack sent and fails unless each is
// a well-formed IPv6 packet from stackLL carrying ICMPv6 or, with tcpToo,
// a TCP segment whose IPv6 checksum verifies.
func (e *env) sentWellFormed6(tcpToo bool) {
	e.t.Helper()
	for {
		f, ok := e.peer.TryRead()
		if !ok {
			return
		}
		eth, err := ethernet.Parse(f)
		if err != nil {
			e.t.Fatal(err)
		}
		h, err := ipv6.Parse(eth.Payload())
		if err != nil || h.Src() != stackLL {
			e.t.Fatalf("sent % x: %v", f, err)
		}
		switch {
		case h.NextHeader() == ipv6.ProtoTCP && tcpToo:
			if _, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true); err != nil {
				e.t.Fatalf("sent a bad segment: %v", err)
			}
		case h.NextHeader() == ipv6.ProtoICMPv6:
			if _, err := ipv6.ParseICMP(h.Payload(), h.Src(), h.Dst()); err != nil {
				e.t.Fatalf("sent a bad ICMPv6 message: %v", err)
			}
		default:
			e.t.Fatalf("sent next header %d", h.NextHeader())
		}
	}
}

// RFC 4861 §7.3.1: an ACK of new data confirms the peer's reachability.
// The peer's entry has gone STALE on an idle connection; the stack's data
// moves it to DELAY, and the peer's ACK of that data makes it REACHABLE,
// so no probe follows DELAY_FIRST_PROBE_TIME later.
func TestTCP6_ACKOfNewData_ConfirmsNeighbour(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	fd := socket6(t, e, socket.SOCK_STREAM, false)
	if err := fd.Connect(netip.AddrPortFrom(peerLL, 9)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	syn := e.nextTCP6()
	e.inject(tcp6Frame(tcp.Segment{SrcPort: 9, DstPort: syn.SrcPort, Seq: peerISS, Ack: syn.Seq + 1, Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd, Options: tcp.Options{MSS: 1440}}, nil))
	e.nextTCP6()               // the handshake's ACK
	e.clk.Advance(time.Minute) // past any ReachableTime (at most 45 s): STALE
	e.drain()
	if n, _ := e.st.Neighbour6StateTest(peerLL); n.State != stack.NDStale {
		t.Fatalf("after a minute idle the peer is %v, want STALE", n.State)
	}
	if _, err := fd.Send([]byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	d := e.nextTCP6()
	if n, _ := e.st.Neighbour6StateTest(peerLL); n.State != stack.NDDelay {
		t.Fatalf("after sending to a STALE peer it is %v, want DELAY", n.State)
	}
	e.inject(tcp6Frame(tcp.Segment{SrcPort: 9, DstPort: d.SrcPort, Seq: peerISS + 1, Ack: d.Seq + 4, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	e.clk.Advance(6 * time.Second)
	if n, _ := e.st.Neighbour6StateTest(peerLL); n.State != stack.NDReachable {
		t.Fatalf("after the ACK of new data the peer is %v, want REACHABLE", n.State)
	}
	if st := e.st.Stats().ND6; st.OutNeighborSolicits != 0 {
		t.Fatalf("%d solicitations sent, want no probe", st.OutNeighborSolicits)
	}
}
