package tcp

import (
	"testing"
)

// RACK's time-based loss detection (RFC 8985 §6.2 step 5) for the holes
// of original transmissions in SACK recovery (RFC 6675): a hole sent
// before a segment that was delivered is lost at its xmit_ts + RACK.rtt +
// RACK.reo_wnd (rackDetectLoss). It then leaves pipe (RFC 6675 §4
// SetPipe, rackPipe) and is resent first (rackRetransmit). The harness
// as in rack_test.go: RACK.reo_wnd is 2ms, the RTO 200ms.

// holeBelowASACK is lateSegmentInRecovery (recovery at 10ms, cwnd six
// segments; at 15ms 4-7 and 9 arrive, 8 does not). One segment is SACKed
// above 8, so IsLost(8) does not hold (RFC 6675 §4), and 12 and 13, sent
// by rule (2), fill cwnd: cwnd - pipe < SMSS, and RFC 6675 alone sends
// nothing more before the RTO.
func holeBelowASACK(h *harness) {
	h.t.Helper()
	lateSegmentInRecovery(h)
	if h.c.isLost(segAt(8)) || h.c.cc.cwnd()-h.c.pipe() >= h.c.mss {
		h.t.Fatalf("fixture: IsLost(8) %v, cwnd %d pipe %d", h.c.isLost(segAt(8)), h.c.cc.cwnd(), h.c.pipe())
	}
}

// RFC 8985 §6.2 step 5: the hole is lost once RACK.reo_wnd has passed
// since 9, sent after it, was delivered; not before (an ACK in between
// sends nothing). Deemed lost, it leaves pipe and rule (1) resends it at
// once, where RFC 6675 alone waited for the RTO.
func TestEstablished_RACK_HoleBelowASACKInRecovery_LostAfterReoWnd(t *testing.T) {
	h := newSACKEstablished(t)
	holeBelowASACK(h)
	h.at(16 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(8), segAt(9), segAt(10)))
	h.expect()
	h.fire(17 * ms)
	h.expect(rackSeg(8))
	if h.c.highRxt != segAt(9) {
		t.Fatalf("HighRxt %d, want %d (rule 1 moves it)", h.c.highRxt, segAt(9))
	}
	if i := h.c.Info(); i.Timeouts != 0 || i.RACKRetransmits != 0 {
		t.Fatalf("info %+v", i)
	}
	// Nothing new is SACKed after: no reordering timer is armed again,
	// the next is the recovery probe.
	h.at(18 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(8), segAt(9), segAt(10)))
	h.expect()
	h.fire(20 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.LossProbes != 1 || i.RACKRetransmits != 0 {
		t.Fatalf("info %+v", i)
	}
}

// newerSACKWhileOneWaits continues holeBelowASACK: 14 is written (it
// waits for cwnd), and at 16ms 11 arrives, 6ms after it was sent
// (RACK.rtt). 8 was sent 10ms before it, so 8 is lost at once (0 + 6 +
// 2ms <= 16ms, RFC 8985 §6.2 step 5): it leaves pipe and is resent, and
// rule (2) sends 14 in the room 11 left. 10, sent with 11 but below it,
// is lost at 10 + 6 + 2 = 18ms, and so is the retransmission of 0.
// (Before the transmit log, 8 was deemed lost reo_wnd after 9's SACK
// was seen, at 17ms, one RTT late.)
func newerSACKWhileOneWaits(h *harness) {
	h.t.Helper()
	holeBelowASACK(h)
	h.c.Write(bytesN(1460), h.now)
	h.expect()
	h.at(16 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(8), segAt(9), segAt(10), segAt(11), segAt(12)))
	h.expect(rackSeg(8), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(14)))
	if !h.c.rackAt.Equal(t0.Add(18 * ms)) {
		h.t.Fatalf("reordering timer at %v, want 18ms", h.c.rackAt.Sub(t0))
	}
}

// A hole above the delivered segment RACK.end_seq points at (10 is
// below 11 but was sent with it, at 10ms, after 8) is not lost with 8
// (RFC 8985 §6.2 step 5, each at its own xmit_ts + RACK.rtt +
// RACK.reo_wnd): NextSeg() offers 10 under rule (3), not rule (1).
func TestEstablished_RACK_HoleAboveTheSACKedOctet_NotLostWithIt(t *testing.T) {
	h := newSACKEstablished(t)
	newerSACKWhileOneWaits(h)
	if _, _, lost, ok := h.c.nextHole(h.c.mss); !ok || lost {
		t.Fatalf("hole 10: ok %v lost %v, want a hole not lost", ok, lost)
	}
}

// The reordering timer fires at 10's own deadline (18ms): 10 and the
// retransmission of 0, both sent at 10ms, are lost and resent without
// any further ACK, in the order sent.
func TestEstablished_RACK_NewerSACKWhileOneWaits_ItsOwnReoWnd(t *testing.T) {
	h := newSACKEstablished(t)
	newerSACKWhileOneWaits(h)
	h.fire(18 * ms)
	h.expect(rackSeg(10), "ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.Timeouts != 0 || i.RACKRetransmits != 1 {
		t.Fatalf("info %+v", i)
	}
}

// expectNoLoss fails unless no record is deemed lost and, if timer, no
// reordering timer runs.
func expectNoLoss(h *harness, timer bool) {
	h.t.Helper()
	if c := h.c; c.txl.nLost != 0 || (timer && !c.rackAt.IsZero()) {
		h.t.Fatalf("%d records deemed lost, reordering timer at %v", c.txl.nLost, c.rackAt)
	}
}

// What was deemed lost is delivered by the cumulative ACK of
// RecoveryPoint, which ends the recovery (RFC 6675 §5, RFC 6582 §3.2 step
// 3): nothing is left marked lost for a later recovery. (The reordering
// timer may run on: 12 and 13, sent before the retransmission of 8 that
// this ACK delivers, are lost at their own time.)
func TestEstablished_RACK_HolesState_ResetWhenRecoveryEnds(t *testing.T) {
	h := newSACKEstablished(t)
	newerSACKWhileOneWaits(h)
	h.at(18 * ms)
	h.in(h.sackAck(segAt(12)))
	if h.c.inRecovery {
		t.Fatal("still in recovery after the ACK of RecoveryPoint")
	}
	expectNoLoss(h, false)
}

// RFC 6675 §5.1: after a timeout the go-back-N resends what is not
// SACKed, and the loss marks go (txForgetLosses), as the reordering timer.
func TestEstablished_RACK_HolesState_ResetAfterRTO(t *testing.T) {
	h := newSACKEstablished(t)
	newerSACKWhileOneWaits(h)
	h.fire(18 * ms)
	h.expect(rackSeg(10), "ACK seq=1001 ack=5001 len=1460")
	h.fire(20 * ms) // the recovery probe
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.fire(220 * ms) // the RTO, re-armed by the probe
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.Timeouts != 1 {
		t.Fatalf("info %+v", i)
	}
	expectNoLoss(h, true)
}
