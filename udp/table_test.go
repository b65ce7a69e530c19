package udp

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/internal/ports"
)

var (
	ourAddr   = netip.MustParseAddr("10.0.0.2")
	otherAddr = netip.MustParseAddr("10.0.0.9")
	anyAddr   = netip.IPv4Unspecified()
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

func mustBind(t *testing.T, tb *Table, local netip.AddrPort, reuse bool) *Endpoint {
	t.Helper()
	ep := NewEndpoint(0)
	if _, err := tb.Bind(ep, local, reuse); err != nil {
		t.Fatalf("Bind(%v, reuse=%v): %v", local, reuse, err)
	}
	return ep
}

func TestBind_Conflicts(t *testing.T) {
	tests := []struct {
		name         string
		first        netip.AddrPort
		firstReuse   bool
		second       netip.AddrPort
		secondReuse  bool
		wantConflict bool
	}{
		{"same address", ap(ourAddr, 7), false, ap(ourAddr, 7), false, true},
		{"specific then wildcard", ap(ourAddr, 7), false, ap(anyAddr, 7), false, true},
		{"wildcard then specific", ap(anyAddr, 7), false, ap(ourAddr, 7), false, true},
		{"wildcard twice", ap(anyAddr, 7), false, ap(anyAddr, 7), false, true},
		{"different specific addresses", ap(ourAddr, 7), false, ap(otherAddr, 7), false, false},
		{"different ports", ap(ourAddr, 7), false, ap(ourAddr, 8), false, false},
		{"both reuse, same address", ap(ourAddr, 7), true, ap(ourAddr, 7), true, false},
		{"both reuse, wildcard and specific", ap(anyAddr, 7), true, ap(ourAddr, 7), true, false},
		{"only first reuse", ap(ourAddr, 7), true, ap(ourAddr, 7), false, true},
		{"only second reuse", ap(ourAddr, 7), false, ap(ourAddr, 7), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := NewTable()
			mustBind(t, tb, tt.first, tt.firstReuse)
			ep := NewEndpoint(0)
			got, err := tb.Bind(ep, tt.second, tt.secondReuse)
			if tt.wantConflict {
				if !errors.Is(err, syscall.EADDRINUSE) {
					t.Fatalf("Bind = %v, %v; want EADDRINUSE", got, err)
				}
				if ep.LocalAddr().IsValid() || tb.Len() != 1 {
					t.Fatal("a failed Bind changed state")
				}
				return
			}
			if err != nil || got != tt.second || ep.LocalAddr() != tt.second {
				t.Fatalf("Bind = %v, %v; want %v, nil", got, err, tt.second)
			}
			if tb.Len() != 2 {
				t.Fatalf("Len = %d, want 2", tb.Len())
			}
		})
	}
}

func TestBind_ConnectedEndpointStillHoldsPort(t *testing.T) {
	tb := NewTable()
	ep := mustBind(t, tb, ap(ourAddr, 7), false)
	if err := tb.Connect(ep, peerA); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Bind(NewEndpoint(0), ap(ourAddr, 7), false); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Bind = %v, want EADDRINUSE", err)
	}
}

func TestBind_AlreadyBound_EINVAL(t *testing.T) {
	tb := NewTable()
	ep := mustBind(t, tb, ap(ourAddr, 7), false)
	if _, err := tb.Bind(ep, ap(ourAddr, 8), false); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Bind = %v, want EINVAL", err)
	}
	if ep.LocalAddr() != ap(ourAddr, 7) {
		t.Fatalf("LocalAddr = %v after failed rebind", ep.LocalAddr())
	}
}

func TestBind_IPv6Address_EAFNOSUPPORT(t *testing.T) {
	tb := NewTable()
	_, err := tb.Bind(NewEndpoint(0), netip.MustParseAddrPort("[2001:db8::1]:7"), false)
	if !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Fatalf("Bind = %v, want EAFNOSUPPORT", err)
	}
}

func TestBind_ZeroAddrPort_WildcardEphemeral(t *testing.T) {
	tb := NewTable()
	ep := NewEndpoint(0)
	got, err := tb.Bind(ep, netip.AddrPort{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Addr() != anyAddr || got.Port() < ports.EphemeralFirst || got.Port() > ports.EphemeralLast {
		t.Fatalf("Bind = %v; want 0.0.0.0 and an ephemeral port", got)
	}
}

func TestBind_PortZero_PicksDistinctEphemeralPorts(t *testing.T) {
	tb := NewTable()
	seen := make(map[uint16]bool)
	for range 200 {
		ep := NewEndpoint(0)
		got, err := tb.Bind(ep, ap(ourAddr, 0), false)
		if err != nil {
			t.Fatal(err)
		}
		p := got.Port()
		if p < ports.EphemeralFirst || p > ports.EphemeralLast || seen[p] {
			t.Fatalf("ephemeral port %d out of range or reused", p)
		}
		if ep.LocalAddr() != got || got.Addr() != ourAddr {
			t.Fatalf("LocalAddr = %v, Bind returned %v", ep.LocalAddr(), got)
		}
		seen[p] = true
	}
}

func TestBind_PortZeroAllEphemeralTaken_EAGAIN(t *testing.T) {
	tb := NewTable()
	for p := ports.EphemeralFirst; p <= ports.EphemeralLast; p++ {
		mustBind(t, tb, ap(anyAddr, uint16(p)), true)
	}
	// Even with SO_REUSEADDR on both sides an ephemeral pick does not share.
	if _, err := tb.Bind(NewEndpoint(0), ap(ourAddr, 0), true); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Bind = %v, want EAGAIN", err)
	}
	// A fixed port outside the range still works.
	mustBind(t, tb, ap(ourAddr, 7), false)
	// Connect autobinds an unbound endpoint (Linux inet_autobind); when no
	// ephemeral port is free it fails as bind does, with EAGAIN, and
	// leaves the endpoint unbound and unconnected.
	ep := NewEndpoint(0)
	if err := tb.Connect(ep, peerA); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Connect = %v, want EAGAIN", err)
	}
	if ep.LocalAddr().IsValid() || ep.RemoteAddr().IsValid() {
		t.Fatalf("failed Connect: local %v remote %v", ep.LocalAddr(), ep.RemoteAddr())
	}
}

func TestUnbind_FreesPortAndClearsAddresses(t *testing.T) {
	tb := NewTable()
	ep := mustBind(t, tb, ap(anyAddr, 7), false)
	if err := tb.Connect(ep, peerA); err != nil {
		t.Fatal(err)
	}
	tb.Unbind(ep)
	if tb.Len() != 0 || ep.LocalAddr().IsValid() || ep.RemoteAddr().IsValid() {
		t.Fatalf("after Unbind: Len %d, local %v, remote %v", tb.Len(), ep.LocalAddr(), ep.RemoteAddr())
	}
	if got := tb.Lookup(peerA, ap(ourAddr, 7)); got != nil {
		t.Fatal("Lookup found an unbound endpoint")
	}
	mustBind(t, tb, ap(ourAddr, 7), false)
	tb.Unbind(ep) // unbinding twice is harmless
	if tb.Len() != 1 {
		t.Fatalf("Len = %d, want 1", tb.Len())
	}
	// The endpoint can be bound again.
	if _, err := tb.Bind(ep, ap(otherAddr, 7), false); err != nil {
		t.Fatal(err)
	}
}

// Unbinding the last endpoint on a port forgets the port: a stack whose
// sockets come and go on random ephemeral ports (every autobind picks one)
// holds nothing for ports no one holds, however many it has used.
func TestUnbind_LastEndpointOnAPort_LeavesNothingBehind(t *testing.T) {
	tb := NewTable()
	var eps []*Endpoint
	for range 100 {
		ep := NewEndpoint(0)
		if err := tb.Connect(ep, peerA); err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
	}
	shared := mustBind(t, tb, ap(ourAddr, 7), false)
	other := mustBind(t, tb, ap(otherAddr, 7), false)
	tb.Unbind(shared) // other still holds port 7
	if tb.byPort[7] == nil {
		t.Fatal("port 7 forgotten while an endpoint holds it")
	}
	tb.Unbind(other)
	for _, ep := range eps {
		tb.Unbind(ep)
	}
	if tb.Len() != 0 || len(tb.byPort) != 0 {
		t.Fatalf("after unbinding everything: Len %d, %d ports held", tb.Len(), len(tb.byPort))
	}
}

func TestUnbind_OneOfSharedPort_KeepsOthers(t *testing.T) {
	tb := NewTable()
	a := mustBind(t, tb, ap(ourAddr, 7), false)
	b := mustBind(t, tb, ap(otherAddr, 7), false)
	tb.Unbind(a)
	if got := tb.Lookup(peerA, ap(otherAddr, 7)); got != b {
		t.Fatal("Lookup lost the remaining endpoint")
	}
	if got := tb.Lookup(peerA, ap(ourAddr, 7)); got != nil {
		t.Fatal("Lookup found the unbound endpoint")
	}
}

func TestLookup_Precedence_ConnectedThenSpecificThenWildcard(t *testing.T) {
	tb := NewTable()
	wild := mustBind(t, tb, ap(anyAddr, 7), true)
	spec := mustBind(t, tb, ap(ourAddr, 7), true)
	connWild := mustBind(t, tb, ap(anyAddr, 7), true)
	if err := tb.Connect(connWild, peerA); err != nil {
		t.Fatal(err)
	}
	connExact := mustBind(t, tb, ap(ourAddr, 7), true)
	if err := tb.Connect(connExact, peerA); err != nil {
		t.Fatal(err)
	}
	dst := ap(ourAddr, 7)

	// Remove the best each time and see the next one take over; bind order
	// was chosen so that "most recently bound" would give another answer.
	for _, want := range []*Endpoint{connExact, connWild, spec, wild} {
		if got := tb.Lookup(peerA, dst); got != want {
			t.Fatalf("Lookup = %p (%v→%v), want %p (%v→%v)", got, got.LocalAddr(), got.RemoteAddr(), want, want.LocalAddr(), want.RemoteAddr())
		}
		tb.Unbind(want)
	}
	if got := tb.Lookup(peerA, dst); got != nil {
		t.Fatal("Lookup found an endpoint in an empty table")
	}
}

func TestLookup_Precedence_IndependentOfBindOrder(t *testing.T) {
	tb := NewTable()
	connExact := mustBind(t, tb, ap(ourAddr, 7), true)
	if err := tb.Connect(connExact, peerA); err != nil {
		t.Fatal(err)
	}
	spec := mustBind(t, tb, ap(ourAddr, 7), true)
	mustBind(t, tb, ap(anyAddr, 7), true)
	if got := tb.Lookup(peerA, ap(ourAddr, 7)); got != connExact {
		t.Fatal("connected endpoint lost to a later unconnected one")
	}
	if got := tb.Lookup(peerB, ap(ourAddr, 7)); got != spec {
		t.Fatal("specific endpoint lost to a later wildcard one")
	}
}

func TestLookup_ConnectedEndpoint_IgnoresOtherSources(t *testing.T) {
	tb := NewTable()
	ep := mustBind(t, tb, ap(ourAddr, 7), false)
	if err := tb.Connect(ep, peerA); err != nil {
		t.Fatal(err)
	}
	dst := ap(ourAddr, 7)
	if tb.Lookup(peerA, dst) != ep {
		t.Fatal("connected endpoint did not receive from its peer")
	}
	for _, src := range []netip.AddrPort{peerB, ap(peerA.Addr(), peerA.Port()+1), ap(otherAddr, peerA.Port())} {
		if got := tb.Lookup(src, dst); got != nil {
			t.Fatalf("Lookup from %v found the endpoint connected to %v", src, peerA)
		}
	}
	// Disconnecting (AF_UNSPEC) accepts every source again.
	if err := tb.Connect(ep, netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	if ep.RemoteAddr().IsValid() || tb.Lookup(peerB, dst) != ep {
		t.Fatal("disconnected endpoint still filters")
	}
	if ep.LocalAddr() != dst {
		t.Fatal("disconnect lost the binding")
	}
}

func TestLookup_SpecificAddress_IgnoresOtherDestinations(t *testing.T) {
	tb := NewTable()
	mustBind(t, tb, ap(ourAddr, 7), false)
	if tb.Lookup(peerA, ap(otherAddr, 7)) != nil {
		t.Fatal("endpoint bound to 10.0.0.2 received a datagram for 10.0.0.9")
	}
	if tb.Lookup(peerA, ap(ourAddr, 8)) != nil {
		t.Fatal("Lookup matched the wrong port")
	}
}

func TestLookup_ReuseTie_GoesToMostRecentlyBound(t *testing.T) {
	tb := NewTable()
	mustBind(t, tb, ap(ourAddr, 7), true)
	second := mustBind(t, tb, ap(ourAddr, 7), true)
	if tb.Lookup(peerA, ap(ourAddr, 7)) != second {
		t.Fatal("unicast did not go to the last bound (Linux SO_REUSEADDR behaviour)")
	}
}

func TestConnect_Unbound_AutobindsEphemeral(t *testing.T) {
	tb := NewTable()
	ep := NewEndpoint(0)
	if err := tb.Connect(ep, peerA); err != nil {
		t.Fatal(err)
	}
	l := ep.LocalAddr()
	if l.Addr() != anyAddr || l.Port() < ports.EphemeralFirst || ep.RemoteAddr() != peerA {
		t.Fatalf("local %v remote %v", l, ep.RemoteAddr())
	}
	if tb.Lookup(peerA, ap(ourAddr, l.Port())) != ep {
		t.Fatal("autobound endpoint not found")
	}
}

func TestConnect_IPv6Remote_EAFNOSUPPORT(t *testing.T) {
	tb := NewTable()
	ep := mustBind(t, tb, ap(ourAddr, 7), false)
	if err := tb.Connect(ep, netip.MustParseAddrPort("[2001:db8::1]:7")); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Fatalf("Connect = %v, want EAFNOSUPPORT", err)
	}
	if ep.RemoteAddr().IsValid() {
		t.Fatal("failed Connect set a remote")
	}
}

func TestEndpoints_SnapshotOrderedByPort(t *testing.T) {
	tb := NewTable()
	c := mustBind(t, tb, ap(ourAddr, 9), false)
	a := mustBind(t, tb, ap(ourAddr, 7), true)
	b := mustBind(t, tb, ap(anyAddr, 7), true)
	got := tb.Endpoints()
	if len(got) != 3 || got[0] != a || got[1] != b || got[2] != c {
		t.Fatalf("Endpoints = %v", got)
	}
	got[0] = nil // a snapshot: the table is unaffected
	if tb.Lookup(peerA, ap(ourAddr, 7)) == nil || tb.Len() != 3 {
		t.Fatal("modifying the snapshot changed the table")
	}
}

func TestLookup_DoesNotAllocate(t *testing.T) {
	tb := NewTable()
	for p := range uint16(100) {
		mustBind(t, tb, ap(anyAddr, 1000+p), false)
	}
	mustBind(t, tb, ap(ourAddr, 7), true)
	conn := mustBind(t, tb, ap(ourAddr, 7), true)
	if err := tb.Connect(conn, peerA); err != nil {
		t.Fatal(err)
	}
	var got *Endpoint
	allocs := testing.AllocsPerRun(1000, func() {
		got = tb.Lookup(peerA, ap(ourAddr, 7))
		_ = tb.Lookup(peerB, ap(ourAddr, 1050))
		_ = tb.Lookup(peerB, ap(ourAddr, 5000))
	})
	if allocs != 0 {
		t.Fatalf("Lookup allocates %v times", allocs)
	}
	if got != conn {
		t.Fatal("wrong endpoint")
	}
}

func BenchmarkLookup(b *testing.B) {
	tb := NewTable()
	for p := range uint16(1000) {
		ep := NewEndpoint(0)
		if _, err := tb.Bind(ep, ap(anyAddr, 10000+p), false); err != nil {
			b.Fatal(err)
		}
	}
	spec := NewEndpoint(0)
	tb.Bind(spec, ap(ourAddr, 7), true)
	conn := NewEndpoint(0)
	tb.Bind(conn, ap(ourAddr, 7), true)
	tb.Connect(conn, peerA)

	cases := []struct {
		name     string
		src, dst netip.AddrPort
	}{
		{"wildcard", peerA, ap(ourAddr, 10500)},
		{"connected", peerA, ap(ourAddr, 7)},
		{"specific", peerB, ap(ourAddr, 7)},
		{"miss", peerA, ap(ourAddr, 9)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tb.Lookup(c.src, c.dst)
			}
		})
	}
}
