package tcp

import (
	"strconv"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Explicit Congestion Notification (RFC 3168). A router that would drop a
// packet of an ECN-capable transport marks it CE instead; the receiver
// echoes the mark with ECE on its ACKs until the sender says with CWR that
// it reduced its window. Both ends must agree on the handshake (§6.1.1).

// The IP header's ECN field (RFC 3168 §5), as Segment.ECN carries it.
const (
	ECNNotECT uint8 = 0 // Not-ECT: not an ECN-capable transport
	ECNECT1   uint8 = 1 // ECT(1)
	ECNECT0   uint8 = 2 // ECT(0): what an ECN sender sets (§6.1.1)
	ECNCE     uint8 = 3 // Congestion Experienced
)

// ECNMode is Config.ECN: when a connection uses ECN, as Linux's
// net.ipv4.tcp_ecn.
type ECNMode uint8

const (
	// ECNDefault is the zero value: ECNOn.
	ECNDefault ECNMode = iota
	// ECNOn asks for ECN on active opens and accepts it on passive
	// ones (tcp_ecn=1).
	ECNOn
	// ECNPassive accepts ECN when a peer's SYN asks for it but does not
	// ask itself (tcp_ecn=2, Linux's default).
	ECNPassive
	// ECNOff neither asks nor accepts (tcp_ecn=0).
	ECNOff
)

// ECNModes returns the names ParseECNMode accepts.
func ECNModes() []string { return []string{"on", "passive", "off"} }

// ParseECNMode returns the ECNMode called name (one of ECNModes); ok is
// false for any other name.
func ParseECNMode(name string) (m ECNMode, ok bool) {
	switch name {
	case "on":
		return ECNOn, true
	case "passive":
		return ECNPassive, true
	case "off":
		return ECNOff, true
	}
	return ECNDefault, false
}

// String returns the mode's name, "on" for ECNDefault.
func (m ECNMode) String() string {
	switch m {
	case ECNDefault, ECNOn:
		return "on"
	case ECNPassive:
		return "passive"
	case ECNOff:
		return "off"
	}
	return "ECNMode(" + strconv.Itoa(int(m)) + ")"
}

// ecnNegotiate applies the ECN flags of the peer's SYN or SYN-ACK
// (RFC 3168 §6.1.1). Our SYN's SYN-ACK agrees with ECE and not CWR (a
// SYN-ACK with both is a reflection by a host that knows no ECN); a SYN
// asks with both ECE and CWR. We accept a SYN's request on a passive open
// unless ECNOff, and on a simultaneous open if our SYN asked too (as
// Linux's tcp_ecn_rcv_syn); the SYN-ACK then carries ECE (ecnMark).
func (c *Conn) ecnNegotiate(flags Flags) {
	ece := flags & (FlagECE | FlagCWR)
	switch {
	case flags&FlagACK != 0:
		c.ecnOn = c.ecnOffered && ece == FlagECE
	case c.state == StateSynSent:
		c.ecnOn = c.ecnOffered && ece == FlagECE|FlagCWR
	default:
		c.ecnOn = ecnSYNAsks(c.cfg, flags)
	}
}

// ecnMark sets the ECN bits of seg, an outgoing segment with n octets of
// data: the IP codepoint (seg.ECN) and the ECE and CWR flags.
//
//   - An active open's SYN asks with ECE|CWR (§6.1.1). Its
//     retransmissions do not (§6.1.1.1's MAY, as Linux's
//     tcp_ecn_clear_syn with tcp_ecn_fallback=1): a middlebox that drops
//     ECN-setup SYNs does not cost the connection.
//   - A SYN-ACK agreeing to ECN carries ECE, not CWR (§6.1.1).
//   - SYNs, SYN-ACKs, RSTs, pure ACKs, retransmissions and window probes
//     are Not-ECT (§6.1.1, §6.1.4, §6.1.5, §6.1.6); new data within the
//     peer's window is ECT(0), as Linux's tcp_ecn_send marks only data at
//     or beyond SND.NXT. The first such segment after a window
//     reduction carries CWR (§6.1.2).
//   - While a CE mark waits for the peer's CWR, every segment carries ECE
//     (§6.1.3).
func (c *Conn) ecnMark(seg *Segment, n int) {
	switch {
	case seg.Flags&FlagRST != 0:
		return
	case seg.Flags&(FlagSYN|FlagACK) == FlagSYN:
		if c.ecnOffered && !c.synRetransmitted {
			seg.Flags |= FlagECE | FlagCWR
		}
		return
	case seg.Flags&FlagSYN != 0:
		if c.ecnOn {
			seg.Flags |= FlagECE
		}
		return
	case !c.ecnOn:
		return
	}
	k := c.cfg.Counters
	if c.ecnEcho {
		seg.Flags |= FlagECE
		if k != nil {
			k.ECESent++
		}
	}
	end := seg.Seq.Add(seqnum.Size(n))
	if n == 0 || seg.Seq.LessThan(c.sndNxt) || end.GreaterThan(c.sndUna.Add(seqnum.Size(c.sndWnd))) {
		return
	}
	seg.ECN = ECNECT0
	if c.ecnCWR {
		c.ecnCWR = false
		seg.Flags |= FlagCWR
		if k != nil {
			k.CWRSent++
		}
	}
}

// ecnInput is the data receiver's part (RFC 3168 §6.1.3) for an
// acceptable segment that carries data or a FIN, after its text was
// processed: a CWR ends the echo, then a CE mark (on this segment too)
// starts it. Both are news for the sender that cannot wait for a delayed
// ACK: as Linux's tcp_ecn_accept_cwr (ICSK_ACK_NOW: after CWR the
// sender's window may be one segment) and tcp_ecn_check_ce (quick ACK
// when the echo starts: "sender can have a very low cwnd"), the ACK goes
// at once.
func (c *Conn) ecnInput(seg *Segment) {
	if !c.ecnOn || (len(seg.Payload) == 0 && seg.Flags&FlagFIN == 0) {
		return
	}
	now := false
	if seg.Flags&FlagCWR != 0 {
		c.ecnEcho = false
		now = len(seg.Payload) > 0
	}
	if seg.ECN == ECNCE {
		c.ceReceived++
		if k := c.cfg.Counters; k != nil {
			k.CEReceived++
		}
		if !c.ecnEcho {
			c.ecnEcho = true
			now = true
		}
	}
	if now {
		c.ackPending = true
		c.delackAt = time.Time{}
	}
}

// ecnAck is the data sender's part (RFC 3168 §6.1.2) for an acceptable
// ACK that is not older than SND.UNA was (oldUna), once duplicate-ACK
// processing has run: an ECE halves the window as a loss would, at most
// once per window of data. No reduction while a loss recovery, or the
// window of an earlier reduction (an ECN one, or a retransmission
// timeout's, whose recover SND.UNA has not passed), is still
// unacknowledged: §6.1.2 "should not decrease the slow-start threshold ...
// if it has been decreased within the last round trip time", as Linux's
// tcp_enter_cwr does nothing in the CWR, Recovery or Loss states. The
// controller lowers ssthresh as for a loss (RFC 5681 eq. (4), RFC 9438
// §4.6 for CUBIC) and cwnd comes down to it at once (§6.1.2: "halves the
// congestion window"; Linux comes down gradually by PRR in CWR).
func (c *Conn) ecnAck(seg *Segment, oldUna seqnum.Value) {
	if !c.ecnOn {
		return
	}
	if c.ecnCut && c.sndUna.GreaterThan(c.ecnCutEnd) {
		// Data sent after the reduction (the first of it carried CWR) is
		// acknowledged: the receiver has heard of the reduction, and an
		// ECE from now on is news. As Linux leaves CWR only once SND.UNA
		// is beyond high_seq ("for CWR bit to reach receiver").
		c.ecnCut = false
	}
	if seg.Flags&FlagECE == 0 || seg.Flags&FlagSYN != 0 || seg.Ack.LessThan(oldUna) {
		return
	}
	k := c.cfg.Counters
	if k != nil {
		k.ECEReceived++
	}
	// BBR counts what this ACK delivers as CE-marked (pacing.go).
	c.pace.ece = true
	if c.ecnCut || c.sndUna.LessThanEq(c.recover) { // recover: in recovery, it is SND.NXT at its start
		return
	}
	c.undoOn = false // not a spurious loss: nothing to undo (Linux's tcp_enter_cwr)
	c.cc.onLoss(lossEvent{flight: c.flightSize(), mss: c.mss})
	c.cc.setCwnd(min(c.cc.cwnd(), c.cc.ssthresh()))
	c.ecnCut, c.ecnCutEnd = true, c.sndNxt
	c.ecnCWR = true
	c.ecnReductions++
	if k != nil {
		k.ECNReductions++
	}
}

// lossReduction lowers ssthresh for a loss recovery about to start,
// unless an ECE reduction whose window is still outstanding already did:
// the same congestion is not answered twice (RFC 3168 §6.1.2, as Linux's
// tcp_enter_recovery does not reduce again in the CWR state). Either way
// the next new data carries CWR (ecnQueueCWR).
func (c *Conn) lossReduction() {
	c.ecnQueueCWR()
	if c.ecnCut && c.sndUna.LessThanEq(c.ecnCutEnd) {
		return
	}
	c.cc.onLoss(lossEvent{flight: c.flightSize(), mss: c.mss})
}

// ecnQueueCWR puts CWR on the next new data segment after a window
// reduction: RFC 3168 §6.1.2, "for any reason (because of a retransmit
// timeout, a Fast Retransmit, or in response to an ECN Notification)", as
// Linux's tcp_ecn_queue_cwr in tcp_init_cwnd_reduction and tcp_enter_loss.
func (c *Conn) ecnQueueCWR() {
	if c.ecnOn {
		c.ecnCWR = true
	}
}

// cookieECN reports whether the ACK seg completing a cookie handshake for
// the connection whose ISS is iss echoes a cookie SYN-ACK that agreed to
// ECN (cookieTSECN in its TSval, cookieTSVal). As Linux's cookie_ecn_ok,
// only a cookie with timestamps carries it; a TSecr of zero echoes
// nothing (cookieSynOptions).
func cookieECN(seg *Segment, iss seqnum.Value) bool {
	e := seg.Options.TSEcr
	return e != 0 && (e-tsOffsetFor(iss))&cookieTSECN != 0
}

// ecnSYNAsks reports whether a SYN asks for ECN (§6.1.1: ECE and CWR)
// and we accept it: a cookie SYN-ACK then agrees, if it can say so in
// its timestamp.
func ecnSYNAsks(cfg Config, flags Flags) bool {
	return cfg.ECN != ECNOff && flags&(FlagECE|FlagCWR) == FlagECE|FlagCWR
}
