package dhcp

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

var (
	epoch    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bcastDst = netip.MustParseAddrPort("255.255.255.255:67")
	srvDst   = netip.AddrPortFrom(srvIP, 67)
	otherSrv = netip.MustParseAddr("10.9.0.2")
)

// harness drives a Client under explicit time, as a manual clock would.
type harness struct {
	t   *testing.T
	c   *Client
	now time.Time
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, c: NewClient(Config{MAC: testMAC, HostName: "ts", Rand: rand.New(rand.NewPCG(1, 2))}), now: epoch}
}

// fire moves time to the client's next deadline and runs Timeout.
func (h *harness) fire() Output {
	h.t.Helper()
	d, ok := h.c.NextDeadline()
	if !ok {
		h.t.Fatalf("no deadline in %v", h.c.State())
	}
	if d.Before(h.now) {
		h.t.Fatalf("deadline %v is before now %v", d, h.now)
	}
	h.now = d
	return h.c.Timeout(d)
}

// one returns the single packet out sends, checking its destination.
func (h *harness) one(out Output, dst netip.AddrPort, typ MessageType) Message {
	h.t.Helper()
	if len(out.Send) != 1 {
		h.t.Fatalf("sent %d messages, want one %v", len(out.Send), typ)
	}
	p := out.Send[0]
	if p.Dst != dst || p.Msg.Type != typ || p.Msg.Op != OpRequest || p.Msg.CHAddr != testMAC {
		h.t.Fatalf("sent %v op %d chaddr %x to %v, want %v to %v", p.Msg.Type, p.Msg.Op, p.Msg.CHAddr, p.Dst, typ, dst)
	}
	return p.Msg
}

// reply is the server's answer to req.
func reply(req Message, typ MessageType, mut ...func(*Message)) Message {
	m := Message{Op: OpReply, Xid: req.Xid, Broadcast: req.Broadcast, CHAddr: req.CHAddr, Type: typ, ServerID: srvIP}
	if typ == Offer || typ == Ack {
		m.YIAddr = leaseIP
		m.LeaseTime = 120
		m.SubnetMask = netip.MustParseAddr("255.255.255.0")
		m.Routers = []netip.Addr{srvIP}
		m.DNS = []netip.Addr{srvIP}
		m.MTU = 1400
	}
	for _, f := range mut {
		f(&m)
	}
	return m
}

// bound takes the client from INIT to BOUND and returns the REQUEST and the lease.
func (h *harness) bound(mut ...func(*Message)) (Message, Lease) {
	h.t.Helper()
	disc := h.one(h.c.Start(h.now), bcastDst, Discover)
	req := h.one(h.c.Handle(reply(disc, Offer), h.now), bcastDst, Request)
	out := h.c.Handle(reply(req, Ack, mut...), h.now)
	if len(out.Events) != 1 || out.Events[0].Kind != LeaseBound || h.c.State() != StateBound {
		h.t.Fatalf("after the ACK: events %+v, state %v; want LeaseBound, BOUND", out.Events, h.c.State())
	}
	return req, out.Events[0].Lease
}

// RFC 2131 §4.4.1, figure 5: INIT -> SELECTING -> REQUESTING -> BOUND.
func TestClient_Acquire(t *testing.T) {
	h := newHarness(t)
	disc := h.one(h.c.Start(h.now), bcastDst, Discover)
	if h.c.State() != StateSelecting || !disc.Broadcast || disc.CIAddr.IsValid() || disc.ServerID.IsValid() {
		t.Fatalf("DISCOVER %+v in %v", disc, h.c.State())
	}
	if !reflect.DeepEqual(disc.ClientID, []byte{1, 2, 0, 0, 0, 0, 2}) || disc.HostName != "ts" || len(disc.ParamRequest) == 0 {
		t.Fatalf("DISCOVER options: client id %x, host %q, params %v", disc.ClientID, disc.HostName, disc.ParamRequest)
	}
	h.now = h.now.Add(2 * time.Second)
	req := h.one(h.c.Handle(reply(disc, Offer), h.now), bcastDst, Request)
	// RFC 2131 §4.3.2 table 4 (SELECTING) and §4.4.1: server id and
	// requested address set, ciaddr zero, the DISCOVER's secs.
	if h.c.State() != StateRequesting || req.Xid != disc.Xid || req.ServerID != srvIP || req.RequestedIP != leaseIP ||
		req.CIAddr.IsValid() || req.Secs != disc.Secs || !req.Broadcast {
		t.Fatalf("REQUEST %+v in %v", req, h.c.State())
	}
	h.now = h.now.Add(time.Second)
	out := h.c.Handle(reply(req, Ack), h.now)
	want := Lease{Addr: netip.MustParsePrefix("10.9.0.50/24"), Router: srvIP, DNS: []netip.Addr{srvIP}, MTU: 1400,
		Server: srvIP, Start: epoch, Duration: 120 * time.Second, T1: 60 * time.Second, T2: 105 * time.Second}
	if len(out.Send) != 0 || len(out.Events) != 1 || out.Events[0].Kind != LeaseBound || !reflect.DeepEqual(out.Events[0].Lease, want) {
		t.Fatalf("ACK gave %+v, want LeaseBound %+v", out, want)
	}
	if d, ok := h.c.NextDeadline(); !ok || !d.Equal(epoch.Add(60*time.Second)) {
		t.Fatalf("NextDeadline = %v %v, want T1 = start + 60 s", d, ok)
	}
	if l, ok := h.c.Lease(); !ok || !reflect.DeepEqual(l, want) {
		t.Fatalf("Lease() = %+v %v", l, ok)
	}
}

// RFC 2131 §4.1: retransmissions after 4, 8, 16, 32, 64, 64 s, each ±1 s;
// the same xid; secs counts up.
func TestClient_DiscoverBackoff(t *testing.T) {
	h := newHarness(t)
	first := h.one(h.c.Start(h.now), bcastDst, Discover)
	last := h.now
	for i, base := range []time.Duration{4, 8, 16, 32, 64, 64, 64} {
		m := h.one(h.fire(), bcastDst, Discover)
		gap := h.now.Sub(last)
		if gap < (base-1)*time.Second || gap > (base+1)*time.Second {
			t.Fatalf("retransmission %d after %v, want %v s ± 1 s", i+1, gap, base)
		}
		if m.Xid != first.Xid || m.Secs != secsSince(epoch, h.now) {
			t.Fatalf("retransmission %d: xid %x secs %d, want xid %x secs %d", i+1, m.Xid, m.Secs, first.Xid, secsSince(epoch, h.now))
		}
		last = h.now
	}
}

// The jitter is random, not a constant: over many draws both signs occur.
func TestClient_BackoffJitterCoversBothSides(t *testing.T) {
	c := NewClient(Config{Rand: rand.New(rand.NewPCG(3, 4))})
	var lo, hi bool
	for range 200 {
		d := c.backoff(0)
		if d < 3*time.Second || d > 5*time.Second {
			t.Fatalf("backoff(0) = %v, want 4 s ± 1 s", d)
		}
		lo, hi = lo || d < 4*time.Second, hi || d > 4*time.Second
	}
	if !lo || !hi {
		t.Fatalf("jitter one-sided: below %v above %v", lo, hi)
	}
}

// RFC 2131 §4.4.1: with neither ACK nor NAK after the retransmissions,
// back to INIT, which starts a new exchange.
func TestClient_RequestingGivesUp(t *testing.T) {
	h := newHarness(t)
	disc := h.one(h.c.Start(h.now), bcastDst, Discover)
	req := h.one(h.c.Handle(reply(disc, Offer), h.now), bcastDst, Request)
	for i := 1; i < maxRequestTries; i++ {
		if m := h.one(h.fire(), bcastDst, Request); m.Xid != req.Xid || m.RequestedIP != leaseIP {
			t.Fatalf("retransmitted REQUEST %+v", m)
		}
	}
	d := h.one(h.fire(), bcastDst, Discover)
	if h.c.State() != StateSelecting || d.Xid == req.Xid {
		t.Fatalf("after %d REQUESTs: %v, xid %x (old %x); want SELECTING with a new xid", maxRequestTries, h.c.State(), d.Xid, req.Xid)
	}
}

// RFC 2131 §4.4.5: at T1 RENEWING, a unicast REQUEST to the server with
// ciaddr and neither server id nor requested address (§4.3.2 table 4); the
// ACK extends the lease from when the REQUEST was sent.
func TestClient_RenewAtT1(t *testing.T) {
	h := newHarness(t)
	_, l := h.bound()
	req := h.one(h.fire(), srvDst, Request)
	if !h.now.Equal(l.RenewAt()) || h.c.State() != StateRenewing {
		t.Fatalf("renewal at %v in %v, want T1 %v, RENEWING", h.now, h.c.State(), l.RenewAt())
	}
	if req.CIAddr != leaseIP || req.ServerID.IsValid() || req.RequestedIP.IsValid() || req.Broadcast {
		t.Fatalf("RENEWING REQUEST %+v", req)
	}
	t1 := h.now
	h.now = h.now.Add(time.Second)
	out := h.c.Handle(reply(req, Ack, func(m *Message) { m.LeaseTime = 600 }), h.now)
	if len(out.Events) != 1 || out.Events[0].Kind != LeaseRenewed || h.c.State() != StateBound {
		t.Fatalf("renewal ACK: %+v in %v, want LeaseRenewed, BOUND", out, h.c.State())
	}
	if nl := out.Events[0].Lease; !nl.Start.Equal(t1) || nl.Duration != 600*time.Second || !nl.RenewAt().Equal(t1.Add(300*time.Second)) {
		t.Fatalf("renewed lease %+v, want start %v, 600 s, T1 300 s", nl, t1)
	}
}

// RFC 2131 §4.4.5: REQUESTs in RENEWING are retransmitted after half the
// time left to T2, at least 60 s; then REBINDING at T2, broadcast, whose
// retransmissions halve the time left to expiry; then INIT at expiry.
func TestClient_RenewRetriesRebindAndExpire(t *testing.T) {
	h := newHarness(t)
	_, l := h.bound(func(m *Message) { m.LeaseTime = 3600 })
	h.one(h.fire(), srvDst, Request) // T1 = 1800 s
	wantRenew := []time.Duration{2475 * time.Second, 2812500 * time.Millisecond, 2981250 * time.Millisecond,
		3065625 * time.Millisecond, 3125625 * time.Millisecond}
	for _, at := range wantRenew {
		h.one(h.fire(), srvDst, Request)
		if got := h.now.Sub(l.Start); got != at {
			t.Fatalf("RENEWING retransmission at %v, want %v", got, at)
		}
	}
	// The next deadline is T2 (3150 s): 60 s would pass it.
	renewXid := h.c.xid
	m := h.one(h.fire(), bcastDst, Request)
	if got := h.now.Sub(l.Start); got != 3150*time.Second || h.c.State() != StateRebinding || m.CIAddr != leaseIP || m.ServerID.IsValid() || m.Xid == renewXid {
		t.Fatalf("at %v in %v sent %+v; want REBINDING at T2 = 3150 s, broadcast, ciaddr set, a new xid", got, h.c.State(), m)
	}
	for _, at := range []time.Duration{3375 * time.Second, 3487500 * time.Millisecond, 3547500 * time.Millisecond} {
		h.one(h.fire(), bcastDst, Request)
		if got := h.now.Sub(l.Start); got != at {
			t.Fatalf("REBINDING retransmission at %v, want %v", got, at)
		}
	}
	out := h.fire()
	if got := h.now.Sub(l.Start); got != 3600*time.Second || len(out.Events) != 1 || out.Events[0].Kind != LeaseLost || out.Events[0].Reason != "expired" {
		t.Fatalf("at %v: %+v; want LeaseLost expired at 3600 s", got, out.Events)
	}
	if d := h.one(out, bcastDst, Discover); h.c.State() != StateSelecting || d.RequestedIP != leaseIP {
		t.Fatalf("after expiry %v, DISCOVER asks for %v; want SELECTING asking for the last address", h.c.State(), d.RequestedIP)
	}
	if _, ok := h.c.Lease(); ok {
		t.Fatal("Lease() still reports the expired lease")
	}
}

// RFC 2131 §4.4.5: in REBINDING an ACK from any server extends the lease.
func TestClient_RebindAckFromAnotherServer(t *testing.T) {
	h := newHarness(t)
	h.bound()
	out := h.fire() // T1: RENEWING
	for h.c.State() == StateRenewing {
		out = h.fire()
	}
	req := h.one(out, bcastDst, Request)
	out = h.c.Handle(reply(req, Ack, func(m *Message) { m.ServerID = otherSrv }), h.now)
	if len(out.Events) != 1 || out.Events[0].Kind != LeaseRenewed || out.Events[0].Lease.Server != otherSrv {
		t.Fatalf("rebinding ACK from %v: %+v", otherSrv, out.Events)
	}
	// The next renewal goes to the new server.
	h.one(h.fire(), netip.AddrPortFrom(otherSrv, 67), Request)
}

// In RENEWING an ACK naming another server is not for us: dropped.
func TestClient_RenewingIgnoresOtherServer(t *testing.T) {
	h := newHarness(t)
	h.bound()
	req := h.one(h.fire(), srvDst, Request)
	out := h.c.Handle(reply(req, Ack, func(m *Message) { m.ServerID = otherSrv }), h.now)
	if len(out.Events) != 0 || h.c.State() != StateRenewing || h.c.Counters().Unexpected != 1 {
		t.Fatalf("ACK from %v while renewing with %v: %+v, %v, %+v", otherSrv, srvIP, out, h.c.State(), h.c.Counters())
	}
}

// A renewal ACK with another address is a new lease, not a renewal.
func TestClient_RenewalWithNewAddressIsBound(t *testing.T) {
	h := newHarness(t)
	h.bound()
	req := h.one(h.fire(), srvDst, Request)
	out := h.c.Handle(reply(req, Ack, func(m *Message) { m.YIAddr = netip.MustParseAddr("10.9.0.51") }), h.now)
	if len(out.Events) != 1 || out.Events[0].Kind != LeaseBound {
		t.Fatalf("renewal to a new address: %+v, want LeaseBound", out.Events)
	}
}

// A NAK in REQUESTING sends the client back to INIT and a new DISCOVER;
// one in RENEWING also loses the lease (RFC 2131 §4.4.1, §4.4.5).
func TestClient_Nak(t *testing.T) {
	h := newHarness(t)
	disc := h.one(h.c.Start(h.now), bcastDst, Discover)
	req := h.one(h.c.Handle(reply(disc, Offer), h.now), bcastDst, Request)
	out := h.c.Handle(reply(req, Nak), h.now)
	if d := h.one(out, bcastDst, Discover); len(out.Events) != 0 || d.Xid == req.Xid || h.c.Counters().NAKs != 1 {
		t.Fatalf("NAK in REQUESTING: %+v, counters %+v", out, h.c.Counters())
	}

	h = newHarness(t)
	h.bound()
	req = h.one(h.fire(), srvDst, Request)
	out = h.c.Handle(reply(req, Nak), h.now)
	h.one(out, bcastDst, Discover)
	if len(out.Events) != 1 || out.Events[0].Kind != LeaseLost || out.Events[0].Reason != "nak" || h.c.State() != StateSelecting {
		t.Fatalf("NAK in RENEWING: %+v in %v", out.Events, h.c.State())
	}
}

// Replies that are not ours are dropped and counted (RFC 2131 §4.1).
func TestClient_DropsForeignReplies(t *testing.T) {
	h := newHarness(t)
	disc := h.one(h.c.Start(h.now), bcastDst, Discover)
	tests := []struct {
		name string
		m    Message
		cnt  func(Counters) uint64
	}{
		{"wrong xid", reply(disc, Offer, func(m *Message) { m.Xid++ }), func(c Counters) uint64 { return c.BadXID }},
		{"wrong chaddr", reply(disc, Offer, func(m *Message) { m.CHAddr[5]++ }), func(c Counters) uint64 { return c.BadCHAddr }},
		{"a request", reply(disc, Offer, func(m *Message) { m.Op = OpRequest }), func(c Counters) uint64 { return c.NotReply }},
		{"an ACK while selecting", reply(disc, Ack), func(c Counters) uint64 { return c.Unexpected }},
		{"an offer without server id", reply(disc, Offer, func(m *Message) { m.ServerID = netip.Addr{} }), func(c Counters) uint64 { return c.BadOffer }},
		{"an offer of 0.0.0.0", reply(disc, Offer, func(m *Message) { m.YIAddr = netip.Addr{} }), func(c Counters) uint64 { return c.BadOffer }},
	}
	for _, tt := range tests {
		before := tt.cnt(h.c.Counters())
		if out := h.c.Handle(tt.m, h.now); len(out.Send)+len(out.Events) != 0 || h.c.State() != StateSelecting || tt.cnt(h.c.Counters()) != before+1 {
			t.Errorf("%s: %+v, state %v, counters %+v", tt.name, out, h.c.State(), h.c.Counters())
		}
	}
	// An ACK without a lease time is refused (RFC 2131 §4.3.1 table 3).
	req := h.one(h.c.Handle(reply(disc, Offer), h.now), bcastDst, Request)
	if out := h.c.Handle(reply(req, Ack, func(m *Message) { m.LeaseTime = 0 }), h.now); len(out.Events) != 0 || h.c.Counters().BadAck != 1 {
		t.Fatalf("ACK without lease time: %+v, %+v", out, h.c.Counters())
	}
	// Option 52 is counted (its options are not read); the ACK still binds.
	h.c.Handle(reply(req, Ack, func(m *Message) { m.Overload = 3 }), h.now)
	if h.c.Counters().Overloaded != 1 || h.c.State() != StateBound {
		t.Fatalf("overloaded ACK: %v, %+v", h.c.State(), h.c.Counters())
	}
	// In BOUND nothing is pending: a late duplicate ACK changes nothing.
	if out := h.c.Handle(reply(req, Ack), h.now); len(out.Events) != 0 || h.c.State() != StateBound {
		t.Fatalf("duplicate ACK in BOUND: %+v", out)
	}
}

// T1 and T2 from options 58 and 59; inconsistent ones give way to the
// defaults 0.5 and 0.875 (RFC 2131 §4.4.5).
func TestClient_LeaseTimes(t *testing.T) {
	tests := []struct {
		t1, t2         uint32
		wantT1, wantT2 time.Duration
	}{
		{0, 0, 60 * time.Second, 105 * time.Second},
		{30, 90, 30 * time.Second, 90 * time.Second},
		{30, 0, 30 * time.Second, 105 * time.Second},
		{100, 90, 60 * time.Second, 105 * time.Second}, // T1 after T2
		{30, 120, 30 * time.Second, 105 * time.Second}, // T2 at expiry
	}
	for _, tt := range tests {
		h := newHarness(t)
		_, l := h.bound(func(m *Message) { m.RenewalTime, m.RebindingTime = tt.t1, tt.t2 })
		if l.T1 != tt.wantT1 || l.T2 != tt.wantT2 {
			t.Errorf("T1 %d T2 %d: got %v %v, want %v %v", tt.t1, tt.t2, l.T1, l.T2, tt.wantT1, tt.wantT2)
		}
	}
}

// An infinite lease (RFC 2131 §3.3) needs no timer.
func TestClient_InfiniteLease(t *testing.T) {
	h := newHarness(t)
	_, l := h.bound(func(m *Message) { m.LeaseTime = 0xffffffff })
	if _, ok := h.c.NextDeadline(); ok || !l.Infinite {
		t.Fatalf("infinite lease %+v still has a deadline", l)
	}
}

// The prefix comes from option 1; without it, or with a mask that is not
// contiguous, from the address's class. The router must be on the subnet.
func TestClient_PrefixAndRouter(t *testing.T) {
	tests := []struct {
		mask   string // "" absent
		addr   string
		router string
		want   string
		wantGW string
	}{
		{"255.255.255.0", "10.9.0.50", "10.9.0.1", "10.9.0.50/24", "10.9.0.1"},
		{"255.255.240.0", "10.9.0.50", "10.9.0.1", "10.9.0.50/20", "10.9.0.1"},
		{"", "10.9.0.50", "10.9.0.1", "10.9.0.50/8", "10.9.0.1"},
		{"", "172.16.0.5", "172.16.0.1", "172.16.0.5/16", "172.16.0.1"},
		{"255.0.255.0", "192.168.1.5", "192.168.1.1", "192.168.1.5/24", "192.168.1.1"},
		{"255.255.255.0", "10.9.0.50", "10.8.0.1", "10.9.0.50/24", ""}, // off-link router ignored
	}
	for _, tt := range tests {
		h := newHarness(t)
		_, l := h.bound(func(m *Message) {
			m.SubnetMask = netip.Addr{}
			if tt.mask != "" {
				m.SubnetMask = netip.MustParseAddr(tt.mask)
			}
			m.YIAddr = netip.MustParseAddr(tt.addr)
			m.Routers = []netip.Addr{netip.MustParseAddr(tt.router)}
		})
		var gw netip.Addr
		if tt.wantGW != "" {
			gw = netip.MustParseAddr(tt.wantGW)
		}
		if l.Addr != netip.MustParsePrefix(tt.want) || l.Router != gw {
			t.Errorf("mask %q addr %s router %s: lease %v via %v, want %s via %v", tt.mask, tt.addr, tt.router, l.Addr, l.Router, tt.want, gw)
		}
	}
}

// RFC 2131 §3.1 item 5 and §4.4.1: DECLINE, broadcast, with the address
// and server id; the lease is lost; discovery restarts after 10 s and does
// not ask for the declined address.
func TestClient_Decline(t *testing.T) {
	h := newHarness(t)
	h.bound()
	out := h.c.Decline(h.now)
	m := h.one(out, bcastDst, Decline)
	if m.RequestedIP != leaseIP || m.ServerID != srvIP || m.CIAddr.IsValid() || len(out.Events) != 1 || out.Events[0].Reason != "declined" {
		t.Fatalf("DECLINE %+v, events %+v", m, out.Events)
	}
	declined := h.now
	d := h.one(h.fire(), bcastDst, Discover)
	if h.now.Sub(declined) != 10*time.Second || d.RequestedIP.IsValid() {
		t.Fatalf("DISCOVER %v after the DECLINE asking for %v; want 10 s, no requested address", h.now.Sub(declined), d.RequestedIP)
	}
	if out := (newHarness(t)).c.Decline(epoch); len(out.Send) != 0 {
		t.Fatal("Decline without a lease sent something")
	}
}

// RFC 2131 §4.4.6: RELEASE unicast to the server with ciaddr and server
// id; the client stops.
func TestClient_Release(t *testing.T) {
	h := newHarness(t)
	h.bound()
	out := h.c.Release(h.now)
	m := h.one(out, srvDst, Release)
	if m.CIAddr != leaseIP || m.ServerID != srvIP || m.RequestedIP.IsValid() || len(out.Events) != 1 || out.Events[0].Reason != "released" {
		t.Fatalf("RELEASE %+v, events %+v", m, out.Events)
	}
	if _, ok := h.c.NextDeadline(); ok || h.c.State() != StateStopped {
		t.Fatalf("after Release: %v with a deadline", h.c.State())
	}
	if out := h.c.Start(h.now); len(out.Send) != 0 {
		t.Fatal("a stopped client started again")
	}
	// Without a lease Release only stops.
	h = newHarness(t)
	h.c.Start(h.now)
	if out := h.c.Release(h.now); len(out.Send) != 0 || h.c.State() != StateStopped {
		t.Fatalf("Release while selecting: %+v in %v", out, h.c.State())
	}
}

// Timeout before the deadline does nothing.
func TestClient_EarlyTimeoutIsNoop(t *testing.T) {
	h := newHarness(t)
	h.c.Start(h.now)
	if out := h.c.Timeout(h.now.Add(time.Second)); len(out.Send) != 0 {
		t.Fatalf("early Timeout sent %+v", out.Send)
	}
}
