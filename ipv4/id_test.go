package ipv4

import (
	"net/netip"
	"testing"
)

func TestIDGen_SameFlow_IncrementsByOne(t *testing.T) {
	g := NewIDGen()
	prev := g.Next(addrA, addrB, ProtoUDP)
	for range 70000 { // across the 16-bit wrap
		id := g.Next(addrA, addrB, ProtoUDP)
		if id != prev+1 {
			t.Fatalf("Next = %d after %d, want +1", id, prev)
		}
		prev = id
	}
}

func TestIDGen_Destinations_GetUnrelatedIDs(t *testing.T) {
	g := NewIDGen()
	seen := map[uint16]bool{}
	for i := range 64 {
		dst := netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})
		seen[g.Next(addrA, dst, ProtoTCP)] = true
	}
	// 64 random starting values: a collision of more than a few is a bug
	// (a shared counter would give 64 consecutive values, a constant start
	// one value).
	if len(seen) < 60 {
		t.Errorf("%d distinct IDs for 64 destinations", len(seen))
	}
	consecutive := 0
	for id := range seen {
		if seen[id+1] {
			consecutive++
		}
	}
	if consecutive > 8 {
		t.Errorf("%d IDs follow another: counters look shared", consecutive)
	}
}

func TestIDGen_TwoGenerators_DifferForSameFlow(t *testing.T) {
	same := 0
	for range 8 {
		if NewIDGen().Next(addrA, addrB, ProtoUDP) == NewIDGen().Next(addrA, addrB, ProtoUDP) {
			same++
		}
	}
	if same > 1 {
		t.Errorf("%d of 8 fresh generators agreed: key or start not random", same)
	}
}

func TestIDGen_Next_DoesNotAllocate(t *testing.T) {
	g := NewIDGen()
	if n := testing.AllocsPerRun(100, func() { g.Next(addrA, addrB, ProtoTCP) }); n != 0 {
		t.Errorf("allocations = %v", n)
	}
}
