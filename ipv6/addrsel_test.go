package ipv6_test

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/ipv6"
)

func TestScope_RFC6724(t *testing.T) {
	for a, want := range map[string]uint8{
		"fe80::1": ipv6.ScopeLinkLocal, "::1": ipv6.ScopeLinkLocal, "ff02::1": 0x2, "ff05::2": 0x5, "ff0e::1": 0xe,
		"fec0::1": ipv6.ScopeSiteLocal, "fd00::1": ipv6.ScopeGlobal, "2001:db8::1": ipv6.ScopeGlobal,
	} {
		if got := ipv6.Scope(netip.MustParseAddr(a)); got != want {
			t.Errorf("Scope(%s) = %#x, want %#x", a, got, want)
		}
	}
}

func TestCommonPrefixLen_WithinThePrefixPart(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"2001:db8::1", "2001:db8::1", 64}, // identical: the interface identifier does not count
		{"2001:db8:0:1::1", "2001:db8::1", 63},
		{"2001:db8::1", "3001:db8::1", 3},
		{"2001:db8::1", "a001:db8::1", 0},
	} {
		if got := ipv6.CommonPrefixLen(netip.MustParseAddr(tc.a), netip.MustParseAddr(tc.b)); got != tc.want {
			t.Errorf("CommonPrefixLen(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
