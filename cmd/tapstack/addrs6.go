package main

import (
	"fmt"
	"net/netip"

	"github.com/tapstack/tapstack/nic"
)

// IPv6 flags (issue 12): --addr6, the stack's static address, and
// --host-addr6, the kernel side's. They extend DESIGN.md's daemon
// contract; the stack also has its link-local address and any SLAAC
// address a router on the link gives it.

const (
	defaultAddr6     = "fd00::2/64"
	defaultHostAddr6 = "fd00::1/64"
)

// parseHost6 parses an IPv6 address-with-prefix flag: a unicast address
// that is neither link-local (the stack makes its own, RFC 4862 §5.3) nor
// special, with a prefix length of 1 to 128.
func parseHost6(flag, s, like string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return p, fmt.Errorf("%s %q: want an IPv6 address with prefix length, like %s, or \"\" for none", flag, s, like)
	}
	a := p.Addr()
	why := ""
	switch {
	case p.Bits() == 0:
		why = "a /0 prefix puts every address on the link"
	case a.IsUnspecified():
		why = ":: is no host's address (RFC 4291 §2.5.2)"
	case a.IsLoopback():
		why = "::1 never leaves a host (RFC 4291 §2.5.3)"
	case a.IsMulticast():
		why = "a multicast address names a group, not a host (RFC 4291 §2.7)"
	case a.IsLinkLocalUnicast():
		why = "link-local addresses are made from the MAC, one per interface (RFC 4862 §5.3)"
	}
	if why != "" {
		return p, fmt.Errorf("%s %v: %s; pass a global or unique-local address, like %s", flag, p, why, like)
	}
	return p, nil
}

// parse6 validates --addr6 and --host-addr6 into p.
func (l *linkFlags) parse6(p *parsed) error {
	var err error
	if l.addr6 != "" {
		if p.addr6, err = parseHost6("--addr6", l.addr6, defaultAddr6); err != nil {
			return err
		}
	}
	if l.hostAddr6 != "" {
		if p.hostAddr6, err = parseHost6("--host-addr6", l.hostAddr6, defaultHostAddr6); err != nil {
			return err
		}
	}
	if !p.addr6.IsValid() || !p.hostAddr6.IsValid() {
		return nil
	}
	switch {
	case p.addr6.Addr() == p.hostAddr6.Addr():
		return fmt.Errorf("--host-addr6 %v: the same address as --addr6, and the two ends of the link must differ; pass --addr6 %v, or --host-addr6 \"\" to set up the kernel side yourself",
			p.hostAddr6, netip.PrefixFrom(p.hostAddr6.Addr().Next(), p.hostAddr6.Bits()))
	case !p.hostAddr6.Masked().Contains(p.addr6.Addr()) || !p.addr6.Masked().Contains(p.hostAddr6.Addr()):
		return fmt.Errorf("--addr6 %v and --host-addr6 %v are not on one prefix, so neither end has a route to the other; pass addresses in one prefix, like --addr6 %s --host-addr6 %s",
			p.addr6, p.hostAddr6, defaultAddr6, defaultHostAddr6)
	}
	return nil
}

// configureHost6 gives the kernel side of the TAP its IPv6 address
// (--host-addr6) with nic.SetHostAddr6, as nic.OpenTAP does --host-addr.
func configureHost6(name string, p netip.Prefix) error {
	if err := nic.SetHostAddr6(name, p); err != nil {
		return fmt.Errorf("--host-addr6 %v: %v; pass --host-addr6 \"\" to leave the kernel side alone", p, err)
	}
	return nil
}
