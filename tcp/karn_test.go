package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Karn's algorithm (RFC 6298 §3, RFC 1122 §4.2.3.1) without timestamps:
// the ACK of retransmitted data says nothing about which copy arrived, so
// it gives no RTT sample. (With timestamps every ACK that advances
// SND.UNA is sampled from its TSecr, retransmitted data included:
// TestEstablished_Timestamps_RTTFromTSecr.)

// An RTO retransmission: its ACK gives no sample; the next new segment
// is timed again.
func TestEstablished_Karn_RTORetransmission_NoSample(t *testing.T) {
	h := newEstablished(t, Config{})
	srtt, rttvar := h.c.srtt, h.c.rttvar
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=100")
	h.fire(200 * ms) // RTO: the minimum, from the handshake's sample of 0
	h.expect("PSH|ACK seq=1001 ack=5001 len=100")
	h.at(260 * ms)
	h.in(h.seg(FlagACK))
	if h.c.srtt != srtt || h.c.rttvar != rttvar {
		t.Fatalf("the ACK of a retransmission was sampled: SRTT %v → %v, RTTVAR %v → %v", srtt, h.c.srtt, rttvar, h.c.rttvar)
	}
	// New data is timed again (RFC 6298 §3: the retransmission ended the
	// ambiguity only for the segment retransmitted). Deviation (Linux
	// compat): the ACK ended the backoff, though it gave no sample (RFC
	// 6298 §5.7 keeps the doubled RTO until one; Linux's tcp_ack clears
	// icsk_backoff): the new segment's RTO is 200ms, not 400ms.
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=1101 ack=5001 len=100")
	if d, ok := h.c.NextDeadline(); !ok || d.Sub(t0) != 460*ms {
		t.Fatalf("RTO of the new segment at %v, want 460ms (200ms after the write)", d.Sub(t0))
	}
	h.at(300 * ms)
	h.in(h.seg(FlagACK))
	// R = 40ms: RTTVAR = 3/4·0 + 1/4·40 = 10ms, SRTT = 7/8·0 + 1/8·40 = 5ms.
	if srtt != 0 || h.c.srtt != 5*ms || h.c.rttvar != 10*ms {
		t.Fatalf("SRTT %v → %v, RTTVAR %v: want the new segment's 40ms sample", srtt, h.c.srtt, h.c.rttvar)
	}
}

// A fast retransmission of the timed segment (RFC 5681 §3.2, NewReno
// without SACK) cancels its measurement: the ACK that covers it, after
// the retransmission, gives no sample.
func TestEstablished_Karn_FastRetransmission_NoSample(t *testing.T) {
	h := newEstablished(t, Config{})
	srtt, rttvar := h.c.srtt, h.c.rttvar
	h.c.Write(bytesN(4*1460), h.now) // the first segment is the timed one
	if segs := h.out.take(); len(segs) != 4 {
		t.Fatalf("sent %d segments, want 4", len(segs))
	}
	h.at(50 * ms)
	dup := h.seg(FlagACK)
	dup.Ack = testISS + 1 // nothing new: a duplicate ACK
	for range 3 {
		h.in(dup)
	}
	if got := h.out.take(); len(got) == 0 || got[0].Seq != testISS+1 {
		t.Fatalf("no fast retransmission of the first segment after three duplicate ACKs: %d segments", len(got))
	}
	h.at(100 * ms)
	h.in(h.seg(FlagACK)) // everything, the retransmission included
	if h.c.srtt != srtt || h.c.rttvar != rttvar {
		t.Fatalf("the ACK of a fast retransmission was sampled: SRTT %v → %v, RTTVAR %v → %v", srtt, h.c.srtt, rttvar, h.c.rttvar)
	}
}

// Without a retransmission the same exchange is sampled: the control for
// the two tests above.
func TestEstablished_Karn_NoRetransmission_Sampled(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(4*1460), h.now)
	h.out.take()
	h.at(100 * ms)
	h.in(h.seg(FlagACK))
	// R = 100ms after the handshake's 0: SRTT = 12.5ms, RTTVAR = 25ms.
	if h.c.srtt != 12500*time.Microsecond || h.c.rttvar != 25*ms {
		t.Fatalf("SRTT %v RTTVAR %v, want the 100ms sample", h.c.srtt, h.c.rttvar)
	}
}

// After an RTO's go-back-N, a segment that carries retransmitted bytes and
// new ones (it straddles SND.NXT) is not timed either: its ACK would be
// as ambiguous (RFC 6298 §3). The timeout recurs, so that F-RTO (which
// would send new data after the first ACK) is off and the go-back-N runs.
func TestEstablished_Karn_SegmentStraddlingSndMax_NotTimed(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 1 << 20})
	srtt := h.c.srtt
	h.c.Write(bytesN(1460+500), h.now) // 1001-2461 and a short 2461-2961
	h.out.take()
	h.fire(200 * ms) // RTO: go back N, resend 1001-2461
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.fire(600 * ms) // again, backed off
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.c.Write(bytesN(3000), h.now)
	h.at(660 * ms)
	a := h.seg(FlagACK)
	a.Ack = 2461
	h.in(a) // cwnd 2 MSS: 2461-3921 (500 bytes resent, 960 new), then 3921-5381
	h.expect("ACK seq=2461 ack=5001 len=1460", "ACK seq=3921 ack=5001 len=1460")
	h.at(700 * ms)
	a.Ack = 3921
	h.in(a)
	if h.c.srtt != srtt {
		t.Fatalf("SRTT %v → %v: the ACK of a segment holding retransmitted bytes was sampled", srtt, h.c.srtt)
	}
}

// Data ending exactly at sequence number 0, fast-retransmitted (RFC 5681
// §3.2): no FIN on it, none being queued (sequence numbers wrap, RFC 9293
// §3.4).
func TestEstablished_DataEndingAtSequenceZero_FastRetransmittedWithoutFIN(t *testing.T) {
	h := &harness{t: t, out: &recorder{}, now: t0, peerNxt: peerISS}
	iss := seqnum.Value(1<<32 - 4*1460 - 1) // four segments end at 0
	h.c = NewConn(strict(Config{}), addrA, addrB, iss, h.out)
	h.c.Connect(h.now)
	sa := h.synAck()
	sa.Ack = iss + 1
	h.in(sa)
	h.out.take()
	h.c.Write(bytesN(4*1460), h.now)
	h.out.take()
	dup := h.seg(FlagACK)
	dup.Ack = iss.Add(1 + 3*1460) // the last segment, ending at 0, is missing
	h.in(dup)                     // acknowledges the first three
	for range 3 {                 // then three duplicates
		h.in(dup)
	}
	got := h.out.take()
	if len(got) != 1 || got[0].Seq != iss.Add(1+3*1460) || got[0].Flags&FlagFIN != 0 {
		t.Fatalf("sent %v, want the last segment again without FIN", got)
	}
}
