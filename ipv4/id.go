package ipv4

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"sync/atomic"
)

// idBuckets is the number of ID counters, as Linux's IP_IDENTS_SZ (2048).
const idBuckets = 2048

// IDGen hands out IP Identification values for datagrams we originate.
//
// RFC 791 §3.2 needs an ID unique for each (source, destination, protocol)
// for as long as the datagram may be in reassembly; RFC 6864 §4.1 says
// atomic (DF, unfragmented) datagrams need no uniqueness, and RFC 7739 §5
// warns that one global counter leaks traffic volume and lets others predict
// IDs. IDGen does what Linux's ip_idents_reserve does: a keyed hash (SipHash
// with a random key) of (src, dst, proto) picks one of 2048 counters, each
// starting at a random value; the counter is incremented per datagram. So
// IDs to one destination are sequential (unique across 65536 datagrams), while
// the value for any other destination cannot be guessed from them.
//
// Deviation (Linux compat, partial): Linux also adds a random jump to a
// counter left idle since the last jiffy; Next takes no time, so it does not.
//
// Next uses atomic counters and is safe for concurrent use.
type IDGen struct {
	k0, k1   uint64
	counters [idBuckets]atomic.Uint32
}

// NewIDGen returns a generator with a key and starting values from
// crypto/rand.
func NewIDGen() *IDGen {
	var seed [16 + 2*idBuckets]byte
	rand.Read(seed[:]) // never returns an error (Go ≥ 1.24)
	g := &IDGen{
		k0: binary.LittleEndian.Uint64(seed[0:]),
		k1: binary.LittleEndian.Uint64(seed[8:]),
	}
	for i := range g.counters {
		g.counters[i].Store(uint32(binary.LittleEndian.Uint16(seed[16+2*i:])))
	}
	return g
}

// Next returns the ID for the next datagram from src to dst carrying proto.
func (g *IDGen) Next(src, dst netip.Addr, proto uint8) uint16 {
	s, d := src.As4(), dst.As4()
	m0 := uint64(binary.BigEndian.Uint32(s[:]))<<32 | uint64(binary.BigEndian.Uint32(d[:]))
	h := siphash(g.k0, g.k1, m0, uint64(proto))
	return uint16(g.counters[h%idBuckets].Add(1))
}

// siphash is SipHash-2-4 of the 16-octet message (m0, m1) under the key
// (k0, k1).
func siphash(k0, k1, m0, m1 uint64) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	for _, m := range [3]uint64{m0, m1, 16 << 56} { // last block: length octet
		v3 ^= m
		round()
		round()
		v0 ^= m
	}
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
