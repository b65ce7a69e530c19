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
	"math/bits"
	"net/netip"
)

// Sum adds b to the running one's-complement sum initial and returns the new,
// unfolded sum. An odd trailing byte is padded with zero (RFC 1071 §4.1), so
// only the last piece of a chained sum may have odd length.
//
// The bytes are added eight at a time as 64-bit words with end-around carry
// (RFC 1071 §2 (C): the sum may be taken over any word size and folded), in
// the machine's byte order (§2 (B): byte-order independence), and the folded
// 16-bit result is swapped back to network order.
func Sum(b []byte, initial uint32) uint32 {
	var acc, c uint64
	for len(b) >= 64 {
		// One length check for the eight loads, and the carry folded in
		// at the end of each block: the carry flag stays in the flags
		// register through the chain of adds.
		w := (*[64]byte)(b)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[0:8]), 0)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[24:32]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[32:40]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[40:48]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[48:56]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[56:64]), c)
		acc, c = bits.Add64(acc, 0, c) // the end-around carry, which may carry once more
		acc += c                       // only from all ones to zero: cannot carry again
		b = b[64:]
	}
	c = 0
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	acc, c = bits.Add64(acc, c, 0) // the end-around carry
	acc += c
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(b)), 0)
		acc += c
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint16(b)), 0)
		acc += c
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0]), 0) // the low byte in memory order: the high byte on the wire
		acc += c
	}
	// Fold 64 -> 16 bits with end-around carries, then back to network
	// byte order; initial is already in it.
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint32(bits.ReverseBytes16(uint16(acc))) + initial
}

// SumSplit is Sum of the concatenation of a and b, without building it: a
// may have odd length. Then b's bytes sit at the other positions of the
// 16-bit words, and the sum of b alone, byte-swapped, is their share
// (RFC 1071 §2 (B): swapping every byte pair swaps the sum).
func SumSplit(a, b []byte, initial uint32) uint32 {
	sum := Sum(a, initial)
	t := Fold(Sum(b, 0))
	if len(a)%2 == 1 {
		t = bits.ReverseBytes16(t)
	}
	return sum + uint32(t)
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
