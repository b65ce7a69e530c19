package buffer

// Send holds bytes the user wrote: [0, Len()) relative to the oldest
// unacknowledged byte. The TCB maps offset 0 to SND.UNA (excluding SYN/FIN in
// sequence space). The prefix up to SND.NXT is the retransmission queue
// (DESIGN.md, "Buffers and limits"); the rest is waiting to be sent.
//
// The zero value is a Send of capacity 0; use NewSend.
type Send struct {
	buf  []byte // the ring; nil until the first Write stores a byte
	head int    // index in buf of offset 0
	n    int    // bytes held
	cap  int    // logical capacity; buf == nil || len(buf) >= cap
}

// NewSend returns an empty send buffer that accepts up to capacity bytes
// (negative counts as 0). It allocates no ring yet.
func NewSend(capacity int) *Send {
	return &Send{cap: max(capacity, 0)}
}

// Cap returns the capacity: the most bytes Write lets the buffer hold.
func (s *Send) Cap() int { return s.cap }

// SetCap changes the capacity (negative counts as 0). Growing beyond the
// current ring reallocates it; shrinking below Len() keeps every held byte and
// only makes Free() zero until enough is acknowledged.
func (s *Send) SetCap(n int) {
	n = max(n, 0)
	if s.buf != nil && n > len(s.buf) {
		nb := make([]byte, n)
		a, b := s.Peek(0, s.n)
		copy(nb[copy(nb, a):], b)
		s.buf, s.head = nb, 0
	}
	s.cap = n
}

// Len returns the bytes held, unacknowledged and unsent together.
func (s *Send) Len() int { return s.n }

// Free returns Cap()-Len(), never negative.
func (s *Send) Free() int { return max(s.cap-s.n, 0) }

// Write copies min(len(p), Free()) bytes of p after the held data and returns
// that count.
func (s *Send) Write(p []byte) int {
	k := min(len(p), s.Free())
	if k == 0 {
		return 0
	}
	if s.buf == nil {
		s.buf = make([]byte, s.cap)
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
		// Restart at the front so the next segments do not wrap.
		s.head = 0
		return
	}
	s.head += n
	if s.head >= len(s.buf) {
		s.head -= len(s.buf)
	}
}
