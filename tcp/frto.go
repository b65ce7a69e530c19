package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// F-RTO (RFC 5682 §3, the SACK-enhanced algorithm, which also serves a
// connection without SACK, as Linux's tcp_process_loss): detection of a
// spurious retransmission timeout without timestamps. Eifel (undo.go)
// needs the TSecr of the first ACK after the timeout; a peer without
// timestamps (Windows' default) gives none, and every RTO after a burst
// of lost ACKs would collapse cwnd and go back N over data the receiver
// holds. After the timeout resent the first segment, F-RTO answers the
// first ACK that advances SND.UNA with new data instead of more
// retransmissions (step 2b); an ACK that then covers data sent before
// the timeout and not retransmitted since shows that the originals
// arrived, and the timeout is undone (step 3b, the undo of Eifel's
// response, RFC 4015). A duplicate ACK or one SACKing only the new data
// shows the loss was real, and the go-back-N goes on (step 3a).
//
// Deviation (Linux compat): as Linux, a cumulative ACK that covers such
// original data is evidence also at the first ACK (step 2a would fall back
// to the conventional recovery when it covers "recover"). A SACK of it is
// evidence only in step 3, as the RFC has it: Linux takes one at the first
// ACK too (FLAG_ORIG_SACK_ACKED), and then its undo keeps the timeout's
// retransmission marked as in flight; ours would resend it in the
// recovery that follows.

// startFRTO is step 1: at the first timeout of an episode outside a
// recovery (RFC 5682 §3.1 step 1), with the peer's window open. It runs
// before the timeout changes cwnd, to keep the values an undo restores.
// F-RTO is for connections without timestamps; Eifel decides for the
// others.
func (c *Conn) startFRTO() {
	c.frtoOn = false
	if c.tsOn || c.backoff > 0 || c.inRecovery || c.sndWnd == 0 {
		return
	}
	c.priorCwnd, c.priorSsthresh = c.cc.cwnd(), c.cc.ssthresh()
	// The octets sent before the timeout and not retransmitted: all of
	// them below SND.NXT, but a loss probe's copy of the last segment
	// (RFC 8985 §7.3) is a retransmission too.
	c.frtoHigh = c.sndNxt
	if c.tlpOut && c.tlpRetrans {
		c.frtoHigh = c.lastSegSeq
	}
	c.frtoOn = true
}

// armFRTO completes step 1 once the timeout resent [SND.UNA, end).
func (c *Conn) armFRTO(end seqnum.Value) {
	if !c.frtoOn {
		return
	}
	if !end.LessThan(c.frtoHigh) {
		c.frtoOn = false // nothing original left above the retransmission
		return
	}
	c.frtoOrig, c.frtoNew = end, false
}

// frtoAck is steps 2 and 3 for an acceptable ACK: it moved SND.UNA from
// oldUna, dup says it is a duplicate ACK, newSACK that it SACKed new
// data, and origSACKed is how many octets of [frtoOrig, frtoHigh) were
// SACKed before it.
func (c *Conn) frtoAck(oldUna seqnum.Value, dup, newSACK bool, origSACKed int, now time.Time) {
	if !c.frtoOn {
		return
	}
	ack := c.sndUna
	if ack.GreaterThan(c.frtoOrig) && oldUna.LessThan(c.frtoHigh) ||
		c.frtoNew && c.sb.sackedIn(c.frtoOrig, c.frtoHigh) > origSACKed {
		// Step 3b: original data arrived, so did the rest of the flight
		// as far as the timeout knew: it was spurious.
		c.frtoOn = false
		c.undoRTO()
		return
	}
	if c.frtoNew {
		if dup || newSACK {
			// Step 3a: the new data arrived past a hole: the loss was
			// real, and the go-back-N resumes from SND.UNA.
			c.frtoOn = false
			c.sndCur = c.sndUna
		}
		return // a window update alone decides nothing (Linux)
	}
	if ack == oldUna {
		// Step 2a: a duplicate ACK: the conventional recovery.
		if dup {
			c.frtoOn = false
		}
		return
	}
	// Step 2b: the retransmission is acknowledged; up to two new segments
	// go out instead of the next retransmissions ("an F-RTO TCP sender
	// simply chooses different segments to transmit"), Nagle aside.
	sent := 0
	for range 2 {
		n := c.frtoNewData()
		if n == 0 {
			break
		}
		fin := c.finQueued && c.sndNxt.Add(seqnum.Size(n)) == c.finSeq
		c.sendData(c.sndNxt, n, fin, now)
		sent++
	}
	if sent == 0 {
		// Nothing new to send: the conventional recovery (RFC 5682 §3.1
		// step 2b allows either; Linux gives F-RTO up).
		c.frtoOn = false
		c.sndCur = c.sndUna
		return
	}
	c.frtoNew = true
}

// frtoNewData is the size of the next new segment step 2b may send: the
// unsent data from SND.NXT, at most one MSS, within the peer's window.
func (c *Conn) frtoNewData() int {
	if c.finQueued && !c.sndNxt.LessThan(c.finSeq) {
		return 0 // the FIN is out: nothing new
	}
	end := c.dataEnd()
	if !c.sndNxt.LessThan(end) {
		return 0
	}
	n := min(int(c.sndNxt.Size(end)), c.sendMSS())
	if wndEnd := c.sndUna.Add(seqnum.Size(c.sndWnd)); c.sndNxt.LessThan(wndEnd) {
		return min(n, int(c.sndNxt.Size(wndEnd)))
	}
	return 0
}
