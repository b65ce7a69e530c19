package tcp

import "testing"

// RFC 6675 §4 NextSeg() during recovery: a lost hole (rule 1) goes before
// new data (rule 2), and new data before a hole not yet deemed lost (rule
// 3). Segments 0 and 2 of a flight are lost and new data waits: when the
// first room opens with segment 2 deemed lost, segment 2 is what goes;
// when the next opens beside a hole that is not lost, new data goes.
func TestEstablished_SACK_NextSeg_LostHoleThenNewDataThenOtherHoles(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 10)
	h.c.Write(bytesN(6*1460), h.now) // unsent: cwnd (IW 10) is full
	h.expect()
	h.at(10 * ms)
	// The first two duplicate ACKs: limited transmit, a new segment each
	// (RFC 6675 §5 (1)).
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(10)))
	h.in(h.sackAck(segAt(0), segAt(3), segAt(4), segAt(1), segAt(2)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(11)))
	// The third: recovery (§5 (4)), segment 0 resent; ssthresh =
	// FlightSize/2 = 6·1460 (PRR, RFC 6937, then sets cwnd from it).
	h.in(h.sackAck(segAt(0), segAt(3), segAt(5), segAt(1), segAt(2)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(0)))
	if h.c.cc.ssthresh() != 6*1460 {
		t.Fatalf("ssthresh %d, want %d", h.c.cc.ssthresh(), 6*1460)
	}
	// pipe falls with each SACK; no room until it is below cwnd - SMSS.
	h.in(h.sackAck(segAt(0), segAt(3), segAt(6), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(3), segAt(7), segAt(1), segAt(2)))
	h.expect()
	// Room for one: segment 2 has 5 SACKed segments above it, so it is
	// lost (IsLost, §4): rule (1) resends it; new data waits.
	h.in(h.sackAck(segAt(0), segAt(3), segAt(8), segAt(1), segAt(2)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(2)))
	// Segment 10 arrives, 8 and 9 not (yet): room for one more. 8 and 9
	// are a hole with one SACKed segment above it, not lost: rule (2)
	// sends new data before rule (3) would resend them. (On a path of
	// 40ms, RACK.reo_wnd is 12ms, and RACK deems 8 and 9, sent 10ms
	// before 10, lost only at 12ms, RFC 8985 §6.2 step 5.)
	h.c.minRTT, h.c.srtt = 40*ms, 40*ms
	h.in(h.sackAck(segAt(0), segAt(10), segAt(11), segAt(3), segAt(8), segAt(1), segAt(2)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(12)))
}
