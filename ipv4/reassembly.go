package ipv4

import (
	"time"

	"github.com/tapstack/tapstack/internal/bitmap"
	"github.com/tapstack/tapstack/internal/deadlines"
)

// Reassembly defaults.
const (
	// DefaultReassemblyTimeout is how long a datagram may wait for its
	// missing fragments, counted from its first fragment's arrival.
	// RFC 1122 §3.3.2 recommends 60 to 120 seconds.
	// Deviation (Linux compat): Linux's ipfrag_time is 30 s, and peers tuned
	// against Linux expect that.
	DefaultReassemblyTimeout = 30 * time.Second
	// DefaultReassemblyMaxBytes bounds the fragment data held in all, as
	// Linux's ipfrag_high_thresh (4 MiB).
	DefaultReassemblyMaxBytes = 4 << 20
	// DefaultReassemblyMaxDatagrams bounds the datagrams in reassembly at
	// once.
	DefaultReassemblyMaxDatagrams = 1024
)

// ReassemblyConfig bounds a Reassembler.
type ReassemblyConfig struct {
	// Timeout is the reassembly lifetime of a datagram (RFC 791 §3.2 "timer";
	// RFC 1122 §3.3.2).
	Timeout time.Duration
	// MaxBytes bounds the payload buffer space held for all datagrams (see
	// Reassembler.Bytes). A fragment that would need more is dropped with
	// NoMemory and the datagrams in reassembly are kept: Linux ≥ 4.17 drops
	// new fragments above ipfrag_high_thresh rather than evicting old queues.
	MaxBytes int
	// MaxDatagrams bounds the number of datagrams in reassembly at once; a
	// fragment of a new datagram beyond it is dropped with NoMemory.
	MaxDatagrams int
}

// DefaultReassemblyConfig returns 30 s, 4 MiB and 1024 datagrams.
func DefaultReassemblyConfig() ReassemblyConfig {
	return ReassemblyConfig{
		Timeout:      DefaultReassemblyTimeout,
		MaxBytes:     DefaultReassemblyMaxBytes,
		MaxDatagrams: DefaultReassemblyMaxDatagrams,
	}
}

// AddResult says what Add did with a fragment. Every result but Pending and
// Complete is a drop the stack counts by reason.
type AddResult uint8

const (
	// Pending: the fragment was stored; the datagram is still incomplete.
	Pending AddResult = iota
	// Complete: the fragment completed the datagram, which Add returns.
	Complete
	// Duplicate: the fragment's data is already held; the fragment is
	// dropped and the datagram kept (RFC 5722 §4 as amended by erratum 3089,
	// Linux IPFRAG_DUP).
	Duplicate
	// Overlap: the fragment partly overlaps data already held; the whole
	// datagram is discarded (Linux ≥ 4.19 IPFRAG_OVERLAP, the IPv4
	// counterpart of RFC 5722). Overlaps are how fragment attacks
	// (teardrop, overlapping TCP headers to evade filters) work, and no
	// honest sender produces them.
	Overlap
	// TooBig: the reassembled datagram would exceed 65535 octets; the whole
	// datagram is discarded (Linux ip_frag_reasm "Oversized IP packet").
	TooBig
	// NoMemory: holding the fragment would exceed MaxBytes or MaxDatagrams;
	// the fragment is dropped, the datagrams in reassembly are kept.
	NoMemory
	// Invalid: the fragment is malformed or contradicts the others.
	// A malformed fragment alone is dropped, the datagram kept: not a
	// fragment at all, no data, or MF set with data not a multiple of 8
	// (RFC 791 §3.2: every fragment but the last carries a multiple of 8
	// octets; Linux trims such a fragment instead, we drop it). A fragment
	// that contradicts the datagram's end discards the whole datagram, as
	// Linux's ip_frag_queue does (discard_qp): data beyond the end given by
	// the last fragment, a second last fragment with a different end, or a
	// last fragment ending before data already held.
	Invalid
)

// String returns a lower-case name for counters and logs.
func (r AddResult) String() string {
	switch r {
	case Pending:
		return "pending"
	case Complete:
		return "complete"
	case Duplicate:
		return "duplicate"
	case Overlap:
		return "overlap"
	case TooBig:
		return "too big"
	case NoMemory:
		return "no memory"
	case Invalid:
		return "invalid"
	}
	return "AddResult(" + itoa(int(r)) + ")"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// headroom is the space in front of a datagram's payload buffer for its
// first fragment's header, so the completed datagram needs no copy.
const headroom = HeaderMaxLen

// maxPayload is the largest payload a reassembled datagram can have.
const maxPayload = MaxTotalLen - HeaderMinLen

// fragKey identifies a datagram in reassembly: RFC 791 §3.2, "the
// internet identification field (ID) is used together with the source and
// destination address, and the protocol fields, to identify datagram
// fragments for reassembly".
type fragKey struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
}

// datagram is one datagram in reassembly. Its fragment data is copied into
// one buffer at the offsets it belongs to; a bitmap of 8-octet blocks says
// which parts are held. Fragment boundaries are multiples of 8 except the
// end of the last fragment, which is the datagram's end, so block
// granularity is exact.
type datagram struct {
	key fragKey
	// buf[:headroom] holds the first fragment's header right-aligned once
	// it has arrived; buf[headroom:] is the payload, len(buf)-headroom
	// octets reserved.
	buf      []byte
	held     [(maxPayload/8 + 63) / 64]uint64 // bit i: payload octets [8i, 8i+8) held (1 KiB)
	meat     int                              // payload octets held
	extent   int                              // highest fragment end seen
	end      int                              // payload length, once lastIn
	lastIn   bool                             // the fragment with MF clear has arrived
	hl       int                              // first fragment's header length; 0 until it arrives
	firstLen int                              // payload octets in the first fragment
	node     deadlines.Node[*datagram]        // in deadline order
}

func (d *datagram) size() int { return len(d.buf) - headroom }

// Reassembler puts fragmented datagrams back together (RFC 791 §3.2,
// RFC 1122 §3.3.2). It does no I/O and reads no clock: Add and Expire take
// the time, NextDeadline says when Expire is next due. Not safe for
// concurrent use.
type Reassembler struct {
	cfg   ReassemblyConfig
	m     map[fragKey]*datagram
	list  deadlines.List[*datagram] // oldest deadline first
	bytes int
}

// NewReassembler returns an empty reassembler bounded by cfg. A zero field
// takes its value from DefaultReassemblyConfig.
func NewReassembler(cfg ReassemblyConfig) *Reassembler {
	def := DefaultReassemblyConfig()
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = def.MaxBytes
	}
	if cfg.MaxDatagrams <= 0 {
		cfg.MaxDatagrams = def.MaxDatagrams
	}
	return &Reassembler{cfg: cfg, m: make(map[fragKey]*datagram)}
}

// Bytes returns the payload buffer space held for datagrams in reassembly:
// for each, the space reserved for its payload so far (at least the highest
// fragment end seen, holes included, at most twice that), never more than
// MaxBytes. It is what the memory bound counts; each datagram also costs a
// fixed 1.1 KiB of bookkeeping (bounded by MaxDatagrams), not counted.
func (r *Reassembler) Bytes() int { return r.bytes }

// Len returns the number of datagrams in reassembly.
func (r *Reassembler) Len() int { return len(r.m) }

// NextDeadline returns when the oldest datagram in reassembly times out, if
// there is one; the stack arms its timer for it and then calls Expire.
func (r *Reassembler) NextDeadline() (time.Time, bool) {
	n := r.list.Front()
	if n == nil {
		return time.Time{}, false
	}
	return n.Deadline, true
}

// Add takes one fragment h (a Header from Parse with h.IsFragment()) received
// at now.
//
// On Complete it returns the whole datagram as a valid IPv4 packet in a new
// buffer the caller owns: the first fragment's header, options included
// (RFC 791 §3.2: the first fragment's header becomes the datagram's), with
// MF and offset cleared, DF as in the first fragment, Total Length set and
// the checksum recomputed. Otherwise pkt is nil and res says why.
//
// Fragments belong together when (src, dst, protocol, ID) agree (RFC 791
// §3.2). A fragment whose data is all held already is a Duplicate (dropped,
// datagram kept); one that partly overlaps held data discards the datagram
// (Overlap), as Linux does since 4.19 (inet_frag_queue_insert).
func (r *Reassembler) Add(h Header, now time.Time) (pkt []byte, res AddResult) {
	if !h.IsFragment() {
		return nil, Invalid
	}
	p := h.Payload()
	off := h.FragOffset()
	end := off + len(p)
	mf := h.MF()
	if len(p) == 0 || (mf && len(p)%8 != 0) {
		return nil, Invalid
	}

	k := fragKey{src: [4]byte(h[offSrc : offSrc+4]), dst: [4]byte(h[offDst : offDst+4]), id: h.ID(), proto: h.Protocol()}
	d := r.m[k]

	// The header the datagram will have: the first fragment's, once known.
	hl := HeaderMinLen
	if d != nil && d.hl != 0 {
		hl = d.hl
	} else if off == 0 {
		hl = h.HeaderLen()
	}
	extent := end
	if d != nil {
		// Linux ip_frag_queue: a last fragment must not end before data
		// held, nor disagree with an earlier last fragment; no fragment
		// may reach past a known end.
		if !mf {
			if end < d.extent || (d.lastIn && end != d.end) {
				r.remove(d)
				return nil, Invalid
			}
		} else if d.lastIn && end > d.end {
			r.remove(d)
			return nil, Invalid
		}
		extent = max(extent, d.extent)
	}
	if hl+extent > MaxTotalLen {
		if d != nil {
			r.remove(d)
		}
		return nil, TooBig
	}

	size := 0
	if d != nil {
		switch held := bitmap.Count(d.held[:], off/8, (end+7)/8); {
		case held == (end+7)/8-off/8:
			return nil, Duplicate
		case held > 0:
			r.remove(d)
			return nil, Overlap
		}
		size = d.size()
	} else if len(r.m) >= r.cfg.MaxDatagrams {
		return nil, NoMemory
	}

	// Reserve payload space up to end: exactly the end once the last
	// fragment is known, otherwise doubling to keep in-order arrival linear.
	newSize := size
	if end > size {
		newSize = end
		if mf && (d == nil || !d.lastIn) {
			newSize = max(end, min(2*size, maxPayload))
		}
		if r.bytes+newSize-size > r.cfg.MaxBytes {
			newSize = end
			if r.bytes+newSize-size > r.cfg.MaxBytes {
				return nil, NoMemory
			}
		}
	}
	if d == nil {
		d = &datagram{key: k}
		d.node.Deadline, d.node.Value = now.Add(r.cfg.Timeout), d
		r.m[k] = d
		r.list.Insert(&d.node)
	}
	if newSize > size {
		buf := make([]byte, headroom+newSize)
		copy(buf, d.buf)
		d.buf = buf
		r.bytes += newSize - size
	}

	copy(d.buf[headroom+off:], p)
	bitmap.Set(d.held[:], off/8, (end+7)/8)
	d.meat += len(p)
	d.extent = extent
	if !mf {
		d.lastIn, d.end = true, end
	}
	if off == 0 {
		d.hl, d.firstLen = hl, len(p)
		copy(d.buf[headroom-hl:headroom], h[:hl])
	}
	if d.hl == 0 || !d.lastIn || d.meat != d.end {
		return nil, Pending
	}

	// RFC 791 §3.2 reassembly: the first fragment's header with the total
	// length recomputed and the fragment fields cleared.
	r.remove(d)
	n := d.hl + d.end
	out := Header(d.buf[headroom-d.hl : headroom+d.end : headroom+d.end])
	out.SetTotalLen(n)
	out.SetFragment(out.DF(), false, 0)
	out.SetChecksum()
	return out, Complete
}

// Expire discards every datagram whose timeout has passed (deadline ≤ now)
// and returns how many. For each whose first fragment (offset 0) had
// arrived it first calls timedOut, if not nil, with a view of that fragment
// (its header and the payload it carried), valid only during the call, so
// the stack can send ICMP Time Exceeded, code 1 (RFC 792; RFC 1122 §3.3.2:
// only if the first fragment was received). timedOut must not call r.
func (r *Reassembler) Expire(now time.Time, timedOut func(first Header)) int {
	n := 0
	for e := r.list.Front(); e != nil && !now.Before(e.Deadline); e = r.list.Front() {
		d := e.Value
		r.remove(d)
		n++
		if d.hl != 0 && timedOut != nil {
			timedOut(Header(d.buf[headroom-d.hl : headroom+d.firstLen]))
		}
	}
	return n
}

// remove forgets d and releases its bytes.
func (r *Reassembler) remove(d *datagram) {
	delete(r.m, d.key)
	r.list.Remove(&d.node)
	r.bytes -= d.size()
}
