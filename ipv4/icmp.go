package ipv4

// ICMP message header, RFC 792:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Identifier (echo, timestamp) / unused / pointer / gateway |
//	|     Sequence Number                / next-hop MTU (RFC 1191)  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Data (echo) / Internet Header + 64 bits of Original Data  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Destination Unreachable code 4 ("fragmentation needed and DF set") carries
// the next-hop MTU in the low 16 bits of the second word (RFC 1191 §4).

import (
	"encoding/binary"
	"errors"
	"syscall"

	"github.com/tapstack/tapstack/internal/checksum"
)

// ICMPHeaderLen is the fixed part of every ICMP message.
const ICMPHeaderLen = 8

// ICMP types (RFC 792).
const (
	TypeEchoReply       uint8 = 0
	TypeDestUnreachable uint8 = 3
	TypeSourceQuench    uint8 = 4
	TypeRedirect        uint8 = 5
	TypeEcho            uint8 = 8
	TypeTimeExceeded    uint8 = 11
	TypeParamProblem    uint8 = 12
	TypeTimestamp       uint8 = 13
	TypeTimestampReply  uint8 = 14
	maxKnownType        uint8 = 18 // Linux NR_ICMP_TYPES (address mask reply)
)

// ICMP codes (RFC 792, RFC 1191).
const (
	// Destination Unreachable (type 3).
	CodeNetUnreachable   uint8 = 0
	CodeHostUnreachable  uint8 = 1
	CodeProtoUnreachable uint8 = 2
	CodePortUnreachable  uint8 = 3
	CodeFragNeeded       uint8 = 4
	// Time Exceeded (type 11).
	CodeTTLExceeded       uint8 = 0
	CodeReassemblyTimeout uint8 = 1
)

// MaxQuote is how much of the offending datagram an ICMP error quotes. RFC 792
// asks for the header plus 64 bits of data; RFC 1812 §4.3.2.3 lets an error
// carry as much as fits in a 576-octet datagram, and Linux and gVisor do so:
// 576 - 20 (IP header) - 8 (ICMP header) = 548.
const MaxQuote = 548

// Reasons ParseICMP rejects a message.
var (
	ErrICMPTruncated = errors.New("ipv4: ICMP message shorter than 8 octets")
	ErrICMPChecksum  = errors.New("ipv4: bad ICMP checksum")
)

// ICMP is a view of an ICMP message: header and data. Obtain one from
// ParseICMP; afterwards no accessor panics.
type ICMP []byte

// ParseICMP checks that b (an IP payload) is an ICMP message: at least 8
// octets whose checksum, computed over the whole message, verifies (RFC 792;
// RFC 1122 §3.2.2: silently discard a message with a bad checksum).
func ParseICMP(b []byte) (ICMP, error) {
	if len(b) < ICMPHeaderLen {
		return nil, ErrICMPTruncated
	}
	if checksum.Checksum(b, 0) != 0 {
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

// Ident returns the Identifier of an echo or timestamp message.
func (m ICMP) Ident() uint16 { return binary.BigEndian.Uint16(m[4:]) }

// Seq returns the Sequence Number of an echo or timestamp message.
func (m ICMP) Seq() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// MTU returns the next-hop MTU of a Destination Unreachable, Fragmentation
// Needed message (type 3 code 4, RFC 1191 §4); zero from old routers.
func (m ICMP) MTU() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// Payload returns the data after the 8-octet header.
func (m ICMP) Payload() []byte { return m[ICMPHeaderLen:] }

// SetType sets the Type field.
func (m ICMP) SetType(v uint8) { m[0] = v }

// SetCode sets the Code field.
func (m ICMP) SetCode(v uint8) { m[1] = v }

// SetIdent sets the Identifier.
func (m ICMP) SetIdent(v uint16) { binary.BigEndian.PutUint16(m[4:], v) }

// SetSeq sets the Sequence Number.
func (m ICMP) SetSeq(v uint16) { binary.BigEndian.PutUint16(m[6:], v) }

// SetChecksum computes the checksum over the whole message, with the field
// taken as zero (RFC 792), and stores it.
func (m ICMP) SetChecksum() {
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:], checksum.Checksum(m, 0))
}

// IsError reports whether typ is an ICMP error message type (RFC 1122
// §3.2.2): Destination Unreachable, Source Quench, Redirect, Time Exceeded or
// Parameter Problem. The others are queries and replies.
func IsError(typ uint8) bool {
	switch typ {
	case TypeDestUnreachable, TypeSourceQuench, TypeRedirect, TypeTimeExceeded, TypeParamProblem:
		return true
	}
	return false
}

// EncodeError writes an ICMP error message of type typ and code code into b:
// the header, with rest as its second word (for 3/4 the next-hop MTU in the
// low 16 bits, for 12 the pointer in the top octet), then the first
// min(len(orig), MaxQuote) octets of the offending datagram (RFC 792; RFC 1812
// §4.3.2.3), and the checksum. It returns the message length. b must have
// room for ICMPHeaderLen+min(len(orig), MaxQuote) octets.
func EncodeError(b []byte, typ, code uint8, rest uint32, orig Header) int {
	n := min(len(orig), MaxQuote)
	m := ICMP(b[:ICMPHeaderLen+n])
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:], rest)
	copy(m[ICMPHeaderLen:], orig[:n])
	m.SetChecksum()
	return len(m)
}

// ErrorAllowed reports whether an ICMP error may be sent about the datagram
// orig. RFC 1122 §3.2.2 and RFC 1812 §4.3.2.7: an ICMP error MUST NOT be sent
// in response to
//   - an ICMP error message;
//   - a datagram sent as a link-layer broadcast or multicast (linkBroadcast);
//   - a datagram whose destination is an IP broadcast or multicast address
//     (dstBroadcast; the caller knows its subnet broadcast, ErrorAllowed also
//     checks 255.255.255.255 and 224.0.0.0/4 itself);
//   - a non-initial fragment;
//   - a datagram whose source does not name a single host (!ValidSource).
//
// An ICMP payload too short to hold an ICMP header is treated as an error
// message: we cannot tell, so we stay quiet.
//
// Deviation (Linux compat): as icmp_send does, an ICMP type above 18
// (NR_ICMP_TYPES) counts as an error message too, so that future error types
// never draw an error.
func ErrorAllowed(orig Header, linkBroadcast, dstBroadcast bool) bool {
	if linkBroadcast || dstBroadcast {
		return false
	}
	if orig.FragOffset() != 0 {
		return false
	}
	if !ValidSource(orig.Src()) {
		return false
	}
	if d := orig.Dst().As4(); d[0] >= 224 { // multicast, reserved, limited broadcast
		return false
	}
	if orig.Protocol() == ProtoICMP {
		p := orig.Payload()
		if len(p) < ICMPHeaderLen || IsError(p[0]) || p[0] > maxKnownType {
			return false
		}
	}
	return true
}

// Quoted parses the quote carried by a received ICMP error: the original
// datagram's header and the start of its payload (RFC 792: header plus at
// least 64 bits of data; RFC 1122 §3.2.2 says to use the quote to find the
// transport endpoint). The header gets the same version, IHL and option
// checks as Parse, but its checksum is not verified (a router may have
// altered the datagram before quoting it, RFC 1812 §4.3.2.3) and its Total
// Length may exceed what was quoted: orig is cut to Total Length when the
// quote is longer, otherwise it holds only what was quoted, so
// orig.TotalLen() may be larger than len(orig). transport is
// orig.Payload(), at least 8 octets. A quote shorter than IHL*4+8 fails
// with ErrTruncated.
func Quoted(m ICMP) (orig Header, transport []byte, err error) {
	q := m.Payload()
	if len(q) < HeaderMinLen {
		return nil, nil, ErrTruncated
	}
	if q[offVersIHL]>>4 != 4 {
		return nil, nil, ErrVersion
	}
	hl := int(q[offVersIHL]&0x0f) * 4
	if hl < HeaderMinLen || hl > len(q) {
		return nil, nil, ErrHeaderLen
	}
	tl := int(binary.BigEndian.Uint16(q[offTotalLen:]))
	if tl < hl {
		return nil, nil, ErrTotalLen
	}
	if !validOptions(q[offOptions:hl]) {
		return nil, nil, ErrOptions
	}
	if tl < len(q) {
		q = q[:tl]
	}
	if len(q) < hl+8 {
		return nil, nil, ErrTruncated
	}
	orig = Header(q)
	return orig, orig.Payload(), nil
}

// Errno maps an ICMP error to the errno a Linux socket reports for it
// (net/ipv4/icmp.c icmp_err_convert; time exceeded gives EHOSTUNREACH and
// parameter problem EPROTO, as tcp_v4_err and __udp4_lib_err do).
func Errno(typ, code uint8) syscall.Errno {
	switch typ {
	case TypeDestUnreachable:
		switch code {
		case CodeNetUnreachable, 6, 9, 11: // net; net unknown; net prohibited; net for TOS
			return syscall.ENETUNREACH
		case CodeProtoUnreachable:
			return syscall.ENOPROTOOPT
		case CodePortUnreachable:
			return syscall.ECONNREFUSED
		case CodeFragNeeded:
			return syscall.EMSGSIZE
		case 5: // source route failed
			return syscall.EOPNOTSUPP
		case 7: // host unknown
			return syscall.EHOSTDOWN
		case 8: // source host isolated
			return syscall.ENONET
		}
		return syscall.EHOSTUNREACH // 1 host, 10 host prohibited, 12 host for TOS, 13-15 filtered/precedence
	case TypeParamProblem:
		return syscall.EPROTO
	}
	return syscall.EHOSTUNREACH // time exceeded, source quench
}
