package tcp

import (
	"testing"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// The recovery probe (recoveryProbe): in SACK recovery, a PTO of silence
// after the last ACK or transmission resends SND.UNA's segment, leaves
// cwnd alone and re-arms the RTO; one probe per silence. The harness as in
// rack_test.go: SRTT 0, so the PTO is 2ms.

// After lostFirstSegmentRecovery (recovery at 10ms, segment 0 resent)
// nothing comes back: the reordering timer (12ms) finds nothing, the probe
// follows a PTO after it (14ms), and the RTO after the probe (214ms).
func TestEstablished_RecoveryProbe_ACKClockStops_ResendsSNDUNA(t *testing.T) {
	h := newSACKEstablished(t)
	lostFirstSegmentRecovery(h)
	cwnd, ssthresh := h.c.cc.cwnd(), h.c.cc.ssthresh()
	h.fire(12 * ms)
	h.expect()
	h.fire(14 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	i := h.c.Info()
	if i.LossProbes != 1 || i.Timeouts != 0 || i.RACKRetransmits != 0 || !h.c.inRecovery {
		t.Fatalf("info %+v inRecovery %v", i, h.c.inRecovery)
	}
	if h.c.cc.cwnd() != cwnd || h.c.cc.ssthresh() != ssthresh {
		t.Fatalf("cwnd %d ssthresh %d, want %d %d (the probe is no RTO)", h.c.cc.cwnd(), h.c.cc.ssthresh(), cwnd, ssthresh)
	}
	// One probe per silence: the next timer is the RTO, from the probe.
	h.fire(214 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.LossProbes != 1 || i.Timeouts != 1 {
		t.Fatalf("info %+v", i)
	}
}

// Any ACK shows the ACK clock running: the next silence gets its own
// probe, a PTO after that ACK.
func TestEstablished_RecoveryProbe_ACKRearmsIt(t *testing.T) {
	h := newSACKEstablished(t)
	lostFirstSegmentRecovery(h)
	h.fire(12 * ms)
	h.fire(14 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.at(15 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4))) // a duplicate: nothing new
	h.expect()
	h.fire(17 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i := h.c.Info(); i.LossProbes != 2 || i.Timeouts != 0 {
		t.Fatalf("info %+v", i)
	}
}

// Outside recovery the probe is TLP's (RFC 8985 §7), which this does not
// change: with nothing SACKed, no recovery, and the flight's tail
// unacknowledged, the probe resends the last segment, not SND.UNA's.
func TestEstablished_RecoveryProbe_NotOutsideRecovery(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 4)
	h.fire(2 * ms)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(3)))
	if i := h.c.Info(); i.LossProbes != 1 {
		t.Fatalf("info %+v", i)
	}
}

// RFC 8985 §6.1: a retransmission restamps the octets it carries, so the
// log keeps only the latest copy of each: an earlier record inside the new
// one goes, one that overlaps an end is cut back to what was not resent.
func TestRACK_Record_LatestCopyTimesTheOctets(t *testing.T) {
	at := func(i int) seqnum.Value { return segAt(0).Add(seqnum.Size(i)) }
	for _, tc := range []struct {
		name       string
		old        [2]int
		new        [2]int
		want       [][2]int // the earlier record's ranges left, then the new one
		wantLogged int
	}{
		{"same", [2]int{0, 100}, [2]int{0, 100}, [][2]int{{0, 100}}, 1},
		{"inside", [2]int{20, 80}, [2]int{0, 100}, [][2]int{{0, 100}}, 1},
		{"tail resent", [2]int{0, 100}, [2]int{50, 150}, [][2]int{{0, 50}, {50, 150}}, 2},
		{"head resent", [2]int{50, 150}, [2]int{0, 100}, [][2]int{{100, 150}, {0, 100}}, 2},
		{"apart", [2]int{0, 100}, [2]int{100, 200}, [][2]int{{0, 100}, {100, 200}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSACKEstablished(t)
			lostFirstSegmentRecovery(h)
			h.c.rxtN = 0
			h.c.rackRecord(at(tc.old[0]), at(tc.old[1]))
			h.c.rackRecord(at(tc.new[0]), at(tc.new[1]))
			if h.c.rxtN != tc.wantLogged {
				t.Fatalf("%d records, want %d", h.c.rxtN, tc.wantLogged)
			}
			for k, w := range tc.want {
				if r := h.c.rxt[k]; r.start != at(w[0]) || r.end != at(w[1]) {
					t.Fatalf("record %d: [%d, %d), want [%d, %d)", k, at(0).Size(r.start), at(0).Size(r.end), w[0], w[1])
				}
			}
		})
	}
}

// A partial ACK with no SACK block from a peer that sends them says the
// peer holds nothing above it: the segment at SND.UNA may well be on its
// way, and RFC 6675 resends only what NextSeg() finds lost. (A peer that
// negotiated SACK but never sends a block gets NewReno's retransmission,
// TestEstablished_SACK_PeerSendsNoBlocks_RecoversAsNewReno.)
func TestEstablished_SACK_PartialACKWithoutBlocks_NoNewRenoRetransmission(t *testing.T) {
	h := newSACKEstablished(t)
	lostFirstSegmentRecovery(h) // 1-4 SACKed, 0 resent
	h.at(11 * ms)
	a := h.seg(FlagACK)
	a.Ack = segAt(5) // the resent 0 arrived; nothing above 5 yet
	h.in(a)
	if !h.c.inRecovery {
		t.Fatal("fixture: recovery ended")
	}
	for _, sg := range h.out.take() {
		if sg.Seq == segAt(5) {
			t.Fatalf("segment 5 resent on a partial ACK from a SACK peer")
		}
	}
}
