package tcp

import (
	"math"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// ackState is the receive side's acknowledgment state: what decides
// whether an arriving segment is acceptable (RFC 9293 §3.10.7.4 first,
// PAWS of RFC 7323 §5.3) and what the ACK that answers it carries (RCV.NXT,
// the advertised window, TS.Recent, a D-SACK block) and whether one may go
// out now (the rate limit of RFC 5961 §7). Conn embeds it, and so does
// TimeWait, which copies it from the Conn: each of these rules, and the
// TIME-WAIT segment handler built from them (timeWaitSegment), is written
// once here for both.
type ackState struct {
	// Times are kept as offsets from base (relTime), which keeps the
	// monotonic clock reading and halves their size; base is the first
	// time recorded.
	base       time.Time
	tsRecentAt relTime // when TS.Recent was last set (RFC 7323 §5.5)
	lastOOWAck relTime // when we last answered an invalid segment (Config.InvalidACKInterval)

	oowIvl   time.Duration // Config.InvalidACKInterval
	counters *Counters     // Config.Counters: the stack's
	own      *replyCounts  // the connection's own counts (Info); nil in a TimeWait

	rcvNxt      seqnum.Value
	rcvAdvRight seqnum.Value // RCV.NXT+RCV.WND as advertised: never moves left (RFC 7323 §2.4)
	lastAckSent seqnum.Value // Last.ACK.sent (RFC 7323 §4.3)
	tsRecent    uint32       // TS.Recent (RFC 7323 §4.3)
	dsack       SACKBlock    // a duplicate to report (RFC 2883), when hasDSACK
	rcvWScale   uint8        // shift we apply to our window field
	tsOn        bool         // timestamps negotiated: every segment carries them (RFC 7323 §3.2)
	sackOn      bool         // SACK negotiated: both SYNs carried SACK-permitted (RFC 2018 §2)
	hasDSACK    bool
	ackPending  bool // an ACK is owed
}

// replyCounts are a Conn's own counts of what the ackState rules did,
// reported in Info; a TimeWait keeps only the stack's Counters.
type replyCounts struct {
	pawsDrops, challengeACKs, acksRateLimited uint64
}

// relTime is a time as an offset from ackState.base; noTime is the zero
// time.Time (not set).
type relTime int64

const noTime = relTime(math.MinInt64)

// rel converts t to an offset from base; the first time recorded becomes
// the base.
func (a *ackState) rel(t time.Time) relTime {
	if t.IsZero() {
		return noTime
	}
	if a.base.IsZero() {
		a.base = t
	}
	return relTime(t.Sub(a.base))
}

func (a *ackState) abs(r relTime) time.Time {
	if r == noTime {
		return time.Time{}
	}
	return a.base.Add(time.Duration(r))
}

// count adds one to the stack's counter and the connection's own (when
// kept) that pick chooses.
func (a *ackState) count(stack func(*Counters) *uint64, own func(*replyCounts) *uint64) {
	if a.own != nil {
		*own(a.own)++
	}
	if k := a.counters; k != nil {
		*stack(k)++
	}
}

// advertisedWnd is RCV.WND as the peer knows it: from RCV.NXT to the right
// edge we advertised, never negative.
func (a *ackState) advertisedWnd() int {
	if a.rcvNxt.LessThan(a.rcvAdvRight) {
		return int(a.rcvNxt.Size(a.rcvAdvRight))
	}
	return 0
}

// offerWnd is the window to offer now, given avail, what the receive
// buffer could take (capped by what the scale can express), and step,
// min(RcvBuf/2, MSS). The right edge never moves left (RFC 9293
// §3.8.6.2.2, RFC 7323 §2.4), and it moves right only by at least step:
// receiver SWS avoidance (RFC 1122 §4.2.3.3, RFC 9293 §3.8.6.2.2).
func (a *ackState) offerWnd(avail, step int) int {
	if cur := a.advertisedWnd(); avail-cur < step {
		return cur
	}
	return avail
}

// windowFieldFor returns the window field for a non-SYN segment offering
// offerWnd(avail, step), RCV.WND >> Rcv.Wind.Shift (RFC 7323 §2.3), and
// records the advertised right edge. Rounding goes up when rounding down
// would move the right edge left.
func (a *ackState) windowFieldFor(avail, step int) uint16 {
	f, right := scaledWindow(a.rcvNxt, a.rcvAdvRight, a.advertisedWnd(), a.offerWnd(avail, step), a.rcvWScale)
	a.rcvAdvRight = right
	return f
}

// scaledWindow returns the window field offering w bytes past rcvNxt with
// shift s, rounded up where rounding down would move the right edge left
// of cur bytes past rcvNxt, and the advertised right edge (advRight, or
// further) that the field makes.
func scaledWindow(rcvNxt, advRight seqnum.Value, cur, w int, s uint8) (uint16, seqnum.Value) {
	f := w >> s
	if f<<s < cur {
		f = (cur + 1<<s - 1) >> s
	}
	f = min(f, 0xffff)
	if r := rcvNxt.Add(seqnum.Size(f << s)); r.GreaterThan(advRight) {
		advRight = r
	}
	return uint16(f), advRight
}

// acceptable is the sequence test of §3.10.7.4 first: the four cases of
// SEG.LEN zero/non-zero × RCV.WND zero/non-zero.
func (a *ackState) acceptable(seq seqnum.Value, segLen seqnum.Size, wnd int) bool {
	w := seqnum.Size(wnd)
	switch {
	case segLen == 0 && w == 0:
		return seq == a.rcvNxt
	case segLen == 0:
		return seq.InWindow(a.rcvNxt, w)
	case w == 0:
		return false
	default:
		return seq.InWindow(a.rcvNxt, w) || seq.Add(segLen-1).InWindow(a.rcvNxt, w)
	}
}

// sequenceTest is §3.10.7.4 first for seg against the window we
// advertised: whether it passes, and whether its text may be accepted.
// "If the RCV.WND is zero, no segments will be acceptable, but special
// allowance should be made to accept valid ACKs, URGs, and RSTs": a
// segment at RCV.NXT in a zero window passes for its control information
// only.
func (a *ackState) sequenceTest(seg *Segment) (ok, dataOK bool) {
	wnd := a.advertisedWnd()
	if a.acceptable(seg.Seq, seg.Len(), wnd) {
		return true, true
	}
	if wnd == 0 && seg.Seq == a.rcvNxt {
		return true, false
	}
	return false, false
}

// unacceptable is §3.10.7.4 first for a segment that failed sequenceTest:
// "If an incoming segment is not acceptable, an acknowledgment should be
// sent in reply (unless the RST bit is set, if so drop the segment and
// return)". It reports whether that ACK goes out now. RFC 5961 §4.2: a
// SYN "irrespective of the sequence number" draws a challenge ACK (Linux:
// syn_challenge); other replies are rate-limited (oowACKAllowed), and a
// duplicate of data already received is reported (dsackOld).
func (a *ackState) unacceptable(seg *Segment, now time.Time) (ack bool) {
	switch {
	case seg.Flags&FlagRST != 0:
		return false
	case seg.Flags&FlagSYN != 0:
		return a.challengeAllowed(now)
	case !a.oowACKAllowed(seg, now):
		return false
	}
	a.dsackOld(seg)
	return true
}

// pawsDrop applies PAWS (RFC 7323 §5.3 R1) before the sequence test, as
// Linux's tcp_validate_incoming: it reports whether seg is an old
// duplicate to drop, and whether an ACK answers it now (rate-limited as
// an unacceptable segment).
func (a *ackState) pawsDrop(seg *Segment, now time.Time) (drop, ack bool) {
	if !a.pawsReject(seg, now) {
		return false, false
	}
	a.count(func(k *Counters) *uint64 { return &k.PAWSDrops }, func(o *replyCounts) *uint64 { return &o.pawsDrops })
	a.dsackOld(seg)
	return true, a.oowACKAllowed(seg, now)
}

// tsRecentValid reports whether TS.Recent may be used for PAWS: not after
// 24 days of idleness (RFC 7323 §5.5).
func (a *ackState) tsRecentValid(now time.Time) bool {
	return a.tsRecentAt == noTime || now.Sub(a.abs(a.tsRecentAt)) < pawsIdle
}

// setTSRecent records TS.Recent and when it was set.
func (a *ackState) setTSRecent(ts uint32, now time.Time) {
	a.tsRecent, a.tsRecentAt = ts, a.rel(now)
}

// pawsReject is RFC 7323 §5.3 R1: a segment (not a RST, which is
// "acceptable regardless of [its] timestamp", §5.2) whose SEG.TSval is
// less than a valid TS.Recent is an old duplicate.
//
// Deviation (Linux compat): a segment without a Timestamps option on a
// connection that negotiated them is accepted, as Linux does; RFC 7323
// §3.2 says such a segment SHOULD be dropped.
func (a *ackState) pawsReject(seg *Segment, now time.Time) bool {
	return a.tsOn && seg.Options.HasTimestamp && seg.Flags&FlagRST == 0 &&
		seqnum.Value(seg.Options.TSVal).LessThan(seqnum.Value(a.tsRecent)) && a.tsRecentValid(now)
}

// updateTSRecent is RFC 7323 §4.3 (2), with §5.3 R3: "If SEG.TSval >=
// TS.Recent and SEG.SEQ =< Last.ACK.sent then SEG.TSval is copied to
// TS.Recent" (RFC 1323's rule also asked for Last.ACK.sent < SEG.SEQ +
// SEG.LEN; RFC 7323 dropped it, so that a bare ACK updates too, as in
// Linux's tcp_replace_ts_recent). After 24 idle days TS.Recent is invalid
// and any TSval replaces it (§5.5).
func (a *ackState) updateTSRecent(seg *Segment, now time.Time) {
	if a.tsOn && seg.Options.HasTimestamp && seg.Seq.LessThanEq(a.lastAckSent) &&
		(seqnum.Value(seg.Options.TSVal).GreaterThanEq(seqnum.Value(a.tsRecent)) || !a.tsRecentValid(now)) {
		a.setTSRecent(seg.Options.TSVal, now)
	}
}

// noteDSACK records [seq, end), a duplicate received, for the first
// block of the next ACK (RFC 2883 §4). A later duplicate replaces it.
func (a *ackState) noteDSACK(seq, end seqnum.Value) {
	if a.sackOn && seq.LessThan(end) {
		a.dsack, a.hasDSACK = SACKBlock{Start: seq, End: end}, true
	}
}

// dsackOld notes a D-SACK block for an unacceptable segment whose data
// lies wholly below RCV.NXT (RFC 2883 §4.1.1), as Linux's tcp_send_dupack.
func (a *ackState) dsackOld(seg *Segment) {
	if end := seg.Seq.Add(seqnum.Size(len(seg.Payload))); end.LessThanEq(a.rcvNxt) {
		a.noteDSACK(seg.Seq, end) // nothing for an empty segment
	}
}

// takeDSACK puts the D-SACK block, if one is due, first in o (RFC 2883
// §4: reported once) and returns how many blocks it wrote.
func (a *ackState) takeDSACK(o *Options) int {
	if !a.hasDSACK {
		return 0
	}
	o.SACK[0] = a.dsack
	a.hasDSACK = false
	return 1
}

// ackSent records that an ACK of RCV.NXT goes out: nothing is owed any
// more, and it is Last.ACK.sent (RFC 7323 §4.3).
func (a *ackState) ackSent() {
	a.ackPending = false
	a.lastAckSent = a.rcvNxt
}

// invalidACKLimited applies Config.InvalidACKInterval: it reports whether
// an ACK in reply to an invalid segment must be skipped now, and otherwise
// records that one goes out. Deviation (Linux compat): one clock, Linux's
// last_oow_ack_time (__tcp_oow_rate_limited), is shared by challenge ACKs,
// replies to unacceptable segments and PAWS failures.
func (a *ackState) invalidACKLimited(now time.Time) bool {
	if a.oowIvl > 0 && a.lastOOWAck != noTime {
		if d := now.Sub(a.abs(a.lastOOWAck)); d >= 0 && d < a.oowIvl {
			a.count(func(k *Counters) *uint64 { return &k.ACKsRateLimited }, func(o *replyCounts) *uint64 { return &o.acksRateLimited })
			return true
		}
	}
	a.lastOOWAck = a.rel(now)
	return false
}

// challengeAllowed reports whether an RFC 5961 challenge ACK (§3.2
// in-window RST, §4.2 SYN, §5.2 unacceptable ACK) may go out now, and
// counts it if so: the rate limit of §7 holds it back to at most one per
// Config.InvalidACKInterval per connection (Linux's tcp_send_challenge_ack
// with the per-socket limit; Linux ≥ 6.0 has no host-wide limit by
// default, tcp_challenge_ack_limit = INT_MAX).
func (a *ackState) challengeAllowed(now time.Time) bool {
	if a.invalidACKLimited(now) {
		return false
	}
	a.count(func(k *Counters) *uint64 { return &k.ChallengeACKs }, func(o *replyCounts) *uint64 { return &o.challengeACKs })
	return true
}

// oowACKAllowed reports whether an unacceptable segment (RFC 9293
// §3.10.7.4 first, or a PAWS failure, RFC 7323 §5.3 R1) may be answered
// with an ACK now. Deviation (Linux compat): as Linux's
// tcp_oow_rate_limited, a segment carrying data (and no SYN) is always
// answered, since data is not part of an ACK loop; others at most once per
// Config.InvalidACKInterval, so that two ends that disagree cannot
// ping-pong ACKs forever (RFC 9293 asks for an ACK every time).
func (a *ackState) oowACKAllowed(seg *Segment, now time.Time) bool {
	if len(seg.Payload) > 0 && seg.Flags&FlagSYN == 0 {
		return true
	}
	return !a.invalidACKLimited(now)
}

// tsValAt is our timestamp clock (RFC 7323 §5.4: 1 ms per tick, within the
// 1 ms to 1 s range, as Linux) at now, reading offset at epoch (zero: not
// started).
func tsValAt(offset uint32, epoch, now time.Time) uint32 {
	if epoch.IsZero() || now.Before(epoch) {
		return offset
	}
	return offset + uint32(now.Sub(epoch)/time.Millisecond)
}
