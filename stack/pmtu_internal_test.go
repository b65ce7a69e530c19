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
	// An expired entry is no estimate any more: a larger value is then
	// news, even before a lookup has removed the old entry.
	p.learn(a, 1000, now)
	p.learn(a, 1200, now.Add(pmtuExpiry))
	if mtu, ok := p.lookup(a, now.Add(pmtuExpiry)); !ok || mtu != 1200 {
		t.Fatalf("lookup = %d, %v after the entry expired and 1200 was reported; want 1200", mtu, ok)
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

// TestPMTUCache_SameValueRenewsOnceHalfItsLifeIsGone: a Datagram Too Big
// reporting the cached path MTU again renews the entry for another 10
// minutes once half its life has gone, and changes nothing before (Linux
// __ip_rt_update_pmtu). So the larger MTU is never tried again less than
// 5 minutes after a Datagram Too Big for the destination (RFC 1191 §3: an
// attempt to detect an increase "MUST NOT be done less than 5 minutes
// after a Datagram Too Big message has been received"), which another
// open connection still sending large segments can provoke at any time.
func TestPMTUCache_SameValueRenewsOnceHalfItsLifeIsGone(t *testing.T) {
	var p pmtuCache
	t0 := time.Unix(1000, 0)
	a := netip.MustParseAddr("10.0.0.1")
	p.learn(a, 1000, t0)
	p.learn(a, 1000, t0.Add(pmtuExpiry/2-time.Second)) // first half: no renewal
	if _, ok := p.lookup(a, t0.Add(pmtuExpiry)); ok {
		t.Fatal("the same value in the first half of the entry's life renewed it")
	}
	t1 := t0.Add(pmtuExpiry)
	p.learn(a, 1000, t1)
	p.learn(a, 1000, t1.Add(pmtuExpiry/2)) // half its life gone: renewed
	if _, ok := p.lookup(a, t1.Add(pmtuExpiry/2+pmtuExpiry-time.Second)); !ok {
		t.Fatal("the entry expired less than 10 minutes after the same value was reported again at half its life")
	}
	if _, ok := p.lookup(a, t1.Add(pmtuExpiry/2+pmtuExpiry)); ok {
		t.Fatal("entry still there 10 minutes after it was last renewed")
	}
}
