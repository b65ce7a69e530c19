package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
)

// A stack must not be brought up where it collides with what the network
// namespace already has: the kernel gives a TAP to one process only
// (TUNSETIFF fails with EBUSY for a second), and when two interfaces hold
// the same subnet the kernel routes all of it out of one of them, so the
// stack on the other sends and never hears back. `tapstack ping` and
// `tapstack get` with their default flags next to a running `tapstack up`
// hit both. Each clash is one line that names it and the flags that avoid
// it, computed from what the namespace holds.

// nsLink is a network interface of the namespace and its IPv4 addresses.
type nsLink struct {
	name  string
	tap   bool // a TAP (not a TUN, not another kind of link)
	tun   bool // a TUN
	addrs []netip.Prefix
}

// nsState is what the namespace holds, as the clash checks need it.
type nsState struct {
	links      []nsLink
	forwarding bool // net.ipv4.ip_forward: the host routes between its interfaces
}

// readNamespace lists the interfaces of the calling thread's namespace.
func readNamespace() (nsState, error) {
	var ns nsState
	links, err := netlink.LinkList()
	if err != nil {
		return ns, err
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return ns, err
	}
	byIndex := map[int]int{}
	for _, l := range links {
		t, ok := l.(*netlink.Tuntap)
		byIndex[l.Attrs().Index] = len(ns.links)
		ns.links = append(ns.links, nsLink{name: l.Attrs().Name, tap: ok && t.Mode == netlink.TUNTAP_MODE_TAP,
			tun: ok && t.Mode == netlink.TUNTAP_MODE_TUN})
	}
	for _, a := range addrs {
		i, ok := byIndex[a.LinkIndex]
		ip, ok4 := netip.AddrFromSlice(a.IP.To4())
		if !ok || !ok4 {
			continue
		}
		bits, _ := a.Mask.Size()
		ns.links[i].addrs = append(ns.links[i].addrs, netip.PrefixFrom(ip, bits))
	}
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	ns.forwarding = strings.TrimSpace(string(b)) == "1"
	return ns, nil
}

// checkClash refuses a TAP (TUN) name held by another kind of interface and a
// host-side subnet that another interface already has an address in.
// target is the address the command will reach, if it knows one.
func (ns nsState) checkClash(l *linkFlags, p parsed, target netip.Addr) error {
	name, kind := l.device()
	for _, k := range ns.links {
		if k.name == name {
			if (kind == "TAP" && !k.tap) || (kind == "TUN" && !k.tun) {
				return fmt.Errorf("--%s %s: an interface of that name exists and is not a %s; pass %s", strings.ToLower(kind), name, kind, ns.freeFlags(l, p, true, target))
			}
			continue // ours to attach to (a persistent TAP or TUN), its addresses too
		}
		for _, a := range k.addrs {
			// (No --host-addr: the kernel side is the user's, and the
			// invalid prefix contains nothing.)
			if p.hostAddr.Masked().Contains(a.Addr()) {
				return fmt.Errorf("%v is already on %s (%v%s), and with two interfaces in one subnet the kernel answers through one of them only; pass %s",
					p.hostAddr.Masked(), k.name, a, daemonHint(k), ns.freeFlags(l, p, false, target))
			}
		}
	}
	return nil
}

// busy is the error for a TAP (TUN) another process holds.
func (ns nsState) busy(l *linkFlags, p parsed, target netip.Addr) error {
	name, kind := l.device()
	return fmt.Errorf("%s %s is in use by another process (a running tapstack up?); pass %s", kind, name, ns.freeFlags(l, p, true, target))
}

func daemonHint(k nsLink) string {
	switch {
	case k.tap:
		return ", a TAP: a running tapstack up?"
	case k.tun:
		return ", a TUN: a running tapstack up --tun?"
	}
	return ""
}

// freeFlags are the flags that avoid every clash: a TAP (TUN) name no
// interface has (if newTap), and, if an interface has an address in the host side's
// subnet, that subnet moved to the next one no interface has an address
// in, the addresses keeping their host parts
// (10.0.0.2/24 and 10.0.0.1/24 become 10.0.1.2/24 and 10.0.1.1/24). When
// target lies in a subnet the host has and is not the host's own address,
// the stack will reach it through the host: it says so if the host does
// not forward.
func (ns nsState) freeFlags(l *linkFlags, p parsed, newTap bool, target netip.Addr) string {
	var flags []string
	if newTap {
		dev, kind := l.device()
		kind = strings.ToLower(kind)
		for i := 0; ; i++ {
			if name := fmt.Sprintf("%s%d", kind, i); name != dev && !ns.has(name) {
				flags = append(flags, "--"+kind+" "+name)
				break
			}
		}
	}
	if p.hostAddr.IsValid() && ns.used(p.hostAddr.Masked()) {
		if addr, host, ok := ns.freeSubnet(p); ok {
			flags = append(flags, fmt.Sprintf("--addr %v --host-addr %v", addr, host))
		} else {
			flags = append(flags, "--addr and --host-addr in a subnet no interface has")
		}
	}
	s := strings.Join(flags, " ")
	if target.Is4() && !ns.forwarding && ns.routedByHost(target) { // ip_forward is IPv4's
		s += fmt.Sprintf(" (%v is then reached through the host, which must forward: sysctl -w net.ipv4.ip_forward=1)", target)
	}
	return s
}

// has reports whether an interface is named name.
func (ns nsState) has(name string) bool {
	for _, k := range ns.links {
		if k.name == name {
			return true
		}
	}
	return false
}

// used reports whether an interface has an address in subnet.
func (ns nsState) used(subnet netip.Prefix) bool {
	for _, k := range ns.links {
		for _, a := range k.addrs {
			if subnet.Contains(a.Addr()) {
				return true
			}
		}
	}
	return false
}

// routedByHost reports whether a is in the subnet of an interface without
// being one of the host's own addresses: from a stack in a subnet of its
// own, the host must forward to reach it.
func (ns nsState) routedByHost(a netip.Addr) bool {
	on := false
	for _, k := range ns.links {
		for _, x := range k.addrs {
			if x.Addr() == a {
				return false
			}
			on = on || x.Masked().Contains(a)
		}
	}
	return on
}

// freeSubnet moves p's two addresses, keeping their host parts, to the
// first following subnet of the host side's size that no interface uses,
// among unicast addresses.
func (ns nsState) freeSubnet(p parsed) (addr, host netip.Prefix, ok bool) {
	if p.dhcp {
		return addr, host, false // the lease decides the stack's address
	}
	size := uint32(1) << (32 - p.hostAddr.Bits())
	for k := uint32(1); k <= 256; k++ {
		a, ok1 := shift(p.addr.Addr(), k*size)
		h, ok2 := shift(p.hostAddr.Addr(), k*size)
		addr, host = netip.PrefixFrom(a, p.addr.Bits()), netip.PrefixFrom(h, p.hostAddr.Bits())
		if !ok1 || !ok2 || notAHost(h, host) != "" || notAHost(a, addr) != "" || h.As4()[0] >= 240 {
			return addr, host, false
		}
		if !ns.used(host.Masked()) {
			return addr, host, true
		}
	}
	return addr, host, false
}

// shift adds d to a, reporting false past 255.255.255.255.
func shift(a netip.Addr, d uint32) (netip.Addr, bool) {
	b := a.As4()
	v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	v += uint64(d)
	if v > 0xffffffff {
		return a, false
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// isBusy reports whether err from opening a TAP means another process
// holds it.
func isBusy(err error) bool { return errors.Is(err, syscall.EBUSY) }
