package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	gvipv4 "gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	gvtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The bottleneck benchmark: bulk TCP over a nic.Pipe that is a 100 Mbit/s
// link with 20 ms of delay each way (40 ms RTT) and a drop-tail queue of
// one bandwidth-delay product in each direction, at 0, 0.1 and 1% random
// loss in both directions (as the TAP loss phase drops both ways).
//
// It runs in virtual time: both ends of the connection and the Pipe share
// one clock.Manual, and a single loop moves frames between the Pipe and the
// two stacks and advances the clock to the next deadline (a frame that has
// crossed the link, a TCP timer) when nothing else can happen. A 25-second
// run costs a few seconds of CPU, and the same seed gives the same figures
// on every run and every machine, whatever the load. tapstack's stack is
// driven through Stack.HandleFrame and its non-blocking endpoint calls.
// gVisor's TCP hands inbound segments to processor goroutines; after each
// batch of frames the loop waits for them with Stack.Pause, which returns
// once every processor has drained its queue, and gVisor's timers run on the
// same manual clock, so its runs are deterministic too.
//
//	go test ./test/bench -run '^$' -bench Bottleneck -benchtime 1x
const (
	bnRate    = 100_000_000 // bits per second, each direction
	bnDelay   = 20 * time.Millisecond
	bnRTT     = 2 * bnDelay
	bnQueue   = bnRate / 8 * int(bnRTT/time.Millisecond) / 1000 // one BDP: 500 kB
	bnWarmup  = 5 * time.Second                                 // slow start and its exit, not measured
	bnMeasure = 20 * time.Second
	bnSeed    = 1
	// bnBuf is every socket's send and receive buffer: room for twice
	// the BDP plus the queue, so that neither window limits the flow and
	// only the link and congestion control do. (tapstack's default of
	// 256 KiB would cap a flow at about half the link.)
	bnBuf = 4 << 20
)

var bnLosses = []float64{0, 0.001, 0.01}

// bnNet is the link and its clock.
type bnNet struct {
	clk  *clock.Manual
	a, b *nic.PipeEnd
}

func newBNNet(loss float64) *bnNet {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	im := nic.Impairment{Loss: loss, Delay: bnDelay, Rate: bnRate, QueueBytes: bnQueue}
	a, b := nic.NewPipe(nic.PipeConfig{
		Clock: clk, Seed: bnSeed, AtoB: im, BtoA: im,
		QueueLen: 8192, // the frame count never binds: QueueBytes and the link do
		MACA:     [6]byte{2, 0, 0, 0, 0, 1}, MACB: [6]byte{2, 0, 0, 0, 0, 2},
	})
	return &bnNet{clk: clk, a: a, b: b}
}

// bnHost is one end's stack as the loop sees it.
type bnHost interface {
	// deliver hands the host the frames that have crossed the link to it.
	deliver(frames [][]byte)
	// app lets every flow's application write and read what it can and
	// reports whether anything moved.
	app() bool
	// counters returns the sender's retransmitted segments and RTOs.
	counters() (retrans, rtos uint64)
	close()
}

// run moves frames and advances the clock until it reads until.
func (n *bnNet) run(ha, hb bnHost, until time.Time) {
	var fa, fb [][]byte
	for {
		for moved := true; moved; {
			fa, fb = readAll(n.a, fa[:0]), readAll(n.b, fb[:0])
			if len(fa) > 0 {
				ha.deliver(fa)
			}
			if len(fb) > 0 {
				hb.deliver(fb)
			}
			moved = len(fa)+len(fb) > 0
			if ha.app() {
				moved = true
			}
			if hb.app() {
				moved = true
			}
		}
		next, ok := n.clk.NextDeadline()
		if !ok || next.After(until) {
			n.clk.Set(until)
			return
		}
		n.clk.Set(next)
	}
}

func readAll(e *nic.PipeEnd, fs [][]byte) [][]byte {
	for {
		f, ok := e.TryRead()
		if !ok {
			return fs
		}
		fs = append(fs, f)
	}
}

// bnFlow counts what one flow's receiver has read.
type bnFlow struct{ read int64 }

// bnResult is one run: each flow's goodput in bits per second, and over the
// whole run the sender's retransmissions and RTOs and the data direction's
// queue and random drops.
type bnResult struct {
	goodput                         []float64
	retrans, rtos, queueDrops, lost uint64
}

func (r bnResult) total() float64 {
	var s float64
	for _, g := range r.goodput {
		s += g
	}
	return s
}

// jain is Jain's fairness index, (Σx)² / (n·Σx²): 1 when all flows get the
// same, 1/n when one gets everything.
func (r bnResult) jain() float64 {
	var s, s2 float64
	for _, g := range r.goodput {
		s += g
		s2 += g * g
	}
	if s2 == 0 {
		return 0
	}
	return s * s / (float64(len(r.goodput)) * s2)
}

// bnRun runs nflows flows from a sender host on end a to a receiver host on
// end b, started together, and measures each flow's goodput over bnMeasure
// after bnWarmup.
func bnRun(tb testing.TB, loss float64, nflows int, newHosts func(n *bnNet, flows []*bnFlow) (snd, rcv bnHost)) bnResult {
	n := newBNNet(loss)
	flows := make([]*bnFlow, nflows)
	for i := range flows {
		flows[i] = new(bnFlow)
	}
	snd, rcv := newHosts(n, flows)
	defer func() { snd.close(); rcv.close(); n.a.Close() }()
	start := n.clk.Now()
	n.run(snd, rcv, start.Add(bnWarmup))
	before := make([]int64, nflows)
	for i, f := range flows {
		before[i] = f.read
	}
	n.run(snd, rcv, start.Add(bnWarmup+bnMeasure))
	r := bnResult{goodput: make([]float64, nflows)}
	for i, f := range flows {
		r.goodput[i] = float64(f.read-before[i]) * 8 / bnMeasure.Seconds()
	}
	r.retrans, r.rtos = snd.counters()
	ps := n.a.Stats()
	r.queueDrops, r.lost = ps.QueueDrops, ps.Lost
	return r
}

// --- tapstack ---

var (
	bnAddrA = netip.MustParsePrefix("10.9.0.1/24")
	bnAddrB = netip.MustParsePrefix("10.9.0.2/24")
)

const bnPort = 5001

type tsHost struct {
	tb    testing.TB
	st    *stack.Stack
	lis   *stack.TCPEndpoint
	eps   []*stack.TCPEndpoint // connected flows, in the order of flows
	flows []*bnFlow
	send  bool
	buf   []byte
}

func newTSHost(tb testing.TB, dev *nic.PipeEnd, clk clock.Clock, addr netip.Prefix, cc string) *tsHost {
	st, err := stack.New(dev, stack.Config{
		Addr:   addr,
		Clock:  clk,
		Logger: slog.New(slog.DiscardHandler),
		TCP:    tcp.Config{RcvBuf: bnBuf, SndBuf: bnBuf, Congestion: cc},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &tsHost{tb: tb, st: st, buf: make([]byte, 64<<10)}
}

// tapstackHosts returns the sender and receiver tapstack hosts with
// congestion control cc; the sender connects one endpoint per flow at once.
func tapstackHosts(tb testing.TB, cc string) func(n *bnNet, flows []*bnFlow) (bnHost, bnHost) {
	return func(n *bnNet, flows []*bnFlow) (bnHost, bnHost) {
		snd := newTSHost(tb, n.a, n.clk, bnAddrA, cc)
		rcv := newTSHost(tb, n.b, n.clk, bnAddrB, cc)
		snd.send, snd.flows, rcv.flows = true, flows, flows
		lis, err := rcv.st.NewTCPEndpoint()
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := lis.Bind(netip.AddrPortFrom(bnAddrB.Addr(), bnPort), false); err != nil {
			tb.Fatal(err)
		}
		if err := lis.Listen(16); err != nil {
			tb.Fatal(err)
		}
		rcv.lis = lis
		for range flows {
			ep, err := snd.st.NewTCPEndpoint()
			if err != nil {
				tb.Fatal(err)
			}
			if err := ep.Connect(netip.AddrPortFrom(bnAddrB.Addr(), bnPort)); !errors.Is(err, syscall.EINPROGRESS) {
				tb.Fatalf("Connect: %v", err)
			}
			snd.eps = append(snd.eps, ep)
		}
		return snd, rcv
	}
}

func (h *tsHost) deliver(frames [][]byte) {
	for _, f := range frames {
		h.st.HandleFrame(f, nic.Meta{})
	}
}

func (h *tsHost) app() bool {
	for h.lis != nil && len(h.eps) < len(h.flows) {
		ep, err := h.lis.Accept()
		if err != nil {
			break
		}
		h.eps = append(h.eps, ep)
	}
	return bnPump(h.send, h.flows, len(h.eps), h.move)
}

// move writes or reads once on flow i's endpoint.
func (h *tsHost) move(i int) (n int, more bool) {
	ep := h.eps[i]
	var err error
	if h.send {
		n, err = ep.Write(h.buf)
	} else {
		n, err = ep.Read(h.buf, false)
	}
	if err != nil && !errors.Is(err, syscall.EAGAIN) && !(h.send && errors.Is(err, syscall.ENOTCONN)) {
		h.tb.Fatalf("flow %d (sender %v): %v", i, h.send, err)
	}
	return n, err == nil
}

// bnPump lets the application of each of the first n flows write (send) or
// read until its endpoint would block, counts what the receiver read, and
// reports whether anything moved.
func bnPump(send bool, flows []*bnFlow, n int, move func(i int) (int, bool)) bool {
	moved := false
	for i := range n {
		for {
			k, more := move(i)
			if !send {
				flows[i].read += int64(k)
			}
			moved = moved || k > 0
			if !more {
				break
			}
		}
	}
	return moved
}

func (h *tsHost) counters() (retrans, rtos uint64) {
	st := h.st.Stats().TCP
	return st.RetransSegs, st.Timeouts
}

func (h *tsHost) close() { h.st.Close() }

// --- gVisor ---

// gvClock runs gVisor's timers on the benchmark's manual clock.
type gvClock struct {
	clk   *clock.Manual
	epoch time.Time
}

func (c gvClock) Now() time.Time { return c.clk.Now() }
func (c gvClock) NowMonotonic() tcpip.MonotonicTime {
	return tcpip.MonotonicTime{}.Add(c.clk.Now().Sub(c.epoch))
}
func (c gvClock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	return gvTimer{c.clk.AfterFunc(d, f)}
}

type gvTimer struct{ t clock.Timer }

func (t gvTimer) Stop() bool            { return t.t.Stop() }
func (t gvTimer) Reset(d time.Duration) { t.t.Reset(d) }

type gvHost struct {
	tb       testing.TB
	s        *gvstack.Stack
	ch       *channel.Endpoint
	dev      *nic.PipeEnd
	mac, dst [6]byte
	lis      tcpip.Endpoint
	eps      []tcpip.Endpoint
	flows    []*bnFlow
	send     bool
	data     []byte
	rd       bytes.Reader
	cnt      countWriter
	out      []byte
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func newGVHost(tb testing.TB, n *bnNet, dev *nic.PipeEnd, addr netip.Prefix, seed uint64, cc string) *gvHost {
	s := gvstack.New(gvstack.Options{
		NetworkProtocols:   []gvstack.NetworkProtocolFactory{gvipv4.NewProtocol},
		TransportProtocols: []gvstack.TransportProtocolFactory{gvtcp.NewProtocol},
		Clock:              gvClock{clk: n.clk, epoch: n.clk.Now()},
		RandSource:         &lockedSource{src: mrand.NewSource(int64(seed))},
	})
	opts := []tcpip.SettableTransportProtocolOption{
		ptr(tcpip.TCPSACKEnabled(true)),
		ptr(tcpip.CongestionControlOption(cc)),
		&tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: bnBuf, Max: bnBuf},
		&tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: bnBuf, Max: bnBuf},
	}
	for _, o := range opts {
		if err := s.SetTransportProtocolOption(gvtcp.ProtocolNumber, o); err != nil {
			tb.Fatalf("gVisor option %T: %v", o, err)
		}
	}
	info := dev.Info()
	ch := channel.New(8192, uint32(info.MTU), tcpip.LinkAddress(info.MAC[:]))
	if err := s.CreateNIC(1, ch); err != nil {
		tb.Fatalf("CreateNIC: %v", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: gvipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{
		Address: tcpip.AddrFrom4(addr.Addr().As4()), PrefixLen: addr.Bits()}}
	if err := s.AddProtocolAddress(1, pa, gvstack.AddressProperties{}); err != nil {
		tb.Fatalf("AddProtocolAddress: %v", err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	return &gvHost{tb: tb, s: s, ch: ch, dev: dev, mac: info.MAC, data: make([]byte, 64<<10), out: make([]byte, 0, info.MaxFrame)}
}

// lockedSource is a seeded math/rand Source safe for gVisor's goroutines.
type lockedSource struct {
	mu  sync.Mutex
	src mrand.Source
}

func (s *lockedSource) Int63() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src.Int63()
}

func (s *lockedSource) Seed(seed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.src.Seed(seed)
}

func ptr[T any](v T) *T { return &v }

// gvisorHosts returns a gVisor sender and receiver with congestion control
// cc. The channel endpoints carry IP packets; the hosts add and strip the
// Ethernet header, so the Pipe carries the same 14+IP bytes per frame as
// for tapstack, and no ARP is needed.
func gvisorHosts(tb testing.TB, cc string) func(n *bnNet, flows []*bnFlow) (bnHost, bnHost) {
	return func(n *bnNet, flows []*bnFlow) (bnHost, bnHost) {
		snd := newGVHost(tb, n, n.a, bnAddrA, bnSeed, cc)
		rcv := newGVHost(tb, n, n.b, bnAddrB, bnSeed+1, cc)
		snd.dst, rcv.dst = rcv.mac, snd.mac
		snd.send, snd.flows, rcv.flows = true, flows, flows
		var wq waiter.Queue
		lis, err := rcv.s.NewEndpoint(gvtcp.ProtocolNumber, gvipv4.ProtocolNumber, &wq)
		if err != nil {
			tb.Fatalf("NewEndpoint: %v", err)
		}
		if err := lis.Bind(tcpip.FullAddress{Port: bnPort}); err != nil {
			tb.Fatalf("Bind: %v", err)
		}
		if err := lis.Listen(16); err != nil {
			tb.Fatalf("Listen: %v", err)
		}
		rcv.lis = lis
		for range flows {
			ep, err := snd.s.NewEndpoint(gvtcp.ProtocolNumber, gvipv4.ProtocolNumber, &wq)
			if err != nil {
				tb.Fatalf("NewEndpoint: %v", err)
			}
			err = ep.Connect(tcpip.FullAddress{Addr: tcpip.AddrFrom4(bnAddrB.Addr().As4()), Port: bnPort})
			if _, ok := err.(*tcpip.ErrConnectStarted); !ok {
				tb.Fatalf("Connect: %v", err)
			}
			snd.eps = append(snd.eps, ep)
		}
		snd.flush()
		return snd, rcv
	}
}

// deliver injects the frames and waits until gVisor's processors have
// handled them (Pause returns once every processor's queue is empty), then
// sends what gVisor wrote.
func (h *gvHost) deliver(frames [][]byte) {
	for _, f := range frames {
		pkt := gvstack.NewPacketBuffer(gvstack.PacketBufferOptions{Payload: buffer.MakeWithData(f[14:])})
		h.ch.InjectInbound(header.IPv4ProtocolNumber, pkt)
		pkt.DecRef()
	}
	h.s.Pause()
	h.s.Resume()
	h.flush()
}

// flush writes every packet gVisor has sent to the Pipe as a frame and
// reports whether there was any. gVisor's timers (RTO, TLP, delayed work)
// send from inside the clock's Set, into the channel: app flushes those.
func (h *gvHost) flush() bool {
	sent := false
	for {
		pkt := h.ch.Read()
		if pkt == nil {
			return sent
		}
		sent = true
		b := h.out[:14]
		copy(b[0:6], h.dst[:])
		copy(b[6:12], h.mac[:])
		b[12], b[13] = 0x08, 0x00
		for _, v := range pkt.AsSlices() {
			b = append(b, v...)
		}
		pkt.DecRef()
		if _, err := h.dev.Write([]nic.Frame{{Data: b}}); err != nil {
			h.tb.Fatalf("Pipe write: %v", err)
		}
	}
}

func (h *gvHost) app() bool {
	for h.lis != nil && len(h.eps) < len(h.flows) {
		ep, _, err := h.lis.Accept(nil)
		if err != nil {
			break
		}
		h.eps = append(h.eps, ep)
	}
	moved := bnPump(h.send, h.flows, len(h.eps), h.move)
	if h.flush() {
		moved = true
	}
	return moved
}

// move writes or reads once on flow i's endpoint.
func (h *gvHost) move(i int) (n int, more bool) {
	ep := h.eps[i]
	var err tcpip.Error
	if h.send {
		h.rd.Reset(h.data)
		var k int64
		k, err = ep.Write(&h.rd, tcpip.WriteOptions{})
		n = int(k)
	} else {
		h.cnt.n = 0
		_, err = ep.Read(&h.cnt, tcpip.ReadOptions{})
		n = int(h.cnt.n)
	}
	switch err.(type) {
	case nil, *tcpip.ErrWouldBlock:
	case *tcpip.ErrClosedForSend:
		if !h.send {
			h.tb.Fatalf("flow %d: gVisor Read: %v", i, err)
		}
	default:
		h.tb.Fatalf("flow %d (sender %v): gVisor: %v", i, h.send, err)
	}
	return n, err == nil
}

func (h *gvHost) counters() (retrans, rtos uint64) {
	st := h.s.Stats().TCP
	return st.Retransmits.Value(), st.Timeouts.Value()
}

func (h *gvHost) close() {
	for _, ep := range h.eps {
		ep.Abort()
	}
	if h.lis != nil {
		h.lis.Close()
	}
	h.s.Close()
	h.s.Wait()
}

var _ io.Writer = (*countWriter)(nil)

// --- the benchmark ---

type bnStack struct {
	name  string
	hosts func(tb testing.TB, cc string) func(*bnNet, []*bnFlow) (bnHost, bnHost)
	cc    string
}

var bnStacks = []bnStack{
	{"tapstack cubic", tapstackHosts, "cubic"},
	{"tapstack reno", tapstackHosts, "reno"},
	{"tapstack bbr", tapstackHosts, "bbr"},
	{"gVisor cubic", gvisorHosts, "cubic"},
	{"gVisor reno", gvisorHosts, "reno"},
}

// BenchmarkBottleneck runs every stack at every loss rate with one flow and
// with two, reports each as a metric and prints a markdown table: percent of
// the link's 100 Mbit/s in goodput (TCP payload read by the application),
// and Jain's index of the two flows.
func BenchmarkBottleneck(b *testing.B) {
	type key struct {
		stack string
		loss  float64
		flows int
	}
	res := map[key]bnResult{}
	for _, flows := range []int{1, 2} {
		for _, loss := range bnLosses {
			for _, st := range bnStacks {
				name := fmt.Sprintf("flows=%d/loss=%g%%/%s", flows, loss*100, strings.ReplaceAll(st.name, " ", "_"))
				b.Run(name, func(b *testing.B) {
					var r bnResult
					for range b.N {
						r = bnRun(b, loss, flows, st.hosts(b, st.cc))
					}
					b.ReportMetric(100*r.total()/bnRate, "%link")
					b.ReportMetric(float64(r.retrans), "retrans")
					b.ReportMetric(float64(r.rtos), "rtos")
					b.ReportMetric(float64(r.queueDrops), "qdrops")
					b.ReportMetric(float64(r.lost), "lost")
					if flows > 1 {
						b.ReportMetric(r.jain(), "jain")
					}
					res[key{st.name, loss, flows}] = r
				})
			}
		}
	}
	var t strings.Builder
	fmt.Fprintf(&t, "\n100 Mbit/s, %v RTT, drop-tail queue %d kB each way, random loss both ways, seed %d; goodput over %v after %v, %% of the link\n\n",
		bnRTT, bnQueue/1000, bnSeed, bnMeasure, bnWarmup)
	fmt.Fprintf(&t, "| scenario |")
	for _, st := range bnStacks {
		fmt.Fprintf(&t, " %s |", st.name)
	}
	fmt.Fprintf(&t, "\n| --- |%s\n", strings.Repeat(" ---: |", len(bnStacks)))
	for _, flows := range []int{1, 2} {
		for _, loss := range bnLosses {
			if flows == 1 {
				fmt.Fprintf(&t, "| 1 flow, %g%% loss |", loss*100)
			} else {
				fmt.Fprintf(&t, "| 2 flows, %g%% loss: total (Jain) |", loss*100)
			}
			for _, st := range bnStacks {
				r, ok := res[key{st.name, loss, flows}]
				switch {
				case !ok:
					fmt.Fprintf(&t, " - |")
				case flows == 1:
					fmt.Fprintf(&t, " %.1f |", 100*r.total()/bnRate)
				default:
					fmt.Fprintf(&t, " %.1f (%.3f) |", 100*r.total()/bnRate, r.jain())
				}
			}
			fmt.Fprintln(&t)
		}
	}
	b.Log(t.String())
	fmt.Print(t.String())
}
