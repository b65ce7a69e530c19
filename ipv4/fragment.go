package ipv4

import (
	"errors"
	"sync"
)

// MinMTU is the smallest MTU an IPv4 link may have: RFC 791 §3.2 says every
// module must be able to forward a 68-octet datagram without fragmenting it.
const MinMTU = 68

var (
	// ErrDontFragment means the datagram is larger than the MTU and has DF
	// set: the sender gets EMSGSIZE, a forwarded datagram draws ICMP 3/4
	// (RFC 791 §3.2, RFC 1191).
	ErrDontFragment = errors.New("ipv4: datagram larger than MTU with DF set")
	// ErrMTUTooSmall means the MTU is below MinMTU.
	ErrMTUTooSmall = errors.New("ipv4: MTU below 68")
)

// optCopied is the copied flag of an option type octet (RFC 791 §3.1): the
// option is copied into every fragment.
const optCopied = 0x80

var headerScratch = sync.Pool{New: func() any { return new([HeaderMaxLen]byte) }}

// Fragment splits pkt into fragments of at most mtu octets following the
// fragmentation procedure of RFC 791 §3.2 and calls emit(hdr, payload) for
// each in offset order. hdr is the fragment's header with Total Length,
// MF and offset set and a valid checksum, in a scratch buffer valid only
// during the call; payload points into pkt. Every fragment but the last
// carries a multiple of 8 octets of data. The first fragment keeps all
// options; later ones carry only those with the copied flag, repacked and
// padded to a 4-octet boundary with the header length shrunk to fit.
// (Linux's ip_options_fragment overwrites the uncopied options with NOPs and
// keeps the length; RFC 791 §3.2 step (5) repacks, which we do.)
//
// pkt is a complete, valid datagram (from Parse, or Encode with the buffer
// cut to Total Length: len(pkt) must equal pkt.TotalLen()); it may itself be
// a fragment, whose pieces then keep its offset base and its MF on the last
// piece (RFC 791 §3.2). If len(pkt) ≤ mtu, pkt is emitted unchanged as one
// piece. With DF set and len(pkt) > mtu, Fragment returns ErrDontFragment.
// The first error from emit stops the split and is returned.
func Fragment(pkt Header, mtu int, emit func(hdr, payload []byte) error) error {
	if mtu < MinMTU {
		return ErrMTUTooSmall
	}
	hl := pkt.HeaderLen()
	if len(pkt) <= mtu {
		return emit(pkt[:hl], pkt.Payload())
	}
	if pkt.DF() {
		return ErrDontFragment
	}
	scratch := headerScratch.Get().(*[HeaderMaxLen]byte)
	defer headerScratch.Put(scratch)

	payload := pkt.Payload()
	base := pkt.FragOffset()
	lastMF := pkt.MF()

	// First fragment: the whole header.
	hdr := Header(scratch[:hl])
	copy(hdr, pkt[:hl])
	chunk := (mtu - hl) &^ 7
	off := 0
	for first := true; ; first = false {
		n := min(chunk, len(payload)-off)
		last := off+n == len(payload)
		hdr.SetTotalLen(len(hdr) + n)
		hdr.SetFragment(false, !last || lastMF, base+off)
		hdr.SetChecksum()
		if err := emit(hdr, payload[off:off+n]); err != nil {
			return err
		}
		off += n
		if last {
			return nil
		}
		if first {
			// After the first fragment, keep only copied options.
			hdr = Header(scratch[:copyOptions(scratch[:], pkt)])
			chunk = (mtu - len(hdr)) &^ 7
		}
	}
}

// copyOptions rewrites the header in dst (which holds a copy of pkt's
// header) to keep only the options with the copied flag, pads with EOL to
// a multiple of 4 and returns the new header length. pkt's options were
// validated by Parse.
func copyOptions(dst []byte, pkt Header) int {
	opts := pkt.Options()
	n := HeaderMinLen
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == optEOL {
			break
		}
		if t == optNOP {
			i++
			continue
		}
		if i+1 >= len(opts) {
			break
		}
		l := int(opts[i+1])
		if l < 2 || l > len(opts)-i {
			break // cannot happen after Parse; never loop or overrun
		}
		if t&optCopied != 0 {
			copy(dst[n:], opts[i:i+l])
			n += l
		}
		i += l
	}
	for n%4 != 0 {
		dst[n] = optEOL
		n++
	}
	dst[offVersIHL] = 4<<4 | uint8(n/4)
	return n
}
