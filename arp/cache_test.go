package arp

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
)

var (
	t0    = time.Unix(1_700_000_000, 0)
	peerA = netip.MustParseAddr("10.0.0.1")
	peerB = netip.MustParseAddr("10.0.0.3")
	peerC = netip.MustParseAddr("10.0.0.4")
	macA  = ethernet.MAC{0x02, 0, 0, 0, 0, 0x01}
	macA2 = ethernet.MAC{0x02, 0, 0, 0, 0, 0xa2}
)

func at(d time.Duration) time.Time { return t0.Add(d) }

type request struct {
	ip  netip.Addr
	dst ethernet.MAC
}

type failure struct {
	ip  netip.Addr
	pkt string
}

// recorder collects what Expire asks for.
type recorder struct {
	requests []request
	failed   []failure
}

func (r *recorder) expire(c *Cache, now time.Time) {
	c.Expire(now,
		func(ip netip.Addr, dst ethernet.MAC) { r.requests = append(r.requests, request{ip, dst}) },
		func(ip netip.Addr, pkt []byte) { r.failed = append(r.failed, failure{ip, string(pkt)}) })
}

// take returns and clears what was recorded.
func (r *recorder) take() ([]request, []failure) {
	req, f := r.requests, r.failed
	r.requests, r.failed = nil, nil
	return req, f
}

func mustState(t *testing.T, c *Cache, ip netip.Addr, want State) Entry {
	t.Helper()
	for _, e := range c.Entries() {
		if e.IP == ip {
			if e.State != want {
				t.Fatalf("%v is %v, want %v", ip, e.State, want)
			}
			return e
		}
	}
	t.Fatalf("%v has no entry, want %v", ip, want)
	return Entry{}
}

func mustAbsent(t *testing.T, c *Cache, ip netip.Addr) {
	t.Helper()
	for _, e := range c.Entries() {
		if e.IP == ip {
			t.Fatalf("%v still has an entry (%v)", ip, e.State)
		}
	}
}

func mustDeadline(t *testing.T, c *Cache, want time.Time) {
	t.Helper()
	got, ok := c.NextDeadline()
	if !ok || !got.Equal(want) {
		t.Fatalf("NextDeadline = %v, %v; want %v", got.Sub(t0), ok, want.Sub(t0))
	}
}

func TestNewCache_ZeroConfigTakesDefaults(t *testing.T) {
	c := NewCache(Config{})
	if c.cfg != DefaultConfig() {
		t.Errorf("cfg = %+v, want %+v", c.cfg, DefaultConfig())
	}
	c = NewCache(Config{MaxPending: 2, StaleTime: time.Minute * 5})
	want := DefaultConfig()
	want.MaxPending, want.StaleTime = 2, 5*time.Minute
	if c.cfg != want {
		t.Errorf("cfg = %+v, want %+v", c.cfg, want)
	}
}

func TestCache_UnknownAddress_CreatesIncompleteAndAsksForOneRequest(t *testing.T) {
	c := NewCache(Config{})
	if _, ok, req := c.Resolve(peerA, t0); ok || !req {
		t.Fatalf("Resolve(unknown) ok=%v request=%v, want false true", ok, req)
	}
	e := mustState(t, c, peerA, StateIncomplete)
	if !e.Updated.Equal(t0) || !e.MAC.IsZero() {
		t.Errorf("entry = %+v", e)
	}
	mustDeadline(t, c, at(time.Second))
}

func TestCache_ResolutionSuccess_ReleasesQueuedPacketsInOrder(t *testing.T) {
	c := NewCache(Config{})
	c.Resolve(peerA, t0)
	for _, p := range []string{"one", "two", "three"} {
		if !c.Enqueue(peerA, []byte(p)) {
			t.Fatalf("Enqueue(%q) dropped", p)
		}
	}
	if e := mustState(t, c, peerA, StateIncomplete); e.Pending != 3 {
		t.Errorf("Pending = %d, want 3", e.Pending)
	}
	pkts := c.Update(peerA, macA, at(300*time.Millisecond), false)
	var got []string
	for _, p := range pkts {
		got = append(got, string(p))
	}
	if !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("released %q, want one two three in order", got)
	}
	e := mustState(t, c, peerA, StateReachable)
	if e.MAC != macA || e.Pending != 0 || !e.Updated.Equal(at(300*time.Millisecond)) {
		t.Errorf("entry = %+v", e)
	}
	if mac, ok, req := c.Resolve(peerA, at(time.Second)); mac != macA || !ok || req {
		t.Errorf("Resolve = %v %v %v, want %v true false", mac, ok, req, macA)
	}
	// Nothing is left to retry: the next work is going stale.
	mustDeadline(t, c, at(300*time.Millisecond+30*time.Second))
	var r recorder
	r.expire(c, at(5*time.Second))
	if req, f := r.take(); req != nil || f != nil {
		t.Errorf("Expire after resolution: requests %v, failed %v", req, f)
	}
}

func TestCache_RequestRateLimitedToOnePerSecond(t *testing.T) {
	c := NewCache(Config{})
	var r recorder
	if _, _, req := c.Resolve(peerA, t0); !req {
		t.Fatal("first Resolve did not ask for a request")
	}
	// RFC 1122 §2.3.2.1: however many packets are sent, no more requests
	// until a second has passed, and then exactly one.
	for ms := time.Duration(0); ms < time.Second; ms += 100 * time.Millisecond {
		if _, ok, req := c.Resolve(peerA, at(ms)); ok || req {
			t.Fatalf("Resolve(Incomplete) at %v: ok=%v request=%v", ms, ok, req)
		}
		r.expire(c, at(ms))
	}
	r.expire(c, at(time.Second-time.Nanosecond))
	if req, _ := r.take(); req != nil {
		t.Fatalf("requests before 1s: %v", req)
	}
	r.expire(c, at(time.Second))
	r.expire(c, at(time.Second))
	r.expire(c, at(1500*time.Millisecond))
	if _, _, req := c.Resolve(peerA, at(1500*time.Millisecond)); req {
		t.Fatal("Resolve(Incomplete) asked for a request")
	}
	if req, _ := r.take(); !slices.Equal(req, []request{{peerA, ethernet.Broadcast}}) {
		t.Fatalf("requests by 1.5s = %v, want one broadcast", req)
	}
	mustDeadline(t, c, at(2*time.Second))
	r.expire(c, at(2*time.Second))
	if req, _ := r.take(); len(req) != 1 {
		t.Fatalf("requests at 2s = %v, want one", req)
	}
}

func TestCache_ExpireCalledLate_SendsOneRequestAndRestartsInterval(t *testing.T) {
	c := NewCache(Config{})
	var r recorder
	c.Resolve(peerA, t0)
	r.expire(c, at(2500*time.Millisecond)) // 1.5 s late
	if req, f := r.take(); len(req) != 1 || f != nil {
		t.Fatalf("late Expire: requests %v failed %v, want one request", req, f)
	}
	mustDeadline(t, c, at(3500*time.Millisecond))
}

func TestCache_IncompleteUnanswered_GivesUpAfterMaxRetriesAndFailsEveryQueuedPacket(t *testing.T) {
	c := NewCache(Config{})
	var r recorder
	c.Resolve(peerA, t0) // request 1, sent by the caller
	c.Enqueue(peerA, []byte("p1"))
	c.Resolve(peerB, at(500*time.Millisecond))
	c.Enqueue(peerB, []byte("b1"))
	r.expire(c, at(time.Second)) // request 2
	c.Enqueue(peerA, []byte("p2"))
	r.expire(c, at(2*time.Second)) // request 3
	c.Enqueue(peerA, []byte("p3"))
	req, f := r.take()
	want := []request{{peerA, ethernet.Broadcast}, {peerA, ethernet.Broadcast}}
	if got := slices.DeleteFunc(req, func(q request) bool { return q.ip != peerA }); !slices.Equal(got, want) || f != nil {
		t.Fatalf("requests for A by 2s = %v (failed %v), want two more broadcasts", got, f)
	}
	// B's second request went out late, at 2 s, so its third is due at 3 s.
	mustDeadline(t, c, at(3*time.Second))
	r.expire(c, at(3*time.Second-time.Nanosecond))
	mustState(t, c, peerA, StateIncomplete)
	r.take()
	r.expire(c, at(3*time.Second))
	req, f = r.take()
	if want := []request{{peerB, ethernet.Broadcast}}; !slices.Equal(req, want) {
		t.Errorf("requests at 3s = %v, want only B's third", req)
	}
	if want := []failure{{peerA, "p1"}, {peerA, "p2"}, {peerA, "p3"}}; !slices.Equal(f, want) {
		t.Errorf("failed = %v, want %v", f, want)
	}
	mustAbsent(t, c, peerA)
	mustState(t, c, peerB, StateIncomplete)
	// A fresh resolution starts from scratch.
	if _, ok, req := c.Resolve(peerA, at(3*time.Second)); ok || !req {
		t.Errorf("Resolve after failure: ok=%v request=%v, want false true", ok, req)
	}
	if c.Enqueue(peerA, []byte("again")) != true {
		t.Errorf("Enqueue on the new Incomplete entry dropped")
	}
}

func TestCache_IncompleteWithoutPackets_GivesUpWithoutFailedCalls(t *testing.T) {
	c := NewCache(Config{MaxRetries: 1})
	var r recorder
	c.Resolve(peerA, t0)
	r.expire(c, at(time.Second))
	if req, f := r.take(); req != nil || f != nil {
		t.Errorf("requests %v failed %v, want none", req, f)
	}
	if c.Len() != 0 {
		t.Errorf("Len = %d, want 0", c.Len())
	}
	if _, ok := c.NextDeadline(); ok {
		t.Errorf("empty cache has a deadline")
	}
}

func TestCache_EnqueueFullQueue_DropsOldestKeepsNewest(t *testing.T) {
	c := NewCache(Config{MaxPending: 3})
	c.Resolve(peerA, t0)
	for _, p := range []string{"1", "2", "3"} {
		if !c.Enqueue(peerA, []byte(p)) {
			t.Fatalf("Enqueue(%q) dropped below the bound", p)
		}
	}
	if c.Enqueue(peerA, []byte("4")) {
		t.Error("Enqueue over the bound reported no drop")
	}
	if c.Enqueue(peerA, []byte("five")) {
		t.Error("Enqueue over the bound reported no drop")
	}
	if e := mustState(t, c, peerA, StateIncomplete); e.Pending != 3 {
		t.Errorf("Pending = %d, want 3", e.Pending)
	}
	var got []string
	for _, p := range c.Update(peerA, macA, at(time.Millisecond), false) {
		got = append(got, string(p))
	}
	if want := []string{"3", "4", "five"}; !slices.Equal(got, want) {
		t.Errorf("released %q, want %q", got, want)
	}
}

func TestCache_Enqueue_CopiesThePacket(t *testing.T) {
	c := NewCache(Config{MaxPending: 1})
	c.Resolve(peerA, t0)
	buf := []byte("abc")
	c.Enqueue(peerA, buf)
	copy(buf, "xyz")
	c.Enqueue(peerA, []byte("de")) // overflow reuses the old buffer
	buf2 := []byte("long packet")
	c.Enqueue(peerA, buf2)
	copy(buf2, "XXXX")
	pkts := c.Update(peerA, macA, t0, false)
	if len(pkts) != 1 || string(pkts[0]) != "long packet" {
		t.Errorf("released %q, want [long packet]", pkts)
	}
}

func TestCache_Enqueue_WithoutIncompleteEntry_Drops(t *testing.T) {
	c := NewCache(Config{})
	if c.Enqueue(peerA, []byte("x")) {
		t.Error("Enqueue with no entry accepted the packet")
	}
	c.Update(peerA, macA, t0, true)
	if c.Enqueue(peerA, []byte("x")) {
		t.Error("Enqueue on a Reachable entry accepted the packet")
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d, want 1", c.Len())
	}
}

func TestCache_Lifecycle_ReachableStaleProbeDeleted(t *testing.T) {
	c := NewCache(Config{})
	var r recorder
	c.Update(peerA, macA, t0, true)
	mustState(t, c, peerA, StateReachable)
	if mac, ok, req := c.Resolve(peerA, at(30*time.Second-time.Nanosecond)); mac != macA || !ok || req {
		t.Fatalf("Resolve within ReachableTime = %v %v %v", mac, ok, req)
	}
	mustDeadline(t, c, at(30*time.Second))
	r.expire(c, at(30*time.Second))
	if e := mustState(t, c, peerA, StateStale); !e.Updated.Equal(at(30*time.Second)) || e.MAC != macA {
		t.Fatalf("stale entry = %+v", e)
	}
	mustDeadline(t, c, at(90*time.Second)) // garbage collection
	// Used while stale: keep sending to the old MAC, and probe it.
	if mac, ok, req := c.Resolve(peerA, at(40*time.Second)); mac != macA || !ok || !req {
		t.Fatalf("Resolve(Stale) = %v %v %v, want %v true true", mac, ok, req, macA)
	}
	mustState(t, c, peerA, StateProbe)
	if mac, ok, req := c.Resolve(peerA, at(40500*time.Millisecond)); mac != macA || !ok || req {
		t.Fatalf("Resolve(Probe) = %v %v %v, want %v true false", mac, ok, req, macA)
	}
	mustDeadline(t, c, at(41*time.Second))
	r.expire(c, at(41*time.Second))
	r.expire(c, at(42*time.Second))
	req, f := r.take()
	if want := []request{{peerA, macA}, {peerA, macA}}; !slices.Equal(req, want) || f != nil {
		t.Fatalf("probes = %v (failed %v), want two unicast polls to %v", req, f, macA)
	}
	mustState(t, c, peerA, StateProbe)
	r.expire(c, at(43*time.Second))
	if req, f := r.take(); req != nil || f != nil {
		t.Fatalf("at give-up: requests %v failed %v", req, f)
	}
	mustAbsent(t, c, peerA)
	if _, ok, req := c.Resolve(peerA, at(43*time.Second)); ok || !req {
		t.Errorf("Resolve after probe failure: ok=%v request=%v, want a fresh resolution", ok, req)
	}
}

func TestCache_ResolveReachablePastReachableTime_ProbesWithoutExpire(t *testing.T) {
	c := NewCache(Config{})
	c.Update(peerA, macA, t0, true)
	if mac, ok, req := c.Resolve(peerA, at(30*time.Second)); mac != macA || !ok || !req {
		t.Fatalf("Resolve at ReachableTime = %v %v %v, want %v true true", mac, ok, req, macA)
	}
	if e := mustState(t, c, peerA, StateProbe); !e.Updated.Equal(at(30 * time.Second)) {
		t.Errorf("Updated = %v", e.Updated.Sub(t0))
	}
	mustDeadline(t, c, at(31*time.Second))
}

func TestCache_StaleUnused_DeletedAfterStaleTime(t *testing.T) {
	c := NewCache(Config{})
	var r recorder
	c.Update(peerA, macA, t0, true)
	r.expire(c, at(45*time.Second)) // goes stale as of 30 s, not 45 s
	mustState(t, c, peerA, StateStale)
	r.expire(c, at(90*time.Second-time.Nanosecond))
	mustState(t, c, peerA, StateStale)
	r.expire(c, at(90*time.Second))
	mustAbsent(t, c, peerA)
	if req, f := r.take(); req != nil || f != nil {
		t.Errorf("requests %v failed %v, want none", req, f)
	}
}

func TestCache_ExpireFarLate_ReachableGoesStraightToDeleted(t *testing.T) {
	c := NewCache(Config{})
	var r recorder
	c.Update(peerA, macA, t0, true)
	r.expire(c, at(time.Hour))
	mustAbsent(t, c, peerA)
}

func TestCache_ProbeAnswered_BecomesReachable(t *testing.T) {
	c := NewCache(Config{})
	var r recorder
	c.Update(peerA, macA, t0, true)
	c.Resolve(peerA, at(31*time.Second)) // Stale → Probe, probe 1
	r.expire(c, at(32*time.Second))      // probe 2
	if pkts := c.Update(peerA, macA, at(32100*time.Millisecond), false); pkts != nil {
		t.Errorf("Update released %v from a Probe entry", pkts)
	}
	e := mustState(t, c, peerA, StateReachable)
	if !e.Updated.Equal(at(32100 * time.Millisecond)) {
		t.Errorf("Updated = %v", e.Updated.Sub(t0))
	}
	mustDeadline(t, c, at(62100*time.Millisecond))
	r.take()
	r.expire(c, at(40*time.Second))
	if req, _ := r.take(); req != nil {
		t.Errorf("probes after the answer: %v", req)
	}
	if mac, ok, req := c.Resolve(peerA, at(40*time.Second)); mac != macA || !ok || req {
		t.Errorf("Resolve = %v %v %v", mac, ok, req)
	}
}

func TestCache_UpdateWithNewMAC_ReplacesAddress(t *testing.T) {
	c := NewCache(Config{})
	c.Update(peerA, macA, t0, true)
	c.Update(peerA, macA2, at(time.Second), false) // create=false: the entry exists
	if mac, ok, _ := c.Resolve(peerA, at(2*time.Second)); mac != macA2 || !ok {
		t.Errorf("Resolve = %v %v, want %v", mac, ok, macA2)
	}
}

func TestCache_UpdateWithGroupMAC_IsIgnored(t *testing.T) {
	c := NewCache(Config{})
	c.Resolve(peerA, t0)
	c.Enqueue(peerA, []byte("x"))
	for _, m := range []ethernet.MAC{ethernet.Broadcast, {0x01, 0x00, 0x5e, 0, 0, 1}} {
		if pkts := c.Update(peerA, m, t0, true); pkts != nil {
			t.Errorf("Update(%v) released %q", m, pkts)
		}
		if c.Update(peerB, m, t0, true); c.Len() != 1 {
			t.Errorf("Update(%v, create) created an entry", m)
		}
	}
	if e := mustState(t, c, peerA, StateIncomplete); e.Pending != 1 {
		t.Errorf("entry = %+v", e)
	}
}

func TestCache_UpdateWithoutCreate_DoesNotCreate(t *testing.T) {
	c := NewCache(Config{})
	if pkts := c.Update(peerA, macA, t0, false); pkts != nil {
		t.Errorf("Update returned %v", pkts)
	}
	if c.Len() != 0 {
		t.Fatalf("Update(create=false) created an entry")
	}
	if _, ok := c.NextDeadline(); ok {
		t.Errorf("deadline without entries")
	}
	c.Update(peerA, macA, t0, true)
	mustState(t, c, peerA, StateReachable)
}

func TestCache_MaxEntries_RefusesNewEntriesUntilOneGoes(t *testing.T) {
	c := NewCache(Config{MaxEntries: 2, MaxRetries: 1})
	var r recorder
	c.Resolve(peerA, t0)
	c.Update(peerB, macA2, t0, true)
	if _, ok, req := c.Resolve(peerC, t0); ok || req {
		t.Errorf("Resolve on a full cache: ok=%v request=%v, want false false", ok, req)
	}
	if c.Enqueue(peerC, []byte("x")) {
		t.Errorf("Enqueue for a refused address accepted")
	}
	if c.Update(peerC, macA, t0, true); c.Len() != 2 {
		t.Errorf("Update(create) on a full cache: Len = %d, want 2", c.Len())
	}
	mustAbsent(t, c, peerC)
	// Existing entries still work.
	if mac, ok, _ := c.Resolve(peerB, t0); !ok || mac != macA2 {
		t.Errorf("Resolve(existing) = %v %v", mac, ok)
	}
	c.Update(peerA, macA, t0, false)
	mustState(t, c, peerA, StateReachable)
	// Once an entry goes, a new one fits.
	r.expire(c, at(time.Hour))
	if c.Len() != 0 {
		t.Fatalf("Len = %d after everything expired", c.Len())
	}
	if _, ok, req := c.Resolve(peerC, at(time.Hour)); ok || !req {
		t.Errorf("Resolve after room was made: ok=%v request=%v, want false true", ok, req)
	}
}

func TestCache_Entries_SnapshotSortedByIP(t *testing.T) {
	c := NewCache(Config{})
	for _, s := range []string{"10.0.0.9", "10.0.0.10", "10.0.0.1", "192.168.1.1", "10.0.0.2"} {
		c.Resolve(netip.MustParseAddr(s), t0)
	}
	c.Enqueue(netip.MustParseAddr("10.0.0.2"), []byte("x"))
	var got []string
	for _, e := range c.Entries() {
		got = append(got, e.IP.String())
	}
	if want := []string{"10.0.0.1", "10.0.0.2", "10.0.0.9", "10.0.0.10", "192.168.1.1"}; !slices.Equal(got, want) {
		t.Errorf("Entries order = %v, want %v", got, want)
	}
	if e := c.Entries()[1]; e.Pending != 1 || e.State != StateIncomplete {
		t.Errorf("entry = %+v", e)
	}
	if c.Len() != 5 {
		t.Errorf("Len = %d", c.Len())
	}
}

func TestCache_ResolveReachable_DoesNotAllocate(t *testing.T) {
	c := NewCache(Config{})
	c.Update(peerA, macA, t0, true)
	now := at(time.Second)
	n := testing.AllocsPerRun(1000, func() {
		if _, ok, _ := c.Resolve(peerA, now); !ok {
			panic("not resolved")
		}
	})
	if n != 0 {
		t.Errorf("Resolve(Reachable) allocates %v times, want 0", n)
	}
}

func TestState_String(t *testing.T) {
	for s, want := range map[State]string{
		StateIncomplete: "INCOMPLETE", StateReachable: "REACHABLE",
		StateStale: "STALE", StateProbe: "PROBE", 9: "State(9)",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", uint8(s), got, want)
		}
	}
}

// clone returns an independent copy of c, for asking "what would Expire do".
func (c *Cache) clone() *Cache {
	d := NewCache(c.cfg)
	for ip, e := range c.entries {
		e2 := *e
		e2.pending = nil
		for _, p := range e.pending {
			e2.pending = append(e2.pending, bytes.Clone(p))
		}
		d.entries[ip] = &e2
	}
	return d
}

// expireObserved runs Expire(now) on a copy of c and reports whether it did
// anything visible: a callback, or any change to the entries.
func expireObserved(c *Cache, now time.Time) bool {
	d := c.clone()
	before := d.Entries()
	var r recorder
	r.expire(d, now)
	if r.requests != nil || r.failed != nil {
		return true
	}
	return !slices.EqualFunc(before, d.Entries(), func(a, b Entry) bool {
		return a.IP == b.IP && a.MAC == b.MAC && a.State == b.State && a.Updated.Equal(b.Updated) && a.Pending == b.Pending
	})
}

// TestCache_NextDeadline_IsExactlyWhenExpireNextHasWork checks, after every
// step of random operation sequences, that Expire one nanosecond before
// NextDeadline does nothing and Expire at NextDeadline does something (and
// that with no deadline, Expire far in the future does nothing).
func TestCache_NextDeadline_IsExactlyWhenExpireNextHasWork(t *testing.T) {
	ips := []netip.Addr{peerA, peerB, peerC, netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6")}
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 0x7a9))
		c := NewCache(Config{
			ReachableTime:      3 * time.Second,
			StaleTime:          4 * time.Second,
			RetransmitInterval: time.Second,
			MaxRetries:         1 + rng.IntN(3),
			MaxPending:         2,
			MaxEntries:         4,
		})
		now := t0
		var r recorder
		for step := range 150 {
			ip := ips[rng.IntN(len(ips))]
			switch k := rng.IntN(10); {
			case k < 3:
				c.Resolve(ip, now)
			case k < 4:
				c.Enqueue(ip, []byte{byte(step)})
			case k < 6:
				c.Update(ip, ethernet.MAC{2, 0, 0, 0, 0, byte(rng.IntN(3))}, now, rng.IntN(2) == 0)
			case k < 8:
				r.expire(c, now)
				if d, ok := c.NextDeadline(); ok && !d.After(now) {
					t.Fatalf("seed %d step %d: NextDeadline %v not after Expire(%v)", seed, step, d.Sub(t0), now.Sub(t0))
				}
			default:
				// Jump to the deadline, as the stack's timer would.
				if d, ok := c.NextDeadline(); ok && d.After(now) {
					now = d
				}
			}
			now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)

			d, ok := c.NextDeadline()
			if !ok {
				if expireObserved(c, now.Add(1000*time.Hour)) {
					t.Fatalf("seed %d step %d: no deadline, yet Expire has work", seed, step)
				}
				if c.Len() != 0 {
					t.Fatalf("seed %d step %d: %d entries but no deadline", seed, step, c.Len())
				}
				continue
			}
			if expireObserved(c, d.Add(-time.Nanosecond)) {
				t.Fatalf("seed %d step %d: Expire before NextDeadline %v has work; entries %+v", seed, step, d.Sub(t0), c.Entries())
			}
			if !expireObserved(c, d) {
				t.Fatalf("seed %d step %d: Expire at NextDeadline %v does nothing; entries %+v", seed, step, d.Sub(t0), c.Entries())
			}
		}
	}
}
