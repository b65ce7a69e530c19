package tcp

import (
	"errors"
	"math"
	"syscall"
	"testing"
	"time"
)

// CUBIC (RFC 9438) at golden points. The algorithm is driven directly, as
// the sender drives it; the figures were computed by hand from the RFC's
// equations with C = 0.4 and β_cubic = 0.7.

const cubicMSS = 1460

// segs converts bytes to segments of cubicMSS.
func segs(b int) float64 { return float64(b) / cubicMSS }

// cubicAfterLoss returns a CUBIC whose window of wmax segments has just met
// a loss with all of it in flight, with cwnd set to ssthresh by the
// sender (RFC 6675 §5 (4.2)), and the first ACK of the new stage at t0.
func cubicAfterLoss(t *testing.T, wmax int, srtt time.Duration) *cubic {
	t.Helper()
	c := newCubic()
	c.init(wmax*cubicMSS, wmax*cubicMSS/2)
	c.onLoss(lossEvent{flight: wmax * cubicMSS, mss: cubicMSS})
	// §4.6: ssthresh = FlightSize·β_cubic.
	if want := int(float64(wmax*cubicMSS) * 0.7); c.ssthresh() != want {
		t.Fatalf("ssthresh %d after a loss with %d segments in flight, want %d (β_cubic = 0.7)", c.ssthresh(), wmax, want)
	}
	c.setCwnd(c.ssthresh())
	return c
}

func TestCubic_ConcaveRegion_GrowsTowardsWmaxAlongTheCubicCurve(t *testing.T) {
	c := cubicAfterLoss(t, 100, 100*time.Millisecond)
	// The stage's first ACK: t_epoch = now, K = cbrt((W_max − cwnd)/C) =
	// cbrt(30/0.4) = 4.2172 s (eq. 2), and W_cubic(0) = cwnd.
	c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 100 * time.Millisecond, now: t0, cwndLimited: true})
	if math.Abs(c.k-4.217163) > 1e-5 || c.wMax != 100 {
		t.Fatalf("K %.6f W_max %.3f, want 4.217163 and 100", c.k, c.wMax)
	}
	if w := c.wCubic(0); math.Abs(w-70) > 1e-9 {
		t.Fatalf("W_cubic(0) = %.6f, want 70 (the window after the reduction)", w)
	}
	// One second on, the target is W_cubic(1 s + RTT) = W_cubic(1.1) =
	// 87.8846 segments (eq. 1, §4.4), and an ACK of one segment grows cwnd
	// by (target − cwnd)/cwnd = 0.25549 segments.
	before := segs(c.cwnd())
	c.w = 70 * cubicMSS
	c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 100 * time.Millisecond, now: t0.Add(time.Second), cwndLimited: true})
	if got := segs(int(c.w)) - 70; math.Abs(got-0.25549) > 1e-3 {
		t.Fatalf("cwnd grew by %.5f segments at t = 1 s (from %.3f), want 0.25549", got, before)
	}
}

func TestCubic_ConvexRegion_GrowthCappedAtHalfASegmentPerSegment(t *testing.T) {
	c := cubicAfterLoss(t, 100, 100*time.Millisecond)
	c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 100 * time.Millisecond, now: t0, cwndLimited: true})
	// Ten seconds on W_cubic(10.1) = 181.4 segments, far above 1.5·cwnd:
	// the target is 1.5·cwnd (§4.4-4.5), so one segment acknowledged adds
	// (1.5·cwnd − cwnd)/cwnd = 0.5 segment.
	c.w = 100 * cubicMSS
	c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 100 * time.Millisecond, now: t0.Add(10 * time.Second), cwndLimited: true})
	if got := segs(int(c.w)) - 100; math.Abs(got-0.5) > 1e-3 {
		t.Fatalf("cwnd grew by %.4f segments in the convex region, want 0.5 (target capped at 1.5·cwnd)", got)
	}
	// Never less than cwnd: at t where W_cubic is below cwnd, nothing is
	// taken away.
	c.w = 200 * cubicMSS
	c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 100 * time.Millisecond, now: t0.Add(time.Second), cwndLimited: true})
	if c.cwnd() < 200*cubicMSS {
		t.Fatalf("cwnd fell to %.3f segments on an ACK, want at least 200", segs(c.cwnd()))
	}
}

func TestCubic_RenoFriendlyRegion_FollowsWest(t *testing.T) {
	// A small window on a short path: W_cubic grows slower than Reno would,
	// so cwnd follows W_est (§4.3), which grows by α_cubic = 3(1−β)/(1+β)
	// = 0.5294 segments per window acknowledged until it reaches
	// cwnd_prior, then by one.
	c := cubicAfterLoss(t, 10, time.Millisecond)
	now := t0
	for i := 0; i < 7; i++ { // one window of 7 segments, 1 ms later
		c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: time.Millisecond, now: now, cwndLimited: true})
	}
	if got := segs(c.cwnd()) - 7; got < 0.5 || got > 0.56 {
		t.Fatalf("cwnd grew by %.4f segments over one window in the Reno-friendly region, want about α_cubic = 0.529", got)
	}
	// Grow W_est past cwnd_prior (10 segments): then one segment per window.
	for segs(c.cwnd()) < 10.5 {
		now = now.Add(time.Millisecond)
		c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: time.Millisecond, now: now, cwndLimited: true})
	}
	start := c.w
	n := int(start / cubicMSS)
	for range n {
		c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: time.Millisecond, now: now, cwndLimited: true})
	}
	if got := (c.w - start) / cubicMSS; got < 0.9 || got > 1.05 {
		t.Fatalf("cwnd grew by %.4f segments over one window past cwnd_prior, want about 1 (α_cubic = 1)", got)
	}
}

func TestCubic_FastConvergence_LowersWmaxWhenTheWindowShrank(t *testing.T) {
	c := cubicAfterLoss(t, 100, 100*time.Millisecond)
	// A second loss at 80 segments, below the previous W_max of 100:
	// W_max = 80·(1+β)/2 = 68 (§4.7), and ssthresh 0.7·80 = 56 segments.
	c.setCwnd(80 * cubicMSS)
	c.onLoss(lossEvent{flight: 80 * cubicMSS, mss: cubicMSS})
	if math.Abs(c.wMax-68) > 1e-9 || c.ssthresh() != 56*cubicMSS {
		t.Fatalf("W_max %.3f ssthresh %.2f segments, want 68 and 56", c.wMax, segs(c.ssthresh()))
	}
	// A loss at or above W_max sets W_max to the window.
	c.setCwnd(90 * cubicMSS)
	c.onLoss(lossEvent{flight: 90 * cubicMSS, mss: cubicMSS})
	if c.wMax != 90 {
		t.Fatalf("W_max %.3f after a loss above it, want 90", c.wMax)
	}
}

func TestCubic_Loss_SsthreshFloorAndRepairedLossFromCwnd(t *testing.T) {
	c := newCubic()
	c.init(2*cubicMSS, 1<<30)
	c.onLoss(lossEvent{flight: cubicMSS, mss: cubicMSS})
	if c.ssthresh() != 2*cubicMSS {
		t.Fatalf("ssthresh %d, want the floor of 2·SMSS (RFC 5681 eq. (4))", c.ssthresh())
	}
	// The reduction is from FlightSize, not cwnd (§4.6): 50 segments in
	// flight under a cwnd of 100.
	c.init(100*cubicMSS, 1<<30)
	c.onLoss(lossEvent{flight: 50 * cubicMSS, mss: cubicMSS})
	if c.ssthresh() != 35*cubicMSS {
		t.Fatalf("ssthresh %.2f segments with 50 of a cwnd of 100 in flight, want 35", segs(c.ssthresh()))
	}
	// A loss a tail loss probe already repaired: the flight is empty, the
	// reduction starts from cwnd.
	c.init(40*cubicMSS, 1<<30)
	c.onLoss(lossEvent{mss: cubicMSS, repaired: true})
	if c.ssthresh() != 28*cubicMSS {
		t.Fatalf("ssthresh %.2f segments after a repaired loss at cwnd 40, want 28", segs(c.ssthresh()))
	}
}

func TestCubic_RTO_LossWindowThenCurveFromTheNewStage(t *testing.T) {
	c := newCubic()
	c.init(100*cubicMSS, 1<<30)
	c.onRTO(100*cubicMSS, cubicMSS, true)
	if c.cwnd() != cubicMSS || c.ssthresh() != 70*cubicMSS {
		t.Fatalf("cwnd %d ssthresh %d after an RTO, want 1 and 70 segments", c.cwnd(), c.ssthresh())
	}
	// A repeated timeout of the same segment keeps ssthresh.
	c.onRTO(cubicMSS, cubicMSS, false)
	if c.ssthresh() != 70*cubicMSS {
		t.Fatalf("ssthresh %.2f segments after a second timeout, want 70 kept", segs(c.ssthresh()))
	}
	// §4.8: the first congestion avoidance stage after it starts with
	// K = 0 and W_max = the stage's first cwnd.
	c.setCwnd(c.ssthresh())
	c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 100 * time.Millisecond, now: t0, cwndLimited: true})
	if c.k != 0 || math.Abs(c.wMax-70) > 0.01 {
		t.Fatalf("K %.3f W_max %.3f for the stage after a timeout, want 0 and 70", c.k, c.wMax)
	}
}

// RFC 9406 §4.2: in the initial slow start an ACK adds what it
// acknowledges, at most L = 8 segments (§4.3, a sender that does not
// pace); after a loss slow start adds at most one SMSS per ACK (RFC 5681
// §3.1, RFC 3465 §2.3's L = 1 after a timeout).
func TestCubic_SlowStartBelowSsthresh(t *testing.T) {
	c := newCubic()
	c.init(10*cubicMSS, initialSsthresh)
	c.onAck(ackSample{acked: 3 * cubicMSS, mss: cubicMSS, now: t0, cwndLimited: true})
	if c.cwnd() != 13*cubicMSS {
		t.Fatalf("cwnd %.2f segments, want 13: an ACK of 3 segments adds 3", segs(c.cwnd()))
	}
	c.onAck(ackSample{acked: 12 * cubicMSS, mss: cubicMSS, now: t0, cwndLimited: true})
	if c.cwnd() != 21*cubicMSS {
		t.Fatalf("cwnd %.2f segments, want 21: an ACK adds at most L = 8", segs(c.cwnd()))
	}
	c.init(10*cubicMSS, 100*cubicMSS) // a slow start after a loss (ssthresh set)
	c.onAck(ackSample{acked: 3 * cubicMSS, mss: cubicMSS, now: t0, cwndLimited: true})
	if c.cwnd() != 11*cubicMSS {
		t.Fatalf("cwnd %.2f segments, want 11: after a loss slow start adds one SMSS per ACK", segs(c.cwnd()))
	}
}

func TestCubic_IdleRestart_IdleTimeNotOnTheCurve(t *testing.T) {
	c := cubicAfterLoss(t, 100, 100*time.Millisecond)
	c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 100 * time.Millisecond, now: t0, cwndLimited: true})
	// RFC 9438 §5.8, as Linux's bictcp_cwnd_event: the curve is shifted by
	// the idle time, so t does not count it.
	c.onIdleRestart(5*time.Second, time.Second, 10*cubicMSS)
	if want := t0.Add(5 * time.Second); !c.epoch.Equal(want) {
		t.Fatalf("t_epoch %v after 5 s idle, want %v", c.epoch.Sub(t0), want.Sub(t0))
	}
	// Idle before any congestion avoidance stage: there is no curve to
	// shift, and the first stage starts at its first ACK.
	d := newCubic()
	d.init(10*cubicMSS, 10*cubicMSS)
	d.onIdleRestart(5*time.Second, time.Second, 10*cubicMSS)
	d.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 100 * time.Millisecond, now: t0, cwndLimited: true})
	if !d.epoch.Equal(t0) {
		t.Fatalf("t_epoch %v, want the stage's first ACK", d.epoch)
	}
	// The window restarts as Reno's does (RFC 5681 §4.1, halved per RTO
	// idle down to IW): 70 → 35 → 17.5 → 10 (IW) after 5 RTOs.
	if c.cwnd() != 10*cubicMSS {
		t.Fatalf("cwnd %.2f segments after 5 RTOs idle, want the restart window 10", segs(c.cwnd()))
	}
}

func TestCubic_FirstStageWithoutLoss_CurveStartsAtCwnd(t *testing.T) {
	// Slow start ends at ssthresh without a loss: W_max is unknown, so
	// the curve's plateau is the window itself (K = 0, W_max = cwnd), and
	// growth starts slowly, Reno-like, not at the 1.5·cwnd cap.
	c := newCubic()
	c.init(100*cubicMSS, 100*cubicMSS)
	for range 100 {
		c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, srtt: 100 * time.Millisecond, now: t0, cwndLimited: true})
	}
	if c.k != 0 || c.wMax != 100 {
		t.Fatalf("K %.3f W_max %.3f, want 0 and 100", c.k, c.wMax)
	}
	if got := segs(c.cwnd()) - 100; got < 0.9 || got > 1.1 {
		t.Fatalf("cwnd grew by %.3f segments over the first window, want about 1 (W_est, α = 1)", got)
	}
}

func TestEstablished_Cubic_FastRetransmitReducesByBeta(t *testing.T) {
	// With CUBIC the sender's recovery is NewReno's (RFC 6582) but the
	// reduction is CUBIC's: ssthresh = 0.7·FlightSize (RFC 9438 §4.6),
	// cwnd = ssthresh + 3·SMSS on entry (RFC 5681 §3.2 step 2).
	h := newEstablished(t, Config{Congestion: "cubic"})
	if got := h.c.Info().Congestion; got != "cubic" {
		t.Fatalf("Info().Congestion %q, want cubic", got)
	}
	fastRetransmit(h)
	if h.c.cc.ssthresh() != 10220 || h.c.cc.cwnd() != 10220+3*1460 {
		t.Fatalf("ssthresh %d cwnd %d, want 10220 (0.7 of 14600) and 14600", h.c.cc.ssthresh(), h.c.cc.cwnd())
	}
}

func TestConn_SetCongestion_KeepsTheWindowAndRefusesUnknownNames(t *testing.T) {
	h := newEstablished(t, Config{Congestion: "reno"})
	setWindow(h.c, 30*1460, 20*1460)
	if err := h.c.SetCongestion("bbr2"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("SetCongestion(bbr2): %v, want ENOENT (Linux's answer for an unknown name)", err)
	}
	if err := h.c.SetCongestion("cubic"); err != nil {
		t.Fatal(err)
	}
	// As Linux's tcp_reinit_congestion_control: cwnd and ssthresh carry over.
	if h.c.Congestion() != "cubic" || h.c.Config().Congestion != "cubic" || h.c.cc.cwnd() != 30*1460 || h.c.cc.ssthresh() != 20*1460 {
		t.Fatalf("after the switch: %s (config %s) cwnd %d ssthresh %d, want cubic with 30 and 20 segments",
			h.c.Congestion(), h.c.Config().Congestion, h.c.cc.cwnd(), h.c.cc.ssthresh())
	}
}

func TestCubic_Undo_RestoresTheWindowAndTheCurve(t *testing.T) {
	// RFC 9438 §4.9: a spurious congestion event is undone: cwnd,
	// ssthresh and W_max (and cwnd_prior) come back to what they were.
	c := cubicAfterLoss(t, 100, 100*time.Millisecond)
	c.setCwnd(80 * cubicMSS)
	c.onLoss(lossEvent{flight: 80 * cubicMSS, mss: cubicMSS}) // fast convergence: W_max 68
	c.setCwnd(c.ssthresh())
	c.undo(80*cubicMSS, 70*cubicMSS)
	if c.cwnd() != 80*cubicMSS || c.ssthresh() != 70*cubicMSS || c.wMax != 100 || c.cwndPrior != 100 {
		t.Fatalf("after the undo: cwnd %.1f ssthresh %.1f W_max %.1f cwnd_prior %.1f segments, want 80, 70, 100, 100",
			segs(c.cwnd()), segs(c.ssthresh()), c.wMax, c.cwndPrior)
	}
}
