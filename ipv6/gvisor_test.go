package ipv6

import (
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// These tests parse the same packets with gVisor's header package (the
// conformance oracle, tests only) and compare every field.

func gvAddr(a netip.Addr) tcpip.Address { return tcpip.AddrFrom16(a.As16()) }

func TestGVisor_IPv6Header_Agrees(t *testing.T) {
	pkts := [][]byte{echoRequest, echoReply,
		build(Fields{TrafficClass: 0xb8, FlowLabel: 0xabcde, NextHeader: ProtoUDP, HopLimit: 1, Src: addrA, Dst: addrB}, []byte("x")),
		build(Fields{TrafficClass: 0x01, FlowLabel: 0xfffff, NextHeader: ProtoFragment, HopLimit: 255, Src: llA, Dst: allNodes}, make([]byte, 100)),
	}
	for _, b := range pkts {
		h, err := Parse(b)
		g := header.IPv6(b)
		if err != nil || !g.IsValid(len(b)) {
			t.Fatalf("ours %v, gVisor valid %v", err, g.IsValid(len(b)))
		}
		tc, fl := g.TOS()
		if tc != h.TrafficClass() || fl != h.FlowLabel() || int(g.PayloadLength()) != h.PayloadLen() ||
			g.NextHeader() != h.NextHeader() || g.HopLimit() != h.HopLimit() ||
			g.SourceAddress() != gvAddr(h.Src()) || g.DestinationAddress() != gvAddr(h.Dst()) {
			t.Errorf("disagree on % x", b[:HeaderLen])
		}
		// gVisor's encoder writes the same bytes from the same fields.
		out := make([]byte, HeaderLen)
		header.IPv6(out).Encode(&header.IPv6Fields{TrafficClass: tc, FlowLabel: fl, PayloadLength: g.PayloadLength(),
			TransportProtocol: tcpip.TransportProtocolNumber(g.NextHeader()), HopLimit: g.HopLimit(),
			SrcAddr: g.SourceAddress(), DstAddr: g.DestinationAddress()})
		if string(out) != string(b[:HeaderLen]) {
			t.Errorf("gVisor encodes\n% x\nwe encode\n% x", out, b[:HeaderLen])
		}
	}
}

func TestGVisor_ICMPv6_Agrees(t *testing.T) {
	type msg struct {
		b        []byte
		src, dst netip.Addr
	}
	var msgs []msg
	for _, p := range [][]byte{echoRequest, echoReply} {
		h, _ := Parse(p)
		msgs = append(msgs, msg{h.Payload(), h.Src(), h.Dst()})
	}
	for _, f := range []func(b []byte) int{
		func(b []byte) int { return EncodeEcho(b, TypeEchoRequest, 7, 9, []byte("odd"), addrA, addrB) },
		func(b []byte) int { return EncodeError(b, TypePacketTooBig, 0, 1280, echoRequest, addrA, addrB) },
		func(b []byte) int { return EncodeError(b, TypeParamProblem, 2, 43, echoRequest, addrA, addrB) },
	} {
		b := make([]byte, 300)
		msgs = append(msgs, msg{b[:f(b)], addrA, addrB})
	}
	for _, m := range msgs {
		ours, err := ParseICMP(m.b, m.src, m.dst)
		if err != nil {
			t.Fatal(err)
		}
		g := header.ICMPv6(m.b)
		want := header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: g, Src: gvAddr(m.src), Dst: gvAddr(m.dst)})
		if want != ours.Checksum() || uint8(g.Type()) != ours.Type() || uint8(g.Code()) != ours.Code() ||
			g.Ident() != ours.Ident() || g.Sequence() != ours.Seq() || g.MTU() != ours.MTU() || g.TypeSpecific() != ours.Pointer() {
			t.Errorf("disagree on % x (gVisor checksum %#x)", m.b[:8], want)
		}
		if g.Type().IsErrorType() != IsError(ours.Type()) {
			t.Errorf("type %d: error type disagrees", ours.Type())
		}
	}
}

func TestGVisor_NDP_Agrees(t *testing.T) {
	for _, m := range []struct {
		b        []byte
		src, dst netip.Addr
	}{{goldenNS, llA, snmB}, {goldenNA, llB, llA}, {goldenRS, llA, allRtrs}, {goldenRA, llB, allNodes}} {
		g := header.ICMPv6(m.b)
		if cs := header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: g, Src: gvAddr(m.src), Dst: gvAddr(m.dst)}); cs != ICMP(m.b).Checksum() {
			t.Errorf("type %d: gVisor checksum %#x, ours %#x", m.b[0], cs, ICMP(m.b).Checksum())
		}
	}
	ns := header.NDPNeighborSolicit(goldenNS[4:])
	if ns.TargetAddress() != gvAddr(ICMP(goldenNS).Target()) {
		t.Errorf("NS target: gVisor %v", ns.TargetAddress())
	}
	na := header.NDPNeighborAdvert(goldenNA[4:])
	m := ICMP(goldenNA)
	if na.TargetAddress() != gvAddr(m.Target()) || na.RouterFlag() != m.Router() || na.SolicitedFlag() != m.Solicited() || na.OverrideFlag() != m.Override() {
		t.Errorf("NA disagrees")
	}
	ra := header.NDPRouterAdvert(goldenRA[4:])
	m = ICMP(goldenRA)
	if ra.CurrHopLimit() != m.CurHopLimit() || ra.ManagedAddrConfFlag() != m.Managed() || ra.OtherConfFlag() != m.Other() ||
		ra.RouterLifetime() != time.Duration(m.RouterLifetime())*time.Second ||
		ra.ReachableTime() != time.Duration(m.ReachableTime())*time.Millisecond ||
		ra.RetransTimer() != time.Duration(m.RetransTimer())*time.Millisecond {
		t.Errorf("RA disagrees")
	}
	// Options: gVisor's checked iterator sees the same types, and reads the
	// prefix information and MTU the same way.
	for _, b := range [][]byte{goldenRA, goldenNS, goldenNA, goldenRS} {
		ours := ICMP(b).NDPOptions()
		gi, err := header.NDPOptions(ours).Iter(true)
		if err != nil {
			t.Fatal(err)
		}
		it := Options(ours)
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if o.Type() == OptMTU {
				continue // gVisor's iterator skips the MTU option, which it does not model
			}
			gopt, done, err := gi.Next()
			if done || err != nil {
				t.Fatalf("gVisor ended early: %v", err)
			}
			switch g := gopt.(type) {
			case header.NDPPrefixInformation:
				p, _ := o.Prefix()
				if o.Type() != OptPrefixInfo || g.PrefixLength() != o.PrefixLen() || g.OnLinkFlag() != o.OnLink() ||
					g.AutonomousAddressConfigurationFlag() != o.Autonomous() ||
					g.ValidLifetime() != time.Duration(o.ValidLifetime())*time.Second ||
					g.PreferredLifetime() != time.Duration(o.PreferredLifetime())*time.Second || g.Prefix() != gvAddr(p.Addr()) {
					t.Errorf("prefix information disagrees")
				}
			case header.NDPSourceLinkLayerAddressOption:
				if o.Type() != OptSourceLinkAddr || string(g.EthernetAddress()) != string(o.LinkAddr()[:6]) {
					t.Errorf("source link-layer address disagrees")
				}
			case header.NDPTargetLinkLayerAddressOption:
				if o.Type() != OptTargetLinkAddr || string(g.EthernetAddress()) != string(o.LinkAddr()[:6]) {
					t.Errorf("target link-layer address disagrees")
				}
			default:
				t.Errorf("option %d: gVisor %T", o.Type(), g)
			}
		}
		if _, done, err := gi.Next(); !done || err != nil || it.Err() != nil {
			t.Errorf("end: gVisor done %v err %v, ours %v", done, err, it.Err())
		}
	}
}

// gvisorNDPOptionsOK reports whether gVisor's checked iterator accepts
// every option in b (used by the fuzz target).
func gvisorNDPOptionsOK(b []byte) bool {
	it, err := header.NDPOptions(b).Iter(true)
	if err != nil {
		return false
	}
	for {
		_, done, err := it.Next()
		if err != nil {
			return false
		}
		if done {
			return true
		}
	}
}
