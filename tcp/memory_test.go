package tcp

import (
	"testing"

	"github.com/tapstack/tapstack/tcp/buffer"
)

// rightEdge is the right edge a segment advertises.
func (h *harness) rightEdge(s Segment) uint32 {
	return uint32(s.Ack) + uint32(s.Window)<<h.c.rcvWScale
}

// readAll drains the connection's readable bytes.
func (h *harness) readAll() int {
	n, _ := h.c.Read(make([]byte, 1<<20), h.now)
	return n
}

// Under memory pressure the window stops growing (Linux
// tcp_under_memory_pressure in __tcp_select_window): after the reader drains
// the buffer, the window offered is the ring already allocated, not the
// whole receive buffer; the advertised right edge never moves left
// (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4).
func TestEstablished_MemoryPressure_WindowStopsGrowing(t *testing.T) {
	for _, pressure := range []bool{false, true} {
		m := buffer.NewMemory(8<<10, 0)
		if pressure {
			// Another connection's 16 KiB ring puts the stack under it.
			hog := buffer.NewRecv(64<<10, 1)
			hog.SetMemory(m)
			hog.Insert(0, bytesN(10000))
		}
		h := newEstablished(t, Config{RcvBuf: 256 << 10, Memory: m})
		var last uint32
		for range 4 {
			h.in(h.data(bytesN(1000)))
			h.readAll()
			h.c.HandleTimer(h.now.Add(DefaultDelayedACK))
			for _, s := range h.out.take() {
				if r := h.rightEdge(s); last != 0 && int32(r-last) < 0 {
					t.Fatalf("pressure %v: right edge moved left: %d → %d", pressure, last, r)
				} else {
					last = r
				}
			}
		}
		if m.UnderPressure() != pressure {
			t.Fatalf("under pressure = %v, want %v", m.UnderPressure(), pressure)
		}
		// Open the window as far as it goes: a read of nothing new, then
		// an ACK carrying the window the TCB selects now.
		h.c.sendAck(h.now)
		segs := h.out.take()
		if len(segs) != 1 {
			t.Fatalf("pressure %v: %d segments for one ACK", pressure, len(segs))
		}
		win := int(segs[0].Window) << h.c.rcvWScale
		switch {
		case !pressure && win < 200<<10:
			t.Fatalf("without pressure the window is %d, want the whole buffer", win)
		case pressure && win > 65535:
			// The SYN-ACK offered 65535 unscaled; under pressure the
			// edge stays there and does not grow to the buffer.
			t.Fatalf("under pressure the window grew to %d", win)
		}
	}
}

// At the memory limit, in-order data the ring cannot take is dropped and
// counted (Linux TCPRcvQDrop); the ACK goes at once, and the peer's
// retransmission completes the stream once the reader makes room.
func TestEstablished_MemoryLimit_InOrderDataBeyondTheRingDroppedAndCounted(t *testing.T) {
	m := buffer.NewMemory(0, 4<<10)
	k := &Counters{}
	h := newEstablished(t, Config{RcvBuf: 256 << 10, Memory: m, Counters: k})
	h.in(h.data(bytesN(1400)))
	h.in(h.data(bytesN(1400)))
	h.in(h.data(bytesN(1400))) // 4200: 104 bytes beyond the 4 KiB ring
	if got := h.c.Readable(); got != 4096 {
		t.Fatalf("readable %d, want the 4096 the ring holds", got)
	}
	if k.RecvQueueDrops != 1 {
		t.Fatalf("RecvQueueDrops = %d, want 1", k.RecvQueueDrops)
	}
	acks := h.out.take()
	if len(acks) == 0 || acks[len(acks)-1].Ack != peerISS+1+4096 {
		t.Fatalf("want an immediate ACK of 4096 bytes, got %v", acks)
	}
	h.readAll()
	resend := h.data(bytesN(104))
	resend.Seq = peerISS + 1 + 4096
	h.in(resend)
	if got := h.c.Readable(); got != 104 {
		t.Fatalf("retransmission: readable %d, want 104", got)
	}
}

// Out-of-order data beyond MaxOutOfOrderBytes is not kept, and counted
// (TCPOFODrop); in-order data still fills the hole.
func TestEstablished_MaxOutOfOrderBytes_Counted(t *testing.T) {
	k := &Counters{}
	h := newEstablished(t, Config{MaxOutOfOrderBytes: 2000, Counters: k})
	first := h.data(bytesN(1000))
	h.peerNxt = h.peerNxt.Add(1000) // first is "lost"
	h.in(h.data(bytesN(1000)))
	h.in(h.data(bytesN(1000)))
	h.in(h.data(bytesN(1000))) // a third out-of-order KB: over the limit
	if k.OutOfOrderDrops != 1 {
		t.Fatalf("OutOfOrderDrops = %d, want 1", k.OutOfOrderDrops)
	}
	h.in(first)
	if got := h.c.Readable(); got != 3000 {
		t.Fatalf("readable %d after the hole filled, want 3000", got)
	}
}
