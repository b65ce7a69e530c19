package ipv6

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

type piece struct{ hdr, data []byte }

func fragmentAll(t *testing.T, pkt Header, mtu int, id uint32) []piece {
	t.Helper()
	var out []piece
	err := Fragment(pkt, mtu, id, func(hdr, data []byte) error {
		out = append(out, piece{append([]byte(nil), hdr...), data})
		return nil
	})
	if err != nil {
		t.Fatalf("Fragment: %v", err)
	}
	return out
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Golden bytes (RFC 8200 §4.5): a hop-by-hop header (unfragmentable) and
// 100 octets of UDP, MTU 107: 48 + 48 + 4 octets of data (51 would fit,
// but every fragment but the last carries a multiple of 8), each fragment
// the fixed header with Payload Length 16 + n, the hop-by-hop header with
// Next Header 44, and a Fragment header naming UDP (17) with the offset
// and M in the third and fourth octets and the Identification.
func TestFragment_Golden(t *testing.T) {
	data := testData(100)
	pkt := chain(ProtoHopByHop, data, optsHdr(ProtoUDP))
	got := fragmentAll(t, pkt, 107, 0xdeadbeef)
	const fixed = "60000000 %s 0040 20010db8000000000000000000000001 20010db8000000000000000000000002"
	want := []struct {
		hdr        string
		start, end int
	}{
		{strings.Replace(fixed, "%s", "0040", 1) + "2c00 0104 00000000" + "1100 0001 deadbeef", 0, 48},
		{strings.Replace(fixed, "%s", "0040", 1) + "2c00 0104 00000000" + "1100 0031 deadbeef", 48, 96},
		{strings.Replace(fixed, "%s", "0014", 1) + "2c00 0104 00000000" + "1100 0060 deadbeef", 96, 100},
	}
	if len(got) != len(want) {
		t.Fatalf("%d fragments, want %d", len(got), len(want))
	}
	for i, w := range want {
		if !bytes.Equal(got[i].hdr, unhex(w.hdr)) {
			t.Errorf("fragment %d header\n% x\nwant\n% x", i, got[i].hdr, unhex(w.hdr))
		}
		if !bytes.Equal(got[i].data, data[w.start:w.end]) {
			t.Errorf("fragment %d data is not octets %d-%d", i, w.start, w.end)
		}
		if n := len(got[i].hdr) + len(got[i].data); n > 107 {
			t.Errorf("fragment %d is %d octets, above the MTU", i, n)
		}
	}
}

// Each fragment parses in gVisor's header package with the offset, M,
// Identification and Next Header we meant, and the fragments reassemble to
// the original.
func TestFragment_GVisorAgreesAndReassembles(t *testing.T) {
	data := testData(3000)
	pkt := chain(ProtoICMPv6, data)
	got := fragmentAll(t, pkt, 1280, 0x01020304)
	r := NewReassembler(ReassemblyConfig{})
	off := 0
	for i, p := range got {
		f := append(append([]byte(nil), p.hdr...), p.data...)
		g := header.IPv6(f)
		if !g.IsValid(len(f)) || g.NextHeader() != uint8(header.IPv6FragmentHeader) || len(f) > 1280 {
			t.Fatalf("fragment %d: gVisor valid %v, next header %d, %d octets", i, g.IsValid(len(f)), g.NextHeader(), len(f))
		}
		fh := header.IPv6Fragment(f[HeaderLen:])
		last := i == len(got)-1
		if !fh.IsValid() || int(fh.FragmentOffset())*8 != off || fh.More() == last || fh.ID() != 0x01020304 || fh.NextHeader() != ProtoICMPv6 {
			t.Errorf("fragment %d: gVisor reads offset %d M %v id %#x next %d; want %d %v 0x1020304 58",
				i, fh.FragmentOffset()*8, fh.More(), fh.ID(), fh.NextHeader(), off, !last)
		}
		if !last && len(p.data)%8 != 0 {
			t.Errorf("fragment %d carries %d octets, not a multiple of 8", i, len(p.data))
		}
		off += len(p.data)
		h, _ := Parse(f)
		out, res, _ := r.Add(h, Ext{Proto: ProtoFragment, Off: HeaderLen, Data: f[HeaderLen : HeaderLen+8]}, reasmEpoch)
		if last != (res == Complete) {
			t.Fatalf("fragment %d: Add = %v", i, res)
		}
		if last && !bytes.Equal(out, pkt) {
			t.Errorf("reassembled packet differs from the original")
		}
	}
}

// RFC 8200 §4.5: the unfragmentable part is the fixed header, hop-by-hop
// and, with a routing header, everything up to it; destination options
// after it go with the fragmentable part.
func TestUnfragmentableLen(t *testing.T) {
	d := optsHdr
	for _, c := range []struct {
		name string
		pkt  Header
		want int
	}{
		{"none", chain(ProtoUDP, testData(8)), 40},
		{"hop-by-hop", chain(ProtoHopByHop, testData(8), d(ProtoDestOpts), d(ProtoUDP)), 48},
		{"destination options, routing, destination options", chain(ProtoHopByHop, testData(8),
			d(ProtoDestOpts), d(ProtoRouting), routingHdr(ProtoDestOpts, 2, 0), d(ProtoUDP)), 64},
		{"destination options only", chain(ProtoDestOpts, testData(8), d(ProtoUDP)), 40},
	} {
		if got, err := UnfragmentableLen(c.pkt); err != nil || got != c.want {
			t.Errorf("%s: UnfragmentableLen = %d %v, want %d", c.name, got, err, c.want)
		}
	}
	if _, err := UnfragmentableLen(chain(ProtoFragment, testData(8), fragHdr(ProtoUDP, 8, false, 1))); !errors.Is(err, ErrAlreadyFragment) {
		t.Errorf("fragment: err %v, want ErrAlreadyFragment", err)
	}
	if _, err := UnfragmentableLen(chain(ProtoHopByHop, nil, []byte{ProtoUDP, 1, 0, 0, 0, 0, 0, 0})); !errors.Is(err, ErrExtTruncated) {
		t.Errorf("truncated: err %v, want ErrExtTruncated", err)
	}
}

// A packet that fits is emitted as it is; an MTU with no room for 8
// octets of data is refused; emit's error stops the split.
func TestFragment_FitsTooSmallAndEmitError(t *testing.T) {
	pkt := chain(ProtoUDP, testData(100))
	got := fragmentAll(t, pkt, len(pkt), 1)
	if len(got) != 1 || !bytes.Equal(append(got[0].hdr, got[0].data...), pkt) {
		t.Errorf("a packet that fits was changed")
	}
	if err := Fragment(pkt, HeaderLen+FragHeaderLen+7, 1, func(_, _ []byte) error { return nil }); !errors.Is(err, ErrMTUTooSmall) {
		t.Errorf("MTU 55: err %v, want ErrMTUTooSmall", err)
	}
	stop := errors.New("stop")
	n := 0
	if err := Fragment(pkt, 80, 1, func(_, _ []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("emit error: err %v after %d calls, want stop after 1", err, n)
	}
}

// NewFragmentID never returns 0 and does not repeat in a short run.
func TestNewFragmentID_NonZeroFresh(t *testing.T) {
	seen := map[uint32]bool{}
	for range 1000 {
		id := NewFragmentID()
		if id == 0 || seen[id] {
			t.Fatalf("id %#x zero or repeated", id)
		}
		seen[id] = true
	}
}
