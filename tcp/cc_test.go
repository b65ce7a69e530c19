package tcp

import (
	"testing"
	"time"
)

// RFC 5681 §3.1: slow start while cwnd < ssthresh, congestion avoidance
// when cwnd > ssthresh; at equality either may be used. Like Linux
// (tcp_in_slow_start: cwnd < ssthresh), we use congestion avoidance.
func TestEstablished_CwndEqualsSsthresh_CongestionAvoidance(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 1 << 20})
	setSsthresh(h.c, h.c.cc.cwnd()) // 14600
	h.c.Write(bytesN(20*1460), h.now)
	h.out.take()
	a := h.seg(FlagACK)
	a.Ack = 1001 + 1460
	h.in(a)
	if h.c.cc.cwnd() != 14600 {
		t.Fatalf("cwnd %d after one MSS acknowledged at cwnd = ssthresh, want 14600 (no slow-start growth)", h.c.cc.cwnd())
	}
}

// newRenoInRecovery: established without SACK, ten segments sent, and
// three duplicate ACKs of the first: NewReno recovery (RFC 6582 §3.2 step
// 2) has begun and the first segment has been retransmitted.
func newRenoInRecovery(t *testing.T) *harness {
	t.Helper()
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(10*1460), h.now)
	h.out.take()
	dup := h.seg(FlagACK)
	dup.Ack = testISS + 1
	for i := 0; i < 3; i++ {
		h.in(dup)
	}
	h.expect("ACK seq=1001 ack=5001 len=1460")
	return h
}

// RFC 6582 §3.2 step 4: a partial ACK deflates cwnd by the amount
// acknowledged and "if the partial ACK acknowledges at least one SMSS of
// new data, then add back SMSS bytes": exactly one SMSS is enough.
func TestEstablished_NewRenoPartialACK_ExactlyOneMSS_AddsBackOneMSS(t *testing.T) {
	h := newRenoInRecovery(t)
	cwnd := h.c.cc.cwnd() // ssthresh + 3 MSS
	partial := h.seg(FlagACK)
	partial.Ack = 1001 + 1460
	h.in(partial)
	h.expect("ACK seq=2461 ack=5001 len=1460")
	if h.c.cc.cwnd() != cwnd {
		t.Fatalf("cwnd %d after a partial ACK of one MSS, want %d (deflated by 1460, one MSS added back)", h.c.cc.cwnd(), cwnd)
	}
	partial.Ack = 2461 + 1000
	h.in(partial)
	if h.c.cc.cwnd() != cwnd-1000 {
		t.Fatalf("cwnd %d after a partial ACK of 1000 bytes, want %d (deflated, nothing added back)", h.c.cc.cwnd(), cwnd-1000)
	}
}

// RFC 9293 §3.8.6.1: probing ends when the window opens. If it closes
// again before anything could be sent, the next probing starts from the
// base interval, not from where the last one's backoff had reached.
func TestEstablished_ZeroWindow_ReopenedThenClosed_ProbeBackoffRestarts(t *testing.T) {
	h := newZeroWindowThreeProbes(t)
	// The next probe is due at 3000 ms. At 1500 ms the peer takes the
	// probe byte and offers 128 bytes: too little to send (sender SWS
	// avoidance), but the window is open.
	h.at(1500 * ms)
	open := h.seg(FlagACK)
	open.Ack = 1002
	open.Window = 1
	h.in(open)
	h.expect()
	// At 1600 ms it closes again.
	h.at(1600 * ms)
	shut := h.seg(FlagACK)
	shut.Ack = 1002
	shut.Window = 0
	h.in(shut)
	h.fire(3000 * ms)
	h.expect("ACK seq=1002 ack=5001 len=1")
	h.in(shut)
	h.fire(3400 * ms) // the base interval again (200 ms, doubled once)
	h.expect("ACK seq=1002 ack=5001 len=1")
}

// RFC 3042 §2: limited transmit sends new data on the first two duplicate
// ACKs only, and only while FlightSize stays within cwnd + 2·SMSS. A third
// duplicate ACK that cannot start fast recovery (RFC 6582's guard: after
// a timeout, not before SND.UNA passes recover) sends nothing new.
func TestEstablished_LimitedTransmit_NotOnTheThirdDupACK(t *testing.T) {
	h := newEstablished(t, Config{DisableSACK: true, DisableTimestamps: true})
	h.c.Write(bytesN(1460), h.now)
	h.out.take()
	h.fire(200 * ms) // RTO: cwnd 1 MSS, recover = SND.NXT
	h.expect("PSH|ACK seq=1001 ack=5001 len=1460")
	h.c.Write(bytesN(5*1460), h.now) // waits: cwnd is full
	h.expect()
	dup := h.seg(FlagACK)
	dup.Ack = segAt(0)
	h.in(dup)
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(1)))
	h.in(dup)
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(2)))
	h.in(dup)
	h.expect()
	if h.c.inRecovery {
		t.Fatal("fast recovery entered below recover (RFC 6582 §3.2 step 2)")
	}
}

// RFC 3042 §2: no limited transmit while FlightSize exceeds cwnd + 2·SMSS,
// as it does when NewReno recovery ends (cwnd deflates to ssthresh) with
// much new data in flight.
func TestEstablished_LimitedTransmit_NotBeyondCwndPlusTwoSegments(t *testing.T) {
	h := newRenoInRecovery(t) // 10 segments out, cwnd 7300 + 3·1460
	h.c.Write(bytesN(20*1460), h.now)
	h.out.take()
	dup := h.seg(FlagACK)
	dup.Ack = testISS + 1
	for i := 0; i < 12; i++ { // inflation: 10 new segments go out
		h.in(dup)
	}
	if n := len(h.out.take()); n != 10 {
		t.Fatalf("%d new segments during recovery, want 10", n)
	}
	full := h.seg(FlagACK)
	full.Ack = segAt(10) // recover: recovery ends, cwnd = ssthresh = 7300
	h.in(full)
	h.out.take()
	if h.c.inRecovery || h.c.cc.cwnd() != 7300 || h.c.flightSize() <= h.c.cc.cwnd()+2*1460 {
		t.Fatalf("inRecovery %v cwnd %d flight %d: the set-up is wrong", h.c.inRecovery, h.c.cc.cwnd(), h.c.flightSize())
	}
	dup.Ack = segAt(10)
	h.in(dup)
	h.in(dup)
	h.expect()
}

// RFC 5681 §4.1 measures idleness from the last data sent: segments that
// arrive meanwhile (a pure ACK, the peer's data) do not restart the idle
// period, so the reduction counts the whole of it. Here 2.2 RTOs of idle
// with a segment received after 1.25: halved twice, to IW.
func TestEstablished_CwndRestartAfterIdle_SegmentsReceivedMeanwhileDoNotCount(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 1 << 20, DisableTimestamps: true})
	setWindow(h.c, 40*1460, 20*1460)
	h.c.Write(bytesN(1460), h.now)
	h.out.take()
	ack := h.seg(FlagACK)
	ack.Ack = 1001 + 1460
	h.in(ack)
	h.c.cc.setCwnd(40 * 1460)
	rto := h.c.currentRTO()
	start := h.now
	h.now = start.Add(rto * 5 / 4)
	h.in(h.data(bytesN(10))) // the peer's data, at 1.25 RTOs
	h.out.take()
	h.now = start.Add(rto * 11 / 5)
	h.c.Write(bytesN(60*1460), h.now)
	if got := len(h.out.take()); got != 10 {
		t.Fatalf("%d segments sent after 2.2 idle RTOs, want 10 (halved twice)", got)
	}
}

// RFC 5681 §4.1: the restart applies after an idle period "exceeding" the
// RTO, and halves cwnd once per RTO beyond it (as Linux's
// tcp_cwnd_restart: while (delta -= rto) > 0). Exactly one RTO: no
// restart; exactly two: halved once.
func TestEstablished_CwndRestartAfterIdle_ExactRTOMultiples(t *testing.T) {
	for _, tc := range []struct {
		idleRTOs     int
		segs         int // sent at once after the idle period
		ssthreshSegs int
	}{{1, 40, 20}, {2, 20, 30}} {
		h := newEstablished(t, Config{SndBuf: 1 << 20, DisableTimestamps: true})
		setWindow(h.c, 40*1460, 20*1460)
		h.c.Write(bytesN(1460), h.now)
		h.out.take()
		ack := h.seg(FlagACK)
		ack.Ack = 1001 + 1460
		h.in(ack)
		h.c.cc.setCwnd(40 * 1460)
		h.now = h.now.Add(time.Duration(tc.idleRTOs) * h.c.currentRTO())
		h.c.Write(bytesN(60*1460), h.now)
		if got := len(h.out.take()); got != tc.segs || h.c.cc.ssthresh() != tc.ssthreshSegs*1460 {
			t.Errorf("idle %d RTOs: %d segments sent, ssthresh %d; want %d, %d", tc.idleRTOs, got, h.c.cc.ssthresh(), tc.segs, tc.ssthreshSegs*1460)
		}
	}
}

// setWindow sets a connection's cwnd and ssthresh, for tests that start
// from a given window.
func setWindow(c *Conn, cwnd, ssthresh int) { c.cc.init(cwnd, ssthresh) }

func setSsthresh(c *Conn, n int) { c.cc.init(c.cc.cwnd(), n) }
