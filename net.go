package tapstack

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/tapstack/tapstack/dns"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// Net is a running stack and what a program does on it.
type Net struct {
	st    *stack.Stack
	res   *dns.Resolver           // nil without DNS servers
	hosts map[string][]netip.Addr // Config.Resolver.Hosts, consulted when res is nil
}

// Addr returns the stack's own address.
func (n *Net) Addr() netip.Addr { return n.st.Addr() }

// Stack returns the stack, for the BSD-like API (socket.Socket), its
// connection table, neighbours and routes.
func (n *Net) Stack() *stack.Stack { return n.st }

// Stats returns a snapshot of the stack's counters (the daemon's /stats).
func (n *Net) Stats() stack.Stats { return n.st.Stats() }

// Close stops the stack and closes its link: every connection, listener
// and socket opened on it is closed too (blocked calls return, later
// calls fail with net.ErrClosed), and the device is closed. Calling it
// again returns nil.
func (n *Net) Close() error { return n.st.Close() }

// Dial connects to address on network "tcp", "tcp4", "tcp6", "udp",
// "udp4", "udp6", "ping", "ping4" or "ping6", as net.Dial: the host is an
// IP address (an IPv6 link-local one may carry the zone of the stack's
// link, "[fe80::1%tap0]:80") or a name. See DialContext.
func (n *Net) Dial(network, address string) (net.Conn, error) {
	return n.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network "tcp", "tcp4", "tcp6" (a
// *socket.Conn), "udp", "udp4" or "udp6" (a connected *socket.UDPConn), as
// net.Dialer.DialContext, or "ping4", "ping6" or "ping" (a *PingConn to
// address, a host without a port, as wireguard-go's netstack takes it;
// ICMPv6 to an IPv6 address, see dialPing): a host name is looked up with the built-in
// resolver (IPv4 addresses, IPv6 ones for "tcp6" and "udp6"), and its
// addresses tried in order until one connects, each with
// an equal share of ctx's deadline (at least 2 s); the error is then the
// first address's. ctx bounds the lookup and the handshakes.
// It fits http.Transport.DialContext.
func (n *Net) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: network, Err: err} }
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	case "ping", "ping4", "ping6":
		return n.dialPing(ctx, network, address)
	default:
		return nil, opErr(net.UnknownNetworkError(network))
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opErr(err)
	}
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return n.dialAddr(ctx, network, address)
	}
	addrs, err := n.lookupFamily(ctx, ipNetwork(network), host)
	if err != nil {
		return nil, opErr(err)
	}
	var first error
	for i, a := range addrs {
		actx, cancel := partialContext(ctx, len(addrs)-i)
		c, err := n.dialAddr(actx, network, net.JoinHostPort(a.String(), port))
		cancel()
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// minDialShare is the least time an address gets when a deadline is
// shared among a name's addresses: Go's saneMinimum in net.partialDeadline.
const minDialShare = 2 * time.Second

// partialContext gives the next of remaining addresses its share of ctx's
// deadline, as net.Dialer does (dialSerial): an equal part of the time
// left, at least minDialShare, so one address that never answers leaves
// time for the next.
func partialContext(ctx context.Context, remaining int) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok || remaining <= 1 {
		return ctx, func() {}
	}
	left := time.Until(dl)
	share := left / time.Duration(remaining)
	if share < minDialShare {
		share = min(left, minDialShare)
	}
	return context.WithTimeout(ctx, share)
}

// dialPing is DialContext for "ping4", "ping6" (ICMPv6) and "ping" (the
// family of an IP literal, IPv4 for a name, as "tcp"): a ping socket to
// host's first address (an echo socket has no handshake to try the others
// with).
func (n *Net) dialPing(ctx context.Context, network, host string) (net.Conn, error) {
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: network, Err: err} }
	a, err := netip.ParseAddr(host)
	if err != nil {
		addrs, err := n.lookupFamily(ctx, ipNetwork(network), host)
		if err != nil {
			return nil, opErr(err)
		}
		a = addrs[0]
	}
	if v6 := !a.Unmap().Is4(); network == "ping4" && v6 || network == "ping6" && !v6 {
		return nil, opErr(&net.AddrError{Err: "no suitable address found", Addr: host})
	}
	c, err := n.DialPing(netip.Addr{}, a)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return c, nil
}

// dialAddr dials an address without names; the resolver dials with it.
func (n *Net) dialAddr(ctx context.Context, network, address string) (net.Conn, error) {
	return socket.DialContext(ctx, n.st, network, address)
}

// Listen opens a TCP listener, as net.Listen: network "tcp", "tcp4" or
// "tcp6", address "ip:port", ":port" or ":0" (the stack's own addresses
// are the only ones to listen on). As Go's net, "tcp" on a wildcard
// listens on [::] for IPv4 and IPv6 (IPv4 peers as ::ffff:a.b.c.d),
// "tcp4" on IPv4 only and "tcp6" on IPv6 only. Accept returns
// *socket.Conn.
func (n *Net) Listen(network, address string) (net.Listener, error) {
	l, err := socket.Listen(n.st, network, address)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// ListenPacket opens a UDP socket, as net.ListenPacket: network "udp",
// "udp4" or "udp6", address and families as for Listen.
func (n *Net) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := socket.ListenPacket(n.st, network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// PingConn is an ICMP echo socket; see socket.PingConn.
type PingConn = socket.PingConn

// PingAddr is a PingConn's address, on network "ping4" or "ping6".
type PingAddr = socket.PingAddr

// ListenPing opens an ICMP echo socket, as Linux's unprivileged ping
// socket: WriteTo sends echo requests to any address, ReadFrom returns the
// replies and ICMP errors about them. laddr may be zero (any) or the
// stack's address; :: or an IPv6 address of the stack opens an ICMPv6
// socket.
func (n *Net) ListenPing(laddr netip.Addr) (*PingConn, error) {
	return socket.ListenPing(n.st, laddr)
}

// DialPing opens an ICMP echo socket whose Write sends echo requests to
// raddr and whose Read returns only the messages from raddr (ICMPv6 for
// an IPv6 raddr). laddr is as for ListenPing.
func (n *Net) DialPing(laddr, raddr netip.Addr) (*PingConn, error) {
	return socket.DialPing(n.st, laddr, raddr)
}

// LookupHost returns host's IPv4 addresses, as net.LookupHost.
func (n *Net) LookupHost(host string) ([]string, error) {
	return n.LookupContextHost(context.Background(), host)
}

// LookupContextHost returns host's IPv4 addresses, as
// net.Resolver.LookupHost: an IP literal as is, otherwise from the
// resolver (static hosts, cache, then Config.DNS). Errors are
// *net.DNSError; IsNotFound is set for a name that does not exist.
func (n *Net) LookupContextHost(ctx context.Context, host string) ([]string, error) {
	addrs, err := n.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return s, nil
}

func (n *Net) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return n.lookupFamily(ctx, "ip4", host)
}

// ipNetwork is the lookup network for a dial network: IPv6 addresses for
// "tcp6" and "udp6", IPv4 otherwise.
// Partial: "tcp" and "udp" look up IPv4 addresses only (Go's net tries
// both families, RFC 8305).
func ipNetwork(network string) string {
	if strings.HasSuffix(network, "6") {
		return "ip6"
	}
	return "ip4"
}

// lookupFamily is lookup for network "ip4" or "ip6".
func (n *Net) lookupFamily(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if n.res != nil {
		return n.res.LookupNetIP(ctx, network, host)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	name := strings.TrimSuffix(host, ".")
	for h, addrs := range n.hosts {
		if strings.EqualFold(h, name) {
			var v4 []netip.Addr
			for _, a := range addrs {
				if network == "ip4" && a.Unmap().Is4() {
					v4 = append(v4, a.Unmap())
				} else if network == "ip6" && !a.Unmap().Is4() {
					v4 = append(v4, a)
				}
			}
			if len(v4) > 0 {
				return v4, nil
			}
		}
	}
	return nil, &net.DNSError{Err: "no DNS servers configured (Config.DNS) and not a static host", Name: host, IsNotFound: true}
}
