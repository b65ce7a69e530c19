package tcp

import (
	"testing"
	"time"
)

// RFC 5961 §7: challenge ACKs are rate-limited per connection, at most one
// per Config.InvalidACKInterval (Linux's tcp_invalid_ratelimit, 500ms).

// inWindowRST is a blind RST inside the window but not at RCV.NXT.
func (h *harness) inWindowRST() Segment {
	r := h.seg(FlagRST)
	r.Seq = h.c.rcvNxt.Add(100)
	return r
}

func TestEstablished_ChallengeACKs_AtMostOnePer500ms(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.inWindowRST())
	h.expect("ACK seq=1001 ack=5001")
	h.at(100 * ms)
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS + 10
	h.in(syn) // §4.2 SYN: held back
	h.at(499 * ms)
	h.in(h.inWindowRST()) // §3.2 RST: held back
	tooOld := h.seg(FlagACK)
	tooOld.Ack = testISS.Sub(100_000_000)
	h.in(tooOld) // §5.2 ACK: held back
	h.expect()
	h.at(500 * ms)
	h.in(h.inWindowRST())
	h.expect("ACK seq=1001 ack=5001")
	h.expectState(StateEstablished)
	if in := h.c.Info(); in.ChallengeACKs != 2 || in.ACKsRateLimited != 3 {
		t.Fatalf("ChallengeACKs %d ACKsRateLimited %d, want 2 and 3", in.ChallengeACKs, in.ACKsRateLimited)
	}
}

func TestEstablished_ChallengeACKs_IntervalConfigurable(t *testing.T) {
	h := newEstablished(t, Config{InvalidACKInterval: 2 * time.Second})
	h.in(h.inWindowRST())
	h.expect("ACK seq=1001 ack=5001")
	h.at(1999 * ms)
	h.in(h.inWindowRST())
	h.expect()
	h.at(2 * time.Second)
	h.in(h.inWindowRST())
	h.expect("ACK seq=1001 ack=5001")
}

func TestEstablished_ChallengeACKs_NegativeIntervalUnlimited(t *testing.T) {
	h := newEstablished(t, Config{InvalidACKInterval: -1})
	for range 5 {
		h.in(h.inWindowRST())
		h.expect("ACK seq=1001 ack=5001")
	}
	if in := h.c.Info(); in.ChallengeACKs != 5 || in.ACKsRateLimited != 0 {
		t.Fatalf("%+v", in)
	}
}

// The limit is one clock shared with the replies to unacceptable segments
// (Linux's last_oow_ack_time); an unacceptable segment carrying data is
// always answered (Linux's tcp_oow_rate_limited: data is not part of an
// ACK loop) and does not reset the clock.
func TestEstablished_ChallengeACKs_SharedWithOutOfWindowACKs(t *testing.T) {
	h := newEstablished(t, Config{})
	old := h.seg(FlagACK)
	old.Seq = peerISS - 1000
	h.in(old)
	h.expect("ACK seq=1001 ack=5001")
	h.at(100 * ms)
	h.in(h.inWindowRST())
	h.expect() // within 500ms of the reply to the old ACK
	oldData := h.data([]byte("stale"))
	oldData.Seq = peerISS - 1000
	h.in(oldData)
	h.expect("ACK seq=1001 ack=5001") // data: always answered
	h.at(500 * ms)
	h.in(h.inWindowRST())
	h.expect("ACK seq=1001 ack=5001")
}

// An out-of-window SYN is a challenge ACK too (RFC 5961 §4.2, "irrespective
// of the sequence number"), and so rate-limited.
func TestEstablished_OutOfWindowSYN_ChallengeACKRateLimited(t *testing.T) {
	h := newEstablished(t, Config{})
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS.Sub(50_000)
	h.in(syn)
	h.expect("ACK seq=1001 ack=5001")
	h.in(syn)
	h.expect()
	if h.c.Info().ChallengeACKs != 1 {
		t.Fatal("challenge ACK not counted")
	}
}

// An ACK of unsent data (RFC 9293 §3.10.7.4 fifth; RFC 5961 §5.2's range)
// draws a rate-limited challenge ACK.
func TestEstablished_AckOfUnsentData_ChallengeACKRateLimited(t *testing.T) {
	h := newEstablished(t, Config{})
	a := h.seg(FlagACK)
	a.Ack = testISS + 50
	h.in(a)
	h.expect("ACK seq=1001 ack=5001")
	h.in(a)
	h.expect()
	h.at(time.Second)
	h.in(a)
	h.expect("ACK seq=1001 ack=5001")
}
