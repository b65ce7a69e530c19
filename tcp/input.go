package tcp

import (
	"net/netip"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// minPeerMSS is the smallest send MSS we accept from a peer. Deviation
// (Linux compat): Linux clamps to TCP_MIN_MSS (88) so that a tiny MSS option
// cannot make us send one-byte segments. It guards against the peer only:
// our own MSS (Config.MSS, the link MTU less 40) still caps the send MSS,
// so on a link too small for 88 (a 100-byte MTU: MSS 60) segments fit the
// link, as Linux's tcp_mtu_to_mss, whose floor is tcp_min_snd_mss (48).
const minPeerMSS = 88

// HandleSegment is SEGMENT ARRIVES (RFC 9293 §3.10.7) for this connection:
// the stack has matched seg to the Conn's four-tuple.
func (c *Conn) HandleSegment(seg *Segment, now time.Time) {
	c.handleSegment(seg, now, false)
}

// handleSegment is HandleSegment; batched says seg is one of a batch the
// device delivered together (HandleSegmentBatch).
func (c *Conn) handleSegment(seg *Segment, now time.Time, batched bool) {
	c.startTSClock(now)
	switch c.state {
	case StateClosed:
		// §3.10.7.1: as if no TCB existed.
		if rst, ok := ResetFor(seg); ok {
			c.tx = rst
			c.out.SendSegment(c.local, c.remote, &c.tx, nil, nil)
		}
		return
	case StateListen:
		return // a Conn never listens: Listener does (§3.10.7.2)
	case StateSynSent:
		c.synSentInput(seg, now, batched)
		return
	}
	c.synchronizedInput(seg, now, batched)
}

// negotiate applies the options of the peer's SYN: MSS (RFC 9293 §3.7.1,
// 536 when absent, 1220 over IPv6) and Window Scale (RFC 7323 §2.2: both
// sides must send it, else neither scales).
func (c *Conn) negotiate(o *Options, now time.Time) {
	peer := defaultPeerMSS(c.remote)
	if o.MSS != 0 {
		peer = int(o.MSS)
	}
	c.mss = min(c.cfg.MSS, max(peer, minPeerMSS))
	c.rcvMSS = c.mss
	if c.wsOffered && o.HasWScale {
		c.sndWScale = min(o.WScale, MaxWScale)
	} else {
		c.wsOffered = false
		c.sndWScale, c.rcvWScale = 0, 0
	}
	// RFC 2018 §2: SACK-permitted "MAY be sent in a SYN segment"; the
	// SYN-ACK carries it only if the SYN did, and SACK is used only when
	// both carried it.
	c.sackOffered = c.sackOffered && o.SACKPermitted
	c.sackOn = c.sackOffered
	c.negotiateTimestamps(o, now)
}

// initialWindow is IW of RFC 6928 §2, or one segment if the SYN or SYN-ACK
// had to be retransmitted (RFC 6928 §2, RFC 5681 §3.1).
func (c *Conn) initialWindow() int {
	if c.synRetransmitted {
		return c.mss
	}
	return min(10*c.mss, max(2*c.mss, 14600))
}

// enterEstablished completes the handshake (RFC 9293 §3.10.7.3 fourth or
// §3.10.7.4 fifth): the SYN is acknowledged.
func (c *Conn) enterEstablished(now time.Time) {
	c.setState(StateEstablished)
	c.cc.init(c.initialWindow(), c.cc.ssthresh())
	c.backoff = 0
	c.rtoAt = time.Time{}
	c.lastRcvAt = now
	if c.cfg.KeepAlive {
		c.keepAt = now.Add(c.cfg.KeepIdle) // Linux's tcp_finish_connect / tcp_create_openreq_child
	}
	c.events |= EventEstablished | EventWritable
	if c.listener != nil {
		c.listener.connEstablished(c)
	}
	if c.finQueued {
		// A Shutdown or Close queued in SYN-SENT/SYN-RECEIVED (§3.10.4).
		c.setState(StateFinWait1)
	}
}

// synSentInput is §3.10.7.3, SYN-SENT.
func (c *Conn) synSentInput(seg *Segment, now time.Time, batched bool) {
	hasAck := seg.Flags&FlagACK != 0
	// First: the ACK bit.
	if hasAck && (seg.Ack.LessThanEq(c.iss) || seg.Ack.GreaterThan(c.sndNxt)) {
		// "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the
		// RST bit is set) <SEQ=SEG.ACK><CTL=RST>"; Figure 9 and Figure 10.
		if seg.Flags&FlagRST == 0 {
			c.sendRST(now, seg.Ack, false)
		}
		return
	}
	// Second: the RST bit. Acceptable only with an acceptable ACK (RFC 5961
	// §3.2 keeps this rule for SYN-SENT).
	if seg.Flags&FlagRST != 0 {
		if hasAck {
			c.drop(syscall.ECONNREFUSED) // "error: connection reset"
		}
		return
	}
	// Fourth: the SYN bit.
	if seg.Flags&FlagSYN == 0 {
		return // "If neither of the SYN or RST bits is set, then drop"
	}
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq.Add(1)
	c.rcvAdvRight = c.rcvNxt.Add(seqnum.Size(c.synWnd))
	c.negotiate(&seg.Options, now)
	c.ecnNegotiate(seg.Flags)
	if !hasAck {
		// Simultaneous open (Figure 7): SYN-SENT → SYN-RECEIVED, send
		// <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> with our options again.
		// The window in a SYN is never scaled (RFC 7323 §2.2).
		c.sndWnd, c.sndWL1, c.sndWL2 = int(seg.Window), seg.Seq, c.iss
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.setState(StateSynReceived)
		c.sendSyn(now, true)
		// Deviation (Linux compat): data on the SYN is not queued; the peer
		// retransmits it after the handshake.
		return
	}
	// Our SYN is acknowledged.
	c.sndUna = seg.Ack
	c.sndCur = seqnum.Max(c.sndCur, c.sndUna)
	c.sndWnd, c.sndWL1, c.sndWL2 = int(seg.Window), seg.Seq, seg.Ack
	c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
	c.ackRTT(seg, seg.Ack, now)
	c.enterEstablished(now)
	// "If there are other controls or text in the segment, then continue
	// processing at the sixth step below where the URG bit is checked."
	c.ackPending = true
	c.processText(seg, seg.Seq.Add(1), now, batched)
	c.trySend(now)
	if c.ackPending {
		c.sendAck(now) // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
	}
}

// synchronizedInput is §3.10.7.4, "Otherwise" (SYN-RECEIVED and later), in
// the RFC's order.
func (c *Conn) synchronizedInput(seg *Segment, now time.Time, batched bool) {
	flags := seg.Flags
	if c.state == StateSynReceived && c.synReceivedSpecial(seg, now) {
		return
	}

	if c.state == StateTimeWait {
		c.timeWaitInput(seg, now)
		return
	}

	// PAWS (RFC 7323 §5.3 R1) comes before the sequence test, as in
	// Linux's tcp_validate_incoming: an old duplicate is answered with an
	// ACK (rate-limited as an unacceptable segment) and dropped.
	if drop, ack := c.pawsDrop(seg, now); drop {
		if ack {
			c.sendAck(now)
		}
		return
	}

	// First: sequence number. A segment at RCV.NXT in a zero window passes
	// for its control information; its text is dropped (dataOK false).
	ok, dataOK := c.sequenceTest(seg)
	if !ok {
		if c.unacceptable(seg, now) {
			c.sendAck(now)
		}
		return
	}

	// The segment passed the sequence test: it comes from the peer as far
	// as we can tell, so the keep-alive idle clock restarts
	// (RFC 1122 §4.2.3.6; Linux's rcv_tstamp and probes_out = 0).
	c.lastRcvAt = now
	c.keepProbes = 0

	// Second: RST. RFC 5961 §3.2: reset only on an exact match of RCV.NXT;
	// anywhere else in the window, send a challenge ACK.
	if flags&FlagRST != 0 {
		if seg.Seq != c.rcvNxt {
			c.challengeACK(now)
			return
		}
		c.resetByPeer()
		return
	}

	// Third: security and precedence are not implemented (RFC 9293 §3.10.7.4
	// allows ignoring them).

	// Fourth: SYN.
	if flags&FlagSYN != 0 {
		if c.state == StateSynReceived && !c.activeOpen {
			// "If the connection was initiated with a passive OPEN, then
			// return this connection to the LISTEN state": the Listener keeps
			// listening; this embryonic connection ends.
			c.drop(nil)
			return
		}
		c.challengeACK(now) // RFC 5961 §4.2
		return
	}

	// Fifth: ACK.
	if flags&FlagACK == 0 {
		return // "if the ACK bit is off, drop the segment and return"
	}
	if c.state == StateSynReceived && !c.synReceivedACK(seg, now) {
		return
	}
	if !c.processAck(seg, now) {
		return
	}
	c.updateTSRecent(seg, now) // RFC 7323 §4.3, after the ACK as Linux
	if c.finAckedSteps(now) {
		return
	}

	// Sixth: URG. Urgent data is delivered inline (SO_OOBINLINE semantics):
	// the urgent pointer is ignored and the connection goes on.

	// Seventh and eighth: text and FIN.
	if dataOK {
		c.processText(seg, seg.Seq, now, batched)
	} else if len(seg.Payload) > 0 {
		c.ackPending = true // the window is closed: tell the peer so now
		c.sendAck(now)
	} else if flags&FlagFIN != 0 {
		// Deviation (Linux compat): a bare FIN at RCV.NXT is accepted in a
		// zero window, as Linux's tcp_data_queue does.
		c.processText(seg, seg.Seq, now, batched)
	}
	if c.state == StateClosed {
		return
	}
	c.ecnInput(seg)
	c.trySend(now)
	if c.ackPending && c.delackAt.IsZero() {
		c.sendAck(now)
	}
}

// synReceivedSpecial handles the two segments SYN-RECEIVED answers before
// the sequence test would reject them, and reports whether seg was one.
func (c *Conn) synReceivedSpecial(seg *Segment, now time.Time) bool {
	flags := seg.Flags
	if flags&(FlagSYN|FlagRST|FlagACK) == FlagSYN && seg.Seq == c.irs {
		// Deviation (Linux compat): a retransmission of the peer's SYN means
		// our SYN-ACK was lost; resend it now (Linux's tcp_check_req) rather
		// than answer with a bare ACK that a SYN-SENT peer would drop.
		c.sendSyn(now, true)
		return true
	}
	if c.activeOpen && flags&(FlagSYN|FlagRST|FlagACK) == FlagSYN|FlagACK &&
		seg.Seq.Add(1) == c.rcvNxt && seg.Ack == c.sndNxt && len(seg.Payload) == 0 {
		// Simultaneous open, Figure 7 step 7: the peer's SYN-ACK acknowledges
		// our SYN. Its sequence number lies before RCV.NXT, so the first step
		// would reject it; Linux's tcp_validate_incoming lets exactly this
		// segment through, and so does the figure. Its window is unscaled
		// (RFC 7323 §2.2).
		c.sndUna = seg.Ack
		c.sndWnd, c.sndWL1, c.sndWL2 = int(seg.Window), seg.Seq, seg.Ack
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.enterEstablished(now)
		c.trySend(now)
		return true
	}
	return false
}

// synReceivedACK is the fifth step's SYN-RECEIVED case (RFC 9293
// §3.10.7.4): an acceptable ACK completes the handshake. It reports false
// when the segment is to be dropped.
func (c *Conn) synReceivedACK(seg *Segment, now time.Time) bool {
	if !(c.sndUna.LessThan(seg.Ack) && seg.Ack.LessThanEq(c.sndNxt)) {
		c.sendRST(now, seg.Ack, false) // <SEQ=SEG.ACK><CTL=RST>
		return false
	}
	if c.listener != nil && c.listener.acceptFull() {
		// Linux: with a full accept queue the completing ACK is dropped
		// (tcp_check_req, "listen overflow") and the SYN-ACK
		// retransmission tries again later.
		c.listener.acceptQueueDrop()
		return false
	}
	c.sndUna = seg.Ack
	c.sndCur = seqnum.Max(c.sndCur, c.sndUna)
	c.sndWnd = int(seg.Window) << c.sndWScale
	c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
	c.sndWL1, c.sndWL2 = seg.Seq, seg.Ack
	c.ackRTT(seg, seg.Ack, now)
	c.enterEstablished(now)
	return true
}

// finAckedSteps is the fifth step's FIN-WAIT-1, CLOSING and LAST-ACK
// cases (RFC 9293 §3.10.7.4), once the ACK is processed: what an ACK of
// our FIN moves the connection to. It reports true when the connection
// is gone (LAST-ACK).
func (c *Conn) finAckedSteps(now time.Time) (closed bool) {
	switch c.state {
	case StateFinWait1:
		if c.finAcked() {
			c.setState(StateFinWait2)
			if c.userClosed && c.closeAt.IsZero() {
				c.closeAt = now.Add(c.cfg.TimeWait)
			}
		}
	case StateClosing:
		if c.finAcked() {
			c.enterTimeWait(now)
		}
		// "otherwise ignore the segment": the text and FIN steps below only
		// re-ACK a retransmitted FIN, but queued data still goes out.
	case StateLastAck:
		if c.finAcked() {
			c.drop(nil) // "delete the TCB, enter the CLOSED state"
			return true
		}
	}
	return false
}

// HandleSegmentBatch is HandleSegment for one segment of a batch the
// device delivered together (several frames read at once): an ACK owed
// only because two full-sized segments arrived is held until FlushACK,
// which the caller calls once the whole batch has been handled.
func (c *Conn) HandleSegmentBatch(seg *Segment, now time.Time) {
	c.handleSegment(seg, now, true)
}

// FlushACK sends the ACK HandleSegmentBatch held back, if it is still owed.
func (c *Conn) FlushACK(now time.Time) {
	if !c.ackAtFlush {
		return
	}
	c.ackAtFlush = false
	if c.ackPending && c.state.synchronized() {
		c.sendAck(now)
	}
}

// resetByPeer is §3.10.7.4 second, for an acceptable RST.
func (c *Conn) resetByPeer() {
	switch c.state {
	case StateSynReceived:
		if c.activeOpen {
			c.drop(syscall.ECONNREFUSED)
		} else {
			c.drop(nil) // passive: "return to LISTEN"; the Listener still listens
		}
	case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		c.drop(syscall.ECONNRESET)
	default: // CLOSING, LAST-ACK, TIME-WAIT
		c.drop(nil)
	}
}

// processAck is the ESTABLISHED part of §3.10.7.4 fifth, shared by every
// state that has it. It returns false when the segment must be dropped.
func (c *Conn) processAck(seg *Segment, now time.Time) bool {
	ack := seg.Ack
	if ack.GreaterThan(c.sndNxt) {
		// "If the ACK acks something not yet sent (SEG.ACK > SND.NXT) then
		// send an ACK, drop the segment, and return." RFC 5961 §5.2 puts
		// this ACK under the same check as the next one, so it is a
		// challenge ACK, rate-limited (§7).
		c.challengeACK(now)
		return false
	}
	if ack.LessThan(c.ackFloor()) {
		// RFC 5961 §5.2: an ACK older than SND.UNA - MAX.SND.WND is
		// unacceptable: send a (challenge) ACK and drop.
		c.challengeACK(now)
		return false
	}
	wnd := int(seg.Window) << c.sndWScale
	// RFC 5681 §2 duplicate ACK: outstanding data, no data and no SYN/FIN
	// in the segment, SEG.ACK = SND.UNA, the same window. A zero-window
	// probe's answer is not one.
	dup := ack == c.sndUna && c.sndNxt != c.sndUna && len(seg.Payload) == 0 &&
		seg.Flags&(FlagSYN|FlagFIN) == 0 && wnd == c.sndWnd && c.persistAt.IsZero()
	oldUna := c.sndUna
	advanced := ack.GreaterThan(c.sndUna)
	c.rackAckSeen = false // RACK.rtt: this ACK's latest delivery (rackAdvance)
	origSACKed := 0
	if c.frtoOn {
		origSACKed = c.sb.sackedIn(c.frtoOrig, c.frtoHigh)
	}
	// DeliveredData (RFC 6937 §3): the change in SND.UNA plus the change
	// in SACKed octets, which falls by what the cumulative ACK now covers
	// (octets SACKed earlier were delivered then, not again now).
	delivered := -c.sb.sacked
	if advanced {
		delivered += int(oldUna.Size(ack))
		c.ackNewData(seg, now)
	}
	newSACK := false
	if c.sackOn {
		// RFC 6675 §5: record the SACK information (Update()). An ACK
		// with SACK blocks counts as a duplicate if and only if they tell
		// something new (RFC 6675 §2 "DupAck"), "even if it carries new
		// data, changes the advertised window": Linux receivers grow
		// their window with almost every segment, so RFC 5681's
		// same-window rule would never see three. One without blocks (a
		// peer that negotiated SACK but sends none) counts as RFC 5681's.
		newSACK = c.sackUpdate(seg, now) > 0
		if seg.Options.NumSACK > 0 {
			dup = newSACK && ack == oldUna && c.sndNxt != oldUna &&
				seg.Flags&(FlagSYN|FlagFIN) == 0 && c.persistAt.IsZero()
		}
		c.tlpAck(seg, oldUna, newSACK) // RFC 8985 §7.4
	}
	delivered = max(delivered+c.sb.sacked, 0) // not below zero when the board is cleared (reneging)
	c.frtoAck(oldUna, dup, newSACK, origSACKed, now)
	defer func() {
		c.rackDetect(oldUna, now) // after the DupThresh rules below
		if c.sackRecovering() {
			c.prrDelivered += delivered
			c.prrWindow(delivered) // once RACK has marked what this ACK shows lost
		}
	}()
	// Window update (SND.UNA =< SEG.ACK =< SND.NXT; SND.WL1/WL2 rule).
	if c.sndUna.LessThanEq(ack) &&
		(c.sndWL1.LessThan(seg.Seq) || (c.sndWL1 == seg.Seq && c.sndWL2.LessThanEq(ack))) {
		opened := wnd > c.sndWnd
		c.sndWnd, c.sndWL1, c.sndWL2 = wnd, seg.Seq, ack
		c.maxSndWnd = max(c.maxSndWnd, wnd)
		if opened && !c.persistAt.IsZero() && c.sndUna == c.sndNxt {
			c.persistBackoff = 0 // the window opened: the probing ends (trySend sends)
		}
		if wnd > 0 && !c.stallSince.IsZero() && !c.persistAt.IsZero() {
			c.stallSince = now // the window opened: no longer stalled by it
		}
	}
	if advanced {
		c.expandSndBuf() // Linux's tcp_new_space: an ACK freed send space
	}
	if dup {
		c.onDupAck(now)
	}
	c.ecnAck(seg, oldUna)
	if advanced || c.sackRecovering() || c.sackProbing() || !c.ptoAllowed() {
		// RFC 8985 §7.2: restart the probe timeout on an ACK of new
		// data; stop it once recovery or a SACK took over. In SACK
		// recovery every ACK restarts it (recoveryProbe).
		c.schedulePTO(now)
	}
	return true
}

// ackNewData handles SND.UNA < SEG.ACK =< SND.NXT: free acknowledged data,
// take an RTT sample, restart or stop the retransmission timer (RFC 6298
// §5.2-5.3), and grow cwnd (RFC 5681 §3.1, RFC 6582).
func (c *Conn) ackNewData(seg *Segment, now time.Time) {
	ack := seg.Ack
	acked := int(c.sndUna.Size(ack))
	if ack.GreaterThan(c.sndBufSeq) {
		n := min(int(c.sndBufSeq.Size(ack)), c.sndBuf.Len())
		if n > 0 {
			c.sndBuf.Ack(n)
			c.sndBufSeq = c.sndBufSeq.Add(seqnum.Size(n))
			c.noteSendSpace()
		}
	}
	if c.sb.n > 0 {
		c.noteReorderedHole(ack)
	}
	c.sndUna = ack
	c.txAcked(ack, now)
	if c.sndCur.LessThan(ack) {
		c.sndCur = ack
	}
	c.sb.trim(ack)
	if c.sb.n > 0 && c.sb.r[0].start == ack {
		// The receiver acknowledged up to data it had SACKed: it reneged
		// (RFC 2018 §8), and the scoreboard is no longer to be trusted
		// (Linux's tcp_check_sack_reneging).
		c.sb.clear()
		c.txUnSACK()
	}
	// The user timeout measures time without progress.
	if c.sndUna == c.sndNxt {
		c.stallSince = time.Time{}
	} else {
		c.stallSince = now
	}
	c.eifelUndo(seg)
	rtt, sampled := c.ackRTT(seg, ack, now)
	// Deviation (Linux compat): the backoff ends with any new ACK (Linux
	// clears icsk_backoff in tcp_ack); RFC 6298 §5.7 keeps it until a
	// fresh RTT sample.
	c.backoff = 0
	if c.sndUna == c.sndNxt {
		c.rtoAt = time.Time{}
	} else if c.persistAt.IsZero() {
		c.rtoAt = now.Add(c.currentRTO())
	}
	c.onNewAck(ack, acked, rtt, sampled, now)
}

// onNewAck is congestion control for an ACK of new data.
// rtt is the ACK's RTT sample, when sampled.
func (c *Conn) onNewAck(ack seqnum.Value, acked int, rtt time.Duration, sampled bool, now time.Time) {
	if c.inRecovery {
		if ack.GreaterThanEq(c.recover) {
			c.inRecovery = false
			c.rackReset()
			c.rackRecoveryEnded()
			if !c.sackOn {
				// RFC 6582 §3.2 step 3, full acknowledgment: deflate the
				// inflated window, option (1).
				c.cc.setCwnd(min(c.cc.ssthresh(), max(c.flightSize(), c.mss)+c.mss))
			} else {
				c.cc.setCwnd(c.cc.ssthresh()) // RFC 6937 §3: cwnd = ssthresh on exit
			}
			// RFC 6675 recovery ends with cwnd = ssthresh, as it ran
			// (§5 (4.2): no inflation to take back), as Linux's
			// tcp_end_cwnd_reduction. Option (1)'s FlightSize + SMSS
			// would leave two segments after a recovery whose last ACK
			// acknowledged everything, a window a single lost ACK stalls
			// until the peer's delayed ACK or the RTO.
			c.dupAcks = 0
			return
		}
		if c.sackOn {
			// RFC 6675 §5 (B): a partial ACK only updates the scoreboard
			// and pipe; step (C) (trySend) sends what NextSeg() picks.
			// With nothing SACKed NextSeg() has no hole to offer (a peer
			// that negotiated SACK but sends no blocks): a partial ACK
			// of data not yet retransmitted (at or above HighRxt)
			// retransmits as NewReno's does (RFC 6582 §3.2 step 4).
			// A rescue retransmission (rule 4) already resent the tail of
			// this recovery, so data above HighRxt may have been resent
			// all the same: not a second time.
			c.dupAcks = 0
			if c.sb.n == 0 && !c.peerSACKs && c.sndUna.GreaterThanEq(c.highRxt) && !c.rescueSet {
				c.retransmitFirst(now)
			}
			return
		}
		// Step 4, partial acknowledgment: retransmit the first unacknowledged
		// segment, deflate by the amount acked, add back one MSS if that was
		// at least one MSS.
		c.retransmitFirst(now)
		cwnd := max(c.cc.cwnd()-acked, 0)
		if acked >= c.mss {
			cwnd += c.mss
		}
		c.cc.setCwnd(max(cwnd, c.mss))
		return
	}
	c.dupAcks = 0
	if una := c.sndUna.Sub(1); una.GreaterThan(c.recover) {
		// recover (RFC 6582 §3.2, RecoveryPoint of RFC 6675 §5) holds back
		// a new recovery, and a loss probe (RFC 8985 §7.2), only until
		// SND.UNA passes it; it follows SND.UNA from then on so that,
		// compared modulo 2^32 (RFC 9293 §3.4), it does not read as ahead
		// of SND.UNA again once 2^31 octets have been acknowledged without
		// a loss. At SND.UNA - 1 every check of it passes as before.
		c.recover = una
	}
	c.cc.onAck(ackSample{acked: acked, mss: c.mss, srtt: c.srtt, rtt: rtt, hasRTT: sampled,
		now: now, ack: ack, sndNxt: c.sndNxt, cwndLimited: c.cwndLimited()})
}

// onDupAck is RFC 5681 §3.2 fast retransmit with RFC 6582 NewReno recovery.
//
// With SACK it is RFC 6675 §5: loss recovery starts at DupThresh
// duplicate ACKs or as soon as IsLost(HighACK+1) holds (§5 (b)), with
// cwnd = ssthresh = FlightSize/2 (4.2) and no inflation: pipe governs
// what is sent (step (C), in trySend).
func (c *Conn) onDupAck(now time.Time) {
	c.dupAcks++
	switch {
	case c.inRecovery:
		if !c.sackOn {
			c.cc.setCwnd(c.cc.cwnd() + c.mss) // step 3 of RFC 5681 §3.2: inflate
		}
	case c.sackOn && (c.dupAcks >= dupThresh || c.isLost(c.sndUna)) && c.sndUna.GreaterThanEq(c.recover):
		// RFC 6675 §5 (4). Recovery ends with the cumulative ACK of
		// RecoveryPoint (HighData, the octet before our recover, which
		// is SND.NXT then), and a new one may start from there (4.1);
		// after a timeout, §5.1 asks the same: not before HighACK is
		// beyond RecoveryPoint. (As Linux: tcp_fastretrans_alert leaves
		// recovery at snd_una >= high_seq.)
		c.enterSACKRecovery(now)
	case !c.sackOn && c.dupAcks == 3 && c.sndUna.Sub(1).GreaterThanEq(c.recover):
		// RFC 6582 §3.2 step 2: enter only if the cumulative ACK covers more
		// than recover (SEG.ACK - 1 > recover is written here as >= because
		// recover starts at ISS and SND.UNA - 1 = ISS after the handshake).
		c.startUndo(now)
		c.lossReduction()
		c.recover = c.sndNxt
		c.inRecovery = true
		c.countRecovery()
		c.retransmitFirst(now)
		c.cc.setCwnd(c.cc.ssthresh() + 3*c.mss)
	}
	if !c.inRecovery && c.dupAcks < dupThresh {
		c.limitedTransmit(now)
	}
}

// enterSACKRecovery is RFC 6675 §5 (4): loss recovery starts with
// cwnd = ssthresh = FlightSize/2 and the first hole is retransmitted.
func (c *Conn) enterSACKRecovery(now time.Time) {
	c.startUndo(now)
	c.lossReduction() // (4.2), RFC 5681 eq. (4)
	c.cc.setCwnd(c.cc.ssthresh())
	c.recover = c.sndNxt // (4.1) RecoveryPoint = HighData
	c.inRecovery = true
	c.countRecovery()
	c.recoveryAt = now
	c.tlpOut, c.ptoAt = false, time.Time{} // Linux: recovery ends a probe episode (tcp_init_cwnd_reduction)
	c.rackReset()
	c.highRxt = c.sndUna
	c.rescueSet = false // RescueRxt is per recovery (RFC 6675 §4 rule 4)
	// RFC 6937 §3: PRR starts with nothing delivered or sent, from the
	// flight at the start of recovery.
	c.prrDelivered, c.prrOut, c.recoverFS = 0, 0, c.flightSize()
	c.retransmitFirst(now) // (4.3), sets HighRxt
	// (4.4)-(4.5): SetPipe and step (C) run in trySend after the ACK.
}

// limitedTransmit sends new data on the first duplicate ACKs, before
// DupThresh is reached, so that a small flight can still produce enough
// duplicate ACKs for fast retransmit instead of waiting for the RTO.
// With SACK it is RFC 6675 §5 step (1)-(2): HighRxt = HighACK (1.1), and
// while cwnd - pipe >= 1 SMSS send up to SMSS of previously unsent data
// (1.2)-(1.3), the receive window permitting. Without SACK it is RFC 3042
// §2 (RFC 5681 §3.2 "SHOULD"): new data may be sent on the first two
// duplicate ACKs as long as FlightSize stays within cwnd + 2·SMSS; cwnd
// itself is not changed.
func (c *Conn) limitedTransmit(now time.Time) {
	if !c.sendingState() || c.sndCur != c.sndNxt {
		return // nothing new to send after a timeout's go-back-N
	}
	if c.sackOn {
		c.highRxt = c.sndUna
	}
	if !c.sackOn {
		// One segment per duplicate ACK: FlightSize <= cwnd + DupAcks·SMSS.
		if room := c.cc.cwnd() + c.dupAcks*c.mss - c.flightSize(); room >= c.mss {
			c.sendNext(now, room)
		}
		return
	}
	for range 2 * dupThresh {
		if room := c.cc.cwnd() - c.pipe(); room < c.mss || !c.sendNext(now, room) {
			return
		}
	}
}

// ackFloor is SND.UNA - MAX.SND.WND: an ACK older than that is
// unacceptable (RFC 5961 §5.2).
func (c *Conn) ackFloor() seqnum.Value { return c.sndUna.Sub(seqnum.Size(c.maxSndWnd)) }

// timeWaitInput is SEGMENT ARRIVES in TIME-WAIT: timeWaitSegment decides,
// as for a TimeWait; the Conn sends through emit, so a CE mark on the
// segment (ecnInput) is echoed as in the other states. The keep-alive
// clock and trySend of the other states have nothing to do here:
// keep-alive is off (keepAliveState) and nothing is sent (sendingState).
func (c *Conn) timeWaitInput(seg *Segment, now time.Time) {
	act := c.timeWaitSegment(seg, now, c.sndNxt, c.ackFloor())
	if act&twRestart != 0 {
		c.closeAt = now.Add(c.cfg.TimeWait)
	}
	if act&twClose != 0 {
		c.resetByPeer()
		return
	}
	if act&twACK != 0 {
		c.sendAck(now)
	}
	if act&twAccepted != 0 {
		c.ecnInput(seg)
		if c.ackPending && c.delackAt.IsZero() {
			c.sendAck(now)
		}
	}
}

// enterTimeWait enters TIME-WAIT: every other timer stops and the 2·MSL
// timer starts (RFC 9293 §3.10.7.4).
func (c *Conn) enterTimeWait(now time.Time) {
	c.setState(StateTimeWait)
	c.rtoAt, c.persistAt, c.delackAt, c.ptoAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	c.rackAt = time.Time{}
	c.keepAt, c.stallSince = time.Time{}, time.Time{}
	c.closeAt = now.Add(c.cfg.TimeWait)
}

// processText is §3.10.7.4 seventh (segment text) and eighth (FIN) for an
// acceptable segment whose first payload byte is at seq. It only decides
// about the ACK; the caller sends it.
func (c *Conn) processText(seg *Segment, seq seqnum.Value, now time.Time, batched bool) {
	p := seg.Payload
	fin := seg.Flags&FlagFIN != 0
	finAt := seq.Add(seqnum.Size(len(p)))
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
	case StateCloseWait, StateClosing, StateLastAck:
		// "This should not occur, since a FIN has been received from the
		// remote side. Ignore the segment text"; a FIN again is ACKed.
		// (TIME-WAIT: timeWaitSegment.)
		if fin || len(p) > 0 {
			c.ackPending = true
		}
		return
	default:
		return
	}
	// Trim what lies before RCV.NXT (already received) ...
	if seq.LessThan(c.rcvNxt) {
		d := int(seq.Size(c.rcvNxt))
		if d > len(p) {
			d = len(p)
		}
		// RFC 2883 §4.1.1: the duplicated part is reported (as Linux's
		// tcp_data_queue, tcp_dsack_set(seq, rcv_nxt)).
		c.noteDSACK(seq, seq.Add(seqnum.Size(d)))
		p = p[d:]
		seq = seq.Add(seqnum.Size(d))
	}
	// ... and after the advertised right edge (RFC 9293 §3.10.7.4 first: "
	// segments with higher beginning sequence numbers ... should be held for
	// later processing"; the part beyond the window is not ours to keep).
	trimmed := false
	if room := int(seq.Size(seqnum.Max(c.rcvAdvRight, seq))); len(p) > room {
		p = p[:room]
		fin = false
		trimmed = true
	}
	if len(p) > 0 && c.userClosed {
		// Deviation (Linux compat): nobody will read this; Linux resets
		// (tcp_rcv_state_process, "data after close").
		c.sendRST(now, c.sndNxt, true)
		c.drop(syscall.ECONNRESET)
		return
	}
	off := int(c.rcvNxt.Size(seq))
	if len(p) > 0 {
		c.rcvMSS = max(c.rcvMSS, min(segSize(seg, len(p)), c.cfg.MSS))
		hadOOO := c.rcvBuf.OutOfOrderBytes() > 0
		adv, stored := c.rcvBuf.Insert(off, p)
		held := !stored && off > 0 && c.heldOutOfOrder(off, len(p))
		if c.sackOn && off > 0 {
			if held {
				// RFC 2883 §4.1.2: a duplicate of held out-of-order data;
				// the range holding it becomes the next block.
				c.noteDSACK(seq, seq.Add(seqnum.Size(len(p))))
			}
			c.noteSACKRecent(seq)
		}
		if k := c.cfg.Counters; k != nil {
			switch {
			case off > 0 && !stored && !held:
				k.OutOfOrderDrops++ // range, byte or memory limit
			case off == 0 && adv < len(p):
				k.RecvQueueDrops++ // the ring could not grow
			}
		}
		if adv > 0 {
			c.rcvNxt = c.rcvNxt.Add(seqnum.Size(adv))
			c.bytesReceived += uint64(adv)
			c.events |= EventReadable
		}
		switch {
		case off > 0 || hadOOO || adv < len(p) || trimmed || c.hasDSACK:
			// Out of order, filling a hole, not (all) stored, or cut at the
			// window's edge: ACK at once (RFC 5681 §4.2, §3.2: a duplicate
			// ACK for out-of-order data; the sender must learn at once
			// that the window is full; a D-SACK report, RFC 2883, is
			// news of a spurious retransmission worth sending now).
			c.ackPending = true
			c.delackAt = time.Time{}
			if off > 0 && stored && fin && finAt.LessThanEq(c.rcvNxt.Add(seqnum.Size(c.rcvBuf.Window()))) {
				c.oooFin, c.oooFinSeq = true, finAt
			}
		default:
			c.rcvUnacked += adv
			if seg.GSOSize > 0 && adv > seg.GSOSize {
				// A super-segment (GRO, Segment.GSOSize) stands for
				// ceil(len/GSOSize) ≥ 2 segments: it owes the ACK of RFC
				// 5681 §4.2's "every second full-sized segment" even when
				// its last segment is short, as Linux ACKs a GRO packet
				// by the segments it carries.
				c.rcvUnacked = max(c.rcvUnacked, 2*c.rcvMSS)
			}
			c.delayAck(now, batched)
		}
	} else if fin && off > 0 {
		c.ackPending = true
		c.oooFin, c.oooFinSeq = true, finAt
	}
	// Eighth: the FIN, once everything before it has arrived.
	if (fin && finAt == c.rcvNxt) || (c.oooFin && c.oooFinSeq == c.rcvNxt) {
		c.processFin(now)
	}
}

// segSize is the size of the segments seg stands for, whose payload is n
// bytes: its GSOSize if it is a super-segment, else n. Linux measures the
// peer's segment size the same way (tcp_measure_rcv_mss takes gso_size),
// so a 64 KiB super-segment does not make "full-sized" mean 64 KiB, nor
// the local MSS when the peer's segments are smaller (timestamps).
func segSize(seg *Segment, n int) int {
	if seg.GSOSize > 0 {
		return seg.GSOSize
	}
	return n
}

// delayAck schedules the ACK for in-order data: at once for every second
// full-sized segment, otherwise within DelayedACK (RFC 1122 §4.2.3.2,
// RFC 5681 §4.2).
func (c *Conn) delayAck(now time.Time, batched bool) {
	c.ackPending = true
	if c.rcvUnacked >= 2*c.rcvMSS {
		if batched {
			// Deviation (Linux compat, GRO): within a batch of segments the
			// device delivered together, the every-second-segment ACK waits
			// for the batch's end, so one ACK covers the run, as Linux ACKs
			// a GRO super-packet once. FlushACK sends it; the delayed-ACK
			// timer stays armed as a backstop. Out-of-order and window ACKs
			// are never deferred, so duplicate ACKs are unchanged.
			c.ackAtFlush = true
			if c.delackAt.IsZero() {
				c.delackAt = now.Add(c.cfg.DelayedACK)
			}
			return
		}
		c.delackAt = time.Time{}
		return
	}
	if c.delackAt.IsZero() {
		c.delackAt = now.Add(c.cfg.DelayedACK)
	}
}

// processFin is §3.10.7.4 eighth: advance RCV.NXT over the FIN, ACK it, and
// move on.
func (c *Conn) processFin(now time.Time) {
	c.rcvNxt = c.rcvNxt.Add(1)
	c.finRcvd, c.oooFin = true, false
	c.events |= EventReadable
	c.ackPending = true
	c.delackAt = time.Time{}
	switch c.state {
	case StateEstablished:
		c.setState(StateCloseWait)
	case StateFinWait1:
		if c.finAcked() {
			c.enterTimeWait(now)
		} else {
			c.setState(StateClosing)
		}
	case StateFinWait2:
		c.enterTimeWait(now)
	}
}

// afterRead sends a window update when reading opened the window by at least
// min(RcvBuf/2, MSS) (RFC 1122 §4.2.3.3; RFC 9293 §3.8.6.2.2).
func (c *Conn) afterRead(now time.Time) {
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
	default:
		return // the peer sends nothing more
	}
	// Deviation (Linux compat, tcp_cleanup_rbuf): a read sends a window
	// update only when the window the peer knows has fallen to half the
	// largest we could offer and the update at least doubles it (a closed
	// window always reopens at once, RFC 9293 §3.8.6.2.2); otherwise the
	// next ACK carries the new window. Updating on every MSS read cost a
	// segment per application read.
	cur := c.advertisedWnd()
	largest := min(c.rcvBuf.Cap(), 0xffff<<c.rcvWScale)
	if w := c.selectWnd(); w > cur && 2*cur <= largest && w >= 2*cur {
		c.sendAck(now)
	}
}

// defaultPeerMSS is the send MSS assumed for a peer whose SYN has no MSS
// option (RFC 9293 §3.7.1, MUST-15): DefaultPeerMSS over IPv4,
// DefaultPeerMSS6 over IPv6 (the stack keys IPv4 peers by 4-octet
// addresses).
func defaultPeerMSS(remote netip.AddrPort) int {
	if a := remote.Addr(); a.Is6() && !a.Is4In6() {
		return DefaultPeerMSS6
	}
	return DefaultPeerMSS
}
