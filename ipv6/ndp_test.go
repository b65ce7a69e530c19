package ipv6

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

var (
	macA     = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	macB     = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	allNodes = netip.MustParseAddr("ff02::1")
	allRtrs  = netip.MustParseAddr("ff02::2")
	snmB     = netip.MustParseAddr("ff02::1:ff00:2") // solicited-node of fe80::2
	prefix   = netip.MustParsePrefix("2001:db8:0:1::/64")
)

// Golden ND messages, written out field by field from RFC 4861 §4; the
// checksums agree with gVisor's (TestGVisor_NDP_Agrees).
var (
	goldenNS = []byte{
		135, 0, 0x7a, 0x97, 0, 0, 0, 0, // type, code, checksum, reserved
		0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // target fe80::2
		OptSourceLinkAddr, 1, 0x02, 0, 0, 0, 0, 0x01,
	}
	goldenNA = []byte{
		136, 0, 0x18, 0x1a, 0x60, 0, 0, 0, // S, O
		0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
		OptTargetLinkAddr, 1, 0x02, 0, 0, 0, 0, 0x02,
	}
	goldenRS = []byte{
		133, 0, 0x7a, 0x2c, 0, 0, 0, 0,
		OptSourceLinkAddr, 1, 0x02, 0, 0, 0, 0, 0x01,
	}
	goldenRA = []byte{
		134, 0, 0xb2, 0x7d, 64, 0x40, 0x07, 0x08, // hop limit 64, O, lifetime 1800
		0, 0, 0x75, 0x30, 0, 0, 0x03, 0xe8, // reachable 30000 ms, retrans 1000 ms
		OptSourceLinkAddr, 1, 0x02, 0, 0, 0, 0, 0x02,
		OptMTU, 1, 0, 0, 0, 0, 0x05, 0xdc, // 1500
		OptPrefixInfo, 4, 64, 0xc0, 0, 0x01, 0x51, 0x80, // /64, L A, valid 86400
		0, 0, 0x38, 0x40, 0, 0, 0, 0, // preferred 14400, reserved
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
	}
)

func TestEncodeND_GoldenBytes_ParseBack(t *testing.T) {
	opt := func(f func(b []byte) int) []byte { b := make([]byte, 64); return b[:f(b)] }
	buf := make([]byte, 256)
	raOpts := append(append(opt(func(b []byte) int { return PutLinkAddrOption(b, OptSourceLinkAddr, macB) }),
		opt(func(b []byte) int { return PutMTUOption(b, 1500) })...),
		opt(func(b []byte) int {
			return PutPrefixInfoOption(b, PrefixInfo{Prefix: netip.MustParsePrefix("2001:db8:0:1::77/64"), OnLink: true, Autonomous: true, ValidLifetime: 86400, PreferredLifetime: 14400})
		})...)
	for _, tt := range []struct {
		name      string
		golden    []byte
		encode    func(b []byte) int
		src, dst  netip.Addr
		fixedPart int
	}{
		{"NS", goldenNS, func(b []byte) int {
			return EncodeNS(b, llB, opt(func(b []byte) int { return PutLinkAddrOption(b, OptSourceLinkAddr, macA) }), llA, snmB)
		}, llA, snmB, NSLen},
		{"NA", goldenNA, func(b []byte) int {
			return EncodeNA(b, false, true, true, llB, opt(func(b []byte) int { return PutLinkAddrOption(b, OptTargetLinkAddr, macB) }), llB, llA)
		}, llB, llA, NALen},
		{"RS", goldenRS, func(b []byte) int {
			return EncodeRS(b, opt(func(b []byte) int { return PutLinkAddrOption(b, OptSourceLinkAddr, macA) }), llA, allRtrs)
		}, llA, allRtrs, RSLen},
		{"RA", goldenRA, func(b []byte) int {
			return EncodeRA(b, RAFields{CurHopLimit: 64, Other: true, RouterLifetime: 1800, ReachableTime: 30000, RetransTimer: 1000}, raOpts, llB, allNodes)
		}, llB, allNodes, RALen},
	} {
		n := tt.encode(buf)
		if !bytes.Equal(buf[:n], tt.golden) {
			t.Errorf("%s =\n% x\nwant\n% x", tt.name, buf[:n], tt.golden)
			continue
		}
		m, err := ParseICMP(tt.golden, tt.src, tt.dst)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !bytes.Equal(m.NDPOptions(), tt.golden[tt.fixedPart:]) {
			t.Errorf("%s: options at the wrong offset", tt.name)
		}
	}
}

func TestNDP_Accessors_ReadGoldenFields(t *testing.T) {
	ra := ICMP(goldenRA)
	if ra.CurHopLimit() != 64 || ra.Managed() || !ra.Other() || ra.RouterLifetime() != 1800 || ra.ReachableTime() != 30000 || ra.RetransTimer() != 1000 {
		t.Errorf("RA fields: %d %v %v %d %d %d", ra.CurHopLimit(), ra.Managed(), ra.Other(), ra.RouterLifetime(), ra.ReachableTime(), ra.RetransTimer())
	}
	na := ICMP(goldenNA)
	if na.Router() || !na.Solicited() || !na.Override() || na.Target() != llB {
		t.Errorf("NA fields: %v %v %v %v", na.Router(), na.Solicited(), na.Override(), na.Target())
	}
	if ICMP(goldenNS).Target() != llB {
		t.Errorf("NS target %v", ICMP(goldenNS).Target())
	}
	var types []uint8
	it := Options(ra.NDPOptions())
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		types = append(types, o.Type())
		switch o.Type() {
		case OptSourceLinkAddr:
			if !bytes.Equal(o.LinkAddr(), macB[:]) {
				t.Errorf("link address % x", o.LinkAddr())
			}
		case OptMTU:
			if o.MTU() != 1500 {
				t.Errorf("MTU %d", o.MTU())
			}
		case OptPrefixInfo:
			p, ok := o.Prefix()
			if !o.ValidPrefixInfo() || !ok || p != prefix || !o.OnLink() || !o.Autonomous() || o.ValidLifetime() != 86400 || o.PreferredLifetime() != 14400 {
				t.Errorf("prefix %v %v L %v A %v %d %d", p, ok, o.OnLink(), o.Autonomous(), o.ValidLifetime(), o.PreferredLifetime())
			}
		}
	}
	if it.Err() != nil || !bytes.Equal(types, []uint8{OptSourceLinkAddr, OptMTU, OptPrefixInfo}) {
		t.Errorf("options %v err %v", types, it.Err())
	}
}

func TestEncodeRedirect_WithRedirectedHeader(t *testing.T) {
	dest := netip.MustParseAddr("2001:db8::9")
	opts := make([]byte, 64)
	n := PutRedirectedOption(opts, echoRequest, 8+43) // room for 43: 40 quoted, cut to units of 8
	b := make([]byte, 128)
	m := ICMP(b[:EncodeRedirect(b, llB, dest, opts[:n], llA, llB)])
	if _, err := ParseICMP(m, llA, llB); err != nil {
		t.Fatal(err)
	}
	if m.Type() != TypeRedirect || m.Target() != llB || m.RedirectDst() != dest || len(m) != RedirectLen+48 {
		t.Fatalf("type %d target %v dest %v len %d", m.Type(), m.Target(), m.RedirectDst(), len(m))
	}
	it := Options(m.NDPOptions())
	o, ok := it.Next()
	if !ok || o.Type() != OptRedirected || !bytes.Equal(o.Redirected(), echoRequest[:40]) {
		t.Errorf("redirected option: %v % x", ok, o.Data)
	}
}

func TestOptions_LengthZeroAndTruncated_StopWithError(t *testing.T) {
	slla := []byte{OptSourceLinkAddr, 1, 2, 0, 0, 0, 0, 1}
	for _, tt := range []struct {
		name string
		b    []byte
		n    int // options read before the error
		want error
	}{
		{"length zero first", []byte{OptMTU, 0, 0, 0, 0, 0, 5, 0xdc}, 0, ErrOptLenZero},
		{"length zero after a good one", append(bytes.Clone(slla), OptMTU, 0), 1, ErrOptLenZero},
		{"one octet left", append(bytes.Clone(slla), OptMTU), 1, ErrOptTruncated},
		{"length beyond message", []byte{OptPrefixInfo, 4, 64, 0xc0, 0, 0, 0, 0}, 0, ErrOptTruncated},
		{"clean end", append(bytes.Clone(slla), slla...), 2, nil},
		{"empty", nil, 0, nil},
	} {
		it := Options(tt.b)
		n := 0
		for _, ok := it.Next(); ok; _, ok = it.Next() {
			n++
		}
		if n != tt.n || !errors.Is(it.Err(), tt.want) || (tt.want == nil && it.Err() != nil) {
			t.Errorf("%s: read %d, err %v; want %d, %v", tt.name, n, it.Err(), tt.n, tt.want)
		}
	}
}

func TestValidate_NDPRules(t *testing.T) {
	mut := func(golden []byte, f func(b []byte)) ICMP { b := bytes.Clone(golden); f(b); return b }
	nsNoOpt, naNoOpt := ICMP(goldenNS[:NSLen]), ICMP(goldenNA[:NALen])
	mcastTarget := func(b []byte) { b[8] = 0xff }
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"NS ok", ValidateNS(255, llA, snmB, goldenNS), nil},
		{"NS hop limit 254", ValidateNS(254, llA, snmB, goldenNS), ErrNDPHopLimit},
		{"NS code 1", ValidateNS(255, llA, snmB, mut(goldenNS, func(b []byte) { b[1] = 1 })), ErrNDPCode},
		{"NS 23 octets", ValidateNS(255, llA, snmB, goldenNS[:23]), ErrNDPLen},
		{"NS target multicast", ValidateNS(255, llA, snmB, mut(goldenNS, mcastTarget)), ErrNDPTargetMcast},
		{"NS option length 0", ValidateNS(255, llA, snmB, mut(goldenNS, func(b []byte) { b[NSLen+1] = 0 })), ErrOptLenZero},
		{"NS option truncated", ValidateNS(255, llA, snmB, goldenNS[:NSLen+4]), ErrOptTruncated},
		{"NS DAD ok", ValidateNS(255, netip.IPv6Unspecified(), snmB, nsNoOpt), nil},
		{"NS DAD with source link-layer option", ValidateNS(255, netip.IPv6Unspecified(), snmB, goldenNS), ErrNDPSourceLinkAddr},
		{"NS DAD to all-nodes", ValidateNS(255, netip.IPv6Unspecified(), allNodes, nsNoOpt), ErrNDPSource},
		{"NS DAD to unicast", ValidateNS(255, netip.IPv6Unspecified(), llB, nsNoOpt), ErrNDPSource},
		{"NA ok", ValidateNA(255, llA, goldenNA), nil},
		{"NA hop limit 1", ValidateNA(1, llA, goldenNA), ErrNDPHopLimit},
		{"NA code 9", ValidateNA(255, llA, mut(goldenNA, func(b []byte) { b[1] = 9 })), ErrNDPCode},
		{"NA 16 octets", ValidateNA(255, llA, goldenNA[:16]), ErrNDPLen},
		{"NA target multicast", ValidateNA(255, llA, mut(goldenNA, mcastTarget)), ErrNDPTargetMcast},
		{"NA solicited to multicast", ValidateNA(255, allNodes, naNoOpt), ErrNDPSolicitedMcast},
		{"NA unsolicited to multicast", ValidateNA(255, allNodes, mut(naNoOpt, func(b []byte) { b[4] = 0x20 })), nil},
		{"RS ok", ValidateRS(255, llA, goldenRS), nil},
		{"RS hop limit 64", ValidateRS(64, llA, goldenRS), ErrNDPHopLimit},
		{"RS code 1", ValidateRS(255, llA, mut(goldenRS, func(b []byte) { b[1] = 1 })), ErrNDPCode},
		{"RS 7 octets", ValidateRS(255, llA, goldenRS[:7]), ErrNDPLen},
		{"RS unspecified source, no option", ValidateRS(255, netip.IPv6Unspecified(), goldenRS[:RSLen]), nil},
		{"RS unspecified source with link-layer option", ValidateRS(255, netip.IPv6Unspecified(), goldenRS), ErrNDPSourceLinkAddr},
		{"RA ok", ValidateRA(255, llB, goldenRA), nil},
		{"RA from a global address", ValidateRA(255, addrB, goldenRA), ErrNDPSource},
		{"RA hop limit 0", ValidateRA(0, llB, goldenRA), ErrNDPHopLimit},
		{"RA code 1", ValidateRA(255, llB, mut(goldenRA, func(b []byte) { b[1] = 1 })), ErrNDPCode},
		{"RA 15 octets", ValidateRA(255, llB, goldenRA[:15]), ErrNDPLen},
		{"RA prefix option length 0", ValidateRA(255, llB, mut(goldenRA, func(b []byte) { b[RALen+17] = 0 })), ErrOptLenZero},
		{"redirect to a router ok", ValidateRedirect(255, llB, redirect(llA, addrB)), nil},
		{"redirect to the destination ok", ValidateRedirect(255, llB, redirect(addrB, addrB)), nil},
		{"redirect from a global address", ValidateRedirect(255, addrA, redirect(llA, addrB)), ErrNDPSource},
		{"redirect hop limit 64", ValidateRedirect(64, llB, redirect(llA, addrB)), ErrNDPHopLimit},
		{"redirect code 1", ValidateRedirect(255, llB, mut(redirect(llA, addrB), func(b []byte) { b[1] = 1 })), ErrNDPCode},
		{"redirect 39 octets", ValidateRedirect(255, llB, redirect(llA, addrB)[:39]), ErrNDPLen},
		{"redirect for a multicast destination", ValidateRedirect(255, llB, redirect(llA, allNodes)), ErrNDPRedirectDest},
		{"redirect to a global target not the destination", ValidateRedirect(255, llB, redirect(addrA, addrB)), ErrNDPRedirectTarget},
	} {
		if !errors.Is(tt.err, tt.want) || (tt.want == nil && tt.err != nil) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}

// redirect is a redirect from llB to llA naming target for dest.
func redirect(target, dest netip.Addr) ICMP {
	b := make([]byte, RedirectLen)
	EncodeRedirect(b, target, dest, nil, llB, llA)
	return b
}

func TestSolicitedNode(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::aabb:ccdd")
	if got := SolicitedNode(a); got != netip.MustParseAddr("ff02::1:ffbb:ccdd") || !IsSolicitedNode(got) {
		t.Errorf("SolicitedNode = %v", got)
	}
	for _, s := range []string{"ff02::1", "ff02::2:ff00:1", "ff01::1:ff00:1", "fe80::1:ff00:1"} {
		if IsSolicitedNode(netip.MustParseAddr(s)) {
			t.Errorf("IsSolicitedNode(%s)", s)
		}
	}
}

// RFC 3971 §5.3.2 with RFC 7527 §4.1's 6-octet nonce: type 14, length 1
// (8 octets), the nonce; read back through the option iterator.
func TestPutNonceOption_GoldenBytes(t *testing.T) {
	b := make([]byte, 8)
	if n := PutNonceOption(b, [NonceLen]byte{1, 2, 3, 4, 5, 6}); n != 8 || !bytes.Equal(b, []byte{14, 1, 1, 2, 3, 4, 5, 6}) {
		t.Fatalf("% x (%d)", b, n)
	}
	it := Options(b)
	if o, ok := it.Next(); !ok || o.Type() != OptNonce || !bytes.Equal(o.Nonce(), []byte{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("read back: %v %v", o, ok)
	}
}
