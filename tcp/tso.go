package tcp

import (
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
)

// Segmentation offload (GSO/TSO) on the send side: a segment may carry
// several MSS of payload when Config.GSOMaxSize allows, and the stack (or
// the device) cuts it into MSS-sized segments, each with the same header
// but its own sequence number (Segment.GSOSize). RFC 9293 knows only the
// segments on the wire; the sender here stays byte-based (cwnd, pipe,
// the SACK scoreboard and the RACK log count octets and ranges), so a
// large segment counts as the MSS-sized segments it stands for wherever
// Linux counts tcp_skb_pcount: what limits it (cwnd, the peer's window)
// limits its octets, and a loss inside it is a hole of one MSS that
// SACK repairs alone.

// Linux's defaults for the size (net/ipv4/tcp_output.c, tcp_tso_autosize
// and tcp_update_pacing_rate in tcp_input.c).
const (
	minTSOSegs  = 2  // net.ipv4.tcp_min_tso_segs
	tsoRTTLog   = 9  // net.ipv4.tcp_tso_rtt_log: a min RTT under 2^9 µs earns the whole GSO size
	pacingShift = 10 // sk_pacing_shift: rate >> 10 is about 1 ms of data
	// tcp_pacing_ss_ratio and tcp_pacing_ca_ratio, in percent: the rate
	// that sizes a burst is cwnd/SRTT times 2 in slow start (below half
	// of ssthresh), 1.2 after.
	pacingSSRatio = 200
	pacingCARatio = 120
)

// The most payload a segment of several MSS may carry in each family, so
// that its packet fits the IP length field whatever its headers: IPv4's
// Total Length counts the IP and TCP headers (RFC 791 §3.1), IPv6's
// Payload Length only the TCP header (RFC 8200 §3; no jumbograms, RFC
// 2675, which Linux's BIG TCP would need).
const (
	MaxGSOPayload4 = ipv4.MaxTotalLen - ipv4.HeaderMaxLen - HeaderMaxLen // 65415
	MaxGSOPayload6 = ipv6.MaxPayloadLen - HeaderMaxLen                   // 65475
)

// sizeGoal is the most payload the next segment may carry (Linux's
// tcp_xmit_size_goal with tcp_tso_segs): mss, or with GSO a multiple of
// it of at least minTSOSegs.
func (c *Conn) sizeGoal(mss int) int {
	if mss <= 0 || c.gsoMax() < minTSOSegs*mss {
		return mss
	}
	return c.tsoSegs(mss) * mss
}

// gsoMax is Config.GSOMaxSize within what the connection's family carries
// (MaxGSOPayload4, MaxGSOPayload6).
func (c *Conn) gsoMax() int {
	if c.remote.Addr().Is4() {
		return min(c.cfg.GSOMaxSize, MaxGSOPayload4)
	}
	return min(c.cfg.GSOMaxSize, MaxGSOPayload6)
}

// tsoSegs is tcp_tso_autosize: about 1 ms of data at the pacing rate
// (sk_pacing_rate >> sk_pacing_shift), plus, on a path whose min RTT is
// short, a share of GSOMaxSize that halves with each doubling of the RTT
// over 512 µs (tcp_tso_rtt_log: on such a path a big burst costs no
// queue), bounded by GSOMaxSize, in segments, at least minTSOSegs.
func (c *Conn) tsoSegs(mss int) int {
	limit := c.gsoMax()
	bytes := int(min(c.burstRate()>>pacingShift, uint64(limit)))
	if c.hasRTT {
		if r := c.minRTT.Microseconds() >> tsoRTTLog; r < 63 {
			bytes += limit >> r
		}
	}
	return max(min(bytes, limit)/mss, minTSOSegs)
}

// burstRate is the pacing rate in bytes per second that sizes a burst:
// the algorithm's own (BBR) or, as Linux computes sk_pacing_rate for
// every connection (tcp_update_pacing_rate), cwnd/SRTT scaled by
// pacingSSRatio or pacingCARatio. 0 before the first RTT sample.
func (c *Conn) burstRate() uint64 {
	if p, ok := c.pacer(); ok {
		if r := p.pacingRate(); r > 0 {
			return r
		}
	}
	if !c.hasRTT || c.srtt <= 0 {
		return 0
	}
	ratio := uint64(pacingCARatio)
	if cw := c.cc.cwnd(); cw < c.cc.ssthresh()/2 {
		ratio = pacingSSRatio
	}
	return uint64(c.cc.cwnd()) * ratio / 100 * uint64(time.Second) / uint64(c.srtt)
}

// tsoTrim ends a segment of n > mss octets of new data on an MSS boundary
// unless its short tail may go now (Linux's tcp_mss_split_point with
// tcp_nagle_check): the tail is a short segment of its own to Nagle and
// sender SWS avoidance (sendAllowed), with unsent counted from it.
func (c *Conn) tsoTrim(n, unsent, mss int) int {
	if tail := n % mss; tail != 0 && !c.sendAllowed(tail, unsent-(n-tail), mss) {
		return n - tail
	}
	return n
}

// gsoSegs is how many segments of mss a payload of n octets stands for
// (tcp_skb_pcount), at least one.
func gsoSegs(n, mss int) int {
	if n <= mss || mss <= 0 {
		return 1
	}
	return (n + mss - 1) / mss
}
