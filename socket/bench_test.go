package socket_test

import (
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
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

// BenchmarkIdleConnections reports the memory an idle established
// connection costs: b.N connections from one stack to a discard server on
// the other (a goroutine per connection blocked in Read, as the daemon's
// tcp/9), measured after all are established; both ends live in this
// process, so the figures are per pair.
func BenchmarkIdleConnections(b *testing.B) {
	a, s := twoStacks(b)
	l, err := socket.Listen(s, "tcp", ":9")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var serving atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				serving.Add(1)
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, b.N)
	for range b.N {
		c, err := socket.Dial(a, "tcp", netip.AddrPortFrom(addrB, 9).String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	for serving.Load() < int64(b.N) {
		runtime.Gosched()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(b.N), "heap-B/pair")
	b.ReportMetric(float64(after.StackInuse-before.StackInuse)/float64(b.N), "stack-B/pair")
	for _, c := range conns {
		c.Close()
	}
}
