package ipv6

// Extension headers, RFC 8200 §4. Hop-by-Hop Options, Routing and
// Destination Options share the first two octets:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |  Hdr Ext Len  |  ... (Hdr Ext Len + 1) * 8 octets
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The Fragment header (§4.5) is always 8 octets:
//
//	+---------------+---------------+-------------------------+-+-+
//	|  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//	+---------------+---------------+-------------------------+-+-+
//	|                         Identification                        |
//	+---------------------------------------------------------------+

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxExtHeaders bounds the extension-header walk: a packet with more is
// dropped (ErrTooManyExt). RFC 8200 §4.1 lists at most 7 in the recommended
// order (destination options twice); 8 leaves room for one more and still
// bounds the work an attacker can ask for (RFC 8504 §5.3 lets a node set
// such a limit).
const MaxExtHeaders = 8

// Option types with a fixed meaning inside Hop-by-Hop and Destination
// Options (RFC 8200 §4.2).
const (
	OptPad1 uint8 = 0 // one octet, no length
	OptPadN uint8 = 1 // type, length, length zero octets
)

// Routing types (RFC 8200 §4.4, RFC 5095).
const RoutingType0 uint8 = 0

// Parameter Problem codes (RFC 4443 §3.4).
const (
	CodeErroneousHeader   uint8 = 0
	CodeUnknownNextHeader uint8 = 1
	CodeUnknownOption     uint8 = 2
)

// Reasons the walk stops on a malformed packet. ErrExtTruncated and
// ErrTooManyExt are silent drops; the others come wrapped in a
// *ParamProblem that says whether to answer.
var (
	ErrExtTruncated     = errors.New("ipv6: extension header beyond the packet")
	ErrTooManyExt       = errors.New("ipv6: too many extension headers")
	ErrOptionTruncated  = errors.New("ipv6: option beyond its extension header")
	ErrHopByHopNotFirst = errors.New("ipv6: hop-by-hop options not first")
	ErrRoutingType0     = errors.New("ipv6: routing header type 0 (RFC 5095)")
	ErrRoutingUnknown   = errors.New("ipv6: unrecognized routing type with segments left")
	ErrUnknownOption    = errors.New("ipv6: unrecognized option")
	ErrFragmentLen      = errors.New("ipv6: fragment with M set and a length not a multiple of 8")
)

// Action is what RFC 8200 §4.2 asks of a node that meets an option it does
// not recognise, from the two high bits of the option type.
type Action uint8

const (
	ActSkip             Action = 0 // 00: skip over the option, continue
	ActDiscard          Action = 1 // 01: discard silently
	ActDiscardICMP      Action = 2 // 10: discard, send Parameter Problem code 2 even to multicast
	ActDiscardICMPUcast Action = 3 // 11: as 10, only if the destination is not multicast
)

// OptionAction returns the action the high bits of option type typ call for.
func OptionAction(typ uint8) Action { return Action(typ >> 6) }

// ParamProblem is a drop that may be answered with an ICMPv6 Parameter
// Problem (RFC 4443 §3.4). Pointer is the offset from the start of the IPv6
// header of the octet at fault.
type ParamProblem struct {
	Err     error  // the reason, for errors.Is and counters
	Action  Action // ActDiscard: drop silently; otherwise answer per SendICMP
	Code    uint8
	Pointer uint32
}

func (p *ParamProblem) Error() string {
	return fmt.Sprintf("%v (parameter problem code %d, pointer %d)", p.Err, p.Code, p.Pointer)
}

func (p *ParamProblem) Unwrap() error { return p.Err }

// SendICMP reports whether the drop is answered with a Parameter Problem,
// given whether the packet's destination was multicast (RFC 8200 §4.2;
// RFC 4443 §2.4 (e.2, e.3) lets codes 2 be sent to multicast only with 10).
func (p *ParamProblem) SendICMP(dstMulticast bool) bool {
	switch p.Action {
	case ActDiscardICMP:
		return true
	case ActDiscardICMPUcast:
		return !dstMulticast
	}
	return false
}

// Ext is one extension header met by the walk.
type Ext struct {
	Proto uint8  // which header: ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoDestOpts
	Off   int    // offset of the header from the start of the IPv6 header
	Data  []byte // the whole header
}

// NextHeader returns the header's Next Header field.
func (e Ext) NextHeader() uint8 { return e.Data[0] }

// RoutingType returns the Routing Type of a routing header.
func (e Ext) RoutingType() uint8 { return e.Data[2] }

// SegmentsLeft returns the Segments Left field of a routing header.
func (e Ext) SegmentsLeft() uint8 { return e.Data[3] }

func (e Ext) fragWord() uint16 { return binary.BigEndian.Uint16(e.Data[2:]) }

// FragOffset returns a fragment header's offset in octets (the field times 8).
func (e Ext) FragOffset() int { return int(e.fragWord()>>3) * 8 }

// More reports a fragment header's M flag.
func (e Ext) More() bool { return e.fragWord()&1 != 0 }

// FragID returns a fragment header's Identification.
func (e Ext) FragID() uint32 { return binary.BigEndian.Uint32(e.Data[4:]) }

// Atomic reports an atomic fragment: a fragment header with offset 0 and M
// clear. RFC 6946 §4: process it in isolation, outside reassembly.
func (e Ext) Atomic() bool { return e.fragWord()&0xfff9 == 0 }

// ExtIter walks a packet's extension headers (RFC 8200 §4.1). It never reads
// past the packet and stops after MaxExtHeaders.
type ExtIter struct {
	h      Header
	next   uint8 // Next Header value that names what is at off
	nhPtr  int   // offset of the field holding next
	off    int   // offset of the next header to read
	n      int   // headers read
	done   bool
	stopAt bool // a non-atomic fragment was read: what follows is fragment data
}

// Exts returns an iterator over h's extension headers.
func (h Header) Exts() ExtIter {
	return ExtIter{h: h, next: h.NextHeader(), nhPtr: offNextHeader, off: HeaderLen}
}

// IsExt reports whether next names an extension header the walk reads.
func IsExt(next uint8) bool {
	switch next {
	case ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoDestOpts:
		return true
	}
	return false
}

// Next returns the next extension header. ok is false when the walk has
// reached what is not an extension header (see Upper) or failed. Errors:
// ErrExtTruncated, ErrTooManyExt (silent drops), ErrOptionTruncated (a silent
// drop, as Linux does) or a *ParamProblem.
//
// What each header asks (RFC 8200 §4):
//   - hop-by-hop only right after the fixed header (§4.1, Linux answers
//     code 1 at the Next Header field that named it);
//   - options of hop-by-hop and destination options walked: Pad1, PadN,
//     unknown ones by their high bits (§4.2);
//   - a routing header with Segments Left 0 is ignored (§4.4); with
//     Segments Left > 0 we, a host, recognise no type: type 0 is refused
//     (RFC 5095 §3) and any type answered with code 0 at the Routing Type;
//   - a fragment with M set whose payload is not a multiple of 8 octets:
//     code 0 at the Payload Length field (§4.5); after a fragment that is
//     not atomic the walk stops, the rest is fragment data (RFC 6946 lets
//     an atomic fragment go on).
func (it *ExtIter) Next() (e Ext, ok bool, err error) {
	if it.done || it.stopAt || !IsExt(it.next) {
		it.done = true
		return Ext{}, false, nil
	}
	if it.n == MaxExtHeaders {
		it.done = true
		return Ext{}, false, ErrTooManyExt
	}
	if it.next == ProtoHopByHop && it.off != HeaderLen {
		it.done = true
		return Ext{}, false, &ParamProblem{Err: ErrHopByHopNotFirst, Action: ActDiscardICMP, Code: CodeUnknownNextHeader, Pointer: uint32(it.nhPtr)}
	}
	rest := it.h[it.off:]
	if len(rest) < 8 { // every extension header is at least 8 octets
		it.done = true
		return Ext{}, false, ErrExtTruncated
	}
	n := 8
	if it.next != ProtoFragment {
		n = (int(rest[1]) + 1) * 8
		if n > len(rest) {
			it.done = true
			return Ext{}, false, ErrExtTruncated
		}
	}
	e = Ext{Proto: it.next, Off: it.off, Data: rest[:n]}
	switch e.Proto {
	case ProtoHopByHop, ProtoDestOpts:
		if err := walkOptions(e); err != nil {
			it.done = true
			return Ext{}, false, err
		}
	case ProtoRouting:
		if e.SegmentsLeft() != 0 {
			reason := ErrRoutingUnknown
			if e.RoutingType() == RoutingType0 {
				reason = ErrRoutingType0
			}
			it.done = true
			return Ext{}, false, &ParamProblem{Err: reason, Action: ActDiscardICMP, Code: CodeErroneousHeader, Pointer: uint32(e.Off + 2)}
		}
	case ProtoFragment:
		if e.More() && (len(it.h)-e.Off-8)%8 != 0 {
			it.done = true
			return Ext{}, false, &ParamProblem{Err: ErrFragmentLen, Action: ActDiscardICMP, Code: CodeErroneousHeader, Pointer: offPayloadLen}
		}
		it.stopAt = !e.Atomic()
	}
	it.n++
	it.next, it.nhPtr, it.off = e.NextHeader(), e.Off, e.Off+n
	return e, true, nil
}

// Upper returns, once Next has returned ok false without an error, the Next
// Header value that ended the walk, the offset of what it names (the
// upper-layer header, or fragment data after a non-atomic fragment) and the
// offset of the field that holds it: the pointer of a Parameter Problem code
// 1 when next is a protocol the stack does not know (RFC 8200 §4, RFC 4443
// §3.4). ProtoNoNext means nothing follows (§4.7: ignore the rest).
func (it *ExtIter) Upper() (next uint8, off, nhPtr int) { return it.next, it.off, it.nhPtr }

// walkOptions walks the options of a hop-by-hop or destination options
// header (RFC 8200 §4.2). Each step advances at least one octet.
func walkOptions(e Ext) error {
	opts := e.Data[2:]
	for i := 0; i < len(opts); {
		typ := opts[i]
		if typ == OptPad1 {
			i++
			continue
		}
		if i+1 >= len(opts) || i+2+int(opts[i+1]) > len(opts) {
			return ErrOptionTruncated
		}
		// PadN (type 1) is the one other option we know; its high bits are
		// 00, so the unknown-option rule skips it as it should.
		if a := OptionAction(typ); a != ActSkip {
			return &ParamProblem{Err: ErrUnknownOption, Action: a, Code: CodeUnknownOption, Pointer: uint32(e.Off + 2 + i)}
		}
		i += 2 + int(opts[i+1])
	}
	return nil
}
