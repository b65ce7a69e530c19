package tcp

import (
	"fmt"
	"testing"
)

// countersMatchInfo checks that the stack-wide Counters of a lone
// connection are its Info counts of the same events, so that no event is
// counted on one side only. The harness runs it after every step.
func countersMatchInfo(k *Counters, i Info) error {
	for _, p := range []struct {
		name        string
		total, conn uint64
	}{
		{"RetransSegs/Retransmits", k.RetransSegs, i.Retransmits},
		{"FastRetrans", k.FastRetrans, i.FastRetrans},
		{"Timeouts", k.Timeouts, i.Timeouts},
		{"Recoveries", k.Recoveries, i.Recoveries},
		{"SACKRecoveries+RenoRecoveries", k.SACKRecoveries + k.RenoRecoveries, i.Recoveries},
		{"LossProbes", k.LossProbes, i.LossProbes},
		{"DSACKUndos", k.DSACKUndos, i.DSACKUndos},
		{"SpuriousRTOs", k.SpuriousRTOs, i.SpuriousRTOs},
		{"TLPRecoveries", k.TLPRecoveries, i.TLPRecoveries},
		{"RACKRecoveries", k.RACKRecoveries, i.RACKRecoveries},
		{"SACKDiscards", k.SACKDiscards, i.SACKDiscards},
		{"ChallengeACKs", k.ChallengeACKs, i.ChallengeACKs},
		{"ACKsRateLimited", k.ACKsRateLimited, i.ACKsRateLimited},
		{"PAWSDrops", k.PAWSDrops, i.PAWSDrops},
		{"CEReceived", k.CEReceived, i.CEReceived},
		{"ECNReductions", k.ECNReductions, i.ECNReductions},
	} {
		if p.total != p.conn {
			return fmt.Errorf("Counters %s = %d, the connection's Info %d", p.name, p.total, p.conn)
		}
	}
	return nil
}

// fastRetransmit has h's connection (without SACK) send ten segments and
// the peer answer with three duplicate ACKs of the first: NewReno's fast
// retransmit resends it (RFC 5681 §3.2 step 2).
func fastRetransmit(h *harness) {
	h.t.Helper()
	h.c.Write(bytesN(10*1460), h.now)
	h.out.take()
	dup := h.seg(FlagACK)
	dup.Ack = testISS + 1
	for range 3 {
		h.in(dup)
	}
	h.expect("ACK seq=1001 ack=5001 len=1460")
}

// A retransmission in fast recovery is a fast retransmission (Linux's
// TCPFastRetrans); the one an RTO sends is not (TCPSlowStartRetrans), though
// both are retransmitted segments (tcpRetransSegs). A recovery without SACK
// is NewReno's (TCPRenoRecovery).
func TestCounters_FastRetransmitCounted_RTORetransmissionNot(t *testing.T) {
	h := newEstablished(t, Config{})
	fastRetransmit(h)
	if i, k := h.c.Info(), h.k; i.Retransmits != 1 || i.FastRetrans != 1 || k.RenoRecoveries != 1 || k.SACKRecoveries != 0 {
		t.Fatalf("after a fast retransmit: Retransmits %d FastRetrans %d Reno/SACK recoveries %d/%d, want 1 1 1/0",
			i.Retransmits, i.FastRetrans, k.RenoRecoveries, k.SACKRecoveries)
	}
	d, _ := h.c.NextDeadline()
	h.fire(d.Sub(t0))
	if i := h.c.Info(); i.Timeouts != 1 || i.Retransmits != 2 || i.FastRetrans != 1 {
		t.Fatalf("after the RTO: Timeouts %d Retransmits %d FastRetrans %d, want 1 2 1", i.Timeouts, i.Retransmits, i.FastRetrans)
	}
}

// A recovery with SACK is RFC 6675's (Linux's TCPSackRecovery), and its
// retransmissions are fast ones.
func TestCounters_SACKRecovery_CountedByKind(t *testing.T) {
	h := newSACKEstablished(t)
	writeSegs(h, 5)
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if i, k := h.c.Info(), h.k; i.Recoveries != 1 || i.FastRetrans != 1 || k.SACKRecoveries != 1 || k.RenoRecoveries != 0 {
		t.Fatalf("Recoveries %d FastRetrans %d SACK/Reno recoveries %d/%d, want 1 1 1/0",
			i.Recoveries, i.FastRetrans, k.SACKRecoveries, k.RenoRecoveries)
	}
}
