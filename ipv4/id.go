package ipv4

import (
	"crypto/rand"
	"encoding/binary"
	"github.com/tapstack/tapstack/internal/siphash"
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
func (g *IDGen) Next(src, dst netip.Addr, proto uint8) uint16 { return g.NextN(src, dst, proto, 1) }

// NextN reserves n consecutive IDs (n ≥ 1) and returns the first, for a
// TCP segment the device or the stack cuts into n datagrams that take
// ID, ID+1, ... (Linux's ip_select_ident_segs).
func (g *IDGen) NextN(src, dst netip.Addr, proto uint8, n int) uint16 {
	var msg [9]byte
	s, d := src.As4(), dst.As4()
	copy(msg[0:4], s[:])
	copy(msg[4:8], d[:])
	msg[8] = proto
	h := siphash.Sum64(g.k0, g.k1, msg[:])
	return uint16(g.counters[h%idBuckets].Add(uint32(n)) - uint32(n) + 1)
}
