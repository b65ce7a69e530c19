package stack_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// The stack's TCP endpoints, used directly: their non-blocking calls,
// and the notifications (Readable, Writable, Done) on which package
// socket blocks. Every notification a blocked call needs must come, or
// the call sleeps forever; these tests take them from the channels.

// tcpListen opens an endpoint listening on stackPort.
func tcpListen(t *testing.T, e *env) *stack.TCPEndpoint {
	t.Helper()
	l, err := e.st.NewTCPEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), stackPort), false); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(8); err != nil {
		t.Fatal(err)
	}
	return l
}

// handshake completes a passive open from the peer's port and returns the
// stack's ISS (the connection waits in the listener's accept queue).
func handshake(t *testing.T, e *env, port uint16) seqnum.Value {
	t.Helper()
	e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	synack := e.nextTCP()
	if synack.Flags != tcp.FlagSYN|tcp.FlagACK {
		t.Fatalf("want a SYN-ACK, got %v", &synack)
	}
	e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	return synack.Seq
}

// accepted runs a passive open from peerPort and accepts it.
func accepted(t *testing.T, e *env) (*stack.TCPEndpoint, seqnum.Value) {
	t.Helper()
	e.learnPeer()
	return acceptedOn(t, e, tcpListen(t, e), peerPort)
}

// acceptedOn runs a passive open from port to l and accepts it.
func acceptedOn(t *testing.T, e *env, l *stack.TCPEndpoint, port uint16) (*stack.TCPEndpoint, seqnum.Value) {
	t.Helper()
	iss := handshake(t, e, port)
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	readable(c.Readable())
	readable(c.Writable())
	return c, iss
}

// TestTCPEndpoint_Notifications_WakeTheCallThatCanProceed: a blocked call
// proceeds only when notified. The handshake's end wakes a connect
// (writable, RFC 9293 §3.10.1) and a listener's accept (readable); data
// and the peer's FIN wake a reader; an ACK that frees send space wakes a
// writer; a reset wakes both (RFC 9293 §3.10.7.4: "all outstanding
// RECEIVEs and SEND should receive reset responses").
func TestTCPEndpoint_Notifications_WakeTheCallThatCanProceed(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := tcpListen(t, e)
	if readable(l.Readable()) {
		t.Fatal("listener readable with nothing to accept")
	}
	// A SYN alone gives nothing to accept (the connection waits in the
	// SYN queue, RFC 9293 §3.10.7.2); the ACK that completes the
	// handshake puts it in the accept queue and wakes the listener.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	synack := e.nextTCP()
	if readable(l.Readable()) {
		t.Fatal("a SYN woke the listener with nothing to accept")
	}
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	iss := synack.Seq
	if !readable(l.Readable()) {
		t.Fatal("a completed handshake did not wake the listener")
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	readable(c.Readable())
	readable(c.Writable())

	// Active open: established wakes the connect.
	a, _ := e.st.NewTCPEndpoint()
	defer a.Close()
	if err := a.Connect(netip.AddrPortFrom(peerIP, 9)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	syn := e.nextTCP()
	if readable(a.Writable()) || readable(a.Readable()) {
		t.Fatal("notified while the handshake runs")
	}
	e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: syn.SrcPort, Seq: peerISS, Ack: syn.Seq + 1, Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd}, nil))
	e.nextTCP() // the ACK
	if !readable(a.Writable()) {
		t.Fatal("the end of the handshake did not wake the connect")
	}

	// Data wakes the reader; a read that leaves data behind wakes the
	// next reader, one that takes it all does not.
	seq := peerISS + 1
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("abcd")))
	seq += 4
	if !readable(c.Readable()) {
		t.Fatal("data did not wake the reader")
	}
	buf := make([]byte, 2)
	if n, err := c.Read(buf, false); n != 2 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if !readable(c.Readable()) {
		t.Fatal("a read left data behind without waking the next reader")
	}
	if n, err := c.Read(buf, false); n != 2 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if readable(c.Readable()) {
		t.Fatal("a read that took everything woke another reader")
	}

	// A writer blocked on a full send buffer is woken by the ACK that
	// frees space.
	c.SetSndBuf(1)
	written := 0
	for {
		n, err := c.Write(make([]byte, 1000))
		written += n
		if errors.Is(err, syscall.EAGAIN) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	e.drain()
	readable(c.Writable()) // (SetSndBuf's own wake-up)
	una := iss + 1 + seqnum.Value(written)
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: una, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	if !readable(c.Writable()) {
		t.Fatal("an ACK freeing send space did not wake the writer")
	}

	// The peer's FIN wakes the reader (EOF).
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: una, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	if !readable(c.Readable()) {
		t.Fatal("the peer's FIN did not wake the reader")
	}
	if _, err := c.Read(buf, false); err != io.EOF {
		t.Fatalf("Read after FIN: %v, want EOF", err)
	}

	// A reset wakes both sides of the other connection.
	readable(a.Readable())
	readable(a.Writable())
	e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: syn.SrcPort, Seq: peerISS + 1, Flags: tcp.FlagRST}, nil))
	if !readable(a.Readable()) || !readable(a.Writable()) {
		t.Fatal("a reset did not wake both the reader and the writer")
	}
	if _, err := a.Read(buf, false); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after a reset: %v, want ECONNRESET", err)
	}
}

// TestTCPEndpoint_PollState_AsLinuxTCPPoll: poll(2) on a stream socket,
// as Linux's tcp_poll: a listener is readable with a connection to
// accept; a connection is writable once synchronized with send space,
// readable with data, at EOF, after SHUT_RD or with an error (readable
// and writable then), and hung up in CLOSED or TIME-WAIT; a socket that
// never connected hangs up.
func TestTCPEndpoint_PollState_AsLinuxTCPPoll(t *testing.T) {
	type state struct{ r, w, hup, err bool }
	poll := func(ep *stack.TCPEndpoint) state {
		r, w, hup, err := ep.PollState()
		return state{r, w, hup, err != nil}
	}
	check := func(what string, ep *stack.TCPEndpoint, want state) {
		t.Helper()
		if got := poll(ep); got != want {
			t.Errorf("%s: poll %+v, want %+v", what, got, want)
		}
	}
	e := newEnv(t)
	e.learnPeer()
	fresh, _ := e.st.NewTCPEndpoint()
	check("never connected", fresh, state{hup: true})
	l := tcpListen(t, e)
	check("listener, empty queue", l, state{})
	iss := handshake(t, e, peerPort)
	check("listener, a connection to accept", l, state{r: true})
	c, _ := l.Accept()
	defer c.Close()
	check("established", c, state{w: true})
	seq := peerISS + 1
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("x")))
	seq++
	check("data waiting", c, state{r: true, w: true})
	c.Read(make([]byte, 1), false)
	check("data read", c, state{w: true})
	c.Shutdown(syscall.SHUT_RD)
	check("after SHUT_RD", c, state{r: true, w: true})

	a, _ := e.st.NewTCPEndpoint()
	defer a.Close()
	a.Connect(netip.AddrPortFrom(peerIP, 9))
	syn := e.nextTCP()
	check("SYN-SENT", a, state{})
	e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: syn.SrcPort, Seq: peerISS, Ack: syn.Seq + 1, Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd}, nil))
	check("established by connect", a, state{w: true})
	e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: syn.SrcPort, Seq: peerISS + 1, Ack: syn.Seq + 1, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	check("peer's FIN (CLOSE-WAIT)", a, state{r: true, w: true})
	e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: syn.SrcPort, Seq: peerISS + 2, Flags: tcp.FlagRST}, nil))
	check("reset", a, state{r: true, w: true, hup: true, err: true})

	// Simultaneous open (RFC 9293 §3.5, figure 8): SYN-SENT, the peer's
	// SYN, SYN-RECEIVED: still not synchronized.
	e.drain()
	so, _ := e.st.NewTCPEndpoint()
	defer so.Close()
	so.Connect(netip.AddrPortFrom(peerIP, 10))
	syn = e.nextTCP()
	e.inject(tcpFrame(tcp.Segment{SrcPort: 10, DstPort: syn.SrcPort, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	if synack := e.nextTCP(); synack.Flags != tcp.FlagSYN|tcp.FlagACK {
		t.Fatalf("simultaneous open: sent %v, want a SYN-ACK", &synack)
	}
	check("SYN-RECEIVED", so, state{})
	e.inject(tcpFrame(tcp.Segment{SrcPort: 10, DstPort: syn.SrcPort, Seq: peerISS + 1, Ack: syn.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	check("established by simultaneous open", so, state{w: true})

	// Our FIN, the peer's ACK and FIN: TIME-WAIT, with the socket open.
	c.Shutdown(syscall.SHUT_WR)
	fin := e.nextTCP()
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: fin.Seq + 1, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	check("TIME-WAIT", c, state{r: true, w: true, hup: true})
	c.Close()
	check("closed", c, state{hup: true})
}

// TestTCPEndpoint_ShutdownWrite_WritableAtOnceWithEPIPE: after
// shutdown(SHUT_WR) a write fails at once with EPIPE (RFC 9293 §3.10.2:
// "error: connection closing"), so as Linux (tcp_poll reports EPOLLOUT
// once SEND_SHUTDOWN is set; sk_stream_wait_memory returns EPIPE) a
// writer blocked on a full send buffer is woken, and poll says writable.
func TestTCPEndpoint_ShutdownWrite_WritableAtOnceWithEPIPE(t *testing.T) {
	e := newEnv(t)
	c, _ := accepted(t, e)
	c.SetSndBuf(1)
	for {
		if _, err := c.Write(make([]byte, 1000)); errors.Is(err, syscall.EAGAIN) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	readable(c.Writable())
	if _, w, _, _ := c.PollState(); w {
		t.Fatal("writable with the send buffer full")
	}
	if err := c.Shutdown(syscall.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if !readable(c.Writable()) {
		t.Error("shutdown(SHUT_WR) did not wake a writer blocked on the full buffer")
	}
	if _, w, _, _ := c.PollState(); !w {
		t.Error("not writable after shutdown(SHUT_WR), though a write fails at once")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Write after shutdown(SHUT_WR): %v, want EPIPE", err)
	}
}

// TestTCPEndpoint_Bind_AsLinux: bind(2) on a stream socket, with Linux's
// errnos: our address or the wildcard; a port in use only when every
// socket on it set SO_REUSEADDR and none listens (inet_csk_bind_conflict);
// the port is free again once the last socket on it closes.
func TestTCPEndpoint_Bind_AsLinux(t *testing.T) {
	e := newEnv(t)
	open := func() *stack.TCPEndpoint {
		ep, err := e.st.NewTCPEndpoint()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Close() })
		return ep
	}
	bind := func(ep *stack.TCPEndpoint, a netip.AddrPort, reuse bool) error {
		got, err := ep.Bind(a, reuse)
		if err == nil && (got.Port() != a.Port() && a.Port() != 0 || got.Addr() != a.Addr()) {
			t.Errorf("Bind(%v) bound %v", a, got)
		}
		return err
	}
	at := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(stackIP, port) }
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"our address", bind(open(), at(1000), false), nil},
		{"another host's address", bind(open(), netip.AddrPortFrom(otherIP, 1001), false), syscall.EADDRNOTAVAIL},
		{"an IPv6 address", bind(open(), netip.MustParseAddrPort("[fd00::2]:1002"), false), syscall.EAFNOSUPPORT},
		{"a port in use", bind(open(), at(1000), true), syscall.EADDRINUSE},
	} {
		if !errors.Is(c.err, c.want) || (c.want == nil) != (c.err == nil) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	twice := open()
	bind(twice, at(1003), false)
	if err := bind(twice, at(1004), false); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("binding twice: %v, want EINVAL", err)
	}
	// __inet_bind checks the address before the socket's state: binding
	// again to an address that is not ours fails as a first bind would.
	if err := bind(twice, netip.AddrPortFrom(otherIP, 1004), false); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("binding twice, to another host's address: %v, want EADDRNOTAVAIL", err)
	}
	if err := bind(twice, netip.MustParseAddrPort("[fd00::2]:1004"), false); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("binding twice, to an IPv6 address: %v, want EAFNOSUPPORT", err)
	}

	// SO_REUSEADDR on both: shared. Closing one keeps the port in use for
	// a socket without it; closing the last frees it.
	a, b := open(), open()
	if err := bind(a, at(2000), true); err != nil {
		t.Fatal(err)
	}
	if err := bind(b, at(2000), true); err != nil {
		t.Errorf("second SO_REUSEADDR socket: %v, want it to share the port", err)
	}
	a.Close()
	if err := bind(open(), at(2000), false); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("without SO_REUSEADDR while one is still bound: %v, want EADDRINUSE", err)
	}
	b.Close()
	if err := bind(open(), at(2000), false); err != nil {
		t.Errorf("after the last socket on the port closed: %v", err)
	}
	// One without SO_REUSEADDR: the port is not shared.
	if err := bind(open(), at(2001), false); err != nil {
		t.Fatal(err)
	}
	if err := bind(open(), at(2001), true); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("SO_REUSEADDR against a socket without it: %v, want EADDRINUSE", err)
	}
	// A listener: not shared even with SO_REUSEADDR on both.
	l := open()
	bind(l, at(2002), true)
	if err := l.Listen(1); err != nil {
		t.Fatal(err)
	}
	if err := bind(open(), at(2002), true); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("SO_REUSEADDR on a listening port: %v, want EADDRINUSE", err)
	}
	// Two sharing a port by SO_REUSEADDR: only one may listen on it (Linux
	// checks the conflict again in inet_csk_listen_start).
	r1, r2 := open(), open()
	bind(r1, at(2003), true)
	bind(r2, at(2003), true)
	if err := r1.Listen(1); err != nil {
		t.Fatal(err)
	}
	if err := r2.Listen(1); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("listen on a port another socket listens on: %v, want EADDRINUSE", err)
	}
	// Port 0 picks a free ephemeral port (RFC 6056), never the listener's.
	eph := open()
	got, err := eph.Bind(netip.AddrPort{}, false)
	if err != nil || got.Port() == 0 || got.Port() == 2002 || got.Addr() != netip.IPv4Unspecified() {
		t.Errorf("Bind(port 0) = %v, %v; want an ephemeral port on 0.0.0.0", got, err)
	}
	eph.Close()
	if _, err := eph.Bind(at(3000), false); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Bind after Close: %v, want net.ErrClosed", err)
	}
}

// TestTCPEndpoint_Connect_ErrnosAsLinux: connect(2) refusals with Linux's
// errnos, and a connection's 4-tuple is unique (EADDRNOTAVAIL, as Linux's
// __inet_hash_connect for a bound port).
func TestTCPEndpoint_Connect_ErrnosAsLinux(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	ep := func() *stack.TCPEndpoint {
		c, _ := e.st.NewTCPEndpoint()
		t.Cleanup(func() { c.Close() })
		return c
	}
	remote := netip.AddrPortFrom(peerIP, 9)
	for _, c := range []struct {
		name string
		to   netip.AddrPort
		want error
	}{
		{"IPv6", netip.MustParseAddrPort("[fd00::1]:9"), syscall.EAFNOSUPPORT},
		{"subnet broadcast", netip.MustParseAddrPort("10.0.0.255:9"), syscall.ENETUNREACH},
		{"limited broadcast", netip.MustParseAddrPort("255.255.255.255:9"), syscall.ENETUNREACH},
		{"multicast", netip.MustParseAddrPort("224.0.0.1:9"), syscall.ENETUNREACH},
		{"unspecified", netip.MustParseAddrPort("0.0.0.0:9"), syscall.ENETUNREACH},
		{"port 0", netip.AddrPortFrom(peerIP, 0), syscall.ECONNREFUSED},
	} {
		if err := ep().Connect(c.to); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	e.none()
	if got := e.st.Stats().TCP.ActiveOpens; got != 0 {
		t.Errorf("ActiveOpens = %d after refused connects", got)
	}

	l := ep()
	l.Listen(1)
	if err := l.Connect(remote); !errors.Is(err, syscall.EISCONN) {
		t.Errorf("connect on a listener: %v, want EISCONN", err)
	}
	a := ep()
	if err := a.Connect(remote); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("connect: %v", err)
	}
	syn := e.nextTCP()
	if err := a.Connect(remote); !errors.Is(err, syscall.EALREADY) {
		t.Errorf("connect again in SYN-SENT: %v, want EALREADY", err)
	}
	e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: syn.SrcPort, Seq: peerISS, Ack: syn.Seq + 1, Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd}, nil))
	if err := a.Connect(remote); !errors.Is(err, syscall.EISCONN) {
		t.Errorf("connect again once established: %v, want EISCONN", err)
	}

	// Two SO_REUSEADDR sockets on one port: the second connect to the
	// same peer would duplicate the 4-tuple.
	b1, b2 := ep(), ep()
	b1.Bind(netip.AddrPortFrom(stackIP, 5000), true)
	b2.Bind(netip.AddrPortFrom(stackIP, 5000), true)
	if err := b1.Connect(remote); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("first connect from port 5000: %v", err)
	}
	if err := b2.Connect(remote); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("second connect with the same 4-tuple: %v, want EADDRNOTAVAIL", err)
	}
	if got := e.st.Stats().TCP.ActiveOpens; got != 2 {
		t.Errorf("ActiveOpens = %d, want 2", got)
	}
	closed := ep()
	closed.Close()
	if err := closed.Connect(remote); !errors.Is(err, net.ErrClosed) {
		t.Errorf("connect after Close: %v, want net.ErrClosed", err)
	}
	if err := closed.ConnectResult(); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("ConnectResult with no connection: %v, want ENOTCONN", err)
	}
}

// TestTCPEndpoint_EphemeralPorts_NeverInUse_ExhaustedAsLinux: port 0 picks
// an ephemeral port no socket holds (RFC 6056 §3.3.1: the search goes on
// past ports in use); with every one of 32768-60999 taken, bind fails with
// EADDRINUSE (Linux's inet_csk_get_port), listen likewise, and connect
// with EADDRNOTAVAIL (inet_hash_connect; connect(2)).
func TestTCPEndpoint_EphemeralPorts_NeverInUse_ExhaustedAsLinux(t *testing.T) {
	e := newEnv(t)
	const free = 40000
	for port := 32768; port <= 60999; port++ {
		if port == free {
			continue
		}
		ep, _ := e.st.NewTCPEndpoint()
		defer ep.Close()
		if _, err := ep.Bind(netip.AddrPortFrom(stackIP, uint16(port)), false); err != nil {
			t.Fatalf("Bind(%d): %v", port, err)
		}
		if port == 50000 {
			ep.Listen(1) // a listener holds its port too
		}
	}
	last, _ := e.st.NewTCPEndpoint()
	defer last.Close()
	if got, err := last.Bind(netip.AddrPort{}, false); err != nil || got.Port() != free {
		t.Fatalf("Bind(port 0) with one ephemeral port free = %v, %v; want port %d", got, err, free)
	}
	ep, _ := e.st.NewTCPEndpoint()
	defer ep.Close()
	if _, err := ep.Bind(netip.AddrPort{}, false); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Bind(port 0) with none free: %v, want EADDRINUSE", err)
	}
	if err := ep.Listen(1); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Listen on an unbound socket with none free: %v, want EADDRINUSE", err)
	}
	if err := ep.Connect(netip.AddrPortFrom(peerIP, 80)); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("Connect on an unbound socket with none free: %v, want EADDRNOTAVAIL", err)
	}
	e.none()
}
