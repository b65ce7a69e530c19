package stack

import (
	"errors"
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
)

// IPv6 (RFC 8200). The stack answers echo requests,
// reassembles and fragments (ip6frag.go), sends ICMPv6 errors
// (icmp6err.go), follows Packet Too Big (pmtu6.go) and carries TCP and UDP
// (ip6_transport.go); its addresses (link-local, static, SLAAC) pass DAD
// (addr6.go), neighbours are resolved through the neighbour cache (nd6.go,
// nd6cache.go), routers discovered (ra6.go) and groups reported with MLDv2
// (nd6mld.go).

var (
	// allNodes is the link-local all-nodes group (RFC 4291 §2.7.1), which
	// every IPv6 node joins.
	allNodes = netip.MustParseAddr("ff02::1")
	// linkLocalPrefix is fe80::/64 (RFC 4291 §2.5.6).
	linkLocalPrefix = netip.MustParsePrefix("fe80::/64")
)

// eui64LinkLocal returns the link-local address with the modified EUI-64
// interface identifier of mac (RFC 4291 §2.5.1 and appendix A: ff:fe in the
// middle, the universal/local bit inverted; RFC 4862 §5.3: fe80::/64).
func eui64LinkLocal(mac ethernet.MAC) netip.Addr {
	a := linkLocalPrefix.Addr().As16()
	a[8], a[9], a[10] = mac[0]^0x02, mac[1], mac[2]
	a[11], a[12] = 0xff, 0xfe
	a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(a)
}

// LinkLocal returns our IPv6 link-local address, derived from the MAC
// (RFC 4862 §5.3), whatever its state (see Addrs6); the zero Addr on an IP
// link, which has no MAC.
func (s *Stack) LinkLocal() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.linkLocalLocked()
}

func (s *Stack) linkLocalLocked() netip.Addr {
	if s.ipLink {
		return netip.Addr{}
	}
	return eui64LinkLocal(s.mac)
}

// ours6 reports whether an IPv6 destination is ours: a usable address
// (RFC 4862 §5.4.3: a tentative one accepts only DAD traffic, which comes
// to its solicited-node group), all-nodes, or a group we joined (addr6.go).
func (s *Stack) ours6(dst netip.Addr) bool {
	if dst.IsMulticast() {
		return s.joinedGroup6(dst)
	}
	a := s.addr6Locked(dst)
	return a != nil && a.usable()
}

// multicastMAC6 is the Ethernet address an IPv6 multicast group maps to
// (RFC 2464 §7): 33:33 and the group's low 32 bits.
func multicastMAC6(group netip.Addr) ethernet.MAC {
	g := group.As16()
	return ethernet.MAC{0x33, 0x33, g[12], g[13], g[14], g[15]}
}

// joined6 reports whether an IPv6 frame's Ethernet multicast destination is
// the group address (RFC 2464 §7) of all-nodes or of a group we joined;
// ethernet.Header.ForUs knows no groups.
func (s *Stack) joined6(eth ethernet.Header) bool {
	if eth.Type() != ethernet.TypeIPv6 || s.ipLink {
		return false
	}
	d := eth.Dst()
	if d == multicastMAC6(allNodes) {
		return true
	}
	for _, a := range s.ip6.addrs {
		if a.State != AddrDuplicate && d == multicastMAC6(ipv6.SolicitedNode(a.Prefix.Addr())) {
			return true
		}
	}
	for g := range s.ip6.sockGroups {
		if d == multicastMAC6(g) {
			return true
		}
	}
	return false
}

// packet6 is the IPv6 packet in eth, the frame as received: behind the
// Ethernet header, or, on an IP link (a TUN), the frame itself, which has
// no link header. The receive path keeps the frame for drop logs and for
// the link-layer source that neighbour discovery reads, which on an IP
// link never runs (handleICMPv6Locked).
func (s *Stack) packet6(eth ethernet.Header) []byte {
	if s.ipLink {
		return eth
	}
	return eth.Payload()
}

// handleIPv6Locked is the IPv6 receive path (RFC 8200): the fixed header,
// the destination, the extension-header walk, then the upper layer. eth
// is the frame as received (packet6).
func (s *Stack) handleIPv6Locked(eth ethernet.Header, meta nic.Meta) {
	st := &s.stats.IPv6
	st.InReceives++
	h, err := ipv6.Parse(s.packet6(eth))
	switch {
	case errors.Is(err, ipv6.ErrTruncated):
		s.dropFrameLocked(&st.InTruncated, catIPv6, "in_truncated", eth)
		return
	case errors.Is(err, ipv6.ErrVersion):
		s.dropFrameLocked(&st.InBadVersion, catIPv6, "in_bad_version", eth)
		return
	case err != nil: // ipv6.ErrPayloadLen
		s.dropFrameLocked(&st.InBadPayloadLen, catIPv6, "in_bad_payload_len", eth)
		return
	}
	if h.Src().IsMulticast() {
		// RFC 4291 §2.7: a multicast address must not be a source.
		s.dropFrameLocked(&st.InBadSource, catIPv6, "in_bad_source", eth)
		return
	}
	if !s.ours6(h.Dst()) {
		// A host does not forward (RFC 8200 §1; Linux forwarding=0).
		s.dropFrameLocked(&st.InAddrErrors, catIPv6, "in_addr_errors", eth)
		return
	}
	// The walk runs on the packet as received, then again on the packet
	// a fragment completed (RFC 8200 §4.5: reassembled, it is processed
	// as one packet, its extension headers from the start).
	var next uint8
	var off, nhPtr int
	for {
		it := h.Exts()
		var last ipv6.Ext
		for {
			e, ok, err := it.Next()
			var pp *ipv6.ParamProblem
			switch {
			case errors.As(err, &pp):
				// RFC 8200 §4, §4.2: a Parameter Problem in answer unless
				// the option's high bits say discard silently; to a
				// multicast destination only for high bits 10, which
				// icmp6ErrorAllowed checks as pp.SendICMP does (RFC 4443
				// §2.4 (e.3)), counting the suppressed ones.
				s.dropFrameLocked(&st.InHdrErrors, catIPv6, "in_hdr_errors", eth)
				if pp.Action != ipv6.ActDiscard {
					s.icmp6ErrorLocked(h, ipv6.TypeParamProblem, pp.Code, pp.Pointer)
				}
				return
			case errors.Is(err, ipv6.ErrTooManyExt):
				s.dropFrameLocked(&st.InHdrErrors, catIPv6, "in_hdr_errors", eth)
				return
			case err != nil: // ipv6.ErrExtTruncated
				s.dropFrameLocked(&st.InTruncated, catIPv6, "in_truncated", eth)
				return
			}
			if !ok {
				break
			}
			if e.Proto == ipv6.ProtoFragment && e.Atomic() {
				// RFC 6946 §4: processed in isolation, no reassembly;
				// counted as one, as Linux's ipv6_frag_rcv does.
				st.ReasmReqds++
				st.ReasmOKs++
			}
			last = e
		}
		next, off, nhPtr = it.Upper()
		if last.Data == nil || last.Proto != ipv6.ProtoFragment || last.Atomic() {
			break
		}
		pkt, ok := s.reassemble6Locked(eth, h, last)
		if !ok {
			return
		}
		h = pkt
		meta = nic.Meta{} // the device vouched for one frame, not the packet
	}
	switch next {
	case ipv6.ProtoICMPv6:
		st.InDelivers++
		s.handleICMPv6Locked(eth, h, h[off:])
	case ipv6.ProtoNoNext:
		// RFC 8200 §4.7: nothing follows; the packet is consumed.
		st.InDelivers++
	case ipv6.ProtoTCP, ipv6.ProtoUDP:
		s.handleTransport6Locked(eth, h, next, h[off:], meta) // ip6_transport.go
	default:
		// RFC 8200 §4: an unrecognized Next Header is answered with a
		// Parameter Problem code 1 pointing at the field that holds it
		// (RFC 4443 §3.4).
		s.dropFrameLocked(&st.InUnknownProtos, catIPv6, "in_unknown_protos", eth)
		s.icmp6ErrorLocked(h, ipv6.TypeParamProblem, ipv6.CodeUnknownNextHeader, uint32(nhPtr))
	}
}

// handleICMPv6Locked handles an ICMPv6 message (RFC 4443) in h at b.
func (s *Stack) handleICMPv6Locked(eth ethernet.Header, h ipv6.Header, b []byte) {
	st := &s.stats.IPv6
	src, dst := h.Src(), h.Dst()
	m, err := ipv6.ParseICMP(b, src, dst)
	if err != nil {
		s.dropFrameLocked(&st.ICMP6InErrors, catIPv6, "icmp6_in_errors", eth)
		return
	}
	st.ICMP6InMsgs++
	if s.ipLink && m.Type() >= ipv6.TypeRouterSolicit && m.Type() <= ipv6.TypeRedirect {
		// An IP link (TUN) has no link-layer addresses to resolve, and
		// no neighbour discovery here (Linux's TUN is IFF_NOARP, and its
		// ND learns nothing from a device without an address): router
		// and neighbour discovery messages (RFC 4861 §4, 133-137) are
		// dropped, counted.
		s.dropFrameLocked(&s.stats.ND6.NDOnIPLink, catIPv6, "nd_on_ip_link", eth)
		return
	}
	switch m.Type() {
	case ipv6.TypeEchoRequest:
		st.ICMP6InEchos++
		s.echoReply6Locked(eth, h, m)
	case ipv6.TypeEchoReply:
		// RFC 4443 §4.2: a reply goes to the process that sent the
		// request; a ping endpoint's identifier names it (ping.go).
		st.ICMP6InEchoReps++
		if p := s.pings6[m.Ident()]; p != nil {
			p.deliverLocked(m, src)
		}
	case ipv6.TypeNeighborSolicit:
		st.ICMP6InNeighborSolicits++
		s.handleNSLocked(eth, h, m)
	case ipv6.TypeNeighborAdvert:
		s.stats.ND6.InNeighborAdverts++
		s.handleNALocked(eth, h, m)
	case ipv6.TypeRouterAdvert:
		s.stats.ND6.InRouterAdverts++
		s.handleRALocked(eth, h, m)
	case ipv6.TypeRedirect:
		s.stats.ND6.InRedirects++
		s.handleRedirectLocked(eth, h, m) // redirect6.go
	case ipv6.TypeMLDQuery:
		s.stats.ND6.InMLDQueries++
		s.handleMLDQueryLocked(eth, h, m)
	case ipv6.TypePacketTooBig:
		s.handlePacketTooBigLocked(m)     // TCP follows through pathMTU6ChangedLocked
		s.icmp6ErrorInLocked(h, m, false) // a connected UDP socket: EMSGSIZE
	case ipv6.TypeDestUnreachable, ipv6.TypeTimeExceeded, ipv6.TypeParamProblem:
		s.icmp6ErrorInLocked(h, m, false) // ip6_transport.go
	}
}

// echoReply6Locked answers an echo request (RFC 4443 §4.2): to its source,
// the same identifier, sequence and data, from the address it was sent to
// or, if that was a group, from the address source selection picks (§2.2).
// The reply goes out through neighbour discovery (output6Locked). It is built in s.out, which holds
// the largest packet: a request of any size the reassembler accepts is
// answered (RFC 4443 §4.2: "the data received in the ICMPv6 Echo Request
// message MUST be returned entirely and unmodified"), fragmented to the
// path MTU by sendResolved6Locked.
func (s *Stack) echoReply6Locked(eth ethernet.Header, h ipv6.Header, m ipv6.ICMP) {
	st := &s.stats.IPv6
	to := h.Src()
	if to.IsUnspecified() {
		// Nowhere to answer (RFC 4291 §2.5.2: :: is never a destination).
		s.dropFrameLocked(&st.InBadSource, catIPv6, "in_bad_source", eth)
		return
	}
	from := h.Dst()
	if from.IsMulticast() {
		from = s.source6Locked(to)
	}
	data := m.Payload()
	n := ipv6.HeaderLen + ipv6.ICMPHeaderLen + len(data)
	pkt := ipv6.Header(s.out[s.linkHdr : s.linkHdr+n])
	ipv6.EncodeEcho(pkt[ipv6.HeaderLen:], ipv6.TypeEchoReply, m.Ident(), m.Seq(), data, from, to)
	ipv6.Encode(pkt, ipv6.Fields{
		PayloadLen: n - ipv6.HeaderLen,
		NextHeader: ipv6.ProtoICMPv6,
		HopLimit:   s.hopLimit6Locked(),
		Src:        from,
		Dst:        to,
	})
	st.ICMP6OutEchoReps++
	st.ICMP6OutMsgs++
	// Through neighbour discovery and the next-hop choice, as any packet
	// we send (RFC 4861 §7.2.2, §5.2): not to the request's Ethernet
	// source, which for an off-link source is a router's and for an
	// on-link one says nothing of its address (Linux and gVisor resolve
	// it first too: test/conformance TestIPv6NeighbourDiscovery_...).
	s.output6Locked(pkt)
}

// sendICMPv6Locked fills in the Ethernet and IPv6 headers in front of the
// ICMPv6 message already at frame[54:] and writes the frame to dstMAC.
func (s *Stack) sendICMPv6Locked(frame []byte, dstMAC ethernet.MAC, src, dst netip.Addr, hopLimit uint8) {
	ipv6.Encode(frame[ethernet.HeaderLen:], ipv6.Fields{
		PayloadLen: len(frame) - ethernet.HeaderLen - ipv6.HeaderLen,
		NextHeader: ipv6.ProtoICMPv6,
		HopLimit:   hopLimit,
		Src:        src,
		Dst:        dst,
	})
	s.stats.IPv6.OutRequests++
	s.stats.IPv6.ICMP6OutMsgs++
	s.sendResolved6Locked(frame[ethernet.HeaderLen:], dstMAC)
}

// The IPv6 output seam (issue 12). Three functions, each owned by one part
// of the IPv6 work, so that the transports, neighbour discovery and
// fragmentation can grow independently:
//   - source6Locked: source address selection (RFC 6724 §5);
//   - resolve6Locked: next-hop determination and neighbour resolution
//     (RFC 4861 §5.2, §7.2);
//   - sendResolved6Locked: the link write, fragmenting at the source
//     (RFC 8200 §4.5).

// source6Locked returns the source address for a packet to dst (RFC 6724
// §5), or the zero Addr when we have none usable (addr6.go).
func (s *Stack) source6Locked(dst netip.Addr) netip.Addr {
	return s.selectSource6Locked(dst)
}

// output6Locked sends the complete IPv6 packet pkt (its header filled in)
// on the link: resolve the next hop's link address, then write it. The
// returned error is what a local sender sees.
func (s *Stack) output6Locked(pkt ipv6.Header) error { return s.output6MetaLocked(pkt, nic.Meta{}) }

// output6MetaLocked is output6Locked for a packet with offload metadata:
// zero, or a TCP super-segment with a partial checksum (gso.go), which is
// cut into complete packets before the paths that keep or deliver plain
// packets: loopback and the neighbour-discovery queue (resolve6Locked);
// the device or segmentsLocked cuts it on the way out
// (sendResolved6MetaLocked).
func (s *Stack) output6MetaLocked(pkt ipv6.Header, meta nic.Meta) error {
	s.stats.IPv6.OutRequests++
	if dst := pkt.Dst(); !dst.IsMulticast() && s.ours6(dst) {
		if meta.GSO != nic.GSONone {
			for p := range s.segmentsLocked(pkt, meta) {
				if err := s.loop6Locked(p); err != nil {
					return err
				}
			}
			return nil
		}
		return s.loop6Locked(pkt)
	}
	if s.ipLink {
		return s.sendResolved6MetaLocked(pkt, ethernet.MAC{}, meta)
	}
	mac, ok, err := s.resolve6Locked(pkt, meta)
	if !ok {
		return err
	}
	return s.sendResolved6MetaLocked(pkt, mac, meta)
}

// loop6Locked queues a packet to one of our own addresses for delivery
// at unlock, without touching the link, as loopLocked does for IPv4 (Linux
// delivers it through the loopback interface).
func (s *Stack) loop6Locked(pkt ipv6.Header) error {
	if len(s.loopback) >= maxLoopback {
		s.dropLocked(&s.stats.IPv6.OutDiscards, catIPv6, "out_discards", pkt) // bounded, as every queue
		return syscall.ENOBUFS
	}
	s.loopback = append(s.loopback, append([]byte(nil), pkt...))
	return nil
}

// deliverLoop6Locked hands a packet from loop6Locked to the receive path,
// which takes frames on an Ethernet link: one from us to us around it.
func (s *Stack) deliverLoop6Locked(pkt []byte) {
	if !s.ipLink {
		frame := make([]byte, ethernet.HeaderLen+len(pkt))
		ethernet.Encode(frame, s.mac, s.mac, ethernet.TypeIPv6)
		copy(frame[ethernet.HeaderLen:], pkt)
		pkt = frame
	}
	s.handleIPv6Locked(pkt, nic.Meta{})
}

// resolve6Locked returns the link address of pkt's next hop. A multicast
// destination maps directly (RFC 2464 §7); a unicast one goes to its next
// hop (RFC 4861 §5.2: on-link, else a default router) through the
// neighbour cache (nd6.go), which queues the packet and solicits while the
// address is unknown (§7.2.2; a super-segment with meta is queued as the
// packets it is cut into: enqueue6Locked). ok false: the packet was not
// sent (err says why, nil if it was queued for later).
func (s *Stack) resolve6Locked(pkt ipv6.Header, meta nic.Meta) (ethernet.MAC, bool, error) {
	dst := pkt.Dst()
	if dst.IsMulticast() {
		return multicastMAC6(dst), true, nil
	}
	return s.resolveNextHop6Locked(pkt, meta)
}

// enqueue6Locked queues pkt, sent with meta, for hop's address (RFC 4861
// §7.2.2), counting what the bounded queue pushes out. A TCP super-segment
// is cut first, as the IPv4 path cuts before the ARP queue: the queue
// holds packets as the wire carries them.
func (s *Stack) enqueue6Locked(hop netip.Addr, pkt ipv6.Header, meta nic.Meta) {
	queue := func(p []byte) {
		if !s.ip6.nc.Enqueue(hop, p) {
			s.dropLocked(&s.stats.ND6.QueueDrops, catIPv6, "queue_drops", p)
		}
	}
	if meta.GSO == nic.GSONone {
		queue(pkt)
		return
	}
	for p := range s.segmentsLocked(pkt, meta) {
		queue(p)
	}
}

// sendResolved6MetaLocked is sendResolved6Locked for a packet with offload
// metadata (output6MetaLocked): a super-segment goes whole to a device
// that takes it (tsoLocked), else cut into packets that each go as any
// other, fragmented if they exceed the path MTU.
func (s *Stack) sendResolved6MetaLocked(pkt ipv6.Header, dst ethernet.MAC, meta nic.Meta) error {
	if meta.GSO == nic.GSONone {
		return s.sendResolved6Locked(pkt, dst)
	}
	h := s.linkHdr
	if !s.tsoLocked(pkt, meta) || &pkt[0] != &s.out[h] {
		return s.sendSegmentsLocked(pkt, meta, func(p []byte) error { return s.sendResolved6Locked(p, dst) })
	}
	frame := s.out[:h+len(pkt)]
	if !s.ipLink {
		ethernet.Encode(frame, dst, s.mac, ethernet.TypeIPv6)
	}
	s.writeTSOLocked(frame, pkt.Payload(), meta)
	return nil
}

// sendResolved6Locked writes pkt to the link address dst (ignored on an IP
// link), copying it behind the link header; a packet above the path MTU to
// its destination (pmtu6Locked) is sent as fragments (RFC 8200 §4.5:
// sendFragments6Locked).
func (s *Stack) sendResolved6Locked(pkt ipv6.Header, dst ethernet.MAC) error {
	if mtu := s.pmtu6Locked(pkt.Dst()); len(pkt) > mtu {
		return s.sendFragments6Locked(pkt, dst, mtu)
	}
	h := s.linkHdr
	var frame []byte
	if len(s.gsoBuf) > h && &pkt[0] == &s.gsoBuf[h] {
		frame = s.gsoBuf[:h+len(pkt)] // cut in place by segmentsLocked
	} else {
		frame = s.frag[:h+len(pkt)]
		copy(frame[h:], pkt)
	}
	if !s.ipLink {
		ethernet.Encode(frame, dst, s.mac, ethernet.TypeIPv6)
	}
	s.writeFrameLocked(frame)
	return nil
}
