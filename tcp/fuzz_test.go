package tcp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	gvchecksum "gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// FuzzParse feeds arbitrary IP payloads (and pseudo-header addresses) to
// Parse and Decode and checks that:
//   - nothing panics, and Decode without verification fails exactly when
//     Parse does, with the same error;
//   - we accept a header exactly when gVisor's TCPValid length checks do,
//     except that we also reject illegal option lengths (ErrOptions), which
//     gVisor tolerates by stopping its option walk;
//   - every accessor agrees with gVisor's header.TCP, and our checksum
//     verdict agrees with header.TCP.IsChecksumValid;
//   - the options agree with header.ParseTCPOptions and
//     header.ParseSynOptions where comparable (see checkOptionsWithGVisor);
//   - Decode → Encode + payload + checksum → Decode gives the same Segment,
//     after the normalisation Encode documents (SACK blocks are not sent on
//     a SYN).
//
// The seed corpus in testdata/fuzz/FuzzParse holds the tricky cases by name:
// the captured SYN, SYN-ACK and data segment, truncated and empty input,
// data offsets 4 and past the buffer, option lengths 0, 1 and past the
// header, MSS of length 3 and value 0, SACK of length 11 and with four
// blocks, unknown and duplicate options, window scale 15, SYN-only options on
// an ACK, a header of 40 NOPs, and odd payload lengths.
func FuzzParse(f *testing.F) {
	f.Add(wireHex(f, goldenSYN), uint32(0xc0000201), uint32(0xc0000202))
	f.Fuzz(func(t *testing.T, data []byte, srcIP, dstIP uint32) {
		var s4, d4 [4]byte
		binary.BigEndian.PutUint32(s4[:], srcIP)
		binary.BigEndian.PutUint32(d4[:], dstIP)
		src, dst := netip.AddrFrom4(s4), netip.AddrFrom4(d4)

		h, err := Parse(data)
		seg, derr := Decode(data, src, dst, false)
		if !errors.Is(derr, err) || (err == nil) != (derr == nil) {
			t.Fatalf("Parse err = %v, Decode err = %v", err, derr)
		}

		// Acceptance agrees with gVisor's header checks (TCPValid's data
		// offset test, after the endpoint's minimum-size test).
		gvOK := len(data) >= header.TCPMinimumSize
		if gvOK {
			off := int(header.TCP(data).DataOffset())
			gvOK = off >= header.TCPMinimumSize && off <= len(data)
		}
		switch {
		case !gvOK && err == nil:
			t.Fatalf("Parse accepted %x, gVisor rejects it", data)
		case gvOK && err != nil && !errors.Is(err, ErrOptions):
			t.Fatalf("Parse(%x) = %v, gVisor accepts the header", data, err)
		case !gvOK && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrDataOffset):
			t.Fatalf("Parse(%x) = %v, want a length error", data, err)
		}
		if err != nil {
			if h != nil {
				t.Fatal("non-nil header with error")
			}
			return
		}

		// Field agreement with gVisor.
		g := header.TCP(data)
		if h.SrcPort() != g.SourcePort() || h.DstPort() != g.DestinationPort() ||
			uint32(h.Seq()) != g.SequenceNumber() || uint32(h.Ack()) != g.AckNumber() ||
			h.DataOffset() != int(g.DataOffset()) || uint8(h.Flags()) != uint8(g.Flags()) ||
			h.Window() != g.WindowSize() || h.Checksum() != g.Checksum() || h.Urgent() != g.UrgentPointer() ||
			!bytes.Equal(h.Options(), g.Options()) || !bytes.Equal(h.Payload(), g.Payload()) {
			t.Fatalf("fields differ from gVisor for %x", data)
		}

		// Checksum verdict agrees with gVisor (its lengths are uint16).
		if len(data) <= 0xffff {
			payload := h.Payload()
			gv := g.IsChecksumValid(tcpip.AddrFrom4(s4), tcpip.AddrFrom4(d4),
				gvchecksum.Checksum(payload, 0), uint16(len(payload)))
			if ours := h.VerifyIPv4(src, dst); ours != gv {
				t.Fatalf("VerifyIPv4 = %v, gVisor = %v for %x", ours, gv, data)
			}
			if _, err := Decode(data, src, dst, true); (err == nil) != gv {
				t.Fatalf("Decode with verify: %v, gVisor checksum valid = %v", err, gv)
			}
		}

		raw, err := ParseOptions(h.Options())
		if err != nil {
			t.Fatalf("Parse accepted options ParseOptions rejects: %v", err)
		}
		checkOptionsWithGVisor(t, h.Options(), &raw)

		// Decode → Encode → Decode.
		b := make([]byte, seg.HeaderLen()+len(seg.Payload))
		n := Encode(b, &seg)
		if n != seg.HeaderLen() || n > HeaderMaxLen || n%4 != 0 {
			t.Fatalf("Encode wrote %d, HeaderLen %d", n, seg.HeaderLen())
		}
		copy(b[n:], seg.Payload)
		Header(b).ComputeChecksumIPv4(src, dst)
		seg2, err := Decode(b, src, dst, true)
		if err != nil {
			t.Fatalf("re-Decode of %x: %v", b, err)
		}
		want := seg
		if want.Flags&FlagSYN != 0 {
			want.Options.NumSACK, want.Options.SACK = 0, [4]SACKBlock{}
		}
		if seg2.String() != want.String() || seg2.Options != want.Options ||
			!bytes.Equal(seg2.Payload, want.Payload) {
			t.Fatalf("round trip:\n  %v\nwant\n  %v", &seg2, &want)
		}
	})
}

// FuzzOptions feeds arbitrary option areas (of any length, not only the 40
// octets a header can hold) to ParseOptions and checks that it never panics,
// that a rejection returns the zero Options, that accepted options agree with
// gVisor, and that EncodeOptions of the parsed value writes EncodedLen
// octets that re-parse to the same value, less what EncodeOptions documents
// it leaves out: MSS, Window Scale and SACK-Permitted off a SYN, SACK blocks
// on a SYN, a fourth SACK block beside a timestamp.
func FuzzOptions(f *testing.F) {
	f.Add(wireHex(f, "020405b40402080ae9889456000000000103030a"), true)
	f.Fuzz(func(t *testing.T, data []byte, syn bool) {
		o, err := ParseOptions(data)
		if err != nil {
			if !errors.Is(err, ErrOptions) || o != (Options{}) {
				t.Fatalf("ParseOptions(%x) = %+v, %v", data, o, err)
			}
			return
		}
		if o.WScale > MaxWScale || o.NumSACK < 0 || o.NumSACK > 4 {
			t.Fatalf("ParseOptions(%x) = %+v out of range", data, o)
		}
		checkOptionsWithGVisor(t, data, &o)

		var buf [HeaderMaxLen - HeaderMinLen]byte
		n := EncodeOptions(buf[:], &o, syn)
		if n != o.EncodedLen(syn) || n%4 != 0 {
			t.Fatalf("EncodeOptions wrote %d, EncodedLen %d", n, o.EncodedLen(syn))
		}
		p, err := ParseOptions(buf[:n])
		if err != nil {
			t.Fatalf("re-parse of %x: %v", buf[:n], err)
		}
		want := o
		if syn {
			want.NumSACK, want.SACK = 0, [4]SACKBlock{}
		} else {
			want.MSS, want.HasWScale, want.WScale, want.SACKPermitted = 0, false, 0, false
			if want.HasTimestamp && want.NumSACK == 4 {
				want.NumSACK, want.SACK[3] = 3, SACKBlock{}
			}
		}
		if p != want {
			t.Fatalf("round trip of %x via %x:\n  %+v\nwant\n  %+v", data, buf[:n], p, want)
		}
	})
}

// checkOptionsWithGVisor compares options o, which ParseOptions accepted from
// b, with gVisor's parsers. Legitimate differences:
//   - ParseSynOptions reports MSS 536 (RFC 1122's default) when there is no
//     MSS option, and raises an MSS below header.TCPMinimumSendMSS to it; we
//     report what was sent and leave defaults to the TCB.
//   - ParseSynOptions stops parsing at an MSS option of value 0; we treat
//     that option as absent and go on, so the comparison is skipped then.
//   - ParseSynOptions reports WS -1 for no option; we use HasWScale.
//   - Illegal lengths stop gVisor's walk and keep what it parsed; we reject
//     the whole option area (ErrOptions), so never reach this function.
func checkOptionsWithGVisor(t *testing.T, b []byte, o *Options) {
	t.Helper()
	gt := header.ParseTCPOptions(b)
	if gt.TS != o.HasTimestamp || (gt.TS && (gt.TSVal != o.TSVal || gt.TSEcr != o.TSEcr)) {
		t.Fatalf("timestamp: ours %v %d/%d, gVisor %v %d/%d",
			o.HasTimestamp, o.TSVal, o.TSEcr, gt.TS, gt.TSVal, gt.TSEcr)
	}
	if len(gt.SACKBlocks) != o.NumSACK {
		t.Fatalf("SACK: ours %d blocks, gVisor %d", o.NumSACK, len(gt.SACKBlocks))
	}
	for i, blk := range gt.SACKBlocks {
		if uint32(blk.Start) != uint32(o.SACK[i].Start) || uint32(blk.End) != uint32(o.SACK[i].End) {
			t.Fatalf("SACK block %d: ours %v, gVisor %v", i, o.SACK[i], blk)
		}
	}

	if hasZeroMSS(b) {
		return
	}
	gs := header.ParseSynOptions(b, true)
	wantMSS := uint16(header.TCPDefaultMSS)
	if o.MSS != 0 {
		wantMSS = max(o.MSS, header.TCPMinimumSendMSS)
	}
	wantWS := -1
	if o.HasWScale {
		wantWS = int(o.WScale)
	}
	if gs.MSS != wantMSS || gs.WS != wantWS || gs.SACKPermitted != o.SACKPermitted ||
		gs.TS != o.HasTimestamp || gs.TSVal != o.TSVal || gs.TSEcr != o.TSEcr {
		t.Fatalf("SYN options of %x: ours %+v, gVisor %+v", b, *o, gs)
	}
}

// hasZeroMSS reports whether the well-formed option area b holds an MSS
// option with value 0 before any EOL.
func hasZeroMSS(b []byte) bool {
	for i := 0; i < len(b); {
		switch b[i] {
		case OptEOL:
			return false
		case OptNOP:
			i++
			continue
		case OptMSS:
			if b[i+2] == 0 && b[i+3] == 0 {
				return true
			}
		}
		i += int(b[i+1])
	}
	return false
}
