package stack

import (
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/udp"
)

// maxUDPPayload is the largest UDP payload in one IPv4 datagram.
const maxUDPPayload = ipv4.MaxTotalLen - ipv4.HeaderMinLen - udp.HeaderLen

// handleUDPLocked delivers a datagram to its endpoint (RFC 768, RFC 1122 §4.1.3).
func (s *Stack) handleUDPLocked(h ipv4.Header, bcast bool, meta nic.Meta) {
	s.handleUDPPacketLocked(ipv4Packet(h), bcast, meta)
}

// handleUDPPacketLocked is handleUDPLocked for a datagram of either
// family; IPv4 and IPv6 share the port table.
func (s *Stack) handleUDPPacketLocked(h ipPacket, bcast bool, meta nic.Meta) {
	u, err := udp.Parse(h.payload)
	if err != nil {
		s.dropLocked(&s.stats.UDP.InErrors, catUDP, "in_errors", h.raw)
		return
	}
	src, dst := h.src, h.dst
	// Over IPv6 the checksum is mandatory (RFC 8200 §8.1): a zero one is
	// a drop even when the device vouched for the packet (udp.VerifyIPv6;
	// Linux's udp6_csum_init counts it as a checksum error).
	if !src.Is4() && u.Checksum() == 0 || !s.csumTrustedLocked(meta) && !u.Verify(src, dst) {
		s.dropLocked(&s.stats.UDP.InCsumErrors, catUDP, "in_csum_errors", h.raw)
		return
	}
	from := netip.AddrPortFrom(src, u.SrcPort())
	// Fan-out follows the IP destination, as Linux's __udp4_lib_rcv (the
	// route's RTCF_BROADCAST|RTCF_MULTICAST): a datagram to our unicast
	// address in a link-layer broadcast frame goes to one socket, though
	// it is never answered with an error (bcast).
	if dst.IsMulticast() || dst == s.bcast || dst == limitedBroadcast {
		s.udpFanOutLocked(h, u, from)
		return
	}
	ep := s.udp.Lookup(from, netip.AddrPortFrom(dst, u.DstPort()))
	if ep == nil {
		// RFC 1122 §4.1.3.1: port unreachable for a datagram no one takes
		// (never for broadcasts: sendICMPErrorLocked checks). Over IPv6,
		// RFC 4443 §3.1 code 4 (never for a multicast destination, §2.4
		// (e.3): icmp6ErrorLocked checks).
		s.dropLocked(&s.stats.UDP.NoPorts, catUDP, "no_ports", h.raw)
		if src.Is4() {
			s.sendICMPErrorLocked(ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, h.raw, bcast, bcast)
		} else {
			s.icmp6ErrorLocked(ipv6.Header(h.raw), ipv6.TypeDestUnreachable, ipv6.CodePortUnreachable, 0)
		}
		return
	}
	s.udpDeliverLocked(ep, h, u, from)
}

// udpDeliverLocked queues a datagram's payload on ep and wakes its socket;
// a full queue drops it (rcvbuf_errors).
func (s *Stack) udpDeliverLocked(ep *udp.Endpoint, h ipPacket, u udp.Header, from netip.AddrPort) {
	if !ep.Enqueue(u.Payload(), from) {
		s.dropLocked(&s.stats.UDP.RcvbufErrors, catUDP, "rcvbuf_errors", h.raw)
		return
	}
	s.stats.UDP.InDatagrams++
	if e := s.udpEPs[ep]; e != nil {
		e.notify()
	}
}

// udpFanOutLocked delivers a datagram sent to a broadcast or multicast
// address (at the link or IP layer) to every endpoint that takes it
// (udp.Table.AppendMatches), each counted in in_datagrams or
// rcvbuf_errors, as Linux's __udp4_lib_mcast_deliver. With none, it is
// counted in ignored_multi (Linux's UdpIgnoredMulti) and not answered:
// no port unreachable for a broadcast or multicast (RFC 1122 §3.2.2,
// RFC 4443 §2.4 (e.3)).
func (s *Stack) udpFanOutLocked(h ipPacket, u udp.Header, from netip.AddrPort) {
	s.udpMatches = s.udp.AppendMatches(s.udpMatches[:0], from, netip.AddrPortFrom(h.dst, u.DstPort()))
	s.udpMatches = s.groupFilterLocked(s.udpMatches, h.dst) // mcast.go: IP_MULTICAST_ALL off
	if len(s.udpMatches) == 0 {
		s.dropLocked(&s.stats.UDP.IgnoredMulti, catUDP, "ignored_multi", h.raw)
		return
	}
	for _, ep := range s.udpMatches {
		s.udpDeliverLocked(ep, h, u, from)
	}
	clear(s.udpMatches)
}

// UDPEndpoint is one UDP socket's state inside the stack. Its methods never
// block: receive calls return EAGAIN when nothing is queued, and callers wait
// on Readable and Done (package socket does this).
type UDPEndpoint struct {
	notifier
	s         *Stack
	ep        *udp.Endpoint
	bound     bool
	broadcast bool // SO_BROADCAST
	v6        bool // AF_INET6 (NewUDPEndpoint6)
	v6only    bool // IPV6_V6ONLY

	ip  sockIP     // IP_TTL, IP_TOS, IPV6_UNICAST_HOPS, IPV6_TCLASS
	mc  mcastOpts  // IP_MULTICAST_* and group memberships (mcast.go)
	mc6 mcast6Opts // IPV6_MULTICAST_* and group memberships (mcast6.go)
}

// NewUDPEndpoint opens an unbound UDP endpoint.
func (s *Stack) NewUDPEndpoint() (*UDPEndpoint, error) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrStackClosed
	}
	e := &UDPEndpoint{notifier: newNotifier(), s: s, ep: udp.NewEndpoint(s.udpRcvBuf)}
	s.udpEPs[e.ep] = e
	return e, nil
}

// Bind binds the endpoint to local. The address must be ours or unspecified
// (EADDRNOTAVAIL otherwise); port 0 picks an ephemeral port (RFC 6056).
func (e *UDPEndpoint) Bind(local netip.AddrPort, reuse bool) (netip.AddrPort, error) {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.closed {
		return netip.AddrPort{}, errClosed
	}
	return e.bindLocked(local, reuse)
}

func (e *UDPEndpoint) bindLocked(local netip.AddrPort, reuse bool) (netip.AddrPort, error) {
	var a netip.Addr
	var err error
	if e.v6 {
		a, err = e.s.bindAddr6Locked(sockAddr6(local.Addr()), e.v6only)
		e.ep.SetV6(e.v6only)
	} else {
		a, err = e.s.bindUDP4Locked(local.Addr()) // mcast.go
	}
	if err != nil {
		return netip.AddrPort{}, err
	}
	if e.bound {
		return netip.AddrPort{}, syscall.EINVAL
	}
	got, err := e.s.udp.Bind(e.ep, netip.AddrPortFrom(a, local.Port()), reuse)
	if err != nil {
		return netip.AddrPort{}, err
	}
	e.bound = true
	return presentAddr(e.v6, got), nil
}

// Connect sets the default destination and receives only from it; it binds
// an ephemeral port first if needed. The zero AddrPort disconnects.
func (e *UDPEndpoint) Connect(remote netip.AddrPort) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.closed {
		return errClosed
	}
	if remote.IsValid() {
		ra, err := e.peerAddrLocked(remote.Addr())
		if err != nil {
			return err
		}
		remote = netip.AddrPortFrom(ra, remote.Port())
		if e.s.isBroadcast(remote.Addr()) && !e.broadcast {
			return syscall.EACCES
		}
	}
	// Linux's inet_dgram_connect: a disconnect (the zero AddrPort, AF_UNSPEC)
	// binds nothing; a connect binds an ephemeral port first if needed.
	if remote.IsValid() && !e.bound {
		if _, err := e.bindLocked(netip.AddrPort{}, false); err != nil {
			return err
		}
	}
	return e.s.udp.Connect(e.ep, remote)
}

func (s *Stack) isBroadcast(a netip.Addr) bool { return a == s.bcast || a == limitedBroadcast }

// SendTo sends b as one datagram to to, or to the connected peer when to is
// the zero value. It binds an ephemeral port first if needed.
func (e *UDPEndpoint) SendTo(b []byte, to netip.AddrPort) (int, error) {
	s := e.s
	s.mu.Lock()
	defer s.unlock()
	if e.closed {
		return 0, errClosed
	}
	if err := e.takeErrorLocked(); err != nil {
		return 0, err
	}
	if !to.IsValid() {
		to = e.ep.RemoteAddr()
		if !to.IsValid() {
			return 0, syscall.EDESTADDRREQ
		}
	}
	ta, err := e.peerAddrLocked(to.Addr())
	if err != nil {
		return 0, err
	}
	to = netip.AddrPortFrom(ta, to.Port())
	if !ta.Is4() {
		return e.sendTo6Locked(b, to) // udp6.go
	}
	switch {
	case to.Port() == 0:
		return 0, syscall.EINVAL
	case len(b) > maxUDPPayload:
		return 0, syscall.EMSGSIZE
	case s.isBroadcast(to.Addr()) && !e.broadcast:
		return 0, syscall.EACCES // Linux: broadcast needs SO_BROADCAST
	}
	if !e.bound {
		if _, err := e.bindLocked(netip.AddrPort{}, false); err != nil {
			return 0, err
		}
	}
	n := ipv4.HeaderMinLen + udp.HeaderLen + len(b)
	pkt := ipv4.Header(s.out[s.linkHdr : s.linkHdr+n])
	ipv4.Encode(pkt, ipv4.Fields{
		TOS:      e.ip.tos4(), // the whole octet, ECN bits included, as Linux's UDP
		TotalLen: n,
		ID:       s.ids.Next(s.addr, to.Addr(), ipv4.ProtoUDP),
		// As Linux with IP_PMTUDISC_WANT: DF when the datagram fits the
		// path MTU, local fragmentation without DF when it does not.
		DF:       n <= s.mtu,
		TTL:      e.ip.ttl4(s.ttl),
		Protocol: ipv4.ProtoUDP,
		Src:      s.addr,
		Dst:      to.Addr(),
	})
	u := udp.Header(pkt[ipv4.HeaderMinLen:])
	udp.Encode(u, e.ep.LocalAddr().Port(), to.Port(), len(b))
	copy(u[udp.HeaderLen:], b)
	u.ComputeChecksumIPv4(s.addr, to.Addr())
	s.stats.UDP.OutDatagrams++
	if err := e.output4Locked(pkt); err != nil {
		return 0, err
	}
	return len(b), nil
}

// TryRecvFrom copies the next datagram into b. n is the bytes copied and
// full the datagram's length (n < full: truncated, MSG_TRUNC). With peek the
// datagram stays queued. EAGAIN when none is queued; a pending ICMP error on
// a connected endpoint is returned first, once.
func (e *UDPEndpoint) TryRecvFrom(b []byte, peek bool) (n, full int, from netip.AddrPort, err error) {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.closed {
		return 0, 0, netip.AddrPort{}, errClosed
	}
	if err := e.takeErrorLocked(); err != nil {
		return 0, 0, netip.AddrPort{}, err
	}
	dequeue := e.ep.Dequeue
	if peek {
		dequeue = e.ep.PeekData
	}
	n, full, from, ok := dequeue(b)
	if !ok {
		return 0, 0, netip.AddrPort{}, syscall.EAGAIN
	}
	if d, _ := e.ep.Queued(); d > 0 {
		e.notify() // more is queued: let the next blocked reader in
	}
	return n, full, presentAddr(e.v6, from), nil
}

func (e *UDPEndpoint) takeErrorLocked() error { return e.ep.TakeError() }

// icmpErrorLocked records an ICMP-reported error. As Linux without
// IP_RECVERR, only a connected socket reports it (RFC 1122 §4.1.3.3 leaves
// the how to the implementation).
func (e *UDPEndpoint) icmpErrorLocked(errno syscall.Errno) {
	if e.ep.RemoteAddr().IsValid() {
		e.ep.SetError(errno)
		e.notify()
	}
}

// SetBroadcast sets SO_BROADCAST.
func (e *UDPEndpoint) SetBroadcast(on bool) {
	e.s.mu.Lock()
	e.broadcast = on
	e.s.unlock()
}

// SetIPOption sets one of the socket's IP header fields, as
// TCPEndpoint.SetIPOption; for UDP the ECN bits of TOS and Traffic Class
// are the application's, as Linux.
func (e *UDPEndpoint) SetIPOption(opt IPOption, v int) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	return e.ip.set(opt, v, false)
}

// IPOption reads one of the socket's IP header fields.
func (e *UDPEndpoint) IPOption(opt IPOption) (int, error) {
	e.s.mu.Lock()
	defer e.s.unlock()
	return e.ip.get(opt, e.s)
}

// SetRcvBuf sets the receive buffer size in bytes (SO_RCVBUF).
func (e *UDPEndpoint) SetRcvBuf(n int) {
	e.s.mu.Lock()
	e.ep.SetRcvBuf(n)
	e.s.unlock()
}

// LocalAddr returns the bound address (zero when unbound).
func (e *UDPEndpoint) LocalAddr() netip.AddrPort {
	e.s.mu.Lock()
	defer e.s.unlock()
	return presentAddr(e.v6, e.ep.LocalAddr())
}

// RemoteAddr returns the connected peer (zero when not connected).
func (e *UDPEndpoint) RemoteAddr() netip.AddrPort {
	e.s.mu.Lock()
	defer e.s.unlock()
	return presentAddr(e.v6, e.ep.RemoteAddr())
}

// Close releases the port and wakes every blocked caller.
func (e *UDPEndpoint) Close() error {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.closed {
		return errClosed
	}
	e.closeLocked()
	return nil
}

func (e *UDPEndpoint) closeLocked() {
	if e.bound {
		e.s.udp.Unbind(e.ep)
	}
	delete(e.s.udpEPs, e.ep)
	e.dropMembershipsLocked()
	e.close()
}

// PollReadable reports whether a receive would return without blocking.
func (e *UDPEndpoint) PollReadable() bool {
	e.s.mu.Lock()
	defer e.s.unlock()
	d, _ := e.ep.Queued()
	return d > 0 || e.closed
}

// AddWaiter registers w to be pinged when the endpoint may be readable.
func (e *UDPEndpoint) AddWaiter(w chan struct{}) {
	e.s.mu.Lock()
	e.rd.addWaiter(w)
	e.s.mu.Unlock()
}

// RemoveWaiter undoes AddWaiter.
func (e *UDPEndpoint) RemoveWaiter(w chan struct{}) {
	e.s.mu.Lock()
	e.rd.removeWaiter(w)
	e.s.mu.Unlock()
}
