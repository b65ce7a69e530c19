package ipv4

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// echoRequest is a real capture (tcpdump on lo) of `ping -c 1 -s 24
// 127.0.0.1` from Linux: IPv4 with DF, TTL 64, ID 0x7bef, then an ICMP echo
// request with ident 12422, seq 1 and a 24-octet payload (timestamp and
// the 0x10.. pattern).
var echoRequest = []byte{
	0x45, 0x00, 0x00, 0x34, 0x7b, 0xef, 0x40, 0x00, 0x40, 0x01, 0xc0, 0xd7, 0x7f, 0x00, 0x00, 0x01,
	0x7f, 0x00, 0x00, 0x01, 0x08, 0x00, 0x36, 0x92, 0x30, 0x86, 0x00, 0x01, 0x21, 0x5a, 0x07, 0x6b,
	0x00, 0x00, 0x00, 0x00, 0x11, 0xd1, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13,
	0x14, 0x15, 0x16, 0x17,
}

// echoReply is the kernel's answer to echoRequest from the same capture: no
// DF, next ID, type 0.
var echoReply = []byte{
	0x45, 0x00, 0x00, 0x34, 0x7b, 0xf0, 0x00, 0x00, 0x40, 0x01, 0x00, 0xd7, 0x7f, 0x00, 0x00, 0x01,
	0x7f, 0x00, 0x00, 0x01, 0x00, 0x00, 0x3e, 0x92, 0x30, 0x86, 0x00, 0x01, 0x21, 0x5a, 0x07, 0x6b,
	0x00, 0x00, 0x00, 0x00, 0x11, 0xd1, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13,
	0x14, 0x15, 0x16, 0x17,
}

var (
	loopback = netip.MustParseAddr("127.0.0.1")
	addrA    = netip.MustParseAddr("10.0.0.1")
	addrB    = netip.MustParseAddr("10.0.0.2")
)

// fieldsOf reads h back into Fields (test helper; the stack reads headers
// through accessors).
func fieldsOf(h Header) Fields {
	return Fields{
		TOS: h.TOS(), TotalLen: h.TotalLen(), ID: h.ID(),
		DF: h.DF(), MF: h.MF(), FragOffset: h.FragOffset(),
		TTL: h.TTL(), Protocol: h.Protocol(), Src: h.Src(), Dst: h.Dst(),
		Options: h.Options(),
	}
}

func fieldsEqual(a, b Fields) bool {
	return a.TOS == b.TOS && a.TotalLen == b.TotalLen && a.ID == b.ID && a.DF == b.DF &&
		a.MF == b.MF && a.FragOffset == b.FragOffset && a.TTL == b.TTL &&
		a.Protocol == b.Protocol && a.Src == b.Src && a.Dst == b.Dst &&
		bytes.Equal(a.Options, b.Options)
}

// build encodes f followed by payload into a new buffer, setting TotalLen.
func build(f Fields, payload []byte) []byte {
	f.TotalLen = HeaderMinLen + len(f.Options) + len(payload)
	b := make([]byte, f.TotalLen)
	n := Encode(b, f)
	copy(b[n:], payload)
	return b
}

func TestParse_GoldenEchoRequest_ReadsEveryField(t *testing.T) {
	h, err := Parse(echoRequest)
	if err != nil {
		t.Fatal(err)
	}
	want := Fields{TotalLen: 52, ID: 0x7bef, DF: true, TTL: 64, Protocol: ProtoICMP, Src: loopback, Dst: loopback, Options: []byte{}}
	if got := fieldsOf(h); !fieldsEqual(got, want) {
		t.Errorf("fields = %+v, want %+v", got, want)
	}
	if h.Version() != 4 || h.HeaderLen() != 20 || h.Checksum() != 0xc0d7 || h.IsFragment() {
		t.Errorf("version %d hl %d checksum %#x fragment %v", h.Version(), h.HeaderLen(), h.Checksum(), h.IsFragment())
	}
	if len(h.Payload()) != 32 || h.Payload()[0] != TypeEcho {
		t.Errorf("payload = % x", h.Payload())
	}
}

func TestSetChecksum_GoldenHeaders_ReproducesCapturedChecksum(t *testing.T) {
	for _, pkt := range [][]byte{echoRequest, echoReply} {
		h := Header(bytes.Clone(pkt))
		want := h.Checksum()
		h[offChecksum], h[offChecksum+1] = 0xde, 0xad
		h.SetChecksum()
		if h.Checksum() != want {
			t.Errorf("SetChecksum = %#04x, want captured %#04x", h.Checksum(), want)
		}
	}
}

func TestEncode_GoldenEchoRequest_ReproducesCapturedBytes(t *testing.T) {
	h, _ := Parse(echoRequest)
	b := make([]byte, len(echoRequest))
	n := Encode(b, fieldsOf(h))
	copy(b[n:], h.Payload())
	if !bytes.Equal(b, echoRequest) {
		t.Errorf("Encode =\n% x\nwant\n% x", b, echoRequest)
	}
}

func TestParse_LinkPadding_IsCut(t *testing.T) {
	frame := append(bytes.Clone(echoRequest), make([]byte, 14)...)
	h, err := Parse(frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 52 || len(h.Payload()) != 32 {
		t.Errorf("len = %d payload %d, want 52, 32", len(h), len(h.Payload()))
	}
}

func TestParse_Rejects(t *testing.T) {
	withOpts := func(opts ...byte) []byte {
		return build(Fields{TTL: 1, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: opts}, []byte{1, 2, 3, 4})
	}
	mutate := func(f func(b []byte), fixChecksum bool) []byte {
		b := bytes.Clone(echoRequest)
		f(b)
		if fixChecksum && len(b) >= 20 && int(b[0]&0xf)*4 <= len(b) {
			Header(b).SetChecksum()
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"19 octets", echoRequest[:19], ErrTruncated},
		{"version 6", mutate(func(b []byte) { b[0] = 0x65 }, true), ErrVersion},
		{"version 0", mutate(func(b []byte) { b[0] = 0x05 }, true), ErrVersion},
		{"IHL 4", mutate(func(b []byte) { b[0] = 0x44 }, false), ErrHeaderLen},
		{"IHL 0", mutate(func(b []byte) { b[0] = 0x40 }, false), ErrHeaderLen},
		{"IHL beyond buffer", mutate(func(b []byte) { b[0] = 0x4f }, false)[:40], ErrHeaderLen},
		{"total length < IHL*4", mutate(func(b []byte) { b[2], b[3] = 0, 19 }, true), ErrTotalLen},
		{"total length 0", mutate(func(b []byte) { b[2], b[3] = 0, 0 }, true), ErrTotalLen},
		{"total length > buffer", mutate(func(b []byte) { b[3] = 53 }, true), ErrTotalLen},
		{"bad checksum", mutate(func(b []byte) { b[8] = 63 }, false), ErrChecksum},
		{"checksum over payload ignored but header byte flipped", mutate(func(b []byte) { b[11] ^= 1 }, false), ErrChecksum},
		{"option length beyond area", withOpts(0x44, 0x30, 0, 0), ErrOptions},
		{"option length 0 would loop forever", withOpts(0x07, 0x00, 0, 0), ErrOptions},
		{"option length 1 would loop forever", withOpts(0x07, 0x01, 0, 0), ErrOptions},
		{"option type without length octet", withOpts(0x01, 0x01, 0x01, 0x44), ErrOptions},
		{"second option overruns", withOpts(0x01, 0x94, 0x04, 0, 0, 0x07, 0x05, 0), ErrOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.b); !errors.Is(err, tt.want) {
				t.Errorf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParse_WellFormedOptions_Accepted(t *testing.T) {
	for _, opts := range [][]byte{
		{0x01, 0x01, 0x01, 0x01},                         // NOPs
		{0x00, 0xff, 0x00, 0x07},                         // EOL then padding garbage is not parsed
		{0x94, 0x04, 0x00, 0x00},                         // Router Alert (RFC 2113)
		{0x9e, 0x02, 0x01, 0x00},                         // length 2, the least (type and length octets, no data): RFC 4727 experiment 158
		{0x07, 0x07, 0x04, 0, 0, 0, 0, 0x00},             // Record Route, one slot, then EOL
		{0x01, 0x89, 0x06, 1, 2, 3, 4, 0x00},             // NOP, Strict Source Route, EOL
		append([]byte{0x07, 39, 4}, make([]byte, 37)...), // Record Route of 39 octets, then EOL: all 40
	} {
		if len(opts)%4 != 0 {
			opts = append(opts, make([]byte, 4-len(opts)%4)...)
		}
		b := build(Fields{TTL: 9, Protocol: ProtoTCP, Src: addrA, Dst: addrB, Options: opts}, nil)
		h, err := Parse(b)
		if err != nil {
			t.Errorf("options % x: %v", opts, err)
			continue
		}
		if !bytes.Equal(h.Options(), opts) {
			t.Errorf("Options = % x, want % x", h.Options(), opts)
		}
	}
}

func TestEncode_ThenParse_RoundTrips(t *testing.T) {
	for _, f := range []Fields{
		{TTL: DefaultTTL, Protocol: ProtoTCP, Src: addrA, Dst: addrB, ID: 1},
		{TOS: 0xb8, ID: 0xffff, DF: true, TTL: 255, Protocol: ProtoUDP, Src: addrB, Dst: addrA},
		{ID: 7, MF: true, FragOffset: 8 * 8191, TTL: 1, Protocol: ProtoICMP, Src: addrA, Dst: netip.MustParseAddr("255.255.255.255")},
		{ID: 7, FragOffset: 1480, TTL: 3, Protocol: 253, Src: addrA, Dst: addrB, Options: []byte{0x94, 0x04, 0, 0}},
	} {
		payload := []byte("hello, fragments")
		b := build(f, payload)
		h, err := Parse(b)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		f.TotalLen = len(b)
		if f.Options == nil {
			f.Options = []byte{}
		}
		if got := fieldsOf(h); !fieldsEqual(got, f) {
			t.Errorf("round trip = %+v, want %+v", got, f)
		}
		if !bytes.Equal(h.Payload(), payload) {
			t.Errorf("payload = %q", h.Payload())
		}
		if wantFrag := f.MF || f.FragOffset != 0; h.IsFragment() != wantFrag {
			t.Errorf("IsFragment = %v, want %v", h.IsFragment(), wantFrag)
		}
	}
}

func TestSetters_ChangeOnlyTheirField(t *testing.T) {
	h := Header(bytes.Clone(echoRequest))
	h.SetTOS(0x10)
	h.SetTotalLen(40)
	h.SetID(0x1234)
	h.SetFragment(false, true, 2960)
	h.SetTTL(3)
	h.SetProtocol(ProtoUDP)
	h.SetSrc(addrA)
	h.SetDst(addrB)
	h.SetChecksum()
	want := Fields{TOS: 0x10, TotalLen: 40, ID: 0x1234, MF: true, FragOffset: 2960, TTL: 3, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: []byte{}}
	if got := fieldsOf(h); !fieldsEqual(got, want) {
		t.Errorf("fields = %+v, want %+v", got, want)
	}
	if _, err := Parse(h[:40]); err != nil {
		t.Errorf("Parse after setters: %v", err)
	}
}

// RFC 791 §3.1: the options fill whole 32-bit words of a header whose length
// (IHL) is a 4-bit count of words, so at most 60 - 20 = 40 octets. Encode
// takes options from our own code, so a violation is a programming error.
func TestEncode_BadOptionsLength_Panics(t *testing.T) {
	for _, n := range []int{3, 41, 44} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%d octets of options: no panic", n)
				}
			}()
			opts := bytes.Repeat([]byte{optNOP}, n)
			Encode(make([]byte, HeaderMinLen+n), Fields{TTL: 1, Src: addrA, Dst: addrB, Options: opts})
		}()
	}
}

func TestValidSource(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"10.0.0.1", true},
		{"192.168.1.255", true}, // a subnet broadcast: only the stack knows
		{"223.255.255.254", true},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"127.0.0.1", false},
		{"127.255.0.9", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::ffff:10.0.0.1", false},
	} {
		if got := ValidSource(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("ValidSource(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if ValidSource(netip.Addr{}) {
		t.Error("ValidSource(zero Addr) = true")
	}
}

func TestWirePaths_DoNotAllocate(t *testing.T) {
	buf := make([]byte, 128)
	f := Fields{TTL: 64, Protocol: ProtoTCP, Src: addrA, Dst: addrB, TotalLen: 20}
	orig, _ := Parse(echoRequest)
	allocs := testing.AllocsPerRun(100, func() {
		h, err := Parse(echoRequest)
		if err != nil {
			panic(err)
		}
		_ = h.Src().Is4() && h.Dst().Is4() && h.DF() && h.IsFragment()
		_ = h.Payload()
		_ = Encode(buf, f)
		Header(buf).SetSrc(addrB)
		Header(buf).SetChecksum()
		m, _ := ParseICMP(h.Payload())
		_ = m.Ident()
		_ = EncodeError(buf, TypeDestUnreachable, CodePortUnreachable, 0, orig)
		_ = ErrorAllowed(orig, false, false)
	})
	if allocs != 0 {
		t.Errorf("allocations = %v, want 0", allocs)
	}
}

func BenchmarkParse(b *testing.B) {
	b.SetBytes(int64(len(echoRequest)))
	b.ReportAllocs()
	for b.Loop() {
		h, err := Parse(echoRequest)
		if err != nil || h.Protocol() != ProtoICMP {
			b.Fatal(err)
		}
	}
}

func TestHasOption_FindsSourceRouteAfterNOPs(t *testing.T) {
	lsrr := []byte{optNOP, OptLooseSourceRoute, 7, 8, 10, 0, 0, 1}
	b := make([]byte, HeaderMinLen+len(lsrr))
	Encode(b, Fields{TotalLen: len(b), TTL: 64, Protocol: ProtoICMP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Options: lsrr})
	h, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.HasOption(OptLooseSourceRoute) || h.HasOption(OptStrictSourceRoute) || h.HasOption(OptRecordRoute) {
		t.Fatal("HasOption misreads the options")
	}
	plain := make([]byte, HeaderMinLen)
	Encode(plain, Fields{TotalLen: HeaderMinLen, TTL: 64, Protocol: ProtoICMP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")})
	if Header(plain).HasOption(OptLooseSourceRoute) {
		t.Fatal("found an option in a header without options")
	}
}

// RFC 1122 §3.3.5 lets a host drop source-routed datagrams, and we do, as
// Linux's accept_source_route=0 (stack.handleIPv4Locked): HasOption must find a
// source route option wherever it sits in the list, behind options of any
// length (2, the least, included: RFC 791 §3.1), and nothing after EOL, which
// ends the list (the rest is padding).
func TestHasOption_SourceRouteBehindOtherOptions_Found(t *testing.T) {
	lsrr := []byte{OptLooseSourceRoute, 7, 4, 10, 0, 0, 1}
	for _, tt := range []struct {
		name string
		opts []byte
		want bool
	}{
		{"behind Router Alert", append([]byte{0x94, 4, 0, 0}, append(lsrr, optEOL)...), true},
		{"behind Record Route", append([]byte{OptRecordRoute, 3, 4}, append(lsrr, optEOL, 0)...), true},
		{"behind a 2-octet option", append([]byte{0x9e, 2}, append(lsrr, optEOL, 0, 0)...), true},
		{"after EOL: padding", append([]byte{optEOL}, lsrr...), false},
	} {
		b := build(Fields{TTL: 64, Protocol: ProtoICMP, Src: addrA, Dst: addrB, Options: tt.opts}, nil)
		h, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := h.HasOption(OptLooseSourceRoute); got != tt.want {
			t.Errorf("%s: HasOption(LSRR) = %v, want %v", tt.name, got, tt.want)
		}
		if h.HasOption(OptStrictSourceRoute) {
			t.Errorf("%s: HasOption(SSRR) = true", tt.name)
		}
	}
}

// malformedOptions are option areas Parse rejects (RFC 791 §3.1: every
// option but EOL and NOP has a length octet counting itself and the type
// octet, so 2 ≤ length ≤ the space left). Our own code could still hand them
// to Encode; every walk over options must stop at the fault rather than
// read past the area, loop (a zero length would never advance) or go on
// reading what follows as options (the 2-octet option 0x9e, copied).
// Router Alert (0x94, copied) before the fault is well formed.
var malformedOptions = []struct {
	name string
	opts []byte
}{
	{"type octet last, no length", []byte{0x94, 4, 0, 0, optNOP, optNOP, optNOP, OptLooseSourceRoute}},
	{"length 1", []byte{0x94, 4, 0, 0, OptLooseSourceRoute, 1, 0x9e, 2}},
	{"length past the area", []byte{0x94, 4, 0, 0, optNOP, OptLooseSourceRoute, 5, 0}},
	{"length 0", []byte{0x94, 4, 0, 0, OptLooseSourceRoute, 0, 0x9e, 2}},
}

func TestHasOption_MalformedOptions_StopsAtTheFault(t *testing.T) {
	for _, tt := range malformedOptions {
		h := Header(build(Fields{TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: tt.opts}, pattern(64)))
		if _, err := Parse(h); !errors.Is(err, ErrOptions) {
			t.Fatalf("%s: Parse = %v, want ErrOptions", tt.name, err)
		}
		if !h.HasOption(0x94) || h.HasOption(OptRecordRoute) || h.HasOption(0x9e) {
			t.Fatalf("%s: HasOption misreads the options", tt.name)
		}
	}
}
