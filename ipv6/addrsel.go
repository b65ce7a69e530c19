package ipv6

import "net/netip"

// Scopes of RFC 4291 §2.7 (a multicast address's scope field), which
// RFC 6724 §3.1 gives unicast addresses too.
const (
	ScopeLinkLocal = 0x2
	ScopeSiteLocal = 0x5
	ScopeGlobal    = 0xe
)

var siteLocal = netip.MustParsePrefix("fec0::/10")

// Scope is an IPv6 address's scope for RFC 6724's rules (§3.1): a
// multicast address's scope field; link-local for link-local unicast and
// the loopback address; site-local for the deprecated fec0::/10; global
// otherwise (ULAs included).
func Scope(a netip.Addr) uint8 {
	switch {
	case a.IsMulticast():
		return a.As16()[1] & 0x0f
	case a.IsLinkLocalUnicast(), a.IsLoopback():
		return ScopeLinkLocal
	case siteLocal.Contains(a):
		return ScopeSiteLocal
	}
	return ScopeGlobal
}

// CommonPrefixLen is the length of the longest prefix a and b share,
// counted within the first 64 bits only (RFC 6724 §2.2's CommonPrefixLen,
// limited to the prefix part as §5 rule 8 asks and Go's net does: the
// interface identifier says nothing about topology).
func CommonPrefixLen(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range 8 {
		d := x[i] ^ y[i]
		if d == 0 {
			n += 8
			continue
		}
		for d&0x80 == 0 {
			n++
			d <<= 1
		}
		return n
	}
	return n
}
