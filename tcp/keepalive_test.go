package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// Keep-alive (RFC 1122 §4.2.3.6, Linux's tcp_keepalive_timer) and the user
// timeout (RFC 9293 §3.8.3, RFC 5482, Linux's TCP_USER_TIMEOUT).

const hour = time.Hour

func TestEstablished_KeepAlive_OffByDefault(t *testing.T) {
	h := newEstablished(t, Config{})
	h.noDeadline()
	h.at(3 * hour)
	h.c.HandleTimer(h.now)
	h.expect()
}

// Linux defaults: the first probe after 2h idle, then every 75s; after 9
// unanswered probes (2h11m15s) a RST and ETIMEDOUT.
func TestEstablished_KeepAlive_ProbesThenETIMEDOUT(t *testing.T) {
	h := newEstablished(t, Config{KeepAlive: true})
	for i := range 9 {
		h.fire(2*hour + time.Duration(i)*75*time.Second)
		// SEG.SEQ = SND.NXT-1, no data (RFC 1122 §4.2.3.6, as Linux).
		h.expect("ACK seq=1000 ack=5001")
	}
	h.fire(2*hour + 9*75*time.Second)
	h.expect("RST|ACK seq=1001 ack=5001") // Linux: tcp_send_active_reset
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("err %v", h.c.Err())
	}
	if in := h.c.Info(); in.KeepAliveProbes != 9 {
		t.Fatalf("KeepAliveProbes %d", in.KeepAliveProbes)
	}
	h.noDeadline()
}

// The peer's answer to a probe (or any acceptable segment) restarts the
// idle clock and the probe count.
func TestEstablished_KeepAlive_AnswerResetsIdleClock(t *testing.T) {
	h := newEstablished(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second, KeepInterval: time.Second, KeepCount: 3})
	h.fire(10 * time.Second)
	h.expect("ACK seq=1000 ack=5001")
	h.fire(11 * time.Second)
	h.expect("ACK seq=1000 ack=5001")
	h.at(11500 * ms)
	h.in(h.seg(FlagACK)) // the peer answers: <SEQ=5001><ACK=1001>
	h.expect()
	h.fire(12 * time.Second) // idle for 0.5s only: re-armed for 21.5s
	h.expect()
	for _, at := range []time.Duration{21500, 22500, 23500} {
		h.fire(at * ms)
		h.expect("ACK seq=1000 ack=5001")
	}
	h.fire(24500 * ms)
	h.expect("RST|ACK seq=1001 ack=5001")
	h.expectState(StateClosed)
}

// While data is outstanding the RTO covers the connection: no probe.
func TestEstablished_KeepAlive_NotWhileDataOutstanding(t *testing.T) {
	h := newEstablished(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second})
	h.at(9900 * ms)
	h.c.Write([]byte("x"), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=1")
	h.fire(10 * time.Second) // keep-alive due, data in flight: re-armed for 20s
	h.expect()
	h.at(10050 * ms)
	h.in(h.seg(FlagACK))
	h.fire(20 * time.Second) // idle for 9.95s: re-armed for 20.05s
	h.expect()
	h.fire(20050 * ms)
	h.expect("ACK seq=1001 ack=5001")
}

func TestSynSent_KeepAlive_ArmedOnlyOnceEstablished(t *testing.T) {
	h := newSynSent(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second})
	h.fire(time.Second)
	h.expect("SYN seq=1000")
	h.at(2 * time.Second)
	h.in(h.synAck())
	h.expect("ACK seq=1001 ack=5001")
	h.fire(12 * time.Second)
	h.expect("ACK seq=1000 ack=5001")
}

func TestSynReceived_KeepAlive_InheritedFromListenerConfig(t *testing.T) {
	h, _ := newPassive(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second}, 8)
	h.at(time.Second)
	h.in(h.seg(FlagACK))
	h.expectState(StateEstablished)
	h.fire(11 * time.Second)
	h.expect("ACK seq=1000 ack=5001")
}

// The setters take effect as Linux's setsockopt: SO_KEEPALIVE arms the
// first probe KeepIdle from now; TCP_KEEPIDLE re-arms from the last
// segment received; TCP_KEEPINTVL and TCP_KEEPCNT apply to what follows.
func TestEstablished_KeepAlive_Setters(t *testing.T) {
	h := newEstablished(t, Config{})
	h.at(hour)
	h.c.SetKeepAlive(true, h.now)
	h.c.SetKeepInterval(5 * time.Second)
	h.c.SetKeepCount(2)
	if d, _ := h.c.NextDeadline(); d.Sub(t0) != 3*hour {
		t.Fatalf("first probe at %v, want 3h (1h + KeepIdle)", d.Sub(t0))
	}
	h.c.SetKeepIdle(30*time.Minute, h.now) // idle since t0 for 1h: probe now
	h.fire(hour)
	h.expect("ACK seq=1000 ack=5001")
	h.fire(hour + 5*time.Second)
	h.expect("ACK seq=1000 ack=5001")
	h.fire(hour + 10*time.Second)
	h.expect("RST|ACK seq=1001 ack=5001")
	if !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("err %v", h.c.Err())
	}

	h = newEstablished(t, Config{KeepAlive: true})
	h.c.SetKeepAlive(false, h.now)
	h.noDeadline()
	if cfg := h.c.Config(); cfg.KeepAlive || cfg.KeepIdle != DefaultKeepIdle || cfg.KeepCount != 9 {
		t.Fatalf("%+v", cfg)
	}
}

// With a user timeout, keep-alive gives up once probes are out and the
// connection has been idle for the user timeout (Linux).
func TestEstablished_KeepAlive_UserTimeoutReplacesCount(t *testing.T) {
	// Linux's tcp_keepalive_timer: with a user timeout the count does not
	// apply, so three probes go out with TCP_KEEPCNT 2.
	h := newEstablished(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second, KeepInterval: 5 * time.Second, KeepCount: 2, UserTimeout: 22 * time.Second})
	for _, at := range []time.Duration{10, 15, 20} {
		h.fire(at * time.Second)
		h.expect("ACK seq=1000 ack=5001")
	}
	h.fire(25 * time.Second)
	h.expect("RST|ACK seq=1001 ack=5001")
	h.expectState(StateClosed)
}

func TestCloseWait_KeepAlive_Probes(t *testing.T) {
	h := newCloseWait(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second})
	h.fire(10 * time.Second)
	h.expect("ACK seq=1000 ack=5002")
}

func TestTimeWait_KeepAlive_Stopped(t *testing.T) {
	h := newTimeWait(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second})
	h.fire(60 * time.Second) // only the 2·MSL timer
	h.expectState(StateClosed)
	h.noDeadline()
}

// TCP_USER_TIMEOUT: data unacknowledged for UserTimeout ends the
// connection with ETIMEDOUT, between retransmissions, without a RST.
func TestEstablished_UserTimeout_UnackedData(t *testing.T) {
	h := newEstablished(t, Config{UserTimeout: 5 * time.Second})
	h.c.Write([]byte("hello"), h.now)
	h.expect("PSH|ACK seq=1001 ack=5001 len=5")
	for _, at := range []time.Duration{200, 600, 1400, 3000} {
		h.fire(at * ms)
		h.expect("PSH|ACK seq=1001 ack=5001 len=5")
	}
	h.fire(5 * time.Second)
	h.expect()
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("err %v", h.c.Err())
	}
	h.noDeadline()
}

// Progress (an ACK of new data) restarts the user timeout; everything
// acknowledged stops it.
func TestEstablished_UserTimeout_ProgressRestarts(t *testing.T) {
	h := newEstablished(t, Config{UserTimeout: 5 * time.Second, SndBuf: 4000})
	h.c.Write(bytesN(3000), h.now)
	h.out.take()
	h.at(150 * ms)
	a := h.seg(FlagACK)
	a.Ack = 1001 + 1460
	h.in(a)
	if d := h.c.userTimeoutAt(); d.Sub(t0) != 5150*ms {
		t.Fatalf("user timeout at %v, want 5.15s", d.Sub(t0))
	}
	h.at(300 * ms)
	h.in(h.seg(FlagACK))
	h.noDeadline()
}

// A user timeout replaces DataRetries (Linux: retransmits_timed_out uses
// it when set): the connection outlives the 15 retransmissions.
func TestEstablished_UserTimeout_ReplacesDataRetries(t *testing.T) {
	h := newEstablished(t, Config{UserTimeout: 30 * time.Minute})
	h.c.Write([]byte("x"), h.now)
	for h.c.State() != StateClosed {
		d, ok := h.c.NextDeadline()
		if !ok {
			t.Fatal("no deadline")
		}
		h.now = d
		h.c.HandleTimer(d)
	}
	if got := h.now.Sub(t0); got != 30*time.Minute {
		t.Fatalf("gave up at %v, want 30m", got)
	}
	if h.c.Info().Retransmits <= 15 || !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("retransmits %d err %v", h.c.Info().Retransmits, h.c.Err())
	}
}

// A zero window that stays closed for the user timeout ends the
// connection even though the probes are answered (Linux's
// icsk_probes_tstamp: counted from the first probe until a non-zero
// window).
func TestEstablished_UserTimeout_ZeroWindow(t *testing.T) {
	h := newEstablished(t, Config{UserTimeout: 10 * time.Second})
	zw := h.seg(FlagACK)
	zw.Window = 0
	h.in(zw)
	h.c.Write([]byte("hello"), h.now)
	at, d := time.Duration(0), 200*ms
	for at+d < 10200*ms {
		at += d
		h.fire(at)
		h.expect("ACK seq=1001 ack=5001 len=1")
		h.in(zw)
		d *= 2
	}
	h.fire(10200 * ms) // first probe at 200ms + 10s
	h.expect()
	h.expectState(StateClosed)
	if !errors.Is(h.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("err %v", h.c.Err())
	}
}

func TestEstablished_UserTimeout_WindowOpeningRestarts(t *testing.T) {
	h := newEstablished(t, Config{UserTimeout: 10 * time.Second})
	zw := h.seg(FlagACK)
	zw.Window = 0
	h.in(zw)
	h.c.Write([]byte("hello"), h.now)
	h.fire(200 * ms)
	h.expect("ACK seq=1001 ack=5001 len=1")
	h.at(9 * time.Second)
	open := h.seg(FlagACK)
	open.Ack = 1001
	h.in(open)
	h.expect("PSH|ACK seq=1001 ack=5001 len=5")
	if d := h.c.userTimeoutAt(); d.Sub(t0) != 19*time.Second {
		t.Fatalf("user timeout at %v, want 19s", d.Sub(t0))
	}
}

// Linux's tcp_keepalive_timer gives up once the user timeout has elapsed
// (elapsed >= TCP_USER_TIMEOUT, at the boundary included) and at least one
// probe went unanswered: a user timeout shorter than the idle time still
// gets one probe.
func TestEstablished_KeepAlive_UserTimeoutBoundaryAndOneProbeFirst(t *testing.T) {
	h := newEstablished(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second, KeepInterval: 5 * time.Second, UserTimeout: 20 * time.Second})
	for _, at := range []time.Duration{10, 15} {
		h.fire(at * time.Second)
		h.expect("ACK seq=1000 ack=5001")
	}
	h.fire(20 * time.Second) // exactly the user timeout
	h.expect("RST|ACK seq=1001 ack=5001")
	h.expectState(StateClosed)

	h = newEstablished(t, Config{KeepAlive: true, KeepIdle: 10 * time.Second, KeepInterval: 5 * time.Second, UserTimeout: 5 * time.Second})
	h.fire(10 * time.Second) // past the user timeout, but no probe yet
	h.expect("ACK seq=1000 ack=5001")
	h.fire(15 * time.Second)
	h.expect("RST|ACK seq=1001 ack=5001")
	h.expectState(StateClosed)
}
