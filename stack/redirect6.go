package stack

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
)

// Redirects (RFC 4861 §8): a router tells us of a better first hop for a
// destination, another router or the destination itself on the link. The
// Destination Cache (§5.1) holds what redirects said; next-hop
// determination (nextHop6Locked) consults it before the default routers.

const (
	// maxRedirects6 bounds the destination cache's redirect entries; the
	// least recently used goes when a new one needs room.
	maxRedirects6 = 256
	// redirectIdle is how long an entry lives unused, as Linux's route
	// exceptions that redirects create are collected after
	// net.ipv6.route.gc_timeout (60 s) without use. RFC 4861 leaves the
	// lifetime to the implementation.
	redirectIdle = 60 * time.Second
)

// redirect6 is a destination's first hop as a redirect named it.
type redirect6 struct {
	next netip.Addr
	used time.Time
}

// redirectNextHopLocked returns the first hop a redirect set for dst,
// noting the use; an entry idle for redirectIdle is gone. Without
// redirects it costs a length check: it is on every packet's path.
func (s *Stack) redirectNextHopLocked(dst netip.Addr) (netip.Addr, bool) {
	v := &s.ip6
	if len(v.redirects) == 0 {
		return netip.Addr{}, false
	}
	r, ok := v.redirects[dst]
	if !ok {
		return netip.Addr{}, false
	}
	now := s.nowLocked()
	if now.Sub(r.used) >= redirectIdle {
		delete(v.redirects, dst)
		return netip.Addr{}, false
	}
	r.used = now
	v.redirects[dst] = r
	return r.next, true
}

// forgetRedirectsViaLocked drops the redirects whose first hop is
// neighbour: resolution of it failed, so next-hop determination starts
// again for their destinations (RFC 4861 §7.3.3: "the Destination Cache
// entries that use the neighbor must be updated").
func (s *Stack) forgetRedirectsViaLocked(neighbour netip.Addr) {
	for d, r := range s.ip6.redirects {
		if r.next == neighbour {
			delete(s.ip6.redirects, d)
		}
	}
}

// handleRedirectLocked acts on a redirect (RFC 4861 §8.3) that passes
// §8.1: the format (ipv6.ValidateRedirect: a link-local source, hop limit
// 255, a non-multicast destination, a link-local target or the
// destination itself) and coming from the destination's current first
// hop. A target equal to the destination makes the destination on-link;
// another target is a router. A target link-layer address option creates
// or updates the target's neighbour entry (STALE, as any unsolicited
// address), releasing what waited for it.
func (s *Stack) handleRedirectLocked(eth ethernet.Header, h ipv6.Header, m ipv6.ICMP) {
	if err := ipv6.ValidateRedirect(h.HopLimit(), h.Src(), m); err != nil {
		s.dropFrameLocked(&s.stats.IPv6.ICMP6InBadND, catIPv6, "icmp6_in_bad_nd", eth)
		return
	}
	dest, target := m.RedirectDst(), m.Target()
	if hop, ok := s.nextHop6Locked(dest); !ok || hop != h.Src() || s.ours6(dest) {
		// §8.1: "the IP source address of the Redirect is the same as
		// the current first-hop router for the specified ICMP
		// Destination Address".
		s.dropFrameLocked(&s.stats.ND6.RedirectsIgnored, catIPv6, "redirects_ignored", eth)
		return
	}
	now := s.nowLocked()
	v := &s.ip6
	if v.redirects == nil {
		v.redirects = make(map[netip.Addr]redirect6)
	}
	if _, ok := v.redirects[dest]; !ok && len(v.redirects) >= maxRedirects6 {
		var oldest netip.Addr
		var at time.Time
		for d, r := range v.redirects {
			if !oldest.IsValid() || r.used.Before(at) {
				oldest, at = d, r.used
			}
		}
		delete(v.redirects, oldest)
	}
	v.redirects[dest] = redirect6{next: target, used: now}
	s.stats.ND6.RedirectsAccepted++
	it := ipv6.Options(m.NDPOptions())
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		if o.Type() != ipv6.OptTargetLinkAddr || len(o.LinkAddr()) < 6 {
			continue
		}
		mac := ethernet.MAC(o.LinkAddr()[:6])
		if mac.IsMulticast() {
			continue
		}
		// §8.3: IsRouter set when the target is not the destination;
		// when it is, a new entry is not a router and an existing one
		// keeps its flag (LinkAddr ORs it in).
		for _, p := range v.nc.LinkAddr(target, mac, target != dest, now) {
			s.sendResolved6Locked(ipv6.Header(p), mac)
		}
	}
	s.rearmLocked()
}
