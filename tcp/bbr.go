package tcp

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// BBR's parameters (draft-ietf-ccwg-bbr, BBRv3: "Startup", "Drain",
// "ProbeBW", "ProbeRTT", "Pacing Rate: BBR.pacing_rate", "Minimum cwnd"):
// the gains Startup, Drain and each ProbeBW phase pace and size cwnd
// with, the window of the min_rtt filter, and ProbeRTT's interval,
// duration and cwnd.
const (
	bbrStartupPacingGain = 2.77 // 4·ln(2): doubles the sending rate each round
	bbrStartupCwndGain   = 2.0
	bbrDrainPacingGain   = 0.35
	bbrCwndGain          = 2.0 // BBR.cwnd_gain outside Startup and ProbeBW_UP
	bbrDownPacingGain    = 0.90
	bbrUpPacingGain      = 1.25
	bbrUpCwndGain        = 2.25
	bbrPacingMargin      = 0.01 // BBRPacingMarginPercent: pace 1% below the bandwidth
	bbrFullBWThresh      = 1.25 // Startup's bandwidth plateau: < 25% growth ...
	bbrFullBWCount       = 3    // ... in 3 non-app-limited rounds
	bbrMinPipeCwndSegs   = 4    // BBRMinPipeCwnd
	bbrProbeRTTCwndGain  = 0.5  // BBRProbeRTTCwndGain
	bbrProbeRTTInterval  = 5 * time.Second
	bbrProbeRTTDuration  = 200 * time.Millisecond
	bbrMinRTTFilterLen   = 10 * time.Second
	bbrMaxProbeRounds    = 63 // the Reno coexistence bound on rounds between probes
	bbrProbeWaitBase     = 2 * time.Second
	bbrProbeWaitRand     = time.Second
)

// bbrInf is the drafts' Infinity for min_rtt and its probe.
const bbrInf = time.Duration(math.MaxInt64)

type bbrState uint8

// BBR's states (draft-ietf-ccwg-bbr "State Machine"), the four phases of
// ProbeBW as BBRv3's.
const (
	bbrStartup bbrState = iota
	bbrDrain
	bbrProbeBWDown
	bbrProbeBWCruise
	bbrProbeBWRefill
	bbrProbeBWUp
	bbrProbeRTT
)

func (s bbrState) String() string {
	return [...]string{"Startup", "Drain", "ProbeBW_DOWN", "ProbeBW_CRUISE", "ProbeBW_REFILL", "ProbeBW_UP", "ProbeRTT"}[s]
}

// bbr is BBR congestion control, draft-ietf-ccwg-bbr (BBRv3's state
// machine and gains) without the model's bounds from loss and ECN:
// BBR.inflight_hi, inflight_lo and bw_lo (the draft's "Loss Response"
// and Startup's high-loss exit) are left out, as is ACK aggregation's
// extra_acked. Random loss is the case BBR is here for, and a 2% loss
// threshold caps a 5% random-loss path below its bandwidth; Linux's BBR
// (v1, tcp_bbr.c) answers loss only as below. In fast recovery cwnd is
// "Modulating cwnd in Loss Recovery": packet conservation for a round,
// and the prior cwnd back at the end; not "cwnd − rs.newly_lost" on each
// ACK: tapstack keeps no per-segment lost marks, and counting its
// retransmissions instead (NextSeg()'s rule 3 resends holes not known
// lost, and what it resends is what cwnd allows) cut a 5%-loss path's
// goodput from 67% of the link to 36% (BenchmarkBottleneck at 5%, one
// flow). The sender's loss recovery still decides what to resend; cwnd
// is BBR's, and pacing (pacing.go) spreads what it allows.
type bbr struct {
	cwndB       int
	initialCwnd int
	mss         int
	state       bbrState
	pacingGain  float64
	cwndGain    float64
	rate        float64 // BBR.pacing_rate, bytes per second

	rs         rateSampler
	roundStart bool       // this ACK started a round (BBR.round_start)
	sample     rateSample // the last round's
	d          delivery   // the ACK being handled

	// BBR.max_bw: a windowed max of the delivery rate over the current
	// and the previous ProbeBW cycle (MaxBwFilterLen = 2 cycles).
	maxBw   float64
	bwCycle [2]float64

	// Startup's (and ProbeBW_UP's) bandwidth plateau.
	filledPipe  bool
	fullBw      float64
	fullBwCount int
	fullBwNow   bool

	// ProbeBW's cycle.
	cycleStamp         time.Time
	bwProbeWait        time.Duration
	roundsSinceBwProbe int
	probeStopping      bool // ACKS_PROBE_STOPPING: the filter advances at the next round

	// BBR.min_rtt over MinRTTFilterLen, and the shorter-lived minimum
	// ProbeRTT refreshes it from.
	minRTT, probeRTTMinDelay       time.Duration
	minRTTStamp, probeRTTMinStamp  time.Time
	probeRTTExpired                bool
	probeRTTDoneStamp              time.Time
	probeRTTRoundDone, idleRestart bool
	priorCwnd                      int
	rtoRecovery, rtoRecoverSet     bool
	inRecovery, packetConservation bool
	conserveFrom                   seqnum.Value // SND.NXT when fast recovery started
	rtoRecover                     seqnum.Value
	rng                            *rand.Rand
	started                        bool
}

func newBBR() *bbr {
	b := &bbr{minRTT: bbrInf, probeRTTMinDelay: bbrInf}
	b.enterStartup()
	return b
}

func (b *bbr) name() string       { return "bbr" }
func (b *bbr) cwnd() int          { return b.cwndB }
func (b *bbr) ssthresh() int      { return initialSsthresh } // BBR sets none (as Linux's bbr_ssthresh)
func (b *bbr) pacingRate() uint64 { return uint64(b.rate) }

func (b *bbr) init(cwnd, ssthresh int) { b.cwndB, b.initialCwnd = cwnd, cwnd }

// setCwnd is the sender's loss-recovery window (NewReno's inflation,
// PRR): BBR keeps its own ("Modulating cwnd in Loss Recovery",
// checkFastRecovery and updateCwnd).
func (b *bbr) setCwnd(int) {}

// onLoss: BBR does not cut its window for a loss (v3's loss response is
// left out, see bbr).
func (b *bbr) onLoss(lossEvent) {}

// onAck: everything BBR learns from an ACK comes through onDelivery.
func (b *bbr) onAck(ackSample) {}

func (b *bbr) undo(cwnd, _ int) { b.cwndB = max(b.cwndB, cwnd) }

// onRTO is BBROnEnterRTO ("Modulating cwnd in Loss Recovery"): cwnd
// becomes what is in flight, nothing after a timeout, plus one segment;
// the prior cwnd comes back once the recovery repairs everything sent
// before the timeout.
func (b *bbr) onRTO(flight, mss int, first bool) {
	b.saveCwnd()
	b.cwndB = mss
	b.rtoRecovery, b.rtoRecoverSet = true, false
}

// onIdleRestart is "Restarting From Idle": after an idle period BBR
// paces at the estimated bandwidth (in ProbeBW) and does not enter
// ProbeRTT before the first delivery.
func (b *bbr) onIdleRestart(idle, rto time.Duration, iw int) {
	b.idleRestart = true
	if b.inProbeBW() {
		b.setPacingRate(1)
	}
}

// saveCwnd is BBRSaveCwnd.
func (b *bbr) saveCwnd() {
	if b.rtoRecovery || b.inRecovery || b.state == bbrProbeRTT {
		b.priorCwnd = max(b.priorCwnd, b.cwndB)
	} else {
		b.priorCwnd = b.cwndB
	}
}

// onDelivery is BBRUpdateOnACK (draft-ietf-ccwg-bbr "Algorithm
// Organization"): update the model and the state, then the pacing rate
// and cwnd.
func (b *bbr) onDelivery(d delivery) {
	b.d, b.mss = d, d.mss
	if !b.started {
		// BBROnInit: the filters' clocks start now, the pacing rate from
		// the initial window over the RTT (BBRInitPacingRate).
		b.started = true
		b.rng = rand.New(rand.NewPCG(d.seed, 0x626272))
		b.minRTTStamp, b.probeRTTMinStamp, b.cycleStamp = d.now, d.now, d.now
		if d.hasRTT {
			b.minRTT, b.probeRTTMinDelay = d.rtt, d.rtt
		}
		b.initPacingRate()
	}
	if d.appLimited {
		b.rs.markAppLimited(d.delivered, d.inflight)
	}
	b.checkRTORecovery()
	b.checkFastRecovery()
	b.sample, b.roundStart = b.rs.onAck(d.delivered, d.high, d.sndNxt, d.now)
	if b.roundStart {
		b.roundsSinceBwProbe++
		b.updateMaxBw()
		b.checkFullBw()
	}
	if b.state == bbrStartup && b.filledPipe {
		b.enterDrain() // BBRCheckStartupDone
	}
	if b.state == bbrDrain && d.inflight <= b.inflight(b.maxBw, 1) {
		b.startProbeBWDown() // BBRCheckDrainDone: the queue Startup built is drained
	}
	b.updateProbeBWCyclePhase()
	b.updateMinRTT()
	b.checkProbeRTT()
	if b.maxBw > 0 {
		b.setPacingRate(b.pacingGain)
	}
	b.updateCwnd()
}

// checkRTORecovery ends a timeout's recovery once SND.UNA passes what
// was outstanding at the timeout: BBRRestoreCwnd.
func (b *bbr) checkRTORecovery() {
	switch {
	case !b.rtoRecovery:
	case !b.rtoRecoverSet:
		b.rtoRecover, b.rtoRecoverSet = b.d.sndNxt, true
	case b.d.una.GreaterThanEq(b.rtoRecover):
		b.rtoRecovery = false
		b.cwndB = max(b.cwndB, b.priorCwnd)
	}
}

// checkFastRecovery is BBROnEnterFastRecovery and the restore on leaving
// fast recovery ("Modulating cwnd in Loss Recovery"): on entry cwnd is
// what is in flight plus what this ACK delivered, and packet conservation
// holds it there for a round; on exit the cwnd from before comes back.
func (b *bbr) checkFastRecovery() {
	d := b.d
	switch {
	case d.inRecovery && !b.inRecovery:
		b.saveCwnd()
		b.cwndB = d.inflight + max(d.acked, d.mss)
		b.inRecovery, b.packetConservation = true, true
		b.conserveFrom = d.sndNxt
	case !d.inRecovery && b.inRecovery:
		b.inRecovery, b.packetConservation = false, false
		b.cwndB = max(b.cwndB, b.priorCwnd) // BBRRestoreCwnd
	case b.packetConservation && d.high.GreaterThan(b.conserveFrom):
		b.packetConservation = false // a round trip in fast recovery
	}
}

// startRound is BBRStartRound: the round restarts from this ACK.
func (b *bbr) startRound() { b.rs.restart(b.d.delivered, b.d.sndNxt, b.d.now) }

// updateMaxBw is BBRUpdateMaxBw: a sample enters the filter unless it is
// app-limited and below the estimate.
func (b *bbr) updateMaxBw() {
	s := b.sample
	if s.rate == 0 {
		return // a round of no duration: no sample
	}
	r := float64(s.rate)
	if r >= b.maxBw || !s.appLimited {
		b.bwCycle[0] = max(b.bwCycle[0], r)
		b.maxBw = max(b.bwCycle[0], b.bwCycle[1])
	}
}

// advanceMaxBwFilter is BBRAdvanceMaxBwFilter: a new ProbeBW cycle, the
// oldest cycle's samples are forgotten.
func (b *bbr) advanceMaxBwFilter() {
	b.bwCycle[1], b.bwCycle[0] = b.bwCycle[0], 0
	b.maxBw = b.bwCycle[1]
}

// checkFullBw is BBRCheckFullBWReached: the pipe is full when three
// rounds in a row, not app-limited, brought less than 25% more bandwidth.
func (b *bbr) checkFullBw() {
	s := b.sample
	if b.fullBwNow || s.appLimited || s.rate == 0 {
		return
	}
	if r := float64(s.rate); r >= b.fullBw*bbrFullBWThresh {
		b.resetFullBw()
		b.fullBw = r
		return
	}
	b.fullBwCount++
	b.fullBwNow = b.fullBwCount >= bbrFullBWCount
	if b.fullBwNow {
		b.filledPipe = true
	}
}

func (b *bbr) resetFullBw() { b.fullBw, b.fullBwCount, b.fullBwNow = 0, 0, false }

func (b *bbr) setGains(s bbrState, pacing, cwnd float64) {
	b.state, b.pacingGain, b.cwndGain = s, pacing, cwnd
}

func (b *bbr) enterStartup() { b.setGains(bbrStartup, bbrStartupPacingGain, bbrStartupCwndGain) }
func (b *bbr) enterDrain()   { b.setGains(bbrDrain, bbrDrainPacingGain, bbrStartupCwndGain) }

func (b *bbr) inProbeBW() bool { return b.state >= bbrProbeBWDown && b.state <= bbrProbeBWUp }

// startProbeBWDown is BBRStartProbeBW_DOWN: a new cycle starts, pacing
// below the bandwidth to drain what ProbeBW_UP queued.
func (b *bbr) startProbeBWDown() {
	b.roundsSinceBwProbe = b.rng.IntN(2) // BBRPickProbeWait
	b.bwProbeWait = bbrProbeWaitBase + time.Duration(b.rng.Int64N(int64(bbrProbeWaitRand)))
	b.cycleStamp = b.d.now
	b.probeStopping = true
	b.startRound()
	b.setGains(bbrProbeBWDown, bbrDownPacingGain, bbrCwndGain)
}

func (b *bbr) startProbeBWCruise() { b.setGains(bbrProbeBWCruise, 1, bbrCwndGain) }

func (b *bbr) startProbeBWRefill() {
	b.startRound()
	b.setGains(bbrProbeBWRefill, 1, bbrCwndGain)
}

func (b *bbr) startProbeBWUp() {
	b.startRound()
	b.resetFullBw()
	b.fullBw = float64(b.sample.rate)
	b.cycleStamp = b.d.now
	b.setGains(bbrProbeBWUp, bbrUpPacingGain, bbrUpCwndGain)
}

// updateProbeBWCyclePhase is BBRUpdateProbeBWCyclePhase: DOWN until the
// queue is drained (then CRUISE) or it is time to probe; REFILL for a
// round; UP until the bandwidth stops growing; DOWN again.
func (b *bbr) updateProbeBWCyclePhase() {
	if !b.filledPipe {
		return
	}
	if b.probeStopping && b.roundStart {
		// BBRAdaptUpperBounds: the first round after a probe ends; the
		// probe's samples are in, the filter moves on a cycle.
		b.probeStopping = false
		if b.inProbeBW() && !b.sample.appLimited {
			b.advanceMaxBwFilter()
		}
	}
	switch b.state {
	case bbrProbeBWDown:
		if b.timeToProbeBW() {
			return
		}
		if b.d.inflight <= b.inflight(b.maxBw, 1) { // BBRIsTimeToCruise
			b.startProbeBWCruise()
		}
	case bbrProbeBWCruise:
		b.timeToProbeBW()
	case bbrProbeBWRefill:
		if b.roundStart {
			b.startProbeBWUp()
		}
	case bbrProbeBWUp:
		if b.fullBwNow { // BBRIsTimeToGoDown: a plateau, the pipe is full
			b.startProbeBWDown()
		}
	}
}

// timeToProbeBW is BBRIsTimeToProbeBW: after bw_probe_wait (2-3 s), or
// after as many rounds as Reno would take to grow its window by the BDP
// (BBRIsRenoCoexistenceProbeTime), at most 63.
func (b *bbr) timeToProbeBW() bool {
	target := min(b.bdp(b.maxBw, 1), float64(b.cwndB)) // BBRTargetInflight
	renoRounds := min(int(target)/max(b.mss, 1), bbrMaxProbeRounds)
	if b.d.now.Sub(b.cycleStamp) > b.bwProbeWait || b.roundsSinceBwProbe >= renoRounds {
		b.startProbeBWRefill()
		return true
	}
	return false
}

// updateMinRTT is BBRUpdateMinRTT.
func (b *bbr) updateMinRTT() {
	d := b.d
	b.probeRTTExpired = d.now.After(b.probeRTTMinStamp.Add(bbrProbeRTTInterval))
	if d.hasRTT && (d.rtt < b.probeRTTMinDelay || b.probeRTTExpired) {
		b.probeRTTMinDelay, b.probeRTTMinStamp = d.rtt, d.now
	}
	expired := d.now.After(b.minRTTStamp.Add(bbrMinRTTFilterLen))
	if b.probeRTTMinDelay < b.minRTT || expired {
		b.minRTT, b.minRTTStamp = b.probeRTTMinDelay, b.probeRTTMinStamp
	}
}

// checkProbeRTT is BBRCheckProbeRTT: without a lower RTT for
// ProbeRTTInterval, drain the queue to see the path's own RTT.
func (b *bbr) checkProbeRTT() {
	if b.state != bbrProbeRTT && b.probeRTTExpired && !b.idleRestart {
		b.saveCwnd()
		b.setGains(bbrProbeRTT, 1, bbrProbeRTTCwndGain)
		b.probeRTTDoneStamp = time.Time{}
		b.probeStopping = true
		b.startRound()
	}
	if b.state == bbrProbeRTT {
		b.handleProbeRTT()
	}
	if b.d.acked > 0 {
		b.idleRestart = false
	}
}

// handleProbeRTT is BBRHandleProbeRTT: once in flight is down to the
// ProbeRTT cwnd, stay ProbeRTTDuration and at least a round.
func (b *bbr) handleProbeRTT() {
	d := b.d
	// Samples while the window is held down say nothing of the path.
	b.rs.markAppLimited(d.delivered, d.inflight)
	switch {
	case b.probeRTTDoneStamp.IsZero() && d.inflight <= b.probeRTTCwnd():
		b.probeRTTDoneStamp = d.now.Add(bbrProbeRTTDuration)
		b.probeRTTRoundDone = false
		b.startRound()
	case !b.probeRTTDoneStamp.IsZero():
		if b.roundStart {
			b.probeRTTRoundDone = true
		}
		if b.probeRTTRoundDone && d.now.After(b.probeRTTDoneStamp) {
			// BBRCheckProbeRTTDone and BBRExitProbeRTT.
			b.probeRTTMinStamp = d.now
			b.cwndB = max(b.cwndB, b.priorCwnd) // BBRRestoreCwnd
			if b.filledPipe {
				b.startProbeBWDown()
				b.startProbeBWCruise()
			} else {
				b.enterStartup()
			}
		}
	}
}

// initPacingRate is BBRInitPacingRate: the initial window over the RTT
// (1 ms before a sample), at Startup's gain.
func (b *bbr) initPacingRate() {
	rtt := time.Millisecond
	if b.minRTT != bbrInf && b.minRTT > 0 {
		rtt = b.minRTT
	}
	b.rate = bbrStartupPacingGain * float64(b.cwndB) / rtt.Seconds()
}

// setPacingRate is BBRSetPacingRateWithGain: the rate only falls once the
// pipe has been filled.
func (b *bbr) setPacingRate(gain float64) {
	if r := gain * b.maxBw * (1 - bbrPacingMargin); b.filledPipe || r > b.rate {
		b.rate = r
	}
}

// bdp is BBRBDPMultiple: gain × bw × min_rtt, the initial window
// before there is an RTT.
func (b *bbr) bdp(bw, gain float64) float64 {
	if b.minRTT == bbrInf {
		return float64(b.initialCwnd)
	}
	return gain * bw * b.minRTT.Seconds()
}

// inflight is BBRInflight: the BDP multiple with the quantization budget
// (three send quanta for offloads and delayed ACKs, BBRMinPipeCwnd, two
// more segments in ProbeBW_UP).
func (b *bbr) inflight(bw, gain float64) int {
	n := int(b.bdp(bw, gain))
	n = max(n, 3*sendQuantum(uint64(b.rate), b.mss), bbrMinPipeCwndSegs*b.mss)
	if b.state == bbrProbeBWUp {
		n += 2 * b.mss
	}
	return n
}

func (b *bbr) probeRTTCwnd() int {
	return max(int(b.bdp(b.maxBw, bbrProbeRTTCwndGain)), bbrMinPipeCwndSegs*b.mss)
}

// updateCwnd is BBRSetCwnd: towards cwnd_gain × BDP (BBR.max_inflight),
// growing by what is delivered; in Startup, never down.
func (b *bbr) updateCwnd() {
	maxInflight := b.inflight(b.maxBw, b.cwndGain)
	acked := b.d.acked
	if b.packetConservation {
		b.cwndB = max(b.cwndB, b.d.inflight+acked) // BBRModulateCwndForRecovery
	}
	switch {
	case b.packetConservation:
	case b.filledPipe:
		b.cwndB = min(b.cwndB+acked, maxInflight)
	case b.cwndB < maxInflight || b.d.delivered < uint64(b.initialCwnd):
		b.cwndB += acked
	}
	b.cwndB = max(b.cwndB, bbrMinPipeCwndSegs*b.mss)
	if b.state == bbrProbeRTT {
		b.cwndB = min(b.cwndB, b.probeRTTCwnd()) // BBRBoundCwndForProbeRTT
	}
}
