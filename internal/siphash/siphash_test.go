package siphash

import "testing"

// The reference vectors of the SipHash paper's vectors.h: key 00..0f and
// messages 00, 01, ... of growing length, little-endian outputs.
func TestSum64_ReferenceVectors(t *testing.T) {
	k0, k1 := uint64(0x0706050403020100), uint64(0x0f0e0d0c0b0a0908)
	msg := make([]byte, 16)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, tc := range []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{15, 0xa129ca6149be45e5},
		{16, 0x3f2acc7f57c29bdb},
	} {
		if got := Sum64(k0, k1, msg[:tc.n]); got != tc.want {
			t.Errorf("SipHash-2-4 of %d bytes = %#016x, want %#016x", tc.n, got, tc.want)
		}
	}
}

func TestSum64_DoesNotAllocate(t *testing.T) {
	var msg [36]byte
	if n := testing.AllocsPerRun(100, func() { Sum64(1, 2, msg[:]) }); n != 0 {
		t.Errorf("allocations = %v", n)
	}
}
