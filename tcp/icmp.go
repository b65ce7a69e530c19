package tcp

import (
	"syscall"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// ICMP errors about our segments (RFC 1122 §4.2.3.9, RFC 9293 §3.9 "Errors",
// RFC 5927, RFC 1191, RFC 6633). The stack finds the connection from the
// quoted IP header and the first 8 octets of the quoted TCP header (ports
// and sequence number) and calls HandleICMPError.

const (
	// minPMTU is the smallest path MTU a "fragmentation needed" message can
	// set. Deviation (Linux compat): RFC 1191 §3 allows down to 68 octets;
	// Linux clamps a reported MTU to net.ipv4.route.min_pmtu (552), so that a
	// forged ICMP message cannot make a connection send tiny segments
	// (RFC 5927 §7). A next-hop MTU of 0 (an RFC 792 router) also gives 552.
	minPMTU = 552
	// minSndMSS is Linux's TCP_MIN_SND_MSS: the send MSS never drops below
	// it whatever the path MTU.
	minSndMSS = 48
	// maxUnreachCode is Linux's NR_ICMP_UNREACH: higher destination
	// unreachable codes are ignored.
	maxUnreachCode = 15
)

// HandleICMPError applies an ICMP error whose quoted segment belongs to this
// connection: typ and code are the ICMP type and code, quotedSeq the
// sequence number in the quoted TCP header, mtu the next-hop MTU of a
// "fragmentation needed" message (RFC 1191 §4). It reports whether the
// message passed validation; the caller counts the rest.
//
// Validation (RFC 5927 §4.1): the quoted sequence number must be one we sent
// and that is not yet acknowledged, SND.UNA =< SEG.SEQ < SND.NXT (in SYN-SENT and SYN-RECEIVED this is exactly the SYN). Anything
// else may be blind injection and is dropped. TIME-WAIT and CLOSED take no
// ICMP errors (Linux drops them before the check).
//
// Then, by type and code:
//
//   - Destination unreachable, protocol (2) or port (3): hard errors
//     (RFC 1122 §4.2.3.9: "TCP SHOULD abort the connection"). A connection
//     we are opening (SYN-SENT, or SYN-RECEIVED from a simultaneous open)
//     fails at once with ENOPROTOOPT or ECONNREFUSED (the errnos of Linux's
//     icmp_err_convert). Deviation (Linux compat): in a synchronized state
//     they are soft errors, as in Linux's tcp_v4_err ("rfc1122 4.2.3.9
//     allows to consider as hard errors only PROTO_UNREACH and
//     PORT_UNREACH", and a stray one must not kill a working connection).
//   - Destination unreachable, fragmentation needed (4): the path MTU
//     dropped (RFC 1191 §6.4): the send MSS becomes MTU-40 (at least
//     minPMTU-40, never raised; 12 less with timestamps, tsOptionLen) and
//     what is in flight is sent again at once in segments that fit, as
//     Linux's tcp_v4_mtu_reduced and
//     tcp_simple_retransmit. The congestion window is kept: a smaller path
//     MTU is not congestion.
//   - Other destination unreachable codes (0 net, 1 host, 5 source route
//     failed, ...), time exceeded and parameter problem: soft errors. RFC
//     1122 §4.2.3.9: "TCP MUST NOT abort the connection, and it SHOULD make
//     the information available to the application"; the caller records the
//     error (SoftICMPError) and reports it in place of ETIMEDOUT if the
//     connection later times out (as Linux's tcp_write_err reports
//     sk_err_soft), unless an ACK made progress in between. Deviation: Linux
//     also aborts SYN-SENT on these (RFC 5461 §4 describes this); we follow
//     RFC 1122's MUST NOT, so a connect that draws a host unreachable fails
//     with EHOSTUNREACH when the SYN retries run out, not at once. (Our own
//     ARP failing is another matter: HandleLinkFailure.)
//   - A passive connection in SYN-RECEIVED is dropped silently on net or
//     host unreachable, time exceeded and parameter problem (Linux's
//     tcp_v4_err calls tcp_req_err with abort set for these): the SYN was
//     probably spoofed.
//   - Source quench: ignored (RFC 6633 §3: "TCP MUST silently discard").
func (c *Conn) HandleICMPError(typ, code uint8, quotedSeq seqnum.Value, mtu int, now time.Time) (accepted bool) {
	return c.handleError(typ, code, quotedSeq, mtu, false, now)
}

// HandleLinkFailure applies a failure of our own link layer to deliver one
// of this connection's segments, with sequence number seq: ARP resolution
// of the next hop gave up (RFC 1122 §2.3.2.2; the stack reports it to every
// local sender as ICMP host unreachable, §3.2.2.1). It validates seq as
// HandleICMPError does (a segment queued by an earlier incarnation of the
// 4-tuple is ignored) and reports whether it was accepted.
//
// Deviation (Linux compat): a connection we are opening (SYN-SENT, or
// SYN-RECEIVED from a simultaneous open) fails at once with EHOSTUNREACH,
// as on Linux, where the failed neighbour's queued segments go through
// arp_error_report and ipv4_link_failure to a host unreachable that
// tcp_v4_err delivers: in SYN-SENT and SYN-RECV it sets sk_err and
// tcp_done. RFC 1122 §4.2.3.9's "MUST NOT abort" is about an ICMP message
// from the network, which may come from a routing transient (§3.2.2.1);
// here no host on the link answered three requests, which is what Linux
// and RFC 4861 §7.2.2 (for IPv6) treat as address resolution failed. Yet
// it is still a soft condition in RFC 1122's terms (the host may be
// booting), and §4.2.3.5 asks that a SYN be retried for at least 3
// minutes: we fail the connect after 3 s instead, as Linux does, so that
// a program learns in seconds that nobody is there.
//
// A passive SYN-RECEIVED connection is forgotten silently (Linux's
// tcp_req_err, as for a host unreachable from the network). Once
// synchronized the failure is a soft error, as on Linux: the connection
// keeps retransmitting (each retransmission starts a new resolution) and
// the caller records the error (SoftICMPError) to report it in place of
// ETIMEDOUT if the connection times out.
func (c *Conn) HandleLinkFailure(seq seqnum.Value, now time.Time) (accepted bool) {
	return c.handleError(ipv4.TypeDestUnreachable, ipv4.CodeHostUnreachable, seq, 0, true, now)
}

// handleError is HandleICMPError for an ICMP error from the network
// (local false) or a failure of our own link layer (local true, reported
// as the host unreachable the stack made of it).
func (c *Conn) handleError(typ, code uint8, quotedSeq seqnum.Value, mtu int, local bool, now time.Time) (accepted bool) {
	switch c.state {
	case StateClosed, StateListen, StateTimeWait:
		return false
	}
	if !quotedSeq.InRange(c.sndUna, c.sndNxt) {
		return false // RFC 5927 §4.1
	}
	c.startTSClock(now)
	switch typ {
	case ipv4.TypeSourceQuench:
		return true // RFC 6633 §3
	case ipv4.TypeDestUnreachable:
		if code > maxUnreachCode {
			return true // unknown code: ignored, as Linux
		}
		if code == ipv4.CodeFragNeeded {
			c.pathMTUReduced(mtu, now)
			return true
		}
	case ipv4.TypeTimeExceeded, ipv4.TypeParamProblem:
	default:
		return true // not an error about a segment
	}
	hard := typ == ipv4.TypeDestUnreachable && (code == ipv4.CodeProtoUnreachable || code == ipv4.CodePortUnreachable)
	switch {
	case c.state == StateSynSent || (c.state == StateSynReceived && c.activeOpen):
		if hard || local {
			c.drop(ipv4.Errno(typ, code))
		}
	case c.state == StateSynReceived:
		if typ == ipv4.TypeTimeExceeded || typ == ipv4.TypeParamProblem ||
			(typ == ipv4.TypeDestUnreachable && (code == ipv4.CodeNetUnreachable || code == ipv4.CodeHostUnreachable)) {
			c.drop(nil) // Linux's tcp_req_err: forget the embryonic connection, no RST
		}
	}
	return true
}

// SoftICMPError returns the error an accepted ICMP error of type typ and
// code leaves behind on a connection it did not end, to be reported if the
// connection times out (RFC 1122 §4.2.3.9); 0 for the messages that leave
// none (fragmentation needed, source quench, unknown codes).
func SoftICMPError(typ, code uint8) syscall.Errno {
	switch typ {
	case ipv4.TypeDestUnreachable:
		if code == ipv4.CodeFragNeeded || code > maxUnreachCode {
			return 0
		}
	case ipv4.TypeTimeExceeded, ipv4.TypeParamProblem:
	default:
		return 0
	}
	return ipv4.Errno(typ, code)
}

// ReportSoftError is how a soft error recorded by the caller (SoftICMPError)
// reaches the application: if the connection gave up with ETIMEDOUT, err
// takes its place, as Linux's tcp_write_err reports sk_err_soft instead of
// ETIMEDOUT (RFC 1122 §4.2.3.9: "report it to the application only when and
// if the TCP connection times out"). In any other case it does nothing.
func (c *Conn) ReportSoftError(err error) {
	if err != nil && c.state == StateClosed && c.err == syscall.ETIMEDOUT {
		c.err = err
	}
}

// SndUna returns SND.UNA, the oldest unacknowledged sequence number. The
// stack forgets a recorded soft error once SND.UNA moves: an ACK made
// progress, so the path works (Linux clears sk_err_soft in tcp_ack).
func (c *Conn) SndUna() seqnum.Value { return c.sndUna }

// ClampPathMTU is the path MTU a "fragmentation needed" message reporting
// mtu stands for: at least minPMTU (Linux's min_pmtu).
func ClampPathMTU(mtu int) int { return max(mtu, minPMTU) }

// ApplyPathMTU lowers the send MSS to fit a path MTU learned earlier for the
// peer (RFC 1191 §5, the stack's per-destination cache), as a
// "fragmentation needed" for this connection would.
func (c *Conn) ApplyPathMTU(mtu int, now time.Time) {
	c.startTSClock(now)
	c.pathMTUReduced(mtu, now)
}

// pathMTUReduced is RFC 1191 §6.4 for a next-hop MTU of mtu: lower the send
// MSS and resend what no longer fits. Only a synchronized connection has a
// negotiated MSS to lower; a SYN is far below any MTU.
func (c *Conn) pathMTUReduced(mtu int, now time.Time) {
	if !c.state.synchronized() {
		return
	}
	mss := max(max(mtu, minPMTU)-ipv4.HeaderMinLen-HeaderMinLen, minSndMSS)
	if c.tsOn {
		// Room for the Timestamps option in every segment, as negotiate
		// left (tsOptionLen; Linux's tcp_mtu_to_mss subtracts it too).
		mss -= tsOptionLen
	}
	if mss >= c.mss {
		return // RFC 1191 §6.3: an increase is ignored (only probing may raise it)
	}
	c.mss = mss
	if c.sendingState() && c.sndUna.LessThan(c.sndCur) {
		c.retransmitFlight(now)
		c.trySend(now)
	}
}

// retransmitFlight sends what is in flight, SND.UNA to SND.NXT, again in
// segments of the current MSS (Linux's tcp_simple_retransmit, which resends
// the segments larger than the new MSS: the router dropped them). We keep no
// segment boundaries, so the whole flight is cut anew. The flight does not
// grow, so the window still allows it. The retransmission
// timer keeps running; Karn's rule applies (sendData).
func (c *Conn) retransmitFlight(now time.Time) {
	end := seqnum.Min(c.sndCur, c.dataEnd())
	finInFlight := c.finQueued && c.sndCur.GreaterThan(c.finSeq)
	seq := c.sndUna
	for {
		n := 0
		if seq.LessThan(end) {
			n = min(int(seq.Size(end)), c.sendMSS())
		}
		fin := finInFlight && seq.Add(seqnum.Size(n)) == c.finSeq
		if n == 0 && !fin {
			break
		}
		c.sendData(seq, n, fin, now)
		if fin {
			break
		}
		seq = seq.Add(seqnum.Size(n))
	}
	c.dupAcks = 0
}
