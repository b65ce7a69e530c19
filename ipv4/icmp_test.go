package ipv4

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"testing"
)

func TestParseICMP_GoldenEchoRequestAndReply(t *testing.T) {
	for _, tt := range []struct {
		pkt      []byte
		typ      uint8
		checksum uint16
	}{
		{echoRequest, TypeEcho, 0x3692},
		{echoReply, TypeEchoReply, 0x3e92},
	} {
		h, err := Parse(tt.pkt)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseICMP(h.Payload())
		if err != nil {
			t.Fatal(err)
		}
		if m.Type() != tt.typ || m.Code() != 0 || m.Ident() != 12422 || m.Seq() != 1 || m.Checksum() != tt.checksum {
			t.Errorf("type %d code %d ident %d seq %d checksum %#x", m.Type(), m.Code(), m.Ident(), m.Seq(), m.Checksum())
		}
		if len(m.Payload()) != 24 || m.Payload()[20] != 0x14 {
			t.Errorf("payload = % x", m.Payload())
		}
	}
}

func TestICMP_EchoReplyBuiltFromRequest_MatchesCapturedReply(t *testing.T) {
	req, _ := Parse(echoRequest)
	reply := Header(bytes.Clone(echoReply)) // take the kernel's IP header as is
	m := ICMP(reply.Payload())
	copy(m, req.Payload())
	m.SetType(TypeEchoReply)
	m.SetCode(0)
	m.SetChecksum()
	if !bytes.Equal(reply, echoReply) {
		t.Errorf("reply =\n% x\nwant\n% x", []byte(reply), echoReply)
	}
}

func TestICMP_SettersRoundTrip(t *testing.T) {
	m := ICMP(make([]byte, 12))
	m.SetType(TypeEcho)
	m.SetCode(0)
	m.SetIdent(0xbeef)
	m.SetSeq(0x0102)
	copy(m.Payload(), "ping")
	m.SetChecksum()
	got, err := ParseICMP(m)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type() != TypeEcho || got.Ident() != 0xbeef || got.Seq() != 0x0102 || string(got.Payload()) != "ping" {
		t.Errorf("round trip = % x", []byte(got))
	}
}

func TestParseICMP_Rejects(t *testing.T) {
	req, _ := Parse(echoRequest)
	bad := bytes.Clone(req.Payload())
	bad[10] ^= 0x40
	if _, err := ParseICMP(req.Payload()[:7]); !errors.Is(err, ErrICMPTruncated) {
		t.Errorf("7 octets: %v", err)
	}
	if _, err := ParseICMP(bad); !errors.Is(err, ErrICMPChecksum) {
		t.Errorf("flipped bit: %v", err)
	}
}

func TestIsError(t *testing.T) {
	for typ := range 256 {
		want := typ == 3 || typ == 4 || typ == 5 || typ == 11 || typ == 12
		if IsError(uint8(typ)) != want {
			t.Errorf("IsError(%d) = %v", typ, !want)
		}
	}
}

// udpDatagram returns a valid datagram with n payload octets.
func udpDatagram(src, dst netip.Addr, n int) Header {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i)
	}
	return Header(build(Fields{ID: 99, TTL: 64, Protocol: ProtoUDP, Src: src, Dst: dst}, p))
}

func TestEncodeError_QuotesAtMost548Octets(t *testing.T) {
	for _, n := range []int{8, 100, MaxQuote - 20, MaxQuote - 19, 1480} {
		orig := udpDatagram(addrA, addrB, n)
		b := make([]byte, ICMPHeaderLen+MaxQuote)
		got := EncodeError(b, TypeDestUnreachable, CodeFragNeeded, 1400, orig)
		wantQuote := min(len(orig), MaxQuote)
		if got != ICMPHeaderLen+wantQuote {
			t.Errorf("payload %d: length %d, want %d", n, got, ICMPHeaderLen+wantQuote)
		}
		m, err := ParseICMP(b[:got])
		if err != nil {
			t.Fatalf("payload %d: %v", n, err)
		}
		if m.Type() != TypeDestUnreachable || m.Code() != CodeFragNeeded || m.MTU() != 1400 {
			t.Errorf("type %d code %d mtu %d", m.Type(), m.Code(), m.MTU())
		}
		if !bytes.Equal(m.Payload(), orig[:wantQuote]) {
			t.Errorf("payload %d: quote differs", n)
		}
		q, transport, err := Quoted(m)
		if err != nil {
			t.Fatalf("payload %d: Quoted: %v", n, err)
		}
		if q.TotalLen() != len(orig) || q.Src() != addrA || q.Dst() != addrB || !bytes.Equal(transport, orig.Payload()[:len(q)-20]) {
			t.Errorf("payload %d: Quoted = %d octets, total %d", n, len(q), q.TotalLen())
		}
	}
}

func TestErrorAllowed(t *testing.T) {
	icmp := func(typ uint8, n int) Header {
		p := make([]byte, n)
		if n > 0 {
			p[0] = typ
		}
		return Header(build(Fields{TTL: 64, Protocol: ProtoICMP, Src: addrA, Dst: addrB}, p))
	}
	frag := func(offset int) Header {
		h := udpDatagram(addrA, addrB, 16)
		h.SetFragment(false, true, offset)
		h.SetChecksum()
		return h
	}
	tests := []struct {
		name          string
		orig          Header
		link, ipBcast bool
		want          bool
	}{
		{"udp unicast", udpDatagram(addrA, addrB, 8), false, false, true},
		// Only an ICMP datagram can be an ICMP error: a UDP datagram from
		// port 1000 (0x03e8) starts with the octet of type 3.
		{"udp from port 1000", Header(build(Fields{TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB}, []byte{0x03, 0xe8, 0, 53, 0, 8, 0, 0})), false, false, true},
		{"echo request", icmp(TypeEcho, 8), false, false, true},
		{"echo reply", icmp(TypeEchoReply, 8), false, false, true},
		{"timestamp", icmp(TypeTimestamp, 20), false, false, true},
		{"dest unreachable", icmp(TypeDestUnreachable, 36), false, false, false},
		{"time exceeded", icmp(TypeTimeExceeded, 36), false, false, false},
		{"redirect", icmp(TypeRedirect, 36), false, false, false},
		{"param problem", icmp(TypeParamProblem, 36), false, false, false},
		{"source quench", icmp(TypeSourceQuench, 36), false, false, false},
		{"unknown type 200 (Linux compat)", icmp(200, 8), false, false, false},
		{"type 18, the last Linux knows (address mask reply)", icmp(18, 12), false, false, true},
		{"type 19, past NR_ICMP_TYPES (Linux compat)", icmp(19, 8), false, false, false},
		{"icmp truncated to 4 octets", icmp(TypeEcho, 4), false, false, false},
		{"icmp empty", icmp(TypeEcho, 0), false, false, false},
		{"first fragment", frag(0), false, false, true},
		{"non-first fragment", frag(1480), false, false, false},
		{"link broadcast", udpDatagram(addrA, addrB, 8), true, false, false},
		{"ip broadcast", udpDatagram(addrA, addrB, 8), false, true, false},
		{"dst 255.255.255.255", udpDatagram(addrA, netip.MustParseAddr("255.255.255.255"), 8), false, false, false},
		{"dst multicast", udpDatagram(addrA, netip.MustParseAddr("224.0.0.251"), 8), false, false, false},
		{"src 0.0.0.0", udpDatagram(netip.MustParseAddr("0.0.0.0"), addrB, 8), false, false, false},
		{"src loopback", udpDatagram(loopback, addrB, 8), false, false, false},
		{"src multicast", udpDatagram(netip.MustParseAddr("239.1.1.1"), addrB, 8), false, false, false},
		{"src limited broadcast", udpDatagram(netip.MustParseAddr("255.255.255.255"), addrB, 8), false, false, false},
		{"src class E", udpDatagram(netip.MustParseAddr("250.0.0.1"), addrB, 8), false, false, false},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.orig); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := ErrorAllowed(tt.orig, tt.link, tt.ipBcast); got != tt.want {
			t.Errorf("%s: ErrorAllowed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestQuoted_ShortOrBadQuotes_Rejected(t *testing.T) {
	orig := udpDatagram(addrA, addrB, 64)
	errMsg := func(quote []byte) ICMP {
		m := ICMP(make([]byte, ICMPHeaderLen+len(quote)))
		m.SetType(TypeDestUnreachable)
		m.SetCode(CodePortUnreachable)
		copy(m.Payload(), quote)
		m.SetChecksum()
		return m
	}
	withOpts := Header(build(Fields{TTL: 1, Protocol: ProtoTCP, Src: addrA, Dst: addrB, Options: []byte{0x94, 4, 0, 0}}, make([]byte, 40)))
	badOpts := bytes.Clone(withOpts)
	badOpts[21] = 0
	v6 := bytes.Clone(orig)
	v6[0] = 0x65
	tiny := bytes.Clone(orig[:28])
	Header(tiny).SetTotalLen(24)
	ihl4 := bytes.Clone(orig[:28])
	ihl4[0] = 0x44
	tl19 := bytes.Clone(orig[:28])
	Header(tl19).SetTotalLen(19)
	empty := bytes.Clone(orig[:28])
	Header(empty).SetTotalLen(20)
	Header(empty).SetChecksum()
	if _, err := Parse(empty[:20]); err != nil {
		t.Fatalf("test setup: Parse rejects an empty datagram: %v", err)
	}
	tests := []struct {
		name  string
		quote []byte
		want  error
	}{
		{"header only", orig[:20], ErrTruncated},
		{"header plus 7", orig[:27], ErrTruncated},
		{"19 octets", orig[:19], ErrTruncated},
		{"options, 8 octets short of IHL+8", withOpts[:24+7], ErrTruncated},
		{"version 6", v6[:28], ErrVersion},
		{"IHL beyond quote", withOpts[:22], ErrHeaderLen},
		{"IHL 4", ihl4, ErrHeaderLen},
		{"total length below IHL*4", tl19, ErrTotalLen},
		{"bad options", badOpts[:32], ErrOptions},
		{"total length below IHL+8", tiny, ErrTruncated},
		// The header gets Parse's checks in Parse's order, whatever the
		// quote's length: a header fault is named as Parse names it.
		{"header only, version 6", v6[:20], ErrVersion},
		// and no stricter check: Total Length = IHL*4 is a well-formed
		// empty datagram (Parse takes it), so its quote lacks only the 8
		// octets of transport header.
		{"total length equal to the header length", empty, ErrTruncated},
	}
	for _, tt := range tests {
		if _, _, err := Quoted(errMsg(tt.quote)); !errors.Is(err, tt.want) {
			t.Errorf("%s: Quoted = %v, want %v", tt.name, err, tt.want)
		}
	}

	// Good: exactly IHL+8, the RFC 792 minimum; the total length says more.
	q, transport, err := Quoted(errMsg(orig[:28]))
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 28 || q.TotalLen() != len(orig) || !bytes.Equal(transport, orig[20:28]) || q.Protocol() != ProtoUDP {
		t.Errorf("Quoted = % x, transport % x", []byte(q), transport)
	}
	// Good: options, checksum not re-verified (a router changed TTL).
	mangled := bytes.Clone(withOpts[:40])
	mangled[offTTL] = 0
	q, transport, err = Quoted(errMsg(mangled))
	if err != nil || q.HeaderLen() != 24 || len(transport) != 16 {
		t.Errorf("Quoted with options = %v, hl %d, transport %d", err, q.HeaderLen(), len(transport))
	}
	// Good: a quote longer than the original (padding) is cut to total length.
	padded := append(bytes.Clone(orig[:]), 0xee, 0xee)
	q, _, err = Quoted(errMsg(padded))
	if err != nil || len(q) != len(orig) {
		t.Errorf("padded quote: %v, len %d want %d", err, len(q), len(orig))
	}
}

func TestErrno_MatchesLinuxIcmpErrConvert(t *testing.T) {
	for _, c := range []struct {
		typ, code uint8
		want      syscall.Errno
	}{
		{TypeDestUnreachable, 0, syscall.ENETUNREACH},
		{TypeDestUnreachable, 1, syscall.EHOSTUNREACH},
		{TypeDestUnreachable, 2, syscall.ENOPROTOOPT},
		{TypeDestUnreachable, 3, syscall.ECONNREFUSED},
		{TypeDestUnreachable, 4, syscall.EMSGSIZE},
		{TypeDestUnreachable, 5, syscall.EOPNOTSUPP},
		{TypeDestUnreachable, 6, syscall.ENETUNREACH},
		{TypeDestUnreachable, 7, syscall.EHOSTDOWN},
		{TypeDestUnreachable, 8, syscall.ENONET},
		{TypeDestUnreachable, 9, syscall.ENETUNREACH},
		{TypeDestUnreachable, 10, syscall.EHOSTUNREACH},
		{TypeDestUnreachable, 13, syscall.EHOSTUNREACH},
		{TypeTimeExceeded, 0, syscall.EHOSTUNREACH},
		{TypeParamProblem, 0, syscall.EPROTO},
	} {
		if got := Errno(c.typ, c.code); got != c.want {
			t.Errorf("Errno(%d/%d) = %v, want %v", c.typ, c.code, got, c.want)
		}
	}
}
