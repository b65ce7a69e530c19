package stack_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Config: what New refuses, and the defaults it fills in (each one the
// Linux value the Config documentation names), each observed through
// what the stack does.

// TestNew_UnusableConfig_ErrBadConfig: the stack's address must be an
// IPv4 host prefix or none (the zero prefix: DHCP gets one), the gateway an on-link IPv4 address (RFC 1122 §3.3.1.1: a
// host's first hop is on one of its connected networks), and the link
// must carry the 68 octets every IPv4 module must handle (RFC 791 §3.2).
func TestNew_UnusableConfig_ErrBadConfig(t *testing.T) {
	prefix := netip.MustParsePrefix("10.0.0.2/24")
	for _, c := range []struct {
		name string
		cfg  stack.Config
		mtu  int
		ok   bool
	}{
		{"no address yet (DHCP)", stack.Config{}, 1500, true},
		{"gateway without address", stack.Config{Gateway: peerIP}, 1500, false},
		{"address 0.0.0.0", stack.Config{Addr: netip.MustParsePrefix("0.0.0.0/24")}, 1500, false},
		{"IPv6 address", stack.Config{Addr: netip.MustParsePrefix("fd00::2/64")}, 1500, false},
		{"gateway off link", stack.Config{Addr: prefix, Gateway: netip.MustParseAddr("10.0.1.1")}, 1500, false},
		{"IPv6 gateway", stack.Config{Addr: prefix, Gateway: netip.MustParseAddr("fd00::1")}, 1500, false},
		{"link MTU 67", stack.Config{Addr: prefix}, 67, false},
		{"link MTU 68", stack.Config{Addr: prefix}, 68, true},
		{"on-link gateway", stack.Config{Addr: prefix, Gateway: peerIP}, 1500, true},
		{"no gateway", stack.Config{Addr: prefix}, 1500, true},
		{"unknown ECN mode", stack.Config{Addr: prefix, TCP: tcp.Config{ECN: tcp.ECNOff + 1}}, 1500, false},
		{"ECN off", stack.Config{Addr: prefix, TCP: tcp.Config{ECN: tcp.ECNOff}}, 1500, true},
	} {
		a, b := nic.NewPipe(nic.PipeConfig{MTU: c.mtu})
		st, err := stack.New(a, c.cfg)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, stack.ErrBadConfig)) {
			t.Errorf("%s: New: %v, want ok=%v (else ErrBadConfig)", c.name, err, c.ok)
		}
		if st != nil {
			st.Close()
		}
		b.Close()
	}
}

// TestNew_Routes_OnLinkPrefixAndDefaultViaGateway: the routing table New
// builds holds the on-link prefix (masked), and the default route only
// when there is a gateway; without one, an off-link destination has no
// route (ENETUNREACH, counted as OutNoRoutes, RFC 4293).
func TestNew_Routes_OnLinkPrefixAndDefaultViaGateway(t *testing.T) {
	e := newEnv(t)
	want := []ipv4.Route{
		{Dst: netip.MustParsePrefix("10.0.0.0/24")},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: peerIP},
	}
	if got := e.st.Routes(); !sameRoutes(got, want) {
		t.Errorf("routes with a gateway: %+v, want %+v", got, want)
	}

	e = newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.Gateway = netip.Addr{} })
	if got := e.st.Routes(); !sameRoutes(got, want[:1]) {
		t.Errorf("routes without a gateway: %+v, want %+v", got, want[:1])
	}
	fd := bound(t, e, stackAP)
	if _, err := fd.SendTo([]byte("x"), 0, netip.AddrPortFrom(remoteIP, 9)); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("UDP to an off-link host with no default route: %v, want ENETUNREACH", err)
	}
	tc, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer tc.Close()
	if err := tc.Connect(netip.AddrPortFrom(remoteIP, 80)); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("TCP connect to an off-link host with no default route: %v, want ENETUNREACH", err)
	}
	if got := e.st.Stats().IPv4.OutNoRoutes; got != 1 {
		t.Errorf("OutNoRoutes = %d, want 1 (the UDP datagram)", got)
	}
	e.none()
}

func sameRoutes(got, want []ipv4.Route) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || (g.Dst == w.Dst && g.Gateway == w.Gateway)
		}
		if !found {
			return false
		}
	}
	return true
}

// TestNew_SubnetBroadcast_FromPrefixLength: the subnet-directed broadcast
// address is the prefix with every host bit set (RFC 919, RFC 922, RFC
// 1122 §3.2.1.3), whatever the prefix length: in 10.0.0.2/22 it is
// 10.0.3.255, while 10.0.1.255 is an ordinary host.
func TestNew_SubnetBroadcast_FromPrefixLength(t *testing.T) {
	for _, c := range []struct {
		prefix, bcast, host string
	}{
		{"10.0.0.2/22", "10.0.3.255", "10.0.1.255"},
		{"10.0.0.2/30", "10.0.0.3", "10.0.0.1"},
		{"10.0.0.2/9", "10.127.255.255", "10.0.255.255"},
	} {
		e := newEnv(t, func(cfg *stack.Config, _ *nic.PipeConfig) {
			cfg.Addr = netip.MustParsePrefix(c.prefix)
			cfg.Gateway = netip.Addr{}
		})
		// An echo request to the broadcast address is ignored as one...
		e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Dst: netip.MustParseAddr(c.bcast)}, echoRequest(1, 1, nil)))
		e.none()
		if got := e.st.Stats().ICMP.InBroadcastEchos; got != 1 {
			t.Errorf("%s: echo to %s: InBroadcastEchos = %d, want 1", c.prefix, c.bcast, got)
		}
		// ...and a datagram from it is a martian (RFC 1122 §3.2.1.3).
		e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Src: netip.MustParseAddr(c.bcast)}, echoRequest(1, 1, nil)))
		if got := e.st.Stats().IPv4.InBadSource; got != 1 {
			t.Errorf("%s: datagram from %s: InBadSource = %d, want 1", c.prefix, c.bcast, got)
		}
		// A host address is neither: its echo request is answered.
		e.inject(arpFrame(arp.OpRequest, peerMAC, netip.MustParseAddr(c.host), ethernet.MAC{}, stackIP, ethernet.Broadcast))
		e.drain()
		e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Src: netip.MustParseAddr(c.host)}, echoRequest(1, 1, nil)))
		if ip, m := e.nextICMP(); m.Type() != ipv4.TypeEchoReply || ip.Dst() != netip.MustParseAddr(c.host) {
			t.Errorf("%s: echo from host %s: got type %d to %v", c.prefix, c.host, m.Type(), ip.Dst())
		}
	}
}

// TestNew_Defaults_ClockTTLLoggerAndTCP: a zero Config field takes its
// default (the real clock, TTL 64 as Linux's ip_default_ttl (RFC 1700),
// slog's default logger, tcp.DefaultConfig with the MSS of the link, RFC
// 9293 §3.7.1), and a field that is set is used as given.
func TestNew_Defaults_ClockTTLLoggerAndTCP(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{})
	defer b.Close()
	st, err := stack.New(a, stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Clock().(clock.Real); !ok {
		t.Errorf("default clock %T, want clock.Real", st.Clock())
	}
	st.Close()

	var log bytes.Buffer
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) {
		c.TTL = 17
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
		c.TCP = tcp.Config{MSS: 1000}
	})
	e.learnPeer()
	e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, nil)))
	if ip, _ := e.nextICMP(); ip.TTL() != 17 {
		t.Errorf("echo reply TTL %d, want the configured 17", ip.TTL())
	}
	// Another host claims our address (RFC 5227 §2.4): logged to the
	// configured logger.
	e.inject(arpFrame(arp.OpReply, peerMAC, stackIP, stackMAC, stackIP, stackMAC))
	if !strings.Contains(log.String(), "another host claims our address") {
		t.Errorf("configured logger got %q, want the address conflict", log.String())
	}
	listening(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	if s := e.nextTCP(); s.Options.MSS != 1000 {
		t.Errorf("SYN-ACK MSS %d, want the configured 1000", s.Options.MSS)
	}

	// With no logger configured, the conflict goes to slog's default
	// logger (and does not panic).
	var def bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&def, nil)))
	defer slog.SetDefault(old)
	e = newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.Logger = nil })
	e.inject(arpFrame(arp.OpReply, peerMAC, stackIP, stackMAC, stackIP, stackMAC))
	if !strings.Contains(def.String(), "another host claims our address") {
		t.Errorf("default logger got %q, want the address conflict", def.String())
	}
}

// TestICMPErrorLimit_DefaultBurst50Rate1000_NegativeOff: RFC 1812
// §4.3.2.8 rate limit with Linux's defaults, icmp_msgs_burst 50 and
// icmp_msgs_per_sec 1000 (a token back every millisecond); a negative
// rate turns the limit off. The per-destination limit is off here
// (TestICMPErrorLimit_PerDestination has it).
func TestICMPErrorLimit_DefaultBurst50Rate1000_NegativeOff(t *testing.T) {
	provoke := func(e *env, n int) (sent int) {
		for range n {
			e.inject(ipFrame(ipv4.Fields{Protocol: 253}, nil))
		}
		for {
			if _, ok := e.peer.TryRead(); !ok {
				return sent
			}
			sent++
		}
	}
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ICMPErrorInterval = -1 })
	e.learnPeer()
	if got := provoke(e, 60); got != 50 {
		t.Errorf("default burst: %d errors for 60 datagrams, want 50", got)
	}
	e.clk.Advance(3 * time.Millisecond)
	if got := provoke(e, 10); got != 3 {
		t.Errorf("3 ms later: %d errors, want 3 (1000 per second)", got)
	}

	e = newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ICMPErrorRate, c.ICMPErrorInterval = -1, -1 })
	e.learnPeer()
	if got := provoke(e, 200); got != 200 {
		t.Errorf("rate limit off: %d errors for 200 datagrams, want 200", got)
	}
}

// TestUDP_DefaultReceiveBuffer_LinuxRmemDefault: a UDP socket's receive
// buffer is Config.UDPRcvBuf, by default 212992 bytes (Linux's
// net.core.rmem_default), each datagram charged its payload and
// udp.DatagramOverhead.
func TestUDP_DefaultReceiveBuffer_LinuxRmemDefault(t *testing.T) {
	queued := func(e *env) int {
		bound(t, e, stackAP)
		n := 0
		for ; n < 1000; n++ {
			before := e.st.Stats().UDP.RcvbufErrors
			e.inject(udpFrame(peerAP, stackAP, make([]byte, 936)))
			if e.st.Stats().UDP.RcvbufErrors != before {
				break
			}
		}
		return n
	}
	if got := queued(newEnv(t)); got != 212992/1000 {
		t.Errorf("default buffer held %d datagrams of 1000 bytes charged, want %d", got, 212992/1000)
	}
	if got := queued(newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.UDPRcvBuf = 5000 })); got != 5 {
		t.Errorf("5000-byte buffer held %d datagrams of 1000 bytes charged, want 5", got)
	}
}

// TestTCPMemory_DefaultPressureThreeQuartersOfLimit_NegativeLimitOff: as
// Linux's tcp_mem, pressure begins when the rings in use reach
// TCPMemoryPressure, by default 3/4 of the limit; a negative limit turns the budget off (nothing
// is accounted).
func TestTCPMemory_DefaultPressureThreeQuartersOfLimit_NegativeLimitOff(t *testing.T) {
	// fill sends n unread bytes to a connection from port: its receive
	// ring grows 4 → 8 → 16 KiB as they come.
	fill := func(e *env, port uint16, iss seqnum.Value, n int) {
		seq := peerISS + 1
		for range n / 1000 {
			e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, pattern(1000)))
			seq += 1000
		}
		e.drain()
	}
	// Limit 32 KiB: pressure from 24 KiB on.
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.TCPMemoryLimit = 32 << 10 })
	_, iss := established(t, e)
	fill(e, peerPort, iss, 16000)
	if st := e.st.Stats().TCP; st.MemUsedBytes != 16<<10 || st.MemUnderPressure != 0 {
		t.Errorf("16 KiB in use of a 32 KiB limit: used %d, under pressure %d; want 16384, 0", st.MemUsedBytes, st.MemUnderPressure)
	}
	_, iss2 := establishedOn(t, e, peerPort+1)
	fill(e, peerPort+1, iss2, 8000)
	if st := e.st.Stats().TCP; st.MemUsedBytes != 24<<10 || st.MemUnderPressure != 1 {
		t.Errorf("24 KiB in use of a 32 KiB limit: used %d, under pressure %d; want 24576, 1", st.MemUsedBytes, st.MemUnderPressure)
	}

	// A pressure threshold that is set is used: 16 KiB reach 12 KiB.
	e = newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.TCPMemoryLimit, c.TCPMemoryPressure = 32<<10, 12<<10 })
	_, iss = established(t, e)
	fill(e, peerPort, iss, 16000)
	if st := e.st.Stats().TCP; st.MemUsedBytes != 16<<10 || st.MemUnderPressure != 1 {
		t.Errorf("16 KiB in use, pressure set at 12 KiB: used %d, under pressure %d; want 16384, 1", st.MemUsedBytes, st.MemUnderPressure)
	}

	e = newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.TCPMemoryLimit = -1 })
	_, iss = established(t, e)
	fill(e, peerPort, iss, 16000)
	if st := e.st.Stats().TCP; st.MemUsedBytes != 0 || st.MemUnderPressure != 0 {
		t.Errorf("budget off: used %d, under pressure %d; want 0, 0", st.MemUsedBytes, st.MemUnderPressure)
	}
}

// TestICMPErrorLimit_PerDestination: as Linux's icmp_ratelimit (1000 ms)
// with XRLIM_BURST_FACTOR 6, ICMPv4 errors to one destination come 6 at
// once and then one a second, counted in out_rate_limit_host; another
// destination has its own bucket; the global bucket is not charged for
// an error the destination's refused (Linux 6.12's order); negative
// ICMPErrorInterval turns the limit off.
func TestICMPErrorLimit_PerDestination(t *testing.T) {
	other := netip.MustParseAddr("10.0.0.7")
	otherMAC := ethernet.MAC{2, 0, 0, 0, 0, 7}
	provoke := func(e *env, src netip.Addr, n int) (sent int) {
		for range n {
			e.inject(ipFrame(ipv4.Fields{Protocol: 253, Src: src}, nil))
		}
		for {
			if _, ok := e.peer.TryRead(); !ok {
				return sent
			}
			sent++
		}
	}
	// A global burst of 8: the first destination's 10 datagrams take 6
	// of it, so the other destination's 2 errors still go out.
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ICMPErrorRate, c.ICMPErrorBurst = 1, 8 })
	e.learnPeer()
	e.inject(arpFrame(arp.OpRequest, otherMAC, other, ethernet.MAC{}, stackIP, ethernet.Broadcast))
	e.drain()
	if got := provoke(e, peerIP, 10); got != 6 {
		t.Errorf("%d errors for 10 datagrams at once, want the burst of 6", got)
	}
	if st := e.st.Stats().ICMP; st.OutRateLimitHost != 4 || st.OutRateLimited != 0 {
		t.Errorf("out_rate_limit_host = %d, out_rate_limited = %d, want 4 and 0", st.OutRateLimitHost, st.OutRateLimited)
	}
	if got := provoke(e, other, 2); got != 2 {
		t.Errorf("another destination: %d errors for 2 datagrams, want 2 (its own bucket)", got)
	}
	e.clk.Advance(time.Second)
	if got := provoke(e, peerIP, 3); got != 1 {
		t.Errorf("a second later: %d errors for 3 datagrams, want 1", got)
	}

	e = newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ICMPErrorInterval = -1 })
	e.learnPeer()
	if got := provoke(e, peerIP, 10); got != 10 {
		t.Errorf("per-destination limit off: %d errors for 10 datagrams, want 10", got)
	}
}
