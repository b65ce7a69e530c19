package ipv6

// Reassembly of fragmented packets at the destination, RFC 8200 §4.5, with
// RFC 5722 (overlapping fragments), RFC 6946 (atomic fragments) and
// RFC 7112 (the first fragment holds the whole header chain).

import (
	"errors"
	"time"

	"github.com/tapstack/tapstack/internal/bitmap"
	"github.com/tapstack/tapstack/internal/deadlines"
)

// Reasons Add refuses a fragment with a Parameter Problem (wrapped in a
// *ParamProblem; the walk's ErrFragmentLen is the third).
var (
	ErrReassembledTooBig     = errors.New("ipv6: fragment would make a packet longer than 65535")
	ErrHeaderChainIncomplete = errors.New("ipv6: first fragment without the whole header chain (RFC 7112)")
)

// Reassembly defaults.
const (
	// DefaultReassemblyTimeout: "If insufficient fragments are received to
	// complete reassembly of a packet within 60 seconds of the reception of
	// the first-arriving fragment of that packet, reassembly of that packet
	// must be abandoned" (RFC 8200 §4.5); Linux's ip6frag_time is 60 s too.
	DefaultReassemblyTimeout = 60 * time.Second
	// DefaultReassemblyMaxBytes bounds the memory held for all packets in
	// reassembly, as Linux's net.ipv6.ip6frag_high_thresh (4 MiB).
	DefaultReassemblyMaxBytes = 4 << 20
	// DefaultReassemblyMaxDatagrams bounds the packets in reassembly at once
	// (those discarded for an overlap, remembered until their timeout,
	// included).
	DefaultReassemblyMaxDatagrams = 1024
)

// ReassemblyConfig bounds a Reassembler.
type ReassemblyConfig struct {
	// Timeout is how long a packet may wait for its missing fragments,
	// counted from its first-arriving fragment (RFC 8200 §4.5).
	Timeout time.Duration
	// MaxBytes bounds the memory held for all packets in reassembly (see
	// Reassembler.Bytes). A fragment that would need more is dropped with
	// NoMemory and the packets in reassembly are kept, as Linux ≥ 4.17
	// drops new fragments above ip6frag_high_thresh.
	MaxBytes int
	// MaxDatagrams bounds the packets in reassembly at once; a fragment of
	// a new packet beyond it is dropped with NoMemory.
	MaxDatagrams int
}

// DefaultReassemblyConfig returns 60 s, 4 MiB and 1024 packets.
func DefaultReassemblyConfig() ReassemblyConfig {
	return ReassemblyConfig{
		Timeout:      DefaultReassemblyTimeout,
		MaxBytes:     DefaultReassemblyMaxBytes,
		MaxDatagrams: DefaultReassemblyMaxDatagrams,
	}
}

// AddResult says what Add did with a fragment. Every result but Pending,
// Complete and Atomic is a drop the stack counts by reason.
type AddResult uint8

const (
	// Pending: the fragment was stored; the packet is still incomplete.
	Pending AddResult = iota
	// Complete: the fragment completed the packet, which Add returns.
	Complete
	// Atomic: an atomic fragment (offset 0, M clear), returned as it is
	// and processed in isolation, no reassembly state read or changed
	// (RFC 6946 §4).
	Atomic
	// Duplicate: the fragment's data is all held already (an exact or
	// contained duplicate): dropped, the packet kept (RFC 8200 §4.5: "an
	// implementation may choose to detect this case and drop exact
	// duplicate fragments while keeping the other fragments"; Linux
	// IPFRAG_DUP drops a fragment inside a held run the same way).
	Duplicate
	// Overlap: the fragment partly overlaps data held: the whole packet is
	// discarded, and so are its fragments that arrive later, until the
	// packet's timeout (RFC 5722 §4: "all the constituent fragments,
	// including those not yet received, MUST be silently discarded").
	// Linux (inet_frag_kill) and gVisor forget the packet instead, so
	// that fragments sent again start a new one.
	Overlap
	// Discarded: a fragment of a packet discarded for an overlap (RFC 5722
	// §4), dropped.
	Discarded
	// TooBig: the packet reassembled from the fragment would have a
	// Payload Length above 65535: the fragment is dropped and answered with
	// a Parameter Problem code 0 at its Fragment Offset field (RFC 8200
	// §4.5). The packet is kept, as Linux's ip6_frag_queue does.
	TooBig
	// BadLength: M set and a fragment length not a multiple of 8: dropped
	// and answered with a Parameter Problem code 0 at the Payload Length
	// field (RFC 8200 §4.5).
	BadLength
	// Incomplete: a first fragment (offset 0) that does not hold all the
	// headers through the upper-layer header: dropped and answered with a
	// Parameter Problem code 3, pointer 0 (RFC 8200 §4.5, RFC 7112 §5).
	Incomplete
	// NoMemory: holding the fragment would exceed MaxBytes or
	// MaxDatagrams; the fragment is dropped, the packets in reassembly
	// kept.
	NoMemory
	// Invalid: the fragment is malformed or contradicts the others. One
	// without data is dropped alone. One that contradicts the packet's end
	// discards the whole packet, as Linux's ip6_frag_queue does
	// (discard_fq): data beyond the end the last fragment gave, a second
	// last fragment with another end, or a last fragment ending before
	// data held. A completed packet whose first fragment's headers make it
	// longer than 65535 is discarded the same way, and one whose fragments
	// mix Not-ECT with ECN-capable codepoints (RFC 3168 §5.3).
	Invalid
)

// String returns a lower-case name for counters and logs.
func (r AddResult) String() string {
	if int(r) < len(addResultNames) {
		return addResultNames[r]
	}
	return "AddResult(?)"
}

var addResultNames = [...]string{"pending", "complete", "atomic", "duplicate", "overlap", "discarded", "too big", "bad length", "incomplete", "no memory", "invalid"}

// ECN codepoints in the Traffic Class's two low bits (RFC 3168 §5).
const (
	ecnMask   = 3
	ecnNotECT = 0
	ecnCE     = 3
)

// CodeHeaderChainIncomplete is the Parameter Problem code for a first
// fragment without the whole IPv6 header chain (RFC 7112 §5, RFC 4443 §3.4
// as updated).
const CodeHeaderChainIncomplete uint8 = 3

// maxFragData is the most fragmentable data a packet can have: the
// fragment offset plus length may not exceed the 65535 of Payload Length.
const maxFragData = MaxPayloadLen

// fragKey identifies a packet in reassembly: "Fragment Identification
// along with Source Address and Destination Address" (RFC 8200 §4.5).
type fragKey struct {
	src, dst [16]byte
	id       uint32
}

// packet is one packet in reassembly. Fragment data is copied into buf at
// its offset; a bitmap of 8-octet blocks says which parts are held.
// Fragment boundaries are multiples of 8 but for the end of the last
// fragment, which is the packet's end, so block granularity is exact.
type packet struct {
	key fragKey
	// dead: discarded for an overlap; remembered, holding nothing, until
	// its deadline so later fragments are dropped too (RFC 5722 §4).
	dead bool
	buf  []byte                            // fragmentable data, len(buf) octets reserved
	held [(maxFragData/8 + 64) / 64]uint64 // bit i: data octets [8i, 8i+8) held
	meat int                               // data octets held
	// extent is the highest fragment end seen; end the packet's data
	// length once lastIn (the fragment with M clear) arrived.
	extent, end int
	lastIn      bool
	// ecn has bit c set for each ECN codepoint c the fragments carried.
	ecn uint8
	// first is the first fragment's unfragmentable part and Fragment
	// header, as received; nil until it arrives. firstLen is the data it
	// carried.
	first    []byte
	firstLen int
	node     deadlines.Node[*packet] // in deadline order
}

func (p *packet) size() int { return len(p.buf) + len(p.first) }

// Reassembler puts fragmented packets back together (RFC 8200 §4.5). It
// does no I/O and reads no clock: Add and Expire take the time,
// NextDeadline says when Expire is next due. Not safe for concurrent use.
type Reassembler struct {
	cfg   ReassemblyConfig
	m     map[fragKey]*packet
	list  deadlines.List[*packet] // oldest deadline first
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
	return &Reassembler{cfg: cfg, m: make(map[fragKey]*packet)}
}

// Bytes returns the memory held for packets in reassembly: per packet, the
// space reserved for its fragmentable data (at least the highest fragment
// end seen, at most twice that and never above 65535: the per-packet
// bound) and the first fragment's headers once it arrived. Never more than
// MaxBytes. Each packet also costs a fixed 1 KiB of bookkeeping, bounded by
// MaxDatagrams and not counted.
func (r *Reassembler) Bytes() int { return r.bytes }

// Len returns the number of packets in reassembly, those remembered as
// discarded included.
func (r *Reassembler) Len() int { return len(r.m) }

// NextDeadline returns when the oldest packet in reassembly times out, if
// there is one; the stack arms its timer for it and then calls Expire.
func (r *Reassembler) NextDeadline() (time.Time, bool) {
	n := r.list.Front()
	if n == nil {
		return time.Time{}, false
	}
	return n.Deadline, true
}

// Add takes a fragment received at now: h is the packet (from Parse) and
// fh its Fragment header, as the extension-header walk met it (the headers
// in front of fh are the unfragmentable part).
//
// On Complete it returns the reassembled packet in a new buffer the caller
// owns (RFC 8200 §4.5): the first fragment's unfragmentable part with the
// Next Header of its last header taken from the first fragment's Fragment
// header, then the fragmentable data; Payload Length computed. Fragment
// headers of later fragments may name another Next Header: only the first
// fragment's is used. On Atomic it returns h itself. Otherwise pkt is nil
// and res says why; for TooBig, BadLength and Incomplete, pp is the
// Parameter Problem RFC 8200 §4.5 asks for.
func (r *Reassembler) Add(h Header, fh Ext, now time.Time) (pkt Header, res AddResult, pp *ParamProblem) {
	if fh.Atomic() {
		return h, Atomic, nil
	}
	data := h[fh.Off+8:]
	off, mf := fh.FragOffset(), fh.More()
	end := off + len(data)
	if mf && len(data)%8 != 0 {
		return nil, BadLength, &ParamProblem{Err: ErrFragmentLen, Action: ActDiscardICMP, Code: CodeErroneousHeader, Pointer: offPayloadLen}
	}
	// "If the length and offset of a fragment are such that the Payload
	// Length of the packet reassembled from that fragment would exceed
	// 65,535 octets" (§4.5): this fragment's unfragmentable part stands
	// for the first fragment's until that arrives.
	if fh.Off-HeaderLen+end > MaxPayloadLen {
		return nil, TooBig, &ParamProblem{Err: ErrReassembledTooBig, Action: ActDiscardICMP, Code: CodeErroneousHeader, Pointer: uint32(fh.Off + 2)}
	}
	if off == 0 && !HeaderChainComplete(fh.NextHeader(), data) {
		return nil, Incomplete, &ParamProblem{Err: ErrHeaderChainIncomplete, Action: ActDiscardICMP, Code: CodeHeaderChainIncomplete, Pointer: 0}
	}
	if len(data) == 0 {
		return nil, Invalid, nil
	}

	k := fragKey{src: [16]byte(h[offSrc : offSrc+16]), dst: [16]byte(h[offDst : offDst+16]), id: fh.FragID()}
	d := r.m[k]
	if d != nil && d.dead {
		return nil, Discarded, nil
	}
	extent := end
	if d != nil {
		// Linux ip6_frag_queue: a last fragment must not end before data
		// held nor disagree with an earlier last fragment; no fragment may
		// reach past a known end.
		if !mf {
			if end < d.extent || (d.lastIn && end != d.end) {
				r.remove(d)
				return nil, Invalid, nil
			}
		} else if d.lastIn && end > d.end {
			r.remove(d)
			return nil, Invalid, nil
		}
		extent = max(extent, d.extent)
		switch held := bitmap.Count(d.held[:], off/8, (end+7)/8); {
		case held == (end+7)/8-off/8:
			return nil, Duplicate, nil
		case held > 0:
			r.kill(d)
			return nil, Overlap, nil
		}
	} else if len(r.m) >= r.cfg.MaxDatagrams {
		return nil, NoMemory, nil
	}

	// Reserve data space up to end: exactly the end once the last fragment
	// is known, otherwise doubling to keep in-order arrival linear.
	size := 0
	if d != nil {
		size = len(d.buf)
	}
	newSize := size
	if end > size {
		newSize = end
		if mf && (d == nil || !d.lastIn) {
			newSize = max(end, min(2*size, maxFragData))
		}
	}
	firstLen := 0
	if off == 0 {
		firstLen = fh.Off + 8
	}
	if grow := newSize - size + firstLen; r.bytes+grow > r.cfg.MaxBytes {
		newSize = max(end, size)
		if r.bytes+newSize-size+firstLen > r.cfg.MaxBytes {
			return nil, NoMemory, nil
		}
	}
	if d == nil {
		d = &packet{key: k}
		d.node.Deadline, d.node.Value = now.Add(r.cfg.Timeout), d
		r.m[k] = d
		r.list.Insert(&d.node)
	}
	if newSize > size {
		buf := make([]byte, newSize)
		copy(buf, d.buf)
		d.buf = buf
		r.bytes += newSize - size
	}
	copy(d.buf[off:], data)
	bitmap.Set(d.held[:], off/8, (end+7)/8)
	d.meat += len(data)
	d.ecn |= 1 << (h.TrafficClass() & ecnMask)
	d.extent = extent
	if !mf {
		d.lastIn, d.end = true, end
	}
	if off == 0 {
		d.first = append([]byte(nil), h[:fh.Off+8]...)
		d.firstLen = len(data)
		r.bytes += len(d.first)
	}
	if d.first == nil || !d.lastIn || d.meat != d.end {
		return nil, Pending, nil
	}

	r.remove(d)
	unfrag := len(d.first) - 8
	if unfrag-HeaderLen+d.end > MaxPayloadLen {
		// The first fragment's unfragmentable part is longer than the one
		// the other fragments were checked with.
		return nil, Invalid, nil
	}
	out := make(Header, unfrag+d.end)
	copy(out, d.first[:unfrag])
	copy(out[unfrag:], d.buf[:d.end])
	out.SetPayloadLen(len(out) - HeaderLen)
	// RFC 3168 §5.3, as Linux's ip_frag_ecn_table: a packet whose
	// fragments mix Not-ECT with ECT or CE is dropped (no ECN-capable
	// sender fragments that way: the CE mark could be lost); CE on any
	// fragment of an ECT packet marks the whole.
	if notECT := uint8(1 << ecnNotECT); d.ecn&notECT != 0 && d.ecn != notECT {
		return nil, Invalid, nil
	}
	if d.ecn&(1<<ecnCE) != 0 {
		out[1] |= ecnCE << 4 // the traffic class's two low bits
	}
	// The Next Header field of the last unfragmentable header (the fixed
	// header's, or that of the header in front of the Fragment header)
	// takes the first fragment's Fragment header's value.
	out[nextHeaderField(d.first, unfrag)] = d.first[unfrag]
	return out, Complete, nil
}

// nextHeaderField returns the offset of the Next Header field that names
// the header at fragOff in the packet b: the fixed header's or that of the
// last extension header in front. The chain up to fragOff was walked
// before, so it is well formed.
func nextHeaderField(b []byte, fragOff int) int {
	field, off, next := offNextHeader, HeaderLen, b[offNextHeader]
	for off < fragOff {
		field = off
		n := 8
		if next != ProtoFragment {
			n = (int(b[off+1]) + 1) * 8
		}
		next = b[off]
		off += n
	}
	return field
}

// Expire discards every packet whose timeout has passed (deadline ≤ now)
// and returns how many held data. For each whose first fragment (offset
// 0) had arrived it first calls timedOut, if not nil, with that fragment
// as received (its headers and as much of its data as an ICMPv6 error
// quotes), so the stack can send Time Exceeded code 1 (RFC 8200 §4.5: only
// if the first fragment was received). timedOut must not call r.
func (r *Reassembler) Expire(now time.Time, timedOut func(first Header)) int {
	n := 0
	for e := r.list.Front(); e != nil && !now.Before(e.Deadline); e = r.list.Front() {
		d := e.Value
		r.remove(d)
		if d.dead {
			continue
		}
		n++
		if d.first != nil && timedOut != nil {
			q := min(d.firstLen, max(0, MaxQuote-len(d.first)))
			first := make(Header, len(d.first)+q)
			copy(first, d.first)
			copy(first[len(d.first):], d.buf[:q])
			first.SetPayloadLen(len(d.first) + d.firstLen - HeaderLen) // as received
			timedOut(first)
		}
	}
	return n
}

// kill discards d's data but remembers its key until its deadline
// (RFC 5722 §4).
func (r *Reassembler) kill(d *packet) {
	r.bytes -= d.size()
	d.dead, d.buf, d.first = true, nil, nil
}

// remove forgets d and releases its bytes.
func (r *Reassembler) remove(d *packet) {
	delete(r.m, d.key)
	r.list.Remove(&d.node)
	r.bytes -= d.size()
}

// Upper-layer header lengths the first fragment must hold (RFC 7112 §5:
// "the first fragment ... MUST include ... the upper-layer header"), as
// Linux's ipv6frag_thdr_truncated: TCP's fixed 20 octets, UDP's and
// ICMPv6's 8; for any other protocol one octet.
const (
	tcpHeaderMin = 20
	udpHeaderLen = 8
)

// HeaderChainComplete reports whether data, the start of a first
// fragment's fragmentable part whose first header is next, holds the whole
// rest of the header chain through the upper-layer header (RFC 8200 §4.5,
// RFC 7112 §5). Extension headers are skipped by their lengths; one cut
// short makes the chain incomplete.
func HeaderChainComplete(next uint8, data []byte) bool {
	off := 0
	for range MaxExtHeaders + 1 {
		if !IsExt(next) {
			break
		}
		if len(data)-off < 8 {
			return false
		}
		n := 8
		if next != ProtoFragment {
			n = (int(data[off+1]) + 1) * 8
		}
		next = data[off]
		off += n // past the end: the check below fails
	}
	need := 1
	switch next {
	case ProtoTCP:
		need = tcpHeaderMin
	case ProtoUDP:
		need = udpHeaderLen
	case ProtoICMPv6:
		need = ICMPHeaderLen
	case ProtoNoNext:
		need = 0
	}
	return len(data)-off >= need
}
