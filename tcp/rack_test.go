package tcp

import (
	"testing"
	"time"
)

// Loss detection beyond RFC 6675's DupThresh: limited transmit (RFC 3042,
// RFC 6675 §5 (1)), the rescue retransmission (RFC 6675 §4 rule 4), RACK's
// time-based detection (RFC 8985 §6) and the tail loss probe (§7). The
// harness's RTT sample is 0, so RTOMin (200ms) is the RTO, min_RTT and
// SRTT are 0, RACK.reo_wnd is 2ms and the PTO 2ms (2ms + 200ms for a single
// segment in flight).

func TestEstablished_LimitedTransmit_NewDataOnFirstTwoDupAcks(t *testing.T) {
	// Without SACK: RFC 3042 §2, FlightSize up to cwnd + 2·SMSS.
	h := newEstablished(t, Config{DisableSACK: true, DisableTimestamps: true})
	h.c.Write(bytesN(12*1460), h.now) // IW is 10 segments: 2 wait
	if got := len(h.out.take()); got != 10 {
		t.Fatalf("sent %d segments, want 10", got)
	}
	dup := h.seg(FlagACK)
	dup.Ack = segAt(0)
	h.in(dup)
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(10)))
	h.in(dup)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(11)))
	if h.c.cc.cwnd() != 14600 {
		t.Fatalf("cwnd %d, want the IW, unchanged", h.c.cc.cwnd())
	}
	// The third is fast retransmit (RFC 5681 §3.2), nothing new.
	h.in(dup)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if !h.c.inRecovery || h.c.Info().Recoveries != 1 {
		t.Fatalf("inRecovery %v recoveries %d", h.c.inRecovery, h.c.Info().Recoveries)
	}
}

func TestEstablished_SACK_RescueRetransmitsTheTail(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 6)
	h.at(10 * ms)
	// Segments 0 and 5 are lost: 5 is the tail, with no SACK above it.
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.expect()
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	// Recovery: cwnd 4380; the hole goes (rule 1); pipe is 4380.
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.in(h.sackAck(segAt(0), segAt(1), segAt(5)))
	// pipe 2920 leaves room for one more, which no rule (1)-(3) fills:
	// rule (4) sends the segment holding the highest unSACKed octet.
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(5)))
	if h.c.highRxt != segAt(1) || !h.c.rescueSet || h.c.rescueRxt != segAt(6) {
		t.Fatalf("HighRxt %d (must not move), RescueRxt %d set %v", h.c.highRxt, h.c.rescueRxt, h.c.rescueSet)
	}
	// Once per recovery (4.a): HighACK (the retransmitted 0 arrived, so
	// up to the tail 5) is not above RescueRxt.
	h.in(h.sackAck(segAt(5)))
	h.expect()
	if c := h.c; !c.rescueSet || c.sndUna.GreaterThan(c.rescueRxt) {
		t.Fatal("rescue state")
	}
	h.in(h.sackAck(segAt(6)))
	h.expect()
	if h.c.inRecovery || h.c.retransmits != 2 {
		t.Fatalf("inRecovery %v retransmits %d", h.c.inRecovery, h.c.retransmits)
	}
}

func TestEstablished_RACK_SmallFlightHoleLostAfterReoWnd(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 2)
	h.at(10 * ms)
	// One segment SACKed above the hole: no DupThresh, no IsLost.
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.expect()
	// RFC 8985 §6.2 step 5: lost reo_wnd after the evidence.
	h.fire(12 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); !h.c.inRecovery || i.RACKRecoveries != 1 || i.Recoveries != 1 || h.c.cc.cwnd() != 2920 {
		t.Fatalf("inRecovery %v info %+v cwnd %d", h.c.inRecovery, i, h.c.cc.cwnd())
	}
	h.in(h.sackAck(segAt(2)))
	if h.c.inRecovery {
		t.Fatal("recovery did not end")
	}
	h.noDeadline()
}

// twoSegmentsApart sends segment 0 now and segment 1 gap later.
func twoSegmentsApart(h *harness, gap time.Duration) {
	h.t.Helper()
	start := h.now.Sub(t0)
	for i := range 2 {
		h.at(start + time.Duration(i)*gap)
		h.c.Write(bytesN(1460), h.now)
		h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(i)))
	}
}

// RFC 8985 §6.2 step 5 times the loss from the hole's own transmission,
// not from when the evidence arrived: 0 went out at 0, 1 at 5ms, and 1's
// SACK at 8ms (RACK.rtt 3ms) shows 0 overdue since 0 + 3 + 2 = 5ms. It is
// deemed lost, and recovery starts, on that ACK. (Before the transmit
// log, 0 was lost reo_wnd after the ACK, at 10ms.)
func TestEstablished_RACK_LostAtXmitPlusRTTPlusReoWnd_OnTheACK(t *testing.T) {
	h := newSACKEstablished(t)
	twoSegmentsApart(h, 5*ms)
	h.at(8 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); !h.c.inRecovery || i.RACKRecoveries != 1 {
		t.Fatalf("inRecovery %v info %+v", h.c.inRecovery, i)
	}
}

// The same when the deadline is still ahead: 0 at 0, 1 at 1ms, 1's SACK
// at 11ms (RACK.rtt 10ms). 0 is lost at 0 + 10 + 2 = 12ms, by the
// reordering timer (§6.3), not at 13ms (the ACK plus reo_wnd).
func TestEstablished_RACK_LostAtXmitPlusRTTPlusReoWnd_ByTheTimer(t *testing.T) {
	h := newSACKEstablished(t)
	twoSegmentsApart(h, 1*ms)
	h.at(11 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.expect()
	h.fire(12 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); !h.c.inRecovery || i.RACKRecoveries != 1 {
		t.Fatalf("inRecovery %v info %+v", h.c.inRecovery, i)
	}
}

func TestEstablished_RACK_ReorderedHoleArrivesInTime(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 2)
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	// The "hole" was only late: its ACK comes within reo_wnd.
	h.at(11 * ms)
	h.in(h.sackAck(segAt(2)))
	h.expect()
	h.noDeadline()
	if h.c.retransmits != 0 || h.c.Info().Recoveries != 0 {
		t.Fatalf("retransmits %d recoveries %d", h.c.retransmits, h.c.Info().Recoveries)
	}
}

func TestEstablished_RACK_LostRetransmissionSentAgain(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 10)
	h.c.Write(bytesN(4*1460), h.now) // waits for cwnd
	h.expect()
	h.at(10 * ms)
	// Segment 0 is lost; limited transmit sends 10 and 11 on the first
	// two duplicate ACKs, the third starts recovery (cwnd 6 segments).
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(10)), s("ACK seq=%d ack=5001 len=1460", segAt(11)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	h.expect("ACK seq=1001 ack=5001 len=1460")
	// Everything sent before the retransmission arrives: no evidence
	// against it. pipe falls to 1 segment; rule 2 sends 12 and 13.
	h.at(15 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(12)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(12)), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(13)))
	// Segment 12, sent 5ms after the retransmission, is SACKed 5ms
	// after it was sent (RACK.rtt): the retransmission is lost at its
	// xmit_ts + RACK.rtt + reo_wnd = 10 + 5 + 2 = 17ms (RFC 8985 §6.2
	// step 5), so at once, not at the RTO (200ms). (The log of
	// retransmissions before the transmit log deemed it lost reo_wnd
	// after this ACK, at 22ms.)
	h.at(20 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(13)))
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.RACKRetransmits != 1 || i.Timeouts != 0 {
		t.Fatalf("info %+v", i)
	}
	// The lost copy has left pipe: 13 and the new copy are in flight.
	if p := h.c.pipe(); p != 2*1460 {
		t.Fatalf("pipe %d, want %d", p, 2*1460)
	}
	h.in(h.sackAck(segAt(14)))
	if h.c.inRecovery || h.c.txl.nLost != 0 {
		t.Fatalf("inRecovery %v, %d records deemed lost", h.c.inRecovery, h.c.txl.nLost)
	}
	h.noDeadline()
}

func TestEstablished_TLP_RetransmitsTheLastSegment(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 2)
	// No ACK: the PTO (2·SRTT + 2ms) fires before the RTO (200ms) and
	// resends the highest segment (RFC 8985 §7.3), no new data being
	// queued; the RTO is re-armed from now.
	h.fire(2 * ms)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(1)))
	if i := h.c.Info(); i.LossProbes != 1 || i.Timeouts != 0 || !h.c.tlpOut || !h.c.tlpRetrans || h.c.cc.cwnd() != 14600 {
		t.Fatalf("info %+v tlpOut %v tlpRetrans %v cwnd %d", i, h.c.tlpOut, h.c.tlpRetrans, h.c.cc.cwnd())
	}
	if h.c.rtoAt != t0.Add(202*ms) || !h.c.ptoAt.IsZero() {
		t.Fatalf("RTO at %v, PTO at %v", h.c.rtoAt.Sub(t0), h.c.ptoAt)
	}
	// Both copies arrived: the D-SACK ends the episode without a
	// congestion response (§7.4).
	h.at(5 * ms)
	h.in(h.sackAck(segAt(2)))
	h.in(h.sackAck(segAt(2), segAt(1), segAt(2)))
	if h.c.tlpOut || h.c.Info().TLPRecoveries != 0 || h.c.cc.cwnd() < 14600 {
		t.Fatalf("tlpOut %v TLPRecoveries %d cwnd %d", h.c.tlpOut, h.c.Info().TLPRecoveries, h.c.cc.cwnd())
	}
	h.noDeadline()
	// The episode is over: a later ACK beyond its TLP.end_seq is no
	// repair (§7.4 applies only while a probe is out).
	cwnd := h.c.cc.cwnd()
	h.c.Write(bytesN(1460), h.now)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(2)))
	h.in(h.sackAck(segAt(3)))
	if h.c.Info().TLPRecoveries != 0 || h.c.cc.cwnd() < cwnd {
		t.Fatalf("after the episode: TLPRecoveries %d cwnd %d (was %d)", h.c.Info().TLPRecoveries, h.c.cc.cwnd(), cwnd)
	}
}

func TestEstablished_TLP_ProbeRepairingALossReducesCwnd(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 2)
	h.fire(2 * ms)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(1)))
	h.at(3 * ms)
	h.c.Write(bytesN(1460), h.now)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(2)))
	// The ACK goes beyond TLP.end_seq with no D-SACK: the probe repaired
	// a loss, which gets the response of fast recovery (§7.4): half the
	// initial window (three segments never filled it, so it did not grow).
	h.at(5 * ms)
	h.in(h.sackAck(segAt(3)))
	if i := h.c.Info(); h.c.tlpOut || i.TLPRecoveries != 1 || h.c.cc.cwnd() != 7300 || h.c.cc.ssthresh() != 7300 {
		t.Fatalf("tlpOut %v info %+v cwnd %d ssthresh %d", h.c.tlpOut, i, h.c.cc.cwnd(), h.c.cc.ssthresh())
	}
}

// A flight that fills cwnd is probed with its last segment even when new
// data waits (gVisor's rule, not RFC 8985 §7.3's: see onPTO): the receiver
// ACKs a duplicate at once, where one new in-order segment past a lost ACK
// would wait for its delayed-ACK timer.
// Full means no room for the probe segment: half a segment of cwnd left
// (cwnd is in octets and need not be a multiple of the MSS) is full.
func TestEstablished_TLP_CwndFull_ProbeRetransmitsLast(t *testing.T) {
	h := newSACKEstablished(t)
	h.c.Write(bytesN(12*1460), h.now)
	if got := len(h.out.take()); got != 10 {
		t.Fatalf("sent %d segments, want 10", got)
	}
	setWindow(h.c, 10*1460+730, h.c.cc.ssthresh())
	h.fire(2 * ms)
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(9)))
	if !h.c.tlpRetrans || !h.c.tlpOut || h.c.tlpEndSeq != segAt(10) {
		t.Fatalf("tlpRetrans %v tlpOut %v end %d", h.c.tlpRetrans, h.c.tlpOut, h.c.tlpEndSeq)
	}
	// One probe per flight: the next timer is the RTO.
	h.fire(202 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.Timeouts != 1 || h.c.tlpOut {
		t.Fatalf("info %+v tlpOut %v", i, h.c.tlpOut)
	}
}

func TestEstablished_TLP_NotWithoutSACK(t *testing.T) {
	h := newEstablished(t, Config{DisableSACK: true, DisableTimestamps: true})
	h.c.Write(bytesN(2*1460), h.now)
	h.out.take()
	h.fire(200 * ms) // the RTO: TLP needs SACK (RFC 8985 §4)
	h.expect("ACK seq=1001 ack=5001 len=1460")
}

// RFC 8985 §7.4.2: an ACK beyond TLP.end_seq that carries a D-SACK for
// the probe shows both copies arrived: the episode ends with no
// congestion response, whatever else the ACK covers.
func TestEstablished_TLP_DSACKBelowTheACK_NoCwndReduction(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 2)
	h.fire(2 * ms)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(1)))
	h.at(3 * ms)
	h.c.Write(bytesN(1460), h.now)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(2)))
	h.at(5 * ms)
	h.in(h.sackAck(segAt(3), segAt(1), segAt(2))) // D-SACK: below the ACK
	if i := h.c.Info(); h.c.tlpOut || i.TLPRecoveries != 0 || h.c.cc.cwnd() < 14600 {
		t.Fatalf("tlpOut %v TLPRecoveries %d cwnd %d", h.c.tlpOut, i.TLPRecoveries, h.c.cc.cwnd())
	}
}

// RFC 8985 §6.2 step 4: RACK.reo_wnd is min_RTT/4 (at most SRTT), plus
// the extra of the Linux deviation: on a 20 ms path, a hole with SACKed
// data above it is lost 5 ms + 2 ms after the evidence.
func TestEstablished_RACK_ReoWndIsAQuarterOfMinRTT(t *testing.T) {
	h := newSynSent(t, Config{DisableTimestamps: true})
	h.at(20 * ms) // the SYN-ACK 20 ms after the SYN: the only RTT sample
	sa := h.synAck()
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.out.take()
	if h.c.minRTT != 20*ms || h.c.srtt != 20*ms {
		t.Fatalf("min_RTT %v SRTT %v, want 20ms", h.c.minRTT, h.c.srtt)
	}
	h.c.Write(bytesN(2*1460), h.now)
	h.out.take()
	h.at(40 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.expect()
	h.fire(47 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
}

func TestEstablished_RACK_LostRetransmission_ShrunkMSS_RestSentToo(t *testing.T) {
	// A retransmission deemed lost is sent again whole (RFC 8985 §6.2
	// step 5), also when the MSS has shrunk since it was sent: here a SACK
	// block now rides on our segments (RFC 2018: 12 octets of options), so
	// a segment carries 1448 octets; the last 12 of the 1460 go next. Were
	// they dropped, they would be a hole below HighRxt that no rule sends,
	// and the connection would wait for the RTO.
	h := newSACKEstablished(t)
	writeSegs(h, 10)
	h.c.Write(bytesN(4*1460), h.now)
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	h.out.take() // limited transmit, then the retransmission of segment 0
	h.at(11 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(12)))
	h.out.take() // segments 12 and 13
	// 12, sent 1ms after the retransmission, is SACKed 9ms after it was
	// sent: the retransmission is lost at 10 + 9 + 2 = 21ms (RFC 8985
	// §6.2 step 5).
	h.at(20 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(13)))
	h.expect()
	// The peer's data arrives out of order: our segments now carry a
	// SACK block for it.
	ooo := h.seg(FlagACK | FlagPSH)
	ooo.Seq, ooo.Ack, ooo.Payload = h.peerNxt.Add(100), segAt(0), bytesN(100)
	ooo.Options.NumSACK, ooo.Options.SACK[0] = 1, SACKBlock{Start: segAt(1), End: segAt(13)}
	h.in(ooo)
	h.out.take() // the duplicate ACK with the SACK block
	h.c.cc.setCwnd(4 * 1460)
	h.fire(21 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1448", s("ACK seq=%d ack=5001 len=12", segAt(0).Add(1448)))
	if i := h.c.Info(); i.Timeouts != 0 {
		t.Fatalf("info %+v", i)
	}
}

func TestEstablished_TLP_ProbeResendsTheLastSegmentAsSent(t *testing.T) {
	// RFC 8985 §7.3: the probe is the highest-sequence segment sent so
	// far, as it was sent (Linux resends the last skb): after a full
	// segment and a short one, the short one, not the last SMSS octets
	// across both.
	h := newSACKEstablished(t)
	h.c.SetNoDelay(true)
	h.c.Write(bytesN(1460), h.now)
	h.c.Write(bytesN(1000), h.now)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(0)), s("PSH|ACK seq=%d ack=5001 len=1000", segAt(1)))
	h.fire(2 * ms)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1000", segAt(1)))
}

// Outside recovery, with SACKed data above a hole at SND.UNA that was
// already retransmitted (here, as if by an earlier recovery, at 5ms,
// after 1 and 2 were sent): RACK cannot time the retransmission until
// something sent after it is delivered, DupThresh does not hold, and TLP
// does not run with SACKed data outstanding (RFC 8985 §7.2). The
// recovery probe runs instead (sackProbing): a PTO after the ACK, 0 is
// resent, not at the RTO.
func TestEstablished_RecoveryProbe_ResentHoleOutsideRecovery(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 3)
	h.c.txl.resent(segAt(0), segAt(1), t0.Add(5*ms))
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.expect()
	if h.c.inRecovery {
		t.Fatal("fixture: in recovery")
	}
	expectRecoveryProbe(h, 12*ms, 1)
}

// expectRecoveryProbe fires the timer due at at and expects the recovery
// probe: SND.UNA's segment resent, probes in all so far, and no RTO.
func expectRecoveryProbe(h *harness, at time.Duration, probes uint64) {
	h.t.Helper()
	h.fire(at)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.LossProbes != probes || i.Timeouts != 0 {
		h.t.Fatalf("info %+v", i)
	}
}

// A segment deemed lost and already resent (its retransmission in
// flight) starts no new recovery once the last one ends: only one that
// waits to be resent does (rackLostUnsent).
func TestEstablished_RACK_ResentLossStartsNoRecovery(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 3)
	h.at(10 * ms)
	l := &h.c.txl
	l.setFlags(l.head, txLost|txRetrans|txEverRetrans, 0)
	h.c.rackDetect(h.c.sndUna, h.now)
	if h.c.inRecovery {
		t.Fatal("recovery entered for a loss already resent")
	}
	l.setFlags(l.head, 0, txRetrans)
	h.c.rackDetect(h.c.sndUna, h.now)
	if !h.c.inRecovery {
		t.Fatal("no recovery for a loss waiting to be resent")
	}
}

// RACK resends a lost segment above HighRxt with unSACKed octets between
// (10, above 4-9): HighRxt stays, since SetPipe (RFC 6675 §4) counts
// every unSACKed octet below it as retransmitted; 4-9 count once.
func TestEstablished_RACK_ResendAboveAGap_HighRxtStays(t *testing.T) {
	h := newSACKEstablished(t)
	lostFirstSegmentRecovery(h) // 1-3 SACKed, 0 resent: HighRxt at 1
	l := &h.c.txl
	for i := l.head; i != 0; i = l.recs[i].next {
		if l.recs[i].start == segAt(10) {
			l.setFlags(i, txLost, 0)
		}
	}
	pipe := h.c.pipe()
	if !h.c.rackRetransmit(h.now, 1460) {
		t.Fatal("nothing resent")
	}
	h.expect(rackSeg(10))
	if h.c.highRxt != segAt(1) {
		t.Fatalf("HighRxt %d, want %d", h.c.highRxt, segAt(1))
	}
	// 10 left pipe when deemed lost and is back with its retransmission.
	if got := h.c.pipe(); got != pipe+1460 {
		t.Fatalf("pipe %d, want %d", got, pipe+1460)
	}
	if seq, _, _, ok := h.c.nextHole(1460); ok && seq == segAt(10) {
		t.Fatal("NextSeg() offers 10 again")
	}
}
