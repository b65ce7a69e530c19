package stack

import (
	"io"
	"net/netip"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/tcp"
)

// TCPEndpoint is one stream socket's state in the stack: unbound, bound,
// listening, or attached to a connection. Its methods never block: they
// return EAGAIN (or EINPROGRESS for Connect) and the caller waits on
// Readable, Writable and Done (package socket does this).
type TCPEndpoint struct {
	s      *Stack
	rd, wr signal
	done   chan struct{}
	closed bool

	local      netip.AddrPort
	bound      bool // holds a reference in s.tcpBound
	reuse      bool
	cfg        tcp.Config
	lingerZero bool // SO_LINGER on with a zero timeout: Close aborts
	rdShut     bool // SHUT_RD: reads return EOF
	errTaken   bool // the connection's error was reported once (sk_err cleared)
	v6         bool // AF_INET6 (NewTCPEndpoint6)
	v6only     bool // IPV6_V6ONLY

	ip  sockIP    // IP_TTL, IP_TOS, IPV6_UNICAST_HOPS, IPV6_TCLASS
	out tcpOutput // the tcp.Output of its connection or listener: sends with ip

	lis  *listenEntry
	conn *tcp.Conn // kept after the connection leaves the table, for its error and data
}

// NewTCPEndpoint opens an unbound stream endpoint.
func (s *Stack) NewTCPEndpoint() (*TCPEndpoint, error) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrStackClosed
	}
	e := s.newTCPEndpointLocked()
	return e, nil
}

// NewTCPEndpoint6 opens an unbound AF_INET6 stream endpoint: it binds and
// connects to IPv6 addresses and, unless SetV6Only, to IPv4 ones as
// IPv4-mapped addresses (RFC 3493 §3.7), which it also reports its IPv4
// peers as.
func (s *Stack) NewTCPEndpoint6() (*TCPEndpoint, error) {
	e, err := s.NewTCPEndpoint()
	if err == nil {
		e.v6 = true
	}
	return e, err
}

// SetV6Only sets IPV6_V6ONLY: an AF_INET6 endpoint that binds the wildcard
// takes IPv6 only, leaving the port's IPv4 side to another socket. As
// Linux: ENOPROTOOPT on an AF_INET endpoint, EINVAL once bound.
func (e *TCPEndpoint) SetV6Only(on bool) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	switch {
	case !e.v6:
		return syscall.ENOPROTOOPT
	case e.bound || e.conn != nil:
		return syscall.EINVAL
	}
	e.v6only = on
	return nil
}

// V6Only reports IPV6_V6ONLY.
func (e *TCPEndpoint) V6Only() bool {
	e.s.mu.Lock()
	defer e.s.unlock()
	return e.v6only
}

// famsLocked is the families the bound endpoint takes (famsOf).
func (e *TCPEndpoint) famsLocked() uint8 { return famsOf(e.v6, e.v6only, e.local.Addr()) }

// wildcard is the endpoint's family's unspecified address.
func (e *TCPEndpoint) wildcard() netip.Addr {
	if e.v6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

func (s *Stack) newTCPEndpointLocked() *TCPEndpoint {
	e := &TCPEndpoint{s: s, rd: newSignal(), wr: newSignal(), done: make(chan struct{}), cfg: s.tcpCfg}
	e.out = tcpOutput{s: s, ip: &e.ip}
	s.tcpEPs[e] = struct{}{}
	return e
}

// Readable is signalled when Read or Accept may make progress.
func (e *TCPEndpoint) Readable() <-chan struct{} { return e.rd.ch }

// Writable is signalled when Write may make progress or Connect finished.
func (e *TCPEndpoint) Writable() <-chan struct{} { return e.wr.ch }

// Done is closed when the endpoint (or the stack) closes.
func (e *TCPEndpoint) Done() <-chan struct{} { return e.done }

// closedLocked reports whether the endpoint is closed, or the stack is:
// Stack.Close wakes a TCP endpoint's callers but leaves its connection
// in the table, so every call but Close must also fail after it.
func (e *TCPEndpoint) closedLocked() bool { return e.closed || e.s.closed }

func (e *TCPEndpoint) closeNotifiers() {
	select {
	case <-e.done:
	default:
		close(e.done)
	}
	e.rd.notify()
	e.wr.notify()
}

// Bind binds to local (our address or unspecified; port 0 picks an
// ephemeral port). Two sockets may share a port only if both set
// SO_REUSEADDR and neither listens, as on Linux.
func (e *TCPEndpoint) Bind(local netip.AddrPort, reuse bool) (netip.AddrPort, error) {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.closedLocked() {
		return netip.AddrPort{}, errClosed
	}
	var a netip.Addr
	var err error
	if e.v6 {
		a, err = e.s.bindAddr6Locked(sockAddr6(local.Addr()), e.v6only)
	} else {
		a, err = e.s.bindAddrLocked(local.Addr())
	}
	if err != nil {
		return netip.AddrPort{}, err
	}
	if e.bound || e.conn != nil {
		return netip.AddrPort{}, syscall.EINVAL
	}
	e.reuse = reuse
	return e.bindLocked(a, local.Port())
}

// bindLocked binds to port (0: an ephemeral one) on a, an address
// bindAddrLocked accepted.
func (e *TCPEndpoint) bindLocked(a netip.Addr, port uint16) (netip.AddrPort, error) {
	s := e.s
	if port == 0 {
		p, ok := s.tcpPorts.Pick(func(p uint16) bool { return s.tcpBound[p] > 0 || s.listenerBusyLocked(p, fam4|fam6) })
		if !ok {
			return netip.AddrPort{}, syscall.EADDRINUSE
		}
		port = p
	} else if s.tcpPortBusyLocked(port, famsOf(e.v6, e.v6only, a), e.reuse) {
		return netip.AddrPort{}, syscall.EADDRINUSE
	}
	s.tcpBound[port]++
	e.bound = true
	e.local = netip.AddrPortFrom(a, port)
	return e.local, nil
}

// Listen makes the endpoint a listener with the given backlog (RFC 9293
// §3.10.1 passive OPEN); it binds an ephemeral port first if needed.
func (e *TCPEndpoint) Listen(backlog int) error {
	s := e.s
	s.mu.Lock()
	defer s.unlock()
	switch {
	case e.closedLocked():
		return errClosed
	case e.conn != nil:
		return syscall.EINVAL
	case e.lis != nil:
		return nil // Linux lets listen() adjust the backlog; ours is fixed at first call
	}
	if !e.bound {
		if _, err := e.bindLocked(e.wildcard(), 0); err != nil {
			return err
		}
	}
	fams := e.famsLocked()
	if s.listenerBusyLocked(e.local.Port(), fams) {
		return syscall.EADDRINUSE
	}
	backlog = max(1, min(backlog, 4096)) // Linux caps at net.core.somaxconn (4096)
	le := &listenEntry{lis: tcp.NewListener(e.cfg, e.local, backlog, &e.out), ep: e, backlog: backlog, fams: fams}
	s.addListenerLocked(e.local.Port(), le)
	s.tcpListenerOf[le.lis] = le
	e.lis = le
	return nil
}

// Accept takes a connection from the accept queue; EAGAIN when it is empty.
func (e *TCPEndpoint) Accept() (*TCPEndpoint, error) {
	s := e.s
	s.mu.Lock()
	defer s.unlock()
	switch {
	case e.closedLocked():
		return nil, errClosed
	case e.lis == nil:
		return nil, syscall.EINVAL
	}
	for {
		c := e.lis.lis.Accept()
		if c == nil {
			return nil, syscall.EAGAIN
		}
		entry := s.tcpByConn[c]
		if entry == nil {
			continue // it died while it waited; Linux would hand it over and let recv report the reset
		}
		child := s.newTCPEndpointLocked()
		child.cfg = e.cfg
		child.v6, child.v6only = e.v6, e.v6only
		child.local = c.LocalAddr()
		child.conn = c
		entry.ep = child
		// The IP options too (Linux's sk_clone_lock copies the inet
		// socket): the SYN-ACK went with the listener's, the rest of
		// the connection goes with the child's own.
		child.ip = e.ip
		c.SetOutput(&child.out)
		e.inheritLocked(c, s.clock.Now())
		s.afterTCPLocked(entry)
		if e.lis.lis.Pending() > 0 {
			e.rd.notify()
		}
		return child, nil
	}
}

// Connect starts an active open (RFC 9293 §3.10.1) and returns
// EINPROGRESS; the caller waits on Writable and asks ConnectResult.
func (e *TCPEndpoint) Connect(remote netip.AddrPort) error {
	s := e.s
	s.mu.Lock()
	defer s.unlock()
	switch {
	case e.closedLocked():
		return errClosed
	case e.lis != nil:
		return syscall.EISCONN
	case e.conn != nil && e.conn.State() == tcp.StateSynSent:
		return syscall.EALREADY
	case e.conn != nil:
		return syscall.EISCONN
	}
	ra, err := e.connectAddrLocked(remote.Addr())
	if err != nil {
		return err
	}
	remote = netip.AddrPortFrom(ra, remote.Port())
	switch {
	// RFC 9293 §3.9.1.1 (MUST-46): an OPEN to a broadcast or multicast
	// address is an error; ENETUNREACH as Linux's tcp_v4_connect and
	// tcp_v6_connect. Unlike Linux, which connects 0.0.0.0 and :: to the
	// local host (127.0.0.1, ::1), a stack with no loopback address
	// refuses them too.
	case s.isBroadcast(ra) || ra.IsMulticast() || ra.IsUnspecified():
		return syscall.ENETUNREACH
	case remote.Port() == 0:
		return syscall.ECONNREFUSED
	}
	cfg := e.cfg
	var localAddr netip.Addr
	if ra.Is4() {
		if ra != s.addr {
			if _, _, ok := s.routes.Lookup(ra); !ok {
				return syscall.ENETUNREACH
			}
		}
		localAddr = s.addr
	} else {
		// RFC 6724 §5 source selection unless bound to an address.
		localAddr = e.local.Addr()
		if !e.bound || localAddr.IsUnspecified() {
			localAddr = s.source6Locked(ra)
		}
		if !localAddr.IsValid() {
			return syscall.ENETUNREACH
		}
		cfg.MSS = min(cfg.MSS, s.mss6Locked())
	}
	if !e.bound {
		if _, err := e.bindLocked(e.wildcard(), 0); err != nil {
			return syscall.EADDRNOTAVAIL // Linux (inet_hash_connect, connect(2)): no ephemeral port left
		}
	}
	if len(s.tcpConns) >= s.maxConns {
		s.stats.TCP.ConnLimitDrops++
		return syscall.ENOBUFS
	}
	if s.tcpMem.Exhausted() {
		s.stats.TCP.MemLimitDrops++
		return syscall.ENOBUFS
	}
	local := netip.AddrPortFrom(localAddr, e.local.Port())
	key := tcpKey{local: local, remote: remote}
	if s.tcpConns[key] != nil {
		return syscall.EADDRNOTAVAIL
	}
	now := s.clock.Now()
	c := tcp.NewConn(cfg, local, remote, s.isn.Next(local, remote, now), &e.out)
	e.conn = c
	entry := s.addConnLocked(key, c, e)
	if err := c.Connect(now); err != nil {
		s.removeConnLocked(entry)
		return err
	}
	s.stats.TCP.ActiveOpens++
	s.afterTCPLocked(entry)
	return syscall.EINPROGRESS
}

// ConnectResult reports a started Connect's outcome: nil once established,
// EINPROGRESS while the handshake runs, or the error that ended it.
func (e *TCPEndpoint) ConnectResult() error {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.conn == nil {
		return syscall.ENOTCONN
	}
	if err := e.conn.Err(); err != nil {
		e.errTaken = true
		return err
	}
	switch e.conn.State() {
	case tcp.StateSynSent, tcp.StateSynReceived:
		return syscall.EINPROGRESS
	case tcp.StateClosed:
		return syscall.ECONNREFUSED
	}
	return nil
}

// TakeError returns the connection's error once, as getsockopt(SO_ERROR)
// does on Linux (it clears sk_err): later calls return nil, reads then see
// the end of the stream and writes EPIPE.
func (e *TCPEndpoint) TakeError() error {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.conn == nil || e.errTaken {
		return nil
	}
	err := e.conn.Err()
	if err != nil {
		e.errTaken = true
	}
	return err
}

// connErrLocked filters an error from the connection: its sticky error is
// reported once, then becomes after (EOF for reads, EPIPE for writes).
func (e *TCPEndpoint) connErrLocked(err, after error) error {
	if err == nil || err != e.conn.Err() {
		return err
	}
	if e.errTaken {
		return after
	}
	e.errTaken = true
	return err
}

// entryLocked returns e's connection's table entry, nil once it left.
func (e *TCPEndpoint) entryLocked() *tcpEntry {
	if e.conn == nil {
		return nil
	}
	return e.s.tcpByConn[e.conn]
}

// Read copies received bytes into p: io.EOF after the peer's FIN, EAGAIN
// when nothing is waiting.
func (e *TCPEndpoint) Read(p []byte, peek bool) (int, error) {
	s := e.s
	s.mu.Lock()
	defer s.unlock()
	switch {
	case e.closedLocked():
		return 0, errClosed
	case e.conn == nil:
		return 0, syscall.ENOTCONN
	case e.rdShut:
		return 0, io.EOF
	}
	if peek {
		n, err := e.conn.Peek(p)
		return n, e.connErrLocked(err, io.EOF)
	}
	n, err := e.conn.Read(p, s.clock.Now())
	if entry := e.entryLocked(); entry != nil {
		s.afterTCPLocked(entry)
	}
	if n > 0 && e.conn.Readable() > 0 {
		e.rd.notify()
	}
	return n, e.connErrLocked(err, io.EOF)
}

// Write queues p for sending: partial writes happen, EAGAIN when the send
// buffer is full, EPIPE after shutdown.
func (e *TCPEndpoint) Write(p []byte) (int, error) {
	s := e.s
	s.mu.Lock()
	defer s.unlock()
	switch {
	case e.closedLocked():
		return 0, errClosed
	case e.conn == nil:
		return 0, syscall.ENOTCONN
	}
	if e.errTaken && e.conn.Err() != nil {
		return 0, syscall.EPIPE
	}
	n, err := e.conn.Write(p, s.clock.Now())
	if entry := e.entryLocked(); entry != nil {
		s.afterTCPLocked(entry)
	}
	return n, e.connErrLocked(err, syscall.EPIPE)
}

// Shutdown implements shutdown(2): syscall.SHUT_RD, SHUT_WR or SHUT_RDWR.
func (e *TCPEndpoint) Shutdown(how int) error {
	s := e.s
	s.mu.Lock()
	defer s.unlock()
	switch {
	case e.closedLocked():
		return errClosed
	case e.conn == nil:
		return syscall.ENOTCONN
	case how != syscall.SHUT_RD && how != syscall.SHUT_WR && how != syscall.SHUT_RDWR:
		return syscall.EINVAL
	}
	if how != syscall.SHUT_WR {
		e.rdShut = true
		e.rd.notify()
	}
	if how != syscall.SHUT_RD {
		err := e.conn.Shutdown(s.clock.Now())
		if entry := e.entryLocked(); entry != nil {
			s.afterTCPLocked(entry)
		}
		return err
	}
	return nil
}

// Close closes the socket (RFC 9293 §3.10.4). The connection lives on in
// the stack until its close handshake and TIME-WAIT finish; a listener's
// unaccepted connections are reset. With SO_LINGER 0 the connection is
// aborted with a RST.
func (e *TCPEndpoint) Close() error {
	s := e.s
	s.mu.Lock()
	defer s.unlock()
	if e.closed {
		return errClosed
	}
	e.closed = true
	delete(s.tcpEPs, e)
	now := s.clock.Now()
	if e.lis != nil {
		for _, c := range e.lis.lis.Close(now) {
			if entry := s.tcpByConn[c]; entry != nil {
				s.afterTCPLocked(entry)
			}
		}
		s.removeListenerLocked(e.local.Port(), e.lis)
		delete(s.tcpListenerOf, e.lis.lis)
	}
	if entry := e.entryLocked(); entry != nil {
		entry.ep = nil
		if e.lingerZero {
			e.conn.Abort(now)
		} else {
			e.conn.Close(now)
		}
		s.afterTCPLocked(entry)
	}
	if e.bound {
		if s.tcpBound[e.local.Port()]--; s.tcpBound[e.local.Port()] <= 0 {
			delete(s.tcpBound, e.local.Port())
		}
		e.bound = false
	}
	e.closeNotifiers()
	return nil
}

// PollState reports readiness like poll(2): readable (data, EOF, error or
// a pending connection), writable (send space, or a finished connect),
// and whether the connection is over (hangup) or failed.
func (e *TCPEndpoint) PollState() (readable, writable, hup bool, err error) {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.closedLocked() {
		return false, false, true, nil
	}
	if e.lis != nil {
		return e.lis.lis.Pending() > 0, false, false, nil
	}
	if e.conn == nil {
		return false, false, true, nil
	}
	c := e.conn
	err = c.Err()
	st := c.State()
	readable = c.Readable() > 0 || c.ReadClosed() || e.rdShut || err != nil
	synced := st != tcp.StateSynSent && st != tcp.StateSynReceived
	// As Linux's tcp_poll: once the write side is shut a write fails at
	// once (EPIPE), so the socket is writable.
	writable = err != nil || (synced && (c.WriteClosed() || c.Writable() > 0))
	hup = st == tcp.StateClosed || st == tcp.StateTimeWait
	return readable, writable, hup, err
}

// AddWaiter registers w to be pinged on any readiness change; Poll uses it.
func (e *TCPEndpoint) AddWaiter(w chan struct{}) {
	e.s.mu.Lock()
	e.rd.addWaiter(w)
	e.wr.addWaiter(w)
	e.s.mu.Unlock()
}

// RemoveWaiter undoes AddWaiter.
func (e *TCPEndpoint) RemoveWaiter(w chan struct{}) {
	e.s.mu.Lock()
	e.rd.removeWaiter(w)
	e.wr.removeWaiter(w)
	e.s.mu.Unlock()
}

// SetIPOption sets one of the socket's IP header fields (IPOption has
// each one's bounds; EINVAL outside them, as Linux). Its connection's
// segments carry it from the next one sent; an accepted connection starts
// with its listener's.
func (e *TCPEndpoint) SetIPOption(opt IPOption, v int) error {
	e.s.mu.Lock()
	defer e.s.unlock()
	return e.ip.set(opt, v, true)
}

// IPOption reads one of the socket's IP header fields (an unset TTL or
// hop limit reads as the stack's).
func (e *TCPEndpoint) IPOption(opt IPOption) (int, error) {
	e.s.mu.Lock()
	defer e.s.unlock()
	return e.ip.get(opt, e.s)
}

// SetNoDelay sets TCP_NODELAY.
func (e *TCPEndpoint) SetNoDelay(on bool) {
	e.s.mu.Lock()
	defer e.s.unlock()
	e.cfg.NoDelay = on
	// Turning Nagle off releases held data at once (Linux pushes pending
	// frames when TCP_NODELAY is set).
	e.applyLocked(func(c *tcp.Conn, now time.Time) {
		c.SetNoDelay(on)
		if on {
			c.Push(now)
		}
	})
}

// applyLocked runs fn on the connection, if there is one in the table,
// and re-arms its timer.
func (e *TCPEndpoint) applyLocked(fn func(c *tcp.Conn, now time.Time)) {
	if e.conn == nil {
		return
	}
	fn(e.conn, e.s.clock.Now())
	if entry := e.entryLocked(); entry != nil {
		e.s.afterTCPLocked(entry)
	}
}

// SetKeepAlive sets SO_KEEPALIVE (RFC 1122 §4.2.3.6): turning it on arms
// the first probe TCP_KEEPIDLE from now, as Linux.
func (e *TCPEndpoint) SetKeepAlive(on bool) {
	e.s.mu.Lock()
	defer e.s.unlock()
	e.cfg.KeepAlive = on
	e.applyLocked(func(c *tcp.Conn, now time.Time) { c.SetKeepAlive(on, now) })
}

// SetKeepIdle sets TCP_KEEPIDLE: the idle time before the first probe.
func (e *TCPEndpoint) SetKeepIdle(d time.Duration) {
	e.s.mu.Lock()
	defer e.s.unlock()
	e.cfg.KeepIdle = d
	e.applyLocked(func(c *tcp.Conn, now time.Time) { c.SetKeepIdle(d, now) })
}

// SetKeepInterval sets TCP_KEEPINTVL: the time between probes.
func (e *TCPEndpoint) SetKeepInterval(d time.Duration) {
	e.s.mu.Lock()
	defer e.s.unlock()
	e.cfg.KeepInterval = d
	e.applyLocked(func(c *tcp.Conn, _ time.Time) { c.SetKeepInterval(d) })
}

// SetKeepCount sets TCP_KEEPCNT: unanswered probes before ETIMEDOUT.
func (e *TCPEndpoint) SetKeepCount(n int) {
	e.s.mu.Lock()
	defer e.s.unlock()
	e.cfg.KeepCount = n
	e.applyLocked(func(c *tcp.Conn, _ time.Time) { c.SetKeepCount(n) })
}

// SetUserTimeout sets TCP_USER_TIMEOUT (0: off).
func (e *TCPEndpoint) SetUserTimeout(d time.Duration) {
	e.s.mu.Lock()
	defer e.s.unlock()
	e.cfg.UserTimeout = d
	e.applyLocked(func(c *tcp.Conn, _ time.Time) { c.SetUserTimeout(d) })
}

// SetCongestion sets TCP_CONGESTION: the congestion control of the
// connection, or of those a listening socket accepts (one of
// tcp.CongestionControls; another name is ENOENT, as on Linux).
func (e *TCPEndpoint) SetCongestion(name string) error {
	if !tcp.IsCongestionControl(name) {
		return syscall.ENOENT
	}
	e.s.mu.Lock()
	defer e.s.unlock()
	e.cfg.Congestion = name
	e.applyLocked(func(c *tcp.Conn, _ time.Time) { c.SetCongestion(name) })
	return nil
}

// Config returns the endpoint's TCP configuration with its defaults
// filled in: what getsockopt reports.
func (e *TCPEndpoint) Config() tcp.Config {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.conn != nil {
		return e.conn.Config()
	}
	return e.cfg.WithDefaults()
}

// inheritLocked gives an accepted connection the options set on the
// listening socket after Listen (the Listener took a copy of the
// configuration when it started): as in Linux, a child inherits the
// listener's options as they are when it is created.
func (e *TCPEndpoint) inheritLocked(c *tcp.Conn, now time.Time) {
	cc := c.Config()
	if cc.NoDelay != e.cfg.NoDelay {
		c.SetNoDelay(e.cfg.NoDelay)
	}
	c.SetKeepInterval(e.cfg.KeepInterval)
	c.SetKeepCount(e.cfg.KeepCount)
	c.SetUserTimeout(e.cfg.UserTimeout)
	if d := e.cfg.KeepIdle; d > 0 && d != cc.KeepIdle || d <= 0 && cc.KeepIdle != tcp.DefaultKeepIdle {
		c.SetKeepIdle(d, now)
	}
	c.SetKeepAlive(e.cfg.KeepAlive, now)
	if e.cfg.Congestion != "" {
		c.SetCongestion(e.cfg.Congestion) // a known name: SetCongestion checked it
	}
	// SO_RCVBUF and SO_SNDBUF too (Linux's sk_clone_lock copies
	// sk_rcvbuf and sk_sndbuf); the window scale was fixed by the
	// listener's configuration when the SYN was answered.
	if n := e.cfg.RcvBuf; n > 0 && n != cc.RcvBuf {
		c.SetRcvBuf(n)
	}
	if n := e.cfg.SndBuf; e.cfg.SndBufLocked && (n != cc.SndBuf || !cc.SndBufLocked) {
		c.SetSndBuf(n) // SO_SNDBUF's lock too (sk_userlocks)
	}
}

// SetRcvBuf sets SO_RCVBUF in bytes; before connecting it also fixes the
// window scale offered on the SYN.
func (e *TCPEndpoint) SetRcvBuf(n int) {
	e.s.mu.Lock()
	defer e.s.unlock()
	e.cfg.RcvBuf = n
	e.applyLocked(func(c *tcp.Conn, _ time.Time) { c.SetRcvBuf(n) })
}

// SetSndBuf sets SO_SNDBUF in bytes.
func (e *TCPEndpoint) SetSndBuf(n int) {
	e.s.mu.Lock()
	defer e.s.unlock()
	e.cfg.SndBuf, e.cfg.SndBufLocked = n, true // no autotuning (SOCK_SNDBUF_LOCK)
	e.applyLocked(func(c *tcp.Conn, _ time.Time) { c.SetSndBuf(n) })
}

// SetLingerZero sets SO_LINGER {on, 0}: Close aborts with a RST.
func (e *TCPEndpoint) SetLingerZero(on bool) {
	e.s.mu.Lock()
	e.lingerZero = on
	e.s.mu.Unlock()
}

// LocalAddr returns the bound address (our address once connected).
func (e *TCPEndpoint) LocalAddr() netip.AddrPort {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.conn != nil {
		a := e.conn.LocalAddr()
		if a.Addr().IsUnspecified() {
			// Accepted from a wildcard listener: the address the
			// connection's segments come from.
			a = netip.AddrPortFrom(e.s.wildcardSourceLocked(e.conn.RemoteAddr().Addr()), a.Port())
		}
		return presentAddr(e.v6, a)
	}
	return presentAddr(e.v6, e.local)
}

// RemoteAddr returns the peer, or the zero value.
func (e *TCPEndpoint) RemoteAddr() netip.AddrPort {
	e.s.mu.Lock()
	defer e.s.unlock()
	if e.conn != nil {
		return presentAddr(e.v6, e.conn.RemoteAddr())
	}
	return netip.AddrPort{}
}

// connectAddrLocked checks a peer address for Connect and returns it in
// the table's form: an AF_INET endpoint takes IPv4 only (EAFNOSUPPORT);
// an AF_INET6 one IPv6, and IPv4 as a mapped address unless IPV6_V6ONLY
// or bound to an IPv6 address (ENETUNREACH, Linux's tcp_v6_connect).
func (e *TCPEndpoint) connectAddrLocked(a netip.Addr) (netip.Addr, error) {
	if !e.v6 {
		if !a.Is4() {
			return netip.Addr{}, syscall.EAFNOSUPPORT
		}
		return a, nil
	}
	a = sockAddr6(a)
	if a.Is4() && (e.v6only || e.bound && e.famsLocked()&fam4 == 0) {
		return netip.Addr{}, syscall.ENETUNREACH
	}
	if !a.Is4() && e.bound && e.famsLocked()&fam6 == 0 {
		return netip.Addr{}, syscall.ENETUNREACH
	}
	return a, nil
}
