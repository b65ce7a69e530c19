package conformance

import (
	"bytes"
	"fmt"
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

	"github.com/tapstack/tapstack/socket"
)

const gvisorNIC tcpip.NICID = 1

// gvisorTCP is gVisor's TCP, set by gvisor_tcp_test.go. Kept as a
// variable so a build without it (nil) skips the TCP scripts instead of
// failing to link.
var gvisorTCP gstack.TransportProtocolFactory

// gvisorTarget is gVisor's netstack with ARP, IPv4, ICMP and UDP on a
// link/channel endpoint wrapped by link/ethernet, so frames go in and come
// out with their Ethernet header, and a faketime.ManualClock.
type gvisorTarget struct {
	t   testing.TB
	clk *faketime.ManualClock
	st  *gstack.Stack
	ch  *channel.Endpoint
}

func newGvisorTarget(t testing.TB, tc targetConfig) *gvisorTarget {
	t.Helper()
	clk := faketime.NewManualClock()
	transports := []gstack.TransportProtocolFactory{gudp.NewProtocol, gicmp.NewProtocol4}
	if gvisorTCP != nil {
		transports = append(transports, gvisorTCP)
	}
	st := gstack.New(gstack.Options{
		NetworkProtocols:   []gstack.NetworkProtocolFactory{gipv4.NewProtocol, garp.NewProtocol},
		TransportProtocols: transports,
		Clock:              clk,
	})
	// TCP is configured as tapstack is (tcp.DefaultConfig): SACK on (both
	// offer SACK-permitted on their SYNs, and on a SYN-ACK only when the
	// SYN had it, RFC 2018 §2) and a 1 MiB receive buffer, so that both
	// offer window scale 5. gVisor offers timestamps on its own SYN
	// whatever its options; see normalizeSYNTimestamps.
	sack := tcpip.TCPSACKEnabled(true)
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: tcpDefaultRcvBuf, Max: tcpDefaultRcvBuf}
	cookies := tcpip.TCPAlwaysUseSynCookies(tc.synCookiesAlways)
	for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &rcv, &cookies} {
		if gvisorTCP == nil {
			break
		}
		if err := st.SetTransportProtocolOption(header.TCPProtocolNumber, opt); err != nil {
			t.Fatalf("gVisor: TCP option %T: %v", opt, err)
		}
	}
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
	// One frame at a time, as tapstack's HandleFrame: otherwise gVisor's
	// TCP processor could see several queued segments at once and answer
	// them with one ACK.
	x.settle()
}

func (x *gvisorTarget) advance(d time.Duration) { x.clk.Advance(d) }

func (x *gvisorTarget) drain() [][]byte {
	x.settle()
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

// settle waits until gVisor has done everything the last step caused.
// Timers armed for "now" run on their own goroutines, and TCP segments are
// processed by the dispatcher's processor goroutines: Pause returns only
// once every processor's queue is empty, so a Pause/Resume round is a
// barrier. One round's work may queue more (a timer sending a segment, a
// processed segment arming a timer for now); a few rounds reach quiet.
func (x *gvisorTarget) settle() {
	for range 3 {
		x.clk.RunImmediatelyScheduledJobs()
		x.st.Pause()
		x.st.Resume()
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

func (x *gvisorTarget) tcpEndpoint() (tcpip.Endpoint, *waiter.Queue) {
	x.t.Helper()
	var wq waiter.Queue
	if gvisorTCP == nil {
		x.t.Fatal("gVisor: TCP is not linked in (see gvisorTCP)")
	}
	ep, err := x.st.NewEndpoint(header.TCPProtocolNumber, gipv4.ProtocolNumber, &wq)
	if err != nil {
		x.t.Fatalf("gVisor: NewEndpoint(tcp): %v", err)
	}
	return ep, &wq
}

func (x *gvisorTarget) listenTCP(port uint16, backlog, rcvBuf int) tcpListener {
	x.t.Helper()
	ep, _ := x.tcpEndpoint()
	if rcvBuf != 0 {
		ep.SocketOptions().SetReceiveBufferSize(int64(rcvBuf), true)
	}
	if err := ep.Bind(tcpip.FullAddress{Port: port}); err != nil {
		x.t.Fatalf("gVisor: bind :%d: %v", port, err)
	}
	if err := ep.Listen(backlog); err != nil {
		x.t.Fatalf("gVisor: listen :%d: %v", port, err)
	}
	x.t.Cleanup(ep.Close)
	return gvisorListener{x, ep}
}

func (x *gvisorTarget) dialTCP(localPort uint16, remote netip.AddrPort) (tcpConn, string) {
	x.t.Helper()
	ep, _ := x.tcpEndpoint()
	if err := ep.Bind(tcpip.FullAddress{Port: localPort}); err != nil {
		x.t.Fatalf("gVisor: bind :%d: %v", localPort, err)
	}
	x.t.Cleanup(ep.Close)
	err := ep.Connect(tcpip.FullAddress{Addr: tcpip.AddrFrom4(remote.Addr().As4()), Port: remote.Port()})
	return gvisorConn{x, ep}, tcpipString(err)
}

type gvisorListener struct {
	x  *gvisorTarget
	ep tcpip.Endpoint
}

func (l gvisorListener) accept() (tcpConn, string) {
	l.x.settle()
	c, _, err := l.ep.Accept(nil)
	if err != nil {
		return nil, tcpipString(err)
	}
	l.x.t.Cleanup(c.Close)
	return gvisorConn{l.x, c}, "ok"
}

func (l gvisorListener) close() { l.ep.Close() }

type gvisorConn struct {
	x  *gvisorTarget
	ep tcpip.Endpoint
}

func (c gvisorConn) write(b []byte) (int, string) {
	c.x.settle()
	var r bytes.Reader
	r.Reset(b)
	n, err := c.ep.Write(&r, tcpip.WriteOptions{})
	return int(n), tcpipString(err)
}

func (c gvisorConn) read(n int) ([]byte, string) {
	c.x.settle()
	var buf bytes.Buffer
	_, err := c.ep.Read(&tcpip.LimitedWriter{W: &buf, N: int64(n)}, tcpip.ReadOptions{})
	if err != nil {
		return nil, tcpipString(err)
	}
	return buf.Bytes(), "ok"
}

func (c gvisorConn) shutdownWrite() string { return tcpipString(c.ep.Shutdown(tcpip.ShutdownWrite)) }
func (c gvisorConn) close() string         { c.ep.Close(); return "ok" }

func (c gvisorConn) abort() string {
	c.ep.SocketOptions().SetLinger(tcpip.LingerOption{Enabled: true, Timeout: 0})
	c.ep.Close()
	return "ok"
}

func (c gvisorConn) noDelay() string { c.ep.SocketOptions().SetDelayOption(false); return "ok" }

func (c gvisorConn) status() string {
	c.x.settle()
	so := "0"
	if err := c.ep.LastError(); err != nil {
		so = tcpipString(err)
	}
	ev := c.ep.Readiness(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventErr | waiter.EventHUp)
	var revents int16
	for _, m := range []struct {
		ev  waiter.EventMask
		bit int16
	}{{waiter.ReadableEvents, socket.POLLIN}, {waiter.WritableEvents, socket.POLLOUT}, {waiter.EventErr, socket.POLLERR}, {waiter.EventHUp, socket.POLLHUP}} {
		if ev&m.ev != 0 {
			revents |= m.bit
		}
	}
	return fmt.Sprintf("SO_ERROR=%s %s", so, pollString(revents))
}

// tcpipString renders a gVisor error as the errno Linux (and gVisor's
// sentry, syserr.TranslateNetstackError) gives for it.
func tcpipString(err tcpip.Error) string {
	switch err.(type) {
	case nil:
		return "ok"
	case *tcpip.ErrWouldBlock:
		return "EAGAIN"
	case *tcpip.ErrConnectStarted:
		return "EINPROGRESS"
	case *tcpip.ErrConnectionRefused:
		return "ECONNREFUSED"
	case *tcpip.ErrConnectionReset:
		return "ECONNRESET"
	case *tcpip.ErrConnectionAborted:
		return "ECONNABORTED"
	case *tcpip.ErrClosedForSend:
		return "EPIPE"
	case *tcpip.ErrClosedForReceive:
		return "EOF"
	case *tcpip.ErrNotConnected:
		return "ENOTCONN"
	case *tcpip.ErrTimeout:
		return "ETIMEDOUT"
	case *tcpip.ErrInvalidEndpointState:
		return "EINVAL"
	case *tcpip.ErrAlreadyConnecting:
		return "EALREADY"
	case *tcpip.ErrAlreadyConnected:
		return "EISCONN"
	case *tcpip.ErrHostUnreachable:
		return "EHOSTUNREACH"
	case *tcpip.ErrNetworkUnreachable:
		return "ENETUNREACH"
	}
	return fmt.Sprintf("gVisor %T: %v", err, err)
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
