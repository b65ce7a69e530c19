package integration

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
)

// dialUDP opens a kernel UDP socket inside ns connected to addr.
func dialUDP(t *testing.T, ns *nstest.NS, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := ns.Do(func() error {
		ra, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return err
		}
		c, err = net.DialUDP("udp4", nil, ra)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestKernelUDP_EchoService(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns)
	c := dialUDP(t, ns, stackAddr+":7")
	buf := make([]byte, 70000)
	// Sizes include 0, one full frame and several fragmented datagrams.
	for i, size := range []int{0, 1, 100, 1472, 1473, 3000, 9000, 65507} {
		msg := bytes.Repeat([]byte{byte(i + 1)}, size)
		copy(msg, fmt.Sprintf("#%d", i))
		// The kernel may send the first datagram before ARP completes; the
		// deadline is a guard, and one retry covers that first exchange.
		var n int
		var err error
		for try := 0; try < 3; try++ {
			if _, err = c.Write(msg); err != nil {
				t.Fatalf("write %d bytes: %v", size, err)
			}
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			if n, err = c.Read(buf); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("no echo for %d bytes: %v", size, err)
		}
		if !bytes.Equal(buf[:n], msg) {
			t.Fatalf("echo of %d bytes came back as %d different bytes", size, n)
		}
	}
}

func TestKernelUDP_ClosedPort_ConnectionRefused(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns)
	c := dialUDP(t, ns, stackAddr+":9999")
	var err error
	for try := 0; try < 3; try++ {
		c.Write([]byte("anyone?"))
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err = c.Read(make([]byte, 10)); errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
	}
	t.Fatalf("read from a closed port: %v, want ECONNREFUSED (the stack's ICMP 3/3)", err)
}
