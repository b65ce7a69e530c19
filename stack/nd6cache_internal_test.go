package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
)

// FuzzNDCache drives the neighbour cache with random events (each input
// byte pair: an event and an argument) over a few neighbours and checks
// its invariants after each: at most max entries, at most ndMaxPending
// packets queued, only INCOMPLETE entries hold packets or lack an address,
// a STALE entry has no deadline, and after Expire(now) no deadline is
// left at or before now (which would spin the stack's timer).
func FuzzNDCache(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 4, 30, 0, 1})
	f.Add([]byte{0, 2, 2, 2, 0, 2, 4, 40, 0, 2, 4, 5, 4, 1, 4, 1, 4, 1})
	f.Add([]byte{3, 1, 0, 1, 5, 1, 0, 3, 4, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := newNDCache(30 * time.Second)
		c.max = 4
		now := time.Unix(1000, 0)
		ip := func(x byte) netip.Addr { return netip.AddrFrom16([16]byte{0xfe, 0x80, 15: x%6 + 1}) }
		mac := func(x byte) ethernet.MAC { return ethernet.MAC{2, 0, 0, 0, 0, x % 3} }
		for i := 0; i+1 < len(b); i += 2 {
			ev, arg := b[i]%6, b[i+1]
			switch ev {
			case 0:
				if _, res, _ := c.Resolve(ip(arg), now); res == ndQueue || res == ndSolicit {
					c.Enqueue(ip(arg), []byte{arg})
				}
			case 1:
				c.Advert(ip(arg), mac(arg>>3), arg&0x80 != 0, arg&0x40 != 0, arg&0x20 != 0, arg&0x10 != 0, now)
			case 2:
				c.LinkAddr(ip(arg), mac(arg>>3), arg&0x80 != 0, now)
			case 3:
				c.Confirm(ip(arg), now)
			case 4:
				now = now.Add(time.Duration(arg) * 100 * time.Millisecond)
				c.Expire(now, func(netip.Addr, ethernet.MAC, bool) {}, func(netip.Addr, []byte) {})
				if d, ok := c.NextDeadline(); ok && !d.After(now) {
					t.Fatalf("after Expire at %v a deadline at %v", now, d)
				}
			case 5:
				c.Remove(ip(arg))
			}
			if len(c.entries) > c.max {
				t.Fatalf("%d entries, max %d", len(c.entries), c.max)
			}
			for a, e := range c.entries {
				switch {
				case len(e.pending) > ndMaxPending:
					t.Fatalf("%v: %d queued", a, len(e.pending))
				case e.state != NDIncomplete && len(e.pending) > 0:
					t.Fatalf("%v %v holds %d packets", a, e.state, len(e.pending))
				case e.state == NDStale && !e.at.IsZero():
					t.Fatalf("%v STALE with a deadline", a)
				case e.state != NDStale && e.at.IsZero():
					t.Fatalf("%v %v without a deadline", a, e.state)
				}
			}
		}
	})
}
