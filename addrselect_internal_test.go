package tapstack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func addrs(s string) []netip.Addr {
	var out []netip.Addr
	for _, f := range strings.Fields(s) {
		out = append(out, netip.MustParseAddr(f))
	}
	return out
}

// The examples of RFC 6724 §10.2 (the home-address one aside: rule 4 has
// nothing to act on here), each with the sources the RFC gives, and the
// cases the stack meets: its link-local address only, ULAs, no source.
func TestSortByRFC6724_Examples(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dsts    string
		sources map[string]string // destination -> source; none: unusable
		want    string
	}{
		{"prefer matching scope (global IPv6)", "2001:db8:1::1 198.51.100.121",
			map[string]string{"2001:db8:1::1": "2001:db8:1::2", "198.51.100.121": "169.254.13.78"}, "2001:db8:1::1 198.51.100.121"},
		{"prefer matching scope (IPv4)", "2001:db8:1::1 198.51.100.121",
			map[string]string{"2001:db8:1::1": "fe80::1", "198.51.100.121": "198.51.100.117"}, "198.51.100.121 2001:db8:1::1"},
		{"prefer higher precedence", "2001:db8:1::1 10.1.2.3",
			map[string]string{"2001:db8:1::1": "2001:db8:1::2", "10.1.2.3": "10.1.2.4"}, "2001:db8:1::1 10.1.2.3"},
		{"prefer smaller scope", "2001:db8:1::1 fe80::1",
			map[string]string{"2001:db8:1::1": "2001:db8:1::2", "fe80::1": "fe80::2"}, "fe80::1 2001:db8:1::1"},
		{"prefer matching label", "2002:c633:6401::1 2001:db8:1::1",
			map[string]string{"2002:c633:6401::1": "2002:c633:6401::2", "2001:db8:1::1": "2002:c633:6401::2"}, "2002:c633:6401::1 2001:db8:1::1"},
		{"prefer higher precedence (2002::/16 below ::/0)", "2002:c633:6401::1 2001:db8:1::1",
			map[string]string{"2002:c633:6401::1": "2002:c633:6401::2", "2001:db8:1::1": "2001:db8:1::2"}, "2001:db8:1::1 2002:c633:6401::1"},
		{"ULA below IPv4 (fc00::/7 precedence 3)", "fd00::2 10.0.0.2",
			map[string]string{"fd00::2": "fd00::1", "10.0.0.2": "10.0.0.1"}, "10.0.0.2 fd00::2"},
		{"avoid unusable destinations", "2001:db8::2 10.0.0.2",
			map[string]string{"10.0.0.2": "10.0.0.1"}, "10.0.0.2 2001:db8::2"},
		{"avoid unusable destinations (before scope)", "2001:db8::2 169.254.1.1",
			map[string]string{"169.254.1.1": "10.0.0.1"}, "169.254.1.1 2001:db8::2"},
		{"IPv4 link-local is a smaller scope than IPv4 global", "10.0.0.2 169.254.1.1",
			map[string]string{"10.0.0.2": "10.0.0.1", "169.254.1.1": "169.254.0.5"}, "169.254.1.1 10.0.0.2"},
		{"longest matching prefix between IPv6 addresses", "2001:db8:1::5 2001:db8:2::5",
			map[string]string{"2001:db8:1::5": "2001:db8:2::1", "2001:db8:2::5": "2001:db8:2::1"}, "2001:db8:2::5 2001:db8:1::5"},
		{"IPv4 order kept (no prefix rule for IPv4)", "10.9.0.1 10.0.0.9 10.0.0.3",
			map[string]string{"10.9.0.1": "10.0.0.1", "10.0.0.9": "10.0.0.1", "10.0.0.3": "10.0.0.1"}, "10.9.0.1 10.0.0.9 10.0.0.3"},
		{"nothing usable: order kept", "2001:db8::1 10.0.0.1", nil, "2001:db8::1 10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := addrs(tc.dsts)
			sortByRFC6724(got, func(d netip.Addr) netip.Addr {
				if s, ok := tc.sources[d.String()]; ok {
					return netip.MustParseAddr(s)
				}
				return netip.Addr{}
			})
			if want := addrs(tc.want); !slices.Equal(got, want) {
				t.Fatalf("sorted %v, want %v", got, want)
			}
		})
	}
}

func TestPartitionByFamily(t *testing.T) {
	p, f := partitionByFamily(addrs("2001:db8::1 10.0.0.1 2001:db8::2 10.0.0.2"))
	if !slices.Equal(p, addrs("2001:db8::1 2001:db8::2")) || !slices.Equal(f, addrs("10.0.0.1 10.0.0.2")) {
		t.Fatalf("primaries %v, fallbacks %v", p, f)
	}
}

// fakeConn is a net.Conn that notes its Close.
type fakeConn struct {
	net.Conn
	addr   netip.Addr
	closed chan struct{}
}

func (c *fakeConn) Close() error { close(c.closed); return nil }

func newFakeConn(a netip.Addr) *fakeConn { return &fakeConn{addr: a, closed: make(chan struct{})} }

// waitFor fails the test unless ch is ready within a bound.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
		panic("unreachable")
	}
}

type dialResult struct {
	c   net.Conn
	err error
}

func goDialParallel(primaries, fallbacks []netip.Addr, delay time.Duration, dial dialOne) <-chan dialResult {
	ch := make(chan dialResult, 1)
	go func() {
		c, err := dialParallel(context.Background(), primaries, fallbacks, delay, dial)
		ch <- dialResult{c, err}
	}()
	return ch
}

var (
	v6 = netip.MustParseAddr("2001:db8::2")
	v4 = netip.MustParseAddr("10.0.0.2")
)

// RFC 8305 §5: a primary that does not answer does not hold the
// connection up; the fallback starts after the delay, wins, and the
// primary's attempt is cancelled.
func TestDialParallel_HungPrimary_FallbackWinsPrimaryCancelled(t *testing.T) {
	cancelled := make(chan struct{})
	res := goDialParallel([]netip.Addr{v6}, []netip.Addr{v4}, 0, func(ctx context.Context, a netip.Addr) (net.Conn, error) {
		if a == v6 {
			<-ctx.Done()
			close(cancelled)
			return nil, ctx.Err()
		}
		return newFakeConn(a), nil
	})
	r := waitFor(t, res, "dial result")
	if r.err != nil || r.c.(*fakeConn).addr != v4 {
		t.Fatalf("dial = %v, %v; want the fallback's connection", r.c, r.err)
	}
	waitFor(t, cancelled, "cancellation of the primary's attempt")
}

// A primary that fails starts the fallback at once, not after the delay.
func TestDialParallel_PrimaryFails_FallbackStartsAtOnce(t *testing.T) {
	res := goDialParallel([]netip.Addr{v6}, []netip.Addr{v4}, time.Hour, func(ctx context.Context, a netip.Addr) (net.Conn, error) {
		if a == v6 {
			return nil, syscall.ECONNREFUSED
		}
		return newFakeConn(a), nil
	})
	if r := waitFor(t, res, "dial result (the fallback waited for the delay)"); r.err != nil || r.c.(*fakeConn).addr != v4 {
		t.Fatalf("dial = %v, %v; want the fallback's connection", r.c, r.err)
	}
}

// A connection the losing family makes after the winner returned is
// closed, not leaked.
func TestDialParallel_LateLoserConnection_Closed(t *testing.T) {
	release := make(chan struct{})
	late := newFakeConn(v6)
	res := goDialParallel([]netip.Addr{v6}, []netip.Addr{v4}, 0, func(ctx context.Context, a netip.Addr) (net.Conn, error) {
		if a == v6 {
			<-release
			return late, nil // connected although cancelled
		}
		return newFakeConn(a), nil
	})
	if r := waitFor(t, res, "dial result"); r.err != nil || r.c.(*fakeConn).addr != v4 {
		t.Fatalf("dial = %v, %v; want the fallback's connection", r.c, r.err)
	}
	close(release)
	waitFor(t, late.closed, "Close of the late primary connection")
}

// When both families fail the error is the primaries' (as net.Dialer).
func TestDialParallel_BothFail_PrimaryError(t *testing.T) {
	var calls atomic.Int32
	res := goDialParallel([]netip.Addr{v6}, []netip.Addr{v4}, 0, func(ctx context.Context, a netip.Addr) (net.Conn, error) {
		calls.Add(1)
		if a == v6 {
			return nil, syscall.EHOSTUNREACH
		}
		return nil, syscall.ECONNREFUSED
	})
	if r := waitFor(t, res, "dial result"); !errors.Is(r.err, syscall.EHOSTUNREACH) || calls.Load() != 2 {
		t.Fatalf("dial err %v after %d attempts, want the primary's EHOSTUNREACH after 2", r.err, calls.Load())
	}
}
