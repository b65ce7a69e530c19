package stack_test

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/tcp"
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
