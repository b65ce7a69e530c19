package tcp

import "time"

// Eifel detection of a spurious retransmission timeout (RFC 3522) with
// the Eifel response's undo (RFC 4015), as Linux's tcp_try_undo_loss with
// timestamps (tcp_packet_delayed): an RTO that fired only because the
// ACKs were lost or late, not the data, collapses cwnd to one segment and
// goes back N over data the receiver holds. With timestamps the first ACK
// of new data after the timeout tells which: its TSecr echoes the segment
// that triggered it (RFC 7323 §4.3), and a TSecr older than the
// retransmission means the original arrived. Then cwnd and ssthresh go
// back to what they were before the episode, the go-back-N stops (the send
// cursor returns to SND.NXT: RFC 4015 §2 resumes with new data), and fast
// recovery may start again for losses the flight still holds.

// startEifel arms the detection at the first timeout of an episode: the
// reference TSval is the episode's first retransmission, the fast
// retransmission when the timeout hit a recovery (its undo record then
// holds the window from before it), else the timeout's own.
func (c *Conn) startEifel(now time.Time) {
	if !c.tsOn {
		c.eifelOn = false
		return
	}
	if c.inRecovery && c.undoOn {
		c.eifelTS = c.rxtTS
	} else {
		c.priorCwnd, c.priorSsthresh = c.cc.cwnd(), c.cc.ssthresh()
		c.eifelTS = c.tsVal(now)
	}
	c.eifelOn = true
}

// eifelUndo decides on the first ACK of new data after a timeout.
func (c *Conn) eifelUndo(seg *Segment) {
	if !c.eifelOn {
		return
	}
	c.eifelOn = false
	o := &seg.Options
	if !o.HasTimestamp || o.TSEcr == 0 || int32(o.TSEcr-c.eifelTS) >= 0 {
		return // the retransmission's ACK, or no evidence
	}
	c.undoRTO()
}

// undoRTO undoes a timeout found spurious (by Eifel or F-RTO, frto.go):
// cwnd and ssthresh go back to priorCwnd and priorSsthresh, the
// go-back-N stops, and a new fast recovery may start for losses the
// flight still holds (RFC 4015 §2; Linux's tcp_undo_cwnd_reduction).
func (c *Conn) undoRTO() {
	c.cc.undo(c.priorCwnd, c.priorSsthresh)
	c.sndCur = c.sndNxt
	c.recover = c.sndUna.Sub(1)
	c.spuriousRTOs++
	if k := c.cfg.Counters; k != nil {
		k.SpuriousRTOs++
	}
}
