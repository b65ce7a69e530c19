package tcp

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
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

func (r *addrRecorder) SendSegment(local, remote netip.AddrPort, seg *Segment, p1, p2 []byte) {
	r.to = append(r.to, remote)
	r.recorder.SendSegment(local, remote, seg, p1, p2)
}

func newListenerHarness(t *testing.T, backlog int) *listenerHarness {
	out := &addrRecorder{}
	return &listenerHarness{t: t, l: NewListener(strict(Config{}), addrA, backlog, out), out: out, now: t0}
}

func client(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(addrB.Addr(), port)
}

func (lh *listenerHarness) syn(port uint16) *Conn {
	s := Segment{SrcPort: port, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535}
	return lh.l.HandleSegment(&s, client(port), issEnv(testISS), lh.now)
}

func (lh *listenerHarness) ack(c *Conn) {
	s := Segment{SrcPort: c.remote.Port(), DstPort: ourPort, Seq: peerISS + 1, Ack: testISS + 1, Flags: FlagACK, Window: 65535}
	c.HandleSegment(&s, lh.now)
}

func TestListener_StrayACK_SendsRST(t *testing.T) {
	lh := newListenerHarness(t, 8)
	s := Segment{SrcPort: 5555, DstPort: ourPort, Seq: 42, Ack: 777, Flags: FlagSYN | FlagACK}
	if lh.l.HandleSegment(&s, client(5555), issEnv(testISS), lh.now) != nil {
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

// TestListener_AdmitRefuses_SYNAndACKDroppedSilently_RSTNotAsked: the
// stack's admission (ListenEnv.Admit) is asked for a SYN or ACK without
// RST, before anything else; refused, the segment is dropped without a
// reply or a count. A RST and a segment without SYN or ACK never ask.
func TestListener_AdmitRefuses_SYNAndACKDroppedSilently_RSTNotAsked(t *testing.T) {
	lh := newListenerHarness(t, 8)
	asked, issAsked := 0, 0
	env := ListenEnv{
		ISS:   func() seqnum.Value { issAsked++; return testISS },
		Admit: func() bool { asked++; return false },
	}
	for _, f := range []Flags{FlagSYN, FlagACK, FlagSYN | FlagACK} {
		s := Segment{SrcPort: 5555, DstPort: ourPort, Seq: 42, Ack: 777, Flags: f}
		if lh.l.HandleSegment(&s, client(5555), env, lh.now) != nil || len(lh.out.take()) != 0 {
			t.Fatalf("%v: not dropped", f)
		}
	}
	for _, f := range []Flags{FlagRST, FlagRST | FlagACK, FlagFIN} {
		s := Segment{SrcPort: 5555, DstPort: ourPort, Seq: 42, Ack: 777, Flags: f}
		lh.l.HandleSegment(&s, client(5555), env, lh.now)
	}
	if asked != 3 || issAsked != 0 || lh.l.Stats() != (ListenerStats{}) {
		t.Fatalf("Admit asked %d times (want 3), ISS %d (want 0), stats %+v", asked, issAsked, lh.l.Stats())
	}
	env.Admit = func() bool { asked++; return true }
	s := Segment{SrcPort: 5555, DstPort: ourPort, Seq: 42, Flags: FlagSYN, Window: 65535}
	if c := lh.l.HandleSegment(&s, client(5555), env, lh.now); c == nil || c.iss != testISS || issAsked != 1 {
		t.Fatalf("admitted SYN: conn %v, ISS asked %d times", c, issAsked)
	}
}

func TestListener_RST_Ignored(t *testing.T) {
	lh := newListenerHarness(t, 8)
	s := Segment{SrcPort: 5555, DstPort: ourPort, Seq: 42, Flags: FlagRST}
	if lh.l.HandleSegment(&s, client(5555), issEnv(testISS), lh.now) != nil || len(lh.out.take()) != 0 {
		t.Fatal("RST not ignored")
	}
}

func TestListener_SegmentWithoutSYNOrACK_Dropped(t *testing.T) {
	lh := newListenerHarness(t, 8)
	s := Segment{SrcPort: 5555, DstPort: ourPort, Seq: 42, Flags: FlagFIN, Payload: []byte("x")}
	if lh.l.HandleSegment(&s, client(5555), issEnv(testISS), lh.now) != nil || len(lh.out.take()) != 0 {
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
	// One in the SYN queue, two (more) in the accept queue.
	c1, c2, c3 := lh.syn(1001), lh.syn(1002), lh.syn(1003)
	lh.ack(c2)
	lh.ack(c3)
	lh.out.take()
	lh.out.to = nil
	all := lh.l.Close(lh.now)
	if len(all) != 3 || c1.State() != StateClosed || c2.State() != StateClosed || c3.State() != StateClosed {
		t.Fatalf("closed %d conns: %v %v %v", len(all), c1.State(), c2.State(), c3.State())
	}
	got := lh.out.take()
	if len(got) != 3 || lh.out.to[0] != client(1001) || lh.out.to[1] != client(1002) || lh.out.to[2] != client(1003) {
		t.Fatalf("sent %v to %v", got, lh.out.to)
	}
	for i := range got {
		if s := segString(&got[i]); s != "RST|ACK seq=1001 ack=5001" {
			t.Fatalf("sent %s to %v", s, lh.out.to[i])
		}
	}
	if lh.l.Stats().ResetsSent != 3 || lh.l.Pending() != 0 || lh.l.Accept() != nil {
		t.Fatal("listener state after Close")
	}
	if lh.syn(1004) != nil {
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
	if l := NewListener(strict(Config{}), addrA, -1, nil); l.queueCap() != 4097 {
		t.Fatal(l.queueCap())
	}
	if l := NewListener(strict(Config{}), addrA, 1<<20, nil); l.queueCap() != 4097 {
		t.Fatal(l.queueCap())
	}
	if l := NewListener(strict(Config{}), addrA, 0, nil); l.queueCap() != 1 {
		t.Fatal(l.queueCap())
	}
}

// synWithMSS is a SYN from client port with an MSS option (0: none).
func (lh *listenerHarness) synWithMSS(port uint16, mss uint16) *Conn {
	s := Segment{SrcPort: port, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535,
		Options: Options{MSS: mss, HasWScale: true, WScale: 7}}
	return lh.l.HandleSegment(&s, client(port), issEnv(testISS), lh.now)
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
	c := lh.l.HandleSegment(&s, client(port), issEnv(testISS), lh.now)
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
	if lh.l.HandleSegment(&s, client(2000), issEnv(testISS), lh.now) != nil {
		t.Fatal("cookie accepted with another peer ISS")
	}
	if st := lh.l.Stats(); st.CookiesFailed != 2 {
		t.Fatalf("%+v", st)
	}
}

func TestListener_CookieACK_NoRecentCookie_PlainRST(t *testing.T) {
	lh := newListenerHarness(t, 1)
	s := Segment{SrcPort: 2000, DstPort: ourPort, Seq: 42, Ack: 777, Flags: FlagACK}
	if c, ok := lh.l.cookieACK(&s, client(2000), lh.now); c != nil || ok {
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
	// Exactly TCP_SYNCOOKIE_VALID after it, the ACK is still checked
	// (Linux's time_after: strictly later stops it); the cookie is too old
	// by then, so it fails and is counted.
	lh3 := fullSynQueue(t)
	lh3.synWithMSS(2000, 1460)
	synack = lh3.out.take()[0]
	lh3.now = lh3.now.Add(cookieValid)
	if c, sent := lh3.cookieACK(2000, synack, nil); c != nil || len(sent) != 1 || sent[0].Flags != FlagRST {
		t.Fatalf("conn %v sent %v", c, sent)
	}
	if st := lh3.l.Stats(); st.CookiesFailed != 1 {
		t.Fatalf("%+v: the ACK at exactly cookieValid was not checked", st)
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
		if c, ok := lh.l.cookieACK(&s, client(2000), lh.now); c != nil || ok {
			t.Fatalf("%v taken as a cookie ACK", f)
		}
	}
}

// --- Cookies with timestamps: window scale and SACK-permitted in TSval ---

// linuxSYNOpts are the options of a Linux client's SYN: MSS, SACK-permitted,
// timestamps, window scale 7.
var linuxSYNOpts = Options{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamp: true, TSVal: 5000}

func newListenerHarnessCfg(t *testing.T, cfg Config, backlog int) *listenerHarness {
	out := &addrRecorder{}
	return &listenerHarness{t: t, l: NewListener(strict(cfg), addrA, backlog, out), out: out, now: t0}
}

// cookieSYN sends a SYN with options o from client port to a Listener
// that answers it with a cookie, and returns the cookie SYN-ACK.
func (lh *listenerHarness) cookieSYN(port uint16, o Options) Segment {
	lh.t.Helper()
	s := Segment{SrcPort: port, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535, Options: o}
	if lh.l.HandleSegment(&s, client(port), issEnv(testISS), lh.now) != nil {
		lh.t.Fatal("the SYN made a connection")
	}
	got := lh.out.take()
	if len(got) != 1 || got[0].Flags != FlagSYN|FlagACK || got[0].Ack != peerISS+1 {
		lh.t.Fatalf("sent %v, want one SYN-ACK", got)
	}
	return got[0]
}

// cookieTSACK is the peer's ACK completing the cookie handshake of synack,
// echoing its TSval (RFC 7323 §3.2) with TSval tsVal, window 1000.
func (lh *listenerHarness) cookieTSACK(port uint16, synack Segment, tsVal uint32) (*Conn, []Segment) {
	s := Segment{SrcPort: port, DstPort: ourPort, Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: FlagACK, Window: 1000,
		Options: Options{HasTimestamp: true, TSVal: tsVal, TSEcr: synack.Options.TSVal}}
	c := lh.l.HandleSegment(&s, client(port), issEnv(testISS), lh.now)
	return c, lh.out.take()
}

func TestListener_CookieWithTimestamps_SYNACKOffersWScaleAndSACKAsNormal(t *testing.T) {
	// The cookie SYN-ACK carries the options a normal SYN-ACK would.
	lh := fullSynQueue(t)
	normal := NewListener(strict(Config{}), addrA, 8, &recorder{})
	syn := Segment{SrcPort: 2000, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535, Options: linuxSYNOpts}
	nc := normal.HandleSegment(&syn, client(2000), issEnv(testISS), lh.now)
	want := nc.out.(*recorder).take()[0]

	got := lh.cookieSYN(2000, linuxSYNOpts)
	o, wo := got.Options, want.Options
	o.TSVal, wo.TSVal = 0, 0
	if o != wo || got.Window != want.Window {
		t.Fatalf("cookie SYN-ACK %+v window %d\nnormal SYN-ACK %+v window %d", got.Options, got.Window, want.Options, want.Window)
	}
	if !o.HasWScale || o.WScale != windowScaleFor(DefaultRcvBuf) || !o.SACKPermitted || !o.HasTimestamp || o.TSEcr != 5000 {
		t.Fatalf("options %+v", o)
	}
	// The low 6 bits of TSval less the offset: shift 7, SACK-permitted.
	if bits := (got.Options.TSVal - tsOffsetFor(got.Seq)) & (1<<cookieTSBits - 1); bits != 7|cookieTSSACK {
		t.Fatalf("TSval carries %#x", bits)
	}
}

func TestListener_CookieACKWithTimestamps_NegotiatesWhatTheSYNOffered(t *testing.T) {
	for _, c := range []struct {
		name    string
		syn     Options
		ws      bool
		peerWS  uint8
		sack    bool
		wantMSS int
	}{
		{"Linux", linuxSYNOpts, true, 7, true, 1460 - tsOptionLen},
		{"shift 0, no SACK", Options{MSS: 1400, HasWScale: true, HasTimestamp: true, TSVal: 5000}, true, 0, false, 1300 - tsOptionLen},
		{"shift 14", Options{MSS: 1460, HasWScale: true, WScale: 14, HasTimestamp: true, TSVal: 5000}, true, 14, false, 1460 - tsOptionLen},
		{"no window scale (0xf)", Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 5000}, false, 0, true, 1460 - tsOptionLen},
		{"timestamps only", Options{HasTimestamp: true, TSVal: 5000}, false, 0, false, 536 - tsOptionLen},
	} {
		t.Run(c.name, func(t *testing.T) {
			lh := fullSynQueue(t)
			synack := lh.cookieSYN(2000, c.syn)
			if synack.Options.HasWScale != c.ws || synack.Options.SACKPermitted != c.sack {
				t.Fatalf("SYN-ACK %+v", synack.Options)
			}
			lh.now = lh.now.Add(time.Second)
			conn, sent := lh.cookieTSACK(2000, synack, 5001)
			if conn == nil || conn.State() != StateEstablished || len(sent) != 0 {
				t.Fatalf("conn %v, sent %v", conn, sent)
			}
			var rcvWS uint8
			if c.ws {
				rcvWS = windowScaleFor(DefaultRcvBuf)
			}
			if conn.sndWScale != c.peerWS || conn.rcvWScale != rcvWS || conn.sackOn != c.sack || !conn.tsOn ||
				conn.tsRecent != 5001 || conn.mss != c.wantMSS || conn.sndWnd != 1000<<c.peerWS {
				t.Fatalf("ws %d/%d sack %v ts %v recent %d mss %d wnd %d", conn.sndWScale, conn.rcvWScale, conn.sackOn, conn.tsOn, conn.tsRecent, conn.mss, conn.sndWnd)
			}
			if conn.hasRTT {
				t.Fatal("an RTT sample from the cookie's TSecr")
			}
		})
	}
}

func TestListener_CookieConnWithTimestamps_ScalesWindowsSendsSACKBlocksAndTimestamps(t *testing.T) {
	lh := fullSynQueue(t)
	synack := lh.cookieSYN(2000, linuxSYNOpts)
	lh.now = lh.now.Add(1500 * time.Millisecond)
	c, _ := lh.cookieTSACK(2000, synack, 5100)
	if c == nil {
		t.Fatal("no connection")
	}
	lh.now = lh.now.Add(10 * time.Millisecond)
	// Out-of-order data: the ACK carries a SACK block (RFC 2018 §4).
	d := Segment{SrcPort: 2000, DstPort: ourPort, Seq: peerISS + 1001, Ack: synack.Seq + 1, Flags: FlagACK | FlagPSH, Window: 1000,
		Payload: bytesN(500), Options: Options{HasTimestamp: true, TSVal: 5110, TSEcr: synack.Options.TSVal}}
	c.HandleSegment(&d, lh.now)
	got := lh.out.take()
	if len(got) != 1 || got[0].Ack != peerISS+1 {
		t.Fatalf("sent %v", got)
	}
	a := got[0]
	if a.Options.NumSACK != 1 || a.Options.SACK[0] != (SACKBlock{Start: peerISS + 1001, End: peerISS + 1501}) {
		t.Fatalf("SACK blocks %d %v", a.Options.NumSACK, a.Options.SACK)
	}
	// The window field is scaled by 3 (RFC 7323 §2.3): it says far more
	// than 65535.
	if w := int(a.Window) << 3; w < 200_000 {
		t.Fatalf("window field %d", a.Window)
	}
	// Timestamps: TSecr is TS.Recent (the out-of-order segment does not
	// update it, RFC 7323 §4.3); our TSval continues the SYN-ACK's clock,
	// 1510 ms later, less what the cookie rounded off.
	if !a.Options.HasTimestamp || a.Options.TSEcr != 5100 {
		t.Fatalf("timestamps %+v", a.Options)
	}
	if d := a.Options.TSVal - synack.Options.TSVal; d < 1510 || d >= 1510+1<<cookieTSBits {
		t.Fatalf("TSval %d ms after the SYN-ACK's, 1510 ms later", int32(d))
	}
	// Sending: segments of MSS 1460 less the timestamps option and the
	// SACK block they carry while the out-of-order data is held (12 + 12
	// octets), in the peer's scaled window (1000 << 7).
	c.Write(bytesN(3000), lh.now)
	var lens []int
	for _, s := range lh.out.take() {
		lens = append(lens, len(s.Payload))
		if !s.Options.HasTimestamp {
			t.Fatal("a segment without timestamps")
		}
	}
	if fmt.Sprint(lens) != "[1436 1436 128]" {
		t.Fatalf("sent %v", lens)
	}
}

func TestListener_CookieWithoutTimestamps_NoWScaleNoSACK(t *testing.T) {
	// RFC 4987 §3.6 with nowhere to keep them: MSS only, as Linux.
	lh := fullSynQueue(t)
	syn := linuxSYNOpts
	syn.HasTimestamp, syn.TSVal = false, 0
	synack := lh.cookieSYN(2000, syn)
	if o := synack.Options; o != (Options{MSS: DefaultMSS}) {
		t.Fatalf("SYN-ACK options %+v", o)
	}
	c, _ := lh.cookieACK(2000, synack, nil)
	if c == nil || c.sndWScale != 0 || c.rcvWScale != 0 || c.sackOn || c.tsOn || c.mss != 1460 {
		t.Fatalf("conn %v", c)
	}
	d := Segment{SrcPort: 2000, DstPort: ourPort, Seq: peerISS + 1001, Ack: synack.Seq + 1, Flags: FlagACK | FlagPSH, Window: 1000, Payload: bytesN(500)}
	c.HandleSegment(&d, lh.now)
	got := lh.out.take()
	if len(got) != 1 || got[0].Options.NumSACK != 0 || got[0].Options.HasTimestamp || got[0].Window != 0xffff {
		t.Fatalf("sent %v %+v", got, got[0].Options)
	}
}

func TestListener_CookieACK_TSecrNamingOptionWeDoNotOffer_RSTAndCountedFailed(t *testing.T) {
	k := &Counters{}
	lh := newListenerHarnessCfg(t, Config{DisableSACK: true, Counters: k}, 1)
	lh.syn(1001)
	lh.syn(1002)
	lh.out.take()
	synack := lh.cookieSYN(2000, linuxSYNOpts)
	if synack.Options.SACKPermitted {
		t.Fatal("SACK-permitted offered with SACK off")
	}
	// The echo with the SACK bit set was not made by us (Linux's
	// cookie_timestamp_decode): RST, counted as failed.
	forged := synack
	forged.Options.TSVal += cookieTSSACK
	c, sent := lh.cookieTSACK(2000, forged, 5001)
	if c != nil || len(sent) != 1 || segString(&sent[0]) != s("RST seq=%d", synack.Seq+1) {
		t.Fatalf("conn %v, sent %v", c, sent)
	}
	if st := lh.l.Stats(); st.CookiesFailed != 1 || st.CookiesValidated != 0 || k.SynCookiesFailed != 1 {
		t.Fatalf("%+v %+v", st, k)
	}
	// The true echo completes it.
	if c, _ := lh.cookieTSACK(2000, synack, 5001); c == nil || c.sackOn || c.sndWScale != 7 {
		t.Fatalf("conn %v", c)
	}
}

func TestListener_SynCookiesAlways_EverySYNGetsACookie(t *testing.T) {
	lh := newListenerHarnessCfg(t, Config{SynCookies: SynCookiesAlways}, 8)
	synack := lh.cookieSYN(2000, linuxSYNOpts)
	if len(lh.l.synQ) != 0 || lh.l.Stats().CookiesSent != 1 {
		t.Fatalf("SYN queue %d, %+v", len(lh.l.synQ), lh.l.Stats())
	}
	if c, _ := lh.cookieTSACK(2000, synack, 5001); c == nil || c.State() != StateEstablished || lh.l.Accept() != c {
		t.Fatal("the cookie did not complete")
	}
	// SetSynCookies(false) overrides it (tcp_syncookies=0).
	lh.l.SetSynCookies(false)
	if lh.syn(2001) == nil {
		t.Fatal("SYN not queued with cookies off")
	}
}

func TestListener_SynCookiesOff_FullSYNQueue_Dropped(t *testing.T) {
	lh := newListenerHarnessCfg(t, Config{SynCookies: SynCookiesOff}, 1)
	lh.syn(1001)
	lh.syn(1002)
	lh.out.take()
	if lh.syn(2000) != nil || len(lh.out.take()) != 0 {
		t.Fatal("not dropped")
	}
	if st := lh.l.Stats(); st.SynQueueDrops != 1 || st.CookiesSent != 0 {
		t.Fatalf("%+v", st)
	}
}

// The stack-wide Counters (Linux's TcpExt: SyncookiesSent, SyncookiesRecv,
// SyncookiesFailed, ListenOverflows, ListenDrops) add up what the
// listeners counted themselves.
func TestListener_CountersAddUpListenerStats(t *testing.T) {
	var k Counters
	lh := newListenerHarnessCfg(t, Config{SynCookies: SynCookiesAlways, Counters: &k}, 1)
	for _, port := range []uint16{2000, 2001, 2002} {
		synack := lh.cookieSYN(port, linuxSYNOpts)
		if port == 2000 {
			synack.Seq += 7 // a forged cookie
		}
		lh.cookieTSACK(port, synack, 5001)
	}
	// 2000's cookie failed; 2001 and 2002 fill the accept queue (backlog
	// 1: room for 2). A further SYN overflows it.
	if lh.syn(2003) != nil || len(lh.out.take()) != 0 {
		t.Fatal("a SYN answered with the accept queue full")
	}
	off := newListenerHarnessCfg(t, Config{SynCookies: SynCookiesOff, Counters: &k}, 0)
	off.syn(3000)
	off.syn(3001) // the SYN queue (backlog + 1) is full
	st, so := lh.l.Stats(), off.l.Stats()
	t.Logf("listener %+v, cookies off %+v, counters %+v", st, so, k)
	if st.CookiesSent != 3 || st.CookiesValidated != 2 || st.CookiesFailed != 1 || st.AcceptQueueDrops == 0 || so.SynQueueDrops != 1 {
		t.Fatalf("set-up: listener %+v, cookies off %+v", st, so)
	}
	if k.SynCookiesSent != st.CookiesSent || k.SynCookiesRecv != st.CookiesValidated || k.SynCookiesFailed != st.CookiesFailed ||
		k.ListenOverflows != st.AcceptQueueDrops || k.ListenDrops != st.AcceptQueueDrops+so.SynQueueDrops {
		t.Fatalf("counters %+v do not add up listener %+v and %+v", k, st, so)
	}
}
