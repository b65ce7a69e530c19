package tcp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// simNet is a deterministic network between two Conns: each segment arrives
// after a delay, may be lost, and the applications on both ends run at
// pseudo-random times. It checks that bulk transfers complete.
type simNet struct {
	t       *testing.T
	rng     *rand.Rand
	now     time.Time
	delay   time.Duration
	jitter  time.Duration // reordering: each segment takes delay + [0, jitter)
	dup     float64       // probability that a segment is duplicated
	loss    float64
	ce      float64 // probability that an ECT segment is marked CE (RFC 3168 §5)
	marked  int
	inbox   []simPkt
	ends    [2]*Conn
	lis     *Listener
	sent    int
	dropped int
	trace   []string // the last segments, for failure reports
}

func (n *simNet) record(format string, args ...any) {
	if len(n.trace) >= 60 {
		n.trace = n.trace[1:]
	}
	n.trace = append(n.trace, fmt.Sprintf("%9v ", n.now.Sub(t0))+fmt.Sprintf(format, args...))
}

type simPkt struct {
	at  time.Time
	to  int
	seg Segment
}

type simOut struct {
	n    *simNet
	from int
}

func (o simOut) SendSegment(_, _ netip.AddrPort, seg *Segment, p1, p2 []byte) {
	n := o.n
	s := *seg
	s.Payload = append(append([]byte(nil), p1...), p2...)
	n.sent++
	if n.loss > 0 && n.rng.Float64() < n.loss {
		n.dropped++
		n.record("%d> %s wnd=%d LOST", o.from, segString(&s), s.Window)
		return
	}
	if s.ECN == ECNECT0 && n.ce > 0 && n.rng.Float64() < n.ce {
		s.ECN = ECNCE
		n.marked++
	}
	n.record("%d> %s wnd=%d", o.from, segString(&s), s.Window)
	d := n.delay
	if n.jitter > 0 {
		d += time.Duration(n.rng.Int64N(int64(n.jitter)))
	}
	n.inbox = append(n.inbox, simPkt{at: n.now.Add(d), to: 1 - o.from, seg: s})
	if n.dup > 0 && n.rng.Float64() < n.dup {
		n.inbox = append(n.inbox, simPkt{at: n.now.Add(d + n.delay), to: 1 - o.from, seg: s})
	}
}

// echoSim runs a client that writes size bytes, half-closes and reads the
// echo, against a server that echoes and closes after EOF.
func echoSim(t *testing.T, seed uint64, size int, loss float64, cfg Config) simResult {
	return echoSimNet(t, seed, size, cfg, &simNet{delay: time.Millisecond, loss: loss})
}

// simResult is what one simulated echo cost, both ends together.
type simResult struct {
	took       time.Duration // virtual time until the client read EOF
	lost       int           // segments the network dropped
	rtx        uint64        // retransmitted segments
	timeouts   uint64        // retransmission timeouts with data outstanding
	recoveries uint64        // fast recoveries entered (RFC 5681 §3.2, RFC 6675 §5)
}

func (r *simResult) add(o simResult) {
	r.took += o.took
	r.lost += o.lost
	r.rtx += o.rtx
	r.timeouts += o.timeouts
	r.recoveries += o.recoveries
}

func (r simResult) String() string {
	return fmt.Sprintf("%v, %d segments lost, %d retransmitted, %d RTOs, %d fast recoveries", r.took, r.lost, r.rtx, r.timeouts, r.recoveries)
}

// echoSimNet runs the echo over n and returns what it cost.
func echoSimNet(t *testing.T, seed uint64, size int, cfg Config, n *simNet) simResult {
	n.t, n.rng, n.now = t, rand.New(rand.NewPCG(seed, 1)), t0
	cfg.Counters = &Counters{} // both ends count into it
	n.lis = NewListener(strict(cfg), addrB, 8, simOut{n, 1})
	n.ends[0] = NewConn(strict(cfg), addrA, addrB, seqnum.Value(n.rng.Uint32()), simOut{n, 0})
	n.ends[0].Connect(n.now)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(n.rng.IntN(256))
	}
	var (
		written, echoed int
		got             []byte
		srvBuf          []byte // read by the server, not yet written back
		srvEOF, cliEOF  bool
		srvClosed       bool
		shut            bool
		buf             = make([]byte, 100000)
	)
	appAt := n.now
	for step := 0; ; step++ {
		if n.now.Sub(t0) > 20*time.Minute || step > 2_000_000 {
			c, s := n.ends[0], n.ends[1]
			t.Fatalf("seed %d: stalled at %v: wrote %d, echoed %d, got %d; srvBuf %d srvEOF %v\nclient %+v\nserver %+v\n%s\n%s",
				seed, n.now.Sub(t0), written, echoed, len(got), len(srvBuf), srvEOF, c.Info(), s.Info(), dumpConn(c), dumpConn(s))
		}
		if cliEOF {
			for _, c := range n.ends {
				if c.sackOn != !cfg.DisableSACK {
					t.Fatalf("seed %d: sackOn %v with DisableSACK %v", seed, c.sackOn, cfg.DisableSACK)
				}
			}
			r := simResult{took: n.now.Sub(t0), lost: n.dropped}
			for _, c := range n.ends {
				r.rtx += c.retransmits
				r.timeouts += c.timeouts
				r.recoveries += c.recoveries
			}
			// The stack-wide Counters add up the connections' own counts.
			var sum Counters
			for _, c := range n.ends {
				i := c.Info()
				sum.RetransSegs += i.Retransmits
				sum.Timeouts += i.Timeouts
				sum.Recoveries += i.Recoveries
				sum.LossProbes += i.LossProbes
				sum.ChallengeACKs += i.ChallengeACKs
				sum.ACKsRateLimited += i.ACKsRateLimited
				sum.PAWSDrops += i.PAWSDrops
			}
			if k := *cfg.Counters; k.RetransSegs != sum.RetransSegs || k.Timeouts != sum.Timeouts || k.Recoveries != sum.Recoveries ||
				k.LossProbes != sum.LossProbes || k.ChallengeACKs != sum.ChallengeACKs || k.ACKsRateLimited != sum.ACKsRateLimited || k.PAWSDrops != sum.PAWSDrops {
				t.Fatalf("seed %d: Counters %+v disagree with the connections' %+v", seed, k, sum)
			}
			return r
		}
		// The next event: a packet, a timer, or the applications.
		next := appAt
		for _, p := range n.inbox {
			if p.at.Before(next) {
				next = p.at
			}
		}
		for _, c := range n.ends {
			if c != nil {
				if d, ok := c.NextDeadline(); ok && d.Before(next) {
					next = d
				}
			}
		}
		n.now = next
		// Deliver due packets in order.
		for i := 0; i < len(n.inbox); {
			p := n.inbox[i]
			if p.at.After(n.now) {
				i++
				continue
			}
			n.inbox = append(n.inbox[:i], n.inbox[i+1:]...)
			c := n.ends[p.to]
			switch {
			case c != nil && c.State() != StateClosed:
				c.HandleSegment(&p.seg, n.now)
			case p.to == 1:
				if nc := n.lis.HandleSegment(&p.seg, addrA, issEnv(seqnum.Value(n.rng.Uint32())), n.now); nc != nil {
					n.ends[1] = nc
				}
			}
		}
		for _, c := range n.ends {
			if c != nil {
				if d, ok := c.NextDeadline(); ok && !d.After(n.now) {
					c.HandleTimer(n.now)
				}
				if err := tcbInvariants(c); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n.now.Before(appAt) {
			continue
		}
		// The applications run.
		appAt = n.now.Add(time.Duration(n.rng.IntN(3000)) * time.Microsecond)
		c, s := n.ends[0], n.ends[1]
		if written < size {
			k, _ := c.Write(data[written:min(size, written+n.rng.IntN(50000)+1)], n.now)
			written += k
		} else if !shut {
			c.Shutdown(n.now)
			shut = true
		}
		if k, err := c.Read(buf[:n.rng.IntN(len(buf))+1], n.now); k > 0 {
			got = append(got, buf[:k]...)
		} else if err != nil && err != ErrWouldBlock {
			if len(got) != size || !bytes.Equal(got, data) {
				t.Fatalf("seed %d: client read error %v after %d of %d bytes\n%s\n%s\n%s", seed, err, len(got), size,
					dumpConn(c), dumpConn(s), strings.Join(n.trace, "\n"))
			}
			cliEOF = true
		}
		if s == nil {
			continue
		}
		if n.lis.Accept() != nil {
			// accepted
		}
		if !srvEOF && len(srvBuf) < 300000 {
			k, err := s.Read(buf[:n.rng.IntN(len(buf))+1], n.now)
			srvBuf = append(srvBuf, buf[:k]...)
			if err != nil && err != ErrWouldBlock {
				srvEOF = true
			}
		}
		if len(srvBuf) > 0 {
			k, _ := s.Write(srvBuf, n.now)
			srvBuf = srvBuf[k:]
			echoed += k
		}
		if srvEOF && len(srvBuf) == 0 && !srvClosed {
			s.Close(n.now)
			srvClosed = true
		}
	}
}

func dumpConn(c *Conn) string {
	if c == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%v una=%d nxt=%d max=%d sndWnd=%d unsent=%d sndLen=%d finQ=%v rcvNxt=%d advWnd=%d readable=%d ooo=%d rto=%v persist=%v delack=%v close=%v backoff=%d",
		c.state, c.sndUna, c.sndCur, c.sndNxt, c.sndWnd, c.unsentData(), c.sndBuf.Len(), c.finQueued,
		c.rcvNxt, c.advertisedWnd(), c.rcvBuf.Readable(), c.rcvBuf.OutOfOrderBytes(),
		c.rtoAt.Sub(t0), c.persistAt.Sub(t0), c.delackAt.Sub(t0), c.closeAt.Sub(t0), c.backoff)
}

// simSeeds is how many seeds each simulation runs.
var simSeeds = uint64(25)

// simRun runs f for every seed and logs the totals.
func simRun(t *testing.T, f func(seed uint64) simResult) simResult {
	t.Helper()
	var tot simResult
	for seed := uint64(1); seed <= simSeeds; seed++ {
		tot.add(f(seed))
	}
	t.Logf("%d seeds: %v", simSeeds, tot)
	return tot
}

// The simulations are deterministic (seeded), so what loss recovery did
// is asserted, not only logged: losses are repaired by fast retransmit
// and fast recovery (RFC 5681 §3.2, RFC 6582, RFC 6675), not by waiting
// for the retransmission timer. A sender whose duplicate-ACK counting,
// recovery entry or SACK scoreboard broke repairs every loss by RTO.

// maxRTOs fails unless r took at most one RTO per perLost segments lost.
func maxRTOs(t *testing.T, r simResult, perLost int) {
	t.Helper()
	if r.timeouts*uint64(perLost) > uint64(r.lost) {
		t.Errorf("%d RTOs for %d lost segments: more than 1 per %d; loss recovery is leaving losses to the timer", r.timeouts, r.lost, perLost)
	}
	if r.lost > 0 && r.recoveries == 0 {
		t.Errorf("no fast recovery in %d losses", r.lost)
	}
}

func TestSim_EchoWithHalfClose_Completes(t *testing.T) {
	r := simRun(t, func(seed uint64) simResult { return echoSim(t, seed, 900000, 0, Config{}) })
	if r.rtx != 0 || r.timeouts != 0 || r.recoveries != 0 {
		t.Errorf("a lossless path: %v; want no retransmission, RTO or recovery", r)
	}
}

func TestSim_EchoWithLoss_Completes(t *testing.T) {
	r := simRun(t, func(seed uint64) simResult { return echoSim(t, seed, 300000, 0.02, Config{}) })
	maxRTOs(t, r, 50)
}

func TestSim_EchoWithReorderingDuplicationAndLoss_Completes(t *testing.T) {
	r := simRun(t, func(seed uint64) simResult {
		return echoSimNet(t, seed, 200000, Config{}, &simNet{delay: time.Millisecond, jitter: 3 * time.Millisecond, dup: 0.02, loss: 0.02})
	})
	maxRTOs(t, r, 50)
}

func TestSim_SmallBuffers_Completes(t *testing.T) {
	r := simRun(t, func(seed uint64) simResult {
		return echoSim(t, seed, 200000, 0.01, Config{RcvBuf: 3000, SndBuf: 5000, MSS: 536})
	})
	maxRTOs(t, r, 50)
}

// The simulations above run with SACK (the default); these run NewReno
// (RFC 6582), the fallback without SACK. NewReno repairs one hole per
// round trip and cannot tell a lost retransmission, so it leaves more to
// the timer.

func TestSim_EchoWithLossNewReno_Completes(t *testing.T) {
	r := simRun(t, func(seed uint64) simResult { return echoSim(t, seed, 300000, 0.02, Config{DisableSACK: true}) })
	maxRTOs(t, r, 10)
}

// ECN off: this measures NewReno's recovery, and with ECN negotiated the
// echo's segments (CWR on the first new segment after each reduction, the
// immediate ACK of it) change the event sequence, and with it which seeds
// lose what: over these 25 seeds the RTO count swings from 8 to 30 with
// such changes (no CE mark is made here).
func TestSim_EchoWithReorderingDuplicationAndLossNewReno_Completes(t *testing.T) {
	r := simRun(t, func(seed uint64) simResult {
		return echoSimNet(t, seed, 200000, Config{DisableSACK: true, ECN: ECNOff}, &simNet{delay: time.Millisecond, jitter: 3 * time.Millisecond, dup: 0.02, loss: 0.02})
	})
	maxRTOs(t, r, 10)
}

// TestSim_EchoWithHeavyLoss_SACKAndNewReno_Complete runs 5% loss with
// both recoveries on the same seeds: SACK (RFC 6675, with RACK-TLP)
// repairs several holes per round trip and retransmissions lost again,
// so it finishes sooner and with fewer timeouts than NewReno.
func TestSim_EchoWithHeavyLoss_SACKAndNewReno_Complete(t *testing.T) {
	var r [2]simResult
	for i, cfg := range []Config{{}, {DisableSACK: true}} {
		r[i] = simRun(t, func(seed uint64) simResult {
			return echoSimNet(t, seed, 300000, cfg, &simNet{delay: 5 * time.Millisecond, jitter: time.Millisecond, loss: 0.05})
		})
	}
	maxRTOs(t, r[0], 50)
	maxRTOs(t, r[1], 5)
	if r[0].took >= r[1].took || r[0].timeouts >= r[1].timeouts {
		t.Errorf("SACK (%v) no better than NewReno (%v)", r[0], r[1])
	}
}

// TestSim_EchoWithHeavyLossSmallRTT_HolesLostByRACK runs 5% loss on a
// 200µs round trip with CUBIC, where cwnd stays a few segments: a hole
// with fewer than DupThresh segments SACKed above it is not lost by RFC
// 6675's IsLost, stays in pipe, and with cwnd - pipe < SMSS nothing is
// sent until the RTO. RACK deems it lost RACK.rtt + RACK.reo_wnd after it
// was sent (RFC 8985 §6.2 step 5, rackDetectLoss) and resends it.
// Measured over the 25 seeds: 7 RTOs in 2910 losses without that rule,
// none with it when recovery ended with FlightSize + SMSS (RFC 6582's
// option (1)), 3 in 2934 since it ends at ssthresh (RFC 6675, Linux):
// with more in flight, a loss at the very end of a transfer (a lost
// probe, a retransmission lost again with nothing sent after it) is more
// often left to the RTO, as it is in Linux, where nothing later can show
// it. The rule itself is held by the RACK tests (TestEstablished_RACK_Hole*);
// this bound, one RTO per 500 losses, holds the outcome.
func TestSim_EchoWithHeavyLossSmallRTT_HolesLostByRACK(t *testing.T) {
	r := simRun(t, func(seed uint64) simResult {
		return echoSimNet(t, seed, 1000000, Config{Congestion: "cubic"}, &simNet{delay: 100 * time.Microsecond, loss: 0.05})
	})
	maxRTOs(t, r, 500)
}
