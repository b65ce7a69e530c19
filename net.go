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
// ICMPv6 to an IPv6 address, see dialPing). A host name is looked up with
// the built-in resolver: IPv4 addresses for "tcp4" and "udp4", IPv6 ones
// for "tcp6" and "udp6", both for "tcp" and "udp", ordered by RFC 6724 §6
// against the stack's own addresses (IPv6 first when the stack has a
// global IPv6 address, IPv4 first when it has only a link-local one or the
// name's IPv6 addresses are ULAs). The addresses of the first one's family
// are tried in order until one connects, each with an equal share of
// ctx's deadline (at least 2 s); when the name has both families, the
// other family's start alongside after 300 ms or as soon as the first
// family's have all failed (RFC 8305 §5, as net.Dialer's FallbackDelay),
// and the first connection made wins. The error is then the first
// address's. ctx bounds the lookup and the handshakes.
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
	primaries, fallbacks := partitionByFamily(addrs)
	return dialParallel(ctx, primaries, fallbacks, fallbackDelay, func(ctx context.Context, a netip.Addr) (net.Conn, error) {
		return n.dialAddr(ctx, network, net.JoinHostPort(a.String(), port))
	})
}

// fallbackDelay is how long the preferred family's addresses are tried
// alone before the other family's join them: RFC 8305 §5's Connection
// Attempt Delay (250 ms recommended) as Go's net.Dialer sets it by default
// (FallbackDelay, 300 ms).
const fallbackDelay = 300 * time.Millisecond

// dialOne connects to one address; dialSerial and dialParallel take it.
type dialOne func(ctx context.Context, a netip.Addr) (net.Conn, error)

// partitionByFamily splits sorted addresses into those of the first one's
// family, in order, and the others (RFC 8305 §4 takes the preferred
// family's first, then alternates; as Go's net, the families are raced as
// two serial lists instead).
func partitionByFamily(addrs []netip.Addr) (primaries, fallbacks []netip.Addr) {
	for _, a := range addrs {
		if len(primaries) == 0 || a.Unmap().Is4() == primaries[0].Unmap().Is4() {
			primaries = append(primaries, a)
		} else {
			fallbacks = append(fallbacks, a)
		}
	}
	return primaries, fallbacks
}

// dialSerial tries addrs in order until one connects, each with its share
// of ctx's deadline; the error is the first address's.
func dialSerial(ctx context.Context, addrs []netip.Addr, dial dialOne) (net.Conn, error) {
	var first error
	for i, a := range addrs {
		actx, cancel := partialContext(ctx, len(addrs)-i)
		c, err := dial(actx, a)
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

// dialParallel races dialSerial over primaries against dialSerial over
// fallbacks started delay later, or at once when every primary has
// failed (RFC 8305 §5, Go's net.dialParallel): the first connection wins,
// the other attempt is cancelled and a connection it makes anyway is
// closed. When both fail, the error is the primaries'.
func dialParallel(ctx context.Context, primaries, fallbacks []netip.Addr, delay time.Duration, dial dialOne) (net.Conn, error) {
	if len(fallbacks) == 0 {
		return dialSerial(ctx, primaries, dial)
	}
	type result struct {
		c       net.Conn
		err     error
		primary bool
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	returned := make(chan struct{})
	defer close(returned)
	results := make(chan result)
	race := func(addrs []netip.Addr, primary bool) {
		go func() {
			c, err := dialSerial(ctx, addrs, dial)
			select {
			case results <- result{c, err, primary}:
			case <-returned:
				if c != nil {
					c.Close() // the other family won
				}
			}
		}()
	}
	race(primaries, true)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var primaryErr, fallbackErr error
	fallbackStarted := false
	for {
		select {
		case <-timer.C:
			if !fallbackStarted {
				fallbackStarted = true
				race(fallbacks, false)
			}
		case r := <-results:
			if r.err == nil {
				return r.c, nil
			}
			if r.primary {
				primaryErr = r.err
			} else {
				fallbackErr = r.err
			}
			if primaryErr != nil && fallbackErr != nil {
				return nil, primaryErr
			}
			if r.primary && !fallbackStarted {
				fallbackStarted = true
				race(fallbacks, false)
			}
		}
	}
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
// family of an IP literal; for a name, the first in RFC 6724 order, as
// "tcp" tries first): a ping socket to
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

// ListenMulticastUDP opens a UDP socket that receives the datagrams sent
// to the group gaddr at its port, as net.ListenMulticastUDP (see
// socket.ListenMulticastUDP): network "udp", "udp4" or "udp6"; ifi nil or
// the stack's link. It joins the group, which the stack reports with IGMP
// or MLD, and leaves it at Close.
func (n *Net) ListenMulticastUDP(network string, ifi *net.Interface, gaddr *net.UDPAddr) (net.PacketConn, error) {
	c, err := socket.ListenMulticastUDP(n.st, network, ifi, gaddr)
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

// LookupHost returns host's addresses, as net.LookupHost: IPv4 and IPv6,
// in the order Dial tries them (RFC 6724 §6).
func (n *Net) LookupHost(host string) ([]string, error) {
	return n.LookupContextHost(context.Background(), host)
}

// LookupContextHost returns host's addresses, as
// net.Resolver.LookupHost (see LookupHost): an IP literal as is, otherwise from the
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
	return n.lookupFamily(ctx, "ip", host)
}

// ipNetwork is the lookup network for a dial network: IPv4 addresses for
// "tcp4", "udp4" and "ping4", IPv6 ones for "tcp6", "udp6" and "ping6",
// both otherwise (as Go's net).
func ipNetwork(network string) string {
	switch {
	case strings.HasSuffix(network, "4"):
		return "ip4"
	case strings.HasSuffix(network, "6"):
		return "ip6"
	}
	return "ip"
}

// lookupFamily is lookup for network "ip4", "ip6" or "ip"; the addresses
// of "ip" are in RFC 6724 §6 order for this stack.
func (n *Net) lookupFamily(ctx context.Context, network, host string) ([]netip.Addr, error) {
	addrs, err := n.lookupUnsorted(ctx, network, host)
	if err != nil {
		return nil, err
	}
	if network == "ip" {
		sortByRFC6724(addrs, n.sourceFor)
	}
	return addrs, nil
}

// sourceFor is the address the stack sends to dst from, the zero Addr
// when it has none: RFC 6724 §6's Source(D).
func (n *Net) sourceFor(dst netip.Addr) netip.Addr {
	if dst.Unmap().Is4() {
		return n.st.Addr()
	}
	return n.st.SourceAddr6(dst)
}

func (n *Net) lookupUnsorted(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if n.res != nil {
		return n.res.LookupNetIP(ctx, network, host)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	name := strings.TrimSuffix(host, ".")
	for h, addrs := range n.hosts {
		if strings.EqualFold(h, name) {
			var out []netip.Addr
			for _, a := range addrs {
				if v4 := a.Unmap().Is4(); v4 && network != "ip6" {
					out = append(out, a.Unmap())
				} else if !v4 && network != "ip4" {
					out = append(out, a)
				}
			}
			if len(out) > 0 {
				return out, nil
			}
		}
	}
	return nil, &net.DNSError{Err: "no DNS servers configured (Config.DNS) and not a static host", Name: host, IsNotFound: true}
}
