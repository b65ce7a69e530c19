package tcp

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// listenerHarness drives a Listener and the Conns it makes, one remote port
// per client.
type listenerHarness struct {
	t   *testing.T
	l   *Listener
	out *addrRecorder
	now time.Time
}

// addrRecorder also records the address each segment was sent to.
type addrRecorder struct {
	recorder
	to []netip.AddrPort
}

func (r *addrRecorder) SendSegment(c *Conn, seg *Segment, p1, p2 []byte) {
	r.to = append(r.to, c.RemoteAddr())
	r.recorder.SendSegment(c, seg, p1, p2)
}

func newListenerHarness(t *testing.T, backlog int) *listenerHarness {
	out := &addrRecorder{}
	return &listenerHarness{t: t, l: NewListener(Config{}, addrA, backlog, out), out: out, now: t0}
}

func client(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(addrB.Addr(), port)
}

func (lh *listenerHarness) syn(port uint16) *Conn {
	s := Segment{SrcPort: port, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535}
	return lh.l.HandleSegment(&s, client(port), testISS, lh.now)
}

func (lh *listenerHarness) ack(c *Conn) {
	s := Segment{SrcPort: c.remote.Port(), DstPort: ourPort, Seq: peerISS + 1, Ack: testISS + 1, Flags: FlagACK, Window: 65535}
	c.HandleSegment(&s, lh.now)
}

func TestListener_StrayACK_SendsRST(t *testing.T) {
	lh := newListenerHarness(t, 8)
	s := Segment{SrcPort: 5555, DstPort: ourPort, Seq: 42, Ack: 777, Flags: FlagSYN | FlagACK}
	if lh.l.HandleSegment(&s, client(5555), testISS, lh.now) != nil {
		t.Fatal("a SYN-ACK opened a connection")
	}
	got := lh.out.take()
	if len(got) != 1 || segString(&got[0]) != "RST seq=777" || got[0].DstPort != 5555 || lh.out.to[0] != client(5555) {
		t.Fatalf("sent %v to %v", got, lh.out.to)
	}
	if lh.l.Stats().ResetsSent != 1 {
		t.Fatal("not counted")
	}
}

func TestListener_RST_Ignored(t *testing.T) {
	lh := newListenerHarness(t, 8)
	s := Segment{SrcPort: 5555, DstPort: ourPort, Seq: 42, Flags: FlagRST}
	if lh.l.HandleSegment(&s, client(5555), testISS, lh.now) != nil || len(lh.out.take()) != 0 {
		t.Fatal("RST not ignored")
	}
}

func TestListener_SegmentWithoutSYNOrACK_Dropped(t *testing.T) {
	lh := newListenerHarness(t, 8)
	s := Segment{SrcPort: 5555, DstPort: ourPort, Seq: 42, Flags: FlagFIN, Payload: []byte("x")}
	if lh.l.HandleSegment(&s, client(5555), testISS, lh.now) != nil || len(lh.out.take()) != 0 {
		t.Fatal("not dropped")
	}
}

func TestListener_SYNQueueFull_CookiesOff_SYNDroppedAndCounted(t *testing.T) {
	lh := newListenerHarness(t, 1) // Linux parity: backlog+1 = 2 places
	lh.l.SetSynCookies(false)      // net.ipv4.tcp_syncookies=0
	if lh.syn(1001) == nil || lh.syn(1002) == nil {
		t.Fatal("SYNs within the backlog refused")
	}
	lh.out.take()
	if lh.syn(1003) != nil {
		t.Fatal("SYN accepted beyond the SYN queue")
	}
	if len(lh.out.take()) != 0 {
		t.Fatal("something sent for a dropped SYN")
	}
	st := lh.l.Stats()
	if st.SynReceived != 3 || st.SynQueueDrops != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestListener_AcceptQueueFull_CompletingACKDroppedThenRetried(t *testing.T) {
	lh := newListenerHarness(t, 1)
	c1, c2 := lh.syn(1001), lh.syn(1002)
	lh.ack(c1)
	c3 := lh.syn(1003)
	lh.ack(c2)
	if lh.l.Pending() != 2 || c3 == nil {
		t.Fatal("setup")
	}
	lh.out.take()
	lh.ack(c3)
	if c3.State() != StateSynReceived || lh.l.Stats().AcceptQueueDrops != 1 {
		t.Fatalf("c3 %v, drops %d", c3.State(), lh.l.Stats().AcceptQueueDrops)
	}
	if lh.syn(1004) != nil {
		t.Fatal("SYN accepted while the accept queue is full")
	}
	// The SYN-ACK retransmission gives the peer's ACK another chance.
	lh.now = t0.Add(time.Second)
	c3.HandleTimer(lh.now)
	if got := lh.out.take(); len(got) != 1 || segString(&got[0]) != "SYN|ACK seq=1000 ack=5001" {
		t.Fatalf("sent %v", got)
	}
	if lh.l.Accept() != c1 {
		t.Fatal("Accept order")
	}
	lh.ack(c3)
	if c3.State() != StateEstablished || lh.l.Pending() != 2 {
		t.Fatalf("c3 %v pending %d", c3.State(), lh.l.Pending())
	}
}

func TestListener_Close_RSTsUnacceptedConns(t *testing.T) {
	lh := newListenerHarness(t, 8)
	c1, c2 := lh.syn(1001), lh.syn(1002)
	lh.ack(c2)
	lh.out.take()
	lh.out.to = nil
	all := lh.l.Close(lh.now)
	if len(all) != 2 || c1.State() != StateClosed || c2.State() != StateClosed {
		t.Fatalf("closed %d conns: %v %v", len(all), c1.State(), c2.State())
	}
	got := lh.out.take()
	if len(got) != 2 || segString(&got[0]) != "RST|ACK seq=1001 ack=5001" || segString(&got[1]) != "RST|ACK seq=1001 ack=5001" ||
		lh.out.to[0] != client(1001) || lh.out.to[1] != client(1002) {
		t.Fatalf("sent %v to %v", got, lh.out.to)
	}
	if lh.l.Stats().ResetsSent != 2 || lh.l.Pending() != 0 || lh.l.Accept() != nil {
		t.Fatal("listener state after Close")
	}
	if lh.syn(1003) != nil {
		t.Fatal("closed listener opened a connection")
	}
}

func TestListener_ResetWhileQueued_AcceptReturnsItWithError(t *testing.T) {
	lh := newListenerHarness(t, 8)
	c := lh.syn(1001)
	lh.ack(c)
	rst := Segment{SrcPort: 1001, DstPort: ourPort, Seq: peerISS + 1, Flags: FlagRST}
	c.HandleSegment(&rst, lh.now)
	if got := lh.l.Accept(); got != c || !errors.Is(got.Err(), syscall.ECONNRESET) {
		t.Fatal("reset connection not returned by Accept with its error")
	}
}

func TestListener_EventAcceptable(t *testing.T) {
	lh := newListenerHarness(t, 8)
	c := lh.syn(1001)
	if lh.l.TakeEvents() != 0 {
		t.Fatal("event before the handshake completed")
	}
	lh.ack(c)
	if lh.l.TakeEvents()&EventAcceptable == 0 || lh.l.TakeEvents() != 0 {
		t.Fatal("EventAcceptable")
	}
}

func TestListener_Backlog_ClampedLikeLinux(t *testing.T) {
	if l := NewListener(Config{}, addrA, -1, nil); l.queueCap() != 4097 {
		t.Fatal(l.queueCap())
	}
	if l := NewListener(Config{}, addrA, 1<<20, nil); l.queueCap() != 4097 {
		t.Fatal(l.queueCap())
	}
	if l := NewListener(Config{}, addrA, 0, nil); l.queueCap() != 1 {
		t.Fatal(l.queueCap())
	}
}

// synWithMSS is a SYN from client port with an MSS option (0: none).
func (lh *listenerHarness) synWithMSS(port uint16, mss uint16) *Conn {
	s := Segment{SrcPort: port, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535,
		Options: Options{MSS: mss, HasWScale: true, WScale: 7}}
	return lh.l.HandleSegment(&s, client(port), testISS, lh.now)
}

// fullSynQueue returns a Listener with backlog 1 whose SYN queue (2 places)
// is full.
func fullSynQueue(t *testing.T) *listenerHarness {
	lh := newListenerHarness(t, 1)
	if lh.syn(1001) == nil || lh.syn(1002) == nil {
		t.Fatal("SYNs within the backlog refused")
	}
	lh.out.take()
	lh.out.to = nil
	return lh
}

func TestListener_SYNQueueFull_SendsCookieAndKeepsNothing(t *testing.T) {
	lh := fullSynQueue(t)
	if lh.synWithMSS(2000, 1460) != nil {
		t.Fatal("a SYN beyond the SYN queue made a connection")
	}
	got := lh.out.take()
	if len(got) != 1 || got[0].Flags != FlagSYN|FlagACK || got[0].Ack != peerISS+1 || lh.out.to[0] != client(2000) {
		t.Fatalf("sent %v to %v, want one SYN-ACK", got, lh.out.to)
	}
	// RFC 4987 §3.6: only the MSS; no window scale without timestamps.
	if o := got[0].Options; o.MSS != DefaultMSS || o.HasWScale || o.SACKPermitted {
		t.Fatalf("cookie SYN-ACK options %+v", o)
	}
	if got[0].Window != 65535 {
		t.Fatalf("window %d", got[0].Window)
	}
	if len(lh.l.synQ) != 2 {
		t.Fatal("cookie SYN queued")
	}
	st := lh.l.Stats()
	if st.CookiesSent != 1 || st.SynQueueDrops != 0 || st.SynReceived != 3 {
		t.Fatalf("%+v", st)
	}
	// A second SYN from the same client gets the same cookie (same minute):
	// nothing was kept, nothing is retransmitted on our side.
	lh.synWithMSS(2000, 1460)
	if again := lh.out.take(); len(again) != 1 || again[0].Seq != got[0].Seq {
		t.Fatalf("second cookie %v, first %v", again, got)
	}
}

// cookieACK sends the ACK completing the cookie handshake of got (the
// cookie SYN-ACK) from client port, with payload p.
func (lh *listenerHarness) cookieACK(port uint16, synack Segment, p []byte) (*Conn, []Segment) {
	s := Segment{SrcPort: port, DstPort: ourPort, Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: FlagACK, Window: 1000, Payload: p}
	if len(p) > 0 {
		s.Flags |= FlagPSH
	}
	c := lh.l.HandleSegment(&s, client(port), testISS, lh.now)
	return c, lh.out.take()
}

func TestListener_CookieACK_CreatesEstablishedConnInAcceptQueue(t *testing.T) {
	lh := fullSynQueue(t)
	lh.synWithMSS(2000, 1400)
	synack := lh.out.take()[0]
	lh.now = lh.now.Add(30 * time.Second)
	c, sent := lh.cookieACK(2000, synack, []byte("hello"))
	if c == nil || c.State() != StateEstablished {
		t.Fatalf("conn %v", c)
	}
	// The data on the ACK is acknowledged (delayed) and readable.
	if len(sent) != 0 {
		t.Fatalf("sent %v", sent)
	}
	if lh.l.Pending() != 1 || lh.l.TakeEvents()&EventAcceptable == 0 || lh.l.Accept() != c {
		t.Fatal("not in the accept queue")
	}
	buf := make([]byte, 10)
	if n, _ := c.Read(buf, lh.now); string(buf[:n]) != "hello" {
		t.Fatalf("read %q", buf[:n])
	}
	// MSS 1400 rounds down to the cookie table's 1300; no window scaling;
	// the ISS is the cookie; the peer's window is taken unscaled.
	if c.mss != 1300 || c.sndWScale != 0 || c.rcvWScale != 0 || c.iss != synack.Seq || c.irs != peerISS || c.sndWnd != 1000 {
		t.Fatalf("mss %d ws %d/%d iss %d irs %d wnd %d", c.mss, c.sndWScale, c.rcvWScale, c.iss, c.irs, c.sndWnd)
	}
	if _, ok := c.NextDeadline(); !ok {
		t.Fatal("no delayed ACK armed for the data")
	}
	if c.rtoAt != (time.Time{}) {
		t.Fatal("an RTO is armed: the cookie SYN-ACK must never be retransmitted")
	}
	if st := lh.l.Stats(); st.CookiesValidated != 1 || st.CookiesFailed != 0 {
		t.Fatalf("%+v", st)
	}
	// It sends like any connection, segments cut at the cookie's MSS.
	c.Write(bytesN(2000), lh.now)
	if got := lh.out.take(); len(got) != 1 || len(got[0].Payload) != 1000 || got[0].Seq != synack.Seq+1 {
		var ss []string
		for i := range got {
			ss = append(ss, segString(&got[i]))
		}
		t.Fatalf("sent %v (the peer's window is 1000)", ss)
	}
}

func TestListener_CookieACK_ForgedGetsRSTAndCountsFailed(t *testing.T) {
	lh := fullSynQueue(t)
	lh.synWithMSS(2000, 1460)
	synack := lh.out.take()[0]
	synack.Seq += 12345 // the attacker guesses
	if c, sent := lh.cookieACK(2000, synack, nil); c != nil || len(sent) != 1 || segString(&sent[0]) != s("RST seq=%d", synack.Seq+1) {
		t.Fatalf("conn %v, sent %v", c, sent)
	}
	if st := lh.l.Stats(); st.CookiesFailed != 1 || st.CookiesValidated != 0 || lh.l.Pending() != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestListener_CookieACK_OtherClientOrISS_Fails(t *testing.T) {
	lh := fullSynQueue(t)
	lh.synWithMSS(2000, 1460)
	synack := lh.out.take()[0]
	if c, _ := lh.cookieACK(2001, synack, nil); c != nil {
		t.Fatal("cookie accepted from another port")
	}
	s := Segment{SrcPort: 2000, DstPort: ourPort, Seq: peerISS + 1 + 1<<10, Ack: synack.Seq + 1, Flags: FlagACK, Window: 1000}
	if lh.l.HandleSegment(&s, client(2000), testISS, lh.now) != nil {
		t.Fatal("cookie accepted with another peer ISS")
	}
	if st := lh.l.Stats(); st.CookiesFailed != 2 {
		t.Fatalf("%+v", st)
	}
}

func TestListener_CookieACK_NoRecentCookie_PlainRST(t *testing.T) {
	lh := newListenerHarness(t, 1)
	s := Segment{SrcPort: 2000, DstPort: ourPort, Seq: 42, Ack: 777, Flags: FlagACK}
	if c, ok := lh.l.CookieACK(&s, client(2000), lh.now); c != nil || ok {
		t.Fatal("checked without a cookie sent")
	}
	// Two minutes after the last cookie (Linux's TCP_SYNCOOKIE_VALID) the
	// check stops, and with it the counting: it is a stray ACK again.
	lh2 := fullSynQueue(t)
	lh2.synWithMSS(2000, 1460)
	synack := lh2.out.take()[0]
	lh2.now = lh2.now.Add(2*time.Minute + time.Second)
	if c, sent := lh2.cookieACK(2000, synack, nil); c != nil || len(sent) != 1 || sent[0].Flags != FlagRST {
		t.Fatalf("conn %v sent %v", c, sent)
	}
	if st := lh2.l.Stats(); st.CookiesFailed != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestListener_CookieACK_AcceptQueueFull_DroppedSilently(t *testing.T) {
	lh := fullSynQueue(t)
	lh.synWithMSS(2000, 1460)
	synack := lh.out.take()[0]
	// Fill the accept queue (2 places) from the SYN queue.
	for _, c := range append([]*Conn(nil), lh.l.synQ...) {
		lh.ack(c)
	}
	lh.out.take()
	if lh.l.Pending() != 2 {
		t.Fatal("setup")
	}
	if c, sent := lh.cookieACK(2000, synack, nil); c != nil || len(sent) != 0 {
		t.Fatalf("conn %v sent %v: Linux drops it without a RST", c, sent)
	}
	if st := lh.l.Stats(); st.CookiesValidated != 1 || st.AcceptQueueDrops != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestListener_CookieACK_SYNACKAndRST_NotChecked(t *testing.T) {
	lh := fullSynQueue(t)
	lh.synWithMSS(2000, 1460)
	synack := lh.out.take()[0]
	for _, f := range []Flags{FlagSYN | FlagACK, FlagRST | FlagACK} {
		s := Segment{SrcPort: 2000, DstPort: ourPort, Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: f}
		if c, ok := lh.l.CookieACK(&s, client(2000), lh.now); c != nil || ok {
			t.Fatalf("%v taken as a cookie ACK", f)
		}
	}
}
