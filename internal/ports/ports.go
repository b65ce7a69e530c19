// Package ports selects ephemeral ports for the transport protocols
// (RFC 6056, "Recommendations for Transport-Protocol Port Randomization").
//
// A Picker owns only its random state; which ports are taken is the caller's
// knowledge, passed in as a predicate, so the same Picker serves UDP now and
// TCP later. Nothing here is safe for concurrent use: the stack calls Pick
// while holding the lock that guards its port table.
package ports

import (
	crand "crypto/rand"
	"math/rand/v2"
)

// The ephemeral port range, inclusive: Linux's default
// net.ipv4.ip_local_port_range ("32768 60999"). RFC 6056 §3.2 recommends the
// whole 1024-65535 range; we follow Linux so that port choices look like the
// kernel's to peers and firewalls.
const (
	EphemeralFirst = 32768
	EphemeralLast  = 60999
)

// numEphemeral is the number of ports in [EphemeralFirst, EphemeralLast].
const numEphemeral = EphemeralLast - EphemeralFirst + 1

// Picker chooses ephemeral ports with RFC 6056 §3.3.1 Algorithm 1, "Simple
// Port Randomization": start at a uniformly random port in the range, then
// try successive ports, wrapping at the end, until a free one is found or the
// whole range has been tried.
//
// Algorithm 1 was chosen over §3.3.2 Algorithm 2 (a fresh random candidate on
// every attempt) because it visits every port exactly once, so "no port
// found" means the range really is exhausted, and the cost is bounded by the
// range size. The random start is drawn independently for each Pick, so
// consecutive picks are not sequential and a peer cannot predict the next
// port from the last one. (Algorithms 3 and 4 lower port reuse per
// destination; that matters for TCP's TIME-WAIT and can be added when TCP
// uses this package.)
//
// A Picker is not safe for concurrent use.
type Picker struct {
	rng *rand.Rand
}

// NewPicker returns a Picker whose random state is seeded from crypto/rand.
func NewPicker() *Picker {
	var seed [32]byte
	// crypto/rand.Read never returns an error on supported platforms (Go 1.24+).
	_, _ = crand.Read(seed[:])
	return &Picker{rng: rand.New(rand.NewChaCha8(seed))}
}

// newPickerSeed returns a Picker with a fixed seed, for deterministic tests.
func newPickerSeed(seed [32]byte) *Picker {
	return &Picker{rng: rand.New(rand.NewChaCha8(seed))}
}

// Pick returns a free port in [EphemeralFirst, EphemeralLast]; inUse reports
// whether a candidate is taken. It returns false when inUse is true for every
// port in the range: the caller maps that to its errno (Linux gives EAGAIN
// from connect and EADDRINUSE from bind).
//
// RFC 6056 §3.3.1 (Algorithm 1):
//
//	next_ephemeral = min_ephemeral + (random() % num_ephemeral);
//	count = num_ephemeral;
//	do {
//	    if (check_suitable_port(next_ephemeral)) return next_ephemeral;
//	    if (next_ephemeral == max_ephemeral) next_ephemeral = min_ephemeral;
//	    else next_ephemeral++;
//	    count--;
//	} while (count > 0);
//	return ERROR;
func (p *Picker) Pick(inUse func(port uint16) bool) (uint16, bool) {
	off := p.rng.Uint32N(numEphemeral) // uniform, unbiased
	for range numEphemeral {
		port := uint16(EphemeralFirst + off)
		if !inUse(port) {
			return port, true
		}
		off++
		if off == numEphemeral {
			off = 0
		}
	}
	return 0, false
}
