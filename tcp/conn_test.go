package tcp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	ms = time.Millisecond
	us = time.Microsecond
)

// ---------------------------------------------------------------- SYN-SENT

func TestSynSent_Connect_SendsSYNWithMSSAndWScale(t *testing.T) {
	h := newHarness(t, Config{})
	if err := h.c.Connect(h.now); err != nil {
		t.Fatal(err)
	}
	got := h.expect("SYN seq=1000")
	o := got[0].Options
	if o.MSS != 1460 || !o.HasWScale || o.WScale != 5 || got[0].Window != 65535 {
		t.Fatalf("SYN options %+v window %d; want MSS 1460, WScale 5 (1 MiB buffer), window 65535", o, got[0].Window)
	}
	h.expectState(StateSynSent)
	if err := h.c.Connect(h.now); !errors.Is(err, syscall.EISCONN) {
		t.Fatalf("second Connect: %v", err)
	}
}

func TestSynSent_SynAck_EstablishesAndACKs(t *testing.T) {
	h := newSynSent(t, Config{})
	h.in(h.synAck())
	h.expect("ACK seq=1001 ack=5001")
	h.expectState(StateEstablished)
	if ev := h.c.TakeEvents(); ev&EventEstablished == 0 || ev&EventWritable == 0 {
		t.Fatalf("events %b", ev)
	}
	if h.c.mss != 1460 || h.c.sndWScale != 7 || h.c.rcvWScale != 5 {
		t.Fatalf("mss %d sndWScale %d rcvWScale %d", h.c.mss, h.c.sndWScale, h.c.rcvWScale)
	}
	if h.c.cc.cwnd() != 14600 {
		t.Fatalf("IW %d, want 14600 (RFC 6928)", h.c.cc.cwnd())
	}
	h.noDeadline()
}

func TestSynSent_AckBelowISS_SendsRST(t *testing.T) {
	h := newSynSent(t, Config{})
	sa := h.synAck()
	sa.Ack = testISS
	h.in(sa)
	h.expect("RST seq=1000")
	h.expectState(StateSynSent)
}

func TestSynSent_AckAboveSndNxt_SendsRST(t *testing.T) {
	h := newSynSent(t, Config{})
	sa := h.seg(FlagACK)
	sa.Ack = testISS + 2
	h.in(sa)
	h.expect("RST seq=1002")
	h.expectState(StateSynSent)
}

func TestSynSent_RSTWithAcceptableAck_Refused(t *testing.T) {
	h := newSynSent(t, Config{})
	r := h.seg(FlagRST | FlagACK)
	r.Seq, r.Ack = 0, testISS+1
	h.in(r)
	h.expect()
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.ECONNREFUSED) {
		t.Fatalf("err %v", h.c.Err())
	}
	if _, err := h.c.Read(make([]byte, 1), h.now); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Read: %v", err)
	}
	if h.c.TakeEvents()&EventClosed == 0 {
		t.Fatal("no EventClosed")
	}
	h.noDeadline()
}

func TestSynSent_RSTWithoutAck_Ignored(t *testing.T) {
	h := newSynSent(t, Config{})
	h.in(h.seg(FlagRST))
	h.expect()
	h.expectState(StateSynSent)
}

func TestSynSent_RSTWithUnacceptableAck_Ignored(t *testing.T) {
	h := newSynSent(t, Config{})
	r := h.seg(FlagRST | FlagACK)
	r.Ack = testISS + 7
	h.in(r)
	h.expect()
	h.expectState(StateSynSent)
}

func TestSynSent_AckWithoutSyn_Dropped(t *testing.T) {
	h := newSynSent(t, Config{})
	a := h.seg(FlagACK)
	a.Ack = testISS + 1
	h.in(a)
	h.expect()
	h.expectState(StateSynSent)
}

func TestSynSent_BareSYN_SimultaneousOpen(t *testing.T) {
	h := newSynSent(t, Config{})
	syn := h.seg(FlagSYN)
	syn.Options = Options{MSS: 1000, HasWScale: true, WScale: 2}
	h.in(syn)
	got := h.expect("SYN|ACK seq=1000 ack=5001")
	if got[0].Options.MSS != 1460 || !got[0].Options.HasWScale {
		t.Fatalf("SYN-ACK options %+v: must repeat ours", got[0].Options)
	}
	h.expectState(StateSynReceived)
	h.in(h.seg(FlagACK))
	h.expectState(StateEstablished)
	if h.c.mss != 1000 || h.c.sndWScale != 2 {
		t.Fatalf("mss %d sndWScale %d", h.c.mss, h.c.sndWScale)
	}
}

func TestSynSent_SYNRetransmissions_ThenETIMEDOUT(t *testing.T) {
	h := newSynSent(t, Config{})
	// Linux's tcp_syn_retries = 6 with a 1s initial RTO: 1, 3, 7, 15, 31, 63s,
	// give up at 127s.
	for _, at := range []time.Duration{1, 3, 7, 15, 31, 63} {
		h.fire(at * time.Second)
		h.expect("SYN seq=1000")
	}
	h.fire(127 * time.Second)
	h.expect()
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("err %v", h.c.Err())
	}
	h.noDeadline()
}

func TestSynSent_SynRetransmitted_IWIsOneSegment(t *testing.T) {
	h := newSynSent(t, Config{})
	h.fire(time.Second)
	h.expect("SYN seq=1000")
	h.at(1500 * ms)
	h.in(h.synAck())
	if h.c.cc.cwnd() != 1460 {
		t.Fatalf("cwnd %d, want 1 MSS after a lost SYN (RFC 6928 §2)", h.c.cc.cwnd())
	}
	if h.c.hasRTT {
		t.Fatal("RTT sampled from a retransmitted SYN (Karn)")
	}
}

func TestSynSent_NoMSSOption_Uses536(t *testing.T) {
	h := newSynSent(t, Config{})
	sa := h.synAck()
	sa.Options = Options{}
	h.in(sa)
	if h.c.mss != 536 {
		t.Fatalf("mss %d", h.c.mss)
	}
	if h.c.rcvWScale != 0 || h.c.sndWScale != 0 {
		t.Fatal("window scaling used though the peer did not offer it")
	}
	got := h.expect("ACK seq=1001 ack=5001")
	if got[0].Window != 65535 {
		t.Fatalf("unscaled window %d, want 65535", got[0].Window)
	}
}

func TestSynSent_WriteQueued_SentWithHandshakeACK(t *testing.T) {
	h := newSynSent(t, Config{})
	if n, err := h.c.Write([]byte("hello"), h.now); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	h.expect()
	h.in(h.synAck())
	h.expect("PSH|ACK seq=1001 ack=5001 len=5")
}

func TestSynSent_SynAckWithData_Delivered(t *testing.T) {
	h := newSynSent(t, Config{})
	sa := h.synAck()
	sa.Payload = []byte("hi")
	h.in(sa)
	h.expect("ACK seq=1001 ack=5003")
	buf := make([]byte, 10)
	if n, _ := h.c.Read(buf, h.now); string(buf[:n]) != "hi" {
		t.Fatalf("read %q", buf[:n])
	}
}

func TestSynSent_Close_GoesClosedSilently(t *testing.T) {
	h := newSynSent(t, Config{})
	h.c.Close(h.now)
	h.expect()
	h.expectState(StateClosed)
	h.noDeadline()
}

func TestSynSent_ShutdownQueued_FINAfterHandshake(t *testing.T) {
	h := newSynSent(t, Config{})
	h.c.Write([]byte("x"), h.now)
	h.c.Shutdown(h.now)
	h.in(h.synAck())
	h.expect("FIN|PSH|ACK seq=1001 ack=5001 len=1")
	h.expectState(StateFinWait1)
}

// ------------------------------------------------------------ SYN-RECEIVED

func TestSynReceived_SynAckCarriesOptions(t *testing.T) {
	h := &harness{t: t, out: &recorder{}, now: t0}
	l := NewListener(strict(Config{}), addrA, 8, h.out)
	syn := Segment{SrcPort: peerPort, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 1000,
		Options: Options{MSS: 1200, HasWScale: true, WScale: 5}}
	c := l.HandleSegment(&syn, addrB, issEnv(testISS), h.now)
	if c == nil || c.State() != StateSynReceived || c.Listener() != l {
		t.Fatal("no SYN-RECEIVED conn")
	}
	got := h.expect("SYN|ACK seq=1000 ack=5001")
	if o := got[0].Options; o.MSS != 1460 || !o.HasWScale || o.WScale != 5 {
		t.Fatalf("options %+v", o)
	}
	if c.mss != 1200 || c.sndWnd != 1000 {
		t.Fatalf("mss %d sndWnd %d", c.mss, c.sndWnd)
	}
}

func TestSynReceived_SynWithoutWScale_NoneOffered(t *testing.T) {
	h := &harness{t: t, out: &recorder{}, now: t0}
	l := NewListener(strict(Config{}), addrA, 8, h.out)
	syn := Segment{SrcPort: peerPort, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 1000}
	c := l.HandleSegment(&syn, addrB, issEnv(testISS), h.now)
	got := h.expect("SYN|ACK seq=1000 ack=5001")
	if got[0].Options.HasWScale || c.rcvWScale != 0 || c.mss != 536 {
		t.Fatalf("options %+v rcvWScale %d mss %d", got[0].Options, c.rcvWScale, c.mss)
	}
}

func TestSynReceived_Ack_EstablishesIntoAcceptQueue(t *testing.T) {
	h, l := newPassive(t, Config{}, 8)
	h.in(h.seg(FlagACK))
	h.expect()
	h.expectState(StateEstablished)
	if l.Pending() != 1 || l.TakeEvents()&EventAcceptable == 0 {
		t.Fatal("not in the accept queue")
	}
	if l.Accept() != h.c || l.Accept() != nil {
		t.Fatal("Accept")
	}
	h.noDeadline()
}

func TestSynReceived_AckWithData_Delivered(t *testing.T) {
	h, l := newPassive(t, Config{}, 8)
	h.in(h.data([]byte("GET /")))
	h.expectState(StateEstablished)
	if l.Pending() != 1 || h.c.Readable() != 5 {
		t.Fatalf("pending %d readable %d", l.Pending(), h.c.Readable())
	}
}

func TestSynReceived_AckBelowISS_SendsRST(t *testing.T) {
	h, _ := newPassive(t, Config{}, 8)
	a := h.seg(FlagACK)
	a.Ack = testISS
	h.in(a)
	h.expect("RST seq=1000")
	h.expectState(StateSynReceived)
}

func TestSynReceived_AckAboveSndNxt_SendsRST(t *testing.T) {
	h, _ := newPassive(t, Config{}, 8)
	a := h.seg(FlagACK)
	a.Ack = testISS + 100
	h.in(a)
	h.expect("RST seq=1100")
	h.expectState(StateSynReceived)
}

func TestSynReceived_ExactRST_ClosesSilentlyAndLeavesSynQueue(t *testing.T) {
	h, l := newPassive(t, Config{}, 8)
	h.in(h.seg(FlagRST))
	h.expect()
	h.expectState(StateClosed)
	if h.c.Err() != nil || len(l.synQ) != 0 {
		t.Fatalf("err %v synQ %d", h.c.Err(), len(l.synQ))
	}
}

func TestSynReceived_InWindowRST_ChallengeACK(t *testing.T) {
	h, _ := newPassive(t, Config{}, 8)
	r := h.seg(FlagRST)
	r.Seq = peerISS + 10
	h.in(r)
	h.expect("ACK seq=1001 ack=5001")
	h.expectState(StateSynReceived)
}

func TestSynReceived_RetransmittedSYN_ResendsSynAck(t *testing.T) {
	h, _ := newPassive(t, Config{}, 8)
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS
	h.in(syn)
	h.expect("SYN|ACK seq=1000 ack=5001")
	h.expectState(StateSynReceived)
}

func TestSynReceived_NewInWindowSYN_Drops(t *testing.T) {
	h, l := newPassive(t, Config{}, 8)
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS + 5
	h.in(syn)
	h.expect()
	h.expectState(StateClosed)
	if len(l.synQ) != 0 {
		t.Fatal("still in SYN queue")
	}
}

func TestSynReceived_SynAckRetransmissions_ThenDropped(t *testing.T) {
	h, l := newPassive(t, Config{}, 8)
	for _, at := range []time.Duration{1, 3, 7, 15, 31} {
		h.fire(at * time.Second)
		h.expect("SYN|ACK seq=1000 ack=5001")
	}
	h.fire(63 * time.Second)
	h.expect()
	h.expectState(StateClosed)
	if h.c.Err() != nil || len(l.synQ) != 0 {
		t.Fatalf("err %v synQ %d", h.c.Err(), len(l.synQ))
	}
}

func TestSynReceived_OutOfWindowSegment_ACKed(t *testing.T) {
	h, _ := newPassive(t, Config{}, 8)
	d := h.data([]byte("x"))
	d.Seq = peerISS + 1_000_000
	h.in(d)
	h.expect("ACK seq=1001 ack=5001")
	h.expectState(StateSynReceived)
}

func TestSynReceived_NoACKBit_Dropped(t *testing.T) {
	h, _ := newPassive(t, Config{}, 8)
	d := h.seg(0)
	d.Payload = []byte("x")
	h.in(d)
	h.expect()
	h.expectState(StateSynReceived)
}

// ------------------------------------------------------------- ESTABLISHED

func TestEstablished_InOrderData_DelayedACK(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.data(bytesN(100)))
	h.expect()
	if h.c.TakeEvents()&EventReadable == 0 {
		t.Fatal("no EventReadable")
	}
	h.fire(40 * ms)
	h.expect("ACK seq=1001 ack=5101")
	h.noDeadline()
}

func TestEstablished_EverySecondFullSegment_ACKedAtOnce(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.data(bytesN(1460)))
	h.expect()
	h.at(5 * ms)
	h.in(h.data(bytesN(1460)))
	h.expect("ACK seq=1001 ack=7921")
	h.in(h.data(bytesN(1460)))
	h.expect()
	h.fire(45 * ms)
	h.expect("ACK seq=1001 ack=9381")
}

func TestEstablished_OutOfOrder_DupACKsThenHoleFillACK(t *testing.T) {
	h := newEstablished(t, Config{})
	first := h.data(bytesN(100))
	h.peerNxt += 100 // lose the first segment
	h.in(h.data(bytesN(100)))
	h.expect("ACK seq=1001 ack=5001")
	h.in(h.data(bytesN(100)))
	h.expect("ACK seq=1001 ack=5001")
	if h.c.Readable() != 0 {
		t.Fatal("out-of-order data readable")
	}
	h.in(first)
	h.expect("ACK seq=1001 ack=5301")
	if h.c.Readable() != 300 {
		t.Fatalf("readable %d", h.c.Readable())
	}
}

func TestEstablished_OutOfOrderFIN_ProcessedWhenHoleFills(t *testing.T) {
	h := newEstablished(t, Config{})
	first := h.data([]byte("ab"))
	h.peerNxt += 2
	fin := h.data([]byte("cd"))
	fin.Flags |= FlagFIN
	h.in(fin)
	h.expect("ACK seq=1001 ack=5001")
	h.expectState(StateEstablished)
	h.in(first)
	h.expect("ACK seq=1001 ack=5006")
	h.expectState(StateCloseWait)
	buf := make([]byte, 10)
	n, _ := h.c.Read(buf, h.now)
	if string(buf[:n]) != "abcd" {
		t.Fatalf("read %q", buf[:n])
	}
	if _, err := h.c.Read(buf, h.now); err != io.EOF {
		t.Fatalf("Read after FIN: %v", err)
	}
}

func TestEstablished_OldSegment_ACKedAndDropped(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.data([]byte("abc")))
	old := h.data([]byte("abc"))
	old.Seq = peerISS + 1
	h.in(old)
	h.expect("ACK seq=1001 ack=5004")
	if h.c.Readable() != 3 {
		t.Fatalf("readable %d", h.c.Readable())
	}
}

func TestEstablished_OverlappingSegment_NewPartKept(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.data([]byte("abc")))
	over := h.data([]byte("bcdef"))
	over.Seq = peerISS + 2
	h.peerNxt = peerISS + 7
	h.in(over)
	buf := make([]byte, 10)
	n, _ := h.c.Read(buf, h.now)
	if string(buf[:n]) != "abcdef" {
		t.Fatalf("read %q", buf[:n])
	}
}

func TestEstablished_ExactRST_ECONNRESET(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.seg(FlagRST))
	h.expect()
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.ECONNRESET) {
		t.Fatalf("err %v", h.c.Err())
	}
	if _, err := h.c.Write([]byte("x"), h.now); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write: %v", err)
	}
	if !h.c.ReadClosed() {
		t.Fatal("ReadClosed false")
	}
}

func TestEstablished_InWindowRST_ChallengeACK(t *testing.T) {
	h := newEstablished(t, Config{})
	r := h.seg(FlagRST)
	r.Seq = peerISS + 100
	h.in(r)
	h.expect("ACK seq=1001 ack=5001")
	h.expectState(StateEstablished)
}

func TestEstablished_OutOfWindowRST_Ignored(t *testing.T) {
	h := newEstablished(t, Config{})
	r := h.seg(FlagRST)
	r.Seq = peerISS - 100
	h.in(r)
	h.expect()
	h.expectState(StateEstablished)
}

func TestEstablished_SYN_ChallengeACK(t *testing.T) {
	h := newEstablished(t, Config{})
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS + 10
	h.in(syn)
	h.expect("ACK seq=1001 ack=5001")
	h.expectState(StateEstablished)
}

func TestEstablished_RetransmittedSynAck_ReACKed(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.synAck())
	h.expect("ACK seq=1001 ack=5001")
	h.expectState(StateEstablished)
}

func TestEstablished_AckOfUnsentData_ACKedAndDropped(t *testing.T) {
	h := newEstablished(t, Config{})
	d := h.data([]byte("abc"))
	d.Ack = testISS + 50
	h.in(d)
	h.expect("ACK seq=1001 ack=5001")
	if h.c.Readable() != 0 {
		t.Fatal("data of a dropped segment delivered")
	}
}

func TestEstablished_TooOldACK_ACKedAndDropped(t *testing.T) {
	h := newEstablished(t, Config{})
	d := h.data([]byte("abc"))
	d.Ack = testISS.Sub(100_000_000)
	h.in(d)
	h.expect("ACK seq=1001 ack=5001")
	if h.c.Readable() != 0 {
		t.Fatal("data of a dropped segment delivered (RFC 5961 §5)")
	}
}

func TestEstablished_URG_DataInline(t *testing.T) {
	h := newEstablished(t, Config{})
	d := h.data([]byte("urgent"))
	d.Flags |= FlagURG
	d.Urgent = 3
	h.in(d)
	h.expectState(StateEstablished)
	if h.c.Readable() != 6 {
		t.Fatalf("readable %d", h.c.Readable())
	}
}

func TestEstablished_Write_SendsWithPSH(t *testing.T) {
	h := newEstablished(t, Config{})
	if n, err := h.c.Write(bytesN(3000), h.now); n != 3000 || err != nil {
		t.Fatalf("Write %d %v", n, err)
	}
	h.expect(
		"ACK seq=1001 ack=5001 len=1460",
		"ACK seq=2461 ack=5001 len=1460",
		"PSH|ACK seq=3921 ack=5001 len=80",
	)
	if d, _ := h.c.NextDeadline(); d.Sub(t0) != 200*ms {
		t.Fatalf("RTO at %v", d.Sub(t0))
	}
}

func TestEstablished_Nagle_HoldsSmallSegmentUntilACK(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write([]byte("a"), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=1")
	h.c.Write([]byte("b"), h.now)
	h.c.Write([]byte("c"), h.now)
	h.expect()
	h.at(10 * ms)
	h.in(h.seg(FlagACK))
	h.expect("PSH|ACK seq=1002 ack=5001 len=2")
}

func TestEstablished_NoDelay_SendsSmallSegmentsAtOnce(t *testing.T) {
	h := newEstablished(t, Config{NoDelay: true})
	h.c.Write([]byte("a"), h.now)
	h.c.Write([]byte("b"), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=1", "PSH|ACK seq=1002 ack=5001 len=1")
	h.c.SetNoDelay(false)
	h.c.Write([]byte("c"), h.now)
	h.expect()
}

func TestEstablished_WriteFullBuffer_WouldBlock(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 1000})
	if n, err := h.c.Write(bytesN(1500), h.now); n != 1000 || err != nil {
		t.Fatalf("Write %d %v", n, err)
	}
	if n, err := h.c.Write([]byte("x"), h.now); n != 0 || err != ErrWouldBlock {
		t.Fatalf("Write on full buffer %d %v", n, err)
	}
	if h.c.Writable() != 0 {
		t.Fatal("Writable")
	}
	h.out.take()
	h.in(h.seg(FlagACK))
	if h.c.Writable() != 1000 || h.c.TakeEvents()&EventWritable == 0 {
		t.Fatalf("Writable %d after ACK", h.c.Writable())
	}
}

func TestEstablished_RTT_SampleSetsRTO(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(100), h.now)
	h.out.take()
	h.at(300 * ms)
	h.in(h.seg(FlagACK))
	// First sample was 0 at the handshake; then R = 300ms:
	// RTTVAR = 3/4·0 + 1/4·300 = 75ms, SRTT = 7/8·0 + 1/8·300 = 37.5ms,
	// RTO = 37.5 + 4·75 = 337.5ms.
	if h.c.srtt != 37500*time.Microsecond || h.c.rttvar != 75*ms || h.c.rto != 337500*time.Microsecond {
		t.Fatalf("srtt %v rttvar %v rto %v", h.c.srtt, h.c.rttvar, h.c.rto)
	}
}

func TestEstablished_RTOBackoffDoubles_ThenETIMEDOUT(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(100), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=100")
	at, rto := time.Duration(0), 200*ms
	for i := 0; i < 15; i++ {
		at += rto
		h.fire(at)
		h.expect("PSH|ACK seq=1001 ack=5001 len=100")
		rto = min(2*rto, 120*time.Second)
	}
	if h.c.Info().Retransmits != 15 {
		t.Fatalf("retransmits %d", h.c.Info().Retransmits)
	}
	at += rto
	h.fire(at)
	h.expect() // no RST, as Linux
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("err %v", h.c.Err())
	}
	// 0.2+0.4+...+102.4 = 204.6s, then 120s caps: 204.6+5·120 = 804.6s... and the give-up.
	if at != 924600*ms {
		t.Fatalf("gave up at %v", at)
	}
}

func TestEstablished_RTO_CollapsesCwndAndGoesBackN(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(4*1460), h.now)
	h.out.take()
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if h.c.cc.cwnd() != 1460 || h.c.cc.ssthresh() != 2920 {
		t.Fatalf("cwnd %d ssthresh %d", h.c.cc.cwnd(), h.c.cc.ssthresh())
	}
	ack := h.seg(FlagACK)
	ack.Ack = 2461
	h.at(250 * ms)
	h.in(ack)
	// Slow start: cwnd 2 MSS; go back N resends the next two segments.
	h.expect("ACK seq=2461 ack=5001 len=1460", "ACK seq=3921 ack=5001 len=1460")
}

func TestEstablished_FastRetransmitAfterExactlyThreeDupACKs(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(10*1460), h.now)
	if n := len(h.out.take()); n != 10 {
		t.Fatalf("sent %d segments, want IW = 10", n)
	}
	dup := h.seg(FlagACK)
	dup.Ack = testISS + 1
	h.in(dup)
	h.in(dup)
	h.expect()
	h.in(dup)
	h.expect("ACK seq=1001 ack=5001 len=1460")
	if h.c.cc.ssthresh() != 7300 || h.c.cc.cwnd() != 7300+3*1460 || !h.c.inRecovery {
		t.Fatalf("ssthresh %d cwnd %d", h.c.cc.ssthresh(), h.c.cc.cwnd())
	}
	h.in(dup)
	if h.c.cc.cwnd() != 7300+4*1460 {
		t.Fatalf("cwnd %d: not inflated", h.c.cc.cwnd())
	}
}

func TestEstablished_DupACKWithWindowChange_NotCounted(t *testing.T) {
	// RFC 5681 §2: an ACK that changes the advertised window is not a
	// duplicate, even when SEG.ACK = SND.UNA with data outstanding (the
	// peer negotiated no SACK, so RFC 6675's DupAck does not apply).
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(5*1460), h.now)
	if n := len(h.out.take()); n != 5 {
		t.Fatalf("sent %d segments, want 5", n)
	}
	for i := 0; i < 3; i++ {
		d := h.seg(FlagACK)
		d.Ack = testISS + 1 // nothing new acknowledged
		d.Window = uint16(1000 + i)
		h.in(d)
	}
	h.expect()
	if h.c.dupAcks != 0 || h.c.inRecovery {
		t.Fatalf("dupAcks %d inRecovery %v: window updates counted as duplicates", h.c.dupAcks, h.c.inRecovery)
	}
	// The same ACK three times with the last window: three duplicates.
	d := h.seg(FlagACK)
	d.Ack = testISS + 1
	d.Window = 1002
	for i := 0; i < 3; i++ {
		h.in(d)
	}
	h.expect("ACK seq=1001 ack=5001 len=1460")
}

func TestEstablished_NewRenoPartialACK_RetransmitsNextHole(t *testing.T) {
	h := newRenoInRecovery(t)
	// Segments 1-3 arrive: a partial ACK (recover is 15601).
	partial := h.seg(FlagACK)
	partial.Ack = 1001 + 3*1460
	h.in(partial)
	h.expect("ACK seq=5381 ack=5001 len=1460")
	if !h.c.inRecovery {
		t.Fatal("left recovery on a partial ACK")
	}
	// cwnd deflated by 3·1460 and grown by one MSS: 11680 - 4380 + 1460.
	if h.c.cc.cwnd() != 8760 {
		t.Fatalf("cwnd %d", h.c.cc.cwnd())
	}
	full := h.seg(FlagACK)
	full.Ack = 1001 + 10*1460
	h.in(full)
	if h.c.inRecovery || h.c.cc.cwnd() != 2920 {
		// min(ssthresh, max(FlightSize, MSS) + MSS) with nothing in flight.
		t.Fatalf("inRecovery %v cwnd %d", h.c.inRecovery, h.c.cc.cwnd())
	}
}

func TestEstablished_SlowStartThenCongestionAvoidance(t *testing.T) {
	h := newEstablished(t, Config{SndBuf: 1 << 20})
	setSsthresh(h.c, 14600+1460)
	h.c.Write(bytesN(100*1460), h.now)
	h.out.take()
	a := h.seg(FlagACK)
	a.Ack = 1001 + 1460
	h.in(a)
	if h.c.cc.cwnd() != 14600+1460 {
		t.Fatalf("slow start cwnd %d", h.c.cc.cwnd())
	}
	for i := 2; i <= 12; i++ {
		a.Ack = 1001 + seqnumSize(i*1460)
		h.in(a)
	}
	// In congestion avoidance: one MSS per cwnd (16060 bytes) acknowledged.
	if h.c.cc.cwnd() != 16060+1460 {
		t.Fatalf("cwnd %d", h.c.cc.cwnd())
	}
}

func TestEstablished_ZeroWindow_ProbesBackOffPastDataRetries(t *testing.T) {
	h := newEstablished(t, Config{})
	zw := h.seg(FlagACK)
	zw.Window = 0
	h.in(zw)
	h.c.Write([]byte("hello"), h.now)
	h.expect()
	at, d := time.Duration(0), 200*ms
	for i := 0; i < 20; i++ { // more than DataRetries (15): never gives up
		at += d
		h.fire(at)
		h.expect("ACK seq=1001 ack=5001 len=1")
		h.in(zw) // the peer answers with its zero window
		h.expect()
		d = min(2*d, 120*time.Second)
	}
	h.expectState(StateEstablished)
	// The window opens (the probe byte was not kept): the data goes out.
	open := h.seg(FlagACK)
	open.Ack = testISS + 1
	h.in(open)
	h.expect("PSH|ACK seq=1001 ack=5001 len=5")
}

func TestEstablished_ZeroWindow_ProbeAcceptedWhenWindowOpens(t *testing.T) {
	h := newEstablished(t, Config{})
	zw := h.seg(FlagACK)
	zw.Window = 0
	h.in(zw)
	h.c.Write([]byte("hello"), h.now)
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1")
	a := h.seg(FlagACK)
	a.Ack = 1002
	h.in(a)
	h.expect("PSH|ACK seq=1002 ack=5001 len=4")
}

func TestEstablished_WindowScale_FieldIsShifted(t *testing.T) {
	h := newEstablished(t, Config{RcvBuf: 256 << 10}) // shift 3
	h.in(h.data(bytesN(100)))
	h.fire(40 * ms)
	got := h.expect("ACK seq=1001 ack=5101")
	// The right edge must not move left: 262044 >> 3 rounds up.
	if got[0].Window != 32756 {
		t.Fatalf("window field %d", got[0].Window)
	}
	if h.c.sndWnd != 65535<<7 {
		t.Fatalf("SND.WND %d, want the peer's field << 7", h.c.sndWnd)
	}
}

func TestEstablished_RightEdgeNeverMovesLeft(t *testing.T) {
	h := newEstablished(t, Config{RcvBuf: 10000})
	right := func(s Segment) uint32 { return uint32(s.Ack) + uint32(s.Window)<<h.c.rcvWScale }
	var last uint32
	for i := 0; i < 12; i++ {
		h.in(h.data(bytesN(900)))
		h.c.HandleTimer(h.now.Add(time.Second))
		for _, s := range h.out.take() {
			if r := right(s); last != 0 && int32(r-last) < 0 {
				t.Fatalf("right edge moved left: %d → %d", last, r)
			} else {
				last = r
			}
		}
	}
	if h.c.Readable() != 10000 {
		t.Fatalf("readable %d", h.c.Readable())
	}
}

func TestEstablished_ZeroReceiveWindow_DataDroppedACKSent(t *testing.T) {
	h := newEstablished(t, Config{RcvBuf: 1000})
	h.in(h.data(bytesN(1000)))
	h.fire(40 * ms)
	got := h.expect("ACK seq=1001 ack=6001")
	if got[0].Window != 0 {
		t.Fatalf("window %d", got[0].Window)
	}
	d := h.data([]byte("more"))
	h.in(d)
	h.expect("ACK seq=1001 ack=6001")
	if h.c.Readable() != 1000 {
		t.Fatal("data accepted in a zero window")
	}
	// ACK information in a zero window is still processed.
	h.c.Write([]byte("x"), h.now)
	h.out.take()
	ack := h.seg(FlagACK)
	ack.Seq = 6001
	ack.Ack = 1002
	h.in(ack)
	if h.c.sndUna != 1002 {
		t.Fatal("ACK not processed in a zero window")
	}
}

func TestEstablished_ReceiverSWS_WindowUpdateOnlyAfterEnoughRead(t *testing.T) {
	h := newEstablished(t, Config{RcvBuf: 4000})
	for i := 0; i < 4; i++ {
		h.in(h.data(bytesN(1000)))
	}
	h.expect("ACK seq=1001 ack=8001") // the third 1000-byte segment: 3000 ≥ 2·1460
	h.fire(40 * ms)
	if got := h.expect("ACK seq=1001 ack=9001"); got[0].Window != 0 {
		t.Fatalf("window %d, want 0", got[0].Window)
	}
	buf := make([]byte, 1000)
	h.c.Read(buf[:500], h.now)
	h.expect() // 500 < min(4000/2, 1460): no update (RFC 1122 §4.2.3.3)
	h.c.Read(buf[:959], h.now)
	h.expect() // 1459
	h.c.Read(buf[:1], h.now)
	if got := h.expect("ACK seq=1001 ack=9001"); got[0].Window != 1460 {
		t.Fatalf("window update %d, want 1460", got[0].Window)
	}
}

func TestEstablished_FIN_CloseWaitAndEOF(t *testing.T) {
	h := newEstablished(t, Config{})
	d := h.data([]byte("bye"))
	d.Flags |= FlagFIN
	h.in(d)
	h.expect("ACK seq=1001 ack=5005")
	h.expectState(StateCloseWait)
	buf := make([]byte, 10)
	if n, err := h.c.Read(buf, h.now); n != 3 || err != nil {
		t.Fatalf("Read %d %v", n, err)
	}
	if n, err := h.c.Read(buf, h.now); n != 0 || err != io.EOF {
		t.Fatalf("Read %d %v", n, err)
	}
	if !h.c.ReadClosed() {
		t.Fatal("ReadClosed")
	}
}

func TestEstablished_ReadEmpty_WouldBlock(t *testing.T) {
	h := newEstablished(t, Config{})
	if _, err := h.c.Read(make([]byte, 1), h.now); err != ErrWouldBlock {
		t.Fatalf("Read: %v", err)
	}
}

func TestEstablished_PeekDoesNotConsume(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.data([]byte("abc")))
	buf := make([]byte, 10)
	n, _ := h.c.Peek(buf)
	if string(buf[:n]) != "abc" || h.c.Readable() != 3 {
		t.Fatal("Peek")
	}
}

func TestEstablished_CloseWithUnreadData_SendsRST(t *testing.T) {
	h := newEstablished(t, Config{})
	h.in(h.data([]byte("unread")))
	h.c.Close(h.now)
	h.expect("RST|ACK seq=1001 ack=5007")
	h.expectState(StateClosed)
	h.noDeadline()
}

func TestEstablished_Close_SendsFINAfterData(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write([]byte("abc"), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=3")
	h.c.Write([]byte("def"), h.now) // held by Nagle
	h.c.Close(h.now)
	// Deviation (Linux compat): Nagle is off for the last segment before FIN.
	h.expect("FIN|PSH|ACK seq=1004 ack=5001 len=3")
	h.expectState(StateFinWait1)
	if _, err := h.c.Write([]byte("x"), h.now); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after Close: %v", err)
	}
}

func TestEstablished_Abort_SendsRST(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write([]byte("abc"), h.now)
	h.out.take()
	h.c.Abort(h.now)
	h.expect("RST|ACK seq=1004 ack=5001")
	h.expectState(StateClosed)
	h.noDeadline()
}

func TestEstablished_ShutdownThenPeerData_StillReadable(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Shutdown(h.now)
	h.expect("FIN|ACK seq=1001 ack=5001")
	h.in(h.seg(FlagACK))
	h.expectState(StateFinWait2)
	h.in(h.data([]byte("still here")))
	buf := make([]byte, 20)
	if n, _ := h.c.Read(buf, h.now); string(buf[:n]) != "still here" {
		t.Fatalf("read %q", buf[:n])
	}
	if _, err := h.c.Write([]byte("x"), h.now); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after Shutdown: %v", err)
	}
	h.fire(40 * ms)
	h.expect("ACK seq=1002 ack=5011")
	h.noDeadline() // not orphaned: FIN-WAIT-2 waits for the peer
}

// -------------------------------------------------------------- FIN-WAIT-1

func TestFinWait1_ACKOfFIN_FinWait2(t *testing.T) {
	h := newFinWait1(t, Config{})
	h.in(h.seg(FlagACK))
	h.expectState(StateFinWait2)
	h.expect()
	h.noDeadline()
}

func TestFinWait1_FINWithACK_TimeWait(t *testing.T) {
	h := newFinWait1(t, Config{})
	h.in(h.seg(FlagFIN | FlagACK))
	h.expect("ACK seq=1002 ack=5002")
	h.expectState(StateTimeWait)
	h.fire(60 * time.Second)
	h.expectState(StateClosed)
}

// The Observer (the stack's debug log) sees every transition, even two
// made by one segment (its ACK, then its FIN: RFC 9293 §3.10.7.4 fifth and
// eighth).
func TestObserver_FINWithACKInFinWait1_ReportsBothTransitions(t *testing.T) {
	h := newFinWait1(t, Config{})
	h.in(h.seg(FlagFIN | FlagACK))
	h.fire(60 * time.Second)
	want := "ESTABLISHED→FIN-WAIT-1 FIN-WAIT-1→FIN-WAIT-2 FIN-WAIT-2→TIME-WAIT TIME-WAIT→CLOSED"
	if got := strings.Join(h.trans, " "); got != want {
		t.Fatalf("transitions %q, want %q", got, want)
	}
}

func TestFinWait1_FINWithoutACKOfOurs_Closing(t *testing.T) {
	h := newClosing(t, Config{})
	h.expectState(StateClosing)
}

func TestFinWait1_FINRetransmittedOnRTO(t *testing.T) {
	h := newFinWait1(t, Config{})
	h.fire(200 * ms)
	h.expect("FIN|ACK seq=1001 ack=5001")
	h.fire(600 * ms)
	h.expect("FIN|ACK seq=1001 ack=5001")
}

// -------------------------------------------------------------- FIN-WAIT-2

func TestFinWait2_FIN_TimeWait(t *testing.T) {
	h := newFinWait2(t, Config{})
	h.in(h.seg(FlagFIN | FlagACK))
	h.expect("ACK seq=1002 ack=5002")
	h.expectState(StateTimeWait)
}

func TestFinWait2_Orphaned_RSTAfterTimeout(t *testing.T) {
	h := newFinWait2(t, Config{})
	h.c.Close(h.now)
	h.fire(60 * time.Second)
	h.expect("RST|ACK seq=1002 ack=5001")
	h.expectState(StateClosed)
}

func TestFinWait2_DataAfterClose_RST(t *testing.T) {
	h := newFinWait2(t, Config{})
	h.c.Close(h.now)
	h.in(h.data([]byte("late")))
	h.expect("RST|ACK seq=1002 ack=5001")
	h.expectState(StateClosed)
}

// -------------------------------------------------------------- CLOSE-WAIT

func TestCloseWait_WriteStillWorks(t *testing.T) {
	h := newCloseWait(t, Config{})
	h.c.Write([]byte("reply"), h.now)
	h.expect("PSH|ACK seq=1001 ack=5002 len=5")
}

func TestCloseWait_Close_LastAck(t *testing.T) {
	h := newLastAck(t, Config{})
	h.expectState(StateLastAck)
}

func TestCloseWait_RetransmittedFIN_ReACKed(t *testing.T) {
	h := newCloseWait(t, Config{})
	fin := h.seg(FlagFIN | FlagACK)
	fin.Seq = peerISS + 1
	h.in(fin)
	h.expect("ACK seq=1001 ack=5002")
	h.expectState(StateCloseWait)
}

func TestCloseWait_RST_ECONNRESET(t *testing.T) {
	h := newCloseWait(t, Config{})
	h.in(h.seg(FlagRST))
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.ECONNRESET) {
		t.Fatalf("err %v", h.c.Err())
	}
}

// ----------------------------------------------------------------- CLOSING

func TestClosing_ACKOfFIN_TimeWait(t *testing.T) {
	h := newClosing(t, Config{})
	h.in(h.seg(FlagACK))
	h.expect()
	h.expectState(StateTimeWait)
}

func TestClosing_RST_ClosedNoError(t *testing.T) {
	h := newClosing(t, Config{})
	h.in(h.seg(FlagRST))
	h.expectState(StateClosed)
	if h.c.Err() != nil {
		t.Fatalf("err %v", h.c.Err())
	}
}

// ---------------------------------------------------------------- LAST-ACK

func TestLastAck_ACKOfFIN_Closed(t *testing.T) {
	h := newLastAck(t, Config{})
	h.in(h.seg(FlagACK))
	h.expect()
	h.expectState(StateClosed)
	if h.c.TakeEvents()&EventClosed == 0 {
		t.Fatal("no EventClosed")
	}
	h.noDeadline()
}

func TestLastAck_ACKNotCoveringFIN_Stays(t *testing.T) {
	h := newLastAck(t, Config{})
	a := h.seg(FlagACK)
	a.Ack = testISS + 1
	h.in(a)
	h.expectState(StateLastAck)
}

func TestLastAck_FINRetransmissions_ThenETIMEDOUT(t *testing.T) {
	h := newLastAck(t, Config{DataRetries: 2})
	h.fire(200 * ms)
	h.expect("FIN|ACK seq=1001 ack=5002")
	h.fire(600 * ms)
	h.expect("FIN|ACK seq=1001 ack=5002")
	h.fire(1400 * ms)
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("err %v", h.c.Err())
	}
}

// --------------------------------------------------------------- TIME-WAIT

func TestTimeWait_ExpiresAfterExactlyTimeWait(t *testing.T) {
	h := newTimeWait(t, Config{})
	h.at(59 * time.Second)
	h.c.HandleTimer(h.now)
	h.expectState(StateTimeWait)
	h.fire(60 * time.Second)
	h.expectState(StateClosed)
	if h.c.TakeEvents()&EventClosed == 0 {
		t.Fatal("no EventClosed")
	}
	h.noDeadline()
}

func TestTimeWait_RetransmittedFIN_ReACKedAndTimerRestarted(t *testing.T) {
	h := newTimeWait(t, Config{})
	h.at(30 * time.Second)
	fin := h.seg(FlagFIN | FlagACK)
	fin.Seq = peerISS + 1
	h.in(fin)
	h.expect("ACK seq=1002 ack=5002")
	h.expectState(StateTimeWait)
	h.fire(90 * time.Second)
	h.expectState(StateClosed)
}

func TestTimeWait_RST_Closed(t *testing.T) {
	h := newTimeWait(t, Config{})
	h.in(h.seg(FlagRST))
	h.expectState(StateClosed)
	if h.c.Err() != nil {
		t.Fatal(h.c.Err())
	}
}

func TestTimeWait_SYN_ChallengeACK(t *testing.T) {
	h := newTimeWait(t, Config{})
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS + 100
	h.in(syn)
	h.expect("ACK seq=1002 ack=5002")
	h.expectState(StateTimeWait)
}

// ------------------------------------------------------------------ CLOSED

func TestClosed_SegmentAnsweredWithRST(t *testing.T) {
	h := newHarness(t, Config{})
	d := h.data([]byte("x"))
	d.Ack = 777
	h.in(d)
	h.expect("RST seq=777")
	if _, err := h.c.Write([]byte("x"), h.now); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("Write: %v", err)
	}
	if _, err := h.c.Read(make([]byte, 1), h.now); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("Read: %v", err)
	}
}

func TestState_String(t *testing.T) {
	if StateEstablished.String() != "ESTABLISHED" || StateTimeWait.String() != "TIME-WAIT" || State(99).String() != "State(99)" {
		t.Fatal("String")
	}
}

func TestSetState_IllegalTransitionPanicsInTests(t *testing.T) {
	h := newHarness(t, Config{})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	h.c.setState(StateTimeWait)
}

func TestInfo(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(10), h.now)
	in := h.c.Info()
	if in.State != StateEstablished || in.MSS != 1460 || in.Cwnd != 14600 || in.BytesSent != 10 || in.RTO != 200*ms {
		t.Fatalf("%+v", in)
	}
	if !bytes.Equal(h.out.take()[0].Payload, bytesN(10)) {
		t.Fatal("payload")
	}
}

// TestEstablished_BatchedSegments_OneACKPerBatch: segments handled with
// HandleSegmentBatch owe their every-second-segment ACK to FlushACK, so a
// batch of six full segments draws one ACK, for all of them; an
// out-of-order segment in a batch is still answered at once.
func TestEstablished_BatchedSegments_OneACKPerBatch(t *testing.T) {
	h := newEstablished(t, Config{})
	batchIn := func(s Segment) {
		if s.Seq == h.peerNxt {
			h.peerNxt = s.Seq.Add(s.Len())
		}
		h.c.HandleSegmentBatch(&s, h.now)
		h.checkInvariants()
	}
	for i := 0; i < 6; i++ {
		batchIn(h.data(bytesN(1460)))
	}
	h.expect()
	h.c.FlushACK(h.now)
	h.expect("ACK seq=1001 ack=13761")
	h.c.FlushACK(h.now) // nothing owed any more
	h.expect()

	h.peerNxt += 100 // a hole: the next segment is out of order
	batchIn(h.data(bytesN(100)))
	h.expect("ACK seq=1001 ack=13761")
}

// TestEstablished_ZeroWindowOverUnackedData_NoTimeoutWhilePeerAnswers: the
// peer shrinks its window to zero while our data is in flight. The RTO
// retransmissions act as probes (RFC 9293 §3.8.6.1, MUST-36): as Linux,
// they do not count toward DataRetries while the peer keeps answering,
// and the connection ends only once the peer has been silent for RTOMax.
func TestEstablished_ZeroWindowOverUnackedData_NoTimeoutWhilePeerAnswers(t *testing.T) {
	h := newEstablished(t, Config{})
	h.c.Write([]byte("hello"), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=5")
	zw := h.seg(FlagACK) // acknowledges nothing, closes the window
	zw.Ack, zw.Window = testISS+1, 0
	h.in(zw)
	h.expect()
	at, d := time.Duration(0), 200*ms
	for i := 0; i < 20; i++ { // more than DataRetries (15)
		at += d
		h.fire(at)
		if segs := h.out.take(); len(segs) != 1 || segs[0].Seq != 1001 {
			t.Fatalf("retransmission %d: %d segments", i+1, len(segs))
		}
		h.in(zw) // the peer answers: still a zero window
		d = min(2*d, 120*time.Second)
	}
	h.expectState(StateEstablished)
	// The peer falls silent: once it has not been heard for RTOMax, the
	// next timeout ends the connection.
	for h.c.State() == StateEstablished {
		next, ok := h.c.NextDeadline()
		if !ok {
			t.Fatal("no timer armed")
		}
		h.now = next
		h.c.HandleTimer(h.now)
		h.out.take()
	}
	if !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("error %v, want ETIMEDOUT", h.c.Err())
	}
}

// RFC 5681 §4.1 congestion window restart, as Linux's tcp_cwnd_restart:
// after more than an RTO without sending, cwnd halves per idle RTO down to
// IW; ssthresh keeps 3/4 of the old cwnd.
func TestEstablished_CwndRestartAfterIdle(t *testing.T) {
	for _, tc := range []struct {
		idleRTOs float64
		want     int // segments sent at once after the idle period
	}{
		{0.5, 40}, // not idle long enough: the whole window
		{1.5, 20}, // halved once
		{2.5, 10}, // halved twice: IW
		{10, 10},  // never below IW
	} {
		h := newEstablished(t, Config{SndBuf: 1 << 20, DisableTimestamps: true})
		setWindow(h.c, 40*1460, 20*1460)
		h.c.Write(bytesN(1460), h.now)
		h.out.take()
		ack := h.seg(FlagACK)
		ack.Ack = 1001 + 1460
		h.in(ack)
		h.c.cc.setCwnd(40 * 1460) // undo the ACK's growth: exactly 40 segments
		rto := h.c.currentRTO()
		h.now = h.now.Add(time.Duration(tc.idleRTOs * float64(rto)))
		h.c.Write(bytesN(60*1460), h.now)
		if got := len(h.out.take()); got != tc.want {
			t.Errorf("idle %.1f RTOs: %d segments sent, want %d", tc.idleRTOs, got, tc.want)
		}
		if tc.idleRTOs > 1 && h.c.cc.ssthresh() != 30*1460 {
			t.Errorf("idle %.1f RTOs: ssthresh %d, want 3/4 of the old cwnd (%d)", tc.idleRTOs, h.c.cc.ssthresh(), 30*1460)
		}
	}
}
