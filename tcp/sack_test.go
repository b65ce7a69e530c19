package tcp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// newSACKEstablished: as newEstablished, with a SYN-ACK that offers
// SACK-permitted, and timestamps off so that 4 blocks fit and the MSS is
// 1460.
func newSACKEstablished(t *testing.T) *harness {
	t.Helper()
	return newSACKEstablishedWith(t, Config{DisableTimestamps: true})
}

// newSACKEstablishedWith is newSACKEstablished with cfg.
func newSACKEstablishedWith(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := newSynSent(t, cfg)
	sa := h.synAck()
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.in(h.seg(FlagACK))
	h.out.take()
	h.c.TakeEvents()
	if h.c.State() != StateEstablished || !h.c.sackOn {
		t.Fatalf("fixture: state %v sackOn %v", h.c.State(), h.c.sackOn)
	}
	return h
}

// sackString formats the SACK blocks of s: "5101-5201 5301-5401".
func sackString(s *Segment) string {
	var b []string
	for _, blk := range s.Options.SACK[:s.Options.NumSACK] {
		b = append(b, fmt.Sprintf("%d-%d", blk.Start, blk.End))
	}
	return strings.Join(b, " ")
}

func expectSACK(t *testing.T, s Segment, want string) {
	t.Helper()
	if got := sackString(&s); got != want {
		t.Fatalf("%s: SACK blocks %q, want %q", segString(&s), got, want)
	}
}

// peerData is a segment of n bytes from the peer at seq (not advancing
// the harness's peerNxt).
func (h *harness) peerData(seq seqnum.Value, n int) Segment {
	s := h.data(bytesN(n))
	s.Seq = seq
	return s
}

// sackAck is the peer's ACK of ack with SACK blocks given as start, end
// pairs.
func (h *harness) sackAck(ack seqnum.Value, blocks ...seqnum.Value) Segment {
	s := h.seg(FlagACK)
	s.Ack = ack
	for i := 0; i+1 < len(blocks); i += 2 {
		s.Options.SACK[i/2] = SACKBlock{Start: blocks[i], End: blocks[i+1]}
		s.Options.NumSACK++
	}
	return s
}

// --- negotiation (RFC 2018 §2) ---

func TestSynSent_SACKPermitted_OfferedAndNegotiated(t *testing.T) {
	h := newHarness(t, Config{})
	h.c.Connect(h.now)
	if syn := h.expect("SYN seq=1000")[0]; !syn.Options.SACKPermitted {
		t.Fatal("SYN does not offer SACK-permitted")
	}
	sa := h.synAck()
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.expect("ACK seq=1001 ack=5001")
	if !h.c.sackOn || !h.c.Info().SACK {
		t.Fatal("SACK not negotiated")
	}
}

func TestSynSent_SynAckWithoutSACKPermitted_NoBlocksSent(t *testing.T) {
	h := newSynSent(t, Config{})
	h.in(h.synAck()) // no SACK-permitted
	h.expect("ACK seq=1001 ack=5001")
	if h.c.sackOn {
		t.Fatal("SACK on though the SYN-ACK did not permit it")
	}
	h.in(h.peerData(5101, 100)) // out of order
	ack := h.expect("ACK seq=1001 ack=5001")[0]
	if ack.Options.NumSACK != 0 {
		t.Fatalf("SACK blocks sent without SACK-permitted: %s", sackString(&ack))
	}
}

func TestSynSent_DisableSACK_NotOfferedNorUsed(t *testing.T) {
	h := newHarness(t, Config{DisableSACK: true})
	h.c.Connect(h.now)
	if syn := h.expect("SYN seq=1000")[0]; syn.Options.SACKPermitted {
		t.Fatal("SYN offers SACK-permitted")
	}
	sa := h.synAck()
	sa.Options.SACKPermitted = true // a peer that offers it anyway
	h.in(sa)
	h.expect("ACK seq=1001 ack=5001")
	if h.c.sackOn {
		t.Fatal("SACK on though not offered")
	}
}

func TestListen_SACKPermitted_OfferedBackOnlyWhenTheSYNHasIt(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cfg         Config
		synSACK, on bool
	}{
		{"SYN with SACK-permitted", Config{}, true, true},
		{"SYN without", Config{}, false, false},
		{"disabled", Config{DisableSACK: true}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &recorder{}
			l := NewListener(strict(tc.cfg), addrA, 8, out)
			syn := Segment{SrcPort: peerPort, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535,
				Options: Options{MSS: 1460, SACKPermitted: tc.synSACK}}
			c := l.HandleSegment(&syn, addrB, issEnv(testISS), t0)
			segs := out.take()
			if c == nil || len(segs) != 1 || segs[0].Flags != FlagSYN|FlagACK {
				t.Fatalf("no SYN-ACK: %v", segs)
			}
			if segs[0].Options.SACKPermitted != tc.on || c.sackOn != tc.on {
				t.Fatalf("SYN-ACK SACK-permitted %v, sackOn %v, want %v", segs[0].Options.SACKPermitted, c.sackOn, tc.on)
			}
		})
	}
}

// --- the receiver (RFC 2018 §4) ---

func TestEstablished_SACK_BlocksMostRecentFirst(t *testing.T) {
	h := newSACKEstablished(t)
	steps := []struct {
		seq       seqnum.Value
		n         int
		ack, sack string
	}{
		{5101, 100, "ACK seq=1001 ack=5001", "5101-5201"},
		{5301, 100, "ACK seq=1001 ack=5001", "5301-5401 5101-5201"},
		{5501, 100, "ACK seq=1001 ack=5001", "5501-5601 5301-5401 5101-5201"},
		{5701, 100, "ACK seq=1001 ack=5001", "5701-5801 5501-5601 5301-5401 5101-5201"},
		// 4 blocks fit without timestamps; a fifth range is left out,
		// the oldest reported first going.
		{5901, 100, "ACK seq=1001 ack=5001", "5901-6001 5701-5801 5501-5601 5301-5401"},
		// Joining two ranges: the joined range comes first.
		{5201, 100, "ACK seq=1001 ack=5001", "5101-5401 5901-6001 5701-5801 5501-5601"},
		// The hole at RCV.NXT fills: only what is still held is reported.
		{5001, 100, "ACK seq=1001 ack=5401", "5901-6001 5701-5801 5501-5601"},
		{5401, 100, "ACK seq=1001 ack=5601", "5901-6001 5701-5801"},
		{5601, 400, "ACK seq=1001 ack=6001", ""},
	}
	for _, st := range steps {
		h.in(h.peerData(st.seq, st.n))
		expectSACK(t, h.expect(st.ack)[0], st.sack)
	}
}

func TestEstablished_SACK_ThreeBlocksWithTimestamps(t *testing.T) {
	h := newSynSent(t, Config{})
	sa := ts(h.synAck(), 7000, h.c.tsOffset)
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.out.take()
	for i := range 4 {
		seg := ts(h.peerData(seqnum.Value(5101+200*i), 100), 7000, h.c.tsOffset)
		h.in(seg)
	}
	ack := h.expect("ACK seq=1001 ack=5001", "ACK seq=1001 ack=5001", "ACK seq=1001 ack=5001", "ACK seq=1001 ack=5001")[3]
	expectSACK(t, ack, "5701-5801 5501-5601 5301-5401")
	if ack.HeaderLen() != 60 {
		t.Fatalf("header %d octets, want 60 (TS 12 + SACK 28)", ack.HeaderLen())
	}
}

func TestEstablished_SACK_DataSegmentShrinksForBlocks(t *testing.T) {
	h := newSACKEstablished(t)
	h.in(h.peerData(5101, 100))
	h.expect("ACK seq=1001 ack=5001")
	// One block (12 octets with NOP NOP): the full segment carries 1448.
	h.c.Write(bytesN(2000), h.now)
	segs := h.expect("ACK seq=1001 ack=5001 len=1448", "PSH|ACK seq=2449 ack=5001 len=552")
	expectSACK(t, segs[0], "5101-5201")
}

// --- D-SACK (RFC 2883) ---

func TestEstablished_DSACK_DuplicateBelowRcvNxt(t *testing.T) {
	h := newSACKEstablished(t)
	h.in(h.peerData(5001, 100))
	h.c.HandleTimer(h.now.Add(time.Second)) // the delayed ACK
	h.expect("ACK seq=1001 ack=5101")
	h.in(h.peerData(5001, 100)) // a duplicate
	expectSACK(t, h.expect("ACK seq=1001 ack=5101")[0], "5001-5101")
	// Reported once.
	h.c.Write([]byte("x"), h.now)
	expectSACK(t, h.expect("PSH|ACK seq=1001 ack=5101 len=1")[0], "")
}

func TestEstablished_DSACK_PartlyOldSegment(t *testing.T) {
	h := newSACKEstablished(t)
	h.in(h.peerData(5001, 100))
	h.in(h.peerData(5051, 100)) // 5051-5101 again, 5101-5151 new
	expectSACK(t, h.expect("ACK seq=1001 ack=5151")[0], "5051-5101")
}

func TestEstablished_DSACK_DuplicateOfHeldData(t *testing.T) {
	h := newSACKEstablished(t)
	h.in(h.peerData(5201, 100))
	h.in(h.peerData(5401, 100))
	h.expect("ACK seq=1001 ack=5001", "ACK seq=1001 ack=5001")
	h.in(h.peerData(5201, 50))
	// RFC 2883 §4.1.2: the D-SACK block, then the range holding it.
	expectSACK(t, h.expect("ACK seq=1001 ack=5001")[0], "5201-5251 5201-5301 5401-5501")
	// Also for a duplicate that ends exactly where the held range does.
	h.in(h.peerData(5251, 50))
	expectSACK(t, h.expect("ACK seq=1001 ack=5001")[0], "5251-5301 5201-5301 5401-5501")
}

// --- the sender (RFC 6675) ---

// writeSegs writes k full segments and expects them sent.
func writeSegs(h *harness, k int) {
	h.t.Helper()
	h.c.Write(bytesN(k*1460), h.now)
	var want []string
	for i := range k {
		f := "ACK"
		if i == k-1 {
			f = "PSH|ACK"
		}
		want = append(want, s("%s seq=%d ack=5001 len=1460", f, 1001+1460*i))
	}
	h.expect(want...)
}

// seg i (0-based) of writeSegs starts at segAt(i).
func segAt(i int) seqnum.Value { return seqnum.Value(1001 + 1460*i) }

func TestEstablished_SACK_ThreeSACKedSegmentsRetransmitTheHole(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 5)
	h.at(10 * ms)
	// Segment 0 is lost; 1, 2 and 3 arrive and are SACKed.
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.expect()
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.expect()
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	// RFC 6675 §5 (4): recovery, exactly the hole is retransmitted;
	// cwnd = ssthresh = FlightSize/2 = 3650, pipe = 1460 (the
	// retransmission) + 1460 (segment 4): nothing more.
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if !h.c.inRecovery || h.c.cc.cwnd() != 3650 || h.c.cc.ssthresh() != 3650 || h.c.pipe() != 2920 {
		t.Fatalf("inRecovery %v cwnd %d ssthresh %d pipe %d", h.c.inRecovery, h.c.cc.cwnd(), h.c.cc.ssthresh(), h.c.pipe())
	}
	// The cumulative ACK covers RecoveryPoint: recovery ends.
	h.at(20 * ms)
	h.in(h.sackAck(segAt(5)))
	h.expect()
	if h.c.inRecovery || h.c.sb.n != 0 || h.c.retransmits != 1 {
		t.Fatalf("inRecovery %v board %d retransmits %d", h.c.inRecovery, h.c.sb.n, h.c.retransmits)
	}
}

func TestEstablished_SACK_MultipleHolesRepairedInOneRTT(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 8)
	h.at(10 * ms)
	// Segments 0, 2 and 4 are lost.
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(3), segAt(4), segAt(1), segAt(2)))
	h.expect()
	h.in(h.sackAck(segAt(0), segAt(5), segAt(6), segAt(3), segAt(4), segAt(1), segAt(2)))
	// Three SACKed ranges above segment 0: it is lost (IsLost), recovery
	// starts with cwnd 5840; pipe = 1460 + 1460 + 1460 + 2920 = 7300.
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.in(h.sackAck(segAt(0), segAt(5), segAt(7), segAt(3), segAt(4), segAt(1), segAt(2)))
	// 4380 bytes SACKed above segment 2: lost; pipe 4380, room for one.
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(5), segAt(8), segAt(3), segAt(4), segAt(1), segAt(2)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(4)))
	// All three holes were resent within the first RTT; the ACKs of the
	// retransmissions end recovery without a timeout.
	h.at(20 * ms)
	h.in(h.sackAck(segAt(2), segAt(3), segAt(4), segAt(5), segAt(8)))
	h.in(h.sackAck(segAt(4), segAt(5), segAt(8)))
	h.in(h.sackAck(segAt(8)))
	h.expect()
	if h.c.inRecovery || h.c.retransmits != 3 || h.c.backoff != 0 || h.c.sndUna != segAt(8) {
		t.Fatalf("inRecovery %v retransmits %d backoff %d una %d", h.c.inRecovery, h.c.retransmits, h.c.backoff, h.c.sndUna)
	}
	h.noDeadline()
}

func TestEstablished_SACK_NewDataSentDuringRecovery(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 4)
	h.c.Write(bytesN(10*1460), h.now) // waits: cwnd is full
	h.expect(
		s("ACK seq=%d ack=5001 len=1460", segAt(4)), s("ACK seq=%d ack=5001 len=1460", segAt(5)),
		s("ACK seq=%d ack=5001 len=1460", segAt(6)), s("ACK seq=%d ack=5001 len=1460", segAt(7)),
		s("ACK seq=%d ack=5001 len=1460", segAt(8)), s("ACK seq=%d ack=5001 len=1460", segAt(9)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	// Limited transmit (RFC 6675 §5 (1)): each of the first two
	// duplicate ACKs takes a segment out of pipe, and a new one goes.
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(10)), s("ACK seq=%d ack=5001 len=1460", segAt(11)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	// FlightSize 17520: cwnd 8760. pipe = 1460 (rxt) + 8·1460 above
	// the highest SACK = 13140: only the hole goes out.
	h.expect("ACK seq=1001 ack=5001 len=1460")
	for i := 5; i <= 8; i++ {
		h.in(h.sackAck(segAt(0), segAt(1), segAt(i)))
	}
	// Once segments 1-7 are SACKed, pipe = 1460 (rxt) + 4·1460 (8-11)
	// = 7300: rule 2 sends new data up to cwnd (8760).
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(12)))
	if p := h.c.pipe(); p != 8760 {
		t.Fatalf("pipe %d", p)
	}
}

func TestEstablished_SACK_RTOKeepsTheScoreboard_GoBackNSkipsSACKedData(t *testing.T) {
	// Deviation (Linux compat): RFC 2018 §8 says the SACKed bits SHOULD be
	// cleared after a timeout; Linux keeps them (tcp_enter_loss) and its
	// go-back-N resends only what is not SACKed, as RFC 6675 §5.1's
	// Update() after an RTO means to allow. The left edge is resent all
	// the same (RFC 2018 §8 MUST).
	h := newSACKEstablished(t)
	writeSegs(h, 4)
	// 0 and 2 are lost, 1 and 3 SACKed.
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(3), segAt(4), segAt(1), segAt(2)))
	h.fire(2 * ms) // RACK: 0 and 2 are lost at xmit_ts + RACK.rtt + reo_wnd; the repairs are lost too
	h.out.take()
	h.fire(4 * ms) // the recovery probe, lost too
	h.out.take()
	h.fire(204 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if h.c.sb.n != 2 {
		t.Fatalf("after the RTO: board %v, want both SACKed ranges kept", h.c.sb.r[:h.c.sb.n])
	}
	// The retransmission arrives: the ACK reaches the hole at 2. Go back
	// N resends 2, and not 3, which is SACKed.
	h.in(h.sackAck(segAt(2), segAt(3), segAt(4)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(2)))
	h.in(h.sackAck(segAt(4)))
	h.expect()
	if h.c.sndUna != h.c.sndNxt {
		t.Fatalf("SND.UNA %d SND.NXT %d: not everything delivered", h.c.sndUna, h.c.sndNxt)
	}
}

func TestEstablished_SACK_SecondRTOClearsTheScoreboard(t *testing.T) {
	// A second timeout of the same data may mean the receiver reneged on
	// what it SACKed (RFC 2018 §8): the board is cleared, and go-back-N
	// resends everything from SND.UNA.
	h := newSACKEstablished(t)
	writeSegs(h, 3)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.fire(2 * ms) // RACK's repair, lost too
	h.out.take()
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if h.c.sb.n != 1 {
		t.Fatalf("board %d ranges after the first RTO, want 1", h.c.sb.n)
	}
	h.fire(600 * ms) // backed off: 400 ms
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if h.c.sb.n != 0 || h.c.sb.sacked != 0 {
		t.Fatalf("board %d ranges (%d bytes) after the second RTO, want none", h.c.sb.n, h.c.sb.sacked)
	}
	h.in(h.sackAck(segAt(1)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(1)), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(2)))
}

func TestEstablished_SACK_ACKStoppingAtSACKedData_Reneging_ClearsTheScoreboard(t *testing.T) {
	// A cumulative ACK that stops where SACKed data starts means the
	// receiver dropped data it had SACKed (RFC 2018 §8 reneging; Linux's
	// tcp_check_sack_reneging): the board is not to be trusted.
	h := newSACKEstablished(t)
	writeSegs(h, 4)
	h.in(h.sackAck(segAt(0), segAt(2), segAt(3)))
	if h.c.sb.n != 1 {
		t.Fatalf("board %d ranges", h.c.sb.n)
	}
	h.in(h.sackAck(segAt(2)))
	if h.c.sb.n != 0 || h.c.sb.sacked != 0 {
		t.Fatalf("board %v (%d bytes) after an ACK stopping at SACKed data, want cleared", h.c.sb.r[:h.c.sb.n], h.c.sb.sacked)
	}
}

func TestEstablished_SACK_InvalidAndDSACKBlocksIgnored(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 3)
	// Beyond SND.NXT, below SND.UNA, empty, reversed: none recorded.
	h.in(h.sackAck(segAt(0), segAt(2), segAt(4)))
	h.in(h.sackAck(segAt(0), segAt(0).Sub(100), segAt(0)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(1)))
	h.in(h.sackAck(segAt(0), segAt(2), segAt(1)))
	if h.c.sb.n != 0 || h.c.dupAcks != 0 {
		t.Fatalf("board %d ranges, dupAcks %d", h.c.sb.n, h.c.dupAcks)
	}
	// A D-SACK block inside the second block: only the second counts.
	h.in(h.sackAck(segAt(0), segAt(1), segAt(1).Add(10), segAt(1), segAt(2)))
	if h.c.sb.n != 1 || h.c.sb.r[0] != (seqRange{segAt(1), segAt(2)}) {
		t.Fatalf("board %+v", h.c.sb.r[:h.c.sb.n])
	}
	h.expect()
}

func TestScoreboard_Bounded(t *testing.T) {
	var b scoreboard
	for i := range 3 * sackBoardSize {
		b.add(seqnum.Value(1000+100*i), seqnum.Value(1050+100*i))
		if b.n > sackBoardSize {
			t.Fatalf("%d ranges", b.n)
		}
	}
	// A lower range evicts the highest.
	b.add(500, 600)
	if b.n != sackBoardSize || b.r[0] != (seqRange{500, 600}) || b.sacked != 100+50*(sackBoardSize-1) {
		t.Fatalf("board %+v sacked %d", b.r[:b.n], b.sacked)
	}
	// Merging.
	b.add(550, 1075)
	if b.r[0] != (seqRange{500, 1075}) {
		t.Fatalf("board %+v", b.r[:b.n])
	}
	b.trim(1060)
	if b.r[0] != (seqRange{1060, 1075}) {
		t.Fatalf("after trim %+v", b.r[:b.n])
	}
}

func TestEstablished_SACK_PeerSendsNoBlocks_RecoversAsNewReno(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 4)
	for range 3 {
		h.in(h.sackAck(segAt(0))) // duplicate ACKs without SACK blocks
	}
	h.expect("ACK seq=1001 ack=5001 len=1460")
	// A partial ACK with nothing SACKed: the next segment is resent.
	h.in(h.sackAck(segAt(1)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(1)))
	// Another partial ACK, at data not yet retransmitted: resent too.
	h.in(h.sackAck(segAt(2)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(2)))
	h.in(h.sackAck(segAt(4)))
	h.expect()
	if h.c.inRecovery {
		t.Fatal("still in recovery")
	}
}

type discardOut struct{}

func (discardOut) SendSegment(_, _ netip.AddrPort, _ *Segment, _, _ []byte) {}

// TestEstablished_SACK_NoAllocationPerSegment: building SACK blocks,
// D-SACK reports and the scoreboard do not allocate per segment.
func TestEstablished_SACK_NoAllocationPerSegment(t *testing.T) {
	h := newSACKEstablished(t)
	h.c.out = discardOut{}
	h.c.Write(bytesN(8*1460), h.now)
	for i := range 3 {
		d := h.peerData(seqnum.Value(5101+200*i), 100)
		h.c.HandleSegment(&d, h.now)
	}
	dup := h.peerData(5301, 100) // held already: a D-SACK
	ack := h.sackAck(segAt(0), segAt(1), segAt(2), segAt(3), segAt(4))
	if n := testing.AllocsPerRun(100, func() {
		h.c.HandleSegment(&dup, h.now)
		h.c.HandleSegment(&ack, h.now)
	}); n != 0 {
		t.Fatalf("%v allocations per segment", n)
	}
}

// RFC 6675 §2 "DupAck": an ACK with new SACK information counts as a
// duplicate even if it changes the advertised window. Linux receivers grow
// their window with every segment, so with RFC 5681's same-window rule the
// sender never entered fast recovery against Linux and waited for the RTO.
func TestEstablished_SACK_DupACKsWithGrowingWindow_FastRetransmit(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 5)
	h.at(10 * ms)
	for i, end := range []int{2, 3, 4} {
		a := h.sackAck(segAt(0), segAt(1), segAt(end))
		a.Window = uint16(600 + 10*i) // << 7: growing, as Linux's
		h.in(a)
		if i < 2 {
			h.expect()
		}
	}
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if !h.c.inRecovery {
		t.Fatal("not in recovery after three SACKs with growing windows")
	}
}

// RFC 2883 §4.1.1 reports duplicate data: an old bare ACK (unacceptable,
// below RCV.NXT) carries none, so the ACK answering it has no D-SACK block.
func TestEstablished_DSACK_NotForAnOldBareACK(t *testing.T) {
	h := newSACKEstablished(t)
	h.in(h.peerData(5001, 100))
	h.c.HandleTimer(h.now.Add(time.Second)) // the delayed ACK
	h.expect("ACK seq=1001 ack=5101")
	old := h.seg(FlagACK)
	old.Seq = 5001 // below RCV.NXT: unacceptable, answered with an ACK
	h.in(old)
	expectSACK(t, h.expect("ACK seq=1001 ack=5101")[0], "")
}
