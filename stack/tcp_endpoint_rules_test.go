package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The stack's TCP endpoints, used directly: their non-blocking calls,
// and the notifications (Readable, Writable, Done) on which package
// socket blocks. Every notification a blocked call needs must come, or
// the call sleeps forever; these tests take them from the channels.

// tcpListen opens an endpoint listening on stackPort.
func tcpListen(t *testing.T, e *env) *stack.TCPEndpoint {
	t.Helper()
	l, err := e.st.NewTCPEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), stackPort), false); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(8); err != nil {
		t.Fatal(err)
	}
	return l
}

// handshake completes a passive open from the peer's port and returns the
// stack's ISS (the connection waits in the listener's accept queue).
func handshake(t *testing.T, e *env, port uint16) seqnum.Value {
	t.Helper()
	e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	synack := e.nextTCP()
	if synack.Flags != tcp.FlagSYN|tcp.FlagACK {
		t.Fatalf("want a SYN-ACK, got %v", &synack)
	}
	e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	return synack.Seq
}

// accepted runs a passive open from peerPort and accepts it.
func accepted(t *testing.T, e *env) (*stack.TCPEndpoint, seqnum.Value) {
	t.Helper()
	e.learnPeer()
	l := tcpListen(t, e)
	iss := handshake(t, e, peerPort)
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	readable(c.Readable())
	readable(c.Writable())
	return c, iss
}

// TestTCPEndpoint_ShutdownWrite_WritableAtOnceWithEPIPE: after
// shutdown(SHUT_WR) a write fails at once with EPIPE (RFC 9293 §3.10.2:
// "error: connection closing"), so as Linux (tcp_poll reports EPOLLOUT
// once SEND_SHUTDOWN is set; sk_stream_wait_memory returns EPIPE) a
// writer blocked on a full send buffer is woken, and poll says writable.
func TestTCPEndpoint_ShutdownWrite_WritableAtOnceWithEPIPE(t *testing.T) {
	e := newEnv(t)
	c, _ := accepted(t, e)
	c.SetSndBuf(1)
	for {
		if _, err := c.Write(make([]byte, 1000)); errors.Is(err, syscall.EAGAIN) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	readable(c.Writable())
	if _, w, _, _ := c.PollState(); w {
		t.Fatal("writable with the send buffer full")
	}
	if err := c.Shutdown(syscall.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if !readable(c.Writable()) {
		t.Error("shutdown(SHUT_WR) did not wake a writer blocked on the full buffer")
	}
	if _, w, _, _ := c.PollState(); !w {
		t.Error("not writable after shutdown(SHUT_WR), though a write fails at once")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Write after shutdown(SHUT_WR): %v, want EPIPE", err)
	}
}
