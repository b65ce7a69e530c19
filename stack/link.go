package stack

import (
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
)

// handleFrameLocked is the receive path's entry: Ethernet demux, or on an
// IP link the version nibble.
func (s *Stack) handleFrameLocked(frame []byte, meta nic.Meta) {
	s.stats.Link.FramesIn++
	s.stats.Link.BytesIn += uint64(len(frame))
	if s.ipLink {
		s.handlePacketLocked(frame, meta)
		return
	}
	eth, err := ethernet.Parse(frame)
	if err != nil {
		s.dropFrameLocked(&s.stats.Link.Malformed, catLink, "malformed", frame)
		return
	}
	if !eth.ForUs(s.mac) && !s.joined6(eth) && !s.joined4(eth) {
		s.dropFrameLocked(&s.stats.Link.NotForUs, catLink, "not_for_us", frame)
		return
	}
	switch eth.Type() {
	case ethernet.TypeARP:
		s.handleARPLocked(eth)
	case ethernet.TypeIPv4:
		s.handleIPv4Locked(eth.Payload(), eth.Dst().IsMulticast(), meta)
	case ethernet.TypeIPv6:
		s.rx6LinkMcast = eth.Dst().IsMulticast() // broadcast included
		s.handleIPv6Locked(eth, meta)
		s.rx6LinkMcast = false
	default:
		s.dropFrameLocked(&s.stats.Link.UnknownEtherType, catLink, "unknown_ether_type", frame)
	}
}

// ipVersion4 and ipVersion6 are the Version fields of IPv4 (RFC 791 §3.1)
// and IPv6 (RFC 8200 §3).
const (
	ipVersion4 = 4
	ipVersion6 = 6
)

// handlePacketLocked takes a packet from an IP link (a TUN opened with
// IFF_NO_PI): there is no link header, and the version nibble, the first
// field of both IP headers (RFC 791 §3.1, RFC 8200 §3), tells the network
// layer, as the tun driver itself decides (drivers/net/tun.c,
// tun_get_user). A point-to-point link has no link-layer broadcast: only
// the IP destination says whether a datagram was broadcast.
func (s *Stack) handlePacketLocked(pkt []byte, meta nic.Meta) {
	switch {
	case len(pkt) == 0:
		s.dropFrameLocked(&s.stats.Link.Malformed, catLink, "malformed", pkt)
	case pkt[0]>>4 == ipVersion4:
		s.handleIPv4Locked(pkt, false, meta)
	case pkt[0]>>4 == ipVersion6:
		s.handleIPv6Locked(pkt, meta) // the packet as the "frame": see packet6
	default:
		s.dropFrameLocked(&s.stats.Link.UnknownVersion, catLink, "unknown_ip_version", pkt)
	}
}

// handleARPLocked follows RFC 826's packet reception algorithm.
func (s *Stack) handleARPLocked(eth ethernet.Header) {
	h, err := arp.Parse(eth.Payload())
	switch {
	case err == arp.ErrUnsupported:
		s.dropFrameLocked(&s.stats.ARP.Unsupported, catARP, "unsupported", eth)
		return
	case err != nil:
		s.dropFrameLocked(&s.stats.ARP.Malformed, catARP, "malformed", eth)
		return
	}
	if h.Op() == arp.OpRequest {
		s.stats.ARP.RequestsIn++
	} else {
		s.stats.ARP.RepliesIn++
	}
	spa, sha, tpa := h.SenderIP(), h.SenderMAC(), h.TargetIP()
	now := s.nowLocked()
	switch {
	case !spa.IsValid() || spa.IsUnspecified():
		// An ARP probe (RFC 5227 §2.1.1) has a zero sender address: nothing to learn.
	case spa == s.addr:
		// Someone else claims our address (RFC 5227 §2.4). We keep it, as
		// Linux does, and count the conflict.
		if sha != s.mac {
			s.stats.ARP.AddressConflicts++
			s.log.Warn("ARP: another host claims our address", "addr", spa, "mac", sha)
		}
	case !s.prefix.Contains(spa) || sha.IsMulticast() || sha.IsZero():
		s.stats.ARP.OffLink++
	default:
		// RFC 826 merge: update an existing entry; add one only when the
		// packet is addressed to us.
		released := s.arp.Update(spa, sha, now, s.ours(tpa))
		for _, pkt := range released {
			s.sendResolvedLocked(ipv4.Header(pkt), sha)
		}
		s.rearmLocked()
	}
	if h.Op() == arp.OpRequest && s.ours(tpa) {
		s.sendARPLocked(arp.OpReply, sha, sha, spa)
	}
}

// sendARPLocked sends an ARP packet from us to ethDst about tpa.
func (s *Stack) sendARPLocked(op arp.Op, ethDst, tha ethernet.MAC, tpa netip.Addr) {
	b := s.frag[:ethernet.HeaderLen+arp.HeaderLen]
	ethernet.Encode(b, ethDst, s.mac, ethernet.TypeARP)
	arp.Encode(b[ethernet.HeaderLen:], op, s.mac, s.addr, tha, tpa)
	if op == arp.OpRequest {
		s.stats.ARP.RequestsOut++
	} else {
		s.stats.ARP.RepliesOut++
	}
	s.writeFrameLocked(b)
}

// arpRequestDue is the ARP cache's Expire callback for a (re)transmission.
func (s *Stack) arpRequestDue(ip netip.Addr, dst ethernet.MAC) {
	s.sendARPLocked(arp.OpRequest, dst, ethernet.MAC{}, ip)
}

// arpFailed is the ARP cache's Expire callback for a packet whose next hop
// never answered: RFC 1122 §2.3.2.2 and §3.2.2.1 — the local sender learns
// of it as ICMP destination unreachable, host unreachable.
func (s *Stack) arpFailed(ip netip.Addr, pkt []byte) {
	s.dropLocked(&s.stats.ARP.ResolutionFailed, catARP, "resolution_failed", pkt)
	h, err := ipv4.Parse(pkt)
	if err != nil {
		return
	}
	s.localICMPErrorLocked(ipv4.TypeDestUnreachable, ipv4.CodeHostUnreachable, 0, h)
}

// writeFrameLocked pads an Ethernet frame to the minimum and writes it;
// on an IP link it writes the packet as it is.
func (s *Stack) writeFrameLocked(frame []byte) { s.writeFrameMetaLocked(frame, nic.Meta{}) }

// writeFrameMetaLocked is writeFrameLocked for a frame with offload
// metadata (a TSO super-segment, gso.go).
func (s *Stack) writeFrameMetaLocked(frame []byte, meta nic.Meta) {
	written, err := s.writeTailLocked(frame, meta)
	if !written {
		if s.tailFrameLocked(frame) {
			s.fillTailLocked()
		}
		if !s.ipLink {
			frame = ethernet.Pad(frame)
		}
		s.wr[0] = nic.Frame{Data: frame, Meta: meta}
		_, err = s.dev.Write(s.wr[:])
		s.wr[0] = nic.Frame{}
	}
	if err != nil {
		s.dropFrameLocked(&s.stats.Link.WriteErrors, catLink, "write_errors", frame)
		return
	}
	s.stats.Link.FramesOut++
	s.stats.Link.BytesOut += uint64(len(frame))
}

// maxLoopback bounds the datagrams to ourselves waiting for delivery.
const maxLoopback = 4096

// outputLocked sends the complete datagram held in s.out at offset
// s.linkHdr: route, resolve the next hop, fragment to the MTU.
// The returned error is what a local sender sees.
func (s *Stack) outputLocked(pkt ipv4.Header) error { return s.outputMetaLocked(pkt, nic.Meta{}) }

// outputMetaLocked is outputLocked for a datagram with offload metadata:
// zero, or a TCP super-segment with a partial checksum (gso.go). Such a
// segment is cut into complete datagrams before the paths that keep or
// deliver plain datagrams: loopback and the ARP queue; the device or
// segmentsLocked cuts it on the way out.
func (s *Stack) outputMetaLocked(pkt ipv4.Header, meta nic.Meta) error {
	s.stats.IPv4.OutRequests++
	dst := pkt.Dst()
	if s.ours(dst) {
		s.fillTailLocked()
		if meta.GSO != nic.GSONone {
			for p := range s.segmentsLocked(pkt, meta) {
				if err := s.loopLocked(p); err != nil {
					return err
				}
			}
			return nil
		}
		return s.loopLocked(pkt)
	}
	if dst == s.bcast || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		s.sendResolvedMetaLocked(pkt, ethernet.Broadcast, meta)
		return nil
	}
	if dst.IsMulticast() {
		return s.outputMcastLocked(pkt, meta) // mcast.go
	}
	_, hop, ok := s.routes.Lookup(dst)
	if !ok {
		s.fillTailLocked()
		s.dropLocked(&s.stats.IPv4.OutNoRoutes, catIPv4, "out_no_routes", pkt)
		return syscall.ENETUNREACH
	}
	if s.ipLink {
		// A point-to-point link has no link addresses to resolve (RFC 1122
		// §2.3.2 is about broadcast links; Linux marks a TUN IFF_NOARP):
		// whatever the next hop, the datagram goes to the one peer.
		return s.sendResolvedMetaLocked(pkt, ethernet.MAC{}, meta)
	}
	mac, ok, request := s.arp.Resolve(hop, s.nowLocked())
	if ok {
		if request {
			s.sendARPLocked(arp.OpRequest, mac, ethernet.MAC{}, hop) // refresh a stale entry by unicast poll
			s.rearmLocked()
		}
		return s.sendResolvedMetaLocked(pkt, mac, meta)
	}
	if request {
		s.sendARPLocked(arp.OpRequest, ethernet.Broadcast, ethernet.MAC{}, hop)
	}
	// Wait for the answer in the entry's bounded queue (RFC 1122 §2.3.2.2).
	// Enqueue refuses when the queue overflowed (the oldest packet went) or
	// when the cache was too full to hold an entry for hop.
	s.fillTailLocked()
	if meta.GSO != nic.GSONone {
		for p := range s.segmentsLocked(pkt, meta) {
			s.enqueueLocked(hop, p)
		}
	} else {
		s.enqueueLocked(hop, pkt)
	}
	s.rearmLocked()
	return nil
}

// loopLocked queues a datagram to ourselves for delivery without
// touching the link. The copy frees s.out for whatever the delivery
// sends in return.
func (s *Stack) loopLocked(pkt ipv4.Header) error {
	if len(s.loopback) >= maxLoopback {
		s.dropLocked(&s.stats.IPv4.OutDiscards, catIPv4, "out_discards", pkt) // bounded, as every queue
		return syscall.ENOBUFS
	}
	s.loopback = append(s.loopback, append([]byte(nil), pkt...))
	return nil
}

// enqueueLocked queues a copy of pkt for hop's ARP answer.
func (s *Stack) enqueueLocked(hop netip.Addr, pkt ipv4.Header) {
	if !s.arp.Enqueue(hop, pkt) {
		s.dropLocked(&s.stats.ARP.QueueDrops, catARP, "queue_drops", pkt)
	}
}

// sendResolvedMetaLocked is sendResolvedLocked for a datagram with
// offload metadata (outputMetaLocked): a super-segment goes whole to a
// device that takes it (tsoLocked), else cut into datagrams that each go
// as any other.
func (s *Stack) sendResolvedMetaLocked(pkt ipv4.Header, dst ethernet.MAC, meta nic.Meta) error {
	if meta.GSO == nic.GSONone {
		return s.sendResolvedLocked(pkt, dst)
	}
	h := s.linkHdr
	if !s.tsoLocked(pkt, meta) || &pkt[0] != &s.out[h] {
		return s.sendSegmentsLocked(pkt, meta, func(p []byte) error { return s.sendResolvedLocked(p, dst) })
	}
	frame := s.out[:h+len(pkt)]
	s.encodeLinkHeader(frame, dst)
	s.writeTSOLocked(frame, pkt.Payload(), meta)
	return nil
}

// sendResolvedLocked sends a datagram whose next hop's MAC is known (on an
// IP link: dst is ignored), fragmenting it if it exceeds the MTU (RFC 791
// §3.2, RFC 1122 §3.3.3).
func (s *Stack) sendResolvedLocked(pkt ipv4.Header, dst ethernet.MAC) error {
	h := s.linkHdr
	if len(pkt) > s.mtu {
		s.fillTailLocked() // fragments are copied from it
	}
	if len(pkt) <= s.mtu {
		var frame []byte
		switch {
		case h == 0:
			frame = pkt // nothing to prepend: written where it is
		case &pkt[0] == &s.out[h]:
			frame = s.out[:h+len(pkt)] // built in place, headroom in front
		case len(s.gsoBuf) > h && &pkt[0] == &s.gsoBuf[h]:
			frame = s.gsoBuf[:h+len(pkt)] // cut in place by segmentsLocked
		default:
			frame = s.frag[:h+len(pkt)]
			copy(frame[h:], pkt)
		}
		s.encodeLinkHeader(frame, dst)
		s.writeFrameLocked(frame)
		return nil
	}
	err := ipv4.Fragment(pkt, s.mtu, func(hdr, payload []byte) error {
		frame := s.frag[:h+len(hdr)+len(payload)]
		s.encodeLinkHeader(frame, dst)
		copy(frame[h:], hdr)
		copy(frame[h+len(hdr):], payload)
		s.stats.IPv4.FragCreates++
		s.writeFrameLocked(frame)
		return nil
	})
	if err != nil {
		s.dropLocked(&s.stats.IPv4.FragFails, catIPv4, "frag_fails", pkt)
		return syscall.EMSGSIZE
	}
	s.stats.IPv4.FragOKs++
	return nil
}

// encodeLinkHeader writes the Ethernet header of an IPv4 frame from us to
// dst in front of frame; an IP link has none.
func (s *Stack) encodeLinkHeader(frame []byte, dst ethernet.MAC) {
	if !s.ipLink {
		ethernet.Encode(frame, dst, s.mac, ethernet.TypeIPv4)
	}
}
