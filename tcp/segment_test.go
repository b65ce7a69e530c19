package tcp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// wireEncode builds a whole segment from s the way the stack does: Encode,
// copy the payload after the header, compute the checksum.
func wireEncode(s *Segment, src, dst netip.Addr) []byte {
	b := make([]byte, s.HeaderLen()+len(s.Payload))
	n := Encode(b, s)
	copy(b[n:], s.Payload)
	Header(b).ComputeChecksumIPv4(src, dst)
	return b
}

func TestDecode_GoldenSegments(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hex      string
		src, dst netip.Addr
		want     string
	}{
		{"SYN", goldenSYN, wireClient, wireServer,
			"SYN seq=3099759172 ack=0 win=64240 len=0 <mss 1460,ws 10,sackOK,ts 3918042198/0>"},
		{"SYN-ACK", goldenSYNACK, wireServer, wireClient,
			"SYN|ACK seq=827605811 ack=3099759173 win=65160 len=0 <mss 1460,ws 10,sackOK,ts 4165988280/3918042198>"},
		{"data", goldenData, wireClient, wireServer,
			"PSH|ACK seq=3099759173 ack=827605812 win=63 len=16 <ts 3918042198/4165988280>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := wireHex(t, tc.hex)
			s, err := Decode(b, tc.src, tc.dst, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != tc.want {
				t.Errorf("Decode =\n  %s\nwant\n  %s", got, tc.want)
			}
			// Encode reproduces Linux's bytes exactly, checksum included.
			if got := wireEncode(&s, tc.src, tc.dst); !bytes.Equal(got, b) {
				t.Errorf("re-encoded\n  %x\nLinux sent\n  %x", got, b)
			}
		})
	}
}

func TestDecode_DataSegment_PayloadAliasesFrame(t *testing.T) {
	b := wireHex(t, goldenData)
	s, err := Decode(b, wireClient, wireServer, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Payload) != "hello, tapstack\n" {
		t.Fatalf("payload %q", s.Payload)
	}
	if &s.Payload[0] != &b[32] {
		t.Fatal("payload was copied")
	}
	if s.Len() != 16 {
		t.Fatalf("Len = %d", s.Len())
	}
}

func TestDecode_BadChecksum_RejectedUnlessVerifyOff(t *testing.T) {
	b := wireHex(t, goldenSYN)
	b[16] ^= 0xff
	if _, err := Decode(b, wireClient, wireServer, true); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Decode err = %v, want ErrChecksum", err)
	}
	if _, err := Decode(b, wireClient, wireServer, false); err != nil {
		t.Fatalf("Decode with verify off: %v", err)
	}
}

func TestDecode_Rejections(t *testing.T) {
	syn := wireHex(t, goldenSYN)
	short := append([]byte(nil), syn...)
	short[12] = 4 << 4
	badOpt := append([]byte(nil), syn...)
	badOpt[21] = 3 // MSS length 3
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"truncated", syn[:10], ErrTruncated},
		{"data offset 4", short, ErrDataOffset},
		{"data offset beyond buffer", syn[:39], ErrDataOffset},
		{"MSS with length 3", badOpt, ErrOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.b, wireClient, wireServer, false); !errors.Is(err, tc.want) {
				t.Fatalf("Decode err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecode_SYNOnlyOptionsOnNonSYN_Ignored(t *testing.T) {
	s := Segment{SrcPort: 1, DstPort: 2, Seq: 10, Flags: FlagSYN,
		Options: Options{MSS: 1460, HasWScale: true, WScale: 3, SACKPermitted: true}}
	b := wireEncode(&s, wireClient, wireServer)
	Header(b).SetFlags(FlagACK)
	Header(b).ComputeChecksumIPv4(wireClient, wireServer)
	got, err := Decode(b, wireClient, wireServer, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Options != (Options{}) {
		t.Fatalf("options on an ACK = %+v, want none", got.Options)
	}
}

func TestEncodeDecode_RoundTrip(t *testing.T) {
	for _, s := range []Segment{
		{SrcPort: 1, DstPort: 65535, Seq: 0xffffffff, Flags: FlagSYN,
			Options: Options{MSS: 1460, HasWScale: true, WScale: 14, SACKPermitted: true, HasTimestamp: true, TSVal: 5}},
		{SrcPort: 80, DstPort: 1024, Seq: 1, Ack: 2, Flags: FlagSYN | FlagACK | FlagECE, Window: 1,
			Options: Options{MSS: 536}},
		{SrcPort: 80, DstPort: 1024, Seq: 1, Ack: 2, Flags: FlagACK, Window: 65535,
			Options: Options{HasTimestamp: true, TSVal: 7, TSEcr: 8, NumSACK: 3,
				SACK: [4]SACKBlock{{100, 200}, {300, 400}, {0xfffffff0, 10}}}},
		{SrcPort: 80, DstPort: 1024, Seq: 1, Ack: 2, Flags: FlagACK | FlagPSH | FlagFIN | FlagURG, Urgent: 3,
			Payload: []byte("odd-length payload!")},
		{SrcPort: 9, DstPort: 9, Flags: FlagRST | FlagACK},
		{Flags: FlagACK, Options: Options{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}},
	} {
		t.Run(s.String(), func(t *testing.T) {
			b := wireEncode(&s, wireClient, wireServer)
			got, err := Decode(b, wireClient, wireServer, true)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != s.String() || got.Options != s.Options || !bytes.Equal(got.Payload, s.Payload) {
				t.Fatalf("round trip:\n  %v\nwant\n  %v", &got, &s)
			}
		})
	}
}

func TestSegment_Len_CountsSYNAndFIN(t *testing.T) {
	for _, tc := range []struct {
		flags Flags
		n     int
		want  seqnum.Size
	}{
		{FlagACK, 0, 0},
		{FlagSYN, 0, 1},
		{FlagFIN | FlagACK, 0, 1},
		{FlagSYN | FlagFIN, 3, 5},
		{FlagPSH | FlagACK, 100, 100},
	} {
		s := Segment{Flags: tc.flags, Payload: make([]byte, tc.n)}
		if got := s.Len(); got != tc.want {
			t.Errorf("%v with %d bytes: Len = %d, want %d", tc.flags, tc.n, got, tc.want)
		}
	}
}

func TestSegment_String(t *testing.T) {
	s := Segment{Seq: 1000, Ack: 2001, Flags: FlagSYN | FlagACK, Window: 65535,
		Options: Options{MSS: 1460, HasWScale: true, WScale: 7, HasTimestamp: true, TSVal: 1}}
	if got, want := s.String(), "SYN|ACK seq=1000 ack=2001 win=65535 len=0 <mss 1460,ws 7,ts 1/0>"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	s = Segment{Flags: FlagACK | FlagURG, Urgent: 4, Payload: []byte("ab"),
		Options: Options{NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {5, 9}}}}
	if got, want := s.String(), "ACK|URG seq=0 ack=0 win=0 urg=4 len=2 <sack 1-2 5-9>"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := (&Segment{}).String(), "none seq=0 ack=0 win=0 len=0"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestDecodeEncode_DoNotAllocate(t *testing.T) {
	frame := wireHex(t, goldenData)
	out := make([]byte, 100)
	if n := testing.AllocsPerRun(100, func() {
		s, err := Decode(frame, wireClient, wireServer, true)
		if err != nil {
			t.Fatal(err)
		}
		n := Encode(out, &s)
		n += copy(out[n:], s.Payload)
		Header(out[:n]).ComputeChecksumIPv4(wireClient, wireServer)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	frame := wireHex(b, goldenData)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame, wireClient, wireServer, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	s, err := Decode(wireHex(b, goldenData), wireClient, wireServer, true)
	if err != nil {
		b.Fatal(err)
	}
	s.Options.NumSACK = 1
	s.Options.SACK[0] = SACKBlock{100, 200}
	out := make([]byte, 128)
	b.SetBytes(int64(s.HeaderLen() + len(s.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		n := Encode(out, &s)
		n += copy(out[n:], s.Payload)
		Header(out[:n]).ComputeChecksumIPv4(wireClient, wireServer)
	}
}
