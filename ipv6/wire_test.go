package ipv6

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// echoRequest is a real capture (tcpdump on lo, in a scratch namespace) of
// `ping -6 -c 1 -s 24 -p 10 ::1` from Linux: flow label 0xe2e83, hop limit
// 64, an ICMPv6 echo request with ident 12549, seq 1 and 24 octets of data
// (timestamp, then the 0x10 pattern).
var echoRequest = []byte{
	0x60, 0x0e, 0x2e, 0x83, 0x00, 0x20, 0x3a, 0x40, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0x01, 0x80, 0x00, 0x2d, 0xe5, 0x31, 0x05, 0x00, 0x01,
	0x9e, 0x5a, 0x14, 0x6b, 0, 0, 0, 0, 0x23, 0xb2, 0x0a, 0, 0, 0, 0, 0,
	0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
}

// echoReply is the kernel's answer from the same capture: its own flow
// label (0xb8d7d), type 129, the checksum 0x100 lower.
var echoReply = []byte{
	0x60, 0x0b, 0x8d, 0x7d, 0x00, 0x20, 0x3a, 0x40, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0x01, 0x81, 0x00, 0x2c, 0xe5, 0x31, 0x05, 0x00, 0x01,
	0x9e, 0x5a, 0x14, 0x6b, 0, 0, 0, 0, 0x23, 0xb2, 0x0a, 0, 0, 0, 0, 0,
	0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
}

var (
	loopback = netip.IPv6Loopback()
	addrA    = netip.MustParseAddr("2001:db8::1")
	addrB    = netip.MustParseAddr("2001:db8::2")
	llA      = netip.MustParseAddr("fe80::1")
	llB      = netip.MustParseAddr("fe80::2")
)

func fieldsOf(h Header) Fields {
	return Fields{TrafficClass: h.TrafficClass(), FlowLabel: h.FlowLabel(), PayloadLen: h.PayloadLen(),
		NextHeader: h.NextHeader(), HopLimit: h.HopLimit(), Src: h.Src(), Dst: h.Dst()}
}

// build encodes f followed by payload, setting PayloadLen.
func build(f Fields, payload []byte) []byte {
	f.PayloadLen = len(payload)
	b := make([]byte, HeaderLen+len(payload))
	copy(b[Encode(b, f):], payload)
	return b
}

func TestParse_GoldenEchoRequest_ReadsEveryField(t *testing.T) {
	h, err := Parse(echoRequest)
	if err != nil {
		t.Fatal(err)
	}
	want := Fields{FlowLabel: 0xe2e83, PayloadLen: 32, NextHeader: ProtoICMPv6, HopLimit: 64, Src: loopback, Dst: loopback}
	if got := fieldsOf(h); got != want {
		t.Errorf("fields = %+v, want %+v", got, want)
	}
	if h.Version() != 6 || len(h.Payload()) != 32 || h.Payload()[0] != TypeEchoRequest {
		t.Errorf("version %d payload % x", h.Version(), h.Payload())
	}
}

func TestEncode_GoldenPackets_ReproduceCapturedBytes(t *testing.T) {
	for _, pkt := range [][]byte{echoRequest, echoReply} {
		h, _ := Parse(pkt)
		if got := build(fieldsOf(h), h.Payload()); !bytes.Equal(got, pkt) {
			t.Errorf("Encode =\n% x\nwant\n% x", got, pkt)
		}
	}
}

func TestEncode_TrafficClassAndFlowLabel_DoNotOverlap(t *testing.T) {
	f := Fields{TrafficClass: 0xff, FlowLabel: 0xfffff, NextHeader: ProtoUDP, HopLimit: 1, Src: addrA, Dst: addrB}
	h := Header(build(f, nil))
	if h[0] != 0x6f || h[1] != 0xff || h.TrafficClass() != 0xff || h.FlowLabel() != 0xfffff {
		t.Errorf("% x: tc %#x fl %#x", h[:4], h.TrafficClass(), h.FlowLabel())
	}
	f = Fields{TrafficClass: 0xb8, FlowLabel: 0xfff00001, Src: addrA, Dst: addrB} // label above 20 bits is cut
	h = Header(build(f, nil))
	if h.Version() != 6 || h.TrafficClass() != 0xb8 || h.FlowLabel() != 0x00001 {
		t.Errorf("% x: version %d tc %#x fl %#x", h[:4], h.Version(), h.TrafficClass(), h.FlowLabel())
	}
}

func TestParse_LinkPadding_IsCut(t *testing.T) {
	h, err := Parse(append(bytes.Clone(echoRequest), make([]byte, 10)...))
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != len(echoRequest) {
		t.Errorf("len = %d, want %d", len(h), len(echoRequest))
	}
}

func TestParse_Rejects(t *testing.T) {
	mut := func(f func(b []byte)) []byte { b := bytes.Clone(echoRequest); f(b); return b }
	for _, tt := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"39 octets", echoRequest[:39], ErrTruncated},
		{"version 4", mut(func(b []byte) { b[0] = 0x40 }), ErrVersion},
		{"version 7", mut(func(b []byte) { b[0] = 0x70 }), ErrVersion},
		{"payload length one beyond", mut(func(b []byte) { b[5] = 33 }), ErrPayloadLen},
		{"payload length 65535", mut(func(b []byte) { b[4], b[5] = 0xff, 0xff }), ErrPayloadLen},
		{"header only, payload length 1", echoRequest[:40], ErrPayloadLen},
	} {
		if _, err := Parse(tt.b); !errors.Is(err, tt.want) {
			t.Errorf("%s: Parse = %v, want %v", tt.name, err, tt.want)
		}
	}
	if h, err := Parse(mut(func(b []byte) { b[5] = 0 })); err != nil || len(h) != HeaderLen {
		t.Errorf("payload length 0: %v len %d, want an empty payload", err, len(h))
	}
}

func TestPseudoHeaderSum_VerifiesCapturedICMPv6Checksum(t *testing.T) {
	h, _ := Parse(echoRequest)
	if !verifies(h.Payload(), h.Src(), h.Dst(), ProtoICMPv6) {
		t.Fatal("captured checksum does not verify")
	}
	// Every input of RFC 8200 §8.1 counts: the upper-layer length, the
	// next header value and each address.
	for name, ok := range map[string]bool{
		"next header 17": verifies(h.Payload(), h.Src(), h.Dst(), ProtoUDP),
		"other src":      verifies(h.Payload(), addrA, h.Dst(), ProtoICMPv6),
		"other dst":      verifies(h.Payload(), h.Src(), addrA, ProtoICMPv6),
		"length +1":      verifies(append(bytes.Clone(h.Payload()), 0), h.Src(), h.Dst(), ProtoICMPv6),
	} {
		if ok {
			t.Errorf("%s: checksum still verifies", name)
		}
	}
}

// verifies checks an upper-layer packet's checksum through ParseICMP's
// path: the pseudo-header sum chained onto the message.
func verifies(b []byte, src, dst netip.Addr, next uint8) bool {
	return icmpChecksum(b, src, dst, next) == 0
}

func icmpChecksum(b []byte, src, dst netip.Addr, next uint8) uint16 {
	return checksumOf(b, PseudoHeaderSum(src, dst, next, uint32(len(b))))
}

func TestPseudoHeaderSum_EqualsSumOfTheSpelledOutPseudoHeader(t *testing.T) {
	// RFC 8200 §8.1: src, dst, the 32-bit upper-layer length, three zero
	// octets and the next header, summed as written out.
	for _, length := range []uint32{0, 8, 0xffff, 0x12345, 0xffffffff} {
		var ph []byte
		ph = append(ph, addrA.AsSlice()...)
		ph = append(ph, addrB.AsSlice()...)
		ph = append(ph, byte(length>>24), byte(length>>16), byte(length>>8), byte(length), 0, 0, 0, ProtoTCP)
		want := checksumOf(ph, 0)
		if got := checksumOf(nil, PseudoHeaderSum(addrA, addrB, ProtoTCP, length)); got != want {
			t.Errorf("length %#x: %#04x, want %#04x", length, got, want)
		}
	}
}
