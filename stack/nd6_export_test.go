package stack

import (
	"net/netip"

	"github.com/tapstack/tapstack/ipv6"
)

// PinRandom6Test makes every IPv6 random draw f (tests only): delays are f
// times their bound, ReachableTime (0.5+f) times BaseReachableTime.
func (s *Stack) PinRandom6Test(f float64) {
	s.mu.Lock()
	defer s.unlock()
	s.ip6.rnd = func() float64 { return f }
	s.ip6.nc.reachable = s.ip6.randomReachable()
}

// Output6Test sends a complete IPv6 packet through output6Locked (tests
// only: no transport sends IPv6 yet).
func (s *Stack) Output6Test(pkt []byte) error {
	s.mu.Lock()
	defer s.unlock()
	return s.output6Locked(ipv6.Header(pkt))
}

// Source6Test returns source6Locked(dst) (tests only).
func (s *Stack) Source6Test(dst netip.Addr) netip.Addr {
	s.mu.Lock()
	defer s.unlock()
	return s.source6Locked(dst)
}

// Neighbour6StateTest returns ip's neighbour cache entry (tests only).
func (s *Stack) Neighbour6StateTest(ip netip.Addr) (Neighbour6, bool) {
	s.mu.Lock()
	defer s.unlock()
	return s.ip6.nc.Lookup(ip)
}

// ConfirmNeighbour6Test is upper-layer reachability confirmation (tests
// only, until TCP over IPv6 calls it).
func (s *Stack) ConfirmNeighbour6Test(ip netip.Addr) {
	s.mu.Lock()
	defer s.unlock()
	s.confirmNeighbour6Locked(ip)
}
