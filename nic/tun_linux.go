package nic

import "net/netip"

// MaxTUNMTU is the largest MTU a TUN takes: the tun driver sets its max_mtu
// to 65535 less a hard_header_len that is 0 for a TUN (drivers/net/tun.c,
// tun_net_init and MAX_MTU - dev->hard_header_len). It is also IPv4's
// largest datagram (RFC 791 §3.1, Total Length).
const MaxTUNMTU = 65535

// TUNConfig configures OpenTUN.
type TUNConfig struct {
	// Name of the TUN device, at most 15 bytes. It is created if absent and
	// attached to if it exists (a persistent TUN made with `ip tuntap add
	// mode tun` stays persistent). Empty: the kernel picks tunN.
	Name string
	MTU  int // default 1500; set on the kernel side with netlink
	// HostAddr, if valid, is given to the kernel side of the TUN (replacing
	// an equal address); invalid leaves the kernel side's addresses alone.
	// The kernel routes HostAddr's subnet into the TUN, as for a TAP.
	HostAddr netip.Prefix
}

// TUN is a Linux TUN device opened with IFF_TUN|IFF_NO_PI: the kernel sees a
// point-to-point network interface with no link-layer address, and each Read
// or Write is one IP packet, with no Ethernet header and no packet
// information prefix (Documentation/networking/tuntap.rst). Its Info says
// Link LinkIP, MAC zero, MaxFrame = MTU. The kernel takes a packet whose
// version nibble is 4 or 6 and refuses any other (tun_get_user: EINVAL).
//
// It is opened, owned, closed and used as a TAP is (see TAP), from the same
// code: OpenTUN creates or attaches to the TUN; without CAP_NET_ADMIN it can
// attach to a TUN made for this user (`ip tuntap add mode tun user U name
// tun0`) and leaves its kernel side to that TUN's owner. Concurrency is as
// for Device; HostConfigured, LinkUp and Stats may be called at any time.
type TUN struct {
	tunFile
}

// OpenTUN opens (creating it if needed) the TUN device cfg.Name in the
// calling thread's network namespace, as OpenTAP opens a TAP: with
// CAP_NET_ADMIN it sets the MTU, brings the link up and gives it
// cfg.HostAddr; without, it attaches to a TUN that belongs to this user or
// one of its groups and changes nothing (Info().MTU is the link's own,
// HostConfigured reports false). Errors wrap ErrNoTUN, ErrTUNDenied,
// ErrNotPermitted or ErrNotOwner when it is one of those, and the errno.
func OpenTUN(cfg TUNConfig) (*TUN, error) {
	t := &TUN{}
	if err := t.open(modeTUN, cfg.Name, cfg.MTU, cfg.HostAddr, Info{Batch: tapBatch}, OffloadOff); err != nil {
		return nil, err
	}
	return t, nil
}
