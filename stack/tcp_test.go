package stack_test

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Packet-level TCP: the whole stack on the Pipe under the manual clock, the
// test playing the peer with crafted segments.

const (
	peerPort  = 40000
	peerISS   = seqnum.Value(1_000_000)
	peerWnd   = 65535
	stackPort = 80
)

// tcpFrame builds a segment from the peer to the stack.
func tcpFrame(seg tcp.Segment, payload []byte) []byte {
	return ipFrame(ipv4.Fields{Protocol: ipv4.ProtoTCP}, tcpSegment(seg, payload, peerIP, stackIP))
}

// tcpSegment encodes seg and payload from src to dst (ports peerPort and
// stackPort where zero), checksummed with the addresses' pseudo-header.
func tcpSegment(seg tcp.Segment, payload []byte, src, dst netip.Addr) []byte {
	if seg.SrcPort == 0 {
		seg.SrcPort = peerPort
	}
	if seg.DstPort == 0 {
		seg.DstPort = stackPort
	}
	b := make([]byte, tcp.HeaderMaxLen+len(payload))
	n := tcp.Encode(b, &seg)
	n += copy(b[n:], payload)
	tcp.Header(b[:n]).ComputeChecksum(src, dst)
	return b[:n]
}

// nextTCP returns the next segment the stack sent (payload copied).
func (e *env) nextTCP() tcp.Segment {
	e.t.Helper()
	h := e.nextIPv4()
	if h.Protocol() != ipv4.ProtoTCP {
		e.t.Fatalf("got IP protocol %d, want TCP", h.Protocol())
	}
	seg, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
	if err != nil {
		e.t.Fatalf("the stack sent a bad segment: %v", err)
	}
	seg.Payload = append([]byte(nil), seg.Payload...)
	return seg
}

func (e *env) expectTCP(flags tcp.Flags, seq, ack seqnum.Value) tcp.Segment {
	e.t.Helper()
	seg := e.nextTCP()
	if seg.Flags != flags || seg.Seq != seq || (flags&tcp.FlagACK != 0 && seg.Ack != ack) {
		e.t.Fatalf("got %v, want %v seq=%d ack=%d", &seg, flags, seq, ack)
	}
	return seg
}

// listening opens a listener on stackPort.
func listening(t testing.TB, e *env) *socket.FD {
	t.Helper()
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	t.Cleanup(func() { fd.Close() })
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), stackPort)); err != nil {
		t.Fatal(err)
	}
	if err := fd.Listen(8); err != nil {
		t.Fatal(err)
	}
	return fd
}

// established runs a passive handshake and returns the accepted socket
// and the stack's ISS.
func established(t *testing.T, e *env) (*socket.FD, seqnum.Value) {
	t.Helper()
	e.learnPeer()
	l := listening(t, e)
	e.listener = l
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	synack := e.nextTCP()
	if synack.Flags != tcp.FlagSYN|tcp.FlagACK || synack.Ack != peerISS+1 {
		t.Fatalf("want SYN-ACK for %d, got %v", peerISS+1, &synack)
	}
	iss := synack.Seq
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c, peer, err := l.Accept()
	if err != nil || peer != netip.AddrPortFrom(peerIP, peerPort) {
		t.Fatalf("Accept: %v from %v", err, peer)
	}
	t.Cleanup(func() { c.Close() })
	c.SetNonblock(true)
	if got := e.st.Stats().TCP.CurrEstab; got != 1 {
		t.Fatalf("CurrEstab = %d with one connection established", got)
	}
	return c, iss
}

func TestTCP_ClosedPort_RST(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	// RFC 9293 §3.10.7.1: a SYN (no ACK) gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>...
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagRST|tcp.FlagACK, 0, peerISS+1)
	// ...an ACK gets <SEQ=SEG.ACK><RST>...
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Ack: 777, Flags: tcp.FlagACK, Window: peerWnd}, []byte("data")))
	e.expectTCP(tcp.FlagRST, 777, 0)
	// ...and a RST gets nothing.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagRST}, nil))
	e.none()
	if got := e.st.Stats().TCP.OutRsts; got != 2 {
		t.Fatalf("OutRsts = %d, want 2", got)
	}
}

// TestTCP_Listener_StrayACKAndSYNACKGetRST_RSTIgnored: LISTEN (RFC 9293
// §3.10.7.2) answers an ACK, a SYN-ACK included, with a RST, the
// Listener's and counted in its ResetsSent; a RST is neither answered nor
// counted.
func TestTCP_Listener_StrayACKAndSYNACKGetRST_RSTIgnored(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	listening(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Ack: 5000, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagRST, 5000, 0)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Ack: 6000, Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagRST, 6000, 0)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagRST}, nil))
	e.none()
	if st := e.st.ListenerStatsTest(stackPort); st.ResetsSent != 2 {
		t.Fatalf("ResetsSent %d, want 2 (%+v)", st.ResetsSent, st)
	}
}

func TestTCP_PassiveOpen_SynAckCarriesMSSFromMTU(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	listening(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460, HasWScale: true, WScale: 7}}, nil))
	synack := e.nextTCP()
	if synack.Options.MSS != 1460 || !synack.Options.HasWScale {
		t.Fatalf("SYN-ACK options %+v, want MSS 1460 (MTU 1500 - 40) and a window scale", synack.Options)
	}
}

func TestTCP_SynAckRetransmitted_WithBackoff(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	listening(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	iss := e.nextTCP().Seq
	// RFC 6298 §2.1/§5.5: initial RTO 1s, doubled on each expiry.
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		e.clk.Advance(wait - time.Millisecond)
		e.none()
		e.clk.Advance(time.Millisecond)
		e.expectTCP(tcp.FlagSYN|tcp.FlagACK, iss, peerISS+1)
	}
}

func TestTCP_ActiveOpen_SynRetriesThenETIMEDOUT(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ARP.ReachableTime = time.Hour })
	e.learnPeer()
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer fd.Close()
	if err := fd.Connect(netip.AddrPortFrom(peerIP, 9)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	// An ECN-setup SYN (RFC 3168 §6.1.1: ECN is on by default), its
	// retries without ECE and CWR (§6.1.1.1, as Linux's fallback).
	syn := e.nextTCP()
	if syn.Flags != tcp.FlagSYN|tcp.FlagECE|tcp.FlagCWR || syn.Options.MSS != 1460 {
		t.Fatalf("first segment %v", &syn)
	}
	// Linux's tcp_syn_retries = 6: SYNs at 0, 1, 3, 7, 15, 31, 63 s, and
	// the connection fails at 127 s with ETIMEDOUT.
	at := time.Duration(0)
	for i, next := range []time.Duration{1, 3, 7, 15, 31, 63} {
		e.clk.Advance(next*time.Second - at)
		at = next * time.Second
		if s := e.nextTCP(); s.Flags != tcp.FlagSYN || s.Seq != syn.Seq {
			t.Fatalf("retry %d at %v: %v", i+1, at, &s)
		}
		e.none()
	}
	e.clk.Advance(127*time.Second - at - time.Millisecond)
	if e, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); e != 0 {
		t.Fatalf("failed early: %v", syscall.Errno(e))
	}
	e.clk.Advance(time.Millisecond)
	if got, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); syscall.Errno(got) != syscall.ETIMEDOUT {
		t.Fatalf("SO_ERROR after 127s = %v, want ETIMEDOUT", syscall.Errno(got))
	}
	e.none()
}

func TestTCP_ActiveOpen_RefusedByRST(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer fd.Close()
	fd.Connect(netip.AddrPortFrom(peerIP, 9))
	syn := e.nextTCP()
	e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: syn.SrcPort, Ack: syn.Seq + 1, Flags: tcp.FlagRST | tcp.FlagACK}, nil))
	if got, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); syscall.Errno(got) != syscall.ECONNREFUSED {
		t.Fatalf("SO_ERROR = %v, want ECONNREFUSED", syscall.Errno(got))
	}
}

func TestTCP_DelayedACK_40msOrEverySecondFullSegment(t *testing.T) {
	e := newEnv(t)
	c, iss := established(t, e)
	seq := peerISS + 1
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("small")))
	seq += 5
	e.clk.Advance(39 * time.Millisecond)
	e.none()
	e.clk.Advance(time.Millisecond)
	e.expectTCP(tcp.FlagACK, iss+1, seq)
	// Two full-sized segments: the second is ACKed at once (RFC 1122 §4.2.3.2).
	full := bytes.Repeat([]byte{'x'}, 1460)
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, full))
	e.none()
	e.inject(tcpFrame(tcp.Segment{Seq: seq + 1460, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, full))
	e.expectTCP(tcp.FlagACK, iss+1, seq+2920)
	buf := make([]byte, 4000)
	if n, _ := c.Recv(buf, 0); n != 5+2920 {
		t.Fatalf("read %d bytes, want %d", n, 5+2920)
	}
}

func TestTCP_OutOfOrder_DupACKThenCumulativeACK(t *testing.T) {
	e := newEnv(t)
	c, iss := established(t, e)
	seq := peerISS + 1
	e.inject(tcpFrame(tcp.Segment{Seq: seq + 3, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, []byte("def")))
	e.expectTCP(tcp.FlagACK, iss+1, seq) // immediate duplicate ACK (RFC 5681 §4.2)
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, []byte("abc")))
	e.expectTCP(tcp.FlagACK, iss+1, seq+6) // the hole filled: ACK at once, covering both
	buf := make([]byte, 10)
	if n, _ := c.Recv(buf, 0); string(buf[:n]) != "abcdef" {
		t.Fatalf("read %q, want abcdef", buf[:n])
	}
}

func TestTCP_DataRTO_DoublesUntilACKed(t *testing.T) {
	e := newEnv(t)
	c, iss := established(t, e)
	c.Send([]byte("hello"), 0)
	first := e.nextTCP()
	if string(first.Payload) != "hello" || first.Seq != iss+1 {
		t.Fatalf("first transmission %v", &first)
	}
	rto := e.st.TCPConnections()[0].RTO
	for i := 0; i < 3; i++ {
		e.clk.Advance(rto - time.Millisecond)
		e.none()
		e.clk.Advance(time.Millisecond)
		if s := e.nextTCP(); s.Seq != iss+1 || string(s.Payload) != "hello" {
			t.Fatalf("retransmission %d: %v", i+1, &s)
		}
		rto *= 2 // RFC 6298 §5.5
	}
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 6, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	e.clk.Advance(time.Minute)
	e.none()
}

func TestTCP_FastRetransmit_AfterThreeDupACKs(t *testing.T) {
	e := newEnv(t)
	c, iss := established(t, e)
	data := bytes.Repeat([]byte("0123456789"), 146*5) // 5 full segments of 1460
	c.Send(data, 0)
	var sent []tcp.Segment
	for {
		f, ok := e.peer.TryRead()
		if !ok {
			break
		}
		h, _ := ipv4.Parse(f[ethernet.HeaderLen:])
		s, _ := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
		sent = append(sent, s)
	}
	if len(sent) < 4 {
		t.Fatalf("only %d segments in the initial window", len(sent))
	}
	ack := func(a seqnum.Value) {
		e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: a, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	}
	// The first segment is lost: every later one draws a duplicate ACK.
	ack(iss + 1)
	ack(iss + 1)
	e.none()
	before := e.st.Stats().TCP
	ack(iss + 1) // the third duplicate: retransmit now (RFC 5681 §3.2)
	if s := e.nextTCP(); s.Seq != iss+1 || len(s.Payload) != 1460 {
		t.Fatalf("fast retransmission: %v", &s)
	}
	// /stats counts it: a retransmitted segment, a fast one, a recovery,
	// NewReno's (the peer offered no SACK).
	after := e.st.Stats().TCP
	if after.RetransSegs-before.RetransSegs != 1 || after.FastRetrans-before.FastRetrans != 1 ||
		after.Recoveries-before.Recoveries != 1 || after.RenoRecoveries-before.RenoRecoveries != 1 ||
		after.SACKRecoveries != before.SACKRecoveries {
		t.Fatalf("retrans_segs %d→%d fast_retrans %d→%d recoveries %d→%d reno %d→%d sack %d→%d",
			before.RetransSegs, after.RetransSegs, before.FastRetrans, after.FastRetrans, before.Recoveries, after.Recoveries,
			before.RenoRecoveries, after.RenoRecoveries, before.SACKRecoveries, after.SACKRecoveries)
	}
}

func TestTCP_ZeroWindow_ProbesWithBackoff(t *testing.T) {
	e := newEnv(t)
	c, iss := established(t, e)
	// The peer closes its window, then we have data to send.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: 0}, nil))
	c.Send([]byte("waiting"), 0)
	e.none() // nothing may be sent into a zero window...
	var gaps []time.Duration
	last := time.Duration(0)
	at := time.Duration(0)
	for len(gaps) < 4 {
		e.clk.Advance(10 * time.Millisecond)
		at += 10 * time.Millisecond
		if f, ok := e.peer.TryRead(); ok {
			h, _ := ipv4.Parse(f[ethernet.HeaderLen:])
			s, _ := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
			if s.Seq.LessThan(iss+1) || s.Seq.GreaterThan(iss+2) {
				t.Fatalf("probe %v not at the window edge", &s)
			}
			gaps = append(gaps, at-last)
			last = at
		}
	}
	// ...but probes go out, each gap (about) double the one before
	// (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17).
	for i := 1; i < len(gaps); i++ {
		if gaps[i] < gaps[i-1]*3/2 {
			t.Fatalf("probe gaps %v do not back off", gaps)
		}
	}
	// The window opens: the data goes.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	for {
		s := e.nextTCP()
		if len(s.Payload) > 1 || (len(s.Payload) > 0 && s.Seq == iss+1 && string(s.Payload) == "waiting") {
			break
		}
	}
}

func TestTCP_ActiveClose_TimeWaitReACKsFINThenExpires(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ARP.ReachableTime = time.Hour })
	c, iss := established(t, e)
	c.Close()
	e.expectTCP(tcp.FlagFIN|tcp.FlagACK, iss+1, peerISS+1)
	// The peer ACKs our FIN and sends its own: TIME-WAIT.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateTimeWait {
		t.Fatalf("connections %+v, want one in TIME-WAIT", cs)
	}
	// A retransmitted FIN is ACKed again and restarts the 2·MSL timer.
	e.clk.Advance(30 * time.Second)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
	e.clk.Advance(60*time.Second - time.Millisecond)
	if len(e.st.TCPConnections()) != 1 {
		t.Fatal("TIME-WAIT ended early: the retransmitted FIN must restart the timer")
	}
	e.clk.Advance(time.Millisecond)
	if cs := e.st.TCPConnections(); len(cs) != 0 {
		t.Fatalf("after 2·MSL: %+v", cs)
	}
}

func TestTCP_CloseWithUnreadData_SendsRST(t *testing.T) {
	e := newEnv(t)
	c, iss := established(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("unread")))
	e.drain()
	c.Close() // RFC 1122 §4.2.2.13: unread data → RST, not FIN
	if s := e.nextTCP(); s.Flags&tcp.FlagRST == 0 {
		t.Fatalf("close with unread data sent %v, want a RST", &s)
	}
}

func TestTCP_TimeWait_NewSYNAboveRcvNxtReopens(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ARP.ReachableTime = time.Hour })
	c, iss := established(t, e)
	c.Close()
	e.expectTCP(tcp.FlagFIN|tcp.FlagACK, iss+1, peerISS+1)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagACK, iss+2, peerISS+2)
	// An old duplicate SYN (below RCV.NXT) gets the TIME-WAIT ACK...
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	if s := e.nextTCP(); s.Flags != tcp.FlagACK {
		t.Fatalf("old SYN in TIME-WAIT drew %v, want an ACK", &s)
	}
	// ...a new one beyond it opens a new incarnation whose ISS lies beyond
	// the old connection's sequence space (RFC 1122 §4.2.2.13).
	newISS := peerISS + 100_000
	e.inject(tcpFrame(tcp.Segment{Seq: newISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	s := e.nextTCP()
	if s.Flags != tcp.FlagSYN|tcp.FlagACK || s.Ack != newISS+1 || !s.Seq.GreaterThan(iss+2+65535) {
		t.Fatalf("new SYN in TIME-WAIT drew %v, want a SYN-ACK with ISS beyond %d", &s, iss+2+65535)
	}
	if got := e.st.Stats().TCP.TimeWaitReused; got != 1 {
		t.Fatalf("TimeWaitReused = %d", got)
	}
}

func TestTCP_Stats_ChallengeACKsCountedStackWide(t *testing.T) {
	e := newEnv(t)
	_, iss := established(t, e)
	// An in-window RST that is not exactly RCV.NXT draws a challenge ACK
	// (RFC 5961 §3.2); a second one within 500 ms is rate-limited (§7).
	rst := tcpFrame(tcp.Segment{Seq: peerISS + 100, Flags: tcp.FlagRST, Window: peerWnd}, nil)
	e.inject(rst)
	e.expectTCP(tcp.FlagACK, iss+1, peerISS+1)
	e.inject(rst)
	e.none()
	s := e.st.Stats().TCP
	if s.ChallengeACKs != 1 || s.ACKsRateLimited != 1 || s.EstabResets != 0 {
		t.Fatalf("ChallengeACKs=%d ACKsRateLimited=%d EstabResets=%d, want 1, 1, 0", s.ChallengeACKs, s.ACKsRateLimited, s.EstabResets)
	}
}

func TestTCP_MaxConnections_SYNDroppedAndConnectRefused(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.MaxConnections = 1 })
	established(t, e) // the one connection allowed
	e.inject(tcpFrame(tcp.Segment{SrcPort: peerPort + 1, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	e.none() // dropped, not reset: the peer may retry later
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer fd.Close()
	if err := fd.Connect(netip.AddrPortFrom(peerIP, 9)); !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("Connect with the table full: %v, want ENOBUFS", err)
	}
	if got := e.st.Stats().TCP.ConnLimitDrops; got != 2 {
		t.Fatalf("ConnLimitDrops = %d, want 2", got)
	}
}
