package arp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
)

var (
	hostMAC  = ethernet.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x01}
	hostIP   = netip.MustParseAddr("10.0.0.1")
	stackMAC = ethernet.MAC{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	stackIP  = netip.MustParseAddr("10.0.0.2")
)

// goldenRequest is "who-has 10.0.0.2 tell 10.0.0.1" as Linux sends it
// (target hardware address zero), the 28-byte Ethernet payload.
var goldenRequest = mustHex("0001" + "0800" + "06" + "04" + "0001" +
	"0242ac110001" + "0a000001" + "000000000000" + "0a000002")

// goldenReply is "10.0.0.2 is-at 02:00:00:00:00:02", to 10.0.0.1.
var goldenReply = mustHex("0001" + "0800" + "06" + "04" + "0002" +
	"020000000002" + "0a000002" + "0242ac110001" + "0a000001")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParse_GoldenRequest_DecodesEveryField(t *testing.T) {
	h, err := Parse(goldenRequest)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if h.HardwareType() != 1 || h.ProtocolType() != 0x0800 || h.HardwareLen() != 6 || h.ProtocolLen() != 4 {
		t.Errorf("fixed fields = %d %#x %d %d", h.HardwareType(), h.ProtocolType(), h.HardwareLen(), h.ProtocolLen())
	}
	if h.Op() != OpRequest {
		t.Errorf("Op = %v, want request", h.Op())
	}
	if h.SenderMAC() != hostMAC || h.SenderIP() != hostIP {
		t.Errorf("sender = %v %v", h.SenderMAC(), h.SenderIP())
	}
	if !h.TargetMAC().IsZero() || h.TargetIP() != stackIP {
		t.Errorf("target = %v %v", h.TargetMAC(), h.TargetIP())
	}
}

func TestParse_GoldenReply_DecodesEveryField(t *testing.T) {
	h, err := Parse(goldenReply)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if h.Op() != OpReply || h.SenderMAC() != stackMAC || h.SenderIP() != stackIP ||
		h.TargetMAC() != hostMAC || h.TargetIP() != hostIP {
		t.Errorf("reply = %v %v %v %v %v", h.Op(), h.SenderMAC(), h.SenderIP(), h.TargetMAC(), h.TargetIP())
	}
}

func TestEncode_ReproducesGoldenBytes(t *testing.T) {
	b := make([]byte, HeaderLen)
	Encode(b, OpRequest, hostMAC, hostIP, ethernet.MAC{}, stackIP)
	if !bytes.Equal(b, goldenRequest) {
		t.Errorf("request = %x\nwant      %x", b, goldenRequest)
	}
	// Encode writes every field, whatever the buffer held before.
	b = bytes.Repeat([]byte{0xaa}, HeaderLen+4)
	Encode(b, OpReply, stackMAC, stackIP, hostMAC, hostIP)
	if !bytes.Equal(b[:HeaderLen], goldenReply) {
		t.Errorf("reply = %x\nwant    %x", b[:HeaderLen], goldenReply)
	}
	if !bytes.Equal(b[HeaderLen:], []byte{0xaa, 0xaa, 0xaa, 0xaa}) {
		t.Errorf("Encode wrote past HeaderLen")
	}
}

func TestEncode_IPv4MappedAddress_WritesIPv4(t *testing.T) {
	b := make([]byte, HeaderLen)
	Encode(b, OpRequest, hostMAC, netip.MustParseAddr("::ffff:10.0.0.1"), ethernet.MAC{}, stackIP)
	if !bytes.Equal(b, goldenRequest) {
		t.Errorf("request = %x\nwant      %x", b, goldenRequest)
	}
}

func TestParse_WithEthernetPadding_ReturnsFirst28Bytes(t *testing.T) {
	padded := append(append([]byte(nil), goldenReply...), make([]byte, 18)...) // 46-byte payload
	h, err := Parse(padded)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(h) != HeaderLen || &h[0] != &padded[0] {
		t.Errorf("Parse returned %d bytes (aliasing %v), want b[:28]", len(h), &h[0] == &padded[0])
	}
}

func TestParse_Truncated_ReturnsErrTruncated(t *testing.T) {
	for n := 0; n < HeaderLen; n++ {
		if _, err := Parse(goldenRequest[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("Parse(%d bytes) error = %v, want ErrTruncated", n, err)
		}
	}
}

func TestParse_NotEthernetIPv4_ReturnsErrUnsupported(t *testing.T) {
	tests := []struct {
		name   string
		offset int
		value  byte
	}{
		{"hardware type 6 (IEEE 802)", 1, 6},
		{"hardware type 0x0101", 0, 1},
		{"protocol type IPv6", 2, 0x86},
		{"protocol type 0x0801", 3, 0x01},
		{"hardware length 8", 4, 8},
		{"protocol length 16", 5, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append([]byte(nil), goldenRequest...)
			b[tt.offset] = tt.value
			if _, err := Parse(b); !errors.Is(err, ErrUnsupported) {
				t.Errorf("error = %v, want ErrUnsupported", err)
			}
		})
	}
}

func TestParse_OpcodeNotRequestOrReply_ReturnsErrBadOp(t *testing.T) {
	for _, op := range []uint16{0, 3, 4, 8, 0x0101, 0xffff} {
		b := append([]byte(nil), goldenRequest...)
		b[6], b[7] = byte(op>>8), byte(op)
		if _, err := Parse(b); !errors.Is(err, ErrBadOp) {
			t.Errorf("op %d: error = %v, want ErrBadOp", op, err)
		}
	}
}

func TestParse_ErrorsAreDistinct(t *testing.T) {
	errs := []error{ErrTruncated, ErrUnsupported, ErrBadOp}
	for i, a := range errs {
		for j, b := range errs {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v matches %v", a, b)
			}
		}
	}
}

func TestSetters_ThenParse_RoundTrip(t *testing.T) {
	b := append([]byte(nil), goldenRequest...)
	h, _ := Parse(b)
	// Turn the request into its reply in place, as a responder does.
	h.SetOp(OpReply)
	h.SetTargetMAC(h.SenderMAC())
	h.SetTargetIP(h.SenderIP())
	h.SetSenderMAC(stackMAC)
	h.SetSenderIP(stackIP)
	if !bytes.Equal(b, goldenReply) {
		t.Errorf("reply built in place = %x\nwant                  %x", b, goldenReply)
	}
	h2, err := Parse(b)
	if err != nil || h2.Op() != OpReply {
		t.Errorf("re-parse: %v %v", h2, err)
	}
}

func TestOp_String(t *testing.T) {
	for op, want := range map[Op]string{OpRequest: "request", OpReply: "reply", 0: "op(0)", 65535: "op(65535)"} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", uint16(op), got, want)
		}
	}
}
