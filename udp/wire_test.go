package udp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/internal/checksum"
)

// goldenIPv4 is a datagram captured from Linux: 10.0.0.1:40000 sent
// "tapstack" to 10.0.0.2:7 over a veth with transmit checksum offload off
// (ethtool -K v0 tx off), so the kernel computed the checksum in software;
// read back with an AF_PACKET socket on the peer. The full IPv4 packet was
// 45000024935f4000401193670a0000010a000002 followed by these bytes.
const goldenIPv4 = "9c400007001092e2" + "746170737461636b"

var (
	goldenSrc = netip.MustParseAddr("10.0.0.1")
	goldenDst = netip.MustParseAddr("10.0.0.2")
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse_CapturedDatagram_FieldsAndChecksumMatch(t *testing.T) {
	b := mustHex(t, goldenIPv4)
	h, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := h.SrcPort(); got != 40000 {
		t.Errorf("SrcPort = %d, want 40000", got)
	}
	if got := h.DstPort(); got != 7 {
		t.Errorf("DstPort = %d, want 7", got)
	}
	if got := h.Length(); got != 16 {
		t.Errorf("Length = %d, want 16", got)
	}
	if got := h.Checksum(); got != 0x92e2 {
		t.Errorf("Checksum = %#04x, want 0x92e2", got)
	}
	if got := string(h.Payload()); got != "tapstack" {
		t.Errorf("Payload = %q, want %q", got, "tapstack")
	}
	if !h.VerifyIPv4(goldenSrc, goldenDst) {
		t.Error("VerifyIPv4 = false for the kernel's checksum")
	}
	if h.VerifyIPv4(goldenDst, netip.MustParseAddr("10.0.0.3")) {
		t.Error("VerifyIPv4 = true with the wrong pseudo-header addresses")
	}
}

func TestEncode_CapturedDatagram_ReproducesKernelBytes(t *testing.T) {
	want := mustHex(t, goldenIPv4)
	b := make([]byte, HeaderLen+8)
	copy(b[HeaderLen:], "tapstack")
	Encode(b, 40000, 7, 8)
	if Header(b).Checksum() != 0 {
		t.Fatal("Encode left a nonzero checksum")
	}
	Header(b).ComputeChecksumIPv4(goldenSrc, goldenDst)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded %x\nwant    %x", b, want)
	}
}

func TestVerifyIPv4_ChecksumBitFlipped_Rejects(t *testing.T) {
	for i := range 16 * 8 {
		b := mustHex(t, goldenIPv4)
		b[i/8] ^= 1 << (i % 8)
		h, err := Parse(b)
		if err != nil {
			continue // the flip hit the length field
		}
		if h.VerifyIPv4(goldenSrc, goldenDst) {
			t.Fatalf("bit %d flipped: VerifyIPv4 = true", i)
		}
	}
}

func TestVerifyIPv4_ZeroChecksum_AcceptedAsNoneSent(t *testing.T) {
	b := mustHex(t, goldenIPv4)
	b[HeaderLen] ^= 0xff // corrupt the payload too: nothing is checked
	h, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	h.SetChecksum(0)
	if !h.VerifyIPv4(goldenSrc, goldenDst) {
		t.Fatal("VerifyIPv4 = false for checksum 0 (none sent, RFC 768)")
	}
}

func TestComputeChecksumIPv4_ComputedZero_SentAsAllOnes(t *testing.T) {
	// Choose the last two payload bytes so the one's-complement sum over
	// pseudo-header, header and payload is 0xffff, i.e. the checksum is 0.
	b := make([]byte, HeaderLen+4)
	copy(b[HeaderLen:], "ab")
	Encode(b, 1234, 53, 4)
	h := Header(b)
	partial := checksum.Fold(checksum.Sum(h, checksum.PseudoHeaderIPv4(goldenSrc, goldenDst, 17, uint16(len(h)))))
	fill := 0xffff - partial // partial +' fill == 0xffff, no carry
	b[HeaderLen+2], b[HeaderLen+3] = byte(fill>>8), byte(fill)
	if got := checksum.Checksum(h, checksum.PseudoHeaderIPv4(goldenSrc, goldenDst, 17, uint16(len(h)))); got != 0 {
		t.Fatalf("test setup: raw checksum = %#04x, want 0", got)
	}

	h.ComputeChecksumIPv4(goldenSrc, goldenDst)
	if got := h.Checksum(); got != 0xffff {
		t.Fatalf("Checksum = %#04x, want 0xffff for a computed zero", got)
	}
	if !h.VerifyIPv4(goldenSrc, goldenDst) {
		t.Fatal("VerifyIPv4 = false for 0xffff standing for a computed zero")
	}
}

func TestComputeChecksumIPv4_StaleChecksumField_Ignored(t *testing.T) {
	b := mustHex(t, goldenIPv4)
	Header(b).SetChecksum(0x1234)
	Header(b).ComputeChecksumIPv4(goldenSrc, goldenDst)
	if got := Header(b).Checksum(); got != 0x92e2 {
		t.Fatalf("Checksum = %#04x, want 0x92e2", got)
	}
}

func TestParse_BadInput_Rejected(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrTruncated},
		{"seven bytes", "9c400007001092", ErrTruncated},
		{"length zero", "9c40000700000000", ErrLength},
		{"length seven", "9c40000700070000", ErrLength},
		{"length past buffer", "9c4000070011000074617073746163", ErrLength},
		{"length 65535 in short buffer", "9c400007ffff0000", ErrLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustHex(t, tt.in)
			h, err := Parse(in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%x) = %x, %v; want %v", in, h, err, tt.want)
			}
			if h != nil {
				t.Fatalf("Parse returned a header with an error")
			}
		})
	}
}

func TestParse_HeaderOnly_EmptyPayload(t *testing.T) {
	h, err := Parse(mustHex(t, "0035c35000080000"))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Payload()) != 0 || h.Length() != HeaderLen {
		t.Fatalf("Payload = %x, Length = %d; want empty, 8", h.Payload(), h.Length())
	}
}

func TestParse_BytesPastLengthField_Trimmed(t *testing.T) {
	// Ethernet padding or trailing junk after the datagram: the IP layer
	// hands over more than Length bytes and UDP ignores the excess.
	b := append(mustHex(t, goldenIPv4), 0, 0, 0xde, 0xad)
	h, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 16 || string(h.Payload()) != "tapstack" {
		t.Fatalf("Parse kept %d bytes, payload %q; want 16, \"tapstack\"", len(h), h.Payload())
	}
	if !h.VerifyIPv4(goldenSrc, goldenDst) {
		t.Fatal("checksum must cover only Length bytes")
	}
}

func TestSetters_RoundTripThroughAccessors(t *testing.T) {
	h := Header(make([]byte, 20))
	h.SetSrcPort(0xfffe)
	h.SetDstPort(1)
	h.SetLength(20)
	h.SetChecksum(0xabcd)
	if h.SrcPort() != 0xfffe || h.DstPort() != 1 || h.Length() != 20 || h.Checksum() != 0xabcd {
		t.Fatalf("got %d %d %d %#x", h.SrcPort(), h.DstPort(), h.Length(), h.Checksum())
	}
	if len(h.Payload()) != 12 {
		t.Fatalf("len(Payload) = %d, want 12", len(h.Payload()))
	}
}

func TestWirePath_DoesNotAllocate(t *testing.T) {
	b := mustHex(t, goldenIPv4)
	allocs := testing.AllocsPerRun(100, func() {
		h, err := Parse(b)
		if err != nil || !h.VerifyIPv4(goldenSrc, goldenDst) {
			t.Fatal("bad golden")
		}
		h.ComputeChecksumIPv4(goldenSrc, goldenDst)
	})
	if allocs != 0 {
		t.Fatalf("Parse+Verify+Compute allocate %v times", allocs)
	}
}
