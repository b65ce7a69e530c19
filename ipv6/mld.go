package ipv6

// Multicast Listener Discovery version 2, RFC 3810. Both messages are
// ICMPv6; after the type, code and checksum:
//
//	Query (130), §5.1:
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|    Maximum Response Code      |           Reserved            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Multicast Address (16 octets)                 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Resv  |S| QRV |     QQIC      |     Number of Sources (N)     |   (MLDv2 only:
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    a 24-octet
//	|                 Source Addresses (N × 16 octets)              |    query is MLDv1)
//
//	Version 2 Multicast Listener Report (143), §5.2:
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Reserved            |Nr of Mcast Address Records (M)|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Record Type  |  Aux Data Len |     Number of Sources (N)     |   M records
//	|                 Multicast Address (16 octets)                 |
//	|                 Source Addresses (N × 16 octets)              |
//	|                 Auxiliary Data (Aux Data Len × 4 octets)      |
//
// Every MLD message is sent with a link-local source (or :: before one is
// usable, §5.2.13), hop limit 1 and a Router Alert hop-by-hop option (§5).

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
)

// MLD ICMPv6 types (RFC 3810 §5, RFC 2710 §3).
const (
	TypeMLDQuery    uint8 = 130
	TypeMLDv1Report uint8 = 131
	TypeMLDv1Done   uint8 = 132
	TypeMLDv2Report uint8 = 143
)

// MLD lengths.
const (
	MLDv1QueryLen      = 24 // RFC 2710 §3: an MLDv1 query is exactly this long
	MLDv1Len           = 24 // RFC 2710 §3: every MLDv1 message is 24 octets
	MLDv2QueryLen      = 28 // RFC 3810 §5.1: the least MLDv2 query
	MLDv2ReportLen     = 8  // RFC 3810 §5.2: the report before its records
	MLDRecordLen       = 20 // one record without sources or auxiliary data
	MLDHopLimit        = 1  // RFC 3810 §5: MLD never leaves the link
	RouterAlertHBHLen  = 8  // a hop-by-hop header with the router alert option, padded
	optRouterAlert     = 5  // RFC 2711 §2.1
	routerAlertMLD     = 0  // RFC 2710 §3: value 0 is MLD
	mldv2MaxRespCodeMS = 32768
)

// MLDv2 record types (RFC 3810 §5.2.12).
const (
	MLDModeIsInclude   uint8 = 1
	MLDModeIsExclude   uint8 = 2
	MLDChangeToInclude uint8 = 3
	MLDChangeToExclude uint8 = 4
)

// AllMLDv2Routers is the group MLDv2 reports go to (RFC 3810 §5.2.14).
var AllMLDv2Routers = netip.MustParseAddr("ff02::16")

// AllRouters is the link-scope all-routers group, where an MLDv1 Done
// goes (RFC 2710 §4).
var AllRouters = netip.MustParseAddr("ff02::2")

// Reasons a query is refused.
var (
	ErrMLDLen    = errors.New("ipv6: MLD query of a length neither 24 nor at least 28 with its sources")
	ErrMLDSource = errors.New("ipv6: MLD query from a source that is not link-local")
	ErrMLDHop    = errors.New("ipv6: MLD query with a hop limit other than 1")
	ErrMLDGroup  = errors.New("ipv6: MLD query for an address that is neither :: nor multicast")
)

// MLDQuery is a validated query.
type MLDQuery struct {
	// MaxResponse is the Maximum Response Delay (§5.1.3).
	MaxResponse time.Duration
	// Group is the Multicast Address: :: for a general query (§5.1.5).
	Group netip.Addr
	// V1 is set for a 24-octet MLDv1 query.
	V1 bool
	// Sources lists the sources of a group-and-source-specific query.
	Sources int
}

// MaxRespDelay decodes a Maximum Response Code into a delay (RFC 3810
// §5.1.3): below 32768 it is milliseconds; above, a floating-point value
// with a 3-bit exponent and a 12-bit mantissa: (mant | 0x1000) << (exp+3).
func MaxRespDelay(code uint16) time.Duration {
	if code < mldv2MaxRespCodeMS {
		return time.Duration(code) * time.Millisecond
	}
	exp, mant := (code>>12)&7, code&0xfff
	return time.Duration(uint32(mant|0x1000)<<(exp+3)) * time.Millisecond
}

// ParseMLDQuery validates an MLD query m (its checksum already checked by
// ParseICMP) that arrived from src with hopLimit: link-local source
// (§5.1.14: other sources MUST be discarded), hop limit 1 (§5), a length of
// 24 (MLDv1, RFC 2710) or at least 28 with room for its sources (§5.1.10;
// "the Number of Sources field ... MUST" fit the message), and a Multicast
// Address that is :: or multicast (§5.1.5).
func ParseMLDQuery(hopLimit uint8, src netip.Addr, m ICMP) (MLDQuery, error) {
	if !src.IsLinkLocalUnicast() {
		return MLDQuery{}, ErrMLDSource
	}
	if hopLimit != MLDHopLimit {
		return MLDQuery{}, ErrMLDHop
	}
	var q MLDQuery
	switch {
	case len(m) == MLDv1QueryLen:
		q.V1 = true
		q.MaxResponse = time.Duration(binary.BigEndian.Uint16(m[4:])) * time.Millisecond
	case len(m) >= MLDv2QueryLen:
		q.Sources = int(binary.BigEndian.Uint16(m[26:]))
		if len(m) < MLDv2QueryLen+16*q.Sources {
			return MLDQuery{}, ErrMLDLen
		}
		q.MaxResponse = MaxRespDelay(binary.BigEndian.Uint16(m[4:]))
	default:
		return MLDQuery{}, ErrMLDLen
	}
	q.Group = netip.AddrFrom16([16]byte(m[8:24]))
	if !q.Group.IsUnspecified() && !q.Group.IsMulticast() {
		return MLDQuery{}, ErrMLDGroup
	}
	return q, nil
}

// MLDRecord is one multicast address record of a report, without sources
// (all a host that joins whole groups needs).
type MLDRecord struct {
	Type  uint8
	Group netip.Addr
}

// MLDv2ReportSize returns the length of a report with n source-less records.
func MLDv2ReportSize(n int) int { return MLDv2ReportLen + n*MLDRecordLen }

// EncodeMLDv2Report writes a Version 2 Multicast Listener Report with recs
// into b (at least MLDv2ReportSize(len(recs)) octets) and returns its
// length.
func EncodeMLDv2Report(b []byte, recs []MLDRecord, src, dst netip.Addr) int {
	m := ICMP(b[:MLDv2ReportSize(len(recs))])
	clear(m)
	m[0] = TypeMLDv2Report
	binary.BigEndian.PutUint16(m[6:], uint16(len(recs)))
	for i, r := range recs {
		o := m[MLDv2ReportLen+i*MLDRecordLen:]
		o[0] = r.Type
		putAddr(o[4:], r.Group)
	}
	m.SetChecksum(src, dst)
	return len(m)
}

// EncodeMLDv1 writes an MLDv1 Report or Done (typ TypeMLDv1Report or
// TypeMLDv1Done) for group into b (at least MLDv1Len octets) and returns
// its length: RFC 2710 §3, Maximum Response Delay and Reserved zero.
func EncodeMLDv1(b []byte, typ uint8, group, src, dst netip.Addr) int {
	m := ICMP(b[:MLDv1Len])
	clear(m)
	m[0] = typ
	putAddr(m[8:], group)
	m.SetChecksum(src, dst)
	return MLDv1Len
}

// MLDv2Records returns the records of a report m, ok false if the counts
// run past the message (a check for tests and fuzzing; hosts ignore
// reports, RFC 3810 §6.2).
func MLDv2Records(m ICMP) (recs []MLDRecord, ok bool) {
	if len(m) < MLDv2ReportLen {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(m[6:]))
	off := MLDv2ReportLen
	for range n {
		if len(m)-off < MLDRecordLen {
			return nil, false
		}
		r := m[off:]
		l := MLDRecordLen + 16*int(binary.BigEndian.Uint16(r[2:])) + 4*int(r[1])
		if len(m)-off < l {
			return nil, false
		}
		recs = append(recs, MLDRecord{Type: r[0], Group: netip.AddrFrom16([16]byte(r[4:20]))})
		off += l
	}
	return recs, true
}

// PutRouterAlertHBH writes a hop-by-hop options header holding the router
// alert option for MLD (RFC 2711 §2.1, value 0: RFC 2710 §3) and a PadN to
// 8 octets, with next as its Next Header, and returns 8.
func PutRouterAlertHBH(b []byte, next uint8) int {
	copy(b[:RouterAlertHBHLen], []byte{next, 0, optRouterAlert, 2, 0, routerAlertMLD, OptPadN, 0})
	return RouterAlertHBHLen
}
