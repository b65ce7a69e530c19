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
// nothing comes back: the probe follows a PTO after the last transmission
// (12ms), and the RTO after the probe (212ms). No reordering timer runs:
// 4-9 were sent with 1-3 and above them, so RACK has nothing sent before
// a delivered segment to wait for (RFC 8985 §6.2, RACK_sent_after's tie
// on end_seq). (Before the transmit log, the holes below the highest SACK
// armed it at 12ms and the probe waited for 14ms.)
func TestEstablished_RecoveryProbe_ACKClockStops_ResendsSNDUNA(t *testing.T) {
	h := newSACKEstablished(t)
	lostFirstSegmentRecovery(h)
	cwnd, ssthresh := h.c.cc.cwnd(), h.c.cc.ssthresh()
	h.fire(12 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	i := h.c.Info()
	if i.LossProbes != 1 || i.Timeouts != 0 || i.RACKRetransmits != 0 || !h.c.inRecovery {
		t.Fatalf("info %+v inRecovery %v", i, h.c.inRecovery)
	}
	if h.c.cc.cwnd() != cwnd || h.c.cc.ssthresh() != ssthresh {
		t.Fatalf("cwnd %d ssthresh %d, want %d %d (the probe is no RTO)", h.c.cc.cwnd(), h.c.cc.ssthresh(), cwnd, ssthresh)
	}
	// One probe per silence: the next timer is the RTO, from the probe.
	h.fire(212 * ms)
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
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.at(15 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4))) // a duplicate: nothing new
	h.expect()
	expectRecoveryProbe(h, 17*ms, 2)
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

// RFC 8985 §6.1: a retransmission restamps the octets it carries, so each
// octet is timed by its latest copy, whatever the overlap of the copies.
func TestRACK_Record_LatestCopyTimesTheOctets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new [2]int
	}{
		{"same", [2]int{0, 100}, [2]int{0, 100}},
		{"inside", [2]int{20, 80}, [2]int{0, 100}},
		{"tail resent", [2]int{0, 100}, [2]int{50, 150}},
		{"head resent", [2]int{50, 150}, [2]int{0, 100}},
		{"apart", [2]int{0, 100}, [2]int{100, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l txLog
			l.sent(0, 300, t0)
			l.resent(seqnum.Value(tc.old[0]), seqnum.Value(tc.old[1]), t0.Add(ms))
			l.resent(seqnum.Value(tc.new[0]), seqnum.Value(tc.new[1]), t0.Add(2*ms))
			for x := 0; x < 300; x++ {
				want := t0
				switch {
				case tc.new[0] <= x && x < tc.new[1]:
					want = t0.Add(2 * ms)
				case tc.old[0] <= x && x < tc.old[1]:
					want = t0.Add(ms)
				}
				found := 0
				for i := l.head; i != 0; i = l.recs[i].next {
					if r := &l.recs[i]; r.start.LessThanEq(seqnum.Value(x)) && seqnum.Value(x).LessThan(r.end) {
						found++
						if !r.xmit.Equal(want) {
							t.Fatalf("octet %d timed %v, want %v", x, r.xmit.Sub(t0), want.Sub(t0))
						}
					}
				}
				if found != 1 {
					t.Fatalf("octet %d in %d records", x, found)
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
	// The path's min_RTT is 10ms: an ACK of 0 1ms after its
	// retransmission is the original's, no RACK.rtt sample (RFC 8985
	// §6.2 step 2), and no evidence that 5-9, sent before the
	// retransmission, are lost.
	h.c.minRTT = 10 * ms
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
