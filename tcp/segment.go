package tcp

import (
	"net/netip"
	"strconv"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Segment is a decoded TCP segment: the header fields the state machine uses
// (RFC 9293 §3.1, §3.3.1 "SEG.*" variables), the parsed options and the data.
// It is the only form of a segment the TCB sees.
type Segment struct {
	SrcPort, DstPort uint16
	Seq, Ack         seqnum.Value // SEG.SEQ, SEG.ACK (meaningful with FlagACK)
	Flags            Flags
	Window           uint16 // SEG.WND as on the wire, before scaling (RFC 7323 §2.3)
	Urgent           uint16 // SEG.UP
	Options          Options
	Payload          []byte // points into the frame on receive
	// ECN is the IP header's ECN field (RFC 3168 §5; ECNNotECT, ECNECT0,
	// ECNCE...): on receive, what the datagram carried; on send, the
	// codepoint to set. Decode leaves it zero: the stack fills it in.
	ECN uint8
	// GSOSize, on receive, is the size of the segments a super-segment
	// stands for: the device merged them (GRO) or the sender never split
	// them (TSO), and the stack fills it from the frame's offload
	// metadata. Zero for an ordinary segment.
	GSOSize int
}

// Len returns SEG.LEN (RFC 9293 §3.3.1): the data octets plus one for SYN
// and one for FIN.
func (s *Segment) Len() seqnum.Size {
	n := seqnum.Size(len(s.Payload))
	if s.Flags&FlagSYN != 0 {
		n++
	}
	if s.Flags&FlagFIN != 0 {
		n++
	}
	return n
}

// Decode decodes b, the IPv4 or IPv6 payload of a segment from src to dst.
// It runs Parse's header checks (ErrTruncated, ErrDataOffset), then verifies
// the checksum with the pseudo-header of src's family (Verify) unless verify is false (ErrChecksum; the
// order of Linux's tcp_v4_rcv, so a corrupted segment counts as a checksum
// failure), then parses the options (ErrOptions, see ParseOptions).
//
// MSS, Window Scale and SACK-Permitted are cleared on a segment without SYN,
// as Linux's tcp_parse_options ignores them there (RFC 7323 §2.2: a Window
// Scale option in a non-SYN segment "MUST be ignored"; RFC 2018 §2: SACK-
// Permitted "MUST NOT be sent on non-SYN segments"; RFC 9293 §3.7.1: MSS is
// sent only on a SYN). SACK blocks are kept whatever the flags.
//
// The Segment's Payload aliases b. Decode does not allocate.
func Decode(b []byte, src, dst netip.Addr, verify bool) (Segment, error) {
	h, err := parseHeader(b)
	if err != nil {
		return Segment{}, err
	}
	if verify && !h.Verify(src, dst) {
		return Segment{}, ErrChecksum
	}
	opts, err := ParseOptions(h.Options())
	if err != nil {
		return Segment{}, err
	}
	flags := h.Flags()
	if flags&FlagSYN == 0 {
		opts.MSS = 0
		opts.HasWScale, opts.WScale = false, 0
		opts.SACKPermitted = false
	}
	return Segment{
		SrcPort: h.SrcPort(),
		DstPort: h.DstPort(),
		Seq:     h.Seq(),
		Ack:     h.Ack(),
		Flags:   flags,
		Window:  h.Window(),
		Urgent:  h.Urgent(),
		Options: opts,
		Payload: h.Payload(),
	}, nil
}

// HeaderLen returns the length of the header Encode writes for s:
// 20 plus the encoded options.
func (s *Segment) HeaderLen() int {
	return HeaderMinLen + s.Options.EncodedLen(s.Flags&FlagSYN != 0)
}

// Encode writes s's header into b and returns its length (s.HeaderLen()):
// ports, sequence and acknowledgment numbers, Data Offset, flags, window,
// urgent pointer, a zero checksum and the options as EncodeOptions lays them
// out with syn = s.Flags&FlagSYN != 0. The reserved bits are zero.
//
// Encode writes neither the payload nor the checksum: the caller copies
// s.Payload to b[hlen:] and then calls
// Header(b[:hlen+len(payload)]).ComputeChecksumIPv4(src, dst).
// b must hold s.HeaderLen() octets; Encode panics otherwise. It does not
// allocate.
func Encode(b []byte, s *Segment) int {
	syn := s.Flags&FlagSYN != 0
	hl := HeaderMinLen + s.Options.EncodedLen(syn)
	h := Header(b[:hl])
	h.SetSrcPort(s.SrcPort)
	h.SetDstPort(s.DstPort)
	h.SetSeq(s.Seq)
	h.SetAck(s.Ack)
	h.setDataOffset(hl)
	h.SetFlags(s.Flags)
	h.SetWindow(s.Window)
	h.SetChecksum(0)
	h.SetUrgent(s.Urgent)
	EncodeOptions(h[offOptions:], &s.Options, syn)
	return hl
}

// String formats s for logs and test diffs, tcpdump-like:
//
//	SYN|ACK seq=1000 ack=2001 win=65535 len=0 <mss 1460,ws 7,sackOK,ts 1/0>
//
// len is the payload length in octets (not SEG.LEN); ack is shown whether or
// not FlagACK is set; urg appears when non-zero. The options part lists what
// is present, in the order mss, ws, sackOK, ts, sack, and is left out when
// nothing is.
func (s *Segment) String() string {
	b := make([]byte, 0, 96)
	b = append(b, s.Flags.String()...)
	b = append(b, " seq="...)
	b = strconv.AppendUint(b, uint64(s.Seq), 10)
	b = append(b, " ack="...)
	b = strconv.AppendUint(b, uint64(s.Ack), 10)
	b = append(b, " win="...)
	b = strconv.AppendUint(b, uint64(s.Window), 10)
	if s.Urgent != 0 {
		b = append(b, " urg="...)
		b = strconv.AppendUint(b, uint64(s.Urgent), 10)
	}
	b = append(b, " len="...)
	b = strconv.AppendInt(b, int64(len(s.Payload)), 10)
	o := &s.Options
	hasOpt := false
	next := func() {
		if hasOpt {
			b = append(b, ',')
		} else {
			b = append(b, " <"...)
		}
		hasOpt = true
	}
	if o.MSS != 0 {
		next()
		b = append(b, "mss "...)
		b = strconv.AppendUint(b, uint64(o.MSS), 10)
	}
	if o.HasWScale {
		next()
		b = append(b, "ws "...)
		b = strconv.AppendUint(b, uint64(o.WScale), 10)
	}
	if o.SACKPermitted {
		next()
		b = append(b, "sackOK"...)
	}
	if o.HasTimestamp {
		next()
		b = append(b, "ts "...)
		b = strconv.AppendUint(b, uint64(o.TSVal), 10)
		b = append(b, '/')
		b = strconv.AppendUint(b, uint64(o.TSEcr), 10)
	}
	if n := min(max(o.NumSACK, 0), maxSACKBlocks); n > 0 {
		next()
		b = append(b, "sack"...)
		for _, blk := range o.SACK[:n] {
			b = append(b, ' ')
			b = strconv.AppendUint(b, uint64(blk.Start), 10)
			b = append(b, '-')
			b = strconv.AppendUint(b, uint64(blk.End), 10)
		}
	}
	if hasOpt {
		b = append(b, '>')
	}
	return string(b)
}
