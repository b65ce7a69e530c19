package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/stack"
)

// RunConfig configures Run.
type RunConfig struct {
	// HostName, if set, is sent as option 12.
	HostName string
	// Logger receives the lease events at Info (lost leases at Warn);
	// default slog.Default().
	Logger *slog.Logger
	// Rand draws xids and jitter; default math/rand/v2's global generator.
	Rand *rand.Rand
}

// RunCounters are the client's counters and the runner's own.
type RunCounters struct {
	Counters
	Malformed uint64 // datagrams on port 68 that Parse refused
	NotServer uint64 // datagrams on port 68 from a port other than 67
}

// Runner runs a Client on a stack: it sends and receives on UDP port 68,
// applies each lease with stack.SetAddr (address, prefix, router), renews
// in the background and releases the lease on Close. Its methods are safe
// for concurrent use.
type Runner struct {
	st  *stack.Stack
	ep  *stack.UDPEndpoint
	log *slog.Logger
	clk clock.Clock
	c   *Client // owned by loop until it returns, then by Close

	wake   chan struct{} // the client's deadline passed
	stop   chan struct{}
	done   chan struct{} // loop returned
	leased chan struct{} // closed at the first lease
	timer  clock.Timer

	mu       sync.Mutex
	lease    Lease
	has      bool
	counters RunCounters
	closed   bool

	buf []byte // receive and send scratch, used by whoever owns c
}

// Run starts a DHCP client on st, which should have no address yet (a
// lease replaces whatever it has). It returns at once; Wait waits for the
// first lease.
//
// The socket is bound to 0.0.0.0:68 with SO_BROADCAST: EADDRINUSE if
// another socket holds port 68. EOPNOTSUPP on an IP link (a TUN): DHCP
// needs Ethernet.
func Run(st *stack.Stack, cfg RunConfig) (*Runner, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if st.MAC() == (ethernet.MAC{}) {
		// RFC 2131 §4.1: the client's messages are broadcast, and chaddr
		// names it; an IP link (a TUN) has neither.
		return nil, fmt.Errorf("dhcp: the stack's link is not Ethernet (no MAC, no broadcast): %w", syscall.EOPNOTSUPP)
	}
	ep, err := st.NewUDPEndpoint()
	if err != nil {
		return nil, err
	}
	ep.SetBroadcast(true)
	if _, err := ep.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), ClientPort), false); err != nil {
		ep.Close()
		return nil, fmt.Errorf("dhcp: binding port %d: %w", ClientPort, err)
	}
	r := &Runner{
		st: st, ep: ep, log: cfg.Logger, clk: st.Clock(),
		c:    NewClient(Config{MAC: st.MAC(), HostName: cfg.HostName, Rand: cfg.Rand}),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), leased: make(chan struct{}),
		buf: make([]byte, 1500),
	}
	r.timer = r.clk.AfterFunc(time.Hour, r.onTimer)
	r.timer.Stop()
	r.apply(r.c.Start(r.clk.Now()))
	go r.loop()
	return r, nil
}

func (r *Runner) onTimer() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// loop feeds the client what arrives on port 68 and its timeouts.
func (r *Runner) loop() {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case <-r.ep.Done():
			return
		case <-r.wake:
			r.apply(r.c.Timeout(r.clk.Now()))
		case <-r.ep.Readable():
			r.receive()
		}
	}
}

// receive handles every datagram queued on the socket.
func (r *Runner) receive() {
	for {
		n, _, from, err := r.ep.TryRecvFrom(r.buf, false)
		if err != nil {
			return // EAGAIN, or closed (loop sees Done)
		}
		if from.Port() != ServerPort {
			r.count(func(c *RunCounters) { c.NotServer++ })
			continue
		}
		m, err := Parse(r.buf[:n])
		if err != nil {
			r.count(func(c *RunCounters) { c.Malformed++ })
			r.log.Debug("DHCP: malformed message dropped", "from", from, "err", err)
			continue
		}
		r.apply(r.c.Handle(m, r.clk.Now()))
	}
}

func (r *Runner) count(f func(*RunCounters)) {
	r.mu.Lock()
	f(&r.counters)
	r.mu.Unlock()
}

// apply sends what the client asked for, applies its lease events to the
// stack and re-arms the timer.
func (r *Runner) apply(out Output) {
	for _, p := range out.Send {
		b := p.Msg.Append(r.buf[:0])
		if _, err := r.ep.SendTo(b, p.Dst); err != nil {
			r.log.Debug("DHCP: send failed", "type", p.Msg.Type, "to", p.Dst, "err", err)
		}
	}
	for _, ev := range out.Events {
		r.event(ev)
	}
	r.mu.Lock()
	r.counters.Counters = r.c.Counters()
	r.mu.Unlock()
	if d, ok := r.c.NextDeadline(); ok {
		r.timer.Reset(d.Sub(r.clk.Now()))
	} else {
		r.timer.Stop()
	}
}

// event applies one lease event to the stack.
func (r *Runner) event(ev Event) {
	l := ev.Lease
	switch ev.Kind {
	case LeaseBound, LeaseRenewed:
		if err := r.st.SetAddr(l.Addr, l.Router); err != nil && !errors.Is(err, stack.ErrStackClosed) {
			r.log.Warn("DHCP: cannot apply the lease", "addr", l.Addr, "router", l.Router, "err", err)
		}
		if l.MTU != 0 {
			// Option 26 (RFC 2132 §5.1): the stack sends with it, within
			// what the device carries (an MTU above that is refused and
			// logged, and the device's stays).
			if err := r.st.SetMTU(l.MTU); err != nil {
				r.log.Warn("DHCP: cannot apply the interface MTU", "mtu", l.MTU, "device_mtu", r.st.DeviceMTU(), "err", err)
			}
		}
		r.mu.Lock()
		first := !isClosed(r.leased)
		r.lease, r.has = l, true
		r.mu.Unlock()
		attrs := []any{"addr", l.Addr, "router", l.Router, "dns", l.DNS, "server", l.Server}
		if l.Infinite {
			attrs = append(attrs, "lease", "infinite")
		} else {
			attrs = append(attrs, "lease", l.Duration, "renew_at", l.RenewAt().UTC().Format(time.RFC3339), "expires_at", l.ExpiresAt().UTC().Format(time.RFC3339))
		}
		if l.MTU != 0 {
			attrs = append(attrs, "mtu", l.MTU)
		}
		msg := "DHCP lease"
		if ev.Kind == LeaseRenewed {
			msg = "DHCP lease renewed"
		}
		r.log.Info(msg, attrs...)
		if first {
			close(r.leased)
		}
	case LeaseLost:
		// RFC 2131 §4.4.5: without a lease the client stops using the
		// address.
		r.st.SetAddr(netip.Prefix{}, netip.Addr{})
		r.mu.Lock()
		r.has = false
		r.mu.Unlock()
		level := slog.LevelWarn
		if ev.Reason == "released" {
			level = slog.LevelInfo
		}
		r.log.Log(context.Background(), level, "DHCP lease ended", "addr", l.Addr, "reason", ev.Reason)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Wait returns the first lease, once the stack has its address; or ctx's
// error; or an error matching syscall.ENETDOWN if the runner or the stack
// closed first.
func (r *Runner) Wait(ctx context.Context) (Lease, error) {
	select {
	case <-r.leased:
		l, _ := r.Lease()
		return l, nil
	case <-ctx.Done():
		return Lease{}, ctx.Err()
	case <-r.done:
		return Lease{}, fmt.Errorf("dhcp: stopped before a lease: %w", syscall.ENETDOWN)
	}
}

// Lease returns the lease held, if any.
func (r *Runner) Lease() (Lease, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease, r.has
}

// Counters returns the counters.
func (r *Runner) Counters() RunCounters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counters
}

// Close releases the lease (RFC 2131 §4.4.6: a DHCPRELEASE to the server),
// removes the address from the stack and closes the socket. Closing twice
// does nothing.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	r.apply(r.c.Release(r.clk.Now()))
	r.timer.Stop()
	r.ep.Close() // net.ErrClosed if the stack closed first: nothing to undo
	return nil
}
