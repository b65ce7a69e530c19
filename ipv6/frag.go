package ipv6

// Fragmentation at the source, RFC 8200 §4.5: a packet larger than the
// path MTU is sent as fragments, each the unfragmentable part, a Fragment
// header and a piece of the fragmentable part.

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
)

// FragHeaderLen is the length of the Fragment header (RFC 8200 §4.5).
const FragHeaderLen = 8

var (
	// ErrMTUTooSmall means the MTU leaves no room for 8 octets of
	// fragment data behind the unfragmentable part and a Fragment header.
	ErrMTUTooSmall = errors.New("ipv6: MTU too small to fragment the packet")
	// ErrAlreadyFragment means the packet already has a Fragment header:
	// a source fragments a packet once (RFC 8200 §4.5 fragments "the
	// original packet").
	ErrAlreadyFragment = errors.New("ipv6: packet already holds a Fragment header")
)

// NewFragmentID returns the Identification for a packet to fragment: a
// fresh random 32-bit value, never zero, so that no one can predict it
// (RFC 7739 §5.3, RFC 8200 §4.5: "different from that of any other
// fragmented packet sent recently with the same Source Address and
// Destination Address"). Linux's __ipv6_select_ident does the same
// (get_random_u32, retried while zero). Safe for concurrent use.
func NewFragmentID() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:]) // never returns an error (Go ≥ 1.24)
		if id := binary.BigEndian.Uint32(b[:]); id != 0 {
			return id
		}
	}
}

// UnfragmentableLen returns the length of pkt's unfragmentable part (RFC
// 8200 §4.5): the fixed header and the extension headers that must be
// processed on the way, which are the Hop-by-Hop Options header and, if a
// Routing header is present, every header up to and including it (a
// Destination Options header in front of a Routing header is for the hops
// it names, RFC 8200 §4.1). Everything after is the fragmentable part.
// Errors: ErrExtTruncated for a chain beyond the packet,
// ErrAlreadyFragment for a Fragment header in the chain.
func UnfragmentableLen(pkt Header) (int, error) {
	unfrag := HeaderLen
	next, off := pkt.NextHeader(), HeaderLen
	for range MaxExtHeaders + 1 {
		if !IsExt(next) {
			break
		}
		if next == ProtoFragment {
			return 0, ErrAlreadyFragment
		}
		if len(pkt)-off < 8 {
			return 0, ErrExtTruncated
		}
		n := (int(pkt[off+1]) + 1) * 8
		if n > len(pkt)-off {
			return 0, ErrExtTruncated
		}
		if next == ProtoHopByHop || next == ProtoRouting {
			unfrag = off + n
		}
		next = pkt[off]
		off += n
	}
	return unfrag, nil
}

// Fragment splits pkt, a complete IPv6 packet (len(pkt) = 40 + Payload
// Length), into fragments of at most mtu octets with Identification id and
// calls emit(hdr, data) for each in offset order (RFC 8200 §4.5). hdr is
// the fragment's unfragmentable part with its Payload Length set and the
// Next Header of its last header 44, followed by the Fragment header whose
// Next Header is the first fragmentable header's; it is in a scratch buffer
// valid only during the call. data points into pkt. Every fragment but the
// last carries a multiple of 8 octets, as many as fit.
//
// If len(pkt) ≤ mtu, pkt is emitted as it is, in one piece (hdr the fixed
// header, data the rest), with no Fragment header: atomic fragments are
// not sent (RFC 8021). The first error from emit stops the split and is
// returned.
func Fragment(pkt Header, mtu int, id uint32, emit func(hdr, data []byte) error) error {
	if len(pkt) <= mtu {
		return emit(pkt[:HeaderLen], pkt[HeaderLen:])
	}
	unfrag, err := UnfragmentableLen(pkt)
	if err != nil {
		return err
	}
	chunk := (mtu - unfrag - FragHeaderLen) &^ 7
	if chunk < 8 || unfrag == len(pkt) {
		return ErrMTUTooSmall
	}
	hdr := make(Header, unfrag+FragHeaderLen)
	copy(hdr, pkt[:unfrag])
	nh := nextHeaderField(pkt, unfrag)
	hdr[nh] = ProtoFragment
	next := pkt[nh]
	rest := pkt[unfrag:]
	for off := 0; off < len(rest); off += chunk {
		n := min(chunk, len(rest)-off)
		more := off+n < len(rest)
		hdr.SetPayloadLen(len(hdr) - HeaderLen + n)
		fragHeader(hdr[unfrag:], next, off, more, id)
		if err := emit(hdr, rest[off:off+n]); err != nil {
			return err
		}
	}
	return nil
}

// fragHeader writes a Fragment header (RFC 8200 §4.5) into b: next, the
// offset (a multiple of 8) in the 13 high bits of the third and fourth
// octets, M in the lowest, then the Identification.
func fragHeader(b []byte, next uint8, off int, more bool, id uint32) {
	b[0], b[1] = next, 0
	w := uint16(off) &^ 7
	if more {
		w |= 1
	}
	binary.BigEndian.PutUint16(b[2:], w)
	binary.BigEndian.PutUint32(b[4:], id)
}
