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
	bbrDrainRounds       = 3 // CheckDrainDone: ProbeBW after 3 rounds of Drain at most

	// The loss (and ECN) response, draft-ietf-ccwg-bbr-06 §2.8, §5.5.10.
	bbrLossThresh         = 0.02 // BBR.LossThresh: the loss rate a round may have
	bbrBeta               = 0.7  // BBR.Beta: the multiplicative decrease per round with loss
	bbrHeadroom           = 0.15 // BBR.Headroom: what CRUISE leaves of inflight_longterm
	bbrStartupFullLossCnt = 6    // BBRStartupFullLossCnt (§5.3.1.3)
	// bbrECNThresh is the fraction of a round's data that may come back
	// CE-marked. Deviation (Linux compat): §3.7 specifies no response to
	// ECN, only that CE marks MUST be treated as congestion; as Linux's
	// BBRv3 (bbr_ecn_thresh, 50%), a round with more than this is one
	// with too much loss.
	bbrECNThresh = 0.5
	// bbrMaxProbeUpRounds bounds BBR.bw_probe_up_rounds (§5.3.3.9
	// RaiseInflightLongtermSlope).
	bbrMaxProbeUpRounds = 30
)

// bbrInfBytes is the drafts' Infinity for the volume bounds
// (inflight_longterm, inflight_shortterm, probe_up_acked_per_inc).
const bbrInfBytes = math.MaxInt

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

// bbrNoState is the drafts' None for BBR.undo_state.
const bbrNoState bbrState = 0xff

func (s bbrState) String() string {
	return [...]string{"Startup", "Drain", "ProbeBW_DOWN", "ProbeBW_CRUISE", "ProbeBW_REFILL", "ProbeBW_UP", "ProbeRTT"}[s]
}

// bbr is BBR congestion control, draft-ietf-ccwg-bbr-06 (BBRv3): its
// state machine and gains, and the model's bounds from loss and ECN
// (§5.5.10): the long-term BBR.inflight_longterm (Linux's inflight_hi)
// that a bandwidth probe with too much loss sets, and the short-term
// BBR.bw_shortterm and inflight_shortterm (bw_lo, inflight_lo) that loss
// outside a probe lowers by BBR.Beta each round. Loss is measured per
// round, as the sampler's rounds (rate.go): the octets the sender deemed
// lost during the round (delivery.lost) against the round's volume, in
// place of the drafts' per-packet RS.lost and RS.tx_in_flight
// (bbrSignals). In fast recovery cwnd is packet conservation for a round
// and the prior cwnd back at the end (as -02's "Modulating cwnd in Loss
// Recovery"); not "cwnd − rs.newly_lost" on each ACK: counting
// retransmissions as lost (NextSeg()'s rule 3 resends holes not known
// lost) cut a 5%-loss path's goodput from 67% of the link to 36%
// (BenchmarkBottleneck at 5%, one flow). The sender's loss recovery
// still decides what to resend; cwnd is BBR's, and pacing (pacing.go)
// spreads what it allows.
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

	// BBR.bw: max_bw bounded by bw_shortterm (BoundBWForModel).
	bw         float64
	roundCount uint64 // BBR.round_count
	drainRound uint64 // BBR.drain_start_round

	sig bbrSignals

	// The long-term model (§5.3.3.9, §5.5.10.2).
	inflightLongterm       int // BBR.inflight_longterm
	probeUpAckedPerInc     int // BBR.probe_up_acked_per_inc
	bwProbeUpAcked         int // BBR.bw_probe_up_acked
	bwProbeUpRounds        int // BBR.bw_probe_up_rounds
	isBwProbeSample        bool
	prevProbeTooHigh       bool
	prevProbePrecautionary bool

	// The short-term model (§5.5.10.3).
	bwShortterm       float64 // BBR.bw_shortterm, +Inf when unset
	inflightShortterm int     // BBR.inflight_shortterm
	bwLatest          float64 // BBR.bw_latest: the last round's delivery rate
	inflightLatest    int     // BBR.inflight_latest: the last round's delivered volume

	// Undo (§5.5.11): the state and bounds when the last loss recovery
	// started.
	undoState                                   bbrState // bbrNoState: None
	undoBwShortterm                             float64
	undoInflightShortterm, undoInflightLongterm int
}

// bbrSignals are the congestion signals of the current round
// (BBR.is_loss_in_round and the drafts' RS.lost, RS.tx_in_flight, and
// the CE-marked share of RS.delivered). The drafts keep C.inflight and
// C.lost per packet sent and compare, on each ACK, what was lost since
// the acknowledged packet was sent with what was in flight then; here the
// round's lost octets are compared with the round's volume: the most in
// flight after an ACK of the round before, once refilled (what the
// packets acknowledged in this one were sent into), or what this round
// delivered and lost if that is more.
type bbrSignals struct {
	lost, ranges, ce, delivered  int // in the round so far
	maxInflight, prevMaxInflight int
	lossInRound                  bool   // BBR.is_loss_in_round: loss, or too much CE
	recoveryRound                uint64 // round_count when fast recovery began
}

func newBBR() *bbr {
	b := &bbr{minRTT: bbrInf, probeRTTMinDelay: bbrInf,
		inflightLongterm: bbrInfBytes, probeUpAckedPerInc: bbrInfBytes, undoState: bbrNoState}
	b.resetShortTermModel()
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

// onLoss: BBR does not cut its window when a recovery starts; what it
// learns of a loss comes through onDelivery (delivery.lost), once the
// sender's scoreboard deems octets lost.
func (b *bbr) onLoss(lossEvent) {}

// onAck: everything BBR learns from an ACK comes through onDelivery.
func (b *bbr) onAck(ackSample) {}

// undo is HandleSpuriousLossDetection (§5.5.11.2): the recovery was
// spurious, so the cwnd and the bounds from before it come back, and a
// Startup or ProbeBW_UP that the loss ended resumes.
func (b *bbr) undo(cwnd, _ int) {
	b.cwndB = max(b.cwndB, cwnd, b.priorCwnd) // RestoreCwnd
	b.sig.lossInRound = false
	b.resetFullBw()
	b.bwShortterm = max(b.bwShortterm, b.undoBwShortterm)
	b.inflightShortterm = max(b.inflightShortterm, b.undoInflightShortterm)
	b.inflightLongterm = max(b.inflightLongterm, b.undoInflightLongterm)
	switch {
	case b.undoState == bbrStartup && b.state != bbrStartup:
		b.filledPipe = false
		if b.state != bbrProbeRTT {
			b.enterStartup()
		}
	case b.undoState == bbrProbeBWUp && b.state != bbrProbeBWUp:
		if b.state != bbrProbeRTT {
			b.startProbeBWRefill()
		}
	}
	b.undoState = bbrNoState
}

// saveStateUponLoss is SaveStateUponLoss (§5.5.11.1), as a recovery
// starts.
func (b *bbr) saveStateUponLoss() {
	b.saveCwnd()
	b.undoState = bbrNoState
	b.undoBwShortterm = b.bwShortterm
	b.undoInflightShortterm, b.undoInflightLongterm = b.inflightShortterm, b.inflightLongterm
}

// onRTO is BBROnEnterRTO ("Modulating cwnd in Loss Recovery"): cwnd
// becomes what is in flight, nothing after a timeout, plus one segment;
// the prior cwnd comes back once the recovery repairs everything sent
// before the timeout.
func (b *bbr) onRTO(flight, mss int, first bool) {
	b.saveStateUponLoss()
	b.sig.lossInRound = true // NoteLoss: what the timeout marks lost
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
	b.noteSignals()
	if b.roundStart {
		b.roundCount++
		b.roundsSinceBwProbe++
		b.updateMaxBw()
		b.updateCongestionSignals()
		b.checkFullBw()
	}
	b.checkStartupDone()
	if b.state == bbrDrain && (d.inflight <= b.inflight(b.bw, 1) || b.roundCount > b.drainRound+bbrDrainRounds) {
		b.startProbeBWDown() // CheckDrainDone: the queue Startup built is drained
	}
	b.updateProbeBWCyclePhase()
	b.updateMinRTT()
	b.checkProbeRTT()
	if b.roundStart {
		// AdvanceLatestDeliverySignals: the next round's start from
		// this round's sample.
		b.bwLatest, b.inflightLatest = float64(b.sample.rate), int(b.sample.delivered)
		b.sig.endRound()
	}
	b.bw = min(b.maxBw, b.bwShortterm) // BoundBWForModel
	if b.maxBw > 0 {
		b.setPacingRate(b.pacingGain)
	}
	b.updateCwnd()
}

// noteSignals adds the ACK's loss and CE marks to the round's
// (HandleLostPacket's NoteLoss, §5.5.10.2).
func (b *bbr) noteSignals() {
	d, g := b.d, &b.sig
	g.lost += d.lost
	g.ranges += d.lossRanges
	g.delivered += d.acked
	if d.ecn {
		g.ce += d.ce
	}
	// In flight once the sender refills what the ACK delivered, as far
	// as cwnd lets it.
	g.maxInflight = max(g.maxInflight, min(d.inflight+d.acked, max(b.cwndB, d.inflight)))
	if d.lost > 0 || b.ceTooHigh() {
		g.lossInRound = true
	}
}

// volume is the round's RS.tx_in_flight (bbrSignals).
func (g *bbrSignals) volume() int { return max(g.prevMaxInflight, g.delivered+g.lost) }

// endRound starts the next round's signals.
func (g *bbrSignals) endRound() {
	g.prevMaxInflight, g.maxInflight = g.maxInflight, 0
	g.lost, g.ranges, g.ce, g.delivered = 0, 0, 0, 0
}

// lossTooHigh is IsInflightTooHigh's loss half (§5.5.10.2): more than
// BBR.LossThresh of the round's volume lost, or any loss without SACK
// (one loss per round is all such a sender can see).
func (b *bbr) lossTooHigh() bool {
	g := &b.sig
	return float64(g.lost) > bbrLossThresh*float64(g.volume()) || (g.lost > 0 && !b.d.sack)
}

// ceTooHigh: more than bbrECNThresh of the round's volume came back
// CE-marked, ECN negotiated (§3.7: CE marks are congestion).
func (b *bbr) ceTooHigh() bool {
	g := &b.sig
	return float64(g.ce) > bbrECNThresh*float64(g.volume()) // g.ce counts only with ECN
}

// inflightTooHigh is IsInflightTooHigh: loss or ECN says what was in
// flight was too much.
func (b *bbr) inflightTooHigh() bool { return b.lossTooHigh() || b.ceTooHigh() }

// updateCongestionSignals is UpdateLatestDeliverySignals and
// UpdateCongestionSignals (§5.5.10.3) at the end of a round: a round with
// loss (or too much CE) outside a bandwidth probe lowers the short-term
// model to what was delivered in it (BBR.bw_latest, inflight_latest: the
// most of this round's sample and the one before), or by BBR.Beta,
// whichever is more.
func (b *bbr) updateCongestionSignals() {
	b.bwLatest = max(b.bwLatest, float64(b.sample.rate))
	b.inflightLatest = max(b.inflightLatest, int(b.sample.delivered))
	if !b.probingBW() && b.sig.lossInRound {
		// InitLowerBounds, LossLowerBounds.
		if math.IsInf(b.bwShortterm, 1) {
			b.bwShortterm = b.maxBw
		}
		if b.inflightShortterm == bbrInfBytes {
			b.inflightShortterm = b.cwndB
		}
		b.bwShortterm = max(b.bwLatest, bbrBeta*b.bwShortterm)
		b.inflightShortterm = max(b.inflightLatest, int(bbrBeta*float64(b.inflightShortterm)))
	}
	b.sig.lossInRound = false
}

// resetShortTermModel is ResetShortTermModel: no short-term bounds.
func (b *bbr) resetShortTermModel() {
	b.bwShortterm, b.inflightShortterm = math.Inf(1), bbrInfBytes
}

// probingBW is IsProbingBW: the states that accelerate.
func (b *bbr) probingBW() bool {
	return b.state == bbrStartup || b.state == bbrProbeBWRefill || b.state == bbrProbeBWUp
}

// checkStartupDone is CheckStartupDone with CheckStartupHighLoss
// (§5.3.1.3): at the end of a round in Startup, fast recovery for the
// whole round with more than BBR.LossThresh lost in at least
// BBRStartupFullLossCnt discontiguous ranges (any loss in recovery
// without SACK), or more than bbrECNThresh CE-marked, says the pipe is
// full: inflight_longterm becomes max(BDP, the round's delivered volume)
// and Drain starts.
func (b *bbr) checkStartupDone() {
	d, g := b.d, &b.sig
	if b.state == bbrStartup && !b.filledPipe && b.roundStart {
		loss := d.inRecovery && b.lossTooHigh()
		if d.sack {
			loss = loss && g.recoveryRound+1 < b.roundCount && g.ranges >= bbrStartupFullLossCnt
		}
		if loss || b.ceTooHigh() {
			b.undoState = bbrStartup
			b.filledPipe = true
			b.inflightLongterm = max(int(b.bdp(b.bw, 1)), b.inflightLatest)
		}
	}
	if b.state == bbrStartup && b.filledPipe {
		b.enterDrain()
	}
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
		b.saveStateUponLoss() // OnEnterFastRecovery
		b.sig.recoveryRound = b.roundCount
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
func (b *bbr) enterDrain() {
	b.setGains(bbrDrain, bbrDrainPacingGain, bbrStartupCwndGain)
	b.drainRound = b.roundCount
}

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
	// ResetCongestionSignals; inflight_longterm stops growing.
	b.sig.lossInRound, b.bwLatest, b.inflightLatest = false, 0, 0
	b.probeUpAckedPerInc = bbrInfBytes
}

func (b *bbr) startProbeBWCruise() { b.setGains(bbrProbeBWCruise, 1, bbrCwndGain) }

// startProbeBWRefill is StartProbeBW_REFILL: the short-term model,
// shaped by the cross traffic's losses, is dropped before the probe.
func (b *bbr) startProbeBWRefill() {
	b.resetShortTermModel()
	b.bwProbeUpRounds, b.bwProbeUpAcked = 0, 0
	b.prevProbePrecautionary = false
	b.startRound()
	b.setGains(bbrProbeBWRefill, 1, bbrCwndGain)
}

func (b *bbr) startProbeBWUp() {
	b.startRound()
	b.resetFullBw()
	b.fullBw = float64(b.sample.rate)
	b.cycleStamp = b.d.now
	b.setGains(bbrProbeBWUp, bbrUpPacingGain, bbrUpCwndGain)
	b.raiseInflightLongtermSlope()
}

// updateProbeBWCyclePhase is BBRUpdateProbeBWCyclePhase: DOWN until the
// queue is drained (then CRUISE) or it is time to probe; REFILL for a
// round; UP until the bandwidth stops growing; DOWN again.
func (b *bbr) updateProbeBWCyclePhase() {
	if !b.filledPipe {
		return
	}
	if b.adaptLongTermModel() || !b.inProbeBW() {
		return
	}
	switch b.state {
	case bbrProbeBWDown:
		if b.timeToProbeBW() {
			return
		}
		if b.timeToCruise() {
			b.startProbeBWCruise()
		}
	case bbrProbeBWCruise:
		b.timeToProbeBW()
	case bbrProbeBWRefill:
		if b.roundStart {
			b.isBwProbeSample = true
			b.startProbeBWUp()
		}
	case bbrProbeBWUp:
		if b.timeToGoDown() {
			b.prevProbeTooHigh = false // no high loss (yet)
			b.startProbeBWDown()
		}
	}
}

// adaptLongTermModel is AdaptLongTermModel with HandleInflightTooHigh
// (§5.3.3.9, §5.5.10.2), reporting whether it changed the state. Too
// much loss (or CE) in a round of a bandwidth probe's data sets
// inflight_longterm to what was in flight, at least BBR.Beta of the
// target, and ends ProbeBW_UP; a round that ends without it raises
// inflight_longterm to what it had in flight, and ProbeBW_UP raises it
// faster each round it is held by it.
func (b *bbr) adaptLongTermModel() bool {
	if b.probeStopping && b.roundStart {
		// The first round after a probe ends; the probe's samples are
		// in, the filter moves on a cycle.
		b.probeStopping = false
		b.isBwProbeSample = false
		if b.inProbeBW() && !b.sample.appLimited {
			b.advanceMaxBwFilter()
		}
		if b.inProbeBW() && b.prevProbePrecautionary && !b.prevProbeTooHigh {
			// Precautionary Bandwidth Probing: Acceleration (§5.3.3.6).
			b.startProbeBWRefill()
			return true
		}
	}
	if b.inflightTooHigh() {
		if !b.isBwProbeSample {
			return false
		}
		// HandleInflightTooHigh: once per probe.
		b.prevProbeTooHigh, b.isBwProbeSample = true, false
		if !b.rs.appLimited {
			b.inflightLongterm = max(b.sig.volume(), int(b.targetInflight()*bbrBeta))
		}
		if b.state == bbrProbeBWUp {
			b.undoState = bbrProbeBWUp
			b.startProbeBWDown()
			return true
		}
		return false
	}
	if b.inflightLongterm == bbrInfBytes {
		return false // no upper bound to raise
	}
	if b.roundStart {
		// A whole round of RS.tx_in_flight without too much loss.
		b.inflightLongterm = max(b.inflightLongterm, b.sig.volume())
	}
	if b.state == bbrProbeBWUp {
		b.probeInflightLongtermUpward()
	}
	return false
}

// raiseInflightLongtermSlope is RaiseInflightLongtermSlope: in each round
// of ProbeBW_UP, inflight_longterm grows by twice the segments of the
// round before (1, 2, 4, ...), spread over the round's ACKs.
func (b *bbr) raiseInflightLongtermSlope() {
	growth := 1 << b.bwProbeUpRounds
	b.bwProbeUpRounds = min(b.bwProbeUpRounds+1, bbrMaxProbeUpRounds)
	b.probeUpAckedPerInc = max(b.cwndB/growth, b.mss, 1)
}

// probeInflightLongtermUpward is ProbeInflightLongtermUpward: only while
// the window is what inflight_longterm allows, and used.
func (b *bbr) probeInflightLongtermUpward() {
	if !b.d.cwndLimited || b.cwndB < b.inflightLongterm {
		return
	}
	b.bwProbeUpAcked += b.d.acked
	if b.bwProbeUpAcked >= b.probeUpAckedPerInc {
		delta := b.bwProbeUpAcked / b.probeUpAckedPerInc
		b.bwProbeUpAcked -= delta * b.probeUpAckedPerInc
		b.inflightLongterm += delta * b.mss
	}
	if b.roundStart {
		b.raiseInflightLongtermSlope()
	}
}

// timeToCruise is IsTimeToCruise: DOWN has drained the queue (in flight
// at most the BDP) and left BBR.Headroom of inflight_longterm free.
func (b *bbr) timeToCruise() bool {
	return b.d.inflight <= b.inflightWithHeadroom() && b.d.inflight <= b.inflight(b.maxBw, 1)
}

// timeToGoDown is IsTimeToGoDown: ProbeBW_UP ends at a bandwidth plateau,
// not one that inflight_longterm imposes; after a probe with too much
// loss, as soon as in flight reaches inflight_longterm (Precautionary
// Bandwidth Probing: Deceleration, §5.3.3.6). In flight is counted once
// the ACK's room is refilled, as the sender does next.
func (b *bbr) timeToGoDown() bool {
	if b.prevProbeTooHigh && b.d.inflight+b.d.acked >= b.inflightLongterm {
		b.prevProbePrecautionary = true
		return true
	}
	if b.d.cwndLimited && b.cwndB >= b.inflightLongterm {
		b.resetFullBw() // the bandwidth is limited by inflight_longterm
		b.fullBw = float64(b.sample.rate)
		return false
	}
	return b.fullBwNow
}

// inflightWithHeadroom is InflightWithHeadroom: inflight_longterm less
// BBR.Headroom of it (at least a segment), at least BBR.MinPipeCwnd.
func (b *bbr) inflightWithHeadroom() int {
	if b.inflightLongterm == bbrInfBytes {
		return bbrInfBytes
	}
	headroom := max(b.mss, int(bbrHeadroom*float64(b.inflightLongterm)))
	return max(b.inflightLongterm-headroom, bbrMinPipeCwndSegs*b.mss)
}

// targetInflight is BBRTargetInflight: the BDP, or cwnd if less.
func (b *bbr) targetInflight() float64 { return min(b.bdp(b.bw, 1), float64(b.cwndB)) }

// timeToProbeBW is BBRIsTimeToProbeBW: after bw_probe_wait (2-3 s), or
// after as many rounds as Reno would take to grow its window by the BDP
// (BBRIsRenoCoexistenceProbeTime), at most 63.
func (b *bbr) timeToProbeBW() bool {
	renoRounds := min(int(b.targetInflight())/max(b.mss, 1), bbrMaxProbeRounds)
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
	if r := gain * b.bw * (1 - bbrPacingMargin); b.filledPipe || r > b.rate {
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
	return max(int(b.bdp(b.bw, bbrProbeRTTCwndGain)), bbrMinPipeCwndSegs*b.mss)
}

// updateCwnd is SetCwnd: towards cwnd_gain × BDP (BBR.max_inflight),
// growing by what is delivered; in Startup, never down; then bounded by
// the model (BoundCwndForModel).
func (b *bbr) updateCwnd() {
	maxInflight := b.inflight(b.bw, b.cwndGain)
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
	b.boundCwndForModel()
}

// boundCwndForModel is BoundCwndForModel (§5.6.4.7): ProbeBW's states
// but CRUISE are held to inflight_longterm, CRUISE and ProbeRTT to it
// less the headroom; every state to inflight_shortterm.
func (b *bbr) boundCwndForModel() {
	c := bbrInfBytes
	switch {
	case b.inProbeBW() && b.state != bbrProbeBWCruise:
		c = b.inflightLongterm
	case b.state == bbrProbeRTT || b.state == bbrProbeBWCruise:
		c = b.inflightWithHeadroom()
	}
	c = max(min(c, b.inflightShortterm), bbrMinPipeCwndSegs*b.mss)
	b.cwndB = min(b.cwndB, c)
}
