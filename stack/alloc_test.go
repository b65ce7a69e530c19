package stack_test

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/clock"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
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
