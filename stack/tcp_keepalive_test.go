package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// Keep-alive and the user timeout through setsockopt, on the manual clock.

func longARP(c *stack.Config, _ *nic.PipeConfig) { c.ARP.ReachableTime = 100 * time.Hour }

func mustSetsockopt(t *testing.T, fd *socket.FD, level, opt, v int) {
	t.Helper()
	if err := fd.SetsockoptInt(level, opt, v); err != nil {
		t.Fatalf("setsockopt(%d, %d, %d): %v", level, opt, v, err)
	}
}

func TestTCP_KeepAlive_SockoptsProbeThenETIMEDOUT(t *testing.T) {
	e := newEnv(t, longARP)
	c, iss := established(t, e)
	mustSetsockopt(t, c, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
	mustSetsockopt(t, c, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 10)
	mustSetsockopt(t, c, socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 2)
	mustSetsockopt(t, c, socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
	for opt, want := range map[[2]int]int{
		{socket.SOL_SOCKET, socket.SO_KEEPALIVE}:   1,
		{socket.IPPROTO_TCP, socket.TCP_KEEPIDLE}:  10,
		{socket.IPPROTO_TCP, socket.TCP_KEEPINTVL}: 2,
		{socket.IPPROTO_TCP, socket.TCP_KEEPCNT}:   2,
	} {
		if v, err := c.GetsockoptInt(opt[0], opt[1]); v != want || err != nil {
			t.Fatalf("getsockopt %v = %d, %v; want %d", opt, v, err, want)
		}
	}
	e.clk.Advance(10*time.Second - time.Millisecond)
	e.none()
	e.clk.Advance(time.Millisecond)
	e.expectTCP(tcp.FlagACK, iss, peerISS+1) // SND.NXT-1
	e.clk.Advance(2 * time.Second)
	e.expectTCP(tcp.FlagACK, iss, peerISS+1)
	e.clk.Advance(2 * time.Second)
	e.expectTCP(tcp.FlagRST|tcp.FlagACK, iss+1, peerISS+1)
	if _, err := c.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Recv after keep-alive gave up: %v, want ETIMEDOUT", err)
	}
}

func TestTCP_KeepAlive_AnsweredProbeKeepsConnection(t *testing.T) {
	e := newEnv(t, longARP)
	c, iss := established(t, e)
	mustSetsockopt(t, c, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 10)
	mustSetsockopt(t, c, socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 2)
	mustSetsockopt(t, c, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
	e.clk.Advance(10 * time.Second)
	e.expectTCP(tcp.FlagACK, iss, peerISS+1)
	e.clk.Advance(500 * time.Millisecond)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	// The answer restarts the idle clock: the next probe is due 10s after it.
	e.clk.Advance(9999 * time.Millisecond)
	e.none()
	e.clk.Advance(time.Millisecond)
	e.expectTCP(tcp.FlagACK, iss, peerISS+1)
	if _, err := c.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Recv: %v, want EAGAIN (connection alive)", err)
	}
}

// Options set on a listening socket after Listen reach the connections
// it accepts, as in Linux.
func TestTCP_KeepAlive_InheritedFromListener(t *testing.T) {
	e := newEnv(t, longARP)
	e.learnPeer()
	l := listening(t, e)
	mustSetsockopt(t, l, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
	mustSetsockopt(t, l, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 5)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	iss := e.nextTCP().Seq
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if v, _ := c.GetsockoptInt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE); v != 5 {
		t.Fatalf("accepted TCP_KEEPIDLE %d, want 5", v)
	}
	e.clk.Advance(5 * time.Second)
	e.expectTCP(tcp.FlagACK, iss, peerISS+1)
}

func TestTCP_UserTimeout_UnackedDataETIMEDOUT(t *testing.T) {
	e := newEnv(t, longARP)
	c, iss := established(t, e)
	mustSetsockopt(t, c, socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 1500)
	if v, _ := c.GetsockoptInt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT); v != 1500 {
		t.Fatalf("TCP_USER_TIMEOUT reads %d", v)
	}
	c.Send([]byte("hello"), 0)
	e.expectTCP(tcp.FlagACK|tcp.FlagPSH, iss+1, peerISS+1)
	e.clk.Advance(1499 * time.Millisecond)
	e.drain() // retransmissions
	if _, err := c.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Recv before the user timeout: %v", err)
	}
	e.clk.Advance(time.Millisecond)
	e.none() // no RST, as Linux
	if _, err := c.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Recv after the user timeout: %v, want ETIMEDOUT", err)
	}
}

func TestTCP_KeepAliveSockopts_LinuxBounds(t *testing.T) {
	e := newEnv(t)
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM, 0)
	defer fd.Close()
	for _, bad := range [][2]int{
		{socket.TCP_KEEPIDLE, 0}, {socket.TCP_KEEPIDLE, 32768},
		{socket.TCP_KEEPINTVL, 0}, {socket.TCP_KEEPCNT, 128},
		{socket.TCP_USER_TIMEOUT, -1},
	} {
		if err := fd.SetsockoptInt(socket.IPPROTO_TCP, bad[0], bad[1]); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("setsockopt(%d, %d): %v, want EINVAL", bad[0], bad[1], err)
		}
	}
	// Defaults, as Linux reports them.
	for opt, want := range map[int]int{socket.TCP_KEEPIDLE: 7200, socket.TCP_KEEPINTVL: 75, socket.TCP_KEEPCNT: 9, socket.TCP_USER_TIMEOUT: 0} {
		if v, err := fd.GetsockoptInt(socket.IPPROTO_TCP, opt); v != want || err != nil {
			t.Fatalf("getsockopt(%d) = %d, %v; want %d", opt, v, err, want)
		}
	}
	if v, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_KEEPALIVE); v != 0 {
		t.Fatal("SO_KEEPALIVE on by default")
	}
	_ = netip.AddrPort{}
}
