package conformance

import (
	"errors"
	"log/slog"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/clock"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// The addresses every script uses. Both targets are configured identically:
// the stack under test is 10.0.0.2/24 with MAC 02:00:00:00:00:02; the test
// plays the peer, 10.0.0.1 (also the default gateway) at 02:00:00:00:00:01.
var (
	stackIP   = netip.MustParseAddr("10.0.0.2")
	peerIP    = netip.MustParseAddr("10.0.0.1")
	otherIP   = netip.MustParseAddr("10.0.0.77")
	subnetBC  = netip.MustParseAddr("10.0.0.255")
	limitedBC = netip.MustParseAddr("255.255.255.255")
	stackNet  = netip.MustParsePrefix("10.0.0.2/24")
	peerMAC   = ethernet.MAC{0x02, 0, 0, 0, 0, 0x01}
	peerMAC2  = ethernet.MAC{0x02, 0, 0, 0, 0, 0x03} // the peer after a NIC swap
	stackMAC  = ethernet.MAC{0x02, 0, 0, 0, 0, 0x02}
	linkMTU   = 1500
	epoch     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// target is one stack under test, driven by a script. Every method is
// synchronous: when inject or advance returns, whatever the stack sends in
// response is ready for drain. Implementations fail the test (t.Fatal) on a
// setup error; inject and advance never fail, a stack may ignore any frame.
//
// To extend the harness (TCP): add methods for the socket calls a script
// needs (dialTCP, listenTCP, accept, write, read, close), each implemented
// with tapstack's socket package and with gVisor's endpoints, and matching
// step types in harness_test.go.
type target interface {
	name() string
	// inject delivers one Ethernet frame as if it came from the wire.
	inject(frame []byte)
	// advance moves the stack's clock by d, firing every timer due.
	advance(d time.Duration)
	// drain returns every frame the stack sent since the last drain, in order.
	drain() [][]byte
	// listenUDP opens a UDP socket bound to 0.0.0.0:port.
	listenUDP(port uint16) udpSocket
	// close releases the stack.
	close()
}

// udpSocket is an open UDP socket of a target.
type udpSocket interface {
	// tryRecv returns the next queued datagram without blocking.
	tryRecv() (payload []byte, from netip.AddrPort, ok bool)
}

// tapTarget is tapstack on one end of a nic.Pipe, driven through
// HandleFrame (never Start: the receive loop is not running, so every frame
// is processed on the test goroutine).
type tapTarget struct {
	t    testing.TB
	clk  *clock.Manual
	st   *stack.Stack
	peer *nic.PipeEnd
}

func newTapTarget(t testing.TB) *tapTarget {
	t.Helper()
	clk := clock.NewManual(epoch)
	a, b := nic.NewPipe(nic.PipeConfig{MTU: linkMTU, MACA: stackMAC, MACB: peerMAC, Clock: clk, QueueLen: 4096})
	st, err := stack.New(a, stack.Config{
		Addr:    stackNet,
		Gateway: peerIP,
		Clock:   clk,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("tapstack: stack.New: %v", err)
	}
	return &tapTarget{t: t, clk: clk, st: st, peer: b}
}

func (*tapTarget) name() string { return "tapstack" }

func (x *tapTarget) inject(frame []byte) { x.st.HandleFrame(frame, nic.Meta{}) }

func (x *tapTarget) advance(d time.Duration) { x.clk.Advance(d) }

func (x *tapTarget) drain() [][]byte {
	var out [][]byte
	for {
		f, ok := x.peer.TryRead()
		if !ok {
			return out
		}
		out = append(out, append([]byte(nil), f...))
	}
}

func (x *tapTarget) listenUDP(port uint16) udpSocket {
	x.t.Helper()
	fd, err := socket.Socket(x.st, socket.AF_INET, socket.SOCK_DGRAM, 0)
	if err != nil {
		x.t.Fatalf("tapstack: socket: %v", err)
	}
	if err := fd.SetNonblock(true); err != nil {
		x.t.Fatalf("tapstack: SetNonblock: %v", err)
	}
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), port)); err != nil {
		x.t.Fatalf("tapstack: bind :%d: %v", port, err)
	}
	x.t.Cleanup(func() { fd.Close() })
	return tapUDP{t: x.t, fd: fd}
}

func (x *tapTarget) close() {
	x.st.Close()
	x.peer.Close()
}

type tapUDP struct {
	t  testing.TB
	fd *socket.FD
}

func (s tapUDP) tryRecv() ([]byte, netip.AddrPort, bool) {
	buf := make([]byte, 65536)
	n, from, err := s.fd.RecvFrom(buf, 0)
	if errors.Is(err, syscall.EAGAIN) {
		return nil, netip.AddrPort{}, false
	}
	if err != nil {
		s.t.Fatalf("tapstack: recvfrom: %v", err)
	}
	return buf[:n], from, true
}
