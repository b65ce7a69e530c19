package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// zeroWindowOverUnackedData is an established connection whose 5 octets
// sent at t0 the peer answered with a zero window, acknowledging nothing;
// zw is that answer.
func zeroWindowOverUnackedData(t *testing.T, cfg Config) (h *harness, zw Segment) {
	h = newEstablished(t, cfg)
	h.c.Write([]byte("hello"), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=5")
	zw = h.seg(FlagACK)
	zw.Ack, zw.Window = testISS+1, 0
	h.in(zw)
	return h, zw
}

// The exceptions to TestEstablished_ZeroWindowOverUnackedData_NoTimeoutWhilePeerAnswers
// (RTO retransmissions into a window the peer shrank to zero do not count
// toward DataRetries while the peer answers): as Linux's
// tcp_retransmit_timer, an orphaned connection (closed by its user) is not
// kept alive by a peer that answers with a zero window forever, and gives
// up after DataRetries (RFC 1122 §4.2.3.5 R2); and a set user timeout
// decides instead (the test after this one).
func TestEstablished_ZeroWindowOverUnackedData_OrphanTimesOutAfterDataRetries(t *testing.T) {
	h, zw := zeroWindowOverUnackedData(t, Config{})
	if err := h.c.Close(h.now); err != nil {
		t.Fatal(err)
	}
	h.out.take()
	timeouts := 0
	for h.c.State() != StateClosed {
		next, ok := h.c.NextDeadline()
		if !ok {
			t.Fatalf("no timer armed after %d timeouts, state %v", timeouts, h.c.State())
		}
		if timeouts > 2*DefaultDataRetries {
			t.Fatalf("still %v after %d timeouts answered with a zero window", h.c.State(), timeouts)
		}
		h.now = next
		h.c.HandleTimer(h.now)
		h.checkInvariants()
		timeouts++
		if h.c.State() != StateClosed {
			if len(h.out.take()) == 0 {
				t.Fatalf("timeout %d retransmitted nothing", timeouts)
			}
			h.in(zw) // the peer answers at once: still a zero window
		}
	}
	// DataRetries retransmissions, then the timeout after the last one
	// ends it.
	if timeouts != DefaultDataRetries+1 {
		t.Fatalf("orphan ended after %d timeouts, want %d (DataRetries + 1)", timeouts, DefaultDataRetries+1)
	}
	if elapsed := h.now.Sub(t0); elapsed > 30*time.Minute {
		t.Fatalf("orphan ended after %v", elapsed)
	}
}

// With TCP_USER_TIMEOUT set, it decides instead (RFC 5482, as Linux):
// data unacknowledged for the user timeout ends the connection, however
// many zero-window answers came.
func TestEstablished_ZeroWindowOverUnackedData_UserTimeoutDecides(t *testing.T) {
	h, zw := zeroWindowOverUnackedData(t, Config{UserTimeout: 10 * time.Second}) // unacknowledged from t0
	for h.c.State() == StateEstablished {
		next, ok := h.c.NextDeadline()
		if !ok {
			t.Fatal("no timer armed")
		}
		if next.Sub(t0) > 10*time.Second {
			t.Fatalf("still established with a deadline at %v, past the 10s user timeout", next.Sub(t0))
		}
		h.now = next
		h.c.HandleTimer(h.now)
		h.checkInvariants()
		h.out.take()
		if h.c.State() == StateEstablished {
			h.in(zw)
		}
	}
	if got := h.now.Sub(t0); got != 10*time.Second || !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("ended at %v with %v, want 10s and ETIMEDOUT", got, h.c.Err())
	}
}
