package ethernet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// arpRequestFrame is a broadcast ARP request as captured from a Linux host
// (10.0.0.1 at 02:42:ac:11:00:01 asking for 10.0.0.2), 42 bytes, unpadded as
// a TAP device delivers it.
var arpRequestFrame = mustHex(
	"ffffffffffff" + "0242ac110001" + "0806" +
		"0001080006040001" + "0242ac110001" + "0a000001" + "000000000000" + "0a000002")

// ipv4Frame carries the first 28 bytes of an ICMP echo request 10.0.0.1 →
// 10.0.0.2 (only the Ethernet header matters here).
var ipv4Frame = mustHex(
	"020000000002" + "0242ac110001" + "0800" +
		"45000054" + "1c4640004001" + "0a5f" + "0a000001" + "0a000002" +
		"0800f7ff00000000")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParse_GoldenARPFrame_DecodesFields(t *testing.T) {
	h, err := Parse(arpRequestFrame)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := h.Dst(); got != Broadcast {
		t.Errorf("Dst = %v, want broadcast", got)
	}
	if got, want := h.Src(), (MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x01}); got != want {
		t.Errorf("Src = %v, want %v", got, want)
	}
	if got := h.Type(); got != TypeARP {
		t.Errorf("Type = %v, want ARP", got)
	}
	if got := h.Payload(); !bytes.Equal(got, arpRequestFrame[14:]) || len(got) != 28 {
		t.Errorf("Payload = %x, want %x", got, arpRequestFrame[14:])
	}
}

func TestParse_GoldenIPv4Frame_DecodesFields(t *testing.T) {
	h, err := Parse(ipv4Frame)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := h.Dst(), (MAC{2, 0, 0, 0, 0, 2}); got != want {
		t.Errorf("Dst = %v, want %v", got, want)
	}
	if got := h.Type(); got != TypeIPv4 {
		t.Errorf("Type = %v, want IPv4", got)
	}
	if got := h.Payload()[0]; got != 0x45 {
		t.Errorf("Payload[0] = %#x, want 0x45", got)
	}
}

func TestParse_ShorterThanHeader_ReturnsErrTruncated(t *testing.T) {
	for n := 0; n < HeaderLen; n++ {
		if _, err := Parse(arpRequestFrame[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("Parse(%d bytes) error = %v, want ErrTruncated", n, err)
		}
	}
	h, err := Parse(arpRequestFrame[:HeaderLen])
	if err != nil {
		t.Fatalf("Parse(14 bytes): %v", err)
	}
	if len(h.Payload()) != 0 {
		t.Errorf("Payload of a bare header has %d bytes, want 0", len(h.Payload()))
	}
}

func TestEncode_ThenParse_RoundTrips(t *testing.T) {
	dst := MAC{0x02, 0, 0, 0, 0, 0x01}
	src := MAC{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	b := make([]byte, HeaderLen+3)
	copy(b[HeaderLen:], "abc")
	Encode(b, dst, src, TypeIPv6)
	h, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if h.Dst() != dst || h.Src() != src || h.Type() != TypeIPv6 || string(h.Payload()) != "abc" {
		t.Errorf("round trip = %v %v %v %q", h.Dst(), h.Src(), h.Type(), h.Payload())
	}
	want := mustHex("020000000001" + "02aabbccddee" + "86dd")
	if !bytes.Equal(b[:HeaderLen], want) {
		t.Errorf("encoded header = %x, want %x", b[:HeaderLen], want)
	}
}

func TestEncode_ReproducesGoldenHeader(t *testing.T) {
	b := make([]byte, len(arpRequestFrame))
	copy(b[HeaderLen:], arpRequestFrame[HeaderLen:])
	Encode(b, Broadcast, MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x01}, TypeARP)
	if !bytes.Equal(b, arpRequestFrame) {
		t.Errorf("Encode = %x, want %x", b, arpRequestFrame)
	}
}

func TestSetters_WriteIntoFrame(t *testing.T) {
	b := append([]byte(nil), ipv4Frame...)
	h, _ := Parse(b)
	h.SetDst(Broadcast)
	h.SetSrc(MAC{1, 2, 3, 4, 5, 6})
	h.SetType(TypeVLAN)
	if !bytes.Equal(b[:14], mustHex("ffffffffffff0102030405068100")) {
		t.Errorf("header after setters = %x", b[:14])
	}
	if !bytes.Equal(b[14:], ipv4Frame[14:]) {
		t.Errorf("setters touched the payload")
	}
}

func TestPad_ShortFrameWithoutCapacity_AppendsZeros(t *testing.T) {
	frame := append([]byte(nil), arpRequestFrame...) // 42 bytes
	frame = frame[:len(frame):len(frame)]
	got := Pad(frame)
	if len(got) != MinFrameLen {
		t.Fatalf("len = %d, want %d", len(got), MinFrameLen)
	}
	if !bytes.Equal(got[:42], arpRequestFrame) {
		t.Errorf("Pad changed the frame's bytes")
	}
	if !bytes.Equal(got[42:], make([]byte, 18)) {
		t.Errorf("padding = %x, want zeros", got[42:])
	}
}

func TestPad_ShortFrameWithDirtyCapacity_ReusesBufferAndZeroesPadding(t *testing.T) {
	buf := bytes.Repeat([]byte{0xee}, 128)
	frame := buf[:20]
	got := Pad(frame)
	if len(got) != MinFrameLen {
		t.Fatalf("len = %d, want %d", len(got), MinFrameLen)
	}
	if &got[0] != &buf[0] {
		t.Errorf("Pad allocated although the capacity sufficed")
	}
	if !bytes.Equal(got[:20], bytes.Repeat([]byte{0xee}, 20)) {
		t.Errorf("Pad changed the frame's bytes")
	}
	if !bytes.Equal(got[20:], make([]byte, 40)) {
		t.Errorf("padding = %x, want zeros", got[20:])
	}
}

func TestPad_FrameAtOrAboveMinimum_ReturnedUnchanged(t *testing.T) {
	for _, n := range []int{MinFrameLen, MinFrameLen + 1, 1514} {
		frame := make([]byte, n, n+10)
		got := Pad(frame)
		if len(got) != n || &got[0] != &frame[0] {
			t.Errorf("Pad(%d bytes) = %d bytes (same buffer %v)", n, len(got), &got[0] == &frame[0])
		}
	}
}

func TestPad_EmptyFrame_BecomesMinimumZeros(t *testing.T) {
	got := Pad(nil)
	if !bytes.Equal(got, make([]byte, MinFrameLen)) {
		t.Errorf("Pad(nil) = %x", got)
	}
}

func TestHeader_ForUs(t *testing.T) {
	ours := MAC{0x02, 0, 0, 0, 0, 0x02}
	tests := []struct {
		name string
		dst  MAC
		want bool
	}{
		{"unicast to us", ours, true},
		{"broadcast", Broadcast, true},
		{"unicast to another", MAC{0x02, 0, 0, 0, 0, 0x03}, false},
		{"IPv4 multicast", MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, false},
		{"IPv6 all-nodes multicast", MAC{0x33, 0x33, 0, 0, 0, 1}, false},
		{"zero", MAC{}, false},
		{"ours with group bit", MAC{0x03, 0, 0, 0, 0, 0x02}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, HeaderLen)
			Encode(b, tt.dst, MAC{0x02, 9, 9, 9, 9, 9}, TypeIPv4)
			h, _ := Parse(b)
			if got := h.ForUs(ours); got != tt.want {
				t.Errorf("ForUs(dst %v) = %v, want %v", tt.dst, got, tt.want)
			}
		})
	}
}

func TestMAC_String_FormatsLowerCaseColonSeparated(t *testing.T) {
	if got := (MAC{0x02, 0, 0, 0, 0, 0x01}).String(); got != "02:00:00:00:00:01" {
		t.Errorf("String = %q", got)
	}
	if got := (MAC{0xde, 0xad, 0xBE, 0xef, 0x0a, 0xff}).String(); got != "de:ad:be:ef:0a:ff" {
		t.Errorf("String = %q", got)
	}
}

func TestMAC_Predicates(t *testing.T) {
	tests := []struct {
		m                          MAC
		broadcast, multicast, zero bool
	}{
		{Broadcast, true, true, false},
		{MAC{0x01, 0x00, 0x5e, 0, 0, 1}, false, true, false},
		{MAC{0x02, 0, 0, 0, 0, 1}, false, false, false},
		{MAC{}, false, false, true},
	}
	for _, tt := range tests {
		if got := tt.m.IsBroadcast(); got != tt.broadcast {
			t.Errorf("%v.IsBroadcast() = %v", tt.m, got)
		}
		if got := tt.m.IsMulticast(); got != tt.multicast {
			t.Errorf("%v.IsMulticast() = %v", tt.m, got)
		}
		if got := tt.m.IsZero(); got != tt.zero {
			t.Errorf("%v.IsZero() = %v", tt.m, got)
		}
	}
}

func TestParseMAC_AcceptsColonAndHyphenForms(t *testing.T) {
	want := MAC{0x02, 0xab, 0xcd, 0xef, 0x00, 0x01}
	for _, s := range []string{"02:ab:cd:ef:00:01", "02-AB-CD-EF-00-01", "02:Ab:cD:eF:00:01"} {
		got, err := ParseMAC(s)
		if err != nil || got != want {
			t.Errorf("ParseMAC(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}

func TestParseMAC_RejectsMalformed(t *testing.T) {
	for _, s := range []string{
		"", "02:00:00:00:00", "02:00:00:00:00:01:02", "02:00:00:00:00:0g",
		"02:00-00:00:00:01", "02.00.00.00.00.01", "0200.0000.0001", "2:0:0:0:0:1",
		"02:00:00:00:00:001", " 2:00:00:00:00:01",
	} {
		if _, err := ParseMAC(s); !errors.Is(err, ErrBadMAC) {
			t.Errorf("ParseMAC(%q) error = %v, want ErrBadMAC", s, err)
		}
	}
}

func TestParseMAC_InvertsString(t *testing.T) {
	for range 100 {
		m := RandomMAC()
		got, err := ParseMAC(m.String())
		if err != nil || got != m {
			t.Fatalf("ParseMAC(%q) = %v, %v", m.String(), got, err)
		}
	}
}

func TestRandomMAC_IsLocallyAdministeredUnicast(t *testing.T) {
	seen := map[MAC]bool{}
	for range 1000 {
		m := RandomMAC()
		if m[0]&0x02 == 0 || m[0]&0x01 != 0 {
			t.Fatalf("RandomMAC() = %v: first octet %#02x lacks U/L or has I/G", m, m[0])
		}
		seen[m] = true
	}
	if len(seen) < 990 {
		t.Errorf("only %d distinct addresses in 1000 draws", len(seen))
	}
}

func TestEtherType_String(t *testing.T) {
	tests := map[EtherType]string{
		TypeIPv4: "IPv4", TypeARP: "ARP", TypeIPv6: "IPv6", TypeVLAN: "VLAN",
		0x88cc: "0x88cc", 0x0001: "0x0001", 0x0600: "0x0600",
	}
	for et, want := range tests {
		if got := et.String(); got != want {
			t.Errorf("EtherType(%#x).String() = %q, want %q", uint16(et), got, want)
		}
	}
	if !strings.HasPrefix(EtherType(0xffff).String(), "0x") {
		t.Errorf("unknown type not formatted as hex")
	}
}

func TestParse_AllocatesNothing(t *testing.T) {
	ours := MAC{2, 0, 0, 0, 0, 2}
	n := testing.AllocsPerRun(100, func() {
		h, err := Parse(ipv4Frame)
		if err != nil || !h.ForUs(ours) || h.Type() != TypeIPv4 {
			panic("bad")
		}
	})
	if n != 0 {
		t.Errorf("Parse+ForUs+Type allocates %v times, want 0", n)
	}
}
