package tcp

import (
	"testing"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// SACK blocks are validated as Linux's tcp_is_sackblock_valid does before
// they reach the scoreboard: bogus evidence must not drive loss recovery.

func TestEstablished_SACK_InvalidBlocks_IgnoredAndCounted(t *testing.T) {
	for _, tc := range []struct {
		name       string
		start, end int // segment indexes: [segAt(start), segAt(end))
		dStart     int // octets added to the start
		dEnd       int // octets added to the end
	}{
		{"reaching down to SND.UNA", 0, 2, 0, 0},
		{"straddling SND.UNA", 0, 3, -100, 0},
		{"beyond SND.NXT", 3, 5, 0, 1},
		{"empty", 2, 2, 0, 0},
		{"reversed", 3, 2, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &Counters{}
			h := sackEstablishedCounting(t, k)
			h.at(10 * ms)
			start, end := segAt(tc.start), segAt(tc.end)
			if tc.dStart < 0 {
				start = start.Sub(seqnum.Size(-tc.dStart))
			}
			end = end.Add(seqnum.Size(tc.dEnd))
			// Three duplicate ACKs, each with the bogus block: were it taken,
			// segments 0 and 1 would look SACKed (or lost), and recovery start.
			for range 3 {
				h.in(h.sackAck(segAt(0), start, end))
			}
			if h.c.sb.n != 0 || h.c.inRecovery {
				t.Fatalf("scoreboard %v (n %d) inRecovery %v after an invalid block [%d, %d)", h.c.sb.r[:h.c.sb.n], h.c.sb.n, h.c.inRecovery, start, end)
			}
			if k.SACKDiscards != 3 || h.c.Info().SACKDiscards != 3 {
				t.Fatalf("SACKDiscards %d (conn %d), want 3", k.SACKDiscards, h.c.Info().SACKDiscards)
			}
		})
	}
}

func TestEstablished_SACK_ValidBlockBesideAnInvalidOne_Taken(t *testing.T) {
	k := &Counters{}
	h := sackEstablishedCounting(t, k)
	h.at(10 * ms)
	// The first block is bogus (reaches down to SND.UNA), the second
	// SACKs segment 2: only that one counts.
	s := h.sackAck(segAt(0), segAt(0), segAt(4), segAt(2), segAt(3))
	h.in(s)
	if h.c.sb.n != 1 || h.c.sb.r[0] != (seqRange{segAt(2), segAt(3)}) || k.SACKDiscards != 1 {
		t.Fatalf("scoreboard %v, discards %d; want only [%d, %d) and 1", h.c.sb.r[:h.c.sb.n], k.SACKDiscards, segAt(2), segAt(3))
	}
}

// sackEstablishedCounting is newSACKEstablished with counters, and five
// segments sent.
func sackEstablishedCounting(t *testing.T, k *Counters) *harness {
	t.Helper()
	h := newSACKEstablishedWith(t, Config{DisableTimestamps: true, Counters: k})
	writeSegs(h, 5)
	return h
}

func TestEstablished_SACK_FastRetransmission_StopsAtTheFirstSACKedOctet(t *testing.T) {
	// RFC 6675 §5 (4.3) retransmits the first hole; the octets resent are
	// the hole's (NextSeg, §4), not SMSS from SND.UNA over SACKed data,
	// as Linux resends the lost segment and never collapses a SACKed
	// one into it (tcp_can_collapse).
	h := newSACKEstablished(t)
	h.c.SetNoDelay(true)
	h.c.Write(bytesN(1000), h.now)
	h.c.Write(bytesN(4*1460), h.now)
	h.out.take()
	h.at(10 * ms)
	// The 1000-octet segment is lost; the next three are SACKed.
	h.in(h.sackAck(1001, 2001, 2001+1460))
	h.in(h.sackAck(1001, 2001, 2001+2*1460))
	h.out.take() // limited transmit, if any
	h.in(h.sackAck(1001, 2001, 2001+3*1460))
	h.expect("ACK seq=1001 ack=5001 len=1000")
}

func TestEstablished_SACK_RecoveryEndsWithCwndAtSsthresh(t *testing.T) {
	// RFC 6675 §5 (4.2) sets cwnd = ssthresh for the recovery and
	// inflates nothing, so nothing is deflated at its end: the full ACK
	// leaves cwnd at ssthresh (Linux's tcp_end_cwnd_reduction), not at
	// RFC 6582's FlightSize + SMSS, which after an ACK of everything is
	// two segments.
	h := newSACKEstablished(t)
	writeSegs(h, 10)
	h.at(10 * ms)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	ssthresh := h.c.cc.ssthresh()
	h.out.take()
	h.at(20 * ms)
	h.in(h.sackAck(h.c.sndNxt))
	if h.c.inRecovery || h.c.cc.cwnd() != ssthresh {
		t.Fatalf("inRecovery %v cwnd %d after the full ACK, want ssthresh %d", h.c.inRecovery, h.c.cc.cwnd(), ssthresh)
	}
}

// A timeout during a fast recovery keeps the recovery's ssthresh: RFC
// 5681 §3.1 asks that ssthresh be set to "no more than" eq. (4), and
// Linux's tcp_enter_loss lowers it only when no reduction happened within
// the outstanding window. Recomputing from FlightSize, which new data sent
// during the recovery has grown, raised ssthresh instead.
func TestEstablished_RTOInRecovery_KeepsTheRecoverySsthresh(t *testing.T) {
	for _, cc := range []string{"cubic", "reno"} {
		t.Run(cc, func(t *testing.T) {
			h := newSACKEstablishedWith(t, Config{DisableTimestamps: true, Congestion: cc, SndBuf: 1 << 20})
			writeSegs(h, 10)
			h.c.Write(bytesN(30*1460), h.now) // more to send during the recovery
			h.at(10 * ms)
			for i := 2; i < 10; i++ { // segments 0 and 1 lost, the rest SACKed one by one
				h.in(h.sackAck(segAt(0), segAt(2), segAt(i+1)))
			}
			if !h.c.inRecovery {
				t.Fatal("not in recovery after 8 SACKed segments")
			}
			ssthresh := h.c.cc.ssthresh()
			if flight := h.c.flightSize(); flight <= 10*1460 {
				t.Fatalf("flight %d: the recovery sent no new data, the test needs it to", flight)
			}
			h.out.take()
			d, ok := h.c.NextDeadline()
			for ok && h.c.Info().Timeouts == 0 {
				h.now = d
				h.c.HandleTimer(h.now)
				d, ok = h.c.NextDeadline()
			}
			if got := h.c.cc.ssthresh(); got > ssthresh {
				t.Errorf("ssthresh %d after the timeout, want at most the recovery's %d", got, ssthresh)
			}
		})
	}
}
