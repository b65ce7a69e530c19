// Package socket is tapstack's user API: a BSD-like socket interface (FD,
// with Bind, Connect, SendTo, RecvFrom, ...) and the standard library's
// interfaces on top of it (net.PacketConn via ListenPacket).
//
// Errors from the BSD-like API are the errno a Linux program would see
// (errors.Is(err, syscall.EAGAIN)); the net adapters wrap them in
// *net.OpError, report deadlines with errors that match
// os.ErrDeadlineExceeded, and use after Close matches net.ErrClosed.
//
// Every method is safe for concurrent use. Blocking calls wait on the
// endpoint's notification, never by polling; Close unblocks them.
package socket

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Constants callers pass, re-exported from syscall for convenience.
const (
	AF_INET      = syscall.AF_INET
	SOCK_DGRAM   = syscall.SOCK_DGRAM
	SOCK_STREAM  = syscall.SOCK_STREAM
	IPPROTO_UDP  = syscall.IPPROTO_UDP
	IPPROTO_ICMP = syscall.IPPROTO_ICMP
	SOL_SOCKET   = syscall.SOL_SOCKET
	SO_REUSEADDR = syscall.SO_REUSEADDR
	SO_RCVBUF    = syscall.SO_RCVBUF
	SO_BROADCAST = syscall.SO_BROADCAST
	MSG_PEEK     = syscall.MSG_PEEK
	MSG_DONTWAIT = syscall.MSG_DONTWAIT
	MSG_TRUNC    = syscall.MSG_TRUNC
)

// FD is an open socket.
type FD struct {
	st    *stack.Stack
	typ   int
	udp   *stack.UDPEndpoint  // SOCK_DGRAM, IPPROTO_UDP
	ping  *stack.PingEndpoint // SOCK_DGRAM, IPPROTO_ICMP
	ready <-chan struct{}
	done  <-chan struct{}

	rd, wd *deadline // used by the net adapters; never set through the BSD API

	mu       sync.Mutex
	closed   bool
	nonblock bool
	reuse    bool
	rcvbuf   int
	bcast    bool
}

// Socket opens a socket on st, like socket(2). Supported: AF_INET with
// SOCK_DGRAM and protocol 0 or IPPROTO_UDP (UDP), or IPPROTO_ICMP (an ICMP
// echo "ping" socket as in Linux). SOCK_STREAM arrives with TCP.
func Socket(st *stack.Stack, domain, typ, proto int) (*FD, error) {
	if domain != AF_INET {
		return nil, syscall.EAFNOSUPPORT
	}
	nonblock := typ&syscall.SOCK_NONBLOCK != 0
	typ &^= syscall.SOCK_NONBLOCK | syscall.SOCK_CLOEXEC
	fd := &FD{st: st, typ: typ, nonblock: nonblock, rd: newDeadline(st.Clock()), wd: newDeadline(st.Clock())}
	switch {
	case typ == SOCK_DGRAM && (proto == 0 || proto == IPPROTO_UDP):
		e, err := st.NewUDPEndpoint()
		if err != nil {
			return nil, syscall.ENETDOWN
		}
		fd.udp, fd.ready, fd.done = e, e.Readable(), e.Done()
	case typ == SOCK_DGRAM && proto == IPPROTO_ICMP:
		p, err := st.NewPingEndpoint()
		if err != nil {
			return nil, syscall.ENETDOWN
		}
		fd.ping, fd.ready, fd.done = p, p.Readable(), p.Done()
	case typ == SOCK_DGRAM || typ == SOCK_STREAM:
		return nil, syscall.EPROTONOSUPPORT
	default:
		return nil, syscall.ESOCKTNOSUPPORT
	}
	return fd, nil
}

func (f *FD) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	return nil
}

// SetNonblock sets O_NONBLOCK: calls that would block return EAGAIN.
func (f *FD) SetNonblock(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	f.nonblock = on
	return nil
}

// Bind assigns the local address (bind(2)). For a ping socket it is a no-op
// check of the address, as on Linux.
func (f *FD) Bind(addr netip.AddrPort) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.ping != nil {
		if a := addr.Addr(); a.IsValid() && !a.IsUnspecified() && a != f.st.Addr() {
			return syscall.EADDRNOTAVAIL
		}
		return nil
	}
	f.mu.Lock()
	reuse := f.reuse
	f.mu.Unlock()
	_, err := f.udp.Bind(addr, reuse)
	return err
}

// Connect sets the peer (connect(2)); the zero AddrPort dissolves the
// association, like connecting to AF_UNSPEC.
func (f *FD) Connect(addr netip.AddrPort) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.ping != nil {
		return syscall.EOPNOTSUPP
	}
	return f.udp.Connect(addr)
}

// SendTo sends one datagram (sendto(2)). A UDP send never blocks: the link
// queues or drops, as Linux UDP does.
func (f *FD) SendTo(b []byte, flags int, to netip.AddrPort) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	if flags&^(MSG_DONTWAIT|syscall.MSG_NOSIGNAL) != 0 {
		return 0, syscall.EOPNOTSUPP
	}
	select {
	case <-f.wd.wait():
		return 0, os.ErrDeadlineExceeded
	default:
	}
	var n int
	var err error
	if f.ping != nil {
		if !to.IsValid() {
			return 0, syscall.EDESTADDRREQ
		}
		n, err = f.ping.SendTo(b, to.Addr())
	} else {
		n, err = f.udp.SendTo(b, to)
	}
	return n, mapClosed(err)
}

// Send sends on a connected socket (send(2)).
func (f *FD) Send(b []byte, flags int) (int, error) { return f.SendTo(b, flags, netip.AddrPort{}) }

// RecvFrom receives one datagram (recvfrom(2)). It blocks until one arrives
// unless the socket is non-blocking or flags has MSG_DONTWAIT (then EAGAIN).
// MSG_PEEK leaves the datagram queued; with MSG_TRUNC the real length is
// returned even when b was shorter. A datagram longer than b is truncated.
func (f *FD) RecvFrom(b []byte, flags int) (int, netip.AddrPort, error) {
	if flags&^(MSG_PEEK|MSG_DONTWAIT|MSG_TRUNC) != 0 {
		return 0, netip.AddrPort{}, syscall.EOPNOTSUPP
	}
	for {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			return 0, netip.AddrPort{}, syscall.EBADF
		}
		nonblock := f.nonblock || flags&MSG_DONTWAIT != 0
		f.mu.Unlock()
		var n, full int
		var from netip.AddrPort
		var err error
		if f.ping != nil {
			var a netip.Addr
			n, a, err = f.ping.TryRecvFrom(b)
			full, from = n, netip.AddrPortFrom(a, 0)
		} else {
			n, full, from, err = f.udp.TryRecvFrom(b, flags&MSG_PEEK != 0)
		}
		if err == nil {
			if flags&MSG_TRUNC != 0 {
				n = full
			}
			return n, from, nil
		}
		if err != syscall.EAGAIN || nonblock {
			return 0, netip.AddrPort{}, mapClosed(err)
		}
		select {
		case <-f.ready:
		case <-f.done:
			return 0, netip.AddrPort{}, syscall.EBADF
		case <-f.rd.wait():
			return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
		}
	}
}

// Recv receives on a socket (recv(2)).
func (f *FD) Recv(b []byte, flags int) (int, error) {
	n, _, err := f.RecvFrom(b, flags)
	return n, err
}

// SetsockoptInt sets an integer option (setsockopt(2)). Supported:
// SOL_SOCKET SO_REUSEADDR (before Bind), SO_RCVBUF, SO_BROADCAST.
func (f *FD) SetsockoptInt(level, opt, value int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	if level != SOL_SOCKET {
		return syscall.ENOPROTOOPT
	}
	switch opt {
	case SO_REUSEADDR:
		f.reuse = value != 0
	case SO_RCVBUF:
		if value < 0 {
			return syscall.EINVAL
		}
		// As Linux: the kernel doubles the value to allow for overhead, with
		// a floor of 2304 bytes (SOCK_MIN_RCVBUF).
		f.rcvbuf = max(2*value, 2304)
		if f.udp != nil {
			f.udp.SetRcvBuf(f.rcvbuf)
		}
	case SO_BROADCAST:
		f.bcast = value != 0
		if f.udp != nil {
			f.udp.SetBroadcast(f.bcast)
		}
	default:
		return syscall.ENOPROTOOPT
	}
	return nil
}

// GetsockoptInt reads an integer option (getsockopt(2)).
func (f *FD) GetsockoptInt(level, opt int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, syscall.EBADF
	}
	if level != SOL_SOCKET {
		return 0, syscall.ENOPROTOOPT
	}
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	switch opt {
	case SO_REUSEADDR:
		return b2i(f.reuse), nil
	case SO_BROADCAST:
		return b2i(f.bcast), nil
	case SO_RCVBUF:
		if f.rcvbuf == 0 {
			return 212992, nil
		}
		return f.rcvbuf, nil
	case syscall.SO_TYPE:
		return f.typ, nil
	}
	return 0, syscall.ENOPROTOOPT
}

// Getsockname returns the local address (getsockname(2)).
func (f *FD) Getsockname() (netip.AddrPort, error) {
	if err := f.check(); err != nil {
		return netip.AddrPort{}, err
	}
	if f.ping != nil {
		return netip.AddrPortFrom(f.st.Addr(), f.ping.Ident()), nil
	}
	a := f.udp.LocalAddr()
	if !a.IsValid() {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0), nil
	}
	return a, nil
}

// Getpeername returns the connected peer, or ENOTCONN.
func (f *FD) Getpeername() (netip.AddrPort, error) {
	if err := f.check(); err != nil {
		return netip.AddrPort{}, err
	}
	if f.udp != nil {
		if a := f.udp.RemoteAddr(); a.IsValid() {
			return a, nil
		}
	}
	return netip.AddrPort{}, syscall.ENOTCONN
}

// Close closes the socket and wakes every blocked call. A second Close
// returns EBADF.
func (f *FD) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return syscall.EBADF
	}
	f.closed = true
	f.mu.Unlock()
	f.rd.set(time.Time{})
	f.wd.set(time.Time{})
	if f.ping != nil {
		f.ping.Close()
	} else {
		f.udp.Close()
	}
	return nil
}

// mapClosed turns the stack's "endpoint closed" into EBADF, the errno for
// a call racing with Close.
func mapClosed(err error) error {
	if errors.Is(err, net.ErrClosed) || errors.Is(err, stack.ErrStackClosed) {
		return syscall.EBADF
	}
	return err
}
