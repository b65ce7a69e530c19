package tcp

import "testing"

// The send MSS (RFC 9293 §3.7.1): the smaller of ours, the link's, and the
// peer's, floored at minPeerMSS against a tiny peer option only, less the
// timestamps' room (tsOptionLen).
func TestNegotiate_SendMSS_OursCapsThePeerFloor(t *testing.T) {
	for _, c := range []struct {
		name     string
		ours     int
		peer     uint16
		ts       bool
		wantMSS  int
		wantNote string
	}{
		{"peer smaller", 1460, 1400, false, 1400, "the peer's"},
		{"tiny peer option", 1460, 10, false, minPeerMSS, "floored at 88 (Linux's TCP_MIN_MSS)"},
		{"tiny peer option, timestamps", 1460, 10, true, minPeerMSS - tsOptionLen, "floor less timestamps"},
		{"link of MTU 100", 60, 1460, false, 60, "ours, below the floor: the link carries no more"},
		{"link of MTU 100, timestamps", 60, 1460, true, 48, "as Linux on a 100-byte MTU"},
		{"link of MTU 68, tiny peer option", 28, 10, false, 28, "the floor never exceeds ours"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newSynSent(t, Config{MSS: c.ours})
			sa := h.synAck()
			sa.Options.MSS = c.peer
			if c.ts {
				sa.Options.HasTimestamp, sa.Options.TSVal = true, 77
			}
			h.in(sa)
			if got := h.c.Info().MSS; got != c.wantMSS {
				t.Fatalf("send MSS %d, want %d (%s)", got, c.wantMSS, c.wantNote)
			}
		})
	}
}

// TestSACK_SmallMSS_BlocksLeaveRoomForData: on a link of MTU 68 (MSS 28)
// an ACK carries at most the SACK blocks whose option leaves a byte of
// the MSS for data: two (2+2+8·2 = 20 < 28), not three (28), so a segment
// never outgrows the link (RFC 2018 §3 sets only the 40-octet ceiling).
func TestSACK_SmallMSS_BlocksLeaveRoomForData(t *testing.T) {
	h := newSynSent(t, Config{MSS: 28, DisableTimestamps: true})
	sa := h.synAck()
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.in(h.seg(FlagACK))
	h.out.take()
	base := h.peerNxt
	// Three islands of 2 bytes with holes between them: three ranges held.
	for _, off := range []int{2, 6, 10} {
		h.in(h.peerData(base+seqnumSize(off), 2))
	}
	acks := h.out.take()
	if len(acks) == 0 {
		t.Fatal("no ACK for out-of-order data")
	}
	last := acks[len(acks)-1]
	if last.Options.NumSACK != 2 {
		t.Fatalf("%s: %d SACK blocks, want 2 on an MSS of 28", segString(&last), last.Options.NumSACK)
	}
	// Data sent now shrinks by the blocks it carries: 8 bytes, the MSS of
	// 28 less 20 of SACK option.
	h.c.Write(bytesN(100), h.now)
	sent := h.out.take()
	if len(sent) == 0 || sent[0].Options.NumSACK != 2 || len(sent[0].Payload) != 8 {
		t.Fatalf("data segments %v, want the first with 2 SACK blocks and 8 bytes", sent)
	}
}
