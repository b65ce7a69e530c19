// Package checksum computes the Internet checksum (RFC 1071) used by IPv4,
// ICMP, UDP and TCP.
//
// Sum accumulates a one's-complement sum without folding, so partial sums over
// several pieces (a pseudo-header, a header, a payload) can be chained. Fold
// folds to 16 bits; Checksum returns the complemented value that goes on the
// wire. A receiver verifies by checking that Checksum over the covered bytes,
// checksum field included, is zero.
//
// The functions are pure and safe for concurrent use.
package checksum

import (
	"encoding/binary"
	"net/netip"
)

// Sum adds b to the running one's-complement sum initial and returns the new,
// unfolded sum. An odd trailing byte is padded with zero (RFC 1071 §4.1), so
// only the last piece of a chained sum may have odd length.
func Sum(b []byte, initial uint32) uint32 {
	acc := uint64(initial)
	for len(b) >= 32 {
		acc += uint64(binary.BigEndian.Uint32(b[0:]))
		acc += uint64(binary.BigEndian.Uint32(b[4:]))
		acc += uint64(binary.BigEndian.Uint32(b[8:]))
		acc += uint64(binary.BigEndian.Uint32(b[12:]))
		acc += uint64(binary.BigEndian.Uint32(b[16:]))
		acc += uint64(binary.BigEndian.Uint32(b[20:]))
		acc += uint64(binary.BigEndian.Uint32(b[24:]))
		acc += uint64(binary.BigEndian.Uint32(b[28:]))
		b = b[32:]
	}
	for len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	// Fold 64 -> 32 bits; the result is congruent modulo 0xffff.
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	return uint32(acc)
}

// Fold folds a 32-bit one's-complement sum into 16 bits, without inverting.
func Fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = (sum >> 16) + (sum & 0xffff)
	}
	return uint16(sum)
}

// Checksum returns the Internet checksum of b chained onto initial: the
// complement of the folded sum.
func Checksum(b []byte, initial uint32) uint16 {
	return ^Fold(Sum(b, initial))
}

// PseudoHeaderIPv4 returns the unfolded sum of the IPv4 pseudo-header used by
// UDP (RFC 768) and TCP (RFC 9293 §3.1): source, destination, zero, protocol
// and the transport length. src and dst must be IPv4 addresses.
func PseudoHeaderIPv4(src, dst netip.Addr, proto uint8, length uint16) uint32 {
	s, d := src.As4(), dst.As4()
	sum := uint32(binary.BigEndian.Uint16(s[0:])) + uint32(binary.BigEndian.Uint16(s[2:]))
	sum += uint32(binary.BigEndian.Uint16(d[0:])) + uint32(binary.BigEndian.Uint16(d[2:]))
	sum += uint32(proto) + uint32(length)
	return sum
}

// Update16 incrementally updates checksum cs after a 16-bit field changed
// from old to new (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
func Update16(cs, old, new uint16) uint16 {
	sum := uint32(^cs) + uint32(^old) + uint32(new)
	return ^Fold(sum)
}
