// Package ethernet is the Ethernet II frame codec: the MAC address type, the
// EtherType, and a checked view over the 14-byte frame header (RFC 894, IEEE
// 802.3 clause 3).
//
// It owns nothing but bytes handed to it: a Header is a view over the caller's
// frame, and every function here is pure (RandomMAC reads crypto/rand). All of
// it is safe for concurrent use on distinct buffers; a Header's setters write
// into the caller's frame, so concurrent use of one frame needs the caller's
// synchronisation.
//
// The frame check sequence is not part of any frame seen here: a TAP device
// neither delivers nor expects it.
package ethernet

// Ethernet II frame, as carried over a TAP device (RFC 894 "Frame Format";
// the preamble and the FCS are handled by the hardware and never seen here):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Destination Address (6 octets)                |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                   Source Address (6 octets)                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           EtherType           |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                  Data (46-1500 octets on the wire)            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"
)

const (
	// HeaderLen is the length of the Ethernet II header: destination,
	// source and EtherType.
	HeaderLen = 14
	// MinFrameLen is the minimum frame length without the 4-byte FCS: a
	// 64-byte minimum frame on the wire (IEEE 802.3 §4.4.2) less the FCS.
	// RFC 894: "the minimum length of the data field of a packet sent over
	// an Ethernet is 46 octets"; shorter data is padded with zeros.
	MinFrameLen = 60
)

// Byte offsets of the header fields.
const (
	dstOffset  = 0
	srcOffset  = 6
	typeOffset = 12
)

// ErrTruncated is returned by Parse for a frame shorter than HeaderLen.
var ErrTruncated = errors.New("ethernet: frame shorter than the 14-byte header")

// ErrBadMAC is returned by ParseMAC for a string that is not six
// colon- or hyphen-separated pairs of hex digits.
var ErrBadMAC = errors.New("ethernet: malformed MAC address")

// MAC is a 48-bit IEEE 802 MAC address in transmission order.
type MAC [6]byte

// Broadcast is the all-ones broadcast address.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

const hexDigits = "0123456789abcdef"

// String formats m as six lower-case hex pairs separated by colons, such as
// "02:00:00:00:00:01".
func (m MAC) String() string {
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i] = hexDigits[v>>4]
		b[3*i+1] = hexDigits[v&0x0f]
	}
	return string(b[:])
}

// IsBroadcast reports whether m is the all-ones broadcast address.
func (m MAC) IsBroadcast() bool { return m == Broadcast }

// IsMulticast reports whether m is a group address: the I/G bit, the least
// significant bit of the first octet, is set (IEEE 802 §8.2). Broadcast is a
// group address too.
func (m MAC) IsMulticast() bool { return m[0]&0x01 != 0 }

// IsZero reports whether m is the all-zeros address.
func (m MAC) IsZero() bool { return m == MAC{} }

// ParseMAC parses six pairs of hex digits separated by ':' or '-' (one
// separator throughout), in either case, such as "02:00:00:00:00:01".
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return MAC{}, ErrBadMAC
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return MAC{}, ErrBadMAC
	}
	for i := range m {
		if i > 0 && s[3*i-1] != sep {
			return MAC{}, ErrBadMAC
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return MAC{}, ErrBadMAC
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// RandomMAC returns a random locally administered unicast address: the U/L
// bit (0x02 of the first octet) set and the I/G bit (0x01) clear (IEEE 802
// §8.2), like the addresses Linux gives virtual interfaces.
func RandomMAC() MAC {
	var m MAC
	rand.Read(m[:]) // never returns an error (crypto/rand, Go 1.24+)
	m[0] = m[0]&^0x01 | 0x02
	return m
}

// EtherType is the 16-bit type field: the protocol carried in the payload
// (IEEE 802 numbers; RFC 894 for IPv4, RFC 826 for ARP).
type EtherType uint16

// EtherTypes the stack knows by name.
const (
	TypeIPv4 EtherType = 0x0800 // RFC 894
	TypeARP  EtherType = 0x0806 // RFC 826
	TypeIPv6 EtherType = 0x86DD // RFC 2464
	TypeVLAN EtherType = 0x8100 // IEEE 802.1Q tag
)

// String returns the protocol's name, or "0x" and four hex digits for a type
// without one.
func (t EtherType) String() string {
	switch t {
	case TypeIPv4:
		return "IPv4"
	case TypeARP:
		return "ARP"
	case TypeIPv6:
		return "IPv6"
	case TypeVLAN:
		return "VLAN"
	}
	s := strconv.FormatUint(uint64(t), 16)
	return "0x" + "000"[:4-min(len(s), 4)] + s
}

// Header is a view over a whole Ethernet frame: the 14-byte header followed
// by the payload. Obtain one from Parse; its accessors then cannot panic.
type Header []byte

// Parse checks that b holds at least an Ethernet header and returns it as a
// Header over the whole frame (the returned Header is b). Any EtherType is
// accepted: demultiplexing and counting unknown types is the caller's job.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return nil, ErrTruncated
	}
	return Header(b), nil
}

// Dst returns the destination address.
func (h Header) Dst() MAC { return MAC(h[dstOffset : dstOffset+6]) }

// Src returns the source address.
func (h Header) Src() MAC { return MAC(h[srcOffset : srcOffset+6]) }

// Type returns the EtherType.
func (h Header) Type() EtherType { return EtherType(binary.BigEndian.Uint16(h[typeOffset:])) }

// Payload returns the bytes after the header, padding included: the frame
// carries no length, so upper layers trim by their own length field.
func (h Header) Payload() []byte { return h[HeaderLen:] }

// SetDst sets the destination address.
func (h Header) SetDst(m MAC) { copy(h[dstOffset:dstOffset+6], m[:]) }

// SetSrc sets the source address.
func (h Header) SetSrc(m MAC) { copy(h[srcOffset:srcOffset+6], m[:]) }

// SetType sets the EtherType.
func (h Header) SetType(t EtherType) { binary.BigEndian.PutUint16(h[typeOffset:], uint16(t)) }

// ForUs reports whether a frame with this header should be received by a
// station whose address is ours: it is unicast to ours, or broadcast. Other
// group addresses report false (no multicast groups are joined); the stack
// counts such frames as not for us.
func (h Header) ForUs(ours MAC) bool {
	d := h.Dst()
	return d == ours || d == Broadcast
}

// Encode writes an Ethernet header into b[0:HeaderLen]. It panics if b is
// shorter than HeaderLen.
func Encode(b []byte, dst, src MAC, t EtherType) {
	_ = b[HeaderLen-1]
	h := Header(b)
	h.SetDst(dst)
	h.SetSrc(src)
	h.SetType(t)
}

// Pad returns frame zero-extended to MinFrameLen if it is shorter (RFC 894:
// data shorter than 46 octets is padded), or frame itself otherwise. It
// extends in place when frame's capacity allows, zeroing the padding bytes
// (the spare capacity may hold stale data), and appends otherwise.
func Pad(frame []byte) []byte {
	n := len(frame)
	if n >= MinFrameLen {
		return frame
	}
	if cap(frame) >= MinFrameLen {
		frame = frame[:MinFrameLen]
		clear(frame[n:])
		return frame
	}
	var zeros [MinFrameLen]byte
	return append(frame, zeros[:MinFrameLen-n]...)
}
