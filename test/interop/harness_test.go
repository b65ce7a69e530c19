package interop

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	gethernet "gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	garp "gvisor.dev/gvisor/pkg/tcpip/network/arp"
	gipv4 "gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	gipv6 "gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	gtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

var pcapDir = flag.String("interop.pcap", "",
	"directory to keep the pcaps of every run in (go test ./test/interop/ -args -interop.pcap=DIR); by default only a failing run's are kept, in the system temp directory")

const (
	linkMTU = nic.DefaultMTU
	// pipeQueueLen bounds the frames in flight per direction. gVisor's send
	// buffer (1 MiB by default) can put ~700 full frames in flight; the
	// bound is set well above that so that queue overflow does not add loss
	// the seed does not decide.
	pipeQueueLen = 4096
	gvisorNIC    = tcpip.NICID(1)
	serverPort   = 5001

	// rtoMin is the minimum RTO of both stacks. Linux's (and both stacks'
	// default) 200 ms floor is there for real paths whose RTT varies; the
	// pipe's RTT is well under a millisecond, and at 5% loss a transfer
	// spends most of its time in RTO waits, so the floor is lowered to keep
	// the package's run time down. It stays above tapstack's 40 ms delayed
	// ACK so that a delayed ACK never looks like a loss.
	rtoMin = 50 * time.Millisecond
	// rtoInitial is tapstack's RTO before the first RTT sample (RFC 6298
	// §2.1 says 1 s): lowered for the same reason, since a lost SYN or first
	// segment would otherwise cost a second. gVisor has no such option; its
	// SYN RTO stays at 1 s.
	rtoInitial = 200 * time.Millisecond
)

var (
	tapPrefix = netip.MustParsePrefix("10.0.0.2/24")
	gvAddr    = netip.MustParseAddr("10.0.0.1")
	// gvLL is gVisor's IPv6 address in the IPv6 cases (newLink with v6);
	// tapstack's is its EUI-64 link-local address (Stack.LinkLocal).
	gvLL = netip.MustParseAddr("fe80::1")
)

// link is tapstack and gVisor joined by an impaired Pipe: tapstack owns end
// A (10.0.0.2), gVisor end B (10.0.0.1).
type link struct {
	t      testing.TB
	tapEnd *nic.PipeEnd
	gvEnd  *nic.PipeEnd
	gvDev  nic.Device // gvEnd as recorded to gvCap; the pumps use it
	tap    *stack.Stack
	gv     *gstack.Stack
	ch     *channel.Endpoint

	cancelPumps context.CancelFunc
	pumps       sync.WaitGroup

	// Each end of the link is recorded as its stack sees it: tapCap has
	// what tapstack wrote (before the pipe's impairments) and read (after
	// them), gvCap the same for gVisor. Together they show each frame's
	// fate.
	tapCap, gvCap *capture
	// tapRST and gvRST watch the FINs and RSTs each stack sends.
	tapRST, gvRST finRST

	closeOnce sync.Once
	// tapStats is tapstack's last snapshot, taken after it was closed.
	tapStats stack.Stats
	// gvResetsSent is gVisor's ResetsSent, read once tapstack and the
	// pumps had stopped and before gVisor was closed (gVisor's Close aborts
	// what is left, with RSTs that never reach the link).
	gvResetsSent uint64
}

// newLink builds both stacks on a pipe whose two directions both have the
// impairment im, with the PRNGs seeded by seed, and starts them. It records
// both ends of the link to pcaps. Cleanup closes everything.
func newLink(t testing.TB, seed uint64, im nic.Impairment) *link {
	return newLinkFamily(t, seed, im, false)
}

// newLinkFamily is newLink; with v6 gVisor speaks IPv6 too, from gvLL.
func newLinkFamily(t testing.TB, seed uint64, im nic.Impairment, v6 bool) *link {
	t.Helper()
	l := &link{t: t}
	l.tapEnd, l.gvEnd = nic.NewPipe(nic.PipeConfig{
		MTU:      linkMTU,
		QueueLen: pipeQueueLen,
		Seed:     seed,
		AtoB:     im,
		BtoA:     im,
	})

	dir := *pcapDir
	if dir == "" {
		dir = t.TempDir()
	}
	var dev nic.Device
	l.tapCap, dev = newCapture(t, dir, "tapstack", l.tapEnd)
	l.gvCap, l.gvDev = newCapture(t, dir, "gvisor", l.gvEnd)

	tcpCfg := tcp.DefaultConfig()
	tcpCfg.MSS = linkMTU - header.IPv4MinimumSize - header.TCPMinimumSize
	tcpCfg.RTOMin = rtoMin
	tcpCfg.RTOInitial = rtoInitial
	var err error
	l.tap, err = stack.New(watchDevice{Device: dev, w: &l.tapRST}, stack.Config{
		Addr:   tapPrefix,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		TCP:    tcpCfg,
		// The link-local address usable at once (RFC 4862 DAD off), as
		// gVisor's end, which does no DAD either.
		DupAddrDetectTransmits: -1,
	})
	if err != nil {
		t.Fatalf("tapstack: %v", err)
	}

	// The gVisor end: the channel's MTU counts the Ethernet header
	// (link/ethernet subtracts it); the queue is as deep as the pipe's.
	var ll netip.Addr
	if v6 {
		ll = gvLL
	}
	gv := newGVNode(t, l.gvDev, gvAddr, ll)
	gv.observe = l.gvRST.observe
	l.gv, l.ch = gv.st, gv.ch

	ctx, cancel := context.WithCancel(context.Background())
	l.cancelPumps = cancel
	l.pumps.Add(2)
	go func() { defer l.pumps.Done(); gv.pumpIn() }()
	go func() { defer l.pumps.Done(); gv.pumpOut(ctx) }()
	l.tap.Start()
	t.Cleanup(func() {
		l.close()
		// After the test body, so that t.Failed() covers every check.
		l.tapCap.finish(t)
		l.gvCap.finish(t)
	})
	return l
}

// capture records one end of the link to a pcap file.
type capture struct {
	path string
	file *os.File
	buf  *bufio.Writer
}

// newCapture wraps dev so that what crosses it is recorded to
// dir/<side>-<test name>.pcap.
func newCapture(t testing.TB, dir, side string, dev nic.Device) (*capture, nic.Device) {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	c := &capture{path: filepath.Join(dir, side+"-"+name+".pcap")}
	f, err := os.Create(c.path)
	if err != nil {
		t.Fatalf("pcap: %v", err)
	}
	c.file, c.buf = f, bufio.NewWriterSize(f, 1<<20)
	wrapped, err := nic.NewPcap(dev, c.buf, nil)
	if err != nil {
		t.Fatalf("pcap: %v", err)
	}
	return c, wrapped
}

// finish flushes and closes the file; for a failing test it copies it to
// the system temp directory, unless -interop.pcap already keeps it.
func (c *capture) finish(t testing.TB) {
	if err := c.buf.Flush(); err != nil {
		t.Errorf("pcap: %v", err)
	}
	if err := c.file.Close(); err != nil {
		t.Errorf("pcap: %v", err)
	}
	switch {
	case *pcapDir != "":
		t.Logf("pcap: %s", c.path)
	case t.Failed():
		kept := filepath.Join(os.TempDir(), fmt.Sprintf("%s-%d.pcap", strings.TrimSuffix(filepath.Base(c.path), ".pcap"), time.Now().Unix()))
		if err := copyFile(kept, c.path); err != nil {
			t.Logf("keeping the pcap: %v", err)
		} else {
			t.Logf("pcap of the failing run: %s", kept)
		}
	}
}

// gvNode is one gVisor stack on one end of a Pipe, with the two pumps
// that move frames between its channel endpoint and the pipe end.
type gvNode struct {
	dev nic.Device
	st  *gstack.Stack
	ch  *channel.Endpoint
	// observe, if set, sees every frame gVisor sends before the pipe does.
	observe func([]byte)
}

// newGVNode starts gVisor on dev with the IPv4 address addr and, if ll is
// valid, IPv6 with the address ll (no duplicate address detection, so it
// is usable at once).
func newGVNode(t testing.TB, dev nic.Device, addr, ll netip.Addr) *gvNode {
	t.Helper()
	n := &gvNode{dev: dev}
	protos := []gstack.NetworkProtocolFactory{gipv4.NewProtocol, garp.NewProtocol}
	if ll.IsValid() {
		protos = append(protos, gipv6.NewProtocolWithOptions(gipv6.Options{DADConfigs: gstack.DADConfigurations{DupAddrDetectTransmits: 0}}))
	}
	n.st = gstack.New(gstack.Options{
		NetworkProtocols:   protos,
		TransportProtocols: []gstack.TransportProtocolFactory{gtcp.NewProtocol},
	})
	minRTO := tcpip.TCPMinRTOOption(rtoMin)
	if err := n.st.SetTransportProtocolOption(gtcp.ProtocolNumber, &minRTO); err != nil {
		t.Fatalf("gVisor: TCPMinRTOOption: %v", err)
	}
	mac := dev.Info().MAC
	n.ch = channel.New(pipeQueueLen, uint32(linkMTU+header.EthernetMinimumSize), tcpip.LinkAddress(mac[:]))
	if err := n.st.CreateNIC(gvisorNIC, gethernet.New(n.ch)); err != nil {
		t.Fatalf("gVisor: CreateNIC: %v", err)
	}
	a := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(addr.As4()), PrefixLen: tapPrefix.Bits()}
	if err := n.st.AddProtocolAddress(gvisorNIC, tcpip.ProtocolAddress{Protocol: gipv4.ProtocolNumber, AddressWithPrefix: a}, gstack.AddressProperties{}); err != nil {
		t.Fatalf("gVisor: AddProtocolAddress: %v", err)
	}
	routes := []tcpip.Route{{Destination: a.Subnet(), NIC: gvisorNIC}}
	if ll.IsValid() {
		a6 := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom16(ll.As16()), PrefixLen: 64}
		if err := n.st.AddProtocolAddress(gvisorNIC, tcpip.ProtocolAddress{Protocol: gipv6.ProtocolNumber, AddressWithPrefix: a6}, gstack.AddressProperties{}); err != nil {
			t.Fatalf("gVisor: AddProtocolAddress %v: %v", ll, err)
		}
		routes = append(routes, tcpip.Route{Destination: a6.Subnet(), NIC: gvisorNIC})
	}
	n.st.SetRouteTable(routes)
	return n
}

// pumpIn moves frames from the pipe into gVisor until the pipe closes.
// gVisor processes each frame inline.
func (n *gvNode) pumpIn() {
	frames := make([]nic.Frame, 64)
	bufs := make([][]byte, len(frames))
	for i := range bufs {
		bufs[i] = make([]byte, n.dev.Info().MaxFrame)
	}
	for {
		for i := range frames {
			frames[i] = nic.Frame{Data: bufs[i]}
		}
		k, err := n.dev.Read(frames)
		if err != nil {
			return
		}
		for _, f := range frames[:k] {
			// MakeWithData copies; link/ethernet reads the EtherType from
			// the frame, so the protocol argument is ignored.
			pkt := gstack.NewPacketBuffer(gstack.PacketBufferOptions{Payload: buffer.MakeWithData(f.Data)})
			n.ch.InjectInbound(0, pkt)
			pkt.DecRef()
		}
	}
}

// pumpOut moves what gVisor sends into the pipe until ctx ends or the
// pipe closes.
func (n *gvNode) pumpOut(ctx context.Context) {
	frames := make([]nic.Frame, 64)
	bufs := make([][]byte, len(frames))
	for {
		pkt := n.ch.ReadContext(ctx)
		k := 0
		for pkt != nil {
			b := bufs[k][:0]
			for _, s := range pkt.AsSlices() {
				b = append(b, s...)
			}
			pkt.DecRef()
			if n.observe != nil {
				n.observe(b)
			}
			bufs[k] = b
			frames[k] = nic.Frame{Data: b}
			if k++; k == len(frames) {
				break
			}
			pkt = n.ch.Read()
		}
		if k == 0 {
			return
		}
		if _, err := n.dev.Write(frames[:k]); err != nil {
			return
		}
	}
}

// close tears the link down: tapstack first (its snapshot of counters is
// then final, and closing its device closes the whole pipe), then the
// pumps, then gVisor. It is idempotent.
func (l *link) close() {
	l.closeOnce.Do(func() {
		if err := l.tap.Close(); err != nil {
			l.t.Errorf("tapstack: Close: %v", err)
		}
		l.tapStats = l.tap.Stats()
		l.cancelPumps()
		l.pumps.Wait()
		// What gVisor sent that the pump did not take never reached the
		// pipe, but gVisor counted it: show it to the watcher too.
		for pkt := l.ch.Read(); pkt != nil; pkt = l.ch.Read() {
			var b []byte
			for _, s := range pkt.AsSlices() {
				b = append(b, s...)
			}
			pkt.DecRef()
			l.gvRST.observe(b)
		}
		l.gvResetsSent = l.gv.Stats().TCP.ResetsSent.Value()
		l.gv.Close()
		l.gv.Wait()
		l.ch.Close()

		if err := l.gvDev.Close(); err != nil { // the pipe is closed already: this reports recording errors
			l.t.Errorf("gVisor side: %v", err)
		}
	})
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// dump describes both stacks for a failure message: counters, every TCP
// connection's state and congestion variables, and the pipe's counters.
func (l *link) dump() string {
	var b strings.Builder
	st := l.tap.Stats()
	fmt.Fprintf(&b, "tapstack TCP:  %+v\n", st.TCP)
	fmt.Fprintf(&b, "tapstack IPv4: in=%d delivered=%d out=%d discards=%d\n", st.IPv4.InReceives, st.IPv4.InDelivers, st.IPv4.OutRequests, st.IPv4.OutDiscards)
	fmt.Fprintf(&b, "tapstack link: %+v\n", st.Link)
	fmt.Fprintf(&b, "tapstack ARP:  %+v\n", st.ARP)
	for _, c := range l.tap.TCPConnections() {
		fmt.Fprintf(&b, "tapstack conn %v -> %v: %v SRTT=%v RTTVar=%v RTO=%v cwnd=%d ssthresh=%d sndWnd=%d rcvWnd=%d MSS=%d sent=%d received=%d retransmits=%d\n",
			c.Local, c.Remote, c.State, c.SRTT, c.RTTVar, c.RTO, c.Cwnd, c.Ssthresh, c.SndWnd, c.RcvWnd, c.MSS, c.BytesSent, c.BytesReceived, c.Retransmits)
	}
	fmt.Fprintf(&b, "gVisor TCP:    %s\n", nonZeroCounters(l.gv.Stats().TCP))
	for _, ep := range l.gv.RegisteredEndpoints() {
		e, ok := ep.(tcpip.Endpoint)
		if !ok {
			continue
		}
		var info tcpip.TCPInfoOption
		if err := e.GetSockOpt(&info); err != nil {
			continue
		}
		var id gstack.TransportEndpointID
		if ti, ok := e.Info().(*gstack.TransportEndpointInfo); ok {
			id = ti.ID
		}
		fmt.Fprintf(&b, "gVisor endpoint :%d -> %v:%d: %v RTT=%v RTTVar=%v RTO=%v cc=%s cwnd=%d segs ssthresh=%d reorderSeen=%v\n",
			id.LocalPort, id.RemoteAddress, id.RemotePort, gtcp.EndpointState(info.State), info.RTT, info.RTTVar, info.RTO,
			ccStateName(info.CcState), info.SndCwnd, info.SndSsthresh, info.ReorderSeen)
	}
	fmt.Fprintf(&b, "pipe tapstack->gVisor: %+v\n", l.tapEnd.Stats())
	fmt.Fprintf(&b, "pipe gVisor->tapstack: %+v\n", l.gvEnd.Stats())
	return b.String()
}

// nonZeroCounters lists the non-zero *tcpip.StatCounter fields of a gVisor
// stats struct, sorted by name.
func nonZeroCounters(s any) string {
	v := reflect.ValueOf(s)
	var out []string
	for i := 0; i < v.NumField(); i++ {
		c, ok := v.Field(i).Interface().(*tcpip.StatCounter)
		if !ok || c == nil || c.Value() == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s=%d", v.Type().Field(i).Name, c.Value()))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func ccStateName(s tcpip.CongestionControlState) string {
	names := []string{tcpip.Open: "Open", tcpip.RTORecovery: "RTORecovery", tcpip.FastRecovery: "FastRecovery", tcpip.SACKRecovery: "SACKRecovery", tcpip.Disorder: "Disorder"}
	if int(s) >= 0 && int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprint(int(s))
}
