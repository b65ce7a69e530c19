package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// emit sends one segment through Output. Every segment but the initial SYN
// and some RSTs carries ACK (RFC 9293 §3.10.7.4: "once in the ESTABLISHED
// state, all segments must carry current acknowledgment information"); an ACK
// sent now satisfies any pending delayed ACK.
func (c *Conn) emit(now time.Time, seq seqnum.Value, flags Flags, opts *Options, p1, p2 []byte) {
	seg := &c.tx
	*seg = Segment{SrcPort: c.local.Port(), DstPort: c.remote.Port(), Seq: seq, Flags: flags}
	if opts != nil {
		seg.Options = *opts
	}
	switch {
	case flags&FlagRST != 0:
		// Window 0, as Linux's RSTs.
	case flags&FlagSYN != 0:
		seg.Window = uint16(c.synWnd) // never scaled (RFC 7323 §2.2)
	default:
		seg.Window = c.windowField()
	}
	if flags&FlagACK != 0 {
		seg.Ack = c.rcvNxt
		if flags&FlagRST == 0 {
			c.ackSent()
			c.rcvUnacked = 0
			c.delackAt = time.Time{}
		}
	}
	if c.tsOn || (flags&FlagSYN != 0 && c.tsOffered) {
		// RFC 7323 §3.2: once negotiated, TSopt "MUST be sent in every
		// non-<RST> segment ... and SHOULD be sent in an <RST> segment"
		// (Linux's active resets carry it). TSecr is TS.Recent, zero
		// without ACK ("the sender of that segment SHOULD set the TSecr
		// field to zero").
		seg.Options.HasTimestamp = true
		seg.Options.TSVal = c.tsVal(now)
		if flags&FlagACK != 0 {
			seg.Options.TSEcr = c.tsRecent
		}
	}
	if n, mss := len(p1)+len(p2), c.sendMSS(); n > mss {
		// A segment of several MSS (tso.go): the stack or the device
		// cuts it into segments of the MSS this one's options leave
		// (taken before fillSACK reports, and forgets, a D-SACK).
		seg.GSOSize = mss
	}
	if c.sackOn && flags&(FlagACK|FlagSYN|FlagRST) == FlagACK {
		// RFC 2018 §4: SACK blocks on every ACK while out-of-order data
		// is held; RFC 2883: a D-SACK block for a duplicate.
		c.fillSACK(&seg.Options)
	}
	c.ecnMark(seg, len(p1)+len(p2))
	c.out.SendSegment(c.local, c.remote, seg, p1, p2)
}

// synOptions returns the options of our SYN or SYN-ACK: MSS always
// (RFC 9293 §3.7.1), Window Scale if we offer it (RFC 7323 §2.2: on a SYN-ACK
// only when the SYN carried one). The MSS we advertise is the full one:
// RFC 9293 §3.7.1 (and RFC 6691) says it excludes TCP options.
func (c *Conn) synOptions() Options {
	o := Options{MSS: uint16(c.cfg.MSS), SACKPermitted: c.sackOffered}
	if c.wsOffered {
		o.HasWScale, o.WScale = true, c.rcvWScale
	}
	// Timestamps (RFC 7323 §3.2): on a SYN if we offer them, on a SYN-ACK
	// only when the SYN had them; emit fills in the values.
	return o
}

// sendSyn sends our SYN (<SEQ=ISS><CTL=SYN>) or SYN-ACK
// (<SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>).
func (c *Conn) sendSyn(now time.Time, ack bool) {
	c.synWnd = min(c.rcvBuf.Window(), 0xffff)
	if ack {
		if r := c.rcvNxt.Add(seqnum.Size(c.synWnd)); r.GreaterThan(c.rcvAdvRight) {
			c.rcvAdvRight = r
		}
	}
	o := c.synOptions()
	flags := FlagSYN
	if ack {
		flags |= FlagACK
	}
	c.emit(now, c.iss, flags, &o, nil, nil)
}

// sendAck sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>: the reply to an
// unacceptable segment, a challenge ACK (RFC 5961), a window update or a
// (delayed) acknowledgment.
//
// SND.NXT is the RFC's, the highest sequence number sent (our sndNxt): after
// a retransmission timeout rewinds the send cursor, a pure ACK carrying the rewound
// value would fall before the peer's RCV.NXT, be unacceptable there and
// draw an ACK in reply, and so on. As BSD's tcp_output, only a zero-window
// probe episode keeps sndCur (so that the ACK does not step over the probe).
func (c *Conn) sendAck(now time.Time) {
	seq := c.sndNxt
	if !c.persistAt.IsZero() {
		seq = c.sndCur
	}
	c.emit(now, seq, FlagACK, nil, nil, nil)
}

// challengeACK sends an RFC 5961 challenge ACK unless the rate limit of
// §7 holds it back (challengeAllowed).
func (c *Conn) challengeACK(now time.Time) {
	if c.challengeAllowed(now) {
		c.sendAck(now)
	}
}

// sendRST sends <SEQ=seq><CTL=RST>, with ACK=RCV.NXT if withAck.
func (c *Conn) sendRST(now time.Time, seq seqnum.Value, withAck bool) {
	flags := FlagRST
	if withAck {
		flags |= FlagACK
	}
	c.emit(now, seq, flags, nil, nil, nil)
}

// wndAvail is what offerWnd weighs: the window the receive buffer could
// offer, capped by what the scale can express, and the receiver SWS
// avoidance step, min(RcvBuf/2, MSS) (RFC 1122 §4.2.3.3).
func (c *Conn) wndAvail() (avail, step int) {
	return min(c.rcvBuf.Window(), 0xffff<<c.rcvWScale), max(min(c.rcvBuf.Cap()/2, c.mss), 1)
}

// selectWnd is the window to offer now (offerWnd).
func (c *Conn) selectWnd() int { return c.offerWnd(c.wndAvail()) }

// windowField returns the window field for a non-SYN segment and records
// the advertised right edge (windowFieldFor).
func (c *Conn) windowField() uint16 { return c.windowFieldFor(c.wndAvail()) }

// sendingState reports whether data and FIN may be sent in this state.
func (c *Conn) sendingState() bool {
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
		return true
	}
	return false
}

// finSent reports whether the FIN has been sent (SND.NXT is past it).
func (c *Conn) finSent() bool {
	return c.finQueued && c.sndNxt.GreaterThan(c.finSeq)
}

// finAcked reports whether our FIN is acknowledged.
func (c *Conn) finAcked() bool {
	return c.finQueued && c.sndUna.GreaterThan(c.finSeq)
}

// dataEnd is the sequence number just past the queued data.
func (s *sendState) dataEnd() seqnum.Value {
	return s.sndBufSeq.Add(seqnum.Size(s.sndBuf.Len()))
}

// unsentData returns the queued bytes from the send cursor on.
func (c *Conn) unsentData() int {
	end := c.dataEnd()
	if c.sndCur.LessThan(end) {
		return int(c.sndCur.Size(end))
	}
	return 0
}

// trySend sends what the send window (min(SND.WND, cwnd) less what is in
// flight, RFC 5681 §3.1), Nagle and sender SWS avoidance allow, then a FIN
// once all data is sent (riding on the last data segment when it can). If
// data is left waiting with nothing in flight, the persist timer takes over
// (RFC 9293 §3.8.6.1).
func (c *Conn) trySend(now time.Time) {
	c.paceDelivery(now)
	if !c.sendingState() {
		return
	}
	if c.sackRecovering() {
		if c.sackSend(now) {
			c.schedulePTO(now) // recoveryProbe: from the last transmission
		}
	} else {
		c.restartAfterIdle(now)
		for c.paceOK(now) && c.sendNext(now, -1) {
		}
	}
	if c.unsentData() > 0 && c.rtoAt.IsZero() && c.persistAt.IsZero() {
		c.armPersist(now)
	}
	c.cwndValidate()
}

// inFlight is what cwnd limits: RFC 6675's pipe in SACK recovery, else
// the octets from SND.UNA to the send cursor (a go-back-N after a timeout
// counts only what it resent, as Linux's packets in flight count the rest
// lost).
func (c *Conn) inFlight() int {
	if c.sackRecovering() {
		return c.pipe()
	}
	return int(c.sndUna.Size(c.sndCur))
}

// cwndValidate records, after each attempt to send, whether cwnd held the
// sender back, for cwndLimited (Linux's tcp_cwnd_validate): the record is
// kept for a window of data (until SND.UNA passes cwndUsageSeq) unless a
// later attempt is limited or sends more.
func (c *Conn) cwndValidate() {
	// In segments, as Linux counts: less than an MSS of cwnd left is none
	// (what is left would be a segment SWS avoidance holds back).
	flight := c.inFlight()
	limited := flight+c.mss > c.cc.cwnd()
	if !c.sndUna.LessThan(c.cwndUsageSeq) || limited || (!c.isCwndLimited && flight > c.maxFlight) {
		c.isCwndLimited = limited
		c.maxFlight = flight
		c.cwndUsageSeq = c.sndNxt
	}
}

// cwndLimited reports whether the sender used its window in the last
// window of data (Linux's tcp_is_cwnd_limited): RFC 9438 §5.8 and RFC 7661
// grow cwnd only then, so that an application-limited flow does not build
// a window it never tested. In slow start cwnd may grow to twice what was
// in flight.
func (c *Conn) cwndLimited() bool {
	if c.isCwndLimited {
		return true
	}
	return c.cc.cwnd() < c.cc.ssthresh() && c.cc.cwnd() < 2*c.maxFlight
}

// restartAfterIdle is the congestion window restart of RFC 5681 §4.1: a
// sender that has sent no data for more than an RTO and has nothing in
// flight no longer knows the path's state, and must not burst a large
// window into it. The algorithm restarts its window (restartWindow has
// how, as Linux does it).
func (c *Conn) restartAfterIdle(now time.Time) {
	if c.lastDataSent.IsZero() || c.sndUna != c.sndNxt || c.unsentData() == 0 {
		return
	}
	rto := c.currentRTO()
	idle := now.Sub(c.lastDataSent)
	if idle <= rto {
		return
	}
	c.cc.onIdleRestart(idle, rto, c.initialWindow())
	c.lastDataSent = now // once per idle period
}

// sendNext sends the next new segment (and the FIN) if the windows, Nagle
// and SWS avoidance allow, and reports whether it sent one. room, when not
// negative, replaces cwnd less the flight as the congestion limit
// (cwnd - pipe in RFC 6675 loss recovery).
func (c *Conn) sendNext(now time.Time, room int) bool {
	if c.finQueued && c.sndCur.GreaterThan(c.finSeq) {
		return false // everything, FIN included, is out
	}
	sackedAt := -1 // octets before the next SACKed range, when resending
	if c.sndCur.LessThan(c.sndNxt) && c.sb.n > 0 {
		sackedAt = c.skipSACKed()
	}
	unsent := c.unsentData()
	usable := 0
	lim := min(c.sndWnd, c.cc.cwnd())
	if room >= 0 {
		lim = c.sndWnd
	}
	if wndEnd := c.sndUna.Add(seqnum.Size(lim)); c.sndCur.LessThan(wndEnd) {
		usable = int(c.sndCur.Size(wndEnd))
	}
	if room >= 0 {
		usable = min(usable, room)
	}
	mss := c.sendMSS()
	n := min(unsent, usable, c.sizeGoal(mss))
	if sackedAt >= 0 {
		n = min(n, sackedAt)
	}
	if n > mss && c.sndCur.Add(seqnum.Size(n)).GreaterThan(c.sndNxt) {
		n = c.tsoTrim(n, unsent, mss) // new data: the tail may wait
	}
	// The FIN takes no window (BSD's tcp_output sends it regardless; a
	// Linux receiver accepts a bare FIN at RCV.NXT in a zero window).
	fin := c.finQueued && n == unsent
	if n == 0 && !fin {
		return false
	}
	// Nagle and SWS avoidance are for new data: a go-back-N
	// retransmission goes as it is, also when a SACKed range cuts it
	// short (Linux resends the segments it sent).
	resend := c.sndCur.Add(seqnum.Size(n)).LessThanEq(c.sndNxt)
	if n > 0 && !resend && !c.sendAllowed(n, unsent, mss) {
		return false
	}
	c.sendData(c.sndCur, n, fin, now)
	return true
}

// skipSACKed moves the send cursor, in a go-back-N after an RTO, past SACKed data
// it has reached (Linux's CA_Loss retransmits only what is not SACKed),
// and returns the octets from there to the next SACKed range, or -1 if
// none is above. A range may end at SND.NXT, covering our FIN: the
// receiver holds it as it holds the data, and takes it in order once the
// holes below are filled.
func (c *Conn) skipSACKed() int {
	for _, g := range c.sb.r[:c.sb.n] {
		if c.sndCur.LessThan(g.start) {
			return int(c.sndCur.Size(g.start))
		}
		if c.sndCur.LessThan(g.end) {
			c.sndCur = g.end
		}
	}
	return -1
}

// prrWindow is Proportional Rate Reduction (RFC 6937 §3) on an ACK during
// SACK recovery: how much may be sent now, as cwnd = pipe + sndcnt, so
// that RFC 6675's cwnd − pipe in sackSend is PRR's sndcnt. While pipe is
// above ssthresh, sending follows what is delivered in the proportion
// ssthresh/RecoverFS; once it is at or below, slow start toward ssthresh
// is bounded by what was delivered plus one SMSS (PRR-SSRB, as Linux).
// Unlike RFC 6675's cwnd = ssthresh at entry, this keeps data going out
// from the first ACK of a recovery, so that one lost ACK at its end does
// not leave nothing in flight but a retransmission.
// delivered is the ACK's DeliveredData.
func (c *Conn) prrWindow(delivered int) {
	pipe, ssthresh := c.pipe(), c.cc.ssthresh()
	var sndcnt int
	if pipe > ssthresh {
		rfs := max(c.recoverFS, 1)
		sndcnt = (c.prrDelivered*ssthresh+rfs-1)/rfs - c.prrOut
	} else {
		limit := max(c.prrDelivered-c.prrOut, delivered) + c.mss
		sndcnt = min(ssthresh-pipe, limit)
	}
	c.cc.setCwnd(pipe + max(sndcnt, 0))
}

// sackSend is step (C) of RFC 6675 §5 during loss recovery: while
// cwnd - pipe >= 1 SMSS, send what NextSeg() returns: a lost hole (rule
// 1), else new data (rule 2), else a hole not yet deemed lost (rule 3),
// else, once per recovery, the rescue retransmission (rule 4).
func (c *Conn) sackSend(now time.Time) (sent bool) {
	for range 4 * sackBoardSize * 64 { // each pass sends a segment; bounded anyway
		room := c.cc.cwnd() - c.pipe()
		if room < c.mss || !c.paceOK(now) || !c.sackSendOne(now, room) {
			return sent
		}
		sent = true
	}
	return sent
}

// sackSendOne sends the one segment NextSeg() picks, if any, with room
// octets of cwnd − pipe.
func (c *Conn) sackSendOne(now time.Time, room int) bool {
	if c.rackRetransmit(now, room) { // deemed lost by RACK (RFC 8985 §6.2)
		return true
	}
	// A hole may go as one segment of several MSS (tso.go), as much of
	// it as cwnd − pipe holds in whole segments.
	mss := c.sendMSS()
	seq, n, lost, ok := c.nextHole(max(min(c.sizeGoal(mss), room-room%mss), mss))
	if ok && lost {
		c.retransmitHole(seq, n, now) // rule (1)
		return true
	}
	if c.sendNext(now, room) { // rule (2)
		return true
	}
	if ok {
		c.retransmitHole(seq, n, now) // rule (3)
		return true
	}
	return c.rescueRetransmit(now) // rule (4)
}

// sendAllowed applies Nagle (RFC 9293 §3.7.4, RFC 1122 §4.2.3.4) and sender
// SWS avoidance (RFC 1122 §4.2.3.4) to a segment of n bytes out of unsent.
//
// Deviation (Linux compat): Nagle is Minshall's variant, as in Linux
// (tcp_minshall_check): a short segment is held only while an earlier short
// segment is unacknowledged, not while any data is. So the tail of a large
// write goes out at once, and request/response exchanges do not stall on the
// peer's delayed ACK.
func (c *Conn) sendAllowed(n, unsent, mss int) bool {
	if n >= mss {
		return true // a full-sized segment
	}
	nagleOK := c.cfg.NoDelay || !(c.sndSml.GreaterThan(c.sndUna) && c.sndSml.LessThanEq(c.sndNxt))
	if n == unsent {
		// All the queued data (Linux pushes every write). Deviation (Linux
		// compat): Nagle does not hold the last segment before a FIN
		// (tcp_send_fin pushes with Nagle off).
		return nagleOK || c.finQueued
	}
	// Window-limited: send if at least half the largest window the peer
	// offered fits (RFC 1122 §4.2.3.4 (c), Fs = 1/2), Nagle permitting.
	return nagleOK && c.maxSndWnd > 0 && n >= c.maxSndWnd/2
}

// sendData sends n bytes from seq (and the FIN after them if fin), advancing
// the send cursor and SND.NXT. It arms the retransmission timer (RFC 6298 §5.1), times the
// segment if it is new and nothing else is timed (RFC 6298 §3, Karn), and
// counts retransmitted segments.
func (c *Conn) sendData(seq seqnum.Value, n int, fin bool, now time.Time) {
	// Minshall's short segment: one whose payload is not whole MSSs
	// (Linux's tcp_minshall_update: len < pcount × mss), taken before
	// transmit reports (and clears) a D-SACK.
	short := n > 0 && n%c.sendMSS() != 0
	c.transmit(now, seq, n, fin)
	c.lastDataSent = now
	end := seq.Add(seqnum.Size(n))
	if fin {
		end = end.Add(1)
	}
	if seq.LessThan(c.sndNxt) {
		c.countRetransmit(n)
		if c.rttTiming && seq.LessThan(c.rttSeq) {
			c.rttTiming = false // Karn: this segment's ACK would be ambiguous
		}
	}
	newData := end.GreaterThan(c.sndNxt)
	if newData {
		if seq.GreaterThanEq(c.sndNxt) && !c.rttTiming {
			c.startRTT(end, now)
		}
		if dEnd := seq.Add(seqnum.Size(n)); dEnd.GreaterThan(c.sndNxt) {
			c.bytesSent += uint64(seqnum.Max(seq, c.sndNxt).Size(dEnd))
		}
		c.txSentNew(seq, end, now)
		c.sndNxt = end
		c.lastSegSeq = seq
	}
	c.sndCur = end
	if short {
		c.sndSml = end // Minshall: the end of the last short segment
	}
	if c.rtoAt.IsZero() {
		c.rtoAt = now.Add(c.currentRTO())
	}
	if c.stallSince.IsZero() {
		c.stallSince = now // the user timeout counts from here
	}
	c.persistAt = time.Time{}
	c.persistBackoff = 0
	if newData {
		c.schedulePTO(now) // RFC 8985 §7.2: after transmitting new data
	}
}

// transmit builds and sends one data/FIN segment at seq without touching
// the send variables. PSH goes on the segment that empties the buffer (as
// Linux: the end of a write burst).
func (c *Conn) transmit(now time.Time, seq seqnum.Value, n int, fin bool) {
	if c.sackRecovering() {
		c.prrOut += n // RFC 6937 §3: prr_out, all data sent in recovery
	}
	if end := seq.Add(seqnum.Size(n)); fin {
		c.txSent(seq, end.Add(1), now)
	} else {
		c.txSent(seq, end, now)
	}
	c.paced(n, now)
	flags := FlagACK
	var p1, p2 []byte
	if n > 0 {
		off := int(c.sndBufSeq.Size(seq))
		p1, p2 = c.sndBuf.Peek(off, n)
		if off+n == c.sndBuf.Len() {
			flags |= FlagPSH
		}
	}
	if fin {
		flags |= FlagFIN
	}
	c.emit(now, seq, flags, nil, p1, p2)
}

// retransmitFirst resends the first unacknowledged segment (fast retransmit,
// RFC 5681 §3.2; a NewReno partial ACK, RFC 6582 §3.2 step 4) without moving
// the send cursor.
func (c *Conn) retransmitFirst(now time.Time) {
	seq := c.sndUna
	n := 0
	if end := seqnum.Min(c.sndNxt, c.dataEnd()); seq.LessThan(end) {
		n = min(int(seq.Size(end)), c.sendMSS())
	}
	if c.sackOn && c.sb.n > 0 {
		// Not into SACKed data (RFC 6675 §4 NextSeg (1): the octets
		// resent are the hole's; Linux resends the lost segment and never
		// collapses a SACKed one into it, tcp_can_collapse).
		n = min(n, int(seq.Size(c.sb.r[0].start)))
	}
	fin := c.finSent() && seq.Add(seqnum.Size(n)) == c.finSeq
	if n == 0 && !fin {
		return
	}
	c.transmit(now, seq, n, fin)
	c.countRetransmit(n)
	c.rttTiming = false
	end := seq.Add(seqnum.Size(n))
	if fin {
		end = end.Add(1)
	}
	c.highRxt = seqnum.Max(c.highRxt, end) // HighRxt (RFC 6675 §5 (4.3))
	if c.rtoAt.IsZero() {
		c.rtoAt = now.Add(c.currentRTO())
	}
}
