package buffer

import (
	"bytes"
	"testing"
)

// heldSend returns a Send of the given capacity, accounted against m,
// holding n bytes (its ring the smallest that holds them, see ringSize).
func heldSend(t *testing.T, m *Memory, capacity, n int) *Send {
	t.Helper()
	s := NewSend(capacity)
	s.SetMemory(m)
	if got := s.Write(make([]byte, n)); got != n {
		t.Fatalf("setup: Write(%d) = %d", n, got)
	}
	return s
}

// Pressure begins when the rings in use reach the threshold and ends only
// once they fall below three quarters of it (the hysteresis of tcp_mem's
// "pressure" and "min"). PressureEvents counts the times it began (Linux's
// TCPMemoryPressures), not the rings that grow while it lasts.
func TestMemory_PressureBeginsAtTheThreshold_EndsBelowThreeQuarters(t *testing.T) {
	m := NewMemory(16<<10, 1<<20) // ends below 12 KiB
	heldSend(t, m, 1<<20, 8<<10)
	b := heldSend(t, m, 1<<20, minRing)
	if m.UnderPressure() {
		t.Fatalf("under pressure at %d bytes, below the threshold", m.Used())
	}
	c := heldSend(t, m, 1<<20, minRing)
	if m.Used() != 16<<10 || !m.UnderPressure() || m.Stats().PressureEvents != 1 {
		t.Fatalf("at the threshold: Used %d, %+v; want pressure, one event", m.Used(), m.Stats())
	}
	d := heldSend(t, m, 1<<20, 1) // another ring while under pressure
	if m.Stats().PressureEvents != 1 {
		t.Fatalf("PressureEvents = %d after a ring grew under pressure, want 1", m.Stats().PressureEvents)
	}
	d.Ack(1) // under pressure an emptied ring is given back
	c.Ack(minRing)
	if m.Used() != 12<<10 || !m.UnderPressure() {
		t.Fatalf("at exactly three quarters (%d bytes) pressure ended", m.Used())
	}
	b.Ack(minRing)
	if m.Used() != 8<<10 || m.UnderPressure() {
		t.Fatalf("below three quarters (%d bytes) still under pressure", m.Used())
	}
	heldSend(t, m, 1<<20, 8<<10)
	if !m.UnderPressure() || m.Stats().PressureEvents != 2 {
		t.Fatalf("back at the threshold: %+v; want pressure, a second event", m.Stats())
	}
}

// NewMemory: a pressure threshold above the limit means pressure at the
// limit (tcp_mem's values are ordered min <= pressure <= max), so a stack at
// its limit is always under pressure as well.
func TestMemory_PressureAboveTheLimit_BeginsAtTheLimit(t *testing.T) {
	m := NewMemory(1<<20, 16<<10)
	heldSend(t, m, 1<<20, 16<<10)
	if !m.Exhausted() || !m.UnderPressure() {
		t.Fatalf("at the limit (%d bytes): exhausted %v, under pressure %v; want both", m.Used(), m.Exhausted(), m.UnderPressure())
	}
}

// The stack refuses new connections only once the rings reach the limit
// (tcp_mem "max"), not before. A ring may grow right up to the limit: the
// ring it replaces is given back, not counted twice.
func TestMemory_ExhaustedOnlyAtTheLimit(t *testing.T) {
	m := NewMemory(0, 16<<10)
	if m.Exhausted() {
		t.Fatal("an unused Memory is exhausted")
	}
	s := heldSend(t, m, 1<<20, 3000) // a 4 KiB ring
	if m.Exhausted() {
		t.Fatalf("exhausted at %d bytes, below the limit", m.Used())
	}
	if n := s.Write(make([]byte, 9000)); n != 9000 || len(s.buf) != 16<<10 {
		t.Fatalf("Write(9000) = %d, ring %d; want all, the 4 KiB ring replaced by a 16 KiB one", n, len(s.buf))
	}
	if !m.Exhausted() {
		t.Fatalf("not exhausted at the limit (%d bytes)", m.Used())
	}
}

// Without pressure a write is cut only where its ring would take the total
// past the limit (tcp_mem "max"): the ring it has is kept and filled, the
// rest waits for acknowledgements (Linux's sk_stream_wait_memory).
// SendLimited counts such writes and no others: not a write that fits, not
// one the buffer's own capacity cuts.
func TestSend_MemoryLimit_WriteCutToItsRing_CountedInSendLimited(t *testing.T) {
	m := NewMemory(0, 15<<10)
	heldSend(t, m, 1<<20, 8<<10)
	s := NewSend(1 << 20)
	s.SetMemory(m)
	if n := s.Write(pattern(3000, 0)); n != 3000 {
		t.Fatalf("Write(3000) with room = %d", n)
	}
	// An 8 KiB ring would make 16 KiB, past the limit: the 4 KiB one is filled.
	if n := s.Write(pattern(3000, byte(3000%256))); n != minRing-3000 {
		t.Fatalf("Write(3000) that needs a larger ring = %d, want the %d left in the ring", n, minRing-3000)
	}
	if m.UnderPressure() || len(s.buf) != minRing || m.Used() != 12<<10 {
		t.Fatalf("Used %d (pressure %v), ring %d; want 12 KiB, no pressure, the ring unchanged", m.Used(), m.UnderPressure(), len(s.buf))
	}
	if got := peekAll(s, 0, s.Len()); !bytes.Equal(got, pattern(minRing, 0)) {
		t.Fatal("the cut write lost or moved bytes")
	}
	if got := m.Stats().SendLimited; got != 1 {
		t.Fatalf("SendLimited = %d after one write cut by the limit, want 1", got)
	}
	small := NewSend(100)
	small.SetMemory(m)
	if small.Write(make([]byte, 60)) != 60 || small.Write(make([]byte, 60)) != 40 {
		t.Fatal("writes within the capacity were cut")
	}
	if got := m.Stats().SendLimited; got != 1 {
		t.Fatalf("SendLimited = %d after writes cut only by the capacity, want still 1", got)
	}
}

// At the memory limit a ring grows no more, but every buffer may have a
// ring of minRing bytes (Linux's tcp_rmem[0]): data that would need a
// larger ring is cut to the ring the buffer may have, whatever the data is
// (a new out-of-order range, an extension of the one range held with the
// range set full, in-order data with no ranges allowed), and a segment that
// starts past that ring is dropped without taking a ring at all (Linux's
// tcp_try_rmem_schedule failing; the peer retransmits).
func TestRecv_MemoryLimit_DataCutToTheRingTheBufferMayHave(t *testing.T) {
	m := NewMemory(0, 16<<10)
	heldSend(t, m, 1<<20, 16<<10) // the limit is reached
	newRecv := func(maxRanges int) *Recv {
		r := NewRecv(256<<10, maxRanges)
		r.SetMemory(m)
		return r
	}

	r := newRecv(4)
	wantInsert(t, r, minRing, pattern(100, 0), 0, false)
	if r.buf != nil || m.Used() != 16<<10 {
		t.Fatalf("a dropped segment took a %d-byte ring", len(r.buf))
	}
	wantInsert(t, r, 100, pattern(5000, 100), 0, true)
	wantRanges(t, r, [2]int{100, minRing})

	r = newRecv(1)
	wantInsert(t, r, 100, pattern(100, 100), 0, true)
	wantInsert(t, r, 150, pattern(5000, 150), 0, true)
	wantRanges(t, r, [2]int{100, minRing})
	wantInsert(t, r, 0, pattern(100, 0), minRing, true)
	if got := readAll(r); !bytes.Equal(got, pattern(minRing, 0)) {
		t.Fatal("the cut extension lost or moved bytes")
	}

	r = newRecv(0)
	wantInsert(t, r, 0, pattern(5000, 0), minRing, true)
}

// doc.go: "After the ring exists, no method allocates." That holds when the
// ring may not grow too: a write cut at the memory limit, or out-of-order
// data refused a larger ring under pressure, keeps the ring it has.
func TestMemory_RefusedGrowth_AllocatesNothing(t *testing.T) {
	m := NewMemory(0, 15<<10)
	heldSend(t, m, 1<<20, 8<<10)
	s := heldSend(t, m, 1<<20, minRing) // full; an 8 KiB ring would pass the limit
	p := make([]byte, 1000)
	n := 0
	if allocs := testing.AllocsPerRun(100, func() { n += s.Write(p) }); allocs != 0 || n != 0 {
		t.Fatalf("a write refused growth at the limit: %v allocations, %d bytes taken; want 0, 0", allocs, n)
	}

	m = NewMemory(1, 1<<20) // under pressure once anything is held
	r := NewRecv(1<<20, 4)
	r.SetMemory(m)
	r.Insert(0, make([]byte, 100))
	off, seg := minRing-100-150, make([]byte, 200) // its last 50 bytes past the ring
	if allocs := testing.AllocsPerRun(100, func() { r.Insert(off, seg) }); allocs != 0 {
		t.Fatalf("out-of-order data refused growth under pressure: %v allocations, want 0", allocs)
	}
	wantRanges(t, r, [2]int{off, minRing - 100})
}

// Without pressure an emptied ring is kept for the next data (so the steady
// state allocates nothing); only under pressure is it given back (Linux's
// sk_mem_reclaim).
func TestMemory_EmptiedRingsKeptUnlessUnderPressure(t *testing.T) {
	m := NewMemory(64<<10, 1<<20)
	s := heldSend(t, m, 1<<20, 100)
	r := NewRecv(1<<20, 4)
	r.SetMemory(m)
	r.Insert(0, make([]byte, 100))
	s.Ack(100)
	r.Read(make([]byte, 100))
	if len(s.buf) != minRing || len(r.buf) != minRing || m.Used() != 2*minRing {
		t.Fatalf("emptied without pressure: rings %d and %d, Used %d; want both kept", len(s.buf), len(r.buf), m.Used())
	}
}
