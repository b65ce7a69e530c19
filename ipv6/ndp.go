package ipv6

// Neighbor Discovery messages, RFC 4861 §4. Each is an ICMPv6 message; after
// the type, code and checksum:
//
//	Router Solicitation (133)     Reserved(4)                          options at 8
//	Router Advertisement (134)    CurHopLimit M|O Lifetime(2)
//	                              ReachableTime(4) RetransTimer(4)     options at 16
//	Neighbor Solicitation (135)   Reserved(4) Target(16)               options at 24
//	Neighbor Advertisement (136)  R|S|O Reserved Target(16)            options at 24
//	Redirect (137)                Reserved(4) Target(16) Dest(16)      options at 40
//
// Options (§4.6) are Type, Length in units of 8 octets (type and length
// included), then data.

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Lengths of each message before its options (RFC 4861 §4.1-§4.5): the
// least ICMP length §6.1.1, §6.1.2, §7.1.1, §7.1.2 and §8.1 accept.
const (
	RSLen       = 8
	RALen       = 16
	NSLen       = 24
	NALen       = 24
	RedirectLen = 40
)

// NDPHopLimit is the hop limit every ND message is sent with and must
// arrive with, proving it came from the link (RFC 4861 §3.1).
const NDPHopLimit = 255

// Option types (RFC 4861 §4.6).
const (
	OptSourceLinkAddr uint8 = 1
	OptTargetLinkAddr uint8 = 2
	OptPrefixInfo     uint8 = 3
	OptRedirected     uint8 = 4
	OptMTU            uint8 = 5
	// OptNonce is the Nonce option (RFC 3971 §5.3.2), which RFC 7527
	// §4.1 puts in duplicate address detection's solicitations.
	OptNonce uint8 = 14
	// NonceLen is the nonce RFC 7527 §4.1 uses: 6 octets, filling the
	// option's one unit.
	NonceLen = 6
)

// Flags.
const (
	raManaged     = 0x80 // RA M, §4.2
	raOther       = 0x40 // RA O
	naRouter      = 0x80 // NA R, §4.4
	naSolicited   = 0x40 // NA S
	naOverride    = 0x20 // NA O
	piOnLink      = 0x80 // prefix information L, §4.6.2
	piAutonomous  = 0x40 // prefix information A
	prefixInfoLen = 32
	mtuOptLen     = 8
)

// Reasons an ND message or option is dropped. Each is distinct so the stack
// can count them.
var (
	ErrOptLenZero        = errors.New("ipv6: ND option with length zero")
	ErrOptTruncated      = errors.New("ipv6: ND option beyond the message")
	ErrNDPHopLimit       = errors.New("ipv6: ND message hop limit is not 255")
	ErrNDPCode           = errors.New("ipv6: ND message code is not 0")
	ErrNDPLen            = errors.New("ipv6: ND message too short")
	ErrNDPTargetMcast    = errors.New("ipv6: ND target is multicast")
	ErrNDPSource         = errors.New("ipv6: ND message from a forbidden source")
	ErrNDPSourceLinkAddr = errors.New("ipv6: source link-layer option with unspecified source")
	ErrNDPSolicitedMcast = errors.New("ipv6: solicited advertisement to multicast")
	ErrNDPRedirectDest   = errors.New("ipv6: redirect for a multicast destination")
	ErrNDPRedirectTarget = errors.New("ipv6: redirect target neither link-local nor the destination")
)

// CurHopLimit returns a router advertisement's Cur Hop Limit (0: unspecified).
func (m ICMP) CurHopLimit() uint8 { return m[4] }

// Managed reports a router advertisement's M flag.
func (m ICMP) Managed() bool { return m[5]&raManaged != 0 }

// Other reports a router advertisement's O flag.
func (m ICMP) Other() bool { return m[5]&raOther != 0 }

// RouterLifetime returns a router advertisement's Router Lifetime in seconds.
func (m ICMP) RouterLifetime() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// ReachableTime returns a router advertisement's Reachable Time in ms.
func (m ICMP) ReachableTime() uint32 { return binary.BigEndian.Uint32(m[8:]) }

// RetransTimer returns a router advertisement's Retrans Timer in ms.
func (m ICMP) RetransTimer() uint32 { return binary.BigEndian.Uint32(m[12:]) }

// Router reports a neighbour advertisement's R flag.
func (m ICMP) Router() bool { return m[4]&naRouter != 0 }

// Solicited reports a neighbour advertisement's S flag.
func (m ICMP) Solicited() bool { return m[4]&naSolicited != 0 }

// Override reports a neighbour advertisement's O flag.
func (m ICMP) Override() bool { return m[4]&naOverride != 0 }

// Target returns the Target Address of a neighbour solicitation or
// advertisement or of a redirect.
func (m ICMP) Target() netip.Addr { return netip.AddrFrom16([16]byte(m[8:24])) }

// RedirectDst returns a redirect's Destination Address.
func (m ICMP) RedirectDst() netip.Addr { return netip.AddrFrom16([16]byte(m[24:40])) }

// ndpOptOffset returns where the options of an ND message of type typ
// start, or 0 for other types.
func ndpOptOffset(typ uint8) int {
	switch typ {
	case TypeRouterSolicit:
		return RSLen
	case TypeRouterAdvert:
		return RALen
	case TypeNeighborSolicit:
		return NSLen
	case TypeNeighborAdvert:
		return NALen
	case TypeRedirect:
		return RedirectLen
	}
	return 0
}

// NDPOptions returns the options area of an ND message, empty when the
// message is shorter than its fixed part or not an ND type.
func (m ICMP) NDPOptions() []byte {
	o := ndpOptOffset(m.Type())
	if o == 0 || len(m) < o {
		return nil
	}
	return m[o:]
}

// Option is one ND option (RFC 4861 §4.6): Data is the whole option, type
// and length octets included.
type Option struct{ Data []byte }

// Type returns the option type.
func (o Option) Type() uint8 { return o.Data[0] }

// LinkAddr returns the address of a source or target link-layer address
// option (§4.6.1): the octets after type and length, for Ethernet 6 of
// them followed by nothing (one 8-octet unit).
func (o Option) LinkAddr() []byte { return o.Data[2:] }

// Nonce returns a nonce option's nonce: the octets after type and length.
func (o Option) Nonce() []byte { return o.Data[2:] }

// PrefixLen returns a prefix information option's Prefix Length (§4.6.2).
// The accessors of a prefix information option need a length of 4 units:
// check ValidPrefixInfo first.
func (o Option) PrefixLen() uint8 { return o.Data[2] }

// OnLink reports a prefix information option's L flag.
func (o Option) OnLink() bool { return o.Data[3]&piOnLink != 0 }

// Autonomous reports a prefix information option's A flag.
func (o Option) Autonomous() bool { return o.Data[3]&piAutonomous != 0 }

// ValidLifetime returns a prefix's Valid Lifetime in seconds (0xffffffff:
// infinity).
func (o Option) ValidLifetime() uint32 { return binary.BigEndian.Uint32(o.Data[4:]) }

// PreferredLifetime returns a prefix's Preferred Lifetime in seconds.
func (o Option) PreferredLifetime() uint32 { return binary.BigEndian.Uint32(o.Data[8:]) }

// Prefix returns a prefix information option's prefix, masked to its length
// (§4.6.2: "bits in the prefix after the prefix length are reserved and MUST
// be ignored"). ok is false when the length is above 128.
func (o Option) Prefix() (p netip.Prefix, ok bool) {
	p, err := netip.AddrFrom16([16]byte(o.Data[16:32])).Prefix(int(o.PrefixLen()))
	return p, err == nil
}

// ValidPrefixInfo reports whether o is a prefix information option of the
// length §4.6.2 gives it (4 units), so its accessors are safe.
func (o Option) ValidPrefixInfo() bool {
	return o.Type() == OptPrefixInfo && len(o.Data) == prefixInfoLen
}

// MTU returns an MTU option's MTU (§4.6.4); check len(o.Data) == 8 first.
func (o Option) MTU() uint32 { return binary.BigEndian.Uint32(o.Data[4:]) }

// Redirected returns the quoted packet of a redirected header option
// (§4.6.3): what follows its 6 reserved octets.
func (o Option) Redirected() []byte { return o.Data[8:] }

// OptionIter walks ND options. It never reads past its buffer and ends:
// every step consumes at least 8 octets.
type OptionIter struct {
	b   []byte
	off int
	err error
}

// Options returns an iterator over the ND options in b.
func Options(b []byte) OptionIter { return OptionIter{b: b} }

// Next returns the next option. ok is false at the end or on an error
// (see Err): a length of zero (§4.6: "Nodes MUST silently discard an ND
// packet that contains an option with length zero", ErrOptLenZero) or an
// option running past the message (ErrOptTruncated).
func (it *OptionIter) Next() (o Option, ok bool) {
	if it.err != nil || it.off >= len(it.b) {
		return Option{}, false
	}
	rest := it.b[it.off:]
	if len(rest) < 2 {
		it.err = ErrOptTruncated
		return Option{}, false
	}
	n := int(rest[1]) * 8
	if n == 0 {
		it.err = ErrOptLenZero
		return Option{}, false
	}
	if n > len(rest) {
		it.err = ErrOptTruncated
		return Option{}, false
	}
	it.off += n
	return Option{Data: rest[:n]}, true
}

// Err returns the error that stopped the walk, nil at a clean end.
func (it *OptionIter) Err() error { return it.err }

// checkOptions walks every option and reports the first error, and whether
// a source link-layer address option is present.
func checkOptions(b []byte) (hasSLLA bool, err error) {
	it := Options(b)
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		hasSLLA = hasSLLA || o.Type() == OptSourceLinkAddr
	}
	return hasSLLA, it.Err()
}

// checkCommon applies the checks every ND message shares (§6.1.1, §6.1.2,
// §7.1.1, §7.1.2, §8.1): hop limit 255, code 0, ICMP length at least min
// and option lengths above zero. The checksum was checked by ParseICMP.
func checkCommon(hopLimit uint8, m ICMP, min int) (hasSLLA bool, err error) {
	if hopLimit != NDPHopLimit {
		return false, ErrNDPHopLimit
	}
	if m.Code() != 0 {
		return false, ErrNDPCode
	}
	if len(m) < min {
		return false, ErrNDPLen
	}
	return checkOptions(m[min:])
}

// ValidateRS applies RFC 4861 §6.1.1 to a router solicitation from src:
// the common checks (length ≥ 8), and no source link-layer address option
// when src is unspecified.
func ValidateRS(hopLimit uint8, src netip.Addr, m ICMP) error {
	slla, err := checkCommon(hopLimit, m, RSLen)
	if err != nil {
		return err
	}
	if src.IsUnspecified() && slla {
		return ErrNDPSourceLinkAddr
	}
	return nil
}

// ValidateRA applies RFC 4861 §6.1.2 to a router advertisement from src:
// src is link-local, the common checks (length ≥ 16).
func ValidateRA(hopLimit uint8, src netip.Addr, m ICMP) error {
	if !src.IsLinkLocalUnicast() {
		return ErrNDPSource
	}
	_, err := checkCommon(hopLimit, m, RALen)
	return err
}

// ValidateNS applies RFC 4861 §7.1.1 to a neighbour solicitation from src to
// dst: the common checks (length ≥ 24), a target that is not multicast and,
// when src is unspecified (duplicate address detection), a solicited-node
// multicast dst and no source link-layer address option.
func ValidateNS(hopLimit uint8, src, dst netip.Addr, m ICMP) error {
	slla, err := checkCommon(hopLimit, m, NSLen)
	if err != nil {
		return err
	}
	if m.Target().IsMulticast() {
		return ErrNDPTargetMcast
	}
	if src.IsUnspecified() {
		if !IsSolicitedNode(dst) {
			return ErrNDPSource
		}
		if slla {
			return ErrNDPSourceLinkAddr
		}
	}
	return nil
}

// ValidateNA applies RFC 4861 §7.1.2 to a neighbour advertisement to dst:
// the common checks (length ≥ 24), a target that is not multicast and, when
// dst is multicast, the S flag clear.
func ValidateNA(hopLimit uint8, dst netip.Addr, m ICMP) error {
	if _, err := checkCommon(hopLimit, m, NALen); err != nil {
		return err
	}
	if m.Target().IsMulticast() {
		return ErrNDPTargetMcast
	}
	if dst.IsMulticast() && m.Solicited() {
		return ErrNDPSolicitedMcast
	}
	return nil
}

// ValidateRedirect applies RFC 4861 §8.1 to a redirect from src: src is
// link-local, the common checks (length ≥ 40), a Destination Address that
// is not multicast and a Target Address that is link-local (a better
// router) or the destination itself (the destination is on-link). That
// src is the destination's current first hop is for the caller, which
// knows its routes.
func ValidateRedirect(hopLimit uint8, src netip.Addr, m ICMP) error {
	if !src.IsLinkLocalUnicast() {
		return ErrNDPSource
	}
	if _, err := checkCommon(hopLimit, m, RedirectLen); err != nil {
		return err
	}
	if m.RedirectDst().IsMulticast() {
		return ErrNDPRedirectDest
	}
	if t := m.Target(); !t.IsLinkLocalUnicast() && t != m.RedirectDst() {
		return ErrNDPRedirectTarget
	}
	return nil
}

// SolicitedNode returns the solicited-node multicast address of a
// (RFC 4291 §2.7.1): ff02::1:ff00:0/104 with a's low 24 bits.
func SolicitedNode(a netip.Addr) netip.Addr {
	s := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: s[13], 14: s[14], 15: s[15]})
}

// IsSolicitedNode reports whether a is a solicited-node multicast address.
func IsSolicitedNode(a netip.Addr) bool {
	return a.Is6() && SolicitedNode(a) == a
}

// EncodeRS writes a router solicitation with options opts (already encoded,
// a multiple of 8 octets) into b and returns its length.
func EncodeRS(b []byte, opts []byte, src, dst netip.Addr) int {
	return encodeND(b, TypeRouterSolicit, RSLen, opts, src, dst, func(m ICMP) {})
}

// RAFields describes a router advertisement.
type RAFields struct {
	CurHopLimit    uint8
	Managed, Other bool
	RouterLifetime uint16 // seconds
	ReachableTime  uint32 // ms
	RetransTimer   uint32 // ms
}

// EncodeRA writes a router advertisement into b and returns its length.
func EncodeRA(b []byte, f RAFields, opts []byte, src, dst netip.Addr) int {
	return encodeND(b, TypeRouterAdvert, RALen, opts, src, dst, func(m ICMP) {
		m[4] = f.CurHopLimit
		if f.Managed {
			m[5] |= raManaged
		}
		if f.Other {
			m[5] |= raOther
		}
		binary.BigEndian.PutUint16(m[6:], f.RouterLifetime)
		binary.BigEndian.PutUint32(m[8:], f.ReachableTime)
		binary.BigEndian.PutUint32(m[12:], f.RetransTimer)
	})
}

// EncodeNS writes a neighbour solicitation for target into b.
func EncodeNS(b []byte, target netip.Addr, opts []byte, src, dst netip.Addr) int {
	return encodeND(b, TypeNeighborSolicit, NSLen, opts, src, dst, func(m ICMP) {
		putAddr(m[8:], target)
	})
}

// EncodeNA writes a neighbour advertisement for target with the R, S and O
// flags into b.
func EncodeNA(b []byte, router, solicited, override bool, target netip.Addr, opts []byte, src, dst netip.Addr) int {
	return encodeND(b, TypeNeighborAdvert, NALen, opts, src, dst, func(m ICMP) {
		if router {
			m[4] |= naRouter
		}
		if solicited {
			m[4] |= naSolicited
		}
		if override {
			m[4] |= naOverride
		}
		putAddr(m[8:], target)
	})
}

// EncodeRedirect writes a redirect (target: the better first hop, dest: the
// destination redirected) into b.
func EncodeRedirect(b []byte, target, dest netip.Addr, opts []byte, src, dst netip.Addr) int {
	return encodeND(b, TypeRedirect, RedirectLen, opts, src, dst, func(m ICMP) {
		putAddr(m[8:], target)
		putAddr(m[24:], dest)
	})
}

func putAddr(b []byte, a netip.Addr) { s := a.As16(); copy(b, s[:]) }

// encodeND zeroes the fixed part, lets set fill it, appends opts and sets
// the checksum.
func encodeND(b []byte, typ uint8, fixed int, opts []byte, src, dst netip.Addr, set func(ICMP)) int {
	m := ICMP(b[:fixed+len(opts)])
	clear(m[:fixed])
	m[0] = typ
	set(m)
	copy(m[fixed:], opts)
	m.SetChecksum(src, dst)
	return len(m)
}

// PutNonceOption writes a nonce option (RFC 3971 §5.3.2, RFC 7527 §4.1)
// with a 6-octet nonce into b and returns its length, 8.
func PutNonceOption(b []byte, nonce [NonceLen]byte) int {
	b[0], b[1] = OptNonce, 1
	copy(b[2:8], nonce[:])
	return 8
}

// PutLinkAddrOption writes a source (OptSourceLinkAddr) or target
// (OptTargetLinkAddr) link-layer address option for a 6-octet Ethernet
// address into b (§4.6.1: one unit) and returns 8.
func PutLinkAddrOption(b []byte, typ uint8, mac [6]byte) int {
	b[0], b[1] = typ, 1
	copy(b[2:8], mac[:])
	return 8
}

// PrefixInfo describes a prefix information option (§4.6.2).
type PrefixInfo struct {
	Prefix                           netip.Prefix
	OnLink, Autonomous               bool
	ValidLifetime, PreferredLifetime uint32 // seconds
}

// PutPrefixInfoOption writes a prefix information option into b and
// returns 32.
func PutPrefixInfoOption(b []byte, p PrefixInfo) int {
	o := b[:prefixInfoLen]
	clear(o)
	o[0], o[1], o[2] = OptPrefixInfo, prefixInfoLen/8, uint8(p.Prefix.Bits())
	if p.OnLink {
		o[3] |= piOnLink
	}
	if p.Autonomous {
		o[3] |= piAutonomous
	}
	binary.BigEndian.PutUint32(o[4:], p.ValidLifetime)
	binary.BigEndian.PutUint32(o[8:], p.PreferredLifetime)
	putAddr(o[16:], p.Prefix.Masked().Addr())
	return prefixInfoLen
}

// PutMTUOption writes an MTU option (§4.6.4) into b and returns 8.
func PutMTUOption(b []byte, mtu uint32) int {
	o := b[:mtuOptLen]
	clear(o)
	o[0], o[1] = OptMTU, 1
	binary.BigEndian.PutUint32(o[4:], mtu)
	return mtuOptLen
}

// PutRedirectedOption writes a redirected header option (§4.6.3) quoting as
// much of orig as fits in room octets (the option included), padded to a
// multiple of 8, and returns its length. room must be at least 8.
func PutRedirectedOption(b []byte, orig []byte, room int) int {
	n := min(len(orig), room-8)
	n -= n % 8
	o := b[:8+n]
	clear(o[:8])
	o[0], o[1] = OptRedirected, uint8(len(o)/8)
	copy(o[8:], orig[:n])
	return len(o)
}
