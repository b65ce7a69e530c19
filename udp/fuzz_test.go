package udp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	gvchecksum "gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// FuzzParse feeds arbitrary IP payloads (and pseudo-header addresses) to
// Parse and checks that it never panics, that it accepts exactly what
// gVisor's header.UDPValid accepts, that accepted datagrams decode like
// gVisor's header.UDP, that parse → Encode → parse is the identity, and that
// our checksum verification agrees with gVisor's and survives a recompute.
//
// The seed corpus in testdata/fuzz/FuzzParse holds the tricky cases:
// empty and 7-byte inputs, length fields 0, 7, 8 and past the buffer,
// trailing bytes after Length, checksum 0 and 0xffff, odd payload lengths,
// and the captured golden datagram.
func FuzzParse(f *testing.F) {
	f.Add(mustHex(f, goldenIPv4), uint32(0x0a000001), uint32(0x0a000002))
	f.Fuzz(func(t *testing.T, data []byte, srcIP, dstIP uint32) {
		src := netip.AddrFrom4(be4(srcIP))
		dst := netip.AddrFrom4(be4(dstIP))
		gsrc := tcpip.AddrFrom4(be4(srcIP))
		gdst := tcpip.AddrFrom4(be4(dstIP))

		h, err := Parse(data)

		// Acceptance agrees with gVisor's length check (after its own
		// minimum-size check in the UDP endpoint).
		// UDPValid adds payloadSize+8 in uint16, so cap payloadSize where
		// every length field fits anyway.
		gvOK := len(data) >= header.UDPMinimumSize
		if gvOK {
			size := uint16(min(len(data)-header.UDPMinimumSize, 0xffff-header.UDPMinimumSize))
			gvOK, _ = header.UDPValid(header.UDP(data), nil, size, header.IPv4ProtocolNumber, gsrc, gdst, true)
		}
		if (err == nil) != gvOK {
			t.Fatalf("Parse(%x) err = %v, gVisor valid = %v", data, err, gvOK)
		}
		if err != nil {
			if h != nil {
				t.Fatal("non-nil header with error")
			}
			return
		}

		// Field agreement with gVisor.
		g := header.UDP(data)
		if h.SrcPort() != g.SourcePort() || h.DstPort() != g.DestinationPort() ||
			h.Length() != int(g.Length()) || h.Checksum() != g.Checksum() {
			t.Fatalf("fields differ: ours %d %d %d %#x, gVisor %d %d %d %#x",
				h.SrcPort(), h.DstPort(), h.Length(), h.Checksum(),
				g.SourcePort(), g.DestinationPort(), g.Length(), g.Checksum())
		}
		if len(h) != h.Length() || !bytes.Equal(h.Payload(), data[HeaderLen:h.Length()]) {
			t.Fatalf("header not trimmed to Length: len %d, Length %d", len(h), h.Length())
		}

		// Checksum verdict agrees with gVisor, zero checksum included.
		payload := h.Payload()
		_, gvCsum := header.UDPValid(header.UDP(h), func() uint16 { return gvchecksum.Checksum(payload, 0) },
			uint16(len(payload)), header.IPv4ProtocolNumber, gsrc, gdst, false)
		if ours := h.VerifyIPv4(src, dst); ours != gvCsum {
			t.Fatalf("VerifyIPv4 = %v, gVisor = %v for %x", ours, gvCsum, []byte(h))
		}

		// parse → Encode → parse.
		b := make([]byte, len(h))
		copy(b[HeaderLen:], payload)
		Encode(b, h.SrcPort(), h.DstPort(), len(payload))
		Header(b).SetChecksum(h.Checksum())
		h2, err := Parse(b)
		if err != nil {
			t.Fatalf("re-Parse of encoded datagram: %v", err)
		}
		if !bytes.Equal(h2, h) {
			t.Fatalf("round trip: got %x, want %x", []byte(h2), []byte(h))
		}

		// compute → verify, ours and gVisor's.
		h2.ComputeChecksumIPv4(src, dst)
		if h2.Checksum() == 0 {
			t.Fatal("ComputeChecksumIPv4 stored 0")
		}
		if !h2.VerifyIPv4(src, dst) {
			t.Fatalf("VerifyIPv4 false after ComputeChecksumIPv4: %x", []byte(h2))
		}
		if !header.UDP(h2).IsChecksumValid(gsrc, gdst, gvchecksum.Checksum(h2.Payload(), 0)) {
			t.Fatalf("gVisor rejects our checksum %#04x on %x", h2.Checksum(), []byte(h2))
		}
		// gVisor computes the same value (before RFC 768's zero → 0xffff).
		gh := header.UDP(bytes.Clone(h2))
		gh.SetChecksum(0)
		xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, gsrc, gdst, uint16(len(gh)))
		xsum = gvchecksum.Checksum(gh.Payload(), xsum)
		want := ^gh.CalculateChecksum(xsum)
		if want == 0 {
			want = 0xffff
		}
		if h2.Checksum() != want {
			t.Fatalf("checksum %#04x, gVisor computes %#04x", h2.Checksum(), want)
		}
	})
}

func be4(v uint32) [4]byte {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], v)
	return a
}
