package conformance

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/udp"
)

// --- frame builders: the peer's side ---

func arpFrame(op arp.Op, sha ethernet.MAC, spa netip.Addr, tha ethernet.MAC, tpa netip.Addr, dst ethernet.MAC) []byte {
	b := make([]byte, ethernet.HeaderLen+arp.HeaderLen)
	ethernet.Encode(b, dst, sha, ethernet.TypeARP)
	arp.Encode(b[ethernet.HeaderLen:], op, sha, spa, tha, tpa)
	return b
}

// learnPeerFrame is the ARP request every script starts with: the peer asks
// for us, so both stacks learn 10.0.0.1 is at peerMAC the same way.
func learnPeerFrame() []byte {
	return arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast)
}

// ipFrame wraps payload in IPv4 and Ethernet. Zero fields get defaults: TTL
// 64, from the peer to the stack, ID 0x1234; TotalLen is computed. The
// Ethernet destination is broadcast for a broadcast IP destination.
func ipFrame(f ipv4.Fields, payload []byte) []byte {
	if f.TTL == 0 {
		f.TTL = 64
	}
	if !f.Src.IsValid() {
		f.Src = peerIP
	}
	if !f.Dst.IsValid() {
		f.Dst = stackIP
	}
	if f.ID == 0 {
		f.ID = 0x1234
	}
	hl := ipv4.HeaderMinLen + len(f.Options)
	f.TotalLen = hl + len(payload)
	b := make([]byte, ethernet.HeaderLen+f.TotalLen)
	dst := stackMAC
	if f.Dst == subnetBC || f.Dst == limitedBC {
		dst = ethernet.Broadcast
	}
	ethernet.Encode(b, dst, peerMAC, ethernet.TypeIPv4)
	ipv4.Encode(b[ethernet.HeaderLen:], f)
	copy(b[ethernet.HeaderLen+hl:], payload)
	return b
}

// mangleIP applies f to the IPv4 header of frame and, if fixSum, recomputes
// the header checksum over 20 octets (so that only the mangled field is
// wrong).
func mangleIP(frame []byte, fixSum bool, f func(h []byte)) []byte {
	h := frame[ethernet.HeaderLen:]
	f(h)
	if fixSum {
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], ^onesSum(h[:ipv4.HeaderMinLen], 0))
	}
	return frame
}

func echoMsg(typ uint8, id, seq uint16, data []byte) []byte {
	m := make(ipv4.ICMP, ipv4.ICMPHeaderLen+len(data))
	m.SetType(typ)
	m.SetIdent(id)
	m.SetSeq(seq)
	copy(m[ipv4.ICMPHeaderLen:], data)
	m.SetChecksum()
	return m
}

func echoRequest(seq uint16, n int) []byte { return echoMsg(ipv4.TypeEcho, 0x7a7a, seq, pattern(n)) }

func udpDatagram(src, dst netip.AddrPort, payload []byte) []byte {
	u := make(udp.Header, udp.HeaderLen+len(payload))
	udp.Encode(u, src.Port(), dst.Port(), len(payload))
	copy(u[udp.HeaderLen:], payload)
	u.ComputeChecksumIPv4(src.Addr(), dst.Addr())
	return u
}

// fragment returns the frame carrying data[off:off+n] of the datagram
// described by f (whose payload is data), with MF unless it is the end of
// data.
func fragment(f ipv4.Fields, data []byte, off, n int) []byte {
	end := min(off+n, len(data))
	f.FragOffset = off
	f.MF = end < len(data)
	return ipFrame(f, data[off:end])
}

// fragments splits data at 1480-octet boundaries (a 1500-octet MTU).
func fragments(f ipv4.Fields, data []byte) [][]byte {
	var out [][]byte
	for off := 0; off < len(data); off += 1480 {
		out = append(out, fragment(f, data, off, 1480))
	}
	return out
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// onesSum is the 16-bit one's complement sum of b added to initial.
func onesSum(b []byte, initial uint32) uint16 {
	s := initial
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// --- normalisation ---

// normalizeFrame rewrites the fields two correct stacks may legitimately
// choose differently, so that the rest can be compared byte for byte:
//   - Ethernet padding (RFC 894) is cut: tapstack pads to 60 octets as a
//     NIC does, gVisor's channel link leaves that to the (absent) hardware;
//   - the IPv4 Identification (RFC 6864: any value unique enough) is set to
//     zero and the header checksum recomputed.
//
// Transport checksums need no fixing: they do not cover the IP header
// beyond the addresses, and a quoted datagram in an ICMP error is the one
// the script injected. A frame that does not parse is left as it is.
func normalizeFrame(frame []byte) []byte {
	b := append([]byte(nil), frame...)
	if len(b) < ethernet.HeaderLen {
		return b
	}
	switch ethernet.EtherType(binary.BigEndian.Uint16(b[12:])) {
	case ethernet.TypeARP:
		if len(b) > ethernet.HeaderLen+arp.HeaderLen {
			b = b[:ethernet.HeaderLen+arp.HeaderLen]
		}
	case ethernet.TypeIPv4:
		h := b[ethernet.HeaderLen:]
		if len(h) < ipv4.HeaderMinLen {
			return b
		}
		hl := int(h[0]&0x0f) * 4
		tl := int(binary.BigEndian.Uint16(h[2:]))
		if hl < ipv4.HeaderMinLen || hl > len(h) || tl < hl || tl > len(h) {
			return b
		}
		b = b[:ethernet.HeaderLen+tl]
		h = b[ethernet.HeaderLen:]
		h[4], h[5] = 0, 0
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], ^onesSum(h[:hl], 0))
	}
	return b
}

// --- description, for diffs ---

// describe renders a frame (or a socket record) as one line of fields.
func describe(frame []byte) string {
	var sb strings.Builder
	if len(frame) < ethernet.HeaderLen {
		return fmt.Sprintf("runt frame % x", frame)
	}
	eth := ethernet.Header(frame)
	fmt.Fprintf(&sb, "eth %v>%v ", eth.Src(), eth.Dst())
	p := eth.Payload()
	switch eth.Type() {
	case ethernet.TypeARP:
		if len(p) < arp.HeaderLen {
			fmt.Fprintf(&sb, "ARP truncated % x", p)
			break
		}
		a := arp.Header(p)
		fmt.Fprintf(&sb, "ARP %v sha=%v spa=%v tha=%v tpa=%v", a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP())
		if len(p) > arp.HeaderLen {
			fmt.Fprintf(&sb, " +%d pad", len(p)-arp.HeaderLen)
		}
	case ethernet.TypeIPv4:
		sb.WriteString(describeIP(p, false))
	default:
		fmt.Fprintf(&sb, "type %v len %d", eth.Type(), len(p))
	}
	return sb.String()
}

// describeIP renders an IPv4 datagram; quoted says it is the (possibly cut)
// datagram inside an ICMP error.
func describeIP(p []byte, quoted bool) string {
	var sb strings.Builder
	if len(p) < ipv4.HeaderMinLen {
		return fmt.Sprintf("IPv4 truncated (%d octets)", len(p))
	}
	h := ipv4.Header(p)
	hl := int(p[0]&0x0f) * 4
	fmt.Fprintf(&sb, "IPv%d %v>%v ihl=%d tos=%#02x len=%d id=%#04x ttl=%d proto=%d csum=%#04x",
		h.Version(), h.Src(), h.Dst(), hl, h.TOS(), h.TotalLen(), h.ID(), h.TTL(), h.Protocol(), h.Checksum())
	flags := binary.BigEndian.Uint16(p[6:])
	if flags&0x4000 != 0 {
		sb.WriteString(" DF")
	}
	if flags&0x2000 != 0 {
		sb.WriteString(" MF")
	}
	if off := int(flags&0x1fff) * 8; off != 0 || flags&0x2000 != 0 {
		fmt.Fprintf(&sb, " off=%d", off)
	}
	if hl < ipv4.HeaderMinLen || hl > len(p) {
		return sb.String() + " (bad IHL)"
	}
	if hl > ipv4.HeaderMinLen {
		fmt.Fprintf(&sb, " opts=[% x]", p[ipv4.HeaderMinLen:hl])
	}
	end := min(max(h.TotalLen(), hl), len(p))
	if !quoted && end < len(p) {
		fmt.Fprintf(&sb, " +%d pad", len(p)-end)
	}
	pl := p[hl:end]
	if h.FragOffset() != 0 {
		return sb.String() + fmt.Sprintf(" | data %d octets", len(pl))
	}
	switch h.Protocol() {
	case ipv4.ProtoICMP:
		if len(pl) < ipv4.ICMPHeaderLen {
			return sb.String() + fmt.Sprintf(" | ICMP truncated % x", pl)
		}
		m := ipv4.ICMP(pl)
		fmt.Fprintf(&sb, " | ICMP %d/%d csum=%#04x", m.Type(), m.Code(), m.Checksum())
		if quoted {
			break
		}
		if ipv4.IsError(m.Type()) {
			fmt.Fprintf(&sb, " rest=%#08x quote(%d)=[%s]", binary.BigEndian.Uint32(m[4:]), len(m.Payload()), describeIP(m.Payload(), true))
		} else {
			fmt.Fprintf(&sb, " id=%#04x seq=%d data=%d", m.Ident(), m.Seq(), len(m.Payload()))
		}
	case ipv4.ProtoUDP:
		if len(pl) < udp.HeaderLen {
			return sb.String() + fmt.Sprintf(" | UDP truncated % x", pl)
		}
		u := udp.Header(pl)
		fmt.Fprintf(&sb, " | UDP %d>%d len=%d csum=%#04x", u.SrcPort(), u.DstPort(), u.Length(), u.Checksum())
	case ipv4.ProtoTCP:
		if quoted {
			return sb.String() + fmt.Sprintf(" | TCP %d octets", len(pl))
		}
		sb.WriteString(" | " + describeTCP(pl, h.Src(), h.Dst()))
	default:
		fmt.Fprintf(&sb, " | payload %d octets", len(pl))
	}
	return sb.String()
}

// dropARP drops ARP frames: for scripts about something else that run the
// clock long enough for the neighbour entry to need refreshing (shown by
// its own script, NeighbourStale_RefreshedByUnicastProbes).
var dropARP = normalizer{"dropARP", func(frame []byte) []byte {
	if len(frame) >= ethernet.HeaderLen && ethernet.Header(frame).Type() == ethernet.TypeARP {
		return nil
	}
	return frame
}}

// errorTOS sets the TOS of an ICMP error message to zero: which TOS an
// error carries is shown by its own script, ICMPErrorTOS_InternetControl.
var errorTOS = normalizer{"errorTOS", func(frame []byte) []byte {
	if len(frame) < ethernet.HeaderLen+ipv4.HeaderMinLen+1 || ethernet.Header(frame).Type() != ethernet.TypeIPv4 {
		return frame
	}
	h := frame[ethernet.HeaderLen:]
	hl := int(h[0]&0x0f) * 4
	if h[9] != ipv4.ProtoICMP || len(h) <= hl || !ipv4.IsError(h[hl]) {
		return frame
	}
	h[1] = 0
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], ^onesSum(h[:hl], 0))
	return frame
}}
