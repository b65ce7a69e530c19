package stack

import (
	"net/netip"

	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/tcp"
)

// sendTCP6Locked is sendTCPLocked for an IPv6 peer: it frames one segment
// in s.out behind an IPv6 header and hands it to output6MetaLocked. A wildcard
// local address (a connection from a [::] listener) is the source address
// selected for remote (RFC 6724 §5).
func (s *Stack) sendTCP6Locked(local, remote netip.AddrPort, seg *tcp.Segment, p1, p2 []byte, ip *sockIP) {
	src := local.Addr()
	if !src.IsValid() || src.IsUnspecified() {
		src = s.wildcardSourceLocked(remote.Addr())
	}
	b := s.out[s.linkHdr+ipv6.HeaderLen:]
	hlen := tcp.Encode(b, seg)
	// A segment of several MSS leaves with a partial checksum (gso.go).
	meta, segs := s.tcpChecksumLocked(tcp.Header(b[:hlen]), p1, p2, src, remote.Addr(), seg.GSOSize)
	n := hlen + copy(b[hlen:], p1)
	n += copy(b[n:], p2)
	pkt := ipv6.Header(s.out[s.linkHdr : s.linkHdr+ipv6.HeaderLen+n])
	ipv6.Encode(pkt, ipv6.Fields{
		// The socket's IPV6_TCLASS; RFC 3168 §5: the ECN field is TCP's.
		TrafficClass: ip.tclass6()&^ecnMask | seg.ECN&ecnMask,
		PayloadLen:   n,
		NextHeader:   ipv6.ProtoTCP,
		HopLimit:     ip.hopLimit6(s.hopLimit6Locked()),
		Src:          src,
		Dst:          remote.Addr(),
	})
	s.stats.TCP.OutSegs += uint64(segs) // as Linux: tcp_skb_pcount
	if seg.Flags&tcp.FlagRST != 0 {
		s.stats.TCP.OutRsts++
	}
	// An error (the neighbour unresolved, ...) is TCP's to recover from by
	// retransmission, as for IPv4's outputLocked.
	_ = s.output6MetaLocked(pkt, meta)
}

// tcpPathMTU6Locked lowers the send MSS of every connection to dst to fit
// the path MTU mtu a Packet Too Big reported (RFC 8201 §5.2, RFC 9293
// §3.7.1: the MTU less 60), resending at once what no longer fits, as
// Linux's tcp_v6_mtu_reduced. A connection in TIME-WAIT sends no data.
func (s *Stack) tcpPathMTU6Locked(dst netip.Addr, mtu int) {
	now := s.nowLocked()
	due := s.due[:0] // scratch, as tcpTimersLocked's
	for _, e := range s.tcpConns {
		if e.key.remote.Addr() == dst && e.conn != nil {
			due = append(due, e)
		}
	}
	for i, e := range due {
		due[i] = nil
		if s.tcpByConn[e.conn] == e {
			e.conn.ApplyPathMTU6(mtu, now)
			s.afterTCPLocked(e)
		}
	}
	s.due = due[:0]
}

// listenerLocked returns the listener a segment to dst's port finds: one
// bound for dst's family (a dual-stack [::] listener is in both tables).
func (s *Stack) listenerLocked(port uint16, dst netip.Addr) *listenEntry {
	if dst.Is4() {
		return s.tcpListeners[port]
	}
	return s.tcpListeners6[port]
}

// addListenerLocked enters le in the table of each family it takes.
func (s *Stack) addListenerLocked(port uint16, le *listenEntry) {
	if le.fams&fam4 != 0 {
		s.tcpListeners[port] = le
	}
	if le.fams&fam6 != 0 {
		if s.tcpListeners6 == nil {
			s.tcpListeners6 = make(map[uint16]*listenEntry)
		}
		s.tcpListeners6[port] = le
	}
}

// removeListenerLocked undoes addListenerLocked.
func (s *Stack) removeListenerLocked(port uint16, le *listenEntry) {
	if s.tcpListeners[port] == le {
		delete(s.tcpListeners, port)
	}
	if s.tcpListeners6[port] == le {
		delete(s.tcpListeners6, port)
	}
}

// listenerBusyLocked reports whether a listener of a family in fams holds
// port.
func (s *Stack) listenerBusyLocked(port uint16, fams uint8) bool {
	return fams&fam4 != 0 && s.tcpListeners[port] != nil || fams&fam6 != 0 && s.tcpListeners6[port] != nil
}

// tcpPortBusyLocked reports whether binding port for the families fams
// (with SO_REUSEADDR set to reuse) clashes with a live socket: one bound
// to the port for a family in common, unless both set SO_REUSEADDR and it
// does not listen (Linux's inet_csk_bind_conflict; an AF_INET socket and
// an IPV6_V6ONLY one share a port).
func (s *Stack) tcpPortBusyLocked(port uint16, fams uint8, reuse bool) bool {
	if s.tcpBound[port] == 0 {
		return false
	}
	for ep := range s.tcpEPs {
		if !ep.bound || ep.local.Port() != port || ep.famsLocked()&fams == 0 {
			continue
		}
		if !reuse || !ep.reuse || ep.lis != nil {
			return true
		}
	}
	return false
}
