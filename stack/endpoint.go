package stack

import (
	"errors"
	"net"
)

// ErrStackClosed is returned when an endpoint is opened on a closed stack.
var ErrStackClosed = errors.New("stack: closed")

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
