package tcp

import (
	"syscall"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// A Conn has four timers, each a deadline (the zero time when not armed):
//
//   - rtoAt: retransmission of SYN, SYN-ACK, data and FIN (RFC 6298; at most
//     one of rtoAt and persistAt is armed);
//   - persistAt: zero-window probes and the SWS override (RFC 9293 §3.8.6.1,
//     RFC 1122 §4.2.2.17 and §4.2.3.4);
//   - delackAt: the delayed ACK (RFC 1122 §4.2.3.2, RFC 5681 §4.2);
//   - closeAt: the end of TIME-WAIT (2·MSL, RFC 9293 §3.10.7.4), or of an
//     orphaned FIN-WAIT-2 (Linux's tcp_fin_timeout).

// NextDeadline returns the earliest armed timer; false when none is armed.
func (c *Conn) NextDeadline() (time.Time, bool) {
	var d time.Time
	for _, t := range [...]time.Time{c.rtoAt, c.persistAt, c.delackAt, c.closeAt} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d, !d.IsZero()
}

func due(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

// HandleTimer runs whatever timers are due at now.
func (c *Conn) HandleTimer(now time.Time) {
	if due(c.closeAt, now) {
		c.closeAt = time.Time{}
		switch c.state {
		case StateTimeWait:
			c.drop(nil) // RFC 9293 §3.10.8: "delete the TCB, enter the CLOSED state"
			return
		case StateFinWait2:
			// Deviation (Linux compat): an orphaned FIN-WAIT-2 gives up after
			// tcp_fin_timeout with a RST, as Linux's tcp_keepalive_timer.
			c.sendRST(c.sndMax, true)
			c.drop(nil)
			return
		}
	}
	if due(c.rtoAt, now) {
		c.rtoAt = time.Time{}
		c.onRTO(now)
	}
	if due(c.persistAt, now) {
		c.persistAt = time.Time{}
		c.onPersist(now)
	}
	if due(c.delackAt, now) {
		c.delackAt = time.Time{}
		if c.ackPending && c.state.synchronized() {
			c.sendAck()
		}
	}
}

// currentRTO is the RTO with the exponential backoff of RFC 6298 §5.5 applied,
// at most RTOMax.
func (c *Conn) currentRTO() time.Duration {
	d := c.rto
	for i := 0; i < c.backoff && d < c.cfg.RTOMax; i++ {
		d *= 2
	}
	return min(d, c.cfg.RTOMax)
}

// persistInterval is the zero-window probe interval: the RTO (at least
// RTOMin) doubled per unanswered probe, at most RTOMax (Linux's
// tcp_probe0_when; RFC 1122 §4.2.2.17 asks for exponential backoff).
func (c *Conn) persistInterval() time.Duration {
	d := max(c.rto, c.cfg.RTOMin)
	for i := 0; i < c.persistBackoff && d < c.cfg.RTOMax; i++ {
		d *= 2
	}
	return min(d, c.cfg.RTOMax)
}

func (c *Conn) armPersist(now time.Time) {
	c.persistAt = now.Add(c.persistInterval())
}

// startRTT times the segment ending at end (RFC 6298 §3: one measurement at
// a time, without timestamps).
func (c *Conn) startRTT(end seqnum.Value, now time.Time) {
	c.rttTiming, c.rttSeq, c.rttStart = true, end, now
}

// rttSample feeds a measurement into SRTT, RTTVAR and RTO (RFC 6298 §2.2-2.4,
// K = 4, alpha = 1/8, beta = 1/4, G = 1ms).
func (c *Conn) rttSample(r time.Duration) {
	r = max(r, 0)
	if !c.hasRTT {
		c.srtt, c.rttvar, c.hasRTT = r, r/2, true
	} else {
		delta := c.srtt - r
		if delta < 0 {
			delta = -delta
		}
		c.rttvar = (3*c.rttvar + delta) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = min(max(c.srtt+max(clockGranularity, 4*c.rttvar), c.cfg.RTOMin), c.cfg.RTOMax)
}

// onRTO is the retransmission timeout (RFC 6298 §5.4-5.6).
func (c *Conn) onRTO(now time.Time) {
	switch c.state {
	case StateSynSent:
		if c.backoff >= c.cfg.SynRetries {
			c.drop(syscall.ETIMEDOUT)
			return
		}
		c.backoff++
		c.synRetransmitted, c.rttTiming = true, false
		c.retransmits++
		c.sendSyn(false)
		c.rtoAt = now.Add(c.currentRTO())
		return
	case StateSynReceived:
		if c.sndUna == c.iss { // our SYN-ACK is unacknowledged
			if c.backoff >= c.cfg.SynAckRetries {
				if c.activeOpen {
					c.drop(syscall.ETIMEDOUT)
				} else {
					c.drop(nil)
				}
				return
			}
			c.backoff++
			c.synRetransmitted, c.rttTiming = true, false
			c.retransmits++
			c.sendSyn(true)
			c.rtoAt = now.Add(c.currentRTO())
			return
		}
	}
	if c.sndUna == c.sndMax || !c.state.synchronized() {
		return // nothing outstanding
	}
	if c.backoff >= c.cfg.DataRetries {
		// RFC 1122 §4.2.3.5 R2. Like Linux (tcp_write_err), no RST is sent:
		// the peer is presumed unreachable.
		c.drop(syscall.ETIMEDOUT)
		return
	}
	if c.backoff == 0 {
		// RFC 5681 §3.1 eq. (4); held constant for repeated timeouts of the
		// same segment.
		c.ssthresh = max(c.flightSize()/2, 2*c.mss)
	}
	c.cwnd = c.mss // loss window (RFC 5681 §3.1)
	c.bytesAcked, c.dupAcks, c.inRecovery = 0, 0, false
	c.recover = c.sndMax // RFC 6582 §3.2 step 4
	c.backoff++          // RFC 6298 §5.5
	c.rttTiming = false  // Karn
	// RFC 6298 §5.4: retransmit the earliest unacknowledged segment; the rest
	// follow as ACKs open cwnd (go back N from SND.UNA).
	c.sndNxt = c.sndUna
	n := 0
	if end := seqnum.Min(c.sndMax, c.dataEnd()); c.sndUna.LessThan(end) {
		n = min(int(c.sndUna.Size(end)), c.mss)
	}
	fin := c.finSent() && c.sndUna.Add(seqnum.Size(n)) == c.finSeq
	if n == 0 && !fin {
		return
	}
	c.sendData(c.sndUna, n, fin, now) // arms rtoAt with the backed-off RTO (§5.6)
}

// onPersist is the persist timer: when the peer's window is zero, send a
// one-byte probe beyond it (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17), backing
// off to RTOMax and never giving up; when the window is open but too small
// for SWS avoidance, send what fits (RFC 1122 §4.2.3.4 (d), the override).
func (c *Conn) onPersist(now time.Time) {
	unsent := c.unsentData()
	if !c.sendingState() || unsent == 0 || !c.rtoAt.IsZero() {
		return
	}
	usable := 0
	if wndEnd := c.sndUna.Add(seqnum.Size(min(c.sndWnd, c.cwnd))); c.sndNxt.LessThan(wndEnd) {
		usable = int(c.sndNxt.Size(wndEnd))
	}
	if usable > 0 {
		n := min(usable, unsent, c.mss)
		c.sendData(c.sndNxt, n, c.finQueued && n == unsent, now)
		return
	}
	// The probe does not advance SND.NXT (BSD's persist case); SND.MAX
	// covers it so that an ACK of the probe byte is acceptable.
	c.transmit(c.sndNxt, 1, false)
	if e := c.sndNxt.Add(1); e.GreaterThan(c.sndMax) {
		c.sndMax = e
		c.bytesSent++
	}
	c.persistBackoff++
	c.armPersist(now)
}

// flightSize is FlightSize (RFC 5681 §2): sent but not yet acknowledged.
func (c *Conn) flightSize() int {
	return int(c.sndUna.Size(c.sndMax))
}
