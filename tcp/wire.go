package tcp

// TCP Header Format, RFC 9293 §3.1:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           [Options]                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               :
//	:                             Data                              :
//	:                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Data Offset is the header length in 32-bit words (5 to 15). The checksum
// covers the header, the data and this pseudo-header (RFC 9293 §3.1):
//
//	+--------+--------+--------+--------+
//	|           Source Address          |
//	+--------+--------+--------+--------+
//	|         Destination Address       |
//	+--------+--------+--------+--------+
//	|  zero  |  PTCL  |    TCP Length   |
//	+--------+--------+--------+--------+

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Header sizes (RFC 9293 §3.1: Data Offset is 4 bits of 32-bit words, at
// least 5).
const (
	HeaderMinLen = 20
	HeaderMaxLen = 60
)

// protocolNumber is TCP's IP protocol number, used in the pseudo-header.
const protocolNumber = 6

// Field offsets.
const (
	offSrcPort  = 0
	offDstPort  = 2
	offSeq      = 4
	offAck      = 8
	offDataOff  = 12
	offFlags    = 13
	offWindow   = 14
	offChecksum = 16
	offUrgent   = 18
	offOptions  = 20
)

// Flags are the control bits, octet 13 of the header (RFC 9293 §3.1; ECE and
// CWR are RFC 3168 §6.1). The three reserved bits of octet 12 (the last once
// NS, RFC 3540, now historic) are not flags: they are ignored on receive and
// sent as zero.
type Flags uint8

// Control bits, in wire order from the least significant bit.
const (
	FlagFIN Flags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

var flagNames = [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// String returns the set flags joined by "|" in wire order from FIN up
// ("SYN|ACK", "FIN|PSH|ACK"), or "none".
func (f Flags) String() string {
	if f == 0 {
		return "none"
	}
	var buf [8 * 4]byte
	b := buf[:0]
	for i, name := range flagNames {
		if f&(1<<i) == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, '|')
		}
		b = append(b, name...)
	}
	return string(b)
}

// Reasons a segment is rejected. Each is distinct so the stack can count
// drops by reason, as Linux names its drop reasons (SKB_DROP_REASON_PKT_TOO_SMALL,
// SKB_DROP_REASON_TCP_CSUM, ...).
var (
	// ErrTruncated: the IP payload is shorter than the 20-octet header.
	ErrTruncated = errors.New("tcp: segment shorter than header")
	// ErrDataOffset: Data Offset is below 5 or points past the segment
	// (Linux tcp_v4_rcv: th->doff < sizeof(struct tcphdr) / 4 is a bad
	// segment, and a header longer than the packet is dropped).
	ErrDataOffset = errors.New("tcp: bad data offset")
	// ErrOptions: an option has an illegal length: below 2, running past
	// the header, or not the fixed length its kind requires.
	ErrOptions = errors.New("tcp: malformed options")
	// ErrChecksum: the checksum over pseudo-header, header and data is bad
	// (RFC 9293 §3.1; MUST-2/MUST-3: checked on every segment).
	ErrChecksum = errors.New("tcp: bad checksum")
)

// Header is a view of a TCP segment: the header, options included, followed
// by the data, exactly the IP payload. Obtain one from Parse; afterwards no
// accessor panics. A Header built by hand (over a buffer Encode filled) must
// be at least DataOffset() long.
type Header []byte

// Parse checks that b, the whole IP payload, is a well-formed TCP segment and
// returns it as a Header (aliasing b). Checks, in order:
//   - at least 20 octets (ErrTruncated);
//   - 5 ≤ Data Offset and Data Offset*4 ≤ len(b) (ErrDataOffset);
//   - every option length is legal (ErrOptions): see ParseOptions, which
//     Parse runs and whose result it throws away.
//
// Parse does not verify the checksum (VerifyIPv4 does), so that a caller can
// count checksum failures separately; Decode does both.
func Parse(b []byte) (Header, error) {
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	if _, err := ParseOptions(h.Options()); err != nil {
		return nil, err
	}
	return h, nil
}

// parseHeader is Parse without the option walk.
func parseHeader(b []byte) (Header, error) {
	if len(b) < HeaderMinLen {
		return nil, ErrTruncated
	}
	off := int(b[offDataOff]>>4) * 4
	if off < HeaderMinLen || off > len(b) {
		return nil, ErrDataOffset
	}
	return Header(b), nil
}

// SrcPort returns the Source Port field.
func (h Header) SrcPort() uint16 { return binary.BigEndian.Uint16(h[offSrcPort:]) }

// DstPort returns the Destination Port field.
func (h Header) DstPort() uint16 { return binary.BigEndian.Uint16(h[offDstPort:]) }

// Seq returns the Sequence Number field (SEG.SEQ).
func (h Header) Seq() seqnum.Value { return seqnum.Value(binary.BigEndian.Uint32(h[offSeq:])) }

// Ack returns the Acknowledgment Number field (SEG.ACK); it means something
// only when FlagACK is set.
func (h Header) Ack() seqnum.Value { return seqnum.Value(binary.BigEndian.Uint32(h[offAck:])) }

// DataOffset returns the header length in octets (Data Offset * 4).
func (h Header) DataOffset() int { return int(h[offDataOff]>>4) * 4 }

// Flags returns the control bits.
func (h Header) Flags() Flags { return Flags(h[offFlags]) }

// Window returns the Window field as sent, before any window scaling
// (RFC 7323 §2.3).
func (h Header) Window() uint16 { return binary.BigEndian.Uint16(h[offWindow:]) }

// Checksum returns the Checksum field as stored.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[offChecksum:]) }

// Urgent returns the Urgent Pointer field.
func (h Header) Urgent() uint16 { return binary.BigEndian.Uint16(h[offUrgent:]) }

// Options returns the options area, padding included: h[20:DataOffset()].
// It aliases h.
func (h Header) Options() []byte { return h[offOptions:h.DataOffset()] }

// Payload returns the data after the header, h[DataOffset():]. It aliases h.
func (h Header) Payload() []byte { return h[h.DataOffset():] }

// SetSrcPort sets the Source Port field.
func (h Header) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(h[offSrcPort:], v) }

// SetDstPort sets the Destination Port field.
func (h Header) SetDstPort(v uint16) { binary.BigEndian.PutUint16(h[offDstPort:], v) }

// SetSeq sets the Sequence Number field.
func (h Header) SetSeq(v seqnum.Value) { binary.BigEndian.PutUint32(h[offSeq:], uint32(v)) }

// SetAck sets the Acknowledgment Number field.
func (h Header) SetAck(v seqnum.Value) { binary.BigEndian.PutUint32(h[offAck:], uint32(v)) }

// SetFlags sets the control bits.
func (h Header) SetFlags(f Flags) { h[offFlags] = uint8(f) }

// SetWindow sets the Window field (already scaled down by the caller).
func (h Header) SetWindow(v uint16) { binary.BigEndian.PutUint16(h[offWindow:], v) }

// SetChecksum sets the Checksum field.
func (h Header) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[offChecksum:], v) }

// SetUrgent sets the Urgent Pointer field.
func (h Header) SetUrgent(v uint16) { binary.BigEndian.PutUint16(h[offUrgent:], v) }

// setDataOffset sets Data Offset to n octets (a multiple of 4, 20..60) and
// clears the reserved bits.
func (h Header) setDataOffset(n int) { h[offDataOff] = uint8(n/4) << 4 }

// sumIPv4 returns the Internet checksum over the IPv4 pseudo-header and all
// of h (header and data) with the Checksum field as it currently is. The TCP
// Length of the pseudo-header is len(h) (RFC 9293 §3.1: "the TCP header length
// plus the data length in octets ... it does not count the 12 octets of the
// pseudo-header").
func (h Header) sumIPv4(src, dst netip.Addr) uint16 {
	ph := checksum.PseudoHeaderIPv4(src, dst, protocolNumber, uint16(len(h)))
	return checksum.Checksum(h, ph)
}

// VerifyIPv4 reports whether the checksum of the segment h (header and data)
// is valid for the IPv4 addresses src and dst (RFC 9293 §3.1, MUST-3: a
// receiver checks every segment). Unlike UDP, zero is an ordinary checksum
// value, not "none". h must be at most 65535 octets, as any IPv4 payload is.
func (h Header) VerifyIPv4(src, dst netip.Addr) bool { return h.sumIPv4(src, dst) == 0 }

// ComputeChecksumIPv4 computes the checksum over the IPv4 pseudo-header for
// src and dst, the header and the data, and stores it. h must hold the whole
// segment: header followed by payload.
func (h Header) ComputeChecksumIPv4(src, dst netip.Addr) {
	h.SetChecksum(0)
	h.SetChecksum(h.sumIPv4(src, dst))
}

// sumIPv6 is sumIPv4 over the IPv6 pseudo-header of RFC 8200 §8.1: the
// addresses, the upper-layer packet length as 32 bits (len(h): RFC 8200
// §8.1 counts the TCP header and data, not extension headers before it)
// and Next Header 6.
func (h Header) sumIPv6(src, dst netip.Addr) uint16 {
	ph := ipv6.PseudoHeaderSum(src, dst, protocolNumber, uint32(len(h)))
	return checksum.Checksum(h, ph)
}

// VerifyIPv6 is VerifyIPv4 for a segment carried in IPv6 from src to dst
// (RFC 8200 §8.1: "any transport or other upper-layer protocol that
// includes the addresses from the IP header in its checksum computation
// must be modified for use over IPv6").
func (h Header) VerifyIPv6(src, dst netip.Addr) bool { return h.sumIPv6(src, dst) == 0 }

// ComputeChecksumIPv6 is ComputeChecksumIPv4 with the IPv6 pseudo-header.
func (h Header) ComputeChecksumIPv6(src, dst netip.Addr) {
	h.SetChecksum(0)
	h.SetChecksum(h.sumIPv6(src, dst))
}

// Verify checks the checksum with the pseudo-header of src's family: IPv4
// for IPv4 addresses (RFC 9293 §3.1), IPv6 otherwise (RFC 8200 §8.1). An
// IPv4-mapped address is IPv6 here: the stack keys IPv4 packets by
// 4-octet addresses.
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
