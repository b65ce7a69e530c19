package tcp

import (
	"errors"
	"testing"

	"github.com/tapstack/tapstack/tcp/buffer"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// fillAndAck fills the send buffer (Write until it would block), lets the
// Conn send what its windows allow, and has the peer acknowledge all of it
// with window field wnd (scaled by 7 in the harness): one round of a bulk
// sender whose user always has more to write.
func fillAndAck(h *harness, wnd uint16) {
	h.t.Helper()
	for {
		if _, err := h.c.Write(bytesN(64<<10), h.now); errors.Is(err, ErrWouldBlock) {
			break
		} else if err != nil {
			h.t.Fatal(err)
		}
	}
	h.out.take()
	a := h.seg(FlagACK)
	a.Window = wnd
	h.in(a)
}

// Linux's tcp_sndbuf_expand: an autotuned send buffer starts at
// tcp_wmem[1] (16 KiB) and, after each ACK of new data while the window is
// open, is 2 * max(cwnd, 10 segments), up to Config.SndBuf (tcp_wmem[2]).
func TestSndBuf_GrowsToTwiceCwndUpToSndBuf(t *testing.T) {
	h := handshake(connect(newTunedHarness(t, Config{})))
	if got := h.c.sndBuf.Cap(); got != InitialSndBuf {
		t.Fatalf("send buffer %d bytes after the handshake, want %d (tcp_wmem[1])", got, InitialSndBuf)
	}
	fillAndAck(h, 65535)
	// Ten segments acknowledged at once: slow start adds one MSS.
	if cwnd, got := h.c.cc.cwnd(), h.c.sndBuf.Cap(); cwnd != 11*1460 || got != 2*11*1460 {
		t.Fatalf("cwnd %d, send buffer %d after the first window was acknowledged; want 16060, 32120 (2 * cwnd)", cwnd, got)
	}
	for range 200 {
		fillAndAck(h, 65535)
		cwnd, got := h.c.cc.cwnd(), h.c.sndBuf.Cap()
		if got != min(2*cwnd, DefaultSndBuf) {
			t.Fatalf("send buffer %d with cwnd %d, want min(2 * cwnd, %d)", got, cwnd, DefaultSndBuf)
		}
		if got == DefaultSndBuf {
			return
		}
	}
	t.Fatalf("send buffer %d after 200 rounds, never reached Config.SndBuf %d", h.c.sndBuf.Cap(), DefaultSndBuf)
}

// A peer that advertises a zero window lets nothing more be sent: the
// buffer stays at its start size however long the user keeps writing, and
// so does its ring (what a stalled peer pins).
func TestSndBuf_ZeroWindow_NoGrowth(t *testing.T) {
	m := buffer.NewMemory(0, 0)
	h := handshake(connect(newTunedHarness(t, Config{Memory: m})))
	for range 5 {
		fillAndAck(h, 0)
	}
	if got := h.c.sndBuf.Cap(); got != InitialSndBuf {
		t.Fatalf("send buffer %d bytes while the peer's window is zero, want %d", got, InitialSndBuf)
	}
	if m.Used() > InitialSndBuf {
		t.Fatalf("ring %d bytes while the peer's window is zero, want at most %d", m.Used(), InitialSndBuf)
	}
}

// Deviation (Linux compat), sndbuf.go: the buffer is sized for no more
// than twice the largest window the peer offered, however far cwnd grows
// while the receiver is the limit.
func TestSndBuf_CappedAtTwiceThePeersLargestWindow(t *testing.T) {
	h := connect(newTunedHarness(t, Config{}))
	sa := h.synAck()
	sa.Window = 256 // unscaled in a SYN-ACK (RFC 7323 §2.2)
	h.in(sa)
	for range 60 {
		fillAndAck(h, 256) // 256 << 7: a 32 KiB window
	}
	if cwnd, got := h.c.cc.cwnd(), h.c.sndBuf.Cap(); cwnd <= 32<<10 || got != 64<<10 {
		t.Fatalf("send buffer %d with cwnd %d and a 32 KiB peer window, want 64 KiB (and cwnd above 32 KiB)", got, cwnd)
	}
}

// SO_SNDBUF (SetSndBuf, or Config.SndBufLocked) fixes the size and turns
// autotuning off, as Linux's SOCK_SNDBUF_LOCK.
func TestSndBuf_SetSndBufPinsIt(t *testing.T) {
	h := handshake(connect(newTunedHarness(t, Config{})))
	h.c.SetSndBuf(20000)
	for range 30 {
		fillAndAck(h, 65535)
	}
	if got := h.c.sndBuf.Cap(); got != 20000 {
		t.Fatalf("send buffer %d after SetSndBuf(20000) and 30 windows acknowledged, want 20000", got)
	}
	if !h.c.Config().SndBufLocked {
		t.Fatal("Config().SndBufLocked false after SetSndBuf")
	}

	h = handshake(connect(newTunedHarness(t, Config{SndBuf: 100000, SndBufLocked: true})))
	if got := h.c.sndBuf.Cap(); got != 100000 {
		t.Fatalf("send buffer %d with Config{SndBuf: 100000, SndBufLocked: true}, want 100000 from the start", got)
	}
}

// tcp_should_expand_sndbuf: no growth under memory pressure.
func TestSndBuf_NoGrowthUnderMemoryPressure(t *testing.T) {
	m := buffer.NewMemory(8<<10, 0)
	hog := buffer.NewSend(1 << 20)
	hog.SetMemory(m)
	hog.Write(make([]byte, 16<<10))
	if !m.UnderPressure() {
		t.Fatal("fixture: no pressure")
	}
	h := handshake(connect(newTunedHarness(t, Config{Memory: m})))
	for range 10 {
		fillAndAck(h, 65535)
	}
	if got := h.c.sndBuf.Cap(); got != InitialSndBuf {
		t.Fatalf("send buffer %d under memory pressure, want %d", got, InitialSndBuf)
	}
}

// An ACK wakes a writer (EventWritable) only once the free send space is
// at least half of what is still queued (Linux's sk_stream_write_space),
// not for each MSS it frees.
func TestSndBuf_ACK_WakesWriterOnlyOnceAThirdIsFree(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 6000})
	if n, err := h.c.Write(bytesN(6000), h.now); n != 6000 || err != nil {
		t.Fatalf("Write %d %v", n, err)
	}
	una := h.c.sndUna
	h.out.take()
	h.c.TakeEvents()
	ack := func(n int) Events {
		s := h.seg(FlagACK)
		s.Ack = una.Add(seqnum.Size(n))
		h.in(s)
		h.out.take()
		return h.c.TakeEvents()
	}
	if ev := ack(1460); ev&EventWritable != 0 || h.c.Writable() != 1460 {
		t.Fatalf("ACK freeing 1460 of 6000 (4540 queued): events %v, Writable %d; want no EventWritable yet", ev, h.c.Writable())
	}
	if ev := ack(2920); ev&EventWritable == 0 {
		t.Fatalf("ACK freeing 2920 of 6000 (3080 queued): events %v, want EventWritable", ev)
	}
	if ev := ack(6000); ev&EventWritable == 0 || h.c.Writable() != 6000 {
		t.Fatalf("ACK of everything: events %v, Writable %d; want EventWritable and 6000", ev, h.c.Writable())
	}
}
