package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Tail Loss Probe (RFC 8985 §7). When the last segments of a flight are
// lost, no duplicate ACK comes back and only the RTO would repair them;
// the RTO then also collapses cwnd to one segment and goes back N. TLP
// sends one probe segment a couple of SRTTs after the last transmission,
// so that the loss is reported by a SACK and repaired by fast recovery.

// wcDelAckT is WCDelAckT of RFC 8985 §7.2, the worst-case delayed ACK
// timer the PTO allows for when one segment is in flight (RFC 8985 recommends
// 200 ms, the longest RFC 1122 §4.2.3.2 and RFC 5681 §4.2 allow in practice).
const wcDelAckT = 200 * time.Millisecond

// ptoMinExtra pads the PTO of a flight of more than one segment.
// Deviation (Linux compat): Linux's tcp_schedule_loss_probe adds
// TCP_TIMEOUT_MIN (2 jiffies) so that the probe never races an ACK already
// on its way when SRTT is tiny; RFC 8985 §7.2 adds nothing.
const ptoMinExtra = 2 * time.Millisecond

// ptoAllowed reports whether a loss probe may be scheduled now (RFC 8985
// §7.2): SACK is in use (§4: TLP needs it to tell what the probe
// repaired), data is outstanding, the connection is not in fast or RTO
// recovery (SND.UNA has passed the recovery point), nothing is SACKed (then
// RACK-style detection, here RFC 6675's, is at work), no probe episode is
// open (Linux sends at most one probe per flight, tcp_schedule_loss_probe
// since 4.19), and no zero-window probing is going on.
//
// In SACK recovery the same timer is the recovery probe (see
// recoveryProbe): data is outstanding throughout a recovery (it ends when
// SND.UNA passes the recovery point), so no persist timer runs, and the
// PTO is capped at the RTO (schedulePTO), which is armed while data is
// outstanding. It is re-armed by each ACK and each transmission, never by
// the probe itself: one probe per silence, then the RTO.
func (c *Conn) ptoAllowed() bool {
	if c.sackRecovering() {
		return c.sendingState()
	}
	if c.sackProbing() {
		return true
	}
	return c.sackOn && c.sendingState() && c.sndUna != c.sndNxt &&
		c.sndUna.GreaterThanEq(c.recover) && c.sb.n == 0 &&
		!c.tlpOut && c.persistAt.IsZero() && !c.rtoAt.IsZero()
}

// schedulePTO arms (or re-arms) the probe timeout after new data was sent
// or new data was cumulatively acknowledged (RFC 8985 §7.2), or disarms it
// when a probe is not allowed. TLP_calc_PTO: 2·SRTT (1 s before the first
// sample), plus WCDelAckT when one segment is in flight, and never later
// than the RTO would fire.
func (c *Conn) schedulePTO(now time.Time) {
	if !c.ptoAllowed() {
		c.ptoAt = time.Time{}
		return
	}
	pto := time.Second
	if c.hasRTT {
		pto = 2 * c.srtt
		if c.flightSize() <= c.mss {
			pto += wcDelAckT
		} else {
			pto += ptoMinExtra
		}
	}
	c.ptoAt = now.Add(pto)
	if c.rtoAt.Before(c.ptoAt) {
		c.ptoAt = c.rtoAt
	}
}

// onPTO is TLP_send_probe of RFC 8985 §7.3: send one segment of new data
// if there is some and both the peer's window and cwnd have room for it,
// else retransmit the highest-sequence segment sent so far. Either
// way the RTO is re-armed from now, and the probe episode stays open until
// §7.4 decides what the probe found.
//
// Deviation (gVisor compat): RFC 8985 §7.3 and Linux's tcp_send_loss_probe
// send new data regardless of cwnd. When the flight fills cwnd, the usual
// reason for the silence is a lost ACK, not lost data (a bulk sender's
// cwnd is full by definition); then one new in-order segment is the only
// data past the receiver's last (lost) ACK, and the receiver delays its
// ACK for it (RFC 9293 §3.8.6.3 allows up to 500 ms; Linux waits at least
// its 40 ms delayed-ACK timer), where a duplicate of the last segment is
// acknowledged at once (RFC 5681 §4.2; Linux sends an immediate D-SACK).
// gVisor's probeTimerExpired sends new data only below cwnd, as here. On a
// TAP dropping 5 % each way, 24 of a bulk sender's 39 stalls over 5 s were
// 40-ms delayed ACKs after new-data probes.
func (c *Conn) onPTO(now time.Time) {
	if !c.ptoAllowed() {
		return
	}
	if c.sackRecovering() || c.sackProbing() {
		c.recoveryProbe(now)
		return
	}
	c.tlpOut = true // before sendData: no PTO for the probe itself
	c.tlpRetrans = false
	sent := false
	if c.sndCur == c.sndNxt {
		unsent := c.unsentData()
		finNew := c.finQueued && c.sndCur.LessThanEq(c.finSeq)
		n := 0 // the new data the peer's window and cwnd have room for
		if wndEnd := c.sndUna.Add(seqnum.Size(c.sndWnd)); unsent > 0 && c.sndCur.LessThan(wndEnd) {
			n = min(unsent, int(c.sndCur.Size(wndEnd)), c.sendMSS())
			if c.flightSize()+n > c.cc.cwnd() {
				n = 0
			}
		}
		if n > 0 {
			c.sendData(c.sndCur, n, finNew && n == unsent, now)
			sent = true
		} else if unsent == 0 && finNew {
			c.sendData(c.sndCur, 0, true, now) // the FIN takes no window
			sent = true
		}
	}
	if !sent {
		sent = c.retransmitLast(now)
		c.tlpRetrans = sent
	}
	if !sent {
		c.tlpOut = false
		return // Linux: a failed probe does not extend the RTO
	}
	c.tlpEndSeq = c.sndNxt // TLP.end_seq = SND.NXT
	c.countLossProbe()
	c.ptoAt = time.Time{}
	c.rtoAt = now.Add(c.currentRTO()) // §7.3: re-arm the RTO, not the PTO
}

// sackProbing reports whether the recovery probe runs outside recovery:
// SACKed data is outstanding (so TLP does not run) but no recovery has
// started, and the hole at SND.UNA is no original RACK can time: a
// retransmission (a loss probe's, or one of a recovery that has ended)
// that nothing sent after it can show lost. Without the probe a lost one
// waits for the RTO; over a TAP dropping 5% each way, 9 of a bulk
// sender's 24 RTOs in 10 s were that.
func (c *Conn) sackProbing() bool {
	return c.sackOn && c.sb.n > 0 && c.sendingState() && c.sndUna != c.sndNxt &&
		c.sndUna.GreaterThanEq(c.recover) && c.persistAt.IsZero() && !c.rtoAt.IsZero() && c.txResentAt(c.sndUna)
}

// recoveryProbe is the probe timeout in SACK recovery: the ACK clock has
// stopped for a PTO (2·SRTT, plus 2 ms) since the last ACK or transmission,
// so the retransmission of SND.UNA's segment is sent again, and the RTO is
// re-armed from now. cwnd is left as recovery set it, and the next ACK
// resumes recovery where it stood.
//
// Deviation (FreeBSD compat; RFC 8985 §7.2 and Linux schedule no probe in
// recovery, which leaves the RTO to repair it): FreeBSD's RACK stack probes
// in recovery too (tcp_rack.c, rack_tlp_in_recovery, on by default). A
// Linux receiver answers a burst of out-of-order segments with one
// compressed SACK (tcp_sack_compress); if that ACK is lost, or the hole's
// retransmission is, nothing comes back until the RTO, which also
// collapses cwnd to one segment and goes back N. Over a TAP dropping 5 %
// each way, 25 of a bulk sender's 37 RTOs in 10 s were that. SND.UNA's
// segment is the probe because it answers both: lost, it is repaired;
// delivered, its duplicate draws an immediate ACK (a D-SACK, RFC 2883)
// carrying the receiver's state.
//
// A reordering timer still pending has evidence to act on and goes first:
// the probe waits a PTO from then.
func (c *Conn) recoveryProbe(now time.Time) {
	if !c.rackAt.IsZero() {
		c.schedulePTO(c.rackAt)
		return
	}
	c.retransmitFirst(now)
	c.countLossProbe()
	c.rtoAt = now.Add(c.currentRTO())
}

// retransmitLast resends the segment that ends at SND.NXT (the FIN with
// the data before it, if the FIN was sent), up to SMSS, without moving
// SND.NXT: RFC 8985 §7.3's "highest-sequence segment sent so far", as it
// was sent (Linux resends the last skb), not the last SMSS octets, which
// would straddle two segments when the last was short. It reports
// whether anything was sent.
func (c *Conn) retransmitLast(now time.Time) bool {
	top := c.sndNxt
	fin := c.finSent()
	if fin {
		top = c.finSeq
	}
	if top.LessThan(c.sndUna) {
		return false
	}
	low := c.sndUna
	if c.lastSegSeq.GreaterThan(low) && c.lastSegSeq.LessThan(top) {
		low = c.lastSegSeq
	}
	_, _, ok := c.retransmitTail(now, low, top, fin)
	return ok
}

// retransmitTail resends up to SMSS of data ending at dataTop, from low at
// the lowest, and the FIN after it if fin, without moving the send cursor; an RTT
// sample the range covers is dropped (Karn). It returns what it sent, and
// false if there was nothing.
func (c *Conn) retransmitTail(now time.Time, low, dataTop seqnum.Value, fin bool) (start seqnum.Value, n int, ok bool) {
	start = low
	if int(low.Size(dataTop)) > c.sendMSS() {
		start = dataTop.Sub(seqnum.Size(c.sendMSS()))
	}
	n = int(start.Size(dataTop))
	if n == 0 && !fin {
		return start, 0, false
	}
	c.transmit(now, start, n, fin)
	c.countRetransmit(n)
	if c.rttTiming && start.LessThan(c.rttSeq) {
		c.rttTiming = false // Karn
	}
	return start, n, true
}

// tlpAck is RFC 8985 §7.4 for an acceptable ACK while a probe episode is
// open, as Linux's tcp_process_tlp_ack: the episode ends once the ACK
// reaches TLP.end_seq. A probe of new data needs nothing more. A
// retransmitted probe found a loss (and repaired it) unless a D-SACK or a
// pure duplicate ACK shows that both the original and the probe arrived;
// the loss gets the congestion response of fast recovery, here at once,
// since the probe already repaired it. oldUna is SND.UNA before this
// ACK, newSACK whether it SACKed anything new.
func (c *Conn) tlpAck(seg *Segment, oldUna seqnum.Value, newSACK bool) {
	ack := seg.Ack
	if !c.tlpOut || ack.LessThan(c.tlpEndSeq) {
		return
	}
	if !c.tlpRetrans {
		c.tlpOut = false
		return
	}
	switch {
	case isDSACK(&seg.Options, ack):
		c.tlpOut = false // the probe was a duplicate: no loss
	case ack.GreaterThan(c.tlpEndSeq):
		c.tlpOut = false
		c.countTLPRecovery()
		// The repairing ACK has just emptied the flight: the reduction
		// starts from cwnd (lossEvent.repaired).
		c.ecnQueueCWR() // RFC 3168 §6.1.2: a reduction "for any reason"
		c.cc.onLoss(lossEvent{mss: c.mss, repaired: true})
		c.cc.setCwnd(c.cc.ssthresh())
	case ack == oldUna && !newSACK:
		c.tlpOut = false // a pure duplicate: both copies arrived
	}
}
