// Package bitmap counts and sets runs of bits in a []uint64, bit i of the
// map being bit i%64 of word i/64. The IPv4 and IPv6 reassemblers keep one
// bit per 8-octet block of fragment data in such a map.
package bitmap

import "math/bits"

// Count returns how many of bits [lo, hi) are set; bits past the end of bm
// count as clear.
func Count(bm []uint64, lo, hi int) int {
	hi = min(hi, len(bm)*64)
	n := 0
	for lo < hi {
		w, b := lo/64, lo%64
		k := min(64-b, hi-lo)
		mask := ^uint64(0) >> (64 - k) << b
		n += bits.OnesCount64(bm[w] & mask)
		lo += k
	}
	return n
}

// Set sets bits [lo, hi), which must lie inside bm.
func Set(bm []uint64, lo, hi int) {
	for lo < hi {
		w, b := lo/64, lo%64
		k := min(64-b, hi-lo)
		bm[w] |= ^uint64(0) >> (64 - k) << b
		lo += k
	}
}
