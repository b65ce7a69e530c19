package stack_test

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// Neighbour discovery (RFC 4861), address configuration (RFC 4862) and
// MLDv2 (RFC 3810) at the packet level, under the manual clock. Every
// random draw is pinned to one half: delays are half their bound and
// ReachableTime is BaseReachableTime, 30 s.

var (
	peerMAC2 = ethernet.MAC{0x02, 0, 0, 0, 0, 0x09}
	stackSA  = netip.MustParsePrefix("fd00::1:5/64") // its own solicited-node group, ff02::1:ff01:5
	peerSA   = netip.MustParseAddr("fd00::1")
	rtrLL    = netip.MustParseAddr("fe80::1") // the router is the peer (peerLL, peerMAC)
	pfx      = netip.MustParsePrefix("2001:db8:1::/64")
	// stackSLAAC is pfx with stackMAC's interface identifier.
	stackSLAAC = netip.MustParseAddr("2001:db8:1::ff:fe00:2")
	allRtrsMAC = ethernet.MAC{0x33, 0x33, 0, 0, 0, 2}
	mldMAC     = ethernet.MAC{0x33, 0x33, 0, 0, 0, 0x16}
	snPeerMAC  = ethernet.MAC{0x33, 0x33, 0xff, 0, 0, 1} // ff02::1:ff00:1
)

// env6 is a started stack with the random draws pinned; dad sets
// DupAddrDetectTransmits to its default, else DAD is off.
func env6(t *testing.T, dad bool, mutate ...func(*stack.Config, *nic.PipeConfig)) *env {
	t.Helper()
	mutate = append(mutate, func(c *stack.Config, _ *nic.PipeConfig) {
		if dad {
			c.DupAddrDetectTransmits = 0
		}
	})
	e := newEnv(t, mutate...)
	e.st.PinRandom6Test(0.5)
	e.st.Start()
	e.drain() // the gratuitous ARP
	return e
}

// envND is env6 without DAD, once the start-up's MLD reports and router
// solicitations are over.
func envND(t *testing.T) *env {
	t.Helper()
	e := env6(t, false)
	e.clk.Advance(10 * time.Second)
	e.drain()
	return e
}

// withAddr6 configures the static IPv6 address stackSA.
func withAddr6(c *stack.Config, _ *nic.PipeConfig) { c.Addr6 = stackSA }

// nd builds the IPv6 frame of an ND message from the peer (hop limit 255).
func nd(dst ethernet.MAC, src, to netip.Addr, m []byte) []byte {
	return ip6Frame(dst, ipv6.Fields{Src: src, Dst: to, HopLimit: 255}, m)
}

// na builds a neighbour advertisement for target with the S and O flags
// and a target link-layer address option unless tlla is zero.
func na(target netip.Addr, tlla ethernet.MAC, solicited, override, router bool, src, dst netip.Addr) []byte {
	var opts []byte
	if !tlla.IsZero() {
		opts = make([]byte, 8)
		ipv6.PutLinkAddrOption(opts, ipv6.OptTargetLinkAddr, tlla)
	}
	b := make([]byte, ipv6.NALen+len(opts))
	ipv6.EncodeNA(b, router, solicited, override, target, opts, src, dst)
	return b
}

// ra builds a router advertisement from rtrLL with a source link-layer
// address option, then opts.
func ra(f ipv6.RAFields, opts ...[]byte) []byte {
	all := make([]byte, 8)
	ipv6.PutLinkAddrOption(all, ipv6.OptSourceLinkAddr, peerMAC)
	for _, o := range opts {
		all = append(all, o...)
	}
	b := make([]byte, ipv6.RALen+len(all))
	ipv6.EncodeRA(b, f, all, rtrLL, allNodes6)
	return b
}

var allNodes6 = netip.MustParseAddr("ff02::1")

func prefixOpt(p netip.Prefix, onLink, auto bool, valid, preferred uint32) []byte {
	b := make([]byte, 32)
	ipv6.PutPrefixInfoOption(b, ipv6.PrefixInfo{Prefix: p, OnLink: onLink, Autonomous: auto, ValidLifetime: valid, PreferredLifetime: preferred})
	return b
}

func mtuOpt(mtu uint32) []byte {
	b := make([]byte, 8)
	ipv6.PutMTUOption(b, mtu)
	return b
}

// echoPkt is an IPv6 echo request from src to dst, for Output6Test.
func echoPkt(src, dst netip.Addr, seq uint16) []byte {
	m := echo6(src, dst, 9, seq, []byte("queued"))
	b := make([]byte, ipv6.HeaderLen+len(m))
	ipv6.Encode(b, ipv6.Fields{PayloadLen: len(m), NextHeader: ipv6.ProtoICMPv6, HopLimit: 64, Src: src, Dst: dst})
	copy(b[ipv6.HeaderLen:], m)
	return b
}

// sent6 is one IPv6 frame the stack sent, its ICMPv6 message found past
// any hop-by-hop header.
type sent6 struct {
	eth ethernet.Header
	h   ipv6.Header
	m   ipv6.ICMP
	hbh bool // a hop-by-hop header came first
}

// all6 returns every frame sent so far, failing on any that is not a
// well-formed ICMPv6 packet from us.
func (e *env) all6() []sent6 {
	e.t.Helper()
	var out []sent6
	for {
		f, ok := e.peer.TryRead()
		if !ok {
			return out
		}
		eth, err := ethernet.Parse(f)
		if err != nil || eth.Type() != ethernet.TypeIPv6 || eth.Src() != stackMAC {
			e.t.Fatalf("sent a frame that is not IPv6 from us: % x", f)
		}
		h, err := ipv6.Parse(eth.Payload())
		if err != nil {
			e.t.Fatal(err)
		}
		it := h.Exts()
		hbh := false
		for {
			x, ok, err := it.Next()
			if err != nil {
				e.t.Fatalf("extension walk: %v", err)
			}
			if !ok {
				break
			}
			hbh = hbh || x.Proto == ipv6.ProtoHopByHop
		}
		next, off, _ := it.Upper()
		if next != ipv6.ProtoICMPv6 {
			e.t.Fatalf("sent next header %d, want ICMPv6", next)
		}
		m, err := ipv6.ParseICMP(h[off:], h.Src(), h.Dst())
		if err != nil {
			e.t.Fatalf("sent a bad ICMPv6 message: %v", err)
		}
		out = append(out, sent6{eth, h, m, hbh})
	}
}

// one6 returns the one frame sent so far, of ICMPv6 type typ.
func (e *env) one6(typ uint8) sent6 {
	e.t.Helper()
	all := e.all6()
	if len(all) != 1 || all[0].m.Type() != typ {
		types := []uint8{}
		for _, s := range all {
			types = append(types, s.m.Type())
		}
		e.t.Fatalf("sent ICMPv6 types %v, want one %d", types, typ)
	}
	return all[0]
}

// checkNS checks a neighbour solicitation for target from src to dst
// (Ethernet ethDst), with our link-layer address unless src is ::.
func checkNS(t *testing.T, s sent6, target, src, dst netip.Addr, ethDst ethernet.MAC) {
	t.Helper()
	if s.m.Type() != ipv6.TypeNeighborSolicit || s.m.Target() != target || s.h.Src() != src || s.h.Dst() != dst || s.eth.Dst() != ethDst {
		t.Fatalf("NS for %v %v -> %v (MAC %v), want for %v %v -> %v (MAC %v)", s.m.Target(), s.h.Src(), s.h.Dst(), s.eth.Dst(), target, src, dst, ethDst)
	}
	if err := ipv6.ValidateNS(s.h.HopLimit(), s.h.Src(), s.h.Dst(), s.m); err != nil {
		t.Fatalf("our NS fails §7.1.1: %v", err)
	}
	// With a source, its link-layer address (§7.2.2); from :: (DAD), a
	// nonce only (RFC 7527 §4.1).
	it := ipv6.Options(s.m.NDPOptions())
	o, ok := it.Next()
	_, more := it.Next()
	switch {
	case !ok || more:
		t.Fatalf("NS options % x from %v, want one", s.m.NDPOptions(), src)
	case src.IsUnspecified() && (o.Type() != ipv6.OptNonce || len(o.Nonce()) != ipv6.NonceLen):
		t.Fatalf("DAD NS options % x, want a 6-octet nonce", s.m.NDPOptions())
	case !src.IsUnspecified() && (o.Type() != ipv6.OptSourceLinkAddr || ethernet.MAC(o.LinkAddr()) != stackMAC):
		t.Fatalf("NS options % x from %v", s.m.NDPOptions(), src)
	}
}

func state(t *testing.T, e *env, ip netip.Addr) stack.NDState {
	t.Helper()
	n, ok := e.st.Neighbour6StateTest(ip)
	if !ok {
		t.Fatalf("no neighbour entry for %v", ip)
	}
	return n.State
}

// wantEntry checks ip's entry is in state with mac.
func wantEntry(t *testing.T, e *env, ip netip.Addr, state stack.NDState, mac ethernet.MAC) {
	t.Helper()
	if n, _ := e.st.Neighbour6StateTest(ip); n.State != state || n.MAC != mac {
		t.Fatalf("%v: %v %v, want %v %v", ip, n.State, n.MAC, state, mac)
	}
}

func wantState(t *testing.T, e *env, ip netip.Addr, want stack.NDState) {
	t.Helper()
	if got := state(t, e, ip); got != want {
		t.Fatalf("%v is %v, want %v", ip, got, want)
	}
}

// RFC 4861 §7.2.2: a packet to an unknown on-link neighbour creates an
// INCOMPLETE entry, is queued, and one multicast solicitation goes to the
// target's solicited-node group; packets that follow queue behind it
// without a second solicitation; a solicited advertisement resolves the
// entry (REACHABLE, §7.2.5) and releases the queue in order.
func TestND6_Resolution_QueuesThenSendsOnAdvert(t *testing.T) {
	e := envND(t)
	for seq := range uint16(3) {
		if err := e.st.Output6Test(echoPkt(stackLL, peerLL, seq)); err != nil {
			t.Fatalf("packet %d: %v", seq, err)
		}
	}
	checkNS(t, e.one6(ipv6.TypeNeighborSolicit), peerLL, stackLL, netip.MustParseAddr("ff02::1:ff00:1"), snPeerMAC)
	wantState(t, e, peerLL, stack.NDIncomplete)
	if n, _ := e.st.Neighbour6StateTest(peerLL); n.Pending != 3 {
		t.Fatalf("%d packets queued, want 3", n.Pending)
	}
	e.inject(nd(stackMAC, peerLL, stackLL, na(peerLL, peerMAC2, true, true, false, peerLL, stackLL)))
	wantState(t, e, peerLL, stack.NDReachable)
	out := e.all6()
	if len(out) != 3 {
		t.Fatalf("released %d packets, want 3", len(out))
	}
	for i, s := range out {
		if s.eth.Dst() != peerMAC2 || s.m.Type() != ipv6.TypeEchoRequest || s.m.Seq() != uint16(i) {
			t.Errorf("released packet %d: type %d seq %d to %v; want echo seq %d to %v", i, s.m.Type(), s.m.Seq(), s.eth.Dst(), i, peerMAC2)
		}
	}
	// Resolved: the next packet goes straight out.
	if err := e.st.Output6Test(echoPkt(stackLL, peerLL, 7)); err != nil {
		t.Fatal(err)
	}
	if s := e.one6(ipv6.TypeEchoRequest); s.eth.Dst() != peerMAC2 {
		t.Errorf("sent to %v, want %v", s.eth.Dst(), peerMAC2)
	}
}

// §7.2.2: MAX_MULTICAST_SOLICIT (3) solicitations RetransTimer (1 s) apart;
// then the entry goes and its packets are counted as failed. The queue
// holds 16; a 17th pushes the oldest out, counted.
func TestND6_Incomplete_ThreeSolicitsThenFails(t *testing.T) {
	e := envND(t)
	for seq := range uint16(17) {
		if err := e.st.Output6Test(echoPkt(stackLL, peerLL, seq)); err != nil {
			t.Fatal(err)
		}
	}
	e.one6(ipv6.TypeNeighborSolicit)
	if st := e.st.Stats().ND6; st.QueueDrops != 1 {
		t.Fatalf("queue_drops %d, want 1", st.QueueDrops)
	}
	for i := range 2 {
		e.clk.Advance(time.Second)
		checkNS(t, e.one6(ipv6.TypeNeighborSolicit), peerLL, stackLL, netip.MustParseAddr("ff02::1:ff00:1"), snPeerMAC)
		_ = i
	}
	e.clk.Advance(999 * time.Millisecond)
	wantState(t, e, peerLL, stack.NDIncomplete)
	e.clk.Advance(time.Millisecond)
	if len(e.all6()) != 0 {
		t.Fatal("a fourth solicitation")
	}
	if _, ok := e.st.Neighbour6StateTest(peerLL); ok {
		t.Fatal("the entry outlived MAX_MULTICAST_SOLICIT")
	}
	if st := e.st.Stats(); st.ND6.ResolutionFailed != 16 || st.ND6.OutNeighborSolicits != 3 {
		t.Errorf("resolution_failed %d, solicits %d; want 16, 3", st.ND6.ResolutionFailed, st.ND6.OutNeighborSolicits)
	}
}

// resolved makes peerLL REACHABLE at peerMAC and drains what it sent.
func resolved(t *testing.T, e *env) {
	t.Helper()
	if err := e.st.Output6Test(echoPkt(stackLL, peerLL, 0)); err != nil {
		t.Fatal(err)
	}
	e.inject(nd(stackMAC, peerLL, stackLL, na(peerLL, peerMAC, true, true, false, peerLL, stackLL)))
	e.drain()
	wantState(t, e, peerLL, stack.NDReachable)
}

// §7.3.3 NUD: REACHABLE for ReachableTime, then STALE; a packet sent while
// STALE goes out at once and moves the entry to DELAY; after
// DELAY_FIRST_PROBE_TIME (5 s) without confirmation it is PROBE, with a
// unicast solicitation to the cached address every RetransTimer; a
// solicited advertisement makes it REACHABLE again. Three probes
// unanswered remove it.
func TestND6_NUD_ReachableStaleDelayProbe(t *testing.T) {
	e := envND(t)
	resolved(t, e)
	e.clk.Advance(30*time.Second - time.Millisecond)
	wantState(t, e, peerLL, stack.NDReachable)
	e.clk.Advance(time.Millisecond)
	wantState(t, e, peerLL, stack.NDStale)
	if len(e.all6()) != 0 {
		t.Fatal("going STALE sent something")
	}
	if err := e.st.Output6Test(echoPkt(stackLL, peerLL, 1)); err != nil {
		t.Fatal(err)
	}
	if s := e.one6(ipv6.TypeEchoRequest); s.eth.Dst() != peerMAC {
		t.Fatalf("a STALE entry's packet went to %v", s.eth.Dst())
	}
	wantState(t, e, peerLL, stack.NDDelay)
	e.clk.Advance(5*time.Second - time.Millisecond)
	wantState(t, e, peerLL, stack.NDDelay)
	e.clk.Advance(time.Millisecond)
	wantState(t, e, peerLL, stack.NDProbe)
	checkNS(t, e.one6(ipv6.TypeNeighborSolicit), peerLL, stackLL, peerLL, peerMAC)

	t.Run("answered", func(t *testing.T) {
		e.inject(nd(stackMAC, peerLL, stackLL, na(peerLL, ethernet.MAC{}, true, false, false, peerLL, stackLL)))
		wantState(t, e, peerLL, stack.NDReachable)
	})
	t.Run("unanswered", func(t *testing.T) {
		e := envND(t)
		resolved(t, e)
		e.clk.Advance(30 * time.Second)
		e.st.Output6Test(echoPkt(stackLL, peerLL, 1))
		e.clk.Advance(5 * time.Second)
		e.drain()
		for range 2 {
			e.clk.Advance(time.Second)
			checkNS(t, e.one6(ipv6.TypeNeighborSolicit), peerLL, stackLL, peerLL, peerMAC)
		}
		e.clk.Advance(time.Second)
		if _, ok := e.st.Neighbour6StateTest(peerLL); ok || len(e.all6()) != 0 {
			t.Fatal("the entry outlived MAX_UNICAST_SOLICIT, or a fourth probe went")
		}
	})
	t.Run("confirmed by the upper layer in DELAY", func(t *testing.T) {
		e := envND(t)
		resolved(t, e)
		e.clk.Advance(30 * time.Second)
		e.st.Output6Test(echoPkt(stackLL, peerLL, 1))
		wantState(t, e, peerLL, stack.NDDelay)
		e.st.ConfirmNeighbour6Test(peerLL)
		wantState(t, e, peerLL, stack.NDReachable)
		e.clk.Advance(5 * time.Second)
		e.drain()
		wantState(t, e, peerLL, stack.NDReachable)
	})
	// A confirmation while REACHABLE restarts ReachableTime (30 s here)
	// from then, without timer work of its own.
	t.Run("confirmed while reachable", func(t *testing.T) {
		e := envND(t)
		resolved(t, e)
		e.clk.Advance(20 * time.Second)
		e.st.ConfirmNeighbour6Test(peerLL)
		e.clk.Advance(20 * time.Second) // 40 s after resolution, 20 after the confirmation
		wantState(t, e, peerLL, stack.NDReachable)
		e.clk.Advance(10 * time.Second) // 30 s after the confirmation
		wantState(t, e, peerLL, stack.NDStale)
	})
}

// §7.2.5 and §7.2.3: the updates advertisements and solicitations make.
func TestND6_Updates_FromAdvertsAndSolicitations(t *testing.T) {
	t.Run("NS with a source link-layer option creates STALE", func(t *testing.T) {
		e := envND(t)
		e.inject(nd(stackMAC, peerLL, stackLL, ns(stackLL, peerMAC2, peerLL, stackLL)))
		if s := e.one6(ipv6.TypeNeighborAdvert); s.eth.Dst() != peerMAC2 {
			t.Fatalf("advert to %v", s.eth.Dst())
		}
		wantState(t, e, peerLL, stack.NDStale)
		// A different address in a later solicitation: STALE with it.
		resolved(t, e)
		e.inject(nd(stackMAC, peerLL, stackLL, ns(stackLL, peerMAC2, peerLL, stackLL)))
		e.drain()
		wantEntry(t, e, peerLL, stack.NDStale, peerMAC2)
	})
	t.Run("O clear, another address: REACHABLE goes STALE, address kept", func(t *testing.T) {
		e := envND(t)
		resolved(t, e)
		e.inject(nd(stackMAC, peerLL, stackLL, na(peerLL, peerMAC2, true, false, false, peerLL, stackLL)))
		wantEntry(t, e, peerLL, stack.NDStale, peerMAC)
	})
	t.Run("unsolicited, O set, another address: STALE with it", func(t *testing.T) {
		e := envND(t)
		resolved(t, e)
		e.inject(nd(allNodesMAC, peerLL, allNodes6, na(peerLL, peerMAC2, false, true, false, peerLL, allNodes6)))
		wantEntry(t, e, peerLL, stack.NDStale, peerMAC2)
	})
	t.Run("unsolicited for an unknown target: ignored", func(t *testing.T) {
		e := envND(t)
		f := nd(allNodesMAC, peerLL, allNodes6, na(peerLL, peerMAC2, false, true, false, peerLL, allNodes6))
		e.inject(f)
		if _, ok := e.st.Neighbour6StateTest(peerLL); ok {
			t.Fatal("an unsolicited advertisement created an entry")
		}
		if st := e.st.Stats().ND6; st.NAIgnored != 1 || st.InNeighborAdverts != 1 {
			t.Fatalf("na_ignored %d, in adverts %d", st.NAIgnored, st.InNeighborAdverts)
		}
	})
	t.Run("INCOMPLETE, no target option: ignored", func(t *testing.T) {
		e := envND(t)
		e.st.Output6Test(echoPkt(stackLL, peerLL, 0))
		e.inject(nd(stackMAC, peerLL, stackLL, na(peerLL, ethernet.MAC{}, true, true, false, peerLL, stackLL)))
		wantState(t, e, peerLL, stack.NDIncomplete)
	})
	t.Run("unsolicited advert resolves INCOMPLETE as STALE", func(t *testing.T) {
		e := envND(t)
		e.st.Output6Test(echoPkt(stackLL, peerLL, 0))
		e.drain()
		e.inject(nd(allNodesMAC, peerLL, allNodes6, na(peerLL, peerMAC, false, true, false, peerLL, allNodes6)))
		wantState(t, e, peerLL, stack.NDStale)
		if s := e.one6(ipv6.TypeEchoRequest); s.eth.Dst() != peerMAC {
			t.Fatal("queued packet not released")
		}
	})
}

// RFC 4862 §5.4: a configured address is TENTATIVE, accepts nothing but
// DAD traffic, and is not a source; its group is joined (an MLD report)
// and one solicitation from :: to its solicited-node group goes after a
// random delay; RetransTimer later with no answer it is preferred.
func TestAddr6_DAD_Succeeds(t *testing.T) {
	e := env6(t, true, withAddr6)
	for _, a := range e.st.Addrs6() {
		if a.State != stack.AddrTentative {
			t.Fatalf("%v is %v at start, want tentative", a.Prefix, a.State)
		}
	}
	echo := ip6Frame(stackMAC, ipv6.Fields{Dst: stackSA.Addr()}, echo6(peerLL, stackSA.Addr(), 1, 1, nil))
	e.inject(echo)
	if st := e.st.Stats().IPv6; st.InAddrErrors != 1 {
		t.Fatalf("echo to a tentative address: in_addr_errors %d", st.InAddrErrors)
	}
	if src := e.st.Source6Test(peerSA); src.IsValid() {
		t.Fatalf("source %v while every address is tentative", src)
	}
	if len(e.all6()) != 0 {
		t.Fatal("sent before the random delay")
	}
	e.clk.Advance(500 * time.Millisecond) // the pinned delay, half of MAX_RTR_SOLICITATION_DELAY
	var ns []sent6
	reports := 0
	for _, s := range e.all6() {
		switch s.m.Type() {
		case ipv6.TypeMLDv2Report:
			reports++
		case ipv6.TypeNeighborSolicit:
			ns = append(ns, s)
		default:
			t.Fatalf("sent type %d", s.m.Type())
		}
	}
	if len(ns) != 2 || reports != 2 {
		t.Fatalf("%d solicitations, %d reports; want 2, 2", len(ns), reports)
	}
	unspec := netip.IPv6Unspecified()
	checkNS(t, ns[0], stackLL, unspec, netip.MustParseAddr("ff02::1:ff00:2"), stackSNMAC)
	checkNS(t, ns[1], stackSA.Addr(), unspec, netip.MustParseAddr("ff02::1:ff01:5"), ethernet.MAC{0x33, 0x33, 0xff, 0x01, 0, 5})
	e.clk.Advance(time.Second - time.Millisecond)
	if a := e.st.Addrs6(); a[1].State != stack.AddrTentative {
		t.Fatalf("preferred before RetransTimer: %v", a[1].State)
	}
	e.clk.Advance(time.Millisecond)
	for _, a := range e.st.Addrs6() {
		if a.State != stack.AddrPreferred {
			t.Fatalf("%v is %v after DAD, want preferred", a.Prefix, a.State)
		}
	}
	if st := e.st.Stats().ND6; st.DADSucceeded != 2 || st.DADDuplicates != 0 {
		t.Fatalf("dad_succeeded %d, duplicates %d", st.DADSucceeded, st.DADDuplicates)
	}
	e.drain()
	e.learnPeer6() // the reply goes through neighbour discovery
	e.inject(echo)
	if s := e.one6(ipv6.TypeEchoReply); s.h.Src() != stackSA.Addr() {
		t.Fatalf("echo reply from %v", s.h.Src())
	}
}

// RFC 4862 §5.4.3-§5.4.5: an advertisement for a tentative address, or a
// solicitation for it from :: (another node's DAD), makes it a duplicate:
// never used, counted. A unicast solicitation for it is ignored.
func TestAddr6_DAD_DuplicateDetected(t *testing.T) {
	sa, sn := stackSA.Addr(), netip.MustParseAddr("ff02::1:ff01:5")
	snMAC := ethernet.MAC{0x33, 0x33, 0xff, 0x01, 0, 5}
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"advertisement", nd(allNodesMAC, peerLL, allNodes6, na(sa, peerMAC, false, true, false, peerLL, allNodes6))},
		{"solicitation from ::", nd(snMAC, netip.IPv6Unspecified(), sn, ns(sa, ethernet.MAC{}, netip.IPv6Unspecified(), sn))},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := env6(t, true, withAddr6)
			e.clk.Advance(500 * time.Millisecond)
			e.drain()
			e.inject(c.frame)
			e.clk.Advance(2 * time.Second)
			a := e.st.Addrs6()
			if a[0].State != stack.AddrPreferred || a[1].State != stack.AddrDuplicate {
				t.Fatalf("states %v %v, want preferred duplicate", a[0].State, a[1].State)
			}
			if st := e.st.Stats().ND6; st.DADDuplicates != 1 || st.DADSucceeded != 1 {
				t.Fatalf("dad_duplicates %d, succeeded %d; want 1, 1", st.DADDuplicates, st.DADSucceeded)
			}
			if src := e.st.Source6Test(peerSA); src != stackLL {
				t.Fatalf("source for %v: %v, want the link-local %v", peerSA, src, stackLL)
			}
			e.drain()
			e.inject(ip6Frame(stackMAC, ipv6.Fields{Dst: sa}, echo6(peerLL, sa, 1, 1, nil)))
			notForUs := e.st.Stats().Link.NotForUs
			// Its group is left: the frame stops at the link.
			e.inject(nd(snMAC, peerLL, sn, ns(sa, peerMAC, peerLL, sn)))
			if out := e.all6(); len(out) != 0 {
				t.Fatalf("a duplicate address answered %d packets", len(out))
			}
			if d := e.st.Stats().Link.NotForUs - notForUs; d != 1 {
				t.Fatalf("a frame to the duplicate's group: not_for_us %+d, want 1", d)
			}
		})
	}
	// RFC 7527 §4.2: our own solicitation seen again (a link that loops
	// multicast back) carries our nonce: not a duplicate; the same one
	// with another nonce is.
	for _, own := range []bool{true, false} {
		t.Run(fmt.Sprintf("our own solicitation looped back %v", own), func(t *testing.T) {
			e := env6(t, true, withAddr6)
			e.clk.Advance(500 * time.Millisecond)
			var frame []byte
			for _, s := range e.all6() {
				if s.m.Type() == ipv6.TypeNeighborSolicit && s.m.Target() == sa {
					frame = append(ethernet.Header(nil), s.eth...)
				}
			}
			if frame == nil {
				t.Fatal("no DAD solicitation")
			}
			if !own {
				frame[len(frame)-1] ^= 1 // the nonce's last octet
				m := ipv6.ICMP(frame[ethernet.HeaderLen+ipv6.HeaderLen:])
				m.SetChecksum(netip.IPv6Unspecified(), sn)
			}
			e.inject(frame)
			e.clk.Advance(2 * time.Second)
			want, dups, looped := stack.AddrPreferred, uint64(0), uint64(1)
			if !own {
				want, dups, looped = stack.AddrDuplicate, 1, 0
			}
			st := e.st.Stats().ND6
			if a := e.st.Addrs6(); a[1].State != want || st.DADDuplicates != dups || st.DADLoopedBack != looped {
				t.Fatalf("%v is %v, duplicates %d, looped back %d; want %v, %d, %d", sa, a[1].State, st.DADDuplicates, st.DADLoopedBack, want, dups, looped)
			}
		})
	}
	t.Run("unicast solicitation while tentative: ignored", func(t *testing.T) {
		e := env6(t, true, withAddr6)
		e.clk.Advance(500 * time.Millisecond)
		e.drain()
		e.inject(nd(snMAC, peerLL, sn, ns(sa, peerMAC, peerLL, sn)))
		if len(e.all6()) != 0 {
			t.Fatal("answered a solicitation for a tentative address")
		}
		e.clk.Advance(time.Second)
		if a := e.st.Addrs6(); a[1].State != stack.AddrPreferred {
			t.Fatalf("%v, want preferred", a[1].State)
		}
	})
}

// RFC 4861 §6.3.7: router solicitations to all-routers from the link-local
// address, with our link-layer address, the first after a random delay,
// MAX_RTR_SOLICITATIONS (3) RTR_SOLICITATION_INTERVAL (4 s) apart; a valid
// advertisement stops them. With DAD on they wait for the link-local
// address.
func TestRA6_RouterSolicitation_AtStart(t *testing.T) {
	checkRS := func(t *testing.T, s sent6) {
		t.Helper()
		if s.h.Src() != stackLL || s.h.Dst() != netip.MustParseAddr("ff02::2") || s.eth.Dst() != allRtrsMAC || s.h.HopLimit() != 255 {
			t.Fatalf("RS %v -> %v (MAC %v) hop limit %d", s.h.Src(), s.h.Dst(), s.eth.Dst(), s.h.HopLimit())
		}
		if err := ipv6.ValidateRS(s.h.HopLimit(), s.h.Src(), s.m); err != nil {
			t.Fatal(err)
		}
		it := ipv6.Options(s.m.NDPOptions())
		if o, ok := it.Next(); !ok || o.Type() != ipv6.OptSourceLinkAddr || ethernet.MAC(o.LinkAddr()) != stackMAC {
			t.Fatalf("RS options % x", s.m.NDPOptions())
		}
	}
	rsOf := func(out []sent6) []sent6 {
		var rs []sent6
		for _, s := range out {
			if s.m.Type() == ipv6.TypeRouterSolicit {
				rs = append(rs, s)
			}
		}
		return rs
	}
	e := env6(t, false)
	e.clk.Advance(500*time.Millisecond - time.Millisecond)
	if rs := rsOf(e.all6()); len(rs) != 0 {
		t.Fatal("RS before the random delay")
	}
	e.clk.Advance(time.Millisecond)
	for i := range 3 {
		rs := rsOf(e.all6())
		if len(rs) != 1 {
			t.Fatalf("solicitation %d: %d sent", i+1, len(rs))
		}
		checkRS(t, rs[0])
		e.clk.Advance(4*time.Second - time.Millisecond)
		if rs := rsOf(e.all6()); len(rs) != 0 {
			t.Fatalf("solicitation %d came before RTR_SOLICITATION_INTERVAL", i+2)
		}
		e.clk.Advance(time.Millisecond)
	}
	e.clk.Advance(time.Minute)
	if rs := rsOf(e.all6()); len(rs) != 0 {
		t.Fatal("a fourth RS")
	}
	t.Run("stopped by an advertisement", func(t *testing.T) {
		e := env6(t, false)
		e.clk.Advance(500 * time.Millisecond)
		e.drain()
		e.inject(nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{RouterLifetime: 1800})))
		e.clk.Advance(time.Minute)
		if rs := rsOf(e.all6()); len(rs) != 0 {
			t.Fatal("RS after an RA")
		}
	})
	t.Run("after the link-local address's DAD", func(t *testing.T) {
		e := env6(t, true)
		e.clk.Advance(1500*time.Millisecond - time.Millisecond) // DAD at 0.5 s, done at 1.5 s
		if rs := rsOf(e.all6()); len(rs) != 0 {
			t.Fatal("RS while the link-local address is tentative")
		}
		e.clk.Advance(500*time.Millisecond + time.Millisecond)
		if rs := rsOf(e.all6()); len(rs) != 1 {
			t.Fatalf("%d RS after DAD", len(rs))
		}
	})
}

// RFC 4861 §6.3.4, RFC 4862 §5.5.3: an advertisement gives the default
// router (its lifetime), the on-link prefix, a SLAAC address from the
// autonomous prefix, the link MTU and the hop limit; lifetimes expire.
func TestRA6_Advertisement_RouterPrefixSLAACMTU(t *testing.T) {
	e := env6(t, true)
	e.clk.Advance(2 * time.Second) // the link-local address preferred
	e.drain()
	e.inject(nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{CurHopLimit: 48, RouterLifetime: 1800},
		mtuOpt(1400), prefixOpt(pfx, true, true, 3600, 1800))))
	if st := e.st.Stats().ND6; st.InRouterAdverts != 1 || st.InBadRA != 0 || st.RAOptionsIgnored != 0 {
		t.Fatalf("in RAs %d, bad %d, ignored options %d", st.InRouterAdverts, st.InBadRA, st.RAOptionsIgnored)
	}
	if r := e.st.Routers6(); len(r) != 1 || r[0].Addr != rtrLL {
		t.Fatalf("routers %v", r)
	}
	if p := e.st.OnLinkPrefixes6(); len(p) != 1 || p[0] != pfx {
		t.Fatalf("on-link prefixes %v", p)
	}
	if e.st.MTU6() != 1400 || e.st.HopLimit6() != 48 {
		t.Fatalf("MTU6 %d, hop limit %d; want 1400, 48", e.st.MTU6(), e.st.HopLimit6())
	}
	if n, _ := e.st.Neighbour6StateTest(rtrLL); n.State != stack.NDStale || n.MAC != peerMAC || !n.IsRouter {
		t.Fatalf("router entry %+v, want STALE router at %v", n, peerMAC)
	}
	a := e.st.Addrs6()
	if len(a) != 2 || a[1].Prefix != netip.PrefixFrom(stackSLAAC, 64) || a[1].Origin != stack.OriginSLAAC || a[1].State != stack.AddrTentative {
		t.Fatalf("addresses %+v, want %v/64 from SLAAC, tentative", a, stackSLAAC)
	}
	e.clk.Advance(1500 * time.Millisecond)
	if a := e.st.Addrs6(); a[1].State != stack.AddrPreferred {
		t.Fatalf("SLAAC address %v after DAD", a[1].State)
	}
	e.drain()
	// Off-link: through the default router's cached address.
	far := netip.MustParseAddr("2001:db8:99::1")
	if src := e.st.Source6Test(far); src != stackSLAAC {
		t.Fatalf("source for %v: %v", far, src)
	}
	if err := e.st.Output6Test(echoPkt(stackSLAAC, far, 1)); err != nil {
		t.Fatal(err)
	}
	if s := e.one6(ipv6.TypeEchoRequest); s.eth.Dst() != peerMAC || s.h.Dst() != far {
		t.Fatalf("off-link packet to %v via %v", s.h.Dst(), s.eth.Dst())
	}
	// On-link by the prefix: resolved itself, not through the router.
	if err := e.st.Output6Test(echoPkt(stackSLAAC, netip.MustParseAddr("2001:db8:1::7"), 1)); err != nil {
		t.Fatal(err)
	}
	checkNS(t, e.one6(ipv6.TypeNeighborSolicit), netip.MustParseAddr("2001:db8:1::7"), stackSLAAC, netip.MustParseAddr("ff02::1:ff00:7"), ethernet.MAC{0x33, 0x33, 0xff, 0, 0, 7})

	// Preferred lifetime over (1800 s from the RA): deprecated; router
	// lifetime over: no default router.
	e.clk.Advance(1800 * time.Second)
	if a := e.st.Addrs6(); a[1].State != stack.AddrDeprecated {
		t.Fatalf("SLAAC address %v after its preferred lifetime", a[1].State)
	}
	if r := e.st.Routers6(); len(r) != 0 {
		t.Fatalf("routers %v after their lifetime", r)
	}
	if err := e.st.Output6Test(echoPkt(stackSLAAC, far, 2)); !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("off-link with no router: %v, want ENETUNREACH", err)
	}
	// Valid lifetime over: address and prefix gone.
	e.clk.Advance(1800 * time.Second)
	if a := e.st.Addrs6(); len(a) != 1 {
		t.Fatalf("addresses %+v after the valid lifetime", a)
	}
	if p := e.st.OnLinkPrefixes6(); len(p) != 0 {
		t.Fatalf("prefixes %v after the valid lifetime", p)
	}
}

// RFC 4862 §5.5.3 (e): the valid lifetime of a SLAAC address is raised at
// will, lowered to what an advertisement says only above two hours, else
// to two hours, and not at all when two hours or less remain.
func TestRA6_TwoHourRule(t *testing.T) {
	e := env6(t, false)
	send := func(valid uint32) time.Duration {
		e.inject(nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{}, prefixOpt(pfx, false, true, valid, 0))))
		a := e.st.Addrs6()
		if len(a) != 2 {
			t.Fatalf("addresses %+v", a)
		}
		return a[1].ValidUntil.Sub(e.clk.Now())
	}
	if got := send(86400); got != 24*time.Hour {
		t.Fatalf("new: %v", got)
	}
	if got := send(60); got != 2*time.Hour {
		t.Fatalf("lowered to 60 s with a day left: %v, want 2h", got)
	}
	if got := send(3 * 3600); got != 3*time.Hour {
		t.Fatalf("raised to 3 h: %v", got)
	}
	if got := send(10000); got != 10000*time.Second {
		t.Fatalf("lowered to 10000 s (above two hours): %v", got)
	}
	e.clk.Advance(10000*time.Second - time.Hour)
	if got := send(60); got != time.Hour {
		t.Fatalf("lowered to 60 s with an hour left: %v, want it kept", got)
	}
}

// §6.1.2 validation and the options not acted on.
func TestRA6_Invalid_DroppedOrIgnored(t *testing.T) {
	for _, c := range []struct {
		name    string
		frame   []byte
		counter func(stack.ND6Stats) uint64
	}{
		{"hop limit 64", ip6Frame(allNodesMAC, ipv6.Fields{Src: rtrLL, Dst: allNodes6, HopLimit: 64}, ra(ipv6.RAFields{RouterLifetime: 1800})),
			func(s stack.ND6Stats) uint64 { return s.InBadRA }},
		{"global source", func() []byte {
			src := netip.MustParseAddr("2001:db8::1")
			m := make([]byte, ipv6.RALen)
			ipv6.EncodeRA(m, ipv6.RAFields{RouterLifetime: 1800}, nil, src, allNodes6)
			return nd(allNodesMAC, src, allNodes6, m)
		}(), func(s stack.ND6Stats) uint64 { return s.InBadRA }},
		{"MTU below 1280", nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{}, mtuOpt(1000))),
			func(s stack.ND6Stats) uint64 { return s.RAOptionsIgnored }},
		{"MTU above the link's", nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{}, mtuOpt(9000))),
			func(s stack.ND6Stats) uint64 { return s.RAOptionsIgnored }},
		{"link-local prefix", nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{}, prefixOpt(netip.MustParsePrefix("fe80::/64"), true, true, 3600, 1800))),
			func(s stack.ND6Stats) uint64 { return s.RAOptionsIgnored }},
		{"preferred above valid", nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{}, prefixOpt(pfx, false, true, 60, 120))),
			func(s stack.ND6Stats) uint64 { return s.RAOptionsIgnored }},
		{"prefix not /64", nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{}, prefixOpt(netip.MustParsePrefix("2001:db8::/48"), false, true, 60, 60))),
			func(s stack.ND6Stats) uint64 { return s.RAOptionsIgnored }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := env6(t, false)
			e.inject(c.frame)
			if got := c.counter(e.st.Stats().ND6); got != 1 {
				t.Fatalf("counter %d, want 1", got)
			}
			if len(e.st.Routers6()) != 0 || len(e.st.Addrs6()) != 1 || e.st.MTU6() != 1500 {
				t.Fatalf("acted on: routers %v, addresses %v, MTU %d", e.st.Routers6(), e.st.Addrs6(), e.st.MTU6())
			}
		})
	}
}

// A redirect for a destination without a current first hop (no default
// router) fails RFC 4861 §8.1: dropped and counted.
func TestRA6_Redirect_DroppedCounted(t *testing.T) {
	e := env6(t, false)
	m := make([]byte, ipv6.RedirectLen)
	ipv6.EncodeRedirect(m, netip.MustParseAddr("fe80::9"), netip.MustParseAddr("2001:db8:99::1"), nil, rtrLL, stackLL)
	before := e.st.Stats().Drops()
	e.inject(nd(stackMAC, rtrLL, stackLL, m))
	if st := e.st.Stats(); st.ND6.RedirectsIgnored != 1 || st.ND6.InRedirects != 1 || st.Drops()-before != 1 {
		t.Fatalf("redirects ignored %d, in %d, drops %+d", st.ND6.RedirectsIgnored, st.ND6.InRedirects, st.Drops()-before)
	}
}

// RFC 3810 §6.1: on joining a solicited-node group a host sends a report
// (CHANGE_TO_EXCLUDE, no sources) to ff02::16 with hop limit 1 and a router
// alert, and [Robustness Variable] - 1 = 1 more within the Unsolicited
// Report Interval; all-nodes is never reported (§6). §6.2: a general query
// is answered within its Maximum Response Delay with every group.
func TestMLD6_Reports_OnJoinAndQuery(t *testing.T) {
	e := env6(t, false, withAddr6)
	groups := []netip.Addr{netip.MustParseAddr("ff02::1:ff00:2"), netip.MustParseAddr("ff02::1:ff01:5")}
	check := func(s sent6, typ uint8, want ...netip.Addr) {
		t.Helper()
		if s.m.Type() != ipv6.TypeMLDv2Report || !s.hbh || s.h.HopLimit() != 1 || s.h.Dst() != ipv6.AllMLDv2Routers || s.eth.Dst() != mldMAC || s.h.Src() != stackLL {
			t.Fatalf("report type %d hbh %v hop %d %v -> %v (MAC %v)", s.m.Type(), s.hbh, s.h.HopLimit(), s.h.Src(), s.h.Dst(), s.eth.Dst())
		}
		recs, ok := ipv6.MLDv2Records(s.m)
		if !ok || len(recs) != len(want) {
			t.Fatalf("records %v, want %v", recs, want)
		}
		for i, r := range recs {
			if r.Type != typ || r.Group != want[i] {
				t.Fatalf("record %d: %+v, want type %d %v", i, r, typ, want[i])
			}
		}
	}
	reports := func() []sent6 {
		var out []sent6
		for _, s := range e.all6() {
			if s.m.Type() == ipv6.TypeMLDv2Report {
				out = append(out, s)
			}
		}
		return out
	}
	e.clk.Advance(500 * time.Millisecond)
	r := reports()
	if len(r) != 2 {
		t.Fatalf("%d reports at the start-up delay, want 2", len(r))
	}
	check(r[0], ipv6.MLDChangeToExclude, groups[0])
	check(r[1], ipv6.MLDChangeToExclude, groups[1])
	e.clk.Advance(500 * time.Millisecond) // the pinned half of the Unsolicited Report Interval
	if r := reports(); len(r) != 2 {
		t.Fatalf("%d retransmitted reports, want 2", len(r))
	} else {
		check(r[0], ipv6.MLDChangeToExclude, groups[0])
	}
	e.clk.Advance(time.Minute)
	if r := reports(); len(r) != 0 {
		t.Fatalf("%d reports after the robustness count", len(r))
	}
	if st := e.st.Stats().ND6; st.OutMLDv2Reports != 4 {
		t.Fatalf("out reports %d, want 4", st.OutMLDv2Reports)
	}

	query := func(hop uint8, group netip.Addr) []byte { return mldQuery(ipv6.MLDv2QueryLen, hop, group) }
	e.inject(query(1, netip.IPv6Unspecified()))
	e.clk.Advance(5*time.Second - time.Millisecond)
	if r := reports(); len(r) != 0 {
		t.Fatal("answered before the random delay")
	}
	e.clk.Advance(time.Millisecond)
	r = reports()
	if len(r) != 1 {
		t.Fatalf("%d answers to a general query, want 1", len(r))
	}
	check(r[0], ipv6.MLDModeIsExclude, groups...)
	e.inject(query(255, netip.IPv6Unspecified()))
	if st := e.st.Stats().ND6; st.InBadMLD != 1 || st.InMLDQueries != 2 {
		t.Fatalf("bad MLD %d, queries %d; want 1, 2", st.InBadMLD, st.InMLDQueries)
	}
}

// RFC 6724 §5: same address first, then scope, then not deprecated, then
// the longest matching prefix.
func TestAddr6_SourceSelection(t *testing.T) {
	e := env6(t, false, withAddr6)
	e.inject(nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{}, prefixOpt(pfx, true, true, 3600, 3600))))
	// A SLAAC address in the static one's /64: the two tie on every rule
	// but the first for a destination that is one of them.
	e.inject(nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{}, prefixOpt(stackSA.Masked(), false, true, 3600, 3600))))
	sameNet := netip.MustParseAddr("fd00::ff:fe00:2")
	for dst, want := range map[netip.Addr]netip.Addr{
		sameNet:                               sameNet,
		peerLL:                                stackLL,
		netip.MustParseAddr("ff02::1"):        stackLL,
		peerSA:                                stackSA.Addr(),
		netip.MustParseAddr("2001:db8:1::9"):  stackSLAAC,
		netip.MustParseAddr("2001:db8:99::9"): stackSLAAC, // 2001:db8 shares more bits than fd00
		netip.MustParseAddr("fd12::9"):        stackSA.Addr(),
		stackSLAAC:                            stackSLAAC,
	} {
		if got := e.st.Source6Test(dst); got != want {
			t.Errorf("source for %v: %v, want %v", dst, got, want)
		}
	}
}

// The neighbour cache is bounded: when it is full of entries under
// resolution, a packet to one more neighbour is dropped and counted.
func TestND6_Cache_Bounded(t *testing.T) {
	e := envND(t)
	const bound = 1024
	for i := range bound + 1 {
		dst := netip.AddrFrom16([16]byte{0xfe, 0x80, 13: 1, 14: byte(i >> 8), 15: byte(i)})
		err := e.st.Output6Test(echoPkt(stackLL, dst, 0))
		if i < bound && err != nil || i == bound && !errors.Is(err, syscall.EHOSTUNREACH) {
			t.Fatalf("packet %d: %v", i, err)
		}
		e.drain()
	}
	if st := e.st.Stats().ND6; st.CacheFull != 1 {
		t.Fatalf("cache_full %d, want 1", st.CacheFull)
	}
}

// An address removed leaves its group (a leave report); set again, it is
// reported again (and DAD runs again, RFC 4862 §5.4).
func TestMLD6_GroupLeftWithItsAddress_ReportedAgain(t *testing.T) {
	e := env6(t, false)
	e.clk.Advance(10 * time.Second)
	e.drain()
	reports := func() uint64 {
		e.clk.Advance(10 * time.Second)
		e.drain()
		return e.st.Stats().ND6.OutMLDv2Reports
	}
	base := reports()
	for i := range 2 {
		if err := e.st.SetAddr6(stackSA); err != nil {
			t.Fatal(err)
		}
		if got := reports() - base; got != 2 {
			t.Fatalf("round %d: %d reports for %v's group, want 2", i, got, stackSA)
		}
		base += 2
		if err := e.st.SetAddr6(netip.Prefix{}); err != nil {
			t.Fatal(err)
		}
		// §6.1: leaving is a CHANGE_TO_INCLUDE with no sources.
		s := e.one6(ipv6.TypeMLDv2Report)
		recs, _ := ipv6.MLDv2Records(s.m)
		if want := (ipv6.MLDRecord{Type: ipv6.MLDChangeToInclude, Group: netip.MustParseAddr("ff02::1:ff01:5")}); len(recs) != 1 || recs[0] != want {
			t.Fatalf("round %d: leave report %v, want %v", i, recs, want)
		}
		base++
	}
	if err := e.st.SetAddr6(netip.MustParsePrefix("fe80::5/64")); err == nil {
		t.Fatal("SetAddr6 took a link-local address")
	}
}

// An IP link (a TUN) has no link layer: no link-local address, no DAD
// (Linux does none on an IFF_NOARP device), so a static address is usable
// at once, and Start sends no neighbour discovery or MLD.
func TestAddr6_IPLink_StaticUsableAtOnce(t *testing.T) {
	e := newEnv(t, ipLink, withAddr6, func(c *stack.Config, _ *nic.PipeConfig) { c.DupAddrDetectTransmits = 0 })
	e.st.Start()
	e.clk.Advance(10 * time.Second)
	if a := e.st.Addrs6(); len(a) != 1 || a[0].Prefix != stackSA || a[0].State != stack.AddrPreferred {
		t.Fatalf("addresses %+v, want %v preferred alone", a, stackSA)
	}
	if f, ok := e.peer.TryRead(); ok {
		t.Fatalf("sent % x on an IP link", f)
	}
}

// What a router advertises is what the stack then sends with (RFC 4861
// §6.3.4): its MTU option lowers the path MTU, so a larger packet leaves
// as fragments of at most that size, and its Cur Hop Limit is the Hop
// Limit of datagrams (here UDP's) and ICMPv6 errors.
func TestRA6_MTUAndHopLimit_UsedWhenSending(t *testing.T) {
	e := envND(t)
	e.inject(nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{CurHopLimit: 48, RouterLifetime: 1800},
		mtuOpt(1400), prefixOpt(pfx, true, true, 3600, 1800))))
	e.drain()
	far := netip.MustParseAddr("2001:db8:99::1")
	m := echo6(stackSLAAC, far, 9, 1, make([]byte, 1400))
	big := make([]byte, ipv6.HeaderLen+len(m))
	ipv6.Encode(big, ipv6.Fields{PayloadLen: len(m), NextHeader: ipv6.ProtoICMPv6, HopLimit: 64, Src: stackSLAAC, Dst: far})
	copy(big[ipv6.HeaderLen:], m)
	if err := e.st.Output6Test(big); err != nil {
		t.Fatal(err)
	}
	frags := 0
	for f, ok := e.peer.TryRead(); ok; f, ok = e.peer.TryRead() {
		if n := len(f) - ethernet.HeaderLen; n > 1400 {
			t.Fatalf("a %d-octet packet after the RA's MTU 1400", n)
		}
		frags++
	}
	if frags < 2 {
		t.Fatalf("%d frames for a %d-octet packet, want fragments", frags, len(big))
	}
	u, err := e.st.NewUDPEndpoint6()
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.SendTo([]byte("hop"), netip.AddrPortFrom(far, 7)); err != nil {
		t.Fatal(err)
	}
	f, ok := e.peer.TryRead()
	if !ok {
		t.Fatal("no UDP datagram sent")
	}
	h, err := ipv6.Parse(f[ethernet.HeaderLen:])
	if err != nil || h.NextHeader() != ipv6.ProtoUDP || h.HopLimit() != 48 {
		t.Fatalf("sent %v: next header %d, hop limit %d; want UDP with the RA's 48", err, h.NextHeader(), h.HopLimit())
	}
}

// RFC 4861 §7.2.2: when resolution fails, the sender of each queued packet
// gets a destination unreachable, address unreachable (code 3). Our own
// packets' senders are our transports, told locally (Linux's
// ip6_link_failure): a connect fails with EHOSTUNREACH when the third
// solicitation goes unanswered, not after the SYN retries; a ping socket
// reads the error, from our own address. Nothing of it goes on the wire.
func TestND6_ResolutionFailed_LocalSendersTold(t *testing.T) {
	e := envND(t)
	fd := socket6(t, e, socket.SOCK_STREAM, false)
	if err := fd.Connect(netip.AddrPortFrom(peerLL, 9)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	p := pingEndpoint6(t, e)
	if _, err := p.SendTo(echo6(stackLL, peerLL, 0, 1, []byte("abc")), peerLL); err != nil {
		t.Fatal(err)
	}
	e.one6(ipv6.TypeNeighborSolicit)
	for range 2 {
		e.clk.Advance(time.Second)
		e.one6(ipv6.TypeNeighborSolicit)
	}
	e.clk.Advance(999 * time.Millisecond)
	if v, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); v != 0 {
		t.Fatalf("SO_ERROR %v while resolving", syscall.Errno(v))
	}
	e.clk.Advance(time.Millisecond)
	if v, _ := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR); syscall.Errno(v) != syscall.EHOSTUNREACH {
		t.Fatalf("SO_ERROR %v after resolution failed, want EHOSTUNREACH", syscall.Errno(v))
	}
	buf := make([]byte, 1500)
	n, from, err := p.TryRecvFrom(buf)
	if m := ipv6.ICMP(buf[:n]); err != nil || from != stackLL || m.Type() != ipv6.TypeDestUnreachable || m.Code() != ipv6.CodeAddrUnreachable {
		t.Fatalf("ping socket read %v from %v (%v), want a destination unreachable code 3 from %v", buf[:n], from, err, stackLL)
	}
	e.none()

	// Our echo reply to a peer that never answers our solicitations has
	// no local sender: nothing is told, nothing counted as an unmatched
	// error (RFC 4443 §2.4 (e) keeps errors about errors off the wire).
	before := e.st.Stats().IPv6.ICMP6InErrorsUnmatched
	far := netip.MustParseAddr("fe80::99")
	e.inject(ip6Frame(stackMAC, ipv6.Fields{Src: far}, echo6(far, stackLL, 1, 1, nil)))
	e.one6(ipv6.TypeNeighborSolicit)
	e.clk.Advance(3 * time.Second)
	e.drain()
	if st := e.st.Stats(); st.ND6.ResolutionFailed == 0 || st.IPv6.ICMP6InErrorsUnmatched != before {
		t.Errorf("resolution_failed %d, icmp6_in_errors_unmatched %d (was %d): want the reply given up, uncounted as an error", st.ND6.ResolutionFailed, st.IPv6.ICMP6InErrorsUnmatched, before)
	}
}

// mldQuery is an MLD query from peerLL to all nodes with a Maximum
// Response Delay of 10 s: MLDv1 (RFC 2710 §3) when n is 24, MLDv2 (RFC
// 3810 §5.1) when 28.
func mldQuery(n int, hop uint8, group netip.Addr) []byte {
	m := make([]byte, n)
	m[0] = ipv6.TypeMLDQuery
	m[4], m[5] = 0x27, 0x10 // 10000 ms in both versions
	g := group.As16()
	copy(m[8:], g[:])
	ipv6.ICMP(m).SetChecksum(peerLL, allNodes6)
	hbh := make([]byte, 8)
	ipv6.PutRouterAlertHBH(hbh, ipv6.ProtoICMPv6)
	return hopByHop(ip6Frame(allNodesMAC, ipv6.Fields{Src: peerLL, Dst: allNodes6, HopLimit: hop}, append(hbh, m...)))
}

// mldSent returns the MLD messages sent so far (reports and dones of
// either version).
func mldSent(e *env) []sent6 {
	var out []sent6
	for _, s := range e.all6() {
		switch s.m.Type() {
		case ipv6.TypeMLDv2Report, ipv6.TypeMLDv1Report, ipv6.TypeMLDv1Done:
			out = append(out, s)
		}
	}
	return out
}

// RFC 3810 §6.1: leaving is reported as joining is, [Robustness Variable]
// times: at once and again within the Unsolicited Report Interval.
func TestMLD6_Leave_SentRobustnessTimes(t *testing.T) {
	e := env6(t, false, withAddr6)
	e.clk.Advance(10 * time.Second)
	e.drain()
	if err := e.st.SetAddr6(netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	leave := ipv6.MLDRecord{Type: ipv6.MLDChangeToInclude, Group: netip.MustParseAddr("ff02::1:ff01:5")}
	for i := range 2 { // the Robustness Variable (§9.1)
		r := mldSent(e)
		if len(r) != 1 || r[0].m.Type() != ipv6.TypeMLDv2Report {
			t.Fatalf("leave %d: %d MLD messages, want one report", i, len(r))
		}
		if recs, _ := ipv6.MLDv2Records(r[0].m); len(recs) != 1 || recs[0] != leave {
			t.Fatalf("leave %d: records %v, want %v", i, recs, leave)
		}
		e.clk.Advance(500 * time.Millisecond) // the pinned half of the Unsolicited Report Interval
	}
	e.clk.Advance(time.Minute)
	if r := mldSent(e); len(r) != 0 {
		t.Fatalf("%d MLD messages after the robustness count", len(r))
	}
}

// RFC 3810 §8.2.1: an MLDv1 query puts the host in MLDv1 compatibility
// mode for the Older Version Querier Present Timeout (§9.12: 2 x 125 s +
// 10 s), re-armed by each such query. In it, queries (MLDv2 ones too, as
// Linux) are answered with an MLDv1 Report per group, sent to the group
// (RFC 2710 §3), and a leave is one Done to all routers (RFC 2710 §4).
// After the timeout, MLDv2 again.
func TestMLD6_V1Query_CompatibilityMode(t *testing.T) {
	e := env6(t, false, withAddr6)
	e.clk.Advance(10 * time.Second)
	e.drain()
	groups := []netip.Addr{netip.MustParseAddr("ff02::1:ff00:2"), netip.MustParseAddr("ff02::1:ff01:5")}
	v1Reports := func(what string) {
		t.Helper()
		e.clk.Advance(10 * time.Second) // the Maximum Response Delay
		r := mldSent(e)
		if len(r) != len(groups) {
			t.Fatalf("%s: %d MLD messages, want an MLDv1 report for each of %v", what, len(r), groups)
		}
		for i, s := range r {
			g := netip.AddrFrom16([16]byte(s.m[8:24]))
			if s.m.Type() != ipv6.TypeMLDv1Report || len(s.m) != ipv6.MLDv1Len || g != groups[i] || s.h.Dst() != groups[i] ||
				!s.hbh || s.h.HopLimit() != 1 || s.h.Src() != stackLL {
				t.Fatalf("%s: message %d: type %d len %d for %v to %v (hbh %v, hop %d, from %v); want an MLDv1 report for %v to it",
					what, i, s.m.Type(), len(s.m), g, s.h.Dst(), s.hbh, s.h.HopLimit(), s.h.Src(), groups[i])
			}
		}
	}
	// Entering the mode cancels what was pending: the MLDv2 query's
	// answer (due 5 s after it) goes; the MLDv1 query's comes 5 s after it.
	e.inject(mldQuery(ipv6.MLDv2QueryLen, 1, netip.IPv6Unspecified()))
	e.clk.Advance(time.Second)
	v1At := e.clk.Now()
	e.inject(mldQuery(ipv6.MLDv1QueryLen, 1, netip.IPv6Unspecified()))
	e.clk.Advance(4 * time.Second)
	if r := mldSent(e); len(r) != 0 {
		t.Fatalf("%d MLD messages when the MLDv2 query's answer was due: not cancelled by the change of mode", len(r))
	}
	v1Reports("an MLDv1 general query")
	e.inject(mldQuery(ipv6.MLDv2QueryLen, 1, netip.IPv6Unspecified()))
	v1Reports("an MLDv2 query in MLDv1 mode")
	if st := e.st.Stats().ND6; st.OutMLDv1Reports != 4 {
		t.Fatalf("icmp6_out_group_memb_responses %d, want 4", st.OutMLDv1Reports)
	}

	if err := e.st.SetAddr6(netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	r := mldSent(e)
	if len(r) != 1 {
		t.Fatalf("leave in MLDv1 mode: %d messages, want one Done", len(r))
	}
	if r[0].m.Type() != ipv6.TypeMLDv1Done || r[0].h.Dst() != ipv6.AllRouters || netip.AddrFrom16([16]byte(r[0].m[8:24])) != groups[1] {
		t.Fatalf("leave in MLDv1 mode: type %d to %v, want a Done for %v to ff02::2", r[0].m.Type(), r[0].h.Dst(), groups[1])
	}

	// The mode lasts 260 s from the MLDv1 query. The mode at sending
	// decides: an answer due 1 ms before the end is MLDv1, one due after it
	// MLDv2 (answers come 5 s after a query: the pinned half of its Maximum
	// Response Delay).
	e.clk.Advance(v1At.Add(260*time.Second - 5*time.Second - time.Millisecond).Sub(e.clk.Now()))
	e.inject(mldQuery(ipv6.MLDv2QueryLen, 1, netip.IPv6Unspecified()))
	e.clk.Advance(5 * time.Second)
	if r := mldSent(e); len(r) != 1 || r[0].m.Type() != ipv6.TypeMLDv1Report {
		t.Fatalf("just before the timeout: %d messages, want one MLDv1 report", len(r))
	}
	e.clk.Advance(time.Millisecond)
	e.inject(mldQuery(ipv6.MLDv2QueryLen, 1, netip.IPv6Unspecified()))
	e.clk.Advance(10 * time.Second)
	if r := mldSent(e); len(r) != 1 || r[0].m.Type() != ipv6.TypeMLDv2Report {
		t.Fatalf("after the timeout: %d messages, want one MLDv2 report", len(r))
	}
}

// redirectFrame is a redirect from rtrLL to stackSLAAC naming target as the
// first hop for dest, with a target link-layer address option for tlla
// unless it is zero, sent with hop limit hop.
func redirectFrame(target, dest netip.Addr, tlla ethernet.MAC, hop uint8, from netip.Addr) []byte {
	var opts []byte
	if !tlla.IsZero() {
		opts = make([]byte, 8)
		ipv6.PutLinkAddrOption(opts, ipv6.OptTargetLinkAddr, tlla)
	}
	b := make([]byte, ipv6.RedirectLen+len(opts))
	ipv6.EncodeRedirect(b, target, dest, opts, from, stackSLAAC)
	return ip6Frame(stackMAC, ipv6.Fields{Src: from, Dst: stackSLAAC, HopLimit: hop}, b)
}

// firstHop6 sends an echo request from stackSLAAC to dst and returns where
// it went: the MAC it was sent to, or, while that neighbour is unresolved,
// the target of the solicitation it waits on.
func firstHop6(t *testing.T, e *env, dst netip.Addr) (ethernet.MAC, netip.Addr) {
	t.Helper()
	e.drain() // what went before: probes, solicitations
	if err := e.st.Output6Test(echoPkt(stackSLAAC, dst, 1)); err != nil {
		t.Fatal(err)
	}
	for _, s := range e.all6() {
		switch {
		case s.m.Type() == ipv6.TypeEchoRequest && s.h.Dst() == dst:
			return s.eth.Dst(), netip.Addr{}
		case s.m.Type() == ipv6.TypeNeighborSolicit:
			return ethernet.MAC{}, s.m.Target()
		}
	}
	t.Fatalf("nothing sent for an echo request to %v", dst)
	return ethernet.MAC{}, netip.Addr{}
}

// RFC 4861 §8: a valid redirect from the destination's current first hop
// is followed: to a better router (the target, a router from then on) or
// to the destination itself, on-link; with a target link-layer address
// the target's entry is made (STALE) and used at once. §8.1's checks
// discard the others. The entry lives while it is used (60 s idle, as
// Linux's redirect exceptions) and goes when its first hop cannot be
// resolved.
func TestRedirect6_FollowedValidatedAndForgotten(t *testing.T) {
	far := netip.MustParseAddr("2001:db8:99::1")
	rtr2, mac2 := netip.MustParseAddr("fe80::2"), ethernet.MAC{2, 0, 0, 0, 0, 2}
	farMAC := ethernet.MAC{2, 0, 0, 0, 0, 3}
	withRouter := func(t *testing.T) *env {
		e := envND(t)
		e.inject(nd(allNodesMAC, rtrLL, allNodes6, ra(ipv6.RAFields{RouterLifetime: 1800}, prefixOpt(pfx, true, true, 3600, 3600))))
		e.drain()
		if mac, _ := firstHop6(t, e, far); mac != peerMAC {
			t.Fatalf("before any redirect: to %v, want the default router %v", mac, peerMAC)
		}
		return e
	}
	t.Run("to a better router", func(t *testing.T) {
		e := withRouter(t)
		e.inject(redirectFrame(rtr2, far, mac2, 255, rtrLL))
		if mac, _ := firstHop6(t, e, far); mac != mac2 {
			t.Fatalf("after the redirect: to %v, want %v", mac, mac2)
		}
		if n, _ := e.st.Neighbour6StateTest(rtr2); !n.IsRouter {
			t.Errorf("target %v not marked a router: %+v", rtr2, n)
		}
		if st := e.st.Stats().ND6; st.RedirectsAccepted != 1 || st.InRedirects != 1 {
			t.Errorf("redirects accepted %d, in %d; want 1, 1", st.RedirectsAccepted, st.InRedirects)
		}
	})
	t.Run("to the destination, on-link", func(t *testing.T) {
		e := withRouter(t)
		e.inject(redirectFrame(far, far, farMAC, 255, rtrLL))
		if mac, _ := firstHop6(t, e, far); mac != farMAC {
			t.Fatalf("after the redirect: to %v, want the destination's own %v", mac, farMAC)
		}
		if n, _ := e.st.Neighbour6StateTest(far); n.IsRouter {
			t.Errorf("an on-link destination marked a router: %+v", n)
		}
	})
	for _, tc := range []struct {
		name  string
		frame []byte
		bad   bool // fails §8.1's format checks (icmp6_in_bad_nd), else not from the first hop
	}{
		{"not from the current first hop", redirectFrame(rtr2, far, mac2, 255, netip.MustParseAddr("fe80::77")), false},
		{"hop limit 254", redirectFrame(rtr2, far, mac2, 254, rtrLL), true},
		{"a global target other than the destination", redirectFrame(netip.MustParseAddr("2001:db8:1::9"), far, mac2, 255, rtrLL), true},
	} {
		t.Run("discarded: "+tc.name, func(t *testing.T) {
			e := withRouter(t)
			before := e.st.Stats()
			e.inject(tc.frame)
			if mac, _ := firstHop6(t, e, far); mac != peerMAC {
				t.Fatalf("to %v, want still the default router %v", mac, peerMAC)
			}
			st := e.st.Stats()
			if bad, ignored := st.IPv6.ICMP6InBadND-before.IPv6.ICMP6InBadND, st.ND6.RedirectsIgnored-before.ND6.RedirectsIgnored; st.ND6.RedirectsAccepted != 0 || tc.bad && bad != 1 || !tc.bad && ignored != 1 {
				t.Errorf("accepted %d, bad ND %+d, ignored %+d", st.ND6.RedirectsAccepted, bad, ignored)
			}
		})
	}
	t.Run("idle 60 s: gone", func(t *testing.T) {
		e := withRouter(t)
		e.inject(redirectFrame(rtr2, far, ethernet.MAC{}, 255, rtrLL))
		e.clk.Advance(60*time.Second - time.Millisecond)
		if _, waits := firstHop6(t, e, far); waits != rtr2 {
			t.Fatalf("59.999 s after the redirect: waits on %v, want the target %v", waits, rtr2)
		}
		e.inject(nd(stackMAC, rtr2, stackSLAAC, na(rtr2, mac2, true, true, true, rtr2, stackSLAAC)))
		e.clk.Advance(30 * time.Second) // 90 s after the redirect, 30 s after its last use
		if mac, _ := firstHop6(t, e, far); mac != mac2 {
			t.Fatalf("30 s after the last use: to %v, want the target's %v", mac, mac2)
		}
		e.clk.Advance(60 * time.Second) // unused for 60 s
		if mac, waits := firstHop6(t, e, far); mac != peerMAC && waits != rtrLL {
			t.Fatalf("after 60 s unused: to %v (waiting on %v), want the default router %v", mac, waits, rtrLL)
		}
	})
	t.Run("bounded: the least recently used goes", func(t *testing.T) {
		e := withRouter(t)
		dest := func(i int) netip.Addr {
			b := far.As16()
			b[14], b[15] = byte(i>>8), byte(i)
			return netip.AddrFrom16(b)
		}
		for i := range 257 { // one more than the bound, 256
			e.inject(redirectFrame(rtr2, dest(i), mac2, 255, rtrLL))
			e.clk.Advance(time.Millisecond)
		}
		if mac, _ := firstHop6(t, e, dest(256)); mac != mac2 {
			t.Fatalf("the newest: to %v, want the target's %v", mac, mac2)
		}
		if mac, waits := firstHop6(t, e, dest(0)); mac != peerMAC && waits != rtrLL {
			t.Fatalf("the oldest: to %v (waiting on %v), want the default router: evicted", mac, waits)
		}
		if mac, _ := firstHop6(t, e, dest(1)); mac != mac2 {
			t.Fatalf("the second oldest: to %v, want the target's %v", mac, mac2)
		}
	})
	t.Run("first hop unresolvable: forgotten", func(t *testing.T) {
		e := withRouter(t)
		e.inject(redirectFrame(rtr2, far, ethernet.MAC{}, 255, rtrLL))
		if _, waits := firstHop6(t, e, far); waits != rtr2 {
			t.Fatalf("after the redirect: waits on %v, want the target %v", waits, rtr2)
		}
		e.clk.Advance(3 * time.Second) // three solicitations unanswered
		if mac, waits := firstHop6(t, e, far); mac != peerMAC && waits != rtrLL {
			t.Fatalf("after the target failed: to %v (waiting on %v), want the default router %v", mac, waits, rtrLL)
		}
	})
}
