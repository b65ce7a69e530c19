package stack_test

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/udp"
)

// The counters are the stack's account of what it did with each frame:
// every frame or datagram is counted once in its layer's input counter,
// and a drop in exactly one drop counter with its reason (stats.go; RFC
// 4293's ipSystemStats, RFC 4022, RFC 4113, netstat -s). The tests here
// compare the whole Stats value before and after one event, so a counter
// that moves twice, moves the wrong way or moves when it should not is
// caught as surely as one that does not move.

// gauges are not event counters: they describe the state now.
var gauges = map[string]bool{
	"TCP.CurrEstab": true, "TCP.TimeWait": true,
	"TCP.MemUsedBytes": true, "TCP.MemUnderPressure": true,
}

// statsDelta returns every counter that differs between before and after,
// by "Layer.Field", gauges left out.
func statsDelta(before, after stack.Stats) map[string]int64 {
	d := map[string]int64{}
	b, a := reflect.ValueOf(before), reflect.ValueOf(after)
	for i := 0; i < b.NumField(); i++ {
		layer := b.Type().Field(i).Name
		for j := 0; j < b.Field(i).NumField(); j++ {
			name := layer + "." + b.Field(i).Type().Field(j).Name
			if gauges[name] {
				continue
			}
			if v := int64(a.Field(i).Field(j).Uint() - b.Field(i).Field(j).Uint()); v != 0 {
				d[name] = v
			}
		}
	}
	return d
}

func formatDelta(d map[string]int64) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s%+d", k, d[k])
	}
	return b.String()
}

// expectCounted runs event and fails unless the counters moved by exactly
// want (every other counter unchanged).
func (e *env) expectCounted(what string, want map[string]int64, event func()) {
	e.t.Helper()
	before := e.st.Stats()
	event()
	got := statsDelta(before, e.st.Stats())
	if !reflect.DeepEqual(got, want) {
		e.t.Errorf("%s: counters moved by\n\t%s\nwant\n\t%s", what, formatDelta(got), formatDelta(want))
	}
}

// in is what the link and IPv4 count for every datagram for us that
// passes validation: one frame of n bytes received, one datagram received.
func in(n int, more map[string]int64) map[string]int64 {
	m := map[string]int64{"Link.FramesIn": 1, "Link.BytesIn": int64(n), "IPv4.InReceives": 1}
	for k, v := range more {
		m[k] += v
	}
	return m
}

// out adds one datagram the stack sent in one frame of n bytes (before
// padding to the Ethernet minimum).
func out(n int, m map[string]int64) map[string]int64 {
	m["IPv4.OutRequests"]++
	m["Link.FramesOut"]++
	m["Link.BytesOut"] += int64(max(n, ethernet.MinFrameLen))
	return m
}

// TestCounters_IPv4AndICMPInput_EachDatagramCountedOnceByOutcome: RFC 4293
// ipSystemStatsInReceives counts every datagram, InDelivers those handed to
// a protocol (not those answered with protocol unreachable, RFC 1122
// §3.2.2.1), and RFC 4293's icmpMsgStats count each ICMP message once
// by type; a broadcast echo is counted and ignored (Linux
// icmp_echo_ignore_broadcasts).
func TestCounters_IPv4AndICMPInput_EachDatagramCountedOnceByOutcome(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	icmpIn := func(name string, msg []byte, want map[string]int64) {
		t.Helper()
		f := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, msg)
		e.expectCounted(name, in(len(f), want), func() { e.inject(f) })
		e.none()
	}
	icmpError := func(typ, code uint8) []byte {
		// About a datagram we did not send: nobody to hand it to.
		inner := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP, Src: peerIP, Dst: otherIP}, make([]byte, 8))[ethernet.HeaderLen:]
		b := make([]byte, ipv4.ICMPHeaderLen+len(inner))
		return b[:ipv4.EncodeError(b, typ, code, 0, ipv4.Header(inner))]
	}

	req := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, pattern(100)))
	e.expectCounted("echo request", out(len(req), in(len(req), map[string]int64{
		"IPv4.InDelivers": 1, "ICMP.InMsgs": 1, "ICMP.InEchos": 1, "ICMP.OutMsgs": 1, "ICMP.OutEchoReps": 1,
	})), func() { e.inject(req) })
	e.nextICMP()
	e.none()

	bc := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Dst: netip.MustParseAddr("10.0.0.255")}, echoRequest(1, 1, nil))
	e.expectCounted("broadcast echo request", in(len(bc), map[string]int64{
		"IPv4.InDelivers": 1, "ICMP.InMsgs": 1, "ICMP.InEchos": 1, "ICMP.InBroadcastEchos": 1,
	}), func() { e.inject(bc) })
	e.none()

	unk := ipFrame(ipv4.Fields{Protocol: 253}, pattern(30))
	e.expectCounted("unknown protocol", out(len(unk)+ipv4.HeaderMinLen+ipv4.ICMPHeaderLen, in(len(unk), map[string]int64{
		"IPv4.InUnknownProtos": 1, "ICMP.OutMsgs": 1, "ICMP.OutDestUnreachs": 1,
	})), func() { e.inject(unk) })
	e.nextICMP()

	icmpIn("destination unreachable", icmpError(ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable), map[string]int64{
		"IPv4.InDelivers": 1, "ICMP.InMsgs": 1, "ICMP.InDestUnreachs": 1, "ICMP.InErrorsUnmatched": 1,
	})
	icmpIn("time exceeded", icmpError(ipv4.TypeTimeExceeded, ipv4.CodeTTLExceeded), map[string]int64{
		"IPv4.InDelivers": 1, "ICMP.InMsgs": 1, "ICMP.InTimeExcds": 1, "ICMP.InErrorsUnmatched": 1,
	})
	icmpIn("parameter problem", icmpError(ipv4.TypeParamProblem, 0), map[string]int64{
		"IPv4.InDelivers": 1, "ICMP.InMsgs": 1, "ICMP.InOther": 1, "ICMP.InErrorsUnmatched": 1,
	})
	// About datagrams we did send, but that no socket of ours sent: from a
	// UDP port nobody has bound, an echo request with an identifier no
	// ping socket holds, a protocol we have no sockets for. RFC 1122
	// §3.2.2.1 reports the error to the transport layer, where no socket
	// matches: counted as unmatched and dropped.
	ourError := func(proto uint8, payload []byte) []byte {
		inner := ipFrame(ipv4.Fields{Protocol: proto, Src: stackIP, Dst: peerIP}, payload)[ethernet.HeaderLen:]
		b := make([]byte, ipv4.ICMPHeaderLen+len(inner))
		return b[:ipv4.EncodeError(b, ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, ipv4.Header(inner))]
	}
	for name, quoted := range map[string][]byte{
		"UDP from an unbound port":          ourError(ipv4.ProtoUDP, udpDatagram(netip.AddrPortFrom(stackIP, 4242), peerAP, nil)),
		"an echo request of no ping socket": ourError(ipv4.ProtoICMP, echoRequest(4242, 1, nil)),
		"protocol 253":                      ourError(253, make([]byte, 8)),
	} {
		icmpIn("error about "+name, quoted, map[string]int64{
			"IPv4.InDelivers": 1, "ICMP.InMsgs": 1, "ICMP.InDestUnreachs": 1, "ICMP.InErrorsUnmatched": 1,
		})
	}
	reply := ipv4.ICMP(echoRequest(1, 1, nil))
	reply.SetType(ipv4.TypeEchoReply)
	reply.SetChecksum()
	icmpIn("echo reply for no ping socket", reply, map[string]int64{
		"IPv4.InDelivers": 1, "ICMP.InMsgs": 1, "ICMP.InEchoReps": 1,
	})
	ts := ipv4.ICMP(echoRequest(1, 1, nil))
	ts.SetType(ipv4.TypeTimestamp) // without its Originate Timestamp
	ts.SetChecksum()
	icmpIn("timestamp request of 8 octets", ts, map[string]int64{
		"IPv4.InDelivers": 1, "ICMP.InMsgs": 1, "ICMP.InTimestamps": 1, "ICMP.InErrors": 1,
	})
	bad := echoRequest(1, 1, nil)
	bad[2] ^= 0xff
	icmpIn("bad ICMP checksum", bad, map[string]int64{
		"IPv4.InDelivers": 1, "ICMP.InMsgs": 1, "ICMP.InErrors": 1,
	})
}

// TestCounters_Reassembly_EachFragmentCountedOnceByOutcome: RFC 4293
// ipSystemStatsReasmReqds counts every fragment received, ReasmOKs every
// datagram reassembled (and only then is one delivered), ReasmFails every
// failure detected by the reassembly algorithm whatever its reason (an
// overlap, no memory, a datagram too big, a timeout), each reason also in
// its own counter.
func TestCounters_Reassembly_EachFragmentCountedOnceByOutcome(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) {
		c.ARP.ReachableTime = time.Hour
		c.Reassembly = ipv4.ReassemblyConfig{Timeout: 30 * time.Second, MaxBytes: 1 << 20, MaxDatagrams: 2}
	})
	e.learnPeer()
	frag := func(id uint16, off int, mf bool, n int) []byte {
		return ipFrame(ipv4.Fields{ID: id, Protocol: ipv4.ProtoUDP, FragOffset: off, MF: mf}, pattern(n))
	}
	fragIn := func(name string, f []byte, want map[string]int64) {
		t.Helper()
		want["IPv4.ReasmReqds"]++
		e.expectCounted(name, in(len(f), want), func() { e.inject(f) })
	}

	fragIn("first fragment", frag(1, 0, true, 16), map[string]int64{})
	fragIn("duplicate fragment", frag(1, 0, true, 16), map[string]int64{"IPv4.ReasmDuplicates": 1})
	fragIn("overlapping fragment", frag(1, 8, true, 16), map[string]int64{"IPv4.ReasmOverlaps": 1, "IPv4.ReasmFails": 1})
	fragIn("fragment too big", frag(2, ipv4.MaxTotalLen-16, true, 16), map[string]int64{"IPv4.ReasmFails": 1})
	fragIn("datagram 3", frag(3, 0, true, 16), map[string]int64{})
	fragIn("datagram 4", frag(4, 8, true, 16), map[string]int64{})
	fragIn("datagram 5: no room", frag(5, 0, true, 16), map[string]int64{"IPv4.ReasmNoMemory": 1, "IPv4.ReasmFails": 1})

	// The last fragment of datagram 3 completes it: a UDP datagram to a
	// closed port, delivered and answered with port unreachable.
	u := udpDatagram(peerAP, netip.AddrPortFrom(stackIP, 9999), pattern(80))
	whole := ipFrame(ipv4.Fields{ID: 6, Protocol: ipv4.ProtoUDP}, u)
	fs := fragments(t, whole, 68)
	if len(fs) != 2 {
		t.Fatalf("%d fragments, want 2", len(fs))
	}
	e.clk.Advance(29 * time.Second)
	e.none()
	e.expectCounted("two datagrams time out", map[string]int64{
		"IPv4.ReasmTimeouts": 2, "IPv4.ReasmFails": 2,
		// datagram 3's first fragment came: time exceeded (RFC 1122 §3.3.2)
		"ICMP.OutMsgs": 1, "ICMP.OutTimeExcds": 1, "IPv4.OutRequests": 1, "Link.FramesOut": 1,
		"Link.BytesOut": ethernet.HeaderLen + ipv4.HeaderMinLen + ipv4.ICMPHeaderLen + ipv4.HeaderMinLen + 16,
	}, func() { e.clk.Advance(time.Second) })
	if _, m := e.nextICMP(); m.Type() != ipv4.TypeTimeExceeded {
		t.Fatalf("got ICMP type %d, want time exceeded", m.Type())
	}
	e.none()
	fragIn("fragment of datagram 6", fs[0], map[string]int64{})
	fragIn("completing fragment", fs[1], map[string]int64{
		"IPv4.ReasmOKs": 1, "IPv4.InDelivers": 1, "UDP.NoPorts": 1,
		"ICMP.OutMsgs": 1, "ICMP.OutDestUnreachs": 1, "IPv4.OutRequests": 1, "Link.FramesOut": 1,
		"Link.BytesOut": int64(ethernet.HeaderLen + ipv4.HeaderMinLen + ipv4.ICMPHeaderLen + len(whole) - ethernet.HeaderLen),
	})
	e.nextICMP()
	e.none()
}

// TestCounters_UDP_EachDatagramCountedOnceByOutcome: RFC 4113's
// udpInDatagrams counts datagrams delivered to a socket, udpNoPorts those
// no socket took (answered with port unreachable, RFC 1122 §4.1.3.1),
// udpInErrors malformed ones, with Linux's InCsumErrors and RcvbufErrors
// for a bad checksum and a full receive buffer; udpOutDatagrams every
// datagram sent, and IPv4's FragCreates/FragOKs (RFC 4293) one sent in
// fragments.
func TestCounters_UDP_EachDatagramCountedOnceByOutcome(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	fd := bound(t, e, stackAP)
	if err := fd.SetsockoptInt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1000); err != nil {
		t.Fatal(err)
	}
	udpIn := func(name string, f []byte, want map[string]int64) {
		t.Helper()
		want["IPv4.InDelivers"]++
		e.expectCounted(name, in(len(f), want), func() { e.inject(f) })
	}
	udpIn("datagram for a socket", udpFrame(peerAP, stackAP, make([]byte, 1400)), map[string]int64{"UDP.InDatagrams": 1})
	udpIn("receive buffer full", udpFrame(peerAP, stackAP, make([]byte, 1400)), map[string]int64{"UDP.RcvbufErrors": 1})
	bad := udpFrame(peerAP, stackAP, []byte("x"))
	bad[len(bad)-1] ^= 0xff
	udpIn("bad checksum", bad, map[string]int64{"UDP.InCsumErrors": 1})
	short := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP}, udpDatagram(peerAP, stackAP, nil)[:6])
	udpIn("truncated header", short, map[string]int64{"UDP.InErrors": 1})
	e.none()
	closed := udpFrame(peerAP, netip.AddrPortFrom(stackIP, 9999), nil)
	udpIn("closed port", closed, out(len(closed)+ipv4.HeaderMinLen+ipv4.ICMPHeaderLen, map[string]int64{
		"UDP.NoPorts": 1, "ICMP.OutMsgs": 1, "ICMP.OutDestUnreachs": 1,
	}))
	e.nextICMP()

	e.expectCounted("send", out(ethernet.HeaderLen+ipv4.HeaderMinLen+udp.HeaderLen+10, map[string]int64{"UDP.OutDatagrams": 1}), func() {
		if _, err := fd.SendTo(make([]byte, 10), 0, peerAP); err != nil {
			t.Fatal(err)
		}
	})
	e.nextIPv4()
	// 3000 bytes at MTU 1500: fragments of 1480, 1480 and 48 payload bytes.
	e.expectCounted("send fragmented", map[string]int64{
		"UDP.OutDatagrams": 1, "IPv4.OutRequests": 1, "IPv4.FragCreates": 3, "IPv4.FragOKs": 1,
		"Link.FramesOut": 3, "Link.BytesOut": 3*(ethernet.HeaderLen+ipv4.HeaderMinLen) + udp.HeaderLen + 3000,
	}, func() {
		if _, err := fd.SendTo(make([]byte, 3000), 0, peerAP); err != nil {
			t.Fatal(err)
		}
	})
	for range 3 {
		e.nextIPv4()
	}
	e.none()
	// To ourselves: sent and received without touching the link.
	e.expectCounted("send to our own address", map[string]int64{
		"UDP.OutDatagrams": 1, "IPv4.OutRequests": 2,
		"IPv4.InReceives": 2, "IPv4.InDelivers": 2, "UDP.NoPorts": 1,
		// The port unreachable goes back to ourselves too (to an
		// unconnected socket, which does not report it).
		"ICMP.OutMsgs": 1, "ICMP.OutDestUnreachs": 1, "ICMP.InMsgs": 1, "ICMP.InDestUnreachs": 1,
	}, func() {
		if _, err := fd.SendTo(make([]byte, 10), 0, netip.AddrPortFrom(stackIP, 9999)); err != nil {
			t.Fatal(err)
		}
	})
	e.none()
}

// TestCounters_LinkAndARP_EachFrameCountedOnceByOutcome: every frame is
// counted in, and a frame dropped at the link in exactly one reason; every
// ARP packet in and out by operation (RFC 826), an ARP packet we cannot
// parse as Malformed or, for another hardware or protocol type,
// Unsupported; a frame the device refuses as a write error, not as sent.
func TestCounters_LinkAndARP_EachFrameCountedOnceByOutcome(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ARP.MaxPending = 1 })
	frameIn := func(name string, f []byte, want map[string]int64) {
		t.Helper()
		want["Link.FramesIn"]++
		want["Link.BytesIn"] += int64(len(f))
		e.expectCounted(name, want, func() { e.inject(f) })
	}
	frameIn("runt", make([]byte, ethernet.HeaderLen-1), map[string]int64{"Link.Malformed": 1})
	notUs := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, nil))
	copy(notUs, []byte{0x02, 9, 9, 9, 9, 9})
	frameIn("unicast to another MAC", notUs, map[string]int64{"Link.NotForUs": 1})
	lldp := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, nil))
	lldp[12], lldp[13] = 0x88, 0xcc
	frameIn("LLDP", lldp, map[string]int64{"Link.UnknownEtherType": 1})

	req := arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast)
	frameIn("ARP request for us", req, map[string]int64{
		"ARP.RequestsIn": 1, "ARP.RepliesOut": 1, "Link.FramesOut": 1, "Link.BytesOut": ethernet.MinFrameLen,
	})
	nextARP(e)
	frameIn("ARP reply", arpFrame(arp.OpReply, peerMAC, peerIP, stackMAC, stackIP, stackMAC), map[string]int64{"ARP.RepliesIn": 1})
	frameIn("ARP request for another host", arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, otherIP, ethernet.Broadcast), map[string]int64{"ARP.RequestsIn": 1})
	frameIn("truncated ARP", req[:ethernet.HeaderLen+arp.HeaderLen-1], map[string]int64{"ARP.Malformed": 1})
	hw := append([]byte(nil), req...)
	hw[ethernet.HeaderLen+1] = 6 // hardware type IEEE 802
	frameIn("ARP for IEEE 802 hardware", hw, map[string]int64{"ARP.Unsupported": 1})
	frameIn("another host claims our address", arpFrame(arp.OpReply, peerMAC, stackIP, stackMAC, stackIP, stackMAC), map[string]int64{
		"ARP.RepliesIn": 1, "ARP.AddressConflicts": 1,
	})
	frameIn("sender off link", arpFrame(arp.OpReply, peerMAC, remoteIP, stackMAC, stackIP, stackMAC), map[string]int64{
		"ARP.RepliesIn": 1, "ARP.OffLink": 1,
	})
	e.none()

	// Resolution: a request goes out for the first datagram; the queue
	// holds one, so a second pushes the first out; three unanswered
	// requests later the held one fails.
	fd := bound(t, e, stackAP)
	send := func() {
		if _, err := fd.SendTo([]byte("x"), 0, netip.AddrPortFrom(otherIP, 9)); err != nil {
			t.Fatal(err)
		}
	}
	e.expectCounted("send to an unresolved neighbour", map[string]int64{
		"UDP.OutDatagrams": 1, "IPv4.OutRequests": 1, "ARP.RequestsOut": 1, "Link.FramesOut": 1, "Link.BytesOut": ethernet.MinFrameLen,
	}, send)
	nextARP(e)
	e.expectCounted("send to a full resolution queue", map[string]int64{
		"UDP.OutDatagrams": 1, "IPv4.OutRequests": 1, "ARP.QueueDrops": 1,
	}, send)
	e.none()
	e.clk.Advance(2 * time.Second)
	e.drain()
	e.expectCounted("resolution fails", map[string]int64{"ARP.ResolutionFailed": 1}, func() { e.clk.Advance(time.Second) })
	e.none()

	// A device that refuses frames: each refusal counted, nothing counted as sent.
	e.peer.Close()
	e.expectCounted("the device refuses the reply", map[string]int64{
		"Link.FramesIn": 1, "Link.BytesIn": int64(len(req)), "ARP.RequestsIn": 1, "ARP.RepliesOut": 1, "Link.WriteErrors": 1,
	}, func() { e.inject(req) })
}

// TestCounters_TCPDemux_EachSegmentCountedOnceByOutcome: RFC 4022's
// tcpInSegs counts segments received, tcpInErrs those dropped as
// malformed (with Linux's InCsumErrors for a bad checksum) or sent to a
// broadcast address (RFC 1122 §4.2.3.10), tcpOutSegs every segment sent
// and tcpOutRsts those with RST; tcpPassiveOpens a SYN that opened a
// connection, tcpActiveOpens a connect.
func TestCounters_TCPDemux_EachSegmentCountedOnceByOutcome(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	segIn := func(name string, f []byte, want map[string]int64) {
		t.Helper()
		want["IPv4.InDelivers"]++
		e.expectCounted(name, in(len(f), want), func() { e.inject(f) })
	}
	tcpOut := func(n int, m map[string]int64) map[string]int64 {
		m["TCP.OutSegs"]++
		return out(ethernet.HeaderLen+ipv4.HeaderMinLen+n, m)
	}
	syn := tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil)
	segIn("SYN to a closed port", syn, tcpOut(tcp.HeaderMinLen, map[string]int64{"TCP.InSegs": 1, "TCP.OutRsts": 1}))
	e.expectTCP(tcp.FlagRST|tcp.FlagACK, 0, peerISS+1)
	bad := append([]byte(nil), syn...)
	bad[len(bad)-1] ^= 0xff // the urgent pointer: only the checksum notices
	segIn("bad checksum", bad, map[string]int64{"TCP.InErrs": 1, "TCP.InCsumErrors": 1})
	short := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoTCP}, syn[ethernet.HeaderLen+ipv4.HeaderMinLen:][:tcp.HeaderMinLen-1])
	segIn("truncated header", short, map[string]int64{"TCP.InErrs": 1})
	bc := tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil)
	bcIP := ipv4.Header(bc[ethernet.HeaderLen:])
	bcIP.SetDst(netip.MustParseAddr("10.0.0.255"))
	bcIP.SetChecksum()
	segIn("SYN to the subnet broadcast", bc, map[string]int64{"TCP.InErrs": 1})
	e.none()

	listening(t, e)
	// The SYN-ACK to an option-less SYN carries MSS alone (4 bytes); our
	// own SYN offers MSS, SACK-permitted, timestamps and a window scale
	// in 20 bytes.
	segIn("SYN to a listener", syn, tcpOut(tcp.HeaderMinLen+4, map[string]int64{"TCP.InSegs": 1, "TCP.PassiveOpens": 1}))
	e.nextTCP()

	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer fd.Close()
	e.expectCounted("connect", tcpOut(tcp.HeaderMinLen+20, map[string]int64{"TCP.ActiveOpens": 1}), func() {
		if err := fd.Connect(netip.AddrPortFrom(peerIP, 9)); !errors.Is(err, syscall.EINPROGRESS) {
			t.Fatalf("Connect: %v", err)
		}
	})
	e.nextTCP()
}

// Drops is the sum of every drop counter it documents: each one alone
// counts as exactly one drop.
func TestStats_Drops_SumsEachDropCounter(t *testing.T) {
	for i, set := range []func(*stack.Stats){
		func(s *stack.Stats) { s.Link.Malformed = 1 }, func(s *stack.Stats) { s.Link.NotForUs = 1 },
		func(s *stack.Stats) { s.Link.UnknownEtherType = 1 }, func(s *stack.Stats) { s.Link.WriteErrors = 1 },
		func(s *stack.Stats) { s.Link.UnknownVersion = 1 },
		func(s *stack.Stats) { s.ARP.Malformed = 1 }, func(s *stack.Stats) { s.ARP.Unsupported = 1 },
		func(s *stack.Stats) { s.ARP.ResolutionFailed = 1 }, func(s *stack.Stats) { s.ARP.QueueDrops = 1 },
		func(s *stack.Stats) { s.IPv4.InTruncated = 1 }, func(s *stack.Stats) { s.IPv4.InBadVersion = 1 },
		func(s *stack.Stats) { s.IPv4.InBadHeaderLen = 1 }, func(s *stack.Stats) { s.IPv4.InBadTotalLen = 1 },
		func(s *stack.Stats) { s.IPv4.InCsumErrors = 1 }, func(s *stack.Stats) { s.IPv4.InBadOptions = 1 },
		func(s *stack.Stats) { s.IPv4.InBadSource = 1 }, func(s *stack.Stats) { s.IPv4.InAddrErrors = 1 },
		func(s *stack.Stats) { s.IPv4.InMulticast = 1 }, func(s *stack.Stats) { s.IPv4.InUnknownProtos = 1 },
		func(s *stack.Stats) { s.IPv4.InSourceRouted = 1 }, func(s *stack.Stats) { s.IPv4.OutNoRoutes = 1 },
		func(s *stack.Stats) { s.IPv4.OutDiscards = 1 }, func(s *stack.Stats) { s.IPv4.FragFails = 1 },
		func(s *stack.Stats) { s.IPv4.ReasmFails = 1 }, func(s *stack.Stats) { s.IPv4.ReasmDuplicates = 1 },
		func(s *stack.Stats) { s.ICMP.InErrors = 1 }, func(s *stack.Stats) { s.ICMP.InBroadcastEchos = 1 },
		func(s *stack.Stats) { s.ICMP.InErrorsUnmatched = 1 },
		func(s *stack.Stats) { s.UDP.InErrors = 1 }, func(s *stack.Stats) { s.UDP.InCsumErrors = 1 },
		func(s *stack.Stats) { s.UDP.NoPorts = 1 }, func(s *stack.Stats) { s.UDP.RcvbufErrors = 1 },
		func(s *stack.Stats) { s.TCP.InErrs = 1 }, func(s *stack.Stats) { s.TCP.ConnLimitDrops = 1 },
		func(s *stack.Stats) { s.TCP.MemLimitDrops = 1 }, func(s *stack.Stats) { s.TCP.PAWSDrops = 1 },
		func(s *stack.Stats) { s.TCP.ListenDrops = 1 }, func(s *stack.Stats) { s.TCP.SynCookiesFailed = 1 },
		func(s *stack.Stats) { s.TCP.OutOfOrderDrops = 1 }, func(s *stack.Stats) { s.TCP.RecvQueueDrops = 1 },
		func(s *stack.Stats) { s.TCP.OutOfWindowICMPs = 1 },
		func(s *stack.Stats) { s.IPv6.InTruncated = 1 }, func(s *stack.Stats) { s.IPv6.InBadVersion = 1 },
		func(s *stack.Stats) { s.IPv6.InBadPayloadLen = 1 }, func(s *stack.Stats) { s.IPv6.InBadSource = 1 },
		func(s *stack.Stats) { s.IPv6.InAddrErrors = 1 }, func(s *stack.Stats) { s.IPv6.InHdrErrors = 1 },
		func(s *stack.Stats) { s.IPv6.InUnknownProtos = 1 }, func(s *stack.Stats) { s.IPv6.ReasmFails = 1 },
		func(s *stack.Stats) { s.IPv6.ICMP6InErrors = 1 }, func(s *stack.Stats) { s.IPv6.ICMP6InBadND = 1 },
		func(s *stack.Stats) { s.IPv6.ICMP6NDNotOurs = 1 }, func(s *stack.Stats) { s.IPv6.ICMP6InErrorsUnmatched = 1 },
		func(s *stack.Stats) { s.ND6.InBadRA = 1 }, func(s *stack.Stats) { s.ND6.InBadMLD = 1 },
		func(s *stack.Stats) { s.ND6.RedirectsIgnored = 1 }, func(s *stack.Stats) { s.ND6.NAIgnored = 1 },
		func(s *stack.Stats) { s.ND6.NAForOurs = 1 }, func(s *stack.Stats) { s.ND6.ResolutionFailed = 1 },
		func(s *stack.Stats) { s.ND6.QueueDrops = 1 }, func(s *stack.Stats) { s.ND6.CacheFull = 1 },
	} {
		var s stack.Stats
		set(&s)
		if got := s.Drops(); got != 1 {
			t.Errorf("counter %d alone: Drops() = %d, want 1", i, got)
		}
	}
	var none stack.Stats
	if got := none.Drops(); got != 0 {
		t.Errorf("no counter: Drops() = %d", got)
	}
}
