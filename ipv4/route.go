package ipv4

import (
	"net/netip"
	"slices"
)

// Route sends datagrams for Dst to Gateway, or straight to the destination
// on the local link when Gateway is the zero Addr.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr // zero: on-link
}

// RouteTable is a routing table with longest-prefix-match lookup (RFC 1812
// §5.2.4.3, RFC 1122 §3.3.1). It holds a handful of routes on a host, so it
// is a slice kept sorted by prefix length, longest first; Lookup scans it
// without allocating. The zero value is an empty table. Not safe for
// concurrent use.
type RouteTable struct {
	routes []Route
}

// Add inserts r, replacing any route with the same destination prefix. The
// prefix is masked first, so 10.0.0.7/24 and 10.0.0.0/24 are the same route.
func (t *RouteTable) Add(r Route) {
	r.Dst = r.Dst.Masked()
	for i := range t.routes {
		if t.routes[i].Dst == r.Dst {
			t.routes[i] = r
			return
		}
	}
	i := 0
	for i < len(t.routes) && t.routes[i].Dst.Bits() >= r.Dst.Bits() {
		i++ // equal lengths keep insertion order
	}
	t.routes = slices.Insert(t.routes, i, r)
}

// Remove deletes the route for dst and reports whether there was one.
func (t *RouteTable) Remove(dst netip.Prefix) bool {
	dst = dst.Masked()
	for i := range t.routes {
		if t.routes[i].Dst == dst {
			t.routes = slices.Delete(t.routes, i, i+1)
			return true
		}
	}
	return false
}

// Routes returns a copy of the table, longest prefix first.
func (t *RouteTable) Routes() []Route { return slices.Clone(t.routes) }

// Lookup returns the most specific route containing dst and the next hop:
// the route's gateway, or dst itself when the route is on-link. ok is false
// when no route matches (the caller answers ENETUNREACH).
func (t *RouteTable) Lookup(dst netip.Addr) (r Route, nextHop netip.Addr, ok bool) {
	for _, r := range t.routes {
		if r.Dst.Contains(dst) {
			if r.Gateway.IsValid() {
				return r, r.Gateway, true
			}
			return r, dst, true
		}
	}
	return Route{}, netip.Addr{}, false
}
