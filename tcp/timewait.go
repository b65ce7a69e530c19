package tcp

import (
	"math"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
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
// would in TIME-WAIT (TestTimeWait_EquivalentToConn checks it): a
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
	local, remote netip.AddrPort

	// Times are kept as offsets from base (relTime), which keeps the
	// monotonic clock reading and halves their size.
	base       time.Time // when TIME-WAIT began
	closeAt    relTime   // the end of 2·MSL
	tsEpoch    relTime   // our TS clock reads tsOffset at tsEpoch
	tsRecentAt relTime   // when TS.Recent was set (RFC 7323 §5.5)
	lastOOWAck relTime   // the last reply to an invalid segment (Config.InvalidACKInterval)
	timeWait   time.Duration
	oowIvl     time.Duration // Config.InvalidACKInterval

	// The transfer's totals, for Info.
	bytesSent, bytesReceived, retransmits uint64

	counters *Counters
	held     *[maxSACKBlocks]SACKBlock // SACK blocks for out-of-order data held when TIME-WAIT began; nil when none

	sndMax      seqnum.Value // SND.NXT as sent (everything is acknowledged: SND.UNA = SND.MAX)
	ackFloor    seqnum.Value // SND.UNA - MAX.SND.WND: older ACKs are unacceptable (RFC 5961 §5.2)
	rcvNxt      seqnum.Value
	rcvAdvRight seqnum.Value // RCV.NXT + RCV.WND as advertised (RFC 7323 §2.4)
	lastAckSent seqnum.Value // Last.ACK.sent (RFC 7323 §4.3)
	tsOffset    uint32
	tsRecent    uint32 // TS.Recent (RFC 7323 §4.3)
	wndAvail    int32  // the window the receive buffer could offer, capped by the scale
	wndStep     int32  // receiver SWS avoidance step (RFC 9293 §3.8.6.2.2)
	dsack       SACKBlock
	heldN       uint8
	rcvWScale   uint8
	tsOn        bool
	sackOn      bool
	hasDSACK    bool
	ackPending  bool
	closed      bool
}

// TimeWait returns the compact form of c, which must be in TIME-WAIT, nil
// otherwise. c itself is left as it is; the caller drops it and uses the
// TimeWait instead. Anything the application has not read is discarded.
func (c *Conn) TimeWait() *TimeWait {
	if c.state != StateTimeWait {
		return nil
	}
	tw := &TimeWait{
		local:         c.local,
		remote:        c.remote,
		base:          c.closeAt,
		timeWait:      c.cfg.TimeWait,
		bytesSent:     c.bytesSent,
		bytesReceived: c.bytesReceived,
		retransmits:   c.retransmits,
		oowIvl:        c.cfg.InvalidACKInterval,
		counters:      c.cfg.Counters,
		sndMax:        c.sndMax,
		ackFloor:      c.sndUna.Sub(seqnum.Size(c.maxSndWnd)),
		rcvNxt:        c.rcvNxt,
		rcvAdvRight:   c.rcvAdvRight,
		lastAckSent:   c.lastAckSent,
		tsOffset:      c.tsOffset,
		tsRecent:      c.tsRecent,
		wndAvail:      int32(min(c.rcvBuf.Window(), 0xffff<<c.rcvWScale)),
		wndStep:       int32(max(min(c.rcvBuf.Cap()/2, c.mss), 1)),
		dsack:         c.dsack,
		rcvWScale:     c.rcvWScale,
		tsOn:          c.tsOn,
		sackOn:        c.sackOn,
		hasDSACK:      c.hasDSACK,
		ackPending:    c.ackPending,
	}
	tw.closeAt = tw.rel(c.closeAt)
	tw.tsEpoch = tw.rel(c.tsEpoch)
	tw.tsRecentAt = tw.rel(c.tsRecentAt)
	tw.lastOOWAck = tw.rel(c.lastOOWAck)
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

// relTime is a time as an offset from TimeWait.base; noTime is the zero
// time.Time (not set).
type relTime int64

const noTime = relTime(math.MinInt64)

func (tw *TimeWait) rel(t time.Time) relTime {
	if t.IsZero() {
		return noTime
	}
	return relTime(t.Sub(tw.base))
}

func (tw *TimeWait) abs(r relTime) time.Time {
	if r == noTime {
		return time.Time{}
	}
	return tw.base.Add(time.Duration(r))
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
func (tw *TimeWait) NextISSFloor() seqnum.Value { return tw.sndMax.Add(65535 + 2) }

// AcceptsNewSYN is Conn.AcceptsNewSYN for the compact form: whether seg
// may open a new incarnation of the connection (RFC 6191 §2, RFC 1122
// §4.2.2.13).
func (tw *TimeWait) AcceptsNewSYN(seg *Segment, now time.Time) bool {
	return !tw.closed && reopens(seg, tw.rcvNxt, tw.tsOn, tw.tsRecent, tw.pawsReject(seg, now))
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
func reopens(seg *Segment, rcvNxt seqnum.Value, tsOn bool, tsRecent uint32, pawsRejected bool) bool {
	if seg.Flags&(FlagSYN|FlagACK|FlagRST|FlagFIN) != FlagSYN || pawsRejected {
		return false
	}
	if seg.Seq.GreaterThan(rcvNxt) {
		return true
	}
	return tsOn && seg.Options.HasTimestamp &&
		seqnum.Value(seg.Options.TSVal).GreaterThan(seqnum.Value(tsRecent))
}

// HandleSegment is SEGMENT ARRIVES (RFC 9293 §3.10.7.4) in TIME-WAIT, in
// the order and with the decisions of Conn.synchronizedInput. When a
// reply is due it is written to reply and send is true. After an
// acceptable RST, State is CLOSED and the caller deletes the TimeWait;
// a segment handed to it after that is answered as by no connection
// (§3.10.7.1).
func (tw *TimeWait) HandleSegment(seg *Segment, now time.Time, reply *Segment) (send bool) {
	if tw.tsEpoch == noTime {
		tw.tsEpoch = tw.rel(now) // as Conn.setNow
	}
	if tw.closed {
		rst, ok := ResetFor(seg)
		*reply = rst
		return ok
	}
	flags := seg.Flags
	// PAWS (RFC 7323 §5.3 R1) before the sequence test: an old duplicate
	// is ACKed (rate-limited) and dropped.
	if tw.pawsReject(seg, now) {
		if k := tw.counters; k != nil {
			k.PAWSDrops++
		}
		tw.dsackOld(seg)
		return tw.oowACKAllowed(seg, now) && tw.ack(now, reply)
	}

	// First: sequence number.
	wnd := tw.advertisedWnd()
	dataOK := true
	if !acceptableSeq(tw.rcvNxt, seg.Seq, seg.Len(), wnd) {
		if wnd == 0 && seg.Seq == tw.rcvNxt {
			dataOK = false // a zero window: control only
		} else {
			switch {
			case flags&FlagRST != 0:
				return false
			case flags&FlagSYN != 0:
				return tw.challengeACK(now, reply) // RFC 5961 §4.2
			case !tw.oowACKAllowed(seg, now):
				return false
			}
			tw.dsackOld(seg)
			if flags&FlagFIN != 0 && seg.Seq.Add(seqnum.Size(len(seg.Payload))).Add(1) == tw.rcvNxt {
				// A retransmission of the peer's FIN: ACK it and restart
				// the 2·MSL timeout (§3.10.7.4 fifth, MUST-13).
				tw.closeAt = tw.rel(now.Add(tw.timeWait))
			}
			return tw.ack(now, reply)
		}
	}

	// Second: RST. RFC 5961 §3.2: exactly RCV.NXT resets, elsewhere in the
	// window a challenge ACK. Deviation (Linux compat): an acceptable RST
	// ends TIME-WAIT, as Linux with tcp_rfc1337=0 (its default); RFC 1337
	// §3 suggests ignoring it (TIME-WAIT assassination).
	if flags&FlagRST != 0 {
		if seg.Seq != tw.rcvNxt {
			return tw.challengeACK(now, reply)
		}
		tw.closed = true
		return false
	}
	// Fourth: SYN (RFC 5961 §4.2).
	if flags&FlagSYN != 0 {
		return tw.challengeACK(now, reply)
	}
	// Fifth: ACK.
	if flags&FlagACK == 0 {
		return false
	}
	if seg.Ack.GreaterThan(tw.sndMax) || seg.Ack.LessThan(tw.ackFloor) {
		return tw.challengeACK(now, reply) // RFC 5961 §5.2
	}
	tw.updateTSRecent(seg, now)
	// Seventh and eighth: text and FIN. The text is ignored ("This should
	// not occur, since a FIN has been received"); a FIN again is ACKed
	// and restarts the 2·MSL timeout.
	fin, data := flags&FlagFIN != 0, len(seg.Payload) > 0
	if dataOK || !data {
		if fin || data {
			tw.ackPending = true
			if fin {
				tw.closeAt = tw.rel(now.Add(tw.timeWait))
			}
		}
	} else {
		tw.ackPending = true // text in a closed window: the peer learns so now
	}
	return tw.ackPending && tw.ack(now, reply)
}

// acceptableSeq is the sequence test of RFC 9293 §3.10.7.4 first for a
// receiver at rcvNxt with window wnd (Conn.acceptable).
func acceptableSeq(rcvNxt, seq seqnum.Value, segLen seqnum.Size, wnd int) bool {
	w := seqnum.Size(wnd)
	switch {
	case segLen == 0 && w == 0:
		return seq == rcvNxt
	case segLen == 0:
		return seq.InWindow(rcvNxt, w)
	case w == 0:
		return false
	default:
		return seq.InWindow(rcvNxt, w) || seq.Add(segLen-1).InWindow(rcvNxt, w)
	}
}

// pawsReject is Conn.pawsReject (RFC 7323 §5.3 R1, §5.5).
func (tw *TimeWait) pawsReject(seg *Segment, now time.Time) bool {
	return pawsOld(tw.tsOn, seg, tw.tsRecent) && tw.tsRecentValid(now)
}

// updateTSRecent is Conn.updateTSRecent (RFC 7323 §4.3, §5.5).
func (tw *TimeWait) updateTSRecent(seg *Segment, now time.Time) {
	if takesTSRecent(tw.tsOn, seg, tw.tsRecent, tw.lastAckSent, tw.tsRecentValid(now)) {
		tw.tsRecent, tw.tsRecentAt = seg.Options.TSVal, tw.rel(now)
	}
}

// tsRecentValid is Conn.tsRecentValid (RFC 7323 §5.5).
func (tw *TimeWait) tsRecentValid(now time.Time) bool {
	return tw.tsRecentAt == noTime || now.Sub(tw.abs(tw.tsRecentAt)) < pawsIdle
}

// dsackOld is Conn.dsackOld: a duplicate wholly below RCV.NXT is reported
// in the next ACK (RFC 2883 §4.1.1).
func (tw *TimeWait) dsackOld(seg *Segment) {
	if n := len(seg.Payload); n > 0 && tw.sackOn {
		if end := seg.Seq.Add(seqnum.Size(n)); end.LessThanEq(tw.rcvNxt) {
			tw.dsack, tw.hasDSACK = SACKBlock{Start: seg.Seq, End: end}, true
		}
	}
}

// invalidACKLimited is Conn.invalidACKLimited: the rate limit on replies
// to invalid segments (RFC 5961 §7, Linux's tcp_oow_rate_limited).
func (tw *TimeWait) invalidACKLimited(now time.Time) bool {
	if tw.oowIvl > 0 && tw.lastOOWAck != noTime {
		if d := now.Sub(tw.abs(tw.lastOOWAck)); d >= 0 && d < tw.oowIvl {
			if k := tw.counters; k != nil {
				k.ACKsRateLimited++
			}
			return true
		}
	}
	tw.lastOOWAck = tw.rel(now)
	return false
}

// oowACKAllowed is Conn.oowACKAllowed.
func (tw *TimeWait) oowACKAllowed(seg *Segment, now time.Time) bool {
	if len(seg.Payload) > 0 && seg.Flags&FlagSYN == 0 {
		return true
	}
	return !tw.invalidACKLimited(now)
}

// challengeACK is Conn.challengeACK (RFC 5961 §3.2, §4.2, §5.2, §7).
func (tw *TimeWait) challengeACK(now time.Time, reply *Segment) bool {
	if tw.invalidACKLimited(now) {
		return false
	}
	if k := tw.counters; k != nil {
		k.ChallengeACKs++
	}
	return tw.ack(now, reply)
}

// advertisedWnd is Conn.advertisedWnd.
func (tw *TimeWait) advertisedWnd() int {
	if tw.rcvNxt.LessThan(tw.rcvAdvRight) {
		return int(tw.rcvNxt.Size(tw.rcvAdvRight))
	}
	return 0
}

// windowField is Conn.windowField over the receive buffer as it was when
// TIME-WAIT began (nobody reads it any more): the right edge never moves
// left (RFC 7323 §2.4) and moves right only by a whole SWS step
// (RFC 9293 §3.8.6.2.2).
func (tw *TimeWait) windowField() uint16 {
	cur := tw.advertisedWnd()
	w := cur
	if avail := int(tw.wndAvail); avail-cur >= int(tw.wndStep) {
		w = avail
	}
	f, right := scaledWindow(tw.rcvNxt, tw.rcvAdvRight, cur, w, tw.rcvWScale)
	tw.rcvAdvRight = right
	return f
}

// ack writes <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> to reply, with the
// options Conn.emit gives an ACK: timestamps (RFC 7323 §3.2) and SACK
// blocks (RFC 2018 §4, RFC 2883). It always reports true.
func (tw *TimeWait) ack(now time.Time, reply *Segment) bool {
	*reply = Segment{
		SrcPort: tw.local.Port(), DstPort: tw.remote.Port(),
		Seq: tw.sndMax, Ack: tw.rcvNxt, Flags: FlagACK, Window: tw.windowField(),
	}
	tw.ackPending = false
	tw.lastAckSent = tw.rcvNxt
	if tw.tsOn {
		reply.Options.HasTimestamp = true
		reply.Options.TSVal = tw.tsOffset
		if epoch := tw.abs(tw.tsEpoch); tw.tsEpoch != noTime && !now.Before(epoch) {
			reply.Options.TSVal += uint32(now.Sub(epoch) / time.Millisecond)
		}
		reply.Options.TSEcr = tw.tsRecent
	}
	if tw.sackOn {
		o := &reply.Options
		limit := maxSACKBlocks
		if tw.tsOn {
			limit--
		}
		k := 0
		if tw.hasDSACK {
			o.SACK[0], k = tw.dsack, 1
			tw.hasDSACK = false
		}
		if tw.held != nil {
			k += copy(o.SACK[k:limit], tw.held[:tw.heldN])
		}
		o.NumSACK = k
	}
	return true
}
