package socket

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Conn is a TCP connection as a net.Conn. As Go's own *net.TCPConn,
// multiple goroutines may invoke its methods simultaneously; deadlines
// apply to calls already blocked; Close unblocks every call.
type Conn struct {
	fd            *FD
	local, remote net.Addr
}

var _ net.Conn = (*Conn)(nil)

func newConn(fd *FD) *Conn {
	la, _ := fd.Getsockname()
	ra, _ := fd.Getpeername()
	link := fd.st.LinkName()
	return &Conn{fd: fd, local: net.TCPAddrFromAddrPort(zoned(la, link)), remote: net.TCPAddrFromAddrPort(zoned(ra, link))}
}

// Read reads data; io.EOF after the peer's FIN.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.fd.recvStream(b, 0)
	if err != nil {
		return 0, c.opError("read", err)
	}
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// copyBufs are the buffers WriteTo borrows while data is there.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// WriteTo copies what the peer sends to w until its FIN (io.WriterTo, so
// io.Copy from a Conn uses it). It waits for data holding no buffer, and
// borrows one from a shared pool only while there is data to move: a
// thousand idle connections in io.Copy cost a thousand goroutines, not a
// thousand buffers (Go's *net.TCPConn avoids the buffer with splice).
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := c.fd.waitReadable(); err != nil {
			return total, c.opError("read", err)
		}
		bp := copyBufs.Get().(*[]byte)
		n, err := c.drainTo(w, *bp)
		copyBufs.Put(bp)
		total += n
		if err != errDrained {
			return total, err
		}
	}
}

// errDrained is drainTo's report that no data is left for now.
var errDrained = errors.New("socket: drained")

// drainTo moves data to w through buf until none is left (errDrained),
// the peer's FIN (nil), or an error.
func (c *Conn) drainTo(w io.Writer, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := c.fd.recvStream(buf, MSG_DONTWAIT)
		switch {
		case n > 0:
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr == nil && m < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return total, werr
			}
		case err == syscall.EAGAIN:
			return total, errDrained
		case err != nil:
			return total, c.opError("read", err)
		default:
			return total, nil // EOF
		}
	}
}

// Write writes all of b, blocking while the send buffer is full.
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.fd.sendStream(b, 0)
	if err == nil && n < len(b) {
		// sendStream stopped early: the error shows on the next call.
		_, err = c.fd.sendStream(b[n:], 0)
	}
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	if err := c.fd.Close(); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// CloseWrite shuts down the sending side (a FIN), as *net.TCPConn.
func (c *Conn) CloseWrite() error {
	if err := c.fd.Shutdown(SHUT_WR); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// CloseRead shuts down the receiving side.
func (c *Conn) CloseRead() error {
	if err := c.fd.Shutdown(SHUT_RD); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// LocalAddr returns the local *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.fd.check(); err != nil {
		return c.opError("set", err)
	}
	c.fd.rd.set(t)
	c.fd.wd.set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if err := c.fd.check(); err != nil {
		return c.opError("set", err)
	}
	c.fd.rd.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if err := c.fd.check(); err != nil {
		return c.opError("set", err)
	}
	c.fd.wd.set(t)
	return nil
}

// SetNoDelay sets TCP_NODELAY (Nagle off when true).
func (c *Conn) SetNoDelay(on bool) error {
	v := 0
	if on {
		v = 1
	}
	return c.fd.SetsockoptInt(IPPROTO_TCP, TCP_NODELAY, v)
}

// defaultKeepAlive is Go's defaultTCPKeepAliveIdle and
// defaultTCPKeepAliveInterval (15s) and defaultTCPKeepAliveCount (9): what
// *net.TCPConn uses for a zero period.
const (
	defaultKeepAlivePeriod = 15 * time.Second
	defaultKeepAliveCount  = 9
)

// SetKeepAlive sets SO_KEEPALIVE, as *net.TCPConn.SetKeepAlive.
func (c *Conn) SetKeepAlive(on bool) error {
	v := 0
	if on {
		v = 1
	}
	if err := c.fd.SetsockoptInt(SOL_SOCKET, SO_KEEPALIVE, v); err != nil {
		return c.opError("set", err)
	}
	return nil
}

// SetKeepAlivePeriod sets the idle time before the first keep-alive
// probe (TCP_KEEPIDLE), as *net.TCPConn.SetKeepAlivePeriod: rounded up to
// whole seconds, 0 meaning Go's default of 15s, a negative value leaving
// it unchanged.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	if err := c.setKeepAliveSecs(TCP_KEEPIDLE, d, defaultKeepAlivePeriod); err != nil {
		return c.opError("set", err)
	}
	return nil
}

// SetKeepAliveConfig configures keep-alive as *net.TCPConn.SetKeepAliveConfig:
// for Idle, Interval and Count, 0 means Go's default (15s, 15s, 9) and a
// negative value leaves the setting unchanged.
func (c *Conn) SetKeepAliveConfig(config net.KeepAliveConfig) error {
	err := c.SetKeepAlive(config.Enable)
	if err != nil || !config.Enable {
		return err
	}
	if err := c.setKeepAliveSecs(TCP_KEEPIDLE, config.Idle, defaultKeepAlivePeriod); err != nil {
		return c.opError("set", err)
	}
	if err := c.setKeepAliveSecs(TCP_KEEPINTVL, config.Interval, defaultKeepAlivePeriod); err != nil {
		return c.opError("set", err)
	}
	n := config.Count
	if n == 0 {
		n = defaultKeepAliveCount
	}
	if n > 0 {
		if err := c.fd.SetsockoptInt(IPPROTO_TCP, TCP_KEEPCNT, n); err != nil {
			return c.opError("set", err)
		}
	}
	return nil
}

func (c *Conn) setKeepAliveSecs(opt int, d, def time.Duration) error {
	switch {
	case d == 0:
		d = def
	case d < 0:
		return nil
	}
	secs := int((d + time.Second - 1) / time.Second)
	return c.fd.SetsockoptInt(IPPROTO_TCP, opt, secs)
}

// SetLinger sets SO_LINGER as *net.TCPConn.SetLinger: 0 makes Close abort
// the connection with a RST.
func (c *Conn) SetLinger(sec int) error {
	l := &syscall.Linger{}
	if sec >= 0 {
		l.Onoff, l.Linger = 1, int32(sec)
	}
	return c.fd.SetsockoptLinger(l)
}

// FD returns the underlying socket.
func (c *Conn) FD() *FD { return c.fd }

func (c *Conn) opError(op string, err error) error {
	if err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: wrapErrno(err)}
}

// Listener is a TCP listening socket as a net.Listener.
type Listener struct {
	fd   *FD
	addr net.Addr
}

var _ net.Listener = (*Listener)(nil)

// Listen opens a TCP listener on st, as net.Listen: network "tcp", "tcp4"
// or "tcp6", address "host:port", ":port" or ":0". As Go's net, "tcp" on a
// wildcard address (":80", "0.0.0.0:80", "[::]:80") listens on [::] for
// both families, IPv4 peers showing as ::ffff:a.b.c.d; "tcp4" is IPv4
// only and "tcp6" IPv6 only (IPV6_V6ONLY). The backlog is 4096 (Go's
// default is the system's somaxconn), and SO_REUSEADDR is set, as Go does.
func Listen(st *stack.Stack, network, address string) (*Listener, error) {
	opErr := func(ap netip.AddrPort, err error) error {
		var a net.Addr
		if ap.IsValid() {
			a = net.TCPAddrFromAddrPort(ap)
		}
		return &net.OpError{Op: "listen", Net: network, Addr: a, Err: wrapErrno(err)}
	}
	if !isNetwork(network, "tcp") {
		return nil, opErr(netip.AddrPort{}, net.UnknownNetworkError(network))
	}
	ap, err := resolveAddrPort(network, address)
	if err != nil {
		return nil, opErr(netip.AddrPort{}, err)
	}
	domain, v6only, ap, err := netFamily(network, ap, true)
	if err != nil {
		return nil, opErr(netip.AddrPort{}, err)
	}
	fd, err := newNetSocket(func(d int) (*FD, error) { return Socket(st, d, SOCK_STREAM, 0) }, domain, v6only)
	if err != nil {
		return nil, opErr(ap, err)
	}
	fd.SetsockoptInt(SOL_SOCKET, SO_REUSEADDR, 1)
	if err := fd.Bind(ap); err != nil {
		fd.Close()
		return nil, opErr(ap, err)
	}
	if err := fd.Listen(4096); err != nil {
		fd.Close()
		return nil, opErr(ap, err)
	}
	la, _ := fd.Getsockname()
	return &Listener{fd: fd, addr: net.TCPAddrFromAddrPort(la)}, nil
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	fd, _, err := l.fd.Accept()
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: wrapErrno(err)}
	}
	return newConn(fd), nil
}

// Close stops listening; connections not yet accepted are reset.
func (l *Listener) Close() error {
	if err := l.fd.Close(); err != nil {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: wrapErrno(err)}
	}
	return nil
}

// Addr returns the listener's *net.TCPAddr.
func (l *Listener) Addr() net.Addr { return l.addr }

// SetDeadline makes Accept fail with a timeout after t.
func (l *Listener) SetDeadline(t time.Time) error {
	if err := l.fd.check(); err != nil {
		return &net.OpError{Op: "set", Net: "tcp", Addr: l.addr, Err: wrapErrno(err)}
	}
	l.fd.rd.set(t)
	return nil
}

// FD returns the underlying socket.
func (l *Listener) FD() *FD { return l.fd }

// Dialer dials TCP connections through a stack. Its DialContext fits
// http.Transport.DialContext, so net/http clients run over tapstack.
type Dialer struct {
	Stack *stack.Stack
	// Timeout bounds the handshake, as net.Dialer.Timeout; 0 means none
	// beyond the context's deadline and TCP's own SYN retries.
	Timeout time.Duration
}

// Dial connects to address on st, as net.Dial: network "tcp", "tcp4" or
// "tcp6" (a *Conn), or "udp", "udp4" or "udp6" (a connected *UDPConn);
// "tcp" and "udp" take the address's family. An IPv6 link-local host may
// carry a zone ("[fe80::1%tap0]:80"): the stack's link name or none.
func Dial(st *stack.Stack, network, address string) (net.Conn, error) {
	return DialContext(context.Background(), st, network, address)
}

// DialContext is Dial with a context that cancels or times out a TCP
// handshake (a UDP connect does not wait, but a context already done
// fails it too).
func DialContext(ctx context.Context, st *stack.Stack, network, address string) (net.Conn, error) {
	return (&Dialer{Stack: st}).DialContext(ctx, network, address)
}

// DialContext connects to address; ctx cancels or times out the handshake.
// Networks as Dial.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if isNetwork(network, "udp") {
		c, err := dialUDP(ctx, d.Stack, network, address)
		if err != nil {
			return nil, err // a nil net.Conn, not a nil *UDPConn in one
		}
		return c, nil
	}
	opErr := func(ap netip.AddrPort, err error) error {
		var a net.Addr
		if ap.IsValid() {
			a = net.TCPAddrFromAddrPort(ap)
		}
		if errors.Is(err, errCanceled) {
			err = ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = errTimeout{}
			}
		}
		return &net.OpError{Op: "dial", Net: network, Addr: a, Err: wrapErrno(err)}
	}
	if !isNetwork(network, "tcp") {
		return nil, opErr(netip.AddrPort{}, net.UnknownNetworkError(network))
	}
	ap, err := resolveAddrPort(network, address)
	if err != nil {
		return nil, opErr(netip.AddrPort{}, err)
	}
	domain, v6only, ap, err := netFamily(network, ap, false)
	if err != nil {
		return nil, opErr(netip.AddrPort{}, err)
	}
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	fd, err := newNetSocket(func(dom int) (*FD, error) { return Socket(d.Stack, dom, SOCK_STREAM|syscall.SOCK_NONBLOCK, 0) }, domain, v6only)
	if err != nil {
		return nil, opErr(ap, err)
	}
	if err := fd.Connect(ap); err != syscall.EINPROGRESS {
		fd.Close()
		return nil, opErr(ap, err)
	}
	if err := fd.waitConnected(ctx.Done()); err != nil {
		fd.Close()
		return nil, opErr(ap, err)
	}
	fd.SetNonblock(false)
	return newConn(fd), nil
}

// errTimeout is a dial that ran out of time: Timeout() is true, as with
// Go's own dialer.
type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

// Is makes errors.Is(err, context.DeadlineExceeded) hold, as for Go's own
// dial timeouts.
func (errTimeout) Is(target error) bool { return target == context.DeadlineExceeded }
