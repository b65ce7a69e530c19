package stack_test

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// RFC 1191 §5: the path MTU one connection learned applies to the next
// connection to the same destination from its first segment, until the
// entry expires after 10 minutes (§6.3, Linux's ip_rt_mtu_expires).
func TestTCPICMP_FragNeeded_PathMTUCachedForNewConnections(t *testing.T) {
	e := newEnv(t)
	c, _ := established(t, e)
	c.Send(pattern(3000), 0)
	first := e.nextTCPDatagram()
	e.drain()
	e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodeFragNeeded, 1000, first))
	e.drain()

	// accepted opens a second connection from the peer (port p) and returns
	// the size of the first segment the stack sends on it.
	accepted := func(port uint16, isn uint32) int {
		t.Helper()
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: seqnum.Value(isn), Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
		synack := e.nextTCP()
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: seqnum.Value(isn + 1), Ack: synack.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
		fd, _, err := e.listener.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer fd.Close()
		fd.Send(pattern(3000), 0)
		s := e.nextTCP()
		e.drain()
		return len(s.Payload)
	}
	if n := accepted(peerPort+1, 7000); n != 960 {
		t.Fatalf("a new connection to the same peer sent %d bytes, want 960 (path MTU 1000)", n)
	}
	c.Close() // its retransmissions would mix with the next handshake
	e.clk.Advance(10 * time.Minute)
	e.drain()
	e.learnPeer()
	if n := accepted(peerPort+2, 9000); n != 1460 {
		t.Fatalf("after the entry expired a new connection sent %d bytes, want 1460", n)
	}
}
