package tcp

import (
	"math"
	"testing"
	"time"
)

// BBRv3's loss and ECN response (draft-ietf-ccwg-bbr-06 §5.5.10, §5.3.1.3,
// §5.3.3.9, §5.6.4.7) under scripted delivery: the bounds are set,
// lowered, raised and reset at the points the draft names.

// untilRefill runs rounds at rate until ProbeBW_REFILL starts.
func (s *bbrScript) untilRefill(rate float64) {
	s.t.Helper()
	for s.b.state != bbrProbeBWRefill {
		s.round(rate)
		if s.now.Sub(t0) > time.Minute {
			s.t.Fatalf("no REFILL in a minute (%v)", s.b.state)
		}
	}
}

// bbrAtUp runs bbrAtCruise into ProbeBW_UP: CRUISE until it is time to
// probe, a round of REFILL, and the ACK that starts UP, with in flight
// and delivered 400000 each (so the round's volume, the most in flight
// on an ACK of it once refilled, is 800000).
func bbrAtUp(t *testing.T) *bbrScript {
	s := bbrAtCruise(t)
	s.untilRefill(4e6)
	s.ackN(s.rtt, 400000, 400000, true)
	s.expect(bbrProbeBWUp)
	return s
}

func TestBBR_ProbeBWUp_LossAboveLossThreshSetsInflightLongtermAndEndsTheProbe(t *testing.T) {
	s := bbrAtUp(t)
	if s.b.inflightLongterm != bbrInfBytes {
		t.Fatalf("inflight_longterm %d before any loss", s.b.inflightLongterm)
	}
	// 2% of the round's volume (800000) is 16000: that much lost is
	// not too high.
	s.lost, s.ranges = 16000, 3
	s.ackN(time.Millisecond, 100000, 700000, false)
	s.expect(bbrProbeBWUp)
	if s.b.inflightLongterm != bbrInfBytes {
		t.Fatalf("inflight_longterm %d at a 2%% loss rate", s.b.inflightLongterm)
	}
	// One octet more is: inflight_longterm = max(the volume, BBR.Beta ×
	// the target, 0.7 × 400000), and DOWN.
	s.lost, s.ranges = 1, 1
	s.ackN(time.Millisecond, 1000, 700000, false)
	s.expect(bbrProbeBWDown)
	if s.b.inflightLongterm != 800000 || !s.b.prevProbeTooHigh {
		t.Fatalf("inflight_longterm %d (prev_probe_too_high %v), want the round's 800000", s.b.inflightLongterm, s.b.prevProbeTooHigh)
	}
	// BoundCwndForModel: cwnd at most inflight_longterm in DOWN ...
	if s.b.cwndB != 800000 {
		t.Fatalf("cwnd %d in DOWN, want inflight_longterm's 800000", s.b.cwndB)
	}
	// ... and 15% below it in CRUISE (BBR.Headroom).
	s.leavesAtBDP(400000, bbrProbeBWDown, bbrProbeBWCruise)
	s.ackN(time.Millisecond, 100000, 300000, false)
	if s.b.cwndB != 680000 {
		t.Fatalf("cwnd %d in CRUISE, want 0.85 × inflight_longterm = 680000", s.b.cwndB)
	}
}

func TestBBR_ProbeBWUp_InflightLongtermRaisedByOneTwoFourSegmentsARound(t *testing.T) {
	s := bbrAtCruise(t)
	s.round(4e6)                  // a round of CRUISE: 800000 in flight at most
	s.b.inflightLongterm = 800000 // as a probe before this one set it: cwnd 680000 in CRUISE
	s.cwndLimited = true
	s.untilRefill(4e6)
	s.ackN(s.rtt, 400000, 400000, true)
	s.expect(bbrProbeBWUp)
	if s.b.cwndB != 800000 || s.b.inflightLongterm != 800000 {
		t.Fatalf("cwnd %d in UP (inflight_longterm %d), want inflight_longterm's 800000", s.b.cwndB, s.b.inflightLongterm)
	}
	// The first round: a segment more per cwnd (800000) acknowledged.
	s.ackN(time.Millisecond, 798539, 700000, false)
	if s.b.inflightLongterm != 800000 {
		t.Fatalf("inflight_longterm %d before a cwnd is acknowledged", s.b.inflightLongterm)
	}
	s.ackN(s.rtt, 1461, 700000, true) // ends the round
	if want := 800000 + bbrMSS; s.b.inflightLongterm != want {
		t.Fatalf("inflight_longterm %d after a cwnd acknowledged, want %d", s.b.inflightLongterm, want)
	}
	// From now a segment per cwnd/2 (400000), once cwnd has grown to
	// inflight_longterm ...
	s.ackN(time.Millisecond, bbrMSS, 700000, false)
	if s.b.cwndB != 800000+bbrMSS {
		t.Fatalf("cwnd %d, want inflight_longterm's %d", s.b.cwndB, 800000+bbrMSS)
	}
	s.ackN(time.Millisecond, 800000, 700000, false)
	if want := 800000 + 3*bbrMSS; s.b.inflightLongterm != want {
		t.Fatalf("inflight_longterm %d 800000 into the second round, want %d (+2 segments)", s.b.inflightLongterm, want)
	}
	// ... then per cwnd/4.
	s.ackN(s.rtt, 1, 700000, true)
	cwnd := s.b.cwndB
	s.ackN(time.Millisecond, uint64(cwnd), 700000, false)
	if want := 800000 + 7*bbrMSS; s.b.inflightLongterm != want {
		t.Fatalf("inflight_longterm %d a cwnd into the third round, want %d (+4 segments)", s.b.inflightLongterm, want)
	}
	// Not while cwnd is not used.
	s.cwndLimited = false
	before := s.b.inflightLongterm
	s.ackN(time.Millisecond, 2*uint64(cwnd), 700000, false)
	if s.b.inflightLongterm != before {
		t.Fatalf("inflight_longterm %d grew without a cwnd-limited sender", s.b.inflightLongterm)
	}
}

func TestBBR_ProbeBW_LossOutsideAProbeLowersTheShortTermModelByBeta(t *testing.T) {
	s := bbrAtCruise(t)
	lossRound := func(rate float64) {
		s.t.Helper()
		s.lost, s.ranges = bbrMSS, 1
		s.round(rate)
	}
	s.round(4e6) // no loss: no short-term bounds
	if !math.IsInf(s.b.bwShortterm, 1) || s.b.inflightShortterm != bbrInfBytes {
		t.Fatalf("bw_shortterm %v inflight_shortterm %d without loss", s.b.bwShortterm, s.b.inflightShortterm)
	}
	// A round with a loss, at 3 MB/s: bw_shortterm from max_bw (4 MB/s)
	// and inflight_shortterm from cwnd (800000), each the more of the
	// latest (the most of this round's sample and the last, 4 MB/s and
	// 400000) and 0.7 × it.
	lossRound(3e6)
	want := func(bw float64, inflight int) {
		s.t.Helper()
		if math.Abs(s.b.bwShortterm-bw) > 1 || s.b.inflightShortterm != inflight {
			s.t.Fatalf("at %v: bw_shortterm %.0f inflight_shortterm %d, want %.0f %d", s.now.Sub(t0), s.b.bwShortterm, s.b.inflightShortterm, bw, inflight)
		}
	}
	want(4e6, 560000)
	if s.b.cwndB != 560000 {
		t.Fatalf("cwnd %d, want inflight_shortterm's 560000", s.b.cwndB)
	}
	lossRound(3e6) // the latest: 3 MB/s and 300000
	want(3e6, 392000)
	s.expectPacing(1, 3e6) // BBR.bw = min(max_bw, bw_shortterm)
	lossRound(1e6)         // the latest still has the last round's 3 MB/s
	want(3e6, 300000)
	lossRound(1e6) // 0.7 × 3 MB/s and 0.7 × 300000 are more than the latest
	want(2.1e6, 210000)
	s.round(1e6) // a round without loss leaves them
	want(2.1e6, 210000)
	// The next probe starts (REFILL) without them.
	s.untilRefill(2e6)
	if !math.IsInf(s.b.bwShortterm, 1) || s.b.inflightShortterm != bbrInfBytes {
		t.Fatalf("REFILL kept bw_shortterm %v inflight_shortterm %d", s.b.bwShortterm, s.b.inflightShortterm)
	}
	// Loss while probing (REFILL, UP) leaves the short-term model alone.
	lossRound(4e6)
	s.expect(bbrProbeBWUp)
	lossRound(4e6)
	if s.b.inflightShortterm != bbrInfBytes {
		t.Fatalf("inflight_shortterm %d after loss in a probe", s.b.inflightShortterm)
	}
}

func TestBBR_ProbeBW_ECN_CEOnMoreThanHalfTheRoundLowersItAsLoss(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ecn   bool
		ce    int
		lower bool
	}{
		{"CE on half", true, 400000, false},
		{"CE on more than half", true, 400001, true},
		{"ECN not negotiated", false, 800000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := bbrAtCruise(t)
			s.round(4e6)
			s.ecn = tc.ecn
			// The round's volume: 800000 in flight on the last ACK of the
			// round before, once refilled.
			s.ce = tc.ce
			s.ackN(time.Millisecond, uint64(tc.ce), 400000, false)
			s.ackN(s.rtt, 1, 400000, true) // the round ends
			s.expect(bbrProbeBWCruise)
			if lowered := s.b.inflightShortterm != bbrInfBytes; lowered != tc.lower {
				t.Fatalf("inflight_shortterm %d, lowered %v, want %v", s.b.inflightShortterm, lowered, tc.lower)
			}
			if tc.lower && s.b.inflightShortterm != 560000 {
				t.Fatalf("inflight_shortterm %d, want 0.7 × cwnd = 560000 as for a loss", s.b.inflightShortterm)
			}
		})
	}
}

// bbrStartupInRecovery is Startup with a round of fast recovery behind
// it: recovery starts within round 2, which ends delivering 200000 in
// 101 ms, with at most 290000 in flight; the next ACK that ends a round
// ends round 3, the first whole round in recovery.
func bbrStartupInRecovery(t *testing.T) *bbrScript {
	s := newBBRScript(t)
	s.ackN(s.rtt, 100000, 200000, true)
	s.inRecovery = true
	s.ackN(time.Millisecond, 10000, 200000, false)
	s.lost, s.ranges = 10000, 6 // too high, but recovery began within the round
	s.ackN(s.rtt, 190000, 100000, true)
	s.expect(bbrStartup)
	return s
}

func TestBBR_Startup_HighLossExit(t *testing.T) {
	for _, tc := range []struct {
		name         string
		lost, ranges int
		noRecovery   bool
		noSACK       bool
		exit         bool
	}{
		{"over 2% in 6 ranges", 6123, 6, false, false, true},
		{"2% in 6 ranges", 6122, 6, false, false, false},
		{"3% in 5 ranges", 9300, 5, false, false, false},
		{"outside recovery", 9300, 6, true, false, false},
		{"without SACK, any loss in recovery", 1, 1, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := bbrStartupInRecovery(t)
			s.inRecovery = !tc.noRecovery
			s.noSACK = tc.noSACK
			s.lost, s.ranges = tc.lost, tc.ranges
			// Round 3 delivers 300000 in 200 ms and loses lost: the
			// volume is 300000 + lost, 2% of it 6122.4 for 6122.
			s.ackN(2*s.rtt, 300000, 200000, true)
			if !tc.exit {
				s.expect(bbrStartup)
				if s.b.inflightLongterm != bbrInfBytes {
					t.Fatalf("inflight_longterm %d", s.b.inflightLongterm)
				}
				return
			}
			s.expect(bbrDrain)
			// inflight_longterm = max(BDP, inflight_latest): this
			// round's 300000 delivered, more than the BDP at max_bw,
			// round 2's 1.98 MB/s.
			if s.b.inflightLongterm != 300000 || !s.b.filledPipe || s.b.undoState != bbrStartup {
				t.Fatalf("inflight_longterm %d, full_bw_reached %v, undo_state %v; want 200000, true, Startup", s.b.inflightLongterm, s.b.filledPipe, s.b.undoState)
			}
		})
	}
}

func TestBBR_Startup_ECN_CEOnMoreThanHalfTheRoundEndsIt(t *testing.T) {
	s := newBBRScript(t)
	s.ecn = true
	s.ackN(s.rtt, 100000, 200000, true) // at most 200000 in flight from here
	// Rounds delivering 300000: the volume.
	s.ce = 150000
	s.ackN(s.rtt, 300000, 200000, true)
	s.expect(bbrStartup) // half: not more
	s.ce = 150001
	s.ackN(s.rtt, 300000, 200000, true)
	if s.b.state == bbrStartup || s.b.inflightLongterm != 300000 {
		t.Fatalf("%v, inflight_longterm %d; want the pipe full, 300000", s.b.state, s.b.inflightLongterm)
	}
}

func TestBBR_SpuriousRecovery_RestoresTheBoundsAndStartup(t *testing.T) {
	s := bbrStartupInRecovery(t)
	s.lost, s.ranges = 9300, 6
	s.ackN(2*s.rtt, 300000, 200000, true)
	s.expect(bbrDrain)
	// The recovery proves spurious (D-SACK, Eifel): the bounds from
	// before it, and Startup again.
	s.b.undo(0, 0)
	s.expect(bbrStartup)
	if s.b.inflightLongterm != bbrInfBytes || s.b.filledPipe {
		t.Fatalf("inflight_longterm %d full_bw_reached %v after undo", s.b.inflightLongterm, s.b.filledPipe)
	}
}

func TestBBR_ProbeBW_PrecautionaryProbeAfterAProbeThatLostTooMuch(t *testing.T) {
	s := bbrAtUp(t)
	s.lost, s.ranges = 16001, 3 // too high: inflight_longterm 800000, DOWN
	s.ackN(time.Millisecond, 100000, 700000, false)
	s.expect(bbrProbeBWDown)
	// The next probe: REFILL's round, then UP, which ends (Deceleration)
	// as soon as in flight, once refilled, reaches inflight_longterm.
	s.untilRefill(4e6)
	s.ackN(s.rtt, 400000, 400000, true)
	s.expect(bbrProbeBWUp)
	s.ackN(time.Millisecond, 100000, 699999, false) // 799999 once refilled
	s.expect(bbrProbeBWUp)
	s.ackN(time.Millisecond, 100000, 700000, false)
	s.expect(bbrProbeBWDown)
	if !s.b.prevProbePrecautionary || s.b.prevProbeTooHigh {
		t.Fatalf("prev_probe_precautionary %v prev_probe_too_high %v, want true, false", s.b.prevProbePrecautionary, s.b.prevProbeTooHigh)
	}
	// A round of its feedback without too much loss (Acceleration):
	// straight to REFILL, not CRUISE.
	s.ackN(s.rtt, 400000, 400000, true)
	s.expect(bbrProbeBWRefill)
}
