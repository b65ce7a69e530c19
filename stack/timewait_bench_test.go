package stack_test

import (
	"runtime"
	"testing"

	"github.com/tapstack/tapstack/tcp"
)

// BenchmarkTCP_TimeWaitMemory opens n connections over the packet harness,
// closes each from the stack's side (active close) and lets the peer
// finish, so that all n sit in TIME-WAIT without a socket; it reports the
// live heap they hold, per connection ("B/timewait"). A benchmark, not a
// test: the figure is for CONFORMANCE.md, not asserted.
//
//	go test ./stack -run '^$' -bench TimeWaitMemory -benchtime 3x
func BenchmarkTCP_TimeWaitMemory(b *testing.B) {
	const n = 5000
	var perConn float64
	for range b.N {
		b.StopTimer()
		e := newEnv(b, noARPExpiry)
		e.learnPeer()
		l := listening(b, e)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for i := range n {
			port := uint16(10000 + i)
			e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460, HasTimestamp: true, TSVal: 1}}, nil))
			iss := e.nextTCP().Seq
			e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd, Options: tcp.Options{HasTimestamp: true, TSVal: 2}}, nil))
			c, _, err := l.Accept()
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
			e.nextTCP() // our FIN
			e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS + 1, Ack: iss + 2, Flags: tcp.FlagACK | tcp.FlagFIN, Window: peerWnd, Options: tcp.Options{HasTimestamp: true, TSVal: 3}}, nil))
			e.nextTCP() // the ACK of the peer's FIN
		}
		b.StopTimer()
		tw := 0
		for _, c := range e.st.TCPConnections() {
			if c.State == tcp.StateTimeWait {
				tw++
			}
		}
		if tw != n {
			b.Fatalf("%d connections in TIME-WAIT, want %d", tw, n)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perConn = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		runtime.KeepAlive(e)
		e.st.Close()
	}
	b.ReportMetric(perConn, "B/timewait")
}
