package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// The transmit log: one record per transmitted segment of the send
// sequence space [SND.UNA, SND.NXT), with its latest transmit time (RFC
// 8985 §6.1 "Segment.xmit_ts") and what is known of it (SACKed, deemed
// lost, retransmitted). RACK (rack.go) reads it to deem a segment lost at
// xmit_ts + RACK.rtt + RACK.reo_wnd (§6.2 step 5).
//
// Records are kept in the order of their latest transmission, as Linux's
// tsorted list (tcp_rack_detect_loss walks it): new data is appended at
// the tail, and a retransmitted record moves to the tail. A segment of
// several MSS (tso.go) is one record; a SACK block or a partial
// retransmission that cuts a record splits it. Records sent at the same
// instant back to back merge (their xmit_ts is the same, so RACK cannot
// tell them apart anyway). The cumulative ACK frees what it covers.
//
// The records live in one slice reused for the connection's life, linked
// by index in send order, with a free list: nothing is allocated per
// segment once the slice has grown to the flight, and the slice is let go
// when the flight empties after a large one (txLogKeep), so an idle or
// stalled connection keeps little. Index 0 is the list's sentinel, never a
// record.

// Record flags. txLost and txRetrans are Linux's L and R bits
// (tcp_skb_cb.sacked): a record deemed lost (L) stays so until delivered;
// R says its latest transmission is a retransmission not deemed lost
// since. L without R is a record whose latest transmission is lost and
// that waits to be resent.
const (
	txSACKed      uint8 = 1 << iota // delivered above a hole (RFC 2018)
	txLost                          // deemed lost (RFC 8985 §6.2 step 5)
	txRetrans                       // latest transmission is a retransmission in flight
	txEverRetrans                   // retransmitted at least once (RFC 8985 §6.2 step 2's ambiguity)
)

// txLogKeep is how many records' room a connection keeps once its flight
// empties; a larger slice is let go then, so that memory follows the
// flight.
const txLogKeep = 64

// txRecord is one transmitted segment: [start, end) (the FIN counts as an
// octet) last sent at xmit.
type txRecord struct {
	start, end seqnum.Value
	xmit       time.Time
	prev, next int32
	flags      uint8
}

func (r *txRecord) has(f uint8) bool { return r.flags&f != 0 }

// txLog is the list. head and tail are 0 when it is empty; free heads the
// free list (0: none).
type txLog struct {
	recs       []txRecord
	head, tail int32
	free       int32
	n          int // live records
	// moved counts live records that were retransmitted: while it is
	// zero the list is in sequence order too, so the cumulative ACK
	// frees from the head.
	moved int
	// nLost counts live records with txLost set.
	nLost int
}

// alloc returns the index of a fresh record.
func (l *txLog) alloc() int32 {
	if l.free != 0 {
		i := l.free
		l.free = l.recs[i].next
		l.recs[i] = txRecord{}
		return i
	}
	if l.recs == nil {
		l.recs = make([]txRecord, 1, 8)
	}
	l.recs = append(l.recs, txRecord{})
	return int32(len(l.recs) - 1)
}

// unlink takes record i out of the list.
func (l *txLog) unlink(i int32) {
	r := &l.recs[i]
	if r.prev != 0 {
		l.recs[r.prev].next = r.next
	} else {
		l.head = r.next
	}
	if r.next != 0 {
		l.recs[r.next].prev = r.prev
	} else {
		l.tail = r.prev
	}
	r.prev, r.next = 0, 0
}

// linkTail puts record i at the tail.
func (l *txLog) linkTail(i int32) {
	r := &l.recs[i]
	r.prev, r.next = l.tail, 0
	if l.tail != 0 {
		l.recs[l.tail].next = i
	} else {
		l.head = i
	}
	l.tail = i
}

// linkAfter puts record i right after record at.
func (l *txLog) linkAfter(at, i int32) {
	r := &l.recs[i]
	r.prev, r.next = at, l.recs[at].next
	if r.next != 0 {
		l.recs[r.next].prev = i
	} else {
		l.tail = i
	}
	l.recs[at].next = i
}

// release frees record i (unlinked or not).
func (l *txLog) release(i int32) {
	r := &l.recs[i]
	if r.prev != 0 || r.next != 0 || l.head == i {
		l.unlink(i)
	}
	if r.has(txEverRetrans) {
		l.moved--
	}
	if r.has(txLost) {
		l.nLost--
	}
	l.n--
	r.flags = 0
	r.next = l.free
	l.free = i
	if l.n == 0 {
		l.reset()
	}
}

// reset forgets every record; a slice grown beyond txLogKeep goes.
func (l *txLog) reset() {
	if cap(l.recs) > txLogKeep {
		l.recs = nil
	} else if l.recs != nil {
		l.recs = l.recs[:1]
	}
	l.head, l.tail, l.free, l.n, l.moved, l.nLost = 0, 0, 0, 0, 0, 0
}

// split cuts record i at seq (strictly inside it): i keeps [start, seq),
// a new record right after it in the list gets [seq, end) with the same
// time and flags. It returns the new record's index.
func (l *txLog) split(i int32, seq seqnum.Value) int32 {
	j := l.alloc()
	r := &l.recs[i]
	l.recs[j] = txRecord{start: seq, end: r.end, xmit: r.xmit, flags: r.flags}
	r.end = seq
	l.linkAfter(i, j)
	l.n++
	if l.recs[j].has(txEverRetrans) {
		l.moved++
	}
	if l.recs[j].has(txLost) {
		l.nLost++
	}
	return j
}

// setFlags sets and clears flags on record i, keeping the counts.
func (l *txLog) setFlags(i int32, set, clear uint8) {
	r := &l.recs[i]
	old := r.flags
	r.flags = (old &^ clear) | set
	if old&txLost == 0 && r.flags&txLost != 0 {
		l.nLost++
	} else if old&txLost != 0 && r.flags&txLost == 0 {
		l.nLost--
	}
	if old&txEverRetrans == 0 && r.flags&txEverRetrans != 0 {
		l.moved++
	}
}

// sent logs new data [s, e) (beyond the old SND.NXT) sent at now.
func (l *txLog) sent(s, e seqnum.Value, now time.Time) {
	if !s.LessThan(e) {
		return
	}
	if t := l.tail; t != 0 {
		if r := &l.recs[t]; r.end == s && r.flags == 0 && r.xmit.Equal(now) {
			r.end = e // sent back to back at the same instant
			return
		}
	}
	i := l.alloc()
	l.recs[i] = txRecord{start: s, end: e, xmit: now}
	l.linkTail(i)
	l.n++
}

// resent logs the retransmission of [s, e) at now: every record in it
// (cut at s and e) takes now as its xmit_ts (RFC 8985 §6.1), is marked
// retransmitted, and moves to the tail.
func (l *txLog) resent(s, e seqnum.Value, now time.Time) {
	if !s.LessThan(e) || l.n == 0 {
		return
	}
	stop := l.tail // records moved to the tail go after it, and are not seen again
	for i := l.head; i != 0; {
		r := &l.recs[i]
		next, atStop := r.next, i == stop
		switch {
		case r.end.LessThanEq(s) || e.LessThanEq(r.start):
			if l.moved == 0 && e.LessThanEq(r.start) {
				return // in sequence order: nothing further overlaps
			}
		case r.has(txSACKed):
			// Resent all the same (a timeout's first segment, RFC 2018
			// §8): the receiver holds it, nothing more is in flight.
		case r.start.LessThan(s):
			j := l.split(i, s) // [s, ...) is looked at next
			if atStop {
				stop = j
			}
			i = j
			continue
		default:
			if e.LessThan(r.end) {
				if j := l.split(i, e); atStop {
					stop, atStop = j, false
				}
			}
			r = &l.recs[i]
			next = r.next
			r.xmit = now
			l.setFlags(i, txRetrans|txEverRetrans, 0)
			if i != l.tail {
				l.unlink(i)
				l.linkTail(i)
			}
		}
		if atStop {
			return
		}
		i = next
	}
}

// txSent logs a transmission of [seq, end) at now (the FIN counted in
// end), before SND.NXT moves: what lies below SND.NXT is a
// retransmission, the rest new. Only a SACK connection keeps the log:
// RACK needs SACK (RFC 8985 §4).
func (c *Conn) txSent(seq, end seqnum.Value, now time.Time) {
	if !c.sackOn {
		return
	}
	if seq.LessThan(c.sndNxt) {
		c.txl.resent(seq, seqnum.Min(end, c.sndNxt), now)
	}
}

// txSentNew logs new data [seq, end), from SND.NXT on, sent at now.
func (c *Conn) txSentNew(seq, end seqnum.Value, now time.Time) {
	if c.sackOn {
		c.txl.sent(seqnum.Max(seq, c.sndNxt), end, now)
	}
}

// txAcked frees what the cumulative ACK una covers, cutting a record it
// ends inside; each record newly delivered goes to RACK (rackAdvance).
func (c *Conn) txAcked(una seqnum.Value, now time.Time) {
	l := &c.txl
	for i := l.head; i != 0; {
		r := &l.recs[i]
		next := r.next
		switch {
		case r.end.LessThanEq(una):
			if !r.has(txSACKed) {
				c.rackAdvance(r, now)
			}
			l.release(i)
		case r.start.LessThan(una):
			c.rackAdvance(r, now)
			r.start = una
		case l.moved == 0:
			return // in sequence order: the rest lies above
		}
		i = next
	}
}

// txSACKed marks what of [s, e) the records hold as SACKed, cut at s and
// e (RFC 6675 §4 Update(), per segment as Linux's tcp_sacktag_write_queue),
// and gives each to RACK (rackAdvance). A record SACKed is no longer lost
// nor in flight.
func (c *Conn) txSACKed(s, e seqnum.Value, now time.Time) {
	l := &c.txl
	for i := l.head; i != 0; {
		r := &l.recs[i]
		next := r.next
		switch {
		case r.end.LessThanEq(s) || e.LessThanEq(r.start):
			if l.moved == 0 && e.LessThanEq(r.start) {
				return
			}
		case r.has(txSACKed):
		case r.start.LessThan(s):
			if !c.txSplitOK() {
				break // left unmarked: see txSplitOK
			}
			i = l.split(i, s)
			continue
		default:
			if e.LessThan(r.end) {
				if !c.txSplitOK() {
					break
				}
				l.split(i, e)
			}
			l.setFlags(i, txSACKed, txLost|txRetrans)
			c.rackAdvance(&l.recs[i], now)
			next = l.recs[i].next
		}
		i = next
	}
}

// txSplitOK reports whether a SACK block may cut one more record. The
// peer chooses where blocks start and end, and a SACKed record stays
// until the cumulative ACK passes it, so single-octet blocks at new
// offsets would cut the log into a record per octet (Linux cuts skbs only
// at whole segments, tcp_match_skb_to_sack). Records are kept to twice
// the segments in flight, plus txLogKeep: an honest receiver SACKs whole
// segments, so the log needs about one record per segment at most. A
// block that would cut past that leaves the record unmarked here; the
// scoreboard (sack.go) still holds it exactly, and RACK at worst resends
// what was SACKed.
func (c *Conn) txSplitOK() bool {
	return c.txl.n < 2*int(c.sndUna.Size(c.sndNxt))/max(c.mss, 1)+txLogKeep
}

// txUnSACK clears every SACKed mark: the receiver reneged (RFC 2018 §8),
// or the scoreboard was dropped after a second timeout.
func (c *Conn) txUnSACK() {
	l := &c.txl
	for i := l.head; i != 0; i = l.recs[i].next {
		l.setFlags(i, 0, txSACKed)
	}
}

// txForgetLosses clears the loss and retransmission marks when the RTO
// fires: the go-back-N resends everything not SACKed (Linux's
// tcp_enter_loss marks it all lost instead, to the same effect), and no
// SACK recovery, which alone reads the marks, starts before the
// cumulative ACK passes what is outstanding now (RFC 6675 §5.1).
func (c *Conn) txForgetLosses() {
	l := &c.txl
	for i := l.head; i != 0; i = l.recs[i].next {
		l.setFlags(i, 0, txLost|txRetrans)
	}
}

// txResentAt reports whether the record holding seq was retransmitted.
func (c *Conn) txResentAt(seq seqnum.Value) bool {
	l := &c.txl
	if l.moved == 0 {
		return false
	}
	for i := l.head; i != 0; i = l.recs[i].next {
		if r := &l.recs[i]; r.start.LessThanEq(seq) && seq.LessThan(r.end) {
			return r.has(txEverRetrans)
		}
	}
	return false
}
