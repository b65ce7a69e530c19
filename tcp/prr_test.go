package tcp

import "testing"

// Proportional Rate Reduction (RFC 6937) in SACK recovery.

// prrRecovery has 20 segments in flight under Reno, segment 0 lost, and
// the SACKs of 1 to 3: the third starts recovery (RFC 6675 §5 (4)),
// ssthresh = 10 segments, RecoverFS = 20, segment 0 resent.
func prrRecovery(t *testing.T) *harness {
	t.Helper()
	h := newSACKEstablished(t)
	setWindow(h.c, 20*1460, initialSsthresh)
	writeSegs(h, 20)
	h.c.Write(bytesN(10*1460), h.now)
	h.out.take()
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.out.take() // limited transmit
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	if !h.c.inRecovery || h.c.cc.ssthresh() != 11*1460 {
		t.Fatalf("fixture: inRecovery %v ssthresh %d", h.c.inRecovery, h.c.cc.ssthresh())
	}
	h.expect("ACK seq=1001 ack=5001 len=1460")
	return h
}

func TestEstablished_PRR_WhilePipeAboveSsthresh_SendsInProportionToDelivery(t *testing.T) {
	// RFC 6937 §3: while pipe > ssthresh, sndcnt = ⌈prr_delivered ·
	// ssthresh / RecoverFS⌉ − prr_out: about ssthresh/RecoverFS of a
	// segment per segment delivered. RFC 6675 alone (cwnd = ssthresh)
	// would send nothing until pipe fell below ssthresh, then a burst.
	h := prrRecovery(t)
	sent := 0
	for i := 5; i <= 12; i++ {
		h.in(h.sackAck(segAt(0), segAt(1), segAt(i)))
		sent += len(h.out.take())
	}
	// 8 segments delivered with ssthresh/RecoverFS = 11/22: about 4
	// sent, the retransmission of segment 0 counted among them.
	if sent < 3 || sent > 5 {
		t.Fatalf("%d segments sent over 8 delivered while pipe > ssthresh, want about 4 (PRR)", sent)
	}
	if p := h.c.pipe(); p <= h.c.cc.ssthresh() {
		t.Fatalf("fixture: pipe %d no longer above ssthresh %d", p, h.c.cc.ssthresh())
	}
}

func TestEstablished_PRR_RecoveryEndsAtSsthresh(t *testing.T) {
	h := prrRecovery(t)
	ssthresh := h.c.cc.ssthresh()
	h.at(20 * ms)
	h.in(h.sackAck(h.c.sndNxt))
	if h.c.inRecovery || h.c.cc.cwnd() != ssthresh {
		t.Fatalf("inRecovery %v cwnd %d after the full ACK, want ssthresh %d (RFC 6937 §3)", h.c.inRecovery, h.c.cc.cwnd(), ssthresh)
	}
}

func TestPRR_AtOrBelowSsthresh_SlowStartBoundedByDeliveryPlusOneSegment(t *testing.T) {
	// RFC 6937 §3, PRR-SSRB: once pipe ≤ ssthresh, sndcnt = min(ssthresh −
	// pipe, max(prr_delivered − prr_out, DeliveredData) + MSS).
	h := prrRecovery(t)
	// Everything but segment 0 and the last four is SACKed: pipe is far
	// below ssthresh.
	h.in(h.sackAck(segAt(0), segAt(1), segAt(16)))
	h.out.take()
	pipe := h.c.pipe()
	setSsthresh(h.c, pipe+6*1460) // room for six below ssthresh
	h.c.prrDelivered, h.c.prrOut = 5*1460, 5*1460
	h.c.prrWindow(1460)
	if got := h.c.cc.cwnd() - pipe; got != 2*1460 {
		t.Fatalf("sndcnt %d, want 2 segments: DeliveredData (1) + 1 MSS", got)
	}
	h.c.prrDelivered = 8 * 1460 // three delivered and not yet matched by sending
	h.c.prrWindow(1460)
	if got := h.c.cc.cwnd() - pipe; got != 4*1460 {
		t.Fatalf("sndcnt %d, want 4 segments: prr_delivered − prr_out (3) + 1 MSS", got)
	}
}

// RFC 6937 §3: DeliveredData is the change in SND.UNA plus the change in
// SACKed octets. A cumulative ACK over data SACKed earlier delivers only
// what was not SACKed: those octets counted when their SACK came.
func TestEstablished_PRR_CumulativeACKOfSACKedData_DeliveredOnce(t *testing.T) {
	h := newSACKEstablished(t)
	lostFirstSegmentRecovery(h) // 1-3 SACKed, 0 resent
	before := h.c.prrDelivered
	h.at(11 * ms)
	a := h.seg(FlagACK)
	a.Ack = segAt(5) // 0 (resent) and 4 arrived: 0-4 cumulatively acknowledged
	h.in(a)
	if !h.c.inRecovery {
		t.Fatal("fixture: recovery ended")
	}
	if got := h.c.prrDelivered - before; got != 2*1460 {
		t.Fatalf("DeliveredData %d, want %d (segments 0 and 4; 1-3 were delivered when SACKed)", got, 2*1460)
	}
}
