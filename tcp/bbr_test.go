package tcp

import (
	"math"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// BBR's state machine (draft-ietf-ccwg-bbr) under scripted delivery
// rates: the algorithm is driven directly, as the sender's delivery hook
// drives it, one ACK per round trip, each delivering what the scripted
// rate delivers in one RTT.

const bbrMSS = 1460

// bbrScript is a path for a bbr. Sequence numbers are apart from the
// delivered count: an ACK that ends a round delivers the first octet sent
// after the last one did (SND.NXT then), one that does not stays below it.
type bbrScript struct {
	t          *testing.T
	b          *bbr
	now        time.Time
	delivered  uint64
	inflight   int
	rtt        time.Duration
	high       seqnum.Value // the highest delivered octet
	sndNxt     seqnum.Value
	inRecovery bool // the sender's fast recovery
	// The next ACK's newly lost octets in ranges ranges and CE-marked
	// octets (zeroed once given); ECN negotiated; the peer without SACK;
	// the sender cwnd-limited.
	lost, ranges, ce         int
	ecn, noSACK, cwndLimited bool
}

func newBBRScript(t *testing.T) *bbrScript {
	s := &bbrScript{t: t, b: newBBR(), now: t0, rtt: 100 * time.Millisecond}
	s.b.init(10*bbrMSS, initialSsthresh)
	s.ack(0, 10*bbrMSS) // the handshake's RTT sample; the first round starts
	return s
}

// ack is an ACK after dt that delivers nothing new, within the round,
// with inflight in flight after it.
func (s *bbrScript) ack(dt time.Duration, inflight int) {
	s.t.Helper()
	s.ackN(dt, 0, inflight, false)
}

// ackN is an ACK after dt delivering n octets, with an RTT sample of
// s.rtt, ending the round if endRound.
func (s *bbrScript) ackN(dt time.Duration, n uint64, inflight int, endRound bool) {
	s.now = s.now.Add(dt)
	s.delivered += n
	if endRound {
		s.high = s.sndNxt.Add(1)
	}
	s.sndNxt = seqnum.Max(s.sndNxt, s.high.Add(seqnum.Size(inflight)))
	s.inflight = inflight
	s.b.onDelivery(delivery{now: s.now, delivered: s.delivered, acked: int(n), high: s.high, una: s.high,
		sndNxt: s.sndNxt, inflight: inflight, mss: bbrMSS, rtt: s.rtt, hasRTT: true, seed: 1,
		inRecovery: s.inRecovery, lost: s.lost, lossRanges: s.ranges, ce: s.ce, ecn: s.ecn,
		sack: !s.noSACK, cwndLimited: s.cwndLimited})
	s.lost, s.ranges, s.ce = 0, 0, 0
}

// round is one round trip at rate bytes per second: its ACK delivers
// rate × RTT and leaves twice that in flight (a queue of one BDP), or
// cwnd if that is less.
func (s *bbrScript) round(rate float64) {
	s.t.Helper()
	n := uint64(rate * s.rtt.Seconds())
	s.ackN(s.rtt, n, min(int(2*n), s.b.cwndB), true)
}

func (s *bbrScript) expect(st bbrState) {
	s.t.Helper()
	if s.b.state != st {
		s.t.Fatalf("at %v: state %v, want %v (max_bw %.0f, inflight %d, cwnd %d)", s.now.Sub(t0), s.b.state, st, s.b.maxBw, s.inflight, s.b.cwndB)
	}
}

func (s *bbrScript) expectPacing(gain, bw float64) {
	s.t.Helper()
	want := gain * bw * 0.99
	if got := float64(s.b.pacingRate()); math.Abs(got-want) > 1 {
		s.t.Fatalf("at %v (%v): pacing rate %.0f B/s, want %.0f (%.2f × %.0f B/s less the 1%% margin)", s.now.Sub(t0), s.b.state, got, want, gain, bw)
	}
}

// leavesAtBDP asserts that state from holds with one octet more than bdp
// in flight, and gives way to to at bdp.
func (s *bbrScript) leavesAtBDP(bdp int, from, to bbrState) {
	s.t.Helper()
	s.ack(time.Millisecond, bdp+1)
	s.expect(from)
	s.ack(time.Millisecond, bdp)
	s.expect(to)
}

// bbrAtCruise runs Startup at doubling rates up to 4 MB/s, its plateau,
// and Drain, into ProbeBW_CRUISE.
func bbrAtCruise(t *testing.T) *bbrScript {
	s := newBBRScript(t)
	for _, r := range []float64{1e6, 2e6, 4e6, 4e6, 4e6} {
		s.round(r)
		s.expect(bbrStartup)
		s.expectPacing(2.77, r)
	}
	s.round(4e6) // the third round without 25% more: the pipe is full
	s.expect(bbrDrain)
	s.expectPacing(0.35, 4e6)
	// Drain lasts until what is in flight is down to the BDP, 400000
	// octets; ProbeBW_DOWN's own exit holds at once: nothing above it.
	s.leavesAtBDP(400000, bbrDrain, bbrProbeBWCruise)
	s.expectPacing(1, 4e6)
	return s
}

func TestBBR_Startup_DrainsOnceBandwidthStopsGrowing25PercentFor3Rounds(t *testing.T) {
	s := bbrAtCruise(t)
	// cwnd is cwnd_gain × BDP: 2 × 400000.
	if s.b.cwndB != 800000 {
		t.Fatalf("cwnd %d in ProbeBW, want 800000 (2 × BDP)", s.b.cwndB)
	}
}

func TestBBR_Startup_AppLimitedRoundsDoNotEndIt(t *testing.T) {
	s := newBBRScript(t)
	s.round(4e6)
	for range 5 {
		s.b.rs.markAppLimited(s.delivered, s.inflight) // the sender ran out of data
		s.round(4e6)
		s.expect(bbrStartup)
	}
}

func TestBBR_ProbeBW_CyclesDownCruiseRefillUp(t *testing.T) {
	s := bbrAtCruise(t)
	wait := s.b.bwProbeWait
	if wait < 2*time.Second || wait >= 3*time.Second {
		t.Fatalf("bw_probe_wait %v, want 2-3 s", wait)
	}
	// CRUISE until bw_probe_wait has passed since the cycle started.
	start := s.now
	for s.now.Sub(start)+s.rtt <= wait {
		s.round(4e6)
		s.expect(bbrProbeBWCruise)
	}
	s.round(4e6)
	s.expect(bbrProbeBWRefill)
	s.expectPacing(1, 4e6)
	s.round(4e6) // a round of REFILL
	s.expect(bbrProbeBWUp)
	s.expectPacing(1.25, 4e6)
	if want := int(2.25*400000) + 2*bbrMSS; s.b.cwndB > want || s.b.inflight(s.b.maxBw, s.b.cwndGain) != want {
		t.Fatalf("ProbeBW_UP max inflight %d (cwnd %d), want 2.25 × BDP + 2 segments = %d", s.b.inflight(s.b.maxBw, s.b.cwndGain), s.b.cwndB, want)
	}
	// UP finds 5 MB/s (25% more), then three rounds of no more.
	s.round(5e6)
	s.expect(bbrProbeBWUp)
	s.expectPacing(1.25, 5e6)
	s.round(5e6)
	s.round(5e6)
	s.expect(bbrProbeBWUp)
	s.round(5e6)
	s.expect(bbrProbeBWDown)
	s.expectPacing(0.9, 5e6)
	// DOWN drains what UP queued: until in flight is down to the new BDP.
	s.leavesAtBDP(500000, bbrProbeBWDown, bbrProbeBWCruise)
}

func TestBBR_MaxBwFilter_ForgetsAfterTwoCycles(t *testing.T) {
	s := bbrAtCruise(t)
	// The path slows to 2 MB/s. The filter's window is the current
	// ProbeBW cycle and the previous one (MaxBwFilterLen = 2): Startup's
	// 4 MB/s is the previous cycle's through the first, and gone once the
	// second has begun.
	cycles := 0
	for prev := s.b.state; cycles < 2; prev = s.b.state {
		s.round(2e6)
		if s.b.state == bbrProbeBWDown && prev != bbrProbeBWDown {
			cycles++
		}
		if s.now.Sub(t0) > time.Minute {
			t.Fatalf("%d ProbeBW cycles in a minute", cycles)
		}
		if cycles == 0 && s.b.maxBw != 4e6 {
			t.Fatalf("max_bw %.0f at %v in the first cycle, want Startup's 4 MB/s", s.b.maxBw, s.now.Sub(t0))
		}
	}
	if s.b.maxBw != 2e6 {
		t.Fatalf("max_bw %.0f two cycles on at 2 MB/s, want 2e6", s.b.maxBw)
	}
}

func TestBBR_ProbeRTT_After5sWithoutALowerRTT_For200msAtHalfTheBDP(t *testing.T) {
	s := bbrAtCruise(t)
	s.rtt = 120 * time.Millisecond // a queue: no sample reaches 100 ms again
	for s.b.state != bbrProbeRTT {
		s.round(4e6)
		if s.now.Sub(t0) > 6*time.Second {
			t.Fatal("no ProbeRTT 5 s after the last lower RTT")
		}
	}
	// min_rtt was set at the start; BBR.probe_rtt_min_stamp too.
	if d := s.now.Sub(t0); d <= 5*time.Second || d > 5*time.Second+s.rtt {
		t.Fatalf("ProbeRTT at %v, want the first ACK after 5 s", d)
	}
	prior := s.b.priorCwnd
	// ProbeRTT's cwnd: BBRProbeRTTCwndGain × BDP = 0.5 × 4e6 × 100 ms.
	if s.b.cwndB != 200000 {
		t.Fatalf("cwnd %d in ProbeRTT, want 200000 (0.5 × BDP)", s.b.cwndB)
	}
	s.expectPacing(1, 4e6)
	// It lasts 200 ms once in flight is down to that cwnd, and a round.
	s.ackN(time.Millisecond, 100000, 200001, false)
	if !s.b.probeRTTDoneStamp.IsZero() {
		t.Fatal("ProbeRTT's 200 ms started with more than its cwnd in flight")
	}
	s.rtt = 100 * time.Millisecond
	s.ackN(time.Millisecond, 100000, 200000, false)
	done := s.now.Add(200 * time.Millisecond)
	if !s.b.probeRTTDoneStamp.Equal(done) {
		t.Fatalf("ProbeRTT ends at %v, want %v", s.b.probeRTTDoneStamp.Sub(t0), done.Sub(t0))
	}
	for s.now.Before(done) {
		s.ackN(50*time.Millisecond, 100000, 100000, true)
		s.expect(bbrProbeRTT)
	}
	s.ackN(time.Millisecond, 100000, 100000, true)
	s.expect(bbrProbeBWCruise)
	if s.b.cwndB < prior {
		t.Fatalf("cwnd %d after ProbeRTT, want the prior %d back", s.b.cwndB, prior)
	}
	if s.b.minRTT != 100*time.Millisecond {
		t.Fatalf("min_rtt %v, want 100ms", s.b.minRTT)
	}
}

func TestBBR_Loss_DoesNotCutTheWindow(t *testing.T) {
	s := bbrAtCruise(t)
	cwnd := s.b.cwnd()
	s.b.onLoss(lossEvent{flight: s.inflight, mss: bbrMSS})
	s.b.setCwnd(cwnd / 2) // the sender's recovery rules: not BBR's
	if s.b.cwnd() != cwnd {
		t.Fatalf("cwnd %d after a loss, want %d: BBR keeps its model", s.b.cwnd(), cwnd)
	}
	// A timeout: one segment, and the prior cwnd once what was
	// outstanding then is delivered.
	s.b.onRTO(s.inflight, bbrMSS, true)
	if s.b.cwnd() != bbrMSS {
		t.Fatalf("cwnd %d after an RTO, want one segment", s.b.cwnd())
	}
	s.ackN(s.rtt, 1000, s.inflight, false)
	if s.b.cwnd() >= cwnd {
		t.Fatalf("cwnd %d restored before the timeout's recovery ended", s.b.cwnd())
	}
	s.ackN(s.rtt, uint64(s.inflight), 0, true)
	if s.b.cwnd() < cwnd {
		t.Fatalf("cwnd %d after the timeout's recovery, want the prior %d back", s.b.cwnd(), cwnd)
	}
}

func TestBBR_FastRecovery_PacketConservationForARoundThenThePriorCwnd(t *testing.T) {
	s := bbrAtCruise(t)
	prior := s.b.cwnd() // 800000
	// Fast recovery starts with 300000 octets in flight, the ACK
	// delivering 2 segments: cwnd = in flight + delivered.
	s.inRecovery = true
	s.ackN(time.Millisecond, 2*bbrMSS, 300000, false)
	if want := 300000 + 2*bbrMSS; s.b.cwnd() != want {
		t.Fatalf("cwnd %d entering fast recovery, want in flight + delivered = %d", s.b.cwnd(), want)
	}
	// Packet conservation: no growth beyond in flight + delivered.
	s.ackN(time.Millisecond, bbrMSS, 280000, false)
	if want := 300000 + 2*bbrMSS; s.b.cwnd() != want {
		t.Fatalf("cwnd %d in packet conservation, want it held at %d", s.b.cwnd(), want)
	}
	s.ackN(time.Millisecond, bbrMSS, 305000, false)
	if want := 305000 + bbrMSS; s.b.cwnd() != want {
		t.Fatalf("cwnd %d, want packet conservation's in flight + delivered = %d", s.b.cwnd(), want)
	}
	// A round trip on (an octet sent after recovery began is delivered):
	// cwnd grows by what is delivered again.
	s.ackN(s.rtt, 10*bbrMSS, 100000, true)
	if want := 305000 + bbrMSS + 10*bbrMSS; s.b.cwnd() != want {
		t.Fatalf("cwnd %d a round into recovery, want growth by the %d delivered to %d", s.b.cwnd(), 10*bbrMSS, want)
	}
	// Recovery ends: the cwnd from before it.
	s.inRecovery = false
	s.ackN(time.Millisecond, bbrMSS, 100000, false)
	if s.b.cwnd() != prior {
		t.Fatalf("cwnd %d after fast recovery, want the prior %d", s.b.cwnd(), prior)
	}
}
