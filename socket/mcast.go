package socket

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/stack"
)

// IPv4 multicast options (ip(7)), re-exported from syscall.
const (
	IP_MULTICAST_IF    = syscall.IP_MULTICAST_IF
	IP_MULTICAST_TTL   = syscall.IP_MULTICAST_TTL
	IP_MULTICAST_LOOP  = syscall.IP_MULTICAST_LOOP
	IP_ADD_MEMBERSHIP  = syscall.IP_ADD_MEMBERSHIP
	IP_DROP_MEMBERSHIP = syscall.IP_DROP_MEMBERSHIP

	IPV6_JOIN_GROUP     = syscall.IPV6_JOIN_GROUP
	IPV6_LEAVE_GROUP    = syscall.IPV6_LEAVE_GROUP
	IPV6_MULTICAST_IF   = syscall.IPV6_MULTICAST_IF
	IPV6_MULTICAST_HOPS = syscall.IPV6_MULTICAST_HOPS
	IPV6_MULTICAST_LOOP = syscall.IPV6_MULTICAST_LOOP

	// IP_MULTICAST_ALL and IPV6_MULTICAST_ALL are Linux's options 49 and
	// 29 (not in package syscall).
	IP_MULTICAST_ALL   = 0x31
	IPV6_MULTICAST_ALL = 0x1d
)

// Sizes of the option structures (Linux's include/uapi/linux/in.h).
const (
	sizeofInAddr   = 4  // struct in_addr
	sizeofIPMreq   = 8  // struct ip_mreq: group, interface address
	sizeofIPMreqn  = 12 // struct ip_mreqn: group, interface address, interface index
	sizeofIPv6Mreq = 20 // struct ipv6_mreq: group, interface index
)

// errMissingAddress is net's error for a nil group address.
var errMissingAddress = errors.New("missing address")

// isMcastIntOpt reports whether opt is an integer multicast option of
// level: IPPROTO_IP's TTL and loop, IPPROTO_IPV6's hops, loop and interface.
func isMcastIntOpt(level, opt int) bool {
	switch level {
	case IPPROTO_IP:
		return opt == IP_MULTICAST_TTL || opt == IP_MULTICAST_LOOP || opt == IP_MULTICAST_ALL
	case IPPROTO_IPV6:
		return opt == IPV6_MULTICAST_HOPS || opt == IPV6_MULTICAST_LOOP || opt == IPV6_MULTICAST_IF || opt == IPV6_MULTICAST_ALL
	}
	return false
}

// setMcastIntLocked sets an integer multicast option with Linux's ranges
// and errnos (do_ip_setsockopt, do_ipv6_setsockopt): IP_MULTICAST_TTL and
// IPV6_MULTICAST_HOPS 0 to 255, or -1 for the default 1; IP_MULTICAST_LOOP
// and IPV6_MULTICAST_ALL any value (non-zero: on); IP_MULTICAST_ALL and
// IPV6_MULTICAST_LOOP 0 or 1; IPV6_MULTICAST_IF an interface index (0 or
// stack.LinkIndex, else ENODEV). The IPv6 ones on an AF_INET6 socket only
// (ENOPROTOOPT on AF_INET). Only UDP sockets send to groups here:
// ENOPROTOOPT on others (where Linux stores them on any inet socket).
func (f *FD) setMcastIntLocked(level, opt, value int) error {
	if f.udp == nil {
		return syscall.ENOPROTOOPT
	}
	switch opt {
	case IP_MULTICAST_TTL:
		return f.udp.SetMulticastTTL(value)
	case IP_MULTICAST_LOOP:
		f.udp.SetMulticastLoop(value != 0)
		return nil
	case IP_MULTICAST_ALL:
		if value != 0 && value != 1 {
			return syscall.EINVAL // as Linux's do_ip_setsockopt
		}
		return f.udp.SetMulticastAll(false, value == 1)
	}
	switch {
	case !f.v6:
		return syscall.ENOPROTOOPT
	case opt == IPV6_MULTICAST_ALL:
		return f.udp.SetMulticastAll(true, value != 0) // any value, as Linux's
	case opt == IPV6_MULTICAST_HOPS:
		return f.udp.SetMulticastHops(value)
	case opt == IPV6_MULTICAST_IF:
		return f.udp.SetMulticastInterface6(value)
	case value != 0 && value != 1:
		return syscall.EINVAL
	}
	return f.udp.SetMulticastLoop6(value == 1)
}

// getMcastIntLocked reads an option setMcastIntLocked sets.
func (f *FD) getMcastIntLocked(level, opt int) (int, error) {
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	switch {
	case f.udp == nil || level == IPPROTO_IPV6 && !f.v6:
		return 0, syscall.ENOPROTOOPT
	case level == IPPROTO_IP && opt == IP_MULTICAST_TTL:
		return f.udp.MulticastTTL(), nil
	case opt == IP_MULTICAST_ALL || opt == IPV6_MULTICAST_ALL:
		return b2i(f.udp.MulticastAll(level == IPPROTO_IPV6)), nil
	case level == IPPROTO_IP:
		return b2i(f.udp.MulticastLoop()), nil
	case opt == IPV6_MULTICAST_HOPS:
		return f.udp.MulticastHops(), nil
	case opt == IPV6_MULTICAST_IF:
		return f.udp.MulticastInterface6(), nil
	}
	return b2i(f.udp.MulticastLoop6()), nil
}

// mreqn is an ip_mreqn as Linux reads it from an option of any accepted
// length: what the caller did not pass is zero.
type mreqn struct {
	group, addr netip.Addr
	ifindex     int
}

// parseMreqn reads b as Linux's do_ip_setsockopt does: at least
// sizeofIPMreqn octets an ip_mreqn; else at least sizeofIPMreq an ip_mreq
// (its interface address in imr_address); else, where inAddr allows
// (IP_MULTICAST_IF), at least an in_addr, the interface address. Shorter
// is EINVAL. The index is in host order (native endianness), as the C
// struct's int.
func parseMreqn(b []byte, inAddr bool) (mreqn, error) {
	var m mreqn
	switch {
	case len(b) >= sizeofIPMreqn:
		m.ifindex = int(int32(binary.NativeEndian.Uint32(b[8:12])))
		fallthrough
	case len(b) >= sizeofIPMreq:
		m.group = netip.AddrFrom4([4]byte(b[0:4]))
		m.addr = netip.AddrFrom4([4]byte(b[4:8]))
	case inAddr && len(b) >= sizeofInAddr:
		m.addr = netip.AddrFrom4([4]byte(b[0:4]))
	default:
		return mreqn{}, syscall.EINVAL
	}
	return m, nil
}

// SetsockoptBytes sets an option from its raw value, as setsockopt(2)
// passes it. Supported, on a UDP socket: IPPROTO_IP IP_ADD_MEMBERSHIP and
// IP_DROP_MEMBERSHIP (a struct ip_mreq or ip_mreqn, told apart by length
// as Linux does) and IP_MULTICAST_IF (in_addr, ip_mreq or ip_mreqn);
// IPPROTO_IPV6 IPV6_JOIN_GROUP and IPV6_LEAVE_GROUP (a struct ipv6_mreq,
// on an AF_INET6 socket). Errors as Linux's: EINVAL for a value too short
// or a group that is not multicast, EADDRINUSE joining a group twice,
// EADDRNOTAVAIL dropping a group not joined or naming an interface
// address not ours for IP_MULTICAST_IF, ENODEV for an interface not ours
// in a membership, ENOBUFS past 20 memberships, EPROTO for a membership
// on a TCP socket.
func (f *FD) SetsockoptBytes(level, opt int, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	member := level == IPPROTO_IP && (opt == IP_ADD_MEMBERSHIP || opt == IP_DROP_MEMBERSHIP) ||
		level == IPPROTO_IPV6 && (opt == IPV6_JOIN_GROUP || opt == IPV6_LEAVE_GROUP)
	switch {
	case !member && (level != IPPROTO_IP || opt != IP_MULTICAST_IF):
		return syscall.ENOPROTOOPT
	case f.tcp != nil && member:
		return syscall.EPROTO // Linux: no memberships on a connection-oriented socket
	case f.udp == nil:
		return syscall.ENOPROTOOPT
	case level == IPPROTO_IPV6:
		return f.setMembership6Locked(opt, b)
	}
	m, err := parseMreqn(b, opt == IP_MULTICAST_IF)
	if err != nil {
		return err
	}
	switch opt {
	case IP_ADD_MEMBERSHIP:
		return f.udp.JoinGroup(m.group, m.addr, m.ifindex)
	case IP_DROP_MEMBERSHIP:
		return f.udp.LeaveGroup(m.group, m.addr, m.ifindex)
	default:
		return f.udp.SetMulticastInterface(m.addr, m.ifindex)
	}
}

// setMembership6Locked takes IPV6_JOIN_GROUP or IPV6_LEAVE_GROUP's struct
// ipv6_mreq (its index an int in host order): shorter is EINVAL
// (Linux's do_ipv6_setsockopt), on AF_INET ENOPROTOOPT.
func (f *FD) setMembership6Locked(opt int, b []byte) error {
	switch {
	case !f.v6:
		return syscall.ENOPROTOOPT
	case len(b) < sizeofIPv6Mreq:
		return syscall.EINVAL
	}
	group := netip.AddrFrom16([16]byte(b[0:16]))
	ifindex := int(int32(binary.NativeEndian.Uint32(b[16:20])))
	if opt == IPV6_JOIN_GROUP {
		return f.udp.JoinGroup6(group, ifindex)
	}
	return f.udp.LeaveGroup6(group, ifindex)
}

// SetsockoptIPv6Mreq sets IPV6_JOIN_GROUP or IPV6_LEAVE_GROUP from a
// struct ipv6_mreq, as syscall.SetsockoptIPv6Mreq.
func (f *FD) SetsockoptIPv6Mreq(level, opt int, m *syscall.IPv6Mreq) error {
	b := make([]byte, sizeofIPv6Mreq)
	copy(b[0:16], m.Multiaddr[:])
	binary.NativeEndian.PutUint32(b[16:20], m.Interface)
	return f.SetsockoptBytes(level, opt, b)
}

// SetsockoptIPMreq sets IP_ADD_MEMBERSHIP or IP_DROP_MEMBERSHIP from a
// struct ip_mreq, as syscall.SetsockoptIPMreq.
func (f *FD) SetsockoptIPMreq(level, opt int, m *syscall.IPMreq) error {
	b := make([]byte, sizeofIPMreq)
	copy(b[0:4], m.Multiaddr[:])
	copy(b[4:8], m.Interface[:])
	return f.SetsockoptBytes(level, opt, b)
}

// SetsockoptIPMreqn sets IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP or
// IP_MULTICAST_IF from a struct ip_mreqn, as syscall.SetsockoptIPMreqn.
func (f *FD) SetsockoptIPMreqn(level, opt int, m *syscall.IPMreqn) error {
	b := make([]byte, sizeofIPMreqn)
	copy(b[0:4], m.Multiaddr[:])
	copy(b[4:8], m.Address[:])
	binary.NativeEndian.PutUint32(b[8:12], uint32(m.Ifindex))
	return f.SetsockoptBytes(level, opt, b)
}

// SetsockoptInet4Addr sets IP_MULTICAST_IF from an interface address, as
// syscall.SetsockoptInet4Addr.
func (f *FD) SetsockoptInet4Addr(level, opt int, a [4]byte) error {
	return f.SetsockoptBytes(level, opt, a[:])
}

// GetsockoptInet4Addr reads IP_MULTICAST_IF: the interface address set,
// 0.0.0.0 when none.
func (f *FD) GetsockoptInet4Addr(level, opt int) ([4]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return [4]byte{}, syscall.EBADF
	case level != IPPROTO_IP || opt != IP_MULTICAST_IF || f.udp == nil:
		return [4]byte{}, syscall.ENOPROTOOPT
	}
	return f.udp.MulticastInterface().As4(), nil
}

// ListenMulticastUDP opens a UDP socket on st that receives the datagrams
// sent to gaddr's group at its port, as net.ListenMulticastUDP: bound to
// the wildcard address at the port with SO_REUSEADDR (so several may share
// it), the group joined on the stack's link, multicast loopback off (Go's
// default for it). network is "udp", "udp4" (IPv4 groups) or "udp6" (IPv6
// groups; the socket is AF_INET6); a group of the other family is EINVAL.
// ifi, if not nil, must name the stack's link (Stack.LinkName), else
// ENODEV.
func ListenMulticastUDP(st *stack.Stack, network string, ifi *net.Interface, gaddr *net.UDPAddr) (*PacketConn, error) {
	opErr := func(err error) error {
		var a net.Addr
		if gaddr != nil {
			a = gaddr
		}
		return &net.OpError{Op: "listen", Net: network, Addr: a, Err: wrapErrno(err)}
	}
	if network != "udp" && network != "udp4" && network != "udp6" {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	if gaddr == nil || gaddr.IP == nil {
		return nil, opErr(errMissingAddress)
	}
	ga, ok := netip.AddrFromSlice(gaddr.IP)
	ga = ga.Unmap()
	v6 := ga.Is6()
	if !ok || !ga.IsMulticast() || v6 && network == "udp4" || !v6 && network == "udp6" {
		return nil, opErr(syscall.EINVAL)
	}
	if ifi != nil && ifi.Name != st.LinkName() {
		return nil, opErr(syscall.ENODEV)
	}
	domain, wild := AF_INET, netip.IPv4Unspecified()
	if v6 {
		domain, wild = AF_INET6, netip.IPv6Unspecified()
	}
	fd, err := Socket(st, domain, SOCK_DGRAM, 0)
	if err != nil {
		return nil, opErr(err)
	}
	fail := func(err error) (*PacketConn, error) {
		fd.Close()
		return nil, opErr(err)
	}
	if err := fd.SetsockoptInt(SOL_SOCKET, SO_REUSEADDR, 1); err != nil {
		return fail(err)
	}
	if err := fd.Bind(netip.AddrPortFrom(wild, uint16(gaddr.Port))); err != nil {
		return fail(err)
	}
	if v6 {
		err = fd.SetsockoptIPv6Mreq(IPPROTO_IPV6, IPV6_JOIN_GROUP, &syscall.IPv6Mreq{Multiaddr: ga.As16(), Interface: stack.LinkIndex})
		if err == nil {
			err = fd.SetsockoptInt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0)
		}
	} else {
		err = fd.SetsockoptIPMreqn(IPPROTO_IP, IP_ADD_MEMBERSHIP, &syscall.IPMreqn{Multiaddr: ga.As4(), Ifindex: stack.LinkIndex})
		if err == nil {
			err = fd.SetsockoptInt(IPPROTO_IP, IP_MULTICAST_LOOP, 0)
		}
	}
	if err != nil {
		return fail(err)
	}
	la, _ := fd.Getsockname()
	return &PacketConn{fd: fd, local: net.UDPAddrFromAddrPort(la), net: network}, nil
}

// JoinGroup joins group (a *net.UDPAddr or *net.IPAddr, IPv4 or IPv6) on
// ifi (nil or the stack's link, else ENODEV), as golang.org/x/net's
// ipv4.PacketConn.JoinGroup and ipv6.PacketConn.JoinGroup: with
// IP_ADD_MEMBERSHIP or IPV6_JOIN_GROUP. A dual-stack socket may join
// groups of both families (an IPv6 one needs an AF_INET6 socket).
func (c *PacketConn) JoinGroup(ifi *net.Interface, group net.Addr) error {
	return c.membership("join", ifi, group, IP_ADD_MEMBERSHIP, IPV6_JOIN_GROUP)
}

// LeaveGroup leaves a group JoinGroup joined (EADDRNOTAVAIL for another).
func (c *PacketConn) LeaveGroup(ifi *net.Interface, group net.Addr) error {
	return c.membership("leave", ifi, group, IP_DROP_MEMBERSHIP, IPV6_LEAVE_GROUP)
}

// membership sets the IPv4 option opt4 or the IPv6 one opt6 for group.
func (c *PacketConn) membership(op string, ifi *net.Interface, group net.Addr, opt4, opt6 int) error {
	var ip net.IP
	switch a := group.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	}
	g, ok := netip.AddrFromSlice(ip)
	g = g.Unmap()
	var err error
	switch {
	case !ok:
		err = errMissingAddress
	case ifi != nil && ifi.Name != c.fd.st.LinkName():
		err = syscall.ENODEV
	case g.Is4():
		err = c.fd.SetsockoptIPMreqn(IPPROTO_IP, opt4, &syscall.IPMreqn{Multiaddr: g.As4(), Ifindex: stack.LinkIndex})
	default:
		err = c.fd.SetsockoptIPv6Mreq(IPPROTO_IPV6, opt6, &syscall.IPv6Mreq{Multiaddr: g.As16(), Interface: stack.LinkIndex})
	}
	if err != nil {
		return c.opError(op, group, err)
	}
	return nil
}
