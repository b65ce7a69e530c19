package stack_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
)

// ICMPv6 errors (RFC 4443 §2.4, §3.4) at packet level: when the stack
// answers a bad packet, to whom, from where, quoting what, how often.

const protoUnknown = 253 // RFC 3692 experimentation: no handler

// destOpt is a destination options header naming next, holding one
// option of type typ (4 octets of data).
func destOpt(next, typ uint8) []byte {
	return []byte{next, 0, typ, 4, 0, 0, 0, 0}
}

// expectParamProblem reads the next frame and checks it is a Parameter
// Problem with code and pointer, from src to peerLL, quoting quote.
func (e *env) expectParamProblem(src netip.Addr, code uint8, ptr uint32, quote []byte) {
	e.t.Helper()
	eth, h, m := e.nextIPv6()
	if eth.Dst() != peerMAC || h.Src() != src || h.Dst() != peerLL || h.HopLimit() != 64 {
		e.t.Errorf("error %v -> %v (MAC %v) hop limit %d; want %v -> %v (MAC %v) 64", h.Src(), h.Dst(), eth.Dst(), h.HopLimit(), src, peerLL, peerMAC)
	}
	if m.Type() != ipv6.TypeParamProblem || m.Code() != code || m.Pointer() != ptr {
		e.t.Errorf("sent type %d code %d pointer %d, want Parameter Problem code %d pointer %d", m.Type(), m.Code(), m.Pointer(), code, ptr)
	}
	if !bytes.Equal(m.Payload(), quote) {
		e.t.Errorf("quote\n% x\nwant\n% x", m.Payload(), quote)
	}
}

// RFC 8200 §4, RFC 4443 §3.4: an unknown Next Header is answered with
// code 1 pointing at the field that holds it; a bad header with code 0 at
// the octet at fault; the error comes from the address the packet was
// sent to and quotes it.
func TestICMPv6Error_ParameterProblemPointers(t *testing.T) {
	for _, c := range []struct {
		name  string
		frame []byte
		code  uint8
		ptr   uint32
	}{
		{"unknown next header", ip6Frame(stackMAC, ipv6.Fields{NextHeader: protoUnknown}, []byte("abcdefgh")), 1, 6},
		{"unknown next header behind destination options", ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoDestOpts},
			destOpt(protoUnknown, ipv6.OptPadN)), 1, 40},
		{"routing type 0 with segments left", ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoRouting},
			[]byte{ipv6.ProtoNoNext, 0, 0, 1, 0, 0, 0, 0}), 0, 42},
		{"unknown option 10xxxxxx", ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoDestOpts}, destOpt(ipv6.ProtoNoNext, 0x80)), 2, 42},
		{"unknown option 11xxxxxx", ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoDestOpts}, destOpt(ipv6.ProtoNoNext, 0xc0)), 2, 42},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.learnPeer6()
			before := e.st.Stats()
			e.inject(c.frame)
			e.expectParamProblem(stackLL, c.code, c.ptr, c.frame[ethernet.HeaderLen:])
			after := e.st.Stats()
			if d := after.IPv6.ICMP6OutParmProblems - before.IPv6.ICMP6OutParmProblems; d != 1 || after.Drops()-before.Drops() != 1 {
				t.Errorf("icmp6_out_parm_problems %+d, drops %+d; want +1 each", d, after.Drops()-before.Drops())
			}
			e.none()
		})
	}
}

// RFC 4443 §2.4 (e): the packets no error answers, each counted as
// suppressed, and the exceptions for multicast.
func TestICMPv6Error_Rules(t *testing.T) {
	mcast := netip.MustParseAddr("ff02::1")
	icmpBehindOpt := func(typ uint8) []byte {
		m := make([]byte, 8)
		m[0] = typ
		return ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoDestOpts}, append(destOpt(ipv6.ProtoICMPv6, 0x80), m...))
	}
	for _, c := range []struct {
		name  string
		frame []byte
		sent  bool
	}{
		// (e.3), (e.3.2): to a multicast address only a Parameter Problem
		// code 2 for an option whose high bits are 10, from our address.
		{"unknown next header to all-nodes", ip6Frame(allNodesMAC, ipv6.Fields{Dst: mcast, NextHeader: protoUnknown}, make([]byte, 8)), false},
		{"option 10xxxxxx to all-nodes", ip6Frame(allNodesMAC, ipv6.Fields{Dst: mcast, NextHeader: ipv6.ProtoDestOpts}, destOpt(ipv6.ProtoNoNext, 0x80)), true},
		{"option 11xxxxxx to all-nodes", ip6Frame(allNodesMAC, ipv6.Fields{Dst: mcast, NextHeader: ipv6.ProtoDestOpts}, destOpt(ipv6.ProtoNoNext, 0xc0)), false},
		// (e.4): a unicast packet in a link-layer multicast frame.
		{"unknown next header, link-layer multicast", ip6Frame(allNodesMAC, ipv6.Fields{NextHeader: protoUnknown}, make([]byte, 8)), false},
		{"option 10xxxxxx, link-layer multicast", ip6Frame(allNodesMAC, ipv6.Fields{NextHeader: ipv6.ProtoDestOpts}, destOpt(ipv6.ProtoNoNext, 0x80)), true},
		// (e.6): a source that is not one node.
		{"from ::", ip6Frame(stackMAC, ipv6.Fields{Src: netip.IPv6Unspecified(), NextHeader: protoUnknown}, make([]byte, 8)), false},
		// (e.1), (e.2): never about an ICMPv6 error or a redirect.
		{"about a destination unreachable", icmpBehindOpt(ipv6.TypeDestUnreachable), false},
		{"about a parameter problem", icmpBehindOpt(ipv6.TypeParamProblem), false},
		{"about a redirect", icmpBehindOpt(ipv6.TypeRedirect), false},
		{"about an echo request", icmpBehindOpt(ipv6.TypeEchoRequest), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.learnPeer6()
			before := e.st.Stats().IPv6
			e.inject(c.frame)
			after := e.st.Stats().IPv6
			if !c.sent {
				if after.ICMP6OutErrorsSuppressed-before.ICMP6OutErrorsSuppressed != 1 {
					t.Errorf("icmp6_out_errors_suppressed %+d, want +1", after.ICMP6OutErrorsSuppressed-before.ICMP6OutErrorsSuppressed)
				}
				e.none()
				return
			}
			_, h, m := e.nextIPv6()
			if m.Type() != ipv6.TypeParamProblem || h.Src() != stackLL || h.Dst() != peerLL {
				t.Errorf("sent type %d %v -> %v, want a Parameter Problem %v -> %v", m.Type(), h.Src(), h.Dst(), stackLL, peerLL)
			}
			e.none()
		})
	}
}

// RFC 4443 §3.4: "as much of invoking packet as possible without the
// ICMPv6 packet exceeding the minimum IPv6 MTU": a 3000-octet reassembled
// packet with an unknown Next Header is quoted in its first 1232 octets.
func TestICMPv6Error_QuoteFitsMinimumMTU(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	data := pattern(3000)
	for _, f := range fragsOf(protoUnknown, data, 1232, 3) {
		e.inject(f)
	}
	_, h, m := e.nextIPv6()
	if len(h) != ipv6.MinMTU || m.Type() != ipv6.TypeParamProblem || m.Code() != ipv6.CodeUnknownNextHeader || m.Pointer() != 6 {
		t.Fatalf("sent %d octets type %d code %d pointer %d; want 1280, Parameter Problem code 1 pointer 6", len(h), m.Type(), m.Code(), m.Pointer())
	}
	q := ipv6.Header(m.Payload())
	if len(q) != ipv6.MaxQuote || q.NextHeader() != protoUnknown || q.PayloadLen() != 3000 || !bytes.Equal(q[ipv6.HeaderLen:], data[:len(q)-ipv6.HeaderLen]) {
		t.Errorf("quote of %d octets (next header %d, payload length %d), want the reassembled packet's first 1232", len(q), q.NextHeader(), q.PayloadLen())
	}
	e.none()
}

// RFC 4443 §2.4 (f): a token bucket per destination, one per second with
// a burst of 6 (Linux's icmpv6 ratelimit and XRLIM_BURST_FACTOR), and the
// global bucket shared with ICMPv4.
func TestICMPv6Error_RateLimited(t *testing.T) {
	bad := ip6Frame(stackMAC, ipv6.Fields{NextHeader: protoUnknown}, make([]byte, 8))
	count := func(e *env, n int) (sent int) {
		for range n {
			e.inject(bad)
		}
		for {
			if _, ok := e.peer.TryRead(); !ok {
				return sent
			}
			sent++
		}
	}
	t.Run("per destination", func(t *testing.T) {
		e := newEnv(t)
		e.learnPeer6()
		if sent := count(e, 10); sent != 6 {
			t.Errorf("%d errors for 10 bad packets at once, want the burst of 6", sent)
		}
		if st := e.st.Stats().IPv6; st.ICMP6OutRateLimitHost != 4 {
			t.Errorf("icmp6_out_rate_limit_host = %d, want 4", st.ICMP6OutRateLimitHost)
		}
		e.clk.Advance(time.Second)
		if sent := count(e, 3); sent != 1 {
			t.Errorf("%d errors a second later, want 1", sent)
		}
		// Another destination has its own bucket.
		other := netip.MustParseAddr("fe80::2")
		e.inject(ip6Frame(stackMAC, ipv6.Fields{Src: other, HopLimit: 255}, ns(stackLL, peerMAC, other, stackLL)))
		e.drain()
		e.inject(ip6Frame(stackMAC, ipv6.Fields{Src: other, NextHeader: protoUnknown}, make([]byte, 8)))
		if _, h, _ := e.nextIPv6(); h.Dst() != other {
			t.Errorf("error went to %v, want %v", h.Dst(), other)
		}
	})
	t.Run("global", func(t *testing.T) {
		e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ICMPErrorRate, c.ICMPErrorBurst = 1, 2 })
		e.learnPeer6()
		if sent := count(e, 3); sent != 2 {
			t.Errorf("%d errors with a global burst of 2, want 2", sent)
		}
		if st := e.st.Stats().IPv6; st.ICMP6OutRateLimitGlobal != 1 {
			t.Errorf("icmp6_out_rate_limit_global = %d, want 1", st.ICMP6OutRateLimitGlobal)
		}
	})
}

// ptb is a Packet Too Big from a router (fe80::99) reporting mtu for a
// packet from src to dst.
func ptb(mtu uint32, src, dst netip.Addr) []byte {
	router := netip.MustParseAddr("fe80::99")
	orig := make([]byte, ipv6.HeaderLen+8)
	ipv6.Encode(orig, ipv6.Fields{PayloadLen: 8, NextHeader: ipv6.ProtoICMPv6, HopLimit: 64, Src: src, Dst: dst})
	m := make([]byte, ipv6.ICMPHeaderLen+len(orig))
	ipv6.EncodeError(m, ipv6.TypePacketTooBig, 0, mtu, orig, router, stackLL)
	return ip6Frame(stackMAC, ipv6.Fields{Src: router}, m)
}

// RFC 8201 §4: a Packet Too Big lowers the path MTU to its destination,
// never below 1280 (RFC 8200 §5) nor up; the next large packet to it is
// fragmented to fit; after 10 minutes the link MTU applies again.
func TestICMPv6_PacketTooBig_LowersPathMTU(t *testing.T) {
	big := fragsOf(ipv6.ProtoICMPv6, echo6(peerLL, stackLL, 1, 1, pattern(3000)), 1232, 1)
	// largest returns the longest packet in the stack's reply to big.
	largest := func(e *env, mtu int) int {
		e.t.Helper()
		for _, f := range big {
			e.inject(f)
		}
		n := 0
		for {
			f, ok := e.peer.TryRead()
			if !ok {
				return n
			}
			if l := len(f) - ethernet.HeaderLen; l > n {
				n = l
			}
			if len(f)-ethernet.HeaderLen > mtu {
				e.t.Fatalf("sent %d octets, above the path MTU %d", len(f)-ethernet.HeaderLen, mtu)
			}
		}
	}
	for _, c := range []struct {
		name     string
		frame    []byte
		want     int // the path MTU to peerLL after it
		countPTB bool
	}{
		{"lowered to 1400", ptb(1400, stackLL, peerLL), 1400, false},
		{"below 1280 taken as 1280", ptb(600, stackLL, peerLL), 1280, false},
		{"above the link MTU ignored", ptb(9000, stackLL, peerLL), 1500, true},
		{"the link MTU ignored", ptb(1500, stackLL, peerLL), 1500, true},
		{"for a packet not ours ignored", ptb(1400, peerLL, stackLL), 1500, true},
		{"for a multicast destination ignored", ptb(1400, stackLL, netip.MustParseAddr("ff02::1")), 1500, true},
		{"quote cut ignored", ptb(1400, stackLL, peerLL)[:ethernet.HeaderLen+ipv6.HeaderLen+ipv6.ICMPHeaderLen+20], 1500, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.learnPeer6() // the echo replies largest measures go through neighbour discovery
			f := c.frame
			if len(f) < ethernet.HeaderLen+ipv6.HeaderLen+ipv6.ICMPHeaderLen+ipv6.HeaderLen { // re-checksum the cut message
				m := append([]byte(nil), f[ethernet.HeaderLen+ipv6.HeaderLen:]...)
				ipv6.ICMP(m).SetChecksum(netip.MustParseAddr("fe80::99"), stackLL)
				f = ip6Frame(stackMAC, ipv6.Fields{Src: netip.MustParseAddr("fe80::99")}, m)
			}
			e.inject(f)
			e.none()
			st := e.st.Stats().IPv6
			if st.ICMP6InPktTooBigs != 1 || (st.ICMP6InPTBIgnored == 1) != c.countPTB {
				t.Errorf("icmp6_in_pkt_too_bigs %d, icmp6_in_ptb_ignored %d; want 1, ignored %v", st.ICMP6InPktTooBigs, st.ICMP6InPTBIgnored, c.countPTB)
			}
			// The largest fragment: the headers (48) and as many 8-octet
			// blocks as fit.
			if got, want := largest(e, c.want), 48+(c.want-48)&^7; got != want {
				t.Errorf("largest packet %d octets, want %d for the path MTU %d", got, want, c.want)
			}
			e.clk.Advance(10 * time.Minute)
			e.learnPeer6() // its neighbour entry has long gone STALE
			if got := largest(e, 1500); got != 1496 {
				t.Errorf("after 10 minutes the largest packet is %d octets, want 1496 (the link MTU's fragments)", got)
			}
		})
	}
}
