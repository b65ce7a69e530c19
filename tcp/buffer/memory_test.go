package buffer

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestMemory_AccountsEveryRingByte(t *testing.T) {
	m := NewMemory(0, 0)
	s, r := NewSend(64<<10), NewRecv(64<<10, 4)
	s.SetMemory(m)
	r.SetMemory(m)
	s.Write(make([]byte, 5000)) // 4 KiB → 8 KiB
	r.Insert(0, make([]byte, 100))
	r.Insert(20000, make([]byte, 100)) // out of order, far: 32 KiB
	if got, want := m.Used(), len(s.buf)+len(r.buf); got != want || want != 8<<10+32<<10 {
		t.Fatalf("Used = %d, rings %d+%d", got, len(s.buf), len(r.buf))
	}
	s.Ack(5000)
	s.Release()
	r.Read(make([]byte, 100))
	r.Insert(0, make([]byte, 20100)) // fills the hole
	r.Read(make([]byte, 1<<20))
	r.Release()
	if m.Used() != 0 {
		t.Fatalf("Used = %d after everything was released", m.Used())
	}
	s.Write(make([]byte, 10))
	s.Reset()
	if m.Used() != 0 {
		t.Fatalf("Used = %d after Reset", m.Used())
	}
}

func TestMemory_PressureStopsWindowGrowth_AndEndsWithHysteresis(t *testing.T) {
	m := NewMemory(64<<10, 1<<20)
	hog := NewRecv(256<<10, 4)
	hog.SetMemory(m)
	r := NewRecv(256<<10, 4)
	r.SetMemory(m)
	r.Insert(0, make([]byte, 1000))
	if r.Window() != 256<<10-1000 {
		t.Fatalf("window %d before pressure, want the whole buffer", r.Window())
	}
	hog.Insert(0, make([]byte, 40<<10)) // 64 KiB ring: pressure
	if !m.UnderPressure() || m.Stats().PressureEvents != 1 {
		t.Fatalf("not under pressure at %d bytes: %+v", m.Used(), m.Stats())
	}
	if r.Window() != minRing-1000 {
		t.Fatalf("window under pressure %d, want the ring's free part %d", r.Window(), minRing-1000)
	}
	// Data the peer was already offered is still accepted (the ring grows
	// below the limit), so the advertised right edge stays honest.
	if adv, _ := r.Insert(0, make([]byte, 10000)); adv != 10000 {
		t.Fatalf("in-order data within the capacity: advance %d, want 10000", adv)
	}
	// Pressure ends only below three quarters of the threshold.
	hog.Read(make([]byte, 40<<10)) // empties it: released under pressure
	if len(hog.buf) != 0 {
		t.Fatalf("an empty ring under pressure kept %d bytes", len(hog.buf))
	}
	if m.UnderPressure() {
		t.Fatalf("still under pressure at %d bytes", m.Used())
	}
	if r.Window() != 256<<10-11000 {
		t.Fatalf("window after pressure %d, want the whole buffer again", r.Window())
	}
}

func TestMemory_PressureDropsOutOfOrderDataThatNeedsAGrowth(t *testing.T) {
	m := NewMemory(1, 1<<20) // always under pressure once anything is held
	r := NewRecv(256<<10, 4)
	r.SetMemory(m)
	r.Insert(0, make([]byte, 100))
	if adv, stored := r.Insert(100+2000, make([]byte, 100)); adv != 0 || !stored {
		t.Fatalf("out-of-order data within the ring: stored %v", stored)
	}
	if _, stored := r.Insert(100+50000, make([]byte, 100)); stored {
		t.Fatal("out-of-order data needing a larger ring was stored under pressure")
	}
}

func TestMemory_LimitCutsInOrderDataAndWrites_MinimumRingAlwaysGranted(t *testing.T) {
	m := NewMemory(0, 16<<10)
	hog := NewSend(1 << 20)
	hog.SetMemory(m)
	if n := hog.Write(make([]byte, 12<<10)); n != 12<<10 {
		t.Fatalf("first writer got %d bytes, want all: the limit is not reached yet", n)
	}
	// The 16 KiB ring reaches the limit; every other buffer still gets its
	// minimum ring.
	if !m.Exhausted() {
		t.Fatalf("not exhausted at %d bytes", m.Used())
	}
	r := NewRecv(256<<10, 4)
	r.SetMemory(m)
	adv, _ := r.Insert(0, make([]byte, 10000))
	if adv != minRing {
		t.Fatalf("in-order data at the limit: advance %d, want the minimum ring %d", adv, minRing)
	}
	s := NewSend(256 << 10)
	s.SetMemory(m)
	if n := s.Write(make([]byte, 10000)); n != minRing {
		t.Fatalf("write at the limit took %d bytes, want the minimum ring %d", n, minRing)
	}
	if s.Free() != 0 {
		t.Fatalf("Free = %d with a full minimum ring at the limit", s.Free())
	}
	if room := len(hog.buf) - hog.Len(); hog.Write(make([]byte, 1<<20)) != room || len(hog.buf) != 16<<10 {
		t.Fatal("the first writer's ring grew past the limit")
	}
	hog.Ack(1000)
	if n := hog.Write(make([]byte, 1<<20)); n != 1000 {
		t.Fatalf("write after an ack took %d bytes, want the 1000 freed", n)
	}
	if m.Stats().SendLimited < 2 {
		t.Fatalf("SendLimited = %d, want the cut writes counted", m.Stats().SendLimited)
	}
	s.Ack(minRing) // under pressure: the empty ring is given back
	if len(s.buf) != 0 {
		t.Fatal("empty send ring kept under pressure")
	}
}

func TestMemory_NilAccountsNothingAndRefusesNothing(t *testing.T) {
	var m *Memory
	if m.UnderPressure() || m.Exhausted() || m.Used() != 0 || m.Stats() != (MemoryStats{}) {
		t.Fatal("a nil Memory reported something")
	}
	s := NewSend(1 << 20)
	s.SetMemory(nil)
	if s.Write(make([]byte, 1<<20)) != 1<<20 {
		t.Fatal("a nil Memory limited a write")
	}
}

// TestMemory_SharedByManyBuffers_BoundedAndLossless runs random writes,
// acks, inserts and reads on buffers sharing one small Memory: the total
// stays within the limit plus a minimum ring per buffer, the account
// matches the rings, and every byte comes out as it went in.
func TestMemory_SharedByManyBuffers_BoundedAndLossless(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		limit := 32<<10 + rng.IntN(64<<10)
		m := NewMemory(limit/2, limit)
		type pair struct {
			s        *Send
			r        *Recv
			sent     []byte // written to s, not yet acked
			wrote    int
			rcvd     int // stream offset of the next in-order byte of r
			readBack int
		}
		ps := make([]*pair, 6)
		for i := range ps {
			ps[i] = &pair{s: NewSend(64 << 10), r: NewRecv(64<<10, 8)}
			ps[i].s.SetMemory(m)
			ps[i].r.SetMemory(m)
		}
		streamByte := func(i int) byte { return byte(i*7 + i>>8) }
		for step := 0; step < 2000; step++ {
			p := ps[rng.IntN(len(ps))]
			switch rng.IntN(4) {
			case 0:
				b := make([]byte, rng.IntN(20<<10))
				for i := range b {
					b[i] = streamByte(p.wrote + i)
				}
				n := p.s.Write(b)
				p.sent = append(p.sent, b[:n]...)
				p.wrote += n
				a, c := p.s.Peek(0, p.s.Len())
				if !bytes.Equal(append(append([]byte{}, a...), c...), p.sent) {
					t.Fatalf("seed %d: send ring lost bytes", seed)
				}
			case 1:
				n := rng.IntN(p.s.Len() + 1)
				p.s.Ack(n)
				p.sent = p.sent[n:]
			case 2:
				off := rng.IntN(8 << 10)
				b := make([]byte, 1+rng.IntN(8<<10))
				for i := range b {
					b[i] = streamByte(p.rcvd + off + i)
				}
				adv, _ := p.r.Insert(off, b)
				p.rcvd += adv
			case 3:
				b := make([]byte, rng.IntN(30<<10))
				n := p.r.Read(b)
				for i := range n {
					if b[i] != streamByte(p.readBack+i) {
						t.Fatalf("seed %d: byte %d read wrong", seed, p.readBack+i)
					}
				}
				p.readBack += n
			}
			rings := 0
			for _, q := range ps {
				rings += len(q.s.buf) + len(q.r.buf)
			}
			if m.Used() != rings {
				t.Fatalf("seed %d step %d: Used %d, rings %d", seed, step, m.Used(), rings)
			}
			// A ring grows past the minimum only within the limit.
			if bound := limit + 2*len(ps)*minRing; m.Used() > bound {
				t.Fatalf("seed %d: Used %d beyond %d", seed, m.Used(), bound)
			}
		}
	}
}
