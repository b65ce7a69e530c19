package socket

import (
	"net"
	"net/netip"
)

// netFamily picks the socket for a net-style call on network ("tcp",
// "tcp4", "tcp6", and the same for "udp") with the address ap that
// resolveAddrPort returned (the zero Addr for an empty host), as Go's net
// does (favoriteAddrFamily, ipToSockaddr):
//   - "tcp4": AF_INET, an IPv4 address (or IPv4-mapped, taken as IPv4);
//   - "tcp6": AF_INET6 with IPV6_V6ONLY, an IPv6 address (not mapped);
//   - "tcp": listening on a wildcard (empty, 0.0.0.0 or ::), a dual-stack
//     AF_INET6 socket on :: taking IPv4 as mapped addresses; otherwise the
//     family of the address.
//
// An address of the wrong family is Go's "no suitable address found".
func netFamily(network string, ap netip.AddrPort, listen bool) (domain int, v6only bool, _ netip.AddrPort, _ error) {
	a := ap.Addr()
	noSuitable := func() (int, bool, netip.AddrPort, error) {
		return 0, false, netip.AddrPort{}, &net.AddrError{Err: "no suitable address found", Addr: a.String()}
	}
	switch network[len(network)-1] {
	case '4':
		switch {
		case !a.IsValid():
			a = netip.IPv4Unspecified()
		case a.Unmap().Is4():
			a = a.Unmap()
		default:
			return noSuitable()
		}
		return AF_INET, false, netip.AddrPortFrom(a, ap.Port()), nil
	case '6':
		switch {
		case !a.IsValid():
			a = netip.IPv6Unspecified()
		case a.Is4() || a.Is4In6():
			return noSuitable()
		}
		return AF_INET6, true, netip.AddrPortFrom(a, ap.Port()), nil
	}
	if listen && (!a.IsValid() || a.IsUnspecified()) {
		return AF_INET6, false, netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port()), nil
	}
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	if a.Unmap().Is4() {
		return AF_INET, false, netip.AddrPortFrom(a.Unmap(), ap.Port()), nil
	}
	return AF_INET6, false, netip.AddrPortFrom(a, ap.Port()), nil
}

// isNetwork reports whether network is base ("tcp" or "udp") or its "4"
// or "6" form.
func isNetwork(network, base string) bool {
	return network == base || network == base+"4" || network == base+"6"
}

// newNetSocket opens the socket netFamily chose, with IPV6_V6ONLY set as
// it says.
func newNetSocket(fdOpen func(domain int) (*FD, error), domain int, v6only bool) (*FD, error) {
	fd, err := fdOpen(domain)
	if err != nil {
		return nil, err
	}
	if v6only {
		if err := fd.SetsockoptInt(IPPROTO_IPV6, IPV6_V6ONLY, 1); err != nil {
			fd.Close()
			return nil, err
		}
	}
	return fd, nil
}

// zoned gives an IPv6 link-local address the zone of the stack's link, as
// Go's net reports link-local peers with their interface.
func zoned(ap netip.AddrPort, link string) netip.AddrPort {
	if a := ap.Addr(); a.Is6() && a.IsLinkLocalUnicast() && a.Zone() == "" && link != "" {
		return netip.AddrPortFrom(a.WithZone(link), ap.Port())
	}
	return ap
}
