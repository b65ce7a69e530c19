package tcp

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv4"
)

// RFC 7323 §2.2-2.3: the smallest shift that lets the buffer fit the
// 16-bit field, at most 14.
func TestWindowScaleFor_SmallestShiftAtMost14(t *testing.T) {
	for _, c := range []struct {
		buf  int
		want uint8
	}{{0, 0}, {65535, 0}, {65536, 1}, {131071, 1}, {131072, 2}, {256 << 10, 3}, {65535 << 14, 14}, {1 << 40, 14}} {
		if got := windowScaleFor(c.buf); got != c.want {
			t.Errorf("windowScaleFor(%d) = %d, want %d", c.buf, got, c.want)
		}
	}
}

// RFC 6928 §2: IW = min(10·MSS, max(2·MSS, 14600)); with a jumbo MSS the
// 2·MSS term is the larger.
func TestInitialWindow_RFC6928(t *testing.T) {
	for _, c := range []struct{ mss, want int }{{536, 5360}, {1460, 14600}, {4000, 14600}, {8960, 17920}} {
		h := newHarness(t, Config{MSS: c.mss})
		h.c.mss = c.mss
		if got := h.c.initialWindow(); got != c.want {
			t.Errorf("MSS %d: IW %d, want %d", c.mss, got, c.want)
		}
	}
}

// Peek (MSG_PEEK) reports what Read would when nothing is buffered:
// EAGAIN while the connection is open, io.EOF after the peer's FIN.
func TestEstablished_PeekEmpty_WouldBlockThenEOF(t *testing.T) {
	h := newEstablished(t, Config{})
	buf := make([]byte, 10)
	if n, err := h.c.Peek(buf); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Peek on an empty buffer: %d, %v; want 0, EAGAIN", n, err)
	}
	if h.c.ReadClosed() {
		t.Fatal("ReadClosed on an open connection with nothing to read")
	}
	h.in(h.seg(FlagFIN | FlagACK))
	if n, err := h.c.Peek(buf); n != 0 || err != io.EOF {
		t.Fatalf("Peek after the FIN: %d, %v; want 0, io.EOF", n, err)
	}
	if !h.c.ReadClosed() {
		t.Fatal("ReadClosed false after the FIN")
	}
}

// ReadClosed is true once an error is pending (a reset) or the connection
// is closed, not only after a FIN.
func TestReadClosed_AfterResetAndClose(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.seg(FlagRST))
	if !h.c.ReadClosed() || !errors.Is(h.c.Err(), syscall.ECONNRESET) {
		t.Fatalf("after a RST: ReadClosed %v, err %v", h.c.ReadClosed(), h.c.Err())
	}
	h = newSynSent(t, Config{})
	if h.c.ReadClosed() {
		t.Fatal("ReadClosed in SYN-SENT")
	}
	h.c.Close(h.now)
	if !h.c.ReadClosed() {
		t.Fatal("ReadClosed false after Close in SYN-SENT (CLOSED)")
	}
}

// The keep-alive setters take Linux's defaults for values <= 0 and the
// given value otherwise (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).
func TestKeepAliveSetters_ZeroMeansDefault(t *testing.T) {
	h := newEstablished(t, Config{})
	c := h.c
	c.SetKeepIdle(0, h.now)
	c.SetKeepInterval(0)
	c.SetKeepCount(0)
	if g := c.Config(); g.KeepIdle != DefaultKeepIdle || g.KeepInterval != DefaultKeepInterval || g.KeepCount != DefaultKeepCount {
		t.Fatalf("zero values: %v %v %d; want the defaults", g.KeepIdle, g.KeepInterval, g.KeepCount)
	}
	c.SetKeepIdle(time.Nanosecond, h.now)
	c.SetKeepInterval(time.Nanosecond)
	c.SetKeepCount(1)
	if g := c.Config(); g.KeepIdle != time.Nanosecond || g.KeepInterval != time.Nanosecond || g.KeepCount != 1 {
		t.Fatalf("the smallest values: %v %v %d; want them kept", g.KeepIdle, g.KeepInterval, g.KeepCount)
	}
}

// SO_RCVBUF before the handshake fixes the window scale offered on the SYN
// (RFC 7323 §2.2: the shift is chosen once, for the SYN); afterwards it
// changes only the buffer. 0 is ignored.
func TestSetRcvBuf_FixesOfferedScaleOnlyBeforeTheSYN(t *testing.T) {
	h := newHarness(t, Config{})
	h.c.SetRcvBuf(0) // ignored
	if h.c.Config().RcvBuf != DefaultRcvBuf || h.c.rcvWScale != windowScaleFor(DefaultRcvBuf) {
		t.Fatalf("SetRcvBuf(0) changed RcvBuf to %d, scale %d", h.c.Config().RcvBuf, h.c.rcvWScale)
	}
	h.c.SetRcvBuf(1 << 20)
	h.c.Connect(h.now)
	if syn := h.out.take()[0]; !syn.Options.HasWScale || syn.Options.WScale != 5 {
		t.Fatalf("SYN offers scale %d (%v) with a 1 MiB buffer, want 5", syn.Options.WScale, syn.Options.HasWScale)
	}
	h.c.SetRcvBuf(64 << 20) // after the SYN: the buffer grows, the offered shift stays
	if h.c.rcvWScale != 5 || h.c.Config().RcvBuf != 64<<20 {
		t.Fatalf("after the SYN: scale %d, RcvBuf %d", h.c.rcvWScale, h.c.Config().RcvBuf)
	}
	h = newHarness(t, Config{DisableWindowScale: true})
	h.c.SetRcvBuf(1 << 20)
	if h.c.rcvWScale != 0 {
		t.Fatalf("scale %d with window scaling disabled", h.c.rcvWScale)
	}
}

// SO_SNDBUF: 0 is ignored; a new size applies to what Write accepts.
func TestSetSndBuf_ZeroIgnored(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.SetSndBuf(0)
	if h.c.Config().SndBuf != DefaultSndBuf {
		t.Fatalf("SetSndBuf(0) changed SndBuf to %d", h.c.Config().SndBuf)
	}
	h.c.SetSndBuf(5000)
	if h.c.Config().SndBuf != 5000 || h.c.Writable() > 5000 {
		t.Fatalf("SetSndBuf(5000): SndBuf %d, Writable %d", h.c.Config().SndBuf, h.c.Writable())
	}
}

// A forged cookie whose MSS index decodes to one past Linux's table is
// refused, not looked up.
func TestCookie_MSSIndexPastTheTable_Fails(t *testing.T) {
	ck := cookieK.make(cookieLocal, cookieRemote, 5000, 1000, len(cookieMSS))
	if idx, ok := cookieK.check(ck, cookieLocal, cookieRemote, 5000, 1000); ok {
		t.Fatalf("cookie with MSS index %d accepted as %d", len(cookieMSS), idx)
	}
}

// Destination unreachable codes up to 15 (Linux's NR_ICMP_UNREACH) leave a
// soft error; higher ones are ignored (RFC 1122 §4.2.3.9 leaves unknown
// codes to the implementation; Linux's tcp_v4_err drops them).
func TestSoftICMPError_CodesUpTo15(t *testing.T) {
	if got := SoftICMPError(unreach, 15); got != syscall.EHOSTUNREACH {
		t.Fatalf("3/15 (precedence cutoff): %v, want EHOSTUNREACH", got)
	}
	if got := SoftICMPError(unreach, 16); got != 0 {
		t.Fatalf("3/16: %v, want none", got)
	}
	if got := SoftICMPError(unreach, ipv4.CodeFragNeeded); got != 0 {
		t.Fatalf("3/4: %v, want none (it lowers the MSS instead)", got)
	}
}

// SO_SNDBUF: a size that leaves room wakes writers (EventWritable); one
// below what is already queued does not.
func TestSetSndBuf_WritableOnlyWithRoom(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 4000})
	h.c.Write(bytesN(4000), h.now) // more than the window takes at once: some stays queued
	h.out.take()
	h.c.TakeEvents()
	h.c.SetSndBuf(100)
	if ev := h.c.TakeEvents(); ev&EventWritable != 0 {
		t.Fatalf("SetSndBuf below what is queued: events %v include EventWritable", ev)
	}
	h.c.SetSndBuf(1 << 20)
	if ev := h.c.TakeEvents(); ev&EventWritable == 0 {
		t.Fatalf("SetSndBuf with room: events %v lack EventWritable", ev)
	}
}
