package tcp

import (
	"testing"
)

// RACK's time-based loss detection (RFC 8985 §6.2 step 5) for the holes
// of original transmissions in SACK recovery (RFC 6675): original
// segments go out in sequence order, so a hole below a SACKed octet was
// sent before it, and is lost RACK.reo_wnd after that SACK was first seen
// (rackHoles). It then leaves pipe (RFC 6675 §4 SetPipe) and NextSeg()
// rule (1) sends it. The harness as in rack_test.go: RACK.reo_wnd is 2ms,
// the RTO 200ms.

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
// waits for cwnd), and at 16ms 11 arrives, while the holes below 10 wait
// for their reo_wnd (until 17ms). 10 is now a hole below a SACKed octet
// too; rule (2) sends 14 in the room 11 left. At 17ms the holes below 10
// are lost: 8 alone leaves pipe and is resent (rule 1); 10, which stays
// in pipe, would have gone with it.
func newerSACKWhileOneWaits(h *harness) {
	h.t.Helper()
	holeBelowASACK(h)
	h.c.Write(bytesN(1460), h.now)
	h.expect()
	h.at(16 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(8), segAt(9), segAt(10), segAt(11), segAt(12)))
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(14)))
	h.fire(17 * ms)
	h.expect(rackSeg(8))
}

// A hole above the SACKed octet whose reo_wnd passed was sent after it
// (10 and 11 went out at 10ms, 9 at 0): that SACK is no evidence of its
// loss (RFC 8985 §6.2 step 5, "sent after"). At 17ms 8 alone is lost and
// resent (newerSACKWhileOneWaits); 10 is a hole NextSeg() offers under
// rule (3), not rule (1).
func TestEstablished_RACK_HoleAboveTheSACKedOctet_NotLostWithIt(t *testing.T) {
	h := newSACKEstablished(t)
	newerSACKWhileOneWaits(h)
	if _, _, lost, ok := h.c.nextHole(h.c.mss); !ok || lost {
		t.Fatalf("hole 10: ok %v lost %v, want a hole not lost", ok, lost)
	}
}

// Newer evidence (11 SACKed at 16ms) arriving while an earlier one waits
// gets its own RACK.reo_wnd, from when the earlier one was taken (17ms):
// 10 is lost at 19ms, not before, and resent (rule 1) without any further
// ACK.
func TestEstablished_RACK_NewerSACKWhileOneWaits_ItsOwnReoWnd(t *testing.T) {
	h := newSACKEstablished(t)
	newerSACKWhileOneWaits(h)
	h.at(18 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(8), segAt(9), segAt(10), segAt(11), segAt(12)))
	h.expect()
	h.fire(19 * ms)
	h.expect(rackSeg(10))
	if i := h.c.Info(); i.Timeouts != 0 {
		t.Fatalf("info %+v", i)
	}
}

// expectHolesReset fails unless the holes state of rackHoles is clear.
func expectHolesReset(h *harness) {
	h.t.Helper()
	if c := h.c; c.rackLostSet || !c.rackTopAt.IsZero() || c.rackLostBelow(segAt(1)) {
		h.t.Fatalf("holes state: lost to %d (set %v), pending %d at %v", c.rackLostTo, c.rackLostSet, c.rackTop, c.rackTopAt)
	}
}

// The holes deemed lost belong to one recovery: the cumulative ACK of
// RecoveryPoint ends it (RFC 6675 §5, RFC 6582 §3.2 step 3) and the
// state goes with it, the pending evidence too, so that no later recovery
// inherits a loss it did not see.
func TestEstablished_RACK_HolesState_ResetWhenRecoveryEnds(t *testing.T) {
	h := newSACKEstablished(t)
	newerSACKWhileOneWaits(h) // 10 pending until 19ms
	h.at(18 * ms)
	h.in(h.sackAck(segAt(12)))
	if h.c.inRecovery {
		t.Fatal("still in recovery after the ACK of RecoveryPoint")
	}
	expectHolesReset(h)
}

// RFC 6675 §5.1: after a timeout the SACK information is not trusted, and
// the holes deemed lost are forgotten with it (the RTO ends recovery).
func TestEstablished_RACK_HolesState_ResetAfterRTO(t *testing.T) {
	h := newSACKEstablished(t)
	newerSACKWhileOneWaits(h)
	h.fire(19 * ms)
	h.expect(rackSeg(10))
	h.fire(21 * ms) // the recovery probe
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.fire(221 * ms) // the RTO, re-armed by the probe
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.Timeouts != 1 {
		t.Fatalf("info %+v", i)
	}
	expectHolesReset(h)
}
