package tcp

import "testing"

// RACK.reordering_seen (RFC 8985 §6.2 step 2, as Linux's
// tcp_check_sack_reordering): an original transmission delivered below
// the highest SACKed octet shows that the path reorders; from then on,
// in recovery, holes are lost by RACK's time rule only, not by DupThresh.

func TestEstablished_RACK_ReorderingSeen_NewSACKBelowTheTop(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 8)
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(5), segAt(6)))
	h.in(h.sackAck(segAt(0), segAt(7), segAt(8), segAt(5), segAt(6)))
	// An older block reported again, below the highest: no news. (A
	// window update, so that it is no third duplicate ACK.)
	a := h.sackAck(segAt(0), segAt(7), segAt(8), segAt(5), segAt(6))
	a.Window--
	h.in(a)
	if h.c.reorderingSeen || h.c.inRecovery {
		t.Fatalf("reordering seen %v (inRecovery %v) from a block reported again", h.c.reorderingSeen, h.c.inRecovery)
	}
	// Segment 2, sent before 5-7, arrives after them.
	a = h.sackAck(segAt(0), segAt(2), segAt(3), segAt(5), segAt(6), segAt(7), segAt(8))
	a.Window -= 2
	h.in(a)
	if !h.c.reorderingSeen {
		t.Fatal("a new SACK below the highest SACKed octet: reordering not seen")
	}
}

// The cumulative ACK of a hole that was never resent, with SACKed data
// above it: its original came late.
func TestEstablished_RACK_ReorderingSeen_LateHoleCumulativelyACKed(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 4)
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.seg(FlagACK)) // everything: 0 arrived after 1
	if !h.c.reorderingSeen {
		t.Fatal("late hole ACKed: reordering not seen")
	}
}

// Retransmitted data says nothing of the path's order: the SACK of a
// resent hole below the top, or the cumulative ACK of one, is no
// evidence.
func TestEstablished_RACK_ReorderingNotSeen_FromRetransmissions(t *testing.T) {
	h := newSACKEstablished(t)
	lostFirstSegmentRecovery(h) // 0 resent at 10ms; 1-4 SACKed
	h.at(12 * ms)
	h.in(h.sackAck(segAt(5), segAt(6))) // cumulative to 5: the resent 0 arrived
	if h.c.reorderingSeen {
		t.Fatal("reordering seen from a retransmission")
	}
	// After a timeout the go-back-N resends what it reaches.
	g := newSACKEstablished(t)
	writeSegs(g, 4)
	g.at(10 * ms)
	g.in(g.sackAck(segAt(0), segAt(2), segAt(3)))
	for g.c.Info().Timeouts == 0 {
		d, _ := g.c.NextDeadline()
		g.fire(d.Sub(t0))
	}
	g.out.take()
	g.in(g.seg(FlagACK))
	if g.c.reorderingSeen {
		t.Fatal("reordering seen from the go-back-N after a timeout")
	}
}

// Once reordering was seen, a hole with DupThresh segments SACKed above
// it is not lost at once (RFC 6675 IsLost): RACK's reordering window
// decides, a reo_wnd after the SACK.
func TestEstablished_RACK_ReorderingSeen_NoDupThreshInRecovery(t *testing.T) {
	for _, seen := range []bool{false, true} {
		h := newSACKEstablished(t)
		writeSegs(h, 8)
		h.c.reorderingSeen = seen
		h.at(10 * ms)
		// Segments 0, 2 and 4 are lost.
		h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
		h.in(h.sackAck(segAt(0), segAt(3), segAt(4), segAt(1), segAt(2)))
		h.in(h.sackAck(segAt(0), segAt(5), segAt(6), segAt(3), segAt(4), segAt(1), segAt(2)))
		h.expect("ACK seq=1001 ack=5001 len=1460") // recovery: 0 resent
		h.in(h.sackAck(segAt(0), segAt(5), segAt(7), segAt(3), segAt(4), segAt(1), segAt(2)))
		got := h.out.take()
		resent2 := len(got) == 1 && got[0].Seq == segAt(2)
		if resent2 == seen {
			t.Fatalf("reordering seen %v: segment 2 resent at once %v (sent %d)", seen, resent2, len(got))
		}
		if seen {
			// A reo_wnd (2ms) after the SACK above it, RACK resends it.
			h.fire(12 * ms)
			if got := h.out.take(); len(got) == 0 || got[0].Seq != segAt(2) {
				t.Fatalf("after reo_wnd sent %d segments, want segment 2 first", len(got))
			}
		}
	}
}
