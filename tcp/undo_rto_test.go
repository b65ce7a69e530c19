package tcp

import (
	"testing"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Eifel detection (RFC 3522) and undo of a spurious RTO (RFC 4015, as
// Linux's tcp_try_undo_loss): the first ACK of new data after the
// timeout tells, by the TSval it echoes, whether the original or the
// retransmission reached the peer.

// tsSegAt is where segment i begins when timestamps take 12 octets.
func tsSegAt(i int) seqnum.Value { return seqnum.Value(1001 + 1448*i) }

// rtoWithFourOut sends four segments at t0 and lets the RTO fire at
// 200ms: the retransmission of the first carries TSval off+200.
func rtoWithFourOut(t *testing.T, cfg Config) (h *harness, cwnd, ssthresh int, orig uint32) {
	t.Helper()
	h = newTSEstablished(t, cfg)
	h.c.Write(bytesN(4*1448), h.now) // segments of 1448: the option takes 12
	sent := h.out.take()
	if len(sent) != 4 {
		t.Fatalf("fixture: %d segments sent, want 4", len(sent))
	}
	cwnd, ssthresh = h.c.cc.cwnd(), h.c.cc.ssthresh()
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1448")
	if h.c.cc.cwnd() >= cwnd {
		t.Fatalf("fixture: cwnd %d after the RTO (was %d)", h.c.cc.cwnd(), cwnd)
	}
	return h, cwnd, ssthresh, sent[0].Options.TSVal
}

func TestEstablished_Eifel_ACKOfTheOriginal_UndoesTheRTO(t *testing.T) {
	k := &Counters{}
	h, cwnd, ssthresh, orig := rtoWithFourOut(t, Config{Counters: k})
	// The ACKs of the originals were late: the first echoes their TSval.
	h.at(201 * ms)
	a := ts(h.seg(FlagACK), 7001, orig)
	a.Ack = tsSegAt(2)
	h.in(a)
	if h.c.cc.cwnd() < cwnd || h.c.cc.ssthresh() != ssthresh {
		t.Fatalf("cwnd %d ssthresh %d, want %d %d back", h.c.cc.cwnd(), h.c.cc.ssthresh(), cwnd, ssthresh)
	}
	// No go-back-N over data the peer holds: segments 2 and 3 are not
	// sent again.
	for _, sg := range h.out.take() {
		if sg.Seq.LessThan(tsSegAt(4)) && len(sg.Payload) > 0 {
			t.Fatalf("resent %d after the undo", sg.Seq)
		}
	}
	if i := h.c.Info(); i.SpuriousRTOs != 1 || k.SpuriousRTOs != 1 {
		t.Fatalf("SpuriousRTOs %d (counter %d), want 1", i.SpuriousRTOs, k.SpuriousRTOs)
	}
}

func TestEstablished_Eifel_ACKOfTheRetransmission_KeepsTheRTO(t *testing.T) {
	h, cwnd, _, _ := rtoWithFourOut(t, Config{})
	r := h.c.tsVal(h.now)
	h.at(201 * ms)
	a := ts(h.seg(FlagACK), 7001, r) // echoes the retransmission
	a.Ack = tsSegAt(1)
	h.in(a)
	if h.c.cc.cwnd() >= cwnd || h.c.Info().SpuriousRTOs != 0 {
		t.Fatalf("cwnd %d (was %d before the RTO), SpuriousRTOs %d: a real loss was undone", h.c.cc.cwnd(), cwnd, h.c.Info().SpuriousRTOs)
	}
	// Go-back-N goes on: segment 1 follows.
	if got := h.out.take(); len(got) == 0 || got[0].Seq != tsSegAt(1) {
		t.Fatalf("after the ACK sent %v, want segment 1 again", got)
	}
}

// One decision per timeout: a later ACK echoing an old TSval (a
// reordered one) undoes nothing.
func TestEstablished_Eifel_OnlyTheFirstACKDecides(t *testing.T) {
	h, cwnd, _, orig := rtoWithFourOut(t, Config{})
	r := h.c.tsVal(h.now)
	h.at(201 * ms)
	a := ts(h.seg(FlagACK), 7001, r)
	a.Ack = tsSegAt(1)
	h.in(a)
	h.out.take()
	b := ts(h.seg(FlagACK), 7002, orig)
	b.Ack = tsSegAt(2)
	h.in(b)
	if h.c.Info().SpuriousRTOs != 0 || h.c.cc.cwnd() >= cwnd {
		t.Fatalf("SpuriousRTOs %d cwnd %d", h.c.Info().SpuriousRTOs, h.c.cc.cwnd())
	}
}

// A timeout in the middle of a fast recovery: the episode's first
// retransmission is the fast one, so an ACK echoing it is no evidence
// against the timeout, and one echoing the originals undoes both
// reductions (back to the window before the recovery).
func TestEstablished_Eifel_RTOInRecovery_ReferenceIsTheFastRetransmission(t *testing.T) {
	for _, tc := range []struct {
		name     string
		echoOrig bool
	}{{"echoes the fast retransmission", false}, {"echoes the originals", true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSynSent(t, Config{})
			off := h.c.tsOffset
			sa := ts(h.synAck(), 7000, off)
			sa.Options.SACKPermitted = true
			h.in(sa)
			h.in(ts(h.seg(FlagACK), 7000, off))
			h.out.take()
			// The path's min_RTT is 10ms (the handshake here took none):
			// the ACK 1ms after the timeout's retransmission is ambiguous
			// for RACK (RFC 8985 §6.2 step 2) and shows no loss of 4-9.
			h.c.minRTT = 10 * ms
			h.c.Write(bytesN(10*1448), h.now)
			orig := h.out.take()[0].Options.TSVal
			cwnd := h.c.cc.cwnd()
			h.at(10 * ms)
			a := ts(h.seg(FlagACK), 7001, orig)
			a.Ack = tsSegAt(0)
			a.Options.NumSACK, a.Options.SACK[0] = 1, SACKBlock{Start: tsSegAt(1), End: tsSegAt(4)}
			h.in(a)
			fast := h.out.take()
			if !h.c.inRecovery || len(fast) == 0 || fast[0].Seq != tsSegAt(0) {
				t.Fatalf("fixture: inRecovery %v, sent %v", h.c.inRecovery, fast)
			}
			for h.c.Info().Timeouts == 0 {
				d, _ := h.c.NextDeadline()
				h.fire(d.Sub(t0))
				h.out.take()
			}
			echo := fast[0].Options.TSVal
			if tc.echoOrig {
				echo = orig
			}
			h.at(h.now.Sub(t0) + ms)
			b := ts(h.seg(FlagACK), 7002, echo)
			b.Ack = tsSegAt(4)
			h.in(b)
			undone := h.c.Info().SpuriousRTOs == 1
			if undone != tc.echoOrig {
				t.Fatalf("undone %v, want %v", undone, tc.echoOrig)
			}
			if undone && h.c.cc.cwnd() < cwnd {
				t.Fatalf("cwnd %d after the undo, want the %d from before the recovery", h.c.cc.cwnd(), cwnd)
			}
		})
	}
}

// RFC 7323 §3.2: without timestamps negotiated a TS option is ignored, so
// a peer cannot make a timeout undone by sending one.
func TestEstablished_Eifel_TSOptionWithoutNegotiation_Ignored(t *testing.T) {
	h := newEstablished(t, Config{})
	if h.c.tsOn {
		t.Fatal("fixture: timestamps negotiated")
	}
	h.c.tsOffset = 1000 // our TS clock low, so that an echo of 1 reads as older
	h.c.Write(bytesN(4*1460), h.now)
	h.out.take()
	cwnd := h.c.cc.cwnd()
	h.fire(200 * ms)
	h.out.take()
	h.at(201 * ms)
	a := ts(h.seg(FlagACK), 7001, 1) // echoes a TSval older than anything
	a.Ack = segAt(1)                 // the retransmission only: no F-RTO evidence
	h.in(a)
	if h.c.Info().SpuriousRTOs != 0 || h.c.cc.cwnd() >= cwnd {
		t.Fatalf("SpuriousRTOs %d cwnd %d", h.c.Info().SpuriousRTOs, h.c.cc.cwnd())
	}
}

// A TSecr of zero echoes nothing (as Linux's tcp_packet_delayed, which
// needs rcv_tsecr set): no evidence.
func TestEstablished_Eifel_ZeroTSecr_NoEvidence(t *testing.T) {
	h, cwnd, _, _ := rtoWithFourOut(t, Config{})
	h.c.eifelTS = 1000 // so that 0 would read as older than the reference
	h.at(201 * ms)
	a := ts(h.seg(FlagACK), 7001, 0)
	a.Ack = tsSegAt(2)
	h.in(a)
	if h.c.Info().SpuriousRTOs != 0 || h.c.cc.cwnd() >= cwnd {
		t.Fatalf("SpuriousRTOs %d cwnd %d", h.c.Info().SpuriousRTOs, h.c.cc.cwnd())
	}
}
