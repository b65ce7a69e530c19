package stack

import (
	"bytes"
	"net/netip"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
)

// Neighbour discovery on the stack (RFC 4861 §7): solicitations and
// advertisements in and out, address resolution through the neighbour
// cache (nd6cache.go), and the IPv6 timers.

// ND6Stats counts neighbour discovery, router discovery, address
// configuration and MLD (issue 12). The icmp6_ names are Linux's
// /proc/net/snmp6 ones.
type ND6Stats struct {
	InNeighborAdverts   uint64 `json:"icmp6_in_neighbor_adverts"`
	OutNeighborSolicits uint64 `json:"icmp6_out_neighbor_solicits"`
	InRouterAdverts     uint64 `json:"icmp6_in_router_adverts"`
	OutRouterSolicits   uint64 `json:"icmp6_out_router_solicits"`
	InRedirects         uint64 `json:"icmp6_in_redirects"`
	InMLDQueries        uint64 `json:"icmp6_in_mld_queries"`
	OutMLDv2Reports     uint64 `json:"icmp6_out_mldv2_reports"`
	RedirectsAccepted   uint64 `json:"redirects_accepted"`              // acted on: the destination cache follows them (§8.3)
	OutMLDv1Reports     uint64 `json:"icmp6_out_group_memb_responses"`  // MLDv1 compatibility mode (RFC 3810 §8.2.1)
	OutMLDv1Dones       uint64 `json:"icmp6_out_group_memb_reductions"` // likewise
	// Drops.
	InBadRA          uint64 `json:"in_bad_ra"`         // fails RFC 4861 §6.1.2
	InBadMLD         uint64 `json:"in_bad_mld"`        // a query failing RFC 3810 §5.1.14 / §5
	RedirectsIgnored uint64 `json:"redirects_ignored"` // not from the destination's current first hop (§8.1)
	NAIgnored        uint64 `json:"na_ignored"`        // no entry, or INCOMPLETE without a link-layer address (§7.2.5)
	NAForOurs        uint64 `json:"na_for_ours"`       // an advertisement for one of our usable addresses: a conflict
	ResolutionFailed uint64 `json:"resolution_failed"` // packets given up after MAX_MULTICAST_SOLICIT (§7.2.2)
	QueueDrops       uint64 `json:"queue_drops"`       // packets pushed out of a full per-neighbour queue
	CacheFull        uint64 `json:"cache_full"`        // packets dropped: no room for a neighbour entry
	NDOnIPLink       uint64 `json:"nd_on_ip_link"`     // ND and MLD messages on an IP link (TUN), which has no ND
	// Not drops.
	DADSucceeded     uint64 `json:"dad_succeeded"`      // addresses assigned after DAD
	DADDuplicates    uint64 `json:"dad_duplicates"`     // addresses found in use elsewhere (RFC 4862 §5.4.5)
	DADLoopedBack    uint64 `json:"dad_looped_back"`    // our own DAD solicitations seen again (RFC 7527 §4.2)
	RAOptionsIgnored uint64 `json:"ra_options_ignored"` // prefix or MTU options not acted on (bad length, bounds, link-local prefix)
	RAListFull       uint64 `json:"ra_list_full"`       // routers, prefixes or addresses not added: their list is full
}

func (n ND6Stats) drops() uint64 {
	return n.InBadRA + n.InBadMLD + n.RedirectsIgnored + n.NAIgnored + n.NAForOurs + n.ResolutionFailed + n.QueueDrops + n.CacheFull + n.NDOnIPLink
}

// handleNSLocked processes a neighbour solicitation (RFC 4861 §7.2.3) and
// answers it with a solicited advertisement (§7.2.4), or, for a tentative
// target, applies duplicate address detection (RFC 4862 §5.4.3).
func (s *Stack) handleNSLocked(eth ethernet.Header, h ipv6.Header, m ipv6.ICMP) {
	st := &s.stats.IPv6
	src, dst := h.Src(), h.Dst()
	if err := ipv6.ValidateNS(h.HopLimit(), src, dst, m); err != nil {
		s.dropFrameLocked(&st.ICMP6InBadND, catIPv6, "icmp6_in_bad_nd", eth)
		return
	}
	target := m.Target()
	a := s.addr6Locked(target)
	if a != nil && a.State == AddrTentative && src.IsUnspecified() {
		// RFC 7527 §4.2: our own solicitation looped back by the link
		// carries our nonce; it says nothing of another node.
		it := ipv6.Options(m.NDPOptions())
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if o.Type() == ipv6.OptNonce && bytes.Equal(o.Nonce(), a.dadNonce[:]) {
				s.stats.ND6.DADLoopedBack++
				return
			}
		}
		// RFC 4862 §5.4.3: another node is doing DAD for the same
		// address at the same time: it is a duplicate.
		s.duplicateLocked(a, "a solicitation from :: for it")
		return
	}
	if a == nil || !a.usable() {
		// §7.2.3: a target not assigned to us is silently discarded;
		// RFC 4862 §5.4.3: so is one for a tentative address from a
		// unicast source (address resolution).
		s.dropFrameLocked(&st.ICMP6NDNotOurs, catIPv6, "icmp6_nd_not_ours", eth)
		return
	}
	now := s.nowLocked()
	// §7.2.3: with a specified source and a source link-layer address
	// option, create or update the solicitor's entry (STALE). The
	// advertisement goes to that address; without the option, to the
	// frame's Ethernet source. ValidateNS refused the option from ::.
	toMAC := eth.Src()
	it := ipv6.Options(m.NDPOptions())
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		if o.Type() == ipv6.OptSourceLinkAddr && len(o.LinkAddr()) >= 6 {
			toMAC = ethernet.MAC(o.LinkAddr()[:6])
			s.learnLinkAddrLocked(src, toMAC, false, now)
		}
	}
	// §7.2.4: to the solicitor with S set; to all-nodes with S clear if
	// the solicitation came from :: (DAD). O set: not an anycast address.
	to, solicited := src, true
	if src.IsUnspecified() {
		to, toMAC, solicited = allNodes, multicastMAC6(allNodes), false
	}
	var opt [8]byte
	ipv6.PutLinkAddrOption(opt[:], ipv6.OptTargetLinkAddr, s.mac)
	n := ethernet.HeaderLen + ipv6.HeaderLen + ipv6.NALen + len(opt)
	frame := s.frag[:n]
	ipv6.EncodeNA(frame[ethernet.HeaderLen+ipv6.HeaderLen:], false, solicited, true, target, opt[:], target, to)
	st.ICMP6OutNeighborAdverts++
	s.sendICMPv6Locked(frame, toMAC, target, to, ipv6.NDPHopLimit)
}

// learnLinkAddrLocked records ip's link-layer address from a source
// link-layer address option (§7.2.3, §6.3.4) and sends what was waiting.
func (s *Stack) learnLinkAddrLocked(ip netip.Addr, mac ethernet.MAC, router bool, now time.Time) {
	if mac.IsMulticast() {
		return // no unicast address lives at a group address
	}
	for _, p := range s.ip6.nc.LinkAddr(ip, mac, router, now) {
		s.sendResolved6Locked(ipv6.Header(p), mac)
	}
	s.rearmLocked()
}

// handleNALocked processes a neighbour advertisement (RFC 4861 §7.2.5).
func (s *Stack) handleNALocked(eth ethernet.Header, h ipv6.Header, m ipv6.ICMP) {
	st := &s.stats.IPv6
	if err := ipv6.ValidateNA(h.HopLimit(), h.Dst(), m); err != nil {
		s.dropFrameLocked(&st.ICMP6InBadND, catIPv6, "icmp6_in_bad_nd", eth)
		return
	}
	target := m.Target()
	if a := s.addr6Locked(target); a != nil {
		switch a.State {
		case AddrTentative:
			// RFC 4862 §5.4.4: an advertisement for a tentative
			// address: it is a duplicate.
			s.duplicateLocked(a, "an advertisement for it")
			return
		case AddrPreferred, AddrDeprecated:
			// RFC 4862 §5.4.4 leaves a conflict on an assigned
			// address to the administrator: log and count it.
			s.log.Warn("IPv6: another node advertises our address", "addr", target, "mac", eth.Src())
		}
		s.dropFrameLocked(&s.stats.ND6.NAForOurs, catIPv6, "na_for_ours", eth)
		return
	}
	var mac ethernet.MAC
	hasMAC := false
	it := ipv6.Options(m.NDPOptions())
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		if o.Type() == ipv6.OptTargetLinkAddr && len(o.LinkAddr()) >= 6 {
			mac, hasMAC = ethernet.MAC(o.LinkAddr()[:6]), !ethernet.MAC(o.LinkAddr()[:6]).IsMulticast()
		}
	}
	now := s.nowLocked()
	pkts, notRouter, ok := s.ip6.nc.Advert(target, mac, hasMAC, m.Solicited(), m.Override(), m.Router(), now)
	if !ok {
		s.dropFrameLocked(&s.stats.ND6.NAIgnored, catIPv6, "na_ignored", eth)
		return
	}
	if notRouter {
		// §7.2.5: a router that says it is no longer one leaves the
		// default router list.
		s.removeRouterLocked(target)
	}
	if e, _ := s.ip6.nc.Lookup(target); len(pkts) > 0 {
		for _, p := range pkts {
			s.sendResolved6Locked(ipv6.Header(p), e.MAC)
		}
	}
	s.rearmLocked()
}

// sendNSLocked sends a neighbour solicitation for target from src to dst
// (RFC 4861 §7.2.2), with our source link-layer address unless src is ::
// (§4.3, RFC 4862 §5.4.2).
func (s *Stack) sendNSLocked(target, src, dst netip.Addr, dstMAC ethernet.MAC) {
	var opt [8]byte
	opts := opt[:0]
	if !src.IsUnspecified() {
		opts = opt[:ipv6.PutLinkAddrOption(opt[:], ipv6.OptSourceLinkAddr, s.mac)]
	}
	s.sendNSOptsLocked(target, src, dst, dstMAC, opts)
}

// sendNSOptsLocked is sendNSLocked with the options opts.
func (s *Stack) sendNSOptsLocked(target, src, dst netip.Addr, dstMAC ethernet.MAC, opts []byte) {
	n := ethernet.HeaderLen + ipv6.HeaderLen + ipv6.NSLen + len(opts)
	frame := s.frag[:n]
	ipv6.EncodeNS(frame[ethernet.HeaderLen+ipv6.HeaderLen:], target, opts, src, dst)
	s.stats.ND6.OutNeighborSolicits++
	s.sendICMPv6Locked(frame, dstMAC, src, dst, ipv6.NDPHopLimit)
}

// solicitLocked sends a resolution solicitation for ip: multicast to its
// solicited-node group (§7.2.2) or unicast to mac (a probe, §7.3.3), from
// our address best suited to it.
func (s *Stack) solicitLocked(ip netip.Addr, mac ethernet.MAC, unicast bool) {
	src := s.source6Locked(ip)
	if !src.IsValid() {
		return // no usable address yet: nothing to solicit from
	}
	if unicast {
		s.sendNSLocked(ip, src, ip, mac)
		return
	}
	sn := ipv6.SolicitedNode(ip)
	s.sendNSLocked(ip, src, sn, multicastMAC6(sn))
}

// resolutionFailedLocked is the cache's callback for a packet whose next
// hop never answered: RFC 4861 §7.2.2, "the sender MUST return ICMP
// destination unreachable indications with code 3 (Address Unreachable)
// for each packet queued". Every queued packet is our own (a host does not
// forward), so the indication goes to our own transports, never on the
// wire, as Linux's ip6_link_failure does: a connect fails with
// EHOSTUNREACH at once, a ping socket reads the error.
func (s *Stack) resolutionFailedLocked(neighbour netip.Addr, pkt []byte) {
	s.dropLocked(&s.stats.ND6.ResolutionFailed, catIPv6, "resolution_failed", pkt)
	s.forgetRedirectsViaLocked(neighbour)
	if len(pkt) < ipv6.HeaderLen+ipv6.ICMPHeaderLen {
		return
	}
	if pkt[6] == ipv6.ProtoICMPv6 && pkt[ipv6.HeaderLen] != ipv6.TypeEchoRequest {
		return // an error or reply of ours: no local sender to tell (RFC 4443 §2.4 (e))
	}
	src := ipv6.Header(pkt).Src()
	b := make([]byte, ipv6.HeaderLen+ipv6.ICMPHeaderLen+min(len(pkt), ipv6.MaxQuote))
	n := ipv6.EncodeError(b[ipv6.HeaderLen:], ipv6.TypeDestUnreachable, ipv6.CodeAddrUnreachable, 0, pkt, src, src)
	ipv6.Encode(b, ipv6.Fields{PayloadLen: n, NextHeader: ipv6.ProtoICMPv6, HopLimit: 255, Src: src, Dst: src})
	s.icmp6ErrorInLocked(ipv6.Header(b[:ipv6.HeaderLen+n]), ipv6.ICMP(b[ipv6.HeaderLen:ipv6.HeaderLen+n]), true)
}

// nextHop6Locked returns the neighbour a packet to dst goes to (RFC 4861
// §5.2): dst itself when on-link, else the first hop a redirect named
// (§8.3, the Destination Cache), else a default router (§6.3.6: one whose
// entry is not INCOMPLETE before one unknown). ok is false when there is
// none.
func (s *Stack) nextHop6Locked(dst netip.Addr) (netip.Addr, bool) {
	if s.onLink6Locked(dst) {
		return dst, true
	}
	if hop, ok := s.redirectNextHopLocked(dst); ok {
		return hop, true
	}
	var first netip.Addr
	for _, r := range s.ip6.routers {
		if n, ok := s.ip6.nc.Lookup(r.addr); ok && n.State != NDIncomplete {
			return r.addr, true
		}
		if !first.IsValid() {
			first = r.addr
		}
	}
	return first, first.IsValid()
}

// resolveNextHop6Locked is resolve6Locked's work for a unicast pkt.
func (s *Stack) resolveNextHop6Locked(pkt ipv6.Header, meta nic.Meta) (ethernet.MAC, bool, error) {
	hop, ok := s.nextHop6Locked(pkt.Dst())
	if !ok {
		// Linux: no route to an off-link destination without a
		// default router is "Network is unreachable".
		s.dropLocked(&s.stats.IPv6.OutNoRoutes, catIPv6, "out_no_routes", pkt)
		return ethernet.MAC{}, false, syscall.ENETUNREACH
	}
	now := s.nowLocked()
	mac, res, _ := s.ip6.nc.Resolve(hop, now)
	switch res {
	case ndSend:
		s.rearmLocked() // STALE → DELAY arms a timer
		return mac, true, nil
	case ndFull:
		s.dropLocked(&s.stats.ND6.CacheFull, catIPv6, "cache_full", pkt)
		return ethernet.MAC{}, false, syscall.EHOSTUNREACH
	}
	// §7.2.2: queue the packet until the address resolves.
	s.enqueue6Locked(hop, pkt, meta)
	if res == ndSolicit {
		s.solicitLocked(hop, ethernet.MAC{}, false)
	}
	s.rearmLocked()
	return ethernet.MAC{}, false, nil
}

// next6Locked returns the earliest IPv6 deadline: the neighbour cache,
// DAD, router solicitation, MLD reports, and the lifetimes of addresses,
// routers and prefixes.
func (s *Stack) next6Locked() (t time.Time, ok bool) {
	v := &s.ip6
	at := func(d time.Time) {
		if !d.IsZero() && (!ok || d.Before(t)) {
			t, ok = d, true
		}
	}
	if d, has := v.nc.NextDeadline(); has {
		at(d)
	}
	for _, a := range v.addrs {
		at(a.dadAt)
		if a.State == AddrPreferred {
			at(a.PreferredUntil)
		}
		at(a.ValidUntil)
	}
	if v.rsLeft > 0 {
		at(v.rsAt)
	}
	for _, r := range v.mldReports {
		if r.left > 0 {
			at(r.at)
		}
	}
	for _, r := range v.routers {
		at(r.until)
	}
	for _, p := range v.prefixes {
		at(p.until)
	}
	return t, ok
}

// rearm6Locked arms the stack's timer for the earliest IPv6 deadline.
func (s *Stack) rearm6Locked() {
	if t, ok := s.next6Locked(); ok {
		s.armLocked(t)
	}
}

// timers6Locked does the IPv6 work due by now.
func (s *Stack) timers6Locked(now time.Time) {
	s.ip6.nc.Expire(now, s.solicitLocked, s.resolutionFailedLocked)
	s.mldTimersLocked(now) // before DAD: a group's report precedes its first solicitation
	s.dadTimersLocked(now)
	s.lifetimesLocked(now)
	s.rsTimerLocked(now)
}

// start6Locked begins IPv6 on the link at Start: DAD for every tentative
// address (which joins its group with an MLD report), and router
// solicitation once the link-local address is usable.
func (s *Stack) start6Locked() {
	v := &s.ip6
	if v.started || s.ipLink {
		return
	}
	v.started = true
	now := s.clock.Now()
	for _, a := range v.addrs {
		if a.State == AddrTentative {
			s.beginDADLocked(a, now)
			continue
		}
		// DAD off: the address is usable already; its group is joined
		// after the random start-up delay (RFC 4862 §5.4.2), and
		// router solicitation begins (RFC 4861 §6.3.7).
		s.joinLocked(ipv6.SolicitedNode(a.Prefix.Addr()), now.Add(v.jitter(maxRtrSolicitationDelay)), now)
		if a.Origin == OriginLinkLocal {
			s.startRSLocked(now)
		}
	}
	s.rearm6Locked()
}

// Neighbours6 returns a snapshot of the IPv6 neighbour cache.
func (s *Stack) Neighbours6() []Neighbour6 {
	s.mu.Lock()
	defer s.unlock()
	return s.ip6.nc.Entries()
}

// confirmNeighbour6Locked is upper-layer reachability confirmation (RFC
// 4861 §7.3.1): a transport that sees forward progress with dst (TCP: an
// ACK of new data) calls it, and the entry of dst's next hop becomes
// REACHABLE without a probe.
func (s *Stack) confirmNeighbour6Locked(dst netip.Addr) {
	if hop, ok := s.nextHop6Locked(dst); ok && s.ip6.nc.Confirm(hop, s.nowLocked()) {
		s.rearmLocked()
	}
}
