package stack_test

import (
	"testing"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/tcp"
)

// TestEndpoints_Waiters_PingedOnReadinessUntilRemoved: Poll's waiters
// (poll(2) on several sockets at once) are pinged, every one registered,
// when a socket may have become ready: a UDP or ping socket when a
// datagram or reply arrives, a TCP socket when data arrives (readable)
// and when an ACK frees send space (writable). A waiter removed is no
// longer pinged.
func TestEndpoints_Waiters_PingedOnReadinessUntilRemoved(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	w1, w2 := make(chan struct{}, 1), make(chan struct{}, 1)
	pinged := func(what string, want1, want2 bool) {
		t.Helper()
		if got1, got2 := readable(w1), readable(w2); got1 != want1 || got2 != want2 {
			t.Errorf("%s: waiters pinged %v, %v; want %v, %v", what, got1, got2, want1, want2)
		}
	}

	u := udpEndpoint(t, e)
	u.Bind(stackAP, false)
	u.AddWaiter(w1)
	u.AddWaiter(w2)
	e.inject(udpFrame(peerAP, stackAP, []byte("a")))
	pinged("UDP datagram", true, true)
	u.RemoveWaiter(w1)
	e.inject(udpFrame(peerAP, stackAP, []byte("b")))
	pinged("UDP datagram after one waiter left", false, true)
	u.RemoveWaiter(w2)

	p := pingEndpoint(t, e)
	p.AddWaiter(w1)
	p.AddWaiter(w2)
	reply := ipv4.ICMP(echoRequest(p.Ident(), 1, nil))
	reply.SetType(ipv4.TypeEchoReply)
	reply.SetChecksum()
	e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, reply))
	pinged("echo reply", true, true)
	p.RemoveWaiter(w2)
	e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, reply))
	pinged("echo reply after one waiter left", true, false)
	p.RemoveWaiter(w1)

	c, iss := accepted(t, e)
	defer c.Close()
	e.drain()
	c.AddWaiter(w1)
	c.AddWaiter(w2)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("abcd")))
	pinged("TCP data", true, true)
	e.drain()
	if n, err := c.Write(make([]byte, 100)); n != 100 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	e.drain()
	readable(w1)
	readable(w2)
	c.RemoveWaiter(w1)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 5, Ack: iss + 101, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	pinged("ACK of our data after one waiter left", false, true)
}
