package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Selective acknowledgment: the receiver's SACK blocks (RFC 2018) and
// D-SACK reports (RFC 2883), and the sender's scoreboard with RFC 6675
// loss recovery. Everything lives in fixed arrays in the Conn: nothing
// here allocates per segment.

// dupThresh is DupThresh of RFC 6675 §2 (and RFC 5681 §3.2).
const dupThresh = 3

// sackBoardSize bounds the scoreboard: the SACKed ranges a sender
// remembers. Deviation (Linux compat, in spirit): Linux marks SACKed
// segments in its retransmission queue and caches the last 4 received
// blocks (recv_sack_cache); we keep a sorted set of ranges, allocated at
// the first SACK (a connection that never sees one pays nothing). When it
// is full, the highest range is forgotten: the data in it only looks
// unSACKed, so at worst it is retransmitted needlessly (SACK information
// is advisory, RFC 2018 §8, and data is freed only by the cumulative ACK).
// A slow start that overruns a drop-tail queue loses every other segment
// for a while, leaving hundreds of holes: with 8 ranges, 638 of the 971
// segments a 100 Mbit/s × 40 ms bottleneck's overshoot retransmitted
// (test/bench BenchmarkBottleneck, Reno, no random loss) were needless.
const sackBoardSize = 128

// seqRange is [start, end) in sequence space.
type seqRange struct{ start, end seqnum.Value }

// scoreboard is the sender's record of SACKed data (RFC 6675 §3): sorted,
// disjoint, non-adjacent ranges within SND.UNA..SND.NXT.
type scoreboard struct {
	r      []seqRange // len sackBoardSize once allocated
	n      int
	sacked int // bytes in r[:n]
}

func (b *scoreboard) clear() { b.n, b.sacked = 0, 0 }

// trim drops what lies below una (the cumulative ACK moved).
func (b *scoreboard) trim(una seqnum.Value) {
	k := 0
	for _, g := range b.r[:b.n] {
		if g.end.LessThanEq(una) {
			b.sacked -= int(g.start.Size(g.end))
			continue
		}
		if g.start.LessThan(una) {
			b.sacked -= int(g.start.Size(una))
			g.start = una
		}
		b.r[k] = g
		k++
	}
	b.n = k
}

// add merges [s, e) into the board and returns the bytes newly SACKed.
func (b *scoreboard) add(s, e seqnum.Value) int {
	// Ranges lo..hi-1 overlap or touch [s, e).
	lo := 0
	for lo < b.n && b.r[lo].end.LessThan(s) {
		lo++
	}
	hi := lo
	for hi < b.n && b.r[hi].start.LessThanEq(e) {
		hi++
	}
	if b.r == nil {
		b.r = make([]seqRange, sackBoardSize)
	}
	if lo == hi && b.n == sackBoardSize {
		if lo == b.n {
			return 0 // above everything and no room: forget it
		}
		b.sacked -= int(b.r[b.n-1].start.Size(b.r[b.n-1].end))
		b.n-- // forget the highest range
	}
	m := seqRange{s, e}
	old := 0
	if lo < hi {
		m.start = seqnum.Min(s, b.r[lo].start)
		m.end = seqnum.Max(e, b.r[hi-1].end)
		for _, g := range b.r[lo:hi] {
			old += int(g.start.Size(g.end))
		}
	}
	switch {
	case lo == hi:
		copy(b.r[lo+1:b.n+1], b.r[lo:b.n])
		b.n++
	case hi > lo+1:
		copy(b.r[lo+1:], b.r[hi:b.n])
		b.n -= hi - lo - 1
	}
	b.r[lo] = m
	added := int(m.start.Size(m.end)) - old
	b.sacked += added
	return added
}

// sackedIn returns the SACKed bytes within [lo, hi).
func (b *scoreboard) sackedIn(lo, hi seqnum.Value) int {
	n := 0
	for _, g := range b.r[:b.n] {
		s, e := seqnum.Max(g.start, lo), seqnum.Min(g.end, hi)
		if s.LessThan(e) {
			n += int(s.Size(e))
		}
	}
	return n
}

// sackedAbove returns the SACKed bytes and ranges at or above seq.
func (b *scoreboard) sackedAbove(seq seqnum.Value) (bytes, ranges int) {
	for i := b.n - 1; i >= 0 && b.r[i].start.GreaterThanEq(seq); i-- {
		bytes += int(b.r[i].start.Size(b.r[i].end))
		ranges++
	}
	return bytes, ranges
}

// isLost is IsLost(SeqNum) of RFC 6675 §4 for an unSACKed seq: DupThresh
// discontiguous SACKed sequences above it, or more than (DupThresh-1)·SMSS
// SACKed bytes above it.
func (c *Conn) isLost(seq seqnum.Value) bool {
	bytes, ranges := c.sb.sackedAbove(seq)
	return ranges >= dupThresh || bytes > (dupThresh-1)*c.mss
}

// sackUpdate is Update() of RFC 6675 §4: it records the SACK blocks of an
// acceptable ACK and returns the bytes they newly SACKed. A D-SACK block
// (RFC 2883 §4: the first block, below the cumulative ACK or inside the
// second block) reports a duplicate and is left out of the scoreboard
// (RFC 6675 §4, Update() "is not ... for D-SACK"). Every other block is
// checked first (sackBlockValid); one that fails is ignored and counted.
func (c *Conn) sackUpdate(seg *Segment, now time.Time) int {
	o := &seg.Options
	n := min(max(o.NumSACK, 0), maxSACKBlocks)
	added := 0
	// The highest SACKed octet before this ACK: a block below it is data
	// delivered after data sent later (noteReordering).
	var top seqnum.Value
	hadTop := c.sb.n > 0
	if hadTop {
		top = c.sb.r[c.sb.n-1].end
	}
	for i, blk := range o.SACK[:n] {
		if i == 0 && isDSACK(o, seg.Ack) {
			c.dsackUndo(blk)
			c.rackDSACK()
			continue
		}
		if !c.sackBlockValid(blk) {
			c.sackDiscards++
			if k := c.cfg.Counters; k != nil {
				k.SACKDiscards++
			}
			continue
		}
		c.peerSACKs = true
		got := c.sb.add(blk.Start, blk.End)
		if got > 0 && hadTop && blk.End.LessThan(top) && blk.Start.GreaterThanEq(c.highRxt) {
			c.noteReordering(blk.Start, blk.End) // newly SACKed, all below the old top
		}
		if got > 0 {
			c.txSACKed(blk.Start, blk.End, now)
		}
		added += got
	}
	return added
}

// sackBlockValid is Linux's tcp_is_sackblock_valid for a block that is
// not a D-SACK. RFC 2018 §3 says nothing of validation, but a block is
// evidence that drives loss recovery, and a bogus one (a crafted block,
// or one a middlebox left unshifted) must not: the block must be
// non-empty, end at or below SND.NXT and start above
// SND.UNA. A receiver that holds the octet at SND.UNA acknowledges it
// cumulatively, so a block reaching down to SND.UNA is not a SACK of data
// above a hole: Linux ignores it whole rather than trimming it, and so do
// we. A block within SND.UNA..SND.NXT is also no longer than the window.
func (c *Conn) sackBlockValid(b SACKBlock) bool {
	return b.Start.LessThan(b.End) && b.End.LessThanEq(c.sndNxt) && b.Start.GreaterThan(c.sndUna)
}

// isDSACK reports whether the first SACK block of o is a D-SACK block
// (RFC 2883 §4): below the cumulative ACK, or contained in the second.
func isDSACK(o *Options, ack seqnum.Value) bool {
	if o.NumSACK < 1 {
		return false
	}
	b0 := o.SACK[0]
	if b0.End.LessThanEq(ack) {
		return true
	}
	if o.NumSACK > 1 {
		b1 := o.SACK[1]
		return b1.Start.LessThanEq(b0.Start) && b0.End.LessThanEq(b1.End)
	}
	return false
}

// sackRecovering reports whether RFC 6675 loss recovery is running.
func (c *Conn) sackRecovering() bool { return c.sackOn && c.inRecovery }

// pipe is SetPipe() of RFC 6675 §4, computed per hole rather than per
// octet (every octet of a hole has the same SACKed bytes above it, so
// IsLost is the same for all of them): an unSACKed octet counts once if
// it is not lost, and once more if it has been retransmitted (at or
// below HighRxt).
func (c *Conn) pipe() int {
	p := 0
	prev := c.sndUna
	bytes, ranges := c.sb.sacked, c.sb.n
	for i := 0; i <= c.sb.n; i++ {
		end := c.sndNxt
		if i < c.sb.n {
			end = c.sb.r[i].start
		}
		if prev.LessThan(end) {
			size := int(prev.Size(end))
			if i == c.sb.n || !c.lostHole(bytes, ranges) {
				p += size
			}
			if c.highRxt.GreaterThan(prev) {
				p += int(prev.Size(seqnum.Min(end, c.highRxt)))
			}
		}
		if i < c.sb.n {
			bytes -= int(c.sb.r[i].start.Size(c.sb.r[i].end))
			ranges--
			prev = c.sb.r[i].end
		}
	}
	// A segment deemed lost by RACK (RFC 8985 §6.2) has left the network.
	return max(p+c.rackPipe(), 0)
}

// lostHole reports whether a hole below SACKed data of bytes octets in
// ranges ranges is lost by IsLost (RFC 6675 §4), unless reordering was
// seen (RFC 8985 §6.2 step 4: RACK's reordering window decides then).
// RACK's own marks are the records' (rackPipe).
func (c *Conn) lostHole(bytes, ranges int) bool {
	return !c.reorderingSeen && (ranges >= dupThresh || bytes > (dupThresh-1)*c.mss)
}

// isLostLine returns the sequence number below which every unSACKed
// octet is IsLost (RFC 6675 §4): the start of the highest SACKed range
// with DupThresh ranges, or more than (DupThresh-1)·SMSS octets, at or
// above it. IsLost only grows toward SND.UNA, so one walk from the top
// finds it. ok is false when IsLost holds nowhere.
func (c *Conn) isLostLine() (line seqnum.Value, ok bool) {
	bytes := 0
	for i := c.sb.n - 1; i >= 0; i-- {
		bytes += int(c.sb.r[i].start.Size(c.sb.r[i].end))
		if c.sb.n-i >= dupThresh || bytes > (dupThresh-1)*c.mss {
			return c.sb.r[i].start, true
		}
	}
	return 0, false
}

// nextHole returns the segment NextSeg() rules (1) and (3) of RFC 6675
// §4 would retransmit: the first unSACKed octet above HighRxt (1.a) and
// below the highest SACKed octet (1.b), up to SMSS of it. lost reports
// whether IsLost holds there (1.c), which makes it rule (1); otherwise
// it is rule (3).
func (c *Conn) nextHole(mss int) (seq seqnum.Value, n int, lost, ok bool) {
	prev := c.sndUna
	for i := 0; i < c.sb.n; i++ {
		start, end := seqnum.Max(prev, c.highRxt), c.sb.r[i].start
		prev = c.sb.r[i].end
		for start.LessThan(end) {
			s := c.rackResentAt(start) // RACK resent it already
			if s == start {
				break
			}
			start = s
		}
		if !start.LessThan(end) {
			continue
		}
		n = int(start.Size(end))
		if dEnd := c.dataEnd(); start.LessThan(dEnd) {
			n = min(n, int(start.Size(dEnd)), mss)
		} else {
			return 0, 0, false, false // no data there (cannot happen: the FIN is last)
		}
		return start, n, !c.reorderingSeen && c.isLost(start), true
	}
	return 0, 0, false, false
}

// retransmitHole resends n bytes at seq during recovery (RFC 6675 §5
// (C.1)-(C.2)): HighRxt moves to its end.
func (c *Conn) retransmitHole(seq seqnum.Value, n int, now time.Time) {
	c.transmit(now, seq, n, false)
	c.countRetransmit(n)
	if c.rttTiming && seq.LessThan(c.rttSeq) {
		c.rttTiming = false // Karn
	}
	c.highRxt = seqnum.Max(c.highRxt, seq.Add(seqnum.Size(n)))
	if c.rtoAt.IsZero() {
		c.rtoAt = now.Add(c.currentRTO())
	}
}

// rescueRetransmit is NextSeg() rule (4) of RFC 6675 §4, the rescue
// retransmission, a MAY that Linux does not have (it relies on TLP and
// RACK instead) but that costs one segment per recovery: when rules
// (1)-(3) find nothing, and HighACK is above RescueRxt (or RescueRxt is
// unset), resend up to SMSS ending with the highest outstanding unSACKed
// octet (the FIN, if that is it) and set RescueRxt to RecoveryPoint
// (4.a). HighRxt is not updated. It reports whether it sent.
func (c *Conn) rescueRetransmit(now time.Time) bool {
	if c.rescueSet && !c.sndUna.GreaterThan(c.rescueRxt) {
		return false
	}
	// The tail of the flight, above the highest SACKed octet and not yet
	// retransmitted: [low, top). Holes below the highest SACK are rules
	// (1) and (3)'s; a tail of lost segments draws no SACK that would
	// ever mark it lost. Only data sent before recovery began (below
	// RecoveryPoint) is rescued: the rule is for "loss at the end of the
	// window", and new data rule (2) has just sent would otherwise be
	// sent twice at once.
	low, top := seqnum.Max(c.sndUna, c.highRxt), seqnum.Min(c.sndNxt, c.recover)
	if n := c.sb.n; n > 0 {
		low = seqnum.Max(low, c.sb.r[n-1].end)
	}
	if !low.LessThan(top) {
		return false
	}
	fin := c.finSent() && top == c.sndNxt && top == c.finSeq.Add(1)
	dataTop := top
	if fin {
		dataTop = top.Sub(1)
	}
	_, _, ok := c.retransmitTail(now, low, dataTop, fin)
	if !ok {
		return false
	}
	c.rescueRxt, c.rescueSet = c.recover, true
	if c.rtoAt.IsZero() {
		c.rtoAt = now.Add(c.currentRTO())
	}
	return true
}

// --- the receiver: SACK blocks (RFC 2018 §4) and D-SACK (RFC 2883) ---

// rcvRanges returns the receive buffer's out-of-order ranges in a
// per-connection scratch slice, grown as needed and kept.
func (rv *recvState) rcvRanges() [][2]int {
	rv.rangesScratch = rv.rcvBuf.Ranges(rv.rangesScratch[:0])
	return rv.rangesScratch
}

// rangeOf returns the index in rs of the range holding offset off, -1 if
// none.
func rangeOf(rs [][2]int, off int) int {
	for i, g := range rs {
		if g[0] <= off && off < g[1] {
			return i
		}
	}
	return -1
}

// heldOutOfOrder reports whether [off, off+n) from RCV.NXT lies wholly
// in one held out-of-order range.
func (rv *recvState) heldOutOfOrder(off, n int) bool {
	rs := rv.rcvRanges()
	i := rangeOf(rs, off)
	return i >= 0 && off+n <= rs[i][1]
}

// noteSACKRecent records that the out-of-order segment at seq was just
// received (or duplicated): its range becomes the first SACK block
// (RFC 2018 §4: "the first SACK block ... MUST specify the contiguous
// block of data containing the segment which triggered this ACK"), the
// others follow in order of recency. Entries for the same range, or for
// data now in order, are dropped.
func (rv *recvState) noteSACKRecent(seq seqnum.Value) {
	if !seq.GreaterThan(rv.rcvNxt) {
		return
	}
	rs := rv.rcvRanges()
	ri := rangeOf(rs, int(rv.rcvNxt.Size(seq)))
	if ri < 0 {
		return
	}
	k := 0
	for _, v := range rv.sackRecent[:rv.sackRecentN] {
		if v.GreaterThan(rv.rcvNxt) {
			if j := rangeOf(rs, int(rv.rcvNxt.Size(v))); j >= 0 && j != ri {
				rv.sackRecent[k] = v
				k++
			}
		}
	}
	k = min(k, len(rv.sackRecent)-1)
	copy(rv.sackRecent[1:k+1], rv.sackRecent[:k])
	rv.sackRecent[0] = seq
	rv.sackRecentN = k + 1
}

// sackLimit is how many blocks fit beside the other options: 4, or 3
// with timestamps (RFC 2018 §3; EncodeOptions applies the same limit),
// and fewer on a link so small that the option must leave room for a byte
// of data within the MSS (sendMSS): at an MTU of 68 with timestamps, one.
// An option that did not fit would make the datagram larger than the link
// carries, and DF would have it dropped.
func (c *Conn) sackLimit() int {
	n := maxSACKBlocks
	if c.tsOn {
		n--
	}
	for n > 0 && sackOptionLen(n) >= c.mss {
		n--
	}
	return n
}

// sackOptionLen is the room k SACK blocks take, with the two NOPs that
// align them (EncodeOptions).
func sackOptionLen(k int) int { return lenSACKBase + 2 + lenSACKBlock*k }

// sackBlockCount is how many SACK blocks the next ACK carries.
func (c *Conn) sackBlockCount() int {
	if !c.sackOn {
		return 0
	}
	n := 0
	if c.hasDSACK {
		n++
	}
	if c.rcvBuf.OutOfOrderBytes() > 0 {
		n += len(c.rcvRanges())
	}
	return min(n, c.sackLimit())
}

// sendMSS is the payload a data segment may carry now: the MSS less the
// room the SACK blocks it will carry take. Deviation (Linux compat): as
// Linux's tcp_current_mss, SACK blocks shrink the segment rather than
// being left off a full-sized one (RFC 2018 §4: SACK "SHOULD be included
// in all ACKs which do not ACK the highest sequence number").
func (c *Conn) sendMSS() int {
	if k := c.sackBlockCount(); k > 0 {
		return c.mss - sackOptionLen(k) // at least 1: sackLimit
	}
	return c.mss
}

// fillSACK puts the SACK blocks into o (RFC 2018 §4): a D-SACK block
// first if a duplicate arrived (RFC 2883 §4, reported once), then the
// range holding the most recently received segment, the other recent
// ones, and then any other held ranges, lowest first, as room allows.
func (c *Conn) fillSACK(o *Options) {
	limit := c.sackLimit()
	k := c.takeDSACK(o)
	first := k // blocks from here on are held ranges, compared for duplicates
	if c.rcvBuf.OutOfOrderBytes() > 0 {
		rs := c.rcvRanges()
		add := func(g [2]int) {
			b := SACKBlock{Start: c.rcvNxt.Add(seqnum.Size(g[0])), End: c.rcvNxt.Add(seqnum.Size(g[1]))}
			for _, x := range o.SACK[first:k] {
				if x == b {
					return
				}
			}
			o.SACK[k] = b
			k++
		}
		for _, v := range c.sackRecent[:c.sackRecentN] {
			if k == limit {
				break
			}
			if v.GreaterThan(c.rcvNxt) {
				if j := rangeOf(rs, int(c.rcvNxt.Size(v))); j >= 0 {
					add(rs[j])
				}
			}
		}
		for _, g := range rs {
			if k == limit {
				break
			}
			add(g)
		}
	}
	o.NumSACK = k
}
