// Package seqnum is TCP sequence-number arithmetic (RFC 9293 §3.4): 32-bit
// values compared modulo 2^32. A Value is never compared with < or >; use
// the methods, which are correct across wraparound as long as the two values
// are less than 2^31 apart (RFC 1982 serial number arithmetic).
package seqnum

// Value is a sequence number.
type Value uint32

// Size is a length in sequence space (bytes, plus one each for SYN and FIN).
type Size uint32

// LessThan reports whether v comes before w.
func (v Value) LessThan(w Value) bool { return int32(v-w) < 0 }

// LessThanEq reports whether v comes before w or equals it.
func (v Value) LessThanEq(w Value) bool { return int32(v-w) <= 0 }

// GreaterThan reports whether v comes after w.
func (v Value) GreaterThan(w Value) bool { return int32(v-w) > 0 }

// GreaterThanEq reports whether v comes after w or equals it.
func (v Value) GreaterThanEq(w Value) bool { return int32(v-w) >= 0 }

// InRange reports whether first <= v < end.
func (v Value) InRange(first, end Value) bool {
	return first.LessThanEq(v) && v.LessThan(end)
}

// InWindow reports whether v lies in the window of size bytes starting at
// first: first <= v < first+size.
func (v Value) InWindow(first Value, size Size) bool {
	return v.InRange(first, first.Add(size))
}

// Add returns v advanced by s.
func (v Value) Add(s Size) Value { return v + Value(s) }

// Sub returns v moved back by s.
func (v Value) Sub(s Size) Value { return v - Value(s) }

// Size returns the distance from v forward to w; w must not come before v.
func (v Value) Size(w Value) Size { return Size(w - v) }

// Max returns the later of v and w.
func Max(v, w Value) Value {
	if v.LessThan(w) {
		return w
	}
	return v
}

// Min returns the earlier of v and w.
func Min(v, w Value) Value {
	if v.LessThan(w) {
		return v
	}
	return w
}

// Overlap reports whether [a, a+an) and [b, b+bn) share a sequence number.
func Overlap(a Value, an Size, b Value, bn Size) bool {
	return an > 0 && bn > 0 && a.LessThan(b.Add(bn)) && b.LessThan(a.Add(an))
}
