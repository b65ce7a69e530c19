package interop

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	gethernet "gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	garp "gvisor.dev/gvisor/pkg/tcpip/network/arp"
	gipv4 "gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	gtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/tapstack/tapstack/nic"
)

// TestInterop_GVisorReference is the yardstick for the figures the
// matrix logs: gVisor sending to gVisor over the same Pipe, with the same
// impairment, seed and size as the matrix's tapstack → gVisor case
// (TapstackClientGVisorServer/client_sends) at 1% and 5% loss, and as
// Loss10/tapstack_sends at 10%. It checks the data and logs the
// throughput; it asserts nothing about speed.
//
// One run prints tapstack → gVisor, gVisor → tapstack and gVisor → gVisor
// at 1%, 5% and 10%:
//
//	go test -v -count 3 -run 'Interop_(TapstackClient|GVisorClient|Loss10|GVisorReference)' ./test/interop/ | grep -E '^=== NAME|MiB/s'
func TestInterop_GVisorReference(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		im   nic.Impairment
		seed uint64
		size int
	}{
		{"loss1", impairments[1].im, 1000 + 1 + 1, transferSize()},
		{"loss5", impairments[2].im, 1000 + 2 + 1, transferSize()},
		{"loss10", heavyLoss, 2001, heavyLossSize},
	} {
		t.Run(c.name, func(t *testing.T) {
			runGVisorPair(t, c.seed, c.im, c.size)
		})
	}
}

// gvNode is one gVisor stack on one end of a Pipe, with the two pumps
// that move frames between its channel endpoint and the pipe end.
type gvNode struct {
	dev nic.Device
	st  *gstack.Stack
	ch  *channel.Endpoint
}

func newGVNode(t *testing.T, dev nic.Device, addr netip.Addr) *gvNode {
	t.Helper()
	n := &gvNode{dev: dev}
	n.st = gstack.New(gstack.Options{
		NetworkProtocols:   []gstack.NetworkProtocolFactory{gipv4.NewProtocol, garp.NewProtocol},
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
	n.st.SetRouteTable([]tcpip.Route{{Destination: a.Subnet(), NIC: gvisorNIC}})
	return n
}

// pumpIn moves frames from the pipe into gVisor until the pipe closes.
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

// runGVisorPair moves size bytes from a gVisor client (end A, 10.0.0.2) to
// a gVisor server (end B, 10.0.0.1) over a Pipe impaired by im each way,
// checks them by SHA-256 and logs the throughput as runTransfer does.
func runGVisorPair(t *testing.T, seed uint64, im nic.Impairment, size int) {
	a, b := nic.NewPipe(nic.PipeConfig{MTU: linkMTU, QueueLen: pipeQueueLen, Seed: seed, AtoB: im, BtoA: im})
	client := newGVNode(t, a, tapPrefix.Addr())
	server := newGVNode(t, b, gvAddr)
	ctx, cancelPumps := context.WithCancel(context.Background())
	var pumps sync.WaitGroup
	for _, n := range []*gvNode{client, server} {
		pumps.Add(2)
		go func() { defer pumps.Done(); n.pumpIn() }()
		go func() { defer pumps.Done(); n.pumpOut(ctx) }()
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
		cancelPumps()
		pumps.Wait()
		for _, n := range []*gvNode{client, server} {
			n.st.Close()
			n.st.Wait()
			n.ch.Close()
		}
	})
	t.Logf("seed %d, impairment each way %+v", seed, im)

	data := payload()[:size]
	want := sha256.Sum256(data)
	tctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	ln, err := gonet.ListenTCP(server.st, tcpip.FullAddress{NIC: gvisorNIC, Port: serverPort}, gipv4.ProtocolNumber)
	if err != nil {
		t.Fatalf("gVisor: listen: %v", err)
	}
	var sent, recvd atomic.Int64
	results := make(chan result, 2)
	start := time.Now()
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			results <- result{role: "gVisor server", err: fmt.Errorf("accept: %w", err)}
			return
		}
		results <- receive("gVisor", c, &recvd)
	}()
	go func() {
		c, err := gonet.DialContextTCP(tctx, client.st, tcpip.FullAddress{NIC: gvisorNIC, Addr: tcpip.AddrFrom4(gvAddr.As4()), Port: serverPort}, gipv4.ProtocolNumber)
		if err != nil {
			ln.Close()
			results <- result{role: "gVisor client", err: fmt.Errorf("dial: %w", err)}
			return
		}
		results <- send("gVisor", c, data, &sent)
	}()
	for range 2 {
		select {
		case r := <-results:
			if r.err != nil {
				t.Errorf("%s: %v", r.role, r.err)
			}
			if r.role == "gVisor receiver" && (r.n != int64(size) || r.sum != want) {
				t.Errorf("receiver read %d bytes with SHA-256 %x, want %d bytes with %x", r.n, r.sum, size, want)
			}
		case <-tctx.Done():
			t.Fatalf("gVisor → gVisor transfer of %d bytes did not complete within %v: sender wrote %d, receiver read %d",
				size, transferTimeout, sent.Load(), recvd.Load())
		}
	}
	if t.Failed() {
		return
	}
	elapsed := time.Since(start)
	t.Logf("gVisor → gVisor: %d bytes in %v (handshake to close), %.1f MiB/s",
		size, elapsed.Round(time.Millisecond), float64(size)/(1<<20)/elapsed.Seconds())
}
