package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

var (
	cookieLocal  = netip.MustParseAddrPort("10.0.0.2:80")
	cookieRemote = netip.MustParseAddrPort("192.0.2.7:51000")
	cookieK      = cookieKey{k0: 0x0123456789abcdef, k1: 0xfedcba9876543210}
)

func TestCookie_RoundTrip_EveryMSSIndex(t *testing.T) {
	for _, peerISS := range []seqnum.Value{0, 1, 5000, 0x7fffffff, 0xffffffff} {
		for _, count := range []uint32{0, 1, 255, 256, 29_000_000, 0xffffffff} {
			for idx := range cookieMSS {
				ck := cookieK.make(cookieLocal, cookieRemote, peerISS, count, idx)
				got, ok := cookieK.check(ck, cookieLocal, cookieRemote, peerISS, count)
				if !ok || got != idx {
					t.Fatalf("iss %d count %d idx %d: got %d %v", peerISS, count, idx, got, ok)
				}
			}
		}
	}
}

func TestCookie_OtherTupleISSOrKey_Fails(t *testing.T) {
	const count = 1000
	ck := cookieK.make(cookieLocal, cookieRemote, 5000, count, 3)
	other := []struct {
		name          string
		local, remote netip.AddrPort
		iss           seqnum.Value
		key           cookieKey
	}{
		{"remote port", cookieLocal, netip.MustParseAddrPort("192.0.2.7:51001"), 5000, cookieK},
		{"remote addr", cookieLocal, netip.MustParseAddrPort("192.0.2.8:51000"), 5000, cookieK},
		{"local port", netip.MustParseAddrPort("10.0.0.2:81"), cookieRemote, 5000, cookieK},
		{"local addr", netip.MustParseAddrPort("10.0.0.3:80"), cookieRemote, 5000, cookieK},
		{"peer ISS", cookieLocal, cookieRemote, 5000 + 1<<10, cookieK},
		{"key", cookieLocal, cookieRemote, 5000, cookieKey{k0: 1, k1: 2}},
	}
	for _, o := range other {
		if idx, ok := o.key.check(ck, o.local, o.remote, o.iss, count); ok {
			t.Errorf("%s changed: accepted with index %d", o.name, idx)
		}
	}
	// The low 24 bits carry the MSS index, not authentication: a cookie (or
	// peer ISS) off by d < 4 may still pass with another index, as in
	// Linux, but only to someone who saw the SYN-ACK. Beyond the table it
	// fails.
	for _, d := range []seqnum.Size{1 << 10, 1 << 20, 1 << 24, 1 << 31} {
		if _, ok := cookieK.check(ck.Add(d), cookieLocal, cookieRemote, 5000, count); ok {
			t.Errorf("cookie+%d accepted", d)
		}
		if _, ok := cookieK.check(ck.Sub(d), cookieLocal, cookieRemote, 5000, count); ok {
			t.Errorf("cookie-%d accepted", d)
		}
	}
}

func TestCookie_Age_CurrentAndPreviousMinuteOnly(t *testing.T) {
	const made = 500
	ck := cookieK.make(cookieLocal, cookieRemote, 5000, made, 2)
	for count, want := range map[uint32]bool{made: true, made + 1: true, made + 2: false, made + 255: false, made + 256: false, made - 1: false} {
		if idx, ok := cookieK.check(ck, cookieLocal, cookieRemote, 5000, count); ok != want || (ok && idx != 2) {
			t.Errorf("checked at count %d (made at %d): %d %v, want %v", count, made, idx, ok, want)
		}
	}
	// The counter ticks every minute (Linux's tcp_cookie_time).
	t0 := time.Unix(1_800_000_000, 0)
	if cookieCount(t0.Add(time.Minute))-cookieCount(t0) != 1 || cookieCount(t0.Add(59*time.Second+cookieCountPhase(t0))) != cookieCount(t0) {
		t.Fatal("counter period")
	}
}

// cookieCountPhase is how far t is into its counter minute, negated: t plus
// 59s plus this stays in the same minute.
func cookieCountPhase(t time.Time) time.Duration {
	return -time.Duration(t.UnixNano() % int64(cookiePeriod))
}

func TestCookie_ForgedCookies_AlmostNeverPass(t *testing.T) {
	// A blind attacker's odds: about cookieMaxAge·len(cookieMSS)/2^24 per
	// guess.
	passed := 0
	for i := uint32(0); i < 1<<16; i++ {
		if _, ok := cookieK.check(seqnum.Value(i*65537+12345), cookieLocal, cookieRemote, 5000, 777); ok {
			passed++
		}
	}
	if passed > 2 {
		t.Fatalf("%d of 65536 forged cookies passed", passed)
	}
}

func TestCookie_MSSIndex_LinuxTable(t *testing.T) {
	for mss, want := range map[int]int{0: 0, 88: 0, 535: 0, 536: 0, 1299: 0, 1300: 1, 1439: 1, 1440: 2, 1452: 2, 1459: 2, 1460: 3, 9000: 3} {
		if got := cookieMSSIndex(mss); got != want {
			t.Errorf("cookieMSSIndex(%d) = %d (%d), want %d", mss, got, cookieMSS[got], want)
		}
	}
}

func TestCookie_NoAllocation(t *testing.T) {
	var sink int
	n := testing.AllocsPerRun(100, func() {
		ck := cookieK.make(cookieLocal, cookieRemote, 5000, 9, 1)
		idx, _ := cookieK.check(ck, cookieLocal, cookieRemote, 5000, 9)
		sink += idx
	})
	if n != 0 {
		t.Fatalf("%v allocations per make+check", n)
	}
}

func TestCookie_NewCookieKey_Random(t *testing.T) {
	if newCookieKey() == newCookieKey() {
		t.Fatal("two keys alike")
	}
}

// --- Window scale and SACK-permitted in the timestamp (Linux's
// cookie_init_timestamp / cookie_timestamp_decode) ---

// cookieEcho is the ACK a peer sends to a cookie SYN-ACK whose TSval was
// tsOffsetFor(iss)+ts: it echoes it (RFC 7323 §3.2).
func cookieEcho(iss seqnum.Value, ts uint32) *Segment {
	return &Segment{Seq: peerISS + 1, Ack: iss.Add(1), Flags: FlagACK,
		Options: Options{HasTimestamp: true, TSVal: 777, TSEcr: tsOffsetFor(iss) + ts}}
}

func TestCookie_TSVal_RoundTrip_EveryWScaleAndSACK(t *testing.T) {
	const iss = seqnum.Value(0xdeadbeef)
	for _, clock := range []uint32{0, 1, 63, 64, 100, 1 << 20, 0xffffffc0, 0xffffffff} {
		for ws := 0; ws <= MaxWScale+1; ws++ { // MaxWScale+1: no Window Scale option
			for _, sack := range []bool{false, true} {
				syn := Options{MSS: 1460, HasWScale: ws <= MaxWScale, WScale: uint8(ws), SACKPermitted: sack, HasTimestamp: true, TSVal: 42}
				ts := cookieTSVal(Config{}, &syn, false, clock)
				// Never ahead of the clock, at most one period behind;
				// no ECN (we do not do it).
				if d := clock - ts; d >= 1<<cookieTSBits || ts&cookieTSECN != 0 {
					t.Fatalf("clock %d ws %d sack %v: TSval %#x is %d behind", clock, ws, sack, ts, int32(d))
				}
				o, ok := cookieSynOptions(Config{}, cookieEcho(iss, ts), iss, 1460)
				want := Options{MSS: 1460, HasWScale: syn.HasWScale, SACKPermitted: sack, HasTimestamp: true, TSVal: 777}
				if syn.HasWScale {
					want.WScale = uint8(ws)
				}
				if !ok || o != want {
					t.Fatalf("clock %d ws %d sack %v: decoded %+v %v, want %+v", clock, ws, sack, o, ok, want)
				}
			}
		}
	}
}

func TestCookie_TSVal_LinuxLayout(t *testing.T) {
	// Bits 0-3 the peer's shift (0xf: none), bit 4 SACK-permitted, bit 5
	// ECN (never); the rest is the clock.
	for _, c := range []struct {
		syn   Options
		clock uint32
		want  uint32
	}{
		{Options{HasWScale: true, WScale: 7, SACKPermitted: true}, 1000, 960 | 7 | cookieTSSACK},
		{Options{HasWScale: true, WScale: 7}, 1000, 960 | 7},
		{Options{SACKPermitted: true}, 1000, 960 | 0xf | cookieTSSACK},
		{Options{SACKPermitted: true}, 980, 960 - 64 | 0xf | cookieTSSACK}, // 960|0x1f > 980: one period back
		{Options{}, 1023, 960 | 0xf},
		{Options{HasWScale: true, WScale: 200}, 1024, 1024 - 64 | 14}, // RFC 7323 §2.3: 14 at most
		{Options{HasWScale: true, WScale: 0}, 0, 0},
		{Options{HasWScale: true, WScale: 1}, 0, 0xffffffc1}, // wraps (modulo 2^32, RFC 7323 §5.2)
	} {
		if got := cookieTSVal(Config{}, &c.syn, false, c.clock); got != c.want {
			t.Errorf("%+v at %d: %#x, want %#x", c.syn, c.clock, got, c.want)
		}
	}
	// What we do not offer is not encoded: DisableWindowScale, DisableSACK.
	syn := Options{HasWScale: true, WScale: 7, SACKPermitted: true}
	if got := cookieTSVal(Config{DisableWindowScale: true, DisableSACK: true}, &syn, false, 1000) & (1<<cookieTSBits - 1); got != cookieTSNoWScale {
		t.Errorf("options %#x with window scaling and SACK off", got)
	}
}

func TestCookie_SynOptions_NoTimestamps_MSSOnly(t *testing.T) {
	ack := &Segment{Seq: peerISS + 1, Ack: 1001, Flags: FlagACK}
	if o, ok := cookieSynOptions(Config{}, ack, 1000, 1300); !ok || o != (Options{MSS: 1300}) {
		t.Fatalf("%+v %v", o, ok)
	}
	// A TSecr of zero echoes nothing: timestamps, but no scaling or SACK.
	ack.Options = Options{HasTimestamp: true, TSVal: 9}
	if o, ok := cookieSynOptions(Config{}, ack, 1000, 1300); !ok || o != (Options{MSS: 1300, HasTimestamp: true, TSVal: 9}) {
		t.Fatalf("TSecr 0: %+v %v", o, ok)
	}
}

func TestCookie_SynOptions_EchoOfOptionWeDoNotOffer_Fails(t *testing.T) {
	// As Linux's cookie_timestamp_decode: an echo naming an option turned
	// off here was not made by us.
	const iss = seqnum.Value(1000)
	for _, c := range []struct {
		name string
		cfg  Config
		ts   uint32
	}{
		{"timestamps off", Config{DisableTimestamps: true}, 64 | cookieTSNoWScale},
		{"SACK off", Config{DisableSACK: true}, 64 | cookieTSNoWScale | cookieTSSACK},
		{"window scaling off", Config{DisableWindowScale: true}, 64 | 3},
	} {
		if o, ok := cookieSynOptions(c.cfg, cookieEcho(iss, c.ts), iss, 1460); ok {
			t.Errorf("%s: accepted as %+v", c.name, o)
		}
	}
	// The same echoes pass where the options are on; shift 0xf is "none".
	for _, ts := range []uint32{64 | cookieTSNoWScale, 64 | cookieTSNoWScale | cookieTSSACK, 64 | 3} {
		if _, ok := cookieSynOptions(Config{}, cookieEcho(iss, ts), iss, 1460); !ok {
			t.Errorf("%#x refused", ts)
		}
	}
}
