package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
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
