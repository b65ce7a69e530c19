package tcp

import (
	"fmt"
	"testing"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// RFC 6675 §4 IsLost(SeqNum): "DupThresh discontiguous SACKed sequences
// have arrived above 'SeqNum'", however few bytes they hold. One ACK with
// three such blocks above the first hole starts recovery (§5 (b)) and the
// hole is retransmitted at once.
func TestEstablished_SACK_IsLost_ThreeDiscontiguousRangesAbove(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 4)
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0),
		segAt(3), segAt(3).Add(100),
		segAt(2), segAt(2).Add(100),
		segAt(1), segAt(1).Add(100)))
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if !h.c.inRecovery {
		t.Fatal("not in recovery")
	}
	// pipe (RFC 6675 §4 SetPipe): the hole below three SACKed ranges is
	// lost, and counts once, retransmitted; the holes between the ranges
	// (1360 bytes each, one and two ranges above them) count once each;
	// nothing lies above the highest range but its own tail (1360 bytes).
	if p := h.c.pipe(); p != 1460+1360+1360+1360 {
		t.Fatalf("pipe %d, want %d", p, 1460+3*1360)
	}
}

// IsLost's other test: more than (DupThresh-1)·SMSS SACKed bytes above;
// exactly 2·SMSS is not more.
func TestEstablished_SACK_IsLost_MoreThanTwoSegmentsOfBytesAbove(t *testing.T) {
	for _, c := range []struct {
		sacked int
		lost   bool
	}{{2 * 1460, false}, {2*1460 + 1, true}} {
		h := newSACKEstablished(t)
		writeSegs(h, 4)
		h.at(10 * ms)
		h.in(h.sackAck(segAt(0), segAt(1), segAt(1).Add(seqnum.Size(c.sacked))))
		got := h.out.take()
		if lost := len(got) == 1 && got[0].Seq == segAt(0); lost != c.lost || (!lost && len(got) != 0) {
			t.Errorf("%d bytes SACKed in one range above the hole: sent %d segments, want the hole resent: %v", c.sacked, len(got), c.lost)
		}
	}
}

// pipe with the scoreboard full (sackBoardSize ranges): every range is
// counted, none beyond.
func TestEstablished_SACK_PipeWithAFullScoreboard(t *testing.T) {
	h := newSACKEstablishedWith(t, Config{SndBuf: (2*sackBoardSize + 1) * 1460, SndBufLocked: true})
	h.c.cc.setCwnd((2*sackBoardSize + 2) * 1460)
	writeSegs(h, 2*sackBoardSize+1)
	h.at(10 * ms)
	var blocks []seqnum.Value
	for i := 1; i <= 2*sackBoardSize-1; i += 2 { // segments 1, 3, 5, ...: sackBoardSize ranges
		blocks = append(blocks, segAt(i), segAt(i+1))
	}
	for i := 0; i+8 <= len(blocks); i += 8 {
		h.in(h.sackAck(segAt(0), blocks[i:i+8]...))
	}
	if h.c.sb.n != sackBoardSize {
		t.Fatalf("scoreboard %d ranges, want %d", h.c.sb.n, sackBoardSize)
	}
	// sackBoardSize holes of one segment (0, 2, 4, ...) and the top
	// segment above every range. A hole with three ranges above it is
	// lost (all but the last two) and counts only once retransmitted (at
	// or below HighRxt); the last two holes and the top count as in
	// flight, and once more if retransmitted.
	want := 0
	for seg := 0; seg <= 2*sackBoardSize; seg += 2 {
		if seg >= 2*sackBoardSize-4 {
			want += 1460 // not lost
		}
		if segAt(seg).LessThan(h.c.highRxt) {
			want += 1460 // retransmitted
		}
	}
	if p := h.c.pipe(); p != want {
		t.Fatalf("pipe %d, want %d", p, want)
	}
}

// A single SACK block is a D-SACK only if it lies below the cumulative
// ACK (RFC 2883 §4; the "inside the second block" test needs a second
// block). Sequence numbers compare modulo 2^32 (RFC 9293 §3.4): here the
// block straddles 2^31, where a comparison against a zero (absent) second
// block would come out true.
func TestEstablished_SACK_SingleBlockAcross2To31_NotDSACK(t *testing.T) {
	h := &harness{t: t, out: &recorder{}, now: t0, peerNxt: peerISS}
	iss := seqnum.Value(1<<31 - 2000) // the block below: 2^31-1999+1460 to 2^31-1999+2920
	h.c = NewConn(strict(Config{DisableTimestamps: true}), addrA, addrB, iss, h.out)
	h.c.Connect(h.now)
	sa := h.synAck()
	sa.Ack = iss + 1
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.out.take()
	h.c.Write(bytesN(3*1460), h.now)
	h.out.take()
	first := iss.Add(1)
	h.in(h.sackAck(first, first.Add(1460), first.Add(2*1460)))
	if h.c.sb.n != 1 {
		t.Fatalf("scoreboard %d ranges after one SACK block, want 1", h.c.sb.n)
	}
}

// RFC 6675 rule (4), the rescue retransmission, when the highest
// unSACKed octet is our FIN: the segment resent ends with the FIN.
func TestEstablished_SACK_RescueRetransmission_CarriesTheFIN(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 7)
	h.c.Shutdown(h.now)
	h.expect(s("FIN|ACK seq=%d ack=5001", segAt(7)))
	h.at(10 * ms)
	// Segments 0 and 6 and the FIN are lost; 1-5 are SACKed one by one.
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	h.expect("ACK seq=1001 ack=5001 len=1460") // recovery: the hole (rule 1)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(5)))
	h.expect()
	h.in(h.sackAck(segAt(0), segAt(1), segAt(6)))
	// Room for one: no hole, no new data: rule (4) resends the tail, the
	// last data segment with the FIN after it.
	h.expect(s("FIN|PSH|ACK seq=%d ack=5001 len=1460", segAt(6)))
	if !h.c.rescueSet {
		t.Fatal("not the rescue retransmission")
	}
}

// RFC 2018 §4: the first SACK block holds the segment that triggered the
// ACK, also when that segment starts a new range.
func TestEstablished_SACKBlocks_NewRangeFirst(t *testing.T) {
	h := newSACKEstablished(t)
	h.in(h.peerData(5101, 100))
	h.in(h.peerData(5301, 100))
	h.out.take()
	h.in(h.peerData(5501, 100))
	expectSACK(t, h.expect("ACK seq=1001 ack=5001")[0], "5501-5601 5301-5401 5101-5201")
}

// RFC 2018 §4: after the first, "the SACK option SHOULD be filled out by
// repeating the most recently reported SACK blocks": blocks follow the
// order in which their ranges last received data, the lowest range
// included.
func TestEstablished_SACKBlocks_MostRecentFirst_LowestRangeToo(t *testing.T) {
	h := newSACKEstablished(t)
	for _, seq := range []seqnum.Value{5701, 5101, 5501, 5301} { // ranges D, A, C, B by arrival
		h.in(h.peerData(seq, 100))
	}
	got := h.out.take()
	expectSACK(t, got[len(got)-1], "5301-5401 5501-5601 5101-5201 5701-5801")
}

// RFC 6675 §5.1: after a timeout, duplicate ACKs start no loss recovery
// until HighACK is beyond the RecoveryPoint the timeout set (HighData
// then); the segments the RTO resends go back N instead. The timeout
// recurs, so that F-RTO is off (a SACK of original data would undo the
// first timeout, frto.go).
func TestEstablished_SACK_DupACKsAfterRTO_NoRecoveryBeforeRecoveryPoint(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 6)
	h.fire(2 * ms) // the tail loss probe resends the last segment
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(5)))
	h.fire(202 * ms) // then the RTO (RTOMin)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.fire(602 * ms) // and again, backed off
	h.expect("ACK seq=1001 ack=5001 len=1460")
	ss := h.c.cc.ssthresh()
	for i := 2; i <= 4; i++ {
		h.in(h.sackAck(segAt(0), segAt(2), segAt(i+1)))
	}
	if i := h.c.Info(); h.c.inRecovery || i.Recoveries != 0 || h.c.cc.ssthresh() != ss {
		t.Fatalf("after the RTO, 3 dup ACKs below RecoveryPoint: inRecovery %v, recoveries %d, ssthresh %d (was %d)",
			h.c.inRecovery, i.Recoveries, h.c.cc.ssthresh(), ss)
	}
}

// A segment that starts inside a held out-of-order range but carries new
// bytes past it is not a duplicate (RFC 2883 §4.1.2 is about data wholly
// received before): when the out-of-order limit keeps it out, it is a
// counted drop and draws no D-SACK.
func TestEstablished_SACK_OverlapPastAHeldRangeDropped_CountedNoDSACK(t *testing.T) {
	k := &Counters{}
	h := newSynSent(t, Config{DisableTimestamps: true, MaxOutOfOrderBytes: 2000, Counters: k})
	sa := h.synAck()
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.out.take()
	base := h.peerNxt // the first 1000 bytes from here are "lost"
	h.in(h.peerData(base.Add(1000), 1000))
	h.in(h.peerData(base.Add(2000), 1000))
	h.out.take()
	h.in(h.peerData(base.Add(2500), 1000)) // 500 held, 500 new: over the limit
	acks := h.out.take()
	if len(acks) != 1 {
		t.Fatalf("want one ACK, got %d", len(acks))
	}
	expectSACK(t, acks[0], fmt.Sprintf("%d-%d", base.Add(1000), base.Add(3000)))
	if k.OutOfOrderDrops != 1 {
		t.Fatalf("OutOfOrderDrops = %d, want 1", k.OutOfOrderDrops)
	}
}

// A data segment that carries a D-SACK block is shortened by the block's
// room (sendMSS, as Linux's tcp_current_mss): the datagram stays within
// the MSS the peer offered.
func TestEstablished_SACK_DataCarryingADSACK_ShortenedByTheBlock(t *testing.T) {
	h := newSACKEstablished(t)
	h.in(h.data(bytesN(100)))
	h.out.take()
	h.c.Write(bytesN(20*1460), h.now) // IW: 10 segments go, 10 wait
	if n := len(h.out.take()); n != 10 {
		t.Fatalf("%d segments in the initial window, want 10", n)
	}
	// 50 old bytes again (a D-SACK, RFC 2883 §4.1.1) and 50 new, with an
	// ACK of two segments: the reply carries data.
	dup := h.peerData(peerISS+51, 100)
	dup.Ack = segAt(2)
	h.in(dup)
	out := h.out.take()
	if len(out) == 0 {
		t.Fatal("nothing sent")
	}
	expectSACK(t, out[0], s("%d-%d", peerISS+51, peerISS+101))
	if len(out[0].Payload) != 1460-12 {
		t.Fatalf("%s: %d bytes, want 1448 (the MSS less the D-SACK block's 12)", segString(&out[0]), len(out[0].Payload))
	}
}

// RFC 8985 §7.2 TLP_calc_PTO: with exactly one segment in flight (a full
// one included) the PTO adds WCDelAckT, since the peer may be holding its
// ACK for a second segment; never later than the RTO. With SRTT = 100 ms
// (RTO 300 ms) one full segment's PTO would be 400 ms: the RTO's 300 ms.
func TestEstablished_TLP_OneFullSegmentInFlight_AddsWCDelAckT(t *testing.T) {
	h := newSynSent(t, Config{DisableTimestamps: true})
	h.at(100 * ms)
	sa := h.synAck()
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.out.take()
	if h.c.srtt != 100*ms || h.c.rto != 300*ms {
		t.Fatalf("fixture: srtt %v rto %v", h.c.srtt, h.c.rto)
	}
	h.c.Write(bytesN(1460), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=1460")
	if d, _ := h.c.NextDeadline(); d.Sub(h.now) != 300*ms || h.c.ptoAt != h.c.rtoAt {
		t.Fatalf("first timer %v after the send, PTO at %v, RTO at %v; want the RTO's 300ms",
			d.Sub(h.now), h.c.ptoAt.Sub(h.now), h.c.rtoAt.Sub(h.now))
	}
}

// RFC 8985 §7.4 with Linux's reduction (Reno's ssthresh from cwnd): a loss
// the probe repaired sets ssthresh = max(cwnd/2, 2·SMSS); with a small
// cwnd the floor decides.
func TestEstablished_TLP_ProbeRepairingALoss_SsthreshFloorTwoSegments(t *testing.T) {
	h := newSACKEstablished(t)
	setWindow(h.c, 2*1460, 2*1460) // as after an earlier reduction
	writeSegs(h, 2)
	h.fire(2 * ms) // the probe resends the last segment (TLP.end_seq = SND.NXT)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(1)))
	h.c.Write(bytesN(1460), h.now) // waits: cwnd is full
	h.expect()
	h.at(5 * ms)
	h.in(h.sackAck(segAt(2))) // up to TLP.end_seq: the episode goes on; cwnd 4380
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(2)))
	h.in(h.sackAck(segAt(3))) // beyond it, no D-SACK: the probe repaired a loss
	if i := h.c.Info(); i.TLPRecoveries != 1 || h.c.cc.ssthresh() != 2*1460 || h.c.cc.cwnd() != 2*1460 {
		t.Fatalf("TLPRecoveries %d ssthresh %d cwnd %d, want 1 2920 2920", i.TLPRecoveries, h.c.cc.ssthresh(), h.c.cc.cwnd())
	}
}

// The loss probe never sends the FIN ahead of data the peer's window holds
// back (RFC 9293 §3.10.4: the FIN follows all the data): with data queued
// behind a full window, the probe resends the last segment sent.
func TestEstablished_TLP_FINQueuedBehindAFullWindow_ProbeResendsTheLastSegment(t *testing.T) {
	h := newSynSent(t, Config{DisableTimestamps: true})
	sa := h.synAck()
	sa.Options.SACKPermitted, sa.Options.HasWScale = true, false
	sa.Window = 2 * 1460 // two segments, unscaled
	h.in(sa)
	h.out.take()
	h.c.Write(bytesN(3*1460), h.now)
	if err := h.c.Shutdown(h.now); err != nil {
		t.Fatal(err)
	}
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(0)), s("ACK seq=%d ack=5001 len=1460", segAt(1)))
	h.fire(2 * ms)
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(1)))
}

// RFC 8985 §7.4: a probe of new data repairs nothing; the ACKs that cover
// it and what follows it get no congestion response.
func TestEstablished_TLP_NewDataProbe_NoRepairResponse(t *testing.T) {
	h := newSACKEstablished(t)
	h.c.Write(bytesN(12*1460), h.now)
	if got := len(h.out.take()); got != 10 {
		t.Fatalf("sent %d segments, want 10", got)
	}
	setWindow(h.c, 11*1460, h.c.cc.ssthresh()) // room in cwnd: the probe is new data
	h.fire(2 * ms)                             // the probe: segment 10, new data
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(10)))
	h.at(5 * ms)
	h.in(h.sackAck(segAt(11))) // up to TLP.end_seq
	h.out.take()
	h.in(h.sackAck(segAt(12))) // and beyond it
	if i := h.c.Info(); i.TLPRecoveries != 0 || h.c.tlpOut || h.c.cc.cwnd() < 14600 {
		t.Fatalf("TLPRecoveries %d tlpOut %v cwnd %d", i.TLPRecoveries, h.c.tlpOut, h.c.cc.cwnd())
	}
}

// A slow start that overruns a drop-tail queue loses every other segment
// for a while. The default receiver keeps a hole's worth of ranges for
// that (DefaultMaxOutOfOrderRanges), and the sender remembers them
// (sackBoardSize): a hundred holes, each SACKed range above them learned
// once, and recovery resends the holes and nothing SACKed.
func TestEstablished_SACK_HundredHoles_OnlyTheHolesResent(t *testing.T) {
	const holes = 100
	k := &Counters{}
	r := newEstablished(t, Config{Counters: k})
	base := r.peerNxt
	for i := range holes {
		r.in(r.peerData(base.Add(seqnum.Size((2*i+1)*100)), 100))
	}
	if k.OutOfOrderDrops != 0 {
		t.Fatalf("receiver: %d out-of-order segments dropped, want 0", k.OutOfOrderDrops)
	}

	h := newSACKEstablishedWith(t, Config{SndBuf: 2 * holes * 1460, SndBufLocked: true})
	h.c.cc.setCwnd(2 * holes * 1460)
	writeSegs(h, 2*holes)
	h.at(10 * ms)
	var sent []Segment
	for i := 1; i < 2*holes; i += 2 { // each ACK reports its newest range first (RFC 2018 §4)
		h.in(h.sackAck(segAt(0), segAt(i), segAt(i+1)))
		sent = append(sent, h.out.take()...)
	}
	h.at(20 * ms)
	h.c.HandleTimer(h.now) // the reordering timer: every hole below the top is lost
	sent = append(sent, h.out.take()...)
	holesResent := 0
	for _, sg := range sent {
		i := int(segAt(0).Size(sg.Seq) / 1460)
		if i < 2*holes && i%2 == 1 {
			t.Fatalf("SACKed segment %d resent", i)
		}
		if i < 2*holes {
			holesResent++
		}
	}
	if holesResent == 0 {
		t.Fatal("no hole resent: the scenario did not start recovery")
	}
	if h.c.sb.n != holes {
		t.Fatalf("scoreboard holds %d ranges, want %d", h.c.sb.n, holes)
	}
}
