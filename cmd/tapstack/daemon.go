package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// The HTTP service's limits. A request's header must arrive within
// httpHeaderTimeout (slow-header clients hold a connection each) and fit
// in httpMaxHeaderBytes (net/http answers 431 beyond); a request and its
// response have httpReadTimeout and httpWriteTimeout, which the streaming
// handlers (/bytes/N, POST /echo) push forward by httpChunkTimeout before
// each 64 KiB so that a large transfer at any reasonable rate completes
// while a stalled peer is cut off; an idle keep-alive connection is closed
// after httpIdleTimeout.
const (
	httpHeaderTimeout  = 10 * time.Second
	httpReadTimeout    = 60 * time.Second
	httpWriteTimeout   = 60 * time.Second
	httpChunkTimeout   = 60 * time.Second
	httpIdleTimeout    = 120 * time.Second
	httpMaxHeaderBytes = 16 << 10
)

// serviceFlags are up's flags for what it serves.
type serviceFlags struct {
	services string
	maxBytes int64
	maxConns int
}

func (f *serviceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.services, "services", strings.Join(serviceNames(), ","), "the services to run, a comma list of "+strings.Join(serviceNames(), ", "))
	fs.Int64Var(&f.maxBytes, "max-bytes", 1<<30, "the largest N GET /bytes/N serves; beyond it the answer is 400")
	fs.IntVar(&f.maxConns, "max-service-conns", 1024, "most connections each TCP service serves at once; beyond it a new connection is closed at once and counted")
}

// parse returns the services selected, in the order of the service table.
func (f *serviceFlags) parse() ([]*serviceDef, error) {
	want := map[string]bool{}
	for _, name := range strings.Split(f.services, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if lookupService(name) == nil {
			return nil, fmt.Errorf("--services: unknown service %q: want a comma list of %s", name, strings.Join(serviceNames(), ", "))
		}
		want[name] = true
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("--services %q: want at least one of %s", f.services, strings.Join(serviceNames(), ", "))
	}
	if f.maxBytes < 0 {
		return nil, fmt.Errorf("--max-bytes %d: want 0 or more", f.maxBytes)
	}
	if f.maxConns < 1 {
		return nil, fmt.Errorf("--max-service-conns %d: want at least 1", f.maxConns)
	}
	var out []*serviceDef
	for i := range serviceTable {
		if want[serviceTable[i].name] {
			out = append(out, &serviceTable[i])
		}
	}
	return out, nil
}

// serviceDef is one service up can run.
type serviceDef struct {
	name  string // the --services name
	label string // where and what, for the log: "tcp/7 echo"
	start func(d *daemon, svc *service) (io.Closer, error)
}

// serviceTable lists the services in the order up starts them (DESIGN.md's
// daemon contract; ICMP echo is the stack's own and always on).
var serviceTable = []serviceDef{
	{"udp-echo", "udp/7 echo", func(d *daemon, svc *service) (io.Closer, error) { return serveUDPEcho(d.st, d.log) }},
	{"echo", "tcp/7 echo", func(d *daemon, svc *service) (io.Closer, error) { return d.serveTCP(svc, 7, echo) }},
	{"discard", "tcp/9 discard", func(d *daemon, svc *service) (io.Closer, error) { return d.serveTCP(svc, 9, discard) }},
	{"chargen", "tcp/19 chargen", func(d *daemon, svc *service) (io.Closer, error) { return d.serveTCP(svc, 19, chargen) }},
	{"http", "tcp/80 http", func(d *daemon, svc *service) (io.Closer, error) { return d.serveHTTP(svc) }},
}

func serviceNames() []string {
	var out []string
	for _, s := range serviceTable {
		out = append(out, s.name)
	}
	return out
}

func lookupService(name string) *serviceDef {
	for i := range serviceTable {
		if serviceTable[i].name == name {
			return &serviceTable[i]
		}
	}
	return nil
}

// daemon is what up's services share: the stack, the limits, and each
// running service's counters for /stats and /metrics.
type daemon struct {
	st       *stack.Stack
	log      *slog.Logger
	started  time.Time
	maxBytes int64
	maxConns int
	services []*service
	// offload is the TAP offload mode as the readiness line gives it
	// (auto:on, auto:off, on, off); "" on a TUN or in tests.
	offload string
}

// service counts one running service's connections.
type service struct {
	name     string
	active   atomic.Int64  // connections being served now
	accepted atomic.Uint64 // connections served
	refused  atomic.Uint64 // connections closed at once: maxConns were being served
}

// newDaemon makes the daemon with f's limits (parsed).
func newDaemon(st *stack.Stack, log *slog.Logger, f *serviceFlags) *daemon {
	return &daemon{st: st, log: log, started: time.Now(), maxBytes: f.maxBytes, maxConns: f.maxConns}
}

// start starts defs and returns their closers (the caller closes them);
// on an error, those started are closed.
func (d *daemon) start(defs []*serviceDef) ([]io.Closer, error) {
	var closers []io.Closer
	for _, def := range defs {
		svc := &service{name: def.name}
		c, err := def.start(d, svc)
		if err != nil {
			for _, c := range closers {
				c.Close()
			}
			return nil, fmt.Errorf("%s: %v", def.label, err)
		}
		d.services = append(d.services, svc)
		closers = append(closers, c)
	}
	return closers, nil
}

// admit takes a slot for a new connection, or counts it refused when
// maxConns are being served. Only the service's accept loop admits, so
// the check and the increment need no lock between them.
func (d *daemon) admit(svc *service) bool {
	if svc.active.Load() >= int64(d.maxConns) {
		svc.refused.Add(1)
		return false
	}
	svc.active.Add(1)
	svc.accepted.Add(1)
	return true
}

// serveTCP accepts connections on port and runs handle on each in its own
// goroutine (the stack itself has none per connection; a server may),
// at most maxConns at once. "tcp" on a wildcard is dual-stack ([::], as
// Go's net): the service answers on IPv4 and IPv6 (issue 12).
func (d *daemon) serveTCP(svc *service, port int, handle func(net.Conn)) (io.Closer, error) {
	l, err := socket.Listen(d.st, "tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					d.log.Warn(svc.name+": accept", "err", err)
				}
				return
			}
			if !d.admit(svc) {
				c.Close()
				continue
			}
			go func() {
				defer svc.active.Add(-1)
				defer c.Close()
				handle(c) // the Conn itself: its WriteTo serves io.Copy
			}()
		}
	}()
	return l, nil
}

// limitListener admits at most maxConns connections at once for net/http.
type limitListener struct {
	net.Listener
	d   *daemon
	svc *service
}

func (l limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.d.admit(l.svc) {
			return &admittedConn{Conn: c, svc: l.svc}, nil
		}
		c.Close()
	}
}

// admittedConn gives its slot back on the first Close.
type admittedConn struct {
	net.Conn
	svc  *service
	once sync.Once
}

func (c *admittedConn) Close() error {
	c.once.Do(func() { c.svc.active.Add(-1) })
	return c.Conn.Close()
}

// serveHTTP runs net/http on tcp/80 of the stack, both families.
func (d *daemon) serveHTTP(svc *service) (io.Closer, error) {
	l, err := socket.Listen(d.st, "tcp", ":80")
	if err != nil {
		return nil, err
	}
	srv := d.httpServer()
	go func() {
		if err := srv.Serve(limitListener{Listener: l, d: d, svc: svc}); err != nil && !errors.Is(err, http.ErrServerClosed) && !strings.Contains(err.Error(), "closed") {
			d.log.Warn("http", "err", err)
		}
	}()
	return srv, nil
}

func (d *daemon) httpServer() *http.Server {
	return &http.Server{
		Handler:           d.httpHandler(),
		ReadHeaderTimeout: httpHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
}

// serviceStats are the services' counters in /stats: for each running
// service, the connections being served, served and refused.
func (d *daemon) serviceStats() map[string]map[string]uint64 {
	out := map[string]map[string]uint64{}
	for _, s := range d.services {
		out[s.name] = map[string]uint64{"active": uint64(s.active.Load()), "accepted": s.accepted.Load(), "refused": s.refused.Load()}
	}
	return out
}
