package buffer

// Recv is a ring of Cap() bytes. Readable() bytes at the front are in order,
// ready for the user. Beyond them, out-of-order data sits in the ring at its
// offset relative to the next expected byte (RCV.NXT), tracked as a bounded,
// sorted set of disjoint, non-adjacent ranges (DESIGN.md: "out-of-order
// segments kept (bounded)"). Bytes are stored once: when a segment overlaps
// data already held, the held bytes are kept.
//
// The zero value is a Recv of capacity 0; use NewRecv.
type Recv struct {
	buf       []byte   // the ring; nil until the first Insert stores a byte; holds everything up to the furthest range
	head      int      // index in buf of the first readable byte
	readable  int      // in-order bytes at head
	cap       int      // logical capacity
	ranges    [][2]int // out-of-order [start, end) from RCV.NXT; sorted, start > 0, gaps between
	ooo       int      // sum of the range lengths
	maxRanges int      // most ranges held
	maxOOO    int      // most out-of-order bytes held; 0: the window
	mem       *Memory
}

// NewRecv returns an empty receive buffer of the given capacity that holds at
// most maxRanges out-of-order ranges (e.g. 32; negative counts as 0, and 0
// keeps no out-of-order data at all). It allocates no ring yet.
func NewRecv(capacity int, maxRanges int) *Recv {
	return &Recv{cap: max(capacity, 0), maxRanges: max(maxRanges, 0)}
}

// Cap returns the capacity.
func (r *Recv) Cap() int { return r.cap }

// SetCap changes the capacity (negative counts as 0). The ring grows to it
// as data arrives (see minRing); shrinking below what is held keeps every
// held byte, in order or not, and only narrows Window().
func (r *Recv) SetCap(n int) { r.cap = max(n, 0) }

// SetMaxOutOfOrder bounds the out-of-order bytes held to n (0 or less: only
// by the window). A segment that would take them past it is not stored.
func (r *Recv) SetMaxOutOfOrder(n int) { r.maxOOO = max(n, 0) }

// uncovered counts the bytes of [off, end) outside ranges lo..hi-1.
func (r *Recv) uncovered(off, end, lo, hi int) int {
	n, cur := 0, off
	for _, g := range r.ranges[lo:hi] {
		if g[0] > cur {
			n += min(g[0], end) - cur
		}
		cur = max(cur, g[1])
	}
	return n + max(end-cur, 0)
}

// SetMemory makes the ring's bytes count against m (nil: against nothing).
// Call it before the first Insert.
func (r *Recv) SetMemory(m *Memory) { r.mem = m }

// grow reallocates the ring to size bytes. The old ring is copied starting
// at head, so out-of-order bytes keep their position relative to the
// readable ones.
func (r *Recv) grow(size int) {
	nb := rings.get(size)
	if r.buf != nil {
		copy(nb[copy(nb, r.buf[r.head:]):], r.buf[:r.head])
	}
	r.mem.account(len(r.buf), size)
	rings.put(r.buf)
	r.buf, r.head = nb, 0
}

// Release frees the ring if nothing is held, so an idle or finished
// connection costs no buffer memory; the next Insert allocates afresh.
func (r *Recv) Release() {
	if r.readable == 0 && len(r.ranges) == 0 {
		r.mem.account(len(r.buf), 0)
		rings.put(r.buf)
		r.buf, r.ranges, r.head = nil, nil, 0
	}
}

// Readable returns the in-order bytes waiting for Read.
func (r *Recv) Readable() int { return r.readable }

// Window returns how many bytes past RCV.NXT can still be accepted:
// Cap() - Readable(), never negative. Out-of-order bytes occupy part of this
// window but do not shrink it: they sit where in-order data will land.
//
// Under memory pressure (see Memory) the window is only the free part of the
// ring already allocated, at least minRing bytes of ring: windows stop
// growing, as Linux's tcp_clamp_window.
func (r *Recv) Window() int { return max(r.mem.ringCap(len(r.buf), r.cap)-r.readable, 0) }

// OutOfOrderBytes returns the bytes held beyond a hole.
func (r *Recv) OutOfOrderBytes() int { return r.ooo }

// Ranges appends the held out-of-order ranges to dst, as [start, end) offsets
// from RCV.NXT in increasing order (every start is > 0), and returns it.
func (r *Recv) Ranges(dst [][2]int) [][2]int { return append(dst, r.ranges...) }

// Insert stores p, whose first byte is at offset off from RCV.NXT. The TCB
// trims anything before RCV.NXT and beyond the window first; Insert still
// drops bytes before offset 0 and from Window() on.
//
// Bytes already held are left as they are. If p neither overlaps nor touches
// a held range and the range set is full, nothing is stored — unless off is
// 0, which is always accepted since it becomes in order at once and never
// adds a range.
//
// advance is how far RCV.NXT moves: p's in-order bytes plus every
// out-of-order range that p joined to them. Remaining ranges shift down by
// advance. stored reports whether any byte not held before was kept.
func (r *Recv) Insert(off int, p []byte) (advance int, stored bool) {
	if off < 0 {
		if -off >= len(p) {
			return 0, false
		}
		p, off = p[-off:], 0
	}
	// The TCB keeps data within the window it advertised, which memory
	// pressure may since have narrowed Window() below: accept up to the
	// capacity, as far as the ring can grow.
	win := max(r.cap-r.readable, 0)
	if off >= win || len(p) == 0 {
		return 0, false
	}
	end := min(off+len(p), win)

	// Ranges [lo, hi) are those p overlaps or touches; p merges with them.
	lo := 0
	for lo < len(r.ranges) && r.ranges[lo][1] < off {
		lo++
	}
	hi := lo
	for hi < len(r.ranges) && r.ranges[hi][0] <= end {
		hi++
	}
	if lo == hi && off != 0 && len(r.ranges) >= r.maxRanges {
		return 0, false // would be a new range and the set is full
	}
	if off != 0 && r.maxOOO > 0 && r.ooo+r.uncovered(off, end, lo, hi) > r.maxOOO {
		return 0, false // the out-of-order bytes held would pass their limit
	}
	if r.readable+end > len(r.buf) {
		size := ringSize(len(r.buf), r.readable+end, r.cap)
		if !r.mem.grant(len(r.buf), size, off > 0) {
			// Memory limit (or pressure, for out-of-order data): keep what
			// fits the ring we may have, drop the rest (Linux's
			// tcp_try_rmem_schedule failing); the peer retransmits it.
			size = max(len(r.buf), minRing)
			if end = min(end, max(len(r.buf), min(minRing, r.cap))-r.readable); end <= off {
				return 0, false
			}
			hi = lo
			for hi < len(r.ranges) && r.ranges[hi][0] <= end {
				hi++
			}
			if lo == hi && off != 0 && len(r.ranges) >= r.maxRanges {
				return 0, false
			}
		}
		if size > len(r.buf) {
			r.grow(size)
		}
	}
	if r.ranges == nil {
		r.ranges = make([][2]int, 0, r.maxRanges+1)
	}

	// Copy the gaps of [off, end) not covered by ranges lo..hi-1.
	cur := off
	for i := lo; i < hi && cur < end; i++ {
		if s := r.ranges[i][0]; s > cur {
			r.put(cur, p[cur-off:min(s, end)-off])
			stored = true
		}
		cur = max(cur, r.ranges[i][1])
	}
	if cur < end {
		r.put(cur, p[cur-off:end-off])
		stored = true
	}
	if !stored {
		return 0, false // a duplicate: every byte was already held
	}

	// Replace ranges lo..hi-1 with their union with [off, end).
	merged := [2]int{off, end}
	if lo < hi {
		merged[0] = min(off, r.ranges[lo][0])
		merged[1] = max(end, r.ranges[hi-1][1])
		for _, g := range r.ranges[lo:hi] {
			r.ooo -= g[1] - g[0]
		}
	}
	if merged[0] == 0 {
		// In order now: RCV.NXT moves past it and the rest shift down.
		advance = merged[1]
		r.readable += advance
		n := copy(r.ranges, r.ranges[hi:])
		r.ranges = r.ranges[:n]
		for i := range r.ranges {
			r.ranges[i][0] -= advance
			r.ranges[i][1] -= advance
		}
		return advance, true
	}
	r.ooo += merged[1] - merged[0]
	switch {
	case lo == hi: // a new range at lo
		r.ranges = r.ranges[:len(r.ranges)+1]
		copy(r.ranges[lo+1:], r.ranges[lo:])
	case hi > lo+1: // ranges lo+1..hi-1 are absorbed
		n := copy(r.ranges[lo+1:], r.ranges[hi:])
		r.ranges = r.ranges[:lo+1+n]
	}
	r.ranges[lo] = merged
	return 0, true
}

// put copies p into the ring at offset off from RCV.NXT.
func (r *Recv) put(off int, p []byte) {
	i := r.index(r.readable + off)
	c := copy(r.buf[i:], p)
	copy(r.buf, p[c:])
}

// index returns the ring index of the byte k bytes after head.
func (r *Recv) index(k int) int {
	i := r.head + k
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return i
}

// Read copies up to len(p) in-order bytes into p, consumes them and returns
// the count. The freed space widens Window().
func (r *Recv) Read(p []byte) int {
	n := r.Peek(p)
	r.Discard(n)
	return n
}

// Peek copies up to len(p) in-order bytes into p without consuming them
// (MSG_PEEK) and returns the count.
func (r *Recv) Peek(p []byte) int {
	n := min(len(p), r.readable)
	if n == 0 {
		return 0
	}
	c := copy(p[:n], r.buf[r.head:])
	copy(p[c:n], r.buf)
	return n
}

// Discard consumes up to n in-order bytes without copying them and returns
// the count.
func (r *Recv) Discard(n int) int {
	n = min(max(n, 0), r.readable)
	r.readable -= n
	if r.readable == 0 && len(r.ranges) == 0 {
		// Nothing held: restart at the front so later data does not wrap;
		// under memory pressure give the ring back (sk_mem_reclaim).
		r.head = 0
		if r.mem.UnderPressure() {
			r.Release()
		}
		return n
	}
	r.head = r.index(n)
	return n
}
