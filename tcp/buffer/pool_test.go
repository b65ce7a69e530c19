package buffer

import "testing"

// drainPool empties the process-wide free lists so a test sees only the
// rings it gives back itself (the package's tests do not run in parallel).
func drainPool(t *testing.T) {
	t.Helper()
	rings.mu.Lock()
	for i := range rings.free {
		rings.free[i] = nil
	}
	rings.bytes = 0
	rings.mu.Unlock()
}

// A ring given back (a buffer released, reset, or grown out of it) is the
// next one of its class handed out, to a send or a receive buffer alike;
// Pooled counts it while it waits.
func TestPool_ReleasedRingIsHandedOutAgain(t *testing.T) {
	drainPool(t)
	a := NewSend(1 << 20)
	a.Write(make([]byte, 5000)) // an 8 KiB ring
	ring8 := &a.buf[:1][0]
	a.Write(make([]byte, 5000)) // grows to 16 KiB: the 8 KiB ring goes back
	ring16 := &a.buf[:1][0]
	if Pooled() != 8<<10 {
		t.Fatalf("Pooled = %d after growing out of an 8 KiB ring, want 8192", Pooled())
	}
	b := NewSend(1 << 20)
	b.Write(make([]byte, 5000))
	if &b.buf[:1][0] != ring8 {
		t.Fatal("an 8 KiB ring was allocated while the pool held one")
	}
	if Pooled() != 0 {
		t.Fatalf("Pooled = %d after the kept ring was handed out, want 0", Pooled())
	}
	a.Ack(a.Len())
	a.Release()
	r := NewRecv(1<<20, 4)
	r.Insert(0, make([]byte, 10000)) // 16 KiB
	if &r.buf[:1][0] != ring16 {
		t.Fatal("the 16 KiB ring the send buffer released was not reused by a receive buffer")
	}
	r.Read(make([]byte, 10000))
	r.Release()
	b.Reset()
	if Pooled() != 8<<10+16<<10 {
		t.Fatalf("Pooled = %d after a Reset and a Release, want both rings (24 KiB)", Pooled())
	}
}

// The free lists are bounded: a class keeps at most maxPooledPerClass bytes
// and rings above maxPooledRing are left to the GC, so the pool never holds
// more than classes * maxPooledPerClass.
func TestPool_IsBounded(t *testing.T) {
	drainPool(t)
	for range 2 * maxPooledPerClass / minRing {
		rings.put(make([]byte, minRing))
	}
	rings.put(make([]byte, 2*maxPooledRing))
	rings.put(make([]byte, 6000)) // not a class
	if Pooled() != maxPooledPerClass {
		t.Fatalf("Pooled = %d, want one class's bound %d", Pooled(), maxPooledPerClass)
	}
	for size := minRing; size <= maxPooledRing; size *= 2 {
		for range 2 * maxPooledPerClass / size {
			rings.put(make([]byte, size))
		}
	}
	if want := ringClasses * maxPooledPerClass; Pooled() != want {
		t.Fatalf("Pooled = %d with every class full, want %d", Pooled(), want)
	}
	drainPool(t)
}

// Memory's Used is exact across growth through the classes, release and
// reuse from the pool: the bytes of the rings in use, nothing for the rings
// the pool keeps.
func TestMemory_ExactAcrossGrowthReleaseAndReuse(t *testing.T) {
	drainPool(t)
	m := NewMemory(0, 0)
	s := NewSend(256 << 10)
	s.SetMemory(m)
	for held := 0; held < 256<<10; held += 3000 {
		s.Write(make([]byte, 3000))
		if m.Used() != len(s.buf) {
			t.Fatalf("Used = %d with a %d-byte ring holding %d", m.Used(), len(s.buf), s.Len())
		}
	}
	if len(s.buf) != 256<<10 {
		t.Fatalf("ring %d bytes, want 256 KiB", len(s.buf))
	}
	s.Ack(s.Len())
	s.Release()
	if m.Used() != 0 {
		t.Fatalf("Used = %d after Release", m.Used())
	}
	s2 := NewSend(64 << 10)
	s2.SetMemory(m)
	s2.Write(make([]byte, 40000)) // a 64 KiB ring, from the pool
	if m.Used() != 64<<10 {
		t.Fatalf("Used = %d with a pooled 64 KiB ring in use, want 65536", m.Used())
	}
	s2.Reset()
	if m.Used() != 0 {
		t.Fatalf("Used = %d after Reset", m.Used())
	}
	drainPool(t)
}
