package tcp

import (
	"testing"
	"time"
)

// ECN (RFC 3168): negotiation, marking, the receiver's echo and the
// sender's reaction, as packet scripts under the manual clock. The harness
// turns ECN off unless a test asks (harnessECN); these ask.

var ecnConfig = Config{ECN: ECNOn, DisableTimestamps: true}

// ecnSynAck is the peer's SYN-ACK agreeing to ECN (§6.1.1: ECE, not CWR).
func (h *harness) ecnSynAck() Segment {
	sa := h.synAck()
	sa.Flags |= FlagECE
	return sa
}

// newECNEstablished: an active open that negotiated ECN, everything
// acknowledged, with cfg's counters (ECN on unless cfg says).
func newECNEstablished(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.ECN == ECNDefault {
		cfg.ECN = ECNOn
	}
	cfg.DisableTimestamps = true
	h := newSynSent(t, cfg)
	sa := h.ecnSynAck()
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.in(h.seg(FlagACK))
	h.out.take()
	h.c.TakeEvents()
	if h.c.State() != StateEstablished || !h.c.Info().ECN {
		t.Fatalf("fixture: state %v ECN %v", h.c.State(), h.c.Info().ECN)
	}
	return h
}

// ce marks s Congestion Experienced, as a router would (§5).
func ce(s Segment) Segment { s.ECN = ECNCE; return s }

func TestECN_ActiveOpen_SYNAsks_SYNACKWithECEAgrees(t *testing.T) {
	h := newHarness(t, ecnConfig)
	h.c.Connect(h.now)
	h.expect("SYN|ECE|CWR seq=1000") // §6.1.1: an ECN-setup SYN, Not-ECT
	h.in(h.ecnSynAck())
	h.expect("ACK seq=1001 ack=5001") // a pure ACK: Not-ECT (§6.1.4)
	if !h.c.Info().ECN {
		t.Fatal("ECN not negotiated")
	}
}

func TestECN_ActiveOpen_NotNegotiated(t *testing.T) {
	for _, c := range []struct {
		name  string
		mode  ECNMode
		syn   string
		flags Flags // ECN flags on the SYN-ACK
	}{
		{"peer without ECN", ECNOn, "SYN|ECE|CWR seq=1000", 0},
		// A SYN-ACK with both flags reflects them: a host that knows no
		// ECN (§6.1.1).
		{"reflected ECE|CWR", ECNOn, "SYN|ECE|CWR seq=1000", FlagECE | FlagCWR},
		{"passive mode", ECNPassive, "SYN seq=1000", FlagECE},
		{"off", ECNOff, "SYN seq=1000", FlagECE},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{ECN: c.mode, DisableTimestamps: true})
			h.c.Connect(h.now)
			h.expect(c.syn)
			sa := h.synAck()
			sa.Flags |= c.flags
			h.in(sa)
			h.expect("ACK seq=1001 ack=5001")
			if h.c.Info().ECN {
				t.Fatal("ECN negotiated")
			}
			h.c.Write(bytesN(10), h.now)
			h.expect("PSH|ACK seq=1001 ack=5001 len=10") // Not-ECT
			d := h.data(bytesN(10))
			d.Flags |= FlagCWR
			h.in(ce(d))
			h.fire(40 * ms)
			h.expect("ACK seq=1011 ack=5011") // no echo without ECN
		})
	}
}

func TestECN_SYNRetransmission_WithoutECEAndCWR_SYNACKStillAgrees(t *testing.T) {
	// §6.1.1.1: a host that gets no answer to an ECN-setup SYN MAY
	// resend it without ECE and CWR (Linux's tcp_ecn_fallback); an
	// ECN-setup SYN-ACK answering the first still turns ECN on (Linux
	// keeps TCP_ECN_OK).
	h := newHarness(t, ecnConfig)
	h.c.Connect(h.now)
	h.expect("SYN|ECE|CWR seq=1000")
	h.fire(1000 * ms)
	h.expect("SYN seq=1000")
	h.in(h.ecnSynAck())
	if !h.c.Info().ECN {
		t.Fatal("ECN not negotiated")
	}
}

// ecnPassive is newPassive with a SYN carrying flags (besides SYN).
func ecnPassive(t *testing.T, cfg Config, flags Flags) *harness {
	t.Helper()
	h := &harness{t: t, out: &recorder{}, now: t0, peerNxt: peerISS + 1}
	cfg.Congestion = harnessCongestion(cfg.Congestion)
	cfg.DisableTimestamps = true
	l := NewListener(strict(cfg), addrA, 8, h.out)
	syn := Segment{SrcPort: peerPort, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN | flags, Window: 65535,
		Options: Options{MSS: 1460, HasWScale: true, WScale: 7}}
	h.c = l.HandleSegment(&syn, addrB, issEnv(testISS), h.now)
	if h.c == nil {
		t.Fatal("no conn from SYN")
	}
	return h
}

func TestECN_PassiveOpen(t *testing.T) {
	for _, c := range []struct {
		name   string
		mode   ECNMode
		flags  Flags
		synack string
		on     bool
	}{
		{"ECN-setup SYN", ECNOn, FlagECE | FlagCWR, "SYN|ACK|ECE seq=1000 ack=5001", true},
		{"passive mode accepts", ECNPassive, FlagECE | FlagCWR, "SYN|ACK|ECE seq=1000 ack=5001", true},
		{"off", ECNOff, FlagECE | FlagCWR, "SYN|ACK seq=1000 ack=5001", false},
		{"ECE alone is no request", ECNOn, FlagECE, "SYN|ACK seq=1000 ack=5001", false},
		{"plain SYN", ECNOn, 0, "SYN|ACK seq=1000 ack=5001", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := ecnPassive(t, Config{ECN: c.mode}, c.flags)
			h.expect(c.synack) // §6.1.1: ECE without CWR, Not-ECT
			h.fire(1000 * ms)
			h.expect(c.synack) // the retransmission too
			h.in(h.seg(FlagACK))
			h.expectState(StateEstablished)
			if h.c.Info().ECN != c.on {
				t.Fatalf("ECN %v, want %v", h.c.Info().ECN, c.on)
			}
			h.c.Write(bytesN(10), h.now)
			want := "PSH|ACK seq=1001 ack=5001 len=10"
			if c.on {
				want += " ect0"
			}
			h.expect(want)
		})
	}
}

func TestECN_SimultaneousOpen(t *testing.T) {
	// Both SYNs ask: each end answers the other's SYN with an ECN-setup
	// SYN-ACK (§6.1.1; Linux's tcp_ecn_rcv_syn in SYN-SENT).
	for _, c := range []struct {
		name   string
		mode   ECNMode
		flags  Flags
		syn    string
		synack string
		on     bool
	}{
		{"both ask", ECNOn, FlagECE | FlagCWR, "SYN|ECE|CWR seq=1000", "SYN|ACK|ECE seq=1000 ack=5001", true},
		{"peer does not", ECNOn, 0, "SYN|ECE|CWR seq=1000", "SYN|ACK seq=1000 ack=5001", false},
		// Our SYN did not ask: the peer's request is not taken up
		// (Linux's tcp_ecn_rcv_syn only keeps what the SYN asked).
		{"we did not", ECNPassive, FlagECE | FlagCWR, "SYN seq=1000", "SYN|ACK seq=1000 ack=5001", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{ECN: c.mode, DisableTimestamps: true})
			h.c.Connect(h.now)
			h.expect(c.syn)
			syn := h.seg(FlagSYN | c.flags)
			syn.Ack = 0
			syn.Options = Options{MSS: 1460}
			h.in(syn)
			h.expect(c.synack)
			sa := h.seg(FlagSYN | FlagACK | c.flags&FlagECE)
			sa.Seq, sa.Ack = peerISS, testISS+1
			h.in(sa)
			h.expectState(StateEstablished)
			if h.c.Info().ECN != c.on {
				t.Fatalf("ECN %v, want %v", h.c.Info().ECN, c.on)
			}
		})
	}
}

func TestECN_Cookie_CarriedInTheTimestamp(t *testing.T) {
	// With SYN cookies the agreement lives in the cookie's TSval
	// (cookieTSECN), as Linux's cookie_init_timestamp; without
	// timestamps a cookie cannot remember it and the SYN-ACK does not
	// agree (Linux clears ecn_ok).
	for _, c := range []struct {
		name   string
		mode   ECNMode
		flags  Flags
		ts     bool
		synack Flags
		on     bool
	}{
		{"asked, with timestamps", ECNOn, FlagECE | FlagCWR, true, FlagSYN | FlagACK | FlagECE, true},
		{"asked, no timestamps", ECNOn, FlagECE | FlagCWR, false, FlagSYN | FlagACK, false},
		{"not asked", ECNOn, 0, true, FlagSYN | FlagACK, false},
		{"off", ECNOff, FlagECE | FlagCWR, true, FlagSYN | FlagACK, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			lh := newListenerHarnessCfg(t, Config{SynCookies: SynCookiesAlways, ECN: c.mode}, 8)
			o := linuxSYNOpts
			o.HasTimestamp = c.ts
			syn := Segment{SrcPort: 2000, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN | c.flags, Window: 65535, Options: o}
			if lh.l.HandleSegment(&syn, client(2000), issEnv(testISS), lh.now) != nil {
				t.Fatal("the SYN made a connection")
			}
			got := lh.out.take()
			if len(got) != 1 || got[0].Flags != c.synack || got[0].ECN != ECNNotECT {
				t.Fatalf("sent %v, want one %v", got, c.synack)
			}
			var conn *Conn
			if c.ts {
				conn, _ = lh.cookieTSACK(2000, got[0], 6000)
			} else {
				conn, _ = lh.cookieACK(2000, got[0], nil)
			}
			if conn == nil || conn.State() != StateEstablished {
				t.Fatalf("conn %v", conn)
			}
			if conn.Info().ECN != c.on {
				t.Fatalf("ECN %v, want %v", conn.Info().ECN, c.on)
			}
		})
	}
}

func TestECN_CookieACKEchoingNothing_NoECN(t *testing.T) {
	// An ACK with timestamps whose TSecr is zero echoes no cookie
	// options (cookieSynOptions), ECN included, whatever the offset.
	for iss := range 64 {
		seg := Segment{Options: Options{HasTimestamp: true, TSVal: 1}}
		if cookieECN(&seg, seqnumSize(iss<<10)) {
			t.Fatalf("ISS %d: a zero TSecr read as ECN", iss<<10)
		}
	}
}

func TestECN_ECT0OnNewDataOnly(t *testing.T) {
	h := newECNEstablished(t, Config{})
	h.c.Write(bytesN(2*1460), h.now)
	h.expect("ACK seq=1001 ack=5001 len=1460 ect0", "PSH|ACK seq=2461 ack=5001 len=1460 ect0")
	// Retransmissions are Not-ECT (§6.1.5; Linux marks only data at or
	// beyond SND.NXT): the loss probe and the timeout both resend.
	for h.c.timeouts == 0 {
		d, _ := h.c.NextDeadline()
		h.fire(d.Sub(t0))
		for _, g := range h.out.take() {
			if len(g.Payload) == 0 || g.ECN != ECNNotECT || !g.Seq.LessThan(h.c.sndNxt) {
				t.Fatalf("at %v sent %v (ECN %d), want a Not-ECT retransmission", h.now.Sub(t0), segString(&g), g.ECN)
			}
		}
	}
	// The peer acknowledges it all and closes its window: the
	// zero-window probe is Not-ECT (§6.1.6), the FIN too.
	ack := h.seg(FlagACK)
	ack.Window = 0
	h.in(ack)
	h.c.Write(bytesN(10), h.now)
	h.expect()
	next, _ := h.c.NextDeadline()
	h.fire(next.Sub(t0))
	h.expect("ACK seq=3921 ack=5001 len=1")
	h.in(h.seg(FlagACK)) // the window opens again
	// New data: ECT(0), and the CWR the timeout queued (the probe, not
	// ECT, could not carry it).
	h.expect("PSH|ACK|CWR seq=3922 ack=5001 len=9 ect0")
	h.c.Shutdown(h.now)
	h.expect("FIN|ACK seq=3931 ack=5001")
}

func TestECN_CEEchoedWithECEUntilCWR(t *testing.T) {
	var k Counters
	h := newECNEstablished(t, Config{Counters: &k})
	// In-order data would wait for the delayed ACK; a CE mark starts
	// the echo and is ACKed at once (Linux's tcp_ecn_check_ce).
	h.in(h.data(bytesN(100)))
	h.expect()
	h.in(ce(h.data(bytesN(100))))
	h.expect("ACK|ECE seq=1001 ack=5201")
	// ECE on every ACK (§6.1.3), delayed ones too, and on data.
	h.in(h.data(bytesN(100)))
	h.expect()
	h.fire(40 * ms)
	h.expect("ACK|ECE seq=1001 ack=5301")
	h.c.Write(bytesN(10), h.now)
	h.expect("PSH|ACK|ECE seq=1001 ack=5301 len=10 ect0")
	// A CE on a segment that itself carries CWR starts the echo again.
	cwr := h.data(bytesN(100))
	cwr.Flags |= FlagCWR
	h.in(ce(cwr))
	h.expect("ACK|ECE seq=1011 ack=5401")
	// The peer's CWR ends the echo; it is ACKed at once (Linux's
	// tcp_ecn_accept_cwr: the sender's window may be one segment).
	cwr = h.data(bytesN(100))
	cwr.Flags |= FlagCWR
	h.in(cwr)
	h.expect("ACK seq=1011 ack=5501")
	h.in(h.data(bytesN(100)))
	h.fire(h.now.Sub(t0) + 40*ms)
	h.expect("ACK seq=1011 ack=5601")
	if k.CEReceived != 2 || k.ECESent != 4 || h.c.Info().CEReceived != 2 {
		t.Fatalf("CE received %d (Info %d), ECE sent %d; want 2, 4", k.CEReceived, h.c.Info().CEReceived, k.ECESent)
	}
}

func TestECN_CEOnOutOfOrderData_Echoed(t *testing.T) {
	h := newECNEstablished(t, Config{})
	d := h.data(bytesN(100))
	d.Seq = peerISS + 101 // a hole before it: ACKed at once anyway
	h.in(ce(d))
	h.expect("ACK|ECE seq=1001 ack=5001")
}

// ecnFlight has Reno's cwnd at 10 segments, all 10 in flight and 10 more
// queued.
func ecnFlight(t *testing.T, k *Counters) *harness {
	t.Helper()
	h := newECNEstablished(t, Config{Counters: k})
	setWindow(h.c, 10*1460, initialSsthresh)
	h.c.Write(bytesN(20*1460), h.now)
	if got := len(h.out.take()); got != 10 {
		t.Fatalf("fixture: %d segments sent, want 10", got)
	}
	return h
}

// eceAck acknowledges up to ack with ECE.
func (h *harness) eceAck(ack int) Segment {
	a := h.seg(FlagACK | FlagECE)
	a.Ack = segAt(ack)
	return a
}

func TestECN_ECE_OneReductionPerWindow_ThenCWROnNewData(t *testing.T) {
	var k Counters
	h := ecnFlight(t, &k)
	// §6.1.2: the ECE halves the window as a loss would: ssthresh =
	// max(FlightSize/2, 2·SMSS) of the 8 segments still out, cwnd down
	// to it.
	h.in(h.eceAck(2))
	if h.c.cc.ssthresh() != 4*1460 || h.c.cc.cwnd() != 4*1460 {
		t.Fatalf("cwnd %d ssthresh %d after ECE, want 4 segments each", h.c.cc.cwnd(), h.c.cc.ssthresh())
	}
	h.expect() // 8 in flight, cwnd 4
	// More ECEs for the same window: no second reduction.
	for i := 3; i <= 10; i++ {
		h.in(h.eceAck(i))
	}
	if h.c.cc.ssthresh() != 4*1460 || k.ECNReductions != 1 || k.ECEReceived != 9 {
		t.Fatalf("ssthresh %d, %d reductions of %d ECEs; want 4 segments, 1 of 9", h.c.cc.ssthresh(), k.ECNReductions, k.ECEReceived)
	}
	// The first new data after the reduction carries CWR, once.
	got := h.out.take()
	if len(got) < 2 || segString(&got[0]) != s("ACK|CWR seq=%d ack=5001 len=1460 ect0", segAt(10)) ||
		got[1].Flags&FlagCWR != 0 || got[1].ECN != ECNECT0 {
		t.Fatalf("sent %v", got)
	}
	if k.CWRSent != 1 {
		t.Fatalf("CWR sent %d, want 1", k.CWRSent)
	}
	// ACKs up to what was outstanding at the reduction (segment 10)
	// still echo the old mark; one beyond it is news and reduces again.
	h.in(h.eceAck(11))
	if k.ECNReductions != 2 {
		t.Fatalf("%d reductions after an ECE for data sent after CWR, want 2", k.ECNReductions)
	}
	if h.c.Info().ECNReductions != 2 {
		t.Fatalf("Info: %d reductions", h.c.Info().ECNReductions)
	}
}

func TestECN_ECEInRecovery_NoSecondReduction(t *testing.T) {
	var k Counters
	h := ecnFlight(t, &k)
	h.in(h.sackAck(segAt(0), segAt(1), segAt(2)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(3)))
	h.in(h.sackAck(segAt(0), segAt(1), segAt(4)))
	if !h.c.inRecovery {
		t.Fatal("fixture: not in recovery")
	}
	ss := h.c.cc.ssthresh()
	e := h.sackAck(segAt(0), segAt(1), segAt(5))
	e.Flags |= FlagECE
	h.in(e)
	if h.c.cc.ssthresh() != ss || k.ECNReductions != 0 {
		t.Fatalf("ssthresh %d (was %d), %d ECN reductions in recovery; want none (§6.1.2)", h.c.cc.ssthresh(), ss, k.ECNReductions)
	}
}

func TestECN_LossAfterECEReduction_NoSecondReduction(t *testing.T) {
	// A loss within the window an ECE reduction covers is the same
	// congestion: recovery starts without lowering ssthresh again (as
	// Linux's tcp_enter_recovery in the CWR state).
	// The flight differs between the two (segments 1 and 2 are ACKed
	// in between), so a second reduction would show.
	var k Counters
	h := ecnFlight(t, &k)
	h.in(h.eceAck(1))
	ss := h.c.cc.ssthresh()
	a := h.seg(FlagACK)
	a.Ack = segAt(3)
	h.in(a)
	h.in(h.sackAck(segAt(3), segAt(4), segAt(5)))
	h.in(h.sackAck(segAt(3), segAt(4), segAt(6)))
	h.in(h.sackAck(segAt(3), segAt(4), segAt(7)))
	if !h.c.inRecovery {
		t.Fatal("fixture: not in recovery")
	}
	if h.c.cc.ssthresh() != ss {
		t.Fatalf("ssthresh %d after the loss, want %d from the ECE reduction", h.c.cc.ssthresh(), ss)
	}
}

func TestECN_Timeout_CWROnNextNewData(t *testing.T) {
	// §6.1.2: CWR follows a reduction "for any reason", a timeout too.
	h := newECNEstablished(t, Config{})
	h.c.Write(bytesN(1460), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=1460 ect0")
	for h.c.timeouts == 0 {
		d, _ := h.c.NextDeadline()
		h.fire(d.Sub(t0))
	}
	for _, g := range h.out.take() {
		if g.Flags&FlagCWR != 0 || g.ECN != ECNNotECT {
			t.Fatalf("retransmission %v ECN %d", segString(&g), g.ECN)
		}
	}
	h.in(h.seg(FlagACK))
	h.c.Write(bytesN(10), h.now)
	h.expect("PSH|ACK|CWR seq=2461 ack=5001 len=10 ect0")
}

func TestSim_ECN_CEMarksAndLoss_EchoIntactOneReductionPerWindow(t *testing.T) {
	// Both ends negotiate ECN; the network marks 5% of ECT segments CE
	// and loses 1% of all. The echo completes intact (echoSimNet checks
	// the bytes), every mark reaches the receiver's count, and the
	// senders reduce at most once per window: fewer reductions than
	// marks.
	n := &simNet{delay: time.Millisecond, loss: 0.01, ce: 0.05}
	echoSimNet(t, 7, 1<<20, Config{}, n)
	var ce, cuts uint64
	for _, c := range n.ends {
		if !c.Info().ECN {
			t.Fatal("ECN not negotiated")
		}
		ce += c.Info().CEReceived
		cuts += c.Info().ECNReductions
	}
	t.Logf("%d segments marked CE, %d received, %d reductions", n.marked, ce, cuts)
	if n.marked == 0 || ce == 0 || ce > uint64(n.marked) || cuts == 0 || cuts >= ce {
		t.Fatalf("%d marked, %d CE received, %d reductions: want marks received and fewer reductions", n.marked, ce, cuts)
	}
}

// §6.1.2: a loss a tail loss probe repaired is a reduction too (RFC 8985
// §7.4 answers it as fast recovery would), so CWR goes on the next new
// data, as after a fast retransmission.
func TestECN_TLPRepair_CWROnNextNewData(t *testing.T) {
	h := newECNEstablished(t, Config{})
	h.c.Write(bytesN(2*1460), h.now)
	h.out.take()
	h.fire(2 * ms) // the probe: the last segment again
	if got := h.out.take(); len(got) != 1 || got[0].Seq != segAt(1) {
		t.Fatalf("probe %v", got)
	}
	h.at(3 * ms)
	h.c.Write(bytesN(1460), h.now)
	h.out.take()
	h.at(5 * ms)
	h.in(h.seg(FlagACK)) // beyond TLP.end_seq, no D-SACK: it repaired a loss
	if h.c.Info().TLPRecoveries != 1 {
		t.Fatalf("fixture: TLPRecoveries %d", h.c.Info().TLPRecoveries)
	}
	h.c.Write(bytesN(10), h.now)
	h.expect("PSH|ACK|CWR seq=5381 ack=5001 len=10 ect0")
}
