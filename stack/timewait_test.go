package stack_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// TIME-WAIT in the stack: the compact entry (tcp.TimeWait) that replaces
// a Conn without a socket, and RFC 6191 reuse.

func noARPExpiry(c *stack.Config, _ *nic.PipeConfig) { c.ARP.ReachableTime = time.Hour }

// activeCloseToTimeWait closes c (established with ISS iss) and plays the
// peer's ACK and FIN, with timestamp option o on each (if any): the stack
// ends in TIME-WAIT, its last ACK read.
func activeCloseToTimeWait(t *testing.T, e *env, c *socket.FD, iss seqnum.Value, o tcp.Options) {
	t.Helper()
	c.Close()
	e.expectTCP(tcp.FlagFIN|tcp.FlagACK, iss+1, peerISS+1)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd, Options: o}, nil))
	e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
}

func timeWaitGauge(e *env) uint64 { return e.st.Stats().TCP.TimeWait }

func TestTCP_TimeWait_ClosedSocketBecomesCompactEntry(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, iss := established(t, e)
	activeCloseToTimeWait(t, e, c, iss, tcp.Options{})
	if n := e.st.CompactTimeWaits(); n != 1 {
		t.Fatalf("compact entries %d, want 1", n)
	}
	st := e.st.Stats().TCP
	if st.TimeWait != 1 || st.CurrEstab != 0 {
		t.Fatalf("TimeWait %d CurrEstab %d, want 1, 0", st.TimeWait, st.CurrEstab)
	}
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateTimeWait {
		t.Fatalf("connections %+v", cs)
	}
	// The compact entry answers as the Conn did: a bare old ACK draws the
	// TIME-WAIT ACK (rate-limited), and it ends exactly after 2·MSL.
	e.clk.Advance(time.Second)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Ack: iss + 2, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
	e.clk.Advance(59*time.Second - time.Millisecond)
	if timeWaitGauge(e) != 1 {
		t.Fatal("TIME-WAIT ended early")
	}
	e.clk.Advance(time.Millisecond)
	if n, g := len(e.st.TCPConnections()), timeWaitGauge(e); n != 0 || g != 0 {
		t.Fatalf("after 2·MSL: %d connections, gauge %d", n, g)
	}
	e.none()
}

func TestTCP_TimeWait_OpenSocketKeepsConnUntilClose(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, iss := established(t, e)
	if err := c.Shutdown(syscall.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	e.expectTCP(tcp.FlagFIN|tcp.FlagACK, iss+1, peerISS+1)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
	// Like Linux, the socket keeps its full connection: reads still work.
	if n := e.st.CompactTimeWaits(); n != 0 || timeWaitGauge(e) != 1 {
		t.Fatalf("compact %d gauge %d, want 0, 1", n, timeWaitGauge(e))
	}
	if n, err := c.Recv(make([]byte, 10), 0); n != 0 || err != nil {
		t.Fatalf("Recv in TIME-WAIT: %d, %v, want end of stream", n, err)
	}
	c.Close()
	if n := e.st.CompactTimeWaits(); n != 1 || timeWaitGauge(e) != 1 {
		t.Fatalf("after close: compact %d gauge %d, want 1, 1", n, timeWaitGauge(e))
	}
	// A retransmitted FIN is still ACKed, by the compact entry now.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
	e.none()
}

func TestTCP_TimeWait_RSTEndsCompactEntry(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, iss := established(t, e)
	activeCloseToTimeWait(t, e, c, iss, tcp.Options{})
	// Deviation (Linux compat, tcp_rfc1337=0): a RST at RCV.NXT ends it.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 2, Flags: tcp.FlagRST}, nil))
	e.none()
	if n := len(e.st.TCPConnections()); n != 0 {
		t.Fatalf("%d connections after the RST", n)
	}
	// The 4-tuple is free: an ACK now draws a RST.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 2, Ack: iss + 2, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagRST, iss+2, 0)
}

func TestTCP_TimeWait_ICMPErrorForCompactEntryIgnored(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, iss := established(t, e)
	c.Close()
	fin := e.nextTCPDatagram()
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
	e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, fin))
	e.none()
	st := e.st.Stats()
	if st.TCP.ICMPErrors != 0 || st.TCP.OutOfWindowICMPs != 0 || st.TCP.TimeWait != 1 {
		t.Fatalf("ICMPErrors %d OutOfWindowICMPs %d TimeWait %d, want 0, 0, 1", st.TCP.ICMPErrors, st.TCP.OutOfWindowICMPs, st.TCP.TimeWait)
	}
}

func TestTCP_TimeWait_CountsTowardsMaxConnections(t *testing.T) {
	e := newEnv(t, noARPExpiry, func(c *stack.Config, _ *nic.PipeConfig) { c.MaxConnections = 1 })
	c, iss := established(t, e)
	activeCloseToTimeWait(t, e, c, iss, tcp.Options{})
	e.inject(tcpFrame(tcp.Segment{SrcPort: peerPort + 1, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	e.none()
	if got := e.st.Stats().TCP.ConnLimitDrops; got != 1 {
		t.Fatalf("ConnLimitDrops = %d, want 1", got)
	}
	e.clk.Advance(60 * time.Second) // the TIME-WAIT entry goes: room again
	e.inject(tcpFrame(tcp.Segment{SrcPort: peerPort + 1, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	if s := e.nextTCP(); s.Flags != tcp.FlagSYN|tcp.FlagACK {
		t.Fatalf("got %v, want a SYN-ACK", &s)
	}
}

// --- RFC 6191 §2: TIME-WAIT reuse by timestamp ---

func tsOpt(v uint32) tcp.Options { return tcp.Options{HasTimestamp: true, TSVal: v} }

// establishedTS is established with timestamps on: the peer's SYN carries
// TSval 1000, its ACK 1001.
func establishedTS(t *testing.T, e *env) (*socket.FD, seqnum.Value) {
	t.Helper()
	e.learnPeer()
	l := listening(t, e)
	e.listener = l
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd,
		Options: tcp.Options{MSS: 1460, HasTimestamp: true, TSVal: 1000}}, nil))
	synack := e.nextTCP()
	if synack.Flags != tcp.FlagSYN|tcp.FlagACK || !synack.Options.HasTimestamp || synack.Options.TSEcr != 1000 {
		t.Fatalf("want a SYN-ACK echoing TSval 1000, got %v %+v", &synack, synack.Options)
	}
	iss := synack.Seq
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd, Options: tsOpt(1001)}, nil))
	c, _, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, iss
}

// newIncarnation asserts the next segment is the SYN-ACK of a new
// incarnation for a SYN at seq, with an ISS beyond the old one's space.
func newIncarnation(t *testing.T, e *env, oldISS, seq seqnum.Value) {
	t.Helper()
	s := e.nextTCP()
	if s.Flags != tcp.FlagSYN|tcp.FlagACK || s.Ack != seq+1 || !s.Seq.GreaterThanEq(oldISS+2+65537) {
		t.Fatalf("new SYN in TIME-WAIT drew %v, want a SYN-ACK for %d with ISS ≥ %d", &s, seq+1, oldISS+2+65537)
	}
	if got := e.st.Stats().TCP.TimeWaitReused; got != 1 {
		t.Fatalf("TimeWaitReused = %d, want 1", got)
	}
}

func TestTCP_TimeWait_NewerTSvalBelowRcvNxtReopens(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, iss := establishedTS(t, e)
	activeCloseToTimeWait(t, e, c, iss, tsOpt(1002))
	// RFC 6191 §2: the sequence number is old, the timestamp newer than
	// TS.Recent (1002): a new incarnation.
	e.clk.Advance(time.Second)
	seq := peerISS - 50_000
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460, HasTimestamp: true, TSVal: 2000}}, nil))
	newIncarnation(t, e, iss, seq)
	if g := timeWaitGauge(e); g != 0 {
		t.Fatalf("TimeWait gauge %d after reuse", g)
	}
}

func TestTCP_TimeWait_OpenSocket_NewerTSvalReopens(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, iss := establishedTS(t, e)
	if err := c.Shutdown(syscall.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	e.expectTCP(tcp.FlagFIN|tcp.FlagACK, iss+1, peerISS+1)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd, Options: tsOpt(1002)}, nil))
	e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
	if e.st.CompactTimeWaits() != 0 {
		t.Fatal("compacted with its socket open")
	}
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460, HasTimestamp: true, TSVal: 1003}}, nil))
	newIncarnation(t, e, iss, peerISS)
}

func TestTCP_TimeWait_OlderTSvalNoReopenACK(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, iss := establishedTS(t, e)
	activeCloseToTimeWait(t, e, c, iss, tsOpt(1002))
	// Beyond RCV.NXT, but PAWS (RFC 7323 §5.3 R1) says old duplicate: the
	// TIME-WAIT ACK, no new incarnation.
	e.clk.Advance(time.Second)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 100_000, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460, HasTimestamp: true, TSVal: 900}}, nil))
	s := e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
	if !s.Options.HasTimestamp || s.Options.TSEcr != 1002 {
		t.Fatalf("ACK options %+v, want TSecr 1002", s.Options)
	}
	st := e.st.Stats().TCP
	if st.TimeWaitReused != 0 || st.PAWSDrops != 1 || st.TimeWait != 1 {
		t.Fatalf("TimeWaitReused %d PAWSDrops %d TimeWait %d, want 0, 1, 1", st.TimeWaitReused, st.PAWSDrops, st.TimeWait)
	}
}

func TestTCP_TimeWait_NoTimestamps_SequenceRule(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	c, iss := established(t, e)
	activeCloseToTimeWait(t, e, c, iss, tcp.Options{})
	// Without timestamps on the old connection a TSval proves nothing
	// (Deviation (Linux compat) from RFC 6191 §2): at RCV.NXT the SYN
	// draws the challenge ACK...
	e.clk.Advance(time.Second)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 2, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460, HasTimestamp: true, TSVal: 5000}}, nil))
	e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
	// ...beyond it, it opens a new incarnation.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 3, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	newIncarnation(t, e, iss, peerISS+3)
}
