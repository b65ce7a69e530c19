package arp

import (
	"testing"
	"time"
)

// Configured times are used, not only the defaults.
func TestCache_ConfiguredTimes_AreUsed(t *testing.T) {
	c := NewCache(Config{ReachableTime: 5 * time.Second, RetransmitInterval: 200 * time.Millisecond})
	c.Resolve(peerA, t0)
	if d, ok := c.NextDeadline(); !ok || !d.Equal(at(200*time.Millisecond)) {
		t.Fatalf("next request at %v, want RetransmitInterval (200ms) after the first", d.Sub(t0))
	}
	c.Update(peerA, macA, at(time.Second), false)
	if d, ok := c.NextDeadline(); !ok || !d.Equal(at(6*time.Second)) {
		t.Fatalf("goes stale at %v, want ReachableTime (5s) after the reply", d.Sub(t0))
	}
}

// Expire runs at the earliest deadline of any entry; an entry whose own
// deadline is later is left as it is.
func TestCache_ExpireForAnotherEntry_ReachableStaysReachable(t *testing.T) {
	c := NewCache(Config{})
	c.Update(peerA, macA, t0, true) // Reachable until t0 + 30s
	c.Resolve(peerB, t0)            // Incomplete: next request at t0 + 1s
	var r recorder
	r.expire(c, at(time.Second))
	if req, _ := r.take(); len(req) != 1 || req[0].ip != peerB {
		t.Fatalf("requests %v, want one for %v", req, peerB)
	}
	mustState(t, c, peerA, StateReachable)
	if d, _ := c.NextDeadline(); !d.Equal(at(2 * time.Second)) {
		t.Fatalf("next deadline %v, want peerB's next request at 2s", d.Sub(t0))
	}
}

// A packet queued on a full queue reuses the buffer of the one it pushes
// out when that is big enough: a flood towards an unresolved address
// costs no allocation per packet (the queue is bounded in bytes as well
// as in packets).
// 1024 is a size class of Go's allocator, so the queued copy's capacity
// is exactly the packet's length: exactly big enough is big enough.
func TestCache_EnqueueFullQueue_ReusesTheDroppedBuffer(t *testing.T) {
	for _, size := range []int{1500, 1024} {
		c := NewCache(Config{MaxPending: 2})
		c.Resolve(peerA, t0)
		pkt := make([]byte, size)
		c.Enqueue(peerA, pkt)
		c.Enqueue(peerA, pkt)
		if n := testing.AllocsPerRun(100, func() { c.Enqueue(peerA, pkt) }); n != 0 {
			t.Fatalf("%d-byte packets: Enqueue on a full queue allocates %v times, want 0", size, n)
		}
	}
}
