package tcp

import "testing"

// Undo of a spurious fast recovery (RFC 2883 §5; Linux's
// tcp_try_undo_dsack): when D-SACKs show that every retransmission of the
// recovery was a duplicate, the original segments were only late, and the
// window reduction is taken back.

// spuriousRecovery starts a SACK recovery on segment 0 of 10 at 10 ms
// (three SACKs) and returns cwnd and ssthresh from before it.
func spuriousRecovery(t *testing.T, cfg Config) (h *harness, cwnd, ssthresh int) {
	t.Helper()
	k := &Counters{}
	cfg.Counters, cfg.DisableTimestamps = k, true
	h = newSACKEstablishedWith(t, cfg)
	writeSegs(h, 10)
	cwnd, ssthresh = h.c.cc.cwnd(), h.c.cc.ssthresh()
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	if !h.c.inRecovery || h.c.cc.cwnd() >= cwnd {
		t.Fatalf("fixture: inRecovery %v cwnd %d (was %d)", h.c.inRecovery, h.c.cc.cwnd(), cwnd)
	}
	h.out.take()
	return h, cwnd, ssthresh
}

func TestEstablished_DSACKOfEveryRetransmission_UndoesTheReduction(t *testing.T) {
	for _, cc := range []string{"reno", "cubic"} {
		t.Run(cc, func(t *testing.T) {
			h, cwnd, ssthresh := spuriousRecovery(t, Config{Congestion: cc})
			if h.c.retransmits != 1 {
				t.Fatalf("fixture: %d retransmissions, want 1", h.c.retransmits)
			}
			// The original segment 0 arrives: everything is acknowledged.
			// Then its retransmission does, reported in a D-SACK block.
			h.at(12 * ms)
			h.in(h.sackAck(segAt(10)))
			h.in(h.sackAck(segAt(10), segAt(0), segAt(1)))
			if i := h.c.Info(); i.DSACKUndos != 1 || h.c.cfg.Counters.DSACKUndos != 1 {
				t.Fatalf("DSACKUndos %d (stack %d), want 1", i.DSACKUndos, h.c.cfg.Counters.DSACKUndos)
			}
			if h.c.cc.cwnd() < cwnd || h.c.cc.ssthresh() < ssthresh {
				t.Fatalf("cwnd %d ssthresh %d after the undo, want at least %d and %d", h.c.cc.cwnd(), h.c.cc.ssthresh(), cwnd, ssthresh)
			}
		})
	}
}

func TestEstablished_DSACKOfSomeRetransmissions_NoUndo(t *testing.T) {
	h, _, _ := spuriousRecovery(t, Config{})
	// A second hole is retransmitted too: segment 5 is lost, 6 to 9
	// SACKed (rule (1) resends it once cwnd - pipe allows).
	h.in(h.sackAck(segAt(0), segAt(1), segAt(5), segAt(6), segAt(10)))
	h.out.take()
	if h.c.retransmits < 2 {
		t.Fatalf("fixture: %d retransmissions, want 2", h.c.retransmits)
	}
	cwnd := h.c.cc.cwnd()
	// Only the first retransmission proves a duplicate.
	h.at(14 * ms)
	h.in(h.sackAck(segAt(5), segAt(0), segAt(1), segAt(6), segAt(10)))
	if h.c.Info().DSACKUndos != 0 || h.c.cc.cwnd() > cwnd+1460 {
		t.Fatalf("DSACKUndos %d cwnd %d (was %d): undone though a retransmission may have repaired a loss", h.c.Info().DSACKUndos, h.c.cc.cwnd(), cwnd)
	}
}

func TestEstablished_DSACKOfDataBeforeTheRecovery_NoUndo(t *testing.T) {
	// A D-SACK of data below where the recovery began says nothing of it
	// (Linux checks the block against undo_marker).
	h, _, _ := spuriousRecovery(t, Config{})
	cwnd := h.c.cc.cwnd()
	h.in(h.sackAck(segAt(0), segAt(0).Sub(100), segAt(0), segAt(1), segAt(4)))
	if h.c.Info().DSACKUndos != 0 || h.c.cc.cwnd() != cwnd {
		t.Fatalf("DSACKUndos %d cwnd %d (was %d)", h.c.Info().DSACKUndos, h.c.cc.cwnd(), cwnd)
	}
}

func TestEstablished_DSACKAfterAnRTO_NoUndo(t *testing.T) {
	// A timeout ends the recovery's undo record: no F-RTO or Eifel (RFC
	// 5682, RFC 3522) yet, so the RTO's reduction stays.
	h, _, _ := spuriousRecovery(t, Config{})
	for h.c.Info().Timeouts == 0 { // nothing more arrives: timers until the RTO
		d, ok := h.c.NextDeadline()
		if !ok {
			t.Fatal("no timer")
		}
		h.fire(d.Sub(t0))
	}
	h.out.take()
	// D-SACKs for both retransmissions (the fast one and the RTO's).
	h.in(h.sackAck(segAt(10), segAt(0), segAt(1)))
	h.in(h.sackAck(segAt(10), segAt(0), segAt(1)))
	if h.c.Info().DSACKUndos != 0 {
		t.Fatalf("DSACKUndos %d after an RTO, want 0", h.c.Info().DSACKUndos)
	}
}

func TestEstablished_DSACKUndo_WithoutStackCounters(t *testing.T) {
	// A Conn made without Config.Counters (the library's default) counts
	// the undo in its own Info only.
	h, _, _ := spuriousRecovery(t, Config{})
	h.c.setCounters(nil)
	h.at(12 * ms)
	h.in(h.sackAck(segAt(10)))
	h.in(h.sackAck(segAt(10), segAt(0), segAt(1)))
	if h.c.Info().DSACKUndos != 1 {
		t.Fatalf("DSACKUndos %d, want 1", h.c.Info().DSACKUndos)
	}
}
