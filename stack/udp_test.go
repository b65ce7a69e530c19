package stack_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

var (
	peerAP  = netip.AddrPortFrom(peerIP, 40000)
	stackAP = netip.AddrPortFrom(stackIP, 7)
)

func udpFrame(src, dst netip.AddrPort, payload []byte) []byte {
	return ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP, Src: src.Addr(), Dst: dst.Addr()}, udpDatagram(src, dst, payload))
}

func bound(t *testing.T, e *env, addr netip.AddrPort) *socket.FD {
	t.Helper()
	fd, err := socket.Socket(e.st, socket.AF_INET, socket.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.Close() })
	if err := fd.Bind(addr); err != nil {
		t.Fatalf("Bind(%v): %v", addr, err)
	}
	return fd
}

func TestUDP_ReceiveAndReply(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	fd := bound(t, e, netip.AddrPortFrom(netip.IPv4Unspecified(), 7))
	e.inject(udpFrame(peerAP, stackAP, []byte("hello")))
	buf := make([]byte, 100)
	n, from, err := fd.RecvFrom(buf, socket.MSG_DONTWAIT)
	if err != nil || string(buf[:n]) != "hello" || from != peerAP {
		t.Fatalf("RecvFrom = %q from %v, %v", buf[:n], from, err)
	}
	if _, err := fd.SendTo([]byte("world"), 0, from); err != nil {
		t.Fatal(err)
	}
	ip := e.nextIPv4()
	u, err := udp.Parse(ip.Payload())
	if err != nil || !u.VerifyIPv4(ip.Src(), ip.Dst()) || u.Checksum() == 0 {
		t.Fatalf("reply datagram: %v, checksum %#x", err, u.Checksum())
	}
	if u.SrcPort() != 7 || u.DstPort() != 40000 || string(u.Payload()) != "world" || !ip.DF() {
		t.Fatalf("reply %d->%d %q DF=%v", u.SrcPort(), u.DstPort(), u.Payload(), ip.DF())
	}
	if s := e.st.Stats().UDP; s.InDatagrams != 1 || s.OutDatagrams != 1 {
		t.Fatalf("UDP stats %+v", s)
	}
}

func TestUDP_ClosedPort_PortUnreachableButNotForBroadcast(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	orig := udpFrame(peerAP, netip.AddrPortFrom(stackIP, 9999), []byte("anyone?"))
	e.inject(orig)
	_, m := e.nextICMP()
	if m.Type() != ipv4.TypeDestUnreachable || m.Code() != ipv4.CodePortUnreachable {
		t.Fatalf("got %d/%d, want 3/3", m.Type(), m.Code())
	}
	if !bytes.Equal(m.Payload(), orig[ethernet.HeaderLen:]) {
		t.Fatal("quote differs from the offending datagram")
	}
	e.inject(udpFrame(peerAP, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.255"), 9999), []byte("anyone?")))
	e.inject(udpFrame(peerAP, netip.AddrPortFrom(netip.MustParseAddr("255.255.255.255"), 9999), []byte("anyone?")))
	e.none() // RFC 1122 §4.1.3.1 and §3.2.2: no error for a broadcast
	// Linux counts a broadcast nobody takes in UdpIgnoredMulti, not
	// NoPorts (__udp4_lib_mcast_deliver), and never tries an error.
	if s := e.st.Stats(); s.UDP.NoPorts != 1 || s.UDP.IgnoredMulti != 2 || s.ICMP.OutErrorsSuppressd != 0 {
		t.Fatalf("no_ports = %d, ignored_multi = %d, out_errors_suppressed = %d; want 1, 2, 0", s.UDP.NoPorts, s.UDP.IgnoredMulti, s.ICMP.OutErrorsSuppressd)
	}
}

func TestUDP_BadChecksumDropped_ZeroChecksumAccepted(t *testing.T) {
	e := newEnv(t)
	fd := bound(t, e, stackAP)
	bad := udpFrame(peerAP, stackAP, []byte("x"))
	bad[len(bad)-1] ^= 0xff
	e.inject(bad)
	none := udpFrame(peerAP, stackAP, []byte("y"))
	none[ethernet.HeaderLen+20+6], none[ethernet.HeaderLen+20+7] = 0, 0
	e.inject(none)
	buf := make([]byte, 10)
	n, _, err := fd.RecvFrom(buf, socket.MSG_DONTWAIT)
	if err != nil || string(buf[:n]) != "y" {
		t.Fatalf("got %q %v, want the zero-checksum datagram only", buf[:n], err)
	}
	if _, _, err := fd.RecvFrom(buf, socket.MSG_DONTWAIT); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("second receive: %v, want EAGAIN", err)
	}
	if got := e.st.Stats().UDP.InCsumErrors; got != 1 {
		t.Fatalf("InCsumErrors = %d", got)
	}
}

func TestUDP_ReceiveBufferFull_DropsCounted(t *testing.T) {
	e := newEnv(t)
	fd := bound(t, e, stackAP)
	if err := fd.SetsockoptInt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1000); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		e.inject(udpFrame(peerAP, stackAP, make([]byte, 500)))
	}
	s := e.st.Stats().UDP
	if s.InDatagrams+s.RcvbufErrors != 10 || s.RcvbufErrors == 0 || s.InDatagrams == 0 {
		t.Fatalf("InDatagrams=%d RcvbufErrors=%d", s.InDatagrams, s.RcvbufErrors)
	}
}

func TestUDP_ConnectedSocket_PortUnreachableGivesECONNREFUSED(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	fd := bound(t, e, netip.AddrPortFrom(stackIP, 5555))
	if err := fd.Connect(peerAP); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Send([]byte("knock"), 0); err != nil {
		t.Fatal(err)
	}
	sent := e.nextIPv4()
	msg := make([]byte, 8+len(sent))
	n := ipv4.EncodeError(msg, ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, sent)
	e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, msg[:n]))
	_, err := fd.Recv(make([]byte, 10), socket.MSG_DONTWAIT)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Recv: %v, want ECONNREFUSED", err)
	}
	// Reported once.
	if _, err := fd.Recv(make([]byte, 10), socket.MSG_DONTWAIT); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("second Recv: %v, want EAGAIN", err)
	}
}

func TestUDP_LargeSend_FragmentedWithoutDF(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	fd := bound(t, e, stackAP)
	data := pattern(4000)
	if _, err := fd.SendTo(data, 0, peerAP); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i := 0; i < 3; i++ {
		ip := e.nextIPv4()
		if ip.DF() || ip.TotalLen() > 1500 {
			t.Fatalf("fragment %d: DF=%v len=%d", i, ip.DF(), ip.TotalLen())
		}
		got = append(got, ip.Payload()...)
	}
	e.none()
	if !bytes.Equal(got[udp.HeaderLen:], data) {
		t.Fatal("fragments do not carry the datagram")
	}
}

func TestUDP_SocketErrors_MatchLinux(t *testing.T) {
	e := newEnv(t)
	fd := bound(t, e, stackAP)
	other, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_DGRAM, 0)
	defer other.Close()
	cases := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"bind in use", other.Bind(stackAP), syscall.EADDRINUSE},
		{"bind foreign address", other.Bind(netip.AddrPortFrom(otherIP, 1)), syscall.EADDRNOTAVAIL},
		{"bind twice", fd.Bind(netip.AddrPortFrom(stackIP, 8)), syscall.EINVAL},
		{"send unconnected", func() error { _, err := fd.Send([]byte("x"), 0); return err }(), syscall.EDESTADDRREQ},
		{"send broadcast", func() error {
			_, err := fd.SendTo([]byte("x"), 0, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.255"), 9))
			return err
		}(), syscall.EACCES},
		{"send too big", func() error { _, err := fd.SendTo(make([]byte, 65508), 0, peerAP); return err }(), syscall.EMSGSIZE},
		{"getpeername", func() error { _, err := fd.Getpeername(); return err }(), syscall.ENOTCONN},
		{"stream socket with UDP", func() error {
			_, err := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_UDP)
			return err
		}(), syscall.EPROTONOSUPPORT},
		{"SOCK_SEQPACKET", func() error { _, err := socket.Socket(e.st, socket.AF_INET, syscall.SOCK_SEQPACKET, 0); return err }(), syscall.ESOCKTNOSUPPORT},
		{"AF_UNIX", func() error { _, err := socket.Socket(e.st, syscall.AF_UNIX, socket.SOCK_DGRAM, 0); return err }(), syscall.EAFNOSUPPORT},
		{"AF_INET6 ping socket", func() error {
			_, err := socket.Socket(e.st, socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
			return err
		}(), syscall.EPROTONOSUPPORT},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	fd.Close()
	if err := fd.Close(); !errors.Is(err, syscall.EBADF) {
		t.Errorf("second Close: %v, want EBADF", err)
	}
}

func TestUDP_NonblockingAndPeek(t *testing.T) {
	e := newEnv(t)
	fd := bound(t, e, stackAP)
	fd.SetNonblock(true)
	buf := make([]byte, 3)
	if _, _, err := fd.RecvFrom(buf, 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("empty non-blocking receive: %v, want EAGAIN", err)
	}
	e.inject(udpFrame(peerAP, stackAP, []byte("abcdef")))
	n, _, err := fd.RecvFrom(buf, socket.MSG_PEEK|socket.MSG_TRUNC)
	if err != nil || n != 6 || string(buf) != "abc" {
		t.Fatalf("peek: n=%d %q %v", n, buf, err)
	}
	n, _, err = fd.RecvFrom(buf, 0)
	if err != nil || n != 3 || string(buf) != "abc" {
		t.Fatalf("truncated receive: n=%d %q %v", n, buf, err)
	}
	if _, _, err := fd.RecvFrom(buf, 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("the truncated rest was kept: %v", err)
	}
}

func TestUDP_BlockingReceive_WokenByArrivalAndByClose(t *testing.T) {
	e := newEnv(t)
	fd := bound(t, e, stackAP)
	got := make(chan error, 1)
	go func() {
		_, _, err := fd.RecvFrom(make([]byte, 10), 0)
		got <- err
	}()
	waitBlockedIn(t, "socket.(*FD).RecvFrom")
	e.inject(udpFrame(peerAP, stackAP, []byte("wake")))
	if err := result(t, got, "a receive blocked before a datagram arrived"); err != nil {
		t.Fatalf("blocked receive: %v", err)
	}
	go func() {
		_, _, err := fd.RecvFrom(make([]byte, 10), 0)
		got <- err
	}()
	waitBlockedIn(t, "socket.(*FD).RecvFrom")
	fd.Close()
	if err := result(t, got, "a receive blocked across Close"); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("receive blocked across Close: %v, want EBADF", err)
	}
}

func TestPacketConn_DeadlineUnblocksPendingRead(t *testing.T) {
	e := newEnv(t)
	pc, err := socket.ListenPacket(e.st, "udp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan error, 1)
	go func() {
		_, _, err := pc.ReadFrom(make([]byte, 10))
		got <- err
	}()
	waitBlockedIn(t, "socket.(*FD).RecvFrom")
	// Deadlines run on the stack's manual clock: set one, then move time.
	pc.SetReadDeadline(e.clk.Now().Add(time.Second))
	e.clk.Advance(time.Second)
	err = result(t, got, "a ReadFrom pending when its deadline passed")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom after the deadline: %v, want a timeout matching os.ErrDeadlineExceeded", err)
	}
	pc.SetReadDeadline(time.Time{})
	e.inject(udpFrame(peerAP, stackAP, []byte("late")))
	buf := make([]byte, 10)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "late" || from.String() != peerAP.String() {
		t.Fatalf("ReadFrom after clearing the deadline: %q from %v, %v", buf[:n], from, err)
	}
	pc.Close()
	if _, _, err := pc.ReadFrom(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom after Close: %v, want net.ErrClosed", err)
	}
	var oe *net.OpError
	if _, err := pc.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(peerAP)); !errors.As(err, &oe) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close: %v, want *net.OpError matching net.ErrClosed", err)
	}
}

func TestUDP_Loopback_ToOwnAddress(t *testing.T) {
	e := newEnv(t)
	a := bound(t, e, netip.AddrPortFrom(stackIP, 1000))
	b := bound(t, e, netip.AddrPortFrom(stackIP, 2000))
	if _, err := a.SendTo([]byte("self"), 0, netip.AddrPortFrom(stackIP, 2000)); err != nil {
		t.Fatal(err)
	}
	e.none() // never reaches the wire
	buf := make([]byte, 10)
	n, from, err := b.RecvFrom(buf, socket.MSG_DONTWAIT)
	if err != nil || string(buf[:n]) != "self" || from.Port() != 1000 {
		t.Fatalf("loopback: %q from %v, %v", buf[:n], from, err)
	}
}

// Stack.Close closes every endpoint: a TCP connection's calls fail after
// it, even a write its send buffer has room for, which would otherwise be
// queued for a link that is gone.
func TestStack_Close_TCPCallsFailAfter(t *testing.T) {
	e := newEnv(t)
	fd, _ := established(t, e)
	lis := e.listener
	e.st.Close()
	if _, err := fd.Send([]byte("x"), 0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Send after the stack closed: %v, want EBADF", err)
	}
	if _, err := fd.Recv(make([]byte, 1), socket.MSG_DONTWAIT); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Recv after the stack closed: %v, want EBADF", err)
	}
	if err := fd.Shutdown(socket.SHUT_WR); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Shutdown after the stack closed: %v, want EBADF", err)
	}
	if _, _, err := lis.Accept(); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Accept after the stack closed: %v, want EBADF", err)
	}
}

func TestStack_CloseUnblocksEverything(t *testing.T) {
	e := newEnv(t)
	fd := bound(t, e, stackAP)
	got := make(chan error, 1)
	go func() {
		_, _, err := fd.RecvFrom(make([]byte, 10), 0)
		got <- err
	}()
	waitBlockedIn(t, "socket.(*FD).RecvFrom")
	e.st.Close()
	if err := result(t, got, "a receive blocked when the stack closed"); err == nil {
		t.Fatal("receive returned no error after the stack closed")
	}
	if _, err := socket.Socket(e.st, socket.AF_INET, socket.SOCK_DGRAM, 0); !errors.Is(err, syscall.ENETDOWN) {
		t.Fatalf("Socket on a closed stack: %v, want ENETDOWN", err)
	}
	// A closed stack opens no endpoint of any kind.
	_, tcpErr := e.st.NewTCPEndpoint()
	_, udpErr := e.st.NewUDPEndpoint()
	_, pingErr := e.st.NewPingEndpoint()
	for name, err := range map[string]error{"TCP": tcpErr, "UDP": udpErr, "ping": pingErr} {
		if !errors.Is(err, stack.ErrStackClosed) {
			t.Errorf("new %s endpoint on a closed stack: %v, want ErrStackClosed", name, err)
		}
	}
}
