package main

import (
	"fmt"
	"net/netip"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
)

// tapMaxMTU is the kernel's bound on a TAP's MTU.
const tapMaxMTU = nic.MaxTAPMTU

// checkMTU refuses an MTU that IPv4 or the device (a TUN if tun, else a
// TAP) cannot have.
func checkMTU(mtu int, tun bool) error {
	maxMTU := tapMaxMTU
	if tun {
		maxMTU = nic.MaxTUNMTU
	}
	switch {
	case mtu < ipv4.MinMTU:
		return fmt.Errorf("--mtu %d: below IPv4's minimum of %d (RFC 791 §3.2); pass %d to %d", mtu, ipv4.MinMTU, ipv4.MinMTU, maxMTU)
	case mtu > maxMTU && tun:
		return fmt.Errorf("--mtu %d: above a TUN's maximum of %d (IPv4's largest datagram); pass %d to %d", mtu, maxMTU, ipv4.MinMTU, maxMTU)
	case mtu > maxMTU:
		return fmt.Errorf("--mtu %d: above a TAP's maximum of %d (65535 less the Ethernet header); pass %d to %d, or up to %d with --tun", mtu, maxMTU, ipv4.MinMTU, maxMTU, nic.MaxTUNMTU)
	}
	return nil
}

// parseHost parses the value of an address-with-prefix flag and checks
// that it can be a host's address on a link; nth is the host number
// suggested instead (2 for the stack, 1 for the host side).
func parseHost(flag, s string, nth int) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return p, fmt.Errorf("%s %q: want an IPv4 address with prefix length, like %v", flag, s, nthHost(netip.MustParsePrefix("10.0.0.0/24"), nth))
	}
	if p.Bits() == 0 {
		return p, fmt.Errorf("%s %v: a /0 prefix puts every address on the link; pass the link's prefix length, like %v/24", flag, p, p.Addr())
	}
	if why := notAHost(p.Addr(), p); why != "" {
		return p, fmt.Errorf("%s %v: %s; pass a host address, like %v", flag, p, why, suggestHost(p, nth))
	}
	return p, nil
}

// notAHost says why a cannot be a host's address on the link subnet (RFC
// 1122 §3.2.1.3 for the special forms, RFC 1112 §4 for multicast), or "".
// A /31 has no network or broadcast address (RFC 3021).
func notAHost(a netip.Addr, subnet netip.Prefix) string {
	switch {
	case a.IsUnspecified():
		return "the unspecified address 0.0.0.0 is no host's (RFC 1122 §3.2.1.3)"
	case a.As4()[0] == 0:
		return "addresses in 0.0.0.0/8 stand for a host on \"this network\" and are never sent (RFC 1122 §3.2.1.3)"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the limited broadcast address is no host's (RFC 1122 §3.2.1.3)"
	case a.IsLoopback():
		return "loopback addresses (127.0.0.0/8) never leave a host (RFC 1122 §3.2.1.3)"
	case a.IsMulticast():
		return "a multicast address names a group, not a host (RFC 1112 §4)"
	case subnet.Bits() < 31 && a == subnet.Masked().Addr():
		return fmt.Sprintf("that is the network address of %v (host part all zeros, RFC 1122 §3.2.1.3)", subnet.Masked())
	case subnet.Bits() < 31 && a == lastAddr(subnet):
		return fmt.Sprintf("that is the broadcast address of %v (host part all ones, RFC 1122 §3.2.1.3)", subnet.Masked())
	}
	return ""
}

// suggestHost is the nth host of p's subnet with p's prefix length, or of
// 10.0.0.0/24 when p's subnet has no usable host there (loopback,
// multicast, the reserved 240.0.0.0/4, a tiny prefix).
func suggestHost(p netip.Prefix, nth int) netip.Prefix {
	if s := nthHost(p, nth); notAHost(s.Addr(), s) == "" && s.Addr() != p.Addr() && s.Addr().As4()[0] < 240 {
		return s
	}
	return nthHost(netip.MustParsePrefix("10.0.0.0/24"), nth)
}

// nthHost is the address n past p's network address, with p's length.
func nthHost(p netip.Prefix, n int) netip.Prefix {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	if !p.Contains(a) {
		return p
	}
	return netip.PrefixFrom(a, p.Bits())
}

// lastAddr is p's highest address: the broadcast address for p shorter
// than /31.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// checkEnds refuses a stack and a host side that cannot reach each other:
// each must be inside the other's subnet, or one has no route to the other
// (RFC 1122 §3.3.1.1: a destination off the subnet goes to a gateway, and
// the only one on a TAP is the host side itself).
func checkEnds(addr, host netip.Prefix) error {
	switch {
	case addr.Addr() == host.Addr():
		return fmt.Errorf("--host-addr %v: the same address as --addr, and the two ends of the link must differ; pass --addr %v", host, otherHost(host))
	case !host.Contains(addr.Addr()):
		return fmt.Errorf("--addr %v is outside --host-addr %v's subnet %v, so the host has no route to it; pass addresses in one subnet, like --addr %v, or --host-addr \"\" to set up the kernel side yourself",
			addr, host, host.Masked(), otherHost(host))
	case !addr.Contains(host.Addr()):
		return fmt.Errorf("--host-addr %v is outside --addr %v's subnet, so the stack cannot reach the host; pass --addr %v",
			host, addr, netip.PrefixFrom(addr.Addr(), host.Bits()))
	}
	return nil
}

// otherHost is a host of p's subnet other than p's own address: the second
// or the first.
func otherHost(p netip.Prefix) netip.Prefix {
	if s := suggestHost(p, 2); s.Addr() != p.Addr() {
		return s
	}
	return suggestHost(p, 1)
}

// checkGateway refuses a default route the stack could never use: the
// gateway must be a unicast host on the link other than the stack (RFC
// 1122 §3.3.1.1: "the gateway ... MUST be on a connected network").
func checkGateway(gw netip.Addr, addr netip.Prefix) error {
	switch {
	case notAHost(gw, addr) != "":
		return fmt.Errorf("--gateway %v: %s; pass the router's address in %v, or leave --gateway out to route through --host-addr", gw, notAHost(gw, addr), addr.Masked())
	case !addr.Contains(gw):
		return fmt.Errorf("--gateway %v is not in --addr's subnet %v, and a gateway must be on the link (RFC 1122 §3.3.1.1); pass one in %v, or leave --gateway out to route through --host-addr", gw, addr.Masked(), addr.Masked())
	case gw == addr.Addr():
		return fmt.Errorf("--gateway %v is the stack's own address; pass the router's address, or leave --gateway out to route through --host-addr", gw)
	}
	return nil
}
