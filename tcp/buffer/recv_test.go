package buffer

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

func readAll(r *Recv) []byte {
	p := make([]byte, r.Readable())
	return p[:r.Read(p)]
}

func wantInsert(t *testing.T, r *Recv, off int, p []byte, advance int, stored bool) {
	t.Helper()
	if a, s := r.Insert(off, p); a != advance || s != stored {
		t.Fatalf("Insert(%d, %d bytes) = %d, %v; want %d, %v", off, len(p), a, s, advance, stored)
	}
}

func wantRanges(t *testing.T, r *Recv, want ...[2]int) {
	t.Helper()
	if got := r.Ranges(nil); !slices.Equal(got, want) {
		t.Fatalf("Ranges = %v, want %v", got, want)
	}
}

func TestRecv_NoRingUntilFirstByte(t *testing.T) {
	r := NewRecv(1<<20, 32)
	r.Insert(1<<20, []byte{1}) // beyond the window
	r.Insert(0, nil)
	wantInsert(t, r, 100, nil, 0, false) // an empty segment out of order
	if r.Read(make([]byte, 10)) != 0 || r.Peek(make([]byte, 10)) != 0 || r.Discard(10) != 0 {
		t.Fatal("an empty Recv returned data")
	}
	if r.buf != nil {
		t.Fatalf("ring allocated (%d bytes) before any byte was stored", len(r.buf))
	}
}

func TestRecv_InOrder(t *testing.T) {
	r := NewRecv(10, 4)
	wantInsert(t, r, 0, pattern(4, 0), 4, true)
	wantInsert(t, r, 0, pattern(4, 4), 4, true)
	if r.Readable() != 8 || r.Window() != 2 {
		t.Fatalf("Readable, Window = %d, %d; want 8, 2", r.Readable(), r.Window())
	}
	if got := readAll(r); !bytes.Equal(got, pattern(8, 0)) {
		t.Fatalf("Read %v, want %v", got, pattern(8, 0))
	}
	if r.Window() != 10 {
		t.Fatalf("Window after Read = %d, want 10", r.Window())
	}
}

func TestRecv_OutOfOrderThenHole_AdvanceCoversBoth(t *testing.T) {
	r := NewRecv(100, 4)
	wantInsert(t, r, 10, pattern(5, 10), 0, true)
	wantInsert(t, r, 20, pattern(5, 20), 0, true)
	wantRanges(t, r, [2]int{10, 15}, [2]int{20, 25})
	if r.OutOfOrderBytes() != 10 || r.Readable() != 0 || r.Window() != 100 {
		t.Fatalf("OutOfOrderBytes, Readable, Window = %d, %d, %d; want 10, 0, 100", r.OutOfOrderBytes(), r.Readable(), r.Window())
	}
	wantInsert(t, r, 0, pattern(10, 0), 15, true) // fills the first hole
	wantRanges(t, r, [2]int{5, 10})               // [20,25) shifted down by 15
	wantInsert(t, r, 0, pattern(5, 15), 10, true)
	wantRanges(t, r)
	if got := readAll(r); !bytes.Equal(got, pattern(25, 0)) {
		t.Fatalf("Read %v, want %v", got, pattern(25, 0))
	}
	if r.OutOfOrderBytes() != 0 {
		t.Fatalf("OutOfOrderBytes = %d, want 0", r.OutOfOrderBytes())
	}
}

func TestRecv_OverlapKeepsHeldBytes(t *testing.T) {
	r := NewRecv(100, 4)
	wantInsert(t, r, 5, bytes.Repeat([]byte{'a'}, 5), 0, true)  // [5,10)
	wantInsert(t, r, 15, bytes.Repeat([]byte{'b'}, 5), 0, true) // [15,20)
	wantInsert(t, r, 7, bytes.Repeat([]byte{'c'}, 15), 0, true) // spans both: [5,22)
	wantRanges(t, r, [2]int{5, 22})
	wantInsert(t, r, 5, bytes.Repeat([]byte{'d'}, 17), 0, false) // exact duplicate
	wantInsert(t, r, 9, bytes.Repeat([]byte{'d'}, 3), 0, false)  // inside
	wantInsert(t, r, 0, bytes.Repeat([]byte{'e'}, 7), 22, true)
	want := []byte("eeeeeaaaaacccccbbbbbcc")
	if got := readAll(r); !bytes.Equal(got, want) {
		t.Fatalf("Read %q, want %q", got, want)
	}
}

func TestRecv_AdjacentRangesMerge(t *testing.T) {
	r := NewRecv(100, 1)
	wantInsert(t, r, 10, pattern(5, 10), 0, true)
	wantInsert(t, r, 15, pattern(5, 15), 0, true) // touches: joins the one range
	wantInsert(t, r, 5, pattern(5, 5), 0, true)
	wantRanges(t, r, [2]int{5, 20})
}

func TestRecv_RangeLimit_RefusesNewRange_AcceptsOffZero(t *testing.T) {
	r := NewRecv(100, 2)
	wantInsert(t, r, 10, pattern(2, 10), 0, true)
	wantInsert(t, r, 20, pattern(2, 20), 0, true)
	wantInsert(t, r, 30, pattern(2, 30), 0, false) // a third range: refused
	wantInsert(t, r, 5, pattern(2, 5), 0, false)
	wantRanges(t, r, [2]int{10, 12}, [2]int{20, 22})
	wantInsert(t, r, 12, pattern(3, 12), 0, true) // extends a range: fine
	wantInsert(t, r, 18, pattern(10, 18), 0, true)
	wantRanges(t, r, [2]int{10, 15}, [2]int{18, 28})
	wantInsert(t, r, 0, pattern(3, 0), 3, true) // disjoint, but in order
	wantRanges(t, r, [2]int{7, 12}, [2]int{15, 25})
	if r.OutOfOrderBytes() != 15 {
		t.Fatalf("OutOfOrderBytes = %d, want 15", r.OutOfOrderBytes())
	}
}

func TestRecv_NoRangesAllowed_InOrderStillWorks(t *testing.T) {
	r := NewRecv(10, 0)
	wantInsert(t, r, 1, []byte{1}, 0, false)
	wantInsert(t, r, 0, []byte{0, 1}, 2, true)
}

func TestRecv_ClampsToWindow(t *testing.T) {
	r := NewRecv(10, 4)
	wantInsert(t, r, 0, pattern(6, 0), 6, true)
	// Window is 4: offsets [0, 4).
	wantInsert(t, r, 4, []byte{9}, 0, false)
	wantInsert(t, r, 2, pattern(5, 8), 0, true) // only [2, 4) kept
	wantRanges(t, r, [2]int{2, 4})
	wantInsert(t, r, 0, pattern(10, 6), 4, true)
	if r.Readable() != 10 || r.Window() != 0 {
		t.Fatalf("Readable, Window = %d, %d; want 10, 0", r.Readable(), r.Window())
	}
	wantInsert(t, r, 0, []byte{1}, 0, false) // zero window
	if got, want := readAll(r), append(pattern(8, 0), 8, 9); !bytes.Equal(got, want) {
		t.Fatalf("Read %v, want %v", got, want)
	}
}

func TestRecv_NegativeOffsetTrimmed(t *testing.T) {
	r := NewRecv(10, 4)
	wantInsert(t, r, -2, []byte{7, 7, 0, 1}, 2, true)
	wantInsert(t, r, -2, []byte{7, 7}, 0, false)
	if got := readAll(r); !bytes.Equal(got, []byte{0, 1}) {
		t.Fatalf("Read %v, want [0 1]", got)
	}
}

func TestRecv_PeekAndDiscard(t *testing.T) {
	r := NewRecv(8, 4)
	r.Insert(0, pattern(6, 0))
	p := make([]byte, 4)
	if n := r.Peek(p); n != 4 || !bytes.Equal(p, pattern(4, 0)) || r.Readable() != 6 {
		t.Fatalf("Peek = %d %v, Readable %d; want 4 %v, 6", n, p, r.Readable(), pattern(4, 0))
	}
	if n := r.Discard(5); n != 5 || r.Readable() != 1 {
		t.Fatalf("Discard(5) = %d, Readable %d; want 5, 1", n, r.Readable())
	}
	if n := r.Discard(5); n != 1 {
		t.Fatalf("Discard(5) with 1 readable = %d, want 1", n)
	}
}

func TestRecv_SetCapGrowKeepsWrappedOutOfOrderData(t *testing.T) {
	r := NewRecv(8, 4)
	r.Insert(0, pattern(6, 0))
	r.Discard(5)               // head at index 5, readable [5]
	r.Insert(3, pattern(3, 9)) // offsets 3..5 = stream 9..11, wraps in the ring
	r.SetCap(20)
	wantRanges(t, r, [2]int{3, 6})
	wantInsert(t, r, 0, pattern(10, 6), 10, true)
	if got, want := readAll(r), pattern(11, 5); !bytes.Equal(got, want) {
		t.Fatalf("Read %v, want %v", got, want)
	}
}

func TestRecv_SetCapShrinkKeepsData(t *testing.T) {
	r := NewRecv(10, 4)
	r.Insert(0, pattern(4, 0))
	r.Insert(2, pattern(4, 6)) // offsets [2, 6): stream 6..9
	r.SetCap(3)
	if r.Window() != 0 || r.Readable() != 4 || r.OutOfOrderBytes() != 4 {
		t.Fatalf("Window, Readable, OutOfOrderBytes = %d, %d, %d; want 0, 4, 4", r.Window(), r.Readable(), r.OutOfOrderBytes())
	}
	wantInsert(t, r, 0, []byte{1}, 0, false)
	r.Discard(4)                                // Window is now 3: offsets [0, 3)
	wantInsert(t, r, 0, pattern(6, 4), 6, true) // [0, 2) new, joins [2, 6) that lies past the window
	if got, want := readAll(r), pattern(6, 4); !bytes.Equal(got, want) {
		t.Fatalf("Read %v, want %v", got, want)
	}
}

// A TCP-like sender: a stream cut into segments of varying size, delivered out
// of order, duplicated and resegmented, with the receiver reading at its own
// pace. What the user reads must be the stream.
func TestRecv_ReorderedStreamReadsBack(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 3))
		stream := make([]byte, 20000+rng.IntN(20000))
		for i := range stream {
			stream[i] = byte(rng.Uint32())
		}
		capacity := 500 + rng.IntN(5000)
		r := NewRecv(capacity, 1+rng.IntN(8))
		var got []byte
		rcvNxt := 0
		buf := make([]byte, 3000)
		for len(got) < len(stream) {
			// A segment somewhere in [rcvNxt-mss, rcvNxt+window+mss).
			mss := 1 + rng.IntN(1460)
			start := rcvNxt - mss + rng.IntN(r.Window()+2*mss)
			if rng.IntN(8) == 0 {
				start = rcvNxt // the retransmission that fills the hole
			}
			start = min(max(start, 0), len(stream))
			end := min(start+mss, len(stream))
			// The TCB trims to [RCV.NXT, RCV.NXT+RCV.WND).
			s, e := max(start, rcvNxt), min(end, rcvNxt+r.Window())
			if s < e {
				adv, _ := r.Insert(s-rcvNxt, stream[s:e])
				rcvNxt += adv
			}
			if rng.IntN(3) == 0 {
				got = append(got, buf[:r.Read(buf[:rng.IntN(len(buf))])]...)
			}
			if rng.IntN(200) == 0 {
				r.SetCap(r.Cap() + rng.IntN(2000))
			}
		}
		if !bytes.Equal(got, stream) {
			t.Fatalf("seed %d: read back %d bytes that differ from the %d-byte stream", seed, len(got), len(stream))
		}
	}
}

func TestRecv_SteadyStateAllocatesNothing(t *testing.T) {
	r := NewRecv(64<<10, 32)
	seg, out := make([]byte, 1448), make([]byte, 8192)
	r.Insert(0, seg) // the ring exists from here on
	r.Read(out)
	allocs := testing.AllocsPerRun(1000, func() {
		// Offsets are relative to RCV.NXT, which moves with each advance.
		r.Insert(0, seg)                // in order
		r.Insert(1448, seg)             // out of order: [1448, 2896)
		r.Insert(2*1448+100, seg[:100]) // another range: [2996, 3096)
		r.Insert(0, seg)                // fills the hole; [100, 200) is left
		r.Insert(0, seg[:100])          // joins it
		r.Insert(500, seg[:100])        // out of order
		r.Insert(500, seg[:100])        // a duplicate
		r.Insert(0, seg[:600])          // overlaps it
		r.Read(out)
	})
	if allocs != 0 {
		t.Fatalf("Insert+Read allocates %v times per run, want 0", allocs)
	}
	if r.Readable() != 0 || r.OutOfOrderBytes() != 0 {
		t.Fatalf("test drift: Readable %d, OutOfOrderBytes %d", r.Readable(), r.OutOfOrderBytes())
	}
}

func BenchmarkRecv_InsertRead1448(b *testing.B) {
	r := NewRecv(256<<10, 32)
	seg, out := make([]byte, 1448), make([]byte, 1448)
	b.SetBytes(1448)
	b.ReportAllocs()
	for b.Loop() {
		r.Insert(0, seg)
		r.Read(out)
	}
}

// Segments arrive in swapped pairs: every other one is out of order and the
// next fills the hole, with a window of data waiting to be read.
func BenchmarkRecv_InsertReadReordered1448(b *testing.B) {
	r := NewRecv(256<<10, 32)
	seg, out := make([]byte, 1448), make([]byte, 2*1448)
	for range 40 {
		r.Insert(0, seg)
	}
	b.SetBytes(2 * 1448)
	b.ReportAllocs()
	for b.Loop() {
		r.Insert(1448, seg)
		r.Insert(0, seg)
		r.Read(out)
	}
}

func TestRecv_RingGrowsForFarOutOfOrderDataAndReleases(t *testing.T) {
	r := NewRecv(1<<20, 32)
	wantInsert(t, r, 0, pattern(100, 0), 100, true)
	if len(r.buf) != minRing {
		t.Fatalf("ring %d bytes for 100 held, want the minimum %d", len(r.buf), minRing)
	}
	// Out-of-order data far ahead: the ring grows to span it, and the
	// in-order bytes and the range keep their places.
	wantInsert(t, r, 50_000, pattern(10, byte(50_100%256)), 0, true)
	if len(r.buf) < 100+50_010 || len(r.buf) > 1<<20 {
		t.Fatalf("ring %d bytes after data at offset 50000", len(r.buf))
	}
	wantInsert(t, r, 0, pattern(50_000, 100), 50_010, true)
	if got := readAll(r); !bytes.Equal(got, pattern(50_110, 0)) {
		t.Fatal("growing with out-of-order data lost or moved bytes")
	}
	r.Release()
	if r.buf != nil {
		t.Fatal("Release kept an empty ring")
	}
	wantInsert(t, r, 0, pattern(3, 0), 3, true)
	r.Release()
	if r.buf == nil {
		t.Fatal("Release freed a ring that holds data")
	}
	r.Read(make([]byte, 3))
	wantInsert(t, r, 2, pattern(2, 5), 0, true) // only out-of-order data held
	r.Release()
	if r.buf == nil {
		t.Fatal("Release freed a ring that holds out-of-order data")
	}
	wantInsert(t, r, 0, pattern(2, 3), 4, true)
	if got := readAll(r); !bytes.Equal(got, pattern(4, 3)) {
		t.Fatalf("Read %v after Release, want %v", got, pattern(4, 3))
	}
}

func TestRecv_MaxOutOfOrder_RefusesBytesBeyondTheLimit(t *testing.T) {
	r := NewRecv(64<<10, 8)
	r.SetMaxOutOfOrder(3000)
	wantInsert(t, r, 1000, make([]byte, 2000), 0, true)
	wantInsert(t, r, 5000, make([]byte, 1001), 0, false) // 3001 held
	wantInsert(t, r, 5000, make([]byte, 1000), 0, true)  // exactly 3000
	// Overlapping held data adds only its new bytes: none here.
	wantInsert(t, r, 1500, make([]byte, 1000), 0, false)
	if r.OutOfOrderBytes() != 3000 {
		t.Fatalf("out-of-order bytes %d, want 3000", r.OutOfOrderBytes())
	}
	// In-order data is never limited by it, and joins the held ranges.
	wantInsert(t, r, 0, make([]byte, 1000), 3000, true)
	if r.OutOfOrderBytes() != 1000 {
		t.Fatalf("out-of-order bytes %d after the hole filled, want 1000", r.OutOfOrderBytes())
	}
}

// The out-of-order limit counts each byte once: a segment overlapping held
// ranges adds only the bytes in its gaps, before, between and after them,
// whether it starts before a range or inside one.
func TestRecv_MaxOutOfOrder_CountsOnlyBytesNotAlreadyHeld(t *testing.T) {
	r := NewRecv(64<<10, 8)
	r.SetMaxOutOfOrder(3000)
	wantInsert(t, r, 1000, make([]byte, 1000), 0, true)  // [1000, 2000)
	wantInsert(t, r, 500, make([]byte, 3001), 0, false)  // 500 before, 1501 after: 3001 held
	wantInsert(t, r, 1500, make([]byte, 2501), 0, false) // from inside: 2001 after, 3001 held
	wantInsert(t, r, 500, make([]byte, 3000), 0, true)   // 500 + 1500 new: exactly 3000
	wantRanges(t, r, [2]int{500, 3500})
	if r.OutOfOrderBytes() != 3000 {
		t.Fatalf("out-of-order bytes %d, want 3000", r.OutOfOrderBytes())
	}
}
