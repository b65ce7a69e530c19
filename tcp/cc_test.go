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
	h.c.ssthresh = h.c.cwnd // 14600
	h.c.Write(bytesN(20*1460), h.now)
	h.out.take()
	a := h.seg(FlagACK)
	a.Ack = 1001 + 1460
	h.in(a)
	if h.c.cwnd != 14600 {
		t.Fatalf("cwnd %d after one MSS acknowledged at cwnd = ssthresh, want 14600 (no slow-start growth)", h.c.cwnd)
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
	cwnd := h.c.cwnd // ssthresh + 3 MSS
	partial := h.seg(FlagACK)
	partial.Ack = 1001 + 1460
	h.in(partial)
	h.expect("ACK seq=2461 ack=5001 len=1460")
	if h.c.cwnd != cwnd {
		t.Fatalf("cwnd %d after a partial ACK of one MSS, want %d (deflated by 1460, one MSS added back)", h.c.cwnd, cwnd)
	}
	partial.Ack = 2461 + 1000
	h.in(partial)
	if h.c.cwnd != cwnd-1000 {
		t.Fatalf("cwnd %d after a partial ACK of 1000 bytes, want %d (deflated, nothing added back)", h.c.cwnd, cwnd-1000)
	}
}

// RFC 9293 §3.8.6.1: probing ends when the window opens. If it closes
// again before anything could be sent, the next probing starts from the
// base interval, not from where the last one's backoff had reached.
func TestEstablished_ZeroWindow_ReopenedThenClosed_ProbeBackoffRestarts(t *testing.T) {
	h := newEstablished(t, Config{})
	zw := h.seg(FlagACK)
	zw.Window = 0
	h.in(zw)
	h.c.Write(bytesN(3000), h.now)
	h.expect()
	for _, at := range []time.Duration{200, 600, 1400} { // 200, 400, 800 ms apart
		h.fire(at * ms)
		h.expect("ACK seq=1001 ack=5001 len=1")
		h.in(zw)
	}
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
