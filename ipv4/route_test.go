package ipv4

import (
	"net/netip"
	"slices"
	"testing"
)

func TestRouteTable_LongestPrefixWins(t *testing.T) {
	var rt RouteTable
	gw := netip.MustParseAddr("10.0.0.1")
	gw2 := netip.MustParseAddr("10.0.0.254")
	rt.Add(Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw})
	rt.Add(Route{Dst: netip.MustParsePrefix("10.0.0.0/24")})
	rt.Add(Route{Dst: netip.MustParsePrefix("192.168.0.0/16"), Gateway: gw2})
	rt.Add(Route{Dst: netip.MustParsePrefix("192.168.7.9/24")}) // masked to .0/24, on-link
	for _, tt := range []struct {
		dst, prefix, next string
	}{
		{"8.8.8.8", "0.0.0.0/0", "10.0.0.1"},
		{"10.0.0.77", "10.0.0.0/24", "10.0.0.77"},
		{"10.0.1.1", "0.0.0.0/0", "10.0.0.1"},
		{"192.168.1.1", "192.168.0.0/16", "10.0.0.254"},
		{"192.168.7.200", "192.168.7.0/24", "192.168.7.200"},
	} {
		r, next, ok := rt.Lookup(netip.MustParseAddr(tt.dst))
		if !ok || r.Dst.String() != tt.prefix || next.String() != tt.next {
			t.Errorf("Lookup(%s) = %v %v %v, want %s via %s", tt.dst, r.Dst, next, ok, tt.prefix, tt.next)
		}
	}
	if got := rt.Routes(); len(got) != 4 || got[0].Dst.Bits() != 24 || got[3].Dst.Bits() != 0 {
		t.Errorf("Routes = %v, want longest first", got)
	}
}

func TestRouteTable_NoDefault_NoMatch(t *testing.T) {
	var rt RouteTable
	rt.Add(Route{Dst: netip.MustParsePrefix("10.0.0.0/24")})
	if _, _, ok := rt.Lookup(netip.MustParseAddr("10.0.1.1")); ok {
		t.Error("Lookup outside every route succeeded")
	}
}

func TestRouteTable_AddReplacesAndRemoveDeletes(t *testing.T) {
	var rt RouteTable
	p := netip.MustParsePrefix("0.0.0.0/0")
	rt.Add(Route{Dst: p, Gateway: netip.MustParseAddr("10.0.0.1")})
	rt.Add(Route{Dst: p, Gateway: netip.MustParseAddr("10.0.0.2")})
	if r := rt.Routes(); len(r) != 1 || r[0].Gateway.String() != "10.0.0.2" {
		t.Fatalf("Routes = %v", r)
	}
	rt.Add(Route{Dst: netip.MustParsePrefix("10.0.0.0/8")})
	if rt.Remove(netip.MustParsePrefix("192.168.0.0/16")) || len(rt.Routes()) != 2 {
		t.Errorf("Remove of a route not in the table: %v", rt.Routes())
	}
	if !rt.Remove(p) || rt.Remove(p) {
		t.Error("Remove should succeed once")
	}
	if r := rt.Routes(); len(r) != 1 || r[0].Dst.Bits() != 8 {
		t.Errorf("after Remove(%v): %v", p, r)
	}
	if _, _, ok := rt.Lookup(netip.MustParseAddr("1.1.1.1")); ok {
		t.Error("route still found after Remove")
	}
}

func TestRouteTable_Lookup_DoesNotAllocate(t *testing.T) {
	var rt RouteTable
	rt.Add(Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: addrA})
	rt.Add(Route{Dst: netip.MustParsePrefix("10.0.0.0/8")})
	if n := testing.AllocsPerRun(100, func() { rt.Lookup(addrB) }); n != 0 {
		t.Errorf("allocations = %v", n)
	}
}

// Routes lists the table as Lookup searches it, longest prefix first, and
// routes of equal length (disjoint, so never competing in Lookup) in the
// order they were added; the status page prints them so.
func TestRouteTable_Routes_EqualLengthsInTheOrderAdded(t *testing.T) {
	var rt RouteTable
	for _, p := range []string{"10.2.0.0/16", "10.0.0.0/24", "10.1.0.0/16", "10.0.1.0/24", "10.3.0.0/16"} {
		rt.Add(Route{Dst: netip.MustParsePrefix(p)})
	}
	var got []string
	for _, r := range rt.Routes() {
		got = append(got, r.Dst.String())
	}
	want := []string{"10.0.0.0/24", "10.0.1.0/24", "10.2.0.0/16", "10.1.0.0/16", "10.3.0.0/16"}
	if !slices.Equal(got, want) {
		t.Errorf("Routes = %v, want %v", got, want)
	}
}
