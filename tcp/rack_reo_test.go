package tcp

import (
	"testing"
	"time"
)

// RACK.reo_wnd adaptation (RFC 8985 §6.2 step 4): a D-SACK widens the
// reordering window by a quarter of min_RTT, once per round trip, up to
// SRTT; it narrows back after 16 recoveries without one.

func TestEstablished_RACK_DSACK_WidensReoWndOncePerRound(t *testing.T) {
	h, _, _ := spuriousRecovery(t, Config{})
	h.c.minRTT, h.c.srtt = 8*ms, 40*ms
	if got := h.c.reoWnd(); got != 2*ms+ptoMinExtra {
		t.Fatalf("reo_wnd %v before any D-SACK, want %v", got, 2*ms+ptoMinExtra)
	}
	h.at(12 * ms)
	h.in(h.sackAck(segAt(10))) // the recovery ends: everything acknowledged
	h.c.Write(bytesN(2*1460), h.now)
	h.out.take()
	// Two D-SACKs of the retransmission of 0 while 10 and 11 are out: one
	// round, one widening.
	h.in(h.sackAck(segAt(10), segAt(0), segAt(1)))
	h.in(h.sackAck(segAt(10), segAt(0), segAt(1)))
	if got, want := h.c.reoWnd(), 4*ms+ptoMinExtra; got != want {
		t.Fatalf("reo_wnd %v after two D-SACKs in one round, want %v", got, want)
	}
	// SND.UNA passes the round's end: the next D-SACK widens again.
	h.in(h.sackAck(segAt(12)))
	h.c.minRTT, h.c.srtt = 8*ms, 40*ms // the harness's RTT samples are 0
	h.in(h.sackAck(segAt(12), segAt(0), segAt(1)))
	if got, want := h.c.reoWnd(), 6*ms+ptoMinExtra; got != want {
		t.Fatalf("reo_wnd %v after a D-SACK in the next round, want %v", got, want)
	}
	// Never wider than SRTT (§6.2 step 4).
	h.c.srtt = 5 * ms
	if got, want := h.c.reoWnd(), 5*ms+ptoMinExtra; got != want {
		t.Fatalf("reo_wnd %v with SRTT 5ms, want %v", got, want)
	}
}

func TestEstablished_RACK_WidenedReoWnd_NarrowsAfter16Recoveries(t *testing.T) {
	h, _, _ := spuriousRecovery(t, Config{})
	h.c.minRTT, h.c.srtt = 8*ms, 40*ms
	h.c.reoWndMult, h.c.reoWndPersist = 3, 1
	// The end of fast recovery counts one: the last of the 16.
	h.at(12 * ms)
	h.in(h.sackAck(segAt(10)))
	if h.c.inRecovery || h.c.reoWndMult != 0 {
		t.Fatalf("inRecovery %v reo_wnd_mult-1 %d, want the window back to min_RTT/4", h.c.inRecovery, h.c.reoWndMult)
	}
	// Counted down one recovery at a time.
	h.c.reoWndMult, h.c.reoWndPersist = 2, reoWndPersistRecoveries
	for i := range reoWndPersistRecoveries {
		if h.c.reoWndMult != 2 {
			t.Fatalf("narrowed after %d recoveries", i)
		}
		h.c.rackRecoveryEnded()
	}
	if h.c.reoWndMult != 0 || h.c.reoWnd() != time.Duration(2*ms)+ptoMinExtra {
		t.Fatalf("reo_wnd_mult-1 %d after 16 recoveries, want 0", h.c.reoWndMult)
	}
}
