package ipv4

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fragOf returns a parsed fragment of datagram ID id carrying payload at
// offset off.
func fragOf(id uint16, off int, mf bool, payload []byte) Header {
	b := build(Fields{ID: id, MF: mf, FragOffset: off, TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB}, payload)
	h, err := Parse(b)
	if err != nil {
		panic(err)
	}
	return h
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*13 + i>>8)
	}
	return p
}

// split cuts payload into n-octet fragments of datagram id.
func split(id uint16, payload []byte, n int) []Header {
	var out []Header
	for off := 0; off < len(payload); off += n {
		end := min(off+n, len(payload))
		out = append(out, fragOf(id, off, end < len(payload), payload[off:end]))
	}
	return out
}

func wantDatagram(id uint16, payload []byte) []byte {
	return build(Fields{ID: id, TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB}, payload)
}

// feed adds frags in order and returns the last result.
func feed(t *testing.T, r *Reassembler, frags []Header, now time.Time) ([]byte, AddResult) {
	t.Helper()
	var pkt []byte
	var res AddResult
	for i, f := range frags {
		pkt, res = r.Add(f, now)
		if i < len(frags)-1 && res != Pending {
			t.Fatalf("fragment %d: %v, want pending", i, res)
		}
	}
	return pkt, res
}

func checkComplete(t *testing.T, pkt []byte, res AddResult, want []byte) {
	t.Helper()
	if res != Complete {
		t.Fatalf("result %v, want complete", res)
	}
	h, err := Parse(pkt)
	if err != nil {
		t.Fatalf("reassembled datagram does not parse: %v", err)
	}
	if h.IsFragment() || !bytes.Equal(pkt, want) {
		t.Fatalf("reassembled datagram differs:\n% x\nwant\n% x", pkt, want)
	}
}

func TestReassembly_InOrder_Completes(t *testing.T) {
	r := NewReassembler(DefaultReassemblyConfig())
	p := pattern(4000)
	pkt, res := feed(t, r, split(1, p, 1480), t0)
	checkComplete(t, pkt, res, wantDatagram(1, p))
	if r.Len() != 0 || r.Bytes() != 0 {
		t.Errorf("Len %d Bytes %d after completion", r.Len(), r.Bytes())
	}
	if _, ok := r.NextDeadline(); ok {
		t.Error("deadline left after completion")
	}
}

func TestReassembly_Reversed_Completes(t *testing.T) {
	r := NewReassembler(DefaultReassemblyConfig())
	p := pattern(4001)
	frags := split(2, p, 8)
	for i, j := 0, len(frags)-1; i < j; i, j = i+1, j-1 {
		frags[i], frags[j] = frags[j], frags[i]
	}
	pkt, res := feed(t, r, frags, t0)
	checkComplete(t, pkt, res, wantDatagram(2, p))
}

func TestReassembly_RandomPermutations_Complete(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := NewReassembler(DefaultReassemblyConfig())
	for trial := range 200 {
		p := pattern(1 + rng.IntN(9000))
		frags := split(uint16(trial), p, 8*(1+rng.IntN(200)))
		rng.Shuffle(len(frags), func(i, j int) { frags[i], frags[j] = frags[j], frags[i] })
		if len(frags) == 1 {
			continue // not a fragment
		}
		pkt, res := feed(t, r, frags, t0)
		checkComplete(t, pkt, res, wantDatagram(uint16(trial), p))
	}
	if r.Len() != 0 || r.Bytes() != 0 {
		t.Errorf("Len %d Bytes %d", r.Len(), r.Bytes())
	}
}

func TestReassembly_Interleaved_KeyedBySrcDstProtoID(t *testing.T) {
	r := NewReassembler(DefaultReassemblyConfig())
	p := pattern(100)
	a := split(7, p, 48)
	other := func(h Header, f func(Header)) Header {
		c := Header(bytes.Clone(h))
		f(c)
		c.SetChecksum()
		return c
	}
	// Same ID, differing in one key field each: four separate datagrams.
	variants := []func(Header){
		func(Header) {},
		func(h Header) { h.SetProtocol(ProtoTCP) },
		func(h Header) { h.SetSrc(netip.MustParseAddr("10.9.9.9")) },
		func(h Header) { h.SetDst(netip.MustParseAddr("10.9.9.9")) },
	}
	for _, v := range variants {
		if _, res := r.Add(other(a[0], v), t0); res != Pending {
			t.Fatalf("first fragments: %v", res)
		}
	}
	if r.Len() != 4 {
		t.Fatalf("Len = %d, want 4", r.Len())
	}
	for _, v := range variants {
		r.Add(other(a[1], v), t0)
		pkt, res := r.Add(other(a[2], v), t0)
		want := other(Header(wantDatagram(7, p)), v)
		checkComplete(t, pkt, res, want)
	}
}

func TestReassembly_Duplicate_DroppedAndStillCompletes(t *testing.T) {
	r := NewReassembler(DefaultReassemblyConfig())
	p := pattern(3000)
	frags := split(3, p, 1000)
	r.Add(frags[0], t0)
	r.Add(frags[2], t0)
	for _, dup := range []Header{
		frags[0],
		frags[2],
		fragOf(3, 8, true, p[8:16]),      // inside the first fragment
		fragOf(3, 2000, false, p[2000:]), // the last again
		// The tail of the last fragment again, with MF set: it ends at
		// the known end, not past it, so it is no lie about the end
		// (Linux ip_frag_queue discards only end > q.len), just held data.
		fragOf(3, 2992, true, p[2992:]),
	} {
		if _, res := r.Add(dup, t0); res != Duplicate {
			t.Errorf("duplicate at %d: %v", dup.FragOffset(), res)
		}
	}
	pkt, res := r.Add(frags[1], t0)
	checkComplete(t, pkt, res, wantDatagram(3, p))
}

func TestReassembly_Overlap_DiscardsDatagram_FreshSetCompletes(t *testing.T) {
	for _, tt := range []struct {
		name    string
		overlap Header
	}{
		{"straddles start of held data", fragOf(4, 992, true, pattern(16))},
		{"straddles end of held data", fragOf(4, 0, true, pattern(1008))},
		{"covers held data and more", fragOf(4, 0, true, pattern(2000))},
		{"teardrop-style last", fragOf(4, 1000-8, false, pattern(100))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReassembler(DefaultReassemblyConfig())
			p := pattern(3000)
			frags := split(4, p, 1000)
			r.Add(frags[0], t0) // [0,1000)
			if _, res := r.Add(tt.overlap, t0); res != Overlap {
				t.Fatalf("overlap: %v", res)
			}
			if r.Len() != 0 || r.Bytes() != 0 {
				t.Fatalf("Len %d Bytes %d after overlap", r.Len(), r.Bytes())
			}
			if _, res := r.Add(frags[1], t0); res != Pending {
				t.Fatalf("after overlap: %v, want a fresh pending datagram", res)
			}
			r.Add(frags[0], t0)
			pkt, res := r.Add(frags[2], t0)
			checkComplete(t, pkt, res, wantDatagram(4, p))
		})
	}
}

func TestReassembly_Timeout_ReportsFirstFragmentOnlyIfItArrived(t *testing.T) {
	cfg := DefaultReassemblyConfig()
	r := NewReassembler(cfg)
	p := pattern(3000)
	a := split(10, p, 1000)
	b := split(11, p, 1000)
	r.Add(a[0], t0) // first fragment in
	r.Add(a[1], t0.Add(time.Second))
	r.Add(b[1], t0.Add(time.Second)) // only later fragments
	r.Add(b[2], t0.Add(2*time.Second))

	var got []Header
	timedOut := func(first Header) { got = append(got, Header(bytes.Clone(first))) }
	if n := r.Expire(t0.Add(cfg.Timeout-1), timedOut); n != 0 || len(got) != 0 {
		t.Fatalf("expired %d before the deadline", n)
	}
	if n := r.Expire(t0.Add(cfg.Timeout+time.Second), timedOut); n != 2 {
		t.Fatalf("Expire = %d, want 2", n)
	}
	if len(got) != 1 {
		t.Fatalf("timedOut called %d times, want 1", len(got))
	}
	first, err := Parse(got[0])
	if err != nil {
		t.Fatalf("first fragment view: %v", err)
	}
	if first.ID() != 10 || first.FragOffset() != 0 || !first.MF() || !bytes.Equal(first.Payload(), p[:1000]) {
		t.Errorf("first fragment view: id %d offset %d mf %v", first.ID(), first.FragOffset(), first.MF())
	}
	if r.Len() != 0 || r.Bytes() != 0 {
		t.Errorf("Len %d Bytes %d", r.Len(), r.Bytes())
	}
}

func TestReassembly_NextDeadline_IsFirstArrivalPlusTimeout(t *testing.T) {
	cfg := ReassemblyConfig{Timeout: 7 * time.Second, MaxBytes: 1 << 20, MaxDatagrams: 10}
	r := NewReassembler(cfg)
	if _, ok := r.NextDeadline(); ok {
		t.Fatal("deadline on an empty reassembler")
	}
	p := pattern(3000)
	r.Add(split(1, p, 1000)[1], t0.Add(3*time.Millisecond))
	r.Add(split(1, p, 1000)[0], t0.Add(5*time.Second)) // later fragments do not extend it
	r.Add(split(2, p, 1000)[0], t0.Add(4*time.Second))
	want1 := t0.Add(3*time.Millisecond + 7*time.Second)
	if d, ok := r.NextDeadline(); !ok || !d.Equal(want1) {
		t.Fatalf("NextDeadline = %v %v, want %v", d, ok, want1)
	}
	if n := r.Expire(want1.Add(-time.Nanosecond), nil); n != 0 {
		t.Fatalf("expired %d a nanosecond early", n)
	}
	if n := r.Expire(want1, nil); n != 1 {
		t.Fatalf("Expire at the deadline = %d, want 1", n)
	}
	want2 := t0.Add(11 * time.Second)
	if d, ok := r.NextDeadline(); !ok || !d.Equal(want2) {
		t.Fatalf("NextDeadline = %v %v, want %v", d, ok, want2)
	}
}

// NewReassembler: a zero field of ReassemblyConfig takes its default, so
// ReassemblyConfig{} is Linux's ipfrag_time (30 s) and ipfrag_high_thresh
// (4 MiB), and 1024 datagrams.
// Each datagram times out its timeout after its first fragment arrived
// (RFC 791 §3.2, RFC 1122 §3.3.2), whatever the order of arrivals and
// removals: a clock that steps back, a datagram completed or added while
// others wait, never hurries or delays another's expiry.
func TestReassembly_Expire_InDeadlineOrderWhateverTheArrivalOrder(t *testing.T) {
	cfg := ReassemblyConfig{Timeout: 30 * time.Second}
	r := NewReassembler(cfg)
	p := pattern(16)
	first := func(id uint16, at time.Duration) {
		t.Helper()
		if _, res := r.Add(fragOf(id, 0, true, p[:8]), t0.Add(at)); res != Pending {
			t.Fatalf("datagram %d: %v", id, res)
		}
	}
	first(1, 10*time.Second) // deadline 40 s
	first(2, 0)              // 30 s: the clock stepped back
	first(3, 20*time.Second) // 50 s
	first(4, 25*time.Second) // 55 s
	// Datagram 1 completes from the middle of the deadline order.
	if _, res := r.Add(fragOf(1, 8, false, p[8:]), t0.Add(26*time.Second)); res != Complete {
		t.Fatalf("datagram 1: %v", res)
	}
	first(5, 30*time.Second) // 60 s
	for _, step := range []struct {
		at  time.Duration
		ids []uint16 // expired at this step
	}{{29 * time.Second, nil}, {30 * time.Second, []uint16{2}}, {49 * time.Second, nil}, {50 * time.Second, []uint16{3}}, {55 * time.Second, []uint16{4}}, {59 * time.Second, nil}, {60 * time.Second, []uint16{5}}} {
		var got []uint16
		r.Expire(t0.Add(step.at), func(h Header) { got = append(got, h.ID()) })
		if !slices.Equal(got, step.ids) {
			t.Fatalf("Expire at %v: %v, want %v", step.at, got, step.ids)
		}
	}
	if r.Len() != 0 || r.Bytes() != 0 {
		t.Errorf("Len %d Bytes %d", r.Len(), r.Bytes())
	}
}

func TestReassembly_ZeroConfig_TakesTheDefaults(t *testing.T) {
	// Timeout: the first fragment's arrival plus 30 s.
	r := NewReassembler(ReassemblyConfig{})
	if _, res := r.Add(fragOf(1, 0, true, pattern(8)), t0); res != Pending {
		t.Fatalf("first fragment: %v", res)
	}
	if d, ok := r.NextDeadline(); !ok || !d.Equal(t0.Add(DefaultReassemblyTimeout)) {
		t.Fatalf("NextDeadline = %v %v, want %v", d, ok, t0.Add(DefaultReassemblyTimeout))
	}

	// MaxBytes: 64 last fragments ending at 65512 reserve 64*65512 octets
	// (each its datagram's exact length); 4 MiB leaves 1536 more.
	r = NewReassembler(ReassemblyConfig{})
	for id := range uint16(64) {
		if _, res := r.Add(fragOf(id, 65504, false, pattern(8)), t0); res != Pending {
			t.Fatalf("datagram %d: %v", id, res)
		}
	}
	if left := DefaultReassemblyMaxBytes - r.Bytes(); left != 1536 {
		t.Fatalf("Bytes = %d", r.Bytes())
	}
	if _, res := r.Add(fragOf(64, 1536, false, pattern(8)), t0); res != NoMemory {
		t.Fatalf("8 octets past 4 MiB: %v", res)
	}
	if _, res := r.Add(fragOf(64, 1528, false, pattern(8)), t0); res != Pending || r.Bytes() != DefaultReassemblyMaxBytes {
		t.Fatalf("exactly 4 MiB: %v, Bytes %d", res, r.Bytes())
	}

	// MaxDatagrams: 1024.
	r = NewReassembler(ReassemblyConfig{})
	for id := range uint16(DefaultReassemblyMaxDatagrams) {
		if _, res := r.Add(fragOf(id, 0, true, pattern(8)), t0); res != Pending {
			t.Fatalf("datagram %d: %v", id, res)
		}
	}
	if _, res := r.Add(fragOf(DefaultReassemblyMaxDatagrams, 0, true, pattern(8)), t0); res != NoMemory {
		t.Fatalf("datagram 1025: %v", res)
	}
}

// Bytes, the space the memory bound counts, grows only when a fragment
// reaches past the space reserved so far. Without a known end (no last
// fragment yet) it doubles, so in-order arrival costs linear copying, but
// never past MaxBytes: when doubling would pass it, only the fragment's end
// is reserved, and a growth that reaches MaxBytes exactly is taken. Once the
// last fragment is in, the datagram's length is reserved, no more.
func TestReassembly_Bytes_DoublesInOrderUpToMaxBytes(t *testing.T) {
	for _, tt := range []struct {
		name     string
		maxBytes int
		want     []int // Bytes after each 8-octet fragment in order; -1: NoMemory
	}{
		// Reserved space 8, 16, 32 (a fragment inside it reserves nothing
		// more), 64, then 72 does not fit.
		{"doubling reaches MaxBytes exactly", 64, []int{8, 16, 32, 32, 64, 64, 64, 64, -1}},
		// Doubling to 128 would pass 72: the fragment's end, 72, fits
		// exactly; 80 does not.
		{"the fragment's end reaches MaxBytes exactly", 72, []int{8, 16, 32, 32, 64, 64, 64, 64, 72, -1}},
	} {
		r := NewReassembler(ReassemblyConfig{MaxBytes: tt.maxBytes})
		p := pattern(8 * 100)
		for i, want := range tt.want {
			_, res := r.Add(fragOf(1, 8*i, true, p[8*i:8*i+8]), t0)
			if want < 0 {
				if res != NoMemory || r.Bytes() != tt.want[i-1] {
					t.Errorf("%s: fragment %d: %v, Bytes %d; want no memory, Bytes %d", tt.name, i, res, r.Bytes(), tt.want[i-1])
				}
				continue
			}
			if res != Pending || r.Bytes() != want {
				t.Errorf("%s: fragment %d: %v, Bytes %d; want pending, Bytes %d", tt.name, i, res, r.Bytes(), want)
			}
		}
	}

	// Once the last fragment has given the datagram's length, exactly that
	// is reserved: 8, 16, 32 (doubling), then the last fragment [40, 48)
	// makes it 48, not 64.
	r := NewReassembler(DefaultReassemblyConfig())
	p := pattern(48)
	for i, f := range []struct {
		off, end int
		bytes    int
	}{{0, 8, 8}, {8, 16, 16}, {16, 24, 32}, {40, 48, 48}, {24, 32, 48}} {
		if _, res := r.Add(fragOf(2, f.off, f.end < len(p), p[f.off:f.end]), t0); res != Pending || r.Bytes() != f.bytes {
			t.Errorf("fragment %d [%d, %d): %v, Bytes %d; want pending, Bytes %d", i, f.off, f.end, res, r.Bytes(), f.bytes)
		}
	}
	pkt, res := r.Add(fragOf(2, 32, true, p[32:40]), t0)
	checkComplete(t, pkt, res, wantDatagram(2, p))
}

// The datagram's buffer is its final one once the last fragment has said
// how long it is: the fragments that fill it in are copied in place, and
// the completed datagram is returned from the same buffer (no allocation).
func TestReassembly_FragmentsIntoReservedSpace_DoNotAllocate(t *testing.T) {
	const n = 102
	p := pattern(8 * n)
	frags := split(1, p, 8)
	r := NewReassembler(DefaultReassemblyConfig())
	if _, res := r.Add(frags[n-1], t0); res != Pending {
		t.Fatal(res)
	}
	i := n - 2
	allocs := testing.AllocsPerRun(n-2, func() {
		if _, res := r.Add(frags[i], t0); res != Pending && res != Complete {
			t.Fatalf("fragment %d: %v", i, res)
		}
		i--
	})
	if allocs != 0 {
		t.Errorf("allocations per fragment = %v, want 0", allocs)
	}
}

func TestReassembly_MaxBytes_DropsNewFragmentsKeepsQueues(t *testing.T) {
	cfg := ReassemblyConfig{Timeout: time.Second, MaxBytes: 5000, MaxDatagrams: 100}
	r := NewReassembler(cfg)
	p := pattern(3000)
	// Last fragments first: each reserves exactly its datagram's 3000 octets.
	if _, res := r.Add(split(1, p, 1000)[2], t0); res != Pending {
		t.Fatal(res)
	}
	if r.Bytes() != 3000 {
		t.Fatalf("Bytes = %d, want 3000", r.Bytes())
	}
	if _, res := r.Add(split(2, p, 1000)[2], t0); res != NoMemory {
		t.Fatalf("over MaxBytes: %v", res)
	}
	if r.Len() != 1 || r.Bytes() != 3000 {
		t.Fatalf("Len %d Bytes %d", r.Len(), r.Bytes())
	}
	// Small datagrams still fit, and the held one still completes.
	if _, res := r.Add(split(3, pattern(40), 16)[0], t0); res != Pending {
		t.Fatalf("small fragment: %v", res)
	}
	r.Add(split(1, p, 1000)[1], t0)
	pkt, res := r.Add(split(1, p, 1000)[0], t0)
	checkComplete(t, pkt, res, wantDatagram(1, p))
	if r.Bytes() > cfg.MaxBytes || r.Bytes() != 16 {
		t.Errorf("Bytes = %d", r.Bytes())
	}
}

func TestReassembly_MaxBytes_GrowthBeyondBoundDropped(t *testing.T) {
	r := NewReassembler(ReassemblyConfig{Timeout: time.Second, MaxBytes: 2000, MaxDatagrams: 100})
	p := pattern(3000)
	frags := split(1, p, 1000)
	r.Add(frags[0], t0)
	r.Add(frags[1], t0)
	if _, res := r.Add(frags[2], t0); res != NoMemory {
		t.Fatalf("growth to 3000 with MaxBytes 2000: %v", res)
	}
	if r.Bytes() > 2000 || r.Len() != 1 {
		t.Errorf("Bytes %d Len %d", r.Bytes(), r.Len())
	}
}

func TestReassembly_MaxDatagrams_DropsNewDatagrams(t *testing.T) {
	r := NewReassembler(ReassemblyConfig{Timeout: time.Second, MaxBytes: 1 << 20, MaxDatagrams: 3})
	p := pattern(100)
	for id := range uint16(3) {
		if _, res := r.Add(split(id, p, 48)[0], t0); res != Pending {
			t.Fatal(res)
		}
	}
	if _, res := r.Add(split(9, p, 48)[0], t0); res != NoMemory {
		t.Fatalf("fourth datagram: %v", res)
	}
	// Fragments of datagrams already held are still taken.
	if _, res := r.Add(split(0, p, 48)[1], t0); res != Pending {
		t.Fatalf("held datagram: %v", res)
	}
}

func TestReassembly_TooBig_DiscardsDatagram(t *testing.T) {
	r := NewReassembler(DefaultReassemblyConfig())
	// Offset 65528 (the largest) with 8 octets: 20+65536 > 65535.
	if _, res := r.Add(fragOf(1, 65528, false, pattern(8)), t0); res != TooBig {
		t.Fatalf("alone: %v", res)
	}
	// Exactly 65535 is fine: 20 + 65512 + 3.
	r.Add(fragOf(2, 0, true, pattern(1000)), t0)
	if _, res := r.Add(fragOf(2, 65512, false, pattern(3)), t0); res != Pending {
		t.Fatalf("65535 total: %v", res)
	}
	// A held datagram pushed past the limit is discarded.
	r.Add(fragOf(3, 0, true, pattern(1000)), t0)
	if _, res := r.Add(fragOf(3, 65512, false, pattern(4)), t0); res != TooBig {
		t.Fatalf("held datagram: %v", res)
	}
	// A first fragment whose options push the known end past the limit.
	r.Add(fragOf(4, 65512, false, pattern(3)), t0)
	first := build(Fields{ID: 4, MF: true, TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: []byte{1, 1, 1, 0}}, pattern(8))
	h, _ := Parse(first)
	if _, res := r.Add(h, t0); res != TooBig {
		t.Fatalf("first with options: %v", res)
	}
	// The first fragment's header, options included, becomes the
	// datagram's (RFC 791 §3.2): with 40 octets of options held, a last
	// fragment ending at 65480 makes 60+65480 > 65535.
	r = NewReassembler(DefaultReassemblyConfig())
	opts := make([]byte, 40)
	opts[0] = optNOP
	h, _ = Parse(build(Fields{ID: 5, MF: true, TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: opts}, pattern(8)))
	if _, res := r.Add(h, t0); res != Pending {
		t.Fatalf("first with 40 octets of options: %v", res)
	}
	if _, res := r.Add(fragOf(5, 65472, false, pattern(8)), t0); res != TooBig || r.Len() != 0 {
		t.Fatalf("last fragment past 65535 with the first's options: %v, Len %d", res, r.Len())
	}
	// A later fragment's own (copied) options are not the datagram's:
	// 20+65512 fits although the fragment's header is 24 octets.
	h, _ = Parse(build(Fields{ID: 6, FragOffset: 65504, TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: []byte{0x94, 4, 0, 0}}, pattern(8)))
	if _, res := r.Add(h, t0); res != Pending {
		t.Fatalf("last fragment with options, 65532 in all: %v", res)
	}
}

func TestReassembly_Invalid(t *testing.T) {
	p := pattern(3000)
	tests := []struct {
		name      string
		held      []Header
		frag      Header
		keepsHeld bool
	}{
		{"not a fragment", nil, Header(wantDatagram(1, p[:100])), true},
		{"MF with payload not a multiple of 8", nil, fragOf(1, 0, true, p[:1001]), true},
		{"MF with empty payload", nil, fragOf(1, 8, true, nil), true},
		{"last fragment with empty payload", nil, fragOf(1, 8, false, nil), true},
		{"data beyond the known end", []Header{fragOf(1, 1000, false, p[1000:2000])}, fragOf(1, 2000, true, p[2000:2008]), false},
		{"second last fragment, different end", []Header{fragOf(1, 1000, false, p[1000:2000])}, fragOf(1, 2000, false, p[2000:2008]), false},
		{"second last fragment, shorter end", []Header{fragOf(1, 1000, false, p[1000:2000])}, fragOf(1, 1000, false, p[1000:1200]), false},
		{"last fragment before held data", []Header{fragOf(1, 1000, true, p[1000:2000])}, fragOf(1, 0, false, p[:8]), true /* offset 0, MF 0: not a fragment */},
		{"last fragment ends inside held data", []Header{fragOf(1, 1000, true, p[1000:2000])}, fragOf(1, 8, false, p[8:1200]), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReassembler(DefaultReassemblyConfig())
			for _, h := range tt.held {
				if _, res := r.Add(h, t0); res != Pending {
					t.Fatal(res)
				}
			}
			if _, res := r.Add(tt.frag, t0); res != Invalid {
				t.Fatalf("Add = %v, want invalid", res)
			}
			if want := len(tt.held); !tt.keepsHeld && r.Len() != 0 || tt.keepsHeld && r.Len() != want {
				t.Errorf("Len = %d (keepsHeld %v)", r.Len(), tt.keepsHeld)
			}
		})
	}
}

func TestReassembly_FirstFragmentOptionsAndDF_Kept(t *testing.T) {
	r := NewReassembler(DefaultReassemblyConfig())
	opts := []byte{0x94, 4, 0, 0, 0x07, 3, 4, 0}
	p := pattern(64)
	f0 := build(Fields{ID: 8, DF: true, MF: true, TTL: 5, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: opts}, p[:32])
	f1 := build(Fields{ID: 8, FragOffset: 32, TTL: 5, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: opts[:4]}, p[32:])
	h1, _ := Parse(f1)
	h0, _ := Parse(f0)
	r.Add(h1, t0)
	pkt, res := r.Add(h0, t0)
	want := build(Fields{ID: 8, DF: true, TTL: 5, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: opts}, p)
	checkComplete(t, pkt, res, want)
}

func TestAddResult_String(t *testing.T) {
	for r, want := range map[AddResult]string{
		Pending: "pending", Complete: "complete", Duplicate: "duplicate", Overlap: "overlap",
		TooBig: "too big", NoMemory: "no memory", Invalid: "invalid", 42: "AddResult(42)",
	} {
		if r.String() != want {
			t.Errorf("%d: %q, want %q", r, r.String(), want)
		}
	}
}

func BenchmarkReassembly(b *testing.B) {
	p := pattern(8000)
	frags := split(1, p, 1480)
	r := NewReassembler(DefaultReassemblyConfig())
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range frags {
			r.Add(f, t0)
		}
	}
}
