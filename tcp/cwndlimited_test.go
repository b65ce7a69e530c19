package tcp

import (
	"testing"
	"time"
)

// cwnd grows only while the sender uses it (RFC 9438 §5.8, RFC 7661;
// Linux's tcp_is_cwnd_limited): Reno and CUBIC ignore an ACK that the
// sender reports as not cwnd-limited.
func TestCongestion_NotCwndLimited_NoGrowth(t *testing.T) {
	for _, name := range []string{"reno", "cubic"} {
		cc := newCongestionControl(name)
		cc.init(10*cubicMSS, 20*cubicMSS)
		for i := range 30 { // slow start, then congestion avoidance
			cc.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 10 * time.Millisecond, now: t0.Add(time.Duration(i) * time.Millisecond)})
		}
		if got := cc.cwnd(); got != 10*cubicMSS {
			t.Errorf("%s: cwnd %d after ACKs that were not cwnd-limited, want %d", name, got, 10*cubicMSS)
		}
		cc.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 10 * time.Millisecond, now: t0, cwndLimited: true})
		if got := cc.cwnd(); got <= 10*cubicMSS {
			t.Errorf("%s: cwnd %d after a cwnd-limited ACK in slow start, want growth", name, got)
		}
	}
}

// An application that keeps two segments in flight never fills the
// initial window of ten: in slow start cwnd may grow to twice what was in
// flight (four segments), so the ten stay ten. A bulk sender that fills
// the window grows it.
func TestEstablished_AppLimited_CwndDoesNotGrow(t *testing.T) {
	for _, cc := range []string{"reno", "cubic"} {
		h := newEstablished(t, Config{Congestion: cc, SndBuf: 1 << 20})
		iw := h.c.cc.cwnd()
		for i := range 20 {
			h.at(time.Duration(i+1) * ms)
			h.c.Write(bytesN(2*1460), h.now)
			h.out.take()
			a := h.seg(FlagACK)
			a.Ack = h.c.sndNxt
			h.in(a)
		}
		if got := h.c.cc.cwnd(); got != iw {
			t.Fatalf("%s: cwnd %d after 20 round trips of 2 segments, want the initial %d", cc, got, iw)
		}
		h.c.Write(bytesN(40*1460), h.now)
		h.out.take()
		a := h.seg(FlagACK)
		a.Ack = h.c.sndNxt // the whole window of ten
		h.in(a)
		if got := h.c.cc.cwnd(); got <= iw {
			t.Fatalf("%s: cwnd %d after a full window was acknowledged, want more than %d", cc, got, iw)
		}
	}
}

// Info carries what ss -tin prints beyond the RFC 4022 row: the send
// queue (written, not yet acknowledged), the window scales, and the kind
// of the next timer.
func TestInfo_SendQueueWScaleTimer(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 1 << 20})
	h.c.Write(bytesN(3000), h.now)
	h.out.take()
	i := h.c.Info()
	if i.SendQueue != 3000 || i.Timer != "on" {
		t.Fatalf("after a write: SendQueue %d Timer %q, want 3000 and on", i.SendQueue, i.Timer)
	}
	if !i.WScale || i.SndWScale != 7 || i.RcvWScale != h.c.rcvWScale {
		t.Fatalf("WScale %v %d,%d, want true 7,%d", i.WScale, i.SndWScale, i.RcvWScale, h.c.rcvWScale)
	}
	a := h.seg(FlagACK)
	a.Ack = h.c.sndNxt
	a.Window = 0
	h.in(a)
	h.c.Write(bytesN(10), h.now)
	if i := h.c.Info(); i.SendQueue != 10 || i.Timer != "persist" {
		t.Fatalf("zero window: SendQueue %d Timer %q, want 10 and persist", i.SendQueue, i.Timer)
	}
}

// With nothing outstanding and keep-alive on, the next timer is the
// keep-alive's, even with a delayed ACK due before it; with nothing armed
// but a delayed ACK, none ss shows.
func TestInfo_TimerKeepAliveAndNone(t *testing.T) {
	h := newEstablished(t, Config{KeepAlive: true})
	if i := h.c.Info(); i.Timer != "keepalive" || i.SendQueue != 0 {
		t.Fatalf("idle with keep-alive: Timer %q SendQueue %d, want keepalive and 0", i.Timer, i.SendQueue)
	}
	h.in(h.data(bytesN(100))) // a delayed ACK, earlier than the keep-alive
	if i := h.c.Info(); i.Timer != "keepalive" {
		t.Fatalf("keep-alive and a delayed ACK: Timer %q, want keepalive (ss shows no delayed ACK)", i.Timer)
	}
	h = newEstablished(t, Config{})
	h.in(h.data(bytesN(100))) // one short segment: a delayed ACK only
	if i := h.c.Info(); i.Timer != "" {
		t.Fatalf("a delayed ACK alone: Timer %q, want none", i.Timer)
	}
}
