package stack

import (
	"net/netip"
	"testing"
	"time"
)

func TestPMTUCache_OnlyDecreases_Expires_Bounded(t *testing.T) {
	var p pmtuCache
	now := time.Unix(1000, 0)
	a := netip.MustParseAddr("10.0.0.1")
	p.learn(a, 1000, now)
	p.learn(a, 1400, now) // an increase is ignored (RFC 1191 §6.3)
	if mtu, ok := p.lookup(a, now); !ok || mtu != 1000 {
		t.Fatalf("lookup = %d, %v; want 1000", mtu, ok)
	}
	p.learn(a, 800, now)
	if mtu, _ := p.lookup(a, now); mtu != 800 {
		t.Fatalf("lookup = %d after a decrease, want 800", mtu)
	}
	if _, ok := p.lookup(a, now.Add(pmtuExpiry)); ok {
		t.Fatal("entry still there after 10 minutes")
	}
	for i := range pmtuMax + 10 {
		b := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		p.learn(b, 1000, now.Add(time.Duration(i)*time.Millisecond))
	}
	if len(p.m) != pmtuMax {
		t.Fatalf("%d entries, want at most %d", len(p.m), pmtuMax)
	}
	if _, ok := p.lookup(netip.AddrFrom4([4]byte{10, 1, 0, 0}), now); ok {
		t.Fatal("the soonest to expire was not the one evicted")
	}
}
