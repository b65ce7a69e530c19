package tcp

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// twHarness drives the compact TimeWait made from a harness's Conn.
type twHarness struct {
	*harness
	tw *TimeWait
}

func compact(h *harness) *twHarness {
	h.t.Helper()
	tw := h.c.TimeWait()
	if tw == nil {
		h.t.Fatalf("TimeWait() of a Conn in %v: nil", h.c.State())
	}
	return &twHarness{harness: h, tw: tw}
}

// in hands s to the TimeWait and records its reply as the Conn's would be.
func (h *twHarness) in(s Segment) {
	var reply Segment
	if h.tw.HandleSegment(&s, h.now, &reply) {
		h.out.segs = append(h.out.segs, reply)
	}
}

func (h *twHarness) fire(at time.Duration) {
	h.t.Helper()
	d, ok := h.tw.NextDeadline()
	if !ok || d.Sub(t0) != at {
		h.t.Fatalf("next deadline %v (armed %v), want %v", d.Sub(t0), ok, at)
	}
	h.now = d
	h.tw.HandleTimer(h.now)
}

func (h *twHarness) expectState(s State) {
	h.t.Helper()
	if h.tw.State() != s {
		h.t.Fatalf("state %v, want %v", h.tw.State(), s)
	}
}

// ------------------------------------------- the TestTimeWait_* behaviours

func TestTimeWaitCompact_OnlyFromTimeWait(t *testing.T) {
	if newFinWait2(t, Config{}).c.TimeWait() != nil {
		t.Fatal("a FIN-WAIT-2 Conn gave a TimeWait")
	}
	h := newEstablished(t, Config{})
	h.c.Write(bytesN(10), h.now)
	h.in(h.seg(FlagACK))
	h.in(h.data(bytesN(7)))
	h.c.Read(make([]byte, 7), h.now)
	h.c.Close(h.now)
	h.in(h.seg(FlagACK))
	h.in(h.seg(FlagFIN | FlagACK))
	h.expectState(StateTimeWait)
	tw := h.c.TimeWait()
	in := tw.Info()
	if tw.LocalAddr() != addrA || tw.RemoteAddr() != addrB || in.State != StateTimeWait ||
		in.BytesSent != 10 || in.BytesReceived != 7 || in.RcvWnd != h.c.Info().RcvWnd {
		t.Fatalf("%v %v %+v", tw.LocalAddr(), tw.RemoteAddr(), in)
	}
}

func TestTimeWaitCompact_ExpiresAfterExactlyTimeWait(t *testing.T) {
	h := compact(newTimeWait(t, Config{}))
	h.at(59 * time.Second)
	if h.tw.HandleTimer(h.now) {
		t.Fatal("closed before 2·MSL")
	}
	h.expectState(StateTimeWait)
	h.fire(60 * time.Second)
	h.expectState(StateClosed)
	if _, ok := h.tw.NextDeadline(); ok {
		t.Fatal("deadline armed after TIME-WAIT ended")
	}
}

func TestTimeWaitCompact_RetransmittedFIN_ReACKedAndTimerRestarted(t *testing.T) {
	h := compact(newTimeWait(t, Config{}))
	h.at(30 * time.Second)
	fin := h.seg(FlagFIN | FlagACK)
	fin.Seq = peerISS + 1
	h.in(fin)
	h.expect("ACK seq=1002 ack=5002")
	h.expectState(StateTimeWait)
	h.fire(90 * time.Second)
	h.expectState(StateClosed)
}

func TestTimeWaitCompact_RST_Closed(t *testing.T) {
	h := compact(newTimeWait(t, Config{}))
	h.in(h.seg(FlagRST))
	h.expectState(StateClosed)
	h.expect()
	// Afterwards it answers as no connection would (RFC 9293 §3.10.7.1).
	a := h.seg(FlagACK)
	h.in(a)
	h.expect(s("RST seq=%d", a.Ack))
}

func TestTimeWaitCompact_SYN_ChallengeACK(t *testing.T) {
	h := compact(newTimeWait(t, Config{}))
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS + 100
	h.in(syn)
	h.expect("ACK seq=1002 ack=5002")
	h.expectState(StateTimeWait)
}

func TestTimeWaitCompact_KeepAlive_Stopped(t *testing.T) {
	h := compact(newTimeWait(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second}))
	h.fire(60 * time.Second) // only the 2·MSL timer
	h.expectState(StateClosed)
}

// ------------------------------------------ RFC 6191 §2: reuse by timestamp

// newTimeWaitTS is newTimeWait with timestamps (and SACK) negotiated: the
// peer's TSvals are 100 (SYN-ACK) to 103 (its FIN), so TS.Recent is 103.
func newTimeWaitTS(t *testing.T, cfg Config) *harness {
	h := newSynSent(t, cfg)
	sa := h.synAck()
	sa.Options.HasTimestamp, sa.Options.TSVal, sa.Options.SACKPermitted = true, 100, true
	h.in(sa)
	h.at(10 * ms)
	h.in(tsSeg(h.seg(FlagACK), 101))
	h.c.Close(h.now)
	h.at(20 * ms)
	h.in(tsSeg(h.seg(FlagACK), 102))
	h.in(tsSeg(h.seg(FlagFIN|FlagACK), 103))
	h.out.take()
	h.expectState(StateTimeWait)
	if !h.c.tsOn || h.c.tsRecent != 103 {
		t.Fatalf("fixture: tsOn %v TS.Recent %d", h.c.tsOn, h.c.tsRecent)
	}
	return h
}

// newTimeWaitSmallBufferRead: RcvBuf 2000, 1500 bytes received, TIME-WAIT
// entered, then a read that leaves the window the buffer could offer
// exactly one SWS step (1000) plus extra beyond the one last advertised.
func newTimeWaitSmallBufferRead(t *testing.T, k *Counters, extra int) *harness {
	h := newEstablished(t, Config{Counters: k, RcvBuf: 2000})
	h.in(h.data(bytesN(1500)))
	h.c.Shutdown(h.now)
	h.in(h.seg(FlagACK))
	h.in(h.seg(FlagFIN | FlagACK))
	h.out.take()
	if h.c.State() != StateTimeWait {
		t.Fatalf("fixture: %v", h.c.State())
	}
	n := 1000 + extra - (h.c.rcvBuf.Window() - h.c.advertisedWnd())
	if got, _ := h.c.Read(make([]byte, n), h.now); got != n {
		t.Fatalf("fixture: read %d of %d", got, n)
	}
	return h
}

// newPassiveTS: a Listener got the peer's SYN, with TSval 100, at t0;
// the Conn is in SYN-RECEIVED with timestamps on, its SYN-ACK sent.
func newPassiveTS(t *testing.T, cfg Config) *harness {
	h := &harness{t: t, out: &recorder{}, now: t0, peerNxt: peerISS}
	l := NewListener(strict(cfg), addrA, 8, h.out)
	syn := tsSeg(Segment{SrcPort: peerPort, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535,
		Options: Options{MSS: 1460}}, 100)
	if h.c = l.HandleSegment(&syn, addrB, issEnv(testISS), h.now); h.c == nil {
		t.Fatal("fixture: no conn from SYN")
	}
	h.peerNxt = peerISS + 1
	h.out.take()
	return h
}

// newTimeWaitUnread: RcvBuf 1000, n bytes received and left unread, then
// our FIN and the peer's: TIME-WAIT with a window of 1000-n or less.
func newTimeWaitUnread(t *testing.T, k *Counters, n int) *harness {
	h := newEstablished(t, Config{Counters: k, RcvBuf: 1000})
	h.in(h.data(bytesN(n)))
	h.c.Shutdown(h.now)
	h.in(h.seg(FlagACK))
	h.in(h.seg(FlagFIN | FlagACK))
	return h
}

// newTimeWaitFourHeld: SACK, with timestamps if ts (the peer's TSvals 100
// to 104), four ranges of 50 bytes held beyond a hole when the peer's FIN
// takes the Conn to TIME-WAIT.
func newTimeWaitFourHeld(t *testing.T, k *Counters, ts bool) *harness {
	opt := func(s Segment, tsval uint32) Segment {
		if ts {
			return tsSeg(s, tsval)
		}
		return s
	}
	h := newSynSent(t, Config{Counters: k})
	sa := opt(h.synAck(), 100)
	sa.Options.SACKPermitted = true
	h.in(sa)
	h.in(opt(h.seg(FlagACK), 101))
	h.c.Shutdown(h.now)
	h.in(opt(h.seg(FlagACK), 102))
	for i := 1; i <= 4; i++ {
		d := opt(h.data(bytesN(50)), 103)
		d.Seq = d.Seq.Add(seqnum.Size(200 * i))
		h.in(d)
	}
	h.in(opt(h.seg(FlagFIN|FlagACK), 104))
	h.out.take()
	if h.c.State() != StateTimeWait || h.c.tsOn != ts || len(h.c.rcvRanges()) != 4 {
		t.Fatalf("fixture: %v, tsOn %v, %d ranges held", h.c.State(), h.c.tsOn, len(h.c.rcvRanges()))
	}
	return h
}

func tsSeg(s Segment, tsval uint32) Segment {
	s.Options.HasTimestamp, s.Options.TSVal = true, tsval
	return s
}

// reuseCase checks AcceptsNewSYN on the Conn and on its compact form.
func reuseCase(t *testing.T, h *harness, syn Segment, want bool) {
	t.Helper()
	if got := h.c.AcceptsNewSYN(&syn, h.now); got != want {
		t.Fatalf("Conn.AcceptsNewSYN(seq=%d ts=%v/%d) = %v, want %v", syn.Seq, syn.Options.HasTimestamp, syn.Options.TSVal, got, want)
	}
	if got := h.c.TimeWait().AcceptsNewSYN(&syn, h.now); got != want {
		t.Fatalf("TimeWait.AcceptsNewSYN(seq=%d ts=%v/%d) = %v, want %v", syn.Seq, syn.Options.HasTimestamp, syn.Options.TSVal, got, want)
	}
}

func TestTimeWait_SYNNewerTSvalBelowRcvNxt_Reopens(t *testing.T) {
	h := newTimeWaitTS(t, Config{})
	syn := tsSeg(h.seg(FlagSYN), 104)
	syn.Seq = peerISS - 1000 // far below RCV.NXT: only the timestamp says new
	reuseCase(t, h, syn, true)
	if h.c.NextISSFloor() != h.c.TimeWait().NextISSFloor() || h.c.NextISSFloor() != testISS+2+65537 {
		t.Fatalf("ISS floor %d / %d", h.c.NextISSFloor(), h.c.TimeWait().NextISSFloor())
	}
}

func TestTimeWait_SYNSameTSvalBelowRcvNxt_NoReopen(t *testing.T) {
	h := newTimeWaitTS(t, Config{})
	syn := tsSeg(h.seg(FlagSYN), 103) // RFC 6191 §2: equal TSval needs a higher sequence number
	syn.Seq = peerISS
	reuseCase(t, h, syn, false)
	syn.Seq = peerISS + 100_000
	reuseCase(t, h, syn, true)
}

func TestTimeWait_SYNOlderTSval_NoReopenPAWSACK(t *testing.T) {
	h := newTimeWaitTS(t, Config{})
	syn := tsSeg(h.seg(FlagSYN), 50)
	syn.Seq = peerISS + 100_000 // beyond RCV.NXT, but an old duplicate by PAWS
	reuseCase(t, h, syn, false)
	k := &Counters{}
	h.c.setCounters(k)
	tw := compact(h)
	// Both forms ACK it (RFC 7323 §5.3 R1) and count a PAWS drop.
	want := s("ACK seq=%d ack=%d", testISS+2, peerISS+2)
	h.at(time.Second)
	h.c.HandleSegment(&syn, h.now)
	h.expect(want)
	tw.in(syn)
	tw.expect(want)
	if k.PAWSDrops != 2 {
		t.Fatalf("PAWSDrops = %d, want 2", k.PAWSDrops)
	}
}

func TestTimeWait_TimestampsOnSYNWithout_SequenceRule(t *testing.T) {
	h := newTimeWaitTS(t, Config{})
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS
	reuseCase(t, h, syn, false)
	syn.Seq = peerISS + 2 // RCV.NXT is peerISS+2
	reuseCase(t, h, syn, false)
	syn.Seq = peerISS + 3
	reuseCase(t, h, syn, true)
}

func TestTimeWait_NoTimestamps_SequenceRule(t *testing.T) {
	h := newTimeWait(t, Config{})
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS + 3
	reuseCase(t, h, syn, true)
	syn.Seq = peerISS + 2
	reuseCase(t, h, syn, false)
	// Deviation (Linux compat): a timestamp on the SYN does not help when
	// the old connection had none (RFC 6191 §2 would honour it).
	syn = tsSeg(syn, 1<<30)
	reuseCase(t, h, syn, false)
	// SYN with ACK, RST or FIN is never a new connection request.
	for _, f := range []Flags{FlagACK, FlagRST, FlagFIN} {
		x := h.seg(FlagSYN | f)
		x.Seq = peerISS + 100
		reuseCase(t, h, x, false)
	}
}

// ------------------------------------------------------------ equivalence

// twFixtures build a Conn in TIME-WAIT in different ways; each is built
// twice (with separate Counters) for the equivalence check.
var twFixtures = map[string]func(t *testing.T, k *Counters) *harness{
	"plain": func(t *testing.T, k *Counters) *harness { return newTimeWait(t, Config{Counters: k}) },
	"timestamps+SACK": func(t *testing.T, k *Counters) *harness {
		return newTimeWaitTS(t, Config{Counters: k})
	},
	"closing": func(t *testing.T, k *Counters) *harness {
		h := newClosing(t, Config{Counters: k, InvalidACKInterval: -1})
		h.in(h.seg(FlagACK))
		h.out.take()
		return h
	},
	"zero window, unread data": func(t *testing.T, k *Counters) *harness {
		h := newTimeWaitUnread(t, k, 1000)
		h.c.Close(h.now) // in TIME-WAIT: no RST, the data is just dropped
		h.out.take()
		return h
	},
	// A buffer under two segments (the SWS step is RcvBuf/2 = 1000, not the
	// MSS) and reads in TIME-WAIT, which send no window update (none is
	// sent once the peer's FIN is in): one that opens the window by exactly
	// the step, one by less.
	"small buffer, read of one SWS step in TIME-WAIT": func(t *testing.T, k *Counters) *harness {
		return newTimeWaitSmallBufferRead(t, k, 0)
	},
	"small buffer, read of less than an SWS step in TIME-WAIT": func(t *testing.T, k *Counters) *harness {
		return newTimeWaitSmallBufferRead(t, k, -700)
	},
	// Timestamps and SACK, four ranges held beyond the FIN: the ACKs have
	// room for three blocks (RFC 2018 §3 with the timestamp option).
	"timestamps+SACK, four ranges held beyond the FIN": func(t *testing.T, k *Counters) *harness {
		return newTimeWaitFourHeld(t, k, true)
	},
	// RFC 7323 §5.5: TS.Recent last set 25 days before TIME-WAIT (the
	// peer's closing segments carried no timestamp), so it is no longer
	// valid and PAWS rejects nothing.
	"timestamps, TS.Recent 25 days old": func(t *testing.T, k *Counters) *harness {
		h := newSynSent(t, Config{Counters: k})
		sa := h.synAck()
		sa.Options.HasTimestamp, sa.Options.TSVal = true, 100
		h.in(sa)
		h.in(tsSeg(h.seg(FlagACK), 101))
		h.at(25 * 24 * time.Hour)
		h.c.Close(h.now)
		h.in(h.seg(FlagACK))
		h.in(h.seg(FlagFIN | FlagACK))
		h.out.take()
		if h.c.State() != StateTimeWait || h.c.tsRecent != 101 || h.c.tsRecentValid(h.now) {
			t.Fatalf("fixture: %v, TS.Recent %d valid %v", h.c.State(), h.c.tsRecent, h.c.tsRecentValid(h.now))
		}
		return h
	},
	// A passive open whose SYN alone carried a timestamp (RFC 7323 §5.5,
	// Linux's tcp_create_openreq_child stamps TS.Recent then): 25 days
	// later TS.Recent is invalid, as in the active case above.
	"passive open, timestamps, TS.Recent 25 days old": func(t *testing.T, k *Counters) *harness {
		h := newPassiveTS(t, Config{Counters: k})
		h.in(h.seg(FlagACK))
		h.at(25 * 24 * time.Hour)
		h.c.Close(h.now)
		h.in(h.seg(FlagACK))
		h.in(h.seg(FlagFIN | FlagACK))
		h.out.take()
		if h.c.State() != StateTimeWait || !h.c.tsOn || h.c.tsRecent != 100 || h.c.tsRecentValid(h.now) {
			t.Fatalf("fixture: %v, tsOn %v TS.Recent %d valid %v", h.c.State(), h.c.tsOn, h.c.tsRecent, h.c.tsRecentValid(h.now))
		}
		return h
	},
	// Without Counters (every count is skipped, none may be dereferenced):
	// PAWS drops and rate-limited replies in both forms.
	"timestamps+SACK, no Counters": func(t *testing.T, k *Counters) *harness {
		return newTimeWaitTS(t, Config{})
	},
	// SACK without timestamps, four ranges held beyond the FIN: the ACKs
	// have room for four blocks (RFC 2018 §3, 40 bytes of options), three
	// with a D-SACK block first.
	"SACK, four ranges held beyond the FIN": func(t *testing.T, k *Counters) *harness {
		return newTimeWaitFourHeld(t, k, false)
	},
	// A window of a few bytes left by unread data: a segment from RCV.NXT
	// runs past its right edge, acceptable by its first byte alone (RFC
	// 9293 §3.10.7.4 first).
	"small window, unread data": func(t *testing.T, k *Counters) *harness {
		h := newTimeWaitUnread(t, k, 990)
		h.out.take()
		if w := h.c.advertisedWnd(); h.c.State() != StateTimeWait || w < 1 || w >= 20 {
			t.Fatalf("fixture: %v, window %d", h.c.State(), w)
		}
		return h
	},
	"SACK, data held beyond the FIN": func(t *testing.T, k *Counters) *harness {
		h := newSynSent(t, Config{Counters: k})
		sa := h.synAck()
		sa.Options.SACKPermitted = true
		h.in(sa)
		h.in(h.seg(FlagACK))
		h.c.Shutdown(h.now)
		h.in(h.seg(FlagACK))
		d := h.data(bytesN(50))
		d.Seq += 100
		h.in(d)
		h.in(h.seg(FlagFIN | FlagACK))
		h.out.take()
		if h.c.rcvBuf.OutOfOrderBytes() == 0 {
			t.Fatal("fixture: nothing held")
		}
		return h
	},
}

// twStep drives one step of the equivalence check from in: advance the
// clock, then run the timers or deliver a segment made up around the
// connection's own variables, to both c and tw.
func twStep(t *testing.T, in *fuzzInput, c *Conn, out *recorder, tw *TimeWait, now *time.Time) {
	t.Helper()
	if dt := in.byte(); dt < 200 {
		*now = now.Add(time.Duration(dt) * 5 * time.Millisecond)
	} else {
		*now = now.Add(time.Duration(dt-200) * 2 * time.Second)
	}
	if in.byte()%8 == 0 {
		c.HandleTimer(*now)
		tw.HandleTimer(*now)
		if got := out.take(); len(got) != 0 {
			t.Fatalf("Conn sent %v on its TIME-WAIT timer", got)
		}
		return
	}
	seg := Segment{SrcPort: peerPort, DstPort: ourPort, Window: in.u16()}
	seg.Flags = Flags(in.byte()) & (FlagFIN | FlagSYN | FlagRST | FlagPSH | FlagACK | FlagURG)
	if in.byte()&1 == 0 {
		seg.Flags |= FlagACK
	}
	switch n := in.byte() % 8; n {
	case 0, 1:
		seg.Payload = bytesN(int(n) * 20)
	case 2:
		seg.Payload = bytesN(1)
	}
	delta := seqnum.Size(int8(in.byte()))
	switch in.byte() % 6 {
	case 0:
		seg.Seq = c.rcvNxt
	case 1:
		seg.Seq = c.rcvNxt.Sub(1 + seqnum.Size(len(seg.Payload))) // a retransmitted FIN
	case 2:
		seg.Seq = c.rcvNxt.Add(delta)
	case 3:
		seg.Seq = c.rcvNxt.Add(delta << 10)
	case 4:
		seg.Seq = c.rcvNxt.Sub(delta)
	default:
		seg.Seq = seqnum.Value(in.u32())
	}
	switch in.byte() % 4 {
	case 0, 1:
		seg.Ack = c.sndNxt
	case 2:
		seg.Ack = c.sndNxt.Add(seqnum.Size(int8(in.byte())) << 8)
	default:
		seg.Ack = seqnum.Value(in.u32())
	}
	if b := in.byte(); b&1 != 0 {
		seg.Options.HasTimestamp = true
		seg.Options.TSVal = c.tsRecent + uint32(int32(int8(b))>>1)
		seg.Options.TSEcr = in.u32()
	}
	twDeliver(t, c, out, tw, seg, *now)
}

// twDeliver hands seg at now to c and to tw, fails if their reopen
// decisions or replies differ, and returns the reply if one was sent.
func twDeliver(t *testing.T, c *Conn, out *recorder, tw *TimeWait, seg Segment, now time.Time) (reply Segment, sent bool) {
	t.Helper()
	if a, b := c.AcceptsNewSYN(&seg, now), tw.AcceptsNewSYN(&seg, now); a != b {
		t.Fatalf("AcceptsNewSYN(%v): Conn %v, TimeWait %v", &seg, a, b)
	}
	want := Segment{}
	c.HandleSegment(&seg, now)
	got := out.take()
	sent = tw.HandleSegment(&seg, now, &reply)
	switch {
	case len(got) > 1:
		t.Fatalf("Conn sent %d segments for %v", len(got), &seg)
	case len(got) == 1:
		want = got[0]
		want.Payload = nil
	}
	if sent != (len(got) == 1) || (sent && !reflect.DeepEqual(reply, want)) {
		t.Fatalf("at +%v for %v (opts %+v):\nConn sent     %v %+v\nTimeWait sent %v %v %+v", now.Sub(t0), &seg, seg.Options, got, want.Options, sent, &reply, reply.Options)
	}
	return reply, sent
}

// twPair builds fixture name twice: hc is kept as a Conn, the other made
// compact (tw); kc and kt are their Counters.
func twPair(t *testing.T, name string) (hc *harness, tw *TimeWait, kc, kt *Counters) {
	t.Helper()
	kc, kt = &Counters{}, &Counters{}
	hc = twFixtures[name](t, kc)
	tw = twFixtures[name](t, kt).c.TimeWait()
	if hc.c.NextISSFloor() != tw.NextISSFloor() {
		t.Fatal("ISS floors differ")
	}
	return hc, tw, kc, kt
}

// checkTWEquivalence runs the steps of data against two copies of a
// fixture, one kept as a Conn and one made compact, and fails at the first
// difference in replies, state, deadline, counters or reopen decisions.
func checkTWEquivalence(t *testing.T, name string, data []byte) {
	t.Helper()
	hc, tw, kc, kt := twPair(t, name)
	now := hc.now
	in := &fuzzInput{b: data}
	for len(in.b) > 0 {
		twStep(t, in, hc.c, hc.out, tw, &now)
		if a, b := hc.c.State(), tw.State(); a != b {
			t.Fatalf("%s: state: Conn %v, TimeWait %v", name, a, b)
		}
		da, oka := hc.c.NextDeadline()
		db, okb := tw.NextDeadline()
		if oka != okb || !da.Equal(db) {
			t.Fatalf("%s: deadline: Conn %v %v, TimeWait %v %v", name, da.Sub(t0), oka, db.Sub(t0), okb)
		}
		if *kc != *kt {
			t.Fatalf("%s: counters: Conn %+v, TimeWait %+v", name, *kc, *kt)
		}
	}
}

// TestTimeWait_EquivalentToConn drives a Conn in TIME-WAIT and the
// TimeWait made from it with the same random segments and timer runs.
func TestTimeWait_EquivalentToConn(t *testing.T) {
	r := rand.New(rand.NewPCG(6191, 1337))
	for name := range twFixtures {
		for range 300 {
			data := make([]byte, 20+r.IntN(400))
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			checkTWEquivalence(t, name, data)
		}
	}
}

// FuzzTimeWait_EquivalentToConn is TestTimeWait_EquivalentToConn with the
// fuzzer choosing the steps; the first byte picks the fixture.
func FuzzTimeWait_EquivalentToConn(f *testing.F) {
	// Seeds: a retransmitted FIN then a RST; old timestamps; a SYN storm.
	f.Add([]byte{0, 10, 1, 0xff, 0xff, 0x11, 0, 0, 1, 0, 0, 0, 1, 5, 0x04, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 10, 1, 0xff, 0xff, 0x10, 0, 0, 0, 0, 0, 0, 0x81, 50, 1, 0xff, 0xff, 0x18, 0, 1, 0, 0, 0, 0, 0x41})
	f.Add([]byte{4, 0, 1, 0, 0, 0x02, 1, 0, 2, 7, 0, 0, 0, 0, 1, 0, 0, 0x02, 1, 0, 2, 9, 0, 0, 0, 0, 0, 250, 0})
	names := []string{"plain", "timestamps+SACK", "closing", "zero window, unread data", "SACK, data held beyond the FIN", "timestamps, TS.Recent 25 days old", "small buffer, read of one SWS step in TIME-WAIT",
		"small buffer, read of less than an SWS step in TIME-WAIT", "timestamps+SACK, four ranges held beyond the FIN",
		"passive open, timestamps, TS.Recent 25 days old", "timestamps+SACK, no Counters", "SACK, four ranges held beyond the FIN",
		"small window, unread data"}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkTWEquivalence(t, names[int(data[0])%len(names)], data[1:])
	})
}

// RFC 7323 §5.5: TS.Recent is valid for less than 24 days after it was
// set (Linux's TCP_PAWS_24DAYS), in TIME-WAIT's compact form as in Conn.
func TestTimeWait_TSRecentValidForLessThan24Days(t *testing.T) {
	h := newTimeWaitTS(t, Config{})
	set := h.c.abs(h.c.tsRecentAt)
	tw := h.c.TimeWait()
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{{set.Add(pawsIdle - 1), true}, {set.Add(pawsIdle), false}} {
		if got := h.c.tsRecentValid(tc.at); got != tc.want {
			t.Errorf("Conn at TS.Recent+%v: valid %v, want %v", tc.at.Sub(set), got, tc.want)
		}
		if got := tw.tsRecentValid(tc.at); got != tc.want {
			t.Errorf("TimeWait at TS.Recent+%v: valid %v, want %v", tc.at.Sub(set), got, tc.want)
		}
	}
}

// RFC 5961 §7 (Linux's tcp_oow_rate_limited): replies to invalid segments
// are rate-limited in TIME-WAIT too; a second SYN at the same instant as
// the first draws no second challenge ACK, and one an interval later does.
func TestTimeWaitCompact_ChallengeACKsRateLimited(t *testing.T) {
	k := &Counters{}
	h := compact(newTimeWait(t, Config{Counters: k, InvalidACKInterval: 500 * ms}))
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS + 100
	h.in(syn)
	h.expect("ACK seq=1002 ack=5002")
	h.in(syn)
	h.expect()
	if k.ACKsRateLimited != 1 {
		t.Fatalf("ACKsRateLimited = %d, want 1", k.ACKsRateLimited)
	}
	h.at(h.now.Sub(t0) + 500*ms)
	h.in(syn)
	h.expect("ACK seq=1002 ack=5002")
}

// RFC 7323 §5.5: TS.Recent taken from a passive open's SYN is invalid
// after 24 idle days too (Linux stamps it when the child socket is made,
// tcp_create_openreq_child); a segment with an older TSval is then no
// PAWS failure, for the Conn and for its compact form.
func TestTimeWait_PassiveOpenTSRecentExpires(t *testing.T) {
	k := &Counters{}
	h := twFixtures["passive open, timestamps, TS.Recent 25 days old"](t, k)
	tw := compact(h)
	old := tsSeg(h.seg(FlagACK), 50)
	h.c.HandleSegment(&old, h.now)
	tw.in(old)
	if k.PAWSDrops != 0 {
		t.Fatalf("PAWSDrops = %d, want 0", k.PAWSDrops)
	}
}

// A clock reading earlier than one already used (a caller that read the
// clock before taking the connection's lock) is answered as the Conn
// answers it: the rate limit of RFC 5961 §7 counts no negative interval
// (Linux's tcp_oow_rate_limited: 0 <= elapsed < tcp_invalid_ratelimit),
// and a reading before the TS clock's epoch sends TSval = tsOffset rather
// than one wrapped backwards (RFC 7323 §5.4: the clock is monotonic).
func TestTimeWait_EarlierClockReading_AnsweredAsConn(t *testing.T) {
	hc, tw, _, _ := twPair(t, "plain")
	syn := hc.seg(FlagSYN)
	syn.Seq = peerISS + 100
	for _, at := range []time.Time{hc.now, hc.now.Add(-ms)} {
		if _, sent := twDeliver(t, hc.c, hc.out, tw, syn, at); !sent {
			t.Fatalf("no challenge ACK for a SYN at +%v", at.Sub(t0))
		}
	}

	hc, tw, _, _ = twPair(t, "timestamps+SACK")
	old := tsSeg(hc.seg(FlagACK), 103)
	old.Seq = peerISS.Sub(100_000) // far below RCV.NXT: unacceptable, ACKed
	reply, sent := twDeliver(t, hc.c, hc.out, tw, old, t0.Add(-time.Second))
	if !sent || reply.Options.TSVal != hc.c.tsOffset {
		t.Fatalf("sent %v TSval %d, want tsOffset %d", sent, reply.Options.TSVal, hc.c.tsOffset)
	}
}

// RFC 6191 §2 asks for a timestamp on the SYN: one without is judged by
// its sequence number alone (RFC 1122 §4.2.2.13), even when TS.Recent is
// in the upper half of the TSval space, where an absent TSval's zero
// would compare as newer.
func TestTimeWait_SYNWithoutTimestamp_SequenceRuleWhateverTSRecent(t *testing.T) {
	h := newTimeWaitTS(t, Config{})
	for _, ts := range []uint32{0x4000_0000, 0x8000_0100} { // each newer than the last
		h.in(tsSeg(h.seg(FlagACK), ts))
	}
	if h.c.tsRecent != 0x8000_0100 {
		t.Fatalf("fixture: TS.Recent %#x", h.c.tsRecent)
	}
	syn := h.seg(FlagSYN)
	syn.Seq = peerISS + 2 // RCV.NXT
	reuseCase(t, h, syn, false)
}
