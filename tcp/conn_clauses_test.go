package tcp

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"
)

// Rules of the user calls (RFC 9293 §3.10, Linux's errno and setsockopt
// behaviour) that the clause mutator found untested (test/MUTATION.md).

// RFC 9293 §3.10.1 OPEN in any state but CLOSED: "error: connection already
// exists". A connection that was reset is CLOSED but was connected: Linux's
// connect() on it is EISCONN (the socket stays SS_CONNECTED), and no SYN
// leaves.
func TestConnect_OnceConnected_EISCONN(t *testing.T) {
	h := newEstablished(t, Config{})
	if err := h.c.Connect(h.now); !errors.Is(err, syscall.EISCONN) {
		t.Fatalf("Connect in ESTABLISHED: %v, want EISCONN", err)
	}
	h.in(h.seg(FlagRST))
	h.expectState(StateClosed)
	if err := h.c.Connect(h.now); !errors.Is(err, syscall.EISCONN) {
		t.Fatalf("Connect after a reset: %v, want EISCONN", err)
	}
	h.expect()
	h.expectState(StateClosed)
}

// A Write of 0 bytes on an open connection returns 0 and no error, as
// Linux's tcp_sendmsg (its copy loop never runs), and sends nothing.
func TestWrite_ZeroBytes_ZeroNoError(t *testing.T) {
	h := newEstablished(t, Config{})
	if n, err := h.c.Write(nil, h.now); n != 0 || err != nil {
		t.Fatalf("Write(nil): %d, %v; want 0, nil", n, err)
	}
	h.expect()
}

// A Read of 0 bytes answers as Linux's tcp_recvmsg for recv(fd, buf, 0):
// 0 and no error while data is queued (the data stays), otherwise what a
// Read of more would say: EAGAIN, then the sticky error or EOF.
func TestRead_ZeroBytes_ReportsWhatAReadWould(t *testing.T) {
	h := newEstablished(t, Config{})
	if _, err := h.c.Read(nil, h.now); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Read(nil) with nothing queued: %v, want EAGAIN", err)
	}
	h.in(h.data([]byte("abc")))
	if n, err := h.c.Read(nil, h.now); n != 0 || err != nil || h.c.Readable() != 3 {
		t.Fatalf("Read(nil) with 3 bytes queued: %d, %v, %d left; want 0, nil, 3", n, err, h.c.Readable())
	}
	h.in(h.seg(FlagFIN | FlagACK))
	h.readAll()
	if _, err := h.c.Read(nil, h.now); err != io.EOF {
		t.Fatalf("Read(nil) after the FIN: %v, want io.EOF", err)
	}
	if _, err := h.c.Peek(nil); err != io.EOF {
		t.Fatalf("Peek(nil) after the FIN: %v, want io.EOF", err)
	}

	h = newEstablished(t, Config{})
	h.in(h.seg(FlagRST))
	if _, err := h.c.Read(nil, h.now); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read(nil) after a reset: %v, want ECONNRESET", err)
	}
}

// Shutdown in SYN-SENT queues the FIN (RFC 9293 §3.10.4) and closes the
// sending side at once: Write is EPIPE (§3.10.2 "error: connection
// closing"), so Writable offers no room although the buffer is empty.
func TestSynSent_ShutdownQueued_NotWritable(t *testing.T) {
	h := newSynSent(t, Config{})
	if h.c.Writable() == 0 {
		t.Fatal("SYN-SENT: Writable 0 before Shutdown (data is queued for after the handshake)")
	}
	h.c.Shutdown(h.now)
	if n := h.c.Writable(); n != 0 || !h.c.WriteClosed() {
		t.Fatalf("after Shutdown in SYN-SENT: Writable %d, WriteClosed %v; want 0, true", n, h.c.WriteClosed())
	}
	if _, err := h.c.Write([]byte("x"), h.now); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after Shutdown: %v, want EPIPE", err)
	}
}

// Deviation (Linux compat): an orphaned FIN-WAIT-2 is abandoned
// Config.TimeWait after Close (tcp_fin_timeout, counted from tcp_close).
// Calling Close again does not postpone it.
func TestFinWait2_CloseTwice_TimeoutFromTheFirstClose(t *testing.T) {
	h := newFinWait2(t, Config{})
	h.c.Close(h.now)
	h.at(30 * time.Second)
	if err := h.c.Close(h.now); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	h.fire(60 * time.Second)
	h.expect("RST|ACK seq=1002 ack=5001")
	h.expectState(StateClosed)
}

// Linux's tcp_set_congestion_control: "No change asking for existing
// value". Setting the algorithm a connection already runs keeps its state:
// here Reno's congestion-avoidance byte count (RFC 3465 §2.1), so cwnd
// still grows by one MSS once a cwnd of data is acknowledged.
func TestSetCongestion_SameAlgorithm_KeepsItsState(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 1 << 20})
	setWindow(h.c, 14600, 14600) // congestion avoidance
	h.c.Write(bytesN(40*1460), h.now)
	h.out.take()
	a := h.seg(FlagACK)
	for i := 1; i <= 10; i++ {
		a.Ack = 1001 + seqnumSize(i*1460)
		h.in(a)
		if i == 5 {
			if err := h.c.SetCongestion("reno"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if cwnd := h.c.Info().Cwnd; cwnd != 14600+1460 {
		t.Fatalf("cwnd %d after a cwnd of data acknowledged, want %d", cwnd, 14600+1460)
	}
}

// SO_KEEPALIVE (Linux's tcp_set_keepalive): only turning it on arms the
// timer, and only in a connected state (not CLOSE or LISTEN). Setting it
// on again when it is on changes nothing: the first probe stays KeepIdle
// after the last segment.
func TestSetKeepAlive_OnlyTurningItOnInAConnectedStateArms(t *testing.T) {
	h := newHarness(t, Config{})
	h.c.SetKeepAlive(true, h.now)
	h.noDeadline() // CLOSED: nothing to probe

	h = newEstablished(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second})
	h.at(5 * time.Second)
	h.c.SetKeepAlive(true, h.now)
	h.fire(10 * time.Second)
	h.expect("ACK seq=1000 ack=5001")
}

// TCP_KEEPIDLE (Linux's tcp_sock_set_keepidle_locked) re-arms the timer
// only with keep-alive on in a connected state, for the new idle time
// counted from the last segment received (not from now).
func TestSetKeepIdle_RearmsOnlyWithKeepAliveOn_FromTheLastSegment(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.SetKeepIdle(10*time.Second, h.now)
	h.noDeadline() // keep-alive off

	h = newHarness(t, Config{KeepAlive: true})
	h.c.SetKeepIdle(10*time.Second, h.now)
	h.noDeadline() // CLOSED

	h = newEstablished(t, Config{KeepAlive: true}) // idle since t0
	h.at(10 * time.Minute)
	h.c.SetKeepIdle(hour, h.now)
	h.fire(hour)
	h.expect("ACK seq=1000 ack=5001")
}

// The error a connection failed with is sticky (Err, Read, Write): a
// later ABORT of the CLOSED connection does not clear it.
func TestErr_StickyThroughAbort(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.seg(FlagRST))
	h.c.Abort(h.now)
	h.expect()
	if err := h.c.Err(); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Err after a reset and Abort: %v, want ECONNRESET", err)
	}
	if _, err := h.c.Write([]byte("x"), h.now); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write after a reset and Abort: %v, want ECONNRESET", err)
	}
}

// RFC 2883 §5 undo counts the segments a D-SACK block reports; a block
// whose start is not below its end reports none (Linux's
// tcp_is_sackblock_valid refuses it), so a forged inverted block below
// the cumulative ACK undoes nothing.
func TestEstablished_InvertedDSACKBlock_UndoesNothing(t *testing.T) {
	h, _, _ := spuriousRecovery(t, Config{})
	h.at(12 * ms)
	h.in(h.sackAck(segAt(10)))
	h.in(h.sackAck(segAt(10), segAt(2), segAt(1))) // start above end
	if i := h.c.Info(); i.DSACKUndos != 0 {
		t.Fatalf("DSACKUndos %d after an inverted D-SACK block, want 0", i.DSACKUndos)
	}
}
