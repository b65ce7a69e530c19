package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// RACK-TLP's time-based loss detection (RFC 8985 §6) on top of SACK
// recovery (RFC 6675): which retransmissions count as delivered, which as
// lost and when, and what the reordering timer is armed for. The harness
// as in rack_test.go: the RTT sample is 0, RACK.reo_wnd is 2ms, the RTO
// 200ms.

// lostFirstSegmentRecovery sends segments 0-9 and queues 10-13 behind
// cwnd, then, at 10ms, SACKs 1-3 one by one: limited transmit sends 10
// and 11 (RFC 6675 §5 (1)-(2)), the third duplicate ACK starts recovery
// (cwnd six segments) and retransmits segment 0 (RFC 6675 §5 (4)).
func lostFirstSegmentRecovery(h *harness) {
	h.t.Helper()
	writeSegs(h, 10)
	h.c.Write(bytesN(4*1460), h.now)
	h.expect()
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.expect(rackSeg(10))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.expect(rackSeg(11))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	h.expect("ACK seq=1001 ack=5001 len=1460")
}

// rackSeg is how the harness shows a full segment i sent without PSH.
func rackSeg(i int) string { return s("ACK seq=%d ack=5001 len=1460", segAt(i)) }

// lateSegmentInRecovery continues lostFirstSegmentRecovery at 15ms: 4-7
// and 9 arrive; 8 is late (one segment SACKed above it: not lost, RFC
// 6675 IsLost). Rule (2) sends the new 12 and 13.
func lateSegmentInRecovery(h *harness) {
	h.t.Helper()
	lostFirstSegmentRecovery(h)
	h.at(15 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(8), segAt(9), segAt(10)))
	h.expect(rackSeg(12), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(13)))
}

// RFC 8985 §6.2 step 5 deems lost only segments not yet acknowledged: a
// retransmission the cumulative ACK covers is delivered, and the
// reordering timer armed for it is stopped.
func TestEstablished_RACK_CumulativelyAckedRetransmission_NotLost(t *testing.T) {
	h := newSACKEstablished(t)
	lateSegmentInRecovery(h)
	// 12, sent after the retransmission of 0, is SACKed: the
	// retransmission is lost reo_wnd from now, at 18ms, unless delivered
	// first. Rule (3) resends 8 (RACK deems it lost only at 17ms, reo_wnd
	// after 9, sent after it, was SACKed).
	h.at(16 * ms)
	h.in(h.sackAck(segAt(0), segAt(12), segAt(13), segAt(1), segAt(8), segAt(9), segAt(10)))
	h.expect(rackSeg(8))
	// It is delivered: the ACK covers it (a partial ACK, up to the late
	// 8). Rule (3) resends 10 and 11. The reordering timer is armed for
	// the holes below 12 (lost at 19ms, reo_wnd after those below 10
	// were), not for the delivered retransmission.
	h.at(17 * ms)
	h.in(h.sackAck(segAt(8), segAt(12), segAt(13), segAt(9), segAt(10)))
	h.expect(rackSeg(10), rackSeg(11))
	h.fire(19 * ms)
	h.expect()
	// Those holes were resent already; no retransmission is deemed lost:
	// the next timer is the recovery probe, a PTO after the last ACK
	// (recoveryProbe), not a reordering timer.
	h.fire(21 * ms)
	h.expect(rackSeg(8))
	if i := h.c.Info(); i.RACKRetransmits != 0 || i.LossProbes != 1 || i.Timeouts != 0 {
		t.Fatalf("info %+v", i)
	}
}

// RFC 8985 §6.2 step 5: a segment is delivered only if a SACK block (or
// the cumulative ACK) covers it; a block below it is no evidence. A lost
// retransmission of the second hole, above a SACKed range, is found and
// sent again like one of the first.
func TestEstablished_RACK_LostRetransmissionAboveASACKedRange_SentAgain(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 10)
	h.c.Write(bytesN(4*1460), h.now)
	h.expect()
	h.at(10 * ms)
	// Segments 0 and 3 are lost; 1, 2 and 4 are SACKed: limited
	// transmit, then recovery at the third duplicate ACK.
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.expect(rackSeg(10))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.expect(rackSeg(11))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3), segAt(4), segAt(5)))
	h.expect("ACK seq=1001 ack=5001 len=1460")
	// 5-9 arrive: 3 is lost (IsLost), rule (1) resends it, rule (2)
	// sends 12 and 13.
	h.at(15 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3), segAt(4), segAt(10)))
	h.expect(rackSeg(3),
		rackSeg(12), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(13)))
	// 12, sent after both retransmissions, is SACKed; rule (3) resends 10.
	h.at(16 * ms)
	h.in(h.sackAck(segAt(0), segAt(12), segAt(13), segAt(1), segAt(3), segAt(4), segAt(10)))
	h.expect(rackSeg(10))
	// The holes below 10, SACKed at 15ms, are lost reo_wnd later (RFC
	// 8985 §6.2 step 5): 3 only, resent already.
	h.fire(17 * ms)
	h.expect()
	// Both retransmissions are lost reo_wnd later and sent again, 0 and 3.
	h.fire(18 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460", rackSeg(3))
	if i := h.c.Info(); i.RACKRetransmits != 2 {
		t.Fatalf("info %+v", i)
	}
}

// The reordering timer (RFC 8985 §8) is armed for the earliest moment a
// retransmission will be deemed lost (each one's own xmit_ts + RACK.rtt +
// RACK.reo_wnd, §6.2 step 5), not the latest: the retransmission with the
// older evidence is sent again at its own deadline.
func TestEstablished_RACK_ReorderingTimer_EarliestLostRetransmissionFirst(t *testing.T) {
	h := newSACKEstablished(t)
	lateSegmentInRecovery(h)
	// 12 and 13 are SACKed: the retransmission of 0 is lost at 19ms. 8
	// is now lost (IsLost) and resent (rule 1), then 10 and 11 (rule 3).
	h.at(17 * ms)
	h.in(h.sackAck(segAt(0), segAt(12), segAt(14), segAt(1), segAt(8), segAt(9), segAt(10)))
	h.expect(rackSeg(8), rackSeg(10), rackSeg(11))
	// The retransmission of 10 is SACKed: the one of 8, sent before it,
	// is lost at 20ms.
	h.at(18 * ms)
	h.in(h.sackAck(segAt(0), segAt(10), segAt(11), segAt(12), segAt(14), segAt(1), segAt(8), segAt(9), segAt(10)))
	h.expect()
	h.fire(19 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.fire(20 * ms)
	h.expect(rackSeg(8))
	if i := h.c.Info(); i.RACKRetransmits != 2 {
		t.Fatalf("info %+v", i)
	}
}

// RFC 6298 §3 (Karn): no RTT sample from an ACK that covers a
// retransmission. When RACK sends a lost retransmission again below the
// timed segment, the segment's ACK would time the retransmission, and the
// measurement is dropped.
func TestEstablished_RACK_ResentRetransmissionBelowTheTimedSegment_NoRTTSample(t *testing.T) {
	h := newSACKEstablished(t)
	lostFirstSegmentRecovery(h)
	// Rule (2) sends 12 (timed, RFC 6298 §3: nothing else is) and 13.
	h.at(15 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(12)))
	h.expect(rackSeg(12), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(13)))
	if !h.c.rttTiming || h.c.rttSeq != segAt(13) {
		t.Fatalf("timing %v up to %d, want segment 12", h.c.rttTiming, h.c.rttSeq)
	}
	// 12, sent after the retransmission of 0, is SACKed: RACK sends 0
	// again reo_wnd later.
	h.at(20 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(13)))
	h.fire(22 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	// Everything arrives 40ms after 12 was sent: no sample.
	h.at(55 * ms)
	h.in(h.sackAck(segAt(14)))
	if i := h.c.Info(); i.RACKRetransmits != 1 || i.SRTT != 0 || h.c.minRTT != 0 {
		t.Fatalf("info %+v min_RTT %v", i, h.c.minRTT)
	}
}

// RACK (RFC 8985 §6.2) deems a hole lost no earlier than the segment
// above it, sent after it, was delivered plus RACK.reo_wnd. When the
// cumulative ACK moves the first hole up, the new hole's evidence is new:
// its timer starts again, it does not inherit the old hole's deadline.
func TestEstablished_RACK_NewFirstHole_TimerRestarts(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 2)
	h.at(5 * ms)
	h.c.Write(bytesN(2*1460), h.now)
	h.expect(rackSeg(2), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(3)))
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.expect()
	// 0 was only late; 2, sent at 5ms, is the new first hole, and 3, sent
	// with it, is delivered now: 2 is lost no earlier than 11ms + 2ms.
	h.at(11 * ms)
	h.in(h.sackAck(segAt(2), segAt(3), segAt(4)))
	h.expect()
	h.fire(13 * ms)
	h.expect(rackSeg(2))
	if i := h.c.Info(); i.RACKRecoveries != 1 {
		t.Fatalf("info %+v", i)
	}
}

// RFC 6675 §5.1: after a timeout no loss recovery starts before HighACK
// passes RecoveryPoint; RACK's time-based start of recovery (RFC 8985
// §6.2) obeys it too, a SACK below RecoveryPoint arms no reordering timer.
func TestEstablished_RACK_AfterRTO_NoRecoveryBeforeRecoveryPoint(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 2)
	h.fire(2 * ms) // the loss probe resends 1
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(1)))
	h.fire(202 * ms) // the RTO resends 0
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.at(210 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.expect()
	if d, _ := h.c.NextDeadline(); !h.c.rackAt.IsZero() || d != t0.Add(602*ms) {
		t.Fatalf("reordering timer %v, next deadline %v; want the RTO at 602ms", h.c.rackAt, d.Sub(t0))
	}
	if i := h.c.Info(); h.c.inRecovery || i.Recoveries != 0 || i.RACKRecoveries != 0 {
		t.Fatalf("inRecovery %v info %+v", h.c.inRecovery, i)
	}
}

// The log of retransmissions RACK watches holds rxtLogSize of them; the
// rest of a larger recovery is left to the RTO, without fault.
func TestEstablished_RACK_RecoveryBeyondTheRetransmissionLog(t *testing.T) {
	h := newSACKEstablished(t)
	h.c.cc.setCwnd(40 * 1460)
	writeSegs(h, 40)
	h.at(10 * ms)
	// 0-19 are lost, 20-39 SACKed: recovery (IsLost), cwnd 20 segments,
	// all twenty holes are lost and resent (rule 1).
	h.in(h.sackAck(segAt(0), segAt(20), segAt(40)))
	got := h.out.take()
	if len(got) != 20 {
		t.Fatalf("%d retransmissions, want 20", len(got))
	}
	for i, g := range got {
		if g.Seq != segAt(i) {
			t.Fatalf("retransmission %d at %d, want %d", i, g.Seq, segAt(i))
		}
	}
	if h.c.rxtN != rxtLogSize {
		t.Fatalf("%d retransmissions logged, want %d", h.c.rxtN, rxtLogSize)
	}
}

// A FIN retransmitted alone (the rescue retransmission of RFC 6675 §4
// rule 4, when the FIN is the highest unSACKed octet) carries no data:
// no SACK block can report it delivered, so it is no evidence that a
// retransmission sent before it was lost (RFC 8985 §6.2 step 5).
func TestEstablished_RACK_FINOnlyRescue_NoEvidenceOfLoss(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 10)
	h.c.Shutdown(h.now)
	h.expect(s("FIN|ACK seq=%d ack=5001", segAt(10)))
	h.at(10 * ms)
	// 0 and the FIN are lost, 1-9 SACKed: recovery (IsLost) resends 0,
	// and rule (4) the FIN.
	h.in(h.sackAck(segAt(0), segAt(1), segAt(10)))
	h.expect("ACK seq=1001 ack=5001 len=1460", s("FIN|ACK seq=%d ack=5001", segAt(10)))
	h.at(11 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(10)))
	h.expect()
	// The hole below 10 (0, resent already) is lost reo_wnd after 1-9
	// were first SACKed (RFC 8985 §6.2 step 5).
	h.fire(12 * ms)
	h.expect()
	// Nothing sent after the retransmission of 0 was delivered: the next
	// timer is the recovery probe, not a RACK retransmission.
	h.fire(13 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.RACKRetransmits != 0 || i.LossProbes != 1 || i.Timeouts != 0 {
		t.Fatalf("info %+v", i)
	}
}

// The same with timestamps, where every ACK of new data is an RTT sample
// (RFC 7323 §4) and RACK.reo_wnd can shrink within one recovery (RFC 8985
// §6.2 step 4, min_RTT/4): a retransmission logged later, with later
// evidence, can then be due before one logged earlier, and the timer is
// armed for it.
func TestEstablished_RACK_ReorderingTimer_EarliestEvenIfLoggedLater(t *testing.T) {
	// With timestamps SMSS is 1448: segment i starts at seg(i).
	seg := func(i int) seqnum.Value { return seqnum.Value(1001 + 1448*i) }
	h := newSynSent(t, Config{})
	off := h.c.tsOffset
	h.at(40 * ms) // min_RTT 40ms: RACK.reo_wnd 10ms + 2ms
	sa := ts(h.synAck(), 7000, off)
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.out.take()
	if !h.c.tsOn || !h.c.sackOn || h.c.minRTT != 40*ms {
		t.Fatalf("fixture: tsOn %v sackOn %v min_RTT %v", h.c.tsOn, h.c.sackOn, h.c.minRTT)
	}
	h.c.Write(bytesN(14*1448), h.now)
	if got := len(h.out.take()); got != 10 {
		t.Fatalf("sent %d segments, want 10", got)
	}
	// 0 and 3 are lost: limited transmit sends 10 and 11, recovery
	// resends 0 at 50ms.
	h.at(50 * ms)
	h.in(h.sackAck(seg(0), seg(1), seg(2)))
	h.in(h.sackAck(seg(0), seg(1), seg(3)))
	h.in(h.sackAck(seg(0), seg(1), seg(3), seg(4), seg(5)))
	h.expect(s("ACK seq=%d ack=5001 len=1448", seg(10)), s("ACK seq=%d ack=5001 len=1448", seg(11)),
		"ACK seq=1001 ack=5001 len=1448")
	h.at(51 * ms)
	h.in(h.sackAck(seg(0), seg(1), seg(3), seg(4), seg(10)))
	h.expect(s("ACK seq=%d ack=5001 len=1448", seg(3)),
		s("ACK seq=%d ack=5001 len=1448", seg(12)), s("PSH|ACK seq=%d ack=5001 len=1448", seg(13)))
	// 12 is SACKed: the retransmission of 3 is lost at 52 + 12ms (that
	// of 0 too). Rule (3) resends 10.
	h.at(52 * ms)
	h.in(h.sackAck(seg(0), seg(12), seg(13), seg(1), seg(3), seg(4), seg(10)))
	h.expect(s("ACK seq=%d ack=5001 len=1448", seg(10)))
	h.c.Write(bytesN(1448), h.now) // waits for cwnd
	h.expect()
	// The retransmission of 0 arrives, the ACK echoes its TSval: a 3ms
	// sample, min_RTT 3ms, RACK.reo_wnd 0.75ms + 2ms. Rule (2) sends 14.
	h.at(53 * ms)
	h.in(ts(h.sackAck(seg(3), seg(12), seg(13), seg(4), seg(10)), 7001, off+50))
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1448", seg(14)))
	if h.c.minRTT != 3*ms {
		t.Fatalf("min_RTT %v, want 3ms", h.c.minRTT)
	}
	// 14 is SACKed: the retransmission of 10 is lost at 54 + 2.75ms,
	// before that of 3 (64ms).
	h.at(54 * ms)
	h.in(h.sackAck(seg(3), seg(14), seg(15), seg(12), seg(13), seg(4), seg(10)))
	h.expect(s("ACK seq=%d ack=5001 len=1448", seg(11)))
	h.fire(56*ms + 750*time.Microsecond)
	h.expect(s("ACK seq=%d ack=5001 len=1448", seg(10)))
	// The holes below 5, SACKed at 50ms, are lost 12ms later (RFC 8985
	// §6.2 step 5): none is left.
	h.fire(62 * ms)
	h.expect()
	h.fire(64 * ms)
	h.expect(s("ACK seq=%d ack=5001 len=1448", seg(3)))
}

// RFC 6298 §3 (Karn) discards the sample of a retransmitted segment only:
// when RACK sends again a lost retransmission above the timed segment, the
// timed segment was not retransmitted and its ACK is still a sample.
func TestEstablished_RACK_ResentRetransmissionAboveTheTimedSegment_KeepsTheRTTSample(t *testing.T) {
	h := newSACKEstablished(t)
	h.c.cc.setCwnd(40 * 1460)
	writeSegs(h, 40)
	h.c.Write(bytesN(4*1460), h.now) // 40-43 wait
	h.expect()
	// 0-19 are lost: recovery resends them all (the log keeps 16).
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(20), segAt(40)))
	if got := len(h.out.take()); got != 20 {
		t.Fatalf("%d retransmissions, want 20", got)
	}
	// 0-15 arrive: rule (2) sends 40 (timed: nothing else is) to 43.
	h.at(11 * ms)
	h.in(h.sackAck(segAt(16), segAt(20), segAt(40)))
	h.expect(rackSeg(40), rackSeg(41),
		rackSeg(42), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(43)))
	if !h.c.rttTiming || h.c.rttSeq != segAt(41) {
		t.Fatalf("timing %v up to %d, want segment 40", h.c.rttTiming, h.c.rttSeq)
	}
	// 40 and 42 are SACKed: rule (3) resends the hole 41, above the timed
	// segment; then 44 is written and sent.
	h.at(12 * ms)
	h.in(h.sackAck(segAt(16), segAt(42), segAt(43), segAt(20), segAt(41)))
	h.expect(rackSeg(41))
	h.c.Write(bytesN(1460), h.now)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(44)))
	// 44, sent after it, is SACKed: the retransmission of 41 is lost
	// reo_wnd later and sent again (rule 3 resends 43 meanwhile).
	h.at(13 * ms)
	h.in(h.sackAck(segAt(16), segAt(44), segAt(45), segAt(20), segAt(41), segAt(42), segAt(43)))
	h.expect(rackSeg(43))
	// The holes below 43, SACKed at 12ms, are lost reo_wnd later (RFC
	// 8985 §6.2 step 5): 41 only, resent already.
	h.fire(14 * ms)
	h.expect()
	h.fire(15 * ms)
	h.expect(rackSeg(41))
	// 16-19 and 40 are acknowledged 9ms after 40 was sent: the sample
	// (the harness's handshake sample was 0: SRTT = 9ms/8).
	h.at(20 * ms)
	h.in(h.sackAck(segAt(41), segAt(42), segAt(45)))
	if i := h.c.Info(); i.RACKRetransmits != 1 || i.SRTT != 9*ms/8 {
		t.Fatalf("info %+v", i)
	}
}
