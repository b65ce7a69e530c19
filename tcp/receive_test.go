package tcp

import "testing"

// RFC 9293 §3.10.7.4 eighth, for a FIN that arrives alone beyond a hole:
// it is held like out-of-order data and processed once the hole fills.
func TestEstablished_BareFINBeyondAHole_ProcessedWhenHoleFills(t *testing.T) {
	h := newEstablished(t, Config{})
	first := h.data([]byte("ab"))
	h.peerNxt += 2
	fin := h.seg(FlagFIN | FlagACK) // at 5003, no data
	h.in(fin)
	h.expect("ACK seq=1001 ack=5001")
	h.expectState(StateEstablished)
	h.in(first)
	h.expect("ACK seq=1001 ack=5004")
	h.expectState(StateCloseWait)
}

// A read sends a window update when the window the peer knows has fallen
// to half the largest we offer and the update at least doubles it (Linux's
// tcp_cleanup_rbuf); both bounds are inclusive.
func TestEstablished_ReadWindowUpdate_AtExactlyHalfAndDouble(t *testing.T) {
	h := newEstablished(t, Config{RcvBuf: 4096, DisableTimestamps: true})
	h.in(h.data(bytesN(1024)))
	h.in(h.data(bytesN(1024)))
	h.expect() // 2048 bytes, less than two full segments: the ACK waits
	buf := make([]byte, 2048)
	if n, _ := h.c.Read(buf, h.now); n != 2048 {
		t.Fatalf("read %d", n)
	}
	// The peer knows 2048 (half of 4096) and the update offers 4096.
	if got := h.expect("ACK seq=1001 ack=7049"); got[0].Window != 4096 {
		t.Fatalf("window update %d, want 4096", got[0].Window)
	}
}

// A bare FIN at RCV.NXT is accepted in a zero window (Deviation, Linux
// compat: tcp_data_queue), and the ACK of it still offers a zero window:
// RCV.NXT is then one past the advertised right edge.
func TestEstablished_BareFINInAZeroWindow_AcceptedWindowStaysZero(t *testing.T) {
	h := newEstablished(t, Config{RcvBuf: 4096, DisableTimestamps: true})
	for i := 0; i < 4; i++ {
		h.in(h.data(bytesN(1024)))
	}
	h.out.take()
	h.fire(40 * ms)
	if got := h.expect("ACK seq=1001 ack=9097"); got[0].Window != 0 {
		t.Fatalf("window %d with the buffer full, want 0", got[0].Window)
	}
	h.in(h.seg(FlagFIN | FlagACK))
	got := h.expect("ACK seq=1001 ack=9098")
	if got[0].Window != 0 {
		t.Fatalf("window %d in the ACK of the FIN, want 0", got[0].Window)
	}
	h.expectState(StateCloseWait)
}

// The default receive buffer, 1 MiB (gVisor's default), holds a sender's
// data past a hole at RCV.NXT for as long as the hole's repair takes: every
// segment up to 1 MiB past it is SACKed, none dropped as outside the
// window. With 256 KiB, a bulk sender at 5 % loss each way (test/bench,
// "bulk kernel→stack at 5% loss") filled the window above an unrepaired
// hole and had no new data it could send, so a lost retransmission showed
// only by its RTO: Linux sends no loss probe in recovery, and RACK needs
// a later segment delivered. 18 of the 27 RTOs in a 10-s capture followed
// a window full of out-of-order data (a 56-byte window advertised).
func TestEstablished_DefaultRcvBuf_HoldsOneMiBPastAHole(t *testing.T) {
	h := newSACKEstablished(t)
	const mss = 1460
	hole := h.peerNxt
	end := hole.Add(1 << 20)
	h.peerNxt = hole.Add(mss)
	var last Segment
	for h.peerNxt.LessThan(end) {
		h.in(h.data(bytesN(min(mss, int(h.peerNxt.Size(end))))))
		got := h.out.take()
		if len(got) != 1 {
			t.Fatalf("segment ending at %d: %d segments sent, want one ACK", h.peerNxt, len(got))
		}
		last = got[0]
	}
	if want := s("%d-%d", hole.Add(mss), end); last.Ack != hole || sackString(&last) != want {
		t.Fatalf("last ACK ack=%d sack %s, want ack=%d sack %s", last.Ack, sackString(&last), hole, want)
	}
	fill := h.data(bytesN(mss))
	fill.Seq = hole
	h.in(fill)
	h.expect(s("ACK seq=1001 ack=%d", end))
}
