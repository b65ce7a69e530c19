package stack

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// ErrStackClosed is returned when an endpoint is opened on a closed stack.
var ErrStackClosed = errors.New("stack: closed")

// bindAddrLocked checks an address a socket is to be bound to, in the
// order of Linux's __inet_bind, which checks it before the socket's state
// (so a second bind to an address that is not ours fails EADDRNOTAVAIL,
// not EINVAL): IPv4 (EAFNOSUPPORT), then ours or the wildcard
// (EADDRNOTAVAIL). The zero Addr is the wildcard.
func (s *Stack) bindAddrLocked(a netip.Addr) (netip.Addr, error) {
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	if !a.Is4() {
		return netip.Addr{}, syscall.EAFNOSUPPORT
	}
	if !a.IsUnspecified() && a != s.addr {
		return netip.Addr{}, syscall.EADDRNOTAVAIL
	}
	return a, nil
}

// signal is a level-less wake-up: ch holds at most one pending
// notification for the socket's own blocked calls, and every registered
// waiter (a Poll call) is pinged too. notify runs under the stack lock, as
// do addWaiter and removeWaiter.
type signal struct {
	ch      chan struct{}
	waiters map[chan struct{}]struct{}
}

func newSignal() signal { return signal{ch: make(chan struct{}, 1)} }

func (g *signal) notify() {
	select {
	case g.ch <- struct{}{}:
	default:
	}
	for w := range g.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

func (g *signal) addWaiter(w chan struct{}) {
	if g.waiters == nil {
		g.waiters = make(map[chan struct{}]struct{})
	}
	g.waiters[w] = struct{}{}
}

func (g *signal) removeWaiter(w chan struct{}) { delete(g.waiters, w) }

// notifier is a datagram endpoint's wake-up for blocked callers: rd is
// signalled when data or an error may be waiting, done is closed when the
// endpoint closes. A reader that takes a notification and leaves data
// behind re-notifies, so several blocked readers all make progress.
type notifier struct {
	rd     signal
	done   chan struct{}
	closed bool
}

func newNotifier() notifier {
	return notifier{rd: newSignal(), done: make(chan struct{})}
}

func (n *notifier) notify() { n.rd.notify() }

func (n *notifier) close() {
	if !n.closed {
		n.closed = true
		close(n.done)
		n.rd.notify()
	}
}

// Readable is signalled when data or an error may be waiting. A caller
// that receives from it must retry its non-blocking call.
func (n *notifier) Readable() <-chan struct{} { return n.rd.ch }

// Done is closed when the endpoint is closed.
func (n *notifier) Done() <-chan struct{} { return n.done }

// errClosed is what calls on a closed endpoint return; it matches
// net.ErrClosed, as Go's own sockets do.
var errClosed = net.ErrClosed
