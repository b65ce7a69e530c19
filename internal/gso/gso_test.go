package gso

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/tapstack/tapstack/internal/checksum"
)

// packet builds an IPv4 (v6 false) or IPv6 packet from 10.0.0.1 or
// 2001:db8::1 to .2 holding a TCP segment with a 12-octet option area,
// seq 0xfffffff0 (the cut wraps), flags and payload; the TCP checksum
// field holds junk, as a partial one would.
func packet(v6 bool, flags byte, payload []byte) []byte {
	th := make([]byte, 32+len(payload))
	binary.BigEndian.PutUint16(th[0:], 80)
	binary.BigEndian.PutUint16(th[2:], 40000)
	binary.BigEndian.PutUint32(th[4:], 0xfffffff0)
	th[12], th[13] = 8<<4, flags
	binary.BigEndian.PutUint16(th[16:], 0xbeef)
	copy(th[32:], payload)
	if v6 {
		p := make([]byte, 40+len(th))
		p[0], p[6], p[7] = 0x60, 6, 64
		binary.BigEndian.PutUint16(p[4:], uint16(len(th)))
		p[8], p[9], p[23] = 0x20, 0x01, 1
		p[24], p[25], p[39] = 0x20, 0x01, 2
		copy(p[40:], th)
		return p
	}
	p := make([]byte, 20+len(th))
	p[0], p[8], p[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], 0xfffe)
	binary.BigEndian.PutUint16(p[6:], 0x4000) // DF
	p[12], p[15], p[16], p[19] = 10, 1, 10, 2
	copy(p[20:], th)
	return p
}

// verify checks piece p of a cut: its IP length, its IPv4 header
// checksum, and its TCP checksum over its pseudo-header.
func verify(t *testing.T, p []byte) {
	t.Helper()
	var ph uint32
	ipLen := 40
	if p[0]>>4 == 4 {
		ipLen = 20
		if int(binary.BigEndian.Uint16(p[2:])) != len(p) || checksum.Checksum(p[:20], 0) != 0 {
			t.Fatalf("IPv4 header: Total Length %d for %d octets, or a bad checksum", binary.BigEndian.Uint16(p[2:]), len(p))
		}
		ph = checksum.Sum(p[12:20], 0)
	} else {
		if int(binary.BigEndian.Uint16(p[4:]))+40 != len(p) {
			t.Fatalf("IPv6 Payload Length %d for %d octets", binary.BigEndian.Uint16(p[4:]), len(p))
		}
		ph = checksum.Sum(p[8:40], 0)
	}
	if checksum.Checksum(p[ipLen:], ph+6+uint32(len(p)-ipLen)) != 0 {
		t.Fatal("the TCP checksum does not verify")
	}
}

// Both families: the pieces carry the payload in order, each at most the
// size, the sequence numbers stepping (and wrapping) by it, FIN and PSH
// on the last only, CWR on the first only, IPv4 IDs consecutive (and
// wrapping), every length and checksum right; the link header room in
// front is kept.
func TestSegments_BothFamilies(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		payload := make([]byte, 2500)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		pkt := packet(v6, flagFIN|flagPSH|flagCWR|0x10, payload)
		buf := []byte("LINKHDR")
		var got []byte
		i := 0
		for p := range Segments(&buf, 7, pkt, 1000) {
			verify(t, p)
			if string(buf[:7]) != "LINKHDR" {
				t.Fatalf("the headroom was overwritten: %q", buf[:7])
			}
			ipLen := 40
			if !v6 {
				ipLen = 20
				if id := binary.BigEndian.Uint16(p[4:]); id != 0xfffe+uint16(i) {
					t.Errorf("v4 piece %d: ID %#x", i, id)
				}
			}
			th := p[ipLen:]
			wantFlags := byte(0x10)
			if i == 0 {
				wantFlags |= flagCWR
			}
			if i == 2 {
				wantFlags |= flagFIN | flagPSH
			}
			if seq := binary.BigEndian.Uint32(th[4:]); seq != 0xfffffff0+uint32(i*1000) || th[13] != wantFlags || len(th)-32 > 1000 {
				t.Errorf("v6 %v piece %d: seq %#x flags %#x, %d octets", v6, i, seq, th[13], len(th)-32)
			}
			got = append(got, th[32:]...)
			i++
		}
		if i != 3 || !bytes.Equal(got, payload) {
			t.Errorf("v6 %v: %d pieces carrying %d octets, want 3 carrying the %d in order", v6, i, len(got), len(payload))
		}
	}
}

// Check refuses what the cut cannot handle, trims what it can.
func TestCheck(t *testing.T) {
	good4, good6 := packet(false, 0x10, make([]byte, 100)), packet(true, 0x10, make([]byte, 100))
	if p, err := Check(append(good4, 0, 0, 0)); err != nil || len(p) != len(good4) {
		t.Errorf("IPv4 with padding: %d octets, %v; want it trimmed", len(p), err)
	}
	if p, err := Check(good6); err != nil || len(p) != len(good6) {
		t.Errorf("IPv6: %d octets, %v", len(p), err)
	}
	mod := func(b []byte, f func([]byte)) []byte {
		b = bytes.Clone(b)
		f(b)
		return b
	}
	for name, b := range map[string][]byte{
		"empty":             nil,
		"version 5":         mod(good4, func(b []byte) { b[0] = 0x55 }),
		"v4 fragment":       mod(good4, func(b []byte) { b[6] = 0x20 }),
		"v4 UDP":            mod(good4, func(b []byte) { b[9] = 17 }),
		"v4 IHL 4":          mod(good4, func(b []byte) { b[0] = 0x44 }),
		"v4 total too long": mod(good4, func(b []byte) { binary.BigEndian.PutUint16(b[2:], uint16(len(b)+1)) }),
		"v6 hop-by-hop":     mod(good6, func(b []byte) { b[6] = 0 }),
		"v6 payload long":   mod(good6, func(b []byte) { binary.BigEndian.PutUint16(b[4:], uint16(len(b))) }),
		"data offset 4":     mod(good6, func(b []byte) { b[40+12] = 4 << 4 }),
		"data offset 15":    mod(good4, func(b []byte) { binary.BigEndian.PutUint16(b[2:], 20+40); b[20+12] = 15 << 4 }),
		"v6 short":          good6[:39],
	} {
		if _, err := Check(b); err != ErrNotTCP {
			t.Errorf("%s: %v, want ErrNotTCP", name, err)
		}
	}
}

// FuzzSegments: whatever Check accepts, Segments cuts without panicking
// into valid pieces that carry the payload in order.
func FuzzSegments(f *testing.F) {
	f.Add(packet(false, 0x19, make([]byte, 3000)), 1460)
	f.Add(packet(true, 0x99, make([]byte, 3000)), 1000)
	f.Add(packet(true, 0x10, nil), 1)
	f.Fuzz(func(t *testing.T, b []byte, size int) {
		pkt, err := Check(b)
		if err != nil {
			return
		}
		size = int(uint(size)%5000) + 1
		var buf []byte
		var got []byte
		for p := range Segments(&buf, 14, pkt, size) {
			verify(t, p)
			ipLen := 40
			if p[0]>>4 == 4 {
				ipLen = int(p[0]&0x0f) * 4
			}
			th := p[ipLen:]
			pl := th[dataOffset(th):]
			if len(pl) > size {
				t.Fatalf("a piece of %d octets, size %d", len(pl), size)
			}
			got = append(got, pl...)
		}
		ipLen := 40
		if pkt[0]>>4 == 4 {
			ipLen = int(pkt[0]&0x0f) * 4
		}
		if want := pkt[ipLen+dataOffset(pkt[ipLen:]):]; !bytes.Equal(got, want) {
			t.Fatalf("pieces carry %d octets, want the %d of the payload", len(got), len(want))
		}
	})
}
