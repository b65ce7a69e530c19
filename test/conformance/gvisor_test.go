package conformance

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	gethernet "gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	garp "gvisor.dev/gvisor/pkg/tcpip/network/arp"
	gipv4 "gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	gicmp "gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	gudp "gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

const gvisorNIC tcpip.NICID = 1

// gvisorTarget is gVisor's netstack with ARP, IPv4, ICMP and UDP on a
// link/channel endpoint wrapped by link/ethernet, so frames go in and come
// out with their Ethernet header, and a faketime.ManualClock.
type gvisorTarget struct {
	t   testing.TB
	clk *faketime.ManualClock
	st  *gstack.Stack
	ch  *channel.Endpoint
}

func newGvisorTarget(t testing.TB) *gvisorTarget {
	t.Helper()
	clk := faketime.NewManualClock()
	st := gstack.New(gstack.Options{
		NetworkProtocols:   []gstack.NetworkProtocolFactory{gipv4.NewProtocol, garp.NewProtocol},
		TransportProtocols: []gstack.TransportProtocolFactory{gudp.NewProtocol, gicmp.NewProtocol4},
		Clock:              clk,
	})
	// The channel's MTU counts the Ethernet header: link/ethernet subtracts it.
	ch := channel.New(1024, uint32(linkMTU+header.EthernetMinimumSize), tcpip.LinkAddress(stackMAC[:]))
	if err := st.CreateNIC(gvisorNIC, gethernet.New(ch)); err != nil {
		t.Fatalf("gVisor: CreateNIC: %v", err)
	}
	addr := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(stackIP.As4()), PrefixLen: stackNet.Bits()}
	if err := st.AddProtocolAddress(gvisorNIC, tcpip.ProtocolAddress{Protocol: gipv4.ProtocolNumber, AddressWithPrefix: addr}, gstack.AddressProperties{}); err != nil {
		t.Fatalf("gVisor: AddProtocolAddress: %v", err)
	}
	st.SetRouteTable([]tcpip.Route{
		{Destination: addr.Subnet(), NIC: gvisorNIC},
		{Destination: header.IPv4EmptySubnet, Gateway: tcpip.AddrFrom4(peerIP.As4()), NIC: gvisorNIC},
	})
	x := &gvisorTarget{t: t, clk: clk, st: st, ch: ch}
	// Whatever the stack sends on its own when the NIC comes up (nothing is
	// expected) is not part of any script.
	x.drain()
	return x
}

func (*gvisorTarget) name() string { return "gVisor" }

func (x *gvisorTarget) inject(frame []byte) {
	pkt := gstack.NewPacketBuffer(gstack.PacketBufferOptions{Payload: buffer.MakeWithData(append([]byte(nil), frame...))})
	defer pkt.DecRef()
	// link/ethernet reads the EtherType from the frame; the protocol
	// argument is ignored.
	x.ch.InjectInbound(0, pkt)
}

func (x *gvisorTarget) advance(d time.Duration) { x.clk.Advance(d) }

func (x *gvisorTarget) drain() [][]byte {
	// Timers armed for "now" run on their own goroutines; wait for them.
	x.clk.RunImmediatelyScheduledJobs()
	var out [][]byte
	for {
		pkt := x.ch.Read()
		if pkt == nil {
			return out
		}
		v := pkt.ToView()
		out = append(out, append([]byte(nil), v.AsSlice()...))
		v.Release()
		pkt.DecRef()
	}
}

func (x *gvisorTarget) listenUDP(port uint16) udpSocket {
	x.t.Helper()
	var wq waiter.Queue
	ep, err := x.st.NewEndpoint(gudp.ProtocolNumber, gipv4.ProtocolNumber, &wq)
	if err != nil {
		x.t.Fatalf("gVisor: NewEndpoint(udp): %v", err)
	}
	if err := ep.Bind(tcpip.FullAddress{Port: port}); err != nil {
		x.t.Fatalf("gVisor: bind :%d: %v", port, err)
	}
	x.t.Cleanup(ep.Close)
	return gvisorUDP{t: x.t, ep: ep}
}

func (x *gvisorTarget) close() {
	x.st.Close()
	x.st.Wait()
	x.ch.Close()
}

type gvisorUDP struct {
	t  testing.TB
	ep tcpip.Endpoint
}

func (s gvisorUDP) tryRecv() ([]byte, netip.AddrPort, bool) {
	var buf bytes.Buffer
	res, err := s.ep.Read(&buf, tcpip.ReadOptions{NeedRemoteAddr: true})
	if _, ok := err.(*tcpip.ErrWouldBlock); ok {
		return nil, netip.AddrPort{}, false
	}
	if err != nil {
		s.t.Fatalf("gVisor: read: %v", err)
	}
	a := res.RemoteAddr.Addr.As4()
	return buf.Bytes(), netip.AddrPortFrom(netip.AddrFrom4(a), res.RemoteAddr.Port), true
}
