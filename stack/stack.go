// Package stack wires one NIC to the protocols: it is the only place where a
// nic.Device meets ethernet, arp, ipv4 and the transports. It owns the demux,
// routing, the timer scheduler, the counters and the configuration.
//
// Concurrency: one mutex guards all protocol state. Frames are processed
// inline on the device's receive goroutine (no channel hop per packet), under
// that mutex, one batch at a time. User calls (socket operations) take the
// same mutex, do their protocol work and release it; they block, when they
// must, on a per-endpoint notification, never by polling. All timers come
// from one Clock timer armed for the earliest protocol deadline. Every
// exported method is safe for concurrent use.
package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/ports"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/buffer"
	"github.com/tapstack/tapstack/udp"
)

// Config configures a Stack. The zero value of every field has a sensible
// default.
type Config struct {
	// Addr is the stack's own address and its on-link prefix, e.g.
	// 10.0.0.2/24. The zero prefix means no address yet (a DHCP client
	// gets one, then calls SetAddr): until then the stack has no routes,
	// sends only to the limited broadcast address, from 0.0.0.0, and
	// receives only broadcasts.
	Addr netip.Prefix
	// Gateway is the default route's next hop; zero means no default
	// route. It must be on-link in Addr (and zero when Addr is).
	Gateway netip.Addr
	// Clock drives every timer; default clock.Real{}. Tests use clock.Manual.
	Clock clock.Clock
	// TTL for datagrams the stack originates; default ipv4.DefaultTTL (64).
	TTL uint8
	// ARP configures the neighbour cache (RFC 1122 §2.3.2).
	ARP arp.Config
	// Reassembly bounds IPv4 reassembly (RFC 791 §3.2, RFC 1122 §3.3.2).
	Reassembly ipv4.ReassemblyConfig
	// ICMPErrorRate and ICMPErrorBurst limit the ICMP errors the stack sends
	// (RFC 1812 §4.3.2.8): a token bucket refilled at ICMPErrorRate per
	// second, default 1000 with a burst of 50, as Linux's icmp_msgs_per_sec
	// and icmp_msgs_burst, shared by ICMPv4 and ICMPv6 errors as Linux's
	// icmp_global. Negative disables this limit.
	ICMPErrorRate  int
	ICMPErrorBurst int
	// ICMPErrorInterval limits the ICMP errors (of both families) sent to
	// one destination to one per interval, with a burst of 6, checked
	// before the global bucket (icmplimit.go): default 1 s, as Linux's
	// icmp_ratelimit and net.ipv6.icmp.ratelimit. Negative disables it.
	// ICMPv6's Packet Too Big is never limited (Linux's ratemask).
	ICMPErrorInterval time.Duration
	// TCP is the default configuration of every TCP connection; its MSS
	// defaults to the link MTU minus 40 (RFC 9293 §3.7.1), and may not be
	// more.
	TCP tcp.Config
	// MaxConnections bounds the TCP connection table, TIME-WAIT included
	// (each entry costs a TCB of about 2 KiB once its rings are freed);
	// beyond it SYNs are dropped and counted and connects fail with
	// ENOBUFS. Default 131072.
	MaxConnections int
	// TCPMemoryPressure and TCPMemoryLimit bound the receive and send ring
	// bytes of all TCP connections together, as Linux's net.ipv4.tcp_mem
	// (see buffer.Memory). From the pressure threshold on, windows stop
	// growing, rings emptied are given back, and out-of-order data that
	// needs a larger ring is dropped; at the limit no ring grows past its
	// 4 KiB minimum (data beyond is dropped and counted, the peer
	// retransmits; writes wait) and new connections are refused: SYNs
	// dropped and counted, connects fail with ENOBUFS. Defaults 384 MiB
	// and 512 MiB; a negative limit turns the budget off.
	TCPMemoryPressure int
	TCPMemoryLimit    int
	// MaxSocketBuffer caps the value SO_RCVBUF and SO_SNDBUF accept before
	// it is doubled, as Linux's net.core.rmem_max and wmem_max; default
	// Linux's 212992 (so at most 425984 bytes per buffer by setsockopt;
	// the TCP config's RcvBuf and SndBuf set larger defaults).
	MaxSocketBuffer int
	// UDPRcvBuf is the default receive buffer of a UDP endpoint in bytes;
	// default 212992, Linux's net.core.rmem_default.
	UDPRcvBuf int
	// Addr6 is a static IPv6 address and its on-link prefix, e.g.
	// fd00::2/64 (RFC 4862 §5.4: tentative until duplicate address
	// detection passes); zero for none. The link-local address is always
	// there on Ethernet; routers' prefixes add SLAAC addresses.
	Addr6 netip.Prefix
	// DupAddrDetectTransmits is the number of neighbour solicitations
	// duplicate address detection sends per IPv6 address (RFC 4862 §5.1);
	// 0 means the default, 1; negative turns DAD off (Linux
	// accept_dad=0): addresses are usable at once.
	DupAddrDetectTransmits int
	// Logger receives rare events (address conflicts, device errors);
	// default slog.Default(). If it is enabled at slog.LevelDebug when New
	// runs, it also receives every counted drop and every TCP state change,
	// rate-limited (see debuglog.go); otherwise those cost nothing.
	Logger *slog.Logger
}

// ErrBadConfig is returned by New for an unusable configuration.
var ErrBadConfig = errors.New("stack: bad configuration")

// Stack is one network interface's TCP/IP stack.
type Stack struct {
	dev   nic.Device
	info  nic.Info
	mac   ethernet.MAC
	mtu   int
	ttl   uint8
	clock clock.Clock
	log   *slog.Logger

	// ipLink: the device carries bare IP packets (a TUN): no Ethernet
	// header, no ARP, no MAC (mac is zero), every datagram goes straight
	// to the device.
	ipLink bool
	// linkHdr is the link header's length, the room reserved in front of
	// each datagram built in out: 14 on Ethernet, 0 on an IP link.
	linkHdr int

	mu     sync.Mutex
	closed bool
	addr   netip.Addr   // our address; 0.0.0.0 when we have none (see ours)
	prefix netip.Prefix // our on-link prefix (masked); zero when no address
	bcast  netip.Addr   // the subnet-directed broadcast address
	stats  Stats
	arp    *arp.Cache
	routes ipv4.RouteTable
	ids    *ipv4.IDGen
	reasm  *ipv4.Reassembler
	udp    *udp.Table
	udpEPs map[*udp.Endpoint]*UDPEndpoint
	pings  map[uint16]*PingEndpoint
	pings6 map[uint16]*PingEndpoint // ICMPv6 ping endpoints (ping.go)
	ip6    ip6State                 // IPv6 addresses, neighbour cache, routers, MLD (addr6.go)
	// IPv6 fragments and ICMPv6 errors (ip6frag.go, pmtu6.go,
	// icmp6err.go). rx6LinkMcast: the IPv6 packet being handled came as a
	// link-layer multicast or broadcast (RFC 4443 §2.4 (e.4)).
	reasm6       *ipv6.Reassembler
	pmtu6        pmtuCache
	icmp6Peers   icmpPeerLimit
	rx6LinkMcast bool

	tcpCfg        tcp.Config
	cfgMSS        int // the TCP MSS New settled on, the most SetMTU allows
	tcpCounters   tcp.Counters
	tcpMem        *buffer.Memory // nil: no budget
	pmtu          pmtuCache
	maxSockBuf    int
	maxConns      int
	tcpOut        tcpOutput
	isn           *tcp.ISNGenerator
	tcpPorts      *ports.Picker
	tcpConns      map[tcpKey]*tcpEntry
	tcpByConn     map[*tcp.Conn]*tcpEntry
	tcpListeners  map[uint16]*listenEntry
	tcpListeners6 map[uint16]*listenEntry // IPv6 listeners (tcp6.go); a dual-stack one is in both
	tcpListenerOf map[*tcp.Listener]*listenEntry
	tcpBound      map[uint16]int // live sockets bound to each port
	tcpEPs        map[*TCPEndpoint]struct{}
	tcpTimers     deadlineHeap
	inBatch       bool        // the receive loop is handling a batch of frames
	batchNow      time.Time   // when the batch was read: the time of every frame in it
	batched       []*tcpEntry // connections that got segments in this batch
	due           []*tcpEntry // scratch for tcpTimersLocked
	icmpLimit     tokenBucket
	icmpPeers     icmpPeerLimit   // ICMPv4 errors per destination (icmplimit.go)
	udpMatches    []*udp.Endpoint // scratch for udpFanOutLocked
	// icmpPeerInterval is Config.ICMPErrorInterval.
	icmpPeerInterval time.Duration
	udpRcvBuf        int
	dbg              debugLog // drop and TCP state records at debug level

	looping  bool     // a datagram to ourselves is being delivered
	loopback [][]byte // datagrams to ourselves, delivered at unlock

	timer   clock.Timer
	timerAt time.Time // when timer fires; zero when not armed

	// Output scratch, used only under mu: a datagram is built in out at
	// offset linkHdr so the link header, if any, can be prepended in
	// place; fragments are assembled in frag. wr avoids a slice per Write.
	out  []byte
	frag []byte
	// gsoBuf holds each datagram segmentsLocked cuts from a TCP segment
	// of several MSS, at offset linkHdr; grown to the largest cut.
	gsoBuf []byte
	wr     [1]nic.Frame
	// vec is dev when it writes a frame in pieces (nic.VecWriter); tail
	// is the payload of the TCP segment being sent from s.out, not yet
	// copied behind its headers, which end at tailAt in s.out (gso.go).
	vec    nic.VecWriter
	tail   [2][]byte
	tailAt int

	loopDone chan struct{}
}

// New builds a stack on dev. It does not read from the device until Start.
func New(dev nic.Device, cfg Config) (*Stack, error) {
	if err := checkAddr(cfg.Addr, cfg.Gateway); err != nil {
		return nil, err
	}
	if err := checkAddr6(cfg.Addr6); err != nil {
		return nil, err
	}
	info := dev.Info()
	if info.Link != nic.LinkEthernet && info.Link != nic.LinkIP {
		return nil, fmt.Errorf("%w: device %s has an unknown link kind %d", ErrBadConfig, info.Name, info.Link)
	}
	if info.MTU < ipv4.MinMTU { // RFC 791 §3.2; TCP works down to it (tcp's minPeerMSS)
		return nil, fmt.Errorf("%w: link MTU %d is below IPv4's minimum of %d", ErrBadConfig, info.MTU, ipv4.MinMTU)
	}
	if info.MTU > ipv4.MaxTotalLen {
		return nil, fmt.Errorf("%w: link MTU %d is above IPv4's maximum of %d (the largest datagram)", ErrBadConfig, info.MTU, ipv4.MaxTotalLen)
	}
	// RFC 9293 §3.7.1: the MSS is what the link carries less the IP and
	// TCP headers. A larger one would make segments the link cannot carry
	// (TCP sets DF: they would be dropped here, and the connection stall).
	linkMSS := info.MTU - ipv4.HeaderMinLen - tcp.HeaderMinLen
	if cfg.TCP.MSS > linkMSS {
		return nil, fmt.Errorf("%w: TCP MSS %d does not fit link MTU %d: at most %d (the MTU less 40)", ErrBadConfig, cfg.TCP.MSS, info.MTU, linkMSS)
	}
	if c := cfg.TCP.Congestion; c != "" && !tcp.IsCongestionControl(c) {
		return nil, fmt.Errorf("%w: unknown TCP congestion control %q: use one of %s", ErrBadConfig, c, strings.Join(tcp.CongestionControls(), ", "))
	}
	if m := cfg.TCP.ECN; m > tcp.ECNOff {
		return nil, fmt.Errorf("%w: unknown TCP ECN mode %v: use tcp.ECNOn, tcp.ECNPassive or tcp.ECNOff", ErrBadConfig, m)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.TTL == 0 {
		cfg.TTL = ipv4.DefaultTTL
	}
	if cfg.Reassembly == (ipv4.ReassemblyConfig{}) {
		cfg.Reassembly = ipv4.DefaultReassemblyConfig()
	}
	if cfg.ICMPErrorRate == 0 {
		cfg.ICMPErrorRate = 1000
	}
	if cfg.ICMPErrorBurst == 0 {
		cfg.ICMPErrorBurst = 50
	}
	if cfg.ICMPErrorInterval == 0 {
		cfg.ICMPErrorInterval = defaultICMPErrorInterval
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 131072
	}
	if cfg.UDPRcvBuf <= 0 {
		cfg.UDPRcvBuf = 212992
	}
	if cfg.TCPMemoryLimit == 0 {
		cfg.TCPMemoryLimit = 512 << 20
	}
	if cfg.TCPMemoryPressure <= 0 {
		cfg.TCPMemoryPressure = cfg.TCPMemoryLimit / 4 * 3
	}
	if cfg.MaxSocketBuffer <= 0 {
		cfg.MaxSocketBuffer = 212992
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	mss := cfg.TCP.MSS
	if mss <= 0 {
		mss = linkMSS // not tcp.DefaultMSS, which is Ethernet's
	}
	if cfg.TCP == (tcp.Config{}) {
		cfg.TCP = tcp.DefaultConfig()
	}
	cfg.TCP.MSS = mss
	s := &Stack{
		dev:        dev,
		info:       info,
		mac:        ethernet.MAC(info.MAC),
		mtu:        info.MTU,
		ttl:        cfg.TTL,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		arp:        arp.NewCache(cfg.ARP),
		ids:        ipv4.NewIDGen(),
		reasm:      ipv4.NewReassembler(cfg.Reassembly),
		reasm6:     ipv6.NewReassembler(ipv6.DefaultReassemblyConfig()),
		udp:        udp.NewTable(),
		udpEPs:     make(map[*udp.Endpoint]*UDPEndpoint),
		pings:      make(map[uint16]*PingEndpoint),
		pings6:     make(map[uint16]*PingEndpoint),
		udpRcvBuf:  cfg.UDPRcvBuf,
		maxConns:   cfg.MaxConnections,
		maxSockBuf: cfg.MaxSocketBuffer,

		tcpCfg:        cfg.TCP,
		cfgMSS:        cfg.TCP.MSS,
		isn:           tcp.NewISNGenerator(),
		tcpPorts:      ports.NewPicker(),
		tcpConns:      make(map[tcpKey]*tcpEntry),
		tcpByConn:     make(map[*tcp.Conn]*tcpEntry),
		tcpListeners:  make(map[uint16]*listenEntry),
		tcpListenerOf: make(map[*tcp.Listener]*listenEntry),
		tcpBound:      make(map[uint16]int),
		tcpEPs:        make(map[*TCPEndpoint]struct{}),
		out:           make([]byte, ethernet.HeaderLen+ipv6.HeaderLen+ipv6.MaxPayloadLen), // the largest IPv4 or IPv6 packet
		frag:          make([]byte, max(info.MaxFrame, ethernet.MinFrameLen)),
	}
	s.tcpOut = tcpOutput{s: s}
	s.vec, _ = dev.(nic.VecWriter)
	s.ipLink, s.linkHdr = info.Link == nic.LinkIP, info.Link.HeaderLen()
	s.tcpCfg.Counters = &s.tcpCounters // every connection adds to the stack's totals
	if s.tcpCfg.GSOMaxSize == 0 {
		s.tcpCfg.GSOMaxSize = gsoMaxPayload // cut in the device (TSO) or in segmentsLocked
	}
	if cfg.TCPMemoryLimit > 0 {
		s.tcpMem = buffer.NewMemory(cfg.TCPMemoryPressure, cfg.TCPMemoryLimit)
		s.tcpCfg.Memory = s.tcpMem
	}
	s.icmpLimit.init(cfg.ICMPErrorRate, cfg.ICMPErrorBurst, s.clock.Now())
	s.icmpPeerInterval = cfg.ICMPErrorInterval
	s.initDebugLocked()
	s.setAddrLocked(cfg.Addr, cfg.Gateway)
	s.initIPv6Locked(&cfg)
	return s, nil
}

// checkAddr validates an address and gateway for New and SetAddr.
func checkAddr(addr netip.Prefix, gw netip.Addr) error {
	if !addr.IsValid() {
		if gw.IsValid() {
			return fmt.Errorf("%w: gateway %v without an address", ErrBadConfig, gw)
		}
		return nil
	}
	if !addr.Addr().Is4() || addr.Addr().IsUnspecified() {
		return fmt.Errorf("%w: address %v is not an IPv4 host prefix", ErrBadConfig, addr)
	}
	if gw.IsValid() && (!gw.Is4() || !addr.Masked().Contains(gw)) {
		return fmt.Errorf("%w: gateway %v is not on-link in %v", ErrBadConfig, gw, addr.Masked())
	}
	return nil
}

// defaultRoute is the destination of the route through the gateway.
var defaultRoute = netip.PrefixFrom(netip.IPv4Unspecified(), 0)

// setAddrLocked makes addr our address and prefix (the zero prefix: none)
// and replaces the on-link and default routes.
func (s *Stack) setAddrLocked(addr netip.Prefix, gw netip.Addr) {
	if s.prefix.IsValid() {
		s.routes.Remove(s.prefix)
	}
	s.routes.Remove(defaultRoute)
	if !addr.IsValid() {
		// No address: datagrams go out from 0.0.0.0 (RFC 1122 §3.2.1.3:
		// "this host on this network", allowed as a source only while
		// the host learns its address), to the limited broadcast only.
		s.addr, s.prefix, s.bcast = netip.IPv4Unspecified(), netip.Prefix{}, limitedBroadcast
		return
	}
	s.addr, s.prefix, s.bcast = addr.Addr(), addr.Masked(), broadcastOf(addr)
	s.routes.Add(ipv4.Route{Dst: s.prefix})
	if gw.IsValid() {
		s.routes.Add(ipv4.Route{Dst: defaultRoute, Gateway: gw})
	}
}

// SetAddr replaces the stack's address, on-link prefix and default route
// at run time (a DHCP lease, RFC 2131); the zero prefix removes the
// address (a lease lost). On Ethernet a new address is announced with a
// gratuitous ARP (RFC 5227 §3; RFC 2131 §4.4.1 asks the same of a DHCP
// client).
//
// As Linux when an address is deleted, TCP connections and UDP sockets
// bound to the old address are left alone: their datagrams no longer reach
// them and they time out. Sockets bound to 0.0.0.0 follow the new address.
// ARP entries stay (they age out, RFC 1122 §2.3.2.1). The errors are New's
// for a bad address or gateway.
func (s *Stack) SetAddr(addr netip.Prefix, gateway netip.Addr) error {
	if err := checkAddr(addr, gateway); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return ErrStackClosed
	}
	old := s.addr
	s.setAddrLocked(addr, gateway)
	if !s.ipLink && s.hasAddrLocked() && s.addr != old && s.loopDone != nil {
		s.sendARPLocked(arp.OpRequest, ethernet.Broadcast, ethernet.MAC{}, s.addr)
	}
	return nil
}

// hasAddrLocked reports whether the stack has an address.
func (s *Stack) hasAddrLocked() bool { return s.prefix.IsValid() }

// ours reports whether a is the stack's address (never 0.0.0.0, which
// stands in for no address).
func (s *Stack) ours(a netip.Addr) bool { return a == s.addr && s.prefix.IsValid() }

func broadcastOf(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	bits := p.Bits()
	for i := 0; i < 4; i++ {
		hostBits := max(0, min(8, (i+1)*8-bits))
		a[i] |= byte(1<<hostBits - 1)
	}
	return netip.AddrFrom4(a)
}

// Addr returns the stack's own address: 0.0.0.0 while it has none.
func (s *Stack) Addr() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Prefix returns the on-link prefix: the zero Prefix while there is no address.
func (s *Stack) Prefix() netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prefix
}

// MAC returns the stack's link-layer address (zero on an IP link).
func (s *Stack) MAC() ethernet.MAC { return s.mac }

// MTU returns the MTU the stack sends with: the link's, or less after
// SetMTU.
func (s *Stack) MTU() int {
	s.mu.Lock()
	defer s.unlock()
	return s.mtu
}

// DeviceMTU returns the device's MTU, the most SetMTU accepts.
func (s *Stack) DeviceMTU() int { return s.info.MTU }

// SetMTU sets the MTU the stack sends with at run time, as a DHCP
// interface-MTU option (RFC 2132 §5.1) or `ip link set mtu` does: at
// least 68 (RFC 791 §3.2) and at most the device's MTU, else EINVAL.
// Datagrams larger than it are fragmented; TCP connections and listeners
// made from now on take their MSS from it (the MTU less 40, or the configured MSS if
// smaller, RFC 9293 §3.7.1); established ones keep theirs, as Linux's do
// until path MTU discovery lowers them.
func (s *Stack) SetMTU(mtu int) error {
	if mtu < ipv4.MinMTU || mtu > s.info.MTU {
		return syscall.EINVAL
	}
	s.mu.Lock()
	defer s.unlock()
	s.mtu = mtu
	s.tcpCfg.MSS = min(s.cfgMSS, mtu-ipv4.HeaderMinLen-tcp.HeaderMinLen)
	return nil
}

// Clock returns the clock that drives the stack's timers.
func (s *Stack) Clock() clock.Clock { return s.clock }

// MaxSocketBuffer returns the most SO_RCVBUF or SO_SNDBUF accepts before
// doubling (Config.MaxSocketBuffer).
func (s *Stack) MaxSocketBuffer() int { return s.maxSockBuf }

// Routes returns a copy of the routing table.
func (s *Stack) Routes() []ipv4.Route {
	s.mu.Lock()
	defer s.unlock()
	return s.routes.Routes()
}

// Neighbors returns a snapshot of the ARP cache (empty on an IP link).
func (s *Stack) Neighbors() []arp.Entry {
	s.mu.Lock()
	defer s.unlock()
	return s.arp.Entries()
}

// Stats returns a snapshot of the counters.
func (s *Stack) Stats() Stats {
	s.mu.Lock()
	defer s.unlock()
	st := s.stats
	st.TCP.ChallengeACKs = s.tcpCounters.ChallengeACKs
	st.TCP.ACKsRateLimited = s.tcpCounters.ACKsRateLimited
	st.TCP.PAWSDrops = s.tcpCounters.PAWSDrops
	st.TCP.SynCookiesSent = s.tcpCounters.SynCookiesSent
	st.TCP.SynCookiesRecv = s.tcpCounters.SynCookiesRecv
	st.TCP.SynCookiesFailed = s.tcpCounters.SynCookiesFailed
	st.TCP.ListenOverflows = s.tcpCounters.ListenOverflows
	st.TCP.ListenDrops = s.tcpCounters.ListenDrops
	st.TCP.OutOfOrderDrops = s.tcpCounters.OutOfOrderDrops
	st.TCP.RecvQueueDrops = s.tcpCounters.RecvQueueDrops
	st.TCP.RetransSegs = s.tcpCounters.RetransSegs
	st.TCP.Timeouts = s.tcpCounters.Timeouts
	st.TCP.Recoveries = s.tcpCounters.Recoveries
	st.TCP.LossProbes = s.tcpCounters.LossProbes
	st.TCP.FastRetrans = s.tcpCounters.FastRetrans
	st.TCP.SACKRecoveries = s.tcpCounters.SACKRecoveries
	st.TCP.RenoRecoveries = s.tcpCounters.RenoRecoveries
	st.TCP.RACKRecoveries = s.tcpCounters.RACKRecoveries
	st.TCP.TLPRecoveries = s.tcpCounters.TLPRecoveries
	st.TCP.SACKDiscards = s.tcpCounters.SACKDiscards
	st.TCP.DSACKUndos = s.tcpCounters.DSACKUndos
	st.TCP.SpuriousRTOs = s.tcpCounters.SpuriousRTOs
	st.TCP.CEReceived = s.tcpCounters.CEReceived
	st.TCP.ECEReceived = s.tcpCounters.ECEReceived
	st.TCP.ECNReductions = s.tcpCounters.ECNReductions
	st.TCP.ECESent = s.tcpCounters.ECESent
	st.TCP.CWRSent = s.tcpCounters.CWRSent
	mem := s.tcpMem.Stats()
	st.TCP.MemUsedBytes = uint64(mem.Used)
	if mem.Pressure {
		st.TCP.MemUnderPressure = 1
	}
	st.TCP.MemPressures = mem.PressureEvents
	st.TCP.MemSendLimited = mem.SendLimited
	// tcpCurrEstab (RFC 4022): connections in ESTABLISHED or CLOSE-WAIT;
	// TimeWait: those in TIME-WAIT, compact or not.
	for _, e := range s.tcpConns {
		if e.tw != nil {
			st.TCP.TimeWait++
			continue
		}
		switch e.conn.State() {
		case tcp.StateEstablished, tcp.StateCloseWait:
			st.TCP.CurrEstab++
		case tcp.StateTimeWait:
			st.TCP.TimeWait++
		}
	}
	return st
}

// Start announces the stack with a gratuitous ARP (RFC 5227 §3; not on an
// IP link, which has no ARP) and starts the receive loop on its own
// goroutine.
func (s *Stack) Start() {
	s.mu.Lock()
	s.loopDone = make(chan struct{})
	if !s.ipLink && s.hasAddrLocked() {
		s.sendARPLocked(arp.OpRequest, ethernet.Broadcast, ethernet.MAC{}, s.addr)
	}
	s.start6Locked() // DAD, MLD reports, router solicitation (nd6.go)
	s.unlock()
	go s.loop()
}

// loop reads batches of frames and processes each inline, taking the lock
// once per batch.
func (s *Stack) loop() {
	defer close(s.loopDone)
	batch := max(s.info.Batch, 1)
	bufs := make([][]byte, batch)
	frames := make([]nic.Frame, batch)
	for i := range frames {
		bufs[i] = make([]byte, s.info.MaxFrame)
	}
	for {
		for i := range frames {
			frames[i] = nic.Frame{Data: bufs[i]}
		}
		n, err := s.dev.Read(frames)
		if err != nil {
			if errors.Is(err, nic.ErrClosed) {
				return
			}
			s.mu.Lock()
			closed := s.closed
			s.unlock()
			if closed {
				return
			}
			s.log.Warn("device read failed", "err", err)
			continue
		}
		s.mu.Lock()
		now := s.clock.Now()
		s.inBatch, s.batchNow = true, now
		for i := 0; i < n; i++ {
			s.handleFrameLocked(frames[i].Data, frames[i].Meta)
		}
		s.inBatch, s.batchNow = false, time.Time{}
		s.flushBatchLocked(now)
		s.unlock()
	}
}

// nowLocked is the time for the frame being handled: the batch's read time
// within a batch (the frames arrived together; one clock read serves them
// all, and it is the better arrival time for RTT samples), else the clock.
func (s *Stack) nowLocked() time.Time {
	if s.inBatch {
		return s.batchNow
	}
	return s.clock.Now()
}

// HandleFrame processes one received frame (on an IP link, one packet)
// synchronously, exactly as the receive loop does. Replies are written to the device before it returns.
// Packet-level tests drive the stack through it.
func (s *Stack) HandleFrame(frame []byte, meta nic.Meta) {
	s.mu.Lock()
	s.handleFrameLocked(frame, meta)
	s.unlock()
}

// Close stops the stack: every endpoint is closed (blocked calls return),
// the timer is stopped, and the device is closed.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.unlock()
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	for _, e := range s.udpEPs {
		e.closeLocked()
	}
	for _, p := range s.pings {
		p.closeLocked()
	}
	for _, p := range s.pings6 {
		p.closeLocked()
	}
	for e := range s.tcpEPs {
		e.closeNotifiers()
	}
	s.flushDebugLocked()
	done := s.loopDone
	s.unlock()
	err := s.dev.Close()
	if done != nil {
		<-done
	}
	return err
}

// rearmLocked points the scheduler timer at the earliest ARP or reassembly
// deadline, if that is earlier than where it points now. Called after
// anything that may have created an earlier deadline there.
func (s *Stack) rearmLocked() {
	if t, ok := s.arp.NextDeadline(); ok {
		s.armLocked(t)
	}
	if t, ok := s.reasm.NextDeadline(); ok {
		s.armLocked(t)
	}
	if t, ok := s.reasm6.NextDeadline(); ok {
		s.armLocked(t)
	}
	s.rearm6Locked()
}

// armLocked makes the single scheduler timer fire no later than t.
func (s *Stack) armLocked(t time.Time) {
	if s.closed || (!s.timerAt.IsZero() && !t.Before(s.timerAt)) {
		return
	}
	s.timerAt = t
	d := t.Sub(s.clock.Now())
	if s.timer == nil {
		s.timer = s.clock.AfterFunc(d, s.onTimer)
	} else {
		s.timer.Reset(d)
	}
}

// onTimer runs every protocol deadline that has passed.
func (s *Stack) onTimer() {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return
	}
	s.timerAt = time.Time{}
	now := s.clock.Now()
	s.tcpTimersLocked(now)
	s.arp.Expire(now, s.arpRequestDue, s.arpFailed)
	s.timers6Locked(now)
	s.dbg.timedOutFirsts = 0
	timedOut := uint64(s.reasm.Expire(now, s.reassemblyTimedOut))
	s.stats.IPv4.ReasmTimeouts += timedOut
	s.stats.IPv4.ReasmFails += timedOut
	if s.dbg.on && timedOut > s.dbg.timedOutFirsts {
		s.logReasmTimeoutsLocked(catIPv4, "reasm_timeouts", timedOut-s.dbg.timedOutFirsts)
	}
	s.expireReasm6Locked(now)
	s.rearmLocked()
	if t, ok := s.tcpTimers.next(); ok {
		s.armLocked(t)
	}
}

// unlock delivers the datagrams the stack sent to itself, then releases
// the lock. Loopback delivery waits until here so that no protocol is
// re-entered from inside its own output call. The budget bounds a
// ping-pong between two local endpoints; what is left waits for the next
// unlock.
func (s *Stack) unlock() {
	for budget := 1024; len(s.loopback) > 0 && budget > 0 && !s.closed; budget-- {
		pkt := s.loopback[0]
		s.loopback[0] = nil
		s.loopback = s.loopback[1:]
		s.looping = true
		if pkt[0]>>4 == ipVersion6 {
			s.deliverLoop6Locked(pkt)
		} else {
			s.handleIPv4Locked(pkt, false, nic.Meta{})
		}
		s.looping = false
	}
	if len(s.loopback) == 0 {
		s.loopback = nil
	}
	s.mu.Unlock()
}

// tokenBucket limits ICMP errors (RFC 1812 §4.3.2.8, Linux icmp_global_allow).
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (b *tokenBucket) init(rate, burst int, now time.Time) {
	b.rate, b.burst, b.tokens, b.last = float64(rate), float64(burst), float64(burst), now
}

func (b *tokenBucket) allow(now time.Time) bool {
	if b.rate < 0 {
		return true
	}
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
