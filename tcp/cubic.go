package tcp

import (
	"math"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// CUBIC's constants (RFC 9438 §4.1, §5): C in segments per second cubed,
// the multiplicative decrease factor β_cubic, and α_cubic, the additive
// increase that makes CUBIC's Reno-friendly estimate grow as fast as Reno
// with that β (§4.3).
const (
	cubicC     = 0.4
	cubicBeta  = 0.7
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
)

// cubic is CUBIC congestion control, RFC 9438. cwnd and ssthresh are kept
// in bytes; the cubic function works in segments of the current SMSS, so a
// change of MSS (path MTU) keeps the window in bytes.
type cubic struct {
	w   float64 // cwnd in bytes (fractional, as growth per ACK is)
	sst int     // ssthresh in bytes

	// The current congestion avoidance stage (§4.2). epoch is t_epoch,
	// zero until the stage's first ACK; k is K in seconds; wMax is W_max
	// and wEst W_est (§4.3), in segments; cwndPrior is the cwnd, in
	// segments, when ssthresh was last set (cwnd_prior, §4.6).
	epoch     time.Time
	k         float64
	wMax      float64
	wEst      float64
	cwndPrior float64
	// afterRTO: the stage is the first after a timeout, which starts from
	// K = 0 and W_max = cwnd (§4.8).
	afterRTO bool
	// W_max and cwnd_prior before the last reduction, for undo.
	priorWMax, priorCwndPrior float64

	hs hystart
}

// HyStart++'s constants (RFC 9406 §4.3): the RTT increase that ends slow
// start is the last round's least RTT over MIN_RTT_DIVISOR, clamped to
// [MIN_RTT_THRESH, MAX_RTT_THRESH], judged on at least N_RTT_SAMPLE
// samples a round; Conservative Slow Start grows by 1/CSS_GROWTH_DIVISOR
// of slow start for at most CSS_ROUNDS rounds. An ACK adds at most L
// segments to cwnd: 8 for a sender that does not pace, as CUBIC here
// (§4.3: infinity only when paced).
const (
	hsMinRTTThresh  = 4 * time.Millisecond
	hsMaxRTTThresh  = 16 * time.Millisecond
	hsMinRTTDivisor = 8
	hsNRTTSample    = 8
	hsCSSGrowthDiv  = 4
	hsCSSRounds     = 5
	hsL             = 8
	hsNoRTT         = time.Duration(math.MaxInt64)
)

// hystart is HyStart++ (RFC 9406): slow start that leaves before the
// queue it fills overflows, from the RTT rounds show rising, through a
// few rounds of Conservative Slow Start (CSS) in case the rise was a
// spurious one. Used in the initial slow start only (§4.2 allows that):
// after a loss slow start ends at a known ssthresh.
type hystart struct {
	started            bool
	windowEnd          seqnum.Value // the round ends when SEG.ACK passes it
	lastRoundMinRTT    time.Duration
	currentRoundMinRTT time.Duration
	rttSampleCount     int
	css                bool
	cssBaselineMinRTT  time.Duration
	cssRounds          int
}

// slowStart is HyStart++ for an ACK in the initial slow start (§4.2). It
// returns the bytes cwnd may grow by, and done when slow start ends (the
// caller sets ssthresh to cwnd).
func (h *hystart) slowStart(s ackSample) (grow int, done bool) {
	// §4.2: cwnd += min(N, L·SMSS), where RFC 5681's slow start adds at
	// most one SMSS per ACK: a delayed ACK of two segments grows cwnd by
	// two, doubling it each round as Linux's tcp_slow_start (which adds
	// every segment acknowledged) does, where one SMSS per ACK gave 1.5.
	grow = min(s.acked, hsL*s.mss)
	if !h.started || !s.ack.LessThan(h.windowEnd) {
		// A new round (§4.2: "At the start of each round during
		// standard slow start and CSS").
		if h.started && h.css {
			h.cssRounds++
			if h.cssRounds >= hsCSSRounds {
				return 0, true // §4.2: CSS lasted CSS_ROUNDS rounds: congestion avoidance
			}
		}
		h.started = true
		h.lastRoundMinRTT = h.currentRoundMinRTT
		if h.lastRoundMinRTT == 0 {
			h.lastRoundMinRTT = hsNoRTT
		}
		h.currentRoundMinRTT, h.rttSampleCount = hsNoRTT, 0
		h.windowEnd = s.sndNxt
	}
	if s.hasRTT {
		h.currentRoundMinRTT = min(h.currentRoundMinRTT, s.rtt)
		h.rttSampleCount++
	}
	if h.css {
		grow /= hsCSSGrowthDiv
		// §4.2: a round whose least RTT is below the baseline means the
		// rise was spurious: back to standard slow start.
		if h.rttSampleCount >= hsNRTTSample && h.currentRoundMinRTT < h.cssBaselineMinRTT {
			h.css, h.cssBaselineMinRTT = false, hsNoRTT
		}
		return grow, false
	}
	if h.rttSampleCount >= hsNRTTSample && h.currentRoundMinRTT != hsNoRTT && h.lastRoundMinRTT != hsNoRTT {
		thresh := min(max(h.lastRoundMinRTT/hsMinRTTDivisor, hsMinRTTThresh), hsMaxRTTThresh)
		if h.currentRoundMinRTT >= h.lastRoundMinRTT+thresh {
			h.css, h.cssBaselineMinRTT, h.cssRounds = true, h.currentRoundMinRTT, 0
		}
	}
	return grow, false
}

func newCubic() *cubic {
	return &cubic{sst: initialSsthresh}
}

func (c *cubic) name() string  { return "cubic" }
func (c *cubic) cwnd() int     { return int(c.w) }
func (c *cubic) ssthresh() int { return c.sst }
func (c *cubic) setCwnd(n int) { c.w = float64(n) }
func (c *cubic) init(cwnd, ssthresh int) {
	*c = cubic{w: float64(cwnd), sst: ssthresh}
}

// onAck grows cwnd (RFC 9438 §4.2-4.5): slow start below ssthresh (§4.10:
// RFC 5681's, with RFC 3465 L = 1), then the larger of the cubic function
// and the Reno-friendly estimate.
func (c *cubic) onAck(s ackSample) {
	if !s.cwndLimited {
		return // RFC 9438 §5.8 (Linux's bictcp_cong_avoid)
	}
	if c.cwnd() < c.sst {
		if c.sst != initialSsthresh {
			c.w += float64(min(s.acked, s.mss))
			return
		}
		grow, done := c.hs.slowStart(s)
		c.w += float64(grow)
		if done {
			c.sst = c.cwnd()
		}
		return
	}
	mss := float64(s.mss)
	cwnd := c.w / mss // segments
	if c.epoch.IsZero() {
		// A congestion avoidance stage begins (§4.2): t_epoch is now and
		// K the time W_cubic takes from cwnd back to W_max (eq. 2).
		c.epoch = s.now
		if c.afterRTO || cwnd >= c.wMax {
			// §4.8, and a window already past W_max (after an idle
			// restart or a spurious loss): the plateau is here.
			c.k, c.wMax = 0, cwnd
		} else {
			c.k = math.Cbrt((c.wMax - cwnd) / cubicC)
		}
		c.afterRTO = false
		c.wEst = cwnd
	}
	acked := float64(s.acked) / mss
	// §4.3: the Reno-friendly estimate grows by α_cubic per cwnd
	// acknowledged, and by 1 once it has reached cwnd_prior.
	alpha := cubicAlpha
	if c.wEst >= c.cwndPrior {
		alpha = 1
	}
	c.wEst += alpha * acked / cwnd
	t := s.now.Sub(c.epoch).Seconds()
	if wc := c.wCubic(t); wc < c.wEst {
		// §4.3, the Reno-friendly region: cwnd follows W_est.
		c.w = max(c.w, c.wEst*mss)
		return
	}
	// §4.4-4.5: the target is W_cubic one RTT ahead, kept within
	// [cwnd, 1.5·cwnd]; cwnd grows by (target − cwnd)/cwnd per segment
	// acknowledged.
	target := c.wCubic(t + s.srtt.Seconds())
	target = min(max(target, cwnd), 1.5*cwnd)
	c.w += (target - cwnd) / cwnd * acked * mss
}

// wCubic is W_cubic(t) of RFC 9438 eq. 1, in segments.
func (c *cubic) wCubic(t float64) float64 {
	d := t - c.k
	return cubicC*d*d*d + c.wMax
}

// onLoss is RFC 9438 §4.6-4.7: ssthresh = FlightSize·β_cubic, and W_max
// the window at the loss, or less (fast convergence) when the window had
// not grown back to the previous W_max, leaving room to competing flows.
func (c *cubic) onLoss(ev lossEvent) {
	c.reduce(ev.flight, ev.mss, ev.repaired)
}

func (c *cubic) reduce(flight, mss int, repaired bool) {
	cwnd := c.w / float64(mss)
	c.priorWMax, c.priorCwndPrior = c.wMax, c.cwndPrior
	if cwnd < c.wMax {
		c.wMax = cwnd * (1 + cubicBeta) / 2 // §4.7 fast convergence
	} else {
		c.wMax = cwnd
	}
	c.cwndPrior = cwnd
	base := float64(flight)
	if repaired {
		// As Reno's: the repairing ACK has emptied the flight, so the
		// reduction starts from cwnd (Linux's tcp_init_cwnd_reduction).
		base = c.w
	}
	c.sst = max(int(base*cubicBeta), 2*mss)
	c.epoch = time.Time{}
}

// undo is RFC 9438 §4.9's response to a spurious congestion event: the
// window and ssthresh come back, and so does W_max as it was before the
// event, so that the curve continues from the plateau it had.
func (c *cubic) undo(cwnd, ssthresh int) {
	c.w, c.sst = max(c.w, float64(cwnd)), max(c.sst, ssthresh)
	c.wMax, c.cwndPrior = max(c.wMax, c.priorWMax), max(c.cwndPrior, c.priorCwndPrior)
	c.epoch = time.Time{}
}

// onRTO is RFC 9438 §4.8: ssthresh as for a loss, cwnd the loss window
// (RFC 5681 §3.1), and the next congestion avoidance stage starts from
// K = 0 with W_max its first cwnd.
func (c *cubic) onRTO(flight, mss int, first bool) {
	if first {
		c.reduce(flight, mss, false)
	}
	c.w = float64(mss)
	c.epoch = time.Time{}
	c.afterRTO = true
}

// onIdleRestart restarts the window as Reno does (restartWindow); the
// idle time does not count towards the cubic function's t (RFC 9438 §5.8,
// Linux's bictcp_cwnd_event moves t_epoch on by it).
func (c *cubic) onIdleRestart(idle, rto time.Duration, iw int) {
	if !c.epoch.IsZero() {
		c.epoch = c.epoch.Add(idle)
	}
	cwnd, ss := restartWindow(c.cwnd(), c.sst, idle, rto, iw)
	c.w, c.sst = float64(cwnd), ss
}
