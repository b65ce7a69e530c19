package buffer

// Send holds bytes the user wrote: [0, Len()) relative to the oldest
// unacknowledged byte. The TCB maps offset 0 to SND.UNA (excluding SYN/FIN in
// sequence space). The prefix up to SND.NXT is the retransmission queue
// (DESIGN.md, "Buffers and limits"); the rest is waiting to be sent.
//
// The zero value is a Send of capacity 0; use NewSend.
type Send struct {
	buf  []byte // the ring; nil until the first Write stores a byte; len(buf) >= n
	head int    // index in buf of offset 0
	n    int    // bytes held
	cap  int    // logical capacity: the most bytes held
	mem  *Memory
}

// minRing is the first ring size. Rings start small and double as data
// needs room, up to the capacity, so a connection that carries a few
// hundred bytes costs a few KiB, not its whole buffer size (Linux grows its
// socket buffers the same way). Growing copies the held bytes once.
const minRing = 4 << 10

// ringSize returns the ring size to grow from cur to hold need bytes:
// doubling from minRing, never beyond the class of max(limit, need). Every
// ring is a power of two (a class of the pool, pool.go), so a capacity that
// is not one gets a ring of the class above it, at most twice as large.
func ringSize(cur, need, limit int) int {
	size := max(cur*2, minRing)
	for size < need {
		size *= 2
	}
	return min(size, ringClass(max(limit, need)))
}

// NewSend returns an empty send buffer that accepts up to capacity bytes
// (negative counts as 0). It allocates no ring yet.
func NewSend(capacity int) *Send {
	return &Send{cap: max(capacity, 0)}
}

// Cap returns the capacity: the most bytes Write lets the buffer hold.
func (s *Send) Cap() int { return s.cap }

// SetCap changes the capacity (negative counts as 0). The ring grows to it
// as data arrives; shrinking below Len() keeps every held byte and only
// makes Free() zero until enough is acknowledged.
func (s *Send) SetCap(n int) { s.cap = max(n, 0) }

// SetMemory makes the ring's bytes count against m (nil: against nothing).
// Call it before the first Write.
func (s *Send) SetMemory(m *Memory) { s.mem = m }

// grow replaces the ring by one of size bytes from the pool, keeping the
// held bytes, and gives the old one back.
func (s *Send) grow(size int) {
	nb := rings.get(size)
	a, b := s.Peek(0, s.n)
	copy(nb[copy(nb, a):], b)
	s.mem.account(len(s.buf), size)
	rings.put(s.buf)
	s.buf, s.head = nb, 0
}

// Release gives the ring back to the pool if nothing is held, so an idle or
// finished connection costs no buffer memory; the next Write takes one
// afresh.
func (s *Send) Release() {
	if s.n == 0 {
		s.mem.account(len(s.buf), 0)
		rings.put(s.buf)
		s.buf, s.head = nil, 0
	}
}

// Reset discards everything held and frees the ring: the connection is
// over and nothing will be sent again.
func (s *Send) Reset() {
	s.n = 0
	s.Release()
}

// Len returns the bytes held, unacknowledged and unsent together.
func (s *Send) Len() int { return s.n }

// Free returns how many more bytes Write accepts: Cap()-Len(), never
// negative; under memory pressure only what fits the ring already
// allocated (at least minRing bytes of it, see Memory).
func (s *Send) Free() int { return max(s.mem.ringCap(len(s.buf), s.cap)-s.n, 0) }

// Write copies min(len(p), Free()) bytes of p after the held data and returns
// that count. Fewer are copied when the ring cannot grow because the
// Memory's limit is reached; both that and pressure count in SendLimited.
func (s *Send) Write(p []byte) int {
	k := min(len(p), s.Free())
	if s.n+k > len(s.buf) {
		size := ringSize(len(s.buf), s.n+k, s.cap)
		if !s.mem.grant(len(s.buf), size, false) {
			size = max(len(s.buf), minRing) // k <= Cap()-Len() already
			k = max(min(k, size-s.n), 0)
		}
		if size > len(s.buf) {
			s.grow(size)
		}
	}
	if s.mem != nil && k < min(len(p), s.cap-s.n) {
		s.mem.stats.SendLimited++
	}
	if k == 0 {
		return 0
	}
	w := s.head + s.n
	if w >= len(s.buf) {
		w -= len(s.buf)
	}
	c := copy(s.buf[w:], p[:k])
	copy(s.buf, p[c:k])
	s.n += k
	return k
}

// Peek returns the bytes [off, off+n) as up to two slices (the ring may
// wrap): the range is a followed by b, and b is empty unless the range wraps.
// They alias the ring and stay valid until the next Write, Ack or SetCap; the
// caller must not modify them. n is clamped to what is held after off; an off
// outside [0, Len()) or n <= 0 gives two nil slices.
func (s *Send) Peek(off, n int) (a, b []byte) {
	if off < 0 || off >= s.n || n <= 0 {
		return nil, nil
	}
	n = min(n, s.n-off)
	i := s.head + off
	if i >= len(s.buf) {
		i -= len(s.buf)
	}
	if e := i + n; e <= len(s.buf) {
		return s.buf[i:e:e], nil
	}
	return s.buf[i:len(s.buf):len(s.buf)], s.buf[: n-(len(s.buf)-i) : n-(len(s.buf)-i)]
}

// Ack discards the first n bytes (the peer acknowledged them); n is clamped
// to [0, Len()].
func (s *Send) Ack(n int) {
	n = min(max(n, 0), s.n)
	s.n -= n
	if s.n == 0 {
		// Restart at the front so the next segments do not wrap; under
		// memory pressure give the ring back (Linux's sk_mem_reclaim).
		s.head = 0
		if s.mem.UnderPressure() {
			s.Release()
		}
		return
	}
	s.head += n
	if s.head >= len(s.buf) {
		s.head -= len(s.buf)
	}
}
