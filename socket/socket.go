// Package socket is tapstack's user API: a BSD-like socket interface (FD,
// with Bind, Connect, SendTo, RecvFrom, ...) and the standard library's
// interfaces on top of it: net.Conn and net.Listener via Dial and Listen
// (TCP, and connected UDP as *UDPConn), net.PacketConn via ListenPacket.
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
	AF_INET6     = syscall.AF_INET6
	IPPROTO_IPV6 = syscall.IPPROTO_IPV6
	IPV6_V6ONLY  = syscall.IPV6_V6ONLY
	SOCK_DGRAM   = syscall.SOCK_DGRAM
	SOCK_STREAM  = syscall.SOCK_STREAM
	IPPROTO_UDP  = syscall.IPPROTO_UDP
	IPPROTO_TCP  = syscall.IPPROTO_TCP
	TCP_NODELAY  = syscall.TCP_NODELAY
	SO_SNDBUF    = syscall.SO_SNDBUF
	SO_LINGER    = syscall.SO_LINGER
	SO_ERROR     = syscall.SO_ERROR
	SHUT_RD      = syscall.SHUT_RD
	SHUT_WR      = syscall.SHUT_WR
	SHUT_RDWR    = syscall.SHUT_RDWR
	IPPROTO_ICMP = syscall.IPPROTO_ICMP
	SOL_SOCKET   = syscall.SOL_SOCKET
	SO_REUSEADDR = syscall.SO_REUSEADDR
	SO_RCVBUF    = syscall.SO_RCVBUF
	SO_BROADCAST = syscall.SO_BROADCAST
	MSG_PEEK     = syscall.MSG_PEEK
	MSG_DONTWAIT = syscall.MSG_DONTWAIT
	MSG_TRUNC    = syscall.MSG_TRUNC

	SO_KEEPALIVE  = syscall.SO_KEEPALIVE
	TCP_KEEPIDLE  = syscall.TCP_KEEPIDLE
	TCP_KEEPINTVL = syscall.TCP_KEEPINTVL
	TCP_KEEPCNT   = syscall.TCP_KEEPCNT
	// TCP_USER_TIMEOUT is Linux's option 18 (not in package syscall).
	TCP_USER_TIMEOUT = 0x12
	TCP_CONGESTION   = syscall.TCP_CONGESTION

	IPPROTO_IP        = syscall.IPPROTO_IP
	IP_TTL            = syscall.IP_TTL
	IP_TOS            = syscall.IP_TOS
	IPV6_UNICAST_HOPS = syscall.IPV6_UNICAST_HOPS
	IPV6_TCLASS       = syscall.IPV6_TCLASS
)

// Linux's bounds for the keep-alive options (include/net/tcp.h
// MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT).
const (
	maxTCPKeepIdle  = 32767 // seconds
	maxTCPKeepIntvl = 32767 // seconds
	maxTCPKeepCnt   = 127
)

// FD is an open socket.
type FD struct {
	st    *stack.Stack
	typ   int
	v6    bool                // AF_INET6
	udp   *stack.UDPEndpoint  // SOCK_DGRAM, IPPROTO_UDP
	ping  *stack.PingEndpoint // SOCK_DGRAM, IPPROTO_ICMP
	tcp   *stack.TCPEndpoint  // SOCK_STREAM
	ready <-chan struct{}     // readable signal
	wr    <-chan struct{}     // writable signal (streams)
	done  <-chan struct{}

	rd, wd *deadline // used by the net adapters; never set through the BSD API

	mu        sync.Mutex
	closed    bool
	nonblock  bool
	reuse     bool
	rcvbuf    int
	sndbuf    int
	bcast     bool
	nodelay   bool
	keepalive bool
}

// IPPROTO_ICMPV6 with AF_INET6 and SOCK_DGRAM is an ICMPv6 ping socket.
const IPPROTO_ICMPV6 = syscall.IPPROTO_ICMPV6

// Socket opens a socket on st, like socket(2). Supported: AF_INET with
// SOCK_STREAM and protocol 0 or IPPROTO_TCP (TCP); SOCK_DGRAM with 0 or
// IPPROTO_UDP (UDP), or IPPROTO_ICMP (an ICMP echo "ping" socket as in
// Linux). AF_INET6 with TCP, UDP or IPPROTO_ICMPV6 (ping): IPv6 addresses, and IPv4 ones as
// IPv4-mapped addresses (::ffff:a.b.c.d) unless IPV6_V6ONLY is set, as on
// Linux (RFC 3493 §3.7). SOCK_NONBLOCK may be or-ed into the type.
func Socket(st *stack.Stack, domain, typ, proto int) (*FD, error) {
	if domain != AF_INET && domain != AF_INET6 {
		return nil, syscall.EAFNOSUPPORT
	}
	nonblock := typ&syscall.SOCK_NONBLOCK != 0
	typ &^= syscall.SOCK_NONBLOCK | syscall.SOCK_CLOEXEC
	v6 := domain == AF_INET6
	fd := &FD{st: st, typ: typ, v6: v6, nonblock: nonblock, rd: newDeadline(st.Clock()), wd: newDeadline(st.Clock())}
	newUDP, newTCP := st.NewUDPEndpoint, st.NewTCPEndpoint
	if v6 {
		newUDP, newTCP = st.NewUDPEndpoint6, st.NewTCPEndpoint6
	}
	switch {
	case typ == SOCK_DGRAM && (proto == 0 || proto == IPPROTO_UDP):
		e, err := newUDP()
		if err != nil {
			return nil, syscall.ENETDOWN
		}
		fd.udp, fd.ready, fd.done = e, e.Readable(), e.Done()
	case typ == SOCK_DGRAM && proto == IPPROTO_ICMP && !v6:
		p, err := st.NewPingEndpoint()
		if err != nil {
			return nil, syscall.ENETDOWN
		}
		fd.ping, fd.ready, fd.done = p, p.Readable(), p.Done()
	case typ == SOCK_DGRAM && proto == IPPROTO_ICMPV6 && v6:
		p, err := st.NewPingEndpoint6()
		if err != nil {
			return nil, syscall.ENETDOWN
		}
		fd.ping, fd.ready, fd.done = p, p.Readable(), p.Done()
	case typ == SOCK_STREAM && (proto == 0 || proto == IPPROTO_TCP):
		e, err := newTCP()
		if err != nil {
			return nil, syscall.ENETDOWN
		}
		fd.tcp, fd.ready, fd.wr, fd.done = e, e.Readable(), e.Writable(), e.Done()
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
	addr, err := f.unzone(addr)
	if err != nil {
		return err
	}
	if f.ping != nil {
		return f.ping.CheckBind(addr.Addr())
	}
	f.mu.Lock()
	reuse := f.reuse
	f.mu.Unlock()
	if f.tcp != nil {
		_, err = f.tcp.Bind(addr, reuse)
		return err
	}
	_, err = f.udp.Bind(addr, reuse)
	return err
}

// unzone checks the zone of an IPv6 address given to the socket and drops
// it: the stack has one link, so the zone may be empty or that link's name
// (Stack.LinkName); another is ENODEV, as Linux answers a scope id naming
// no interface. (Go's net passes the zone as the scope id; a missing one
// on a link-local address, EINVAL on Linux, is taken as our one link.)
func (f *FD) unzone(ap netip.AddrPort) (netip.AddrPort, error) {
	z := ap.Addr().Zone()
	if z == "" {
		return ap, nil
	}
	if z != f.st.LinkName() {
		return netip.AddrPort{}, syscall.ENODEV
	}
	return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port()), nil
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
	addr, err := f.unzone(addr)
	if err != nil {
		return err
	}
	if f.tcp != nil {
		return f.connectStream(addr)
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
	if f.tcp != nil {
		return f.sendStream(b, flags)
	}
	to, err := f.unzone(to)
	if err != nil {
		return 0, err
	}
	var n int
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
	if f.tcp != nil {
		n, err := f.recvStream(b, flags)
		return n, f.tcp.RemoteAddr(), err
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
// SOL_SOCKET SO_REUSEADDR (before Bind), SO_RCVBUF, SO_SNDBUF,
// SO_BROADCAST (UDP), SO_KEEPALIVE; IPPROTO_TCP TCP_NODELAY,
// TCP_KEEPIDLE and TCP_KEEPINTVL (seconds, 1 to 32767), TCP_KEEPCNT (1 to
// 127) and TCP_USER_TIMEOUT (milliseconds, 0 turns it off), with Linux's
// bounds (EINVAL outside them); IPPROTO_IPV6 IPV6_V6ONLY on an AF_INET6
// socket before Bind (EINVAL after, ENOPROTOOPT on AF_INET). On TCP and
// UDP sockets, the IP header fields of what the socket sends (stack.IPOption
// has their bounds): IPPROTO_IP IP_TTL and IP_TOS, and on an AF_INET6
// socket IPPROTO_IPV6 IPV6_UNICAST_HOPS and IPV6_TCLASS.
func (f *FD) SetsockoptInt(level, opt, value int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	if o := f.ipOption(level, opt); o != 0 {
		switch {
		case f.tcp != nil:
			return f.tcp.SetIPOption(o, value)
		case f.udp != nil:
			return f.udp.SetIPOption(o, value)
		}
		return syscall.ENOPROTOOPT
	}
	switch {
	case level == SOL_SOCKET && opt == SO_REUSEADDR:
		f.reuse = value != 0
	case level == SOL_SOCKET && (opt == SO_RCVBUF || opt == SO_SNDBUF):
		if value < 0 {
			return syscall.EINVAL
		}
		// As Linux: the value is capped (net.core.rmem_max/wmem_max, here
		// stack.Config.MaxSocketBuffer), then doubled to allow for
		// overhead, with a floor (SOCK_MIN_RCVBUF 2304, SOCK_MIN_SNDBUF 4608).
		value = min(value, f.st.MaxSocketBuffer())
		n := max(2*value, 2304)
		if opt == SO_SNDBUF {
			n = max(2*value, 4608)
			f.sndbuf = n
		} else {
			f.rcvbuf = n
		}
		switch {
		case f.udp != nil && opt == SO_RCVBUF:
			f.udp.SetRcvBuf(n)
		case f.tcp != nil && opt == SO_RCVBUF:
			f.tcp.SetRcvBuf(n)
		case f.tcp != nil:
			f.tcp.SetSndBuf(n)
		}
	case level == SOL_SOCKET && opt == SO_BROADCAST:
		f.bcast = value != 0
		if f.udp != nil {
			f.udp.SetBroadcast(f.bcast)
		}
	case level == IPPROTO_TCP && opt == TCP_NODELAY && f.tcp != nil:
		f.nodelay = value != 0
		f.tcp.SetNoDelay(f.nodelay)
	case level == SOL_SOCKET && opt == SO_KEEPALIVE:
		f.keepalive = value != 0
		if f.tcp != nil {
			f.tcp.SetKeepAlive(f.keepalive)
		}
	case level == IPPROTO_TCP && f.tcp != nil && (opt == TCP_KEEPIDLE || opt == TCP_KEEPINTVL || opt == TCP_KEEPCNT):
		limit := maxTCPKeepCnt
		switch opt {
		case TCP_KEEPIDLE:
			limit = maxTCPKeepIdle
		case TCP_KEEPINTVL:
			limit = maxTCPKeepIntvl
		}
		if value < 1 || value > limit {
			return syscall.EINVAL
		}
		switch opt {
		case TCP_KEEPIDLE:
			f.tcp.SetKeepIdle(time.Duration(value) * time.Second)
		case TCP_KEEPINTVL:
			f.tcp.SetKeepInterval(time.Duration(value) * time.Second)
		default:
			f.tcp.SetKeepCount(value)
		}
	case level == IPPROTO_TCP && opt == TCP_USER_TIMEOUT && f.tcp != nil:
		if value < 0 {
			return syscall.EINVAL
		}
		f.tcp.SetUserTimeout(time.Duration(value) * time.Millisecond)
	case level == IPPROTO_IPV6 && opt == IPV6_V6ONLY && f.v6:
		// Before bind only (EINVAL after, as Linux's do_ipv6_setsockopt).
		if f.tcp != nil {
			return f.tcp.SetV6Only(value != 0)
		}
		return f.udp.SetV6Only(value != 0)
	case level != SOL_SOCKET && level != IPPROTO_TCP && level != IPPROTO_IPV6:
		return syscall.ENOPROTOOPT
	default:
		return syscall.ENOPROTOOPT
	}
	return nil
}

// ipOption is the stack's name for an IP-level option, 0 for another
// option. The IPv6 ones exist only on an AF_INET6 socket (ENOPROTOOPT on
// AF_INET, as Linux); the IPv4 ones on both, an AF_INET6 socket's for its
// IPv4-mapped peers.
func (f *FD) ipOption(level, opt int) stack.IPOption {
	switch {
	case level == IPPROTO_IP && opt == IP_TTL:
		return stack.IPTTL
	case level == IPPROTO_IP && opt == IP_TOS:
		return stack.IPTOS
	case level == IPPROTO_IPV6 && f.v6 && opt == IPV6_UNICAST_HOPS:
		return stack.IPv6HopLimit
	case level == IPPROTO_IPV6 && f.v6 && opt == IPV6_TCLASS:
		return stack.IPv6TrafficClass
	}
	return 0
}

// SetsockoptLinger sets SO_LINGER. Only {on, 0} changes behaviour (Close
// aborts the connection with a RST, RFC 9293 §3.10.5); a positive timeout
// is accepted and Close stays graceful but does not block.
func (f *FD) SetsockoptLinger(l *syscall.Linger) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	if f.tcp == nil {
		return syscall.ENOPROTOOPT
	}
	if l.Linger < 0 {
		return syscall.EINVAL
	}
	f.tcp.SetLingerZero(l.Onoff != 0 && l.Linger == 0)
	return nil
}

// GetsockoptInt reads an integer option (getsockopt(2)). SO_ERROR returns
// and clears a pending connect error as an errno number.
func (f *FD) GetsockoptInt(level, opt int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, syscall.EBADF
	}
	if o := f.ipOption(level, opt); o != 0 {
		switch {
		case f.tcp != nil:
			return f.tcp.IPOption(o)
		case f.udp != nil:
			return f.udp.IPOption(o)
		}
		return 0, syscall.ENOPROTOOPT
	}
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	switch {
	case level == SOL_SOCKET && opt == SO_REUSEADDR:
		return b2i(f.reuse), nil
	case level == SOL_SOCKET && opt == SO_BROADCAST:
		return b2i(f.bcast), nil
	case level == SOL_SOCKET && opt == SO_RCVBUF:
		if f.rcvbuf == 0 {
			return 212992, nil
		}
		return f.rcvbuf, nil
	case level == SOL_SOCKET && opt == SO_SNDBUF:
		if f.sndbuf == 0 {
			return 212992, nil
		}
		return f.sndbuf, nil
	case level == SOL_SOCKET && opt == syscall.SO_TYPE:
		return f.typ, nil
	case level == SOL_SOCKET && opt == SO_ERROR:
		if f.tcp == nil {
			return 0, nil
		}
		var errno syscall.Errno
		if err := f.tcp.TakeError(); errors.As(err, &errno) {
			return int(errno), nil
		}
		return 0, nil
	case level == IPPROTO_TCP && opt == TCP_NODELAY && f.tcp != nil:
		return b2i(f.nodelay), nil
	case level == IPPROTO_IPV6 && opt == IPV6_V6ONLY && f.v6 && f.tcp != nil:
		return b2i(f.tcp.V6Only()), nil
	case level == IPPROTO_IPV6 && opt == IPV6_V6ONLY && f.v6 && f.udp != nil:
		return b2i(f.udp.V6Only()), nil
	case level == SOL_SOCKET && opt == SO_KEEPALIVE:
		return b2i(f.keepalive), nil
	case level == IPPROTO_TCP && f.tcp != nil:
		cfg := f.tcp.Config()
		switch opt {
		case TCP_KEEPIDLE:
			return int(cfg.KeepIdle / time.Second), nil
		case TCP_KEEPINTVL:
			return int(cfg.KeepInterval / time.Second), nil
		case TCP_KEEPCNT:
			return cfg.KeepCount, nil
		case TCP_USER_TIMEOUT:
			return int(cfg.UserTimeout / time.Millisecond), nil
		}
	}
	return 0, syscall.ENOPROTOOPT
}

// SetsockoptString sets a string option (setsockopt(2)). Supported:
// IPPROTO_TCP TCP_CONGESTION, the congestion control by name (one of
// tcp.CongestionControls: "cubic", "reno", "bbr"; ENOENT for another, as Linux).
func (f *FD) SetsockoptString(level, opt int, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	if level == IPPROTO_TCP && opt == TCP_CONGESTION && f.tcp != nil {
		return f.tcp.SetCongestion(value)
	}
	return syscall.ENOPROTOOPT
}

// GetsockoptString reads a string option (getsockopt(2)): IPPROTO_TCP
// TCP_CONGESTION.
func (f *FD) GetsockoptString(level, opt int) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return "", syscall.EBADF
	}
	if level == IPPROTO_TCP && opt == TCP_CONGESTION && f.tcp != nil {
		return f.tcp.Config().Congestion, nil
	}
	return "", syscall.ENOPROTOOPT
}

// Getsockname returns the local address (getsockname(2)).
func (f *FD) Getsockname() (netip.AddrPort, error) {
	if err := f.check(); err != nil {
		return netip.AddrPort{}, err
	}
	if f.ping != nil {
		if f.ping.V6() {
			return netip.AddrPortFrom(netip.IPv6Unspecified(), f.ping.Ident()), nil
		}
		return netip.AddrPortFrom(f.st.Addr(), f.ping.Ident()), nil
	}
	var a netip.AddrPort
	if f.tcp != nil {
		a = f.tcp.LocalAddr()
	} else {
		a = f.udp.LocalAddr()
	}
	if !a.IsValid() {
		if f.v6 {
			return netip.AddrPortFrom(netip.IPv6Unspecified(), 0), nil
		}
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0), nil
	}
	return a, nil
}

// Getpeername returns the connected peer, or ENOTCONN.
func (f *FD) Getpeername() (netip.AddrPort, error) {
	if err := f.check(); err != nil {
		return netip.AddrPort{}, err
	}
	var a netip.AddrPort
	switch {
	case f.udp != nil:
		a = f.udp.RemoteAddr()
	case f.tcp != nil:
		a = f.tcp.RemoteAddr()
	}
	if a.IsValid() {
		return a, nil
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
	switch {
	case f.ping != nil:
		f.ping.Close()
	case f.tcp != nil:
		f.tcp.Close()
	default:
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
