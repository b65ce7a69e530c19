package stack_test

import (
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// The stack's TCP glue, rule by rule: the connection table's TIME-WAIT
// entries, ICMP errors and soft errors, notifications, the debug log, and
// the endpoint calls on a connection that has left the table. Found by the
// clause mutator (test/mutation/clauses) over tcp.go and tcp_endpoint.go.

// activeOpenToTimeWait opens a connection from a to the peer's port 9 (no
// listener of ours is involved), sends our FIN (closing a if closeSocket,
// else SHUT_WR) and plays the peer's ACK and FIN: the connection ends in
// TIME-WAIT, compact if the socket closed. It returns the local port, the
// stack's ISS and the stack's last ACK as a datagram.
func activeOpenToTimeWait(t *testing.T, e *env, a *stack.TCPEndpoint, closeSocket bool) (uint16, seqnum.Value, ipv4.Header) {
	t.Helper()
	if err := a.Connect(netip.AddrPortFrom(peerIP, 9)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	syn := e.nextTCP()
	port, iss := syn.SrcPort, syn.Seq
	e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: port, Seq: peerISS, Ack: iss + 1, Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagACK, iss+1, peerISS+1)
	if closeSocket {
		a.Close()
	} else if err := a.Shutdown(syscall.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	e.expectTCP(tcp.FlagFIN|tcp.FlagACK, iss+1, peerISS+1)
	e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: port, Seq: peerISS + 1, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	last := e.nextTCPDatagram()
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateTimeWait {
		t.Fatalf("connections %+v, want one in TIME-WAIT", cs)
	}
	return port, iss, last
}

// TestTCPClauses_TimeWait_NewSYNWithoutListener_ReACKed: a SYN that could
// reopen a connection in TIME-WAIT (RFC 6191 §2, RFC 1122 §4.2.2.13) only
// reopens it when a listener on the port can take the new incarnation.
// With none, Linux's tcp_v4_rcv (TCP_TW_SYN, no listener found) answers as
// for any other segment in TIME-WAIT: the TIME-WAIT ACK (RFC 9293
// §3.10.7.4), and the old connection stays. Both forms of the entry:
// compact (socket closed) and full (socket still open).
func TestTCPClauses_TimeWait_NewSYNWithoutListener_ReACKed(t *testing.T) {
	for _, closeSocket := range []bool{true, false} {
		e := newEnv(t, noARPExpiry)
		e.learnPeer()
		a, _ := e.st.NewTCPEndpoint()
		defer a.Close()
		port, iss, _ := activeOpenToTimeWait(t, e, a, closeSocket)
		e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: port, Seq: peerISS + 100_000, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
		if s := e.nextTCP(); s.Flags != tcp.FlagACK || s.Seq != iss+2 || s.Ack != peerISS+2 {
			t.Fatalf("socket closed %v: a new SYN in TIME-WAIT with no listener drew %v, want the TIME-WAIT ACK", closeSocket, &s)
		}
		if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateTimeWait {
			t.Fatalf("socket closed %v: connections %+v, want the TIME-WAIT entry kept", closeSocket, cs)
		}
		if st := e.st.Stats().TCP; st.TimeWaitReused != 0 || st.OutRsts != 0 {
			t.Fatalf("socket closed %v: TimeWaitReused %d OutRsts %d, want 0, 0", closeSocket, st.TimeWaitReused, st.OutRsts)
		}
	}
}

// TestTCPClauses_TimeWait_ReopenISSFollowsTheClock: the new incarnation's
// ISS is the floor above the old sequence space only when the ISN clock
// has not passed it (RFC 1122 §4.2.2.13); otherwise it is the ISN of RFC
// 6528 §3 for the 4-tuple, which advances one per 4 µs.
func TestTCPClauses_TimeWait_ReopenISSFollowsTheClock(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, iss := established(t, e)
	activeCloseToTimeWait(t, e, c, iss, tcp.Options{})
	e.clk.Advance(10 * time.Second) // 2.5M ticks: far past the floor, iss+2+65537
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 100_000, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	s := e.nextTCP()
	if want := iss + seqnum.Value(10*time.Second/(4*time.Microsecond)); s.Flags != tcp.FlagSYN|tcp.FlagACK || s.Seq != want {
		t.Fatalf("new SYN 10 s into TIME-WAIT drew %v, want a SYN-ACK with the clock's ISS %d", &s, want)
	}
}

// TestTCPClauses_TimeWait_ICMPErrorDroppedUncounted: an ICMP error about a
// connection in TIME-WAIT is dropped before any check, uncounted (Linux's
// tcp_v4_err returns at once for a TIME-WAIT socket), here with the socket
// still open (the full Conn kept in TIME-WAIT).
func TestTCPClauses_TimeWait_ICMPErrorDroppedUncounted(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	e.learnPeer()
	a, _ := e.st.NewTCPEndpoint()
	defer a.Close()
	_, _, last := activeOpenToTimeWait(t, e, a, false)
	e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, last))
	if st := e.st.Stats().TCP; st.OutOfWindowICMPs != 0 || st.ICMPErrors != 0 {
		t.Fatalf("OutOfWindowICMPs %d ICMPErrors %d, want 0, 0", st.OutOfWindowICMPs, st.ICMPErrors)
	}
}

// TestTCPClauses_FragNeededLeavesNoSoftError: "fragmentation needed" is
// handled by lowering the MSS (RFC 1191 §6.4) and leaves no soft error
// behind (RFC 1122 §4.2.3.9 is about the errors that report a problem):
// a connection that later times out reports ETIMEDOUT.
func TestTCPClauses_FragNeededLeavesNoSoftError(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, _ := established(t, e)
	c.Send([]byte("hello"), 0)
	e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodeFragNeeded, 1000, e.nextTCPDatagram()))
	if st := e.st.Stats().TCP; st.ICMPErrors != 1 {
		t.Fatalf("ICMPErrors %d, want 1 (the message accepted)", st.ICMPErrors)
	}
	giveUp(e)
	if _, err := c.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Recv after the timeout: %v, want ETIMEDOUT", err)
	}
}

// TestTCPClauses_Events_WakeOnlyTheirSide: data wakes the reader and not
// the writer; an ACK freeing send space wakes the writer and not the
// reader; a timer that only sends (the delayed ACK, RFC 1122 §4.2.3.2)
// wakes no one. (A spurious wake-up costs a blocked call a useless turn.)
func TestTCPClauses_Events_WakeOnlyTheirSide(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, iss := accepted(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("ab")))
	if !readable(c.Readable()) {
		t.Fatal("data did not wake the reader")
	}
	if readable(c.Writable()) {
		t.Fatal("data woke the writer")
	}
	if n, err := c.Read(make([]byte, 10), false); n != 2 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	readable(c.Readable())
	e.clk.Advance(time.Second) // the delayed ACK goes
	if s := e.nextTCP(); s.Flags != tcp.FlagACK || s.Ack != peerISS+3 {
		t.Fatalf("want the delayed ACK of the data, got %v", &s)
	}
	if readable(c.Readable()) || readable(c.Writable()) {
		t.Fatal("the delayed-ACK timer woke a call that cannot proceed")
	}
	if n, err := c.Write([]byte("xyz")); n != 3 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	e.drain()
	readable(c.Writable())
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 3, Ack: iss + 4, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	if !readable(c.Writable()) {
		t.Fatal("an ACK freeing send space did not wake the writer")
	}
	if readable(c.Readable()) {
		t.Fatal("an ACK woke the reader with nothing to read")
	}
}

// TestTCPClauses_DebugLog_PassiveCloseEndsInLastACK: the state records of
// a passive close end LAST-ACK → CLOSED (RFC 9293 §3.6); the TIME-WAIT →
// CLOSED record belongs to a compact TIME-WAIT entry only.
func TestTCPClauses_DebugLog_PassiveCloseEndsInLastACK(t *testing.T) {
	e, rec := newDebugEnv(t, slog.LevelDebug, noARPExpiry)
	c, iss := established(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	e.drain()
	c.Close()
	e.expectTCP(tcp.FlagFIN|tcp.FlagACK, iss+1, peerISS+2)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 2, Ack: iss + 2, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	if cs := e.st.TCPConnections(); len(cs) != 0 {
		t.Fatalf("connections %+v after the last ACK", cs)
	}
	got := rec.take("tcp state")
	if len(got) == 0 || !strings.HasSuffix(got[len(got)-1], "from=LAST-ACK to=CLOSED") {
		t.Fatalf("state records:\n%s\nwant the last LAST-ACK → CLOSED", strings.Join(got, "\n"))
	}
	for _, r := range got {
		if strings.Contains(r, "from=TIME-WAIT") {
			t.Fatalf("a passive close logged %q", r)
		}
	}
}

// TestTCPClauses_CallsAfterReset_AsLinux: once a reset ended the
// connection (it left the table; the socket keeps it for its error), the
// calls still answer as Linux's: the read reports ECONNRESET once,
// shutdown(2) is ENOTCONN (inet_shutdown on TCP_CLOSE), options can still
// be set and read back, and the addresses stay.
func TestTCPClauses_CallsAfterReset_AsLinux(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, _ := accepted(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Flags: tcp.FlagRST}, nil))
	if _, err := c.Read(make([]byte, 10), false); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after a reset: %v, want ECONNRESET", err)
	}
	if err := c.Shutdown(syscall.SHUT_WR); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("Shutdown(SHUT_WR) after a reset: %v, want ENOTCONN", err)
	}
	c.SetKeepAlive(true)
	c.SetNoDelay(true)
	if cfg := c.Config(); !cfg.KeepAlive || !cfg.NoDelay {
		t.Fatalf("options set after a reset read back KeepAlive %v NoDelay %v", cfg.KeepAlive, cfg.NoDelay)
	}
	if l, r := c.LocalAddr(), c.RemoteAddr(); l != netip.AddrPortFrom(stackIP, stackPort) || r != netip.AddrPortFrom(peerIP, peerPort) {
		t.Fatalf("addresses after a reset %v, %v", l, r)
	}
	e.none()
}

// TestTCPClauses_ListenerClose_ResetsQueuedSkipsTheDead: closing a
// listener resets the connections waiting in its accept queue (Linux's
// inet_csk_listen_stop); one the peer already reset while it waited is
// skipped, and the close succeeds.
func TestTCPClauses_ListenerClose_ResetsQueuedSkipsTheDead(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	e.learnPeer()
	l := tcpListen(t, e)
	handshake(t, e, peerPort)
	iss2 := handshake(t, e, peerPort+1)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Flags: tcp.FlagRST}, nil))
	if cs := e.st.TCPConnections(); len(cs) != 1 {
		t.Fatalf("connections %+v, want the one not reset", cs)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s := e.nextTCP(); s.Flags&tcp.FlagRST == 0 || s.DstPort != peerPort+1 || s.Seq != iss2+1 {
		t.Fatalf("closing the listener sent %v, want a RST to the queued connection", &s)
	}
	e.none()
}

// TestTCPClauses_Bind_AcceptedConnectionsHoldNoBindReference: an accepted
// connection shares its listener's port without a bind of its own, so
// closing it releases nothing: the listener still holds the port
// (EADDRINUSE, as Linux). And it does not stop a later SO_REUSEADDR bind
// once the listener is gone (Linux: the child inherits the listener's
// sk_reuse, and a reusing socket that does not listen conflicts with none).
func TestTCPClauses_Bind_AcceptedConnectionsHoldNoBindReference(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	e.learnPeer()
	l := tcpListen(t, e)
	c, _ := acceptedOn(t, e, l, peerPort)
	c.Close()
	e.drain() // its FIN
	b, _ := e.st.NewTCPEndpoint()
	defer b.Close()
	if _, err := b.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), stackPort), false); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Bind to the listener's port after its accepted connection closed: %v, want EADDRINUSE", err)
	}

	// A listener that set SO_REUSEADDR, with a connection still open
	// after it closed.
	e = newEnv(t, noARPExpiry)
	e.learnPeer()
	a, _ := e.st.NewTCPEndpoint()
	if _, err := a.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), stackPort), true); err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(8); err != nil {
		t.Fatal(err)
	}
	acceptedOn(t, e, a, peerPort)
	a.Close()
	for i := range 2 {
		r, _ := e.st.NewTCPEndpoint()
		defer r.Close()
		if _, err := r.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), stackPort), true); err != nil {
			t.Fatalf("SO_REUSEADDR bind #%d beside an accepted connection: %v", i+1, err)
		}
	}
}

// TestTCPClauses_Addrs_BeforeConnecting: getsockname of a bound socket is
// its bound address (the wildcard stays the wildcard); getpeername of an
// unconnected one is the zero address (ENOTCONN in package socket).
func TestTCPClauses_Addrs_BeforeConnecting(t *testing.T) {
	e := newEnv(t)
	ep, _ := e.st.NewTCPEndpoint()
	defer ep.Close()
	want := netip.AddrPortFrom(netip.IPv4Unspecified(), 5555)
	if _, err := ep.Bind(want, false); err != nil {
		t.Fatal(err)
	}
	if got := ep.LocalAddr(); got != want {
		t.Fatalf("LocalAddr = %v, want %v", got, want)
	}
	if got := ep.RemoteAddr(); got.IsValid() {
		t.Fatalf("RemoteAddr = %v, want none", got)
	}
}
