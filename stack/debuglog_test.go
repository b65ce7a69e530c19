package stack_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// logRecorder is a slog.Handler that keeps every record at or above level,
// each as its message followed by its attributes: `drop layer=udp ...`.
type logRecorder struct {
	level slog.Level
	mu    sync.Mutex
	recs  []string
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *logRecorder) WithGroup(string) slog.Handler                { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%s", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, b.String())
	r.mu.Unlock()
	return nil
}

// take returns the records whose message is msg (all if msg is "") and
// forgets every record kept so far.
func (r *logRecorder) take(msg string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.recs {
		if msg == "" || strings.HasPrefix(s, msg+" ") {
			out = append(out, s)
		}
	}
	r.recs = nil
	return out
}

// newDebugEnv is newEnv with a logger at level recording into the returned
// recorder.
func newDebugEnv(t *testing.T, level slog.Level, mutate ...func(*stack.Config, *nic.PipeConfig)) (*env, *logRecorder) {
	rec := &logRecorder{level: level}
	setLogger := func(c *stack.Config, _ *nic.PipeConfig) { c.Logger = slog.New(rec) }
	return newEnv(t, append([]func(*stack.Config, *nic.PipeConfig){setLogger}, mutate...)...), rec
}

// badUDPChecksum is a datagram from the peer's port 5000 to the stack's
// udp/7 whose checksum is off by one.
func badUDPChecksum() []byte {
	u := udpDatagram(netip.AddrPortFrom(peerIP, 5000), netip.AddrPortFrom(stackIP, 7), []byte("hi"))
	u[6]++
	return ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP}, u)
}

// icmpErrorAboutUnboundUDP is a port unreachable from the peer quoting a
// UDP datagram of ours from port 4242, which no socket holds.
func icmpErrorAboutUnboundUDP() []byte {
	inner := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP, Src: stackIP, Dst: peerIP},
		udpDatagram(netip.AddrPortFrom(stackIP, 4242), netip.AddrPortFrom(peerIP, 53), nil))[ethernet.HeaderLen:]
	b := make([]byte, ipv4.ICMPHeaderLen+len(inner))
	return ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, b[:ipv4.EncodeError(b, ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, ipv4.Header(inner))])
}

// Every drop the stack counts is one debug record naming the layer, the
// counter (reason) and the packet's addresses and ports.
func TestDebugLog_Drop_RecordsLayerReasonAndAddresses(t *testing.T) {
	tcpBadSum := tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil)
	tcpBadSum[ethernet.HeaderLen+ipv4.HeaderMinLen+16]++ // the TCP checksum
	ipBadSum := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, nil))
	ipBadSum[ethernet.HeaderLen+10]++ // the IPv4 header checksum
	udpNoPort := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP},
		udpDatagram(netip.AddrPortFrom(peerIP, 5000), netip.AddrPortFrom(stackIP, 9999), nil))
	otherMAC := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, nil))
	copy(otherMAC[0:6], []byte{0x02, 0, 0, 0, 0, 0x99})
	lldp := make([]byte, ethernet.HeaderLen+40) // LLDP: an EtherType the stack does not handle
	ethernet.Encode(lldp, stackMAC, peerMAC, 0x88cc)
	ipv6Zero := make([]byte, ethernet.HeaderLen+40) // version 0
	ethernet.Encode(ipv6Zero, stackMAC, peerMAC, ethernet.TypeIPv6)
	arpHType := arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast)
	arpHType[ethernet.HeaderLen+1] = 6 // IEEE 802 hardware, not Ethernet
	// Records read only the bytes there are: an IPv4 payload shorter than
	// a header, or not of version 4, is identified by its length alone.
	ipShort := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, nil)[:ethernet.HeaderLen+12]
	ipV6 := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, nil))
	ipV6[ethernet.HeaderLen] = 0x65
	// An ICMP error of a bare 8-byte header quotes nothing, but its type
	// and code are there.
	bareErr := make(ipv4.ICMP, ipv4.ICMPHeaderLen)
	bareErr.SetType(ipv4.TypeDestUnreachable)
	bareErr.SetCode(ipv4.CodePortUnreachable)
	bareErr.SetChecksum()
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"UDP checksum", badUDPChecksum(),
			"drop layer=udp reason=in_csum_errors src=10.0.0.1:5000 dst=10.0.0.2:7 proto=17 len=30"},
		{"UDP closed port", udpNoPort,
			"drop layer=udp reason=no_ports src=10.0.0.1:5000 dst=10.0.0.2:9999 proto=17 len=28"},
		{"TCP checksum", tcpBadSum,
			"drop layer=tcp reason=in_csum_errors src=10.0.0.1:40000 dst=10.0.0.2:80 proto=6 len=40"},
		{"IPv4 not for us", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP, Dst: otherIP},
			udpDatagram(netip.AddrPortFrom(peerIP, 5000), netip.AddrPortFrom(otherIP, 53), nil)),
			"drop layer=ipv4 reason=in_addr_errors src=10.0.0.1:5000 dst=10.0.0.77:53 proto=17 len=28"},
		{"IPv4 header checksum", ipBadSum,
			"drop layer=ipv4 reason=in_csum_errors src=10.0.0.1 dst=10.0.0.2 icmp_type=8 icmp_code=0 proto=1 len=28"},
		{"link not for us", otherMAC,
			"drop layer=link reason=not_for_us eth_src=02:00:00:00:00:01 eth_dst=02:00:00:00:00:99 ether_type=IPv4 src=10.0.0.1 dst=10.0.0.2 icmp_type=8 icmp_code=0 proto=1 len=28"},
		{"link unknown EtherType", lldp,
			"drop layer=link reason=unknown_ether_type eth_src=02:00:00:00:00:01 eth_dst=02:00:00:00:00:02 ether_type=0x88cc len=54"},
		{"ipv6 bad version", ipv6Zero,
			"drop layer=ipv6 reason=in_bad_version eth_src=02:00:00:00:00:01 eth_dst=02:00:00:00:00:02 ether_type=IPv6 len=54"},
		{"ARP not Ethernet", arpHType,
			"drop layer=arp reason=unsupported eth_src=02:00:00:00:00:01 eth_dst=ff:ff:ff:ff:ff:ff ether_type=ARP op=1 sender=10.0.0.1 sender_mac=02:00:00:00:00:01 target=10.0.0.2 len=42"},
		{"link runt", make([]byte, 10), "drop layer=link reason=malformed len=10"},
		{"IPv4 header cut short", ipShort, "drop layer=ipv4 reason=in_truncated len=12"},
		{"IPv4 version 6", ipV6, "drop layer=ipv4 reason=in_bad_version len=28"},
		{"ICMP error about a datagram no socket sent", icmpErrorAboutUnboundUDP(),
			"drop layer=icmp reason=in_errors_unmatched from=10.0.0.1 icmp_type=3 icmp_code=3 quoted_src=10.0.0.2:4242 quoted_dst=10.0.0.1:53 quoted_proto=17 quoted_len=28"},
		{"ICMP error quoting nothing", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, bareErr),
			"drop layer=icmp reason=in_errors_unmatched from=10.0.0.1 icmp_type=3 icmp_code=3 quoted_len=0"},
		{"ICMP broadcast echo", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Dst: netip.MustParseAddr("10.0.0.255")}, echoRequest(1, 1, nil)),
			"drop layer=icmp reason=in_broadcast_echos src=10.0.0.1 dst=10.0.0.255 icmp_type=8 icmp_code=0 proto=1 len=28"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, rec := newDebugEnv(t, slog.LevelDebug)
			e.learnPeer()
			rec.take("")
			before := e.st.Stats().Drops()
			e.inject(tc.frame)
			if got := rec.take("drop"); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("drop records %q, want [%q]", got, tc.want)
			}
			if got := e.st.Stats().Drops() - before; got != 1 {
				t.Errorf("Stats().Drops() grew by %d, want 1", got)
			}
		})
	}
}

// A datagram given up on because its next hop never answered ARP
// (RFC 1122 §2.3.2.2) is logged with its own addresses.
func TestDebugLog_DropOnOutput_ARPResolutionFailed(t *testing.T) {
	e, rec := newDebugEnv(t, slog.LevelDebug)
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_DGRAM, 0)
	defer fd.Close()
	if err := fd.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 5000)); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.SendTo([]byte("lost"), 0, netip.AddrPortFrom(otherIP, 9)); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(5 * time.Second) // past the ARP retries
	want := "drop layer=arp reason=resolution_failed src=10.0.0.2:5000 dst=10.0.0.77:9 proto=17 len=32"
	if got := rec.take("drop"); !slices.Equal(got, []string{want}) {
		t.Fatalf("drop records %q, want [%q]", got, want)
	}
}

// A drop counted inside package tcp (here PAWS, RFC 7323 §5.3) is logged
// by the stack, which compares tcp.Counters around the segment.
func TestDebugLog_DropInsideTCP_PAWS(t *testing.T) {
	e, rec := newDebugEnv(t, slog.LevelDebug, noARPExpiry)
	_, iss := establishedTS(t, e)
	rec.take("")
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd,
		Options: tsOpt(500)}, []byte("old")))
	want := "drop layer=tcp reason=paws_drops src=10.0.0.1:40000 dst=10.0.0.2:80 proto=6 len=55"
	if got := rec.take("drop"); !slices.Equal(got, []string{want}) {
		t.Fatalf("drop records %q, want [%q]", got, want)
	}
	if n := e.st.Stats().TCP.PAWSDrops; n != 1 {
		t.Fatalf("PAWSDrops %d, want 1", n)
	}
}

// Every TCP state change is a record with the 4-tuple, from and to: the
// passive open, the active close, and the end of the compact TIME-WAIT
// entry, which has no Conn to report it.
func TestDebugLog_TCPStateChanges(t *testing.T) {
	e, rec := newDebugEnv(t, slog.LevelDebug, noARPExpiry)
	c, iss := established(t, e)
	activeCloseToTimeWait(t, e, c, iss, tcp.Options{})
	e.clk.Advance(60 * time.Second) // 2·MSL
	var want []string
	for _, ft := range [][2]string{{"CLOSED", "LISTEN"}, {"LISTEN", "SYN-RECEIVED"}, {"SYN-RECEIVED", "ESTABLISHED"},
		{"ESTABLISHED", "FIN-WAIT-1"}, {"FIN-WAIT-1", "FIN-WAIT-2"}, {"FIN-WAIT-2", "TIME-WAIT"}, {"TIME-WAIT", "CLOSED"}} {
		want = append(want, "tcp state local=10.0.0.2:80 remote=10.0.0.1:40000 from="+ft[0]+" to="+ft[1])
	}
	if got := rec.take("tcp state"); !slices.Equal(got, want) {
		t.Fatalf("state records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Each category has a token bucket: a burst of 10 records, then 2 a second
// (Linux's net_ratelimit budget); the next record after a suppression says
// how many were suppressed, and so does Close. Another category is not
// affected.
func TestDebugLog_RateLimit_BurstThenRefillWithSuppressedCount(t *testing.T) {
	e, rec := newDebugEnv(t, slog.LevelDebug, noARPExpiry)
	e.learnPeer()
	rec.take("")
	for range 15 {
		e.inject(badUDPChecksum())
	}
	if got := rec.take(""); len(got) != 10 {
		t.Fatalf("15 drops at one instant gave %d records, want the burst of 10: %q", len(got), got)
	}
	// The TCP state category has its own bucket.
	established(t, e)
	if got := rec.take("tcp state"); len(got) != 3 {
		t.Fatalf("after the UDP burst, %d TCP state records, want 3: %q", len(got), got)
	}
	e.clk.Advance(time.Second) // 2 tokens
	for range 3 {
		e.inject(badUDPChecksum())
	}
	drop := "drop layer=udp reason=in_csum_errors src=10.0.0.1:5000 dst=10.0.0.2:7 proto=17 len=30"
	want := []string{"debug records suppressed by the rate limit category=udp suppressed=5", drop, drop}
	if got := rec.take(""); !slices.Equal(got, want) {
		t.Fatalf("a second later, 3 drops gave %q, want %q", got, want)
	}
	e.st.Close()
	want = []string{"debug records suppressed by the rate limit category=udp suppressed=1"}
	if got := rec.take(""); !slices.Equal(got, want) {
		t.Fatalf("Close logged %q, want %q", got, want)
	}
	if n := e.st.Stats().UDP.InCsumErrors; n != 18 {
		t.Fatalf("InCsumErrors %d: the rate limit must not change the count (18)", n)
	}

	// So are TCP state records: six passive opens at one instant make
	// eighteen (CLOSED → LISTEN → SYN-RECEIVED → ESTABLISHED each).
	e, rec = newDebugEnv(t, slog.LevelDebug, noARPExpiry)
	e.learnPeer()
	tcpListen(t, e)
	rec.take("")
	for i := range uint16(6) {
		handshake(t, e, peerPort+i)
	}
	if got := rec.take("tcp state"); len(got) != 10 {
		t.Fatalf("six passive opens at one instant gave %d state records, want the burst of 10: %q", len(got), got)
	}

	// ICMP errors dropped unused are limited the same way.
	e, rec = newDebugEnv(t, slog.LevelDebug, noARPExpiry)
	e.learnPeer()
	rec.take("")
	for range 15 {
		e.inject(icmpErrorAboutUnboundUDP())
	}
	if got := rec.take(""); len(got) != 10 {
		t.Fatalf("15 unusable ICMP errors at one instant gave %d records, want the burst of 10: %q", len(got), got)
	}
}

// With the logger above debug, neither drops nor state changes make
// records.
func TestDebugLog_Off_NoRecords(t *testing.T) {
	e, rec := newDebugEnv(t, slog.LevelInfo, noARPExpiry)
	e.learnPeer()
	e.inject(badUDPChecksum())
	established(t, e)
	if got := rec.take(""); len(got) != 0 {
		t.Fatalf("records at info level: %q", got)
	}
}

// A reassembly timeout (RFC 1122 §3.3.2) is one record per datagram that
// timed out: with the first fragment's addresses when it had come, and
// as a count for those whose first fragment never came (the reassembler
// knows nothing more of them).
func TestDebugLog_ReassemblyTimeouts_FirstFragmentAddressesElseACount(t *testing.T) {
	e, rec := newDebugEnv(t, slog.LevelDebug, noARPExpiry)
	e.learnPeer()
	dgram := func(id uint16) [][]byte {
		return fragments(t, ipFrame(ipv4.Fields{ID: id, Protocol: ipv4.ProtoUDP},
			udpDatagram(netip.AddrPortFrom(peerIP, 5), netip.AddrPortFrom(stackIP, 9), pattern(3000))), 1500)
	}
	e.inject(dgram(1)[0])
	e.inject(dgram(2)[1])
	e.inject(dgram(3)[1])
	rec.take("")
	e.clk.Advance(30 * time.Second)
	want := []string{
		"drop layer=ipv4 reason=reasm_timeouts src=10.0.0.1:5 dst=10.0.0.2:9 proto=17 len=1500",
		"drop layer=ipv4 reason=reasm_timeouts datagrams=2",
	}
	if got := rec.take("drop"); !slices.Equal(got, want) {
		t.Fatalf("reassembly timeout records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Only datagrams whose first fragment came: no count record.
	e.inject(dgram(4)[0])
	e.clk.Advance(30 * time.Second)
	if got := rec.take("drop"); !slices.Equal(got, want[:1]) {
		t.Fatalf("reassembly timeout records:\n%s\nwant:\n%s", strings.Join(got, "\n"), want[0])
	}
}
