package socket

import (
	"sync"
	"time"

	"github.com/tapstack/tapstack/clock"
)

// deadline is one direction's deadline: a channel that is closed when the
// deadline passes. Setting a new deadline replaces the channel, so calls
// already blocked on the old one see the change (Go's net.Conn contract:
// deadlines apply to pending calls too).
type deadline struct {
	mu    sync.Mutex
	clk   clock.Clock
	timer clock.Timer
	gen   uint64        // bumped by every set: a stale timer callback does nothing
	ch    chan struct{} // closed when expired
}

func newDeadline(clk clock.Clock) *deadline {
	return &deadline{clk: clk, ch: make(chan struct{})}
}

// set arms the deadline for t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	select {
	case <-d.ch: // expired: blocked calls already left; start afresh
		d.ch = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	dur := t.Sub(d.clk.Now())
	if dur <= 0 {
		close(d.ch)
		return
	}
	d.gen++
	gen := d.gen
	d.timer = d.clk.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		// A timer that fired while set was replacing it must not close the
		// channel: the newer deadline owns it now.
		if d.gen == gen {
			close(d.ch)
			d.timer = nil
		}
	})
}

// wait returns the channel to select on.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}
