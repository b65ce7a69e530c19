package tapstack

import (
	"flag"
	"fmt"
	"net/netip"
)

// RegisterFlags sets c to the daemon's defaults for a TAP (tap0,
// 10.0.0.2/24, the kernel side 10.0.0.1/24 and the gateway there, MTU
// 1500) and registers the daemon's link flags on fs to change them:
// --tap, --tun (a TUN instead of the TAP), --addr, --host-addr (""
// leaves the kernel side alone), --gateway ("": host-addr's IP), --mtu,
// and --addr6 and --host-addr6. After fs.Parse, New(*c) brings the stack
// up as `tapstack up` would, with one difference: --addr6 and
// --host-addr6 default to none here (the daemon's are fd00::2/64 and
// fd00::1/64), since on a kernel with IPv6 turned off New fails when
// asked to give the kernel side an IPv6 address, where the daemon only
// warns; the link-local address is there either way.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Link = TAP
	c.Addr = netip.MustParsePrefix("10.0.0.2/24")
	c.HostAddr = netip.MustParsePrefix("10.0.0.1/24")
	c.Gateway = netip.Addr{}
	c.Name = DefaultTAPName
	fs.Var(linkFlag{c, TAP}, "tap", "TAP device `name`, created if absent")
	fs.Var(linkFlag{c, TUN}, "tun", "run on the TUN device `name` instead of a TAP (IP packets: no Ethernet, no ARP), created if absent")
	fs.Var(prefixFlag{&c.Addr, false}, "addr", "the stack's own `address/length`")
	fs.Var(prefixFlag{&c.HostAddr, true}, "host-addr", "`address/length` for the kernel side of the TAP or TUN (\"\": leave it alone)")
	fs.Var(addrFlag{&c.Gateway}, "gateway", "default route, an `address` (default: host-addr's IP)")
	fs.IntVar(&c.MTU, "mtu", DefaultMTU, "link MTU")
	c.Addr6, c.HostAddr6 = netip.Prefix{}, netip.Prefix{}
	fs.Var(prefix6Flag{&c.Addr6}, "addr6", "the stack's static IPv6 `address/length`, such as fd00::2/64 (default none: link-local only)")
	fs.Var(prefix6Flag{&c.HostAddr6}, "host-addr6", "IPv6 `address/length` for the kernel side, such as fd00::1/64 (default none: leave it alone)")
}

// prefix6Flag is a flag for an optional IPv6 address with its prefix
// length: "" means none.
type prefix6Flag struct{ p *netip.Prefix }

func (f prefix6Flag) String() string {
	if f.p == nil || !f.p.IsValid() {
		return ""
	}
	return f.p.String()
}

func (f prefix6Flag) Set(s string) error {
	if s == "" {
		*f.p = netip.Prefix{}
		return nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return fmt.Errorf("want an IPv6 address with its prefix length, such as fd00::2/64")
	}
	*f.p = p
	return nil
}

// linkFlag names the device of one kind: --tun wins over --tap, in
// whatever order they come, as the daemon's.
type linkFlag struct {
	c    *Config
	kind Link
}

func (f linkFlag) String() string {
	if f.c == nil || f.c.Link != f.kind {
		return ""
	}
	return f.c.Name
}

func (f linkFlag) Set(s string) error {
	switch {
	case f.kind == TUN && s == "": // none: the TAP
	case f.kind == TUN:
		f.c.Link, f.c.Name = TUN, s
	case f.c.Link != TUN:
		f.c.Name = s
	}
	return nil
}

// prefixFlag is a flag for an address with its prefix length; orNone lets
// "" mean none.
type prefixFlag struct {
	p      *netip.Prefix
	orNone bool
}

func (f prefixFlag) String() string {
	if f.p == nil || !f.p.IsValid() {
		return ""
	}
	return f.p.String()
}

func (f prefixFlag) Set(s string) error {
	if s == "" && f.orNone {
		*f.p = netip.Prefix{}
		return nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("want an IPv4 address with its prefix length, such as 10.0.0.2/24")
	}
	*f.p = p
	return nil
}

// addrFlag is a flag for an optional IPv4 address: "" means none.
type addrFlag struct{ a *netip.Addr }

func (f addrFlag) String() string {
	if f.a == nil || !f.a.IsValid() {
		return ""
	}
	return f.a.String()
}

func (f addrFlag) Set(s string) error {
	if s == "" {
		*f.a = netip.Addr{}
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return fmt.Errorf("want an IPv4 address, such as 10.0.0.1")
	}
	*f.a = a
	return nil
}
