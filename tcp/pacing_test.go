package tcp

import (
	"testing"
	"time"
)

// Pacing (pacing.go): with BBR's pacing rate a data segment leaves only at
// or after pace.at, which each segment moves on by its size over the rate;
// a send quantum may leave back to back. The pacing timer is one of the
// Conn's deadlines, so the stack's heap wakes it.

func TestPacing_SegmentsLeaveAtThePacedRate(t *testing.T) {
	h := newEstablished(t, Config{Congestion: "bbr", NoDelay: true, SndBuf: 1 << 20})
	b := h.c.cc.(*bbr)
	// Pin the rate at one segment per millisecond: the send quantum is
	// its floor, 2 segments.
	b.rate = 1460 * 1000
	if _, err := h.c.Write(make([]byte, 8*1460), h.now); err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	for i := 0; i < 20 && len(times) < 8; i++ {
		for _, sg := range h.out.take() {
			if len(sg.Payload) > 0 {
				times = append(times, h.now.Sub(t0))
			}
		}
		if len(times) >= 8 {
			break
		}
		d, ok := h.c.NextDeadline()
		if !ok {
			t.Fatal("data waiting and no deadline armed")
		}
		h.now = d
		h.c.HandleTimer(h.now)
	}
	want := []time.Duration{0, 0, 1, 2, 3, 4, 5, 6}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if len(times) != len(want) {
		t.Fatalf("segments left at %v, want %v", times, want)
	}
	for i := range want {
		if times[i] != want[i] {
			t.Fatalf("segments left at %v, want %v", times, want)
		}
	}
}

func TestPacing_UnpacedCongestionControlSendsTheWindowAtOnce(t *testing.T) {
	h := newEstablished(t, Config{Congestion: "cubic", NoDelay: true, SndBuf: 1 << 20})
	if _, err := h.c.Write(make([]byte, 8*1460), h.now); err != nil {
		t.Fatal(err)
	}
	if n := len(h.out.take()); n != 8 {
		t.Fatalf("CUBIC sent %d segments at once, want the 8 its window allows", n)
	}
	if !h.c.paceTimer().IsZero() {
		t.Fatal("pacing timer armed for an unpaced connection")
	}
}

// TestPacing_InfoReportsTheRate: Info's PacingRate is BBR's pacing rate
// (Linux's tcpi_pacing_rate), and 0 for CUBIC, which does not pace.
func TestPacing_InfoReportsTheRate(t *testing.T) {
	h := newEstablished(t, Config{Congestion: "bbr"})
	b := h.c.cc.(*bbr)
	b.rate = 1460 * 1000
	if got := h.c.Info().PacingRate; got != 1460*1000 {
		t.Errorf("BBR: Info().PacingRate = %d, want %d", got, 1460*1000)
	}
	h = newEstablished(t, Config{Congestion: "cubic"})
	if got := h.c.Info().PacingRate; got != 0 {
		t.Errorf("CUBIC: Info().PacingRate = %d, want 0", got)
	}
}
