package conformance

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The addresses every script uses. Both targets are configured identically:
// the stack under test is 10.0.0.2/24 with MAC 02:00:00:00:00:02; the test
// plays the peer, 10.0.0.1 (also the default gateway) at 02:00:00:00:00:01.
var (
	stackIP   = netip.MustParseAddr("10.0.0.2")
	peerIP    = netip.MustParseAddr("10.0.0.1")
	otherIP   = netip.MustParseAddr("10.0.0.77")
	subnetBC  = netip.MustParseAddr("10.0.0.255")
	limitedBC = netip.MustParseAddr("255.255.255.255")
	stackNet  = netip.MustParsePrefix("10.0.0.2/24")
	peerMAC   = ethernet.MAC{0x02, 0, 0, 0, 0, 0x01}
	peerMAC2  = ethernet.MAC{0x02, 0, 0, 0, 0, 0x03} // the peer after a NIC swap
	stackMAC  = ethernet.MAC{0x02, 0, 0, 0, 0, 0x02}
	linkMTU   = 1500
	epoch     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// targetConfig is what a script may configure on both targets alike.
type targetConfig struct {
	// synCookiesAlways makes every listener answer every SYN with a SYN
	// cookie (RFC 4987 §3.6), as Linux's net.ipv4.tcp_syncookies=2:
	// tapstack's tcp.Config.SynCookies = tcp.SynCookiesAlways, gVisor's
	// tcpip.TCPAlwaysUseSynCookies.
	synCookiesAlways bool
}

// target is one stack under test, driven by a script. Every method is
// synchronous: when inject or advance returns, whatever the stack sends in
// response is ready for drain. Implementations fail the test (t.Fatal) on a
// setup error; inject and advance never fail, a stack may ignore any frame.
//
// Socket calls are non-blocking; their results are rendered as the errno
// a Linux program would see ("EAGAIN", "ECONNREFUSED"), so that both
// targets' records compare as strings.
type target interface {
	name() string
	// inject delivers one Ethernet frame as if it came from the wire.
	inject(frame []byte)
	// advance moves the stack's clock by d, firing every timer due.
	advance(d time.Duration)
	// drain returns every frame the stack sent since the last drain, in order.
	drain() [][]byte
	// listenUDP opens a UDP socket bound to 0.0.0.0:port.
	listenUDP(port uint16) udpSocket
	// listenTCP opens a non-blocking TCP socket listening on 0.0.0.0:port;
	// rcvBuf, when not zero, is its receive buffer in octets (inherited by
	// the connections it accepts).
	listenTCP(port uint16, backlog, rcvBuf int) tcpListener
	// dialTCP starts a non-blocking active open from 10.0.0.2:localPort to
	// remote and returns the socket and what connect returned.
	dialTCP(localPort uint16, remote netip.AddrPort) (tcpConn, string)
	// close releases the stack.
	close()
}

// tcpListener is a listening TCP socket of a target.
type tcpListener interface {
	// accept takes one connection from the accept queue without blocking.
	accept() (tcpConn, string)
	close()
}

// tcpConn is a connected (or connecting) TCP socket of a target. Every
// method returns what the call returned, as a string ("ok", an errno name,
// "EOF").
type tcpConn interface {
	// write queues b; it returns how many octets were taken.
	write(b []byte) (int, string)
	// read reads at most n octets without blocking.
	read(n int) ([]byte, string)
	shutdownWrite() string
	close() string
	// abort closes with SO_LINGER {on, 0}: RST instead of FIN.
	abort() string
	// status is SO_ERROR and the poll(2) events, "SO_ERROR=0 POLLOUT".
	status() string
	// noDelay sets TCP_NODELAY (RFC 9293 §3.7.4: Nagle off).
	noDelay() string
}

// udpSocket is an open UDP socket of a target.
type udpSocket interface {
	// tryRecv returns the next queued datagram without blocking.
	tryRecv() (payload []byte, from netip.AddrPort, ok bool)
}

// tapTarget is tapstack on one end of a nic.Pipe, driven through
// HandleFrame (never Start: the receive loop is not running, so every frame
// is processed on the test goroutine).
type tapTarget struct {
	t    testing.TB
	clk  *clock.Manual
	st   *stack.Stack
	peer *nic.PipeEnd
}

func newTapTarget(t testing.TB, tc targetConfig) *tapTarget {
	t.Helper()
	clk := clock.NewManual(epoch)
	a, b := nic.NewPipe(nic.PipeConfig{MTU: linkMTU, MACA: stackMAC, MACB: peerMAC, Clock: clk, QueueLen: 4096})
	cfg := stack.Config{
		Addr:    stackNet,
		Gateway: peerIP,
		Clock:   clk,
		Logger:  slog.New(slog.DiscardHandler),
		// The link-local address usable at once, as gVisor's without
		// DAD configured: the scripts are not about RFC 4862.
		DupAddrDetectTransmits: -1,
	}
	cfg.TCP = tcp.DefaultConfig()
	cfg.TCP.MSS = linkMTU - 40 // as stack.New sets it for a zero TCP config
	// Reno, as gVisor's default: the scripts compare loss recovery window
	// for window, and CUBIC's reduction (β = 0.7) is not Reno's (0.5).
	cfg.TCP.Congestion = "reno"
	// No ECN: gVisor never negotiates it (RFC 3168 SYNs would differ
	// from its wire bytes), and the scripts pin tapstack's transcripts
	// from before it.
	cfg.TCP.ECN = tcp.ECNOff
	if tc.synCookiesAlways {
		cfg.TCP.SynCookies = tcp.SynCookiesAlways
	}
	st, err := stack.New(a, cfg)
	if err != nil {
		t.Fatalf("tapstack: stack.New: %v", err)
	}
	return &tapTarget{t: t, clk: clk, st: st, peer: b}
}

func (*tapTarget) name() string { return "tapstack" }

func (x *tapTarget) inject(frame []byte) { x.st.HandleFrame(frame, nic.Meta{}) }

func (x *tapTarget) advance(d time.Duration) { x.clk.Advance(d) }

func (x *tapTarget) drain() [][]byte {
	var out [][]byte
	for {
		f, ok := x.peer.TryRead()
		if !ok {
			return out
		}
		out = append(out, append([]byte(nil), f...))
	}
}

func (x *tapTarget) listenUDP(port uint16) udpSocket {
	x.t.Helper()
	fd, err := socket.Socket(x.st, socket.AF_INET, socket.SOCK_DGRAM, 0)
	if err != nil {
		x.t.Fatalf("tapstack: socket: %v", err)
	}
	if err := fd.SetNonblock(true); err != nil {
		x.t.Fatalf("tapstack: SetNonblock: %v", err)
	}
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), port)); err != nil {
		x.t.Fatalf("tapstack: bind :%d: %v", port, err)
	}
	x.t.Cleanup(func() { fd.Close() })
	return tapUDP{t: x.t, fd: fd}
}

func (x *tapTarget) close() {
	x.st.Close()
	x.peer.Close()
}

func (x *tapTarget) tcpSocket() *socket.FD {
	x.t.Helper()
	fd, err := socket.Socket(x.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		x.t.Fatalf("tapstack: socket(SOCK_STREAM): %v", err)
	}
	return fd
}

func (x *tapTarget) listenTCP(port uint16, backlog, rcvBuf int) tcpListener {
	x.t.Helper()
	fd := x.tcpSocket()
	if rcvBuf != 0 {
		// As Linux, tapstack doubles SO_RCVBUF.
		if err := fd.SetsockoptInt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvBuf/2); err != nil {
			x.t.Fatalf("tapstack: SO_RCVBUF: %v", err)
		}
	}
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), port)); err != nil {
		x.t.Fatalf("tapstack: bind :%d: %v", port, err)
	}
	if err := fd.Listen(backlog); err != nil {
		x.t.Fatalf("tapstack: listen :%d: %v", port, err)
	}
	x.t.Cleanup(func() { fd.Close() })
	return tapListener{fd}
}

func (x *tapTarget) dialTCP(localPort uint16, remote netip.AddrPort) (tcpConn, string) {
	x.t.Helper()
	fd := x.tcpSocket()
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), localPort)); err != nil {
		x.t.Fatalf("tapstack: bind :%d: %v", localPort, err)
	}
	x.t.Cleanup(func() { fd.Close() })
	return tapConn{fd}, errnoString(fd.Connect(remote))
}

type tapListener struct{ fd *socket.FD }

func (l tapListener) accept() (tcpConn, string) {
	c, _, err := l.fd.Accept()
	if err != nil {
		return nil, errnoString(err)
	}
	if err := c.SetNonblock(true); err != nil {
		return nil, "SetNonblock: " + errnoString(err)
	}
	return tapConn{c}, "ok"
}

func (l tapListener) close() { l.fd.Close() }

type tapConn struct{ fd *socket.FD }

func (c tapConn) write(b []byte) (int, string) {
	n, err := c.fd.Send(b, 0)
	return n, errnoString(err)
}

func (c tapConn) read(n int) ([]byte, string) {
	b := make([]byte, n)
	m, err := c.fd.Recv(b, 0)
	if err != nil {
		return nil, errnoString(err)
	}
	if m == 0 && n > 0 {
		return nil, "EOF"
	}
	return b[:m], "ok"
}

func (c tapConn) shutdownWrite() string { return errnoString(c.fd.Shutdown(socket.SHUT_WR)) }
func (c tapConn) close() string         { return errnoString(c.fd.Close()) }

func (c tapConn) abort() string {
	if err := c.fd.SetsockoptLinger(&syscall.Linger{Onoff: 1, Linger: 0}); err != nil {
		return "SO_LINGER: " + errnoString(err)
	}
	return errnoString(c.fd.Close())
}

func (c tapConn) noDelay() string {
	return errnoString(c.fd.SetsockoptInt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1))
}

func (c tapConn) status() string {
	so, err := c.fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR)
	if err != nil {
		return "SO_ERROR: " + errnoString(err)
	}
	pfd := []socket.PollFd{{FD: c.fd, Events: socket.POLLIN | socket.POLLOUT}}
	if _, err := socket.Poll(pfd, 0); err != nil {
		return "poll: " + errnoString(err)
	}
	return fmt.Sprintf("SO_ERROR=%s %s", errnoString(syscall.Errno(so)), pollString(pfd[0].Revents))
}

// errnoString renders a socket call's error as Linux's errno name, "ok"
// for nil.
func errnoString(err error) string {
	var en syscall.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &en):
		if en == 0 {
			return "0"
		}
		if name, ok := errnoNames[en]; ok {
			return name
		}
		return fmt.Sprintf("errno %d (%v)", int(en), en)
	}
	return err.Error()
}

var errnoNames = map[syscall.Errno]string{
	syscall.EAGAIN: "EAGAIN", syscall.EINPROGRESS: "EINPROGRESS", syscall.ECONNREFUSED: "ECONNREFUSED",
	syscall.ECONNRESET: "ECONNRESET", syscall.ECONNABORTED: "ECONNABORTED", syscall.EPIPE: "EPIPE",
	syscall.ENOTCONN: "ENOTCONN", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EINVAL: "EINVAL",
	syscall.EALREADY: "EALREADY", syscall.EISCONN: "EISCONN", syscall.EBADF: "EBADF",
	syscall.EHOSTUNREACH: "EHOSTUNREACH", syscall.ENETUNREACH: "ENETUNREACH",
}

// pollString renders poll(2) revents.
func pollString(ev int16) string {
	var parts []string
	for _, f := range []struct {
		bit  int16
		name string
	}{{socket.POLLIN, "POLLIN"}, {socket.POLLOUT, "POLLOUT"}, {socket.POLLERR, "POLLERR"}, {socket.POLLHUP, "POLLHUP"}} {
		if ev&f.bit != 0 {
			parts = append(parts, f.name)
		}
	}
	if parts == nil {
		return "no events"
	}
	return strings.Join(parts, "|")
}

type tapUDP struct {
	t  testing.TB
	fd *socket.FD
}

func (s tapUDP) tryRecv() ([]byte, netip.AddrPort, bool) {
	buf := make([]byte, 65536)
	n, from, err := s.fd.RecvFrom(buf, 0)
	if errors.Is(err, syscall.EAGAIN) {
		return nil, netip.AddrPort{}, false
	}
	if err != nil {
		s.t.Fatalf("tapstack: recvfrom: %v", err)
	}
	return buf[:n], from, true
}
