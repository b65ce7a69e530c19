package tcp

import "testing"

// RFC 9293 §3.10.7.4 fifth (the SND.WL1/SND.WL2 rule): the send window is
// taken only from a segment at least as new as the one it last came from,
// "prevents using old segments to update the window". A segment that is
// acceptable (it carries new data past RCV.NXT) but starts before SND.WL1
// carries a stale window.
func TestEstablished_WindowUpdate_OnlyFromNewerSegments(t *testing.T) {
	h := newEstablished(t, Config{})
	d := h.data(bytesN(100)) // at 5001
	d.Window = 1000          // 128000 bytes with shift 7
	h.in(d)
	d = h.data(bytesN(100)) // at 5101
	d.Window = 2            // 256 bytes
	h.in(d)
	if w := h.c.Info().SndWnd; w != 256 {
		t.Fatalf("SND.WND %d after the newer segment, want 256", w)
	}
	// A retransmission covering 5001-5300, carrying the window of its
	// first transmission: 100 new bytes are taken, the window is not.
	old := h.peerData(5001, 300)
	old.Window = 1000
	h.in(old)
	if h.c.rcvNxt != 5301 {
		t.Fatalf("RCV.NXT %d, want 5301: the new bytes were not taken", h.c.rcvNxt)
	}
	if w := h.c.Info().SndWnd; w != 256 {
		t.Fatalf("SND.WND %d after an older segment, want 256 (SND.WL1 %d, SEG.SEQ 5001)", w, h.c.sndWL1)
	}
	// A newer segment does update it.
	w := h.seg(FlagACK)
	w.Seq = 5301 // RCV.NXT, after SND.WL1: newer
	w.Window = 3
	h.in(w)
	if w := h.c.Info().SndWnd; w != 384 {
		t.Fatalf("SND.WND %d after a newer ACK, want 384", w)
	}
}

// RFC 1122 §4.2.3.4 sender SWS avoidance: with data waiting, a window too
// small for a full segment and less than half the largest the peer ever
// offered is not used at once (nor is a segment that small sent); the
// persist timer's override (d) sends what fits when it expires.
func TestEstablished_SenderSWS_SmallWindowWaitsForTheOverride(t *testing.T) {
	h := newEstablished(t, Config{})
	shrink := h.seg(FlagACK)
	shrink.Window = 4 // 512 bytes; the largest offered was 65535<<7
	h.in(shrink)
	h.c.Write(bytesN(2000), h.now)
	h.expect()
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5001 len=512")
}

// Minshall's Nagle (as Linux's tcp_minshall_check) holds a short segment
// while an earlier short one is unacknowledged: SND.UNA < SND.SML <=
// SND.NXT. The upper bound matters once 2^31 bytes of full-sized segments
// have gone by since the last short one: modulo 2^32 (RFC 9293 §3.4) that
// old SND.SML then looks ahead of SND.UNA, and only the bound tells it is
// stale. (Set directly here: 2 GiB of segments would make a slow test.)
func TestEstablished_Nagle_StaleShortSegmentDoesNotHold(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.sndSml = h.c.sndUna.Add(1<<31 - 1) // 2^31+1 bytes behind SND.UNA
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=100")
}

// Receiver SWS avoidance (RFC 1122 §4.2.3.3) in every ACK, not only in a
// read's window update: a read that frees less than min(RcvBuf/2, MSS)
// is not advertised by the next ACK either.
func TestEstablished_ReceiverSWS_SmallReadNotAdvertisedInTheNextACK(t *testing.T) {
	h := newEstablished(t, Config{RcvBuf: 8192, DisableTimestamps: true})
	for i := 0; i < 4; i++ {
		h.in(h.data(bytesN(1024)))
	}
	h.out.take()
	h.fire(40 * ms) // the window the peer knows: 8192 - 4096
	h.out.take()
	buf := make([]byte, 1000)
	h.c.Read(buf, h.now) // frees 1000 < 1460: no update
	h.expect()
	h.in(h.data(bytesN(100)))
	h.fire(80 * ms)
	if got := h.expect("ACK seq=1001 ack=9197"); got[0].Window != 8192-4096-100 {
		t.Fatalf("window %d, want %d: the 1000 bytes read are not worth advertising yet", got[0].Window, 8192-4096-100)
	}
}

// With a receive buffer under two segments, the SWS threshold is half the
// buffer (RFC 1122 §4.2.3.3: min(RcvBuf/2, MSS)).
func TestEstablished_ReceiverSWS_SmallBuffer_HalfTheBuffer(t *testing.T) {
	h := newEstablished(t, Config{RcvBuf: 2000, DisableTimestamps: true})
	h.in(h.data(bytesN(1000)))
	h.in(h.data(bytesN(1000)))
	h.out.take()
	h.fire(40 * ms) // the window the peer knows: 0
	h.out.take()
	buf := make([]byte, 1000)
	h.c.Read(buf, h.now) // frees 1000 = RcvBuf/2: enough
	if got := h.expect("ACK seq=1001 ack=7001"); got[0].Window != 1000 {
		t.Fatalf("window update %d, want 1000", got[0].Window)
	}
}

// RFC 7323 §2.4: with a window scale, the field is rounded up where
// rounding down would move the right edge left, and by no more than that.
func TestEstablished_ScaledWindow_RoundedUpByTheLeastStep(t *testing.T) {
	h := newEstablished(t, Config{RcvBuf: 131072, DisableTimestamps: true}) // shift 2
	if h.c.rcvWScale != 2 {
		t.Fatalf("shift %d, want 2", h.c.rcvWScale)
	}
	h.in(h.data(bytesN(1))) // 131071 left of the right edge: not a multiple of 4
	h.fire(40 * ms)
	if got := h.expect("ACK seq=1001 ack=5002"); got[0].Window != 32768 {
		t.Fatalf("window field %d, want 32768 (131071 rounded up to the next multiple of 4)", got[0].Window)
	}
}

// Sender SWS avoidance (RFC 1122 §4.2.3.4 (c), Fs = 1/2): a window-limited
// segment goes once it is at least half the largest window the peer has
// offered; exactly half is enough.
func TestEstablished_SenderSWS_ExactlyHalfTheLargestWindow_Sent(t *testing.T) {
	h := newUnscaled(t, Config{}, 2000) // the largest window the peer offers
	shrink := h.seg(FlagACK)
	shrink.Window = 1000
	h.in(shrink)
	h.c.Write(bytesN(3000), h.now)
	h.expect("ACK seq=1001 ack=5001 len=1000")
}

// Minshall's Nagle holds a short segment only while an earlier short one
// is unacknowledged: an unacknowledged full-sized one does not hold it.
func TestEstablished_Nagle_FullSegmentOutstanding_ShortOneSent(t *testing.T) {
	h := newEstablished(t, Config{DisableTimestamps: true})
	h.c.Write(bytesN(1460), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=1460")
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=2461 ack=5001 len=100")
}

// The persist timer's override sends only what fits; a FIN queued behind
// the rest of the data stays queued (RFC 9293 §3.10.4: the FIN follows
// all the data), and goes with the last byte once the window opens.
func TestEstablished_SenderSWS_OverrideWithFINQueued_FINWaitsForTheLastByte(t *testing.T) {
	h := newEstablished(t, Config{})
	shrink := h.seg(FlagACK)
	shrink.Window = 4 // 512 bytes; the largest offered was 65535<<7
	h.in(shrink)
	h.c.Write(bytesN(2000), h.now)
	if err := h.c.Shutdown(h.now); err != nil {
		t.Fatal(err)
	}
	h.expect()
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5001 len=512")
	open := h.seg(FlagACK)
	open.Ack = 1513
	h.in(open)
	h.expect("ACK seq=1513 ack=5001 len=1460", "FIN|PSH|ACK seq=2973 ack=5001 len=28")
}

// RFC 5681 §3.1 eq. (4): after a timeout ssthresh = max(FlightSize/2,
// 2·SMSS); with one segment in flight the floor decides, and the ACK of
// the retransmission is still slow start.
func TestEstablished_RTO_SsthreshFloorTwoSegments(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(1460), h.now)
	h.out.take()
	h.fire(200 * ms)
	h.expect("PSH|ACK seq=1001 ack=5001 len=1460")
	if h.c.cc.ssthresh() != 2*1460 || h.c.cc.cwnd() != 1460 {
		t.Fatalf("ssthresh %d cwnd %d, want 2920 1460", h.c.cc.ssthresh(), h.c.cc.cwnd())
	}
}
