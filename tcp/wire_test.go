package tcp

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Golden segments captured with tcpdump on a veth pair between two network
// namespaces (Linux 6.x defaults: tcp_sack, tcp_timestamps and
// tcp_window_scaling on; MTU 1500), transmit checksum offload turned off
// with ethtool so the checksums on the wire are the real ones (tcpdump -vv
// printed "cksum ... (correct)" for each). Client 192.0.2.1:40000, server
// 192.0.2.2:8080. Only the TCP segment (the IPv4 payload) is kept.
var (
	wireClient = netip.MustParseAddr("192.0.2.1")
	wireServer = netip.MustParseAddr("192.0.2.2")

	// Flags [S], cksum 0x4451, seq 3099759172, win 64240,
	// options [mss 1460,sackOK,TS val 3918042198 ecr 0,nop,wscale 10].
	goldenSYN = "9c401f90b8c2924400000000a002faf044510000" +
		"020405b40402080ae9889456000000000103030a"
	// Flags [S.], cksum 0xe417, seq 827605811, ack 3099759173, win 65160,
	// options [mss 1460,sackOK,TS val 4165988280 ecr 3918042198,nop,wscale 10].
	goldenSYNACK = "1f909c4031544333b8c29245a012fe88e4170000" +
		"020405b40402080af84fefb8e98894560103030a"
	// Flags [P.], cksum 0x0b54, seq 1:17 (3099759173), ack 1 (827605812),
	// win 63, options [nop,nop,TS val 3918042198 ecr 4165988280], length 16.
	goldenData = "9c401f90b8c29245315443348018003f0b540000" +
		"0101080ae9889456f84fefb8" +
		"68656c6c6f2c2074617073746163 6b0a"
)

func wireHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse_GoldenSYN_Fields(t *testing.T) {
	h, err := Parse(wireHex(t, goldenSYN))
	if err != nil {
		t.Fatal(err)
	}
	if h.SrcPort() != 40000 || h.DstPort() != 8080 {
		t.Errorf("ports = %d > %d", h.SrcPort(), h.DstPort())
	}
	if h.Seq() != 3099759172 || h.Ack() != 0 {
		t.Errorf("seq %d ack %d", h.Seq(), h.Ack())
	}
	if h.DataOffset() != 40 || h.Flags() != FlagSYN || h.Window() != 64240 ||
		h.Checksum() != 0x4451 || h.Urgent() != 0 {
		t.Errorf("doff %d flags %v win %d cksum %#x urg %d",
			h.DataOffset(), h.Flags(), h.Window(), h.Checksum(), h.Urgent())
	}
	if len(h.Options()) != 20 || len(h.Payload()) != 0 {
		t.Errorf("options %d bytes, payload %d bytes", len(h.Options()), len(h.Payload()))
	}
	if !h.VerifyIPv4(wireClient, wireServer) {
		t.Error("VerifyIPv4 rejects the captured checksum")
	}
	if h.VerifyIPv4(wireServer, netip.MustParseAddr("192.0.2.3")) {
		t.Error("VerifyIPv4 accepts a different pseudo-header")
	}
}

func TestComputeChecksumIPv4_GoldenSegments_MatchWire(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hex      string
		src, dst netip.Addr
	}{
		{"SYN", goldenSYN, wireClient, wireServer},
		{"SYN-ACK", goldenSYNACK, wireServer, wireClient},
		{"data", goldenData, wireClient, wireServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := wireHex(t, tc.hex)
			h, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			want := h.Checksum()
			if !h.VerifyIPv4(tc.src, tc.dst) {
				t.Fatal("captured checksum does not verify")
			}
			h.SetChecksum(0xdead)
			if h.VerifyIPv4(tc.src, tc.dst) {
				t.Fatal("corrupted checksum verifies")
			}
			h.ComputeChecksumIPv4(tc.src, tc.dst)
			if h.Checksum() != want {
				t.Fatalf("computed %#04x, wire has %#04x", h.Checksum(), want)
			}
		})
	}
}

func TestVerifyIPv4_FlippedPayloadBit_Fails(t *testing.T) {
	b := wireHex(t, goldenData)
	b[len(b)-1] ^= 0x01
	h, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.VerifyIPv4(wireClient, wireServer) {
		t.Fatal("checksum verifies after a payload bit flip")
	}
}

func TestParse_Rejections(t *testing.T) {
	syn := wireHex(t, goldenSYN)
	withDoff := func(b []byte, words byte) []byte {
		c := append([]byte(nil), b...)
		c[12] = words<<4 | c[12]&0x0f
		return c
	}
	withOpts := func(opts string) []byte {
		o := wireHex(t, opts)
		c := append([]byte(nil), syn[:20]...)
		c = append(c, o...)
		c[12] = byte(len(c)/4) << 4
		return c
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"19 bytes", syn[:19], ErrTruncated},
		{"data offset 4", withDoff(syn, 4), ErrDataOffset},
		{"data offset 0", withDoff(syn, 0), ErrDataOffset},
		{"data offset beyond buffer", withDoff(syn[:36], 10), ErrDataOffset},
		{"data offset 15 on 40 bytes", withDoff(syn, 15), ErrDataOffset},
		{"option length 0", withOpts("fe000000"), ErrOptions},
		{"option length 1", withOpts("fe010000"), ErrOptions},
		{"option length running past header", withOpts("fe050000"), ErrOptions},
		{"kind without length octet at end", withOpts("010101fe"), ErrOptions},
		{"MSS with length 3", withOpts("02030501"), ErrOptions},
		{"SACK with length 11", withOpts("0101050b0000000100000002000000"), ErrOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Parse(tc.b)
			if !errors.Is(err, tc.want) || h != nil {
				t.Fatalf("Parse = %x, %v; want nil, %v", []byte(h), err, tc.want)
			}
		})
	}
}

func TestParse_NoOptionsNoPayload_Accepts(t *testing.T) {
	b := wireHex(t, goldenSYN)[:20]
	b[12] = 5 << 4
	h, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Options()) != 0 || len(h.Payload()) != 0 {
		t.Fatalf("options %x payload %x", h.Options(), h.Payload())
	}
}

func TestParse_ReservedBits_Ignored(t *testing.T) {
	b := wireHex(t, goldenSYN)
	b[12] |= 0x0f
	h, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.DataOffset() != 40 || h.Flags() != FlagSYN {
		t.Fatalf("doff %d flags %v", h.DataOffset(), h.Flags())
	}
}

func TestHeader_Setters_RoundTrip(t *testing.T) {
	h := Header(make([]byte, HeaderMinLen))
	h.setDataOffset(HeaderMinLen)
	h.SetSrcPort(1)
	h.SetDstPort(65535)
	h.SetSeq(0xfffffffe)
	h.SetAck(7)
	h.SetFlags(FlagFIN | FlagCWR)
	h.SetWindow(0x1234)
	h.SetChecksum(0xabcd)
	h.SetUrgent(9)
	got := []any{h.SrcPort(), h.DstPort(), h.Seq(), h.Ack(), h.Flags(), h.Window(), h.Checksum(), h.Urgent(), h.DataOffset()}
	want := []any{uint16(1), uint16(65535), seqnum.Value(0xfffffffe), seqnum.Value(7), FlagFIN | FlagCWR, uint16(0x1234), uint16(0xabcd), uint16(9), 20}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("field %d = %v, want %v", i, got[i], want[i])
		}
	}
	if got := hex.EncodeToString(h); got != "0001ffff"+"fffffffe"+"00000007"+"5081"+"1234"+"abcd"+"0009" {
		t.Errorf("bytes %s", got)
	}
}

func TestFlags_String(t *testing.T) {
	for f, want := range map[Flags]string{
		0:                           "none",
		FlagSYN:                     "SYN",
		FlagSYN | FlagACK:           "SYN|ACK",
		FlagFIN | FlagPSH | FlagACK: "FIN|PSH|ACK",
		FlagRST | FlagACK:           "RST|ACK",
		FlagURG | FlagECE | FlagCWR: "URG|ECE|CWR",
		0xff:                        "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR",
	} {
		if got := f.String(); got != want {
			t.Errorf("Flags(%#x).String() = %q, want %q", uint8(f), got, want)
		}
	}
}

func TestChecksum_DoesNotAllocate(t *testing.T) {
	h := Header(wireHex(t, goldenData))
	if n := testing.AllocsPerRun(100, func() {
		h.ComputeChecksumIPv4(wireClient, wireServer)
		_ = h.VerifyIPv4(wireClient, wireServer)
		_, _ = Parse(h)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
