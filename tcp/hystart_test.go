package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// HyStart++ (RFC 9406) in CUBIC's initial slow start, driven round by
// round: each round's ACKs carry RTT samples; a round ends when SEG.ACK
// reaches the SND.NXT of its start (§4.2).

// hsRounds feeds c rounds of n ACKs of one segment each, every one with
// the RTT sample rtt, from top on; it returns the new top.
func hsRound(c *cubic, top seqnum.Value, n int, rtt time.Duration) seqnum.Value {
	next := top.Add(seqnum.Size(1000 * cubicMSS))
	for i := range n {
		c.onAck(ackSample{acked: cubicMSS, mss: cubicMSS, rtt: rtt, hasRTT: true, now: t0,
			ack: top.Add(seqnum.Size(i)), sndNxt: next, cwndLimited: true})
	}
	return next
}

func TestCubic_HyStart_RTTRiseEntersCSSThenCongestionAvoidance(t *testing.T) {
	c := newCubic()
	c.init(10*cubicMSS, initialSsthresh)
	top := seqnum.Value(1000)
	top = hsRound(c, top, 10, 20*time.Millisecond)
	top = hsRound(c, top, 10, 20*time.Millisecond)
	if c.hs.css || c.cwnd() != 30*cubicMSS {
		t.Fatalf("steady RTT: css %v cwnd %.1f segments, want standard slow start at 30", c.hs.css, segs(c.cwnd()))
	}
	// The least RTT of a round of at least N_RTT_SAMPLE (8) samples rises
	// by RttThresh = max(20 ms / 8, 4 ms) = 4 ms: Conservative Slow Start.
	top = hsRound(c, top, 8, 24*time.Millisecond)
	if !c.hs.css {
		t.Fatalf("RTT up 4 ms over 8 samples: not in CSS")
	}
	before := c.cwnd()
	top = hsRound(c, top, 8, 24*time.Millisecond)
	if got := c.cwnd() - before; got != 8*cubicMSS/hsCSSGrowthDiv {
		t.Fatalf("CSS grew cwnd by %d octets over 8 ACKs of a segment, want %d (1/CSS_GROWTH_DIVISOR of slow start)", got, 8*cubicMSS/hsCSSGrowthDiv)
	}
	// CSS_ROUNDS (5) rounds of CSS: slow start ends, ssthresh = cwnd.
	for range hsCSSRounds - 1 {
		top = hsRound(c, top, 8, 24*time.Millisecond)
	}
	// (The round's other ACKs then grow cwnd in congestion avoidance, by
	// less than a segment.)
	if c.ssthresh() == initialSsthresh || c.cwnd() < c.ssthresh() || c.cwnd()-c.ssthresh() >= cubicMSS {
		t.Fatalf("after %d CSS rounds: ssthresh %d cwnd %d, want ssthresh = cwnd at the exit", hsCSSRounds, c.ssthresh(), c.cwnd())
	}
}

func TestCubic_HyStart_SpuriousRiseBackToSlowStart(t *testing.T) {
	c := newCubic()
	c.init(10*cubicMSS, initialSsthresh)
	top := hsRound(c, 1000, 10, 20*time.Millisecond)
	top = hsRound(c, top, 8, 30*time.Millisecond)
	if !c.hs.css {
		t.Fatal("not in CSS")
	}
	// §4.2: a CSS round whose least RTT falls below the baseline (30 ms)
	// was a spurious exit: standard slow start again.
	top = hsRound(c, top, 8, 21*time.Millisecond)
	if c.hs.css {
		t.Fatal("still in CSS after the RTT fell below the CSS baseline")
	}
	before := c.cwnd()
	hsRound(c, top, 8, 21*time.Millisecond)
	if got := c.cwnd() - before; got != 8*cubicMSS {
		t.Fatalf("cwnd grew by %d, want %d: standard slow start", got, 8*cubicMSS)
	}
}

func TestCubic_HyStart_TooFewSamples_NoExit(t *testing.T) {
	c := newCubic()
	c.init(10*cubicMSS, initialSsthresh)
	top := hsRound(c, 1000, 10, 20*time.Millisecond)
	// A round with fewer than N_RTT_SAMPLE samples is no evidence.
	hsRound(c, top, hsNRTTSample-1, 40*time.Millisecond)
	if c.hs.css {
		t.Fatal("CSS entered on 7 samples")
	}
}

func TestCubic_HyStart_NotAfterALoss(t *testing.T) {
	// After a loss slow start ends at a known ssthresh: standard slow
	// start (RFC 9406 §4.2 lets HyStart++ be used in the initial slow
	// start only).
	c := newCubic()
	c.init(10*cubicMSS, 100*cubicMSS)
	top := hsRound(c, 1000, 10, 20*time.Millisecond)
	hsRound(c, top, 8, 40*time.Millisecond)
	if c.hs.started || c.cwnd() != 28*cubicMSS {
		t.Fatalf("hystart started %v, cwnd %.1f segments; want standard slow start to 28", c.hs.started, segs(c.cwnd()))
	}
}
