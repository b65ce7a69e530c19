package stack_test

import (
	"fmt"
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

// SYN cookies (RFC 4987 §3.6) at the packet level: a listener with backlog
// 1 has a SYN queue of 2 (Linux parity); the third SYN gets a cookie.

func TestSynCookie_FullSynQueue_CookieCompletesIntoAcceptedConn(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer l.Close()
	l.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), stackPort))
	if err := l.Listen(1); err != nil {
		t.Fatal(err)
	}
	syn := func(port uint16) {
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd,
			Options: tcp.Options{MSS: 1460, HasWScale: true, WScale: 7}}, nil))
	}
	syn(40001)
	syn(40002)
	e.drain()
	syn(40003)
	cookie := e.nextTCP()
	if cookie.Flags != tcp.FlagSYN|tcp.FlagACK || cookie.DstPort != 40003 || cookie.Ack != peerISS+1 {
		t.Fatalf("want a SYN-ACK to 40003, got %v", &cookie)
	}
	if o := cookie.Options; o.MSS != 1460 || o.HasWScale || o.SACKPermitted {
		t.Fatalf("cookie SYN-ACK options %+v: only the MSS without timestamps", o)
	}
	if n := len(e.st.TCPConnections()); n != 2 {
		t.Fatalf("%d connections: the cookie SYN left state behind", n)
	}
	// 10 s of virtual time: the queued connections retransmit their
	// SYN-ACKs, the cookie is never retransmitted.
	for i := 0; i < 100; i++ {
		e.clk.Advance(100 * time.Millisecond)
		for {
			f, ok := e.peer.TryRead()
			if !ok {
				break
			}
			h, _ := ipv4.Parse(f[ethernet.HeaderLen:])
			if s, _ := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true); s.DstPort == 40003 {
				t.Fatalf("at %v: %v sent to the cookie's client", time.Duration(i+1)*100*time.Millisecond, &s)
			}
		}
	}
	// The completing ACK, with data, creates the connection.
	e.inject(tcpFrame(tcp.Segment{SrcPort: 40003, Seq: peerISS + 1, Ack: cookie.Seq + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("hello")))
	c, peer, err := l.Accept()
	if err != nil || peer != netip.AddrPortFrom(peerIP, 40003) {
		t.Fatalf("Accept: %v from %v", err, peer)
	}
	defer c.Close()
	c.SetNonblock(true)
	buf := make([]byte, 16)
	if n, err := c.Recv(buf, 0); string(buf[:n]) != "hello" {
		t.Fatalf("Recv: %q %v", buf[:n], err)
	}
	if _, err := c.Send([]byte("world"), 0); err != nil {
		t.Fatal(err)
	}
	for {
		s := e.nextTCP()
		if s.DstPort != 40003 {
			continue // a queued connection's SYN-ACK
		}
		if string(s.Payload) != "world" || s.Seq != cookie.Seq+1 || s.Ack != peerISS+6 {
			t.Fatalf("sent %v, want world at ISS+1 acking hello", &s)
		}
		break
	}
	st := e.st.Stats().TCP
	if st.SynCookiesSent != 1 || st.SynCookiesRecv != 1 || st.SynCookiesFailed != 0 || st.ListenDrops != 0 {
		t.Fatalf("stats %+v", st)
	}
	// RFC 4022 tcpPassiveOpens: the two queued connections and the one
	// the cookie's ACK created, each counted once (Linux counts a cookie
	// connection when its ACK creates it, tcp_create_openreq_child).
	if st.PassiveOpens != 3 {
		t.Fatalf("PassiveOpens %d, want 3 (two queued SYNs, one cookie ACK)", st.PassiveOpens)
	}
}

func TestSynCookie_ForgedACK_GetsRSTAndCountsFailed(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer l.Close()
	l.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), stackPort))
	l.Listen(1)
	// Before any cookie was sent, a stray ACK is not even checked.
	e.inject(tcpFrame(tcp.Segment{SrcPort: 40009, Seq: peerISS + 1, Ack: 4242, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagRST, 4242, 0)
	for port := uint16(40001); port <= 40003; port++ {
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	}
	e.drain()
	// A blind attacker's ACK: RST, counted as failed, no connection.
	e.inject(tcpFrame(tcp.Segment{SrcPort: 40004, Seq: peerISS + 1, Ack: 0x12345678, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	e.expectTCP(tcp.FlagRST, 0x12345678, 0)
	if _, _, err := l.Accept(); err == nil {
		t.Fatal("a forged ACK made a connection")
	}
	st := e.st.Stats().TCP
	if st.SynCookiesSent != 1 || st.SynCookiesFailed != 1 || st.SynCookiesRecv != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// With SynCookiesAlways (Linux's tcp_syncookies=2) every SYN gets a
// cookie; a SYN with timestamps gets window scale and SACK-permitted back,
// carried in the SYN-ACK's TSval, and the connection uses all three.
func TestSynCookie_AlwaysWithTimestamps_WScaleAndSACKNegotiatedAndUsed(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.TCP = tcp.Config{SynCookies: tcp.SynCookiesAlways} })
	e.learnPeer()
	l := listening(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd,
		Options: tcp.Options{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamp: true, TSVal: 5000}}, nil))
	synack := e.nextTCP()
	if o := synack.Options; synack.Flags != tcp.FlagSYN|tcp.FlagACK || o.MSS != 1460 || !o.HasWScale || o.WScale != 5 ||
		!o.SACKPermitted || !o.HasTimestamp || o.TSEcr != 5000 {
		t.Fatalf("SYN-ACK %v %+v", &synack, o)
	}
	if n := len(e.st.TCPConnections()); n != 0 {
		t.Fatalf("%d connections: the cookie SYN left state behind", n)
	}
	e.clk.Advance(50 * time.Millisecond)
	// The completing ACK echoes TSval, carries data, and a window of 1000
	// scaled by 7.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 1000,
		Options: tcp.Options{HasTimestamp: true, TSVal: 5050, TSEcr: synack.Options.TSVal}}, []byte("hello")))
	c, _, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer c.Close()
	c.SetNonblock(true)
	buf := make([]byte, 16)
	if n, _ := c.Recv(buf, 0); string(buf[:n]) != "hello" {
		t.Fatalf("Recv %q", buf[:n])
	}
	// 3000 octets fit the peer's scaled window; segments carry timestamps
	// (MSS 1460 - 12) and echo the ACK's TSval.
	if _, err := c.Send(pattern(3000), 0); err != nil {
		t.Fatal(err)
	}
	var lens []int
	for sum := 0; sum < 3000; {
		s := e.nextTCP()
		if len(s.Payload) == 0 {
			continue
		}
		sum += len(s.Payload)
		if !s.Options.HasTimestamp || s.Options.TSEcr != 5050 || seqnum.Value(s.Options.TSVal).LessThan(seqnum.Value(synack.Options.TSVal)) {
			t.Fatalf("segment %v %+v", &s, s.Options)
		}
		lens = append(lens, len(s.Payload))
	}
	if fmt.Sprint(lens) != "[1448 1448 104]" {
		t.Fatalf("sent %v", lens)
	}
	// Out-of-order data: the ACK has a SACK block and a scaled window.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1006, Ack: synack.Seq + 3001, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 1000,
		Options: tcp.Options{HasTimestamp: true, TSVal: 5060, TSEcr: synack.Options.TSVal}}, pattern(100)))
	a := e.nextTCP()
	if a.Ack != peerISS+6 || a.Options.NumSACK != 1 || a.Options.SACK[0] != (tcp.SACKBlock{Start: peerISS + 1006, End: peerISS + 1106}) {
		t.Fatalf("ACK %v %+v", &a, a.Options)
	}
	if int(a.Window)<<3 <= 0xffff {
		t.Fatalf("window field %d: not scaled", a.Window)
	}
	if st := e.st.Stats().TCP; st.SynCookiesSent != 1 || st.SynCookiesRecv != 1 || st.SynCookiesFailed != 0 {
		t.Fatalf("stats %+v", st)
	}
}
