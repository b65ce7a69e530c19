package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Tail Loss Probe rules (RFC 8985 §7) beyond rack_test.go's: when a PTO
// may be armed, what the probe sends, Karn's rule for it, and when the
// probe episode ends. The harness's RTT sample is 0 (SRTT 0, RTO 200ms),
// so the PTO is 2ms for a flight of more than one segment, 200ms (capped
// at the RTO) for one.

// RFC 8985 §7.2: the PTO is armed "unless ... already in fast recovery,
// RTO recovery": after a timeout, the partial ACKs of the go-back-N
// retransmissions (SND.UNA below the recovery point) arm no probe.
func TestEstablished_TLP_NoProbeInRTORecovery(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 3)
	h.fire(2 * ms) // the probe: the last segment
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(2)))
	h.fire(202 * ms) // the RTO: cwnd one segment, RecoveryPoint = SND.NXT
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.at(210 * ms)
	h.in(h.sackAck(segAt(1)))
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(1)), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(2)))
	// The next timer is the RTO (200ms from the ACK), not a PTO 2ms on.
	h.fire(410 * ms)
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(1)))
	if i := h.c.Info(); i.LossProbes != 1 || i.Timeouts != 2 {
		t.Fatalf("LossProbes %d Timeouts %d, want 1 2", i.LossProbes, i.Timeouts)
	}
}

// One probe per flight (RFC 8985 §7.4: the episode lasts until an ACK
// reaches TLP.end_seq; Linux 5.9's "tcp: allow at most one TLP probe per
// flight"): a partial ACK of the flight, and the new data it lets out,
// neither end the episode nor arm a second probe.
func TestEstablished_TLP_PartialACKBelowEndSeq_NoSecondProbe(t *testing.T) {
	h := newSACKEstablished(t)
	h.c.Write(bytesN(12*1460), h.now)
	if got := len(h.out.take()); got != 10 {
		t.Fatalf("sent %d segments, want 10", got)
	}
	setWindow(h.c, 11*1460, h.c.cc.ssthresh()) // room in cwnd: the probe is new data
	h.fire(2 * ms)                             // the probe: new data, TLP.end_seq = segAt(11)
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(10)))
	h.at(5 * ms)
	h.in(h.sackAck(segAt(5))) // below TLP.end_seq; cwnd lets segment 11 out
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(11)))
	if !h.c.tlpOut {
		t.Fatal("the probe episode ended below TLP.end_seq")
	}
	h.fire(205*ms + 625*us) // the RTO (SRTT 0.625 ms + RTOMin after the ACK at 5 ms), not a second PTO at 7ms
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(5)))
	if i := h.c.Info(); i.LossProbes != 1 || i.Timeouts != 1 {
		t.Fatalf("LossProbes %d Timeouts %d, want 1 1", i.LossProbes, i.Timeouts)
	}
}

// RFC 8985 §7.2 TLP_calc_PTO: without an RTT sample the PTO is 1 s (and
// no WCDelAckT is added). The SYN was retransmitted, so the handshake
// gave no sample (Karn, RFC 6298 §3); with an RTO of 3 s the probe comes
// first, 1 s after the send.
func TestEstablished_TLP_NoRTTSample_PTOIsOneSecond(t *testing.T) {
	h := newSynSent(t, Config{DisableTimestamps: true, RTOInitial: 3 * time.Second})
	h.fire(3 * time.Second)
	h.expect("SYN seq=1000")
	h.at(3100 * ms)
	sa := h.synAck()
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.in(h.seg(FlagACK))
	h.out.take()
	if h.c.hasRTT || !h.c.sackOn {
		t.Fatalf("fixture: hasRTT %v sackOn %v", h.c.hasRTT, h.c.sackOn)
	}
	h.c.Write(bytesN(2*1460), h.now) // IW is one segment after a SYN timeout
	h.expect("ACK seq=1001 ack=5001 len=1460")
	h.fire(4100 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460") // the probe: cwnd is full, so the last segment
	if i := h.c.Info(); i.LossProbes != 1 || i.Timeouts != 0 {
		t.Fatalf("LossProbes %d Timeouts %d, want 1 0", i.LossProbes, i.Timeouts)
	}
}

// RFC 8985 §7.3: a probe of new data carries the FIN only when it carries
// the last queued data and the user queued a FIN (RFC 9293 §3.10.4).
func TestEstablished_TLP_NewDataProbe_FINOnlyIfQueued(t *testing.T) {
	for _, shut := range []bool{false, true} {
		h := newSACKEstablished(t)
		h.c.Write(bytesN(11*1460), h.now)
		if shut {
			if err := h.c.Shutdown(h.now); err != nil {
				t.Fatal(err)
			}
		}
		if got := len(h.out.take()); got != 10 {
			t.Fatalf("sent %d segments, want 10", got)
		}
		setWindow(h.c, 11*1460, h.c.cc.ssthresh()) // room in cwnd: the probe is new data
		h.fire(2 * ms)
		if shut {
			h.expect(s("FIN|PSH|ACK seq=%d ack=5001 len=1460", segAt(10)))
		} else {
			h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(10)))
		}
	}
}

// The ISS may be anywhere in the sequence space (RFC 9293 §3.4.1), so the
// FIN's sequence number means nothing until a FIN is queued: with SND.NXT
// in the upper half of the space and no FIN queued, the probe resends the
// last segment (RFC 8985 §7.3) and sends no FIN.
func TestEstablished_TLP_HighISS_ProbeSendsNoFINUnlessQueued(t *testing.T) {
	const iss = seqnum.Value(0x9000_0000)
	h := &harness{t: t, out: &recorder{}, now: t0, peerNxt: peerISS}
	h.c = NewConn(strict(Config{DisableTimestamps: true, Observer: h}), addrA, addrB, iss, h.out)
	if err := h.c.Connect(h.now); err != nil {
		t.Fatal(err)
	}
	h.out.take()
	sa := h.synAck()
	sa.Ack = iss + 1
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.in(h.seg(FlagACK))
	h.out.take()
	h.c.Write(bytesN(2*1460), h.now)
	h.expect(s("ACK seq=%d ack=5001 len=1460", iss+1), s("PSH|ACK seq=%d ack=5001 len=1460", iss+1+1460))
	h.fire(2 * ms)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", iss+1+1460))
}

// RFC 8985 §7.3: with no new data the probe resends the last segment sent;
// once the FIN is out that is the FIN with up to SMSS of the data before
// it (as Linux's tcp_send_loss_probe resends the tail skb, FIN included).
func TestFinWait1_TLP_ProbeResendsTheLastDataWithTheFIN(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 2)
	if err := h.c.Shutdown(h.now); err != nil {
		t.Fatal(err)
	}
	h.expect(s("FIN|ACK seq=%d ack=5001", segAt(2)))
	h.fire(2 * ms)
	h.expect(s("FIN|PSH|ACK seq=%d ack=5001 len=1460", segAt(1)))
	if i := h.c.Info(); i.LossProbes != 1 || !h.c.tlpRetrans || h.c.tlpEndSeq != segAt(2)+1 {
		t.Fatalf("LossProbes %d tlpRetrans %v TLP.end_seq %d", i.LossProbes, h.c.tlpRetrans, h.c.tlpEndSeq)
	}
}

// RFC 8985 §7.3: a lone FIN outstanding is the last segment: the probe
// resends it, ahead of the RTO it is capped at, which it re-arms.
func TestFinWait1_TLP_ProbeResendsALoneFIN(t *testing.T) {
	h := newSACKEstablished(t)
	if err := h.c.Shutdown(h.now); err != nil {
		t.Fatal(err)
	}
	h.expect("FIN|ACK seq=1001 ack=5001")
	h.fire(200 * ms) // one "segment" in flight: 2·SRTT + WCDelAckT, the RTO's deadline
	h.expect("FIN|ACK seq=1001 ack=5001")
	if i := h.c.Info(); i.LossProbes != 1 || i.Timeouts != 0 || h.c.cc.cwnd() != 14600 {
		t.Fatalf("LossProbes %d Timeouts %d cwnd %d, want 1 0 14600", i.LossProbes, i.Timeouts, h.c.cc.cwnd())
	}
	h.fire(400 * ms)
	h.expect("FIN|ACK seq=1001 ack=5001")
	if i := h.c.Info(); i.Timeouts != 1 {
		t.Fatalf("Timeouts %d, want 1", i.Timeouts)
	}
}

// RFC 8985 §7.3: the probe resends at most SMSS ending with the last
// octet sent, and never anything below SND.UNA: a short flight is resent
// as it is.
func TestEstablished_TLP_ShortFlight_ProbeResendsOnlyTheFlight(t *testing.T) {
	h := newSACKEstablished(t)
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=100")
	h.fire(200 * ms)
	h.expect("PSH|ACK seq=1001 ack=5001 len=100")
	if i := h.c.Info(); i.LossProbes != 1 || i.Timeouts != 0 {
		t.Fatalf("LossProbes %d Timeouts %d, want 1 0", i.LossProbes, i.Timeouts)
	}
}

// Karn's rule (RFC 6298 §3, "RTT samples MUST NOT be made using segments
// that were retransmitted"): a probe that resends the timed segment ends
// the measurement; the ACK that follows gives no sample.
func TestEstablished_TLP_ProbeResendsTheTimedSegment_NoRTTSample(t *testing.T) {
	h := newSACKEstablished(t)
	h.c.Write(bytesN(1460), h.now) // timed
	h.expect("PSH|ACK seq=1001 ack=5001 len=1460")
	h.fire(200 * ms)
	h.expect("PSH|ACK seq=1001 ack=5001 len=1460")
	h.at(250 * ms)
	h.in(h.sackAck(segAt(1)))
	if h.c.srtt != 0 {
		t.Fatalf("SRTT %v: an RTT sample from a retransmitted segment", h.c.srtt)
	}
}

// Karn's rule stops only the measurement the retransmission covers: a
// probe resending a later segment than the timed one leaves the timing
// running, and the timed segment's ACK is a sample (RFC 6298 §3).
func TestEstablished_TLP_ProbeResendsALaterSegment_RTTSampleKept(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 2) // the first segment is timed
	h.fire(2 * ms)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(1)))
	h.at(16 * ms)
	h.in(h.sackAck(segAt(1)))
	if h.c.srtt != 2*ms { // 7/8·0 + 1/8·16ms
		t.Fatalf("SRTT %v, want 2ms (a 16ms sample)", h.c.srtt)
	}
}

// RFC 8985 §7.4 (Linux's tcp_process_tlp_ack): at TLP.end_seq only a pure
// duplicate ACK, one that neither advances SND.UNA nor SACKs new data,
// shows that both the original and the probe arrived. A duplicate ACK
// that SACKs new data is no such proof: the episode goes on, and the ACK
// beyond TLP.end_seq shows the probe repaired a loss.
func TestEstablished_TLP_DupAckWithNewSACK_NotProofOfNoLoss(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 2)
	h.fire(2 * ms) // the probe resends segment 1; TLP.end_seq = segAt(2)
	h.expect(s("PSH|ACK seq=%d ack=5001 len=1460", segAt(1)))
	h.at(3 * ms)
	h.c.Write(bytesN(2*1460), h.now)
	h.expect(s("ACK seq=%d ack=5001 len=1460", segAt(2)), s("PSH|ACK seq=%d ack=5001 len=1460", segAt(3)))
	h.at(5 * ms)
	h.in(h.sackAck(segAt(2))) // up to TLP.end_seq
	h.in(h.sackAck(segAt(2), segAt(3), segAt(4)))
	if !h.c.tlpOut {
		t.Fatal("a duplicate ACK with new SACK information ended the probe episode")
	}
	h.in(h.sackAck(segAt(4)))
	if i := h.c.Info(); h.c.tlpOut || i.TLPRecoveries != 1 {
		t.Fatalf("tlpOut %v TLPRecoveries %d, want false 1", h.c.tlpOut, i.TLPRecoveries)
	}
}

// RFC 8985 §7.2 and RFC 6675 §5: the recovery point only holds back a new
// probe or recovery until SND.UNA passes it. Sequence numbers compare
// modulo 2^32 (RFC 9293 §3.4), so a recovery point left at the ISS would
// read as "ahead" once 2^31 octets were acknowledged without a loss, and
// turn TLP and fast recovery off for the next 2^31: it must follow
// SND.UNA. A bulk transfer of 2^31 octets, then a tail loss: it is probed.
func TestEstablished_TLP_After2GiBWithoutLoss_StillProbes(t *testing.T) {
	h := newSynSent(t, Config{DisableTimestamps: true, MSS: 65535, SndBuf: 8 << 20})
	sa := h.synAck()
	sa.Options.SACKPermitted, sa.Options.MSS = true, 65535
	h.in(sa)
	h.in(h.seg(FlagACK))
	h.out.take()
	h.c.out = discard{}                       // 2 GiB need not be copied
	ackAll := func() { h.in(h.seg(FlagACK)) } // everything sent so far
	chunk := bytesN(4 << 20)
	for total := 0; total <= 1<<31; {
		n, err := h.c.Write(chunk, h.now)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		ackAll()
	}
	for range 100 {
		ackAll()
	}
	if h.c.sndUna != h.c.sndNxt || h.c.unsentData() > 0 {
		t.Fatalf("fixture: SND.UNA %d SND.NXT %d, %d bytes unsent", h.c.sndUna, h.c.sndNxt, h.c.unsentData())
	}
	if h.c.Info().Recoveries != 0 || h.c.Info().Timeouts != 0 {
		t.Fatalf("fixture: a loss in the bulk transfer: %+v", h.c.Info())
	}
	h.c.out = h.out
	una := h.c.sndUna
	h.c.Write(bytesN(2*65535), h.now)
	h.expect(s("ACK seq=%d ack=5001 len=65535", una), s("PSH|ACK seq=%d ack=5001 len=65535", una.Add(65535)))
	h.fire(2 * ms) // the PTO, not the RTO at 200ms
	h.expect(s("PSH|ACK seq=%d ack=5001 len=65535", una.Add(65535)))
}

// discard is an Output that drops what it is given.
type discard struct{}

func (discard) SendSegment(_, _ netip.AddrPort, _ *Segment, _, _ []byte) {}
