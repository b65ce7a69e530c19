package dhcp

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// The runner on a stack over a Pipe with a manual clock; the test plays
// the DHCP server on the Pipe's other end. The runner's goroutine reacts
// to what the test injects, so the test polls for its output, with a bound.

var srvMAC = ethernet.MAC{0x02, 0, 0, 0, 0, 0x01}

type runEnv struct {
	t   *testing.T
	clk *clock.Manual
	st  *stack.Stack
	srv *nic.PipeEnd
}

func newRunEnv(t *testing.T) *runEnv {
	clk := clock.NewManual(epoch)
	a, b := nic.NewPipe(nic.PipeConfig{MTU: 1500, MACA: ethernet.MAC(testMAC), MACB: srvMAC, Clock: clk, QueueLen: 64})
	st, err := stack.New(a, stack.Config{Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(); b.Close() })
	return &runEnv{t: t, clk: clk, st: st, srv: b}
}

// next waits (bounded) for the next DHCP message the stack sends and
// returns it with its IP destination. Other frames are skipped.
func (e *runEnv) next() (Message, netip.Addr) {
	e.t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		f, ok := e.srv.TryRead()
		if !ok {
			time.Sleep(time.Millisecond) // polling a condition, bounded above
			continue
		}
		eth, _ := ethernet.Parse(f)
		if eth.Type() != ethernet.TypeIPv4 {
			continue
		}
		ip, err := ipv4.Parse(eth.Payload())
		if err != nil || ip.Protocol() != ipv4.ProtoUDP {
			continue
		}
		u, err := udp.Parse(ip.Payload())
		if err != nil || u.SrcPort() != ClientPort || u.DstPort() != ServerPort {
			e.t.Fatalf("UDP %d -> %d (%v), want 68 -> 67", u.SrcPort(), u.DstPort(), err)
		}
		m, err := Parse(u.Payload())
		if err != nil {
			e.t.Fatalf("the runner sent a bad message: %v", err)
		}
		return m, ip.Dst()
	}
	e.t.Fatal("the runner sent nothing for 10 s")
	return Message{}, netip.Addr{}
}

// run starts a runner on the stack.
func (e *runEnv) run() *Runner {
	e.t.Helper()
	r, err := Run(e.st, RunConfig{HostName: "ts", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { r.Close() })
	return r
}

// serve sends m from the server to dst:68.
func (e *runEnv) serve(m Message, dst netip.Addr) { e.send(ServerPort, dst, m.Append(nil)) }

// send hands the stack a UDP datagram from the server's srcPort to dst:68.
func (e *runEnv) send(srcPort uint16, dst netip.Addr, payload []byte) {
	n := ipv4.HeaderMinLen + udp.HeaderLen + len(payload)
	b := make([]byte, ethernet.HeaderLen+n)
	ethernet.Encode(b, ethernet.Broadcast, srvMAC, ethernet.TypeIPv4)
	ipv4.Encode(b[ethernet.HeaderLen:], ipv4.Fields{TotalLen: n, TTL: 64, Protocol: ipv4.ProtoUDP, Src: srvIP, Dst: dst})
	u := udp.Header(b[ethernet.HeaderLen+ipv4.HeaderMinLen:])
	udp.Encode(u, srcPort, ClientPort, len(payload))
	copy(u[udp.HeaderLen:], payload)
	u.ComputeChecksumIPv4(srvIP, dst)
	e.st.HandleFrame(b, nic.Meta{})
}

// until polls cond, bounded.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not %s after 10 s", what)
		}
	}
}

// The runner gets a lease and applies it to the stack, renews it at T1
// under the manual clock, and releases it on Close, removing the address.
func TestRun_LeaseRenewRelease(t *testing.T) {
	e := newRunEnv(t)
	r := e.run()
	disc, dst := e.next()
	if disc.Type != Discover || dst != netip.MustParseAddr("255.255.255.255") || disc.CHAddr != testMAC {
		t.Fatalf("first message %v to %v", disc.Type, dst)
	}
	e.serve(reply(disc, Offer), netip.MustParseAddr("255.255.255.255"))
	req, _ := e.next()
	if req.Type != Request || req.ServerID != srvIP {
		t.Fatalf("after the offer: %v for server %v", req.Type, req.ServerID)
	}
	e.serve(reply(req, Ack), netip.MustParseAddr("255.255.255.255"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := r.Wait(ctx)
	if err != nil || l.Addr != netip.MustParsePrefix("10.9.0.50/24") {
		t.Fatalf("Wait = %+v, %v", l, err)
	}
	if e.st.Addr() != leaseIP || e.st.Prefix() != netip.MustParsePrefix("10.9.0.0/24") {
		t.Fatalf("stack address %v %v after the lease", e.st.Addr(), e.st.Prefix())
	}
	if routes := e.st.Routes(); len(routes) != 2 || routes[1].Gateway != srvIP {
		t.Fatalf("routes %+v, want the subnet and a default via %v", routes, srvIP)
	}
	if m := e.st.MTU(); m != 1400 {
		t.Fatalf("stack MTU %d after a lease with option 26 = 1400", m)
	}
	// The server asks who has the address: the stack answers and learns
	// the server's MAC, so the unicast renewal goes straight out.
	arpReq := make([]byte, ethernet.HeaderLen+arp.HeaderLen)
	ethernet.Encode(arpReq, ethernet.Broadcast, srvMAC, ethernet.TypeARP)
	arp.Encode(arpReq[ethernet.HeaderLen:], arp.OpRequest, srvMAC, srvIP, ethernet.MAC{}, leaseIP)
	e.st.HandleFrame(arpReq, nic.Meta{})

	e.clk.Advance(l.T1) // RENEWING
	renew, dst := e.next()
	if renew.Type != Request || dst != srvIP || renew.CIAddr != leaseIP {
		t.Fatalf("at T1: %v to %v ciaddr %v, want a REQUEST to %v", renew.Type, dst, renew.CIAddr, srvIP)
	}
	e.serve(reply(renew, Ack, func(m *Message) { m.LeaseTime = 600 }), leaseIP)
	until(t, "renewed", func() bool { l, ok := r.Lease(); return ok && l.Duration == 600*time.Second })

	r.Close()
	rel, dst := e.next()
	if rel.Type != Release || dst != srvIP || rel.CIAddr != leaseIP {
		t.Fatalf("on Close: %v to %v, want a RELEASE to %v", rel.Type, dst, srvIP)
	}
	if e.st.Addr() != netip.IPv4Unspecified() || len(e.st.Routes()) != 0 {
		t.Fatalf("after Close the stack still has %v, routes %+v", e.st.Addr(), e.st.Routes())
	}
}

// At expiry without an ACK the runner takes the address away.
func TestRun_ExpiryRemovesAddress(t *testing.T) {
	e := newRunEnv(t)
	r := e.run()
	disc, _ := e.next()
	e.serve(reply(disc, Offer), netip.MustParseAddr("255.255.255.255"))
	req, _ := e.next()
	e.serve(reply(req, Ack), netip.MustParseAddr("255.255.255.255"))
	l, err := r.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(l.Duration) // the timers fire in order up to expiry
	until(t, "back to no address", func() bool { return e.st.Addr() == netip.IPv4Unspecified() })
	if _, ok := r.Lease(); ok {
		t.Fatal("Lease() still reports the expired lease")
	}
}

// Garbage on port 68 is counted, and so is a datagram not from port 67;
// Wait ends when the stack closes.
func TestRun_DropsAndStackClose(t *testing.T) {
	e := newRunEnv(t)
	r := e.run()
	e.next()
	bc := netip.MustParseAddr("255.255.255.255")
	e.send(ServerPort, bc, []byte("not dhcp"))
	e.send(4000, bc, (&Message{Op: OpReply}).Append(nil))
	until(t, "counted", func() bool { c := r.Counters(); return c.Malformed == 1 && c.NotServer == 1 })
	if _, err := Run(e.st, RunConfig{}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("a second runner: %v, want EADDRINUSE", err)
	}
	e.st.Close()
	if _, err := r.Wait(context.Background()); !errors.Is(err, syscall.ENETDOWN) {
		t.Fatalf("Wait after the stack closed: %v, want ENETDOWN", err)
	}
}

// An IP link (a TUN) has no broadcast and no MAC: Run refuses it.
func TestRun_IPLinkRefused(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{Link: nic.LinkIP})
	defer b.Close()
	st, err := stack.New(a, stack.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := Run(st, RunConfig{}); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("Run on an IP link: %v, want EOPNOTSUPP", err)
	}
}
