package stack

import (
	"errors"
	"net"
)

// ErrStackClosed is returned when an endpoint is opened on a closed stack.
var ErrStackClosed = errors.New("stack: closed")

// notifier is an endpoint's wake-up for blocked callers: readable carries at
// most one pending notification, done is closed when the endpoint closes.
// A reader that takes a notification and leaves data behind re-notifies, so
// several blocked readers all make progress.
type notifier struct {
	readable chan struct{}
	done     chan struct{}
	closed   bool
}

func newNotifier() notifier {
	return notifier{readable: make(chan struct{}, 1), done: make(chan struct{})}
}

func (n *notifier) notify() {
	select {
	case n.readable <- struct{}{}:
	default:
	}
}

func (n *notifier) close() {
	if !n.closed {
		n.closed = true
		close(n.done)
	}
}

// Readable is signalled when data or an error may be waiting. A caller
// that receives from it must retry its non-blocking call.
func (n *notifier) Readable() <-chan struct{} { return n.readable }

// Done is closed when the endpoint is closed.
func (n *notifier) Done() <-chan struct{} { return n.done }

// errClosed is what calls on a closed endpoint return; it matches
// net.ErrClosed, as Go's own sockets do.
var errClosed = net.ErrClosed
