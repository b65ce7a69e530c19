package tcp

import (
	"errors"
	"testing"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

func TestParseOptions_GoldenSYN_LinuxLayout(t *testing.T) {
	h, err := Parse(wireHex(t, goldenSYN))
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseOptions(h.Options())
	if err != nil {
		t.Fatal(err)
	}
	want := Options{MSS: 1460, HasWScale: true, WScale: 10, SACKPermitted: true,
		HasTimestamp: true, TSVal: 3918042198, TSEcr: 0}
	if o != want {
		t.Fatalf("ParseOptions = %+v, want %+v", o, want)
	}
}

func TestParseOptions_Accepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts string
		want Options
	}{
		{"empty", "", Options{}},
		{"all NOP", "01010101", Options{}},
		{"EOL ends the list, garbage after it ignored", "00fe00ff", Options{}},
		{"EOL after MSS", "020405b400000000", Options{MSS: 1460}},
		{"unknown kind skipped by its length", "fe06aabbccdd020405b4", Options{MSS: 1460}},
		{"unknown kind of length 2", "1e02020405b4", Options{MSS: 1460}},
		{"duplicate MSS: last wins", "0204010002040200", Options{MSS: 512}},
		{"duplicate timestamp: last wins", "080a0000000100000002" + "0101" + "080a0000000300000004",
			Options{HasTimestamp: true, TSVal: 3, TSEcr: 4}},
		{"duplicate SACK: last wins", "0101050a00000001000000020101050a0000000300000004",
			Options{NumSACK: 1, SACK: [4]SACKBlock{{3, 4}}}},
		{"window scale 15 clamped to 14", "0103030f", Options{HasWScale: true, WScale: MaxWScale}},
		{"window scale 255 clamped to 14", "010303ff", Options{HasWScale: true, WScale: MaxWScale}},
		{"window scale 14 kept", "0103030e", Options{HasWScale: true, WScale: 14}},
		{"SACK-permitted", "01010402", Options{SACKPermitted: true}},
		{"MSS 0 is absent", "02040000", Options{}},
		{"four SACK blocks", "01010522" +
			"0000000a00000014" + "0000001e00000028" + "0000003200000064" + "ffffff00fffffff0",
			Options{NumSACK: 4, SACK: [4]SACKBlock{{10, 20}, {30, 40}, {50, 100}, {0xffffff00, 0xfffffff0}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOptions(wireHex(t, tc.opts))
			if err != nil {
				t.Fatal(err)
			}
			if o != tc.want {
				t.Fatalf("ParseOptions = %+v, want %+v", o, tc.want)
			}
		})
	}
}

func TestParseOptions_Rejects(t *testing.T) {
	for _, tc := range []struct{ name, opts string }{
		{"length 0 (would loop)", "fe00"},
		{"length 0 after NOPs", "01010200"},
		{"length 1 (would read the next kind)", "fe01fe01"},
		{"unknown option past the end", "fe050000"},
		{"unknown option past the end, after NOPs", "0101fe0500"},
		{"kind without a length octet", "010101fe"},
		{"MSS with length 3", "020305"},
		{"MSS with length 5", "0205050000"},
		{"MSS running past the header", "0204"},
		{"window scale with length 4", "03040a00"},
		{"SACK-permitted with length 3", "040300"},
		{"timestamp with length 8", "0808000000000000"},
		{"SACK with length 11", "050b0000000100000002ff"},
		{"SACK with no blocks", "0502"},
		{"SACK with five blocks", "052a" + "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOptions(wireHex(t, tc.opts))
			if !errors.Is(err, ErrOptions) {
				t.Fatalf("ParseOptions = %+v, %v; want ErrOptions", o, err)
			}
			if o != (Options{}) {
				t.Fatalf("non-zero Options with error: %+v", o)
			}
		})
	}
}

func TestEncodeOptions_LinuxSYN_MatchesCapture(t *testing.T) {
	h, _ := Parse(wireHex(t, goldenSYN))
	o, _ := ParseOptions(h.Options())
	b := make([]byte, 40)
	n := EncodeOptions(b, &o, true)
	if got, want := b[:n], h.Options(); string(got) != string(want) {
		t.Fatalf("EncodeOptions = %x, Linux sent %x", got, want)
	}
}

func TestEncodeOptions_Layouts(t *testing.T) {
	blocks := [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}
	for _, tc := range []struct {
		name string
		o    Options
		syn  bool
		want string
	}{
		{"none", Options{}, true, ""},
		{"SYN MSS only", Options{MSS: 536}, true, "02040218"},
		{"SYN TS without SACK-perm", Options{MSS: 1460, HasTimestamp: true, TSVal: 1, TSEcr: 2}, true,
			"020405b4" + "0101080a0000000100000002"},
		{"SYN SACK-perm without TS", Options{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7}, true,
			"020405b4" + "01010402" + "01030307"},
		{"SYN everything", Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 1, HasWScale: true, WScale: 7}, true,
			"020405b4" + "0402080a0000000100000000" + "01030307"},
		{"SYN WScale above 14 written as 14", Options{HasWScale: true, WScale: 200}, true, "0103030e"},
		{"SYN drops SACK blocks", Options{NumSACK: 1, SACK: blocks}, true, ""},
		{"non-SYN drops MSS, WS, SACK-perm", Options{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7}, false, ""},
		{"non-SYN TS", Options{MSS: 1460, HasTimestamp: true, TSVal: 1, TSEcr: 2}, false,
			"0101080a0000000100000002"},
		{"non-SYN TS and SACK capped at 3", Options{HasTimestamp: true, TSVal: 1, TSEcr: 2, NumSACK: 4, SACK: blocks}, false,
			"0101080a0000000100000002" + "0101051a" + "0000000100000002" + "0000000300000004" + "0000000500000006"},
		{"non-SYN 4 SACK blocks", Options{NumSACK: 4, SACK: blocks}, false,
			"01010522" + "0000000100000002" + "0000000300000004" + "0000000500000006" + "0000000700000008"},
		{"non-SYN NumSACK out of range clamped", Options{NumSACK: 9, SACK: blocks}, false,
			"01010522" + "0000000100000002" + "0000000300000004" + "0000000500000006" + "0000000700000008"},
		{"non-SYN negative NumSACK", Options{NumSACK: -1, SACK: blocks}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, 40)
			n := EncodeOptions(b, &tc.o, tc.syn)
			if got := b[:n]; string(got) != string(wireHex(t, tc.want)) {
				t.Fatalf("EncodeOptions = %x, want %s", got, tc.want)
			}
			if l := tc.o.EncodedLen(tc.syn); l != n || n%4 != 0 || n > 40 {
				t.Fatalf("EncodedLen = %d, wrote %d", l, n)
			}
		})
	}
}

func TestEncodeOptions_EncodedLenEqualsWritten_AllCombinations(t *testing.T) {
	for mask := range 1 << 5 {
		for nsack := range 5 {
			o := Options{NumSACK: nsack}
			if mask&1 != 0 {
				o.MSS = 1400
			}
			o.HasWScale = mask&2 != 0
			o.SACKPermitted = mask&4 != 0
			o.HasTimestamp = mask&8 != 0
			syn := mask&16 != 0
			b := make([]byte, 64)
			n := EncodeOptions(b, &o, syn)
			if n != o.EncodedLen(syn) || n%4 != 0 || n > HeaderMaxLen-HeaderMinLen {
				t.Fatalf("%+v syn=%v: wrote %d, EncodedLen %d", o, syn, n, o.EncodedLen(syn))
			}
			p, err := ParseOptions(b[:n])
			if err != nil {
				t.Fatalf("%+v syn=%v: re-parse: %v", o, syn, err)
			}
			if p.HasTimestamp != o.HasTimestamp || (syn && (p.MSS != o.MSS || p.HasWScale != o.HasWScale || p.SACKPermitted != o.SACKPermitted)) {
				t.Fatalf("%+v syn=%v: re-parsed %+v", o, syn, p)
			}
		}
	}
}

func TestParseOptions_EncodeOptions_DoNotAllocate(t *testing.T) {
	o := Options{HasTimestamp: true, TSVal: 1, NumSACK: 3, SACK: [4]SACKBlock{{1, seqnum.Value(2)}}}
	b := make([]byte, 40)
	if n := testing.AllocsPerRun(100, func() {
		n := EncodeOptions(b, &o, false)
		_, _ = ParseOptions(b[:n])
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
