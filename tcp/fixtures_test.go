package tcp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// strict returns cfg with an Observer that panics on a transition outside
// legalTransitions (RFC 9293 §3.3.2, Figure 5) and then tells cfg's own
// Observer, if any. Every Conn and Listener the tests make goes through it.
func strict(cfg Config) Config {
	cfg.Observer = strictObserver{cfg.Observer}
	return cfg
}

type strictObserver struct{ next Observer }

func (o strictObserver) StateChange(c *Conn, from, to State) {
	if !legalTransitions[from][to] {
		panic(fmt.Sprintf("tcp: illegal transition %v → %v", from, to))
	}
	if o.next != nil {
		o.next.StateChange(c, from, to)
	}
}

// t0 is the virtual time every test starts at.
var t0 = time.Unix(1_000_000, 0)

var (
	addrA = netip.MustParseAddrPort("10.0.0.1:40000")
	addrB = netip.MustParseAddrPort("10.0.0.2:80")
)

const (
	testISS  = seqnum.Value(1000) // our ISS
	peerISS  = seqnum.Value(5000) // the peer's ISS
	peerPort = 80
	ourPort  = 40000
)

// issEnv is the ListenEnv of a Listener under test: every connection
// starts at iss, and the stack's limits admit everything.
func issEnv(iss seqnum.Value) ListenEnv {
	return ListenEnv{ISS: func() seqnum.Value { return iss }}
}

// recorder is an Output that keeps a copy of every segment.
type recorder struct{ segs []Segment }

func (r *recorder) SendSegment(_, _ netip.AddrPort, seg *Segment, p1, p2 []byte) {
	s := *seg
	s.Payload = append(append([]byte(nil), p1...), p2...)
	r.segs = append(r.segs, s)
}

func (r *recorder) take() []Segment {
	s := r.segs
	r.segs = nil
	return s
}

// harness drives one Conn against a scripted peer at explicit virtual times.
type harness struct {
	t   *testing.T
	c   *Conn
	out *recorder
	now time.Time
	// peer's view: the next sequence number it sends, and what it acks.
	peerNxt seqnum.Value
	trans   []string // state transitions
	// k is the connection's own Counters when the test gave none: every
	// step checks that its totals are the connection's Info counts.
	k *Counters
}

// harnessCongestion is the congestion control of a harness's connection:
// Reno unless the test names another. The loss-recovery rules of RFC
// 5681, 6582 and 6675 are stated with Reno's windows, and their tests count
// segments by them; CUBIC's own tests ask for "cubic".
func harnessCongestion(name string) string {
	if name == "" {
		return "reno"
	}
	return name
}

// harnessECN is the ECN mode of a harness's connection: off unless the
// test names a mode, so that the scripts written before ECN keep their
// SYNs and SYN-ACKs; ECN's own tests (ecn_test.go) ask for ECNOn.
func harnessECN(m ECNMode) ECNMode {
	if m == ECNDefault {
		return ECNOff
	}
	return m
}

// newHarness makes the harness's Conn with a send buffer fixed at
// cfg.SndBuf (SndBufLocked, as SO_SNDBUF), as it was before send-buffer
// autotuning: a test can queue a whole burst with one Write. Tests of the
// autotuning use newTunedHarness.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	cfg.SndBufLocked = true
	return newTunedHarness(t, cfg)
}

// newTunedHarness is newHarness with the send buffer as cfg says
// (autotuned unless cfg.SndBufLocked).
func newTunedHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, out: &recorder{}, now: t0, peerNxt: peerISS}
	cfg.Observer = h
	cfg.Congestion = harnessCongestion(cfg.Congestion)
	cfg.ECN = harnessECN(cfg.ECN)
	if cfg.Counters == nil {
		h.k = &Counters{}
		cfg.Counters = h.k
	}
	h.c = NewConn(strict(cfg), addrA, addrB, testISS, h.out)
	return h
}

// StateChange makes the harness the Conn's Observer: it records every
// transition.
func (h *harness) StateChange(c *Conn, from, to State) {
	if c != h.c {
		h.t.Errorf("Observer told of %p's transition %v→%v, want %p's", c, from, to, h.c)
	}
	h.trans = append(h.trans, fmt.Sprintf("%v→%v", from, to))
}

// seg is the segment template: from the peer, at its next sequence number,
// acknowledging everything we sent, a 65535 window, with flags.
func (h *harness) seg(flags Flags) Segment {
	return Segment{
		SrcPort: peerPort, DstPort: ourPort,
		Seq: h.peerNxt, Ack: h.c.sndNxt, Flags: flags, Window: 65535,
	}
}

// data is the template for a data segment carrying p (ACK|PSH).
func (h *harness) data(p []byte) Segment {
	s := h.seg(FlagACK | FlagPSH)
	s.Payload = p
	return s
}

// in delivers s at the current time and advances peerNxt past it when it
// is in order.
func (h *harness) in(s Segment) {
	h.t.Helper()
	if s.Seq == h.peerNxt {
		h.peerNxt = s.Seq.Add(s.Len())
	}
	h.c.HandleSegment(&s, h.now)
	h.checkInvariants()
}

func (h *harness) at(d time.Duration) { h.now = t0.Add(d) }

// fire runs the timers, asserting that the next deadline is exactly at
// (relative to t0).
func (h *harness) fire(at time.Duration) {
	h.t.Helper()
	d, ok := h.c.NextDeadline()
	if !ok {
		h.t.Fatalf("fire(%v): no deadline armed", at)
	}
	if got := d.Sub(t0); got != at {
		h.t.Fatalf("next deadline at %v, want %v", got, at)
	}
	h.now = d
	h.c.HandleTimer(h.now)
	h.checkInvariants()
}

func (h *harness) noDeadline() {
	h.t.Helper()
	if d, ok := h.c.NextDeadline(); ok {
		h.t.Fatalf("deadline armed at %v, want none", d.Sub(t0))
	}
}

func (h *harness) checkInvariants() {
	h.t.Helper()
	if err := tcbInvariants(h.c); err != nil {
		h.t.Fatal(err)
	}
	if h.k != nil {
		if err := countersMatchInfo(h.k, h.c.Info()); err != nil {
			h.t.Fatal(err)
		}
	}
}

// tcbInvariants checks what must hold after every call.
// rcvShrunk marks connections whose receive buffer a test shrank below
// what it held (SetRcvBuf keeps held data, as Linux does with SO_RCVBUF):
// for them holding more than Cap() is expected until the user reads.
var rcvShrunk = map[*Conn]bool{}

func tcbInvariants(c *Conn) error {
	if c.state == StateClosed || c.state == StateListen {
		return nil
	}
	if !c.sndUna.LessThanEq(c.sndCur) || !c.sndCur.LessThanEq(c.sndNxt) {
		return fmt.Errorf("SND.UNA %d ≤ send cursor %d ≤ SND.NXT %d violated", c.sndUna, c.sndCur, c.sndNxt)
	}
	if c.sndBuf.Len() > max(c.sndBuf.Cap(), c.cfg.SndBuf) {
		return fmt.Errorf("send buffer holds %d > cap %d", c.sndBuf.Len(), c.sndBuf.Cap())
	}
	if c.rcvBuf.Readable() > c.rcvBuf.Cap() && !rcvShrunk[c] {
		return fmt.Errorf("receive buffer holds %d > cap %d", c.rcvBuf.Readable(), c.rcvBuf.Cap())
	}
	if !c.rtoAt.IsZero() && !c.persistAt.IsZero() {
		return fmt.Errorf("RTO and persist timers both armed")
	}
	if !c.ptoAt.IsZero() && (c.rtoAt.IsZero() || c.rtoAt.Before(c.ptoAt)) {
		return fmt.Errorf("PTO armed at %v with the RTO at %v (RFC 8985 §7.2: never after it)", c.ptoAt, c.rtoAt)
	}
	if c.rackLostUnsent() && !c.inRecovery && c.sendingState() && c.sndUna.GreaterThanEq(c.recover) {
		return fmt.Errorf("segments deemed lost by RACK, not resent, outside recovery (%d lost)", c.txl.nLost)
	}
	if err := txLogInvariants(c); err != nil {
		return err
	}
	if err := sackInvariants(c); err != nil {
		return err
	}
	if c.cc.cwnd() < 0 || (c.state.synchronized() && c.state != StateSynReceived && c.cc.cwnd() < c.mss && c.cc.cwnd() != 0) {
		return fmt.Errorf("cwnd %d", c.cc.cwnd())
	}
	return nil
}

// segString is a compact form for comparing segments with the figures:
// "SYN|ACK seq=300 ack=101", "ACK|PSH seq=101 ack=301 len=5".
func segString(s *Segment) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v seq=%d", s.Flags, s.Seq)
	if s.Flags&FlagACK != 0 {
		fmt.Fprintf(&b, " ack=%d", s.Ack)
	}
	if len(s.Payload) > 0 {
		fmt.Fprintf(&b, " len=%d", len(s.Payload))
	}
	switch s.ECN {
	case ECNECT0:
		b.WriteString(" ect0")
	case ECNECT1:
		b.WriteString(" ect1")
	case ECNCE:
		b.WriteString(" ce")
	}
	return b.String()
}

// expect asserts that exactly the segments want (in segString form) were
// sent since the last check, and returns them.
func (h *harness) expect(want ...string) []Segment {
	h.t.Helper()
	got := h.out.take()
	var gs []string
	for i := range got {
		gs = append(gs, segString(&got[i]))
	}
	if strings.Join(gs, "\n") != strings.Join(want, "\n") {
		h.t.Fatalf("at %v sent:\n\t%s\nwant:\n\t%s", h.now.Sub(t0), strings.Join(gs, "\n\t"), strings.Join(want, "\n\t"))
	}
	return got
}

func (h *harness) expectState(s State) {
	h.t.Helper()
	if h.c.State() != s {
		h.t.Fatalf("state %v, want %v", h.c.State(), s)
	}
}

// s formats the expectation strings: s("ACK seq=%d ack=%d", a, b).
func s(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// --- fixtures: a Conn in each state, its peer at ISS 5000, ours at 1000 ---

// newSynSent: Connect sent our SYN at t0.
func newSynSent(t *testing.T, cfg Config) *harness {
	return connect(newHarness(t, cfg))
}

// connect makes h's Conn send its SYN.
func connect(h *harness) *harness {
	t := h.t
	if err := h.c.Connect(h.now); err != nil {
		t.Fatal(err)
	}
	h.out.take()
	return h
}

// synAck is the peer's SYN-ACK with an MSS of 1460 and window scale 7.
func (h *harness) synAck() Segment {
	s := h.seg(FlagSYN | FlagACK)
	s.Ack = testISS + 1
	s.Options = Options{MSS: 1460, HasWScale: true, WScale: 7}
	return s
}

// newEstablished: an active open completed at t0 (RTT not sampled), and
// everything is acknowledged.
func newEstablished(t *testing.T, cfg Config) *harness {
	return handshake(connect(newHarness(t, cfg)))
}

// handshake completes the handshake of h's Conn in SYN-SENT.
func handshake(h *harness) *harness {
	t := h.t
	h.in(h.synAck())
	// The peer's first ACK carries its scaled window (65535 << 7).
	h.in(h.seg(FlagACK))
	h.out.take()
	h.c.TakeEvents()
	h.trans = nil
	if h.c.State() != StateEstablished {
		t.Fatalf("fixture: state %v", h.c.State())
	}
	return h
}

// newPassive: a Listener got the peer's SYN at t0; the Conn is in
// SYN-RECEIVED, its SYN-ACK sent.
func newPassive(t *testing.T, cfg Config, backlog int) (*harness, *Listener) {
	h := &harness{t: t, out: &recorder{}, now: t0, peerNxt: peerISS}
	cfg.Congestion = harnessCongestion(cfg.Congestion)
	cfg.ECN = harnessECN(cfg.ECN)
	l := NewListener(strict(cfg), addrA, backlog, h.out)
	syn := Segment{SrcPort: peerPort, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535,
		Options: Options{MSS: 1460, HasWScale: true, WScale: 7}}
	h.c = l.HandleSegment(&syn, addrB, issEnv(testISS), h.now)
	if h.c == nil {
		t.Fatal("fixture: no conn from SYN")
	}
	h.peerNxt = peerISS + 1
	h.out.take()
	return h, l
}

// newFinWait1: established, then Shutdown sent our FIN at t0.
func newFinWait1(t *testing.T, cfg Config) *harness {
	h := newEstablished(t, cfg)
	h.c.Shutdown(h.now)
	h.expect(s("FIN|ACK seq=1001 ack=5001"))
	h.expectState(StateFinWait1)
	return h
}

func newFinWait2(t *testing.T, cfg Config) *harness {
	h := newFinWait1(t, cfg)
	h.in(h.seg(FlagACK))
	h.expectState(StateFinWait2)
	h.expect()
	return h
}

func newCloseWait(t *testing.T, cfg Config) *harness {
	h := newEstablished(t, cfg)
	h.in(h.seg(FlagFIN | FlagACK))
	h.expect(s("ACK seq=1001 ack=5002"))
	h.expectState(StateCloseWait)
	h.c.TakeEvents()
	return h
}

func newLastAck(t *testing.T, cfg Config) *harness {
	h := newCloseWait(t, cfg)
	h.c.Shutdown(h.now)
	h.expect(s("FIN|ACK seq=1001 ack=5002"))
	h.expectState(StateLastAck)
	return h
}

func newClosing(t *testing.T, cfg Config) *harness {
	h := newFinWait1(t, cfg)
	fin := h.seg(FlagFIN | FlagACK)
	fin.Ack = testISS + 1 // does not ack our FIN
	h.in(fin)
	h.expect(s("ACK seq=1002 ack=5002"))
	h.expectState(StateClosing)
	return h
}

func newTimeWait(t *testing.T, cfg Config) *harness {
	h := newFinWait2(t, cfg)
	h.in(h.seg(FlagFIN | FlagACK))
	h.expect(s("ACK seq=1002 ack=5002"))
	h.expectState(StateTimeWait)
	return h
}

// bytesN returns n bytes of a pattern.
func bytesN(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func seqnumSize(n int) seqnum.Value { return seqnum.Value(n) }

// sackInvariants checks the SACK state: the scoreboard (RFC 6675 §3) is
// at most sackBoardSize sorted, disjoint, non-adjacent, non-empty ranges
// within SND.UNA..SND.NXT whose sizes sum to sb.sacked; it is empty
// without SACK; the receiver's recency list is bounded.
func sackInvariants(c *Conn) error {
	b := &c.sb
	if b.n < 0 || b.n > sackBoardSize || c.sackRecentN < 0 || c.sackRecentN > len(c.sackRecent) {
		return fmt.Errorf("scoreboard %d ranges, recent %d", b.n, c.sackRecentN)
	}
	if !c.sackOn && b.n != 0 {
		return fmt.Errorf("scoreboard without SACK")
	}
	sum := 0
	prev := c.sndUna
	for i, g := range b.r[:b.n] {
		if !g.start.LessThan(g.end) || g.start.LessThan(prev) || (i > 0 && g.start == prev) || g.end.GreaterThan(c.sndNxt) {
			return fmt.Errorf("scoreboard range %d [%d, %d) bad: SND.UNA %d SND.NXT %d board %+v", i, g.start, g.end, c.sndUna, c.sndNxt, b.r[:b.n])
		}
		sum += int(g.start.Size(g.end))
		prev = g.end
	}
	if sum != b.sacked {
		return fmt.Errorf("scoreboard sums to %d, sacked %d", sum, b.sacked)
	}
	return nil
}

// setCounters replaces Config.Counters of a Conn already made, and the
// copy its ackState counts into.
func (c *Conn) setCounters(k *Counters) { c.cfg.Counters, c.counters = k, k }
