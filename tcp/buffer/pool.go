package buffer

import (
	"math/bits"
	"sync"
)

// Rings come in power-of-two size classes, from minRing up, and a ring that
// is given back (a buffer released, or replaced by a larger one as it grows)
// goes to a free list of its class for the next buffer that needs that size,
// so growing through several classes does not leave a garbage ring per step
// for the GC. The lists are bounded: at most maxPooledRing per ring and
// maxPooledPerClass per class are kept, the rest is left to the GC, so what
// the pool holds beyond the rings in use is at most
// classes(maxPooledRing) * maxPooledPerClass (Pooled reports it).
const (
	maxPooledRing     = 256 << 10
	maxPooledPerClass = 512 << 10
)

// ringClasses is how many classes have a free list: minRing .. maxPooledRing.
var ringClasses = bits.Len(uint(maxPooledRing / minRing))

// ringPool holds the free lists. One pool serves every stack in the
// process, so it has its own lock (buffers are otherwise used under their
// stack's).
type ringPool struct {
	mu    sync.Mutex
	free  [][][]byte // per class, the rings kept
	bytes int        // total bytes kept
}

var rings = &ringPool{free: make([][][]byte, ringClasses)}

// ringClass returns the class size for a ring of at least n bytes: the
// smallest power of two >= max(n, minRing).
func ringClass(n int) int {
	if n <= minRing {
		return minRing
	}
	return 1 << bits.Len(uint(n-1))
}

// class returns the free-list index of a class size, or -1 if it has none.
func class(size int) int {
	if size < minRing || size > maxPooledRing || size&(size-1) != 0 {
		return -1
	}
	return bits.Len(uint(size/minRing)) - 1
}

// get returns a ring of size bytes (a class size): a kept one if its list
// has one, else a new one. A kept ring holds old bytes; the buffers read only
// what they wrote.
func (p *ringPool) get(size int) []byte {
	if c := class(size); c >= 0 {
		p.mu.Lock()
		if l := p.free[c]; len(l) > 0 {
			b := l[len(l)-1]
			l[len(l)-1] = nil
			p.free[c] = l[:len(l)-1]
			p.bytes -= size
			p.mu.Unlock()
			return b
		}
		p.mu.Unlock()
	}
	return make([]byte, size)
}

// put gives a ring back: kept if its class has room, else left to the GC.
func (p *ringPool) put(b []byte) {
	c := class(len(b))
	if c < 0 || cap(b) != len(b) {
		return
	}
	p.mu.Lock()
	if (len(p.free[c])+1)*len(b) <= maxPooledPerClass {
		p.free[c] = append(p.free[c], b)
		p.bytes += len(b)
	}
	p.mu.Unlock()
}

// Pooled returns the bytes of the rings kept for reuse, process-wide: memory
// the buffers hold beyond Memory's Used.
func Pooled() int {
	rings.mu.Lock()
	defer rings.mu.Unlock()
	return rings.bytes
}
