package tcp

import "testing"

// newEstablishedMSS is an established connection whose peer announced mss
// (no timestamps), so the peer's full-sized segments are mss bytes while
// ours could be Config.MSS (1460).
func newEstablishedMSS(t *testing.T, mss uint16) *harness {
	h := connect(newHarness(t, Config{DisableTimestamps: true}))
	sa := h.synAck()
	sa.Options.MSS = mss
	h.in(sa)
	h.in(h.seg(FlagACK))
	h.out.take()
	h.c.TakeEvents()
	if h.c.State() != StateEstablished || h.c.rcvMSS != int(mss) {
		t.Fatalf("fixture: state %v, rcvMSS %d", h.c.State(), h.c.rcvMSS)
	}
	return h
}

// A GRO super-segment of the peer's 1000-byte segments leaves "full-sized"
// at 1000 (Linux's tcp_measure_rcv_mss takes gso_size): two plain
// 1000-byte segments after it are still ACKed at the second (RFC 5681
// §4.2), rather than "full-sized" becoming min(len, our MSS) = 1460.
func TestGRO_SuperSegment_FullSizedIsItsSegmentSize(t *testing.T) {
	h := newEstablishedMSS(t, 1000)
	super := h.data(bytesN(3000))
	super.GSOSize = 1000
	h.in(super)
	h.expect("ACK seq=1001 ack=8001") // three segments: ACKed at once
	if h.c.rcvMSS != 1000 {
		t.Fatalf("rcvMSS %d after a super-segment of 1000-byte segments, want 1000", h.c.rcvMSS)
	}
	h.in(h.data(bytesN(1000)))
	h.expect()
	h.in(h.data(bytesN(1000)))
	h.expect("ACK seq=1001 ack=10001")
}

// A super-segment stands for ceil(len/GSOSize) segments: 1000+500 bytes
// are two, so it is ACKed at once though it carries less than two
// full-sized segments' bytes; the same 1500 bytes as one ordinary segment
// wait for the delayed ACK.
func TestGRO_SuperSegment_CountsAsItsSegments(t *testing.T) {
	h := newEstablishedMSS(t, 1000)
	super := h.data(bytesN(1500))
	super.GSOSize = 1000
	h.in(super)
	h.expect("ACK seq=1001 ack=6501")

	h = newEstablishedMSS(t, 1000)
	h.in(h.data(bytesN(1500)))
	h.expect()
	h.fire(40 * ms)
	h.expect("ACK seq=1001 ack=6501")
}
