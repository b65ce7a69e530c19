package socket_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

// twoStacks joins two stacks with a Pipe on the real clock (nettest's
// deadlines are wall-clock) and starts both.
func twoStacks(t testing.TB) (a, b *stack.Stack) {
	t.Helper()
	pa, pb := nic.NewPipe(nic.PipeConfig{MTU: 1500, QueueLen: 4096})
	quiet := slog.New(slog.DiscardHandler)
	var err error
	if a, err = stack.New(pa, stack.Config{Addr: netip.PrefixFrom(addrA, 24), Logger: quiet, DupAddrDetectTransmits: noDAD}); err != nil {
		t.Fatal(err)
	}
	if b, err = stack.New(pb, stack.Config{Addr: netip.PrefixFrom(addrB, 24), Logger: quiet, DupAddrDetectTransmits: noDAD}); err != nil {
		t.Fatal(err)
	}
	a.Start()
	b.Start()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestConn_PassesNettest(t *testing.T) {
	a, b := twoStacks(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		l, err := socket.Listen(b, "tcp", ":0")
		if err != nil {
			return nil, nil, nil, err
		}
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			accepted <- c
		}()
		port := l.Addr().(*net.TCPAddr).AddrPort().Port()
		c1, err = socket.Dial(a, "tcp", netip.AddrPortFrom(addrB, port).String())
		if err != nil {
			return nil, nil, nil, err
		}
		c2 = <-accepted
		if c2 == nil {
			c1.Close()
			return nil, nil, nil, errors.New("accept failed")
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

func TestDial_ClosedPort_ECONNREFUSED(t *testing.T) {
	a, _ := twoStacks(t)
	_, err := socket.Dial(a, "tcp", "10.0.0.2:4444")
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial to a closed port: %v, want *net.OpError matching ECONNREFUSED", err)
	}
}

func TestDialContext_Canceled(t *testing.T) {
	a, _ := twoStacks(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := &socket.Dialer{Stack: a}
	// 10.0.0.77 never answers ARP: the dial can only end by cancellation.
	if _, err := d.DialContext(ctx, "tcp", "10.0.0.77:80"); !errors.Is(err, context.Canceled) {
		t.Fatalf("DialContext with a canceled context: %v", err)
	}
}

func TestListen_PortInUse_EADDRINUSE(t *testing.T) {
	_, b := twoStacks(t)
	l, err := socket.Listen(b, "tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := socket.Listen(b, "tcp", ":80"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Listen on :80: %v, want EADDRINUSE", err)
	}
}

func TestConn_HalfCloseAndEOF(t *testing.T) {
	a, b := twoStacks(t)
	l, _ := socket.Listen(b, "tcp", ":7")
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo until our FIN, then close
	}()
	c, err := socket.Dial(a, "tcp", "10.0.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := bytes.Repeat([]byte("tapstack "), 100000)
	go func() {
		c.Write(data)
		c.(*socket.Conn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo after half-close: %d of %d bytes, %v", len(got), len(data), err)
	}
}

func TestSocket_StreamErrnos(t *testing.T) {
	a, b := twoStacks(t)
	fd, _ := socket.Socket(a, socket.AF_INET, socket.SOCK_STREAM, 0)
	defer fd.Close()
	buf := make([]byte, 10)
	if _, err := fd.Recv(buf, 0); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("Recv unconnected: %v, want ENOTCONN", err)
	}
	if _, _, err := fd.Accept(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Accept without Listen: %v, want EINVAL", err)
	}
	if err := fd.Bind(netip.AddrPortFrom(addrB, 80)); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("Bind to a foreign address: %v, want EADDRNOTAVAIL", err)
	}
	nb, _ := socket.Socket(b, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer nb.Close()
	nb.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 99))
	nb.Listen(1)
	if _, _, err := nb.Accept(); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("non-blocking Accept with nothing pending: %v, want EAGAIN", err)
	}
	c, _ := socket.Socket(a, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer c.Close()
	if err := c.Connect(netip.AddrPortFrom(addrB, 99)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("non-blocking Connect: %v, want EINPROGRESS", err)
	}
	// Poll says writable once connected, and the listener readable.
	fds := []socket.PollFd{{FD: c, Events: socket.POLLOUT}, {FD: nb, Events: socket.POLLIN}}
	for ready := 0; ready < 2; {
		n, err := socket.Poll(fds, 10*time.Second)
		if err != nil || n == 0 {
			t.Fatalf("Poll: n=%d err=%v", n, err)
		}
		ready = n
	}
	if e, _ := c.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); e != 0 {
		t.Fatalf("SO_ERROR after connect: %v", syscall.Errno(e))
	}
	srv, peer, err := nb.Accept()
	if err != nil || peer.Addr() != addrA {
		t.Fatalf("Accept: %v from %v", err, peer)
	}
	defer srv.Close()
	if err := c.Shutdown(socket.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send([]byte("x"), 0); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Send after SHUT_WR: %v, want EPIPE", err)
	}
	srv.SetNonblock(false)
	if n, err := srv.Recv(buf, 0); n != 0 || err != nil {
		t.Errorf("Recv after the peer's FIN: %d, %v, want 0, nil (end of stream)", n, err)
	}
}

func TestConn_ReadDeadline_ErrDeadlineExceeded(t *testing.T) {
	a, b := twoStacks(t)
	l, _ := socket.Listen(b, "tcp", ":7")
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	c, err := socket.Dial(a, "tcp", "10.0.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
	c.Close()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
	}
}

// TestDeadline_ResetWhileFiring_NoDoubleClose re-arms a deadline over and
// over around the moment it fires: a stale timer must never close the
// channel the newer deadline owns (it used to panic: close of closed channel).
func TestDeadline_ResetWhileFiring_NoDoubleClose(t *testing.T) {
	a, _ := twoStacks(t)
	pc, err := socket.ListenPacket(a, "udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := 0; i < 2000; i++ {
		pc.SetReadDeadline(time.Now().Add(time.Duration(i%50) * time.Microsecond))
	}
	pc.SetReadDeadline(time.Now().Add(-time.Second))
	if _, _, err := pc.ReadFrom(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom past the deadline: %v", err)
	}
}

// TestSocket_ErrorReportedOnce: as Linux, SO_ERROR returns a failed
// connect's error once and clears it; the socket is dead afterwards, so a
// write gives EPIPE and a read the end of the stream.
func TestSocket_ErrorReportedOnce(t *testing.T) {
	a, _ := twoStacks(t)
	fd, _ := socket.Socket(a, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer fd.Close()
	if err := fd.Connect(netip.AddrPortFrom(addrB, 4444)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatal(err)
	}
	fds := []socket.PollFd{{FD: fd, Events: socket.POLLOUT}}
	if n, _ := socket.Poll(fds, 10*time.Second); n != 1 || fds[0].Revents&socket.POLLERR == 0 {
		t.Fatalf("Poll after a refused connect: n=%d revents=%#x, want POLLERR", n, fds[0].Revents)
	}
	if e, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); syscall.Errno(e) != syscall.ECONNREFUSED {
		t.Fatalf("first SO_ERROR = %v, want ECONNREFUSED", syscall.Errno(e))
	}
	if e, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); e != 0 {
		t.Fatalf("second SO_ERROR = %v, want 0 (cleared)", syscall.Errno(e))
	}
	if _, err := fd.Send([]byte("x"), 0); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Send after the reported error: %v, want EPIPE", err)
	}
	if n, err := fd.Recv(make([]byte, 1), 0); n != 0 || err != nil {
		t.Fatalf("Recv after the reported error: %d, %v, want end of stream", n, err)
	}
}

// errWriter fails every write after the first n bytes.
type errWriter struct{ n int }

var errSink = errors.New("sink full")

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errSink
	}
	w.n -= len(p)
	return len(p), nil
}

// Conn.WriteTo (what io.Copy from a Conn runs): the writer's error ends it
// with the bytes written so far; the read deadline ends it with a timeout;
// the peer's abort with ECONNRESET.
func TestConn_WriteTo_WriterErrorDeadlineAndReset(t *testing.T) {
	a, b := twoStacks(t)
	l, _ := socket.Listen(b, "tcp", ":9")
	defer l.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() (net.Conn, net.Conn) {
		c, err := socket.Dial(a, "tcp", "10.0.0.2:9")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s := <-accepted
		t.Cleanup(func() { s.Close() })
		return c, s
	}

	c, s := dial()
	go c.Write(make([]byte, 10000))
	n, err := s.(io.WriterTo).WriteTo(&errWriter{n: 3000})
	if n != 3000 || !errors.Is(err, errSink) {
		t.Errorf("writer failing after 3000 bytes: WriteTo = %d, %v", n, err)
	}

	_, s = dial()
	s.SetReadDeadline(time.Now().Add(-time.Second)) // already passed
	if _, err := io.Copy(io.Discard, s); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("past read deadline: %v, want os.ErrDeadlineExceeded", err)
	}

	c, s = dial()
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, s); done <- err }()
	c.(*socket.Conn).SetLinger(0)
	c.Close() // RST
	if err := <-done; !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("peer reset: %v, want ECONNRESET", err)
	}
}

// noDAD turns duplicate address detection off (RFC 4862 §5.4): the test
// stacks' IPv6 link-local addresses are usable at once, not a second or so
// after Start.
const noDAD = -1
