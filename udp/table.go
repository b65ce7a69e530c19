package udp

import (
	"cmp"
	"net/netip"
	"slices"
	"syscall"

	"github.com/tapstack/tapstack/internal/ports"
)

// Table binds Endpoints to local addresses and demultiplexes arriving
// datagrams to them. It is keyed by local port; each port holds the
// endpoints bound to it in bind order.
//
// The stack owns the Table and calls it under the same lock as the
// Endpoints; it is not safe for concurrent use.
type Table struct {
	byPort map[uint16]*portEntry
	n      int
	picker *ports.Picker
}

// portEntry lists the endpoints bound to one port, oldest first.
type portEntry struct {
	eps []*Endpoint
}

// NewTable returns an empty Table with its own ephemeral port picker.
func NewTable() *Table {
	return &Table{byPort: make(map[uint16]*portEntry), picker: ports.NewPicker()}
}

// wildcard is ep's family's unspecified address: INADDR_ANY or
// in6addr_any.
func wildcard(ep *Endpoint) netip.Addr {
	if ep.v6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// normalize maps a user-supplied address to the form the table keys on.
// For an AF_INET endpoint an invalid (zero) Addr means INADDR_ANY, an
// IPv4-mapped IPv6 address is unmapped, and any other IPv6 address is
// refused (EAFNOSUPPORT). For an AF_INET6 one (SetV6) the zero Addr and
// 0.0.0.0 mean ::, an IPv4 or IPv4-mapped address is kept as IPv4 (EINVAL
// with IPV6_V6ONLY, as Linux's inet6_bind), and the zone is dropped.
func normalize(ep *Endpoint, a netip.Addr) (netip.Addr, error) {
	if !a.IsValid() {
		return wildcard(ep), nil
	}
	a = a.WithZone("")
	if ep.v6 {
		switch {
		case a == netip.IPv4Unspecified():
			return netip.IPv6Unspecified(), nil
		case a.Is4() || a.Is4In6():
			if ep.v6only {
				return netip.Addr{}, syscall.EINVAL
			}
			return a.Unmap(), nil
		}
		return a, nil
	}
	a = a.Unmap()
	if !a.Is4() {
		return netip.Addr{}, syscall.EAFNOSUPPORT
	}
	return a, nil
}

// conflicts reports whether binding addr for the families fams on this
// port, with SO_REUSEADDR set to reuse, clashes with an existing binding of
// a family in common: same address, or either side the wildcard, unless
// both set reuse (Linux udp_lib_lport_inuse; the connected state of the
// existing endpoints does not matter; an AF_INET endpoint and an
// IPV6_V6ONLY one share a port).
func (pe *portEntry) conflicts(addr netip.Addr, fams uint8, reuse bool) bool {
	if pe == nil {
		return false
	}
	for _, o := range pe.eps {
		a := o.local.Addr()
		if o.fams(a)&fams == 0 {
			continue
		}
		if a != addr && !a.IsUnspecified() && !addr.IsUnspecified() {
			continue
		}
		if reuse && o.reuse {
			continue
		}
		return true
	}
	return false
}

// Bind attaches ep to local and returns the address it is bound to.
//
// local's address may be 0.0.0.0 (or the zero Addr) for the wildcard; it is
// not checked against the stack's own addresses (the stack returns
// EADDRNOTAVAIL for a foreign one). Port 0 picks an ephemeral port with
// ports.Picker (RFC 6056 §3.3.1); an ephemeral pick never shares a port
// through SO_REUSEADDR.
//
// Errors:
//   - syscall.EINVAL: ep is already bound.
//   - syscall.EAFNOSUPPORT: local is an IPv6 address and ep is not SetV6.
//   - syscall.EINVAL: local is IPv4 and ep is SetV6 with IPV6_V6ONLY.
//   - syscall.EADDRINUSE: another endpoint holds the port on the same
//     address, or either address is the wildcard, and not both set reuse.
//   - syscall.EAGAIN: port 0 and every ephemeral port conflicts.
//
// With reuse (SO_REUSEADDR) on both sides several endpoints share an
// address and port. Deviation (Linux compat): as Linux does for UDP, a
// unicast datagram then goes to the most recently bound of the equally good
// matches (see Lookup), not to all of them.
func (t *Table) Bind(ep *Endpoint, local netip.AddrPort, reuse bool) (netip.AddrPort, error) {
	if ep.bound {
		return netip.AddrPort{}, syscall.EINVAL
	}
	addr, err := normalize(ep, local.Addr())
	if err != nil {
		return netip.AddrPort{}, err
	}
	fams := ep.fams(addr)
	port := local.Port()
	if port == 0 {
		p, ok := t.picker.Pick(func(p uint16) bool { return t.byPort[p].conflicts(addr, fams, false) })
		if !ok {
			return netip.AddrPort{}, syscall.EAGAIN
		}
		port = p
	} else if t.byPort[port].conflicts(addr, fams, reuse) {
		return netip.AddrPort{}, syscall.EADDRINUSE
	}
	pe := t.byPort[port]
	if pe == nil {
		pe = &portEntry{}
		t.byPort[port] = pe
	}
	pe.eps = append(pe.eps, ep)
	t.n++
	ep.local = netip.AddrPortFrom(addr, port)
	ep.remote = netip.AddrPort{}
	ep.bound = true
	ep.reuse = reuse
	return ep.local, nil
}

// Connect sets ep's peer to remote; from then on Lookup gives ep only
// datagrams from remote. No RFC requires this filtering (RFC 1122 §4.1.3.5
// only has UDP pass addresses between IP and the application); it is what
// BSD and Linux do for connected UDP sockets. An unbound ep is
// first bound to 0.0.0.0 and an ephemeral port (Linux autobind); the stack
// normally binds first, with the source address it chose. A zero remote
// disconnects (connect with AF_UNSPEC); the binding is kept.
//
// Deviation (Linux compat): Linux also rewrites a wildcard local address to
// the route's source address on connect; the Table does not know routes, so
// the stack must bind to that address itself if it wants it. Lookup still
// prefers a connected endpoint with a wildcard address over an unconnected
// one bound to the exact address, as Linux's compute_score does.
//
// An IPv4-mapped remote is kept as IPv4, the form datagrams from it are
// looked up with.
//
// Errors: syscall.EAFNOSUPPORT for an IPv6 remote unless ep is SetV6; the
// errors of Bind when autobinding.
func (t *Table) Connect(ep *Endpoint, remote netip.AddrPort) error {
	if !remote.Addr().IsValid() {
		ep.remote = netip.AddrPort{}
		return nil
	}
	raddr := remote.Addr().Unmap().WithZone("")
	if !raddr.Is4() && !ep.v6 {
		return syscall.EAFNOSUPPORT
	}
	if !ep.bound {
		if _, err := t.Bind(ep, netip.AddrPortFrom(wildcard(ep), 0), false); err != nil {
			return err
		}
	}
	ep.remote = netip.AddrPortFrom(raddr, remote.Port())
	return nil
}

// Unbind removes ep from the table, freeing its port, and clears its local
// and remote addresses. The receive queue and pending error are untouched.
// Unbinding an unbound endpoint does nothing.
func (t *Table) Unbind(ep *Endpoint) {
	if !ep.bound {
		return
	}
	port := ep.local.Port()
	if pe := t.byPort[port]; pe != nil {
		if i := slices.Index(pe.eps, ep); i >= 0 {
			pe.eps = slices.Delete(pe.eps, i, i+1)
			t.n--
		}
		if len(pe.eps) == 0 {
			delete(t.byPort, port)
		}
	}
	ep.local, ep.remote = netip.AddrPort{}, netip.AddrPort{}
	ep.bound, ep.reuse = false, false
}

// Lookup returns the endpoint that should receive a unicast datagram from
// src to dst, or nil when none (the stack answers with ICMP port
// unreachable, RFC 1122 §4.1.3.1).
//
// Among the endpoints bound to dst's port, those not taking dst's family
// (an AF_INET endpoint for IPv6, an IPV6_V6ONLY one or one bound to an IPv6
// address for IPv4), those bound to another specific address and those
// connected to a peer other than src are skipped. The rest
// are ranked as Linux's compute_score does: connected to src, then bound to
// dst's exact address, so
//
//  1. connected to src and bound to dst (the exact 4-tuple),
//  2. connected to src and bound to the wildcard,
//  3. not connected and bound to dst's address,
//  4. not connected and bound to the wildcard.
//
// Ties (possible only with SO_REUSEADDR) go to the most recently bound.
// A broadcast or multicast datagram goes to every match instead
// (AppendMatches).
//
// Lookup does not allocate; its cost is linear in the number of endpoints
// sharing dst's port, which is one for almost every port.
func (t *Table) Lookup(src, dst netip.AddrPort) *Endpoint {
	pe := t.byPort[dst.Port()]
	if pe == nil {
		return nil
	}
	var best *Endpoint
	bestScore := -1
	for _, ep := range pe.eps {
		score, ok := ep.takes(src, dst.Addr())
		if ok && score >= bestScore {
			best, bestScore = ep, score
		}
	}
	return best
}

// AppendMatches appends to out every endpoint that takes a broadcast or
// multicast datagram from src to dst, in bind order, and returns it: each
// receives its own copy, as Linux's __udp4_lib_mcast_deliver and
// __udp6_lib_mcast_deliver give one to every socket __udp_is_mcast_sock
// accepts (the port; bound to the wildcard or to dst; unconnected or
// connected to src). So with SO_REUSEADDR several sockets on a port all
// get a broadcast, where a unicast datagram goes to one (Lookup). A
// socket bound to our unicast address does not get a datagram sent to a
// broadcast or multicast address. Deviation (Linux compat, as
// IP_MULTICAST_ALL and IPV6_MULTICAST_ALL's default): no per-socket
// group membership is checked; a multicast datagram reaches the stack
// only for a group it has joined.
func (t *Table) AppendMatches(out []*Endpoint, src, dst netip.AddrPort) []*Endpoint {
	pe := t.byPort[dst.Port()]
	if pe == nil {
		return out
	}
	for _, ep := range pe.eps {
		if _, ok := ep.takes(src, dst.Addr()); ok {
			out = append(out, ep)
		}
	}
	return out
}

// takes reports whether ep, bound to the datagram's port, takes a
// datagram from src to daddr, and how well it matches (Lookup's ranks: 2
// for connected to src, 1 for bound to daddr itself).
func (ep *Endpoint) takes(src netip.AddrPort, daddr netip.Addr) (score int, ok bool) {
	fam := fam6
	if daddr.Is4() {
		fam = fam4
	}
	if ep.fams(ep.local.Addr())&fam == 0 {
		return 0, false
	}
	if a := ep.local.Addr(); !a.IsUnspecified() {
		if a != daddr {
			return 0, false
		}
		score++
	}
	if ep.connected() {
		if ep.remote != src {
			return 0, false
		}
		score += 2
	}
	return score, true
}

// Endpoints returns a snapshot of the bound endpoints ordered by local port,
// then bind order, for the status page.
func (t *Table) Endpoints() []*Endpoint {
	out := make([]*Endpoint, 0, t.n)
	for _, pe := range t.byPort {
		out = append(out, pe.eps...)
	}
	slices.SortStableFunc(out, func(a, b *Endpoint) int { return cmp.Compare(a.local.Port(), b.local.Port()) })
	return out
}

// Len returns the number of bound endpoints.
func (t *Table) Len() int { return t.n }
