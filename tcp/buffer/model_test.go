package buffer

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// A source drives a random operation sequence: from math/rand in the property
// tests, from the fuzzer's bytes in the fuzz targets.
type source interface {
	intn(n int) int // a value in [0, n), n > 0
	more() bool     // whether to run another operation
}

type randSource struct {
	r     *rand.Rand
	steps int
}

func (s *randSource) intn(n int) int { return s.r.IntN(n) }
func (s *randSource) more() bool     { s.steps--; return s.steps >= 0 }

type byteSource struct{ b []byte }

func (s *byteSource) intn(n int) int {
	v := 0
	for k := n; k > 1 && len(s.b) > 0; k >>= 8 {
		v = v<<8 | int(s.b[0])
		s.b = s.b[1:]
	}
	return v % n
}
func (s *byteSource) more() bool { return len(s.b) > 0 }

// sendModel is the obvious Send: a slice of the bytes held.
type sendModel struct {
	cap  int
	data []byte
}

// runSendOps applies random operations to a Send and to the model, checking
// that they agree after every one.
func runSendOps(t testing.TB, src source) {
	t.Helper()
	m := &sendModel{cap: modelCap(src)}
	s := NewSend(m.cap)
	var stamp byte
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("after ops %v: %s", log, fmt.Sprintf(format, args...))
	}
	for src.more() {
		switch op := src.intn(10); {
		case op < 4: // Write
			p := make([]byte, src.intn(m.cap+8))
			for i := range p {
				stamp++
				p[i] = stamp
			}
			log = append(log, fmt.Sprintf("Write(%d)", len(p)))
			want := min(len(p), max(m.cap-len(m.data), 0))
			if got := s.Write(p); got != want {
				fail("Write(%d bytes) = %d, want %d", len(p), got, want)
			}
			m.data = append(m.data, p[:want]...)
		case op < 7: // Ack
			n := src.intn(len(m.data)+4) - 2
			log = append(log, fmt.Sprintf("Ack(%d)", n))
			s.Ack(n)
			m.data = m.data[min(max(n, 0), len(m.data)):]
		case op < 9: // Peek
			off, n := src.intn(len(m.data)+4)-2, src.intn(len(m.data)+4)-2
			a, b := s.Peek(off, n)
			var want []byte
			if off >= 0 && off < len(m.data) && n > 0 {
				want = m.data[off:min(off+n, len(m.data))]
			}
			got := append(slices.Clip(a), b...)
			if !bytes.Equal(got, want) {
				fail("Peek(%d, %d) = %v+%v, want %v", off, n, a, b, want)
			}
			if len(a) == 0 && len(b) > 0 || cap(a) != len(a) || cap(b) != len(b) {
				fail("Peek(%d, %d) = %v (cap %d) + %v (cap %d): want b empty unless a is set, and capped slices", off, n, a, cap(a), b, cap(b))
			}
		default: // SetCap, mostly growing
			n := newCap(src, m.cap)
			log = append(log, fmt.Sprintf("SetCap(%d)", n))
			s.SetCap(n)
			m.cap = max(n, 0)
		}
		if s.Len() != len(m.data) || s.Cap() != m.cap || s.Free() != max(m.cap-len(m.data), 0) {
			fail("Len, Cap, Free = %d, %d, %d; want %d, %d, %d", s.Len(), s.Cap(), s.Free(), len(m.data), m.cap, max(m.cap-len(m.data), 0))
		}
	}
	if a, b := s.Peek(0, s.Len()); !bytes.Equal(append(slices.Clip(a), b...), m.data) {
		t.Fatalf("after ops %v: held %v+%v, want %v", log, a, b, m.data)
	}
}

// recvModel is the obvious Recv: the in-order bytes as a slice and the
// out-of-order ones as a map from offset (relative to RCV.NXT) to byte.
type recvModel struct {
	cap, maxRanges int
	inorder        []byte
	ooo            map[int]byte
	hi             int // no offset in ooo is >= hi
}

func (m *recvModel) window() int { return max(m.cap-len(m.inorder), 0) }

// ranges returns the runs of consecutive offsets in ooo.
func (m *recvModel) ranges() [][2]int {
	var rs [][2]int
	for o := 0; o < m.hi; o++ {
		if _, ok := m.ooo[o]; !ok {
			continue
		}
		if len(rs) > 0 && rs[len(rs)-1][1] == o {
			rs[len(rs)-1][1]++
		} else {
			rs = append(rs, [2]int{o, o + 1})
		}
	}
	return rs
}

func (m *recvModel) insert(off int, p []byte) (advance int, stored bool) {
	if off < 0 {
		if -off >= len(p) {
			return 0, false
		}
		p, off = p[-off:], 0
	}
	if off >= m.window() || len(p) == 0 {
		return 0, false
	}
	end := min(off+len(p), m.window())
	rs := m.ranges()
	joins := false
	for _, r := range rs {
		if r[1] >= off && r[0] <= end {
			joins = true
		}
	}
	if !joins && off != 0 && len(rs) >= m.maxRanges {
		return 0, false
	}
	m.hi = max(m.hi, end)
	for o := off; o < end; o++ {
		if _, ok := m.ooo[o]; !ok {
			m.ooo[o] = p[o-off]
			stored = true
		}
	}
	for {
		c, ok := m.ooo[advance]
		if !ok {
			break
		}
		m.inorder = append(m.inorder, c)
		advance++
	}
	if advance > 0 {
		shifted := make(map[int]byte)
		for o, c := range m.ooo {
			if o >= advance {
				shifted[o-advance] = c
			}
		}
		m.ooo = shifted
		m.hi -= advance
	}
	return advance, stored
}

// runRecvOps applies random operations to a Recv and to the model, checking
// that they agree after every one. Inserted bytes carry a running stamp, so
// overlapping inserts carry different bytes and the check sees which were
// kept.
func runRecvOps(t testing.TB, src source) {
	t.Helper()
	m := &recvModel{cap: modelCap(src), maxRanges: src.intn(6), ooo: map[int]byte{}}
	r := NewRecv(m.cap, m.maxRanges)
	var stamp byte
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("Recv(cap %d, maxRanges %d) after ops %v: %s", m.cap, m.maxRanges, log[max(len(log)-30, 0):], fmt.Sprintf(format, args...))
	}
	buf := make([]byte, 256)
	for src.more() {
		switch op := src.intn(16); {
		case op < 8: // Insert
			var off int
			if op > 1 { // a quarter of them at RCV.NXT
				off = src.intn(m.window()+8) - 3
			}
			p := make([]byte, src.intn(m.cap/2+8))
			for i := range p {
				stamp++
				p[i] = stamp
			}
			log = append(log, fmt.Sprintf("Insert(%d, %d)", off, len(p)))
			adv, stored := r.Insert(off, p)
			wadv, wstored := m.insert(off, p)
			if adv != wadv || stored != wstored {
				fail("Insert(%d, %d bytes) = %d, %v; want %d, %v", off, len(p), adv, stored, wadv, wstored)
			}
		case op < 11: // Read
			n := src.intn(m.cap + 4)
			log = append(log, fmt.Sprintf("Read(%d)", n))
			want := m.inorder[:min(n, len(m.inorder))]
			p := make([]byte, n)
			if n <= len(buf) {
				p = buf[:n:n]
			}
			if got := r.Read(p); !bytes.Equal(p[:got], want) {
				fail("Read(%d) = %v, want %v", n, p[:got], want)
			}
			m.inorder = m.inorder[len(want):]
		case op < 12: // Peek
			n := src.intn(m.cap + 4)
			p := make([]byte, n)
			want := m.inorder[:min(n, len(m.inorder))]
			if got := r.Peek(p); !bytes.Equal(p[:got], want) {
				fail("Peek(%d) = %v, want %v", n, p[:got], want)
			}
		case op < 14: // Discard
			n := src.intn(m.cap+4) - 2
			log = append(log, fmt.Sprintf("Discard(%d)", n))
			want := min(max(n, 0), len(m.inorder))
			if got := r.Discard(n); got != want {
				fail("Discard(%d) = %d, want %d", n, got, want)
			}
			m.inorder = m.inorder[want:]
		default: // SetCap, mostly growing
			n := newCap(src, m.cap)
			log = append(log, fmt.Sprintf("SetCap(%d)", n))
			r.SetCap(n)
			m.cap = max(n, 0)
		}
		checkRecv(t, r, m, fail)
	}
}

func checkRecv(t testing.TB, r *Recv, m *recvModel, fail func(string, ...any)) {
	t.Helper()
	if r.Cap() != m.cap || r.Readable() != len(m.inorder) || r.Window() != m.window() || r.OutOfOrderBytes() != len(m.ooo) {
		fail("Cap, Readable, Window, OutOfOrderBytes = %d, %d, %d, %d; want %d, %d, %d, %d",
			r.Cap(), r.Readable(), r.Window(), r.OutOfOrderBytes(), m.cap, len(m.inorder), m.window(), len(m.ooo))
	}
	if got, want := r.Ranges(nil), m.ranges(); !slices.Equal(got, want) {
		fail("Ranges = %v, want %v", got, want)
	}
	if len(r.ranges) > m.maxRanges {
		fail("%d ranges held, limit %d", len(r.ranges), m.maxRanges)
	}
	// The out-of-order bytes sit where the model says.
	for o, c := range m.ooo {
		if got := r.buf[r.index(r.readable+o)]; got != c {
			fail("out-of-order byte at %d = %d, want %d", o, got, c)
		}
	}
	p := make([]byte, len(m.inorder))
	if n := r.Peek(p); !bytes.Equal(p[:n], m.inorder) {
		fail("readable = %v, want %v", p[:n], m.inorder)
	}
}

// newCap picks a new capacity near c: mostly larger, sometimes smaller or
// negative, and never far beyond a few hundred bytes so that runs stay small.
// modelCap is a model's starting capacity: a few bytes, or (one time in two)
// a few bytes either side of minRing. Rings are never smaller than minRing
// (pool.go), so only the latter fill their ring and wrap.
func modelCap(src source) int {
	c := 1 + src.intn(64)
	if src.intn(2) == 0 {
		c += minRing - 32
	}
	return c
}

func newCap(src source, c int) int {
	if c > 400 {
		return c - src.intn(c/2+1)
	}
	return c + src.intn(c+16) - c/4 - 2
}

func TestSend_MatchesModel(t *testing.T) {
	for seed := range uint64(1000) {
		runSendOps(t, &randSource{r: rand.New(rand.NewPCG(seed, 1)), steps: 300})
	}
}

func TestRecv_MatchesModel(t *testing.T) {
	for seed := range uint64(1000) {
		runRecvOps(t, &randSource{r: rand.New(rand.NewPCG(seed, 2)), steps: 300})
	}
}

// FuzzRecv decodes an operation sequence from the input and checks Recv
// against the model after each operation.
func FuzzRecv(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{15, 3, 5, 4, 9, 6, 2, 2, 10, 0, 0, 12, 8})  // out of order, then the hole
	f.Add([]byte{7, 1, 3, 5, 2, 3, 9, 2, 3, 1, 2, 0, 0, 20}) // range limit 1
	f.Add([]byte{63, 5, 2, 30, 40, 10, 3, 8, 2, 7, 20, 15, 200, 0, 0, 60, 9, 50, 2, 10, 40})
	f.Add(bytes.Repeat([]byte{31, 4, 3, 17, 9, 0, 0, 5, 12, 60, 14, 8}, 8))
	f.Fuzz(func(t *testing.T, in []byte) {
		runRecvOps(t, &byteSource{b: in})
	})
}

// FuzzSend is FuzzRecv for Send.
func FuzzSend(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{15, 0, 9, 5, 4, 8, 2, 1, 3, 9, 7, 5, 0, 20, 8, 3, 6})
	f.Add(bytes.Repeat([]byte{40, 1, 30, 6, 12, 8, 3, 9, 9, 20}, 8))
	f.Fuzz(func(t *testing.T, in []byte) {
		runSendOps(t, &byteSource{b: in})
	})
}
