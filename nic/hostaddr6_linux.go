package nic

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
)

// SetHostAddr6 gives the kernel side of the TAP or TUN name the IPv6
// address p with netlink (replacing an equal one), as OpenTAP and OpenTUN
// do for TAPConfig.HostAddr, after turning IPv6 on for that interface if
// the namespace had it off (net.ipv6.conf.NAME.disable_ipv6). On a TAP
// the kernel runs its own duplicate address detection on the address, a
// second or two before it answers on it.
func SetHostAddr6(name string, p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() {
		return fmt.Errorf("nic: %v is not an IPv6 address with its prefix length", p)
	}
	sysctl := "/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6"
	if b, err := os.ReadFile(sysctl); err == nil && strings.TrimSpace(string(b)) != "0" {
		if err := os.WriteFile(sysctl, []byte("0"), 0); err != nil {
			return fmt.Errorf("nic: IPv6 is off on %s and could not be turned on: %w", name, err)
		}
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("nic: %s: %w", name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("nic: the kernel refused %v on %s (is IPv6 disabled there? sysctl net.ipv6.conf.%s.disable_ipv6): %w", p, name, name, err)
	}
	return nil
}
