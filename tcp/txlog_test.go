package tcp

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// txLogInvariants checks the transmit log against the send sequence
// space: the records tile [SND.UNA, SND.NXT) exactly, in the order of
// their transmit times, with the counts right and the links both ways.
func txLogInvariants(c *Conn) error {
	l := &c.txl
	n, moved, lost := 0, 0, 0
	var prev int32
	var last time.Time
	var rs []txRecord
	for i := l.head; i != 0; i = l.recs[i].next {
		r := l.recs[i]
		if r.prev != prev {
			return fmt.Errorf("txlog: record %d's prev %d, want %d", i, r.prev, prev)
		}
		if !r.start.LessThan(r.end) {
			return fmt.Errorf("txlog: empty record [%d, %d)", r.start, r.end)
		}
		if r.xmit.Before(last) {
			return fmt.Errorf("txlog: record [%d, %d) sent at %v after one sent at %v", r.start, r.end, r.xmit, last)
		}
		last = r.xmit
		n++
		if r.has(txEverRetrans) {
			moved++
		}
		if r.has(txLost) {
			lost++
		}
		if r.has(txSACKed) && r.has(txLost|txRetrans) {
			return fmt.Errorf("txlog: SACKed record [%d, %d) flags %b", r.start, r.end, r.flags)
		}
		rs = append(rs, r)
		prev = i
		if n > len(l.recs) {
			return fmt.Errorf("txlog: a loop")
		}
	}
	if prev != l.tail || n != l.n || moved != l.moved || lost != l.nLost {
		return fmt.Errorf("txlog: tail %d (want %d), n %d (%d), moved %d (%d), lost %d (%d)", l.tail, prev, l.n, n, l.moved, moved, l.nLost, lost)
	}
	if l.moved == 0 && !slices.IsSortedFunc(rs, func(a, b txRecord) int { return int(int32(b.start.Size(a.start))) }) {
		return fmt.Errorf("txlog: nothing retransmitted but out of sequence order: %v", rs)
	}
	if !c.sackOn || !c.state.synchronized() || c.state == StateSynReceived {
		return nil
	}
	slices.SortFunc(rs, func(a, b txRecord) int { return int(int32(b.start.Size(a.start))) })
	at := c.sndUna
	for _, r := range rs {
		if r.start != at {
			return fmt.Errorf("txlog: records %v do not tile [%d, %d)", rs, c.sndUna, c.sndNxt)
		}
		at = r.end
	}
	if at != c.sndNxt {
		return fmt.Errorf("txlog: records %v end at %d, SND.NXT %d", rs, at, c.sndNxt)
	}
	return nil
}

func TestTxLog_SplitsMovesAndFrees(t *testing.T) {
	var l txLog
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	l.sent(100, 200, at(0))
	l.sent(200, 300, at(0)) // same instant, back to back: merged
	l.sent(300, 400, at(1))
	if l.n != 2 {
		t.Fatalf("%d records, want 2", l.n)
	}
	l.resent(150, 250, at(5))
	// [100,150) [250,300) [300,400) then [150,250) at the tail.
	var got []string
	for i := l.head; i != 0; i = l.recs[i].next {
		r := l.recs[i]
		got = append(got, fmt.Sprintf("%d-%d@%d/%b", r.start, r.end, r.xmit.Sub(t0).Milliseconds(), r.flags))
	}
	want := []string{"100-150@0/0", "250-300@0/0", "300-400@1/0", "150-250@5/1100"}
	if !slices.Equal(got, want) {
		t.Fatalf("log %v, want %v", got, want)
	}
	if l.moved != 1 {
		t.Fatalf("moved %d", l.moved)
	}
	c := &Conn{}
	c.txl = l
	c.txAcked(seqnum.Value(260), at(6))
	if c.txl.n != 2 || c.txl.recs[c.txl.head].start != 260 {
		t.Fatalf("after the ACK: %d records, head starts at %d", c.txl.n, c.txl.recs[c.txl.head].start)
	}
	c.txAcked(seqnum.Value(400), at(7))
	if c.txl.n != 0 || c.txl.head != 0 || c.txl.moved != 0 {
		t.Fatalf("after the last ACK: %+v", c.txl)
	}
}

// The log allocates nothing per segment once it has room for the flight.
func TestTxLog_NoAllocationsInSteadyState(t *testing.T) {
	c := &Conn{}
	c.sackOn = true
	now := time.Unix(0, 0)
	seq := seqnum.Value(1)
	step := func() {
		// Ten segments out, a SACK of the third, a retransmission of the
		// first, then the cumulative ACK of all of them.
		for range 10 {
			now = now.Add(time.Microsecond)
			c.txSentNew(seq, seq.Add(1000), now)
			c.sndNxt = seq.Add(1000)
			seq = c.sndNxt
		}
		base := seq.Sub(10000)
		c.txSACKed(base.Add(2000), base.Add(3000), now)
		c.txSent(base, base.Add(1000), now)
		c.txAcked(seq, now)
		c.sndUna = seq
	}
	c.sndUna, c.sndNxt = seq, seq
	step()
	if a := testing.AllocsPerRun(100, step); a != 0 {
		t.Fatalf("%v allocations per flight, want 0", a)
	}
}

// SACK blocks cut records where they start and end; a peer that SACKs
// single octets at ever new offsets would cut the log into a record per
// octet. Records stay within twice the segments in flight (plus
// txLogKeep): beyond that a block that covers only part of a record
// leaves it unmarked here (the scoreboard still has it exactly).
func TestTxLog_SACKSplitsBoundedByTheFlight(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 10)
	h.at(10 * ms)
	for k := range 300 {
		// One octet every 7 in segments 1-9, each block new.
		at := segAt(1).Add(seqnum.Size(7 * k))
		h.in(h.sackAck(segAt(0), at, at.Add(1)))
	}
	if max := 2*10 + txLogKeep; h.c.txl.n > max {
		t.Fatalf("%d records for 10 segments in flight, want at most %d", h.c.txl.n, max)
	}
}
