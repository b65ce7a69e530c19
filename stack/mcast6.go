package stack

import (
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/ipv6"
)

// IPv6 multicast for sockets (RFC 3493 §5.2, RFC 3810 §6: the groups a
// socket joins are the interface's, reported with the stack's MLDv2 host
// code, nd6mld.go).

// mcast6Opts is a UDP socket's IPv6 multicast state; the zero value is
// Linux's defaults (hops 1, loop on, no memberships).
//
// The memberships are bounded as IPv4's (igmp_max_memberships, 20). This
// differs from Linux, which bounds IPv6's by optmem_max only (some
// hundreds).
type mcast6Opts struct {
	hops    mcastTTL // IPV6_MULTICAST_HOPS
	noLoop  bool     // IPV6_MULTICAST_LOOP off
	notAll  bool     // IPV6_MULTICAST_ALL off
	ifindex int      // IPV6_MULTICAST_IF
	groups  memberships
}

// reportable6 reports whether MLD reports group (RFC 3810 §6: never
// all-nodes, nor a group of interface-local or reserved scope).
func reportable6(group netip.Addr) bool {
	scope := group.As16()[1] & 0x0f
	return group != allNodes && scope > 1
}

// joinGroup6Locked adds a socket's membership of an IPv6 group; the first
// one joins the interface, reported by MLD (joinLocked: RFC 3810 §6.1)
// unless the stack is in the group already or MLD never reports it.
func (s *Stack) joinGroup6Locked(group netip.Addr) {
	v := &s.ip6
	if v.sockGroups == nil {
		v.sockGroups = make(map[netip.Addr]int)
	}
	v.sockGroups[group]++
	if v.sockGroups[group] > 1 || s.ipLink || !reportable6(group) {
		return
	}
	now := s.nowLocked()
	s.joinLocked(group, now, now)
	s.rearmLocked()
}

// leaveGroup6Locked drops a socket's membership; the last one leaves the
// interface, reported by MLD (leaveGroupsLocked) unless an address still
// needs the group (its solicited-node group).
func (s *Stack) leaveGroup6Locked(group netip.Addr) {
	v := &s.ip6
	if n := v.sockGroups[group] - 1; n > 0 {
		v.sockGroups[group] = n
		return
	}
	delete(v.sockGroups, group)
	if !s.closed && !s.ipLink {
		s.leaveGroupsLocked()
	}
}

// JoinGroup6 adds a membership of the IPv6 group (IPV6_JOIN_GROUP) on the
// interface ifindex (0: the link) to an AF_INET6 socket. Linux's errors:
// EINVAL for an address not multicast, ENODEV for an interface not ours,
// EADDRINUSE for a group joined already, ENOBUFS past 20 groups.
func (e *UDPEndpoint) JoinGroup6(group netip.Addr, ifindex int) error {
	check := func() (netip.Addr, error) { return group, e.checkGroup6Locked(group, ifindex) }
	return e.changeGroup(check, &e.mc6.groups, (*memberships).add, e.s.joinGroup6Locked)
}

// LeaveGroup6 drops the membership of the IPv6 group (IPV6_LEAVE_GROUP):
// EINVAL for an address not multicast, EADDRNOTAVAIL for a group not
// joined (Linux's errors).
func (e *UDPEndpoint) LeaveGroup6(group netip.Addr, ifindex int) error {
	check := func() (netip.Addr, error) { return group, e.checkGroup6Locked(group, ifindex) }
	return e.changeGroup(check, &e.mc6.groups, (*memberships).remove, e.s.leaveGroup6Locked)
}

// checkGroup6Locked checks a membership call's arguments (Linux's
// ipv6_sock_mc_join order: the group, then the interface).
func (e *UDPEndpoint) checkGroup6Locked(group netip.Addr, ifindex int) error {
	switch {
	case e.closed:
		return errClosed
	case !e.v6:
		return syscall.ENOPROTOOPT
	case !group.Is6() || group.Is4In6() || !group.IsMulticast():
		return syscall.EINVAL
	case ifindex != 0 && ifindex != LinkIndex:
		return syscall.ENODEV
	}
	return nil
}

// dropMemberships6Locked leaves every IPv6 group at close.
func (e *UDPEndpoint) dropMemberships6Locked() {
	for _, g := range e.mc6.groups {
		e.s.leaveGroup6Locked(g)
	}
	e.mc6.groups = nil
}

// output6Locked sends the IPv6 packet a UDP socket built in s.out. One to
// a group goes with IPV6_MULTICAST_HOPS (the header's hop limit
// rewritten; IPv6 has no header checksum), and a copy is looped back to
// our own sockets when IPV6_MULTICAST_LOOP is on and the interface is in
// the group (RFC 3493 §5.2, Linux's ip6_finish_output2); hop limit 0 is
// looped back only.
func (e *UDPEndpoint) output6Locked(pkt ipv6.Header) error {
	s := e.s
	dst := pkt.Dst()
	if !dst.IsMulticast() {
		return s.output6Locked(pkt)
	}
	hops := e.mc6.hops.value()
	pkt.SetHopLimit(hops)
	if !e.mc6.noLoop && s.joinedGroup6(dst) {
		_ = s.loop6Locked(pkt) // a full loop queue drops the copy (counted): the send goes on
	}
	if hops == 0 {
		s.stats.IPv6.OutRequests++
		return nil
	}
	return s.output6Locked(pkt)
}

// SetMulticastHops sets IPV6_MULTICAST_HOPS: 0 to 255, or -1 for the
// default (1); EINVAL otherwise, as Linux. ENOPROTOOPT on AF_INET.
func (e *UDPEndpoint) SetMulticastHops(hops int) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	if !e.v6 {
		return syscall.ENOPROTOOPT
	}
	return e.mc6.hops.setTo(hops)
}

// MulticastHops returns IPV6_MULTICAST_HOPS.
func (e *UDPEndpoint) MulticastHops() int {
	e.s.mu.Lock()
	defer e.s.unlock()
	return int(e.mc6.hops.value())
}

// SetMulticastLoop6 sets IPV6_MULTICAST_LOOP (default on). ENOPROTOOPT
// on AF_INET.
func (e *UDPEndpoint) SetMulticastLoop6(on bool) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	if !e.v6 {
		return syscall.ENOPROTOOPT
	}
	e.mc6.noLoop = !on
	return nil
}

// MulticastLoop6 returns IPV6_MULTICAST_LOOP.
func (e *UDPEndpoint) MulticastLoop6() bool {
	e.s.mu.Lock()
	defer e.s.unlock()
	return !e.mc6.noLoop
}

// SetMulticastInterface6 sets IPV6_MULTICAST_IF: 0 or the link's index,
// ENODEV for another (Linux's error). With one link it changes nothing but
// what MulticastInterface6 returns.
func (e *UDPEndpoint) SetMulticastInterface6(ifindex int) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	switch {
	case !e.v6:
		return syscall.ENOPROTOOPT
	case ifindex != 0 && ifindex != LinkIndex:
		return syscall.ENODEV
	}
	e.mc6.ifindex = ifindex
	return nil
}

// MulticastInterface6 returns IPV6_MULTICAST_IF.
func (e *UDPEndpoint) MulticastInterface6() int {
	e.s.mu.Lock()
	defer e.s.unlock()
	return e.mc6.ifindex
}
