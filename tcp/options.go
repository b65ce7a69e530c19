package tcp

import (
	"encoding/binary"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Option kinds (RFC 9293 §3.2; RFC 7323 §2-3; RFC 2018 §2-3).
const (
	OptEOL           = 0 // End of Option List, one octet
	OptNOP           = 1 // No-Operation, one octet
	OptMSS           = 2 // Maximum Segment Size, length 4 (RFC 9293 §3.2)
	OptWScale        = 3 // Window Scale, length 3 (RFC 7323 §2.2)
	OptSACKPermitted = 4 // SACK-Permitted, length 2 (RFC 2018 §2)
	OptSACK          = 5 // SACK, length 2+8n (RFC 2018 §3)
	OptTimestamp     = 8 // Timestamps, length 10 (RFC 7323 §3.2)
)

// Fixed option lengths, kind and length octets included.
const (
	lenMSS           = 4
	lenWScale        = 3
	lenSACKPermitted = 2
	lenTimestamp     = 10
	lenSACKBase      = 2
	lenSACKBlock     = 8
)

// MaxWScale is the largest window shift (RFC 7323 §2.3: "If a Window Scale
// option is received with a shift.cnt value larger than 14, the TCP SHOULD
// log the error but MUST use 14 instead of the specified value").
const MaxWScale = 14

// maxSACKBlocks is how many blocks fit in the 40 octets of option space
// (RFC 2018 §3: 2+8*4 = 34).
const maxSACKBlocks = 4

// SACKBlock is one block of a SACK option (RFC 2018 §3): the receiver holds
// [Start, End).
type SACKBlock struct{ Start, End seqnum.Value }

// Options are the TCP options of one segment that tapstack understands.
// The zero value means no options.
//
// MSS, WScale and SACKPermitted are meaningful only on a SYN (RFC 9293
// §3.7.1, RFC 7323 §2.2, RFC 2018 §2); Decode clears them on other segments.
type Options struct {
	MSS           uint16 // 0: absent (an MSS option carrying 0 is treated as absent, as Linux does)
	HasWScale     bool
	WScale        uint8 // shift count; clamped to MaxWScale when parsed
	SACKPermitted bool
	HasTimestamp  bool
	TSVal, TSEcr  uint32
	NumSACK       int // number of valid entries in SACK, 0..4
	SACK          [4]SACKBlock
}

// ParseOptions parses the options area b (Header.Options) with a bounded
// walk: every step advances at least one octet, so it always ends.
//
//   - EOL ends the list; what follows is padding (RFC 9293 §3.2).
//   - NOP is one octet.
//   - Every other option is kind, length, data, with 2 ≤ length ≤ the octets
//     left; anything else is ErrOptions (RFC 9293 §3.2, MUST-7: "MUST be
//     prepared to handle an illegal option length (e.g., zero)"). A length 0
//     would loop forever; a length 1 would read the next kind as data.
//   - Known kinds must have their exact length: MSS 4, Window Scale 3,
//     SACK-Permitted 2, Timestamps 10, SACK 2+8n with n from 1 to 4;
//     otherwise ErrOptions. Deviation (Linux compat, partly): Linux's
//     tcp_parse_options ignores a known option of the wrong length and keeps
//     the segment; we reject the segment, which RFC 9293 §3.2 allows
//     ("a suggested procedure is to reset the connection and log the error
//     cause").
//   - Unknown kinds are skipped by their length (RFC 9293 §3.1, MUST-6:
//     "MUST ignore without error any TCP option it does not implement").
//   - When an option appears twice the last one wins, as in Linux.
//
// A Window Scale shift above 14 is clamped to 14 (RFC 7323 §2.3). ParseOptions
// does not allocate.
func ParseOptions(b []byte) (Options, error) {
	var o Options
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case OptEOL:
			return o, nil
		case OptNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return Options{}, ErrOptions
		}
		n := int(b[i+1])
		if n < 2 || n > len(b)-i {
			return Options{}, ErrOptions
		}
		d := b[i+2 : i+n]
		switch kind {
		case OptMSS:
			if n != lenMSS {
				return Options{}, ErrOptions
			}
			o.MSS = binary.BigEndian.Uint16(d)
		case OptWScale:
			if n != lenWScale {
				return Options{}, ErrOptions
			}
			o.HasWScale = true
			o.WScale = min(d[0], MaxWScale)
		case OptSACKPermitted:
			if n != lenSACKPermitted {
				return Options{}, ErrOptions
			}
			o.SACKPermitted = true
		case OptTimestamp:
			if n != lenTimestamp {
				return Options{}, ErrOptions
			}
			o.HasTimestamp = true
			o.TSVal = binary.BigEndian.Uint32(d[0:])
			o.TSEcr = binary.BigEndian.Uint32(d[4:])
		case OptSACK:
			nb := (n - lenSACKBase) / lenSACKBlock
			if (n-lenSACKBase)%lenSACKBlock != 0 || nb < 1 || nb > maxSACKBlocks {
				return Options{}, ErrOptions
			}
			o.NumSACK = nb
			o.SACK = [4]SACKBlock{}
			for j := range nb {
				o.SACK[j] = SACKBlock{
					Start: seqnum.Value(binary.BigEndian.Uint32(d[j*8:])),
					End:   seqnum.Value(binary.BigEndian.Uint32(d[j*8+4:])),
				}
			}
		}
		i += n
	}
	return o, nil
}

// sackBlocks returns how many SACK blocks EncodeOptions writes on a non-SYN
// segment: NumSACK clamped to 0..4, and to 3 next to a timestamp, because
// 12 + 4 + 8*4 octets exceed the 40 of option space (RFC 2018 §3: "the
// maximum number of SACK blocks ... is 3" with timestamps; Linux does the
// same).
func (o *Options) sackBlocks() int {
	n := min(max(o.NumSACK, 0), maxSACKBlocks)
	if o.HasTimestamp {
		n = min(n, maxSACKBlocks-1)
	}
	return n
}

// EncodedLen returns the number of octets EncodeOptions(b, o, syn) writes:
// a multiple of 4, at most 40.
func (o *Options) EncodedLen(syn bool) int {
	n := 0
	if o.HasTimestamp {
		n += 12 // NOP,NOP,TS or SACK-perm,TS
	}
	if syn {
		if o.MSS != 0 {
			n += 4
		}
		if o.SACKPermitted && !o.HasTimestamp {
			n += 4 // NOP,NOP,SACK-perm
		}
		if o.HasWScale {
			n += 4 // NOP,WS
		}
	} else if k := o.sackBlocks(); k > 0 {
		n += 4 + 8*k // NOP,NOP,SACK
	}
	return n
}

// EncodeOptions writes o into b as Linux's tcp_options_write lays options
// out, and returns the number of octets written (EncodedLen(syn), a multiple
// of 4, so no EOL padding is ever needed). Every option starts on the offset
// its fields need to be 32-bit aligned (RFC 7323 Appendix A).
//
// On a SYN (syn true): MSS; then SACK-Permitted and Timestamps combined
// (4,2,8,10,TSval,TSecr) or NOP,NOP,Timestamps alone, or NOP,NOP,SACK-Permitted
// alone; then NOP,Window Scale. On other segments: NOP,NOP,Timestamps, then
// NOP,NOP,SACK with up to 4 blocks (3 beside a timestamp). MSS, Window Scale
// and SACK-Permitted are written only on a SYN (RFC 9293 §3.7.1, RFC 7323
// §2.2, RFC 2018 §2), SACK blocks only on other segments.
//
// b must hold EncodedLen(syn) octets; EncodeOptions panics otherwise, a
// programming error. It does not allocate.
func EncodeOptions(b []byte, o *Options, syn bool) int {
	b = b[:o.EncodedLen(syn)]
	i := 0
	put := func(k0, k1, k2, k3 byte) {
		b[i], b[i+1], b[i+2], b[i+3] = k0, k1, k2, k3
		i += 4
	}
	if syn && o.MSS != 0 {
		put(OptMSS, lenMSS, byte(o.MSS>>8), byte(o.MSS))
	}
	if o.HasTimestamp {
		if syn && o.SACKPermitted {
			put(OptSACKPermitted, lenSACKPermitted, OptTimestamp, lenTimestamp)
		} else {
			put(OptNOP, OptNOP, OptTimestamp, lenTimestamp)
		}
		binary.BigEndian.PutUint32(b[i:], o.TSVal)
		binary.BigEndian.PutUint32(b[i+4:], o.TSEcr)
		i += 8
	}
	if syn {
		if o.SACKPermitted && !o.HasTimestamp {
			put(OptNOP, OptNOP, OptSACKPermitted, lenSACKPermitted)
		}
		if o.HasWScale {
			put(OptNOP, OptWScale, lenWScale, min(o.WScale, MaxWScale))
		}
	} else if k := o.sackBlocks(); k > 0 {
		put(OptNOP, OptNOP, OptSACK, byte(lenSACKBase+lenSACKBlock*k))
		for _, blk := range o.SACK[:k] {
			binary.BigEndian.PutUint32(b[i:], uint32(blk.Start))
			binary.BigEndian.PutUint32(b[i+4:], uint32(blk.End))
			i += 8
		}
	}
	return i
}
