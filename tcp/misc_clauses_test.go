package tcp

import "testing"

// RFC 9293 §3.3.2: a state change is a transition between two states.
// ABORT of a connection already CLOSED (§3.10.5: "connection does not
// exist") changes no state: the Observer hears of no CLOSED → CLOSED and
// EventClosed is not raised a second time.
func TestState_AbortWhenClosed_NoTransition(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Abort(h.now)
	h.out.take()
	h.expectState(StateClosed)
	h.c.TakeEvents()
	h.trans = nil
	h.c.Abort(h.now)
	if len(h.trans) != 0 {
		t.Fatalf("transitions %v, want none", h.trans)
	}
	if h.c.TakeEvents()&EventClosed != 0 {
		t.Fatal("EventClosed raised again")
	}
	h.expect()
}
