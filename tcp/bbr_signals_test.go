package tcp

import "testing"

// What the sender tells BBR of loss and ECN (delivery.lost, lossRanges,
// ce): the octets its scoreboard deems lost, each once, and the data that
// ACKs with ECE acknowledge.

// bbrRecorder is BBR that keeps every delivery the sender gives it, and
// does not pace (so a harness's writes leave at once).
type bbrRecorder struct {
	*bbr
	got []delivery
}

func (r *bbrRecorder) onDelivery(d delivery) { r.got = append(r.got, d); r.bbr.onDelivery(d) }
func (r *bbrRecorder) pacingRate() uint64    { return 0 }

// withBBRRecorder gives h's connection a bbrRecorder with a 20-segment
// window.
func withBBRRecorder(h *harness) *bbrRecorder {
	r := &bbrRecorder{bbr: newBBR()}
	r.init(20*1460, initialSsthresh)
	h.c.cc = r
	return r
}

// lostSince sums the lost octets and ranges of the deliveries from i on.
func (r *bbrRecorder) lostSince(i int) (lost, ranges int) {
	for _, d := range r.got[i:] {
		lost, ranges = lost+d.lost, ranges+d.lossRanges
	}
	return lost, ranges
}

func TestBBR_Sender_NewlyLostIsEachLostHoleOnce(t *testing.T) {
	h := newSACKEstablished(t)
	r := withBBRRecorder(h)
	writeSegs(h, 10)
	// Segment 0 missing, one segment SACKed above it: not lost yet
	// (RFC 6675 IsLost).
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	if lost, _ := r.lostSince(0); lost != 0 || len(r.got) == 0 {
		t.Fatalf("%d deliveries, %d octets lost, want a delivery and none lost", len(r.got), lost)
	}
	// Holes 0, 2 and 4 below [1,2) [3,4) [5,9): each IsLost now.
	n := len(r.got)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2), segAt(3), segAt(4), segAt(5), segAt(9)))
	if lost, ranges := r.lostSince(n); lost != 3*1460 || ranges != 3 {
		t.Fatalf("lost %d in %d ranges, want 3 segments in 3", lost, ranges)
	}
	h.out.take()
	// More SACKs, the retransmission of 0 acknowledged: nothing is lost
	// twice.
	n = len(r.got)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2), segAt(3), segAt(4), segAt(5), segAt(10)))
	h.in(h.sackAck(segAt(2), segAt(3), segAt(4), segAt(5), segAt(10)))
	if lost, _ := r.lostSince(n); lost != 0 || len(r.got) == n {
		t.Fatalf("%d deliveries after, %d more octets lost; want some, none", len(r.got)-n, lost)
	}
}

func TestBBR_Sender_NewRenoPartialACKsLoseTheSegmentAtSNDUNA(t *testing.T) {
	h := newEstablished(t, Config{})
	r := withBBRRecorder(h)
	h.c.Write(bytesN(6*1460), h.now)
	h.out.take()
	dup := h.seg(FlagACK)
	dup.Ack = segAt(0)
	for range 3 {
		h.in(dup) // segments 1-3 arrived
	}
	if lost, ranges := r.lostSince(0); lost != 1460 || ranges != 1 || !h.c.inRecovery {
		t.Fatalf("lost %d in %d ranges (recovery %v), want segment 0 on fast retransmit", lost, ranges, h.c.inRecovery)
	}
	n := len(r.got)
	partial := h.seg(FlagACK)
	partial.Ack = segAt(4) // segment 4 is missing too
	h.in(partial)
	if lost, _ := r.lostSince(n); lost != 1460 {
		t.Fatalf("lost %d on the partial ACK, want segment 4's 1460", lost)
	}
}

func TestBBR_Sender_ECEMarksTheDeliveredDataCE(t *testing.T) {
	h := newECNEstablished(t, Config{})
	r := withBBRRecorder(h)
	h.c.Write(bytesN(10*1460), h.now)
	h.out.take()
	h.in(h.eceAck(2))
	d := r.got[len(r.got)-1]
	if !d.ecn || d.ce != 2*1460 || d.acked != 2*1460 {
		t.Fatalf("delivery ecn %v ce %d acked %d, want ECN and the 2 segments CE", d.ecn, d.ce, d.acked)
	}
	ack := h.seg(FlagACK)
	ack.Ack = segAt(4)
	h.in(ack)
	if d := r.got[len(r.got)-1]; d.ce != 0 || d.acked != 2*1460 {
		t.Fatalf("delivery ce %d acked %d after an ACK without ECE, want 0 of 2 segments", d.ce, d.acked)
	}
}
