package tcp

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// maxBacklog is Linux's default net.core.somaxconn.
const maxBacklog = 4096

// ListenerStats counts what a Listener did with the segments it was given.
type ListenerStats struct {
	SynReceived      uint64 // SYNs handled
	SynQueueDrops    uint64 // SYNs dropped: the SYN queue was full and SYN cookies are off
	AcceptQueueDrops uint64 // SYNs dropped, and handshake-completing ACKs dropped, because the accept queue was full
	ResetsSent       uint64 // RSTs sent (stray ACKs, Close)
	CookiesSent      uint64 // SYN-ACKs carrying a SYN cookie (Linux's SyncookiesSent)
	CookiesValidated uint64 // ACKs whose cookie checked out (Linux's SyncookiesRecv)
	CookiesFailed    uint64 // ACKs checked against the cookies that failed (Linux's SyncookiesFailed)
}

// listenerQueue is a Conn's place in its Listener's queues.
type listenerQueue uint8

const (
	inNoQueue listenerQueue = iota
	inSynQueue
	inAcceptQueue
)

// Listener is a passive OPEN (RFC 9293 §3.10.1, §3.10.7.2 LISTEN) with
// bounded queues: the SYN queue holds connections in SYN-RECEIVED, the accept
// queue connections whose handshake completed and that Accept has not taken.
//
// Both queues hold at most backlog+1 connections, backlog being clamped to
// [0, 4096]: Linux parity (sk_acceptq_is_full and inet_csk_reqsk_queue_is_full
// compare with '>'; somaxconn defaults to 4096). As in Linux, a SYN is also
// dropped while the accept queue is full (tcp_conn_request).
//
// A SYN that finds the SYN queue full is answered with a SYN cookie
// (RFC 4987 §3.6; cookie.go) and no state is kept, as Linux with
// net.ipv4.tcp_syncookies=1; an ACK that reaches the Listener is checked
// against the cookies (cookieACK) before it is answered with a RST.
// Config.SynCookies = SynCookiesOff or SetSynCookies(false) drops such
// SYNs instead; SynCookiesAlways answers every SYN with a cookie.
//
// A Listener is not safe for concurrent use; the stack calls it under its lock.
type Listener struct {
	cfg     Config
	local   netip.AddrPort
	backlog int
	out     Output
	synQ    []*Conn
	acceptQ []*Conn
	events  Events
	stats   ListenerStats
	closed  bool
	tx      Segment // a RST or cookie SYN-ACK the Listener sends itself, valid during Output's call

	noCookies    bool      // SetSynCookies(false)
	cookieKey    cookieKey // drawn when the first cookie is sent
	hasCookieKey bool
	cookieTSBase time.Time // when the first cookie was sent: the epoch of cookieTSClock
	lastCookieAt time.Time // when the last cookie was sent (Linux's last_overflow); zero: never
}

// NewListener returns a Listener on local. A negative backlog means the
// maximum (as listen(2)'s argument is unsigned in Linux).
func NewListener(cfg Config, local netip.AddrPort, backlog int, out Output) *Listener {
	if backlog < 0 || backlog > maxBacklog {
		backlog = maxBacklog
	}
	return &Listener{cfg: cfg.withDefaults(), local: local, backlog: backlog, out: out}
}

// queueCap is the bound of each queue.
func (l *Listener) queueCap() int { return l.backlog + 1 }

func (l *Listener) acceptFull() bool { return len(l.acceptQ) >= l.queueCap() }

// ListenEnv is what a Listener takes from its stack for one segment: the
// stack owns the sequence-number generator and the limits on connections.
type ListenEnv struct {
	// ISS returns the initial sequence number of a new connection
	// (RFC 9293 §3.4.1; the stack's ISNGenerator, RFC 6528). It is called
	// only for a SYN that opens one.
	ISS func() seqnum.Value
	// Admit says whether the stack has room for a new connection. It is
	// asked first, for a SYN or ACK without RST; if it says no, the segment
	// is dropped without a reply (the stack counts why): the peer retries
	// later, where a RST would end its attempt. nil admits everything.
	Admit func() bool
	// MSS, if positive and below Config.MSS, is the MSS for this segment's
	// address family: what its SYN-ACK or cookie offers and its connection
	// keeps. A dual-stack listener takes IPv4 and IPv6 SYNs, and IPv6's
	// header is 20 octets longer (RFC 9293 §3.7.1: the MSS is the MTU less
	// the fixed IP and TCP headers; RFC 8200 §5).
	MSS int
}

// HandleSegment processes a segment from remote that matched no connection
// but this Listener (RFC 9293 §3.10.7.2). It returns a new Conn in
// SYN-RECEIVED, its SYN-ACK already sent, that the caller must add to its
// demultiplexing table; otherwise nil.
//
//   - SYN or ACK (without RST) that env.Admit refuses: dropped.
//   - RST: ignored.
//   - ACK: if it completes a SYN cookie handshake (cookieACK), the new
//     connection, already ESTABLISHED and in the accept queue; otherwise
//     (a stray SYN-ACK included) <SEQ=SEG.ACK><CTL=RST> via Output,
//     counted in ResetsSent.
//   - SYN: a new connection with initial sequence number env.ISS(), if
//     both queues have room; a SYN cookie if only the SYN queue is full;
//     otherwise dropped and counted.
//   - Anything else: dropped.
func (l *Listener) HandleSegment(seg *Segment, remote netip.AddrPort, env ListenEnv, now time.Time) *Conn {
	if env.MSS > 0 && env.MSS < l.cfg.MSS {
		defer l.restoreMSS(l.cfg.MSS)
		l.cfg.MSS = env.MSS
	}
	switch {
	case l.closed:
		return nil
	case seg.Flags&(FlagSYN|FlagACK) != 0 && seg.Flags&FlagRST == 0 && env.Admit != nil && !env.Admit():
		return nil
	case seg.Flags&FlagRST != 0:
		return nil // "An incoming RST segment could not be valid ... ignore it"
	case seg.Flags&FlagACK != 0:
		// "Any acknowledgment is bad if it arrives on a connection still
		// in the LISTEN state", unless it is a SYN cookie's (RFC 4987 §3.6).
		c, ok := l.cookieACK(seg, remote, now)
		if !ok {
			l.sendReset(seg, remote)
		}
		return c
	case seg.Flags&FlagSYN == 0:
		return nil // "Any other control or text-bearing segment ... drop it"
	}
	l.stats.SynReceived++
	if l.acceptFull() {
		l.acceptQueueDrop()
		return nil
	}
	cookies := !l.noCookies && l.cfg.SynCookies != SynCookiesOff
	if cookies && l.cfg.SynCookies == SynCookiesAlways {
		l.sendCookie(seg, remote, now) // Linux's tcp_syncookies=2
		return nil
	}
	if len(l.synQ) >= l.queueCap() {
		if !cookies {
			l.synQueueDrop()
			return nil
		}
		l.sendCookie(seg, remote, now)
		return nil
	}
	c := NewConn(l.cfg, l.local, remote, env.ISS(), l.out)
	c.listener = l
	c.lq = inSynQueue
	l.synQ = append(l.synQ, c)
	c.passiveOpen(seg, now)
	return c
}

// restoreMSS undoes HandleSegment's family MSS (ListenEnv.MSS).
func (l *Listener) restoreMSS(mss int) { l.cfg.MSS = mss }

// SetSynCookies(false) turns SYN cookies off whatever Config.SynCookies
// says, as Linux's net.ipv4.tcp_syncookies=0; SetSynCookies(true) undoes
// it.
func (l *Listener) SetSynCookies(on bool) { l.noCookies = !on }

// sendCookie answers seg, a SYN that found the SYN queue full (or any SYN,
// with SynCookiesAlways), with <SEQ=cookie><ACK=SEG.SEQ+1><CTL=SYN,ACK>
// (RFC 4987 §3.6) and keeps nothing: the SYN-ACK is never retransmitted.
// The cookie records min(the peer's MSS, ours) rounded down to cookieMSS.
// If the SYN carries timestamps (and we use them, RFC 7323 §3.2), so does
// the SYN-ACK, its TSval carrying the SYN's window scale and
// SACK-permitted (cookieTSVal), and it offers both back exactly as a
// normal SYN-ACK (synOptions), and ECN (ECE) if the SYN asked for it;
// otherwise it carries our MSS only, as Linux's.
func (l *Listener) sendCookie(seg *Segment, remote netip.AddrPort, now time.Time) {
	if !l.hasCookieKey {
		l.cookieKey, l.hasCookieKey = newCookieKey(), true
		l.cookieTSBase = now
	}
	peerMSS := defaultPeerMSS(remote)
	if seg.Options.MSS != 0 {
		peerMSS = int(seg.Options.MSS)
	}
	idx := cookieMSSIndex(min(peerMSS, l.cfg.MSS))
	iss := l.cookieKey.make(l.local, remote, seg.Seq, cookieCount(now), idx)
	l.lastCookieAt = now
	l.stats.CookiesSent++
	if k := l.cfg.Counters; k != nil {
		k.SynCookiesSent++
	}
	l.tx = Segment{
		SrcPort: l.local.Port(), DstPort: remote.Port(),
		Seq: iss, Ack: seg.Seq.Add(1), Flags: FlagSYN | FlagACK,
		Window:  uint16(cookieWindow(l.cfg)),
		Options: Options{MSS: uint16(l.cfg.MSS)},
	}
	if so := &seg.Options; so.HasTimestamp && !l.cfg.DisableTimestamps {
		o := &l.tx.Options
		o.HasTimestamp = true
		// RFC 3168 §6.1.1: an ECN-setup SYN-ACK (ECE) if the SYN asked;
		// only the timestamp can remember it, so only with timestamps
		// (Linux's tcp_conn_request clears ecn_ok for a cookie without).
		ecn := ecnSYNAsks(l.cfg, seg.Flags)
		if ecn {
			l.tx.Flags |= FlagECE
		}
		o.TSVal = tsOffsetFor(iss) + cookieTSVal(l.cfg, so, ecn, cookieTSClock(l.cookieTSBase, now))
		o.TSEcr = so.TSVal // RFC 7323 §3.2: echo the SYN's TSval
		// RFC 7323 §2.2, RFC 2018 §2: offered back only when the SYN
		// offered them, as passiveOpen's negotiate.
		o.SACKPermitted = so.SACKPermitted && !l.cfg.DisableSACK
		if so.HasWScale && !l.cfg.DisableWindowScale {
			o.HasWScale, o.WScale = true, windowScaleFor(l.cfg.RcvBuf)
		}
	}
	l.out.SendSegment(l.local, remote, &l.tx, nil, nil)
}

// cookieACK checks seg, an ACK from remote that matched no connection but
// this Listener, against the SYN cookies (RFC 4987 §3.6, Linux's
// cookie_v4_check). ok is false if seg is no cookie ACK (SYN or RST set, no
// cookie sent in the last two minutes), or a cookie that does not check out,
// or one whose TSecr echoes options we do not offer (cookieSynOptions; both
// counted as failed, though Linux counts the second in SyncookiesRecv); the
// caller answers it with a RST as usual. Otherwise
// the segment is consumed: c is the new connection, already ESTABLISHED and
// in the accept queue (any data or FIN on the ACK processed), for the caller
// to add to its demultiplexing table; c is nil if the accept queue is full
// (dropped silently, as Linux: the peer retransmits and a later ACK may get
// in).
func (l *Listener) cookieACK(seg *Segment, remote netip.AddrPort, now time.Time) (c *Conn, ok bool) {
	if l.closed || seg.Flags&(FlagSYN|FlagRST|FlagACK) != FlagACK || !l.hasCookieKey ||
		l.lastCookieAt.IsZero() || now.Sub(l.lastCookieAt) > cookieValid {
		return nil, false // Linux's tcp_synq_no_recent_overflow
	}
	iss := seg.Ack.Sub(1)
	idx, valid := l.cookieKey.check(iss, l.local, remote, seg.Seq.Sub(1), cookieCount(now))
	var synOpts Options
	if valid {
		synOpts, valid = cookieSynOptions(l.cfg, seg, iss, int(cookieMSS[idx]))
	}
	if !valid {
		l.stats.CookiesFailed++
		if k := l.cfg.Counters; k != nil {
			k.SynCookiesFailed++
		}
		return nil, false
	}
	l.stats.CookiesValidated++
	if k := l.cfg.Counters; k != nil {
		k.SynCookiesRecv++
	}
	if l.acceptFull() {
		l.acceptQueueDrop()
		return nil, true
	}
	c = newConnFromCookie(l, remote, seg, iss, &synOpts, now)
	if seg.Options.TSEcr != 0 {
		// Its TSecr echoes the cookie's options and a clock reading
		// up to 63 ms (2^cookieTSBits - 1) before the SYN-ACK was
		// sent: no RTT sample from it (RFC 7323 §4.1 assumes an echoed
		// send time). Linux takes the sample, up to 63 ms too long.
		ack := *seg
		ack.Options.TSEcr = 0
		seg = &ack
	}
	c.HandleSegment(seg, now)
	if c.state == StateSynReceived {
		// Cannot happen (the ACK is acceptable by construction), but a
		// cookie connection must never sit in SYN-RECEIVED outside the
		// SYN queue.
		c.drop(nil)
	}
	if c.state == StateClosed && c.lq != inAcceptQueue {
		return nil, true
	}
	return c, true
}

// passiveOpen is §3.10.7.2 "third, check for a SYN" for a fresh Conn:
// CLOSED → LISTEN → SYN-RECEIVED, sending <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
// Deviation (Linux compat): data and FIN on the SYN are not queued (Linux
// discards them without TCP Fast Open); the peer sends them again.
func (c *Conn) passiveOpen(seg *Segment, now time.Time) {
	// The SYN's arrival is the TS clock's epoch (the SYN-ACK's TSval is
	// tsOffset) and when TS.Recent is set (RFC 7323 §5.5: it expires after
	// 24 idle days; Linux stamps it in tcp_create_openreq_child).
	c.startTSClock(now)
	c.setState(StateListen)
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq.Add(1)
	c.wsOffered = !c.cfg.DisableWindowScale
	c.sackOffered = !c.cfg.DisableSACK
	c.negotiate(&seg.Options, now) // offers WScale and SACK-permitted back only if the SYN had them
	c.ecnNegotiate(seg.Flags)
	c.sndWnd, c.sndWL1, c.sndWL2 = int(seg.Window), seg.Seq, c.iss
	c.maxSndWnd = c.sndWnd
	c.setState(StateSynReceived)
	c.sndCur = c.iss.Add(1)
	c.sndNxt = c.sndCur
	c.rcvAdvRight = c.rcvNxt
	c.sendSyn(now, true)
	c.startRTT(c.sndCur, now)
	c.rtoAt = now.Add(c.rto)
}

// connEstablished moves c from the SYN queue to the accept queue.
func (l *Listener) connEstablished(c *Conn) {
	if c.lq != inSynQueue {
		return
	}
	l.synQ = removeConn(l.synQ, c)
	c.lq = inAcceptQueue
	l.acceptQ = append(l.acceptQ, c)
	l.events |= EventAcceptable
}

// connClosed takes a connection that died in SYN-RECEIVED out of the SYN
// queue. One that dies in the accept queue stays there: Accept returns it and
// its error shows (as in Linux).
func (l *Listener) connClosed(c *Conn) {
	if c.lq == inSynQueue {
		l.synQ = removeConn(l.synQ, c)
		c.lq = inNoQueue
	}
}

func removeConn(q []*Conn, c *Conn) []*Conn {
	for i, x := range q {
		if x == c {
			copy(q[i:], q[i+1:])
			q[len(q)-1] = nil
			return q[:len(q)-1]
		}
	}
	return q
}

func (l *Listener) sendReset(seg *Segment, remote netip.AddrPort) {
	rst, ok := ResetFor(seg)
	if !ok {
		return
	}
	l.stats.ResetsSent++
	l.tx = rst
	l.out.SendSegment(l.local, remote, &l.tx, nil, nil)
}

// Accept pops the oldest connection whose handshake completed (it may have
// moved on since: CLOSE-WAIT, or CLOSED with an error); nil if none.
func (l *Listener) Accept() *Conn {
	if len(l.acceptQ) == 0 {
		return nil
	}
	c := l.acceptQ[0]
	copy(l.acceptQ, l.acceptQ[1:])
	l.acceptQ[len(l.acceptQ)-1] = nil
	l.acceptQ = l.acceptQ[:len(l.acceptQ)-1]
	c.lq = inNoQueue
	return c
}

// Pending returns the accept queue length.
func (l *Listener) Pending() int { return len(l.acceptQ) }

// Close stops listening. Every connection still in either queue is aborted
// (RFC 9293 §3.10.4 / §3.10.5: nobody will accept it; a RST tells the peer,
// as Linux's inet_csk_listen_stop) and returned so that the caller drops it
// from its table.
func (l *Listener) Close(now time.Time) []*Conn {
	if l.closed {
		return nil
	}
	l.closed = true
	all := make([]*Conn, 0, len(l.synQ)+len(l.acceptQ))
	all = append(all, l.synQ...)
	all = append(all, l.acceptQ...)
	l.synQ, l.acceptQ = nil, nil
	for _, c := range all {
		c.lq = inNoQueue
		if c.state != StateClosed {
			switch c.state {
			case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
				l.stats.ResetsSent++
			}
			c.Abort(now)
		}
	}
	return all
}

// TakeEvents returns the events since the last call and clears them.
func (l *Listener) TakeEvents() Events {
	ev := l.events
	l.events = 0
	return ev
}

// Stats returns the counters.
func (l *Listener) Stats() ListenerStats { return l.stats }

// acceptQueueDrop counts a SYN or completing ACK dropped because the accept
// queue is full, here and in the stack-wide Counters.
func (l *Listener) acceptQueueDrop() {
	l.stats.AcceptQueueDrops++
	if k := l.cfg.Counters; k != nil {
		k.ListenOverflows++
		k.ListenDrops++
	}
}

// synQueueDrop counts a SYN dropped because the SYN queue is full and
// cookies are off.
func (l *Listener) synQueueDrop() {
	l.stats.SynQueueDrops++
	if k := l.cfg.Counters; k != nil {
		k.ListenDrops++
	}
}
