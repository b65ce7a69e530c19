package stack

import (
	"net/netip"
	"slices"
	"syscall"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/udp"
)

// IPv4 multicast for sockets (RFC 1112 §6.1, the host's service
// interface: JoinHostGroup and LeaveHostGroup; Linux's ip(7) options).

// LinkIndex is the interface index of the stack's one link, as a
// socket's multicast options name it (ip_mreqn's imr_ifindex,
// IP_MULTICAST_IF): 0 (any) and LinkIndex are the link, another is no
// interface (ENODEV, as Linux for an index naming none).
const LinkIndex = 1

// defaultMcastTTL is the default of IP_MULTICAST_TTL (Linux's mc_ttl)
// and IPV6_MULTICAST_HOPS (IPV6_DEFAULT_MCASTHOPS): 1, a group datagram
// stays on the link unless the sender asks (RFC 1112 §6.1, RFC 3493 §5.2).
const defaultMcastTTL = 1

// mcastTTL is IP_MULTICAST_TTL or IPV6_MULTICAST_HOPS; the zero value is
// the default.
type mcastTTL struct {
	v   uint8
	set bool
}

// setTo takes 0 to 255, or -1 for the default; EINVAL otherwise, as
// Linux's do_ip_setsockopt and do_ipv6_setsockopt.
func (o *mcastTTL) setTo(n int) error {
	if n < -1 || n > 255 {
		return syscall.EINVAL
	}
	o.v, o.set = uint8(n), n >= 0
	return nil
}

func (o mcastTTL) value() uint8 {
	if !o.set {
		return defaultMcastTTL
	}
	return o.v
}

// memberships are the groups of one family a socket joined.
type memberships []netip.Addr

// add joins g: EADDRINUSE if the socket is in it, ENOBUFS past
// igmp_max_memberships (Linux's errors).
func (m *memberships) add(g netip.Addr) error {
	switch {
	case slices.Contains(*m, g):
		return syscall.EADDRINUSE
	case len(*m) >= igmpMaxMemberships:
		return syscall.ENOBUFS
	}
	*m = append(*m, g)
	return nil
}

// remove leaves g: EADDRNOTAVAIL if the socket is not in it (Linux's).
func (m *memberships) remove(g netip.Addr) error {
	i := slices.Index(*m, g)
	if i < 0 {
		return syscall.EADDRNOTAVAIL
	}
	*m = slices.Delete(*m, i, i+1)
	return nil
}

// mcastOpts is a UDP socket's multicast state; the zero value is Linux's
// defaults (TTL 1, loop on, no memberships).
type mcastOpts struct {
	ttl    mcastTTL   // IP_MULTICAST_TTL
	noLoop bool       // IP_MULTICAST_LOOP off
	notAll bool       // IP_MULTICAST_ALL off
	ifAddr netip.Addr // IP_MULTICAST_IF's address, invalid when unset
	groups memberships
}

// takesGroupLocked reports whether the socket takes a datagram to group
// (IPv4 or IPv6): with IP_MULTICAST_ALL on (the default, Linux's) any
// group the interface is in, else only a group it joined itself (Linux's
// ip_mc_sf_allow and inet6_mc_check; a dual-stack socket's IPv4 groups go
// by its IPv4 options).
func (e *UDPEndpoint) takesGroupLocked(group netip.Addr) bool {
	if group.Is4() {
		return !e.mc.notAll || slices.Contains(e.mc.groups, group)
	}
	return !e.mc6.notAll || slices.Contains(e.mc6.groups, group)
}

// groupFilterLocked drops from eps, the sockets a datagram to dst
// matched, those that do not take dst's group (takesGroupLocked); a
// datagram to a unicast or broadcast address goes to all.
func (s *Stack) groupFilterLocked(eps []*udp.Endpoint, dst netip.Addr) []*udp.Endpoint {
	if !dst.IsMulticast() {
		return eps
	}
	return slices.DeleteFunc(eps, func(ep *udp.Endpoint) bool {
		e := s.udpEPs[ep]
		return e != nil && !e.takesGroupLocked(dst)
	})
}

// SetMulticastAll sets IP_MULTICAST_ALL, or with v6 IPV6_MULTICAST_ALL
// (ENOPROTOOPT on an AF_INET socket): on (the default), the socket
// takes the datagrams to any group the interface is in, on its port;
// off, only to the groups it joined itself.
func (e *UDPEndpoint) SetMulticastAll(v6, on bool) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	switch {
	case !v6:
		e.mc.notAll = !on
	case !e.v6:
		return syscall.ENOPROTOOPT
	default:
		e.mc6.notAll = !on
	}
	return nil
}

// MulticastAll returns IP_MULTICAST_ALL, or with v6 IPV6_MULTICAST_ALL.
func (e *UDPEndpoint) MulticastAll(v6 bool) bool {
	e.s.mu.Lock()
	defer e.s.unlock()
	if v6 {
		return !e.mc6.notAll
	}
	return !e.mc.notAll
}

// output4Locked sends the IPv4 datagram a UDP socket built in s.out. One
// to a group (RFC 1112 §6.1) goes with the socket's IP_MULTICAST_TTL
// (the header is rewritten: it was encoded with the unicast TTL), and a
// copy is looped back for our own sockets when IP_MULTICAST_LOOP is on
// and the interface is in the group (RFC 1112 §6.1: "a copy ... is
// delivered locally if the host itself belongs"; Linux's ip_mc_output).
// TTL 0 is looped back only, as Linux.
func (e *UDPEndpoint) output4Locked(pkt ipv4.Header) error {
	s := e.s
	dst := pkt.Dst()
	if !dst.IsMulticast() {
		return s.outputLocked(pkt)
	}
	ttl := e.mc.ttl.value()
	pkt.SetTTL(ttl)
	pkt.SetChecksum()
	if !e.mc.noLoop && s.joinedGroup4(dst) {
		_ = s.loopLocked(pkt) // a full loop queue drops the copy (counted): the send goes on, as Linux's
	}
	if ttl == 0 {
		s.stats.IPv4.OutRequests++
		return nil
	}
	return s.outputLocked(pkt)
}

// outputMcastLocked sends a datagram to a group: to the group's Ethernet
// address (RFC 1112 §6.4), with no ARP; on an IP link to the one peer.
func (s *Stack) outputMcastLocked(pkt ipv4.Header, meta nic.Meta) error {
	s.stats.IPv4.OutMcastPkts++
	return s.sendResolvedMetaLocked(pkt, multicastMAC4(pkt.Dst()), meta)
}

// checkMcastIf checks the interface a membership or IP_MULTICAST_IF
// names, by index (0: any) and by address (0.0.0.0: any): the stack's
// link and address are the only ones. ENODEV otherwise, as Linux's
// ip_mc_find_dev for a membership.
func (s *Stack) checkMcastIfLocked(addr netip.Addr, ifindex int) error {
	if ifindex != 0 && ifindex != LinkIndex {
		return syscall.ENODEV
	}
	if addr.IsValid() && !addr.IsUnspecified() && !s.ours(addr) {
		return syscall.ENODEV
	}
	return nil
}

// JoinGroup adds a membership of group (IP_ADD_MEMBERSHIP, RFC 1112 §6.1
// JoinHostGroup) on the interface named by ifAddr or ifindex (zero: the
// link). Linux's errors: EINVAL for a group that is not IPv4 multicast,
// ENODEV for an interface not ours, EADDRINUSE for a group the socket is
// in already, ENOBUFS past igmp_max_memberships (20) per socket. The first
// membership of a group joins the interface and reports it (igmp.go).
func (e *UDPEndpoint) JoinGroup(group, ifAddr netip.Addr, ifindex int) error {
	check := func() (netip.Addr, error) { return e.checkGroup4Locked(group, ifAddr, ifindex) }
	return e.changeGroup(check, &e.mc.groups, (*memberships).add, e.s.joinGroup4Locked)
}

// LeaveGroup drops the membership of group (IP_DROP_MEMBERSHIP, RFC 1112
// §6.1 LeaveHostGroup): EINVAL for a group that is not IPv4 multicast,
// EADDRNOTAVAIL for one the socket is not in (Linux's errors). The last
// membership of a group leaves the interface (igmp.go).
func (e *UDPEndpoint) LeaveGroup(group, ifAddr netip.Addr, ifindex int) error {
	check := func() (netip.Addr, error) { return e.checkGroup4Locked(group, ifAddr, ifindex) }
	return e.changeGroup(check, &e.mc.groups, (*memberships).remove, e.s.leaveGroup4Locked)
}

// changeGroup makes a membership change under the stack's lock: check
// validates the call and returns the group, change updates the socket's
// list, apply the interface's (the first join or last leave reports).
func (e *UDPEndpoint) changeGroup(check func() (netip.Addr, error), list *memberships, change func(*memberships, netip.Addr) error, apply func(netip.Addr)) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	group, err := check()
	if err == nil {
		err = change(list, group)
	}
	if err == nil {
		apply(group)
	}
	return err
}

// bindUDP4Locked is bindAddrLocked for a UDP socket, which may also bind
// an IPv4 group, as Linux's inet_bind takes a multicast address (SSDP and
// mDNS programs bind 239.255.255.250:1900 or 224.0.0.251:5353): the
// socket then takes only datagrams to the group at its port (udp.Table's
// match: the wildcard or the destination), and sends from our address.
func (s *Stack) bindUDP4Locked(a netip.Addr) (netip.Addr, error) {
	if a.Is4() && a.IsMulticast() {
		return a, nil
	}
	return s.bindAddrLocked(a)
}

// checkGroup4Locked checks a membership call's arguments, in Linux's
// order (ip_mc_join_group: the group, then the interface), and returns
// the group unmapped.
func (e *UDPEndpoint) checkGroup4Locked(group, ifAddr netip.Addr, ifindex int) (netip.Addr, error) {
	if e.closed {
		return netip.Addr{}, errClosed
	}
	group = group.Unmap()
	if !group.Is4() || !group.IsMulticast() {
		return netip.Addr{}, syscall.EINVAL
	}
	return group, e.s.checkMcastIfLocked(ifAddr.Unmap(), ifindex)
}

// dropMembershipsLocked leaves every group of both families at close
// (Linux's ip_mc_drop_socket, ipv6_sock_mc_close).
func (e *UDPEndpoint) dropMembershipsLocked() {
	for _, g := range e.mc.groups {
		e.s.leaveGroup4Locked(g)
	}
	e.mc.groups = nil
	e.dropMemberships6Locked()
}

// Groups returns the groups the socket is in.
func (e *UDPEndpoint) Groups() []netip.Addr {
	e.s.mu.Lock()
	defer e.s.unlock()
	return slices.Clone([]netip.Addr(e.mc.groups))
}

// SetMulticastTTL sets IP_MULTICAST_TTL: 0 to 255, or -1 for the default
// (1); EINVAL otherwise, as Linux.
func (e *UDPEndpoint) SetMulticastTTL(ttl int) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	return e.mc.ttl.setTo(ttl)
}

// MulticastTTL returns IP_MULTICAST_TTL.
func (e *UDPEndpoint) MulticastTTL() int {
	e.s.mu.Lock()
	defer e.s.unlock()
	return int(e.mc.ttl.value())
}

// SetMulticastLoop sets IP_MULTICAST_LOOP (default on).
func (e *UDPEndpoint) SetMulticastLoop(on bool) {
	e.s.mu.Lock()
	e.mc.noLoop = !on
	e.s.unlock()
}

// MulticastLoop returns IP_MULTICAST_LOOP.
func (e *UDPEndpoint) MulticastLoop() bool {
	e.s.mu.Lock()
	defer e.s.unlock()
	return !e.mc.noLoop
}

// SetMulticastInterface sets IP_MULTICAST_IF, the interface group
// datagrams leave by: by index (0: unset) or by address (0.0.0.0: unset),
// EADDRNOTAVAIL for one not ours, as Linux. With one link it changes
// nothing but what MulticastInterface returns.
func (e *UDPEndpoint) SetMulticastInterface(addr netip.Addr, ifindex int) error {
	s := e.s
	s.mu.Lock()
	defer s.unlock()
	addr = addr.Unmap()
	if s.checkMcastIfLocked(addr, ifindex) != nil {
		return syscall.EADDRNOTAVAIL
	}
	e.mc.ifAddr = netip.Addr{}
	if addr.IsValid() && !addr.IsUnspecified() {
		e.mc.ifAddr = addr
	}
	return nil
}

// MulticastInterface returns IP_MULTICAST_IF's address: 0.0.0.0 when unset.
func (e *UDPEndpoint) MulticastInterface() netip.Addr {
	e.s.mu.Lock()
	defer e.s.unlock()
	if !e.mc.ifAddr.IsValid() {
		return netip.IPv4Unspecified()
	}
	return e.mc.ifAddr
}
