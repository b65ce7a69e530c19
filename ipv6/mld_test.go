package ipv6

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"
)

var (
	snA = netip.MustParseAddr("ff02::1:ff00:1")
)

// goldenMLDv2Report is a report joining ff02::1:ff00:1 and ff02::1:ff00:2
// (CHANGE_TO_EXCLUDE, no sources) from fe80::1, written out from RFC 3810
// §5.2.
var goldenMLDv2Report = []byte{
	143, 0, 0x6e, 0xeb, 0, 0, 0, 2, // type, code, checksum, reserved, 2 records
	4, 0, 0, 0, // CHANGE_TO_EXCLUDE_MODE, aux 0, sources 0
	0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0, 0, 0x01,
	4, 0, 0, 0,
	0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0, 0, 0x02,
}

func TestEncodeMLDv2Report_GoldenBytes_ParseBack(t *testing.T) {
	recs := []MLDRecord{{MLDChangeToExclude, snA}, {MLDChangeToExclude, snmB}}
	b := make([]byte, 128)
	n := EncodeMLDv2Report(b, recs, llA, AllMLDv2Routers)
	if !bytes.Equal(b[:n], goldenMLDv2Report) {
		t.Fatalf("report =\n% x\nwant\n% x", b[:n], goldenMLDv2Report)
	}
	// The checksum verifies independently over the pseudo-header.
	if _, err := ParseICMP(goldenMLDv2Report, llA, AllMLDv2Routers); err != nil {
		t.Fatal(err)
	}
	got, ok := MLDv2Records(ICMP(goldenMLDv2Report))
	if !ok || len(got) != 2 || got[0] != recs[0] || got[1] != recs[1] {
		t.Errorf("records %v %v, want %v", got, ok, recs)
	}
	if _, ok := MLDv2Records(ICMP(goldenMLDv2Report[:len(goldenMLDv2Report)-1])); ok {
		t.Error("a truncated record accepted")
	}
}

func TestPutRouterAlertHBH_Walks(t *testing.T) {
	b := make([]byte, 8)
	PutRouterAlertHBH(b, ProtoICMPv6)
	if want := []byte{58, 0, 5, 2, 0, 0, 1, 0}; !bytes.Equal(b, want) {
		t.Fatalf("hop-by-hop % x, want % x", b, want)
	}
	if err := walkOptions(Ext{Proto: ProtoHopByHop, Data: b}); err != nil {
		t.Errorf("the walk refuses our router alert header: %v", err)
	}
}

// mldQuery builds a query: v2 unless the length is 24.
func mldQuery(code uint16, group netip.Addr, sources int, n int) ICMP {
	m := make(ICMP, n)
	m[0] = TypeMLDQuery
	m[4], m[5] = byte(code>>8), byte(code)
	putAddr(m[8:], group)
	if n >= MLDv2QueryLen {
		m[26], m[27] = byte(sources>>8), byte(sources)
	}
	return m
}

func TestParseMLDQuery_ChecksEachRule(t *testing.T) {
	any := netip.IPv6Unspecified()
	for _, c := range []struct {
		name    string
		hop     uint8
		src     netip.Addr
		m       ICMP
		want    MLDQuery
		wantErr error
	}{
		{"v2 general, 10 s", 1, llA, mldQuery(10000, any, 0, 28), MLDQuery{MaxResponse: 10 * time.Second, Group: any}, nil},
		{"v2 group-specific, exponent form", 1, llA, mldQuery(0x8000|0x1234, snA, 0, 28), MLDQuery{MaxResponse: time.Duration(0x1234<<4) * time.Millisecond, Group: snA}, nil},
		{"v2 with one source", 1, llA, mldQuery(1000, snA, 1, 44), MLDQuery{MaxResponse: time.Second, Group: snA, Sources: 1}, nil},
		{"v1", 1, llA, mldQuery(500, any, 0, 24), MLDQuery{MaxResponse: 500 * time.Millisecond, Group: any, V1: true}, nil},
		{"global source", 1, netip.MustParseAddr("2001:db8::1"), mldQuery(1000, any, 0, 28), MLDQuery{}, ErrMLDSource},
		{"hop limit 255", 255, llA, mldQuery(1000, any, 0, 28), MLDQuery{}, ErrMLDHop},
		{"25 octets", 1, llA, mldQuery(1000, any, 0, 25), MLDQuery{}, ErrMLDLen},
		{"sources beyond the message", 1, llA, mldQuery(1000, snA, 2, 44), MLDQuery{}, ErrMLDLen},
		{"unicast group", 1, llA, mldQuery(1000, llA, 0, 28), MLDQuery{}, ErrMLDGroup},
	} {
		q, err := ParseMLDQuery(c.hop, c.src, c.m)
		if !errors.Is(err, c.wantErr) || q != c.want {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, q, err, c.want, c.wantErr)
		}
	}
}

// RFC 3810 §5.1.3's floating-point form: exp 7, mantissa 0xfff is the
// largest delay, (0x1fff) << 10 ms.
func TestMaxRespDelay_Extremes(t *testing.T) {
	for code, want := range map[uint16]time.Duration{
		0: 0, 32767: 32767 * time.Millisecond, 0x8000: 0x1000 << 3 * time.Millisecond, 0xffff: 0x1fff << 10 * time.Millisecond,
	} {
		if got := MaxRespDelay(code); got != want {
			t.Errorf("MaxRespDelay(%#x) = %v, want %v", code, got, want)
		}
	}
}

// FuzzMLD: no panic on any query or report; a report's records, encoded
// again from what MLDv2Records read, parse back the same.
func FuzzMLD(f *testing.F) {
	f.Add(uint8(1), []byte(mldQuery(1000, snA, 0, 28)))
	f.Add(uint8(1), []byte(mldQuery(1000, snA, 1, 44)))
	f.Add(uint8(1), goldenMLDv2Report)
	f.Fuzz(func(t *testing.T, hop uint8, b []byte) {
		if len(b) < ICMPHeaderLen {
			return
		}
		if q, err := ParseMLDQuery(hop, llA, ICMP(b)); err == nil {
			if !q.Group.IsUnspecified() && !q.Group.IsMulticast() || q.MaxResponse < 0 {
				t.Fatalf("accepted %+v", q)
			}
		}
		recs, ok := MLDv2Records(ICMP(b))
		if !ok {
			return
		}
		out := make([]byte, MLDv2ReportSize(len(recs)))
		EncodeMLDv2Report(out, recs, llA, AllMLDv2Routers)
		back, ok := MLDv2Records(ICMP(out))
		if !ok || len(back) != len(recs) {
			t.Fatalf("re-encoded %d records, read back %d %v", len(recs), len(back), ok)
		}
		for i := range recs {
			if back[i] != recs[i] {
				t.Fatalf("record %d: %v, want %v", i, back[i], recs[i])
			}
		}
	})
}

// RFC 2710 §3: type, code 0, checksum, Maximum Response Delay 0, Reserved
// 0, the group; 24 octets.
func TestEncodeMLDv1_GoldenBytes(t *testing.T) {
	src, grp := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1:ff00:2")
	b := make([]byte, 32)
	for _, typ := range []uint8{TypeMLDv1Report, TypeMLDv1Done} {
		dst := grp
		if typ == TypeMLDv1Done {
			dst = AllRouters
		}
		n := EncodeMLDv1(b, typ, grp, src, dst)
		want := append([]byte{typ, 0, 0, 0, 0, 0, 0, 0}, grp.AsSlice()...)
		got := append([]byte(nil), b[:n]...)
		got[2], got[3] = 0, 0
		if !bytes.Equal(got, want) {
			t.Fatalf("type %d: % x, want % x (checksum aside)", typ, got, want)
		}
		if _, err := ParseICMP(b[:n], src, dst); err != nil {
			t.Fatalf("type %d: checksum: %v", typ, err)
		}
	}
}
