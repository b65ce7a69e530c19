package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Time-based loss detection after RACK (RFC 8985 §6), for the three
// cases that RFC 6675's DupThresh rules leave to the retransmission timer:
//
//   - A small flight: a hole with SACKed data above it but fewer than
//     DupThresh segments (IsLost never holds, RFC 6675 §5 (4) never
//     starts recovery). RACK deems the hole lost once a segment sent
//     after it was delivered and RACK.rtt + RACK.reo_wnd passed since the
//     hole was sent (RFC 8985 §6.2 step 5).
//   - A lost retransmission during recovery: RFC 6675 retransmits each
//     hole once (HighRxt only moves up), so a retransmission that is lost
//     again waits for the RTO (RFC 6675 §5.1). RACK deems it lost by the
//     same rule, using the retransmission's own send time (RFC 8985 §2.2,
//     §6.1).
//   - A hole in recovery with fewer than DupThresh segments SACKed above
//     it (IsLost does not hold, so RFC 6675 counts it in pipe and sends
//     it only by rule (3), once cwnd - pipe allows a whole segment, which
//     a small cwnd never does: the connection waited for the RTO).
//     Original transmissions go out in sequence order, so a hole below a
//     SACKed octet was sent before it, and RACK deems it lost by the same
//     rule (RFC 8985 §6.2 step 5): it leaves pipe and NextSeg rule (1)
//     sends it.
//
// RFC 8985 keeps a transmit timestamp per segment. We keep none for
// original transmissions, and a small log of the retransmissions of the
// current recovery: the evidence RACK needs is "something sent after it
// was delivered", and its time bound xmit_ts + RACK.rtt, the moment the
// delivering ACK arrived, is at most the moment we saw that evidence. So a
// segment is deemed lost RACK.reo_wnd after we first see such evidence: no
// earlier than RACK would, and at most one RTT later.

// rxtLogSize bounds the retransmissions remembered in one recovery; the
// rest are left to the RTO, as before.
const rxtLogSize = 16

// rxtRecord is one retransmission in the current recovery, in the order
// sent: [start, end) went out when SND.NXT was sndNxt; lostAt is when it
// will be deemed lost (zero: no evidence yet); lost, that it was.
type rxtRecord struct {
	start, end, sndNxt seqnum.Value
	lostAt             time.Time
	lost               bool
}

// reoWnd is RACK.reo_wnd (RFC 8985 §6.2 step 4): min_RTT/4, at most
// SRTT, plus ptoMinExtra. Deviation (Linux compat): as Linux's
// tcp_rack_reo_timeout, which adds TCP_TIMEOUT_MIN to the reordering
// timer, so that the timer never undercuts an ACK already on its way; the
// window is not zeroed in recovery (step 4's "no reordering seen" case),
// since the links we are tested on do reorder.
//
// The window widens with evidence of reordering (§6.2 step 4):
// RACK.reo_wnd_mult quarters of min_RTT, see rackDSACK.
func (c *Conn) reoWnd() time.Duration {
	return min(c.minRTT/4*time.Duration(1+c.reoWndMult), c.srtt) + ptoMinExtra
}

// reoWndPersistRecoveries is how many recoveries a widened reordering
// window outlasts without a D-SACK (RFC 8985 §6.2 step 4: 16).
const reoWndPersistRecoveries = 16

// rackDSACK is RFC 8985 §6.2 step 4 for a D-SACK received: a duplicate
// means a segment deemed lost was only late, so the reordering window
// widens by a quarter of min_RTT, once per round trip (until SND.UNA
// passes what was sent when the last widening happened), and stays wide
// for the next 16 recoveries.
func (c *Conn) rackDSACK() {
	if c.dsackRoundSet && c.sndUna.GreaterThanEq(c.dsackRound) {
		c.dsackRoundSet = false
	}
	if c.dsackRoundSet {
		return
	}
	c.dsackRound, c.dsackRoundSet = c.sndNxt, true
	c.reoWndMult++
	c.reoWndPersist = reoWndPersistRecoveries
}

// noteReordering is RACK_detect_reordering (RFC 8985 §6.2 step 2, as
// Linux's tcp_check_sack_reordering) for [start, end), newly delivered
// below the highest SACKed octet: if none of it was retransmitted (an
// original transmission arriving after later ones), the path reorders.
// From then on DupThresh (RFC 6675's IsLost and the third duplicate ACK)
// no longer marks losses: RACK's reordering window does (§6.2 step 4:
// reo_wnd is zero only while no reordering was seen; ours falls back to
// DupThresh instead), so reordered segments are not retransmitted.
func (c *Conn) noteReordering(start, end seqnum.Value) {
	if !start.LessThan(end) || c.rackResent(start, end) {
		return
	}
	c.reorderingSeen = true
}

// noteReorderedHole is noteReordering for the hole at SND.UNA, below
// SACKed data, that the cumulative ACK ack now covers: unless it was
// resent (in recovery, by a go-back-N after a timeout, or as a loss
// probe), its original arrived after data sent later.
func (c *Conn) noteReorderedHole(ack seqnum.Value) {
	if (!c.inRecovery && c.sndUna.LessThan(c.recover)) || c.tlpOut {
		return
	}
	c.noteReordering(c.sndUna, seqnum.Min(ack, c.sb.r[0].start))
}

// rackResent reports whether any of [start, end) was retransmitted in
// the current recovery (below HighRxt, or in the retransmission log).
func (c *Conn) rackResent(start, end seqnum.Value) bool {
	if c.inRecovery && start.LessThan(c.highRxt) {
		return true
	}
	for _, r := range c.rxt[:c.rxtN] {
		if r.start.LessThan(end) && start.LessThan(r.end) {
			return true
		}
	}
	return false
}

// rackRecoveryEnded is RFC 8985 §6.2 step 4 when fast recovery ends: one
// recovery less for a widened window to persist; at none, it narrows back
// to min_RTT/4. Deviation: the end of an RTO recovery is not counted (it
// has no exit event of its own here), so a widened window outlasts RTOs.
func (c *Conn) rackRecoveryEnded() {
	if c.reoWndPersist == 0 {
		return
	}
	c.reoWndPersist--
	if c.reoWndPersist == 0 {
		c.reoWndMult = 0
	}
}

// rackRecord logs a retransmission sent during SACK recovery. The octets
// it resends are timed by it from now on (RFC 8985 §6.1: a retransmission
// updates the segment's xmit_ts), so earlier records lose them: a record
// inside it goes, one overlapping an end is cut back. One that holds it
// strictly inside stays whole (it would have to split): a resend from
// SND.UNA inside a retransmission of several MSS (tso.go) leaves that
// one timed by its older send, which deems it lost no later than RACK.
func (c *Conn) rackRecord(start, end seqnum.Value) {
	if !c.sackRecovering() || !start.LessThan(end) {
		return
	}
	k := 0
	for _, r := range c.rxt[:c.rxtN] {
		switch {
		case r.end.LessThanEq(start) || end.LessThanEq(r.start):
		case start.LessThanEq(r.start) && r.end.LessThanEq(end):
			continue // resent whole
		case r.start.LessThan(start) && r.end.LessThanEq(end):
			r.end = start
		case start.LessThanEq(r.start):
			r.start = end
		}
		c.rxt[k] = r
		k++
	}
	c.rxtN = k
	if c.rxtN == rxtLogSize {
		return
	}
	c.rxt[c.rxtN] = rxtRecord{start: start, end: end, sndNxt: c.sndNxt}
	c.rxtN++
}

// rackReset forgets the episode: recovery began or ended, or the RTO fired.
func (k *rackState) rackReset() {
	k.rxtN = 0
	k.rackFirstAt = time.Time{}
	k.rackAt = time.Time{}
	k.rackLostSet, k.rackTopAt = false, time.Time{}
}

// rackLostBelow reports whether a hole ending at end (an original
// transmission: above HighRxt, or below it if it was retransmitted) is
// deemed lost by RACK in the current recovery.
func (c *Conn) rackLostBelow(end seqnum.Value) bool {
	return c.rackLostSet && c.inRecovery && end.LessThanEq(c.rackLostTo)
}

// rackHoles is rackDetect's part for holes of original transmissions in
// recovery: the highest SACKed octet is the evidence; what lies below it
// unSACKed is lost RACK.reo_wnd after it was first seen. One deadline
// waits at a time: a higher SACK seen meanwhile is taken up when it
// passes, and its reo_wnd runs from then (up to one reo_wnd later than
// RACK would, never earlier).
func (c *Conn) rackHoles(now time.Time) {
	if c.sb.n == 0 {
		return
	}
	if !c.rackTopAt.IsZero() && !now.Before(c.rackTopAt) {
		// The pending evidence's reo_wnd has passed: what lies below it is lost.
		c.rackLostTo, c.rackLostSet, c.rackTopAt = c.rackTop, true, time.Time{}
	}
	if top := c.sb.r[c.sb.n-1].end; c.rackTopAt.IsZero() && (!c.rackLostSet || top.GreaterThan(c.rackLostTo)) {
		// New evidence, or newer evidence that arrived while the last
		// waited: its own reo_wnd runs from now.
		c.rackTop, c.rackTopAt = top, now.Add(c.reoWnd())
	}
	if !c.rackTopAt.IsZero() {
		c.armRACK(c.rackTopAt)
	}
}

// armRACK makes the reordering timer fire no later than t.
func (k *rackState) armRACK(t time.Time) {
	if k.rackAt.IsZero() || t.Before(k.rackAt) {
		k.rackAt = t
	}
}

// delivered reports whether [s, e) is cumulatively acknowledged or SACKed.
func (c *Conn) delivered(s, e seqnum.Value) bool {
	if e.LessThanEq(c.sndUna) {
		return true
	}
	s = seqnum.Max(s, c.sndUna)
	for _, g := range c.sb.r[:c.sb.n] {
		if g.start.LessThanEq(s) && e.LessThanEq(g.end) {
			return true
		}
	}
	return false
}

// rackDetect runs after every acceptable ACK and when the reordering timer
// fires (RFC 8985 §6.2 step 5, §8): it marks what is now lost and re-arms
// the timer for what will be. una is SND.UNA before the ACK (now's SND.UNA
// on the timer).
func (c *Conn) rackDetect(una seqnum.Value, now time.Time) {
	if !c.sackOn || !c.sendingState() {
		return
	}
	c.rackAt = time.Time{}
	if !c.inRecovery {
		c.rxtN = 0
		// The first hole, outside recovery. RFC 6675 §5.1: no new
		// recovery before HighACK passes RecoveryPoint (see onDupAck).
		if c.sb.n == 0 || c.sndUna == c.sndNxt || c.sndUna.LessThan(c.recover) {
			c.rackFirstAt = time.Time{}
			return
		}
		if c.rackFirstAt.IsZero() || c.sndUna != una {
			// SACKed data lies above the (new) first hole: it was sent
			// after the hole, and it was delivered by now.
			c.rackFirstAt = now.Add(c.reoWnd())
		}
		if now.Before(c.rackFirstAt) {
			c.rackAt = c.rackFirstAt
			return
		}
		c.rackFirstAt = time.Time{}
		c.countRACKRecovery()
		c.enterSACKRecovery(now)
		return
	}
	c.rackHoles(now)
	// Lost retransmissions in recovery.
	latest := -1
	for i, r := range c.rxt[:c.rxtN] {
		if c.delivered(r.start, r.end) {
			latest = i
		}
	}
	top := c.sndUna
	if c.sb.n > 0 {
		top = c.sb.r[c.sb.n-1].end
	}
	k := 0
	for i := range c.rxt[:c.rxtN] {
		r := c.rxt[i]
		if c.delivered(r.start, r.end) {
			continue
		}
		if r.lostAt.IsZero() && (i < latest || top.GreaterThan(r.sndNxt)) {
			r.lostAt = now.Add(c.reoWnd())
		}
		if !r.lostAt.IsZero() && !r.lost {
			if now.Before(r.lostAt) {
				c.armRACK(r.lostAt)
			} else {
				r.lost = true
			}
		}
		c.rxt[k] = r
		k++
	}
	c.rxtN = k
}

// rackLostBytes is what pipe must not count: the retransmissions deemed
// lost and not yet sent again.
func (k *rackState) rackLostBytes() int {
	n := 0
	for _, r := range k.rxt[:k.rxtN] {
		if r.lost {
			n += int(r.start.Size(r.end))
		}
	}
	return n
}

// rackRetransmit resends the oldest retransmission deemed lost, and logs
// it anew (RFC 8985 §6.2 step 5: lost segments are retransmitted first, by
// the loss recovery's own rules; RFC 6675 has no rule for them). It
// reports whether it sent.
func (c *Conn) rackRetransmit(now time.Time) bool {
	for i, r := range c.rxt[:c.rxtN] {
		if !r.lost {
			continue
		}
		s := seqnum.Max(r.start, c.sndUna)
		n := 0
		if s.LessThan(r.end) {
			n = min(int(s.Size(r.end)), c.sendMSS())
		}
		if e := s.Add(seqnum.Size(n)); n > 0 && e.LessThan(r.end) {
			// The range is longer than a segment now: the MSS shrank
			// since it was sent (a SACK option rides on our segments, a
			// smaller path MTU). The rest stays lost and goes next.
			c.rxt[i].start = e
		} else {
			copy(c.rxt[i:], c.rxt[i+1:c.rxtN])
			c.rxtN--
		}
		if n == 0 {
			return false
		}
		c.transmit(now, s, n, false)
		c.countRetransmit(n)
		c.rackRetransmits++
		if c.rttTiming && s.LessThan(c.rttSeq) {
			c.rttTiming = false // Karn
		}
		c.rackRecord(s, s.Add(seqnum.Size(n)))
		return true
	}
	return false
}

// onRACKTimer is the reordering timer (RFC 8985 §8).
func (c *Conn) onRACKTimer(now time.Time) {
	c.rackDetect(c.sndUna, now)
	c.trySend(now)
}
