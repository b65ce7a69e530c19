package stack

import (
	"net/netip"
	"time"
)

// The per-destination rate limit of the ICMP errors the stack originates,
// for both families: ICMPv4 (RFC 1812 §4.3.2.8: "a router which
// originates ICMP error messages MUST limit the rate"; RFC 1122 §3.2.2
// leaves a host free to) and ICMPv6 (RFC 4443 §2.4 (f), a MUST). As
// Linux's inet_peer_xrlim_allow behind icmp_ratelimit and
// net.ipv6.icmp.ratelimit: one error per Config.ICMPErrorInterval
// (default 1000 ms) per destination, with a burst of XRLIM_BURST_FACTOR
// (6) intervals' worth. Linux checks the destination's bucket first and
// the global one (Config.ICMPErrorRate/Burst, icmp_global) only when it
// allows, so that one busy destination does not drain the global bucket
// for everyone (Linux 6.12, "icmp: change the order of rate limits").
const (
	icmpPeerBurst = 6
	// icmpMaxPeers bounds the per-destination buckets of each family:
	// beyond it an arbitrary one is forgotten (it comes back with a full
	// burst, still under the global bucket), so spoofed sources cannot
	// grow the map.
	icmpMaxPeers = 1024
	// defaultICMPErrorInterval is Linux's icmp_ratelimit and
	// net.ipv6.icmp.ratelimit, 1000 ms.
	defaultICMPErrorInterval = time.Second
)

// icmpPeerLimit is one family's per-destination token buckets.
type icmpPeerLimit struct {
	m map[netip.Addr]tokenBucket
}

// allow reports whether an error to dst may go now, one per interval
// with a burst of icmpPeerBurst; a negative interval turns the limit off.
func (l *icmpPeerLimit) allow(dst netip.Addr, now time.Time, interval time.Duration) bool {
	if interval < 0 {
		return true
	}
	if l.m == nil {
		l.m = make(map[netip.Addr]tokenBucket)
	}
	b, ok := l.m[dst]
	if !ok {
		if len(l.m) >= icmpMaxPeers {
			for a := range l.m {
				delete(l.m, a)
				break
			}
		}
		b.rate, b.burst = 1/interval.Seconds(), icmpPeerBurst
		b.tokens, b.last = icmpPeerBurst, now
	}
	allowed := b.allow(now)
	l.m[dst] = b
	return allowed
}
