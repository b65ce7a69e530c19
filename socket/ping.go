package socket

import (
	"net"
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/stack"
)

// PingAddr is an address of an ICMP echo ("ping") socket: an IPv4 address
// without a port, on network "ping4" (the name wireguard-go's netstack
// gives it), or an IPv6 one on "ping6".
type PingAddr struct{ Addr netip.Addr }

// Network returns "ping6" for an IPv6 address, "ping4" otherwise.
func (a *PingAddr) Network() string { return pingNetwork(a.Addr) }

// pingNetwork is the network of a ping socket to or on a.
func pingNetwork(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "ping6"
	}
	return "ping4"
}

func (a *PingAddr) String() string { return a.Addr.String() }

// PingConn is an ICMP echo socket, as Linux's unprivileged ping socket
// (SOCK_DGRAM, IPPROTO_ICMP; IPPROTO_ICMPV6 on "ping6", where requests are
// type 128 and replies 129, RFC 4443 §4.1-4.2): a net.PacketConn, and a
// net.Conn once dialed.
// It writes whole ICMP echo requests (type 8, code 0, at least 8 bytes;
// the stack sets the identifier and the checksum, so any marshalled
// golang.org/x/net/icmp message will do) and reads whole ICMP messages:
// the echo replies to its requests and the ICMP errors (destination
// unreachable, time exceeded) that quote them. Errors are *net.OpError
// with the errno Linux gives (EINVAL for a message that is not an echo
// request, EDESTADDRREQ for Write on a socket that was not dialed).
// Multiple goroutines may call its methods simultaneously.
type PingConn struct {
	PacketConn
	remote *PingAddr // nil unless dialed
}

var (
	_ net.PacketConn = (*PingConn)(nil)
	_ net.Conn       = (*PingConn)(nil)
)

// ListenPing opens a ping socket on st: ICMPv6 (Linux's IPPROTO_ICMPV6)
// when laddr is an IPv6 address, ICMP otherwise. laddr may be the zero
// Addr, the unspecified address (:: for ICMPv6) or one of the stack's own
// (anything else is EADDRNOTAVAIL, as bind(2) on Linux).
func ListenPing(st *stack.Stack, laddr netip.Addr) (*PingConn, error) {
	return openPing(st, "listen", laddr, netip.Addr{})
}

// DialPing opens a ping socket on st whose Write sends to raddr and whose
// Read returns only messages from raddr: ICMPv6 when raddr is an IPv6
// address (a link-local one may carry the stack's link as its zone).
// laddr is as for ListenPing, of raddr's family (EAFNOSUPPORT otherwise).
func DialPing(st *stack.Stack, laddr, raddr netip.Addr) (*PingConn, error) {
	if !raddr.IsValid() {
		return nil, &net.OpError{Op: "dial", Net: pingNetwork(laddr), Err: wrapErrno(syscall.EDESTADDRREQ)}
	}
	return openPing(st, "dial", laddr, raddr.Unmap())
}

func openPing(st *stack.Stack, op string, laddr, raddr netip.Addr) (*PingConn, error) {
	var ra net.Addr
	family := laddr
	if raddr.IsValid() {
		ra, family = &PingAddr{raddr}, raddr
	}
	network := pingNetwork(family)
	opErr := func(err error) error {
		return &net.OpError{Op: op, Net: network, Addr: ra, Err: wrapErrno(err)}
	}
	if laddr.IsValid() && pingNetwork(laddr) != network {
		return nil, opErr(syscall.EAFNOSUPPORT)
	}
	domain, proto, local := AF_INET, IPPROTO_ICMP, st.Addr()
	if network == "ping6" {
		domain, proto, local = AF_INET6, IPPROTO_ICMPV6, netip.IPv6Unspecified()
		if laddr.IsValid() {
			local = laddr
		}
	}
	fd, err := Socket(st, domain, SOCK_DGRAM, proto)
	if err != nil {
		return nil, opErr(err)
	}
	if err := fd.Bind(netip.AddrPortFrom(laddr.Unmap(), 0)); err != nil {
		fd.Close()
		return nil, opErr(err)
	}
	c := &PingConn{PacketConn: PacketConn{fd: fd, local: &PingAddr{local}, net: network}}
	if raddr.IsValid() {
		c.remote = &PingAddr{raddr}
	}
	return c, nil
}

// ReadFrom reads one ICMP message and its sender, a *PingAddr. A message
// longer than b is truncated.
func (c *PingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.recv(b)
	if err != nil {
		return 0, nil, err
	}
	return n, &PingAddr{zoned(netip.AddrPortFrom(from, 0), c.fd.st.LinkName()).Addr()}, nil
}

// Read reads one ICMP message from the dialed peer; messages from anyone
// else are dropped, as on a connected socket.
func (c *PingConn) Read(b []byte) (int, error) {
	n, _, err := c.recv(b)
	return n, err
}

func (c *PingConn) recv(b []byte) (int, netip.Addr, error) {
	for {
		n, from, err := c.fd.RecvFrom(b, 0)
		if err != nil {
			return 0, netip.Addr{}, c.opError("read", c.raddr(), err)
		}
		if c.remote == nil || from.Addr() == c.remote.Addr.WithZone("") {
			return n, from.Addr(), nil
		}
	}
}

// WriteTo sends the ICMP echo request b to addr: a *PingAddr, *net.IPAddr
// or *net.UDPAddr (its port ignored, as golang.org/x/net/icmp's
// unprivileged sockets take).
func (c *PingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	var to netip.Addr
	switch a := addr.(type) {
	case *PingAddr:
		if a != nil {
			to = a.Addr
		}
	case *net.IPAddr:
		if a != nil {
			to, _ = netip.AddrFromSlice(a.IP)
			to = to.WithZone(a.Zone)
		}
	case *net.UDPAddr:
		if a != nil {
			to, _ = netip.AddrFromSlice(a.IP)
			to = to.WithZone(a.Zone)
		}
	}
	if !to.IsValid() {
		return 0, c.opError("write", addr, syscall.EINVAL)
	}
	return c.send(b, to.Unmap(), addr)
}

// Write sends the ICMP echo request b to the dialed peer; EDESTADDRREQ if
// the socket was not dialed.
func (c *PingConn) Write(b []byte) (int, error) {
	if c.remote == nil {
		return 0, c.opError("write", nil, syscall.EDESTADDRREQ)
	}
	return c.send(b, c.remote.Addr, c.remote)
}

func (c *PingConn) send(b []byte, to netip.Addr, addr net.Addr) (int, error) {
	n, err := c.fd.SendTo(b, 0, netip.AddrPortFrom(to, 0))
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	return n, nil
}

// RemoteAddr returns the dialed peer's *PingAddr, or nil.
func (c *PingConn) RemoteAddr() net.Addr { return c.raddr() }

// raddr is c.remote as a net.Addr: nil, not a typed nil pointer.
func (c *PingConn) raddr() net.Addr {
	if c.remote == nil {
		return nil
	}
	return c.remote
}
