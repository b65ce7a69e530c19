package udp

// UDP header format, RFC 768:
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//	|
//	|          data octets ...
//	+---------------- ...
//
// Pseudo-header prefixed to the datagram for the checksum over IPv4:
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|          source address           |
//	+--------+--------+--------+--------+
//	|        destination address        |
//	+--------+--------+--------+--------+
//	|  zero  |protocol|   UDP length    |
//	+--------+--------+--------+--------+

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/ipv6"
)

// HeaderLen is the length of the UDP header in bytes.
const HeaderLen = 8

// protocolNumber is UDP's IP protocol number (RFC 768, "Protocol: 17"),
// used in the pseudo-header.
const protocolNumber = 17

// Field offsets in the header.
const (
	offSrcPort  = 0
	offDstPort  = 2
	offLength   = 4
	offChecksum = 6
)

// Parse rejection reasons, one per drop counter.
var (
	// ErrTruncated: the IP payload is shorter than the 8-byte UDP header.
	ErrTruncated = errors.New("udp: datagram shorter than header")
	// ErrLength: the Length field is below the header size (RFC 768: "the
	// minimum value of the length is eight") or claims more bytes than the
	// IP payload carries. Linux drops both as "short packet" and counts UDP
	// InErrors.
	ErrLength = errors.New("udp: bad length field")
)

// Header is a view over a UDP datagram: the 8-byte header followed by the
// payload. A Header returned by Parse is exactly Length() bytes long and no
// accessor on it can panic. A Header built by hand (for sending) must be at
// least HeaderLen bytes long, and at least Length() bytes for Payload and
// the checksum methods.
type Header []byte

// Parse checks the IP payload b as a UDP datagram and returns the view over
// it. It validates the Length field (RFC 768): at least HeaderLen, and no more
// than len(b). Bytes past Length are trimmed off, as Linux does
// (pskb_trim_rcsum in __udp4_lib_rcv), so the returned Header is b[:Length].
// Parse does not verify the checksum; call VerifyIPv4 for that.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return nil, ErrTruncated
	}
	n := int(binary.BigEndian.Uint16(b[offLength:]))
	if n < HeaderLen || n > len(b) {
		return nil, ErrLength
	}
	return Header(b[:n]), nil
}

// SrcPort returns the Source Port field; zero means none (RFC 768).
func (h Header) SrcPort() uint16 { return binary.BigEndian.Uint16(h[offSrcPort:]) }

// DstPort returns the Destination Port field.
func (h Header) DstPort() uint16 { return binary.BigEndian.Uint16(h[offDstPort:]) }

// Length returns the Length field: header plus data, in bytes.
func (h Header) Length() int { return int(binary.BigEndian.Uint16(h[offLength:])) }

// Checksum returns the Checksum field; zero means the sender computed none.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[offChecksum:]) }

// Payload returns the data octets, h[HeaderLen:Length()]. It aliases h.
func (h Header) Payload() []byte { return h[HeaderLen:h.Length()] }

// SetSrcPort sets the Source Port field.
func (h Header) SetSrcPort(port uint16) { binary.BigEndian.PutUint16(h[offSrcPort:], port) }

// SetDstPort sets the Destination Port field.
func (h Header) SetDstPort(port uint16) { binary.BigEndian.PutUint16(h[offDstPort:], port) }

// SetLength sets the Length field; n must be in [HeaderLen, 65535].
func (h Header) SetLength(n int) { binary.BigEndian.PutUint16(h[offLength:], uint16(n)) }

// SetChecksum sets the Checksum field.
func (h Header) SetChecksum(cs uint16) { binary.BigEndian.PutUint16(h[offChecksum:], cs) }

// Encode writes a UDP header into b[:HeaderLen] for a payload of payloadLen
// bytes that the caller has placed (or will place) at b[HeaderLen:]: ports
// src and dst, Length HeaderLen+payloadLen and Checksum 0. Call
// ComputeChecksumIPv4 once the payload is in place, or leave the checksum 0
// to send none. b must be at least HeaderLen bytes and payloadLen at most
// 65535-HeaderLen.
func Encode(b []byte, src, dst uint16, payloadLen int) {
	h := Header(b[:HeaderLen])
	h.SetSrcPort(src)
	h.SetDstPort(dst)
	h.SetLength(HeaderLen + payloadLen)
	h.SetChecksum(0)
}

// sumIPv4 returns the Internet checksum over the IPv4 pseudo-header and
// h[:Length()] with the Checksum field as it currently is.
func (h Header) sumIPv4(src, dst netip.Addr) uint16 {
	n := h.Length()
	ph := checksum.PseudoHeaderIPv4(src, dst, protocolNumber, uint16(n))
	return checksum.Checksum(h[:n], ph)
}

// ComputeChecksumIPv4 computes the checksum over the IPv4 pseudo-header, the
// header and the payload (h must include the payload: Length() bytes) and
// stores it. src and dst are the IPv4 source and destination addresses.
//
// RFC 768: "If the computed checksum is zero, it is transmitted as all ones
// (the equivalent in one's complement arithmetic)", because zero on the wire
// means no checksum. RFC 1122 §4.1.3.4: an application MAY be able to turn
// checksums off but they MUST default to on; we always compute.
func (h Header) ComputeChecksumIPv4(src, dst netip.Addr) {
	h.SetChecksum(0)
	h.setComputed(h.sumIPv4(src, dst))
}

// setComputed stores a computed checksum, zero as all ones (RFC 768, RFC
// 8200 §8.1: zero on the wire would mean none).
func (h Header) setComputed(cs uint16) {
	if cs == 0 {
		cs = 0xffff
	}
	h.SetChecksum(cs)
}

// VerifyIPv4 reports whether the datagram's checksum is valid for the IPv4
// addresses src and dst. A zero Checksum field means the sender computed none
// and is accepted (RFC 768; RFC 1122 §4.1.3.4: "If a UDP datagram is received
// with a checksum that is non-zero and invalid, UDP MUST silently discard the
// datagram").
func (h Header) VerifyIPv4(src, dst netip.Addr) bool {
	if h.Checksum() == 0 {
		return true
	}
	return h.sumIPv4(src, dst) == 0
}

// sumIPv6 is sumIPv4 over the IPv6 pseudo-header of RFC 8200 §8.1: the
// addresses, the upper-layer packet length as 32 bits (the UDP Length) and
// Next Header 17.
func (h Header) sumIPv6(src, dst netip.Addr) uint16 {
	n := h.Length()
	ph := ipv6.PseudoHeaderSum(src, dst, protocolNumber, uint32(n))
	return checksum.Checksum(h[:n], ph)
}

// ComputeChecksumIPv6 is ComputeChecksumIPv4 with the IPv6 pseudo-header.
// RFC 8200 §8.1: "a calculated UDP checksum of zero ... must be changed to
// hex FFFF for placement in the UDP header", as in IPv4.
func (h Header) ComputeChecksumIPv6(src, dst netip.Addr) {
	h.SetChecksum(0)
	h.setComputed(h.sumIPv6(src, dst))
}

// VerifyIPv6 reports whether the datagram's checksum is valid for the IPv6
// addresses src and dst. Unlike IPv4, the checksum is mandatory (RFC 8200
// §8.1: "IPv6 receivers must discard UDP packets containing a zero
// checksum"), so a zero Checksum field fails; Linux's udp6_csum_init
// counts it as a checksum error too. (RFC 6935's zero-checksum tunnels
// are not supported, as Linux by default.)
func (h Header) VerifyIPv6(src, dst netip.Addr) bool {
	if h.Checksum() == 0 {
		return false
	}
	return h.sumIPv6(src, dst) == 0
}

// Verify checks the checksum with the rules of src's family: VerifyIPv4
// for an IPv4 address, VerifyIPv6 otherwise (an IPv4-mapped address is
// IPv6 here: the stack keys IPv4 datagrams by 4-octet addresses).
func (h Header) Verify(src, dst netip.Addr) bool {
	if src.Is4() {
		return h.VerifyIPv4(src, dst)
	}
	return h.VerifyIPv6(src, dst)
}

// ComputeChecksum computes and stores the checksum with the pseudo-header
// of src's family, as Verify checks it.
func (h Header) ComputeChecksum(src, dst netip.Addr) {
	if src.Is4() {
		h.ComputeChecksumIPv4(src, dst)
		return
	}
	h.ComputeChecksumIPv6(src, dst)
}
