// Package clock is the one source of time for the stack: Real in production,
// Manual in tests, where time moves only when the test says so.
//
// Protocol cores never read a clock; they take "now" as an argument. Only
// stack/ (and the socket deadlines built on it) hold a Clock and arm Timers.
//
// Both implementations are safe for concurrent use.
package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Clock tells the time and runs functions later.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (Real) or inside Advance (Manual)
	// once d has elapsed. f must not block on the caller of Advance.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not happened yet and reports whether
	// it did so.
	Stop() bool
	// Reset re-arms the timer to fire d from now and reports whether it was
	// still pending.
	Reset(d time.Duration) bool
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Manual is a clock that moves only when Advance or Set is called. Timers due
// by the new time fire in deadline order (ties in arming order) on the
// goroutine that advanced the clock, after Manual's own lock is released, so
// a callback may arm further timers, and those fire too if already due.
type Manual struct {
	mu   sync.Mutex
	now  time.Time
	seq  uint64
	heap timerHeap
}

// NewManual returns a manual clock reading start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the clock's current reading.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// AfterFunc arms a timer that fires when the clock reaches now+d.
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	t := &manualTimer{m: m, f: f, index: -1}
	m.mu.Lock()
	m.armLocked(t, d)
	m.mu.Unlock()
	return t
}

func (m *Manual) armLocked(t *manualTimer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	m.seq++
	t.when, t.seq = m.now.Add(d), m.seq
	heap.Push(&m.heap, t)
}

// Advance moves the clock forward by d, firing every timer that falls due.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	target := m.now.Add(d)
	m.mu.Unlock()
	m.Set(target)
}

// Set moves the clock to t (never backwards), firing due timers. Each timer
// fires with the clock reading its own deadline, as real time would.
func (m *Manual) Set(t time.Time) {
	for {
		m.mu.Lock()
		if len(m.heap) == 0 || m.heap[0].when.After(t) {
			if t.After(m.now) {
				m.now = t
			}
			m.mu.Unlock()
			return
		}
		next := heap.Pop(&m.heap).(*manualTimer)
		if next.when.After(m.now) {
			m.now = next.when
		}
		m.mu.Unlock()
		next.f()
	}
}

// NextDeadline returns the earliest pending timer's deadline, if any.
func (m *Manual) NextDeadline() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.heap) == 0 {
		return time.Time{}, false
	}
	return m.heap[0].when, true
}

// Pending returns the number of armed timers.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.heap)
}

type manualTimer struct {
	m     *Manual
	f     func()
	when  time.Time
	seq   uint64
	index int // position in the heap, -1 when not armed
}

func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.m.heap, t.index)
	return true
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	pending := t.index >= 0
	if pending {
		heap.Remove(&t.m.heap, t.index)
	}
	t.m.armLocked(t, d)
	return pending
}

type timerHeap []*manualTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*manualTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
