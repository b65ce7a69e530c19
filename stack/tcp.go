package stack

import (
	"net/netip"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// ecnMask is the ECN field in the IPv4 TOS octet (RFC 3168 §5): its two
// low bits.
const ecnMask = 0x3

// tcpKey identifies a connection: our address and port, the peer's.
type tcpKey struct{ local, remote netip.AddrPort }

// tcpEntry is a connection in the demux table. ep is the socket that owns
// it; nil while it waits in a listener's queues or after its socket closed
// (it may still be sending its FIN, or sitting in TIME-WAIT).
//
// A connection in TIME-WAIT without a socket is kept in its compact form:
// conn is nil and tw holds it (tcp.TimeWait, a few hundred bytes instead of
// a full TCB). A socket still open in TIME-WAIT keeps its Conn until it
// closes, as Linux keeps the full sock until close().
type tcpEntry struct {
	key       tcpKey
	conn      *tcp.Conn
	tw        *tcp.TimeWait
	ep        *TCPEndpoint
	deadline  time.Time
	heapIndex int
	batched   bool // in s.batched: owes FlushACK at the end of the batch
	// softErr is the last soft ICMP error (RFC 1122 §4.2.3.9), reported
	// instead of ETIMEDOUT if the connection times out while SND.UNA is
	// still softUna; progress forgets it (Linux's sk_err_soft).
	softErr error
	softUna seqnum.Value
}

// listenEntry is a listening socket.
type listenEntry struct {
	lis     *tcp.Listener
	ep      *TCPEndpoint
	backlog int   // as clamped by Listen
	fams    uint8 // the address families it takes (famsOf)
}

// tcpOutput is the stack's side of tcp.Output: it frames segments. A
// socket's connections and listener send through its own (TCPEndpoint.out),
// whose ip is the socket's IP header fields; nil has the stack's defaults.
type tcpOutput struct {
	s  *Stack
	ip *sockIP
}

func (o tcpOutput) SendSegment(local, remote netip.AddrPort, seg *tcp.Segment, p1, p2 []byte) {
	o.s.sendTCPLocked(local, remote, seg, p1, p2, o.ip)
}

// sendTCPLocked frames one segment in s.out and sends it, with ip's TTL
// and TOS (nil: the defaults). A wildcard local address (a connection from
// a 0.0.0.0 listener) is our address.
func (s *Stack) sendTCPLocked(local, remote netip.AddrPort, seg *tcp.Segment, p1, p2 []byte, ip *sockIP) {
	if !remote.Addr().Is4() {
		s.sendTCP6Locked(local, remote, seg, p1, p2, ip) // tcp6.go
		return
	}
	if !local.Addr().IsValid() || local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(s.addr, local.Port())
	}
	b := s.out[s.linkHdr+ipv4.HeaderMinLen:]
	hlen := tcp.Encode(b, seg)
	n := hlen + len(p1) + len(p2)
	meta, segs := s.tcpChecksumLocked(tcp.Header(b[:hlen]), p1, p2, local.Addr(), remote.Addr(), seg.GSOSize)
	// The payload stays in the send ring until a path needs it behind the
	// headers (gso.go, fillTailLocked); a device that writes in pieces
	// takes it from there.
	s.tail, s.tailAt = [2][]byte{p1, p2}, s.linkHdr+ipv4.HeaderMinLen+hlen
	total := ipv4.HeaderMinLen + n
	pkt := ipv4.Header(s.out[s.linkHdr : s.linkHdr+total])
	ipv4.Encode(pkt, ipv4.Fields{
		// RFC 9293 §3.9.1.9: the socket's DSCP (IP_TOS) passed to IP
		// unchanged; RFC 3168 §5: the ECN field is TCP's.
		TOS:      ip.tos4()&^ecnMask | seg.ECN&ecnMask,
		TotalLen: total,
		ID:       s.ids.NextN(local.Addr(), remote.Addr(), ipv4.ProtoTCP, segs),
		DF:       true, // RFC 1191 path MTU discovery, as Linux TCP
		TTL:      ip.ttl4(s.ttl),
		Protocol: ipv4.ProtoTCP,
		Src:      local.Addr(),
		Dst:      remote.Addr(),
	})
	s.stats.TCP.OutSegs += uint64(segs) // as Linux: tcp_skb_pcount
	if seg.Flags&tcp.FlagRST != 0 {
		s.stats.TCP.OutRsts++
	}
	s.outputMetaLocked(pkt, meta)
	s.tail = [2][]byte{} // every path wrote or filled it; keep no reference to the ring
}

// sendResetLocked answers a segment that reached no connection
// (RFC 9293 §3.10.7.1).
func (s *Stack) sendResetLocked(key tcpKey, seg *tcp.Segment) {
	if rst, ok := tcp.ResetFor(seg); ok {
		s.sendTCPLocked(key.local, key.remote, &rst, nil, nil, nil)
	}
}

// groLocked marks seg, received with meta, as the super-segment it is when
// the device says so (GSO TCPv4 or TCPv6: the kernel merged segments, GRO,
// or never split its own, TSO) and it is longer than one segment: TCP then
// counts it as the segments it stands for (Segment.GSOSize). It returns
// that count, 1 for an ordinary segment. As Linux (tcp_v4_rcv and
// tcp_v6_rcv add gso_segs to InSegs), InSegs counts the segments, not the
// super-segment.
func (s *Stack) groLocked(seg *tcp.Segment, meta nic.Meta) int {
	n, size := len(seg.Payload), int(meta.GSOSize)
	if meta.GSO == nic.GSONone || size == 0 || n <= size {
		return 1
	}
	segs := (n + size - 1) / size
	seg.GSOSize = size
	s.stats.Offload.GROIn++
	s.stats.Offload.GROSegsIn += uint64(segs)
	s.stats.Offload.GROBytesIn += uint64(n)
	return segs
}

// handleTCPLocked hands a segment in IPv4 datagram h to demuxTCPLocked.
func (s *Stack) handleTCPLocked(h ipv4.Header, bcast bool, meta nic.Meta) {
	s.handleTCPPacketLocked(ipv4Packet(h), bcast, meta)
}

// handleTCPPacketLocked hands a segment of either family to
// demuxTCPLocked. With debug records on, it also logs a drop that package
// tcp counted while handling it.
func (s *Stack) handleTCPPacketLocked(h ipPacket, bcast bool, meta nic.Meta) {
	if !s.dbg.on {
		s.demuxTCPLocked(h, bcast, meta)
		return
	}
	before := s.tcpCounters
	s.demuxTCPLocked(h, bcast, meta)
	if reason := tcpCountedDrop(&before, &s.tcpCounters); reason != "" {
		s.logDropLocked(catTCP, reason, h.raw, false)
	}
}

// demuxTCPLocked demultiplexes a segment: connection, then listener, then
// RST (RFC 9293 §3.10.7). IPv4 and IPv6 share the tables; a segment finds
// a listener of its own family (listenerLocked).
func (s *Stack) demuxTCPLocked(h ipPacket, bcast bool, meta nic.Meta) {
	if bcast {
		// TCP is unicast only (RFC 1122 §4.2.3.10): drop silently.
		s.dropLocked(&s.stats.TCP.InErrs, catTCP, "in_errs", h.raw)
		return
	}
	seg, err := tcp.Decode(h.payload, h.src, h.dst, !s.csumTrustedLocked(meta))
	if err != nil {
		if err == tcp.ErrChecksum {
			s.stats.TCP.InErrs++
			s.dropLocked(&s.stats.TCP.InCsumErrors, catTCP, "in_csum_errors", h.raw)
			return
		}
		s.dropLocked(&s.stats.TCP.InErrs, catTCP, "in_errs", h.raw)
		return
	}
	seg.ECN = h.tc & ecnMask // RFC 3168 §5: for the receiver's echo (§6.1.3)
	s.stats.TCP.InSegs += uint64(s.groLocked(&seg, meta))
	now := s.nowLocked()
	key := tcpKey{local: netip.AddrPortFrom(h.dst, seg.DstPort), remote: netip.AddrPortFrom(h.src, seg.SrcPort)}
	le := s.listenerLocked(seg.DstPort, h.dst)
	iss := seqnum.Value(0)
	if e := s.tcpConns[key]; e != nil {
		switch {
		case e.tw != nil && (le == nil || !e.tw.AcceptsNewSYN(&seg, now)):
			s.timeWaitSegmentLocked(e, &seg, now)
			return
		case e.tw != nil:
			iss = e.tw.NextISSFloor()
		case le == nil || !e.conn.AcceptsNewSYN(&seg, now):
			una := e.conn.SndUna()
			if s.inBatch {
				e.conn.HandleSegmentBatch(&seg, now)
				if !e.batched {
					e.batched = true
					s.batched = append(s.batched, e)
				}
			} else {
				e.conn.HandleSegment(&seg, now)
			}
			if !h.src.Is4() && e.conn.SndUna() != una {
				// An ACK of new data is forward progress (RFC 4861
				// §7.3.1): the peer's neighbour entry stays REACHABLE
				// without a probe, as Linux's dst_confirm in tcp_ack.
				s.confirmNeighbour6Locked(h.src)
			}
			s.afterTCPLocked(e)
			return
		default:
			iss = e.conn.NextISSFloor()
		}
		// A new SYN reopens a connection in TIME-WAIT (RFC 6191 §2,
		// RFC 1122 §4.2.2.13): the old incarnation goes, and the new one's
		// ISS lies beyond anything it sent.
		s.removeConnLocked(e)
		s.stats.TCP.TimeWaitReused++
	}
	if le == nil {
		s.sendResetLocked(key, &seg)
		return
	}
	// LISTEN (RFC 9293 §3.10.7.2) is the Listener's: the stack gives it
	// the ISS and its limits on connections.
	env := tcp.ListenEnv{
		ISS: func() seqnum.Value {
			next := s.isn.Next(key.local, key.remote, now)
			if iss != 0 && next.LessThan(iss) {
				next = iss
			}
			return next
		},
		Admit: func() bool { return s.admitTCPLocked(h.raw) },
	}
	if !h.dst.Is4() {
		env.MSS = s.mss6Locked()
	}
	if c := le.lis.HandleSegment(&seg, key.remote, env, now); c != nil {
		s.stats.TCP.PassiveOpens++
		s.afterTCPLocked(s.addConnLocked(key, c, nil))
	}
	s.afterListenerLocked(le)
}

// admitTCPLocked says whether there is room for one more connection, the
// segment in h asking for one; if not, it drops h and counts why. A full
// connection table (TIME-WAIT included) or TCP memory at its limit refuse
// new connections by a drop, so the peer retries later: a RST would end
// its attempt.
func (s *Stack) admitTCPLocked(h []byte) bool {
	switch {
	case len(s.tcpConns) >= s.maxConns:
		s.dropLocked(&s.stats.TCP.ConnLimitDrops, catTCP, "conn_limit_drops", h)
		return false
	case s.tcpMem.Exhausted():
		s.dropLocked(&s.stats.TCP.MemLimitDrops, catTCP, "mem_limit_drops", h)
		return false
	}
	return true
}

func (s *Stack) addConnLocked(key tcpKey, c *tcp.Conn, ep *TCPEndpoint) *tcpEntry {
	e := &tcpEntry{key: key, conn: c, ep: ep, heapIndex: -1}
	s.tcpConns[key] = e
	s.tcpByConn[c] = e
	return e
}

// tcpICMPErrorLocked hands an ICMP error quoting one of e's segments (with
// sequence number seq) to the connection (RFC 1122 §4.2.3.9) and records a
// soft error for the timeout. linkFailure says the error is our own ARP
// failing to resolve the next hop (the host unreachable made by
// localICMPErrorLocked), which fails a connect at once
// (tcp.Conn.HandleLinkFailure).
func (s *Stack) tcpICMPErrorLocked(e *tcpEntry, m ipv4.ICMP, seq seqnum.Value, linkFailure bool) {
	s.tcpErrorLocked(e, seq, linkFailure, tcp.SoftICMPError(m.Type(), m.Code()),
		func(c *tcp.Conn, now time.Time) bool {
			if !c.HandleICMPError(m.Type(), m.Code(), seq, int(m.MTU()), now) {
				return false
			}
			if m.Type() == ipv4.TypeDestUnreachable && m.Code() == ipv4.CodeFragNeeded {
				s.pmtu.learn(e.key.remote.Addr(), tcp.ClampPathMTU(int(m.MTU())), now)
			}
			return true
		},
		func() {
			s.dropICMPErrorLocked(&s.stats.TCP.OutOfWindowICMPs, catTCP, "out_of_window_icmps", m, netip.Addr{})
		})
}

// tcpErrorLocked is what the two families' ICMP errors share on their way
// to e's connection: none for a TIME-WAIT one (Linux drops them,
// uncounted); the connection takes it through handle, or as our own
// link's failure to resolve the next hop (HandleLinkFailure, which fails a
// connect at once); one it refuses (RFC 5927 §4.1) is dropped by drop;
// an accepted one is counted and leaves soft behind, reported if the
// connection times out (RFC 1122 §4.2.3.9).
func (s *Stack) tcpErrorLocked(e *tcpEntry, seq seqnum.Value, linkFailure bool, soft syscall.Errno, handle func(*tcp.Conn, time.Time) bool, drop func()) {
	c := e.conn
	if c == nil || c.State() == tcp.StateTimeWait {
		return
	}
	now := s.nowLocked()
	var accepted bool
	if linkFailure {
		accepted = c.HandleLinkFailure(seq, now)
	} else {
		accepted = handle(c, now)
	}
	if !accepted {
		drop()
		return
	}
	s.stats.TCP.ICMPErrors++
	if soft != 0 && c.State() != tcp.StateClosed {
		e.softErr, e.softUna = soft, c.SndUna()
	}
	s.afterTCPLocked(e)
}

// afterTCPLocked runs after every call into a connection: it wakes the
// socket, the listener, drops a closed connection and re-arms its timer.
func (s *Stack) afterTCPLocked(e *tcpEntry) {
	if e.softErr != nil {
		if e.conn.SndUna() != e.softUna {
			e.softErr = nil // an ACK made progress: the path works
		} else if e.conn.State() == tcp.StateClosed {
			e.conn.ReportSoftError(e.softErr) // only if it timed out
		}
	}
	ev := e.conn.TakeEvents()
	if ev&tcp.EventEstablished != 0 {
		// RFC 1191 §5: a path MTU learned earlier for this destination
		// applies to the new connection from its first segment.
		now := s.nowLocked()
		if ra := e.key.remote.Addr(); !ra.Is4() {
			if mtu, ok := s.pmtu6.lookup(ra, now); ok { // RFC 8201 §5.2
				e.conn.ApplyPathMTU6(mtu, now)
			}
		} else if mtu, ok := s.pmtu.lookup(ra, now); ok {
			e.conn.ApplyPathMTU(mtu, now)
		}
	}
	if e.ep != nil && ev != 0 {
		if ev&(tcp.EventReadable|tcp.EventEstablished|tcp.EventClosed) != 0 {
			e.ep.rd.notify()
		}
		if ev&(tcp.EventWritable|tcp.EventEstablished|tcp.EventClosed) != 0 {
			e.ep.wr.notify()
		}
	}
	// A connection not yet accepted matters to its listener only when its
	// handshake completes (it joins the accept queue) or it dies there.
	if e.ep == nil && ev&(tcp.EventEstablished|tcp.EventClosed) != 0 {
		if le := s.tcpListenerOf[e.conn.Listener()]; le != nil {
			s.afterListenerLocked(le)
		}
	}
	if e.conn.State() == tcp.StateClosed {
		s.removeConnLocked(e)
		return
	}
	if e.ep == nil && e.conn.State() == tcp.StateTimeWait {
		s.compactLocked(e)
		return
	}
	d, ok := e.conn.NextDeadline()
	s.tcpTimers.schedule(e, d, ok)
	if ok {
		s.armLocked(d)
	}
}

// compactLocked replaces e's Conn, in TIME-WAIT with no socket, by its
// compact form. The entry stays in the table (and counts towards
// MaxConnections) until the TimeWait's deadline.
func (s *Stack) compactLocked(e *tcpEntry) {
	delete(s.tcpByConn, e.conn)
	e.tw = e.conn.TimeWait()
	e.conn = nil
	e.softErr = nil
	s.afterTimeWaitLocked(e)
}

// timeWaitSegmentLocked hands a segment to a compact TIME-WAIT entry and
// sends its reply.
func (s *Stack) timeWaitSegmentLocked(e *tcpEntry, seg *tcp.Segment, now time.Time) {
	var reply tcp.Segment
	if e.tw.HandleSegment(seg, now, &reply) {
		s.sendTCPLocked(e.key.local, e.key.remote, &reply, nil, nil, nil)
	}
	s.afterTimeWaitLocked(e)
}

// afterTimeWaitLocked is afterTCPLocked for a compact TIME-WAIT entry:
// remove it once it is over, otherwise (re-)arm its deadline.
func (s *Stack) afterTimeWaitLocked(e *tcpEntry) {
	d, ok := e.tw.NextDeadline()
	if !ok {
		s.removeConnLocked(e)
		return
	}
	s.tcpTimers.schedule(e, d, true)
	s.armLocked(d)
}

// afterListenerLocked wakes the listening socket when a connection became
// ready to accept. (Its counters go straight to the stack's tcp.Counters.)
func (s *Stack) afterListenerLocked(le *listenEntry) {
	if le.lis.TakeEvents()&tcp.EventAcceptable != 0 && le.ep != nil {
		le.ep.rd.notify()
	}
}

func (s *Stack) removeConnLocked(e *tcpEntry) {
	if e.tw != nil && s.dbg.on {
		// A compact TIME-WAIT entry has no Conn to report its end.
		s.logTCPStateLocked(e.key.local, e.key.remote, tcp.StateTimeWait, tcp.StateClosed)
	}
	if s.tcpConns[e.key] == e {
		delete(s.tcpConns, e.key)
	}
	if e.conn != nil {
		delete(s.tcpByConn, e.conn)
	}
	s.tcpTimers.schedule(e, time.Time{}, false)
	if e.ep != nil {
		e.ep.rd.notify()
		e.ep.wr.notify()
	}
}

// flushBatchLocked sends the ACKs the connections held back during a batch
// of frames (tcp.Conn.HandleSegmentBatch): one per connection per batch.
// now is the batch's read time.
func (s *Stack) flushBatchLocked(now time.Time) {
	for i, e := range s.batched {
		s.batched[i] = nil
		e.batched = false
		if s.tcpByConn[e.conn] == e {
			e.conn.FlushACK(now)
			s.afterTCPLocked(e)
		}
	}
	s.batched = s.batched[:0]
}

// tcpTimersLocked runs every connection timer due by now. Each connection
// is handled at most once per call, so a timer that stays due cannot spin.
func (s *Stack) tcpTimersLocked(now time.Time) {
	due := s.due[:0] // reused: no allocation per timer run
	for {
		d, ok := s.tcpTimers.next()
		if !ok || d.After(now) {
			break
		}
		e := s.tcpTimers[0]
		s.tcpTimers.schedule(e, time.Time{}, false)
		due = append(due, e)
	}
	for i, e := range due {
		due[i] = nil
		if e.tw != nil {
			if s.tcpConns[e.key] == e {
				e.tw.HandleTimer(now)
				s.afterTimeWaitLocked(e)
			}
			continue
		}
		if s.tcpByConn[e.conn] != e {
			continue
		}
		e.conn.HandleTimer(now)
		s.afterTCPLocked(e)
	}
	s.due = due[:0]
}
