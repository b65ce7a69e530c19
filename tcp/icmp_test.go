package tcp

import (
	"errors"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/ipv4"
)

const (
	unreach  = ipv4.TypeDestUnreachable
	timeExcd = ipv4.TypeTimeExceeded
)

func TestICMP_SynSent_PortUnreachable_ECONNREFUSED(t *testing.T) {
	h := newSynSent(t, Config{})
	if !h.c.HandleICMPError(unreach, ipv4.CodePortUnreachable, testISS, 0, h.now) {
		t.Fatal("not accepted")
	}
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.ECONNREFUSED) {
		t.Fatalf("err %v", h.c.Err())
	}
	h.expect() // RFC 1122 §4.2.3.9: abort, nothing sent
	h.noDeadline()
}

func TestICMP_SynSent_ProtoUnreachable_ENOPROTOOPT(t *testing.T) {
	h := newSynSent(t, Config{})
	h.c.HandleICMPError(unreach, ipv4.CodeProtoUnreachable, testISS, 0, h.now)
	if h.c.State() != StateClosed || !errors.Is(h.c.Err(), syscall.ENOPROTOOPT) {
		t.Fatalf("%v %v, want CLOSED with ENOPROTOOPT (Linux icmp_err_convert)", h.c.State(), h.c.Err())
	}
}

func TestICMP_SynSent_QuotedSeqNotOurSYN_Ignored(t *testing.T) {
	h := newSynSent(t, Config{})
	for _, seq := range []uint32{uint32(testISS) - 1, uint32(testISS) + 1, 0xdeadbeef} {
		if h.c.HandleICMPError(unreach, ipv4.CodePortUnreachable, seqnumSize(int(seq)), 0, h.now) {
			t.Fatalf("seq %d accepted (RFC 5927 §4.1)", seq)
		}
	}
	h.expectState(StateSynSent)
}

func TestICMP_SynSent_HostUnreachable_IsSoft(t *testing.T) {
	h := newSynSent(t, Config{})
	if !h.c.HandleICMPError(unreach, ipv4.CodeHostUnreachable, testISS, 0, h.now) {
		t.Fatal("not accepted")
	}
	h.expectState(StateSynSent) // RFC 1122 §4.2.3.9: MUST NOT abort
	if got := SoftICMPError(unreach, ipv4.CodeHostUnreachable); got != syscall.EHOSTUNREACH {
		t.Fatalf("soft error %v", got)
	}
}

func TestICMP_Established_PortUnreachable_IsSoft(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(10), h.now)
	h.out.take()
	if !h.c.HandleICMPError(unreach, ipv4.CodePortUnreachable, testISS+1, 0, h.now) {
		t.Fatal("not accepted")
	}
	h.expectState(StateEstablished) // Linux tcp_v4_err: sk_err_soft only
	if h.c.Err() != nil {
		t.Fatalf("err %v", h.c.Err())
	}
	if SoftICMPError(unreach, ipv4.CodePortUnreachable) != syscall.ECONNREFUSED {
		t.Fatal("soft error")
	}
}

func TestICMP_Established_Validation_SndUnaToSndNxt(t *testing.T) {
	h := newEstablished(t, Config{})
	// Nothing outstanding: no sequence number is acceptable.
	if h.c.HandleICMPError(timeExcd, 0, testISS+1, 0, h.now) {
		t.Fatal("accepted with nothing in flight")
	}
	h.c.Write(bytesN(100), h.now)
	h.out.take()
	// RFC 5927 §4.1: SND.UNA =< SEG.SEQ < SND.NXT (1001..1100).
	for seq, want := range map[uint32]bool{1000: false, 1001: true, 1050: true, 1100: true, 1101: false, 1 << 31: false} {
		if got := h.c.HandleICMPError(timeExcd, 0, seqnumSize(int(seq)), 0, h.now); got != want {
			t.Fatalf("seq %d: accepted %v, want %v", seq, got, want)
		}
	}
}

func TestICMP_TimeWaitAndClosed_Ignored(t *testing.T) {
	h := newTimeWait(t, Config{})
	if h.c.HandleICMPError(unreach, ipv4.CodePortUnreachable, testISS+1, 0, h.now) {
		t.Fatal("TIME-WAIT took an ICMP error")
	}
	h.expectState(StateTimeWait)
}

func TestICMP_SourceQuench_Ignored(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(10), h.now)
	h.out.take()
	cwnd := h.c.cc.cwnd()
	if !h.c.HandleICMPError(ipv4.TypeSourceQuench, 0, testISS+1, 0, h.now) {
		t.Fatal("validated source quench not accepted")
	}
	h.expect()
	if h.c.cc.cwnd() != cwnd || SoftICMPError(ipv4.TypeSourceQuench, 0) != 0 {
		t.Fatal("source quench acted on (RFC 6633)")
	}
}

func TestICMP_FragNeeded_LowersMSSAndResendsFlight(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(2000), h.now)
	h.expect(s("ACK seq=1001 ack=5001 len=1460"), s("PSH|ACK seq=2461 ack=5001 len=540"))
	cwnd := h.c.cc.cwnd()
	if !h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, testISS+1, 1000, h.now) {
		t.Fatal("not accepted")
	}
	if h.c.Info().MSS != 960 {
		t.Fatalf("MSS %d, want 1000-40", h.c.Info().MSS)
	}
	// The flight again, in segments that fit (Linux's tcp_simple_retransmit
	// resends only the segments that are too big; we keep no segment
	// boundaries, so the whole flight is cut anew).
	h.expect(s("ACK seq=1001 ack=5001 len=960"), s("ACK seq=1961 ack=5001 len=960"), s("PSH|ACK seq=2921 ack=5001 len=80"))
	if h.c.cc.cwnd() != cwnd {
		t.Fatalf("cwnd %d → %d: a smaller PMTU is not congestion", cwnd, h.c.cc.cwnd())
	}
	// An increase is ignored; so is a second message for the same MTU.
	h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, testISS+1, 1500, h.now)
	h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, testISS+1, 1000, h.now)
	h.expect()
	if h.c.Info().MSS != 960 {
		t.Fatalf("MSS %d after an increase", h.c.Info().MSS)
	}
	// New data goes out at the new MSS.
	h.in(h.seg(FlagACK))
	h.c.Write(bytesN(1000), h.now)
	h.expect(s("ACK seq=3001 ack=5001 len=960"), s("PSH|ACK seq=3961 ack=5001 len=40"))
}

func TestICMP_FragNeeded_TinyMTU_ClampedTo552(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, testISS, 0, h.now) // SND.UNA-1: rejected
	if h.c.Info().MSS != 1460 {
		t.Fatal("out-of-window frag needed acted on")
	}
	h.c.Write(bytesN(10), h.now)
	h.out.take()
	h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, testISS+1, 68, h.now)
	if h.c.Info().MSS != 512 {
		t.Fatalf("MSS %d, want 552-40 (Linux min_pmtu)", h.c.Info().MSS)
	}
}

func TestICMP_FragNeeded_FINInFlight_ResentWithData(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(1200), h.now)
	h.c.Shutdown(h.now)
	h.expect(s("PSH|ACK seq=1001 ack=5001 len=1200"), s("FIN|ACK seq=2201 ack=5001"))
	h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, testISS+1, 1000, h.now)
	h.expect(s("ACK seq=1001 ack=5001 len=960"), s("FIN|PSH|ACK seq=1961 ack=5001 len=240"))
	h.checkInvariants()
}

func TestICMP_PassiveSynReceived_HostUnreachableDropsSilently(t *testing.T) {
	h, l := newPassive(t, Config{}, 8)
	if !h.c.HandleICMPError(unreach, ipv4.CodeHostUnreachable, testISS, 0, h.now) {
		t.Fatal("not accepted")
	}
	h.expectState(StateClosed) // Linux's tcp_req_err
	h.expect()
	if len(l.synQ) != 0 {
		t.Fatal("still in the SYN queue")
	}
	// A port unreachable does not end it.
	h2, _ := newPassive(t, Config{}, 8)
	h2.c.HandleICMPError(unreach, ipv4.CodePortUnreachable, testISS, 0, h2.now)
	h2.expectState(StateSynReceived)
}

func TestICMP_ReportSoftError_OnlyReplacesETIMEDOUT(t *testing.T) {
	h := newSynSent(t, Config{SynRetries: 1})
	h.c.ReportSoftError(syscall.EHOSTUNREACH) // not closed yet: nothing
	h.fire(1e9)
	h.fire(3e9)
	h.expectState(StateClosed)
	h.c.ReportSoftError(syscall.EHOSTUNREACH)
	if !errors.Is(h.c.Err(), syscall.EHOSTUNREACH) {
		t.Fatalf("err %v", h.c.Err())
	}
	h2 := newSynSent(t, Config{})
	h2.c.HandleICMPError(unreach, ipv4.CodePortUnreachable, testISS, 0, h2.now)
	h2.c.ReportSoftError(syscall.EHOSTUNREACH)
	if !errors.Is(h2.c.Err(), syscall.ECONNREFUSED) {
		t.Fatalf("a hard error was replaced: %v", h2.c.Err())
	}
}

// Our own ARP failing to resolve the next hop (HandleLinkFailure).

func TestLinkFailure_SynSent_FailsConnectWithEHOSTUNREACH(t *testing.T) {
	h := newSynSent(t, Config{})
	if !h.c.HandleLinkFailure(testISS, h.now) {
		t.Fatal("not accepted")
	}
	// Deviation (Linux compat): tcp_v4_err aborts SYN-SENT.
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.EHOSTUNREACH) {
		t.Fatalf("err %v, want EHOSTUNREACH", h.c.Err())
	}
	h.expect() // nothing sent: the peer never heard of us
	h.noDeadline()
}

func TestLinkFailure_SimultaneousOpenSynReceived_FailsConnect(t *testing.T) {
	h := newSynSent(t, Config{})
	h.in(h.seg(FlagSYN)) // the peer's own SYN crosses ours
	h.out.take()
	h.expectState(StateSynReceived)
	h.c.HandleLinkFailure(testISS, h.now)
	if h.c.State() != StateClosed || !errors.Is(h.c.Err(), syscall.EHOSTUNREACH) {
		t.Fatalf("%v %v, want CLOSED with EHOSTUNREACH (Linux tcp_v4_err: SYN_RECV)", h.c.State(), h.c.Err())
	}
}

func TestLinkFailure_QuotedSeqNotOurs_Ignored(t *testing.T) {
	h := newSynSent(t, Config{})
	if h.c.HandleLinkFailure(testISS+1, h.now) {
		t.Fatal("a segment beyond SND.NXT accepted")
	}
	h.expectState(StateSynSent)
}

func TestLinkFailure_Established_IsSoft(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(10), h.now)
	h.out.take()
	if !h.c.HandleLinkFailure(testISS+1, h.now) {
		t.Fatal("not accepted")
	}
	// Linux tcp_v4_err: sk_err_soft only; the retransmission timer runs on.
	h.expectState(StateEstablished)
	if h.c.Err() != nil {
		t.Fatalf("err %v", h.c.Err())
	}
	d, ok := h.c.NextDeadline()
	if !ok {
		t.Fatal("no retransmission timer")
	}
	h.fire(d.Sub(t0))
	h.expect(s("PSH|ACK seq=1001 ack=5001 len=10"))
}

func TestLinkFailure_PassiveSynReceived_DropsSilently(t *testing.T) {
	h, l := newPassive(t, Config{}, 8)
	h.c.HandleLinkFailure(testISS, h.now)
	h.expectState(StateClosed) // as Linux's tcp_req_err for a host unreachable
	h.expect()
	if len(l.synQ) != 0 || h.c.Err() != nil {
		t.Fatalf("SYN queue %d, err %v", len(l.synQ), h.c.Err())
	}
}

// RFC 1191 §6.4 in SYN-RECEIVED: the MSS is negotiated (the peer's SYN
// carried it), so a fragmentation-needed quoting our SYN-ACK lowers it,
// and the first data after the handshake goes out in segments that fit.
func TestICMP_FragNeeded_SynReceived_LowersTheNegotiatedMSS(t *testing.T) {
	h, _ := newPassive(t, Config{}, 8)
	if !h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, testISS, 1000, h.now) {
		t.Fatal("not accepted")
	}
	if h.c.Info().MSS != 960 {
		t.Fatalf("MSS %d, want 1000-40", h.c.Info().MSS)
	}
	h.in(h.seg(FlagACK))
	h.expectState(StateEstablished)
	h.c.Write(bytesN(1000), h.now)
	h.expect("ACK seq=1001 ack=5001 len=960", "PSH|ACK seq=1961 ack=5001 len=40")
}
