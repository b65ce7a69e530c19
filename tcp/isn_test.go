package tcp

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// SipHash-2-4 reference vectors (Aumasson and Bernstein 2012, Appendix A and
// the reference implementation's vectors.h): key 00 01 .. 0f, message
// 00 01 .. (n-1).

var (
	isnLocal  = netip.MustParseAddrPort("10.0.0.1:80")
	isnRemote = netip.MustParseAddrPort("10.0.0.2:40000")
	isnNow    = time.Unix(1700000000, 0) // a multiple of 4 µs
)

func TestISN_DiffersPerFourTuple(t *testing.T) {
	g := NewISNGenerator()
	seen := map[uint32]netip.AddrPort{}
	base := uint32(g.Next(isnLocal, isnRemote, isnNow))
	for _, r := range []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.2:40001"),
		netip.MustParseAddrPort("10.0.0.3:40000"),
		netip.MustParseAddrPort("[2001:db8::2]:40000"),
		netip.MustParseAddrPort("0.0.0.0:0"),
	} {
		v := uint32(g.Next(isnLocal, r, isnNow))
		if v == base {
			t.Errorf("remote %v: same ISN %d as %v", r, v, isnRemote)
		}
		if o, dup := seen[v]; dup {
			t.Errorf("remote %v: same ISN as %v", r, o)
		}
		seen[v] = r
	}
	if g.Next(isnRemote, isnLocal, isnNow) == g.Next(isnLocal, isnRemote, isnNow) {
		t.Error("swapping local and remote gives the same ISN")
	}
}

func TestISN_AdvancesOnePer4Microseconds(t *testing.T) {
	g := NewISNGenerator()
	v0 := g.Next(isnLocal, isnRemote, isnNow)
	if v := g.Next(isnLocal, isnRemote, isnNow.Add(3*time.Microsecond)); v != v0 {
		t.Errorf("after 3 µs: %d, want %d (same tick)", v, v0)
	}
	if v := g.Next(isnLocal, isnRemote, isnNow.Add(4*time.Microsecond)); v != v0+1 {
		t.Errorf("after 4 µs: %d, want %d", v, v0+1)
	}
	if v := g.Next(isnLocal, isnRemote, isnNow.Add(time.Second)); v != v0+250000 {
		t.Errorf("after 1 s: %d, want %d", v, v0+250000)
	}
	// The 32-bit space wraps after 2^32 ticks (about 4.77 hours).
	if v := g.Next(isnLocal, isnRemote, isnNow.Add((1<<32)*4*time.Microsecond)); v != v0 {
		t.Errorf("after 2^32 ticks: %d, want %d", v, v0)
	}
}

func TestISN_UnpredictableAcrossGenerators(t *testing.T) {
	// Two generators (two hosts, or one host across restarts) disagree on
	// the same 4-tuple at the same time: the offset comes from the key.
	// Each comparison collides with probability 2^-32; require most differ.
	g1, g2 := NewISNGenerator(), NewISNGenerator()
	same := 0
	for port := range uint16(16) {
		r := netip.AddrPortFrom(isnRemote.Addr(), 40000+port)
		if g1.Next(isnLocal, r, isnNow) == g2.Next(isnLocal, r, isnNow) {
			same++
		}
	}
	if same > 1 {
		t.Fatalf("%d of 16 ISNs equal across generators", same)
	}
}

func TestISN_ConcurrentUse_NoAllocation(t *testing.T) {
	g := NewISNGenerator()
	want := g.Next(isnLocal, isnRemote, isnNow)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if v := g.Next(isnLocal, isnRemote, isnNow); v != want {
					t.Errorf("concurrent Next = %d, want %d", v, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := testing.AllocsPerRun(100, func() { g.Next(isnLocal, isnRemote, isnNow) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkISNNext(b *testing.B) {
	g := NewISNGenerator()
	b.ReportAllocs()
	for b.Loop() {
		g.Next(isnLocal, isnRemote, isnNow)
	}
}
