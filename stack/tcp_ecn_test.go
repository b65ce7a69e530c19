package stack_test

import (
	"testing"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// ECN (RFC 3168) through the stack: the codepoint travels between the IP
// header and TCP both ways (§5), and stack.Config turns ECN off.

// nextTCPECN returns the next segment the stack sent and its IP ECN field.
func (e *env) nextTCPECN() (tcp.Segment, uint8) {
	e.t.Helper()
	d := e.nextTCPDatagram()
	seg, err := tcp.Decode(d.Payload(), d.Src(), d.Dst(), true)
	if err != nil {
		e.t.Fatalf("the stack sent a bad segment: %v", err)
	}
	return seg, d.TOS() & 3
}

// tcpFrameTOS is tcpFrame with the IP header's TOS octet set.
func tcpFrameTOS(seg tcp.Segment, payload []byte, tos uint8) []byte {
	f := tcpFrame(seg, payload)
	ip := ipv4.Header(f[14:])
	ip.SetTOS(tos)
	ip.SetChecksum()
	return f
}

func TestTCPECN_CodepointsCrossTheIPHeader(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := listening(t, e)
	// An ECN-setup SYN gets an ECN-setup SYN-ACK, Not-ECT (§6.1.1).
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN | tcp.FlagECE | tcp.FlagCWR, Window: peerWnd,
		Options: tcp.Options{MSS: 1460}}, nil))
	synack, ecn := e.nextTCPECN()
	if synack.Flags != tcp.FlagSYN|tcp.FlagACK|tcp.FlagECE || ecn != tcp.ECNNotECT {
		t.Fatalf("SYN-ACK %v ECN %d, want SYN|ACK|ECE Not-ECT", &synack, ecn)
	}
	iss := synack.Seq
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if cs := e.st.TCPConnections(); len(cs) != 1 || !cs[0].ECN {
		t.Fatalf("connections %+v, want one with ECN", cs)
	}
	// New data leaves ECT(0).
	if _, err := c.Send([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if seg, ecn := e.nextTCPECN(); len(seg.Payload) != 5 || ecn != tcp.ECNECT0 {
		t.Fatalf("data %v ECN %d, want ECT(0)", &seg, ecn)
	}
	// A CE-marked segment is echoed at once (§6.1.3), on a Not-ECT ACK.
	e.inject(tcpFrameTOS(tcp.Segment{Seq: peerISS + 1, Ack: iss + 6, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd},
		[]byte("marked"), tcp.ECNCE))
	if ack, ecn := e.nextTCPECN(); ack.Flags != tcp.FlagACK|tcp.FlagECE || ack.Ack != peerISS+7 || ecn != tcp.ECNNotECT {
		t.Fatalf("ACK %v ECN %d, want an ACK|ECE of 6 octets, Not-ECT", &ack, ecn)
	}
	st := e.st.Stats().TCP
	if st.CEReceived != 1 || st.ECESent != 1 {
		t.Fatalf("stats: %d CE received, %d ECE sent; want 1, 1", st.CEReceived, st.ECESent)
	}
}

func TestTCPECN_ConfigOff_NoECNSetupSYNACK(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.TCP.ECN = tcp.ECNOff })
	e.learnPeer()
	listening(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN | tcp.FlagECE | tcp.FlagCWR, Window: peerWnd}, nil))
	if synack, _ := e.nextTCPECN(); synack.Flags != tcp.FlagSYN|tcp.FlagACK {
		t.Fatalf("SYN-ACK %v, want no ECE with ECN off", &synack)
	}
}
