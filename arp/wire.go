package arp

// ARP packet for IPv4 over Ethernet (RFC 826 "Packet format"; field names
// ar$hrd ... ar$tpa are the RFC's):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Hardware Type (ar$hrd)    |    Protocol Type (ar$pro)     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| HW Len(ar$hln)|Prot Len(ar$pln|        Opcode (ar$op)         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|             Sender Hardware Address (ar$sha, 6 octets)        |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               | Sender Protocol Address       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|   (ar$spa, 4 octets)          |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|             Target Hardware Address (ar$tha, 6 octets)        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|             Target Protocol Address (ar$tpa, 4 octets)        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// ar$hln and ar$pln make the packet self-describing; only hrd = 1 (Ethernet),
// pro = 0x0800 (IPv4), hln = 6 and pln = 4 are supported, which fixes the
// length at 28 octets. An Ethernet frame pads the packet to 46 octets of
// payload; the padding follows the 28 octets and is ignored.

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/ethernet"
)

// HeaderLen is the length of an Ethernet/IPv4 ARP packet.
const HeaderLen = 28

// Values of the fixed fields for Ethernet/IPv4 ARP.
const (
	hardwareEthernet = 1                         // ar$hrd: ares_hrd$Ethernet (RFC 826)
	protocolIPv4     = uint16(ethernet.TypeIPv4) // ar$pro: the EtherType of IPv4
	hardwareLen      = 6
	protocolLen      = 4
)

// Byte offsets of the fields.
const (
	hrdOffset = 0
	proOffset = 2
	hlnOffset = 4
	plnOffset = 5
	opOffset  = 6
	shaOffset = 8
	spaOffset = 14
	thaOffset = 18
	tpaOffset = 24
)

// Op is the ARP opcode, ar$op.
type Op uint16

// Opcodes (RFC 826: ares_op$REQUEST, ares_op$REPLY).
const (
	OpRequest Op = 1
	OpReply   Op = 2
)

// String returns "request", "reply", or the number.
func (o Op) String() string {
	switch o {
	case OpRequest:
		return "request"
	case OpReply:
		return "reply"
	}
	return "op(" + itoa(uint16(o)) + ")"
}

func itoa(v uint16) string {
	var b [5]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// Rejection reasons returned by Parse, one per drop counter.
var (
	// ErrTruncated: fewer than HeaderLen bytes.
	ErrTruncated = errors.New("arp: packet shorter than 28 bytes")
	// ErrUnsupported: not Ethernet/IPv4 ARP (ar$hrd != 1, ar$pro != 0x0800,
	// ar$hln != 6 or ar$pln != 4). RFC 826: "If not [the hardware type we
	// support], (optionally check the hardware length ar$hln) ... discard."
	ErrUnsupported = errors.New("arp: not Ethernet/IPv4 ARP")
	// ErrBadOp: ar$op is neither request nor reply (RFC 826 defines only
	// those two; RARP's 3 and 4 belong to RFC 903).
	ErrBadOp = errors.New("arp: opcode is neither request nor reply")
)

// Header is a view over an Ethernet/IPv4 ARP packet of exactly HeaderLen
// bytes. Obtain one from Parse; its accessors then cannot panic.
type Header []byte

// Parse checks that b, an Ethernet payload, starts with an Ethernet/IPv4 ARP
// request or reply and returns the 28-byte packet, b[:HeaderLen]. Trailing
// bytes (Ethernet padding) are allowed and ignored. Checks run in the order
// of RFC 826's reception algorithm: hardware type and length, protocol type
// and length, then opcode.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return nil, ErrTruncated
	}
	h := Header(b[:HeaderLen])
	if h.HardwareType() != hardwareEthernet || h.HardwareLen() != hardwareLen ||
		h.ProtocolType() != protocolIPv4 || h.ProtocolLen() != protocolLen {
		return nil, ErrUnsupported
	}
	if op := h.Op(); op != OpRequest && op != OpReply {
		return nil, ErrBadOp
	}
	return h, nil
}

// HardwareType returns ar$hrd, the hardware address space (1: Ethernet).
func (h Header) HardwareType() uint16 { return binary.BigEndian.Uint16(h[hrdOffset:]) }

// ProtocolType returns ar$pro, the protocol address space as an EtherType
// (0x0800: IPv4).
func (h Header) ProtocolType() uint16 { return binary.BigEndian.Uint16(h[proOffset:]) }

// HardwareLen returns ar$hln, the length of a hardware address in bytes.
func (h Header) HardwareLen() uint8 { return h[hlnOffset] }

// ProtocolLen returns ar$pln, the length of a protocol address in bytes.
func (h Header) ProtocolLen() uint8 { return h[plnOffset] }

// Op returns ar$op.
func (h Header) Op() Op { return Op(binary.BigEndian.Uint16(h[opOffset:])) }

// SenderMAC returns ar$sha, the sender's hardware address.
func (h Header) SenderMAC() ethernet.MAC { return ethernet.MAC(h[shaOffset : shaOffset+6]) }

// SenderIP returns ar$spa, the sender's protocol address.
func (h Header) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(h[spaOffset : spaOffset+4])) }

// TargetMAC returns ar$tha, the target's hardware address (zero in a
// request, RFC 826: "not known").
func (h Header) TargetMAC() ethernet.MAC { return ethernet.MAC(h[thaOffset : thaOffset+6]) }

// TargetIP returns ar$tpa, the target's protocol address.
func (h Header) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(h[tpaOffset : tpaOffset+4])) }

// SetOp sets ar$op.
func (h Header) SetOp(op Op) { binary.BigEndian.PutUint16(h[opOffset:], uint16(op)) }

// SetSenderMAC sets ar$sha.
func (h Header) SetSenderMAC(m ethernet.MAC) { copy(h[shaOffset:shaOffset+6], m[:]) }

// SetSenderIP sets ar$spa. It panics if ip is not an IPv4 (or IPv4-mapped
// IPv6) address.
func (h Header) SetSenderIP(ip netip.Addr) { putIPv4(h[spaOffset:spaOffset+4], ip) }

// SetTargetMAC sets ar$tha.
func (h Header) SetTargetMAC(m ethernet.MAC) { copy(h[thaOffset:thaOffset+6], m[:]) }

// SetTargetIP sets ar$tpa. It panics if ip is not an IPv4 (or IPv4-mapped
// IPv6) address.
func (h Header) SetTargetIP(ip netip.Addr) { putIPv4(h[tpaOffset:tpaOffset+4], ip) }

func putIPv4(b []byte, ip netip.Addr) {
	a := ip.Unmap().As4() // panics on IPv6 and the zero Addr: a programming error
	copy(b, a[:])
}

// Encode writes a complete Ethernet/IPv4 ARP packet into b[0:HeaderLen]: the
// fixed ar$hrd/ar$pro/ar$hln/ar$pln, then op, sender and target. For a
// request tha is conventionally the zero MAC (RFC 826 leaves it "not known";
// RFC 5227 §2.1.1 says it SHOULD be zero). It panics if b is shorter than
// HeaderLen or an address is not IPv4.
func Encode(b []byte, op Op, sha ethernet.MAC, spa netip.Addr, tha ethernet.MAC, tpa netip.Addr) {
	h := Header(b[:HeaderLen])
	binary.BigEndian.PutUint16(h[hrdOffset:], hardwareEthernet)
	binary.BigEndian.PutUint16(h[proOffset:], protocolIPv4)
	h[hlnOffset] = hardwareLen
	h[plnOffset] = protocolLen
	h.SetOp(op)
	h.SetSenderMAC(sha)
	h.SetSenderIP(spa)
	h.SetTargetMAC(tha)
	h.SetTargetIP(tpa)
}
