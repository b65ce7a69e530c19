package tcp

import "testing"

func TestResetFor_SegmentWithRST_NoReply(t *testing.T) {
	for _, f := range []Flags{FlagRST, FlagRST | FlagACK, FlagRST | FlagSYN} {
		seg := Segment{SrcPort: 1, DstPort: 2, Seq: 10, Ack: 20, Flags: f}
		if rst, ok := ResetFor(&seg); ok {
			t.Errorf("%v: got reply %v", f, &rst)
		}
	}
}

func TestResetFor_SegmentWithACK_SeqIsSegAck(t *testing.T) {
	seg := Segment{SrcPort: 40000, DstPort: 8080, Seq: 10, Ack: 0xfffffff0, Flags: FlagACK | FlagPSH,
		Window: 500, Options: Options{HasTimestamp: true, TSVal: 1}, Payload: []byte("data")}
	rst, ok := ResetFor(&seg)
	want := Segment{SrcPort: 8080, DstPort: 40000, Seq: 0xfffffff0, Flags: FlagRST}
	if !ok || rst.String() != want.String() || rst.Options != (Options{}) || rst.Payload != nil {
		t.Fatalf("ResetFor = %v, %v; want %v", &rst, ok, &want)
	}
}

func TestResetFor_SegmentWithoutACK_AcksSegSeqPlusLen(t *testing.T) {
	for _, tc := range []struct {
		name string
		seg  Segment
		ack  uint32
	}{
		{"SYN counts one", Segment{Seq: 1000, Flags: FlagSYN, Options: Options{MSS: 1460}}, 1001},
		{"SYN+FIN+data", Segment{Seq: 0xfffffffe, Flags: FlagSYN | FlagFIN, Payload: []byte("abc")}, 3},
		{"bare data", Segment{Seq: 5, Flags: FlagPSH, Payload: []byte("abcd")}, 9},
		{"no flags no data", Segment{Seq: 5}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.seg.SrcPort, tc.seg.DstPort = 1234, 80
			rst, ok := ResetFor(&tc.seg)
			if !ok || rst.SrcPort != 80 || rst.DstPort != 1234 || rst.Seq != 0 || uint32(rst.Ack) != tc.ack ||
				rst.Flags != FlagRST|FlagACK || rst.Window != 0 || rst.Options != (Options{}) || rst.Payload != nil {
				t.Fatalf("ResetFor = %v, %v; want RST|ACK seq=0 ack=%d ports swapped", &rst, ok, tc.ack)
			}
		})
	}
}
