package stack_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The stack on an IP link (a TUN, or an IP Pipe): no Ethernet header and
// no ARP; each frame is one IP packet, told apart by its version nibble.

// ipLink makes newEnv's pipe an IP link: bare packets, no MACs.
func ipLink(_ *stack.Config, p *nic.PipeConfig) {
	p.Link, p.MACA, p.MACB = nic.LinkIP, [6]byte{}, [6]byte{}
}

// bare strips the Ethernet header from a frame the harness's builders
// made: the packet as the peer sends it on an IP link.
func bare(frame []byte) []byte { return frame[ethernet.HeaderLen:] }

// nextPacket returns the next packet the stack sent on an IP link,
// failing unless it is, from its first byte, a valid IPv4 datagram.
func (e *env) nextPacket() ipv4.Header {
	e.t.Helper()
	p, ok := e.peer.TryRead()
	if !ok {
		e.t.Fatalf("the stack sent nothing; stats: %+v", e.st.Stats())
	}
	h, err := ipv4.Parse(p)
	if err != nil || len(h) != len(p) {
		e.t.Fatalf("the stack sent % x, not a bare IPv4 packet: %v", p[:min(len(p), 20)], err)
	}
	return h
}

func TestIPLink_EchoRequest_BareReplyCountedAsPackets(t *testing.T) {
	e := newEnv(t, ipLink)
	if e.st.MAC() != (ethernet.MAC{}) || e.st.MTU() != 1500 {
		t.Fatalf("MAC %v MTU %d, want no MAC and the device's MTU", e.st.MAC(), e.st.MTU())
	}
	req := bare(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(7, 1, []byte("ping"))))
	e.inject(req)
	h := e.nextPacket()
	m, err := ipv4.ParseICMP(h.Payload())
	if err != nil || m.Type() != ipv4.TypeEchoReply || h.Dst() != peerIP || h.Src() != stackIP || m.Ident() != 7 {
		t.Fatalf("reply %v -> %v %+v (%v), want an echo reply to the peer", h.Src(), h.Dst(), m, err)
	}
	e.none()
	// A 32-byte reply is sent as 32 bytes: no Ethernet header, no padding
	// to Ethernet's 60.
	l := e.st.Stats().Link
	if l.FramesIn != 1 || l.BytesIn != uint64(len(req)) || l.FramesOut != 1 || l.BytesOut != uint64(len(h)) || len(h) != 32 {
		t.Fatalf("link counters %+v for one %d-byte packet each way (reply %d bytes)", l, len(req), len(h))
	}
}

// The version nibble decides (drivers/net/tun.c, tun_get_user): IPv4 and
// IPv6 go to their paths (TestIPLink_IPv6_*), anything else (an Ethernet
// frame sent by mistake) is dropped and counted at the link, and an empty
// packet is malformed. None of them gets an answer.
func TestIPLink_NotIP_DroppedAndCounted(t *testing.T) {
	e := newEnv(t, ipLink)
	eth := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(7, 1, nil)) // destination MAC 02:...: version 0
	for name, tc := range map[string]struct {
		pkt  []byte
		want map[string]int64
	}{
		"Ethernet frame": {eth, map[string]int64{"Link.UnknownVersion": 1}},
		"empty":          {[]byte{}, map[string]int64{"Link.Malformed": 1}},
	} {
		tc.want["Link.FramesIn"] = 1
		if len(tc.pkt) > 0 {
			tc.want["Link.BytesIn"] = int64(len(tc.pkt))
		}
		e.expectCounted(name, tc.want, func() { e.inject(tc.pkt) })
		e.none()
	}
	if d := e.st.Stats().Drops(); d != 2 {
		t.Fatalf("Drops() = %d, want the 2 packets", d)
	}
}

// A point-to-point link has no link-layer broadcast: the IP destination
// alone marks a broadcast, and an echo request to the subnet broadcast
// is ignored as on Ethernet (Linux icmp_echo_ignore_broadcasts).
func TestIPLink_EchoToSubnetBroadcast_Ignored(t *testing.T) {
	e := newEnv(t, ipLink)
	req := bare(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Dst: netip.MustParseAddr("10.0.0.255")}, echoRequest(7, 1, nil)))
	e.inject(req)
	e.none()
	if st := e.st.Stats(); st.ICMP.InBroadcastEchos != 1 {
		t.Fatalf("ICMP counters %+v, want the echo counted as a broadcast", st.ICMP)
	}
}

// The debug record of a packet dropped on an IP link reads it as the IP
// packet it is, with no Ethernet fields.
func TestIPLink_DropRecord_ReadsThePacketAsIP(t *testing.T) {
	e, rec := newDebugEnv(t, slog.LevelDebug, ipLink)
	notUs := bare(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP, Dst: otherIP},
		udpDatagram(netip.AddrPortFrom(peerIP, 5000), netip.AddrPortFrom(otherIP, 53), nil)))
	v6 := append([]byte{0x60}, make([]byte, 47)...) // to ::, not ours
	v5 := append([]byte{0x50}, make([]byte, 47)...)
	for _, tc := range []struct {
		pkt  []byte
		want string
	}{
		{notUs, "drop layer=ipv4 reason=in_addr_errors src=10.0.0.1:5000 dst=10.0.0.77:53 proto=17 len=28"},
		{v6, "drop layer=ipv6 reason=in_addr_errors len=48"},
		{v5, "drop layer=link reason=unknown_ip_version len=48"},
	} {
		e.inject(tc.pkt)
		if got := rec.take("drop"); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("drop records %q, want [%q]", got, tc.want)
		}
	}
}

// Nothing on an IP link is resolved: Start sends no gratuitous ARP, and a
// datagram to an on-link host nobody has heard of, or to a host off-link,
// goes out at once as a bare packet to its destination. Larger than the
// MTU, it goes out in fragments of at most the MTU (RFC 791 §3.2).
func TestIPLink_NoARP_EveryDatagramStraightToTheDevice(t *testing.T) {
	e := newEnv(t, ipLink)
	e.st.Start()
	fd := bound(t, e, stackAP)
	for _, dst := range []netip.Addr{otherIP, remoteIP, peerIP} {
		if _, err := fd.SendTo([]byte("x"), 0, netip.AddrPortFrom(dst, 9)); err != nil {
			t.Fatalf("SendTo %v: %v", dst, err)
		}
		h := e.nextPacket()
		if h.Dst() != dst || h.Protocol() != ipv4.ProtoUDP || len(h) != ipv4.HeaderMinLen+8+1 {
			t.Fatalf("sent %d bytes of protocol %d to %v, want a 29-byte UDP datagram to %v", len(h), h.Protocol(), h.Dst(), dst)
		}
	}
	if _, err := fd.SendTo(pattern(3000), 0, netip.AddrPortFrom(peerIP, 9)); err != nil {
		t.Fatal(err)
	}
	total := 0
	for range 3 {
		h := e.nextPacket()
		if len(h) > 1500 {
			t.Fatalf("fragment of %d bytes on a 1500-byte link", len(h))
		}
		total += len(h.Payload())
	}
	e.none()
	if total != 8+3000 {
		t.Fatalf("fragments carry %d bytes, want 3008", total)
	}
	st := e.st.Stats()
	if st.ARP != (stack.ARPStats{}) || len(e.st.Neighbors()) != 0 {
		t.Fatalf("ARP counters %+v, neighbours %v: want no ARP at all", st.ARP, e.st.Neighbors())
	}
	if st.Link.FramesOut != 6 {
		t.Fatalf("FramesOut = %d, want 6 (3 datagrams, 3 fragments)", st.Link.FramesOut)
	}
}

// A stack's TCP on an IP link: the handshake, built in place with no
// header room, and the MSS from the device's MTU (RFC 9293 §3.7.1).
func TestIPLink_TCP_SYNAnsweredWithMSSFromTheMTU(t *testing.T) {
	e := newEnv(t, ipLink, func(_ *stack.Config, p *nic.PipeConfig) { p.MTU = 1280 })
	listening(t, e)
	e.inject(bare(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil)))
	h := e.nextPacket()
	seg, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
	if err != nil || seg.Flags != tcp.FlagSYN|tcp.FlagACK || seg.Ack != peerISS+1 || seg.Options.MSS != 1240 {
		t.Fatalf("reply %v (%v), want a SYN-ACK offering MSS 1240", &seg, err)
	}
}

// watchedDevice records every frame a stack writes: on an IP link each
// must be a bare IPv4 packet (version nibble 4), never ARP.
type watchedDevice struct {
	nic.Device
	mu      sync.Mutex
	packets int
	bad     [][]byte
}

func (d *watchedDevice) Write(fs []nic.Frame) (int, error) {
	d.mu.Lock()
	for _, f := range fs {
		d.packets++
		if len(f.Data) < ipv4.HeaderMinLen || f.Data[0]>>4 != 4 {
			d.bad = append(d.bad, append([]byte(nil), f.Data...))
		}
	}
	d.mu.Unlock()
	return d.Device.Write(fs)
}

// ipPair runs two stacks, 10.0.0.2 and 10.0.0.1, on an IP Pipe, each on
// its own receive loop and the real clock.
func ipPair(t *testing.T) (a, b *stack.Stack, wa, wb *watchedDevice) {
	t.Helper()
	pa, pb := nic.NewPipe(nic.PipeConfig{Link: nic.LinkIP, MTU: 1500})
	wa, wb = &watchedDevice{Device: pa}, &watchedDevice{Device: pb}
	log := slog.New(slog.DiscardHandler)
	var err error
	if a, err = stack.New(wa, stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: log}); err != nil {
		t.Fatal(err)
	}
	if b, err = stack.New(wb, stack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Logger: log}); err != nil {
		t.Fatal(err)
	}
	a.Start()
	b.Start()
	t.Cleanup(func() {
		a.Close()
		b.Close()
		for _, w := range []*watchedDevice{wa, wb} {
			if len(w.bad) > 0 {
				t.Errorf("%d of %d frames were not bare IPv4 packets; first % x", len(w.bad), w.packets, w.bad[0][:min(len(w.bad[0]), 20)])
			}
		}
		for _, s := range []*stack.Stack{a, b} {
			if st := s.Stats(); st.ARP != (stack.ARPStats{}) {
				t.Errorf("stack %v: ARP counters %+v on an IP link", s.Addr(), st.ARP)
			}
		}
	})
	return a, b, wa, wb
}

func TestIPLinkPair_Ping(t *testing.T) {
	a, _, _, _ := ipPair(t)
	p, err := a.NewPingEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.SendTo(echoRequest(0, 1, []byte("over the TUN")), netip.MustParseAddr("10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Readable():
	case <-time.After(10 * time.Second): // a hang guard
		t.Fatal("no echo reply within 10s")
	}
	buf := make([]byte, 100)
	n, from, err := p.TryRecvFrom(buf)
	m := ipv4.ICMP(buf[:n])
	if err != nil || from != netip.MustParseAddr("10.0.0.1") || m.Type() != ipv4.TypeEchoReply || !bytes.Equal(m[8:], []byte("over the TUN")) {
		t.Fatalf("TryRecvFrom = % x from %v, %v; want the echo reply from 10.0.0.1", buf[:n], from, err)
	}
}

// 4 MiB each way through TCP between two stacks on an IP link arrive
// intact (SHA-256), and every frame either stack wrote was a bare IPv4
// packet (ipPair's cleanup).
func TestIPLinkPair_TCPTransfer_HashChecked(t *testing.T) {
	a, b, wa, _ := ipPair(t)
	ln, err := socket.Listen(b, "tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // echo
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := socket.Dial(a, "tcp", "10.0.0.1:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute)) // a hang guard
	data := make([]byte, 4<<20)
	rand.Read(data)
	sent := sha256.Sum256(data)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		errc <- err
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("read back %d bytes, %v; want %d", n, err, len(data))
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sent[:]) {
		t.Fatalf("SHA-256 of the echoed bytes %x, want %x", got, sent)
	}
	if wa.packets < len(data)/1460 {
		t.Fatalf("a wrote %d packets for %d bytes", wa.packets, len(data))
	}
}

func TestIPLinkPair_UDPEcho(t *testing.T) {
	a, b, _, _ := ipPair(t)
	srv, err := socket.ListenPacket(b, "udp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(buf[:n], from)
		}
	}()
	cl, err := socket.ListenPacket(a, "udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.SetDeadline(time.Now().Add(10 * time.Second)) // a hang guard
	to := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 7}
	for _, size := range []int{1, 1472, 4000} { // 4000: fragmented and reassembled
		msg := pattern(size)
		if _, err := cl.WriteTo(msg, to); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8192)
		n, from, err := cl.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) || from.String() != "10.0.0.1:7" {
			t.Fatalf("%d bytes: echo of %d bytes from %v, %v", size, n, from, err)
		}
	}
}

// IPv6 on an IP link (a TUN): the static address is usable at once (no
// DAD: nothing to solicit on a link without ND), an echo request arrives
// without a link header and is answered bare, from that address; a
// neighbour solicitation (RFC 4861 §4.3) is dropped and counted, as the
// link has no neighbour discovery (Linux's TUN is IFF_NOARP).
func TestIPLink_IPv6_EchoAnsweredBare_NoND(t *testing.T) {
	e := newEnv(t, ipLink, withAddr6)
	us, peer := stackSA.Addr(), netip.MustParseAddr("fd00::1:1")
	req := bare(ip6Frame(ethernet.MAC{}, ipv6.Fields{Src: peer, Dst: us}, echo6(peer, us, 0x77, 3, []byte("tun6"))))
	e.inject(req)
	p, ok := e.peer.TryRead()
	if !ok {
		t.Fatalf("no reply; stats: %+v", e.st.Stats().IPv6)
	}
	h, err := ipv6.Parse(p)
	if err != nil || len(h) != len(p) {
		t.Fatalf("the stack sent % x, not a bare IPv6 packet: %v", p[:min(len(p), 20)], err)
	}
	m, err := ipv6.ParseICMP(h.Payload(), h.Src(), h.Dst())
	if err != nil || m.Type() != ipv6.TypeEchoReply || h.Src() != us || h.Dst() != peer || m.Ident() != 0x77 || string(m.Payload()) != "tun6" {
		t.Fatalf("reply %v -> %v type %d (%v), want an echo reply %v -> %v", h.Src(), h.Dst(), m.Type(), err, us, peer)
	}
	e.none()
	ns := bare(ip6Frame(ethernet.MAC{}, ipv6.Fields{Src: peer, Dst: us, HopLimit: 255}, ns(us, ethernet.MAC{}, peer, us)))
	e.expectCounted("neighbour solicitation", map[string]int64{
		"Link.FramesIn": 1, "Link.BytesIn": int64(len(ns)), "IPv6.InReceives": 1, "IPv6.InDelivers": 1, "IPv6.ICMP6InMsgs": 1, "ND6.NDOnIPLink": 1,
	}, func() { e.inject(ns) })
	e.none()
}
