package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// pacedControl is a congestion control that models the path from what is
// delivered and paces its transmissions (BBR): the sender feeds it every
// ACK's delivery and asks it for a pacing rate. Reno and CUBIC are not
// paced, and never see these calls.
type pacedControl interface {
	congestionControl
	// onDelivery is an ACK that delivered data or brought an RTT sample
	// (BBRUpdateOnACK), before the sender transmits in response to it.
	onDelivery(d delivery)
	// pacingRate is BBR.pacing_rate in bytes per second, 0 until there
	// is one.
	pacingRate() uint64
}

// delivery is what the sender knows about the path after an ACK.
type delivery struct {
	now time.Time
	// delivered is C.delivered: every octet cumulatively acknowledged or
	// SACKed so far, each counted once.
	delivered uint64
	acked     int // octets newly delivered by this ACK (rs.newly_acked)
	// high is the end of the highest delivered octet (the cumulative ACK
	// or the highest SACK block's end); una SND.UNA; sndNxt SND.NXT.
	high, una, sndNxt seqnum.Value
	inflight          int // octets in flight after the ACK (RFC 6675 pipe)
	mss               int
	rtt               time.Duration // the ACK's RTT sample, if hasRTT
	hasRTT            bool
	// appLimited: nothing is left to send and cwnd has room for it.
	appLimited bool
	// inRecovery: the sender is in fast recovery (RFC 6675, RFC 6582).
	inRecovery bool
	// cwndLimited: the sender used its whole window lately
	// (C.is_cwnd_limited, Conn.isCwndLimited).
	cwndLimited bool
	// lost is the octets newly deemed lost since the last delivery
	// (rs.newly_lost, counted into C.lost), in lossRanges discontiguous
	// sequence ranges (newlyLost).
	lost, lossRanges int
	// ce is the octets this delivery brought on ACKs that echoed a CE
	// mark (ECE, RFC 3168 §6.1.2), when ecn: ECN was negotiated.
	ce  int
	ecn bool
	// sack: the peer sends SACK blocks (C.has_selective_acks).
	sack bool
	seed uint64 // per connection, for BBR's randomized probing
}

// pacing is the sender's pacing state (as Linux's internal TCP pacing,
// tcp_wstamp_ns and the pacing timer) and what the delivery hook keeps
// between ACKs.
type pacing struct {
	// at is when the next data segment may leave; wait: a transmission
	// is held until then and the pacing timer is armed.
	at   time.Time
	wait bool
	// C.delivered is acked (octets below SND.UNA since una) plus the
	// octets SACKed above it; delivered is the last value given.
	una       seqnum.Value
	acked     uint64
	delivered uint64
	started   bool
	// The latest RTT sample not yet given to the algorithm.
	rtt    time.Duration
	hasRTT bool
	// inRecovery when the algorithm last heard.
	inRecovery bool
	// lostTo: every unSACKed octet below it has been counted lost.
	lostTo seqnum.Value
	// ece: an ACK since the last delivery echoed a CE mark (ecnAck).
	ece bool
}

// Pacing's burst allowance is BBR's send quantum (draft-ietf-ccwg-bbr
// "Send Quantum: BBR.send_quantum"): 1 ms of data at the pacing rate,
// between 2 segments and 64 KB, which may leave back to back (as Linux's
// tcp_tso_autosize sizes a burst to about 1 ms).
const (
	sendQuantumTime = time.Millisecond
	sendQuantumMax  = 64 << 10
)

// sendQuantum is BBRSetSendQuantum for a pacing rate in bytes per second.
func sendQuantum(rate uint64, mss int) int {
	q := int(min(rate*uint64(sendQuantumTime)/uint64(time.Second), sendQuantumMax))
	return max(q, 2*mss)
}

// pacer returns the connection's congestion control if it paces.
func (c *Conn) pacer() (pacedControl, bool) {
	p, ok := c.cc.(pacedControl)
	return p, ok
}

// noteRTT keeps an RTT sample for the delivery hook.
func (c *Conn) noteRTT(r time.Duration) {
	c.pace.rtt, c.pace.hasRTT = r, true
}

// paceDelivery is the delivery hook, run before every transmission
// opportunity (trySend): if an ACK since the last call delivered data or
// brought an RTT sample, the algorithm learns of it.
func (c *Conn) paceDelivery(now time.Time) {
	p, ok := c.pacer()
	if !ok || !c.state.synchronized() {
		return
	}
	ps := &c.pace
	if !ps.started {
		ps.started, ps.una, ps.lostTo = true, c.sndUna, c.sndUna
	}
	if ps.una.LessThan(c.sndUna) {
		ps.acked += uint64(ps.una.Size(c.sndUna))
		ps.una = c.sndUna
	}
	// Monotonic: a reneging receiver (the scoreboard cleared) does not
	// take back what it delivered.
	delivered := max(ps.acked+uint64(c.sb.sacked), ps.delivered)
	lost, ranges := c.newlyLost()
	if delivered == ps.delivered && !ps.hasRTT && c.inRecovery == ps.inRecovery && lost == 0 {
		return
	}
	high := c.sndUna
	if c.sb.n > 0 {
		high = seqnum.Max(high, c.sb.r[c.sb.n-1].end)
	}
	inflight := c.pipe()
	d := delivery{now: now, delivered: delivered, acked: int(delivered - ps.delivered),
		high: high, una: c.sndUna, sndNxt: c.sndNxt, inflight: inflight, mss: c.mss,
		rtt: ps.rtt, hasRTT: ps.hasRTT, seed: uint64(c.iss)}
	// The drafts' app-limited check (C.app_limited): nothing more to
	// send, room in cwnd to send it, and no loss waiting to be repaired
	// (C.lost_out <= C.retrans_out; here: outside loss recovery, where a
	// full send buffer, not the application, is what leaves nothing new).
	d.appLimited = c.unsentData() == 0 && inflight+c.mss <= c.cc.cwnd() && !c.inRecovery
	d.inRecovery = c.inRecovery
	d.cwndLimited = c.isCwndLimited
	d.lost, d.lossRanges, d.sack, d.ecn = lost, ranges, c.sackOn, c.ecnOn
	if ps.ece {
		d.ce = d.acked
	}
	ps.delivered, ps.hasRTT, ps.inRecovery, ps.ece = delivered, false, c.inRecovery, false
	p.onDelivery(d)
}

// newlyLost returns the octets deemed lost since the last call, and in how
// many discontiguous ranges: the unSACKed octets below lostEnd not counted
// before (C.lost's growth, draft-ietf-ccwg-bbr §4.1.2.1.1; RFC 6675's
// IsLost and RACK's marks, as Linux's tcp_mark_skb_lost counts tp->lost).
// Each octet counts once: a retransmission lost again is not counted.
func (c *Conn) newlyLost() (bytes, ranges int) {
	ps := &c.pace
	from, to := seqnum.Max(ps.lostTo, c.sndUna), c.lostEnd()
	ps.lostTo = seqnum.Max(from, to)
	if !from.LessThan(to) {
		return 0, 0
	}
	bytes = int(from.Size(to)) - c.sb.sackedIn(from, to)
	prev := c.sndUna
	for i := 0; i <= c.sb.n; i++ {
		end := to
		if i < c.sb.n {
			end = seqnum.Min(c.sb.r[i].start, to)
		}
		if seqnum.Max(prev, from).LessThan(end) {
			ranges++
		}
		if i == c.sb.n || !c.sb.r[i].end.LessThan(to) {
			break
		}
		prev = c.sb.r[i].end
	}
	return bytes, ranges
}

// lostEnd is the end of the highest hole deemed lost: RFC 6675's IsLost
// (lostHole), which holds for every hole below one it holds for, or the
// end of the highest segment RACK deemed lost (which RACK, deeming the
// earlier sent lost first, holds for the holes below too, as near as
// BBR's count needs). Without SACK, NewReno's recovery deems lost the segment at SND.UNA
// that each partial ACK has it resend (RFC 6582 §3.2).
func (c *Conn) lostEnd() seqnum.Value {
	end := c.sndUna
	if !c.sackOn {
		if c.inRecovery {
			end = end.Add(seqnum.Size(min(c.mss, int(c.sndUna.Size(c.sndNxt)))))
		}
		return end
	}
	bytes, ranges := c.sb.sacked, c.sb.n
	for i := 0; i < c.sb.n; i++ {
		if !c.lostHole(bytes, ranges) {
			break
		}
		end = c.sb.r[i].start
		bytes -= int(c.sb.r[i].start.Size(c.sb.r[i].end))
		ranges--
	}
	return seqnum.Max(end, c.rackLostEnd())
}

// paceOK is the pacing gate in front of each data transmission: with a
// pacing rate, a segment may leave only at or after pace.at. When it may
// not, the pacing timer is armed and sends it.
func (c *Conn) paceOK(now time.Time) bool {
	p, ok := c.pacer()
	if !ok || p.pacingRate() == 0 || !now.Before(c.pace.at) {
		c.pace.wait = false
		return true
	}
	c.pace.wait = true
	return false
}

// paced advances pace.at past a transmission of n octets at the pacing
// rate. Up to a send quantum of credit builds while nothing is sent, so
// that much may leave back to back.
func (c *Conn) paced(n int, now time.Time) {
	p, ok := c.pacer()
	if !ok || n == 0 {
		return
	}
	rate := p.pacingRate()
	if rate == 0 {
		return
	}
	perByte := float64(time.Second) / float64(rate)
	credit := time.Duration(float64(sendQuantum(rate, c.mss)-c.mss) * perByte)
	at := c.pace.at
	if earliest := now.Add(-credit); at.Before(earliest) {
		at = earliest
	}
	c.pace.at = at.Add(time.Duration(float64(n) * perByte))
}

// paceTimer is the pacing timer's deadline, zero when nothing waits.
func (c *Conn) paceTimer() time.Time {
	if !c.pace.wait {
		return time.Time{}
	}
	return c.pace.at
}

// onPaceTimer sends what the pacing gate held back.
func (c *Conn) onPaceTimer(now time.Time) {
	c.pace.wait = false
	c.trySend(now)
}
