package tcp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// A wire connects two endpoints, A and B, through their Outputs. Segments
// are queued and delivered by run, one at a time in order, so no Conn is
// re-entered while it is sending. An endpoint is a Conn, a Listener (for
// segments no Conn takes), or nothing (answered as RFC 9293 §3.10.7.1 says).
type wire struct {
	t     *testing.T
	now   time.Time
	a, b  *node
	queue []flight
	log   []string
	// lose, when set, decides whether a segment is lost on the way.
	lose func(from *node, seg *Segment) bool
}

type node struct {
	w       *wire
	name    string
	addr    netip.AddrPort
	conn    *Conn
	lis     *Listener
	nextISS seqnum.Value // ISS for the next Conn the Listener makes
}

type flight struct {
	to  *node
	seg Segment
}

func newWire(t *testing.T) *wire {
	w := &wire{t: t, now: t0}
	w.a = &node{w: w, name: "A", addr: addrA}
	w.b = &node{w: w, name: "B", addr: addrB}
	return w
}

func (w *wire) peer(n *node) *node {
	if n == w.a {
		return w.b
	}
	return w.a
}

// SendSegment is the Output of every Conn and Listener on the wire.
func (n *node) SendSegment(_, _ netip.AddrPort, seg *Segment, p1, p2 []byte) {
	w := n.w
	s := *seg
	s.Payload = append(append([]byte(nil), p1...), p2...)
	line := fmt.Sprintf("%s>%s %s", n.name, w.peer(n).name, segString(&s))
	if w.lose != nil && w.lose(n, &s) {
		w.log = append(w.log, line+" (lost)")
		return
	}
	w.log = append(w.log, line)
	w.queue = append(w.queue, flight{to: w.peer(n), seg: s})
}

// figureConfig is the nodes' configuration: RFC 9293's figures predate
// ECN, so their SYNs carry no ECE or CWR.
var figureConfig = Config{ECN: ECNOff}

// connect makes n's Conn to its peer with iss.
func (n *node) connect(iss seqnum.Value) *Conn {
	n.conn = NewConn(strict(figureConfig), n.addr, n.w.peer(n).addr, iss, n)
	n.conn.Connect(n.w.now)
	return n.conn
}

// listen makes n a Listener whose Conns start at iss.
func (n *node) listen(iss seqnum.Value) {
	n.lis = NewListener(strict(figureConfig), n.addr, 8, n)
	n.nextISS = iss
}

// deliver hands seg to n as a stack would: the Conn if there is a live one,
// else the Listener, else a RST.
func (n *node) deliver(seg *Segment) {
	w := n.w
	switch {
	case n.conn != nil && n.conn.State() != StateClosed:
		n.conn.HandleSegment(seg, w.now)
		if err := tcbInvariants(n.conn); err != nil {
			w.t.Fatalf("%s: %v", n.name, err)
		}
	case n.lis != nil:
		if c := n.lis.HandleSegment(seg, w.peer(n).addr, issEnv(n.nextISS), w.now); c != nil {
			n.conn = c
		}
	default:
		if rst, ok := ResetFor(seg); ok {
			n.SendSegment(n.addr, w.peer(n).addr, &rst, nil, nil)
		}
	}
}

// run delivers queued segments until none is left.
func (w *wire) run() {
	for i := 0; len(w.queue) > 0; i++ {
		if i > 1000 {
			w.t.Fatal("wire: segment storm")
		}
		f := w.queue[0]
		w.queue = w.queue[1:]
		f.to.deliver(&f.seg)
	}
}

// inject delivers seg to n now, as if it had been on the wire all along.
func (w *wire) inject(to *node, seg Segment, label string) {
	w.log = append(w.log, fmt.Sprintf("%s>%s %s (%s)", w.peer(to).name, to.name, segString(&seg), label))
	to.deliver(&seg)
	w.run()
}

// fire runs every due timer of both Conns at the earliest deadline.
func (w *wire) fire() {
	w.t.Helper()
	var next time.Time
	for _, n := range []*node{w.a, w.b} {
		if n.conn != nil {
			if d, ok := n.conn.NextDeadline(); ok && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
	}
	if next.IsZero() {
		w.t.Fatal("wire: no timer armed")
	}
	w.now = next
	for _, n := range []*node{w.a, w.b} {
		if n.conn != nil {
			n.conn.HandleTimer(w.now)
		}
	}
	w.run()
}

// expectLog asserts the segments exchanged since the last call.
func (w *wire) expectLog(want ...string) {
	w.t.Helper()
	if strings.Join(w.log, "\n") != strings.Join(want, "\n") {
		w.t.Fatalf("exchange:\n\t%s\nwant:\n\t%s", strings.Join(w.log, "\n\t"), strings.Join(want, "\n\t"))
	}
	w.log = nil
}

func (w *wire) states(a, b State) {
	w.t.Helper()
	var sa, sb State
	if w.a.conn != nil {
		sa = w.a.conn.State()
	}
	if w.b.conn != nil {
		sb = w.b.conn.State()
	}
	if sa != a || sb != b {
		w.t.Fatalf("states A %v B %v, want %v %v", sa, sb, a, b)
	}
}

// establish runs Figure 6 with A's ISS 99 and B's ISS 299, so that A sends
// 100 and receives 300 afterwards, as the later figures assume.
func establish(t *testing.T) *wire {
	w := newWire(t)
	w.b.listen(299)
	w.a.connect(99)
	w.run()
	w.states(StateEstablished, StateEstablished)
	w.b.lis.Accept()
	w.log = nil
	return w
}

// Figure 6: Basic three-way handshake for connection synchronization.
//
//	    TCP Peer A                                           TCP Peer B
//	1.  CLOSED                                               LISTEN
//	2.  SYN-SENT    --> <SEQ=100><CTL=SYN>               --> SYN-RECEIVED
//	3.  ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK>  <-- SYN-RECEIVED
//	4.  ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK>       --> ESTABLISHED
//	5.  ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK><DATA> --> ESTABLISHED
func TestFigure6_ThreeWayHandshake(t *testing.T) {
	w := newWire(t)
	w.b.listen(300)
	w.a.connect(100) // active OPEN
	w.states(StateSynSent, 0)
	w.queue[0].to.deliver(&w.queue[0].seg) // step 2 reaches B's Listener
	w.queue = w.queue[1:]
	w.states(StateSynSent, StateSynReceived) // passive side
	w.run()
	w.states(StateEstablished, StateEstablished)
	w.a.conn.Write([]byte("data"), w.now)
	w.run()
	w.expectLog(
		"A>B SYN seq=100",
		"B>A SYN|ACK seq=300 ack=101",
		"A>B ACK seq=101 ack=301",
		"A>B PSH|ACK seq=101 ack=301 len=4",
	)
	if ev := w.a.conn.TakeEvents(); ev&EventEstablished == 0 {
		t.Fatal("A: no EventEstablished")
	}
	if w.b.lis.Accept() != w.b.conn || w.b.conn.Readable() != 4 {
		t.Fatal("B: connection not accepted with its data")
	}
}

// Figure 7: Simultaneous connection synchronization.
//
//	    TCP Peer A                                       TCP Peer B
//	1.  CLOSED                                           CLOSED
//	2.  SYN-SENT     --> <SEQ=100><CTL=SYN>              ...
//	3.  SYN-RECEIVED <-- <SEQ=300><CTL=SYN>              <-- SYN-SENT
//	4.               ... <SEQ=100><CTL=SYN>              --> SYN-RECEIVED
//	5.  SYN-RECEIVED --> <SEQ=100><ACK=301><CTL=SYN,ACK> ...
//	6.  ESTABLISHED  <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- SYN-RECEIVED
//	7.               ... <SEQ=100><ACK=301><CTL=SYN,ACK> --> ESTABLISHED
func TestFigure7_SimultaneousOpen(t *testing.T) {
	w := newWire(t)
	w.a.connect(100)
	w.b.connect(300)
	w.run()
	w.expectLog(
		"A>B SYN seq=100",
		"B>A SYN seq=300",
		"B>A SYN|ACK seq=300 ack=101",
		"A>B SYN|ACK seq=100 ack=301",
	)
	w.states(StateEstablished, StateEstablished)
	w.b.conn.Write([]byte("hi"), w.now)
	w.run()
	if w.a.conn.Readable() != 2 {
		t.Fatal("no data after simultaneous open")
	}
}

// Figure 8: Recovery from old duplicate SYN.
//
//	    TCP Peer A                                           TCP Peer B
//	1.  CLOSED                                               LISTEN
//	2.  SYN-SENT    --> <SEQ=100><CTL=SYN>               ...
//	3.  (duplicate) ... <SEQ=90><CTL=SYN>               --> SYN-RECEIVED
//	4.  SYN-SENT    <-- <SEQ=300><ACK=91><CTL=SYN,ACK>  <-- SYN-RECEIVED
//	5.  SYN-SENT    --> <SEQ=91><CTL=RST>               --> LISTEN
//	6.              ... <SEQ=100><CTL=SYN>               --> SYN-RECEIVED
//	7.  ESTABLISHED <-- <SEQ=400><ACK=101><CTL=SYN,ACK>  <-- SYN-RECEIVED
//	8.  ESTABLISHED --> <SEQ=101><ACK=401><CTL=ACK>      --> ESTABLISHED
func TestFigure8_RecoveryFromOldDuplicateSYN(t *testing.T) {
	w := newWire(t)
	w.b.listen(300)
	var delayed Segment
	w.lose = func(from *node, s *Segment) bool {
		if from == w.a && s.Flags == FlagSYN && s.Seq == 100 && delayed.Flags == 0 {
			delayed = *s // step 2: still on its way
			return true
		}
		return false
	}
	w.a.connect(100)
	old := Segment{SrcPort: addrA.Port(), DstPort: addrB.Port(), Seq: 90, Flags: FlagSYN, Window: 1000}
	w.inject(w.b, old, "old duplicate")
	w.states(StateSynSent, StateClosed)
	if w.b.lis.Stats().SynReceived != 1 || len(w.b.lis.synQ) != 0 {
		t.Fatal("B's listener did not return to LISTEN cleanly")
	}
	w.b.nextISS = 400
	w.inject(w.b, delayed, "delayed")
	w.expectLog(
		"A>B SYN seq=100 (lost)",
		"A>B SYN seq=90 (old duplicate)",
		"B>A SYN|ACK seq=300 ack=91",
		"A>B RST seq=91",
		"A>B SYN seq=100 (delayed)",
		"B>A SYN|ACK seq=400 ack=101",
		"A>B ACK seq=101 ack=401",
	)
	w.states(StateEstablished, StateEstablished)
}

// Figure 9: Half-open connection discovery.
//
//	    TCP Peer A                                           TCP Peer B
//	1.  (CRASH)                               (send 300,receive 100)
//	2.  CLOSED                                           ESTABLISHED
//	3.  SYN-SENT --> <SEQ=400><CTL=SYN>              --> (??)
//	4.  (!!)     <-- <SEQ=300><ACK=100><CTL=ACK>     <-- ESTABLISHED
//	5.  SYN-SENT --> <SEQ=100><CTL=RST>              --> (Abort!!)
//	6.  SYN-SENT                                         CLOSED
//	7.  SYN-SENT --> <SEQ=400><CTL=SYN>              -->
func TestFigure9_HalfOpenDiscovery(t *testing.T) {
	w := establish(t)
	bConn := w.b.conn
	w.a.conn = nil // A crashes and forgets the connection
	w.a.connect(400)
	w.run()
	w.expectLog(
		"A>B SYN seq=400",
		"B>A ACK seq=300 ack=100",
		"A>B RST seq=100",
	)
	if bConn.State() != StateClosed || !errors.Is(bConn.Err(), syscall.ECONNRESET) {
		t.Fatalf("B: %v %v", bConn.State(), bConn.Err())
	}
	w.b.nextISS = 700
	w.fire() // A's SYN retransmission now reaches B's Listener
	w.expectLog(
		"A>B SYN seq=400",
		"B>A SYN|ACK seq=700 ack=401",
		"A>B ACK seq=401 ack=701",
	)
	w.states(StateEstablished, StateEstablished)
}

// Figure 10: Active side causes half-open connection discovery.
//
//	    TCP Peer A                                              TCP Peer B
//	1.  (REBOOT)                              (send 300,receive 100)
//	2.  (??)    <-- <SEQ=300><ACK=100><DATA=10><CTL=ACK> <-- ESTABLISHED
//	3.          --> <SEQ=100><CTL=RST>                   --> (ABORT!!)
func TestFigure10_ActiveSideCausesHalfOpenDiscovery(t *testing.T) {
	w := establish(t)
	w.a.conn = nil // A reboots: no TCB at all
	w.b.conn.Write(bytesN(10), w.now)
	w.run()
	w.expectLog(
		"B>A PSH|ACK seq=300 ack=100 len=10",
		"A>B RST seq=100",
	)
	if w.b.conn.State() != StateClosed || !errors.Is(w.b.conn.Err(), syscall.ECONNRESET) {
		t.Fatalf("B: %v %v", w.b.conn.State(), w.b.conn.Err())
	}
}

// Figure 11: Old duplicate SYN initiates a reset on two passive sockets.
//
//	    TCP Peer A                                         TCP Peer B
//	1.  LISTEN                                             LISTEN
//	2.       ... <SEQ=Z><CTL=SYN>                      -->  SYN-RECEIVED
//	3.  (??) <-- <SEQ=X><ACK=Z+1><CTL=SYN,ACK>         <--  SYN-RECEIVED
//	4.       --> <SEQ=Z+1><CTL=RST>                    -->  (return to LISTEN!)
//	5.  LISTEN                                             LISTEN
func TestFigure11_OldDuplicateSYNResetsTwoPassiveSockets(t *testing.T) {
	w := newWire(t)
	w.a.listen(100)
	w.b.listen(300)                                                                                     // X = 300
	old := Segment{SrcPort: addrA.Port(), DstPort: addrB.Port(), Seq: 50, Flags: FlagSYN, Window: 1000} // Z = 50
	w.inject(w.b, old, "old duplicate")
	w.expectLog(
		"A>B SYN seq=50 (old duplicate)",
		"B>A SYN|ACK seq=300 ack=51",
		"A>B RST seq=51",
	)
	if w.a.conn != nil || w.b.conn.State() != StateClosed || w.b.conn.Err() != nil {
		t.Fatal("both sides must be back to LISTEN only")
	}
	if w.a.lis.Stats().ResetsSent != 1 || len(w.b.lis.synQ) != 0 || w.b.lis.Pending() != 0 {
		t.Fatal("listener bookkeeping")
	}
}

// Figure 12: Normal close sequence.
//
//	    TCP Peer A                                           TCP Peer B
//	1.  ESTABLISHED                                          ESTABLISHED
//	2.  (Close)
//	    FIN-WAIT-1  --> <SEQ=100><ACK=300><CTL=FIN,ACK>  --> CLOSE-WAIT
//	3.  FIN-WAIT-2  <-- <SEQ=300><ACK=101><CTL=ACK>      <-- CLOSE-WAIT
//	4.                                                       (Close)
//	    TIME-WAIT   <-- <SEQ=300><ACK=101><CTL=FIN,ACK>  <-- LAST-ACK
//	5.  TIME-WAIT   --> <SEQ=101><ACK=301><CTL=ACK>      --> CLOSED
//	6.  (2 MSL)
//	    CLOSED
func TestFigure12_NormalClose(t *testing.T) {
	w := establish(t)
	w.a.conn.Close(w.now)
	w.run()
	w.states(StateFinWait2, StateCloseWait)
	w.b.conn.Close(w.now)
	w.run()
	w.expectLog(
		"A>B FIN|ACK seq=100 ack=300",
		"B>A ACK seq=300 ack=101",
		"B>A FIN|ACK seq=300 ack=101",
		"A>B ACK seq=101 ack=301",
	)
	w.states(StateTimeWait, StateClosed)
	start := w.now
	w.fire()
	if w.a.conn.State() != StateClosed || w.now.Sub(start) != DefaultTimeWait {
		t.Fatalf("A: %v after %v", w.a.conn.State(), w.now.Sub(start))
	}
}

// Figure 13: Simultaneous close sequence.
//
//	    TCP Peer A                                           TCP Peer B
//	1.  ESTABLISHED                                          ESTABLISHED
//	2.  (Close)                                              (Close)
//	    FIN-WAIT-1  --> <SEQ=100><ACK=300><CTL=FIN,ACK>  ... FIN-WAIT-1
//	                <-- <SEQ=300><ACK=100><CTL=FIN,ACK>  <--
//	                ... <SEQ=100><ACK=300><CTL=FIN,ACK>  -->
//	3.  CLOSING     --> <SEQ=101><ACK=301><CTL=ACK>      ... CLOSING
//	                <-- <SEQ=301><ACK=101><CTL=ACK>      <--
//	                ... <SEQ=101><ACK=301><CTL=ACK>      -->
//	4.  TIME-WAIT                                            TIME-WAIT
//	    (2 MSL)                                              (2 MSL)
//	    CLOSED                                               CLOSED
func TestFigure13_SimultaneousClose(t *testing.T) {
	w := establish(t)
	w.a.conn.Close(w.now)
	w.b.conn.Close(w.now)
	w.states(StateFinWait1, StateFinWait1)
	w.run()
	w.expectLog(
		"A>B FIN|ACK seq=100 ack=300",
		"B>A FIN|ACK seq=300 ack=100",
		"B>A ACK seq=301 ack=101",
		"A>B ACK seq=101 ack=301",
	)
	w.states(StateTimeWait, StateTimeWait)
	w.fire()
	w.states(StateClosed, StateClosed)
}
