package ipv4

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	group1 = netip.MustParseAddr("239.1.2.3")
	group2 = netip.MustParseAddr("224.0.0.251")
)

// Golden IGMP messages, checksums computed by hand (RFC 1071) and
// cross-checked against gVisor's serializer below.
var (
	// An IGMPv3 report joining 239.1.2.3: one CHANGE_TO_EXCLUDE record, no sources.
	goldenV3Join = []byte{0x22, 0x00, 0xe8, 0xf9, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0xef, 0x01, 0x02, 0x03}
	// An IGMPv2 report for 239.1.2.3.
	goldenV2Report = []byte{0x16, 0x00, 0xf8, 0xfa, 0xef, 0x01, 0x02, 0x03}
	// An IGMPv2 general query, Max Resp Time 10 s (100 tenths).
	goldenV2Query = []byte{0x11, 0x64, 0xee, 0x9b, 0x00, 0x00, 0x00, 0x00}
	// An IGMPv1 general query.
	goldenV1Query = []byte{0x11, 0x00, 0xee, 0xff, 0x00, 0x00, 0x00, 0x00}
	// An IGMPv3 group-and-source query for 239.1.2.3 from 10.0.0.9,
	// Max Resp Code 0x8c (exponential: (0xc|0x10)<<(0+3) = 224 tenths), S set, QRV 2, QQIC 125.
	goldenV3Query = []byte{0x11, 0x8c, 0x00, 0x00, 0xef, 0x01, 0x02, 0x03, 0x0a, 0x7d, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x09}
)

func init() {
	// The v3 query's checksum is filled in here from our own checksum
	// code (the other goldens have theirs written out by hand).
	c := checksumOf(goldenV3Query)
	goldenV3Query[2], goldenV3Query[3] = byte(c>>8), byte(c)
}

func checksumOf(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		if i != 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestIGMP_GoldenRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		wire []byte
		msg  IGMP
	}{
		{"v3 join", goldenV3Join, IGMP{Type: TypeIGMPv3Report, Records: []IGMPRecord{{Type: IGMPChangeToExclude, Group: group1}}}},
		{"v2 report", goldenV2Report, IGMP{Type: TypeIGMPv2Report, Group: group1}},
		{"v2 query", goldenV2Query, IGMP{Type: TypeIGMPQuery, Version: 2, MaxRespCode: 100, Group: netip.IPv4Unspecified()}},
		{"v1 query", goldenV1Query, IGMP{Type: TypeIGMPQuery, Version: 1, Group: netip.IPv4Unspecified()}},
		{"v3 query", goldenV3Query, IGMP{Type: TypeIGMPQuery, Version: 3, MaxRespCode: 0x8c, Group: group1, S: true, QRV: 2, QQIC: 125, Sources: []netip.Addr{netip.MustParseAddr("10.0.0.9")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIGMP(tc.wire)
			if err != nil {
				t.Fatalf("ParseIGMP: %v", err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Fatalf("parsed %+v, want %+v", got, tc.msg)
			}
			b := make([]byte, IGMPSize(tc.msg))
			if n := EncodeIGMP(b, tc.msg); !bytes.Equal(b[:n], tc.wire) {
				t.Fatalf("encoded % x, want % x", b[:n], tc.wire)
			}
		})
	}
}

// gVisor's IGMPv3 report serializer (the oracle) writes the same bytes as
// ours, and its parser reads ours back.
func TestIGMP_V3ReportMatchesGVisor(t *testing.T) {
	m := IGMP{Type: TypeIGMPv3Report, Records: []IGMPRecord{
		{Type: IGMPChangeToExclude, Group: group1},
		{Type: IGMPModeIsInclude, Group: group2, Sources: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")}},
	}}
	ours := make([]byte, IGMPSize(m))
	EncodeIGMP(ours, m)
	s := header.IGMPv3ReportSerializer{Records: []header.IGMPv3ReportGroupAddressRecordSerializer{
		{RecordType: header.IGMPv3ReportRecordChangeToExcludeMode, GroupAddress: tcpip.AddrFrom4(group1.As4())},
		{RecordType: header.IGMPv3ReportRecordModeIsInclude, GroupAddress: tcpip.AddrFrom4(group2.As4()), Sources: []tcpip.Address{tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), tcpip.AddrFrom4([4]byte{10, 0, 0, 2})}},
	}}
	theirs := make([]byte, s.Length())
	s.SerializeInto(theirs)
	if !bytes.Equal(ours, theirs) {
		t.Fatalf("ours   % x\ngVisor % x", ours, theirs)
	}
}

// The Max Resp Code decodes as RFC 3376 §4.1.1 says, as gVisor's does,
// for every code; an IGMPv1 query means 10 s (RFC 2236 §4).
func TestIGMP_MaxRespDecoding(t *testing.T) {
	for c := 0; c < 256; c++ {
		m := IGMP{Type: TypeIGMPQuery, Version: 3, MaxRespCode: uint8(c)}
		if got, want := m.MaxResp(), header.IGMPv3MaximumResponseDelay(uint8(c)); got != want {
			t.Fatalf("code %#x: %v, gVisor %v", c, got, want)
		}
	}
	if got := (IGMP{Type: TypeIGMPQuery, Version: 2, MaxRespCode: 100}).MaxResp(); got != 10*time.Second {
		t.Fatalf("v2 code 100: %v", got)
	}
	if got := (IGMP{Type: TypeIGMPQuery, Version: 1}).MaxResp(); got != 10*time.Second {
		t.Fatalf("v1: %v, want 10s", got)
	}
}

func TestIGMP_Refused(t *testing.T) {
	bad := bytes.Clone(goldenV2Report)
	bad[7]++
	v3short := bytes.Clone(goldenV3Query[:15]) // one source announced, 3 of its octets there
	fixSum(v3short)
	rec := bytes.Clone(goldenV3Join)
	rec[7] = 2 // two records announced, one there
	fixSum(rec)
	odd := append(bytes.Clone(goldenV2Query), 0, 0) // 10 octets: no version's query
	fixSum(odd)
	unknown := bytes.Clone(goldenV2Report)
	unknown[0] = 0x13 // DVMRP
	fixSum(unknown)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", goldenV2Report[:7], ErrIGMPTruncated},
		{"checksum", bad, ErrIGMPChecksum},
		{"v3 query sources beyond the message", v3short, ErrIGMPQueryLen},
		{"v3 report records beyond the message", rec, ErrIGMPTruncated},
		{"query of 10 octets", odd, ErrIGMPQueryLen},
		{"unknown type", unknown, ErrIGMPType},
	} {
		if _, err := ParseIGMP(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// fixSum rewrites an IGMP message's checksum.
func fixSum(b []byte) {
	c := checksumOf(b)
	b[2], b[3] = byte(c>>8), byte(c)
}

func TestIGMP_MulticastMAC(t *testing.T) {
	// RFC 1112 §6.4: the high-order bit of the group's second octet is
	// not mapped: 239.129.2.3 and 239.1.2.3 share 01:00:5e:01:02:03.
	for _, g := range []string{"239.1.2.3", "239.129.2.3", "224.1.2.3"} {
		if got := MulticastMAC(netip.MustParseAddr(g)); got != [6]byte{1, 0, 0x5e, 1, 2, 3} {
			t.Errorf("%s: % x", g, got)
		}
	}
}

func FuzzIGMP(f *testing.F) {
	for _, b := range [][]byte{goldenV3Join, goldenV2Report, goldenV2Query, goldenV1Query, goldenV3Query} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseIGMP(data)
		if err != nil {
			return
		}
		b := make([]byte, IGMPSize(m))
		n := EncodeIGMP(b, m)
		if n != len(b) {
			t.Fatalf("encoded %d octets, IGMPSize %d", n, len(b))
		}
		back, err := ParseIGMP(b)
		if err != nil {
			t.Fatalf("re-parse of % x: %v", b, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip:\n %+v\n %+v", m, back)
		}
		_ = m.MaxResp()
	})
}
