package tcp

import (
	"testing"
	"time"
)

// A Config field that is set is used as given, not replaced by its default
// (withDefaults fills zero fields only): each test sets one tunable to a
// value other than its default and watches the behaviour it controls.
// Rules the clause mutator found untested (test/MUTATION.md).

// RFC 6298 §2.1: until an RTT is measured the RTO is the initial RTO, so
// the SYN is first retransmitted RTOInitial after it was sent.
func TestConfig_RTOInitial_TimesTheFirstSYNRetransmission(t *testing.T) {
	h := newSynSent(t, Config{RTOInitial: 3 * time.Second})
	h.fire(3 * time.Second)
	h.expect("SYN seq=1000")
	h.fire(9 * time.Second) // backed off: 3s + 2·3s
	h.expect("SYN seq=1000")
}

// RFC 6298 §2.4: "Whenever RTO is computed, if it is less than 1 second,
// then the RTO SHOULD be rounded up to 1 second": RTOMin is that floor (here
// the RFC's 1s instead of Linux's 200ms).
func TestConfig_RTOMin_FloorsTheVarianceTerm(t *testing.T) {
	h := newEstablished(t, Config{RTOMin: time.Second})
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=100")
	h.at(300 * ms)
	h.in(h.seg(FlagACK)) // R = 300ms: 4·RTTVAR is below the floor
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=1101 ack=5001 len=100")
	i := h.c.Info()
	if want := i.SRTT + time.Second; i.RTO != want {
		t.Fatalf("RTO %v, want SRTT + RTOMin = %v", i.RTO, want)
	}
	h.fire(300*ms + i.RTO)
	h.expect("PSH|ACK seq=1101 ack=5001 len=100")
}

// A steady RTT near RTOMin: the RTO stays an RTOMin above SRTT (Linux's
// __tcp_set_rto), where max(SRTT + 4·RTTVAR, RTOMin) would come down to
// the RTT itself and time out a segment whose ACK is on its way.
func TestRTO_SteadyLongRTT_StaysRTOMinAboveSRTT(t *testing.T) {
	h := newEstablished(t, Config{})
	for n := range 40 {
		h.c.Write(bytesN(100), h.now)
		h.out.take()
		h.at(time.Duration(n+1) * 250 * ms)
		h.in(h.seg(FlagACK)) // acknowledges everything sent
	}
	i := h.c.Info()
	if i.SRTT < 240*ms || i.RTO < i.SRTT+DefaultRTOMin {
		t.Fatalf("SRTT %v RTO %v, want SRTT near 250ms and RTO at least SRTT + %v", i.SRTT, i.RTO, DefaultRTOMin)
	}
}

// RFC 6298 §2.5: "A maximum value MAY be placed on RTO": the backoff of
// §5.5 doubles the RTO up to RTOMax and no further.
func TestConfig_RTOMax_CapsTheBackoff(t *testing.T) {
	h := newEstablished(t, Config{RTOMax: time.Second})
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=100")
	for _, at := range []time.Duration{200, 600, 1400, 2400, 3400} { // 0.2, 0.4, 0.8, then 1s capped
		h.fire(at * ms)
		h.expect("PSH|ACK seq=1001 ack=5001 len=100")
	}
}

// Linux's tcp_synack_retries: the SYN-ACK is retransmitted SynAckRetries
// times (RFC 6298 backoff from 1s), then the embryonic connection is
// dropped without a RST.
func TestConfig_SynAckRetries_DropsTheEmbryonicConnection(t *testing.T) {
	h, l := newPassive(t, Config{SynAckRetries: 2}, 8)
	h.fire(time.Second)
	h.expect("SYN|ACK seq=1000 ack=5001")
	h.fire(3 * time.Second)
	h.expect("SYN|ACK seq=1000 ack=5001")
	h.fire(7 * time.Second)
	h.expect()
	h.expectState(StateClosed)
	if len(l.synQ) != 0 {
		t.Fatalf("synQ %d after the give-up", len(l.synQ))
	}
}

// RFC 1122 §4.2.3.2: an ACK may be delayed, by less than 0.5s; DelayedACK
// is that delay (Linux's TCP_DELACK_MIN, 40ms, by default).
func TestConfig_DelayedACK_IsTheACKDelay(t *testing.T) {
	h := newEstablished(t, Config{DelayedACK: 200 * ms})
	h.in(h.data(bytesN(100)))
	h.expect()
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5101")
}

// RFC 9293 §3.10.8: TIME-WAIT lasts 2·MSL, TimeWait (Linux's
// TCP_TIMEWAIT_LEN, 60s, by default), then the TCB is deleted.
func TestConfig_TimeWait_IsTheTimeWaitLength(t *testing.T) {
	h := newTimeWait(t, Config{TimeWait: 10 * time.Second})
	h.fire(10 * time.Second)
	h.expectState(StateClosed)
}

// MaxOutOfOrderRanges bounds the out-of-order ranges kept (Linux bounds
// its out-of-order queue by memory, tcp_prune_ofo_queue): a segment that
// would open one range more is dropped and counted (TCPOFODrop); one that
// extends a held range is kept.
func TestConfig_MaxOutOfOrderRanges_BoundsTheRangesKept(t *testing.T) {
	k := &Counters{}
	h := newEstablished(t, Config{MaxOutOfOrderRanges: 2, Counters: k})
	base := h.peerNxt // the first 100 bytes from here are "lost"
	h.in(h.peerData(base.Add(100), 100))
	h.in(h.peerData(base.Add(300), 100))
	h.in(h.peerData(base.Add(500), 100)) // a third range: dropped
	if k.OutOfOrderDrops != 1 {
		t.Fatalf("OutOfOrderDrops = %d, want 1 (a third range with a limit of 2)", k.OutOfOrderDrops)
	}
	h.in(h.peerData(base.Add(200), 100)) // joins the two held ranges
	h.in(h.peerData(base, 100))          // fills the hole
	if n := h.readAll(); n != 400 {
		t.Fatalf("read %d bytes, want 400 (the dropped range is not held)", n)
	}
}
