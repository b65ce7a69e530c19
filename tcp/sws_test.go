package tcp

import "testing"

// Sender SWS avoidance (RFC 9293 §3.8.6.2.1, MUST-38; RFC 1122 §4.2.3.4):
// with D the data queued and U the usable window, send when
// (1) a maximum-sized segment can go, (2) D ≤ U and all of it can go with
// nothing unacknowledged (Nagle; ours is Minshall's variant, as Linux),
// (3) at least Fs·Max(SND.WND) can go, Fs = 1/2, or (4) the override
// timeout expires. sendAllowed has the rules; these tests take each one
// alone. The Nagle-only cases are in conn_test.go and window_test.go.

// (1): a full-sized segment goes in a window far below half the largest
// the peer offered; the short remainder the window leaves room for does
// not.
func TestEstablished_SenderSWS_FullSegmentGoesInASmallWindow(t *testing.T) {
	h := newUnscaled(t, Config{}, 65535) // the largest window offered: 65535
	h.in(h.wndAck(testISS+1, 2000))
	h.c.Write(bytesN(3000), h.now)
	h.expect("ACK seq=1001 ack=5001 len=1460")
}

// (2): the whole of the queued data goes as one short segment even
// where (3) would hold it (100 octets, far below half of 65535).
func TestEstablished_SenderSWS_AllTheQueuedDataGoes(t *testing.T) {
	h := newUnscaled(t, Config{}, 65535)
	h.in(h.wndAck(testISS+1, 2000))
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=100")
}

// (3) below its bound: one octet short of half the largest window waits
// for the override (the exactly-half case is
// TestEstablished_SenderSWS_ExactlyHalfTheLargestWindow_Sent).
func TestEstablished_SenderSWS_JustBelowHalfTheLargestWindow_Waits(t *testing.T) {
	h := newUnscaled(t, Config{}, 2000) // the largest window the peer offers
	h.in(h.wndAck(testISS+1, 999))
	h.c.Write(bytesN(3000), h.now)
	h.expect()
	h.fire(200 * ms) // (4)
	h.expect("ACK seq=1001 ack=5001 len=999")
}

// (3) is Nagle permitting, as in Linux's tcp_nagle_test: half the
// largest window is held while an earlier short segment is
// unacknowledged, and goes when it is.
func TestEstablished_SenderSWS_HalfWindowWaitsForNagle(t *testing.T) {
	h := newUnscaled(t, Config{}, 2000)
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=100") // short, unacknowledged
	h.in(h.wndAck(testISS+1, 1100))               // usable: 1000, half of 2000
	h.c.Write(bytesN(3000), h.now)
	h.expect()
	h.at(10 * ms)
	h.in(h.wndAck(testISS+101, 1000)) // the short segment acknowledged
	h.expect("ACK seq=1101 ack=5001 len=1000")
}

// (4) again and again: while the window stays small, each persist
// timeout sends what fits and nothing goes between them; the ACK of each
// restarts the wait (the override timer is armed only with nothing in
// flight, RFC 1122 §4.2.3.4: "when there is no data outstanding").
func TestEstablished_SenderSWS_WindowStaysSmall_OverrideEachTime(t *testing.T) {
	h := newUnscaled(t, Config{}, 65535)
	h.in(h.wndAck(testISS+1, 500))
	h.c.Write(bytesN(3000), h.now)
	h.expect()
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5001 len=500")
	h.at(210 * ms)
	h.in(h.wndAck(1501, 500))
	h.expect()
	h.fire(411*ms + 250*us) // 210 ms + the RTO: SRTT 1.25 ms + RTOMin
	h.expect("ACK seq=1501 ack=5001 len=500")
	h.at(420 * ms)
	h.in(h.wndAck(2001, 2000)) // the window opens: the rest goes at once
	h.expect("ACK seq=2001 ack=5001 len=1460", "PSH|ACK seq=3461 ack=5001 len=540")
}
