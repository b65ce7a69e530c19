package ipv6

import (
	"testing"
	"time"
)

// FuzzReassembly feeds a run of fragments described by the input, 5 octets
// each: the key (2 bits: two IDs, with or without a hop-by-hop header in
// front), offset in 8-octet blocks (12 bits), length (octets, up to 255),
// M, and a time step. Every fragment's data is the pattern pos(i) of its
// absolute position, so whatever completes must hold exactly that pattern.
// No panic; memory within bounds and zero once all expired; a completed
// packet parses, has its Payload Length right and carries the pattern.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{0, 0, 0, 16, 1, 0, 0, 2, 8, 0})
	f.Add([]byte{0, 0, 2, 8, 0, 0, 0, 0, 16, 1})
	f.Add([]byte{0, 0, 0, 16, 1, 0, 0, 1, 16, 1})    // overlap
	f.Add([]byte{1, 0, 0, 8, 1, 1, 0, 1, 8, 0x80})   // hop-by-hop, timeout
	f.Add([]byte{0, 0xff, 0xf0, 255, 0, 0, 0, 0, 8}) // too big
	pos := func(i int) byte { return byte(i*13 + i>>8) }
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxBytes = 8192
		r := NewReassembler(ReassemblyConfig{MaxBytes: maxBytes, MaxDatagrams: 4})
		now := reasmEpoch
		for ; len(in) >= 5; in = in[5:] {
			key := in[0] & 3
			off := (int(in[0]>>4)<<8 | int(in[1])) * 8
			n := int(in[2])
			more := in[3]&1 != 0
			now = now.Add(time.Duration(in[4]) * time.Second)
			data := make([]byte, n)
			for i := range data {
				data[i] = pos(off + i)
			}
			h := fragPkt(ProtoUDP, off, more, uint32(key>>1), data, key&1 != 0)
			fh := Ext{Proto: ProtoFragment, Off: len(h) - n - 8}
			fh.Data = h[fh.Off : fh.Off+8]
			r.Expire(now, func(first Header) {
				if _, err := Parse(first); err != nil || len(first) > HeaderLen+MaxQuote+8 {
					t.Fatalf("timed-out first fragment: %v, %d octets", err, len(first))
				}
			})
			pkt, res, pp := r.Add(h, fh, now)
			if (pp != nil) != (res == TooBig || res == BadLength || res == Incomplete) {
				t.Fatalf("%v with parameter problem %v", res, pp)
			}
			if b := r.Bytes(); b < 0 || b > maxBytes {
				t.Fatalf("Bytes = %d outside 0..%d", b, maxBytes)
			}
			if res != Complete {
				continue
			}
			p, err := Parse(pkt)
			if err != nil || len(p) != len(pkt) {
				t.Fatalf("reassembled packet does not parse: %v", err)
			}
			unfrag := HeaderLen // the first fragment's: with or without hop-by-hop
			if p.NextHeader() == ProtoHopByHop {
				unfrag += 8
			}
			for i, b := range p[unfrag:] {
				if b != pos(i) {
					t.Fatalf("reassembled data octet %d is %#x, want %#x", i, b, pos(i))
				}
			}
		}
		r.Expire(now.Add(DefaultReassemblyTimeout+time.Hour), nil)
		if r.Bytes() != 0 || r.Len() != 0 {
			t.Fatalf("after expiry: %d bytes, %d packets", r.Bytes(), r.Len())
		}
	})
}
