package ipv6

// IPv6 Header Format, RFC 8200 §3:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Source Address (128 bits)             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                      Destination Address (128 bits)           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// There is no header checksum (RFC 8200 §3); upper layers cover the
// addresses with the pseudo-header of §8.1.

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
)

// Sizes and limits (RFC 8200 §3, §5).
const (
	HeaderLen     = 40
	MaxPayloadLen = 65535 // the Payload Length field is 16 bits (no jumbograms, RFC 2675)
	// MinMTU is the link MTU every IPv6 link must carry (RFC 8200 §5).
	MinMTU = 1280
)

// Next Header values (IANA protocol numbers; RFC 8200 §4.1).
const (
	ProtoHopByHop uint8 = 0
	ProtoTCP      uint8 = 6
	ProtoUDP      uint8 = 17
	ProtoRouting  uint8 = 43
	ProtoFragment uint8 = 44
	ProtoICMPv6   uint8 = 58
	ProtoNoNext   uint8 = 59 // RFC 8200 §4.7
	ProtoDestOpts uint8 = 60
)

// DefaultHopLimit is the Hop Limit of packets we originate: Linux's
// net.ipv6.conf.*.hop_limit default, 64 (RFC 4861 §6.3.2 lets a router
// advertisement change it).
const DefaultHopLimit = 64

// Reasons Parse rejects a packet. Each is distinct so the stack can count
// drops by reason.
var (
	ErrTruncated  = errors.New("ipv6: truncated header")
	ErrVersion    = errors.New("ipv6: version is not 6")
	ErrPayloadLen = errors.New("ipv6: payload length beyond the buffer")
)

// Field offsets.
const (
	offVersTCFL   = 0
	offPayloadLen = 4
	offNextHeader = 6
	offHopLimit   = 7
	offSrc        = 8
	offDst        = 24
)

const flowLabelMask = 0x000fffff

// Header is a view of an IPv6 packet: the fixed header followed by the
// payload (extension headers included). Obtain one from Parse; afterwards no
// accessor panics.
type Header []byte

// Parse checks that b (an Ethernet payload) starts with a well-formed IPv6
// header and returns the packet cut to 40 + Payload Length, so that
// link-layer padding is dropped.
//
// Checks, in order (RFC 8200 §3):
//   - at least 40 octets (ErrTruncated);
//   - version 6 (ErrVersion);
//   - 40 + Payload Length ≤ len(b) (ErrPayloadLen).
//
// A Payload Length of zero is an empty payload: jumbograms (RFC 2675) are not
// supported, as in gVisor; their hop-by-hop Jumbo Payload option (0xC2) is
// then an unknown option whose high bits say discard and answer.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return nil, ErrTruncated
	}
	if b[offVersTCFL]>>4 != 6 {
		return nil, ErrVersion
	}
	pl := int(binary.BigEndian.Uint16(b[offPayloadLen:]))
	if HeaderLen+pl > len(b) {
		return nil, ErrPayloadLen
	}
	return Header(b[:HeaderLen+pl]), nil
}

// Version returns the Version field (6 after Parse).
func (h Header) Version() uint8 { return h[offVersTCFL] >> 4 }

// TrafficClass returns the Traffic Class octet (DSCP and ECN, RFC 2474,
// RFC 3168).
func (h Header) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(h[offVersTCFL:]) >> 4)
}

// FlowLabel returns the 20-bit Flow Label (RFC 6437).
func (h Header) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(h[offVersTCFL:]) & flowLabelMask
}

// PayloadLen returns the Payload Length field: the octets after the fixed
// header, extension headers included.
func (h Header) PayloadLen() int { return int(binary.BigEndian.Uint16(h[offPayloadLen:])) }

// NextHeader returns the Next Header field.
func (h Header) NextHeader() uint8 { return h[offNextHeader] }

// HopLimit returns the Hop Limit field.
func (h Header) HopLimit() uint8 { return h[offHopLimit] }

// Src returns the Source Address.
func (h Header) Src() netip.Addr { return netip.AddrFrom16([16]byte(h[offSrc : offSrc+16])) }

// Dst returns the Destination Address.
func (h Header) Dst() netip.Addr { return netip.AddrFrom16([16]byte(h[offDst : offDst+16])) }

// Payload returns the octets after the fixed header.
func (h Header) Payload() []byte { return h[HeaderLen:] }

// SetPayloadLen sets the Payload Length field.
func (h Header) SetPayloadLen(n int) { binary.BigEndian.PutUint16(h[offPayloadLen:], uint16(n)) }

// SetHopLimit sets the Hop Limit field.
func (h Header) SetHopLimit(v uint8) { h[offHopLimit] = v }

// Fields describes a header to Encode.
type Fields struct {
	TrafficClass uint8
	FlowLabel    uint32 // 20 bits; higher bits are dropped
	PayloadLen   int    // octets after the fixed header
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr // IPv6 addresses (an IPv4 one is written mapped)
}

// Encode writes the fixed header described by f at the start of b and
// returns HeaderLen. The payload goes at b[HeaderLen:]. b must have room for
// 40 octets: a short buffer is a programming error and panics.
func Encode(b []byte, f Fields) int {
	h := Header(b[:HeaderLen])
	binary.BigEndian.PutUint32(h[offVersTCFL:], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&flowLabelMask)
	h.SetPayloadLen(f.PayloadLen)
	h[offNextHeader] = f.NextHeader
	h[offHopLimit] = f.HopLimit
	s, d := f.Src.As16(), f.Dst.As16()
	copy(h[offSrc:], s[:])
	copy(h[offDst:], d[:])
	return HeaderLen
}

// PseudoHeaderSum returns the unfolded one's-complement sum of the upper-layer
// pseudo-header of RFC 8200 §8.1: source and destination address, the
// upper-layer packet length as 32 bits, three zero octets and the Next Header
// value of the upper-layer protocol (not of an extension header). Chain it
// into checksum.Checksum over the upper-layer packet.
func PseudoHeaderSum(src, dst netip.Addr, next uint8, length uint32) uint32 {
	s, d := src.As16(), dst.As16()
	// Folding the address sum first keeps the additions below 2^32.
	sum := uint32(checksum.Fold(checksum.Sum(d[:], checksum.Sum(s[:], 0))))
	return sum + length>>16 + length&0xffff + uint32(next)
}
