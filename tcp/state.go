package tcp

import "fmt"

// State is a connection state of RFC 9293 §3.3.2.
type State uint8

// The eleven states of RFC 9293 §3.3.2, Figure 5.
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
	numStates
)

var stateNames = [numStates]string{
	StateClosed:      "CLOSED",
	StateListen:      "LISTEN",
	StateSynSent:     "SYN-SENT",
	StateSynReceived: "SYN-RECEIVED",
	StateEstablished: "ESTABLISHED",
	StateFinWait1:    "FIN-WAIT-1",
	StateFinWait2:    "FIN-WAIT-2",
	StateCloseWait:   "CLOSE-WAIT",
	StateClosing:     "CLOSING",
	StateLastAck:     "LAST-ACK",
	StateTimeWait:    "TIME-WAIT",
}

// String returns the RFC name of the state, e.g. "ESTABLISHED".
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// synchronized reports whether the state is one of the synchronized states of
// RFC 9293 §3.5.2 / §3.10.7.4 (SYN-RECEIVED counts: it has seen the peer's SYN).
func (s State) synchronized() bool {
	return s >= StateSynReceived && s <= StateTimeWait
}

// legalTransitions is the state diagram of RFC 9293 §3.3.2 (Figure 5), plus
// the edges the event processing text of §3.10 adds:
//   - any state → CLOSED: ABORT, a reset, or a user timeout / retries
//     exhausted (§3.10.5, §3.10.7.4 second, §3.10.8);
//   - SYN-SENT → SYN-RECEIVED: simultaneous open (§3.10.7.3 fourth; Figure 7);
//   - FIN-WAIT-1 → TIME-WAIT: a FIN whose segment also ACKs our FIN
//     (§3.10.7.4 eighth, "FIN-WAIT-1 STATE: If our FIN has been ACKed (perhaps
//     in this segment), then enter TIME-WAIT").
//
// SYN-RECEIVED → LISTEN ("return to LISTEN" on a RST) is not used: a passive
// connection is created per SYN by its Listener, which keeps listening on its
// own, so the connection goes to CLOSED instead.
//
// Tests check every transition against it through an Observer (strict in
// fixtures_test.go); in production an illegal transition is a bug, but not
// one worth taking the stack down for.
var legalTransitions = [numStates][numStates]bool{
	StateClosed:      {StateListen: true, StateSynSent: true},
	StateListen:      {StateSynReceived: true, StateSynSent: true, StateClosed: true},
	StateSynSent:     {StateSynReceived: true, StateEstablished: true, StateClosed: true},
	StateSynReceived: {StateEstablished: true, StateFinWait1: true, StateClosed: true},
	StateEstablished: {StateFinWait1: true, StateCloseWait: true, StateClosed: true},
	StateFinWait1:    {StateFinWait2: true, StateClosing: true, StateTimeWait: true, StateClosed: true},
	StateFinWait2:    {StateTimeWait: true, StateClosed: true},
	StateCloseWait:   {StateLastAck: true, StateClosed: true},
	StateClosing:     {StateTimeWait: true, StateClosed: true},
	StateLastAck:     {StateClosed: true},
	StateTimeWait:    {StateClosed: true},
}

// setState is the one way a Conn changes state (DESIGN.md, "Protocol cores
// are sans-IO").
func (c *Conn) setState(next State) {
	prev := c.state
	if prev == next {
		return
	}
	c.state = next
	if o := c.cfg.Observer; o != nil {
		o.StateChange(c, prev, next)
	}
	switch next {
	case StateClosed:
		c.events |= EventClosed
		// Nothing will be sent again; received bytes stay readable.
		c.sndBuf.Reset()
		c.rcvBuf.Release()
	case StateTimeWait:
		// Everything we sent was acknowledged: a TIME-WAIT connection
		// keeps no send ring, and no receive ring once it was read.
		c.sndBuf.Release()
		c.rcvBuf.Release()
	}
}
