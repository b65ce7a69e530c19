package ipv4

// Internet Datagram Header, RFC 791 §3.1:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags (3 bits): bit 0 reserved (must be zero), bit 1 DF, bit 2 MF.
// Fragment Offset is in units of 8 octets.

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
)

// Header sizes and limits (RFC 791 §3.1).
const (
	HeaderMinLen = 20    // IHL 5
	HeaderMaxLen = 60    // IHL 15
	MaxTotalLen  = 65535 // the Total Length field is 16 bits
)

// Protocol numbers carried in the Protocol field (IANA, RFC 790).
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// DefaultTTL is the Time to Live of datagrams we originate. RFC 1700 and
// RFC 1122 §3.2.1.7 recommend 64, as does Linux (ip_default_ttl).
const DefaultTTL = 64

// Reasons Parse rejects a datagram. Each is distinct so the stack can count
// drops by reason.
var (
	ErrTruncated = errors.New("ipv4: truncated header")
	ErrVersion   = errors.New("ipv4: version is not 4")
	ErrHeaderLen = errors.New("ipv4: bad header length (IHL)")
	ErrTotalLen  = errors.New("ipv4: bad total length")
	ErrChecksum  = errors.New("ipv4: bad header checksum")
	ErrOptions   = errors.New("ipv4: malformed options")
)

// Field offsets.
const (
	offVersIHL  = 0
	offTOS      = 1
	offTotalLen = 2
	offID       = 4
	offFlagsFO  = 6
	offTTL      = 8
	offProtocol = 9
	offChecksum = 10
	offSrc      = 12
	offDst      = 16
	offOptions  = 20
)

const (
	flagReserved = 0x8000
	flagDF       = 0x4000
	flagMF       = 0x2000
	offsetMask   = 0x1fff
)

// Option types with a special length rule (RFC 791 §3.1, "Options").
const (
	optEOL = 0 // End of Option List: one octet, ends the list
	optNOP = 1 // No Operation: one octet
)

// Option types the stack looks for (RFC 791 §3.1; the copied flag is part
// of the type octet).
const (
	OptRecordRoute       uint8 = 0x07
	OptLooseSourceRoute  uint8 = 0x83
	OptStrictSourceRoute uint8 = 0x89
)

// Header is a view of an IPv4 datagram: the header followed by the payload.
// Obtain one from Parse; afterwards no accessor panics. A Header built by hand
// (over a buffer Encode filled) must be at least HeaderLen long.
type Header []byte

// Parse checks that b (an Ethernet payload) starts with a well-formed IPv4
// datagram and returns it, cut to Total Length so that link-layer padding is
// dropped (RFC 894: Ethernet pads short frames to 46 octets of payload).
//
// Checks, in order (RFC 1122 §3.2.1.1, §3.2.1.2; RFC 791 §3.1):
//   - at least 20 octets (ErrTruncated);
//   - version 4, else silently discard (ErrVersion);
//   - 5 ≤ IHL and IHL*4 ≤ len(b) (ErrHeaderLen);
//   - IHL*4 ≤ Total Length ≤ len(b) (ErrTotalLen);
//   - the header checksum verifies (ErrChecksum);
//   - options are well formed (ErrOptions).
//
// The reserved flag bit is not checked, as in Linux and gVisor.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderMinLen {
		return nil, ErrTruncated
	}
	if b[offVersIHL]>>4 != 4 {
		return nil, ErrVersion
	}
	hl := int(b[offVersIHL]&0x0f) * 4
	if hl < HeaderMinLen || hl > len(b) {
		return nil, ErrHeaderLen
	}
	tl := int(binary.BigEndian.Uint16(b[offTotalLen:]))
	if tl < hl || tl > len(b) {
		return nil, ErrTotalLen
	}
	// RFC 1122 §3.2.1.2: a host MUST verify the header checksum and silently
	// discard a datagram whose checksum is bad. Summing the header with the
	// checksum field included gives all ones, so Checksum is zero.
	if checksum.Checksum(b[:hl], 0) != 0 {
		return nil, ErrChecksum
	}
	if !validOptions(b[offOptions:hl]) {
		return nil, ErrOptions
	}
	return Header(b[:tl]), nil
}

// validOptions walks the options area (RFC 791 §3.1, "Options"). EOL ends
// the list (the rest is padding), NOP is a single octet, every other option
// is type, length, data with 2 ≤ length ≤ the space left. Each step advances
// at least one octet, so the walk always ends.
func validOptions(opts []byte) bool {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case optEOL:
			return true
		case optNOP:
			i++
		default:
			if i+1 >= len(opts) {
				return false
			}
			n := int(opts[i+1])
			if n < 2 || n > len(opts)-i {
				return false
			}
			i += n
		}
	}
	return true
}

// HasOption reports whether the options area holds an option of type
// kind. It relies on the walk Parse already validated.
func (h Header) HasOption(kind uint8) bool { return h.optionAt(kind) >= 0 }

// optionAt is the offset in h of the first option of type kind, or -1.
func (h Header) optionAt(kind uint8) int {
	opts := h.Options()
	for i := 0; i < len(opts); {
		switch opts[i] {
		case optEOL:
			return -1
		case optNOP:
			i++
			continue
		case kind:
			if i+1 >= len(opts) {
				return -1
			}
			return offOptions + i
		}
		if i+1 >= len(opts) || opts[i+1] < 2 {
			return -1
		}
		i += int(opts[i+1])
	}
	return -1
}

// RecordRouteProblem checks a Record Route option as the destination of
// the datagram processes it (RFC 791 §3.1, "Record Route"), with Linux's
// rules (ip_options_compile): an option shorter than 3 octets, a pointer
// below 4, or a pointer inside the option without room for an address
// is an error, reported by a parameter problem pointing (from the start
// of the IP header) at the offending octet. ok is true when h has no
// Record Route option or a valid one.
func (h Header) RecordRouteProblem() (pointer int, ok bool) {
	at := h.optionAt(OptRecordRoute)
	if at < 0 {
		return 0, true
	}
	n := int(h[at+1])
	if n < 3 {
		return at + 1, false
	}
	ptr := int(h[at+2])
	if ptr < 4 || (ptr <= n && ptr+3 > n) {
		return at + 2, false
	}
	return 0, true
}

// RecordRouteReply is the options area of a reply to h (echo, timestamp)
// when h carries a Record Route option, nil otherwise: RFC 1122 §3.2.2.6
// and §3.2.2.8 ask that the option be "updated to include the current
// host and included in the IP header" of the reply. As Linux
// (ip_options_compile on input, ip_options_echo, ip_options_build on
// output), addr is recorded in the next free slot on input and again in
// the following one on output, while there is room; a full option is
// returned as it came. The result is padded with End of Option List to a
// multiple of 4. h's option must have passed RecordRouteProblem.
func (h Header) RecordRouteReply(addr netip.Addr) []byte {
	at := h.optionAt(OptRecordRoute)
	if at < 0 {
		return nil
	}
	n := int(h[at+1])
	out := make([]byte, (n+3)&^3)
	copy(out, h[at:at+n])
	a := addr.As4()
	for range 2 { // input, then output
		ptr := int(out[2])
		if ptr+3 > n {
			break
		}
		copy(out[ptr-1:], a[:])
		out[2] = byte(ptr + 4)
	}
	return out
}

// Version returns the Version field (4 after Parse).
func (h Header) Version() uint8 { return h[offVersIHL] >> 4 }

// HeaderLen returns the header length in octets (IHL*4).
func (h Header) HeaderLen() int { return int(h[offVersIHL]&0x0f) * 4 }

// TOS returns the Type of Service octet (DSCP and ECN, RFC 2474, RFC 3168).
func (h Header) TOS() uint8 { return h[offTOS] }

// TotalLen returns the Total Length field: header plus data, in octets.
func (h Header) TotalLen() int { return int(binary.BigEndian.Uint16(h[offTotalLen:])) }

// ID returns the Identification field.
func (h Header) ID() uint16 { return binary.BigEndian.Uint16(h[offID:]) }

func (h Header) flagsFO() uint16 { return binary.BigEndian.Uint16(h[offFlagsFO:]) }

// DF reports the Don't Fragment flag.
func (h Header) DF() bool { return h.flagsFO()&flagDF != 0 }

// MF reports the More Fragments flag.
func (h Header) MF() bool { return h.flagsFO()&flagMF != 0 }

// FragOffset returns the Fragment Offset in octets (the field times 8).
func (h Header) FragOffset() int { return int(h.flagsFO()&offsetMask) * 8 }

// IsFragment reports whether the datagram is a fragment: MF set or a non-zero
// offset (RFC 791 §3.2, "Reassembly").
func (h Header) IsFragment() bool { return h.flagsFO()&(flagMF|offsetMask) != 0 }

// TTL returns the Time to Live field.
func (h Header) TTL() uint8 { return h[offTTL] }

// Protocol returns the Protocol field.
func (h Header) Protocol() uint8 { return h[offProtocol] }

// Checksum returns the Header Checksum field as stored.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[offChecksum:]) }

// Src returns the Source Address.
func (h Header) Src() netip.Addr { return netip.AddrFrom4([4]byte(h[offSrc : offSrc+4])) }

// Dst returns the Destination Address.
func (h Header) Dst() netip.Addr { return netip.AddrFrom4([4]byte(h[offDst : offDst+4])) }

// Options returns the options area, padding included: h[20:HeaderLen()].
func (h Header) Options() []byte { return h[offOptions:h.HeaderLen()] }

// Payload returns the data after the header. For a Header from Parse this is
// exactly Total Length minus the header length; for the quoted header of an
// ICMP error (Quoted) it is however much of the data was quoted.
func (h Header) Payload() []byte { return h[h.HeaderLen():] }

// SetTOS sets the Type of Service octet.
func (h Header) SetTOS(v uint8) { h[offTOS] = v }

// SetTotalLen sets the Total Length field.
func (h Header) SetTotalLen(n int) { binary.BigEndian.PutUint16(h[offTotalLen:], uint16(n)) }

// SetID sets the Identification field.
func (h Header) SetID(v uint16) { binary.BigEndian.PutUint16(h[offID:], v) }

// SetFragment sets the flags and fragment offset. offset is in octets and
// must be a multiple of 8 (RFC 791 §3.1); the reserved flag is cleared.
func (h Header) SetFragment(df, mf bool, offset int) {
	v := uint16(offset/8) & offsetMask
	if df {
		v |= flagDF
	}
	if mf {
		v |= flagMF
	}
	binary.BigEndian.PutUint16(h[offFlagsFO:], v)
}

// SetTTL sets the Time to Live field.
func (h Header) SetTTL(v uint8) { h[offTTL] = v }

// SetProtocol sets the Protocol field.
func (h Header) SetProtocol(v uint8) { h[offProtocol] = v }

// SetSrc sets the Source Address; a must be an IPv4 address.
func (h Header) SetSrc(a netip.Addr) { s := a.As4(); copy(h[offSrc:offSrc+4], s[:]) }

// SetDst sets the Destination Address; a must be an IPv4 address.
func (h Header) SetDst(a netip.Addr) { d := a.As4(); copy(h[offDst:offDst+4], d[:]) }

// SetChecksum computes the header checksum (RFC 791 §3.1: the one's
// complement of the one's complement sum of the header's 16-bit words, with
// the checksum field taken as zero) and stores it.
func (h Header) SetChecksum() {
	h[offChecksum], h[offChecksum+1] = 0, 0
	binary.BigEndian.PutUint16(h[offChecksum:], checksum.Checksum(h[:h.HeaderLen()], 0))
}

// Fields describes a header to Encode.
type Fields struct {
	TOS        uint8
	TotalLen   int // header plus payload, octets
	ID         uint16
	DF, MF     bool
	FragOffset int // octets, multiple of 8
	TTL        uint8
	Protocol   uint8
	Src, Dst   netip.Addr
	Options    []byte // already padded: length a multiple of 4, at most 40
}

// Encode writes the header described by f, checksum included, at the start of
// b and returns its length (20 + len(f.Options)). The payload, if any, goes
// at b[n:]; f.TotalLen must already count it. Encode panics if f.Options is
// not a multiple of 4 long or longer than 40 octets, or if b is too short:
// those are programming errors, not wire input.
func Encode(b []byte, f Fields) int {
	if len(f.Options)%4 != 0 || len(f.Options) > HeaderMaxLen-HeaderMinLen {
		panic("ipv4: Encode: options length must be a multiple of 4 and at most 40")
	}
	hl := HeaderMinLen + len(f.Options)
	h := Header(b[:hl])
	h[offVersIHL] = 4<<4 | uint8(hl/4)
	h[offTOS] = f.TOS
	h.SetTotalLen(f.TotalLen)
	h.SetID(f.ID)
	h.SetFragment(f.DF, f.MF, f.FragOffset)
	h[offTTL] = f.TTL
	h[offProtocol] = f.Protocol
	h.SetSrc(f.Src)
	h.SetDst(f.Dst)
	copy(h[offOptions:], f.Options)
	h.SetChecksum()
	return hl
}

// ValidSource reports whether a may be the source of a datagram we accept
// (RFC 1122 §3.2.1.3, RFC 1812 §5.3.7): an IPv4 address outside 0.0.0.0/8
// ("this network"), 127.0.0.0/8 (loopback, which must not appear outside a
// host), 224.0.0.0/4 (multicast) and 240.0.0.0/4 (reserved, including the
// limited broadcast 255.255.255.255). The stack adds the checks that need its
// configuration: not one of our own addresses, not a subnet broadcast.
func ValidSource(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[0] != 0 && b[0] != 127 && b[0] < 224
}
