package stack_test

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
)

// IPv6 (issue 12): the receive path's drops, our link-local address, and
// the answers to neighbour solicitations and echo requests.

var (
	// stackLL is stackMAC 02:00:00:00:00:02 as a modified EUI-64 link-local
	// address: 02 with the U/L bit inverted is 00, ff:fe in the middle.
	stackLL     = netip.MustParseAddr("fe80::ff:fe00:2")
	peerLL      = netip.MustParseAddr("fe80::1")
	allNodesMAC = ethernet.MAC{0x33, 0x33, 0, 0, 0, 1}
	// stackSNMAC is the Ethernet group of stackLL's solicited-node
	// address ff02::1:ff00:2 (RFC 2464 §7).
	stackSNMAC = ethernet.MAC{0x33, 0x33, 0xff, 0, 0, 2}
)

// hopByHop makes an ip6Frame result's Next Header hop-by-hop options (0,
// which ip6Frame reads as its default, ICMPv6).
func hopByHop(frame []byte) []byte {
	frame[ethernet.HeaderLen+6] = ipv6.ProtoHopByHop
	return frame
}

// ip6Frame wraps payload in IPv6 (hop limit 64, peerLL to stackLL and
// ICMPv6 where zero) and Ethernet to dst.
func ip6Frame(dst ethernet.MAC, f ipv6.Fields, payload []byte) []byte {
	if f.HopLimit == 0 {
		f.HopLimit = 64
	}
	if !f.Src.IsValid() {
		f.Src = peerLL
	}
	if !f.Dst.IsValid() {
		f.Dst = stackLL
	}
	if f.NextHeader == ipv6.ProtoHopByHop { // 0: the zero value stands for ICMPv6; see hopByHop
		f.NextHeader = ipv6.ProtoICMPv6
	}
	if f.PayloadLen == 0 {
		f.PayloadLen = len(payload)
	}
	b := make([]byte, ethernet.HeaderLen+ipv6.HeaderLen+len(payload))
	ethernet.Encode(b, dst, peerMAC, ethernet.TypeIPv6)
	ipv6.Encode(b[ethernet.HeaderLen:], f)
	copy(b[ethernet.HeaderLen+ipv6.HeaderLen:], payload)
	return b
}

func echo6(src, dst netip.Addr, id, seq uint16, data []byte) []byte {
	b := make([]byte, ipv6.ICMPHeaderLen+len(data))
	ipv6.EncodeEcho(b, ipv6.TypeEchoRequest, id, seq, data, src, dst)
	return b
}

// ns builds a neighbour solicitation for target, with a source link-layer
// address option if slla is not zero.
func ns(target netip.Addr, slla ethernet.MAC, src, dst netip.Addr) []byte {
	var opts []byte
	if !slla.IsZero() {
		opts = make([]byte, 8)
		ipv6.PutLinkAddrOption(opts, ipv6.OptSourceLinkAddr, slla)
	}
	b := make([]byte, ipv6.NSLen+len(opts))
	ipv6.EncodeNS(b, target, opts, src, dst)
	return b
}

// nextIPv6 returns the next frame as an IPv6 packet, with its Ethernet
// header, failing unless it is one from us.
func (e *env) nextIPv6() (ethernet.Header, ipv6.Header, ipv6.ICMP) {
	e.t.Helper()
	eth := e.next()
	if eth.Type() != ethernet.TypeIPv6 || eth.Src() != stackMAC {
		e.t.Fatalf("got a %v frame from %v, want IPv6 from us", eth.Type(), eth.Src())
	}
	h, err := ipv6.Parse(eth.Payload())
	if err != nil || h.NextHeader() != ipv6.ProtoICMPv6 {
		e.t.Fatalf("the stack sent a bad IPv6 packet (%v) or not ICMPv6", err)
	}
	m, err := ipv6.ParseICMP(h.Payload(), h.Src(), h.Dst())
	if err != nil {
		e.t.Fatalf("the stack sent a bad ICMPv6 message: %v", err)
	}
	return eth, h, m
}

func TestIPv6_LinkLocal_EUI64FromTheMAC(t *testing.T) {
	if got := newEnv(t).st.LinkLocal(); got != stackLL {
		t.Errorf("LinkLocal = %v, want %v", got, stackLL)
	}
	// RFC 4291 appendix A's example shape: a universal MAC gets the U/L
	// bit set (52 → 50 here, a local one inverted the other way).
	e := newEnv(t, func(_ *stack.Config, p *nic.PipeConfig) { p.MACA = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56} })
	if got, want := e.st.LinkLocal(), netip.MustParseAddr("fe80::5054:ff:fe12:3456"); got != want {
		t.Errorf("LinkLocal = %v, want %v", got, want)
	}
	if got := newEnv(t, ipLink).st.LinkLocal(); got.IsValid() {
		t.Errorf("IP link: LinkLocal = %v, want none", got)
	}
}

// Every IPv6 drop is counted once, under its reason, and answered with
// nothing.
func TestIPv6_Drops_CountedByReason(t *testing.T) {
	echo := echo6(peerLL, stackLL, 1, 1, []byte("x"))
	badSum := append([]byte(nil), echo...)
	badSum[8] ^= 0xff
	dopt := []byte{ipv6.ProtoDestOpts, 0, ipv6.OptPadN, 4, 0, 0, 0, 0}
	var nine []byte
	for range 9 {
		nine = append(nine, dopt...)
	}
	nine[len(nine)-8] = ipv6.ProtoNoNext
	short := ip6Frame(stackMAC, ipv6.Fields{}, echo)[:ethernet.HeaderLen+20]
	badVersion := ip6Frame(stackMAC, ipv6.Fields{}, echo)
	badVersion[ethernet.HeaderLen] = 0x40
	rx := map[string]int64{"Link.FramesIn": 1, "IPv6.InReceives": 1}
	icmp := map[string]int64{"IPv6.InDelivers": 1, "IPv6.ICMP6InMsgs": 1}
	for _, c := range []struct {
		name   string
		frame  []byte
		counts []map[string]int64
		reason string
	}{
		{"shorter than the header", short, nil, "IPv6.InTruncated"},
		{"version 4", badVersion, nil, "IPv6.InBadVersion"},
		{"payload length beyond the frame", ip6Frame(stackMAC, ipv6.Fields{PayloadLen: 100}, echo), nil, "IPv6.InBadPayloadLen"},
		{"multicast source", ip6Frame(stackMAC, ipv6.Fields{Src: netip.MustParseAddr("ff02::1")}, echo), nil, "IPv6.InBadSource"},
		{"to another unicast address", ip6Frame(stackMAC, ipv6.Fields{Dst: netip.MustParseAddr("fe80::99")}, echo), nil, "IPv6.InAddrErrors"},
		{"to all-routers", ip6Frame(stackMAC, ipv6.Fields{Dst: netip.MustParseAddr("ff02::2")}, echo), nil, "IPv6.InAddrErrors"},
		{"unknown hop-by-hop option 01xxxxxx", hopByHop(ip6Frame(stackMAC, ipv6.Fields{},
			[]byte{ipv6.ProtoNoNext, 0, 0x40, 4, 0, 0, 0, 0})), nil, "IPv6.InHdrErrors"},
		{"nine extension headers", ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoDestOpts}, nine), nil, "IPv6.InHdrErrors"},
		{"extension header beyond the packet", ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoDestOpts}, dopt[:4]), nil, "IPv6.InTruncated"},
		{"ICMPv6 bad checksum", ip6Frame(stackMAC, ipv6.Fields{}, badSum), []map[string]int64{{"IPv6.InDelivers": 1}}, "IPv6.ICMP6InErrors"},
		{"echo request from ::", ip6Frame(stackMAC, ipv6.Fields{Src: netip.IPv6Unspecified()}, echo6(netip.IPv6Unspecified(), stackLL, 1, 1, nil)),
			[]map[string]int64{icmp, {"IPv6.ICMP6InEchos": 1}}, "IPv6.InBadSource"},
		{"solicitation with hop limit 64", ip6Frame(stackMAC, ipv6.Fields{}, ns(stackLL, peerMAC, peerLL, stackLL)),
			[]map[string]int64{icmp, {"IPv6.ICMP6InNeighborSolicits": 1}}, "IPv6.ICMP6InBadND"},
		{"solicitation for another target", ip6Frame(stackMAC, ipv6.Fields{HopLimit: 255}, ns(peerLL, peerMAC, peerLL, stackLL)),
			[]map[string]int64{icmp, {"IPv6.ICMP6InNeighborSolicits": 1}}, "IPv6.ICMP6NDNotOurs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			want := map[string]int64{"Link.BytesIn": int64(len(c.frame)), c.reason: 1}
			for _, m := range append(c.counts, rx) {
				for k, v := range m {
					want[k] = v
				}
			}
			before := e.st.Stats().Drops()
			e.expectCounted(c.name, want, func() { e.inject(c.frame) })
			if d := e.st.Stats().Drops() - before; d != 1 {
				t.Errorf("Drops moved by %d, want 1", d)
			}
			e.none()
		})
	}
}

// A frame to an Ethernet group we have not joined stops at the link.
func TestIPv6_UnjoinedGroup_NotForUs(t *testing.T) {
	e := newEnv(t)
	f := ip6Frame(ethernet.MAC{0x33, 0x33, 0, 0, 0, 2}, ipv6.Fields{Dst: netip.MustParseAddr("ff02::2")}, echo6(peerLL, stackLL, 1, 1, nil))
	e.expectCounted("all-routers frame", map[string]int64{"Link.FramesIn": 1, "Link.BytesIn": int64(len(f)), "Link.NotForUs": 1}, func() { e.inject(f) })
	e.none()
}

// RFC 8200 §4.7: No Next Header ends the packet; it is consumed, not dropped.
func TestIPv6_NoNextHeader_Delivered(t *testing.T) {
	e := newEnv(t)
	f := ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoNoNext}, []byte{1, 2, 3})
	e.expectCounted("no next header", map[string]int64{"Link.FramesIn": 1, "Link.BytesIn": int64(len(f)), "IPv6.InReceives": 1, "IPv6.InDelivers": 1}, func() { e.inject(f) })
	e.none()
}

// RFC 4443 §4.2: an echo request to our link-local address or to
// all-nodes is answered from our link-local address, same identifier,
// sequence and data, hop limit 64, to the requester's MAC (resolved by
// neighbour discovery: learnPeer6).
func TestIPv6_EchoRequest_Answered(t *testing.T) {
	for _, c := range []struct {
		name   string
		ethDst ethernet.MAC
		dst    netip.Addr
	}{
		{"unicast", stackMAC, stackLL},
		{"all-nodes", allNodesMAC, netip.MustParseAddr("ff02::1")},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.learnPeer6() // the reply goes through neighbour discovery
			data := pattern(100)
			f := ip6Frame(c.ethDst, ipv6.Fields{Dst: c.dst}, echo6(peerLL, c.dst, 0x1234, 7, data))
			e.expectCounted("echo", map[string]int64{
				"Link.FramesIn": 1, "Link.BytesIn": int64(len(f)), "IPv6.InReceives": 1, "IPv6.InDelivers": 1,
				"IPv6.ICMP6InMsgs": 1, "IPv6.ICMP6InEchos": 1,
				"Link.FramesOut": 1, "Link.BytesOut": int64(len(f)), "IPv6.OutRequests": 1, "IPv6.ICMP6OutMsgs": 1, "IPv6.ICMP6OutEchoReps": 1,
			}, func() { e.inject(f) })
			eth, h, m := e.nextIPv6()
			if eth.Dst() != peerMAC || h.Src() != stackLL || h.Dst() != peerLL || h.HopLimit() != 64 {
				t.Errorf("reply %v -> %v (MAC %v) hop limit %d; want %v -> %v (MAC %v) 64", h.Src(), h.Dst(), eth.Dst(), h.HopLimit(), stackLL, peerLL, peerMAC)
			}
			if m.Type() != ipv6.TypeEchoReply || m.Code() != 0 || m.Ident() != 0x1234 || m.Seq() != 7 || string(m.Payload()) != string(data) {
				t.Errorf("reply type %d code %d id %#x seq %d, %d octets of data; want 129 0 0x1234 7 and the request's", m.Type(), m.Code(), m.Ident(), m.Seq(), len(m.Payload()))
			}
			e.none()
		})
	}
}

// RFC 4861 §7.2.3-§7.2.4: a solicitation for our link-local address is
// answered with a solicited advertisement carrying our MAC, and the
// solicitor's link-layer address is learnt.
func TestIPv6_NeighbourSolicitation_AnsweredAndLearnt(t *testing.T) {
	slla := ethernet.MAC{0x02, 0, 0, 0, 0, 0x09} // not the frame's source: the option wins
	unspec := netip.IPv6Unspecified()
	for _, c := range []struct {
		name      string
		src, dst  netip.Addr
		slla      ethernet.MAC
		ethDst    ethernet.MAC
		wantTo    netip.Addr
		wantMAC   ethernet.MAC
		solicited bool
	}{
		{"to the solicited-node group", peerLL, netip.MustParseAddr("ff02::1:ff00:2"), slla, stackSNMAC, peerLL, slla, true},
		{"unicast, no option", peerLL, stackLL, ethernet.MAC{}, stackMAC, peerLL, peerMAC, true},
		{"from :: (DAD)", unspec, netip.MustParseAddr("ff02::1:ff00:2"), ethernet.MAC{}, stackSNMAC, netip.MustParseAddr("ff02::1"), allNodesMAC, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.inject(ip6Frame(c.ethDst, ipv6.Fields{Src: c.src, Dst: c.dst, HopLimit: 255}, ns(stackLL, c.slla, c.src, c.dst)))
			eth, h, m := e.nextIPv6()
			if eth.Dst() != c.wantMAC || h.Src() != stackLL || h.Dst() != c.wantTo || h.HopLimit() != 255 {
				t.Errorf("advert %v -> %v (MAC %v) hop limit %d; want %v -> %v (MAC %v) 255", h.Src(), h.Dst(), eth.Dst(), h.HopLimit(), stackLL, c.wantTo, c.wantMAC)
			}
			if m.Type() != ipv6.TypeNeighborAdvert || ipv6.ValidateNA(h.HopLimit(), h.Dst(), m) != nil ||
				m.Target() != stackLL || m.Solicited() != c.solicited || !m.Override() || m.Router() {
				t.Errorf("advert type %d target %v S %v O %v R %v; want 136 %v S %v O true R false", m.Type(), m.Target(), m.Solicited(), m.Override(), m.Router(), stackLL, c.solicited)
			}
			it := ipv6.Options(m.NDPOptions())
			o, ok := it.Next()
			if !ok || o.Type() != ipv6.OptTargetLinkAddr || ethernet.MAC(o.LinkAddr()) != stackMAC {
				t.Errorf("advert options % x, want a target link-layer address %v", m.NDPOptions(), stackMAC)
			}
			mac, ok := e.st.Neighbour6Test(c.src)
			if want := !c.slla.IsZero(); ok != want || ok && mac != c.slla {
				t.Errorf("neighbour %v learnt %v %v, want %v %v", c.src, mac, ok, c.slla, want)
			}
			if st := e.st.Stats().IPv6; st.ICMP6OutNeighborAdverts != 1 || st.ICMP6InNeighborSolicits != 1 {
				t.Errorf("solicits in %d, adverts out %d; want 1, 1", st.ICMP6InNeighborSolicits, st.ICMP6OutNeighborAdverts)
			}
			e.none()
		})
	}
}

// FuzzIPv6 mutates a valid echo request or neighbour solicitation (kind
// byte even or odd; then an offset and bytes that overwrite the packet from
// there) and truncates it to a length byte: whatever arrives, no panic,
// every frame in is counted once as delivered or dropped, and whatever the
// stack sends back is a well-formed ICMPv6 packet from our link-local.
func FuzzIPv6(f *testing.F) {
	f.Add([]byte{0, 255, 0})
	f.Add([]byte{1, 255, 0})
	f.Add([]byte{0, 255, 6, 0})             // next header hop-by-hop
	f.Add([]byte{0, 255, 0, 0x40})          // version 4
	f.Add([]byte{1, 255, 40, 0x87, 1})      // code 1
	f.Add([]byte{1, 60, 64, 1, 0, 0, 0, 0}) // an option of length 0
	f.Add([]byte{0, 255, 6, 44})            // the echo read as a fragment
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		e := newEnv(t)
		sn := netip.MustParseAddr("ff02::1:ff00:2")
		frame := ip6Frame(stackMAC, ipv6.Fields{}, echo6(peerLL, stackLL, 1, 2, []byte("abcdefgh")))
		if data[0]%2 == 1 {
			frame = ip6Frame(stackSNMAC, ipv6.Fields{Dst: sn, HopLimit: 255}, ns(stackLL, peerMAC, peerLL, sn))
		}
		pkt := frame[ethernet.HeaderLen:]
		copy(pkt[int(data[2])%len(pkt):], data[3:])
		frame = frame[:ethernet.HeaderLen+min(int(data[1]), len(pkt))]
		before := e.st.Stats()
		e.inject(frame)
		after := e.st.Stats()
		drops, delivers := after.Drops()-before.Drops(), after.IPv6.InDelivers-before.IPv6.InDelivers
		// An ICMPv6 error to the peer, whose address is not resolved, is
		// a drop of its own (out_no_routes); a fragment may be held.
		drops -= after.IPv6.OutNoRoutes - before.IPv6.OutNoRoutes
		held := after.IPv6.ReasmReqds != before.IPv6.ReasmReqds
		if after.IPv6.InReceives-before.IPv6.InReceives != 1 || drops > 1 || drops+delivers == 0 && !held {
			t.Fatalf("one frame: in_receives %+d, drops %+d, in_delivers %+d", after.IPv6.InReceives-before.IPv6.InReceives, drops, delivers)
		}
		e.sentWellFormed6(false) // tcp6_test.go
	})
}
