package tcp

import (
	"testing"
	"time"
)

// Timestamps (RFC 7323 §3-5): negotiation, TSval/TSecr on every segment,
// TS.Recent, RTT measurement from TSecr, PAWS.

// ts adds a Timestamps option to s: TSval tsval, echoing TSecr tsecr.
func ts(s Segment, tsval, tsecr uint32) Segment {
	s.Options.HasTimestamp, s.Options.TSVal, s.Options.TSEcr = true, tsval, tsecr
	return s
}

// newTSEstablished: an active open at t0 whose SYN-ACK carries the peer's
// timestamp 7000 (echoing our SYN's TSval), and the peer's first ACK
// 7000 too.
func newTSEstablished(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := newSynSent(t, cfg)
	off := h.c.tsOffset
	h.in(ts(h.synAck(), 7000, off))
	h.in(ts(h.seg(FlagACK), 7000, off))
	h.out.take()
	h.c.TakeEvents()
	if !h.c.tsOn || h.c.State() != StateEstablished {
		t.Fatalf("fixture: tsOn %v state %v", h.c.tsOn, h.c.State())
	}
	return h
}

// checkTS asserts that seg carries TSval our clock at+offset and TSecr.
func checkTS(t *testing.T, h *harness, seg Segment, at time.Duration, tsecr uint32) {
	t.Helper()
	o := seg.Options
	want := h.c.tsOffset + uint32(at/time.Millisecond)
	if !o.HasTimestamp || o.TSVal != want || o.TSEcr != tsecr {
		t.Fatalf("%s: timestamps %v %d/%d, want TSval %d TSecr %d", segString(&seg), o.HasTimestamp, o.TSVal, o.TSEcr, want, tsecr)
	}
}

func TestSynSent_Timestamps_OfferedAndNegotiated(t *testing.T) {
	h := newHarness(t, Config{})
	h.c.Connect(h.now)
	syn := h.expect("SYN seq=1000")[0]
	checkTS(t, h, syn, 0, 0) // TSecr zero without ACK (§3.2)
	if syn.HeaderLen() != 40 {
		t.Fatalf("SYN header %d octets, want 40 (MSS, NOP NOP TS, NOP WS)", syn.HeaderLen())
	}
	h.at(25 * ms)
	h.in(ts(h.synAck(), 7000, h.c.tsOffset))
	ack := h.expect("ACK seq=1001 ack=5001")[0]
	checkTS(t, h, ack, 25*ms, 7000)
	if ack.HeaderLen() != 32 {
		t.Fatalf("header %d octets, want 32", ack.HeaderLen())
	}
	// The RTT comes from TSecr: 25ms.
	if !h.c.hasRTT || h.c.srtt != 25*ms {
		t.Fatalf("srtt %v", h.c.srtt)
	}
	// Deviation (Linux compat): the payload per segment is MSS − 12.
	if in := h.c.Info(); in.MSS != 1448 || !in.Timestamps {
		t.Fatalf("MSS %d timestamps %v", in.MSS, in.Timestamps)
	}
	h.c.Write(bytesN(3000), h.now)
	for _, s := range h.expect(
		"ACK seq=1001 ack=5001 len=1448",
		"ACK seq=2449 ack=5001 len=1448",
		"PSH|ACK seq=3897 ack=5001 len=104",
	) {
		checkTS(t, h, s, 25*ms, 7000)
	}
}

func TestSynSent_SynAckWithoutTimestamps_NoneUsed(t *testing.T) {
	h := newSynSent(t, Config{})
	h.in(h.synAck())
	ack := h.expect("ACK seq=1001 ack=5001")[0]
	if ack.Options.HasTimestamp || h.c.tsOn || h.c.mss != 1460 {
		t.Fatalf("timestamps used though the SYN-ACK had none: %+v mss %d", ack.Options, h.c.mss)
	}
}

func TestSynSent_DisableTimestamps_NotOffered(t *testing.T) {
	h := newHarness(t, Config{DisableTimestamps: true})
	h.c.Connect(h.now)
	if syn := h.expect("SYN seq=1000")[0]; syn.Options.HasTimestamp {
		t.Fatal("SYN offers timestamps")
	}
	h.in(ts(h.synAck(), 7000, 0)) // a peer that answers with them anyway
	if ack := h.expect("ACK seq=1001 ack=5001")[0]; ack.Options.HasTimestamp || h.c.tsOn {
		t.Fatal("timestamps used though not offered")
	}
}

func TestSynReceived_Timestamps_OnlyWhenTheSYNHasThem(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		synTS, on bool
	}{
		{"SYN with TS", Config{}, true, true},
		{"SYN without TS", Config{}, false, false},
		{"disabled", Config{DisableTimestamps: true}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t, out: &recorder{}, now: t0.Add(time.Second)}
			l := NewListener(strict(tc.cfg), addrA, 8, h.out)
			syn := Segment{SrcPort: peerPort, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535,
				Options: Options{MSS: 1460}}
			if tc.synTS {
				syn = ts(syn, 4242, 0)
			}
			h.c = l.HandleSegment(&syn, addrB, issEnv(testISS), h.now)
			sa := h.expect("SYN|ACK seq=1000 ack=5001")[0]
			if sa.Options.HasTimestamp != tc.on || h.c.tsOn != tc.on {
				t.Fatalf("SYN-ACK timestamps %v tsOn %v, want %v", sa.Options.HasTimestamp, h.c.tsOn, tc.on)
			}
			if !tc.on {
				return
			}
			if sa.Options.TSVal != h.c.tsOffset || sa.Options.TSEcr != 4242 {
				t.Fatalf("SYN-ACK TSval %d TSecr %d", sa.Options.TSVal, sa.Options.TSEcr)
			}
			// The completing ACK echoes the SYN-ACK's TSval 30ms later:
			// the handshake RTT is 30ms.
			h.peerNxt = peerISS + 1
			h.now = h.now.Add(30 * ms)
			h.in(ts(h.seg(FlagACK), 4250, sa.Options.TSVal))
			h.expectState(StateEstablished)
			if h.c.srtt != 30*ms || h.c.mss != 1448 {
				t.Fatalf("srtt %v mss %d", h.c.srtt, h.c.mss)
			}
		})
	}
}

// RFC 7323 §4: the RTT comes from TSecr on every ACK that advances
// SND.UNA, also for a retransmitted segment (no Karn ambiguity).
func TestEstablished_Timestamps_RTTFromTSecr(t *testing.T) {
	h := newTSEstablished(t, Config{})
	h.c.Write(bytesN(100), h.now)
	d := h.expect("PSH|ACK seq=1001 ack=5001 len=100")[0]
	h.fire(200 * ms) // RTO: the retransmission carries a new TSval
	r := h.expect("PSH|ACK seq=1001 ack=5001 len=100")[0]
	checkTS(t, h, r, 200*ms, 7000)
	srtt := h.c.srtt
	h.at(260 * ms)
	h.in(ts(h.seg(FlagACK), 7001, r.Options.TSVal)) // it echoes the retransmission
	// R = 60ms: RTTVAR = 3/4·0 + 1/4·60 = 15ms, SRTT = 7/8·0 + 1/8·60.
	if srtt != 0 || h.c.srtt != 7500*time.Microsecond || h.c.rttvar != 15*ms {
		t.Fatalf("srtt %v → %v rttvar %v", srtt, h.c.srtt, h.c.rttvar)
	}
	// An ACK that does not advance SND.UNA gives no sample (§4.2).
	h.at(900 * ms)
	h.in(ts(h.seg(FlagACK), 7002, d.Options.TSVal))
	if h.c.srtt != 7500*time.Microsecond {
		t.Fatalf("sample from a duplicate ACK: srtt %v", h.c.srtt)
	}
}

// PAWS (RFC 7323 §5.3 R1): SEG.TSval < TS.Recent → send an ACK and drop;
// the ACK is rate-limited as other replies to invalid segments.
func TestEstablished_PAWS_OldTimestampDroppedAndACKed(t *testing.T) {
	h := newTSEstablished(t, Config{})
	h.at(10 * ms)
	old := ts(h.data([]byte("old")), 6999, h.c.tsOffset)
	h.c.HandleSegment(&old, h.now)
	got := h.expect("ACK seq=1001 ack=5001")[0]
	checkTS(t, h, got, 10*ms, 7000)
	if h.c.Readable() != 0 || h.c.Info().PAWSDrops != 1 {
		t.Fatalf("readable %d PAWSDrops %d", h.c.Readable(), h.c.Info().PAWSDrops)
	}
	bare := ts(h.seg(FlagACK), 6000, 0)
	h.c.HandleSegment(&bare, h.now)
	h.c.HandleSegment(&bare, h.now)
	h.expect("ACK seq=1001 ack=5001") // the first; the second is held back
	if h.c.Info().PAWSDrops != 3 {
		t.Fatalf("PAWSDrops %d", h.c.Info().PAWSDrops)
	}
	// Wrap-around: 0x10 is after 0xfffffff0 in modular arithmetic (§5.2).
	h.c.tsRecent = 0xfffffff0
	h.in(ts(h.data([]byte("new")), 0x10, 0))
	if h.c.Readable() != 3 || h.c.tsRecent != 0x10 {
		t.Fatalf("readable %d TS.Recent %#x", h.c.Readable(), h.c.tsRecent)
	}
}

// A RST is "acceptable regardless of [its] timestamp" (§5.2).
func TestEstablished_PAWS_RSTAcceptedWithOldTimestamp(t *testing.T) {
	h := newTSEstablished(t, Config{})
	h.in(ts(h.seg(FlagRST), 1, 0))
	h.expectState(StateClosed)
}

// Deviation (Linux compat): a segment without timestamps is accepted.
func TestEstablished_Timestamps_SegmentWithoutTSAccepted(t *testing.T) {
	h := newTSEstablished(t, Config{})
	h.in(h.data([]byte("plain")))
	if h.c.Readable() != 5 {
		t.Fatal("dropped")
	}
}

// RFC 7323 §4.3: TS.Recent takes SEG.TSval only from a segment with
// SEG.SEQ =< Last.ACK.sent. With a delayed ACK pending, a second in-order
// segment lies beyond Last.ACK.sent: our ACK echoes the first segment's
// TSval (the RTT then counts the delay, as §4.3 intends).
func TestEstablished_TSRecent_OnlyUpToLastACKSent(t *testing.T) {
	h := newTSEstablished(t, Config{})
	h.in(ts(h.data(bytesN(100)), 7100, 0))
	if h.c.tsRecent != 7100 {
		t.Fatalf("TS.Recent %d, want 7100", h.c.tsRecent)
	}
	h.in(ts(h.data(bytesN(100)), 7200, 0)) // SEG.SEQ 5101 > Last.ACK.sent 5001
	if h.c.tsRecent != 7100 {
		t.Fatalf("TS.Recent %d, want 7100 still", h.c.tsRecent)
	}
	h.fire(40 * ms)
	checkTS(t, h, h.expect("ACK seq=1001 ack=5201")[0], 40*ms, 7100)
	// Out of order (beyond a hole): no update either.
	h.peerNxt += 100
	h.in(ts(h.data(bytesN(100)), 7300, 0))
	checkTS(t, h, h.expect("ACK seq=1001 ack=5201")[0], 40*ms, 7100)
	// In order again, at Last.ACK.sent: updated.
	h.peerNxt = 5201
	h.in(ts(h.data(bytesN(100)), 7400, 0))
	if h.c.tsRecent != 7400 {
		t.Fatalf("TS.Recent %d, want 7400", h.c.tsRecent)
	}
}

// RFC 7323 §5.5: after 24 days of idleness TS.Recent is invalid: an
// older TSval is accepted and becomes TS.Recent.
func TestEstablished_PAWS_TSRecentInvalidAfter24IdleDays(t *testing.T) {
	h := newTSEstablished(t, Config{})
	h.at(24*24*time.Hour - time.Second)
	h.in(ts(h.data([]byte("a")), 5, 0))
	if h.c.Readable() != 0 {
		t.Fatal("accepted before 24 days")
	}
	h.at(24 * 24 * time.Hour)
	h.peerNxt = peerISS + 1 // the dropped segment again
	h.in(ts(h.data([]byte("a")), 5, 0))
	if h.c.Readable() != 1 || h.c.tsRecent != 5 {
		t.Fatalf("readable %d TS.Recent %d", h.c.Readable(), h.c.tsRecent)
	}
}

// Keep-alive probes and RSTs carry timestamps too (§3.2).
func TestEstablished_Timestamps_OnProbesAndRST(t *testing.T) {
	h := newTSEstablished(t, Config{KeepAlive: true, KeepIdle: time.Second})
	h.fire(time.Second)
	checkTS(t, h, h.expect("ACK seq=1000 ack=5001")[0], time.Second, 7000)
	h.c.Abort(h.now)
	checkTS(t, h, h.expect("RST|ACK seq=1001 ack=5001")[0], time.Second, 7000)
}
