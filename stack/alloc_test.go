package stack_test

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// sink is a Device that keeps nothing: it measures the stack's own
// per-packet cost, not a device's.
type sink struct {
	frames  int
	lastLen int
}

func (s *sink) Info() nic.Info {
	return nic.Info{Name: "sink", MAC: stackMAC, MTU: 1500, MaxFrame: 1514, Batch: 1}
}
func (s *sink) Read([]nic.Frame) (int, error) { return 0, nic.ErrClosed }
func (s *sink) Write(fs []nic.Frame) (int, error) {
	s.frames += len(fs)
	s.lastLen = len(fs[len(fs)-1].Data)
	return len(fs), nil
}
func (s *sink) Close() error { return nil }

// closeWithin closes st, giving up after a bound: when a call inside the
// stack panicked (or never returned) with the lock held, Close would wait
// on the lock until the test binary's timeout instead of letting the test
// fail now.
func closeWithin(tb testing.TB, st *stack.Stack) {
	closed := make(chan struct{})
	go func() { st.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		tb.Error("Close did not return within 10s: the stack's lock is held")
	}
}

func newSinkStack(tb testing.TB) (*stack.Stack, *sink) {
	tb.Helper()
	d := &sink{}
	st, err := stack.New(d, stack.Config{
		Addr:   netip.MustParsePrefix("10.0.0.2/24"),
		Clock:  clock.NewManual(epoch),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	// These tests call HandleFrame itself (the path measured): a panic
	// inside it leaves the stack's lock held.
	tb.Cleanup(func() { closeWithin(tb, st) })
	return st, d
}

func TestAllocs_ARPReplyAndEchoReply_Zero(t *testing.T) {
	st, d := newSinkStack(t)
	arpReq := arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast)
	echo := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, pattern(56)))
	st.HandleFrame(arpReq, nic.Meta{}) // learn the peer: steady state from here
	for name, frame := range map[string][]byte{"ARP request": arpReq, "ICMP echo request": echo} {
		before := d.frames
		allocs := testing.AllocsPerRun(1000, func() { st.HandleFrame(frame, nic.Meta{}) })
		if d.frames-before < 1000 {
			t.Fatalf("%s: %d replies for 1001 requests", name, d.frames-before)
		}
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per packet, want 0", name, allocs)
		}
	}
}

// BenchmarkReceiveReply reports the stack's cost per received packet for
// the two paths that must stay allocation-free: ns/op is ns/packet.
func BenchmarkReceiveReply(b *testing.B) {
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"ARP", arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast)},
		{"ICMPEcho56", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, pattern(56)))},
		{"ICMPEcho1472", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, pattern(1472)))},
	} {
		b.Run(c.name, func(b *testing.B) {
			st, _ := newSinkStack(b)
			st.HandleFrame(arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast), nic.Meta{})
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			for b.Loop() {
				st.HandleFrame(c.frame, nic.Meta{})
			}
		})
	}
}

// droppedFrames are frames the stack drops and counts at three layers.
func droppedFrames() map[string][]byte {
	tcpBadSum := tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil)
	tcpBadSum[ethernet.HeaderLen+ipv4.HeaderMinLen+16]++
	return map[string][]byte{
		"UDP checksum":    badUDPChecksum(),
		"TCP checksum":    tcpBadSum,
		"IPv4 not for us": ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Dst: otherIP}, echoRequest(1, 1, nil)),
	}
}

// newSinkStackLogging is newSinkStack with a logger at level, writing
// nowhere.
func newSinkStackLogging(tb testing.TB, level slog.Level) *stack.Stack {
	tb.Helper()
	st, err := stack.New(&sink{}, stack.Config{
		Addr:   netip.MustParsePrefix("10.0.0.2/24"),
		Clock:  clock.NewManual(epoch),
		Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// A drop costs no allocation with debug records off, from the first one,
// nor with them on once the rate limit holds them back (the manual clock
// does not move, so after the burst every record is suppressed): a flood
// logged at debug level allocates only for the records that are written.
func TestAllocs_DroppedFrames_Zero(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		st := newSinkStackLogging(t, level)
		for name, frame := range droppedFrames() {
			// AllocsPerRun rounds down: at info, a few runs from a fresh
			// stack show an allocation within the first burst.
			runs := 5
			if level == slog.LevelDebug {
				for range 20 { // spend the burst
					st.HandleFrame(frame, nic.Meta{})
				}
				runs = 1000
			}
			before := st.Stats().Drops()
			allocs := testing.AllocsPerRun(runs, func() { st.HandleFrame(frame, nic.Meta{}) })
			if got := st.Stats().Drops() - before; got != uint64(runs+1) {
				t.Fatalf("%v %s: %d drops counted for %d frames", level, name, got, runs+1)
			}
			if allocs != 0 {
				t.Errorf("logger at %v, %s: %.1f allocations per dropped frame, want 0", level, name, allocs)
			}
		}
	}
}

// BenchmarkReceiveDrop reports the cost of a dropped frame (a UDP datagram
// with a bad checksum) with the logger at info and at debug (after the
// burst: records suppressed by the rate limit).
func BenchmarkReceiveDrop(b *testing.B) {
	frame := badUDPChecksum()
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		b.Run(level.String(), func(b *testing.B) {
			st := newSinkStackLogging(b, level)
			for range 20 {
				st.HandleFrame(frame, nic.Meta{})
			}
			b.ReportAllocs()
			for b.Loop() {
				st.HandleFrame(frame, nic.Meta{})
			}
		})
	}
}
