package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// RACK.min_RTT (RFC 8985 §6.2 step 2) is the least RTT sample, not the
// first.
func TestRTTSample_MinRTTIsTheLeastSample(t *testing.T) {
	h := newHarness(t, Config{}) // no sample yet
	for _, r := range []time.Duration{10 * ms, 5 * ms, 8 * ms} {
		h.c.rttSample(r)
	}
	if h.c.minRTT != 5*ms {
		t.Fatalf("min_RTT %v, want 5ms", h.c.minRTT)
	}
}

// A window shrunk to zero over unacknowledged data, a silent peer, and a
// user timeout longer than RTOMax: the user timeout decides (RFC 5482, as
// Linux), not the RTOMax of silence that ends such probing without one.
func TestEstablished_ZeroWindowOverUnackedData_SilentPeer_UserTimeoutDecides(t *testing.T) {
	h, _ := zeroWindowOverUnackedData(t, Config{UserTimeout: 10 * time.Minute})
	for h.c.State() == StateEstablished {
		next, ok := h.c.NextDeadline()
		if !ok {
			t.Fatal("no timer armed")
		}
		h.now = next
		h.c.HandleTimer(h.now)
		h.out.take()
	}
	if got := h.now.Sub(t0); got != 10*time.Minute || !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("ended at %v with %v, want the 10 min user timeout and ETIMEDOUT", got, h.c.Err())
	}
}

// Sequence numbers wrap (RFC 9293 §3.4): data ending exactly at sequence
// number 0 is retransmitted as data, with no FIN (none was queued).
func TestEstablished_DataEndingAtSequenceZero_RetransmittedWithoutFIN(t *testing.T) {
	h := &harness{t: t, out: &recorder{}, now: t0, peerNxt: peerISS}
	iss := seqnum.Value(1<<32 - 1461) // SND.UNA = 2^32 - 1460
	h.c = NewConn(strict(Config{}), addrA, addrB, iss, h.out)
	h.c.Connect(h.now)
	h.out.take()
	sa := h.synAck()
	sa.Ack = iss + 1
	h.in(sa)
	h.out.take()
	h.c.Write(bytesN(1460), h.now) // ends at sequence number 0
	if got := h.out.take(); len(got) != 1 || got[0].Seq.Add(1460) != 0 || got[0].Flags&FlagFIN != 0 {
		t.Fatalf("sent %v", got)
	}
	next, _ := h.c.NextDeadline()
	h.now = next
	h.c.HandleTimer(h.now) // the RTO
	if got := h.out.take(); len(got) != 1 || len(got[0].Payload) != 1460 || got[0].Flags&FlagFIN != 0 {
		t.Fatalf("RTO sent %v, want the 1460 bytes without FIN", got)
	}
}

// Zero-window probes resend the same byte: it counts once in BytesSent.
func TestEstablished_ZeroWindowProbeByte_CountedOnce(t *testing.T) {
	h := newEstablished(t, Config{})
	zw := h.seg(FlagACK)
	zw.Window = 0
	h.in(zw)
	h.c.Write([]byte("hello"), h.now)
	for _, at := range []time.Duration{200, 600, 1400} {
		h.fire(at * ms)
		h.expect("ACK seq=1001 ack=5001 len=1")
		h.in(zw)
	}
	if n := h.c.Info().BytesSent; n != 1 {
		t.Fatalf("BytesSent %d after three probes of the same byte, want 1", n)
	}
}

// While a zero-window probe is out, an ACK we send carries the send cursor, not
// the probe's end (as BSD's tcp_output): it must not step over the probe
// byte.
func TestEstablished_ACKDuringZeroWindowProbing_CarriesSndNxt(t *testing.T) {
	h := newEstablished(t, Config{})
	zw := h.seg(FlagACK)
	zw.Window = 0
	h.in(zw)
	h.c.Write([]byte("hello"), h.now)
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1") // the probe: SND.NXT is 1002
	d := h.data(bytesN(10))
	d.Ack, d.Window = 1001, 0 // the probe byte not taken
	h.in(d)
	h.fire(240 * ms) // the delayed ACK of the data
	h.expect("ACK seq=1001 ack=5011")
}

// RFC 7323 §3.2: a segment without ACK carries TSecr 0, a RST included:
// the RST for an unacceptable ACK in SYN-RECEIVED.
func TestSynReceived_RSTWithoutACK_TSecrZero(t *testing.T) {
	h := &harness{t: t, out: &recorder{}, now: t0, peerNxt: peerISS}
	l := NewListener(strict(Config{}), addrA, 8, h.out)
	syn := Segment{SrcPort: peerPort, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535,
		Options: Options{MSS: 1460, HasTimestamp: true, TSVal: 777}}
	h.c = l.HandleSegment(&syn, addrB, issEnv(testISS), h.now)
	h.peerNxt = peerISS + 1
	h.out.take()
	a := h.seg(FlagACK)
	a.Ack = testISS + 100 // above SND.NXT
	a.Options = Options{HasTimestamp: true, TSVal: 778}
	h.in(a)
	rst := h.expect("RST seq=1100")[0]
	if !rst.Options.HasTimestamp || rst.Options.TSEcr != 0 {
		t.Fatalf("RST timestamp %v TSecr %d, want TSecr 0", rst.Options.HasTimestamp, rst.Options.TSEcr)
	}
}

// The probe backoff ends only when the window opens (Linux's
// tcp_ack_probe keeps icsk_backoff while the window stays shut): a peer
// that takes the probe byte but still offers a zero window leaves the
// probes backing off from where they were.
func TestEstablished_ZeroWindow_ProbeByteTakenWindowStillShut_BackoffContinues(t *testing.T) {
	h := newZeroWindowThreeProbes(t)
	h.at(1500 * ms)
	took := h.seg(FlagACK)
	took.Ack = 1002
	took.Window = 0
	h.in(took)
	h.expect()
	h.fire(3000 * ms)
	h.expect("ACK seq=1002 ack=5001 len=1")
	h.in(took)
	h.fire(6200 * ms) // 3200 ms on: the fifth interval, not the first
	h.expect("ACK seq=1002 ack=5001 len=1")
}

// RFC 6298 §2.2-2.3: the first measurement R sets SRTT = R and RTTVAR =
// R/2 (RTO = R + 4·R/2 = 3R); a later R' sets RTTVAR from |SRTT - R'|.
func TestEstablished_RTT_FirstSampleThenSecond(t *testing.T) {
	h := newHarness(t, Config{})
	h.c.Connect(h.now)
	h.out.take()
	h.at(time.Second)
	h.in(h.synAck())
	h.in(h.seg(FlagACK))
	h.out.take()
	if h.c.srtt != time.Second || h.c.rttvar != 500*ms || h.c.rto != 3*time.Second {
		t.Fatalf("after R = 1 s: srtt %v rttvar %v rto %v, want 1s 500ms 3s", h.c.srtt, h.c.rttvar, h.c.rto)
	}
	h.c.Write(bytesN(100), h.now)
	h.out.take()
	h.at(1500 * ms)
	h.in(h.seg(FlagACK))
	// RTTVAR = 3/4·500 + 1/4·|1000 - 500| = 500ms, SRTT = 7/8·1000 +
	// 1/8·500 = 937.5ms, RTO = 937.5 + 4·500 = 2937.5ms.
	if h.c.srtt != 937500*time.Microsecond || h.c.rttvar != 500*ms || h.c.rto != 2937500*time.Microsecond {
		t.Fatalf("after R' = 500 ms: srtt %v rttvar %v rto %v", h.c.srtt, h.c.rttvar, h.c.rto)
	}
}

// newZeroWindowThreeProbes: established, the peer's window shut with 3000
// bytes queued, and three zero-window probes sent (at 200, 600 and 1400 ms:
// the backoff doubling) and answered with the zero window.
func newZeroWindowThreeProbes(t *testing.T) *harness {
	t.Helper()
	h := newEstablished(t, Config{})
	zw := h.seg(FlagACK)
	zw.Window = 0
	h.in(zw)
	h.c.Write(bytesN(3000), h.now)
	h.expect()
	for _, at := range []time.Duration{200, 600, 1400} {
		h.fire(at * ms)
		h.expect("ACK seq=1001 ack=5001 len=1")
		h.in(zw)
	}
	return h
}
