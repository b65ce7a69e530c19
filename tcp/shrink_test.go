package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// A receiver may shrink its window, moving the right edge left of data we
// already sent (RFC 9293 §3.8.6, MUST-34: "A TCP receiver SHOULD NOT
// shrink the window ... However, a sending TCP peer MUST be robust against
// window shrinking"). The sender then sends no new data (SHLD-15), keeps
// what it queued and resends what the window still holds (SHLD-16), and
// goes on once the window reopens. Linux's rule is the one we match: new
// data goes only if it ends at or before SND.UNA+SND.WND (tcp_snd_wnd_test),
// and a retransmission past that edge is held unless it starts at SND.UNA,
// where it is the zero-window probe (__tcp_retransmit_skb).

// newUnscaled is an established connection whose peer offered an
// unscaled window of wnd (its largest yet) and no options but MSS 1460,
// so that a test can set any window to the byte.
func newUnscaled(t *testing.T, cfg Config, wnd uint16) *harness {
	h := newSynSent(t, cfg)
	sa := h.synAck()
	sa.Options.HasWScale = false
	sa.Window = wnd
	h.in(sa)
	h.out.take()
	return h
}

// wndAck is the peer's ACK of ack with window wnd (unscaled).
func (h *harness) wndAck(ack seqnum.Value, wnd uint16) Segment {
	a := h.seg(FlagACK)
	a.Ack, a.Window = ack, wnd
	return a
}

// sendRightEdge checks what the Conn sent since the last check against
// the window: no segment may carry data past SND.UNA+SND.WND unless it
// starts at SND.UNA (the one segment a zero or shrunk window lets go, as
// a probe). It returns the segments.
func (h *harness) sendRightEdge() []Segment {
	h.t.Helper()
	got := h.out.take()
	edge := h.c.sndUna.Add(seqnum.Size(h.c.sndWnd))
	for i := range got {
		s := &got[i]
		end := s.Seq.Add(seqnum.Size(len(s.Payload)))
		if len(s.Payload) > 0 && end.GreaterThan(edge) && s.Seq != h.c.sndUna {
			h.t.Fatalf("at %v sent %s past the right edge %d (SND.UNA %d SND.WND %d)",
				h.now.Sub(t0), segString(s), edge, h.c.sndUna, h.c.sndWnd)
		}
	}
	return got
}

// nextTimer runs the Conn's next timer, whenever it is due, and returns
// what it sent, checked by sendRightEdge.
func (h *harness) nextTimer() []Segment {
	h.t.Helper()
	next, ok := h.c.NextDeadline()
	if !ok {
		h.t.Fatal("no timer armed with data outstanding")
	}
	h.now = next
	h.c.HandleTimer(h.now)
	h.checkInvariants()
	return h.sendRightEdge()
}

// The window shrinks below what is in flight: nothing new goes, the
// connection carries on (no error, no reset), the data stays queued,
// and once the window reopens the rest is sent from where it stopped.
func TestEstablished_WindowShrinksBelowFlight_NoNewDataUntilItReopens(t *testing.T) {
	h := newUnscaled(t, Config{SndBuf: 64 << 10}, 65535)
	const total = 20 * 1460
	if n, err := h.c.Write(bytesN(total), h.now); n != total || err != nil {
		t.Fatalf("Write %d %v", n, err)
	}
	if got := h.sendRightEdge(); len(got) != 10 {
		t.Fatalf("sent %d segments, want IW = 10", len(got))
	}
	sndNxt := h.c.sndNxt // 15601
	// The peer takes two segments and shrinks its window to two more:
	// the right edge, 6841, is now far left of SND.NXT.
	h.at(10 * ms)
	h.in(h.wndAck(1001+2*1460, 2*1460))
	if got := h.sendRightEdge(); len(got) != 0 {
		t.Fatalf("sent %d segments into a shrunk window", len(got))
	}
	h.expectState(StateEstablished)
	if err := h.c.Err(); err != nil {
		t.Fatalf("shrink reported as %v", err)
	}
	if h.c.Info().SndWnd != 2*1460 || h.c.sndNxt != sndNxt {
		t.Fatalf("SND.WND %d SND.NXT %d, want 2920 %d", h.c.Info().SndWnd, h.c.sndNxt, sndNxt)
	}
	// More from the user is queued, not sent.
	if n, err := h.c.Write(bytesN(100), h.now); n != 100 || err != nil {
		t.Fatalf("Write in a shrunk window %d %v", n, err)
	}
	if got := h.sendRightEdge(); len(got) != 0 {
		t.Fatalf("sent %d segments into a shrunk window", len(got))
	}
	// ACKs within the shrunk window move it along; still short of SND.NXT.
	h.at(20 * ms)
	h.in(h.wndAck(1001+4*1460, 2*1460))
	h.sendRightEdge()
	if h.c.sndNxt != sndNxt {
		t.Fatalf("SND.NXT %d, want %d: new data sent past the right edge", h.c.sndNxt, sndNxt)
	}
	// The window reopens with everything acknowledged: the queued data
	// goes from SND.NXT on, in order, as cwnd allows.
	h.at(30 * ms)
	h.in(h.wndAck(sndNxt, 65535))
	got := h.sendRightEdge()
	if len(got) == 0 || got[0].Seq != sndNxt {
		t.Fatalf("after the window reopened sent %d segments, first at %v; want from %d", len(got), got, sndNxt)
	}
	// Everything queued reaches the peer, once: every byte is sent and
	// acknowledged in order up to the end of both writes.
	end := testISS + 1 + seqnum.Value(total+100)
	for next := got[len(got)-1].Seq.Add(seqnum.Size(len(got[len(got)-1].Payload))); ; {
		h.at(h.now.Sub(t0) + 10*ms)
		h.in(h.wndAck(next, 65535))
		if next == end {
			break
		}
		got = h.sendRightEdge()
		if len(got) == 0 {
			t.Fatalf("stalled at %d, want %d", next, end)
		}
		if got[0].Seq != next {
			t.Fatalf("sent from %d after ACK %d", got[0].Seq, next)
		}
		last := got[len(got)-1]
		next = last.Seq.Add(seqnum.Size(len(last.Payload)))
	}
	if h.c.sndUna != end || h.c.unsentData() != 0 {
		t.Fatalf("SND.UNA %d, %d unsent, want %d and none", h.c.sndUna, h.c.unsentData(), end)
	}
}

// The timer's retransmissions after a shrink keep to the window: the
// RTO resends SND.UNA's segment, and the go-back-N that follows stops at
// the right edge however much cwnd allows (RFC 9293 §3.8.6 SHLD-16: resend
// what the window holds; Linux's __tcp_retransmit_skb holds the rest).
func TestEstablished_WindowShrinks_RetransmissionsStayInTheWindow(t *testing.T) {
	h := newUnscaled(t, Config{SndBuf: 64 << 10}, 65535)
	h.c.Write(bytesN(10*1460), h.now)
	h.sendRightEdge()
	h.at(10 * ms)
	h.in(h.wndAck(1001+1460, 2*1460)) // right edge 4921; SND.NXT 15601
	h.sendRightEdge()
	// Nothing more is acknowledged: the timers retransmit, from SND.UNA.
	for i := 0; h.c.sndUna == 1001+1460 && i < 10; i++ {
		got := h.nextTimer()
		if h.c.backoff > 0 {
			if len(got) != 1 || got[0].Seq != 1001+1460 {
				t.Fatalf("the RTO sent %d segments, want SND.UNA's: %v", len(got), got)
			}
			break
		}
	}
	if h.c.backoff == 0 {
		t.Fatal("no RTO")
	}
	// The peer takes it and offers one segment: cwnd (two segments in
	// slow start) would let go-back-N resend two; the window holds one.
	h.at(h.now.Sub(t0) + 10*ms)
	h.in(h.wndAck(1001+2*1460, 1460)) // right edge 5381
	if h.c.cc.cwnd() < 2*1460 {
		t.Fatalf("cwnd %d: the window must be what limits", h.c.cc.cwnd())
	}
	h.expect("ACK seq=3921 ack=5001 len=1460")
	h.expectState(StateEstablished)
}

// The window shrinks to zero with all the data acknowledged and more
// queued: the persist timer probes (RFC 9293 §3.8.6.1), and when the
// window reopens the data goes out from the probe on.
func TestEstablished_WindowShrinksToZero_PersistProbesThenResumes(t *testing.T) {
	h := newUnscaled(t, Config{SndBuf: 64 << 10}, 65535)
	h.c.Write(bytesN(12*1460), h.now)
	if got := h.sendRightEdge(); len(got) != 10 {
		t.Fatalf("sent %d segments, want IW = 10", len(got))
	}
	h.at(10 * ms)
	h.in(h.wndAck(1001+10*1460, 0)) // all acknowledged, window shut
	h.expect()
	h.expectState(StateEstablished)
	if h.c.persistAt.IsZero() || !h.c.rtoAt.IsZero() {
		t.Fatalf("persist timer %v, RTO %v: want the persist timer alone", h.c.persistAt, h.c.rtoAt)
	}
	next, _ := h.c.NextDeadline()
	h.now = next
	h.c.HandleTimer(h.now)
	h.expect("ACK seq=15601 ack=5001 len=1") // a one-byte probe
	h.in(h.wndAck(1001+10*1460, 0))          // refused, still shut
	h.expect()
	next, _ = h.c.NextDeadline()
	h.now = next
	h.c.HandleTimer(h.now)
	h.expect("ACK seq=15601 ack=5001 len=1")
	h.in(h.wndAck(1001+10*1460+1, 65535)) // the probe byte taken, window open
	h.expect("ACK seq=15602 ack=5001 len=1460", "PSH|ACK seq=17062 ack=5001 len=1459")
	h.expectState(StateEstablished)
}

// The window shrinks to zero over data in flight: the RTO resends
// SND.UNA's segment into the shut window as its probe (Linux's
// __tcp_retransmit_skb lets the segment at SND.UNA go), nothing else is
// sent, and the connection goes on when the window reopens.
func TestEstablished_WindowShrinksToZeroOverFlight_RTOProbesThenResumes(t *testing.T) {
	h := newUnscaled(t, Config{SndBuf: 64 << 10}, 65535)
	h.c.Write(bytesN(12*1460), h.now)
	h.sendRightEdge()
	h.at(10 * ms)
	h.in(h.wndAck(1001+2*1460, 0)) // right edge 3921, SND.NXT 15601
	h.sendRightEdge()
	for h.c.backoff < 3 {
		for _, s := range h.nextTimer() {
			if s.Seq != 1001+2*1460 {
				t.Fatalf("sent %s into a zero window; only SND.UNA's segment may go", segString(&s))
			}
		}
		h.in(h.wndAck(1001+2*1460, 0)) // the peer answers: still shut
		h.expect()
	}
	h.expectState(StateEstablished)
	h.at(h.now.Sub(t0) + time.Millisecond)
	h.in(h.wndAck(1001+10*1460, 65535))
	got := h.sendRightEdge()
	if len(got) == 0 || got[0].Seq != 1001+10*1460 {
		t.Fatalf("after the window reopened sent %v, want the queued data from 15601", got)
	}
}
