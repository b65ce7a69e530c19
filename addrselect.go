package tapstack

import (
	"net/netip"
	"slices"

	"github.com/tapstack/tapstack/ipv6"
)

// RFC 6724 §6 destination address selection: the order in which a name's
// addresses are tried, given the source address the stack would use for
// each (the zero Addr when it has none). Rules 3 (deprecated sources), 4
// (home addresses) and 7 (native transport) have nothing to act on here:
// the stack's sources are preferred or not usable at all, it has no Mobile
// IPv6 and no tunnels.

// policy is one row of RFC 6724 §2.1's default policy table.
type policy struct {
	prefix     netip.Prefix
	precedence uint8
	label      uint8
}

// policyTable is RFC 6724 §2.1's default table, longest prefixes first so
// that the first match is the longest. IPv4 addresses are looked up as
// IPv4-mapped (::ffff:0:0/96, §2.1).
var policyTable = []policy{
	{netip.MustParsePrefix("::1/128"), 50, 0},
	{netip.MustParsePrefix("::ffff:0:0/96"), 35, 4},
	{netip.MustParsePrefix("::/96"), 1, 3},
	{netip.MustParsePrefix("2001::/32"), 5, 5},
	{netip.MustParsePrefix("2002::/16"), 30, 2},
	{netip.MustParsePrefix("3ffe::/16"), 1, 12},
	{netip.MustParsePrefix("fec0::/10"), 1, 11},
	{netip.MustParsePrefix("fc00::/7"), 3, 13},
	{netip.MustParsePrefix("::/0"), 40, 1},
}

// classify returns a's row of the policy table.
func classify(a netip.Addr) policy {
	if a.Is4() {
		a = netip.AddrFrom16(a.As16())
	}
	for _, p := range policyTable {
		if p.prefix.Contains(a) {
			return p
		}
	}
	return policy{} // unreachable: ::/0 matches every address
}

// scope is a's scope: RFC 6724 §3.1 for IPv6, §3.2 for IPv4 (127/8 and
// 169.254/16 link-local, every other address global, private ones
// included).
func scope(a netip.Addr) uint8 {
	if a = a.Unmap(); !a.Is4() {
		return ipv6.Scope(a)
	}
	if a.IsLoopback() || a.IsLinkLocalUnicast() {
		return ipv6.ScopeLinkLocal
	}
	return ipv6.ScopeGlobal
}

// sortByRFC6724 orders addrs in place by RFC 6724 §6's rules, source(d)
// being the address the stack would send to d from (zero: none). The sort
// is stable (rule 10: otherwise, leave the order unchanged).
func sortByRFC6724(addrs []netip.Addr, source func(netip.Addr) netip.Addr) {
	type dst struct {
		addr, src netip.Addr
		pol       policy
	}
	ds := make([]dst, len(addrs))
	for i, a := range addrs {
		ds[i] = dst{addr: a, src: source(a), pol: classify(a)}
	}
	slices.SortStableFunc(ds, func(da, db dst) int {
		return compareRFC6724(da.addr, da.src, da.pol, db.addr, db.src, db.pol)
	})
	for i := range ds {
		addrs[i] = ds[i].addr
	}
}

// compareRFC6724 is negative when destination a (source sa) is preferred
// to b (source sb).
func compareRFC6724(a, sa netip.Addr, pa policy, b, sb netip.Addr, pb policy) int {
	const preferA, preferB = -1, 1
	// Rule 1: avoid unusable destinations.
	if sa.IsValid() != sb.IsValid() {
		if sa.IsValid() {
			return preferA
		}
		return preferB
	}
	if !sa.IsValid() {
		return 0
	}
	// Rule 2: prefer matching scope.
	if ma, mb := scope(a) == scope(sa), scope(b) == scope(sb); ma != mb {
		if ma {
			return preferA
		}
		return preferB
	}
	// Rule 5: prefer matching label.
	if ma, mb := pa.label == classify(sa).label, pb.label == classify(sb).label; ma != mb {
		if ma {
			return preferA
		}
		return preferB
	}
	// Rule 6: prefer higher precedence.
	if pa.precedence != pb.precedence {
		if pa.precedence > pb.precedence {
			return preferA
		}
		return preferB
	}
	// Rule 8: prefer smaller scope.
	if ca, cb := scope(a), scope(b); ca != cb {
		if ca < cb {
			return preferA
		}
		return preferB
	}
	// Rule 9: use the longest matching prefix, between IPv6 addresses
	// only (as Go's net and glibc do; for IPv4 it would undo a DNS
	// server's round robin, RFC 6724 §6's note).
	if a.Is6() && !a.Is4In6() && b.Is6() && !b.Is4In6() {
		if la, lb := ipv6.CommonPrefixLen(a, sa), ipv6.CommonPrefixLen(b, sb); la != lb {
			if la > lb {
				return preferA
			}
			return preferB
		}
	}
	return 0 // rule 10
}
