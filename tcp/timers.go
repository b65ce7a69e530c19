package tcp

import (
	"syscall"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// A Conn has seven timers, each a deadline (the zero time when not armed):
//
//   - rtoAt: retransmission of SYN, SYN-ACK, data and FIN (RFC 6298; at most
//     one of rtoAt and persistAt is armed);
//   - ptoAt: the tail loss probe (RFC 8985 §7), armed only with rtoAt and
//     never after it;
//   - rackAt: the reordering timer of time-based loss detection (RFC 8985
//     §8, rack.go);
//   - persistAt: zero-window probes and the SWS override (RFC 9293 §3.8.6.1,
//     RFC 1122 §4.2.2.17 and §4.2.3.4);
//   - delackAt: the delayed ACK (RFC 1122 §4.2.3.2, RFC 5681 §4.2);
//   - closeAt: the end of TIME-WAIT (2·MSL, RFC 9293 §3.10.7.4), or of an
//     orphaned FIN-WAIT-2 (Linux's tcp_fin_timeout);
//   - the pacing timer: pace.at while a paced transmission waits for it
//     (pacing.go, for BBR), computed;
//
// and two more with their own reasons to end a connection:
//
//   - keepAt: keep-alive (RFC 1122 §4.2.3.6), when Config.KeepAlive is on;
//   - the user timeout (Config.UserTimeout, RFC 9293 §3.8.3 / RFC 5482 as
//     Linux's TCP_USER_TIMEOUT), stallSince + UserTimeout, computed.

// NextDeadline returns the earliest armed timer; false when none is armed.
func (c *Conn) NextDeadline() (time.Time, bool) {
	_, d := c.earliestTimer(false)
	return d, !d.IsZero()
}

// earliestTimer returns the earliest armed timer and the kind ss -o gives
// it (Linux's "on" for the retransmission, loss-probe and RACK timers it
// runs on icsk_retransmit_timer; "persist", "keepalive", "timewait"); the
// delayed ACK, the user timeout and the pacing timer have no kind, and
// with named only those with a kind are considered.
func (c *Conn) earliestTimer(named bool) (kind string, at time.Time) {
	for _, t := range [...]struct {
		at   time.Time
		kind string
	}{
		{c.rtoAt, "on"}, {c.ptoAt, "on"}, {c.rackAt, "on"}, {c.persistAt, "persist"},
		{c.keepAt, "keepalive"}, {c.closeAt, "timewait"},
		{c.delackAt, ""}, {c.userTimeoutAt(), ""}, {c.paceTimer(), ""},
	} {
		if t.at.IsZero() || (named && t.kind == "") {
			continue
		}
		if at.IsZero() || t.at.Before(at) {
			kind, at = t.kind, t.at
		}
	}
	return kind, at
}

func due(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

// userTimeoutAt is when the user timeout ends the connection, zero if it
// is off or nothing waits.
func (c *Conn) userTimeoutAt() time.Time {
	if c.cfg.UserTimeout <= 0 || c.stallSince.IsZero() {
		return time.Time{}
	}
	return c.stallSince.Add(c.cfg.UserTimeout)
}

// HandleTimer runs whatever timers are due at now.
func (c *Conn) HandleTimer(now time.Time) {
	c.startTSClock(now)
	if due(c.userTimeoutAt(), now) {
		// RFC 9293 §3.8.3: "If a user timeout occurs ... flush all queues,
		// signal the user 'error: connection aborted due to user timeout'",
		// ETIMEDOUT as Linux. Like Linux's tcp_write_err, no RST: the peer
		// is presumed unreachable.
		c.drop(syscall.ETIMEDOUT)
		return
	}
	if due(c.closeAt, now) {
		c.closeAt = time.Time{}
		switch c.state {
		case StateTimeWait:
			c.drop(nil) // RFC 9293 §3.10.8: "delete the TCB, enter the CLOSED state"
			return
		case StateFinWait2:
			// Deviation (Linux compat): an orphaned FIN-WAIT-2 gives up after
			// tcp_fin_timeout with a RST, as Linux's tcp_keepalive_timer.
			c.sendRST(now, c.sndNxt, true)
			c.drop(nil)
			return
		}
	}
	if due(c.ptoAt, now) {
		// Before the RTO: a PTO capped at the RTO's deadline replaces it
		// (RFC 8985 §7.2-7.3), and re-arms it.
		c.ptoAt = time.Time{}
		c.onPTO(now)
	}
	if due(c.rackAt, now) {
		c.rackAt = time.Time{}
		c.onRACKTimer(now)
	}
	if due(c.rtoAt, now) {
		c.rtoAt = time.Time{}
		c.onRTO(now)
	}
	if due(c.persistAt, now) {
		c.persistAt = time.Time{}
		c.onPersist(now)
	}
	if due(c.paceTimer(), now) {
		c.onPaceTimer(now)
	}
	if due(c.delackAt, now) {
		c.delackAt = time.Time{}
		if c.ackPending && c.state.synchronized() {
			c.sendAck(now)
		}
	}
	if due(c.keepAt, now) {
		c.keepAt = time.Time{}
		c.onKeepAlive(now)
	}
}

// keepAliveState reports whether keep-alive probes may run in this state:
// the connection is synchronized and nothing of ours (SYN, FIN) is
// necessarily outstanding. RFC 1122 §4.2.3.6 speaks of an idle
// connection; SYN states and those with our FIN in flight have their own
// timers, as in Linux (tcp_keepalive_timer skips SYN-SENT; the others
// have packets out).
func (c *Conn) keepAliveState() bool {
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait2:
		return true
	}
	return false
}

// onKeepAlive is the keep-alive timer, laid out as Linux's
// tcp_keepalive_timer. The connection has been idle since lastRcvAt (the
// last acceptable segment from the peer). After KeepIdle of idleness, a
// probe is sent every KeepInterval; KeepCount unanswered probes (or, with
// a user timeout, probes outstanding for UserTimeout since the last
// segment) end the connection with ETIMEDOUT. Any acceptable segment
// resets the idle clock and the probe count (see synchronizedInput).
// While data is outstanding or waiting the RTO and persist timers cover
// the connection: the timer just comes back after KeepIdle.
func (c *Conn) onKeepAlive(now time.Time) {
	if !c.cfg.KeepAlive || !c.keepAliveState() {
		return
	}
	idle := c.cfg.KeepIdle
	if c.sndUna != c.sndNxt || c.unsentData() > 0 || !c.persistAt.IsZero() {
		c.keepAt = now.Add(idle)
		return
	}
	elapsed := now.Sub(c.lastRcvAt)
	if elapsed < idle {
		c.keepAt = c.lastRcvAt.Add(idle)
		return
	}
	if ut := c.cfg.UserTimeout; (ut > 0 && elapsed >= ut && c.keepProbes > 0) ||
		(ut == 0 && c.keepProbes >= c.cfg.KeepCount) {
		// Deviation (Linux compat): Linux sends a RST when it gives up on
		// keep-alive (tcp_keepalive_timer → tcp_send_active_reset); RFC
		// 1122 says nothing of it.
		c.sendRST(now, c.sndNxt, true)
		c.drop(syscall.ETIMEDOUT)
		return
	}
	// RFC 1122 §4.2.3.6: "SEG.SEQ = SND.NXT-1", without the garbage
	// octet, as Linux's tcp_xmit_probe_skb (SND.UNA-1 there; nothing is
	// outstanding, so SND.UNA = SND.NXT). The peer finds it old and
	// answers with an ACK.
	c.emit(now, c.sndUna.Sub(1), FlagACK, nil, nil, nil)
	c.keepProbes++
	c.keepAliveProbes++
	c.keepAt = now.Add(c.cfg.KeepInterval)
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
//
// It also records now as the current time: a passive Conn gets its first
// time here (passiveOpen in listener.go), which starts its TS clock.
func (c *Conn) startRTT(end seqnum.Value, now time.Time) {
	c.startTSClock(now)
	c.rttTiming, c.rttSeq, c.rttStart = true, end, now
}

// rttSample feeds a measurement into the estimator (rttState.sample) and
// the congestion control's RTT hook, and returns it (never negative).
func (c *Conn) rttSample(r time.Duration) time.Duration {
	r = max(r, 0)
	c.noteRTT(r)
	c.rttState.sample(r, c.cfg.RTOMin, c.cfg.RTOMax)
	return r
}

// sample feeds a measurement r ≥ 0 into SRTT, RTTVAR and RTO (RFC 6298
// §2.2-2.3, K = 4, alpha = 1/8, beta = 1/4, G = 1ms; at most rtoMax) and
// RACK.min_RTT.
//
// Deviation (Linux compat, __tcp_set_rto): RFC 6298 (2.4) rounds the RTO
// up to a 1 s minimum; Linux's 200 ms minimum (rtoMin) bounds the
// variance term instead, RTO = SRTT + max(4·RTTVAR, rtoMin), so that on a
// path whose RTT is near or above rtoMin and steady the RTO stays above
// the RTT: with max(SRTT + 4·RTTVAR, rtoMin) a 200 ms path timed out one
// RTT after a fast retransmission, spuriously.
func (t *rttState) sample(r, rtoMin, rtoMax time.Duration) {
	if !t.hasRTT || r < t.minRTT {
		t.minRTT = r // RACK.min_RTT (RFC 8985 §6.2 step 2), a global minimum
	}
	if !t.hasRTT {
		t.srtt, t.rttvar, t.hasRTT = r, r/2, true
	} else {
		delta := t.srtt - r
		if delta < 0 {
			delta = -delta
		}
		t.rttvar = (3*t.rttvar + delta) / 4
		t.srtt = (7*t.srtt + r) / 8
	}
	t.rto = min(t.srtt+max(clockGranularity, 4*t.rttvar, rtoMin), rtoMax)
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
		c.countRetransmit(0)
		c.sendSyn(now, false)
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
			c.countRetransmit(0)
			c.sendSyn(now, true)
			c.rtoAt = now.Add(c.currentRTO())
			return
		}
	}
	if c.sndUna == c.sndNxt || !c.state.synchronized() {
		return // nothing outstanding
	}
	// Deviation (Linux compat, tcp_retransmit_timer): when the peer shrank
	// its window to zero over data we had already sent, our retransmissions
	// are in effect zero-window probes, and probing must not end the
	// connection while the peer answers (RFC 9293 §3.8.6.1, MUST-36). So
	// they do not count toward DataRetries as long as the peer was heard
	// from within RTOMax; an orphaned connection (closed by its user) still
	// times out, and a user timeout, when set, decides instead.
	if c.sndWnd == 0 && !c.userClosed && c.cfg.UserTimeout == 0 {
		if now.Sub(c.lastRcvAt) > c.cfg.RTOMax {
			c.drop(syscall.ETIMEDOUT)
			return
		}
	} else if c.backoff >= c.cfg.DataRetries && c.cfg.UserTimeout == 0 {
		// RFC 1122 §4.2.3.5 R2. Like Linux (tcp_write_err), no RST is sent:
		// the peer is presumed unreachable. A user timeout replaces the
		// count, as in Linux (retransmits_timed_out uses it when set).
		c.drop(syscall.ETIMEDOUT)
		return
	}
	if c.backoff == 0 {
		c.startEifel(now)
	}
	c.startFRTO()
	// RFC 5681 §3.1: ssthresh from eq. (4), held constant for repeated
	// timeouts of the same segment, and cwnd the loss window. Eq. (4) is
	// a ceiling ("no more than"): a fast recovery whose window is still
	// outstanding has lowered ssthresh already, and recomputing it from a
	// FlightSize that the recovery's new data grew would raise it; as
	// Linux's tcp_enter_loss, only a timeout outside that window lowers
	// it. (An ECE reduction's window needs no such check: its cwnd came
	// down to ssthresh at once, so FlightSize cannot have grown past it.)
	reduced := c.sndUna.LessThan(c.recover) // Linux: after(high_seq, snd_una)
	c.cc.onRTO(c.flightSize(), c.mss, c.backoff == 0 && !reduced)
	c.countTimeout()
	c.ptoAt, c.tlpOut = time.Time{}, false // RFC 8985 §6.3: the RTO ends any probe episode
	c.rackReset()
	c.txForgetLosses()
	c.dupAcks, c.inRecovery = 0, false
	c.undoOn = false     // D-SACKs undo fast recoveries; a timeout is Eifel's (eifelUndo)
	c.recover = c.sndNxt // RFC 6582 §3.2 step 4; RFC 6675 §5.1 RecoveryPoint = HighData
	// Retransmission goes back to SND.UNA (RFC 2018 §8: the left edge is
	// resent whether or not it was SACKed). Deviation (Linux compat):
	// RFC 2018 §8 says the SACKed bits SHOULD be turned off after a
	// timeout, in case the receiver reneged; Linux keeps them
	// (tcp_enter_loss marks only unSACKed data lost) and the go-back-N
	// skips SACKed data (sendNext), as RFC 6675 §5.1's Update() after an
	// RTO means to allow. Reneging is caught instead where it shows: an
	// ACK that stops at SACKed data (ackNewData), or a second timeout of
	// the same data, which clears the board.
	if c.backoff > 0 {
		c.sb.clear()
		c.txUnSACK()
	}
	c.highRxt = c.sndUna
	c.backoff++         // RFC 6298 §5.5
	c.rttTiming = false // Karn
	// RFC 6298 §5.4: retransmit the earliest unacknowledged segment; the rest
	// follow as ACKs open cwnd (go back N from SND.UNA).
	c.sndCur = c.sndUna
	n := 0
	if end := seqnum.Min(c.sndNxt, c.dataEnd()); c.sndUna.LessThan(end) {
		n = min(int(c.sndUna.Size(end)), c.sendMSS())
	}
	fin := c.finSent() && c.sndUna.Add(seqnum.Size(n)) == c.finSeq
	if n == 0 && !fin {
		c.frtoOn = false
		return
	}
	c.sendData(c.sndUna, n, fin, now) // arms rtoAt with the backed-off RTO (§5.6)
	c.armFRTO(c.sndCur)
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
	if wndEnd := c.sndUna.Add(seqnum.Size(min(c.sndWnd, c.cc.cwnd()))); c.sndCur.LessThan(wndEnd) {
		usable = int(c.sndCur.Size(wndEnd))
	}
	if usable > 0 {
		n := min(usable, unsent, c.sendMSS())
		c.sendData(c.sndCur, n, c.finQueued && n == unsent, now)
		return
	}
	// The probe does not advance the send cursor (BSD's persist case);
	// SND.NXT covers it so that an ACK of the probe byte is acceptable.
	if c.stallSince.IsZero() {
		// The user timeout counts from the first zero-window probe until
		// the window opens, answered or not (Linux's icsk_probes_tstamp).
		c.stallSince = now
	}
	c.transmit(now, c.sndCur, 1, false)
	if e := c.sndCur.Add(1); e.GreaterThan(c.sndNxt) {
		c.txSentNew(c.sndCur, e, now)
		c.sndNxt = e
		c.bytesSent++
	}
	c.persistBackoff++
	c.armPersist(now)
}

// flightSize is FlightSize (RFC 5681 §2): sent but not yet acknowledged.
func (c *Conn) flightSize() int {
	return int(c.sndUna.Size(c.sndNxt))
}
