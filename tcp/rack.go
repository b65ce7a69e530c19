package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Time-based loss detection: RACK (RFC 8985 §6), on the transmit log
// (txlog.go), which keeps each segment's latest transmit time. RACK
// remembers the most recently sent segment that was delivered
// (cumulatively acknowledged or SACKed; RACK.xmit_ts, RACK.end_seq) and
// the RTT of the latest delivery (RACK.rtt); a segment sent before it and
// not delivered is deemed lost once RACK.rtt + RACK.reo_wnd have passed
// since it was sent (§6.2 step 5), and the reordering timer fires when the
// next one will be (§6.3). This covers what RFC 6675's DupThresh rules
// leave to the retransmission timer: a hole with fewer than DupThresh
// segments SACKed above it (a small flight, or the last holes of a
// recovery), a retransmission lost again (RFC 6675 resends each hole
// once), and, once reordering was seen, every hole (DupThresh no longer
// marks losses then). A segment deemed lost leaves pipe and is resent
// first (rackRetransmit), before NextSeg()'s rules.

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
// the current recovery: below HighRxt, or a record whose latest
// transmission is a retransmission sent since the recovery began.
func (c *Conn) rackResent(start, end seqnum.Value) bool {
	if !c.inRecovery {
		return false
	}
	if start.LessThan(c.highRxt) {
		return true
	}
	l := &c.txl
	if l.moved == 0 {
		return false
	}
	for i := l.head; i != 0; i = l.recs[i].next {
		if r := &l.recs[i]; r.has(txEverRetrans) && !r.xmit.Before(c.recoveryAt) && r.start.LessThan(end) && start.LessThan(r.end) {
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

// rackReset forgets the pending reordering timer: recovery began or
// ended, or the RTO fired. The records' marks stay: a segment deemed lost
// is lost until it is delivered.
func (k *rackState) rackReset() {
	k.rackAt = time.Time{}
}

// armRACK makes the reordering timer fire no later than t.
func (k *rackState) armRACK(t time.Time) {
	if k.rackAt.IsZero() || t.Before(k.rackAt) {
		k.rackAt = t
	}
}

// rackSentAfter is RACK_sent_after (RFC 8985 §6.2): whether a segment sent
// at t1 ending at seq1 was sent after one sent at t2 ending at seq2, the
// sequence number breaking a tie of times.
func rackSentAfter(t1 time.Time, seq1 seqnum.Value, t2 time.Time, seq2 seqnum.Value) bool {
	return t1.After(t2) || (t1.Equal(t2) && seq1.GreaterThan(seq2))
}

// rackAdvance is RACK_update (RFC 8985 §6.2 step 2) for a record newly
// delivered at now: unless its RTT sample is ambiguous, it gives RACK.rtt
// (the ACK's most recently sent delivered segment's) and, if it was sent
// after RACK.xmit_ts, becomes RACK.xmit_ts and RACK.end_seq. A
// retransmitted segment's sample is ambiguous when it comes sooner than
// RACK.min_RTT after the retransmission (the original's delivery).
// Deviation (Linux compat, tcp_rack_advance): §6.2's other test, an ACK
// echoing a TSval older than the retransmission, is not made: a receiver
// updates TS.Recent only from a segment at RCV.NXT (RFC 7323 §4.3), so the
// ACK of a retransmission that fills a hole above the first echoes an
// older TSval, and every such retransmission would look ambiguous; a lost
// one sent before it would then wait for the RTO.
func (c *Conn) rackAdvance(r *txRecord, now time.Time) {
	rtt := now.Sub(r.xmit)
	if r.has(txEverRetrans) && rtt < c.minRTT {
		return
	}
	if !c.rackAckSeen || !r.xmit.Before(c.rackAckXmit) {
		c.rackAckSeen, c.rackAckXmit, c.rackRTT = true, r.xmit, rtt
	}
	if !c.rackSet || rackSentAfter(r.xmit, r.end, c.rackXmit, c.rackEndSeq) {
		c.rackSet, c.rackXmit, c.rackEndSeq = true, r.xmit, r.end
	}
}

// rackDetect runs after every acceptable ACK and when the reordering timer
// fires (RFC 8985 §6.2 step 5, §6.3): it marks what is now lost and re-arms
// the timer for what will be. Outside recovery, a segment deemed lost
// starts SACK recovery (RFC 8985 §6.2: loss detected by RACK triggers the
// recovery's retransmissions), as RFC 6675 §5 (4) does at DupThresh; not
// before HighACK passes RecoveryPoint (RFC 6675 §5.1: after a timeout,
// the go-back-N repairs). una is SND.UNA before the ACK.
func (c *Conn) rackDetect(una seqnum.Value, now time.Time) {
	if !c.sackOn || !c.sendingState() {
		return
	}
	c.rackAt = time.Time{}
	if !c.inRecovery && c.sndUna.LessThan(c.recover) {
		return
	}
	if c.rackSet && c.sndUna != c.sndNxt {
		c.rackDetectLoss(now)
	}
	if !c.inRecovery && c.rackLostUnsent() {
		c.countRACKRecovery()
		c.enterSACKRecovery(now)
	}
}

// rackDetectLoss is RACK_detect_loss (RFC 8985 §6.2 step 5) over the
// records in the order sent: one sent before RACK.xmit_ts (RACK_sent_after)
// and not delivered is lost once xmit_ts + RACK.rtt + RACK.reo_wnd is
// reached; a record deemed lost and not resent since is skipped, and the
// walk stops at the first record sent after RACK.xmit_ts (all later ones
// were too). The reordering timer is armed for the earliest record not
// yet lost. Deviation: §6.2 arms it for the latest (timeout = max), which
// deems the earlier ones lost when the last one is, up to reo_wnd late;
// the earliest, as here, marks each at its own time.
func (c *Conn) rackDetectLoss(now time.Time) {
	wait := c.rackRTT + c.reoWnd()
	l := &c.txl
	for i := l.head; i != 0; i = l.recs[i].next {
		r := &l.recs[i]
		if r.xmit.After(c.rackXmit) {
			break
		}
		if r.has(txSACKed) || (r.has(txLost) && !r.has(txRetrans)) ||
			!rackSentAfter(c.rackXmit, c.rackEndSeq, r.xmit, r.end) {
			continue
		}
		if at := r.xmit.Add(wait); now.Before(at) {
			c.armRACK(at)
		} else {
			l.setFlags(i, txLost, txRetrans)
		}
	}
}

// rackPipe is what pipe (RFC 6675 §4 SetPipe(), per hole) must add for
// the records deemed lost, counted as Linux's packets in flight (RFC 8985
// §6.2 step 5: a lost segment has left the network): nothing for one
// waiting to be resent, its retransmission once resent. SetPipe counted
// its original unless IsLost holds there (below isLostLine, while
// reordering was not seen), and its retransmission below HighRxt.
func (c *Conn) rackPipe() int {
	l := &c.txl
	if l.nLost == 0 {
		return 0
	}
	line, dup := c.isLostLine()
	dup = dup && !c.reorderingSeen
	adj := 0
	for i := l.head; i != 0; i = l.recs[i].next {
		r := &l.recs[i]
		if !r.has(txLost) || r.has(txSACKed) {
			continue
		}
		size := int(r.start.Size(r.end))
		if !dup || !r.start.LessThan(line) {
			adj -= size // SetPipe counted the original
		}
		if r.start.LessThan(c.highRxt) {
			adj -= int(r.start.Size(seqnum.Min(r.end, c.highRxt)))
		}
		if r.has(txRetrans) {
			adj += size
		}
	}
	return adj
}

// rackRetransmit resends the earliest sent record deemed lost (RFC 8985
// §6.2 step 5: lost segments are retransmitted first, by the loss
// recovery's own rules; RFC 6675 has no rule for them), as much of it as
// room (cwnd − pipe) holds in whole segments. HighRxt moves past it only
// when nothing unSACKed lies between: everything unSACKed below HighRxt
// must have been resent, since SetPipe counts it twice there (RFC 6675
// §4); one resent above, with a gap, is skipped by NextSeg() while its
// retransmission is in flight (rackResentAt). It reports whether it sent.
func (c *Conn) rackRetransmit(now time.Time, room int) bool {
	l := &c.txl
	if l.nLost == 0 {
		return false
	}
	for i := l.head; i != 0; i = l.recs[i].next {
		r := l.recs[i]
		if !r.has(txLost) || r.has(txRetrans|txSACKed) {
			continue
		}
		s := seqnum.Max(r.start, c.sndUna)
		mss := c.sendMSS()
		n := 0
		if top := seqnum.Min(r.end, c.dataEnd()); s.LessThan(top) {
			n = min(int(s.Size(top)), max(min(c.sizeGoal(mss), room-room%mss), mss))
		}
		fin := c.finSent() && r.end == c.finSeq.Add(1) && s.Add(seqnum.Size(n)) == c.finSeq
		if n == 0 && !fin {
			continue
		}
		c.transmit(now, s, n, fin)
		c.countRetransmit(n)
		if r.has(txEverRetrans) {
			c.rackRetransmits++ // a lost retransmission (Info)
		}
		if c.rttTiming && s.LessThan(c.rttSeq) {
			c.rttTiming = false // Karn
		}
		end := s.Add(seqnum.Size(n))
		if fin {
			end = end.Add(1)
		}
		if s.LessThanEq(c.highRxt) || c.sb.sackedIn(c.highRxt, s) == int(c.highRxt.Size(s)) {
			c.highRxt = seqnum.Max(c.highRxt, end) // nothing unSACKed left below it unsent
		}
		if c.rtoAt.IsZero() {
			c.rtoAt = now.Add(c.currentRTO())
		}
		return true
	}
	return false
}

// onRACKTimer is the reordering timer (RFC 8985 §6.3).
func (c *Conn) onRACKTimer(now time.Time) {
	c.rackDetect(c.sndUna, now)
	c.trySend(now)
}

// rackLostEnd is the end of the highest record deemed lost (SND.UNA if
// none).
func (c *Conn) rackLostEnd() seqnum.Value {
	end := c.sndUna
	l := &c.txl
	if l.nLost == 0 {
		return end
	}
	for i := l.head; i != 0; i = l.recs[i].next {
		if r := &l.recs[i]; r.has(txLost) {
			end = seqnum.Max(end, r.end)
		}
	}
	return end
}

// rackResentAt returns the end of the record holding seq if RACK resent it
// (deemed lost, its retransmission in flight), else seq: NextSeg() rules
// (1) and (3) skip it rather than send it a second time.
func (c *Conn) rackResentAt(seq seqnum.Value) seqnum.Value {
	l := &c.txl
	if l.nLost == 0 {
		return seq
	}
	for i := l.head; i != 0; i = l.recs[i].next {
		if r := &l.recs[i]; r.has(txLost) && r.has(txRetrans) && r.start.LessThanEq(seq) && seq.LessThan(r.end) {
			return r.end
		}
	}
	return seq
}

// rackLostUnsent reports whether a record deemed lost waits to be resent
// (one already resent, its retransmission in flight, needs no new
// recovery).
func (c *Conn) rackLostUnsent() bool {
	l := &c.txl
	if l.nLost == 0 {
		return false
	}
	for i := l.head; i != 0; i = l.recs[i].next {
		if r := &l.recs[i]; r.has(txLost) && !r.has(txRetrans) {
			return true
		}
	}
	return false
}
