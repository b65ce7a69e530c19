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

func TestListener_SYNQueueFull_SYNDroppedAndCounted(t *testing.T) {
	lh := newListenerHarness(t, 1) // Linux parity: backlog+1 = 2 places
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
