package stack

import (
	"net/netip"
	"time"
)

// pmtuCache remembers the path MTUs that ICMP "fragmentation needed"
// messages reported, per destination (RFC 1191 §5: "associate a PMTU value
// with each destination"; Linux keeps it in the route's exception entry).
// A new TCP connection to that destination starts with segments that fit
// the path, instead of losing its first full-sized segments to the same
// router again.
//
// An entry lives pmtuExpiry from its last decrease or renewal (RFC 1191
// §6.3: a host "should" try a larger PMTU again after about 10 minutes;
// Linux's ip_rt_mtu_expires is 600 s), then the link MTU applies again.
// Entries come only from ICMP errors that matched a connection and passed
// RFC 5927 validation, and the cache holds at most pmtuMax destinations
// (the soonest to expire is evicted), so it is bounded whatever arrives.
type pmtuCache struct {
	m map[netip.Addr]pmtuEntry
}

type pmtuEntry struct {
	mtu     int
	expires time.Time
}

const (
	pmtuExpiry = 10 * time.Minute
	pmtuMax    = 1024
)

// learn records mtu for dst at now. A larger value than the one cached
// for dst is ignored (RFC 1191 §3: a host "MUST not increase its estimate
// of the Path MTU in response to the contents of a Datagram Too Big
// message"). The same value again renews the entry once half its life has
// gone, as Linux's __ip_rt_update_pmtu, so that the larger MTU is not
// tried again less than 5 minutes after a Datagram Too Big (RFC 1191 §3);
// before that it changes nothing.
func (p *pmtuCache) learn(dst netip.Addr, mtu int, now time.Time) {
	if p.m == nil {
		p.m = make(map[netip.Addr]pmtuEntry)
	}
	if old, ok := p.m[dst]; ok && now.Before(old.expires) {
		if old.mtu < mtu || (old.mtu == mtu && now.Before(old.expires.Add(-pmtuExpiry/2))) {
			return
		}
	}
	if _, ok := p.m[dst]; !ok && len(p.m) >= pmtuMax {
		var victim netip.Addr
		var soonest time.Time
		for a, e := range p.m {
			if victim == (netip.Addr{}) || e.expires.Before(soonest) {
				victim, soonest = a, e.expires
			}
		}
		delete(p.m, victim)
	}
	p.m[dst] = pmtuEntry{mtu: mtu, expires: now.Add(pmtuExpiry)}
}

// lookup returns the path MTU cached for dst at now, if any.
func (p *pmtuCache) lookup(dst netip.Addr, now time.Time) (int, bool) {
	e, ok := p.m[dst]
	if !ok {
		return 0, false
	}
	if !now.Before(e.expires) {
		delete(p.m, dst)
		return 0, false
	}
	return e.mtu, true
}
