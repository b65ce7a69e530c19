package ipv6

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseICMP_GoldenEchoRequestAndReply(t *testing.T) {
	for _, tt := range []struct {
		pkt      []byte
		typ      uint8
		checksum uint16
	}{
		{echoRequest, TypeEchoRequest, 0x2de5},
		{echoReply, TypeEchoReply, 0x2ce5},
	} {
		h, _ := Parse(tt.pkt)
		m, err := ParseICMP(h.Payload(), h.Src(), h.Dst())
		if err != nil {
			t.Fatal(err)
		}
		if m.Type() != tt.typ || m.Code() != 0 || m.Ident() != 12549 || m.Seq() != 1 || m.Checksum() != tt.checksum || len(m.Payload()) != 24 {
			t.Errorf("type %d code %d ident %d seq %d checksum %#x len %d", m.Type(), m.Code(), m.Ident(), m.Seq(), m.Checksum(), len(m.Payload()))
		}
	}
}

func TestEncodeEcho_ReplyToCapturedRequest_MatchesCapturedReply(t *testing.T) {
	req, _ := Parse(echoRequest)
	m, _ := ParseICMP(req.Payload(), req.Src(), req.Dst())
	b := make([]byte, 64)
	n := EncodeEcho(b, TypeEchoReply, m.Ident(), m.Seq(), m.Payload(), req.Dst(), req.Src())
	if want := echoReply[HeaderLen:]; !bytes.Equal(b[:n], want) {
		t.Errorf("reply =\n% x\nwant\n% x", b[:n], want)
	}
}

func TestParseICMP_Rejects(t *testing.T) {
	h, _ := Parse(echoRequest)
	p := h.Payload()
	flipped := bytes.Clone(p)
	flipped[len(flipped)-1] ^= 1
	for _, tt := range []struct {
		name string
		b    []byte
		want error
	}{
		{"7 octets", p[:7], ErrICMPTruncated},
		{"data flipped", flipped, ErrICMPChecksum},
		{"checksum without pseudo-header", func() []byte {
			b := bytes.Clone(p)
			ICMP(b).SetChecksum(addrA, addrB) // right for another pair only
			return b
		}(), ErrICMPChecksum},
	} {
		if _, err := ParseICMP(tt.b, h.Src(), h.Dst()); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestEncodeError_FieldsQuoteAndChecksum(t *testing.T) {
	big := Header(build(Fields{NextHeader: ProtoUDP, HopLimit: 64, Src: addrB, Dst: addrA}, make([]byte, 1400)))
	for _, tt := range []struct {
		typ, code uint8
		rest      uint32
		orig      []byte
		quote     int
	}{
		{TypeDestUnreachable, CodePortUnreachable, 0, echoRequest, len(echoRequest)},
		{TypePacketTooBig, 0, 1280, big, MaxQuote},
		{TypeTimeExceeded, CodeReassemblyTimeout, 0, echoRequest, len(echoRequest)},
		{TypeParamProblem, CodeUnknownOption, 42, big, MaxQuote},
	} {
		b := make([]byte, ICMPHeaderLen+MaxQuote)
		n := EncodeError(b, tt.typ, tt.code, tt.rest, tt.orig, addrA, addrB)
		m, err := ParseICMP(b[:n], addrA, addrB)
		if err != nil {
			t.Fatalf("type %d: %v", tt.typ, err)
		}
		if n != ICMPHeaderLen+tt.quote || HeaderLen+n > MinMTU || m.Type() != tt.typ || m.Code() != tt.code || !bytes.Equal(m.Payload(), tt.orig[:tt.quote]) {
			t.Errorf("type %d: len %d code %d", tt.typ, n, m.Code())
		}
		if (tt.typ == TypePacketTooBig && m.MTU() != tt.rest) || (tt.typ == TypeParamProblem && m.Pointer() != tt.rest) {
			t.Errorf("type %d: MTU %d pointer %d", tt.typ, m.MTU(), m.Pointer())
		}
	}
}

func TestIsError_TypesBelow128(t *testing.T) {
	for typ := range 256 {
		want := typ <= 127 // RFC 4443 §2.1
		if IsError(uint8(typ)) != want {
			t.Errorf("IsError(%d) = %v", typ, !want)
		}
	}
}
