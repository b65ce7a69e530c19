package udp

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
)

var (
	ll6  = netip.MustParseAddr("fe80::2")
	any6 = netip.IPv6Unspecified()
)

// bind6 binds a new AF_INET6 endpoint (SetV6) to local.
func bind6(tb *Table, local netip.AddrPort, v6only bool) (*Endpoint, error) {
	ep := NewEndpoint(0)
	ep.SetV6(v6only)
	_, err := tb.Bind(ep, local, false)
	return ep, err
}

// Bind conflicts between families, as Linux's: an AF_INET6 [::] bind
// takes IPv4 too and clashes with an AF_INET one; with IPV6_V6ONLY, or
// bound to an IPv6 address, it does not.
func TestBind_Families_ConflictLikeLinux(t *testing.T) {
	for _, c := range []struct {
		name     string
		v6only   bool
		addr     netip.Addr
		conflict bool
	}{
		{"dual-stack [::] beside 0.0.0.0", false, any6, true},
		{"V6ONLY [::] beside 0.0.0.0", true, any6, false},
		{"an IPv6 address beside 0.0.0.0", false, ll6, false},
		{"a mapped address beside 0.0.0.0", false, netip.AddrFrom16(ourAddr.As16()), true},
	} {
		tb := NewTable()
		mustBind(t, tb, ap(anyAddr, 7), false)
		_, err := bind6(tb, ap(c.addr, 7), c.v6only)
		if c.conflict != errors.Is(err, syscall.EADDRINUSE) || !c.conflict && err != nil {
			t.Errorf("%s: %v, want conflict %v", c.name, err, c.conflict)
		}
	}
	tb := NewTable()
	if _, err := bind6(tb, ap(netip.AddrFrom16(ourAddr.As16()), 7), true); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("V6ONLY bind to a mapped address: %v, want EINVAL", err)
	}
	if _, err := tb.Bind(NewEndpoint(0), ap(ll6, 7), false); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("AF_INET bind to an IPv6 address: %v, want EAFNOSUPPORT", err)
	}
}

// Lookup gives a datagram only to endpoints of its family: IPv6 to
// AF_INET6 ones, IPv4 to AF_INET ones and dual-stack [::] ones (the
// AF_INET one preferred when both are exact, by bind order otherwise).
func TestLookup_Families(t *testing.T) {
	tb := NewTable()
	v6only, _ := bind6(tb, ap(any6, 53), true)
	v4 := mustBind(t, tb, ap(anyAddr, 53), false)
	peer4, peer6 := ap(otherAddr, 9), ap(netip.MustParseAddr("fe80::9"), 9)
	if got := tb.Lookup(peer6, ap(ll6, 53)); got != v6only {
		t.Errorf("IPv6 datagram went to %p, want the V6ONLY endpoint %p", got, v6only)
	}
	if got := tb.Lookup(peer4, ap(ourAddr, 53)); got != v4 {
		t.Errorf("IPv4 datagram went to %p, want the AF_INET endpoint %p", got, v4)
	}
	tb2 := NewTable()
	dual, _ := bind6(tb2, ap(any6, 53), false)
	if tb2.Lookup(peer4, ap(ourAddr, 53)) != dual || tb2.Lookup(peer6, ap(ll6, 53)) != dual {
		t.Error("a dual-stack [::] endpoint misses a family")
	}
	tb3 := NewTable()
	mustBind(t, tb3, ap(anyAddr, 53), false)
	if got := tb3.Lookup(peer6, ap(ll6, 53)); got != nil {
		t.Error("an AF_INET endpoint got an IPv6 datagram")
	}
}
