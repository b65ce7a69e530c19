package tcp

import (
	"testing"
)

// F-RTO (RFC 5682 §3), frto.go: spurious timeouts found without
// timestamps.

// frtoRTO writes k segments (the window takes 10), lets the RTO fire at
// 200ms (with SACK, 202ms: the loss probe at 2ms first resends the last
// segment) and returns cwnd and ssthresh from before it. The timeout
// resends segment 0.
func frtoRTO(t *testing.T, h *harness, k int) (cwnd, ssthresh int) {
	t.Helper()
	if h.c.tsOn {
		t.Fatal("fixture: timestamps negotiated")
	}
	h.c.Write(bytesN(k*1460), h.now)
	h.out.take()
	cwnd, ssthresh = h.c.cc.cwnd(), h.c.cc.ssthresh()
	rto := 200 * ms
	if h.c.sackOn {
		h.fire(2 * ms)
		h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(9)))
		rto += 2 * ms
	}
	h.fire(rto)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if h.c.cc.cwnd() >= cwnd {
		t.Fatalf("fixture: cwnd %d after the RTO (was %d)", h.c.cc.cwnd(), cwnd)
	}
	h.at(rto + ms)
	return cwnd, ssthresh
}

func expectUndone(t *testing.T, h *harness, k *Counters, cwnd, ssthresh int) {
	t.Helper()
	if h.c.cc.cwnd() < cwnd || h.c.cc.ssthresh() != ssthresh {
		t.Fatalf("cwnd %d ssthresh %d, want %d %d back", h.c.cc.cwnd(), h.c.cc.ssthresh(), cwnd, ssthresh)
	}
	if i := h.c.Info(); i.SpuriousRTOs != 1 || k.SpuriousRTOs != 1 {
		t.Fatalf("SpuriousRTOs %d (counter %d), want 1", i.SpuriousRTOs, k.SpuriousRTOs)
	}
}

// The ACKs of the originals were late: the first ACK after the timeout
// covers segment 1, sent once, before it. The timeout is undone (step 3b,
// at the first ACK as Linux) and nothing the peer holds is resent.
func TestEstablished_FRTO_ACKOfOriginalData_UndoesTheRTO(t *testing.T) {
	k := &Counters{}
	h := newEstablished(t, Config{Counters: k})
	cwnd, ssthresh := frtoRTO(t, h, 4)
	a := h.seg(FlagACK)
	a.Ack = segAt(2)
	h.in(a)
	expectUndone(t, h, k, cwnd, ssthresh)
	for _, sg := range h.out.take() {
		if sg.Seq.LessThan(segAt(4)) && len(sg.Payload) > 0 {
			t.Fatalf("resent %d after the undo", sg.Seq)
		}
	}
}

// Step 2b: the first ACK covers the retransmission only; two new segments
// go out, not segment 1 again. The next ACK covers segment 1, sent before
// the timeout and not since: the timeout was spurious (step 3b).
func TestEstablished_FRTO_NewDataThenACKOfOriginal_Undoes(t *testing.T) {
	k := &Counters{}
	h := newEstablished(t, Config{Counters: k, SndBuf: 1 << 20})
	cwnd, ssthresh := frtoRTO(t, h, 14) // 10 in flight, 4 unsent
	a := h.seg(FlagACK)
	a.Ack = segAt(1)
	h.in(a)
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(10)), s("ACK seq=%d ack=5001 len=1460", segAt(11)))
	if h.c.Info().SpuriousRTOs != 0 {
		t.Fatal("undone at the ACK of the retransmission")
	}
	h.at(202 * ms)
	a.Ack = segAt(2)
	h.in(a)
	expectUndone(t, h, k, cwnd, ssthresh)
}

// Step 3a without SACK: after the new data, a duplicate ACK says the
// loss was real; the go-back-N resumes at SND.UNA and nothing is undone.
func TestEstablished_FRTO_DupACKAfterNewData_GoesBackN(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 1 << 20})
	cwnd, _ := frtoRTO(t, h, 14)
	a := h.seg(FlagACK)
	a.Ack = segAt(1)
	h.in(a)
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(10)), s("ACK seq=%d ack=5001 len=1460", segAt(11)))
	h.at(202 * ms)
	h.in(a) // the same ACK again: a duplicate
	if got := h.out.take(); len(got) == 0 || got[0].Seq != segAt(1) {
		t.Fatalf("after the duplicate ACK sent %v, want segment 1 again", got)
	}
	if h.c.Info().SpuriousRTOs != 0 || h.c.cc.cwnd() >= cwnd {
		t.Fatalf("SpuriousRTOs %d cwnd %d (was %d): a real loss was undone", h.c.Info().SpuriousRTOs, h.c.cc.cwnd(), cwnd)
	}
}

// Step 3a with SACK: an ACK SACKing only the new data says the loss was
// real; a SACK of original data would have said the opposite.
func TestEstablished_FRTO_SACKOfNewDataOnly_GoesBackN(t *testing.T) {
	h := newSACKEstablishedWith(t, Config{DisableTimestamps: true, SndBuf: 1 << 20})
	cwnd, _ := frtoRTO(t, h, 14)
	h.in(h.sackAck(segAt(1)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(10)), s("ACK seq=%d ack=5001 len=1460", segAt(11)))
	h.at(204 * ms)
	h.in(h.sackAck(segAt(1), segAt(10), segAt(11)))
	if got := h.out.take(); len(got) == 0 || got[0].Seq != segAt(1) {
		t.Fatalf("after the SACK of the new data sent %v, want segment 1 again", got)
	}
	if h.c.Info().SpuriousRTOs != 0 || h.c.cc.cwnd() >= cwnd {
		t.Fatalf("SpuriousRTOs %d cwnd %d (was %d): a real loss was undone", h.c.Info().SpuriousRTOs, h.c.cc.cwnd(), cwnd)
	}
}

// A SACK of original data, sent before the timeout and never again, is
// evidence too.
func TestEstablished_FRTO_SACKOfOriginalData_Undoes(t *testing.T) {
	k := &Counters{}
	h := newSACKEstablishedWith(t, Config{DisableTimestamps: true, Counters: k, SndBuf: 1 << 20})
	cwnd, ssthresh := frtoRTO(t, h, 14)
	h.in(h.sackAck(segAt(1)))
	h.out.take()
	h.at(204 * ms)
	h.in(h.sackAck(segAt(1), segAt(3), segAt(4)))
	expectUndone(t, h, k, cwnd, ssthresh)
}

// With timestamps Eifel decides (undo.go): F-RTO sends no new data after
// the ACK of the retransmission, and the go-back-N goes on.
func TestEstablished_FRTO_OffWithTimestamps(t *testing.T) {
	h := newTSEstablished(t, Config{SndBuf: 1 << 20})
	h.c.Write(bytesN(14*1448), h.now)
	h.out.take()
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1448")
	h.at(201 * ms)
	a := ts(h.seg(FlagACK), 7001, h.c.tsVal(h.now)) // echoes the retransmission
	a.Ack = tsSegAt(1)
	h.in(a)
	if got := h.out.take(); len(got) == 0 || got[0].Seq != tsSegAt(1) {
		t.Fatalf("after the ACK sent %v, want segment 1 again", got)
	}
}

// A timeout of the retransmission (a recurring one) gets no F-RTO (RFC
// 5682 §3.1 step 1): the go-back-N goes on.
func TestEstablished_FRTO_RecurringTimeout_GoesBackN(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 1 << 20})
	frtoRTO(t, h, 14)
	h.fire(600 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.at(601 * ms)
	a := h.seg(FlagACK)
	a.Ack = segAt(1)
	h.in(a)
	if got := h.out.take(); len(got) == 0 || got[0].Seq != segAt(1) {
		t.Fatalf("after the ACK sent %v, want segment 1 again", got)
	}
}

// The loss probe resent the last segment before the timeout: its SACK
// may be the probe's copy, so it is no evidence (RFC 8985 §7.3, RFC 5682
// §3.1: only data not retransmitted counts).
func TestEstablished_FRTO_SACKOfTheProbedSegment_NoEvidence(t *testing.T) {
	h := newSACKEstablishedWith(t, Config{DisableTimestamps: true, SndBuf: 1 << 20})
	frtoRTO(t, h, 14)
	h.in(h.sackAck(segAt(1), segAt(9), segAt(10)))
	if n := h.c.Info().SpuriousRTOs; n != 0 {
		t.Fatalf("SpuriousRTOs %d: the SACK of the probed segment undid the timeout", n)
	}
}

// Step 2a: a duplicate ACK first, even one SACKing original data, falls
// back to the conventional recovery (RFC 5682 §3.1): the go-back-N goes
// on and the timeout stands.
func TestEstablished_FRTO_DupACKFirst_Conventional(t *testing.T) {
	h := newSACKEstablishedWith(t, Config{DisableTimestamps: true, SndBuf: 1 << 20})
	frtoRTO(t, h, 14)
	h.in(h.sackAck(segAt(0), segAt(2), segAt(5)))
	if h.c.frtoOn || h.c.Info().SpuriousRTOs != 0 {
		t.Fatalf("frtoOn %v SpuriousRTOs %d after a duplicate ACK first", h.c.frtoOn, h.c.Info().SpuriousRTOs)
	}
}
