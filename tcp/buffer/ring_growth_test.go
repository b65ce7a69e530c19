package buffer

import "testing"

// Rings double as data needs room (doc.go, minRing): from minRing, then
// from the ring's own size, and a ring whose size is exactly what is needed
// is not doubled again. A ring grows only for bytes beyond its end: a
// segment or write that ends on its last byte leaves it as it is.
func TestRing_GrowsByDoublingOnlyForBytesBeyondIt(t *testing.T) {
	s := NewSend(1 << 20)
	s.Write(make([]byte, 8<<10))
	if len(s.buf) != 8<<10 {
		t.Fatalf("ring %d bytes for exactly 8 KiB held, want 8 KiB", len(s.buf))
	}

	s = NewSend(6000)
	s.Write(make([]byte, 6000)) // a capacity that is not a power of two: the class above it
	if len(s.buf) != 8<<10 {
		t.Fatalf("ring %d bytes at capacity 6000, want its class, 8 KiB", len(s.buf))
	}
	s.SetCap(1 << 20)
	s.Write(make([]byte, 8<<10-6000)) // ends on the ring's last byte
	if len(s.buf) != 8<<10 {
		t.Fatalf("ring %d bytes holding exactly 8 KiB, want 8 KiB", len(s.buf))
	}
	s.Write([]byte{1})
	if len(s.buf) != 16<<10 {
		t.Fatalf("ring %d bytes after growing from 8 KiB, want it doubled to 16 KiB", len(s.buf))
	}

	r := NewRecv(1<<20, 4)
	wantInsert(t, r, 0, pattern(100, 0), 100, true)
	wantInsert(t, r, 1000, pattern(minRing-1100, byte(1100%256)), 0, true) // ends on the ring's last byte
	wantInsert(t, r, 0, pattern(1000, 100), minRing-100, true)
	if len(r.buf) != minRing {
		t.Fatalf("ring %d bytes holding exactly %d, want %d", len(r.buf), minRing, minRing)
	}
}
