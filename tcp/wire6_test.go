package tcp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	gvchecksum "gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// A SYN from [fe80::1]:40000 to [fe80::5054:ff:fe12:3456]:80 with MSS 1440
// (the IPv6 MSS of a 1500-octet link, RFC 8200 §5 less 60). Its checksum,
// 0x79c4, was computed apart from this package: a ten-line Python one's
// complement sum over the RFC 8200 §8.1 pseudo-header (the addresses, the
// length as 32 bits, three zeros and Next Header 6) and the segment.
var (
	wire6Client = netip.MustParseAddr("fe80::1")
	wire6Server = netip.MustParseAddr("fe80::5054:ff:fe12:3456")
	goldenSYN6  = "9c40005001020304000000006002fd2079c40000020405a0"
)

func TestVerifyIPv6_GoldenSYN(t *testing.T) {
	h, err := Parse(wireHex(t, goldenSYN6))
	if err != nil {
		t.Fatal(err)
	}
	if h.Checksum() != 0x79c4 {
		t.Fatalf("checksum field %#04x", h.Checksum())
	}
	if !h.VerifyIPv6(wire6Client, wire6Server) || !h.Verify(wire6Client, wire6Server) {
		t.Fatal("VerifyIPv6 rejects the independently computed checksum")
	}
	if h.VerifyIPv6(wire6Server, wire6Client.Next()) {
		t.Fatal("VerifyIPv6 accepts a different pseudo-header")
	}
	// The IPv4 pseudo-header over the same octets is another sum.
	if h.VerifyIPv4(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")) {
		t.Fatal("an IPv4 pseudo-header verifies an IPv6 checksum")
	}
	want := h.Checksum()
	h.SetChecksum(0xdead)
	h.ComputeChecksumIPv6(wire6Client, wire6Server)
	if h.Checksum() != want {
		t.Fatalf("ComputeChecksumIPv6 %#04x, want %#04x", h.Checksum(), want)
	}
	h.SetChecksum(0xdead)
	h.ComputeChecksum(wire6Client, wire6Server)
	if h.Checksum() != want {
		t.Fatalf("ComputeChecksum (family from the address) %#04x, want %#04x", h.Checksum(), want)
	}
}

// Decode verifies with the pseudo-header of the addresses' family: the
// golden IPv6 SYN decodes with its addresses and fails as a checksum error
// with a flipped bit.
func TestDecode_IPv6_VerifiesWithIPv6PseudoHeader(t *testing.T) {
	b := wireHex(t, goldenSYN6)
	seg, err := Decode(b, wire6Client, wire6Server, true)
	if err != nil {
		t.Fatal(err)
	}
	if seg.Options.MSS != 1440 || seg.Flags != FlagSYN {
		t.Fatalf("decoded %v", &seg)
	}
	b[4] ^= 0x80
	if _, err := Decode(b, wire6Client, wire6Server, true); err != ErrChecksum {
		t.Fatalf("flipped bit: %v, want ErrChecksum", err)
	}
}

// FuzzChecksumIPv6 checks the IPv6 checksum against gVisor's for arbitrary
// segments and addresses: the verdict on the stored checksum agrees with
// header.TCP.IsChecksumValid, and after ComputeChecksumIPv6 both accept it
// and Decode with verification succeeds.
func FuzzChecksumIPv6(f *testing.F) {
	f.Add(wireHex(f, goldenSYN6), wire6Client.AsSlice(), wire6Server.AsSlice())
	f.Add(wireHex(f, goldenData), make([]byte, 16), bytes.Repeat([]byte{0xff}, 16))
	f.Fuzz(func(t *testing.T, data, s, d []byte) {
		if len(s) < 16 || len(d) < 16 || len(data) > 0xffff {
			return
		}
		src, dst := netip.AddrFrom16([16]byte(s[:16])), netip.AddrFrom16([16]byte(d[:16]))
		gsrc, gdst := tcpip.AddrFrom16([16]byte(s[:16])), tcpip.AddrFrom16([16]byte(d[:16]))
		h, err := parseHeader(data)
		if err != nil {
			return
		}
		g := header.TCP(data)
		gv := g.IsChecksumValid(gsrc, gdst, gvchecksum.Checksum(h.Payload(), 0), uint16(len(h.Payload())))
		if ours := h.VerifyIPv6(src, dst); ours != gv {
			t.Fatalf("VerifyIPv6 = %v, gVisor = %v for %x", ours, gv, data)
		}
		if h.Verify(src, dst) != h.VerifyIPv6(src, dst) {
			t.Fatal("Verify of IPv6 addresses is not VerifyIPv6")
		}
		b := bytes.Clone(data)
		Header(b).ComputeChecksumIPv6(src, dst)
		if !Header(b).VerifyIPv6(src, dst) {
			t.Fatalf("VerifyIPv6 false after ComputeChecksumIPv6: %x", b)
		}
		if !header.TCP(b).IsChecksumValid(gsrc, gdst, gvchecksum.Checksum(Header(b).Payload(), 0), uint16(len(Header(b).Payload()))) {
			t.Fatalf("gVisor rejects our IPv6 checksum %#04x", binary.BigEndian.Uint16(b[16:]))
		}
		if _, err := ParseOptions(h.Options()); err == nil {
			if _, err := Decode(b, src, dst, true); err != nil {
				t.Fatalf("Decode of a segment with a computed IPv6 checksum: %v", err)
			}
		}
	})
}
