// Package tapstack brings a userspace TCP/IP stack up in one call and
// offers what a Go program needs on it: Dial and DialContext (TCP and UDP,
// by host name or address), Listen, ListenPacket, DialPing and ListenPing,
// LookupHost, Stats and Close, as wireguard-go's tun/netstack does over
// gVisor.
//
//	n, err := tapstack.New(tapstack.Config{
//		Addr:     netip.MustParsePrefix("10.0.0.2/24"),
//		HostAddr: netip.MustParsePrefix("10.0.0.1/24"), // the kernel side of tap0; also the gateway
//		DNS:      []netip.Addr{netip.MustParseAddr("10.0.0.1")},
//	})
//	client := &http.Client{Transport: &http.Transport{DialContext: n.DialContext}}
//	l, err := n.Listen("tcp", ":80") // http.Serve(l, handler)
//
// On an Ethernet link the stack also speaks IPv6 from its link-local
// address (Stack.LinkLocal): "tcp6" and "udp6" reach IPv6 peers
// ("[fe80::1%tap0]:80"), and as with Go's net, Listen("tcp", ":80") is
// dual-stack, seeing IPv4 peers as ::ffff:a.b.c.d.
//
// The link is a TAP device (Ethernet) or a TUN device (IP packets, no ARP),
// which need CAP_NET_ADMIN unless created beforehand for this user, or an
// in-memory link that needs no privilege: NewPair joins two stacks, and
// Link Memory takes any nic.Device, such as one end of nic.NewPipe whose
// other end the caller plumbs.
//
// Names resolve with package dns's stub resolver, asking Config.DNS over
// this same stack. Errors are those of package socket: *net.OpError
// wrapping the errno a Linux program would see
// (errors.Is(err, syscall.ECONNREFUSED)), net.ErrClosed after Close, and
// *net.DNSError from lookups. For the BSD-like API (socket.Socket) and
// everything else the stack offers, Stack returns it.
//
// Every method of Net is safe for concurrent use.
package tapstack

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/tapstack/tapstack/dns"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// Link is the kind of link a stack runs on.
type Link int

const (
	// TAP is a TAP device (Ethernet frames from the kernel), Config.Name,
	// created if absent (that needs CAP_NET_ADMIN; a TAP made beforehand
	// with `ip tuntap add mode tap user U` opens without it, and its
	// kernel side is then left as it is).
	TAP Link = iota
	// TUN is a TUN device (bare IP packets: no Ethernet, no ARP),
	// Config.Name, created if absent, with the same privileges as a TAP.
	TUN
	// Memory is an in-memory Ethernet link: Config.Device is the stack's
	// end of it. NewPair builds one between two stacks.
	Memory
)

func (l Link) String() string {
	switch l {
	case TAP:
		return "TAP"
	case TUN:
		return "TUN"
	case Memory:
		return "Memory"
	}
	return fmt.Sprintf("Link(%d)", int(l))
}

// Defaults, as the daemon's flags (README.md).
const (
	DefaultTAPName = "tap0"
	DefaultTUNName = "tun0"
	DefaultMTU     = 1500
	dnsPort        = 53 // RFC 1035 §4.2
)

// Config says what New brings up. The zero value of every field but Addr
// has a sensible default.
type Config struct {
	// Link is the kind of link: TAP (the zero value), TUN or Memory.
	Link Link
	// Name is the TAP or TUN device's name; default "tap0" or "tun0".
	Name string
	// Device is, for Link Memory, the stack's end of the link: any
	// nic.Device that carries Ethernet frames, typically one end of
	// nic.NewPipe. The Net owns it and closes it on Close.
	Device nic.Device

	// Addr is the stack's own address and its on-link prefix, such as
	// 10.0.0.2/24. The zero Prefix is no address yet: dhcp.Run on
	// Net.Stack() leases one (on a TAP or Memory link).
	Addr netip.Prefix
	// HostAddr, for a TAP or a TUN, is given to the kernel side of the
	// device with netlink (replacing an equal address); the zero Prefix leaves the
	// kernel side alone.
	HostAddr netip.Prefix
	// Addr6 is the stack's static IPv6 address and on-link prefix, such
	// as fd00::2/64, beside the link-local address every Ethernet link
	// gets. It is usable once duplicate address detection (RFC 4862
	// §5.4) found no other node holding it, about a second after New;
	// on a NewPair link, which holds only the pair, at once. The zero
	// Prefix is none (a router's advertisements may still configure one
	// by SLAAC).
	Addr6 netip.Prefix
	// HostAddr6, for a TAP or a TUN, is given to the kernel side of the
	// device with netlink (nic.SetHostAddr6), in Addr6's prefix so the
	// two reach each other on the link; the zero Prefix leaves the kernel
	// side alone.
	HostAddr6 netip.Prefix
	// Gateway is the default route's next hop. Zero: HostAddr's address
	// when HostAddr is set (as the daemon does), otherwise no default
	// route (only the on-link prefix is reachable).
	Gateway netip.Addr
	// DNS are the recursive servers names are asked of, on port 53, in
	// order. None: only IP literals and Resolver.Hosts resolve.
	DNS []netip.Addr
	// Resolver holds the resolver's other settings (search domains,
	// timeouts, attempts, static hosts, cache size); its Servers, if any,
	// are asked after DNS. See package dns.
	Resolver dns.Config
	// MTU is the link MTU of a TAP, a TUN or a NewPair link; default 1500. A
	// Memory link's Device has its own (nic.PipeConfig.MTU).
	MTU int
	// Pcap, if set, receives every frame in and out in pcap format
	// (tcpdump -r, Wireshark), as it crossed the device: TSO and GRO
	// super-frames whole. The Net does not close it.
	Pcap io.Writer
	// PcapSegmented records them in Pcap as the wire would carry them
	// instead (nic.PcapOptions.Segmented): MSS-sized frames, checksums
	// complete. The daemon's --pcap-segmented.
	PcapSegmented bool

	// TCP is the default configuration of every TCP connection (MSS,
	// buffers, timers, congestion control, ECN...); see tcp.Config.
	TCP tcp.Config
	// MaxConnections bounds the TCP connection table, TIME-WAIT
	// included; default 131072.
	MaxConnections int
	// TCPMemoryLimit bounds the TCP buffer bytes of all connections
	// together (stack.Config.TCPMemoryLimit); default 512 MiB, negative
	// for no bound.
	TCPMemoryLimit int
	// noDAD turns duplicate address detection off: NewPair's link
	// holds the two stacks only, whose addresses it checked.
	noDAD bool

	// Logger receives the stack's rare events (address conflicts, device
	// errors), and every drop and TCP state change when it is enabled at
	// debug level; default slog.Default().
	Logger *slog.Logger
}

// New brings a stack up on the link cfg describes, starts it, and returns
// it ready to dial and listen. A TAP or TUN is opened as nic.OpenTAP and
// nic.OpenTUN do: its errors say what is missing (/dev/net/tun, permission,
// CAP_NET_ADMIN, ownership of the device).
func New(cfg Config) (*Net, error) {
	if cfg.HostAddr6.IsValid() && cfg.Link == Memory {
		return nil, fmt.Errorf("%w: HostAddr6 is for a TAP or a TUN's kernel side; a Memory link has none", stack.ErrBadConfig)
	}
	if cfg.PcapSegmented && cfg.Pcap == nil {
		return nil, fmt.Errorf("%w: PcapSegmented says how Pcap records; set Pcap too", stack.ErrBadConfig)
	}
	dev, err := openLink(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.HostAddr6.IsValid() {
		if err := nic.SetHostAddr6(dev.Info().Name, cfg.HostAddr6); err != nil {
			dev.Close()
			return nil, fmt.Errorf("tapstack: HostAddr6: %w", err)
		}
	}
	return start(dev, cfg)
}

// NewPair brings up two stacks joined by an in-memory Ethernet link, a
// lossless nic.Pipe: what a sends, b receives. It needs no privilege, so
// tests and examples run anywhere. cfgA.Link and cfgB.Link are ignored and
// their Device must be nil; the link's MTU is cfgA.MTU (or cfgB.MTU when
// cfgA's is zero); both must agree if both are set. Their Addr6, if set,
// must differ, and are usable at once (no duplicate address detection on
// a link that holds the pair alone). Closing either Net
// takes the link down; close both.
func NewPair(cfgA, cfgB Config) (a, b *Net, err error) {
	if cfgA.Device != nil || cfgB.Device != nil {
		return nil, nil, fmt.Errorf("%w: NewPair makes the link: leave Config.Device nil", stack.ErrBadConfig)
	}
	mtu := cmp.Or(cfgA.MTU, cfgB.MTU)
	if cfgB.MTU != 0 && cfgB.MTU != mtu {
		return nil, nil, fmt.Errorf("%w: the two ends' MTUs differ (%d, %d): a link has one MTU", stack.ErrBadConfig, cfgA.MTU, cfgB.MTU)
	}
	if mtu < 0 {
		return nil, nil, fmt.Errorf("%w: MTU %d is negative", stack.ErrBadConfig, mtu)
	}
	if cfgA.Addr6.IsValid() && cfgA.Addr6.Addr() == cfgB.Addr6.Addr() {
		return nil, nil, fmt.Errorf("%w: both ends have the IPv6 address %v", stack.ErrBadConfig, cfgA.Addr6.Addr())
	}
	pa, pb := nic.NewPipe(nic.PipeConfig{MTU: mtu})
	// The link holds the pair alone, their link-local addresses differ
	// (the Pipe gives each end its own MAC) and their Addr6 were just
	// compared: duplicate address detection has nothing to find.
	cfgA.Link, cfgA.Device, cfgA.MTU, cfgA.noDAD = Memory, pa, mtu, true
	cfgB.Link, cfgB.Device, cfgB.MTU, cfgB.noDAD = Memory, pb, mtu, true
	if a, err = New(cfgA); err != nil {
		pb.Close()
		return nil, nil, err
	}
	if b, err = New(cfgB); err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// openLink opens the device cfg.Link names.
func openLink(cfg Config) (nic.Device, error) {
	switch cfg.Link {
	case TAP, TUN:
		if cfg.Device != nil {
			return nil, fmt.Errorf("%w: Config.Device is for Link Memory; a %v is opened by Name", stack.ErrBadConfig, cfg.Link)
		}
		if cfg.Link == TUN {
			return nic.OpenTUN(nic.TUNConfig{Name: cmp.Or(cfg.Name, DefaultTUNName), MTU: cfg.MTU, HostAddr: cfg.HostAddr})
		}
		return nic.OpenTAP(nic.TAPConfig{Name: cmp.Or(cfg.Name, DefaultTAPName), MTU: cfg.MTU, HostAddr: cfg.HostAddr})
	case Memory:
		if cfg.Device == nil {
			return nil, fmt.Errorf("%w: Link Memory needs Config.Device (one end of nic.NewPipe), or use NewPair", stack.ErrBadConfig)
		}
		return cfg.Device, nil
	}
	return nil, fmt.Errorf("%w: unknown %v: use TAP, TUN or Memory", stack.ErrBadConfig, cfg.Link)
}

// start brings the stack up on dev, which it closes on failure.
func start(dev nic.Device, cfg Config) (*Net, error) {
	fail := func(err error) (*Net, error) {
		dev.Close()
		return nil, err
	}
	if cfg.Pcap != nil {
		p, err := nic.NewPcapWith(dev, cfg.Pcap, nic.PcapOptions{Segmented: cfg.PcapSegmented})
		if err != nil {
			return fail(fmt.Errorf("tapstack: pcap: %w", err))
		}
		dev = p
	}
	gw := cfg.Gateway
	if !gw.IsValid() && cfg.HostAddr.IsValid() {
		gw = cfg.HostAddr.Addr()
	}
	dad := 0 // the stack's default, one solicitation
	if cfg.noDAD {
		dad = -1
	}
	st, err := stack.New(dev, stack.Config{
		Addr:                   cfg.Addr,
		Addr6:                  cfg.Addr6,
		DupAddrDetectTransmits: dad,
		Gateway:                gw,
		TCP:                    cfg.TCP,
		MaxConnections:         cfg.MaxConnections,
		TCPMemoryLimit:         cfg.TCPMemoryLimit,
		Logger:                 cfg.Logger,
	})
	if err != nil {
		return fail(err)
	}
	n := &Net{st: st, hosts: cfg.Resolver.Hosts}
	rc := cfg.Resolver
	rc.Servers = nil
	for _, a := range cfg.DNS {
		rc.Servers = append(rc.Servers, netip.AddrPortFrom(a, dnsPort))
	}
	rc.Servers = append(rc.Servers, cfg.Resolver.Servers...)
	if len(rc.Servers) > 0 {
		if n.res, err = dns.New(rc, n.dialAddr); err != nil {
			st.Close()
			return nil, err
		}
	}
	st.Start()
	return n, nil
}
