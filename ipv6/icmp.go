package ipv6

// ICMPv6 message, RFC 4443 §2.1:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Identifier / Sequence (echo) | MTU (2) | Pointer (4) | unused |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Message Body                          |
//
// The checksum covers the pseudo-header of RFC 8200 §8.1 with Next Header
// 58 (RFC 4443 §2.3).

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
)

// ICMPHeaderLen is the fixed part of every ICMPv6 message we handle.
const ICMPHeaderLen = 8

// ICMPv6 types (RFC 4443 §2.1, RFC 4861 §4).
const (
	TypeDestUnreachable uint8 = 1
	TypePacketTooBig    uint8 = 2
	TypeTimeExceeded    uint8 = 3
	TypeParamProblem    uint8 = 4
	TypeEchoRequest     uint8 = 128
	TypeEchoReply       uint8 = 129
	TypeRouterSolicit   uint8 = 133
	TypeRouterAdvert    uint8 = 134
	TypeNeighborSolicit uint8 = 135
	TypeNeighborAdvert  uint8 = 136
	TypeRedirect        uint8 = 137
)

// ICMPv6 codes (RFC 4443 §3).
const (
	// Destination Unreachable (type 1).
	CodeNoRoute         uint8 = 0
	CodeAdminProhibited uint8 = 1
	CodeBeyondScope     uint8 = 2
	CodeAddrUnreachable uint8 = 3
	CodePortUnreachable uint8 = 4
	CodeSourcePolicy    uint8 = 5
	CodeRejectRoute     uint8 = 6
	// Time Exceeded (type 3).
	CodeHopLimitExceeded  uint8 = 0
	CodeReassemblyTimeout uint8 = 1
)

// MaxQuote is how much of the invoking packet an error quotes: "as much of
// invoking packet as possible without the ICMPv6 packet exceeding the
// minimum IPv6 MTU" (RFC 4443 §3.1): 1280 - 40 - 8.
const MaxQuote = MinMTU - HeaderLen - ICMPHeaderLen

// Reasons ParseICMP rejects a message.
var (
	ErrICMPTruncated = errors.New("ipv6: ICMPv6 message shorter than 8 octets")
	ErrICMPChecksum  = errors.New("ipv6: bad ICMPv6 checksum")
)

// ICMP is a view of an ICMPv6 message. Obtain one from ParseICMP; afterwards
// no accessor panics.
type ICMP []byte

// ParseICMP checks that b (the upper-layer payload of a packet from src to
// dst) is an ICMPv6 message: at least 8 octets, checksum verified over the
// pseudo-header and the message (RFC 4443 §2.3, §2.4 (b): discard on a bad
// checksum). Every message we act on has the 4-octet second word, so shorter
// ones are dropped too.
func ParseICMP(b []byte, src, dst netip.Addr) (ICMP, error) {
	if len(b) < ICMPHeaderLen {
		return nil, ErrICMPTruncated
	}
	if checksum.Checksum(b, PseudoHeaderSum(src, dst, ProtoICMPv6, uint32(len(b)))) != 0 {
		return nil, ErrICMPChecksum
	}
	return ICMP(b), nil
}

// Type returns the Type field.
func (m ICMP) Type() uint8 { return m[0] }

// Code returns the Code field.
func (m ICMP) Code() uint8 { return m[1] }

// Checksum returns the Checksum field as stored.
func (m ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:]) }

// Ident returns an echo message's Identifier (RFC 4443 §4.1).
func (m ICMP) Ident() uint16 { return binary.BigEndian.Uint16(m[4:]) }

// Seq returns an echo message's Sequence Number.
func (m ICMP) Seq() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// MTU returns a Packet Too Big message's MTU (RFC 4443 §3.2).
func (m ICMP) MTU() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// Pointer returns a Parameter Problem message's Pointer (RFC 4443 §3.4).
func (m ICMP) Pointer() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// Payload returns what follows the 8-octet header: echo data, or the quoted
// invoking packet of an error.
func (m ICMP) Payload() []byte { return m[ICMPHeaderLen:] }

// SetChecksum computes the checksum over the pseudo-header (src, dst, Next
// Header 58) and the message, with the field taken as zero, and stores it.
func (m ICMP) SetChecksum(src, dst netip.Addr) {
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:], checksum.Checksum(m, PseudoHeaderSum(src, dst, ProtoICMPv6, uint32(len(m)))))
}

// IsError reports whether typ is an error message: RFC 4443 §2.1, error
// messages have types 0-127, informational ones 128-255.
func IsError(typ uint8) bool { return typ < 128 }

// EncodeEcho writes an echo request or reply (RFC 4443 §4.1, §4.2) with the
// given identifier, sequence and data into b and returns its length. b must
// have room for 8+len(data) octets.
func EncodeEcho(b []byte, typ uint8, ident, seq uint16, data []byte, src, dst netip.Addr) int {
	m := ICMP(b[:ICMPHeaderLen+len(data)])
	m[0], m[1] = typ, 0
	binary.BigEndian.PutUint16(m[4:], ident)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[ICMPHeaderLen:], data)
	m.SetChecksum(src, dst)
	return len(m)
}

// EncodeError writes an error message into b: type, code, rest as the second
// word (the MTU of a Packet Too Big, the Pointer of a Parameter Problem, zero
// otherwise, RFC 4443 §3), the first min(len(orig), MaxQuote) octets of the
// invoking packet, and the checksum for src → dst. It returns the length. b
// must have room for 8+min(len(orig), MaxQuote) octets.
func EncodeError(b []byte, typ, code uint8, rest uint32, orig []byte, src, dst netip.Addr) int {
	n := min(len(orig), MaxQuote)
	m := ICMP(b[:ICMPHeaderLen+n])
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:], rest)
	copy(m[ICMPHeaderLen:], orig[:n])
	m.SetChecksum(src, dst)
	return len(m)
}
