package tcp

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// TimeWait is a connection in TIME-WAIT (RFC 9293 §3.10.7.4, §3.6.1)
// reduced to what that state needs: the four-tuple, SND.NXT and RCV.NXT,
// the window it advertises, its timestamp state (RFC 7323), the rate limit
// of its replies to invalid segments (RFC 5961 §7) and the end of 2·MSL.
// It holds no buffers, no congestion or retransmission state and no copy
// of the Config: a few hundred bytes where a Conn takes kilobytes, so that
// tens of thousands of short connections closed by this end cost little
// (Linux's inet_timewait_sock plays the same part).
//
// A TimeWait answers every segment exactly as the Conn it was made from
// would in TIME-WAIT: both take the receive side's ackState and decide
// with the same timeWaitSegment (TestTimeWait_EquivalentToConn checks the
// whole, replies included): a
// retransmitted FIN is ACKed again and restarts the 2·MSL timer (MUST-13),
// an acceptable RST ends it (RFC 9293 §3.10.7.4 second, as Linux's default
// tcp_rfc1337=0), other segments draw an ACK subject to PAWS (RFC 7323
// §5.3) and the rate limit, and a SYN draws a challenge ACK (RFC 5961
// §4.2) unless AcceptsNewSYN lets it open a new incarnation.
//
// Like a Conn it is sans-IO and not safe for concurrent use: HandleSegment
// returns its reply instead of sending it, and the caller asks NextDeadline
// when to call HandleTimer.
type TimeWait struct {
	ackState // copied from the Conn: RCV.NXT, the window, TS.Recent, the rate limit

	local, remote netip.AddrPort

	closeAt  relTime // the end of 2·MSL
	tsEpoch  relTime // our TS clock reads tsOffset at tsEpoch
	timeWait time.Duration

	// The transfer's totals, for Info.
	bytesSent, bytesReceived, retransmits uint64

	held *[maxSACKBlocks]SACKBlock // SACK blocks for out-of-order data held when TIME-WAIT began; nil when none

	sndNxt   seqnum.Value // SND.NXT as sent (everything is acknowledged: SND.UNA = SND.NXT)
	ackFloor seqnum.Value // SND.UNA - MAX.SND.WND: older ACKs are unacceptable (RFC 5961 §5.2)
	tsOffset uint32
	wndAvail int32 // the window the receive buffer could offer, capped by the scale
	wndStep  int32 // receiver SWS avoidance step (RFC 9293 §3.8.6.2.2)
	heldN    uint8
	closed   bool
}

// TimeWait returns the compact form of c, which must be in TIME-WAIT, nil
// otherwise. c itself is left as it is; the caller drops it and uses the
// TimeWait instead. Anything the application has not read is discarded.
func (c *Conn) TimeWait() *TimeWait {
	if c.state != StateTimeWait {
		return nil
	}
	avail, step := c.wndAvail()
	tw := &TimeWait{
		ackState:      c.ackState,
		local:         c.local,
		remote:        c.remote,
		timeWait:      c.cfg.TimeWait,
		bytesSent:     c.bytesSent,
		bytesReceived: c.bytesReceived,
		retransmits:   c.retransmits,
		sndNxt:        c.sndNxt,
		ackFloor:      c.ackFloor(),
		tsOffset:      c.tsOffset,
		wndAvail:      int32(avail),
		wndStep:       int32(step),
	}
	tw.own = nil // the Conn's Info counts stay with the Conn
	tw.closeAt = tw.rel(c.closeAt)
	tw.tsEpoch = tw.rel(c.tsEpoch)
	if c.sackOn && c.rcvBuf.OutOfOrderBytes() > 0 {
		// Data held beyond a hole (a peer that sent past its own FIN):
		// every ACK keeps reporting it (RFC 2018 §4). The blocks cannot
		// change any more, so they are computed once, without the D-SACK
		// block fillSACK puts first and then forgets.
		var o Options
		d, hd := c.dsack, c.hasDSACK
		c.hasDSACK = false
		c.fillSACK(&o)
		c.dsack, c.hasDSACK = d, hd
		if o.NumSACK > 0 {
			tw.held = new([maxSACKBlocks]SACKBlock)
			tw.heldN = uint8(copy(tw.held[:], o.SACK[:o.NumSACK]))
		}
	}
	return tw
}

// LocalAddr returns our address and port.
func (tw *TimeWait) LocalAddr() netip.AddrPort { return tw.local }

// RemoteAddr returns the peer's address and port.
func (tw *TimeWait) RemoteAddr() netip.AddrPort { return tw.remote }

// State returns TIME-WAIT, or CLOSED once a RST or the timer ended it.
func (tw *TimeWait) State() State {
	if tw.closed {
		return StateClosed
	}
	return StateTimeWait
}

// Info returns a snapshot for the status page: the state, the receive
// window, the transfer's byte and retransmission totals and what was
// negotiated. The RTT estimate, congestion state and the counters of
// invalid segments are not kept (the stack-wide Counters still count).
func (tw *TimeWait) Info() Info {
	return Info{
		State:         tw.State(),
		RcvWnd:        tw.advertisedWnd(),
		BytesSent:     tw.bytesSent,
		BytesReceived: tw.bytesReceived,
		Retransmits:   tw.retransmits,
		Timestamps:    tw.tsOn,
		SACK:          tw.sackOn,
		Timer:         "timewait",
	}
}

// NextDeadline returns the end of 2·MSL; false once closed.
func (tw *TimeWait) NextDeadline() (time.Time, bool) {
	if tw.closed {
		return time.Time{}, false
	}
	return tw.abs(tw.closeAt), true
}

// HandleTimer ends TIME-WAIT when 2·MSL has passed (RFC 9293 §3.10.8:
// "delete the TCB, enter the CLOSED state") and reports whether it is
// over.
func (tw *TimeWait) HandleTimer(now time.Time) (closed bool) {
	if !tw.closed && due(tw.abs(tw.closeAt), now) {
		tw.closed = true
	}
	return tw.closed
}

// NextISSFloor is Conn.NextISSFloor: the lowest ISS a new incarnation may
// use.
func (tw *TimeWait) NextISSFloor() seqnum.Value { return issFloor(tw.sndNxt) }

// issFloor is the lowest ISS a new incarnation of a connection whose
// SND.NXT was sndNxt may use, so that its segments can never be taken for
// the old one's: as Linux, the old SND.NXT plus a maximal unscaled window
// plus 2.
func issFloor(sndNxt seqnum.Value) seqnum.Value { return sndNxt.Add(65535 + 2) }

// AcceptsNewSYN is Conn.AcceptsNewSYN for the compact form: whether seg
// may open a new incarnation of the connection (RFC 6191 §2, RFC 1122
// §4.2.2.13).
func (tw *TimeWait) AcceptsNewSYN(seg *Segment, now time.Time) bool {
	return !tw.closed && tw.reopens(seg, now)
}

// reopens is the rule for a SYN arriving in TIME-WAIT, shared by Conn and
// TimeWait. RFC 6191 §2: when the old connection used timestamps, a SYN
// whose TSval is newer than the last one seen (TS.Recent) is honoured
// whatever its sequence number, since PAWS will tell the incarnations'
// segments apart; otherwise (and when the SYN carries no timestamp) only a
// SYN whose sequence number is beyond RCV.NXT (RFC 1122 §4.2.2.13). A SYN
// that PAWS rejects (an older TSval, RFC 7323 §5.3 R1) never reopens.
// As Linux's tcp_timewait_state_process (TCP_TW_SYN), a SYN with ACK, RST
// (or, ours, FIN) is never a new connection request.
//
// Deviation (Linux compat): RFC 6191 §2 also honours any SYN carrying a
// timestamp when the old connection used none; Linux, and we, then apply
// the sequence-number rule, since nothing was recorded to compare with.
func (a *ackState) reopens(seg *Segment, now time.Time) bool {
	if seg.Flags&(FlagSYN|FlagACK|FlagRST|FlagFIN) != FlagSYN || a.pawsReject(seg, now) {
		return false
	}
	if seg.Seq.GreaterThan(a.rcvNxt) {
		return true
	}
	return a.tsOn && seg.Options.HasTimestamp &&
		seqnum.Value(seg.Options.TSVal).GreaterThan(seqnum.Value(a.tsRecent))
}

// twAction is what timeWaitSegment asks of its caller, as bits.
type twAction uint8

const (
	// twACK: send <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> now.
	twACK twAction = 1 << iota
	// twRestart: restart the 2·MSL timer (a FIN again, MUST-13).
	twRestart
	// twClose: an acceptable RST; enter CLOSED.
	twClose
	// twAccepted: the segment went through every step; an ACK is sent
	// if one is pending (ackPending).
	twAccepted
)

// timeWaitSegment is SEGMENT ARRIVES (RFC 9293 §3.10.7.4) in TIME-WAIT,
// the decisions of both Conn (timeWaitInput) and TimeWait
// (HandleSegment). sndNxt is SND.NXT as sent; ackFloor is SND.UNA -
// MAX.SND.WND.
func (a *ackState) timeWaitSegment(seg *Segment, now time.Time, sndNxt, ackFloor seqnum.Value) twAction {
	flags := seg.Flags
	// PAWS (RFC 7323 §5.3 R1) before the sequence test: an old duplicate
	// is ACKed (rate-limited) and dropped.
	if drop, ack := a.pawsDrop(seg, now); drop {
		return ackIf(ack)
	}

	// First: sequence number.
	ok, dataOK := a.sequenceTest(seg)
	if !ok {
		if !a.unacceptable(seg, now) {
			return 0
		}
		if flags&FlagFIN != 0 && seg.Seq.Add(seqnum.Size(len(seg.Payload))).Add(1) == a.rcvNxt {
			// A retransmission of the peer's FIN: ACK it and restart the
			// 2·MSL timeout (§3.10.7.4 fifth, MUST-13).
			return twACK | twRestart
		}
		return twACK
	}

	// Second: RST. RFC 5961 §3.2: exactly RCV.NXT resets, elsewhere in the
	// window a challenge ACK. Deviation (Linux compat): an acceptable RST
	// ends TIME-WAIT, as Linux with tcp_rfc1337=0 (its default); RFC 1337
	// §3 suggests ignoring it (TIME-WAIT assassination).
	if flags&FlagRST != 0 {
		if seg.Seq != a.rcvNxt {
			return ackIf(a.challengeAllowed(now))
		}
		return twClose
	}
	// Fourth: SYN (RFC 5961 §4.2). AcceptsNewSYN has let through those
	// that open a new incarnation.
	if flags&FlagSYN != 0 {
		return ackIf(a.challengeAllowed(now))
	}
	// Fifth: ACK. Nothing is outstanding; RFC 5961 §5.2 applies: an ACK of
	// something not yet sent, or older than SND.UNA - MAX.SND.WND, draws a
	// (challenge) ACK.
	if flags&FlagACK == 0 {
		return 0
	}
	if seg.Ack.GreaterThan(sndNxt) || seg.Ack.LessThan(ackFloor) {
		return ackIf(a.challengeAllowed(now))
	}
	a.updateTSRecent(seg, now) // RFC 7323 §4.3, after the ACK as Linux
	// Seventh and eighth: text and FIN. The text is ignored ("This should
	// not occur, since a FIN has been received"); a FIN again is ACKed
	// and restarts the 2·MSL timeout. Text in a closed window is ACKed
	// now: the peer learns so.
	fin, data := flags&FlagFIN != 0, len(seg.Payload) > 0
	switch {
	case data && !dataOK:
		a.ackPending = true
		return twACK | twAccepted
	case fin:
		a.ackPending = true
		return twRestart | twAccepted
	case data:
		a.ackPending = true
	}
	return twAccepted
}

// ackIf is twACK if ack, else nothing.
func ackIf(ack bool) twAction {
	if ack {
		return twACK
	}
	return 0
}

// HandleSegment is SEGMENT ARRIVES (RFC 9293 §3.10.7.4) in TIME-WAIT
// (timeWaitSegment). When a reply is due it is written to reply and send
// is true. After an acceptable RST, State is CLOSED and the caller
// deletes the TimeWait; a segment handed to it after that is answered as
// by no connection (§3.10.7.1).
func (tw *TimeWait) HandleSegment(seg *Segment, now time.Time, reply *Segment) (send bool) {
	if tw.tsEpoch == noTime {
		tw.tsEpoch = tw.rel(now) // as Conn.startTSClock
	}
	if tw.closed {
		rst, ok := ResetFor(seg)
		*reply = rst
		return ok
	}
	act := tw.timeWaitSegment(seg, now, tw.sndNxt, tw.ackFloor)
	if act&twRestart != 0 {
		tw.closeAt = tw.rel(now.Add(tw.timeWait))
	}
	if act&twClose != 0 {
		tw.closed = true
		return false
	}
	// One reply at most: a TimeWait has no ECN state to owe a second.
	if act&twACK != 0 || (act&twAccepted != 0 && tw.ackPending) {
		return tw.ack(now, reply)
	}
	return false
}

// ack writes <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> to reply, with the
// options Conn.emit gives an ACK: timestamps (RFC 7323 §3.2) and SACK
// blocks (RFC 2018 §4, RFC 2883). The window is Conn.windowField's over
// the receive buffer as it was when TIME-WAIT began (nobody reads it any
// more). It always reports true.
func (tw *TimeWait) ack(now time.Time, reply *Segment) bool {
	*reply = Segment{
		SrcPort: tw.local.Port(), DstPort: tw.remote.Port(),
		Seq: tw.sndNxt, Ack: tw.rcvNxt, Flags: FlagACK, Window: tw.windowFieldFor(int(tw.wndAvail), int(tw.wndStep)),
	}
	tw.ackSent()
	if tw.tsOn {
		reply.Options.HasTimestamp = true
		reply.Options.TSVal = tsValAt(tw.tsOffset, tw.abs(tw.tsEpoch), now)
		reply.Options.TSEcr = tw.tsRecent
	}
	if tw.sackOn {
		o := &reply.Options
		limit := maxSACKBlocks
		if tw.tsOn {
			limit--
		}
		k := tw.takeDSACK(o)
		if tw.held != nil {
			k += copy(o.SACK[k:limit], tw.held[:tw.heldN])
		}
		o.NumSACK = k
	}
	return true
}
