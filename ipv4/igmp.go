package ipv4

// The Internet Group Management Protocol, as a host speaks it: IGMPv3
// (RFC 3376) and the older versions it must interoperate with, IGMPv2
// (RFC 2236) and IGMPv1 (RFC 1112 Appendix I). IGMP rides in IP protocol 2.
//
//	IGMPv1/v2 message and v1/v2 query (RFC 2236 §2, 8 octets):
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Type     | Max Resp Time |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Group Address                         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//	IGMPv3 Membership Query (RFC 3376 §4.1), 0x11, 12 octets or more:
//	|  Type = 0x11  | Max Resp Code |           Checksum            |
//	|                         Group Address                         |
//	| Resv  |S| QRV |     QQIC      |     Number of Sources (N)     |
//	|                  Source Address [1..N]                        |
//
//	IGMPv3 Membership Report (RFC 3376 §4.2), 0x22:
//	|  Type = 0x22  |    Reserved   |           Checksum            |
//	|           Reserved            |  Number of Group Records (M)  |
//	then M Group Records (§4.2.4):
//	|  Record Type  |  Aux Data Len |     Number of Sources (N)     |
//	|                       Multicast Address                       |
//	|                  Source Address [1..N]                        |
//	|                  Auxiliary Data (Aux Data Len 32-bit words)   |
//
// The checksum is the Internet checksum of the whole IGMP message
// (RFC 3376 §4.1.2, §4.2.2; RFC 2236 §2.3).

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
)

// ProtoIGMP is IGMP's IP protocol number (RFC 1112 Appendix I).
const ProtoIGMP uint8 = 2

// IGMP message types (RFC 3376 §4, RFC 2236 §2.1, RFC 1112 Appendix I).
const (
	TypeIGMPQuery    uint8 = 0x11 // Membership Query, every version
	TypeIGMPv1Report uint8 = 0x12
	TypeIGMPv2Report uint8 = 0x16
	TypeIGMPv2Leave  uint8 = 0x17
	TypeIGMPv3Report uint8 = 0x22
)

// IGMPv3 group record types (RFC 3376 §4.2.12).
const (
	IGMPModeIsInclude   uint8 = 1
	IGMPModeIsExclude   uint8 = 2
	IGMPChangeToInclude uint8 = 3
	IGMPChangeToExclude uint8 = 4
	IGMPAllowNewSources uint8 = 5
	IGMPBlockOldSources uint8 = 6
)

// IGMP lengths.
const (
	IGMPLen         = 8  // an IGMPv1/v2 message and an IGMPv1/v2 query (RFC 2236 §2)
	IGMPv3QueryLen  = 12 // RFC 3376 §4.1: a query without sources
	IGMPv3ReportLen = 8  // RFC 3376 §4.2: a report before its records
	IGMPRecordLen   = 8  // one group record without sources or auxiliary data
	IGMPTTL         = 1  // RFC 3376 §4, RFC 2236 §2: IGMP never leaves the link
)

// Well-known groups.
var (
	// AllSystems is 224.0.0.1, which every multicast host joins on every
	// interface and never reports (RFC 1112 §4, RFC 3376 §5).
	AllSystems = netip.AddrFrom4([4]byte{224, 0, 0, 1})
	// AllRouters is 224.0.0.2, where an IGMPv2 Leave goes (RFC 2236 §3).
	AllRouters = netip.AddrFrom4([4]byte{224, 0, 0, 2})
	// AllIGMPv3Routers is 224.0.0.22, where IGMPv3 reports go (RFC 3376 §4.2.14).
	AllIGMPv3Routers = netip.AddrFrom4([4]byte{224, 0, 0, 22})
)

// RouterAlert is the IP Router Alert option (RFC 2113 §2.1: type 148,
// length 4, value 0) that every IGMPv2 and IGMPv3 message carries (RFC
// 3376 §4, RFC 2236 §2), as the Options of a header to Encode.
var RouterAlert = []byte{0x94, 4, 0, 0}

// Reasons ParseIGMP refuses a message.
var (
	ErrIGMPTruncated = errors.New("ipv4: IGMP message shorter than its type needs")
	ErrIGMPChecksum  = errors.New("ipv4: IGMP bad checksum")
	ErrIGMPQueryLen  = errors.New("ipv4: IGMP query of a length neither 8 nor at least 12 with its sources")
	ErrIGMPType      = errors.New("ipv4: IGMP message of an unknown type")
)

// IGMPRecord is one group record of an IGMPv3 report (RFC 3376 §4.2.4).
// Auxiliary data is skipped on parsing (§4.2.10: "IGMPv3 implementations
// ... MUST ignore" it) and never sent.
type IGMPRecord struct {
	Type    uint8
	Group   netip.Addr
	Sources []netip.Addr
}

// IGMP is a parsed IGMP message of any version.
type IGMP struct {
	Type uint8
	// Version of a query: 1, 2 or 3, from its length and Max Resp Code
	// (RFC 3376 §7.1). Zero for other types.
	Version int
	// MaxRespCode is the second octet: a query's Max Resp Code (RFC 3376
	// §4.1.1; Max Resp Time in tenths of a second in IGMPv2, 0 in IGMPv1).
	// Zero for reports and leaves, whose octet is unused or reserved.
	MaxRespCode uint8
	// Group is the Group Address of a query (0.0.0.0 for a general one),
	// v1/v2 report or leave; invalid for an IGMPv3 report.
	Group netip.Addr
	// IGMPv3 query fields (RFC 3376 §4.1.5-§4.1.9).
	S       bool
	QRV     uint8
	QQIC    uint8
	Sources []netip.Addr
	// Records of an IGMPv3 report.
	Records []IGMPRecord
}

// MaxResp returns how long a query allows for the answer: the Max Resp
// Code decoded (RFC 3376 §4.1.1: below 128 tenths of a second, else
// (mant | 0x10) << (exp + 3) tenths), and for an IGMPv1 query, which
// has none, 10 s (RFC 2236 §4: a version-1 query's zero means 100 tenths).
func (m IGMP) MaxResp() time.Duration {
	if m.Version == 1 {
		return 10 * time.Second
	}
	c := uint32(m.MaxRespCode)
	if c >= 128 {
		c = (c&0x0f | 0x10) << ((c>>4)&7 + 3)
	}
	return time.Duration(c) * 100 * time.Millisecond
}

// ParseIGMP parses and validates the IGMP message b (an IP datagram's
// payload): the checksum (RFC 3376 §4.1.2, §4.2.2: a message whose
// checksum fails is dropped), a length the type needs, and for a query
// its version by length (RFC 3376 §7.1: 8 octets is IGMPv1 when the Max
// Resp Code is zero, IGMPv2 otherwise; 12 or more IGMPv3; other lengths
// "MUST be silently ignored"). Octets beyond a v1/v2 message or a v3
// query's sources are ignored (§4.1.10: "IGMPv3 implementations MUST
// ignore any data past the last source"); a v3 report's records must fit.
func ParseIGMP(b []byte) (IGMP, error) {
	if len(b) < IGMPLen {
		return IGMP{}, ErrIGMPTruncated
	}
	if checksum.Checksum(b, 0) != 0 {
		return IGMP{}, ErrIGMPChecksum
	}
	m := IGMP{Type: b[0]}
	switch m.Type {
	case TypeIGMPQuery:
		m.MaxRespCode = b[1]
		m.Group = netip.AddrFrom4([4]byte(b[4:8]))
		switch {
		case len(b) == IGMPLen && b[1] == 0:
			m.Version = 1
		case len(b) == IGMPLen:
			m.Version = 2
		case len(b) >= IGMPv3QueryLen:
			m.Version = 3
			m.S = b[8]&0x08 != 0
			m.QRV = b[8] & 0x07
			m.QQIC = b[9]
			n := int(binary.BigEndian.Uint16(b[10:]))
			if len(b) < IGMPv3QueryLen+4*n {
				return IGMP{}, ErrIGMPQueryLen
			}
			m.Sources = addrs4(b[IGMPv3QueryLen:], n)
		default:
			return IGMP{}, ErrIGMPQueryLen
		}
	case TypeIGMPv1Report, TypeIGMPv2Report, TypeIGMPv2Leave:
		m.Group = netip.AddrFrom4([4]byte(b[4:8]))
	case TypeIGMPv3Report:
		n := int(binary.BigEndian.Uint16(b[6:]))
		r := b[IGMPv3ReportLen:]
		if n > 0 {
			m.Records = make([]IGMPRecord, 0, min(n, len(r)/IGMPRecordLen))
		}
		for range n {
			if len(r) < IGMPRecordLen {
				return IGMP{}, ErrIGMPTruncated
			}
			ns, aux := int(binary.BigEndian.Uint16(r[2:])), int(r[1])*4
			end := IGMPRecordLen + 4*ns + aux
			if len(r) < end {
				return IGMP{}, ErrIGMPTruncated
			}
			m.Records = append(m.Records, IGMPRecord{Type: r[0], Group: netip.AddrFrom4([4]byte(r[4:8])), Sources: addrs4(r[IGMPRecordLen:], ns)})
			r = r[end:]
		}
	default:
		// RFC 3376 §4: "Unrecognized message types MUST be silently
		// ignored": the caller drops and counts it.
		return IGMP{}, ErrIGMPType
	}
	return m, nil
}

// addrs4 returns the n IPv4 addresses at the start of b (nil for none).
func addrs4(b []byte, n int) []netip.Addr {
	if n == 0 {
		return nil
	}
	a := make([]netip.Addr, n)
	for i := range a {
		a[i] = netip.AddrFrom4([4]byte(b[4*i:]))
	}
	return a
}

// IGMPSize returns the length EncodeIGMP writes for m.
func IGMPSize(m IGMP) int {
	switch {
	case m.Type == TypeIGMPQuery && m.Version == 3:
		return IGMPv3QueryLen + 4*len(m.Sources)
	case m.Type == TypeIGMPv3Report:
		n := IGMPv3ReportLen
		for _, r := range m.Records {
			n += IGMPRecordLen + 4*len(r.Sources)
		}
		return n
	default:
		return IGMPLen
	}
}

// EncodeIGMP writes m, checksum included, into b (at least IGMPSize(m)
// octets) and returns its length. A query is written as its Version says
// (an IGMPv1 one with a zero Max Resp Code, RFC 1112 Appendix I).
func EncodeIGMP(b []byte, m IGMP) int {
	n := IGMPSize(m)
	b = b[:n]
	clear(b)
	b[0] = m.Type
	switch m.Type {
	case TypeIGMPv3Report:
		binary.BigEndian.PutUint16(b[6:], uint16(len(m.Records)))
		r := b[IGMPv3ReportLen:]
		for _, rec := range m.Records {
			r[0] = rec.Type
			binary.BigEndian.PutUint16(r[2:], uint16(len(rec.Sources)))
			putAddr4(r[4:], rec.Group)
			for i, s := range rec.Sources {
				putAddr4(r[IGMPRecordLen+4*i:], s)
			}
			r = r[IGMPRecordLen+4*len(rec.Sources):]
		}
	default:
		if m.Type == TypeIGMPQuery && m.Version != 1 {
			b[1] = m.MaxRespCode
		}
		putAddr4(b[4:], m.Group)
		if m.Type == TypeIGMPQuery && m.Version == 3 {
			b[8] = m.QRV & 0x07
			if m.S {
				b[8] |= 0x08
			}
			b[9] = m.QQIC
			binary.BigEndian.PutUint16(b[10:], uint16(len(m.Sources)))
			for i, s := range m.Sources {
				putAddr4(b[IGMPv3QueryLen+4*i:], s)
			}
		}
	}
	binary.BigEndian.PutUint16(b[2:], checksum.Checksum(b, 0))
	return n
}

// putAddr4 writes a (0.0.0.0 when invalid) at b[:4].
func putAddr4(b []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	}
}

// MulticastMAC is the Ethernet address an IPv4 group maps to (RFC 1112
// §6.4): 01:00:5e and the group's low 23 bits.
func MulticastMAC(group netip.Addr) [6]byte {
	g := group.As4()
	return [6]byte{0x01, 0x00, 0x5e, g[1] & 0x7f, g[2], g[3]}
}
