package ipv6

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tapstack/tapstack/clock"
)

var reasmEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testData is n octets of a pattern that differs at every 8-octet block.
func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// fragPkt builds one fragment: a fixed header (addrA → addrB) naming a
// Fragment header, unless a hop-by-hop header goes first, then data.
func fragPkt(next uint8, off int, more bool, id uint32, data []byte, hbh bool) Header {
	if hbh {
		return chain(ProtoHopByHop, data, optsHdr(ProtoFragment), fragHdr(next, off, more, id))
	}
	return chain(ProtoFragment, data, fragHdr(next, off, more, id))
}

// fragOf returns the Fragment header of a packet built by fragPkt.
func fragOf(t testing.TB, h Header) Ext {
	t.Helper()
	it := h.Exts()
	for {
		e, ok, err := it.Next()
		if err != nil || !ok {
			t.Fatalf("no fragment header in % x: %v", h, err)
		}
		if e.Proto == ProtoFragment {
			return e
		}
	}
}

// split cuts data into fragments of size octets (the last shorter).
func split(data []byte, size int, id uint32, hbh bool) []Header {
	var out []Header
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		out = append(out, fragPkt(ProtoICMPv6, off, end < len(data), id, data[off:end], hbh))
	}
	return out
}

type reasmRig struct {
	t   *testing.T
	clk *clock.Manual
	r   *Reassembler
}

func newRig(t *testing.T, cfg ReassemblyConfig) *reasmRig {
	return &reasmRig{t: t, clk: clock.NewManual(reasmEpoch), r: NewReassembler(cfg)}
}

func (g *reasmRig) add(h Header) (Header, AddResult, *ParamProblem) {
	g.t.Helper()
	return g.r.Add(h, fragOf(g.t, h), g.clk.Now())
}

// must adds h and fails unless the result is want.
func (g *reasmRig) must(h Header, want AddResult) Header {
	g.t.Helper()
	pkt, res, _ := g.add(h)
	if res != want {
		g.t.Fatalf("Add = %v, want %v", res, want)
	}
	return pkt
}

// The reassembled packet is the original: fixed header with Payload Length
// recomputed and Next Header from the first fragment's Fragment header,
// then the data, whatever the arrival order.
func TestReassembly_AnyOrder_GivesTheOriginal(t *testing.T) {
	data := testData(3000)
	want := chain(ProtoICMPv6, data)
	for _, c := range []struct {
		name  string
		order []int
	}{
		{"in order", []int{0, 1, 2, 3}},
		{"reversed", []int{3, 2, 1, 0}},
		{"first last", []int{1, 3, 2, 0}},
		{"last first", []int{3, 0, 2, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t, ReassemblyConfig{})
			fs := split(data, 800, 7, false)
			var pkt Header
			for i, k := range c.order {
				if i < len(c.order)-1 {
					g.must(fs[k], Pending)
					continue
				}
				pkt = g.must(fs[k], Complete)
			}
			if !bytes.Equal(pkt, want) {
				t.Fatalf("reassembled % x...\nwant % x...", pkt[:48], want[:48])
			}
			if g.r.Len() != 0 || g.r.Bytes() != 0 {
				t.Errorf("after completion: %d packets, %d bytes held; want 0, 0", g.r.Len(), g.r.Bytes())
			}
		})
	}
}

// RFC 8200 §4.5: the unfragmentable part (here a hop-by-hop header) comes
// from the first fragment, the Next Header of its last header from the
// first fragment's Fragment header; other fragments' Next Header values do
// not count.
func TestReassembly_UnfragmentablePartAndNextHeaderFromFirstFragment(t *testing.T) {
	g := newRig(t, ReassemblyConfig{})
	data := testData(64)
	g.must(fragPkt(ProtoUDP, 0, true, 1, data[:32], true), Pending)
	pkt := g.must(fragPkt(ProtoTCP, 32, false, 1, data[32:], false), Complete) // another Next Header, no hop-by-hop
	want := chain(ProtoHopByHop, data, optsHdr(ProtoUDP))
	if !bytes.Equal(pkt, want) {
		t.Fatalf("reassembled\n% x\nwant\n% x", pkt, want)
	}
}

// An exact duplicate, or a fragment inside data held, is dropped alone;
// the packet completes.
func TestReassembly_Duplicate_DroppedPacketKept(t *testing.T) {
	g := newRig(t, ReassemblyConfig{})
	data := testData(48)
	g.must(fragPkt(ProtoICMPv6, 0, true, 1, data[:32], false), Pending)
	g.must(fragPkt(ProtoICMPv6, 0, true, 1, data[:32], false), Duplicate)
	g.must(fragPkt(ProtoICMPv6, 8, true, 1, data[8:16], false), Duplicate)
	if pkt := g.must(fragPkt(ProtoICMPv6, 32, false, 1, data[32:], false), Complete); !bytes.Equal(pkt.Payload(), data) {
		t.Errorf("payload differs")
	}
}

// RFC 5722 §4: an overlap discards the packet, its fragments received and
// those not yet received; after the timeout the key is free again.
func TestReassembly_Overlap_DiscardsPacketAndLaterFragments(t *testing.T) {
	g := newRig(t, ReassemblyConfig{})
	data := testData(48)
	g.must(fragPkt(ProtoICMPv6, 0, true, 1, data[:24], false), Pending)
	g.must(fragPkt(ProtoICMPv6, 16, true, 1, data[16:32], false), Overlap)
	if g.r.Bytes() != 0 {
		t.Errorf("after the overlap %d bytes held, want 0", g.r.Bytes())
	}
	g.must(fragPkt(ProtoICMPv6, 24, false, 1, data[24:], false), Discarded)
	g.must(fragPkt(ProtoICMPv6, 0, true, 1, data[:24], false), Discarded)
	g.clk.Advance(DefaultReassemblyTimeout)
	called := false
	if n := g.r.Expire(g.clk.Now(), func(Header) { called = true }); n != 0 || called || g.r.Len() != 0 {
		t.Errorf("Expire = %d, timedOut called %v, %d left; want 0, false, 0 (nothing was held)", n, called, g.r.Len())
	}
	g.must(fragPkt(ProtoICMPv6, 0, true, 1, data[:24], false), Pending)
	g.must(fragPkt(ProtoICMPv6, 24, false, 1, data[24:], false), Complete)
}

// RFC 6946 §4: an atomic fragment is processed in isolation, even with the
// key of a packet in reassembly, which it leaves alone.
func TestReassembly_AtomicFragment_InIsolation(t *testing.T) {
	g := newRig(t, ReassemblyConfig{})
	data := testData(48)
	g.must(fragPkt(ProtoICMPv6, 0, true, 1, data[:24], false), Pending)
	bytesBefore := g.r.Bytes()
	atomic := fragPkt(ProtoICMPv6, 0, false, 1, data[:8], false)
	if pkt := g.must(atomic, Atomic); &pkt[0] != &atomic[0] {
		t.Errorf("atomic fragment not returned as it is")
	}
	if g.r.Len() != 1 || g.r.Bytes() != bytesBefore {
		t.Errorf("atomic fragment changed the state: %d packets, %d bytes; want 1, %d", g.r.Len(), g.r.Bytes(), bytesBefore)
	}
	g.must(fragPkt(ProtoICMPv6, 24, false, 1, data[24:], false), Complete)
}

// RFC 8200 §4.5: 60 s after the first-arriving fragment the packet is
// abandoned; timedOut gets the offset-0 fragment as received, only if it
// arrived.
func TestReassembly_Timeout_FirstFragmentReported(t *testing.T) {
	data := testData(48)
	first := fragPkt(ProtoICMPv6, 0, true, 1, data[:24], false)
	for _, c := range []struct {
		name  string
		frags []Header
		want  bool
	}{
		{"first fragment held", []Header{fragPkt(ProtoICMPv6, 32, false, 1, data[32:], false), first}, true},
		{"first fragment missing", []Header{fragPkt(ProtoICMPv6, 32, false, 1, data[32:], false)}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t, ReassemblyConfig{})
			for _, f := range c.frags {
				g.must(f, Pending)
				g.clk.Advance(10 * time.Second) // the timeout runs from the first to arrive
			}
			if dl, ok := g.r.NextDeadline(); !ok || !dl.Equal(reasmEpoch.Add(60*time.Second)) {
				t.Errorf("NextDeadline = %v %v, want epoch+60s", dl, ok)
			}
			g.clk.Set(reasmEpoch.Add(60*time.Second - 1))
			if n := g.r.Expire(g.clk.Now(), nil); n != 0 {
				t.Fatalf("expired %d before 60 s", n)
			}
			g.clk.Advance(1)
			var got Header
			if n := g.r.Expire(g.clk.Now(), func(h Header) { got = append(Header(nil), h...) }); n != 1 {
				t.Fatalf("Expire = %d, want 1", n)
			}
			if (got != nil) != c.want {
				t.Fatalf("timedOut called %v, want %v", got != nil, c.want)
			}
			if c.want && !bytes.Equal(got, first) {
				t.Errorf("timedOut got\n% x\nwant the first fragment\n% x", got, first)
			}
			if g.r.Len() != 0 || g.r.Bytes() != 0 {
				t.Errorf("%d packets, %d bytes left", g.r.Len(), g.r.Bytes())
			}
		})
	}
}

// RFC 8200 §4.5: a fragment that would make the reassembled Payload Length
// exceed 65535 is dropped with a Parameter Problem code 0 at its Fragment
// Offset field; the packet is kept.
func TestReassembly_TooBig_ParamProblemAtFragmentOffset(t *testing.T) {
	g := newRig(t, ReassemblyConfig{})
	g.must(fragPkt(ProtoICMPv6, 0, true, 1, testData(8), false), Pending)
	for _, c := range []struct {
		name string
		h    Header
		ptr  uint32
	}{
		{"end 65536", fragPkt(ProtoICMPv6, 65528, false, 1, testData(8), false), HeaderLen + 2},
		// 65512 + 16 fits alone, not behind an 8-octet hop-by-hop header.
		{"with hop-by-hop", fragPkt(ProtoICMPv6, 65512, false, 1, testData(16), true), HeaderLen + 8 + 2},
	} {
		_, res, pp := g.add(c.h)
		if res != TooBig || pp == nil || pp.Code != CodeErroneousHeader || pp.Pointer != c.ptr || !errors.Is(pp, ErrReassembledTooBig) {
			t.Errorf("%s: Add = %v %v, want TooBig, code 0 pointer %d", c.name, res, pp, c.ptr)
		}
	}
	if g.r.Len() != 1 {
		t.Errorf("packet dropped with the fragment")
	}
	g.must(fragPkt(ProtoICMPv6, 65512, false, 1, testData(8), false), Pending) // 65520: fits
}

// The other fragments fit behind their own unfragmentable part, but the
// first fragment's, which the packet takes, is longer: the completed
// packet would exceed 65535 and is discarded.
func TestReassembly_FirstFragmentsHeadersMakeItTooBig(t *testing.T) {
	g := newRig(t, ReassemblyConfig{})
	data := testData(65528)
	g.must(fragPkt(ProtoICMPv6, 65520, false, 1, data[65520:], false), Pending)
	for off := 8; off < 65520; off += 8192 {
		g.must(fragPkt(ProtoICMPv6, off, true, 1, data[off:min(off+8192, 65520)], false), Pending)
	}
	g.must(fragPkt(ProtoICMPv6, 0, true, 1, data[:8], true), Invalid)
	if g.r.Len() != 0 || g.r.Bytes() != 0 {
		t.Errorf("%d packets, %d bytes held; want none", g.r.Len(), g.r.Bytes())
	}
}

// RFC 3168 §5.3, as Linux's ip_frag_ecn_table: CE on any fragment of an
// ECT packet marks the reassembled packet; Not-ECT mixed with ECT or CE
// drops it; otherwise the first fragment's traffic class stays.
func TestReassembly_ECN(t *testing.T) {
	const notECT, ect1, ect0, ce = 0, 1, 2, 3
	data := testData(16)
	for _, c := range []struct {
		name        string
		first, last uint8 // ECN codepoints
		want        AddResult
		wantECN     uint8
	}{
		{"both ECT(0)", ect0, ect0, Complete, ect0},
		{"CE on the last", ect0, ce, Complete, ce},
		{"CE on the first", ce, ect1, Complete, ce},
		{"both Not-ECT", notECT, notECT, Complete, notECT},
		{"Not-ECT and ECT(0)", notECT, ect0, Invalid, 0},
		{"CE and Not-ECT", ce, notECT, Invalid, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t, ReassemblyConfig{})
			first := fragPkt(ProtoICMPv6, 0, true, 1, data[:8], false)
			last := fragPkt(ProtoICMPv6, 8, false, 1, data[8:], false)
			first[1] |= 0xb0&^0x30 | c.first<<4 // DSCP bits too: they stay the first's
			last[1] |= c.last << 4
			g.must(first, Pending)
			pkt := g.must(last, c.want)
			if c.want != Complete {
				return
			}
			if tc := pkt.TrafficClass(); tc&3 != c.wantECN || tc>>2 != Header(first).TrafficClass()>>2 {
				t.Errorf("traffic class %#x, want ECN %d and the first fragment's DSCP", tc, c.wantECN)
			}
		})
	}
}

// RFC 8200 §4.5: M set and a length not a multiple of 8: Parameter Problem
// code 0 at Payload Length.
func TestReassembly_BadLength_ParamProblemAtPayloadLength(t *testing.T) {
	g := newRig(t, ReassemblyConfig{})
	h := fragPkt(ProtoICMPv6, 8, true, 1, testData(12), false)
	_, res, pp := g.r.Add(h, Ext{Proto: ProtoFragment, Off: HeaderLen, Data: h[HeaderLen : HeaderLen+8]}, g.clk.Now())
	if res != BadLength || pp == nil || pp.Code != 0 || pp.Pointer != 4 {
		t.Errorf("Add = %v %v, want BadLength, code 0 pointer 4", res, pp)
	}
	if g.r.Len() != 0 {
		t.Errorf("fragment held")
	}
}

// RFC 8200 §4.5, RFC 7112 §5: a first fragment without the whole header
// chain is dropped with a Parameter Problem code 3, pointer 0; later
// fragments are not checked.
func TestReassembly_IncompleteHeaderChain_ParamProblemCode3(t *testing.T) {
	dopts := optsHdr(ProtoTCP, OptPadN, 4, 0, 0, 0, 0)                            // 8 octets
	dopts16 := optsHdr(ProtoTCP, OptPadN, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // 16 octets
	cat := func(a, b []byte) []byte { return append(append([]byte(nil), a...), b...) }
	for _, c := range []struct {
		name string
		next uint8
		data []byte
		want AddResult
	}{
		{"no ICMPv6 header", ProtoICMPv6, nil, Incomplete},
		{"TCP header cut", ProtoTCP, testData(16), Incomplete},
		{"TCP header whole", ProtoTCP, testData(24), Pending},
		{"UDP header whole", ProtoUDP, testData(8), Pending},
		{"destination options cut", ProtoDestOpts, dopts16[:8], Incomplete},
		{"TCP behind destination options cut", ProtoDestOpts, cat(dopts, testData(16)), Incomplete},
		{"TCP behind destination options whole", ProtoDestOpts, cat(dopts, testData(24)), Pending},
		{"no next header", ProtoNoNext, testData(8), Pending},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t, ReassemblyConfig{})
			_, res, pp := g.add(fragPkt(c.next, 0, true, 1, c.data, false))
			if res != c.want {
				t.Fatalf("Add = %v, want %v", res, c.want)
			}
			if c.want == Incomplete && (pp == nil || pp.Code != CodeHeaderChainIncomplete || pp.Pointer != 0 || g.r.Len() != 0) {
				t.Errorf("Parameter Problem %v with %d packets held, want code 3 pointer 0 and none", pp, g.r.Len())
			}
		})
	}
	g := newRig(t, ReassemblyConfig{})
	g.must(fragPkt(ProtoTCP, 8, true, 1, testData(8), false), Pending) // not first: not checked
}

// A fragment contradicting the packet's end discards the packet (Linux
// ip6_frag_queue); one without data is dropped alone.
func TestReassembly_Invalid(t *testing.T) {
	data := testData(64)
	for _, c := range []struct {
		name   string
		second Header
		kept   bool
	}{
		{"second last fragment, other end", fragPkt(ProtoICMPv6, 32, false, 1, data[32:48], false), false},
		{"data beyond the end", fragPkt(ProtoICMPv6, 56, true, 1, data[56:64], false), false},
		{"no data", fragPkt(ProtoICMPv6, 16, true, 1, nil, false), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t, ReassemblyConfig{})
			g.must(fragPkt(ProtoICMPv6, 40, false, 1, data[40:56], false), Pending)
			g.must(c.second, Invalid)
			if (g.r.Len() == 1) != c.kept || (!c.kept && g.r.Bytes() != 0) {
				t.Errorf("%d packets, %d bytes held; kept want %v", g.r.Len(), g.r.Bytes(), c.kept)
			}
		})
	}
	g := newRig(t, ReassemblyConfig{})
	g.must(fragPkt(ProtoICMPv6, 40, true, 1, data[40:48], false), Pending)
	g.must(fragPkt(ProtoICMPv6, 16, false, 1, data[16:24], false), Invalid) // ends before data held
}

// Bounded memory: fragments beyond MaxBytes or MaxDatagrams are refused,
// the packets in reassembly kept and still completable; Bytes never passes
// the bound.
func TestReassembly_MemoryBound(t *testing.T) {
	data := testData(4000)
	g := newRig(t, ReassemblyConfig{MaxBytes: 6000, MaxDatagrams: 3})
	a := split(data, 1000, 1, false)
	for _, f := range a[:3] {
		g.must(f, Pending)
	}
	if b := g.r.Bytes(); b < 3000 || b > 6000 {
		t.Fatalf("Bytes = %d after 3000 octets held, want 3000..6000", b)
	}
	b := split(data, 1000, 2, false)
	g.must(b[0], Pending) // 1000 and 48 of headers fit beside a's 4048
	g.must(b[1], NoMemory)
	if g.r.Bytes() > 6000 {
		t.Errorf("Bytes = %d, above MaxBytes", g.r.Bytes())
	}
	g.must(fragPkt(ProtoICMPv6, 8, true, 3, testData(8), false), Pending)
	g.must(fragPkt(ProtoICMPv6, 8, true, 4, testData(8), false), NoMemory) // a fourth packet
	if pkt := g.must(a[3], Complete); !bytes.Equal(pkt.Payload(), data) {
		t.Errorf("packet in reassembly lost data")
	}
}

// Expire walks packets in deadline order and stops at the first not due.
func TestReassembly_Expire_OnlyDue(t *testing.T) {
	g := newRig(t, ReassemblyConfig{Timeout: time.Second})
	g.must(fragPkt(ProtoICMPv6, 8, true, 1, testData(8), false), Pending)
	g.clk.Advance(500 * time.Millisecond)
	g.must(fragPkt(ProtoICMPv6, 8, true, 2, testData(8), false), Pending)
	g.clk.Advance(500 * time.Millisecond)
	if n := g.r.Expire(g.clk.Now(), nil); n != 1 || g.r.Len() != 1 {
		t.Fatalf("Expire = %d with %d left, want 1 and 1", n, g.r.Len())
	}
	if dl, _ := g.r.NextDeadline(); !dl.Equal(reasmEpoch.Add(1500 * time.Millisecond)) {
		t.Errorf("NextDeadline = %v, want epoch+1.5s", dl)
	}
}
