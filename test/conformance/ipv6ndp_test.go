package conformance

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
)

// Neighbour discovery (RFC 4861) against gVisor's IPv6 stack (issue 12):
// the same solicitations and advertisements go to tapstack and to gVisor,
// both on the link-local address fe80::ff:fe00:2 without DAD, and the
// neighbour solicitations, advertisements and echo replies each sends back
// are compared field by field. Router solicitations and MLD reports, which
// each sends on its own schedule, are left out.

// ndMsg is an NDP message from src to dst (Ethernet ethDst) with hop limit
// hop; msg is built by the caller.
func ndMsg(ethDst ethernet.MAC, src, dst netip.Addr, hop uint8, msg []byte) []byte {
	b := make([]byte, ethernet.HeaderLen+ipv6.HeaderLen+len(msg))
	ethernet.Encode(b, ethDst, peerMAC, ethernet.TypeIPv6)
	ipv6.Encode(b[ethernet.HeaderLen:], ipv6.Fields{PayloadLen: len(msg), NextHeader: ipv6.ProtoICMPv6, HopLimit: hop, Src: src, Dst: dst})
	copy(b[ethernet.HeaderLen+ipv6.HeaderLen:], msg)
	return b
}

// nsFor is a neighbour solicitation for target from src to dst, with the
// peer's source link-layer address option if slla.
func nsFor(target, src, dst netip.Addr, slla bool) []byte {
	var opt []byte
	if slla {
		opt = make([]byte, 8)
		ipv6.PutLinkAddrOption(opt, ipv6.OptSourceLinkAddr, peerMAC)
	}
	m := make([]byte, ipv6.NSLen+len(opt))
	ipv6.EncodeNS(m, target, opt, src, dst)
	return m
}

// naFromPeer is the peer's solicited advertisement of peerLL6 to stackLL6.
func naFromPeer() []byte {
	opt := make([]byte, 8)
	ipv6.PutLinkAddrOption(opt, ipv6.OptTargetLinkAddr, peerMAC)
	m := make([]byte, ipv6.NALen+len(opt))
	ipv6.EncodeNA(m, false, true, true, peerLL6, opt, peerLL6, stackLL6)
	return ndMsg(stackMAC, peerLL6, stackLL6, ipv6.NDPHopLimit, m)
}

// describeND names each solicitation, advertisement and echo reply in
// frames: "na to=fe80::1 eth=02:00:00:00:00:01 hop=255 R=false S=true
// O=true target=fe80::ff:fe00:2 tlla=02:00:00:00:00:02".
func describeND(t *testing.T, frames [][]byte) []string {
	t.Helper()
	var out []string
	for _, f := range frames {
		eth, err := ethernet.Parse(f)
		if err != nil || eth.Type() != ethernet.TypeIPv6 {
			continue
		}
		h, err := ipv6.Parse(eth.Payload())
		if err != nil || h.NextHeader() != ipv6.ProtoICMPv6 {
			continue
		}
		m, err := ipv6.ParseICMP(h.Payload(), h.Src(), h.Dst())
		if err != nil {
			t.Fatalf("sent a bad ICMPv6 message: %v", err)
		}
		lla := func(typ uint8) string {
			it := ipv6.Options(m.NDPOptions())
			for o, ok := it.Next(); ok; o, ok = it.Next() {
				if o.Type() == typ {
					return fmt.Sprint(ethernet.MAC(o.LinkAddr()[:6]))
				}
			}
			return "none"
		}
		switch m.Type() {
		case ipv6.TypeNeighborSolicit:
			out = append(out, fmt.Sprintf("ns from=%v to=%v eth=%v hop=%d target=%v slla=%s",
				h.Src(), h.Dst(), eth.Dst(), h.HopLimit(), m.Target(), lla(ipv6.OptSourceLinkAddr)))
		case ipv6.TypeNeighborAdvert:
			out = append(out, fmt.Sprintf("na from=%v to=%v eth=%v hop=%d R=%v S=%v O=%v target=%v tlla=%s",
				h.Src(), h.Dst(), eth.Dst(), h.HopLimit(), m.Router(), m.Solicited(), m.Override(), m.Target(), lla(ipv6.OptTargetLinkAddr)))
		case ipv6.TypeEchoReply:
			out = append(out, fmt.Sprintf("echo-reply to=%v eth=%v seq=%d", h.Dst(), eth.Dst(), m.Seq()))
		}
	}
	return out
}

func TestIPv6NeighbourDiscovery_AgainstGVisor(t *testing.T) {
	snStack := ipv6.SolicitedNode(stackLL6)
	snStackMAC := ethernet.MAC{0x33, 0x33, 0xff, 0, 0, 2}
	allNodes := netip.MustParseAddr("ff02::1")
	naTo := func(to netip.Addr, eth ethernet.MAC, solicited bool) string {
		return fmt.Sprintf("na from=%v to=%v eth=%v hop=255 R=false S=%v O=true target=%v tlla=%v", stackLL6, to, eth, solicited, stackLL6, stackMAC)
	}
	for _, c := range []struct {
		name   string
		frames [][]byte
		want   []string
	}{
		// RFC 4861 §7.2.4: a solicited advertisement to the solicitor,
		// S and O set, with our link-layer address.
		{"unicast solicitation", [][]byte{ndMsg(stackMAC, peerLL6, stackLL6, 255, nsFor(stackLL6, peerLL6, stackLL6, true))},
			[]string{naTo(peerLL6, peerMAC, true)}},
		{"multicast solicitation", [][]byte{ndMsg(snStackMAC, peerLL6, snStack, 255, nsFor(stackLL6, peerLL6, snStack, true))},
			[]string{naTo(peerLL6, peerMAC, true)}},
		// §7.2.4: from :: (another node's DAD), to all-nodes, S clear.
		{"solicitation from ::", [][]byte{ndMsg(snStackMAC, netip.IPv6Unspecified(), snStack, 255, nsFor(stackLL6, netip.IPv6Unspecified(), snStack, false))},
			[]string{naTo(allNodes, ethernet.MAC{0x33, 0x33, 0, 0, 0, 1}, false)}},
		// §7.1.1: silently discarded.
		{"hop limit 64", [][]byte{ndMsg(stackMAC, peerLL6, stackLL6, 64, nsFor(stackLL6, peerLL6, stackLL6, true))}, nil},
		{"from :: with a source link-layer address", [][]byte{ndMsg(snStackMAC, netip.IPv6Unspecified(), snStack, 255, nsFor(stackLL6, netip.IPv6Unspecified(), snStack, true))}, nil},
		{"from :: to a unicast address", [][]byte{ndMsg(stackMAC, netip.IPv6Unspecified(), stackLL6, 255, nsFor(stackLL6, netip.IPv6Unspecified(), stackLL6, false))}, nil},
		// §7.2.3: a target not ours is silently discarded.
		{"target not ours", [][]byte{ndMsg(stackMAC, peerLL6, stackLL6, 255, nsFor(netip.MustParseAddr("fe80::99"), peerLL6, stackLL6, true))}, nil},
		// §7.2.2: an echo request from a neighbour not in the cache: the
		// reply waits while a multicast solicitation for it goes to its
		// solicited-node group from our link-local address with our
		// link-layer address; the peer's advertisement releases it.
		{"resolution before the reply", [][]byte{ip6Frame(ipv6.ProtoICMPv6, echo6Msg(5, 8)), naFromPeer()}, []string{
			fmt.Sprintf("ns from=%v to=ff02::1:ff00:1 eth=33:33:ff:00:00:01 hop=255 target=%v slla=%v", stackLL6, peerLL6, stackMAC),
			fmt.Sprintf("echo-reply to=%v eth=%v seq=5", peerLL6, peerMAC),
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tap := newTapTarget(t, targetConfig{})
			defer tap.close()
			gv := newGvisor6With(t, false)
			tap.drain()
			var tapOut, gvOut [][]byte
			for _, f := range c.frames {
				tap.inject(f)
				gv.inject(f)
				tapOut = append(tapOut, tap.drain()...)
				gvOut = append(gvOut, gv.drain()...)
			}
			want := strings.Join(c.want, "\n")
			if got := strings.Join(describeND(t, tapOut), "\n"); got != want {
				t.Errorf("tapstack sent:\n%s\nwant:\n%s", got, want)
			}
			if got := strings.Join(describeND(t, gvOut), "\n"); got != want {
				t.Errorf("gVisor sent:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
