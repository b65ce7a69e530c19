package stack

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net/netip"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/tcp"
)

// Debug records. With Config.Logger enabled at slog.LevelDebug when New
// runs, the stack logs every packet it drops and counts (a "drop" record:
// the layer, the reason, which is the counter's /stats name, and what
// identifies the packet: addresses, ports, MACs) and every TCP state change
// (a "tcp state" record: the 4-tuple, from and to). The protocol packages
// do not log: drops are seen where the stack counts them, or, for the
// drops package tcp counts (PAWS, listen queue, out-of-order data), by
// comparing tcp.Counters around each segment; state changes come through
// tcp.Config.Observer.
//
// Each category (a drop layer, or TCP states) has its own token bucket, so
// a flood at one layer does not hide another: a burst of debugLogBurst,
// then debugLogRate records a second. Records past the limit are counted,
// and the category's next record (or Close) is preceded by one saying how
// many were suppressed.
//
// With debug off, dbg.on is false and a drop costs a branch: no
// allocation, no formatting, no Observer (TestAllocs_DroppedFrames_Zero).

// debugLogBurst and debugLogRate are Linux's net_ratelimit budget
// (net.core.message_burst = 10 messages per net.core.message_cost = 5 s)
// as a token bucket: 10 at once, then 2 a second.
const (
	debugLogBurst = 10
	debugLogRate  = 2
)

// debugCategory is one rate limit.
type debugCategory uint8

// The debug categories: one per layer that drops, and TCP states.
const (
	catLink debugCategory = iota
	catARP
	catIPv4
	catICMP
	catUDP
	catTCP
	catTCPState
	catIPv6
	numDebugCategories
)

var debugCategoryNames = [numDebugCategories]string{
	catLink: "link", catARP: "arp", catIPv4: "ipv4", catICMP: "icmp",
	catUDP: "udp", catTCP: "tcp", catTCPState: "tcp state",
	catIPv6: "ipv6",
}

// debugLog is the stack's debug-record state, guarded by Stack.mu.
type debugLog struct {
	on         bool
	buckets    [numDebugCategories]tokenBucket
	suppressed [numDebugCategories]uint64
	// timedOutFirsts counts, within one Reassembler.Expire, the timed-out
	// datagrams whose first fragment had come (logged with its addresses).
	timedOutFirsts uint64
}

// initDebugLocked turns debug records on if the logger takes them.
func (s *Stack) initDebugLocked() {
	s.dbg.on = s.log.Enabled(context.Background(), slog.LevelDebug)
	if !s.dbg.on {
		return
	}
	now := s.clock.Now()
	for i := range s.dbg.buckets {
		s.dbg.buckets[i].init(debugLogRate, debugLogBurst, now)
	}
	s.tcpCfg.Observer = s.tcpOut
}

// dropLocked counts a dropped IPv4 datagram b in counter and, with debug
// records on, logs it.
func (s *Stack) dropLocked(counter *uint64, cat debugCategory, reason string, b []byte) {
	*counter++
	if s.dbg.on {
		s.logDropLocked(cat, reason, b, false)
	}
}

// dropFrameLocked is dropLocked for an Ethernet frame, or on an IP link
// for a packet, which is logged as a datagram.
func (s *Stack) dropFrameLocked(counter *uint64, cat debugCategory, reason string, frame []byte) {
	*counter++
	if s.dbg.on {
		s.logDropLocked(cat, reason, frame, !s.ipLink)
	}
}

// logDropLocked logs a drop counted elsewhere, if the rate limit allows:
// b is an Ethernet frame if frame is set, else an IPv4 datagram.
func (s *Stack) logDropLocked(cat debugCategory, reason string, b []byte, frame bool) {
	if !s.debugAllowLocked(cat) {
		return
	}
	attrs := dropAttrs(cat, reason)
	if frame {
		attrs = frameAttrs(attrs, b)
	} else {
		attrs = ipv4Attrs(attrs, "", b)
	}
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "drop", attrs...)
}

// dropICMPErrorLocked is dropLocked for an ICMP error (from from, if
// valid) that the stack could not use: it is identified by its type and
// code and by the datagram of ours it quotes.
func (s *Stack) dropICMPErrorLocked(counter *uint64, cat debugCategory, reason string, m ipv4.ICMP, from netip.Addr) {
	*counter++
	if !s.dbg.on || !s.debugAllowLocked(cat) {
		return
	}
	attrs := dropAttrs(cat, reason)
	if from.IsValid() {
		attrs = append(attrs, slog.String("from", from.String()))
	}
	if len(m) >= ipv4.ICMPHeaderLen {
		attrs = append(attrs, slog.Int("icmp_type", int(m[0])), slog.Int("icmp_code", int(m[1])))
		attrs = ipv4Attrs(attrs, "quoted_", m[ipv4.ICMPHeaderLen:])
	}
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "drop", attrs...)
}

// logReasmTimeoutsLocked logs n datagrams whose reassembly timed out
// before their first fragment came: the Reassembler tells no more about
// them than how many.
func (s *Stack) logReasmTimeoutsLocked(cat debugCategory, reason string, n uint64) {
	if s.debugAllowLocked(cat) {
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "drop",
			append(dropAttrs(cat, reason), slog.Uint64("datagrams", n))...)
	}
}

func dropAttrs(cat debugCategory, reason string) []slog.Attr {
	attrs := make([]slog.Attr, 0, 12)
	return append(attrs, slog.String("layer", debugCategoryNames[cat]), slog.String("reason", reason))
}

// debugAllowLocked takes a token from cat's bucket. When it has one after
// suppressing records, it first logs how many it suppressed.
func (s *Stack) debugAllowLocked(cat debugCategory) bool {
	if !s.dbg.buckets[cat].allow(s.nowLocked()) {
		s.dbg.suppressed[cat]++
		return false
	}
	s.logSuppressedLocked(cat)
	return true
}

func (s *Stack) logSuppressedLocked(cat debugCategory) {
	if n := s.dbg.suppressed[cat]; n > 0 {
		s.dbg.suppressed[cat] = 0
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "debug records suppressed by the rate limit",
			slog.String("category", debugCategoryNames[cat]), slog.Uint64("suppressed", n))
	}
}

// flushDebugLocked logs what the rate limits still hold back (at Close).
func (s *Stack) flushDebugLocked() {
	if !s.dbg.on {
		return
	}
	for cat := range numDebugCategories {
		s.logSuppressedLocked(cat)
	}
}

// StateChange is the stack's tcp.Observer (set only with debug records
// on): it logs the transition.
func (o tcpOutput) StateChange(c *tcp.Conn, from, to tcp.State) {
	o.s.logTCPStateLocked(c.LocalAddr(), c.RemoteAddr(), from, to)
}

// logTCPStateLocked logs a connection's state change, if the rate limit
// allows. A wildcard local address (a connection from a 0.0.0.0 or [::]
// listener) is our address of the peer's family.
func (s *Stack) logTCPStateLocked(local, remote netip.AddrPort, from, to tcp.State) {
	if !s.debugAllowLocked(catTCPState) {
		return
	}
	if !local.Addr().IsValid() || local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(s.wildcardSourceLocked(remote.Addr()), local.Port())
	}
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "tcp state",
		slog.String("local", local.String()), slog.String("remote", remote.String()),
		slog.String("from", from.String()), slog.String("to", to.String()))
}

// tcpCountedDrop names the drop package tcp counted while it handled one
// segment, from its counters before and after, or returns "".
func tcpCountedDrop(before, after *tcp.Counters) string {
	switch {
	case after.PAWSDrops != before.PAWSDrops:
		return "paws_drops"
	case after.ListenOverflows != before.ListenOverflows:
		return "listen_overflows"
	case after.ListenDrops != before.ListenDrops:
		return "listen_drops"
	case after.SynCookiesFailed != before.SynCookiesFailed:
		return "syncookies_failed"
	case after.OutOfOrderDrops != before.OutOfOrderDrops:
		return "ofo_drops"
	case after.RecvQueueDrops != before.RecvQueueDrops:
		return "rcvq_drops"
	}
	return ""
}

// frameAttrs appends what identifies an Ethernet frame: its MACs and
// EtherType, then its ARP or IPv4 fields. Like ipv4Attrs it reads only the
// bytes that are there: the frame may be why it was dropped.
func frameAttrs(attrs []slog.Attr, b []byte) []slog.Attr {
	if len(b) < ethernet.HeaderLen {
		return append(attrs, slog.Int("len", len(b)))
	}
	eth := ethernet.Header(b)
	attrs = append(attrs, slog.String("eth_src", eth.Src().String()), slog.String("eth_dst", eth.Dst().String()),
		slog.String("ether_type", eth.Type().String()))
	p := eth.Payload()
	switch eth.Type() {
	case ethernet.TypeIPv4:
		return ipv4Attrs(attrs, "", p)
	case ethernet.TypeARP:
		// RFC 826's fields for Ethernet and IPv4: op at 6, sender MAC at
		// 8, sender IP at 14, target IP at 24.
		if len(p) >= 28 {
			attrs = append(attrs, slog.Int("op", int(binary.BigEndian.Uint16(p[6:8]))),
				slog.String("sender", netip.AddrFrom4([4]byte(p[14:18])).String()),
				slog.String("sender_mac", ethernet.MAC(p[8:14]).String()),
				slog.String("target", netip.AddrFrom4([4]byte(p[24:28])).String()))
		}
	}
	return append(attrs, slog.Int("len", len(b)))
}

// ipv4Attrs appends what identifies an IPv4 datagram, each key prefixed
// with prefix: source and destination (with the ports of TCP and UDP, or
// ICMP's type and code, when the datagram is a first fragment long enough
// to hold them), protocol and length.
func ipv4Attrs(attrs []slog.Attr, prefix string, b []byte) []slog.Attr {
	if len(b) < ipv4.HeaderMinLen || b[0]>>4 != 4 {
		return append(attrs, slog.Int(prefix+"len", len(b)))
	}
	src, dst := netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
	proto := b[9]
	hl := int(b[0]&0x0f) * 4
	first := binary.BigEndian.Uint16(b[6:8])&0x1fff == 0 // fragment offset 0
	var l4 []byte
	if first && hl >= ipv4.HeaderMinLen && len(b) >= hl {
		l4 = b[hl:]
	}
	switch {
	case (proto == ipv4.ProtoTCP || proto == ipv4.ProtoUDP) && len(l4) >= 4:
		attrs = append(attrs,
			slog.String(prefix+"src", netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2])).String()),
			slog.String(prefix+"dst", netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4])).String()))
	default:
		attrs = append(attrs, slog.String(prefix+"src", src.String()), slog.String(prefix+"dst", dst.String()))
		if proto == ipv4.ProtoICMP && len(l4) >= 2 {
			attrs = append(attrs, slog.Int(prefix+"icmp_type", int(l4[0])), slog.Int(prefix+"icmp_code", int(l4[1])))
		}
	}
	return append(attrs, slog.Int(prefix+"proto", int(proto)), slog.Int(prefix+"len", len(b)))
}
