package socket

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// PacketConn is a UDP socket as a net.PacketConn. Multiple goroutines may
// call its methods simultaneously.
type PacketConn struct {
	fd    *FD
	local net.Addr
	net   string // the network its errors name: "udp" when empty
}

var _ net.PacketConn = (*PacketConn)(nil)

// ListenPacket opens a UDP socket on st bound to address ("host:port",
// ":port" or ":0"), as net.ListenPacket does. network is "udp", "udp4" or
// "udp6"; "udp" on a wildcard address is a dual-stack socket on [::]
// (netFamily).
func ListenPacket(st *stack.Stack, network, address string) (*PacketConn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Err: wrapErrno(err)}
	}
	if !isNetwork(network, "udp") {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	ap, err := resolveAddrPort(network, address)
	if err != nil {
		return nil, opErr(err)
	}
	domain, v6only, ap, err := netFamily(network, ap, true)
	if err != nil {
		return nil, opErr(err)
	}
	fd, err := newNetSocket(func(d int) (*FD, error) { return Socket(st, d, SOCK_DGRAM, 0) }, domain, v6only)
	if err != nil {
		return nil, opErr(err)
	}
	if err := fd.Bind(ap); err != nil {
		fd.Close()
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(ap), Err: wrapErrno(err)}
	}
	la, _ := fd.Getsockname()
	return &PacketConn{fd: fd, local: net.UDPAddrFromAddrPort(la)}, nil
}

// resolveAddrPort parses "host:port" with an IP host (empty: the zero
// Addr, which netFamily makes a wildcard) and a numeric or well-known port.
// An IPv6 host may have a zone ("[fe80::1%eth0]:80"; FD.Bind and Connect
// check it). tapstack resolves no host names.
func resolveAddrPort(network, address string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := net.LookupPort(network, port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var a netip.Addr
	if host != "" {
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, &net.AddrError{Err: "tapstack resolves no names; use an IP address", Addr: host}
		}
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// ReadFrom reads one datagram; a datagram longer than b is truncated, as
// with Go's own UDP sockets.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.fd.RecvFrom(b, 0)
	if err != nil {
		return 0, nil, c.opError("read", nil, err)
	}
	return n, net.UDPAddrFromAddrPort(zoned(from, c.fd.st.LinkName())), nil
}

// WriteTo sends b as one datagram to addr, which must be a *net.UDPAddr.
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, c.opError("write", addr, syscall.EINVAL)
	}
	ap := ua.AddrPort()
	if !c.fd.v6 {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	n, err := c.fd.SendTo(b, 0, ap)
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	return n, nil
}

// Close closes the socket; blocked ReadFrom calls return net.ErrClosed.
func (c *PacketConn) Close() error {
	if err := c.fd.Close(); err != nil {
		return c.opError("close", nil, err)
	}
	return nil
}

// LocalAddr returns the bound *net.UDPAddr.
func (c *PacketConn) LocalAddr() net.Addr { return c.local }

// SetDeadline sets both deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error {
	if err := c.fd.check(); err != nil {
		return c.opError("set", nil, err)
	}
	c.fd.rd.set(t)
	c.fd.wd.set(t)
	return nil
}

// SetReadDeadline sets the read deadline; it applies to blocked calls too.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	if err := c.fd.check(); err != nil {
		return c.opError("set", nil, err)
	}
	c.fd.rd.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline. Writes never block, so it only
// makes writes after it fail.
func (c *PacketConn) SetWriteDeadline(t time.Time) error {
	if err := c.fd.check(); err != nil {
		return c.opError("set", nil, err)
	}
	c.fd.wd.set(t)
	return nil
}

// FD returns the underlying socket, for options the net interface lacks.
func (c *PacketConn) FD() *FD { return c.fd }

func (c *PacketConn) opError(op string, addr net.Addr, err error) error {
	network := c.net
	if network == "" {
		network = "udp"
	}
	return &net.OpError{Op: op, Net: network, Source: c.local, Addr: addr, Err: wrapErrno(err)}
}

// wrapErrno gives errors the shapes Go's net package uses: EBADF after
// Close becomes net.ErrClosed, errnos become *os.SyscallError.
func wrapErrno(err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, syscall.EBADF):
		return net.ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return err
	case errors.As(err, &errno):
		return os.NewSyscallError("tapstack", errno)
	}
	return err
}

// UDPConn is a connected UDP socket, as the *net.UDPConn net.Dial("udp",
// ...) returns: a net.Conn whose Read and Write exchange datagrams with the
// one peer, and still a net.PacketConn.
//
// As on Linux for a connected UDP socket, an ICMP error about a datagram it
// sent (port unreachable: ECONNREFUSED) is reported once, by the next Read
// or Write (RFC 1122 §4.1.3.3; the stack's UDPEndpoint keeps it). Datagrams
// from any other address than the peer are not delivered.
type UDPConn struct {
	PacketConn
	remote net.Addr
}

var _ net.Conn = (*UDPConn)(nil)

// dialUDP opens a UDP socket on st connected to address: connect(2) binds
// an ephemeral port chosen at random (RFC 6056 §3.3.1, internal/ports),
// so every dial gets a fresh, unpredictable source port.
func dialUDP(ctx context.Context, st *stack.Stack, network, address string) (*UDPConn, error) {
	opErr := func(ap netip.AddrPort, err error) error {
		var a net.Addr
		if ap.IsValid() {
			a = net.UDPAddrFromAddrPort(ap)
		}
		return &net.OpError{Op: "dial", Net: network, Addr: a, Err: wrapErrno(err)}
	}
	ap, err := resolveAddrPort(network, address)
	if err != nil {
		return nil, opErr(netip.AddrPort{}, err)
	}
	if !ap.Addr().IsValid() || ap.Addr() == netip.IPv4Unspecified() {
		// Linux connects to 0.0.0.0 as to the local address; tapstack has
		// one address, so it does the same.
		ap = netip.AddrPortFrom(st.Addr(), ap.Port())
	}
	domain, v6only, ap, err := netFamily(network, ap, false)
	if err != nil {
		return nil, opErr(netip.AddrPort{}, err)
	}
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = errTimeout{}
		}
		return nil, opErr(ap, err)
	}
	fd, err := newNetSocket(func(d int) (*FD, error) { return Socket(st, d, SOCK_DGRAM, 0) }, domain, v6only)
	if err != nil {
		return nil, opErr(ap, err)
	}
	if err := fd.Connect(ap); err != nil {
		fd.Close()
		return nil, opErr(ap, err)
	}
	la, _ := fd.Getsockname()
	if la.Addr().IsUnspecified() && ap.Addr().Is4() {
		// Linux's connect(2) fixes the source address the route picks
		// (ip4_datagram_connect); the stack has one address.
		la = netip.AddrPortFrom(st.Addr(), la.Port())
	} else if la.Addr().IsUnspecified() {
		la = netip.AddrPortFrom(st.SourceAddr6(ap.Addr()), la.Port())
	}
	return &UDPConn{PacketConn: PacketConn{fd: fd, local: net.UDPAddrFromAddrPort(la)}, remote: net.UDPAddrFromAddrPort(ap)}, nil
}

// Read reads one datagram from the peer; a datagram longer than b is
// truncated, as with Go's own UDP sockets.
func (c *UDPConn) Read(b []byte) (int, error) {
	n, err := c.fd.Recv(b, 0)
	if err != nil {
		return 0, c.opError("read", c.remote, err)
	}
	return n, nil
}

// Write sends b as one datagram to the peer.
func (c *UDPConn) Write(b []byte) (int, error) {
	n, err := c.fd.Send(b, 0)
	if err != nil {
		return 0, c.opError("write", c.remote, err)
	}
	return n, nil
}

// RemoteAddr returns the peer's *net.UDPAddr.
func (c *UDPConn) RemoteAddr() net.Addr { return c.remote }
