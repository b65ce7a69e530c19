package tcp

import (
	"fmt"
	"testing"
)

// Listener rules the clause mutator found untested (test/MUTATION.md).

// transitionLog is an Observer that records every state change of every
// connection sharing its Config.
type transitionLog []string

func (l *transitionLog) StateChange(c *Conn, from, to State) {
	*l = append(*l, fmt.Sprintf("%v:%v→%v", c.RemoteAddr(), from, to))
}

func TestListener_CookieSYNACK_OffersOnlyWhatWeUse(t *testing.T) {
	// RFC 7323 §3.2: a SYN-ACK carries a TSopt only if we use timestamps
	// (and the SYN carried one); without it a cookie has nowhere to keep
	// window scale and SACK-permitted, so the SYN-ACK offers the MSS only,
	// as Linux's tcp_conn_request. The peer's ACK then carries no
	// timestamps and completes a connection without them.
	lh := newListenerHarnessCfg(t, Config{DisableTimestamps: true, SynCookies: SynCookiesAlways}, 8)
	synack := lh.cookieSYN(2000, linuxSYNOpts)
	if o := synack.Options; o != (Options{MSS: DefaultMSS}) {
		t.Fatalf("timestamps off: cookie SYN-ACK options %+v, want the MSS only", o)
	}
	if c, _ := lh.cookieACK(2000, synack, nil); c == nil || c.tsOn || c.sackOn || c.sndWScale != 0 {
		t.Fatalf("timestamps off: conn %v", c)
	}

	// With timestamps, RFC 7323 §2.2 and RFC 2018 §2: window scale and
	// SACK-permitted are offered back only if we use them, exactly as a
	// normal SYN-ACK (negotiate).
	for _, cfg := range []Config{{DisableWindowScale: true}, {DisableSACK: true}, {DisableWindowScale: true, DisableSACK: true}} {
		t.Run(fmt.Sprintf("ws off %v, SACK off %v", cfg.DisableWindowScale, cfg.DisableSACK), func(t *testing.T) {
			normal := NewListener(strict(cfg), addrA, 8, &recorder{})
			syn := Segment{SrcPort: 2000, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535, Options: linuxSYNOpts}
			want := normal.HandleSegment(&syn, client(2000), issEnv(testISS), t0).out.(*recorder).take()[0].Options

			cookies := cfg
			cookies.SynCookies = SynCookiesAlways
			lh := newListenerHarnessCfg(t, cookies, 8)
			synack := lh.cookieSYN(2000, linuxSYNOpts)
			got := synack.Options
			got.TSVal, want.TSVal = 0, 0
			if got != want || got.HasWScale == cfg.DisableWindowScale || got.SACKPermitted == cfg.DisableSACK || !got.HasTimestamp {
				t.Fatalf("cookie SYN-ACK options %+v\nnormal SYN-ACK options %+v", got, want)
			}
			// The echo of that SYN-ACK completes the handshake with what
			// was offered: nothing we turned off.
			c, _ := lh.cookieTSACK(2000, synack, 5001)
			if c == nil || c.sackOn == cfg.DisableSACK || (c.sndWScale != 0) == cfg.DisableWindowScale {
				t.Fatalf("conn %v", c)
			}
		})
	}
}

func TestListener_Closed_CookieACKCompletesNothing(t *testing.T) {
	// Close stops listening (RFC 9293 §3.10.4): nobody will accept a
	// connection any more, so a valid cookie ACK arriving afterwards makes
	// none, neither through HandleSegment (which ignores everything once
	// closed) nor cookieACK itself. cookieACK does not consume it: a
	// stack that still routed it here would answer with a RST, as for any
	// segment to a port nobody listens on (§3.10.7.1).
	lh := fullSynQueue(t)
	synack := lh.cookieSYN(2000, linuxSYNOpts)
	lh.l.Close(lh.now)
	lh.out.take()
	ack := Segment{SrcPort: 2000, DstPort: ourPort, Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: FlagACK, Window: 1000,
		Options: Options{HasTimestamp: true, TSVal: 5001, TSEcr: synack.Options.TSVal}}
	if c, ok := lh.l.cookieACK(&ack, client(2000), lh.now); c != nil || ok {
		t.Fatalf("closed listener: cookieACK gave %v, %v", c, ok)
	}
	if c := lh.l.HandleSegment(&ack, client(2000), issEnv(testISS), lh.now); c != nil {
		t.Fatalf("closed listener: HandleSegment gave %v", c)
	}
	if lh.l.Pending() != 0 || lh.l.Accept() != nil || len(lh.out.take()) != 0 {
		t.Fatal("closed listener queued or sent something")
	}
	if st := lh.l.Stats(); st.CookiesValidated != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestListener_CookieACK_AcceptQueueFull_NoConnectionMade(t *testing.T) {
	// A cookie ACK that finds the accept queue full is dropped before any
	// connection exists (Linux's tcp_v4_syn_recv_sock checks
	// sk_acceptq_is_full before it creates the child socket): the
	// Observer, told of every state change of every connection
	// (Config.Observer), hears of none, and it is counted once.
	var log transitionLog
	k := &Counters{}
	lh := newListenerHarnessCfg(t, Config{Observer: &log, Counters: k, SynCookies: SynCookiesAlways}, 1)
	synack := lh.cookieSYN(2000, linuxSYNOpts)
	for _, port := range []uint16{2001, 2002} { // backlog 1: 2 places
		lh.cookieTSACK(port, lh.cookieSYN(port, linuxSYNOpts), 5001)
	}
	if lh.l.Pending() != 2 {
		t.Fatal("setup: the accept queue is not full")
	}
	log = nil
	c, sent := lh.cookieTSACK(2000, synack, 5001)
	if c != nil || len(sent) != 0 {
		t.Fatalf("conn %v sent %v", c, sent)
	}
	if len(log) != 0 {
		t.Fatalf("state changes of a connection that was never made: %v", log)
	}
	if st := lh.l.Stats(); st.CookiesValidated != 3 || st.AcceptQueueDrops != 1 || k.ListenOverflows != 1 {
		t.Fatalf("%+v %+v", st, k)
	}
}
