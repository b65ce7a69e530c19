package checksum

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	gvchecksum "gvisor.dev/gvisor/pkg/tcpip/checksum"
)

// naive is the RFC 1071 reference: 16-bit words summed with end-around carry.
func naive(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func TestChecksum_RFC1071Example(t *testing.T) {
	// RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Fold(Sum(b, 0)); got != 0xddf2 {
		t.Fatalf("Fold(Sum) = %#04x, want 0xddf2", got)
	}
	if got := Checksum(b, 0); got != ^uint16(0xddf2) {
		t.Fatalf("Checksum = %#04x, want %#04x", got, ^uint16(0xddf2))
	}
}

func TestChecksum_IPv4HeaderGolden(t *testing.T) {
	// A real IPv4 header (from a capture) with checksum 0xb861.
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61,
		0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if got := Checksum(h, 0); got != 0 {
		t.Fatalf("verifying a valid header: got %#04x, want 0", got)
	}
	h[10], h[11] = 0, 0
	if got := Checksum(h, 0); got != 0xb861 {
		t.Fatalf("Checksum = %#04x, want 0xb861", got)
	}
}

func TestChecksum_MatchesNaiveAllLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := Checksum(b, 0), naive(b); got != want {
			t.Fatalf("len %d: got %#04x, want %#04x", n, got, want)
		}
	}
	// All 0xff bytes stress the carries.
	b := make([]byte, 70000)
	for i := range b {
		b[i] = 0xff
	}
	if got, want := Checksum(b, 0), naive(b); got != want {
		t.Fatalf("all-ones: got %#04x, want %#04x", got, want)
	}
}

func TestChecksum_ChainedEqualsWhole(t *testing.T) {
	b := []byte("the quick brown fox jumps over the lazy dog!")
	whole := Checksum(b, 0)
	for cut := 0; cut <= len(b); cut += 2 {
		if got := Checksum(b[cut:], Sum(b[:cut], 0)); got != whole {
			t.Fatalf("cut %d: got %#04x, want %#04x", cut, got, whole)
		}
	}
}

func TestPseudoHeaderIPv4(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	ph := []byte{10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 12}
	if got, want := Fold(PseudoHeaderIPv4(src, dst, 17, 12)), Fold(Sum(ph, 0)); got != want {
		t.Fatalf("pseudo-header sum %#04x, want %#04x", got, want)
	}
}

func TestUpdate16_MatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		b := make([]byte, 20)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		b[10], b[11] = 0, 0
		binary.BigEndian.PutUint16(b[10:], Checksum(b, 0))
		old := binary.BigEndian.Uint16(b[8:])
		nv := uint16(r.Uint32())
		binary.BigEndian.PutUint16(b[8:], nv)
		cs := Update16(binary.BigEndian.Uint16(b[10:]), old, nv)
		binary.BigEndian.PutUint16(b[10:], cs)
		if Checksum(b, 0) != 0 {
			t.Fatalf("iteration %d: incremental update gave an invalid checksum", i)
		}
	}
}

// BenchmarkChecksum compares Checksum with gVisor's checksum package (the
// peer we measure ourselves against; tests only) at a small segment, a full
// 1500-byte frame and a 64 KiB super-segment.
func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{64, 1500, 65536} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run(fmt.Sprintf("tapstack/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				Checksum(buf, 0)
			}
		})
		b.Run(fmt.Sprintf("gvisor/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				gvchecksum.Checksum(buf, 0)
			}
		})
	}
}

// The end-around carry of a 64-byte block can carry once more: a sum of all
// ones plus a word of all ones and a carry in. Blocks of 0xff words after a
// sum already at all ones make it happen in every block.
func TestChecksum_CarryIntoAllOnes(t *testing.T) {
	for _, n := range []int{64, 128, 136, 1500, 4096} {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0xff
		}
		for _, initial := range []uint32{0, 1, 0xffff, 0x1fffe} {
			got := Fold(Sum(b, initial))
			want := Fold(uint32(^naive(b)) + initial)
			if got != want {
				t.Fatalf("len %d initial %#x: Fold(Sum) %#04x, want %#04x", n, initial, got, want)
			}
		}
	}
}

// SumSplit over two pieces equals the checksum of their concatenation for
// every split point, odd ones included (the second piece then sits at the
// other byte of each 16-bit word).
func TestSumSplit_EqualsSumOfConcatenation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{0, 1, 2, 3, 7, 64, 65, 1461, 4099} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := naive(b)
		for cut := 0; cut <= n; cut++ {
			if got := ^Fold(SumSplit(b[:cut], b[cut:], 0)); got != want {
				t.Fatalf("len %d cut at %d: %#04x, want %#04x", n, cut, got, want)
			}
		}
	}
}
