// Package gso cuts a TCP segment of several MSS (a TSO segment the stack
// built, or a GRO super-segment the kernel merged) into the MSS-sized
// segments the wire carries, as Linux's software GSO does
// (net/ipv4/tcp_offload.c, tcp_gso_segment; inet_gso_segment and
// ipv6_gso_segment for the IP headers). It is the one copy of that cut:
// package stack uses it for devices without TSO, package nic for a pcap
// that shows what the wire would carry. Being below both (internal/ may
// not import the protocol layers), it reads the few header fields it
// needs at their offsets. It holds no state; a cut is built in the
// caller's buffer.
package gso

import (
	"encoding/binary"
	"errors"
	"iter"

	"github.com/tapstack/tapstack/internal/checksum"
)

// Header fields the cut reads or rewrites, at their offsets: IPv4 (RFC 791
// §3.1), IPv6 (RFC 8200 §3) and TCP (RFC 9293 §3.1).
const (
	ipv4MinLen      = 20
	ipv4TotalLen    = 2
	ipv4ID          = 4
	ipv4FlagsFrag   = 6 // MF (0x2000) and the fragment offset (0x1fff)
	ipv4Protocol    = 9
	ipv4Checksum    = 10
	ipv4Addrs       = 12 // source then destination, 8 octets
	ipv6Len         = 40
	ipv6PayloadLen  = 4
	ipv6NextHeader  = 6
	ipv6Addrs       = 8 // source then destination, 32 octets
	protoTCP        = 6
	tcpMinLen       = 20
	tcpSeq          = 4
	tcpDataOff      = 12
	tcpFlags        = 13
	tcpChecksum     = 16
	ipv4FragMask    = 0x3fff
	flagFIN         = 0x01
	flagPSH         = 0x08
	flagCWR         = 0x80
	lastOnlyFlags   = flagFIN | flagPSH
	firstOnlyFlags  = flagCWR
	ipv6AddrsLength = 32
)

// ErrNotTCP is Check's answer for a packet Segments cannot cut.
var ErrNotTCP = errors.New("gso: not an IPv4 or IPv6 packet with a TCP segment right behind its header")

// Check returns pkt, an IP packet told by its version nibble, trimmed to
// the length its header gives, if Segments can cut it: an IPv4 datagram
// that is no fragment, or an IPv6 packet without extension headers,
// carrying a TCP segment whose header fits. Anything else (from the wire,
// not trusted) is ErrNotTCP. It checks lengths, not checksums.
func Check(pkt []byte) ([]byte, error) {
	var ipLen int
	switch {
	case len(pkt) >= ipv4MinLen && pkt[0]>>4 == 4:
		ipLen = int(pkt[0]&0x0f) * 4
		n := int(binary.BigEndian.Uint16(pkt[ipv4TotalLen:]))
		if ipLen < ipv4MinLen || n < ipLen || n > len(pkt) || pkt[ipv4Protocol] != protoTCP ||
			binary.BigEndian.Uint16(pkt[ipv4FlagsFrag:])&ipv4FragMask != 0 {
			return nil, ErrNotTCP
		}
		pkt = pkt[:n]
	case len(pkt) >= ipv6Len && pkt[0]>>4 == 6:
		ipLen = ipv6Len
		n := ipv6Len + int(binary.BigEndian.Uint16(pkt[ipv6PayloadLen:]))
		if n > len(pkt) || pkt[ipv6NextHeader] != protoTCP {
			return nil, ErrNotTCP
		}
		pkt = pkt[:n]
	default:
		return nil, ErrNotTCP
	}
	if len(pkt)-ipLen < tcpMinLen {
		return nil, ErrNotTCP
	}
	if off := dataOffset(pkt[ipLen:]); off < tcpMinLen || off > len(pkt)-ipLen {
		return nil, ErrNotTCP
	}
	return pkt, nil
}

// dataOffset is the TCP header's length in octets.
func dataOffset(th []byte) int { return int(th[tcpDataOff]>>4) * 4 }

// Segments cuts pkt, an IP packet Check accepts (the stack's own need not
// be checked), into packets of at most size TCP payload octets. Each has
// the headers of pkt with its own sequence number and length: for IPv4 its
// Total Length, IP ID (pkt's plus its index: the sender reserved as many)
// and header checksum (RFC 791 §3.1); for IPv6 its Payload Length (RFC
// 8200 §3). Each has a complete TCP checksum over its own pseudo-header
// (RFC 9293 §3.1; RFC 8200 §8.1), whatever pkt's checksum field held;
// FIN and PSH stay only on the last, CWR only on the first (RFC 3168
// §6.1.2: one CWR per reduction), as tcp_gso_segment leaves them.
//
// Each packet is built in *buf at offset headroom (room for a link
// header: the bytes before it are kept, also when *buf grows) and is
// valid until the next is yielded. A pkt of no more than size payload
// octets is still rebuilt, as one packet.
func Segments(buf *[]byte, headroom int, pkt []byte, size int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		v4 := pkt[0]>>4 == 4
		ipLen := ipv6Len
		if v4 {
			ipLen = int(pkt[0]&0x0f) * 4
		}
		hdrs := ipLen + dataOffset(pkt[ipLen:])
		payload := pkt[hdrs:]
		size = max(size, 1)
		if need := headroom + hdrs + min(size, len(payload)); len(*buf) < need {
			b := make([]byte, need)
			copy(b, *buf)
			*buf = b
		}
		seq := binary.BigEndian.Uint32(pkt[ipLen+tcpSeq:])
		flags := pkt[ipLen+tcpFlags]
		id := binary.BigEndian.Uint16(pkt[ipv4ID:]) // IPv4 only
		for i, off := 0, 0; i == 0 || off < len(payload); i, off = i+1, off+size {
			k := min(size, len(payload)-off)
			p := (*buf)[headroom : headroom+hdrs+k]
			copy(p, pkt[:hdrs])
			copy(p[hdrs:], payload[off:off+k])
			th := p[ipLen:]
			binary.BigEndian.PutUint32(th[tcpSeq:], seq+uint32(off)) // wraps as sequence space does
			f := flags
			if off+k < len(payload) {
				f &^= lastOnlyFlags
			}
			if i > 0 {
				f &^= firstOnlyFlags
			}
			th[tcpFlags] = f
			// The pseudo-header: the addresses, the protocol and the TCP
			// length (RFC 9293 §3.1; RFC 8200 §8.1, as 32 bits: below
			// 2^16 here, so the same sum).
			var ph uint32
			if v4 {
				binary.BigEndian.PutUint16(p[ipv4TotalLen:], uint16(len(p)))
				binary.BigEndian.PutUint16(p[ipv4ID:], id+uint16(i))
				binary.BigEndian.PutUint16(p[ipv4Checksum:], 0)
				binary.BigEndian.PutUint16(p[ipv4Checksum:], checksum.Checksum(p[:ipLen], 0))
				ph = checksum.Sum(p[ipv4Addrs:ipv4Addrs+8], 0)
			} else {
				binary.BigEndian.PutUint16(p[ipv6PayloadLen:], uint16(len(p)-ipv6Len))
				ph = checksum.Sum(p[ipv6Addrs:ipv6Addrs+ipv6AddrsLength], 0)
			}
			ph += protoTCP + uint32(len(th))
			binary.BigEndian.PutUint16(th[tcpChecksum:], 0)
			binary.BigEndian.PutUint16(th[tcpChecksum:], checksum.Checksum(th, ph))
			if !yield(p) {
				return
			}
		}
	}
}
