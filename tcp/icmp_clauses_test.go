package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// ICMP error rules (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191 §6.4) that the
// clause mutants of icmp.go showed untested.

// RFC 1122 §4.2.3.9: only protocol and port unreachable are hard errors; a
// parameter problem (any code, here 2 "bad length") and a time exceeded
// with a code no router sends are soft, and a connect in SYN-SENT goes on.
func TestICMP_SynSent_OnlyProtoAndPortUnreachableAreHard(t *testing.T) {
	for _, m := range []struct{ typ, code uint8 }{
		{ipv4.TypeParamProblem, 2},
		{ipv4.TypeParamProblem, ipv4.CodePortUnreachable},
		{timeExcd, ipv4.CodeProtoUnreachable},
	} {
		h := newSynSent(t, Config{})
		if !h.c.HandleICMPError(m.typ, m.code, testISS, 0, h.now) {
			t.Fatalf("type %d code %d not accepted", m.typ, m.code)
		}
		if h.c.State() != StateSynSent || h.c.Err() != nil {
			t.Fatalf("type %d code %d: %v %v, want SYN-SENT (a soft error)", m.typ, m.code, h.c.State(), h.c.Err())
		}
	}
}

// Linux's tcp_req_err (tcp_v4_err on a request socket) forgets an
// embryonic passive connection, without a RST, on a parameter problem, a
// time exceeded, or a net or host unreachable quoting its SYN-ACK: the SYN
// was probably spoofed. Other codes (port unreachable, source route
// failed) leave it to its SYN-ACK retransmissions.
func TestICMP_PassiveSynReceived_ForgottenAsLinuxTcpReqErr(t *testing.T) {
	for _, m := range []struct {
		typ, code uint8
		forget    bool
	}{
		{unreach, ipv4.CodeNetUnreachable, true},
		{unreach, ipv4.CodeHostUnreachable, true},
		{timeExcd, 0, true},
		{ipv4.TypeParamProblem, 0, true},
		{ipv4.TypeParamProblem, 2, true},
		{unreach, ipv4.CodePortUnreachable, false},
		{unreach, 5, false},
	} {
		h, l := newPassive(t, Config{}, 8)
		if !h.c.HandleICMPError(m.typ, m.code, testISS, 0, h.now) {
			t.Fatalf("type %d code %d not accepted", m.typ, m.code)
		}
		h.expect() // never a RST
		if got := h.c.State() == StateClosed; got != m.forget {
			t.Fatalf("type %d code %d: state %v, forgotten %v want %v", m.typ, m.code, h.c.State(), got, m.forget)
		}
		if m.forget && (len(l.synQ) != 0 || h.c.Err() != nil) {
			t.Fatalf("type %d code %d: SYN queue %d, err %v", m.typ, m.code, len(l.synQ), h.c.Err())
		}
	}
}

// RFC 7323 §3.2: every segment carries TSval, "the current value of the
// timestamp clock". The flight resent at once after a fragmentation
// needed (RFC 1191 §6.4) carries the time of the ICMP message, not that of
// the connection's previous event.
func TestICMP_FragNeeded_ResentFlightCarriesCurrentTSval(t *testing.T) {
	h := newTSEstablished(t, Config{})
	h.c.Write(bytesN(2000), h.now)
	h.out.take()
	h.at(50 * ms)
	segs := h.fragNeeded1000()
	for _, s := range segs {
		checkTS(t, h, s, 50*ms, 7000)
	}
}

// fragNeeded1000 delivers a fragmentation needed (next-hop MTU 1000)
// quoting SND.UNA and returns what the connection resent.
func (h *harness) fragNeeded1000() []Segment {
	h.t.Helper()
	if !h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, h.c.sndUna, 1000, h.now) {
		h.t.Fatal("not accepted")
	}
	segs := h.out.take()
	if len(segs) == 0 {
		h.t.Fatal("nothing resent")
	}
	return segs
}

// RFC 1191 §6.4 with timestamps on: the segments resent after a
// fragmentation needed fit the reported MTU with their Timestamps option,
// as the send MSS left room for it at the handshake (tsOptionLen; Linux's
// tcp_mtu_to_mss subtracts the option space too).
func TestICMP_FragNeeded_WithTimestamps_SegmentsFitTheMTU(t *testing.T) {
	h := newTSEstablished(t, Config{})
	h.c.Write(bytesN(2000), h.now)
	h.expect("ACK seq=1001 ack=5001 len=1448", "PSH|ACK seq=2449 ack=5001 len=552")
	h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, testISS+1, 1000, h.now)
	for _, s := range h.expect("ACK seq=1001 ack=5001 len=948", "ACK seq=1949 ack=5001 len=948", "PSH|ACK seq=2897 ack=5001 len=104") {
		if size := ipv4.HeaderMinLen + s.HeaderLen() + len(s.Payload); size > 1000 {
			t.Fatalf("%s: %d octets, over the path MTU of 1000", segString(&s), size)
		}
	}
	if h.c.Info().MSS != 948 {
		t.Fatalf("MSS %d, want 1000-40-12", h.c.Info().MSS)
	}
}

// RFC 1191 §6.4 with RFC 9293 §3.4's modular sequence numbers: a flight
// that crosses sequence number 0 is resent whole, and with no FIN when no
// FIN was queued, whatever segment boundary falls on 0.
func TestICMP_FragNeeded_FlightAcrossSequenceWrap_ResentWhole(t *testing.T) {
	const iss = seqnum.Value(0xfffffc3f) // data starts at −960
	h := newHarness(t, Config{})
	h.c = NewConn(strict(Config{Observer: h, Congestion: harnessCongestion("")}), addrA, addrB, iss, h.out)
	h.c.Connect(h.now)
	sa := h.synAck()
	sa.Ack = iss + 1
	h.in(sa)
	h.in(h.seg(FlagACK))
	h.out.take()
	h.c.Write(bytesN(2000), h.now)
	if got := len(h.out.take()); got != 2 {
		t.Fatalf("%d segments, want 2", got)
	}
	if !h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, iss+1, 1000, h.now) {
		t.Fatal("not accepted")
	}
	got := h.out.take()
	want := []struct {
		seq seqnum.Value
		n   int
	}{{iss + 1, 960}, {0, 960}, {960, 80}}
	if len(got) != len(want) {
		t.Fatalf("%d segments resent, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Seq != w.seq || len(got[i].Payload) != w.n || got[i].Flags&FlagFIN != 0 {
			t.Fatalf("segment %d: %s, want seq %d len %d without FIN", i, segString(&got[i]), uint32(w.seq), w.n)
		}
	}
}

// RFC 1191 §6.4: what is in flight is resent at once; in FIN-WAIT-1 with
// the data acknowledged, that is the FIN alone.
func TestICMP_FragNeeded_LoneFINInFlight_Resent(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(1000), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=1000")
	ack := h.seg(FlagACK) // acknowledges the data, before the FIN goes
	h.in(ack)
	h.c.Shutdown(h.now)
	h.expect("FIN|ACK seq=2001 ack=5001")
	h.expectState(StateFinWait1)
	if !h.c.HandleICMPError(unreach, ipv4.CodeFragNeeded, testISS+1001, 576, h.now) {
		t.Fatal("not accepted")
	}
	h.expect("FIN|ACK seq=2001 ack=5001")
}

// RFC 1122 §4.2.3.9 via Linux's tcp_write_err: a recorded soft error takes
// the place of ETIMEDOUT; with none recorded (nil) ETIMEDOUT stays.
func TestICMP_ReportSoftError_NilKeepsETIMEDOUT(t *testing.T) {
	h := newSynSent(t, Config{SynRetries: 1})
	h.fire(1 * time.Second)
	h.fire(3 * time.Second)
	h.expectState(StateClosed)
	h.c.ReportSoftError(nil)
	if !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("err %v, want ETIMEDOUT", h.c.Err())
	}
}

// RFC 1191 §6.4 resends what is in flight, SND.UNA to SND.NXT. A FIN that
// SACK recovery holds back for want of cwnd (RFC 6675 §5: new data only
// while cwnd − pipe ≥ 1 SMSS) is not in flight: it does not ride on the
// resent flight, and stays queued.
func TestICMP_FragNeeded_FINHeldByCwndNotSentWithFlight(t *testing.T) {
	h := newSACKEstablished(t)
	h.c.Write(bytesN(14600), h.now) // IW: ten segments
	h.out.take()
	for i := 1; i <= 3; i++ { // three SACKs of the segments after the first
		h.in(h.sackAck(testISS+1, testISS+1+1460, testISS+1+1460*seqnumSize(i+1)))
	}
	h.out.take()
	h.c.Shutdown(h.now)
	h.expect() // cwnd is full: the FIN waits
	segs := h.fragNeeded1000()
	for _, s := range segs {
		if s.Flags&FlagFIN != 0 {
			t.Fatalf("%s: the FIN went with the resent flight", segString(&s))
		}
	}
	if h.c.sndCur != h.c.finSeq {
		t.Fatalf("send cursor %d, want the FIN's %d (still queued)", uint32(h.c.sndCur), uint32(h.c.finSeq))
	}
}
