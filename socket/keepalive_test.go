package socket_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/socket"
)

// socket.Conn's keep-alive methods behave as *net.TCPConn's on Linux.
func TestConn_KeepAliveMethods(t *testing.T) {
	a, b := twoStacks(t)
	l, err := socket.Listen(b, "tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	port := l.Addr().(*net.TCPAddr).AddrPort().Port()
	nc, err := socket.Dial(a, "tcp", netip.AddrPortFrom(addrB, port).String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := nc.(*socket.Conn)
	get := func(level, opt int) int {
		t.Helper()
		v, err := c.FD().GetsockoptInt(level, opt)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := c.SetKeepAlive(true); err != nil || get(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 1 {
		t.Fatalf("SetKeepAlive: %v", err)
	}
	// Rounded up to whole seconds; 0 means Go's default of 15s.
	if err := c.SetKeepAlivePeriod(2500 * time.Millisecond); err != nil || get(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) != 3 {
		t.Fatalf("SetKeepAlivePeriod: %v, idle %d", err, get(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE))
	}
	if err := c.SetKeepAlivePeriod(0); err != nil || get(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) != 15 {
		t.Fatalf("SetKeepAlivePeriod(0): %v", err)
	}
	if err := c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: -1, Count: 4}); err != nil {
		t.Fatal(err)
	}
	if get(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) != 30 || get(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) != 75 || get(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) != 4 {
		t.Fatal("SetKeepAliveConfig did not apply")
	}
	if err := c.SetKeepAlive(false); err != nil || get(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0 {
		t.Fatalf("SetKeepAlive(false): %v", err)
	}
}
