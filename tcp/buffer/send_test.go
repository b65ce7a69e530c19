package buffer

import (
	"bytes"
	"testing"
)

func pattern(n int, from byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = from + byte(i)
	}
	return p
}

func peekAll(s *Send, off, n int) []byte {
	a, b := s.Peek(off, n)
	return append(append([]byte(nil), a...), b...)
}

func TestSend_NoRingUntilFirstByte(t *testing.T) {
	s := NewSend(1 << 20)
	s.Write(nil)
	s.Ack(10)
	if a, b := s.Peek(0, 10); a != nil || b != nil {
		t.Fatalf("Peek on empty = %v, %v; want nil, nil", a, b)
	}
	s.SetCap(2 << 20)
	if s.buf != nil {
		t.Fatalf("ring allocated (%d bytes) before any byte was written", len(s.buf))
	}
	s.Write([]byte{1})
	if len(s.buf) != minRing {
		t.Fatalf("ring is %d bytes after a 1-byte write, want the minimum %d", len(s.buf), minRing)
	}
}

func TestSend_RingGrowsByDoublingToCapAndReleases(t *testing.T) {
	s := NewSend(100_000)
	s.Write(pattern(5000, 0))
	if len(s.buf) != 2*minRing {
		t.Fatalf("ring %d bytes for 5000 held, want %d", len(s.buf), 2*minRing)
	}
	s.Ack(4000) // the ring now wraps on the next write
	s.Write(pattern(95_000, byte(5000%256)))
	if len(s.buf) != 128<<10 {
		t.Fatalf("ring %d bytes at capacity 100000, want its class, 128 KiB", len(s.buf))
	}
	a, b := s.Peek(0, s.Len())
	if got := append(append([]byte{}, a...), b...); !bytes.Equal(got, pattern(96_000, byte(4000%256))) {
		t.Fatal("growing lost or reordered bytes")
	}
	s.Release()
	if s.buf == nil {
		t.Fatal("Release freed a ring that holds data")
	}
	s.Ack(s.Len())
	s.Release()
	if s.buf != nil {
		t.Fatal("Release kept an empty ring")
	}
	s.Write([]byte{9})
	s.Reset()
	if s.buf != nil || s.Len() != 0 {
		t.Fatal("Reset kept data")
	}
}

func TestSend_WriteStopsAtCap(t *testing.T) {
	s := NewSend(10)
	if n := s.Write(pattern(7, 0)); n != 7 {
		t.Fatalf("Write(7) = %d, want 7", n)
	}
	if n := s.Write(pattern(7, 7)); n != 3 {
		t.Fatalf("Write(7) into 3 free = %d, want 3", n)
	}
	if s.Len() != 10 || s.Free() != 0 {
		t.Fatalf("Len, Free = %d, %d; want 10, 0", s.Len(), s.Free())
	}
	if n := s.Write([]byte{1}); n != 0 {
		t.Fatalf("Write into a full buffer = %d, want 0", n)
	}
	if got := peekAll(s, 0, 100); !bytes.Equal(got, pattern(10, 0)) {
		t.Fatalf("held %v, want %v", got, pattern(10, 0))
	}
}

func TestSend_PeekWraps(t *testing.T) {
	s := NewSend(minRing)
	s.Write(pattern(minRing, 0))
	s.Ack(minRing - 3)     // head at index minRing-3, holding 253,254,255
	s.Write(pattern(4, 0)) // 0..3 land at indexes 0..3
	a, b := s.Peek(1, 5)
	if !bytes.Equal(a, []byte{254, 255}) || !bytes.Equal(b, []byte{0, 1, 2}) {
		t.Fatalf("Peek(1, 5) = %v, %v; want [254 255], [0 1 2]", a, b)
	}
	a, b = s.Peek(3, 100) // entirely after the wrap
	if !bytes.Equal(a, []byte{0, 1, 2, 3}) || b != nil {
		t.Fatalf("Peek(3, 100) = %v, %v; want [0 1 2 3], nil", a, b)
	}
	if a, b := s.Peek(s.Len(), 1); a != nil || b != nil {
		t.Fatalf("Peek(Len(), 1) = %v, %v; want nil, nil", a, b)
	}
}

// Peek's b is only for a range that wraps (nil otherwise, also for a range
// that ends on the ring's last byte), and an empty range is two nil slices.
func TestSend_PeekSecondSliceOnlyWhenWrapping_NilWhenEmpty(t *testing.T) {
	s := NewSend(8)
	s.Write(pattern(8, 0)) // an 8-byte ring, full
	if a, b := s.Peek(2, 6); !bytes.Equal(a, pattern(6, 2)) || b != nil {
		t.Fatalf("Peek(2, 6) = %v, %v; want %v, nil", a, b, pattern(6, 2))
	}
	for _, n := range []int{0, -1} {
		if a, b := s.Peek(2, n); a != nil || b != nil {
			t.Fatalf("Peek(2, %d) = %v, %v; want nil, nil", n, a, b)
		}
	}
}

func TestSend_AckClamps(t *testing.T) {
	s := NewSend(8)
	s.Write(pattern(6, 0))
	s.Ack(-1)
	if s.Len() != 6 {
		t.Fatalf("Len after Ack(-1) = %d, want 6", s.Len())
	}
	s.Ack(100)
	if s.Len() != 0 || s.Free() != 8 {
		t.Fatalf("Len, Free after Ack(100) = %d, %d; want 0, 8", s.Len(), s.Free())
	}
}

func TestSend_SetCapGrowKeepsWrappedData(t *testing.T) {
	s := NewSend(minRing)
	s.Write(pattern(minRing, 0))
	s.Ack(minRing - 2)
	s.Write(pattern(5, 0)) // wrapped: 254,255 | 0..4
	s.SetCap(minRing + 20)
	if got, want := peekAll(s, 0, 100), pattern(7, 254); !bytes.Equal(got, want) {
		t.Fatalf("held after SetCap %v, want %v", got, want)
	}
	if n := s.Write(pattern(minRing+20, 5)); n != minRing+13 {
		t.Fatalf("Write after SetCap = %d, want %d", n, minRing+13)
	}
	if len(s.buf) != 2*minRing {
		t.Fatalf("ring %d bytes, want it grown to %d", len(s.buf), 2*minRing)
	}
	if got, want := peekAll(s, 0, minRing+100), pattern(minRing+20, 254); !bytes.Equal(got, want) {
		t.Fatal("growing a wrapped ring lost or reordered bytes")
	}
}

func TestSend_SetCapShrinkKeepsData(t *testing.T) {
	s := NewSend(10)
	s.Write(pattern(10, 0))
	s.SetCap(4)
	if s.Len() != 10 || s.Free() != 0 || s.Cap() != 4 {
		t.Fatalf("Len, Free, Cap = %d, %d, %d; want 10, 0, 4", s.Len(), s.Free(), s.Cap())
	}
	if n := s.Write([]byte{1}); n != 0 {
		t.Fatalf("Write over a shrunk cap = %d, want 0", n)
	}
	s.Ack(8)
	if s.Free() != 2 {
		t.Fatalf("Free after acking down to 2 = %d, want 2", s.Free())
	}
	if got := peekAll(s, 0, 10); !bytes.Equal(got, []byte{8, 9}) {
		t.Fatalf("held %v, want [8 9]", got)
	}
}

func TestSend_SteadyStateAllocatesNothing(t *testing.T) {
	s := NewSend(64 << 10) // not a multiple of 1448, so segments wrap
	seg := make([]byte, 1448)
	for range 20 {
		s.Write(seg)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		s.Write(seg)
		a, b := s.Peek(s.Len()-1448, 1448)
		if len(a)+len(b) != 1448 {
			panic("short peek")
		}
		s.Ack(1448)
	})
	if allocs != 0 {
		t.Fatalf("Write+Peek+Ack allocates %v times per run, want 0", allocs)
	}
}

func BenchmarkSend_WritePeekAck1448(b *testing.B) {
	s := NewSend(256 << 10)
	seg, out := make([]byte, 1448), make([]byte, 1448)
	for range 40 { // keep data in flight, as a sender would
		s.Write(seg)
	}
	b.SetBytes(1448)
	b.ReportAllocs()
	for b.Loop() {
		s.Write(seg)
		x, y := s.Peek(s.Len()-1448, 1448)
		copy(out[copy(out, x):], y) // what the segment builder does
		s.Ack(1448)
	}
}
