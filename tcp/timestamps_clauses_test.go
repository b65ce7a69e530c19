package tcp

import (
	"testing"
)

// Timestamp rules (RFC 7323) that the clause mutants of timestamps.go
// showed untested.

// RFC 7323 §3.2: "If a TSopt is received on a connection where TSopt was
// not negotiated in the initial three-way handshake, the TSopt MUST be
// ignored and the packet processed normally." A stray option neither
// drops the segment by PAWS (its TSval is "older" than a TS.Recent of 0)
// nor gives the RTT sample: that comes from the timed segment (RFC 6298 §3).
func TestTimestamps_NotNegotiated_StrayOptionIgnored(t *testing.T) {
	h := newEstablished(t, Config{}) // its SYN-ACK carried no Timestamps option
	if h.c.tsOn {
		t.Fatal("fixture: timestamps on")
	}
	h.in(ts(h.data([]byte("abc")), 0x90000000, 0))
	if h.c.Readable() != 3 {
		t.Fatalf("readable %d: the segment was dropped", h.c.Readable())
	}
	h.out.take()
	h.c.Write(bytesN(100), h.now)
	h.out.take()
	h.at(40 * ms)
	h.in(ts(h.seg(FlagACK), 1, 0x10000)) // a TSecr that would mean a huge RTT
	// The handshake's sample was 0: SRTT = 7/8·0 + 1/8·40ms (RFC 6298 (2.3)).
	if h.c.srtt != 5*ms {
		t.Fatalf("srtt %v, want 5ms from the timed segment's 40ms", h.c.srtt)
	}
}

// RFC 7323 §4.1-4.2: an RTT sample is "the current value of the timestamp
// clock minus TSecr"; a TSecr ahead of our clock is no echo of ours and
// gives no sample (Linux's tcp_rtt_tsopt_us takes only a non-negative
// delta).
func TestTimestamps_TSecrAheadOfOurClock_NoRTTSample(t *testing.T) {
	h := newTSEstablished(t, Config{})
	h.c.Write(bytesN(100), h.now)
	h.out.take()
	srtt, rttvar := h.c.srtt, h.c.rttvar
	h.at(30 * ms)
	h.in(ts(h.seg(FlagACK), 7001, h.c.tsOffset+1000))
	if h.c.srtt != srtt || h.c.rttvar != rttvar {
		t.Fatalf("RTT sampled from a TSecr in the future: srtt %v → %v, rttvar %v → %v", srtt, h.c.srtt, rttvar, h.c.rttvar)
	}
	if h.c.sndUna != h.c.sndNxt {
		t.Fatal("fixture: the ACK was not taken")
	}
}
