package stack_test

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// TestTCPTable_CountsEveryStateKeepsTopMatches: three connections to the
// listener, one in TIME-WAIT (the stack closed first), one that received
// data nobody read, one idle. TCPTable counts all three by state whatever
// the query, keeps at most Limit rows, most active first, and filters by
// state and by port; a row carries the receive queue and the time to its
// next timer.
func TestTCPTable_CountsEveryStateKeepsTopMatches(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	e.learnPeer()
	l := listening(t, e)
	open := func(port uint16) (*socket.FD, seqnum.Value) {
		t.Helper()
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
		iss := e.nextTCP().Seq
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
		c, _, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, iss
	}
	// 41001: closed by the stack, then the peer's FIN: TIME-WAIT.
	c1, iss1 := open(41001)
	c1.Close()
	e.nextTCP() // our FIN
	e.inject(tcpFrame(tcp.Segment{SrcPort: 41001, Seq: peerISS + 1, Ack: iss1 + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd}, nil))
	e.drain()
	// 41002: 100 bytes in, unread.
	_, iss2 := open(41002)
	e.inject(tcpFrame(tcp.Segment{SrcPort: 41002, Seq: peerISS + 1, Ack: iss2 + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, pattern(100)))
	e.drain()
	// 41003: idle.
	open(41003)
	e.drain()

	port := func(c stack.TCPConnInfo) uint16 { return c.Remote.Port() }
	all := e.st.TCPTable(stack.TCPQuery{Limit: 10})
	if all.ByState[tcp.StateTimeWait] != 1 || all.ByState[tcp.StateEstablished] != 2 || all.Matched != 3 || len(all.Conns) != 3 {
		t.Fatalf("by state %v, matched %d, %d rows; want 1 TIME-WAIT, 2 ESTABLISHED, 3, 3", all.ByState, all.Matched, len(all.Conns))
	}
	// Most active first: data moved, then idle, then TIME-WAIT last.
	if p0, p1, p2 := port(all.Conns[0]), port(all.Conns[1]), port(all.Conns[2]); p0 != 41002 || p1 != 41003 || p2 != 41001 {
		t.Fatalf("rows for ports %d %d %d, want 41002 41003 41001", p0, p1, p2)
	}
	if q := all.Conns[0].RecvQueue; q != 100 {
		t.Errorf("41002's receive queue %d, want 100", q)
	}
	if tw := all.Conns[2]; tw.State != tcp.StateTimeWait || tw.Timer <= 0 || tw.Timer > tcp.DefaultTimeWait {
		t.Errorf("TIME-WAIT row: state %v timer %v, want TIME-WAIT and 0 < timer <= 2·MSL", tw.State, tw.Timer)
	}

	top := e.st.TCPTable(stack.TCPQuery{Limit: 1})
	if top.Matched != 3 || len(top.Conns) != 1 || port(top.Conns[0]) != 41002 || top.ByState[tcp.StateTimeWait] != 1 {
		t.Fatalf("Limit 1: matched %d, rows %v; want 3 matched and the row of 41002", top.Matched, top.Conns)
	}
	tw := e.st.TCPTable(stack.TCPQuery{State: tcp.StateTimeWait, Limit: 10})
	if tw.Matched != 1 || len(tw.Conns) != 1 || port(tw.Conns[0]) != 41001 || tw.ByState[tcp.StateEstablished] != 2 {
		t.Fatalf("State TIME-WAIT: matched %d, rows %v, by state %v; want the row of 41001, counts of all", tw.Matched, tw.Conns, tw.ByState)
	}
	byPort := e.st.TCPTable(stack.TCPQuery{Port: 41003, Limit: 10})
	if byPort.Matched != 1 || len(byPort.Conns) != 1 || port(byPort.Conns[0]) != 41003 {
		t.Fatalf("Port 41003: matched %d, rows %v", byPort.Matched, byPort.Conns)
	}
	if local := e.st.TCPTable(stack.TCPQuery{Port: stackPort}); local.Matched != 3 || len(local.Conns) != 0 {
		t.Fatalf("Port %d (local), Limit 0: matched %d, %d rows; want 3, 0", stackPort, local.Matched, len(local.Conns))
	}
}

// TestTCPListeners_AcceptQueueAndBacklog: a listener reports the
// connections waiting in its accept queue and its backlog as clamped.
func TestTCPListeners_AcceptQueueAndBacklog(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	e.learnPeer()
	listening(t, e) // backlog 8
	for port := uint16(42001); port <= 42002; port++ {
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
		iss := e.nextTCP().Seq
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	}
	ls := e.st.TCPListeners()
	if len(ls) != 1 {
		t.Fatalf("%d listeners, want 1: %+v", len(ls), ls)
	}
	if l := ls[0]; l.Local.Port() != stackPort || l.Pending != 2 || l.Backlog != 8 || l.SynReceived != 2 {
		t.Fatalf("listener %+v, want port %d, 2 pending, backlog 8, 2 SYNs", l, stackPort)
	}
}

// TestUDPEndpoints_QueuedBytes: a bound UDP socket reports the datagrams
// and bytes waiting to be read.
func TestUDPEndpoints_QueuedBytes(t *testing.T) {
	e := newEnv(t, noARPExpiry)
	pc, err := socket.ListenPacket(e.st, "udp4", ":5353")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	from := netip.AddrPortFrom(peerIP, 9999)
	e.inject(udpFrame(from, netip.AddrPortFrom(stackIP, 5353), pattern(30)))
	e.inject(udpFrame(from, netip.AddrPortFrom(stackIP, 5353), pattern(12)))
	us := e.st.UDPEndpoints()
	if len(us) != 1 || us[0].Local.Port() != 5353 || us[0].Datagrams != 2 || us[0].Bytes != 42 {
		t.Fatalf("UDP endpoints %+v, want one on 5353 with 2 datagrams, 42 bytes queued", us)
	}
}
