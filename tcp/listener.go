package tcp

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// maxBacklog is Linux's default net.core.somaxconn.
const maxBacklog = 4096

// ListenerStats counts what a Listener did with the segments it was given.
type ListenerStats struct {
	SynReceived      uint64 // SYNs handled
	SynQueueDrops    uint64 // SYNs dropped: the SYN queue was full
	AcceptQueueDrops uint64 // SYNs dropped, and handshake-completing ACKs dropped, because the accept queue was full
	ResetsSent       uint64 // RSTs sent (stray ACKs, Close)
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
// dropped while the accept queue is full (tcp_conn_request). SYN cookies are
// not implemented: a SYN that finds the SYN queue full is dropped and counted.
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
	scratch Conn // carries the addresses of a RST the Listener sends itself
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

// HandleSegment processes a segment from remote that matched no connection
// but this Listener (RFC 9293 §3.10.7.2). It returns a new Conn in
// SYN-RECEIVED, its SYN-ACK already sent, that the caller must add to its
// demultiplexing table; otherwise nil.
//
//   - RST: ignored.
//   - ACK (any, a stray SYN-ACK included): <SEQ=SEG.ACK><CTL=RST> via Output.
//   - SYN: a new connection with initial sequence number iss, if both queues
//     have room; otherwise dropped and counted.
//   - Anything else: dropped.
func (l *Listener) HandleSegment(seg *Segment, remote netip.AddrPort, iss seqnum.Value, now time.Time) *Conn {
	switch {
	case l.closed:
		return nil
	case seg.Flags&FlagRST != 0:
		return nil // "An incoming RST segment could not be valid ... ignore it"
	case seg.Flags&FlagACK != 0:
		l.sendReset(seg, remote)
		return nil
	case seg.Flags&FlagSYN == 0:
		return nil // "Any other control or text-bearing segment ... drop it"
	}
	l.stats.SynReceived++
	if l.acceptFull() {
		l.stats.AcceptQueueDrops++
		return nil
	}
	if len(l.synQ) >= l.queueCap() {
		l.stats.SynQueueDrops++
		return nil
	}
	c := NewConn(l.cfg, l.local, remote, iss, l.out)
	c.listener = l
	c.lq = inSynQueue
	l.synQ = append(l.synQ, c)
	c.passiveOpen(seg, now)
	return c
}

// passiveOpen is §3.10.7.2 "third, check for a SYN" for a fresh Conn:
// CLOSED → LISTEN → SYN-RECEIVED, sending <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
// Deviation (Linux compat): data and FIN on the SYN are not queued (Linux
// discards them without TCP Fast Open); the peer sends them again.
func (c *Conn) passiveOpen(seg *Segment, now time.Time) {
	c.setState(StateListen)
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq.Add(1)
	c.wsOffered = !c.cfg.DisableWindowScale
	c.negotiate(&seg.Options) // offers WScale back only if the SYN had it
	c.sndWnd, c.sndWL1, c.sndWL2 = int(seg.Window), seg.Seq, c.iss
	c.maxSndWnd = c.sndWnd
	c.setState(StateSynReceived)
	c.sndNxt = c.iss.Add(1)
	c.sndMax = c.sndNxt
	c.rcvAdvRight = c.rcvNxt
	c.sendSyn(true)
	c.startRTT(c.sndNxt, now)
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
	l.scratch = Conn{local: l.local, remote: remote}
	l.out.SendSegment(&l.scratch, &rst, nil, nil)
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
