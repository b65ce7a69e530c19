package socket_test

import (
	"io"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/socket"
)

// BenchmarkBulkTransfer measures the protocol path for a one-way stream
// between two stacks on an in-memory Pipe (no device cost): bytes/s is
// what the stacks alone can carry on this machine.
func BenchmarkBulkTransfer(b *testing.B) {
	a, s := twoStacks(b)
	l, err := socket.Listen(s, "tcp", ":9")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	done := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- 0
			return
		}
		n, _ := io.CopyBuffer(io.Discard, c, make([]byte, 64<<10))
		c.Close()
		done <- n
	}()
	c, err := socket.Dial(a, "tcp", netip.AddrPortFrom(addrB, 9).String())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	if n := <-done; n != int64(b.N)*int64(len(buf)) {
		b.Fatalf("received %d of %d bytes", n, int64(b.N)*int64(len(buf)))
	}
}
