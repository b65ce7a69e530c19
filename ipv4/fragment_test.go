package ipv4

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// collect runs Fragment and returns a copy of every fragment, header and
// payload joined.
func collect(t testing.TB, pkt Header, mtu int) [][]byte {
	t.Helper()
	var out [][]byte
	err := Fragment(pkt, mtu, func(hdr, payload []byte) error {
		out = append(out, append(bytes.Clone(hdr), payload...))
		return nil
	})
	if err != nil {
		t.Fatalf("Fragment: %v", err)
	}
	return out
}

func TestFragment_3000OctetsAtMTU1500_ThreeFragmentsThatReassemble(t *testing.T) {
	pkt := udpDatagram(addrA, addrB, 3000)
	frags := collect(t, pkt, 1500)
	want := []struct {
		offset, payload int
		mf              bool
	}{{0, 1480, true}, {1480, 1480, true}, {2960, 40, false}}
	if len(frags) != len(want) {
		t.Fatalf("%d fragments, want %d", len(frags), len(want))
	}
	r := NewReassembler(DefaultReassemblyConfig())
	now := time.Unix(1000, 0)
	for i, f := range frags {
		h, err := Parse(f)
		if err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		if len(f) > 1500 || h.FragOffset() != want[i].offset || len(h.Payload()) != want[i].payload || h.MF() != want[i].mf {
			t.Errorf("fragment %d: len %d offset %d payload %d mf %v", i, len(f), h.FragOffset(), len(h.Payload()), h.MF())
		}
		if h.ID() != pkt.ID() || h.Protocol() != ProtoUDP || h.Src() != addrA || h.Dst() != addrB || h.TTL() != pkt.TTL() {
			t.Errorf("fragment %d: header fields not copied", i)
		}
		got, res := r.Add(h, now)
		if i < len(frags)-1 && res != Pending {
			t.Errorf("fragment %d: %v", i, res)
		}
		if i == len(frags)-1 {
			if res != Complete || !bytes.Equal(got, pkt) {
				t.Errorf("last fragment: %v, reassembled equal = %v", res, bytes.Equal(got, pkt))
			}
		}
	}
}

func TestFragment_EveryMTU_FragmentsFitAndReassemble(t *testing.T) {
	pkt := udpDatagram(addrA, addrB, 1000)
	for mtu := MinMTU; mtu <= len(pkt)+1; mtu++ {
		frags := collect(t, pkt, mtu)
		r := NewReassembler(DefaultReassemblyConfig())
		var got []byte
		for i, f := range frags {
			h, err := Parse(f)
			if err != nil {
				t.Fatalf("mtu %d fragment %d: %v", mtu, i, err)
			}
			if len(f) > mtu || h.FragOffset()%8 != 0 {
				t.Fatalf("mtu %d fragment %d: len %d offset %d", mtu, i, len(f), h.FragOffset())
			}
			if len(frags) == 1 {
				got = f
				break
			}
			got, _ = r.Add(h, time.Time{})
		}
		if !bytes.Equal(got, pkt) {
			t.Fatalf("mtu %d: reassembled datagram differs", mtu)
		}
	}
}

func TestFragment_FitsMTU_EmittedUnchanged(t *testing.T) {
	pkt := udpDatagram(addrA, addrB, 100)
	pkt.SetFragment(true, false, 0)
	pkt.SetChecksum()
	n := 0
	err := Fragment(pkt, len(pkt), func(hdr, payload []byte) error {
		n++
		if &hdr[0] != &pkt[0] || &payload[0] != &pkt[20] || len(hdr)+len(payload) != len(pkt) {
			t.Error("not the original bytes")
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Errorf("err %v, %d pieces", err, n)
	}
}

func TestFragment_DFTooBig_ErrDontFragment(t *testing.T) {
	pkt := udpDatagram(addrA, addrB, 1500)
	pkt.SetFragment(true, false, 0)
	pkt.SetChecksum()
	err := Fragment(pkt, 1500, func(hdr, payload []byte) error {
		t.Error("emit called")
		return nil
	})
	if !errors.Is(err, ErrDontFragment) {
		t.Errorf("err = %v", err)
	}
}

func TestFragment_MTUBelow68_ErrMTUTooSmall(t *testing.T) {
	if err := Fragment(udpDatagram(addrA, addrB, 8), 67, nil); !errors.Is(err, ErrMTUTooSmall) {
		t.Errorf("err = %v", err)
	}
}

func TestFragment_EmitError_StopsAndIsReturned(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := Fragment(udpDatagram(addrA, addrB, 3000), 576, func(hdr, payload []byte) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Errorf("err %v after %d calls", err, n)
	}
}

func TestFragment_Options_CopiedFlagOnlyInLaterFragments(t *testing.T) {
	// NOP, Record Route (0x07, not copied, 7 octets), Router Alert (0x94,
	// copied, 4), Loose Source Route (0x83, copied, 7), EOL, padding.
	opts := []byte{
		0x01,
		0x07, 7, 4, 0, 0, 0, 0,
		0x94, 4, 0, 0,
		0x83, 7, 4, 10, 9, 9, 9,
		0x00,
	}
	payload := make([]byte, 600)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	pkt := Header(build(Fields{ID: 5, TTL: 9, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: opts}, payload))
	frags := collect(t, pkt, 300)
	if len(frags) < 3 {
		t.Fatalf("%d fragments", len(frags))
	}
	first, _ := Parse(frags[0])
	if !bytes.Equal(first.Options(), opts) {
		t.Errorf("first fragment options = % x", first.Options())
	}
	wantLater := []byte{0x94, 4, 0, 0, 0x83, 7, 4, 10, 9, 9, 9, 0x00}
	for i, f := range frags[1:] {
		h, err := Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h.Options(), wantLater) {
			t.Errorf("fragment %d options = % x, want % x", i+1, h.Options(), wantLater)
		}
		if len(f) > 300 {
			t.Errorf("fragment %d: %d octets", i+1, len(f))
		}
	}
	r := NewReassembler(DefaultReassemblyConfig())
	var got []byte
	for i := len(frags) - 1; i >= 0; i-- {
		h, _ := Parse(frags[i])
		got, _ = r.Add(h, time.Time{})
	}
	if !bytes.Equal(got, pkt) {
		t.Errorf("reassembled differs from original")
	}
}

// laterOptions fragments pkt at mtu and returns the options of every
// fragment after the first, checking they all agree.
func laterOptions(t *testing.T, pkt Header, mtu int) []byte {
	t.Helper()
	frags := collect(t, pkt, mtu)
	if len(frags) < 2 {
		t.Fatalf("%d fragments", len(frags))
	}
	var opts []byte
	for i, f := range frags[1:] {
		h, err := Parse(f)
		if err != nil {
			t.Fatalf("fragment %d: %v", i+1, err)
		}
		if i > 0 && !bytes.Equal(h.Options(), opts) {
			t.Fatalf("fragment %d options % x, fragment 1 % x", i+1, h.Options(), opts)
		}
		opts = h.Options()
	}
	return opts
}

// RFC 791 §3.2, step (5) of the fragmentation procedure: the options with
// the copied flag go into every fragment. That includes an option of the
// least length (2: type and length octets, RFC 791 §3.1) and one that ends
// exactly at the end of the options area, but nothing after End of Option
// List: what follows it is padding (RFC 791 §3.1), whatever it looks like.
func TestFragment_CopiedOptionsBeforeEOL_InEveryLaterFragment(t *testing.T) {
	for _, tt := range []struct {
		name        string
		opts, later []byte
	}{
		{"length 2", []byte{0x9e, 2, optNOP, optEOL}, []byte{0x9e, 2, optEOL, optEOL}},
		{"Router Alert filling the area", []byte{0x94, 4, 0, 0}, []byte{0x94, 4, 0, 0}},
		{"LSRR ending at the last octet", []byte{optNOP, OptLooseSourceRoute, 7, 4, 10, 9, 9, 9}, []byte{OptLooseSourceRoute, 7, 4, 10, 9, 9, 9, optEOL}},
		{"padding after EOL that looks like options", []byte{0x94, 4, 0, 0, optEOL, 2, 0x9e, 2}, []byte{0x94, 4, 0, 0}},
	} {
		pkt := Header(build(Fields{ID: 6, TTL: 9, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: tt.opts}, pattern(600)))
		if got := laterOptions(t, pkt, 300); !bytes.Equal(got, tt.later) {
			t.Errorf("%s: later fragments' options = % x, want % x", tt.name, got, tt.later)
		}
	}
}

// Fragment takes options from our own code unchecked (Encode does not walk
// them): the walk that picks the copied ones stops at a malformed option,
// keeping the copied options before it, and never reads past the options
// area or loops (malformedOptions).
func TestFragment_MalformedOptions_CopyStopsAtTheFault(t *testing.T) {
	for _, tt := range malformedOptions {
		pkt := Header(build(Fields{ID: 6, TTL: 9, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: tt.opts}, pattern(600)))
		if got, want := laterOptions(t, pkt, 300), []byte{0x94, 4, 0, 0}; !bytes.Equal(got, want) {
			t.Fatalf("%s: later fragments' options = % x, want % x", tt.name, got, want)
		}
	}
}

func TestFragment_OfAFragment_KeepsBaseOffsetAndMF(t *testing.T) {
	pkt := udpDatagram(addrA, addrB, 1000)
	pkt.SetFragment(false, true, 8000)
	pkt.SetChecksum()
	frags := collect(t, pkt, 500)
	last, _ := Parse(frags[len(frags)-1])
	first, _ := Parse(frags[0])
	if first.FragOffset() != 8000 || !last.MF() {
		t.Errorf("first offset %d, last MF %v", first.FragOffset(), last.MF())
	}
}

func BenchmarkFragment(b *testing.B) {
	pkt := udpDatagram(addrA, addrB, 65000)
	emit := func(hdr, payload []byte) error { return nil }
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Fragment(pkt, 1500, emit); err != nil {
			b.Fatal(err)
		}
	}
}
