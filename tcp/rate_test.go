package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// The delivery-rate sampler (rate.go): one sample per round trip, the
// octets delivered over the time between the round's first ACK and the
// first ACK that delivers an octet sent after it.

func TestRateSampler_RoundEndsAtTheFirstOctetSentAfterItsStart(t *testing.T) {
	var r rateSampler
	// The round starts at t0 with 10000 octets in flight, up to SND.NXT 11000.
	if _, ok := r.onAck(0, 1000, 11000, t0); ok {
		t.Fatal("the first ACK ended a round; it starts one")
	}
	// Delivering everything up to SND.NXT of the start is the end of data
	// sent before the round: no sample yet.
	if _, ok := r.onAck(10000, 11000, 20000, t0.Add(80*time.Millisecond)); ok {
		t.Fatal("a round ended at an ACK of data sent before it started")
	}
	// The first octet sent after the start (11000) is delivered, here by
	// a SACK block above a hole: 15000 octets in 100 ms.
	s, ok := r.onAck(15000, 11500, 20000, t0.Add(100*time.Millisecond))
	if !ok {
		t.Fatal("no sample when an octet sent after the round's start was delivered")
	}
	if s.delivered != 15000 || s.interval != 100*time.Millisecond || s.rate != 150000 || s.appLimited {
		t.Fatalf("sample %+v, want 15000 octets in 100ms = 150000 B/s, not app-limited", s)
	}
	// The next round started there: it ends past SND.NXT 20000.
	if _, ok := r.onAck(20000, 20000, 30000, t0.Add(150*time.Millisecond)); ok {
		t.Fatal("the next round ended before an octet beyond its start's SND.NXT was delivered")
	}
	s, ok = r.onAck(30000, 20001, 30000, t0.Add(200*time.Millisecond))
	if !ok || s.rate != 150000 {
		t.Fatalf("second round: %+v %v, want 15000 octets in 100 ms", s, ok)
	}
}

func TestRateSampler_AppLimitedUntilWhatWasInFlightIsDelivered(t *testing.T) {
	var r rateSampler
	r.onAck(0, 1000, 5000, t0)
	// The sender runs out of data with 4000 octets in flight: C.app_limited
	// = 0 + 4000.
	r.markAppLimited(0, 4000)
	s, ok := r.onAck(4000, 5001, 9000, t0.Add(100*time.Millisecond))
	if !ok || !s.appLimited {
		t.Fatalf("round with the sender out of data: %+v %v, want an app-limited sample", s, ok)
	}
	// 4000 octets were delivered, not more: the next round starts still
	// app-limited, and its sample is one too.
	s, ok = r.onAck(4001, 9001, 12000, t0.Add(200*time.Millisecond))
	if !ok || !s.appLimited {
		t.Fatalf("round started while app-limited: %+v %v, want an app-limited sample", s, ok)
	}
	// Past C.app_limited: the round that starts now measures the path.
	s, ok = r.onAck(9000, seqnum.Value(12001), 15000, t0.Add(300*time.Millisecond))
	if !ok || s.appLimited {
		t.Fatalf("round after the app-limited data was delivered: %+v %v, want a path sample", s, ok)
	}
}
