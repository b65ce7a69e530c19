package tcp

import (
	"crypto/rand"
	"encoding/binary"
	"github.com/tapstack/tapstack/internal/siphash"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// ISNGenerator generates initial sequence numbers as RFC 6528 §3 specifies:
//
//	ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// where M is a timer that ticks every 4 microseconds (RFC 6528 §3, after
// RFC 9293 §3.4.1's ISN clock) and F is SipHash-2-4 keyed with 128 random
// bits drawn once from crypto/rand, truncated to 32 bits. Connections to
// different 4-tuples get unrelated sequence spaces, so an off-path attacker
// who sees one connection's ISN learns nothing about another's, while a given
// 4-tuple's ISNs still advance with time, protecting old duplicates of a
// previous incarnation (RFC 9293 §3.4.1).
//
// Deviation (Linux compat, partly): Linux (secure_tcp_seq) also uses
// SipHash but a 64 ns clock; we keep RFC 6528's 4 µs clock, which wraps the
// 32-bit space every 4.77 hours.
//
// The key never changes after NewISNGenerator, so Next is safe for concurrent
// use without locking. Next does not allocate.
type ISNGenerator struct {
	k0, k1 uint64
}

// NewISNGenerator returns a generator with a fresh random key. It panics if
// crypto/rand fails, which it does not on supported platforms.
func NewISNGenerator() *ISNGenerator {
	var key [16]byte
	if _, err := rand.Read(key[:]); err != nil {
		panic("tcp: crypto/rand: " + err.Error())
	}
	return &ISNGenerator{
		k0: binary.LittleEndian.Uint64(key[0:]),
		k1: binary.LittleEndian.Uint64(key[8:]),
	}
}

// isnTick is the period of RFC 6528's timer M.
const isnTick = 4 * time.Microsecond

// Next returns the ISN for a connection from local to remote at time now.
// IPv4 addresses hash as their IPv4-mapped IPv6 form; the zone is ignored.
func (g *ISNGenerator) Next(local, remote netip.AddrPort, now time.Time) seqnum.Value {
	var msg [36]byte
	la, ra := local.Addr().As16(), remote.Addr().As16()
	copy(msg[0:16], la[:])
	binary.BigEndian.PutUint16(msg[16:], local.Port())
	copy(msg[18:34], ra[:])
	binary.BigEndian.PutUint16(msg[34:], remote.Port())
	f := uint32(siphash.Sum64(g.k0, g.k1, msg[:]))
	m := uint32(now.UnixNano() / int64(isnTick))
	return seqnum.Value(m + f)
}
