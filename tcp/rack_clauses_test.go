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
	lostFirstSegmentRecovery(h)
	// 4-10 arrive; 10, sent with the retransmission of 0 and above it, 2ms
	// after it was sent (RACK.rtt): the retransmission is lost at 10 + 2
	// + 2 = 14ms (RFC 8985 §6.2 step 5) unless delivered first.
	h.at(12 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(11)))
	h.out.take() // new data, as PRR allows
	if !h.c.rackAt.Equal(t0.Add(14 * ms)) {
		t.Fatalf("reordering timer at %v, want 14ms", h.c.rackAt.Sub(t0))
	}
	// It is delivered: the cumulative ACK covers it. Nothing is deemed
	// lost, no reordering timer is left for it.
	h.at(13 * ms)
	h.in(h.sackAck(segAt(11)))
	if !h.c.rackAt.IsZero() || h.c.txl.nLost != 0 {
		t.Fatalf("reordering timer at %v, %d records lost", h.c.rackAt.Sub(t0), h.c.txl.nLost)
	}
	for range 3 {
		d, _ := h.c.NextDeadline()
		h.fire(d.Sub(t0))
	}
	if i := h.c.Info(); i.RACKRetransmits != 0 || i.RACKRecoveries != 0 {
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
	// 12 is SACKed 1ms after it was sent (RACK.rtt). What was sent at
	// 10ms below it is lost at 10 + 1 + 2 = 13ms, so at once (RFC 8985
	// §6.2 step 5): 10 and 11, then the retransmission of 0, in the order
	// sent. The retransmission of 3, sent with 12 but below it, is lost
	// at 15 + 1 + 2 = 18ms, and sent again then.
	h.at(16 * ms)
	h.in(h.sackAck(segAt(0), segAt(12), segAt(13), segAt(1), segAt(3), segAt(4), segAt(10)))
	h.expect(rackSeg(10), rackSeg(11), "ACK seq=1001 ack=5001 len=1460")
	h.fire(18 * ms)
	h.expect(rackSeg(3))
	if i := h.c.Info(); i.RACKRetransmits != 2 {
		t.Fatalf("info %+v", i)
	}
}

// The reordering timer (RFC 8985 §6.3) is armed for the earliest moment a
// segment will be deemed lost (each one's own xmit_ts + RACK.rtt +
// RACK.reo_wnd, §6.2 step 5), and fires again for the next: each
// retransmission is sent again at its own deadline. Deviation: §6.2's
// RACK_detect_loss arms it for the latest (timeout = max(remaining)),
// which would deem the earlier one lost only with the later, at 17ms.
func TestEstablished_RACK_ReorderingTimer_EarliestLostRetransmissionFirst(t *testing.T) {
	h := newSACKEstablished(t)
	lostFirstSegmentRecovery(h) // 0 resent at 10ms
	// 5-9 arrive, 4 does not: IsLost(4) (RFC 6675 §4), rule (1) resends
	// it at 11ms; rule (2) sends 12 and 13.
	h.at(11 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4), segAt(5), segAt(10)))
	h.expect(rackSeg(4), rackSeg(12), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(13)))
	// 10-12 arrive; 12, sent after both retransmissions, 4ms after it
	// was sent: the one of 0 is lost at 10 + 4 + 2 = 16ms, the one of 4
	// at 11 + 4 + 2 = 17ms.
	h.at(15 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4), segAt(5), segAt(13)))
	h.expect()
	h.fire(16 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.fire(17 * ms)
	h.expect(rackSeg(4))
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
	// 12, sent 5ms after the retransmission of 0, is SACKed 5ms after
	// it was sent: RACK sends 0 again at once (10 + 5 + 2 <= 20ms, RFC
	// 8985 §6.2 step 5).
	h.at(20 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(13)))
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

// The transmit log has no fixed bound (the old log of retransmissions kept
// 16): every retransmission of a large recovery is timed by its own send
// (RFC 8985 §6.1).
func TestEstablished_RACK_EveryRetransmissionOfALargeRecoveryTimed(t *testing.T) {
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
	l := &h.c.txl
	resent := 0
	for i := l.head; i != 0; i = l.recs[i].next {
		if r := &l.recs[i]; r.has(txRetrans) && r.xmit.Equal(h.now) {
			resent += int(r.start.Size(r.end))
		}
	}
	if resent != 20*1460 {
		t.Fatalf("%d octets logged as resent now, want %d", resent, 20*1460)
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
	// Nothing sent after the retransmission of 0 was delivered: no
	// reordering timer runs, the next is the recovery probe, not a RACK
	// retransmission.
	h.fire(13 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.RACKRetransmits != 0 || i.LossProbes != 1 || i.Timeouts != 0 {
		t.Fatalf("info %+v", i)
	}
}

// RFC 8985 §6.2 step 2: the ACK of a retransmitted segment is ambiguous
// (it may be the original's) when it comes sooner than RACK.min_RTT after
// the retransmission, and then gives RACK neither its RTT nor its
// transmit time; one a min_RTT or more later does. Deviation (Linux
// compat): the echoed TSval is not looked at (rackAdvance), so both ACKs
// here echo the original's.
func TestEstablished_RACK_RetransmissionACKSoonerThanMinRTT_Ambiguous(t *testing.T) {
	seg := func(i int) seqnum.Value { return seqnum.Value(1001 + 1448*i) } // SMSS 1448 with timestamps
	for _, tc := range []struct {
		name string
		at   time.Duration // when the ACK of the retransmission (sent at 50ms) comes
		want time.Duration
	}{
		{"sooner than min_RTT", 60 * ms, 40 * ms},
		{"min_RTT after", 90 * ms, 50 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSynSent(t, Config{})
			off := h.c.tsOffset
			h.at(40 * ms) // min_RTT 40ms
			sa := ts(h.synAck(), 7000, off)
			sa.Options.SACKPermitted = true
			h.in(sa)
			h.out.take()
			h.c.Write(bytesN(10*1448), h.now) // sent at 40ms
			h.out.take()
			// 0 is lost; 1-9 arrive: recovery resends 0 at 50ms.
			h.at(50 * ms)
			h.in(ts(h.sackAck(seg(0), seg(1), seg(10)), 7001, off+40))
			h.expect("ACK seq=1001 ack=5001 len=1448")
			h.at(tc.at)
			h.in(ts(h.sackAck(seg(10)), 7002, off+40))
			if got := h.c.rackXmit.Sub(t0); got != tc.want {
				t.Fatalf("RACK.xmit_ts %v, want %v", got, tc.want)
			}
		})
	}
}

// RFC 6298 §3 (Karn) discards the sample of a retransmitted segment only:
// when RACK sends a segment deemed lost above the timed segment, the timed
// segment was not retransmitted and its ACK is still a sample; below it,
// the ACK would time the retransmission, and the measurement goes.
func TestRACK_Retransmit_KarnBelowTheTimedSegmentOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lost   int // the record starting at segment lost is deemed lost
		timing bool
	}{
		{"above", 10, true},
		{"below", 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSACKEstablished(t)
			lostFirstSegmentRecovery(h)
			h.c.rttTiming, h.c.rttSeq, h.c.rttStart = true, segAt(5), h.now
			l := &h.c.txl
			for i := l.head; i != 0; i = l.recs[i].next {
				if l.recs[i].start == segAt(tc.lost) {
					l.setFlags(i, txLost, 0)
				}
			}
			h.c.cc.setCwnd(100 * 1460)
			if !h.c.rackRetransmit(h.now, 1460) {
				t.Fatal("nothing resent")
			}
			if g := h.out.take(); len(g) != 1 || g[0].Seq != segAt(tc.lost) {
				t.Fatalf("sent %v, want segment %d", g, tc.lost)
			}
			if h.c.rttTiming != tc.timing {
				t.Fatalf("timing %v, want %v", h.c.rttTiming, tc.timing)
			}
		})
	}
}
