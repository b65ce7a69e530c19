package stack_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The socket calls on a TCP endpoint and their Linux errnos: accept,
// errors reported once, shutdown, close, and the options an accepted
// connection inherits.

// TestTCPEndpoint_Accept_QueueOrderWakeupsAndDeadConnections: accept(2)
// takes connections in the order their handshakes completed; with more
// waiting it wakes the next accepter; a connection reset while it waited
// is dropped from the queue. An accepted socket is connected: our address
// (not the listener's wildcard) is its local address, and it cannot be
// bound again.
func TestTCPEndpoint_Accept_QueueOrderWakeupsAndDeadConnections(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	notListening, _ := e.st.NewTCPEndpoint()
	defer notListening.Close()
	if _, err := notListening.Accept(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Accept on a socket that does not listen: %v, want EINVAL", err)
	}
	l := tcpListen(t, e)
	if err := l.Listen(100); err != nil {
		t.Errorf("Listen again: %v, want nil (Linux adjusts the backlog)", err)
	}
	if _, err := l.Accept(); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("Accept with an empty queue: %v, want EAGAIN", err)
	}
	handshake(t, e, peerPort)
	handshake(t, e, peerPort+1)
	if !readable(l.Readable()) {
		t.Fatal("listener not woken")
	}
	c1, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if !readable(l.Readable()) {
		t.Error("a connection is left in the queue, but Accept did not wake the next accepter")
	}
	c2, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if readable(l.Readable()) {
		t.Error("Accept took the last connection but woke another accepter")
	}
	if c1.RemoteAddr().Port() != peerPort || c2.RemoteAddr().Port() != peerPort+1 {
		t.Errorf("accepted %v then %v, want the order of the handshakes", c1.RemoteAddr(), c2.RemoteAddr())
	}
	if got := c1.LocalAddr(); got != netip.AddrPortFrom(stackIP, stackPort) {
		t.Errorf("accepted socket's local address %v, want %v", got, netip.AddrPortFrom(stackIP, stackPort))
	}
	if _, err := c1.Bind(netip.AddrPortFrom(stackIP, 3333), false); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Bind on an accepted socket: %v, want EINVAL", err)
	}
	if err := c1.Listen(1); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Listen on an accepted socket: %v, want EINVAL", err)
	}

	// Reset while waiting in the queue: dropped (Linux would hand it over
	// and let the first read report the reset).
	iss := handshake(t, e, peerPort+2)
	e.inject(tcpFrame(tcp.Segment{SrcPort: peerPort + 2, Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagRST}, nil))
	if _, err := l.Accept(); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("Accept of a connection reset in the queue: %v, want EAGAIN", err)
	}
	if n := len(e.st.TCPConnections()); n != 2 {
		t.Errorf("%d connections in the table, want the 2 accepted", n)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// TestTCPEndpoint_Errors_ReportedOnceThenEOFOrEPIPE: a connection's error
// (here ECONNRESET, RFC 9293 §3.10.7.4) is reported once, by whichever
// call comes first, as Linux's sk_err is cleared when read (sock_error);
// after it reads see the end of the stream and writes EPIPE.
func TestTCPEndpoint_Errors_ReportedOnceThenEOFOrEPIPE(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := tcpListen(t, e)
	buf := make([]byte, 10)
	reset := func(port uint16) *stack.TCPEndpoint {
		t.Helper()
		iss := handshake(t, e, port)
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.TakeError(); err != nil {
			t.Fatalf("TakeError on a healthy connection: %v", err)
		}
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagRST}, nil))
		return c
	}
	type call struct {
		name string
		do   func(c *stack.TCPEndpoint) error
	}
	read := call{"Read", func(c *stack.TCPEndpoint) error { _, err := c.Read(buf, false); return err }}
	peek := call{"Read(peek)", func(c *stack.TCPEndpoint) error { _, err := c.Read(buf, true); return err }}
	write := call{"Write", func(c *stack.TCPEndpoint) error { _, err := c.Write([]byte("x")); return err }}
	soError := call{"TakeError", func(c *stack.TCPEndpoint) error { return c.TakeError() }}
	connectResult := call{"ConnectResult", func(c *stack.TCPEndpoint) error { return c.ConnectResult() }}
	// A connect abandoned by close does not report success.
	abandoned, _ := e.st.NewTCPEndpoint()
	abandoned.Connect(netip.AddrPortFrom(peerIP, 9))
	e.nextTCP()
	abandoned.Close()
	if err := abandoned.ConnectResult(); err == nil || errors.Is(err, syscall.EINPROGRESS) {
		t.Errorf("ConnectResult after closing in SYN-SENT: %v, want an error", err)
	}
	for i, first := range []call{read, peek, write, soError, connectResult} {
		c := reset(peerPort + uint16(i))
		if err := first.do(c); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s first after the reset: %v, want ECONNRESET", first.name, err)
		}
		for _, then := range []struct {
			call
			want error
		}{{read, io.EOF}, {peek, io.EOF}, {write, syscall.EPIPE}, {soError, nil}} {
			if err := then.do(c); err != then.want {
				t.Errorf("after %s reported the reset, %s: %v, want %v", first.name, then.name, err, then.want)
			}
		}
	}
}

// TestTCPEndpoint_Shutdown_AsLinux: shutdown(2). SHUT_RD makes reads
// return the end of the stream at once; SHUT_WR sends a FIN after the
// queued data (RFC 9293 §3.10.4 CLOSE, half-close), retransmitted until
// acknowledged, and reads go on; SHUT_RDWR both. Linux's errnos for a
// socket that is not connected (ENOTCONN) and a bad how (EINVAL).
func TestTCPEndpoint_Shutdown_AsLinux(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := tcpListen(t, e)
	c, iss := acceptedOn(t, e, l, peerPort)
	fresh, _ := e.st.NewTCPEndpoint()
	defer fresh.Close()
	if err := fresh.Shutdown(syscall.SHUT_WR); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("Shutdown of an unconnected socket: %v, want ENOTCONN", err)
	}
	if _, err := fresh.Read(make([]byte, 1), false); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("Read on an unconnected socket: %v, want ENOTCONN", err)
	}
	if _, err := fresh.Write([]byte("x")); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("Write on an unconnected socket: %v, want ENOTCONN", err)
	}
	if err := fresh.TakeError(); err != nil {
		t.Errorf("TakeError (SO_ERROR) on an unconnected socket: %v, want nil", err)
	}
	for _, how := range []int{-1, 3} {
		if err := c.Shutdown(how); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Shutdown(%d): %v, want EINVAL", how, err)
		}
	}
	e.none()

	seq := peerISS + 1
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("data")))
	seq += 4
	e.drain()
	// MSG_PEEK reads without taking.
	peeked := make([]byte, 2)
	for range 2 {
		if n, err := c.Read(peeked, true); n != 2 || err != nil || string(peeked) != "da" {
			t.Fatalf("Read(peek) = %q, %v; want \"da\" and the data kept", peeked[:n], err)
		}
	}
	if err := c.Shutdown(syscall.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	fin := e.expectTCP(tcp.FlagFIN|tcp.FlagACK, iss+1, seq)
	buf := make([]byte, 10)
	if n, err := c.Read(buf, false); n != 4 || err != nil {
		t.Errorf("Read after SHUT_WR = %d, %v; want the 4 bytes waiting", n, err)
	}
	// Not acknowledged: the FIN is retransmitted (RFC 9293 §3.8.1).
	rto := e.st.TCPConnections()[0].RTO
	e.clk.Advance(rto)
	e.expectTCP(tcp.FlagFIN|tcp.FlagACK, fin.Seq, seq)

	if err := c.Shutdown(syscall.SHUT_RD); err != nil {
		t.Fatal(err)
	}
	e.none() // SHUT_RD sends nothing
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("more")))
	if n, err := c.Read(buf, false); n != 0 || err != io.EOF {
		t.Errorf("Read after SHUT_RD = %d, %v; want 0, EOF", n, err)
	}
	if n, err := c.Read(buf, true); n != 0 || err != io.EOF {
		t.Errorf("Read(peek) after SHUT_RD = %d, %v; want 0, EOF", n, err)
	}

	// SHUT_RDWR: both at once.
	c2, iss2 := acceptedOn(t, e, l, peerPort+1)
	if err := c2.Shutdown(syscall.SHUT_RDWR); err != nil {
		t.Fatalf("Shutdown(SHUT_RDWR): %v", err)
	}
	e.expectTCP(tcp.FlagFIN|tcp.FlagACK, iss2+1, peerISS+1)
	if _, err := c2.Read(buf, false); err != io.EOF {
		t.Errorf("Read after SHUT_RDWR: %v, want EOF", err)
	}
}

// TestTCPEndpoint_Close_ListenerResetsItsQueue_LingerZeroAborts: closing a
// listener resets the connections no one accepted (RFC 9293 §3.10.4;
// Linux's inet_csk_listen_stop) and frees them; close with SO_LINGER
// {on, 0} aborts with a RST (RFC 9293 §3.10.5 ABORT) where a plain close
// sends a FIN; the closed socket then refuses every call.
func TestTCPEndpoint_Close_ListenerResetsItsQueue_LingerZeroAborts(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := tcpListen(t, e)
	iss := handshake(t, e, peerPort)
	l.Close()
	e.expectTCP(tcp.FlagRST|tcp.FlagACK, iss+1, peerISS+1)
	if cs := e.st.TCPConnections(); len(cs) != 0 {
		t.Errorf("after the listener closed: connections %+v, want none", cs)
	}
	if err := l.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}

	l = tcpListen(t, e)
	iss = handshake(t, e, peerPort)
	c, _ := l.Accept()
	c.SetLingerZero(true)
	c.Close()
	e.expectTCP(tcp.FlagRST|tcp.FlagACK, iss+1, peerISS+1)
	if cs := e.st.TCPConnections(); len(cs) != 0 {
		t.Errorf("after an abortive close: connections %+v, want none", cs)
	}
	iss = handshake(t, e, peerPort+1)
	c, _ = l.Accept()
	c.SetLingerZero(true)
	c.SetLingerZero(false)
	c.Close()
	e.expectTCP(tcp.FlagFIN|tcp.FlagACK, iss+1, peerISS+1)
	for _, call := range []func() error{
		func() error { _, err := c.Read(nil, false); return err },
		func() error { _, err := c.Write([]byte("x")); return err },
		func() error { return c.Shutdown(syscall.SHUT_WR) },
		func() error { return c.Listen(1) },
		func() error { _, err := c.Accept(); return err },
	} {
		if err := call(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("call on a closed socket: %v, want net.ErrClosed", err)
		}
	}
	if !readable(c.Done()) {
		t.Error("Done not closed by Close")
	}
}

// TestTCPEndpoint_Accept_InheritsOptionsSetOnTheListener: as Linux, an
// accepted connection has the listener's options as they are when it is
// accepted, also those set after listen(2): TCP_NODELAY, SO_KEEPALIVE and
// its TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT
// (RFC 1122 §4.2.3.6 keep-alives; RFC 5482).
func TestTCPEndpoint_Accept_InheritsOptionsSetOnTheListener(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := tcpListen(t, e)
	l.SetNoDelay(true)
	l.SetKeepAlive(true)
	l.SetKeepIdle(5 * time.Minute)
	l.SetKeepInterval(7 * time.Second)
	l.SetKeepCount(3)
	l.SetUserTimeout(9 * time.Second)
	handshake(t, e, peerPort)
	c, _ := l.Accept()
	defer c.Close()
	got := c.Config()
	if !got.NoDelay || !got.KeepAlive || got.KeepIdle != 5*time.Minute || got.KeepInterval != 7*time.Second || got.KeepCount != 3 || got.UserTimeout != 9*time.Second {
		t.Errorf("accepted connection's options %+v, want the listener's", got)
	}
	// Set back after listen: the defaults are inherited again.
	l.SetNoDelay(false)
	l.SetKeepIdle(0)
	handshake(t, e, peerPort+1)
	c2, _ := l.Accept()
	defer c2.Close()
	if got := c2.Config(); got.NoDelay || got.KeepIdle != tcp.DefaultKeepIdle {
		t.Errorf("after clearing on the listener: NoDelay %v, KeepIdle %v; want false, %v", got.NoDelay, got.KeepIdle, tcp.DefaultKeepIdle)
	}
	if got := l.Config(); got.KeepIdle != tcp.DefaultKeepIdle || got.KeepCount != 3 {
		t.Errorf("listener's own options %+v", got)
	}

	// An option set before listen(2) and cleared after: the default.
	l2, _ := e.st.NewTCPEndpoint()
	defer l2.Close()
	l2.SetKeepIdle(5 * time.Minute)
	l2.Bind(netip.AddrPortFrom(stackIP, 81), false)
	l2.Listen(1)
	l2.SetKeepIdle(0)
	e.inject(tcpFrame(tcp.Segment{SrcPort: peerPort + 2, DstPort: 81, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	synack := e.nextTCP()
	e.inject(tcpFrame(tcp.Segment{SrcPort: peerPort + 2, DstPort: 81, Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c3, err := l2.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got := c3.Config().KeepIdle; got != tcp.DefaultKeepIdle {
		t.Errorf("TCP_KEEPIDLE set before listen, cleared after: child has %v, want the default %v", got, tcp.DefaultKeepIdle)
	}
}

// TestTCPEndpoint_Accept_KeepAliveUnderWayUndisturbed: accepting a
// connection whose keep-alive options the listener has not changed leaves
// its probes (RFC 1122 §4.2.3.6) on the schedule they had: Linux sets a
// child's options when it is created, and accept(2) touches no timer. A
// connection that waited in the accept queue while its idle peer was
// probed gets its next probe a TCP_KEEPINTVL after the last, not one at
// accept. Both with the default TCP_KEEPIDLE and with one set on the
// listener before listen(2).
func TestTCPEndpoint_Accept_KeepAliveUnderWayUndisturbed(t *testing.T) {
	for _, idle := range []time.Duration{0, 10 * time.Second} {
		e := newEnv(t, longARP)
		e.learnPeer()
		l, _ := e.st.NewTCPEndpoint()
		defer l.Close()
		l.SetKeepAlive(true)
		l.SetKeepIdle(idle)
		l.Bind(netip.AddrPortFrom(stackIP, stackPort), false)
		l.Listen(1)
		iss := handshake(t, e, peerPort)
		if idle == 0 {
			idle = tcp.DefaultKeepIdle
		}
		e.clk.Advance(idle)
		e.expectTCP(tcp.FlagACK, iss, peerISS+1) // the first probe, from the accept queue
		e.clk.Advance(tcp.DefaultKeepInterval / 2)
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		e.clk.Advance(time.Millisecond)
		if f, ok := e.peer.TryRead(); ok {
			t.Fatalf("KEEPIDLE %v: accept sent %d bytes at once; want the next probe a KEEPINTVL after the first", idle, len(f))
		}
		e.clk.Advance(tcp.DefaultKeepInterval/2 - time.Millisecond)
		e.expectTCP(tcp.FlagACK, iss, peerISS+1)
	}
}
