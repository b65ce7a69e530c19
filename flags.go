package tapstack

import (
	"flag"
	"net/netip"
)

// RegisterFlags sets c to the daemon's defaults for a TAP (tap0,
// 10.0.0.2/24, the kernel side 10.0.0.1/24 and the gateway there, MTU
// 1500) and registers the daemon's link flags on fs to change them:
// --tap, --addr, --host-addr ("" leaves the kernel side alone), --gateway
// ("": host-addr's IP) and --mtu. After fs.Parse, New(*c) brings the stack
// up as `tapstack up` would.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Link = TAP
	fs.StringVar(&c.Name, "tap", DefaultTAPName, "TAP device name, created if absent")
	fs.TextVar(&c.Addr, "addr", netip.MustParsePrefix("10.0.0.2/24"), "the stack's own address")
	fs.TextVar(&c.HostAddr, "host-addr", netip.MustParsePrefix("10.0.0.1/24"), `address for the kernel side of the TAP ("": leave it alone)`)
	fs.TextVar(&c.Gateway, "gateway", netip.Addr{}, "default route (default: host-addr's IP)")
	fs.IntVar(&c.MTU, "mtu", DefaultMTU, "link MTU")
}
