package stack

import (
	"net/netip"
	"slices"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
)

// Router discovery (RFC 4861 §6.3) and stateless address autoconfiguration
// (RFC 4862 §5.5): router solicitations at start, router advertisements
// giving the default routers, on-link prefixes, SLAAC addresses, the link
// MTU and the hop limit.

// Router discovery constants (RFC 4861 §10, RFC 4862 §5.5.3).
const (
	maxRtrSolicitations     = 3               // MAX_RTR_SOLICITATIONS
	rtrSolicitationInterval = 4 * time.Second // RTR_SOLICITATION_INTERVAL
	// maxReachableTime bounds an advertised Reachable Time
	// (MAX_REACHABLE_TIME, 3,600,000 ms).
	maxReachableTime = time.Hour
	// twoHours is RFC 4862 §5.5.3 (e)'s floor on lowering a valid
	// lifetime from an unauthenticated advertisement.
	twoHours = 2 * time.Hour
	// infiniteLifetime is all ones (RFC 4861 §4.6.2).
	infiniteLifetime = 0xffffffff
	// maxRouters6 and maxPrefixes6 bound the default router and prefix
	// lists against advertisements from many made-up routers.
	maxRouters6  = 8
	maxPrefixes6 = 16
)

var allRouters = netip.MustParseAddr("ff02::2") // RFC 4291 §2.7.1

// router6 is a default router list entry (§6.3.4).
type router6 struct {
	addr  netip.Addr
	until time.Time
}

// onLink6 is a prefix list entry (§6.3.4); until zero: for ever.
type onLink6 struct {
	prefix netip.Prefix
	until  time.Time
}

// Router6 is a snapshot of a default router list entry.
type Router6 struct {
	Addr  netip.Addr `json:"addr"`
	Until time.Time  `json:"until"`
}

// Routers6 returns the default router list.
func (s *Stack) Routers6() []Router6 {
	s.mu.Lock()
	defer s.unlock()
	out := make([]Router6, len(s.ip6.routers))
	for i, r := range s.ip6.routers {
		out[i] = Router6{r.addr, r.until}
	}
	return out
}

// OnLinkPrefixes6 returns the prefixes routers advertised on-link.
func (s *Stack) OnLinkPrefixes6() []netip.Prefix {
	s.mu.Lock()
	defer s.unlock()
	out := make([]netip.Prefix, len(s.ip6.prefixes))
	for i, p := range s.ip6.prefixes {
		out[i] = p.prefix
	}
	return out
}

// HopLimit6 returns the hop limit for IPv6 packets we originate: a
// router's Cur Hop Limit (RFC 4861 §6.3.4), else 64.
func (s *Stack) HopLimit6() uint8 {
	s.mu.Lock()
	defer s.unlock()
	return s.hopLimit6Locked()
}

func (s *Stack) hopLimit6Locked() uint8 {
	if s.ip6.hopLimit != 0 {
		return s.ip6.hopLimit
	}
	return ipv6.DefaultHopLimit
}

// MTU6 returns the IPv6 link MTU: a router's MTU option (RFC 4861 §6.3.4)
// within the link's, else the link's.
func (s *Stack) MTU6() int {
	s.mu.Lock()
	defer s.unlock()
	return s.mtu6Locked()
}

func (s *Stack) mtu6Locked() int {
	if s.ip6.linkMTU != 0 && s.ip6.linkMTU < s.mtu {
		return s.ip6.linkMTU
	}
	return s.mtu
}

// startRSLocked begins router solicitation (§6.3.7) once the link-local
// address is usable: the first after a random delay in [0,
// MAX_RTR_SOLICITATION_DELAY), MAX_RTR_SOLICITATIONS in all.
func (s *Stack) startRSLocked(now time.Time) {
	v := &s.ip6
	v.rsLeft, v.rsAt = maxRtrSolicitations, now.Add(v.jitter(maxRtrSolicitationDelay))
}

// rsTimerLocked sends the router solicitation due by now.
func (s *Stack) rsTimerLocked(now time.Time) {
	v := &s.ip6
	if v.rsLeft == 0 || now.Before(v.rsAt) {
		return
	}
	src := s.usableLinkLocalLocked()
	if !src.IsValid() {
		v.rsLeft = 0
		return
	}
	v.rsLeft--
	v.rsAt = now.Add(rtrSolicitationInterval)
	// §6.3.7: to all-routers, with our source link-layer address.
	var opt [8]byte
	ipv6.PutLinkAddrOption(opt[:], ipv6.OptSourceLinkAddr, s.mac)
	n := ethernet.HeaderLen + ipv6.HeaderLen + ipv6.RSLen + len(opt)
	frame := s.frag[:n]
	ipv6.EncodeRS(frame[ethernet.HeaderLen+ipv6.HeaderLen:], opt[:], src, allRouters)
	s.stats.ND6.OutRouterSolicits++
	s.sendICMPv6Locked(frame, multicastMAC6(allRouters), src, allRouters, ipv6.NDPHopLimit)
}

// lifetime converts an advertised lifetime in seconds to a deadline from
// now; zero for infinity.
func lifetime(sec uint32, now time.Time) time.Time {
	if sec == infiniteLifetime {
		return time.Time{}
	}
	return now.Add(time.Duration(sec) * time.Second)
}

// handleRALocked processes a router advertisement (RFC 4861 §6.3.4).
func (s *Stack) handleRALocked(eth ethernet.Header, h ipv6.Header, m ipv6.ICMP) {
	src := h.Src()
	if err := ipv6.ValidateRA(h.HopLimit(), src, m); err != nil {
		s.dropFrameLocked(&s.stats.ND6.InBadRA, catIPv6, "in_bad_ra", eth)
		return
	}
	v := &s.ip6
	now := s.nowLocked()
	v.rsLeft = 0 // §6.3.7: a valid advertisement ends solicitation
	if hl := m.CurHopLimit(); hl != 0 {
		v.hopLimit = hl
	}
	if ms := m.ReachableTime(); ms != 0 {
		if d := time.Duration(ms) * time.Millisecond; d <= maxReachableTime && d != v.baseReach {
			// §6.3.4: a new BaseReachableTime draws a new ReachableTime.
			v.baseReach = d
			v.nc.reachable = v.randomReachable()
		}
	}
	if ms := m.RetransTimer(); ms != 0 {
		v.nc.retrans = time.Duration(ms) * time.Millisecond
	}
	s.updateRouterLocked(src, m.RouterLifetime(), now)
	it := ipv6.Options(m.NDPOptions())
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		switch o.Type() {
		case ipv6.OptSourceLinkAddr:
			if len(o.LinkAddr()) >= 6 {
				s.learnLinkAddrLocked(src, ethernet.MAC(o.LinkAddr()[:6]), true, now)
			}
		case ipv6.OptMTU:
			// §6.3.4: an MTU within the bounds of the link (at least
			// IPv6's minimum, at most the device's) sets LinkMTU.
			if mtu := o.MTU(); len(o.Data) == 8 && mtu >= ipv6.MinMTU && mtu <= uint32(s.info.MTU) {
				v.linkMTU = int(mtu)
			} else {
				s.stats.ND6.RAOptionsIgnored++
			}
		case ipv6.OptPrefixInfo:
			s.prefixInfoLocked(o, now)
		}
	}
	s.rearmLocked()
}

// updateRouterLocked applies an advertisement's Router Lifetime (§6.3.4):
// zero removes the router, else it is added or its timer reset.
func (s *Stack) updateRouterLocked(addr netip.Addr, lifetimeSec uint16, now time.Time) {
	v := &s.ip6
	i := slices.IndexFunc(v.routers, func(r router6) bool { return r.addr == addr })
	switch {
	case lifetimeSec == 0:
		if i >= 0 {
			v.routers = slices.Delete(v.routers, i, i+1)
		}
	case i >= 0:
		v.routers[i].until = now.Add(time.Duration(lifetimeSec) * time.Second)
	case len(v.routers) >= maxRouters6:
		s.stats.ND6.RAListFull++
	default:
		v.routers = append(v.routers, router6{addr, now.Add(time.Duration(lifetimeSec) * time.Second)})
	}
}

// removeRouterLocked takes addr off the default router list.
func (s *Stack) removeRouterLocked(addr netip.Addr) {
	s.ip6.routers = slices.DeleteFunc(s.ip6.routers, func(r router6) bool { return r.addr == addr })
}

// prefixInfoLocked applies a prefix information option (RFC 4861 §6.3.4
// for L, RFC 4862 §5.5.3 for A).
func (s *Stack) prefixInfoLocked(o ipv6.Option, now time.Time) {
	p, ok := o.Prefix()
	if !o.ValidPrefixInfo() || !ok || p.Addr().IsLinkLocalUnicast() {
		// §4.6.2 length; §6.3.4 and RFC 4862 §5.5.3 (b): a link-local
		// prefix is ignored.
		s.stats.ND6.RAOptionsIgnored++
		return
	}
	if o.OnLink() {
		s.onLinkPrefixLocked(p, o.ValidLifetime(), now)
	}
	if o.Autonomous() {
		s.slaacLocked(p, o.ValidLifetime(), o.PreferredLifetime(), now)
	}
}

// onLinkPrefixLocked applies an on-link prefix (§6.3.4): a new one with a
// non-zero valid lifetime is added, a known one has its lifetime reset, a
// zero lifetime removes it.
func (s *Stack) onLinkPrefixLocked(p netip.Prefix, valid uint32, now time.Time) {
	v := &s.ip6
	i := slices.IndexFunc(v.prefixes, func(x onLink6) bool { return x.prefix == p })
	switch {
	case valid == 0:
		if i >= 0 {
			v.prefixes = slices.Delete(v.prefixes, i, i+1)
		}
	case i >= 0:
		v.prefixes[i].until = lifetime(valid, now)
	case len(v.prefixes) >= maxPrefixes6:
		s.stats.ND6.RAListFull++
	default:
		v.prefixes = append(v.prefixes, onLink6{p, lifetime(valid, now)})
	}
}

// slaacLocked applies an autonomous prefix (RFC 4862 §5.5.3).
func (s *Stack) slaacLocked(p netip.Prefix, valid, preferred uint32, now time.Time) {
	v := &s.ip6
	if preferred > valid {
		// (c): "If the preferred lifetime is greater than the valid
		// lifetime, silently ignore the Prefix Information option."
		s.stats.ND6.RAOptionsIgnored++
		return
	}
	var a *addr6
	for _, x := range v.addrs {
		if x.Origin == OriginSLAAC && x.Prefix.Masked() == p {
			a = x
		}
	}
	if a == nil {
		// (d): a new prefix with a non-zero valid lifetime forms an
		// address from it and our interface identifier, if the two
		// add up to 128 bits (ours is 64, RFC 4291 §2.5.1).
		if valid == 0 {
			return
		}
		if p.Bits() != 64 || s.ipLink {
			s.stats.ND6.RAOptionsIgnored++
			return
		}
		if len(v.addrs) >= maxAddrs6 {
			s.stats.ND6.RAListFull++
			return
		}
		pa, id := p.Addr().As16(), s.linkLocalLocked().As16()
		copy(pa[8:], id[8:])
		addr := netip.AddrFrom16(pa)
		if s.addr6Locked(addr) != nil {
			return // already ours (a static address in the same prefix)
		}
		a = &addr6{Addr6: Addr6{Prefix: netip.PrefixFrom(addr, 64), Origin: OriginSLAAC,
			ValidUntil: lifetime(valid, now), PreferredUntil: lifetime(preferred, now)}}
		v.addrs = append(v.addrs, a)
		s.beginDADLocked(a, now)
		return
	}
	// (e): the preferred lifetime is reset; the valid one is raised at
	// will but lowered only down to two hours, so that a forged
	// advertisement cannot take the address away at once.
	a.PreferredUntil = lifetime(preferred, now)
	if a.State == AddrDeprecated && (a.PreferredUntil.IsZero() || now.Before(a.PreferredUntil)) {
		a.State = AddrPreferred
	}
	remaining := time.Duration(1<<63 - 1)
	if !a.ValidUntil.IsZero() {
		remaining = a.ValidUntil.Sub(now)
	}
	newValid := time.Duration(valid) * time.Second
	switch {
	case valid == infiniteLifetime:
		a.ValidUntil = time.Time{}
	case newValid > twoHours || newValid > remaining:
		a.ValidUntil = now.Add(newValid)
	case remaining <= twoHours:
		// ignore
	default:
		a.ValidUntil = now.Add(twoHours)
	}
}

// lifetimesLocked expires addresses (RFC 4862 §5.5.4: deprecated at the
// end of the preferred lifetime, removed at the end of the valid one),
// default routers and on-link prefixes (RFC 4861 §6.3.5).
func (s *Stack) lifetimesLocked(now time.Time) {
	v := &s.ip6
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	v.addrs = slices.DeleteFunc(v.addrs, func(a *addr6) bool { return due(a.ValidUntil) })
	s.leaveGroupsLocked()
	for _, a := range v.addrs {
		if a.State == AddrPreferred && due(a.PreferredUntil) {
			a.State = AddrDeprecated
		}
	}
	v.routers = slices.DeleteFunc(v.routers, func(r router6) bool { return due(r.until) })
	v.prefixes = slices.DeleteFunc(v.prefixes, func(p onLink6) bool { return due(p.until) })
}
