package udp

import (
	"bytes"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	gvchecksum "gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// "hello, tapstack\n" from [fe80::1]:40000 to [fe80::5054:ff:fe12:3456]:7.
// Its checksum, 0xdcf2, was computed apart from this package: a ten-line
// Python one's complement sum over the RFC 8200 §8.1 pseudo-header (the
// addresses, the UDP length as 32 bits, three zeros and Next Header 17)
// and the datagram.
var (
	wire6Src      = netip.MustParseAddr("fe80::1")
	wire6Dst      = netip.MustParseAddr("fe80::5054:ff:fe12:3456")
	goldenIPv6UDP = "9c4000070018dcf268656c6c6f2c20746170737461636b0a"
)

func TestVerifyIPv6_Golden(t *testing.T) {
	h, err := Parse(mustHex(t, goldenIPv6UDP))
	if err != nil {
		t.Fatal(err)
	}
	if !h.VerifyIPv6(wire6Src, wire6Dst) || !h.Verify(wire6Src, wire6Dst) {
		t.Fatal("VerifyIPv6 rejects the independently computed checksum")
	}
	if h.VerifyIPv6(wire6Dst, wire6Src.Next()) {
		t.Fatal("VerifyIPv6 accepts another pseudo-header")
	}
	want := h.Checksum()
	h.SetChecksum(0x1234)
	h.ComputeChecksum(wire6Src, wire6Dst)
	if h.Checksum() != want {
		t.Fatalf("ComputeChecksum %#04x, want %#04x", h.Checksum(), want)
	}
}

// zeroSumDatagram returns the golden datagram with two more octets chosen
// so that its checksum computes to zero: the one case where a zero field
// and the sum agree, so only the mandatory-checksum rule tells them apart.
func zeroSumDatagram(t *testing.T) Header {
	t.Helper()
	h, _ := Parse(mustHex(t, goldenIPv6UDP))
	b := append(bytes.Clone([]byte(h)), 0, 0)
	u := Header(b)
	u.SetLength(len(b))
	for v := 0; v < 0x10000; v++ {
		b[len(b)-2], b[len(b)-1] = byte(v>>8), byte(v)
		u.SetChecksum(0)
		if u.sumIPv6(wire6Src, wire6Dst) == 0 {
			return u
		}
	}
	t.Fatal("no payload computes to zero")
	return nil
}

// RFC 8200 §8.1: over IPv6 the UDP checksum is mandatory, so a zero field
// fails (VerifyIPv4 takes it as "none sent"), even where the one's
// complement sum would come out right.
func TestVerifyIPv6_ZeroChecksum_Rejected(t *testing.T) {
	for _, u := range []Header{mustHex(t, goldenIPv6UDP), zeroSumDatagram(t)} {
		u.SetChecksum(0)
		if u.VerifyIPv6(wire6Src, wire6Dst) || u.Verify(wire6Src, wire6Dst) {
			t.Fatalf("a zero checksum verifies over IPv6: %x", []byte(u))
		}
	}
}

// A datagram whose checksum computes to zero is sent with 0xffff over IPv6
// too (RFC 8200 §8.1), and verifies.
func TestComputeChecksumIPv6_ComputedZero_SentAsAllOnes(t *testing.T) {
	u := zeroSumDatagram(t)
	u.ComputeChecksumIPv6(wire6Src, wire6Dst)
	if u.Checksum() != 0xffff {
		t.Fatalf("checksum %#04x, want 0xffff for a computed zero", u.Checksum())
	}
	if !u.VerifyIPv6(wire6Src, wire6Dst) {
		t.Fatal("0xffff does not verify")
	}
}

// FuzzChecksumIPv6 checks the IPv6 checksum against gVisor's for arbitrary
// datagrams and addresses: VerifyIPv6 agrees with header.UDPValid with the
// IPv6 protocol number (which rejects a zero checksum), ComputeChecksumIPv6
// never stores zero and gVisor accepts what it stores.
func FuzzChecksumIPv6(f *testing.F) {
	f.Add(mustHex(f, goldenIPv6UDP), wire6Src.AsSlice(), wire6Dst.AsSlice())
	f.Add(mustHex(f, goldenIPv4), make([]byte, 16), bytes.Repeat([]byte{0xff}, 16))
	f.Fuzz(func(t *testing.T, data, s, d []byte) {
		if len(s) < 16 || len(d) < 16 {
			return
		}
		h, err := Parse(data)
		if err != nil {
			return
		}
		src, dst := netip.AddrFrom16([16]byte(s[:16])), netip.AddrFrom16([16]byte(d[:16]))
		gsrc, gdst := tcpip.AddrFrom16([16]byte(s[:16])), tcpip.AddrFrom16([16]byte(d[:16]))
		payload := h.Payload()
		_, gv := header.UDPValid(header.UDP(h), func() uint16 { return gvchecksum.Checksum(payload, 0) },
			uint16(len(payload)), header.IPv6ProtocolNumber, gsrc, gdst, false)
		if ours := h.VerifyIPv6(src, dst); ours != gv {
			t.Fatalf("VerifyIPv6 = %v, gVisor = %v for %x", ours, gv, []byte(h))
		}
		if h.Verify(src, dst) != h.VerifyIPv6(src, dst) {
			t.Fatal("Verify of IPv6 addresses is not VerifyIPv6")
		}
		b := Header(bytes.Clone([]byte(h)))
		b.ComputeChecksumIPv6(src, dst)
		if b.Checksum() == 0 || !b.VerifyIPv6(src, dst) {
			t.Fatalf("after ComputeChecksumIPv6: checksum %#04x, verifies %v", b.Checksum(), b.VerifyIPv6(src, dst))
		}
		if !header.UDP(b).IsChecksumValid(gsrc, gdst, gvchecksum.Checksum(b.Payload(), 0)) {
			t.Fatalf("gVisor rejects our IPv6 checksum %#04x on %x", b.Checksum(), []byte(b))
		}
	})
}
