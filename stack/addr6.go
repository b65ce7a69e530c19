package stack

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/tapstack/tapstack/ipv6"
)

// IPv6 addresses (RFC 4862): the table of our addresses, each TENTATIVE
// until duplicate address detection (§5.4) passes, the groups they make us
// join, and source address selection (RFC 6724).

// Address configuration constants.
const (
	// DupAddrDetectTransmits (RFC 4862 §5.1): neighbour solicitations
	// sent per address, default 1 (Linux dad_transmits).
	defaultDADTransmits = 1
	// MAX_RTR_SOLICITATION_DELAY (RFC 4861 §10): the random delay before
	// the first DAD solicitation (RFC 4862 §5.4.2) and the first router
	// solicitation (RFC 4861 §6.3.7).
	maxRtrSolicitationDelay = time.Second
	// maxAddrs6 bounds the address table (link-local, static, SLAAC): a
	// flood of advertised prefixes cannot grow it further.
	maxAddrs6 = 16
)

// AddrState is an IPv6 address's state (RFC 4862 §2, §5.5.4).
type AddrState uint8

// Address states.
const (
	AddrTentative  AddrState = iota // DAD in progress: not used, accepts only DAD traffic (§5.4.3)
	AddrPreferred                   // usable
	AddrDeprecated                  // preferred lifetime over: kept for existing traffic, not chosen as a source (§5.5.4)
	AddrDuplicate                   // DAD found another node using it: never used (§5.4.5)
)

// String names the state as `ip -6 addr` flags it.
func (s AddrState) String() string {
	switch s {
	case AddrTentative:
		return "tentative"
	case AddrPreferred:
		return "preferred"
	case AddrDeprecated:
		return "deprecated"
	case AddrDuplicate:
		return "duplicate"
	}
	return "?"
}

// Address origins.
const (
	OriginLinkLocal = "link-local" // RFC 4862 §5.3
	OriginStatic    = "static"     // Config.Addr6, SetAddr6
	OriginSLAAC     = "slaac"      // RFC 4862 §5.5.3, from a router's prefix
)

// Addr6 is a snapshot of one of our IPv6 addresses.
type Addr6 struct {
	Prefix netip.Prefix `json:"prefix"`
	State  AddrState    `json:"-"`
	Origin string       `json:"origin"`
	// ValidUntil and PreferredUntil: zero for ever.
	ValidUntil     time.Time `json:"valid_until,omitzero"`
	PreferredUntil time.Time `json:"preferred_until,omitzero"`
}

type addr6 struct {
	Addr6
	dadLeft  int                 // DAD solicitations still to send
	dadAt    time.Time           // next DAD solicitation, or when DAD ends
	dadNonce [ipv6.NonceLen]byte // in this DAD's solicitations (RFC 7527 §4.1)
}

func (a *addr6) usable() bool { return a.State == AddrPreferred || a.State == AddrDeprecated }

// ip6State is the stack's IPv6 state beyond the receive path.
type ip6State struct {
	addrs   []*addr6
	nc      *ndCache
	started bool // Start ran: DAD, router solicitation and MLD may send
	dadN    int  // DupAddrDetectTransmits; 0: no DAD
	// rnd returns a random fraction in [0, 1) for the RFCs' random delays;
	// tests pin it.
	rnd func() float64

	// Router discovery (ra6.go).
	routers    []router6
	prefixes   []onLink6
	rsLeft     int
	rsAt       time.Time
	hopLimit   uint8 // Cur Hop Limit from an RA; 0: ipv6.DefaultHopLimit
	linkMTU    int   // from an RA's MTU option; 0: the link's
	baseReach  time.Duration
	mldReports []mldReport
	mldV1Until time.Time                // MLDv1 compatibility mode until then (RFC 3810 §8.2.1)
	sockGroups map[netip.Addr]int       // groups sockets joined, with their memberships (mcast6.go)
	redirects  map[netip.Addr]redirect6 // the destination cache's redirects (redirect6.go)
}

// initIPv6Locked fills the IPv6 state at New: the link-local address and
// cfg's static one, tentative unless DAD is off.
func (s *Stack) initIPv6Locked(cfg *Config) {
	v := &s.ip6
	v.rnd = rand.Float64
	v.baseReach = ndBaseReachableTime
	v.nc = newNDCache(v.randomReachable())
	switch {
	case cfg.DupAddrDetectTransmits > 0:
		v.dadN = cfg.DupAddrDetectTransmits
	case cfg.DupAddrDetectTransmits == 0:
		v.dadN = defaultDADTransmits
	}
	if s.ipLink {
		// No link layer, no neighbour discovery: Linux does no DAD on
		// an IFF_NOARP device, and a TUN has no link-local address here.
		v.dadN = 0
	} else {
		v.addrs = append(v.addrs, &addr6{Addr6: Addr6{Prefix: netip.PrefixFrom(eui64LinkLocal(s.mac), 64), Origin: OriginLinkLocal}})
	}
	if cfg.Addr6.IsValid() {
		v.addrs = append(v.addrs, &addr6{Addr6: Addr6{Prefix: cfg.Addr6, Origin: OriginStatic}})
	}
	for _, a := range v.addrs {
		s.beginDADLocked(a, time.Time{})
	}
}

// randomReachable draws ReachableTime from BaseReachableTime (RFC 4861
// §6.3.2: uniformly between MIN_RANDOM_FACTOR 0.5 and MAX_RANDOM_FACTOR 1.5
// times it).
func (v *ip6State) randomReachable() time.Duration {
	return time.Duration((0.5 + v.rnd()) * float64(v.baseReach))
}

// jitter returns a random delay in [0, d).
func (v *ip6State) jitter(d time.Duration) time.Duration {
	return time.Duration(v.rnd() * float64(d))
}

// checkAddr6 validates a static IPv6 address for New and SetAddr6.
func checkAddr6(p netip.Prefix) error {
	if !p.IsValid() {
		return nil
	}
	a := p.Addr()
	if !a.Is6() || a.Is4In6() || a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return fmt.Errorf("%w: IPv6 address %v is not a global or unique-local unicast prefix such as fd00::2/64", ErrBadConfig, p)
	}
	return nil
}

// beginDADLocked starts duplicate address detection on a (RFC 4862 §5.4)
// once the stack has started; with DAD off the address is preferred at
// once. It joins the address's solicited-node group first (§5.4.2: "before
// sending a Neighbor Solicitation, an interface MUST join ... the
// solicited-node multicast address of the tentative address").
func (s *Stack) beginDADLocked(a *addr6, now time.Time) {
	v := &s.ip6
	if v.dadN == 0 {
		s.addrReadyLocked(a, now)
		return
	}
	a.State = AddrTentative
	if !v.started {
		return
	}
	// §5.4.2: the first solicitation after a random delay in
	// [0, MAX_RTR_SOLICITATION_DELAY), the group joined (its report
	// sent) just before.
	a.dadLeft, a.dadAt = v.dadN, now.Add(v.jitter(maxRtrSolicitationDelay))
	// RFC 7527 §4.1: a random nonce in each DAD solicitation, to know
	// our own when the link loops it back; one per DAD run, as Linux's
	// dad_nonce.
	var r [8]byte
	binary.BigEndian.PutUint64(r[:], rand.Uint64())
	copy(a.dadNonce[:], r[:])
	s.joinLocked(ipv6.SolicitedNode(a.Prefix.Addr()), a.dadAt, now)
}

// addrReadyLocked makes a usable: DAD passed (or is off).
func (s *Stack) addrReadyLocked(a *addr6, now time.Time) {
	a.State = AddrPreferred
	if !a.PreferredUntil.IsZero() && !now.Before(a.PreferredUntil) {
		a.State = AddrDeprecated
	}
	if s.ip6.started {
		s.joinLocked(ipv6.SolicitedNode(a.Prefix.Addr()), now, now)
		if a.Origin == OriginLinkLocal {
			s.startRSLocked(now)
		}
	}
}

// dadTimersLocked sends the DAD solicitations due by now and ends DAD for
// the addresses whose last one went unanswered for RetransTimer (§5.4).
func (s *Stack) dadTimersLocked(now time.Time) {
	for _, a := range s.ip6.addrs {
		if a.State != AddrTentative || a.dadAt.IsZero() || now.Before(a.dadAt) {
			continue
		}
		if a.dadLeft == 0 {
			// §5.4: no duplicate heard: the address is assigned.
			a.dadAt = time.Time{}
			s.stats.ND6.DADSucceeded++
			s.addrReadyLocked(a, now)
			continue
		}
		a.dadLeft--
		a.dadAt = now.Add(s.ip6.nc.retrans)
		// §5.4.2: from ::, to the target's solicited-node group, no
		// source link-layer option (§7.2.2 forbids it from ::), and the
		// nonce (RFC 7527 §4.1).
		var opt [8]byte
		ipv6.PutNonceOption(opt[:], a.dadNonce)
		sn := ipv6.SolicitedNode(a.Prefix.Addr())
		s.sendNSOptsLocked(a.Prefix.Addr(), netip.IPv6Unspecified(), sn, multicastMAC6(sn), opt[:])
	}
}

// duplicateLocked records that another node uses a, tentative or ours
// (RFC 4862 §5.4.5): the address is not used; it is counted and logged.
// Deviation (Linux compat): as Linux with the default accept_dad=1, a
// duplicate link-local address does not disable IPv6 on the interface
// (§5.4.5's SHOULD for hardware-derived identifiers); it is just not used.
func (s *Stack) duplicateLocked(a *addr6, why string) {
	a.State, a.dadAt, a.dadLeft = AddrDuplicate, time.Time{}, 0
	s.leaveGroupsLocked()
	s.stats.ND6.DADDuplicates++
	s.log.Warn("IPv6: duplicate address detected; the address is not used", "addr", a.Prefix, "origin", a.Origin, "seen", why)
}

// addr6Locked returns our entry for a, nil if a is not one of our
// addresses.
func (s *Stack) addr6Locked(a netip.Addr) *addr6 {
	for _, x := range s.ip6.addrs {
		if x.Prefix.Addr() == a {
			return x
		}
	}
	return nil
}

// joinedGroup6 reports whether we listen to group: all-nodes (RFC 4291
// §2.7.1), a group a socket joined (mcast6.go), or the solicited-node
// group of any of our addresses not found duplicate, tentative ones
// included (§5.4.2).
func (s *Stack) joinedGroup6(group netip.Addr) bool {
	if group == allNodes || s.ip6.sockGroups[group] > 0 {
		return true
	}
	if !ipv6.IsSolicitedNode(group) {
		return false
	}
	for _, a := range s.ip6.addrs {
		if a.State != AddrDuplicate && ipv6.SolicitedNode(a.Prefix.Addr()) == group {
			return true
		}
	}
	return false
}

// groups6Locked returns the groups we report with MLD: the solicited-node
// group of each address not duplicate and the groups sockets joined, once
// each (all-nodes and interface-local groups are never reported, RFC 3810
// §6), sorted.
func (s *Stack) groups6Locked() []netip.Addr {
	var gs []netip.Addr
	for _, a := range s.ip6.addrs {
		if g := ipv6.SolicitedNode(a.Prefix.Addr()); a.State != AddrDuplicate && !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	for g := range s.ip6.sockGroups {
		if reportable6(g) && !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	slices.SortFunc(gs, func(a, b netip.Addr) int { return a.Compare(b) })
	return gs
}

// usableLinkLocalLocked returns our link-local address if it is usable,
// else the zero Addr.
func (s *Stack) usableLinkLocalLocked() netip.Addr {
	for _, a := range s.ip6.addrs {
		if a.Origin == OriginLinkLocal && a.usable() {
			return a.Prefix.Addr()
		}
	}
	return netip.Addr{}
}

// selectSource6Locked is source6Locked (RFC 6724 §5). Candidates are the usable
// addresses; the rules applied, in order: 1 prefer dst itself; 2 prefer
// the appropriate scope (the smallest scope at least dst's, else the
// largest); 3 avoid deprecated addresses; 8 the longest matching prefix.
// Rules 4-7 (home, outgoing interface, labels, temporary) do not arise: one
// interface, no mobility, no temporary addresses.
func (s *Stack) selectSource6Locked(dst netip.Addr) netip.Addr {
	var best *addr6
	for _, a := range s.ip6.addrs {
		if !a.usable() {
			continue
		}
		if best == nil || better6(a, best, dst) {
			best = a
		}
	}
	if best == nil {
		return netip.Addr{}
	}
	return best.Prefix.Addr()
}

// better6 reports whether candidate a beats b as a source for dst.
func better6(a, b *addr6, dst netip.Addr) bool {
	sa, sb := a.Prefix.Addr(), b.Prefix.Addr()
	if sa == dst || sb == dst { // Rule 1
		return sa == dst
	}
	scA, scB, scD := ipv6.Scope(sa), ipv6.Scope(sb), ipv6.Scope(dst)
	if scA != scB { // Rule 2
		if scA < scB {
			return scA >= scD
		}
		return scB < scD
	}
	if (a.State == AddrDeprecated) != (b.State == AddrDeprecated) { // Rule 3
		return b.State == AddrDeprecated
	}
	return ipv6.CommonPrefixLen(sa, dst) > ipv6.CommonPrefixLen(sb, dst) // Rule 8
}

// onLink6Locked reports whether dst is on-link (RFC 4861 §5.2): link-local,
// or in the prefix of a static address or a prefix advertised on-link.
func (s *Stack) onLink6Locked(dst netip.Addr) bool {
	if dst.IsLinkLocalUnicast() {
		return true
	}
	for _, a := range s.ip6.addrs {
		if a.Origin == OriginStatic && a.Prefix.Masked().Contains(dst) {
			return true
		}
	}
	for _, p := range s.ip6.prefixes {
		if p.prefix.Contains(dst) {
			return true
		}
	}
	return false
}

// Addrs6 returns our IPv6 addresses with their state: link-local first.
func (s *Stack) Addrs6() []Addr6 {
	s.mu.Lock()
	defer s.unlock()
	out := make([]Addr6, len(s.ip6.addrs))
	for i, a := range s.ip6.addrs {
		out[i] = a.Addr6
	}
	return out
}

// SetAddr6 replaces the static IPv6 address (Config.Addr6) at run time; the
// zero prefix removes it. The new address is tentative until duplicate
// address detection passes (RFC 4862 §5.4), as `ip -6 addr add` does.
// Sockets bound to the old address are left alone, as SetAddr.
func (s *Stack) SetAddr6(p netip.Prefix) error {
	if err := checkAddr6(p); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return ErrStackClosed
	}
	s.ip6.addrs = slices.DeleteFunc(s.ip6.addrs, func(a *addr6) bool { return a.Origin == OriginStatic })
	s.leaveGroupsLocked()
	if p.IsValid() {
		if old := s.addr6Locked(p.Addr()); old != nil {
			// Already ours (a SLAAC address): take it over as static.
			old.Origin, old.Prefix, old.ValidUntil, old.PreferredUntil = OriginStatic, p, time.Time{}, time.Time{}
			return nil
		}
		a := &addr6{Addr6: Addr6{Prefix: p, Origin: OriginStatic}}
		s.ip6.addrs = append(s.ip6.addrs, a)
		s.beginDADLocked(a, s.clock.Now())
		s.rearmLocked()
	}
	return nil
}
