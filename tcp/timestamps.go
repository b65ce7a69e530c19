package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Timestamps (RFC 7323 §3-5): our TS clock, TS.Recent, RTT measurement
// and PAWS. Timestamp values are compared in 32-bit modular arithmetic
// (RFC 7323 §5.2), the arithmetic of sequence numbers, so they go through
// seqnum.

// pawsIdle is RFC 7323 §5.5's limit: TS.Recent is invalid once the
// connection has been idle this long (24 days; Linux's TCP_PAWS_24DAYS).
const pawsIdle = 24 * 24 * time.Hour

// tsOptionLen is the room a Timestamps option takes in every segment
// (NOP, NOP, kind, length, TSval, TSecr). Deviation (Linux compat): the
// send MSS shrinks by it when timestamps are on, so that a full segment
// still fits the path MTU (Linux's tcp_current_mss / tp->tcp_header_len).
const tsOptionLen = 12

// tsOffsetFor derives the per-connection offset of our TS clock from the
// ISS. RFC 7323 §7 suggests a random offset per connection so that TSval
// reveals no uptime; the ISS (RFC 6528: a keyed hash of the four-tuple
// plus a clock) is unpredictable to anyone off the path, and mixing it
// keeps TSval from mirroring it.
func tsOffsetFor(iss seqnum.Value) uint32 {
	x := uint32(iss) ^ 0x9e3779b9
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	x ^= x >> 16
	return x
}

// startTSClock makes the first time a Conn is called with its TS clock's
// epoch; later calls change nothing. Every entry point calls it, so any
// segment the call sends has an epoch for its TSval (tsVal).
func (o *optState) startTSClock(now time.Time) {
	if o.tsEpoch.IsZero() {
		o.tsEpoch = now
	}
}

// tsVal is our timestamp clock at now (tsValAt), from the connection's
// offset. A passive Conn's epoch is the SYN's arrival (passiveOpen), so
// its SYN-ACK carries tsOffset.
func (o *optState) tsVal(now time.Time) uint32 {
	return tsValAt(o.tsOffset, o.tsEpoch, now)
}

// negotiateTimestamps applies the Timestamps option of the peer's SYN or
// SYN-ACK (RFC 7323 §3.2): timestamps are on when both SYNs carry it; a
// SYN-ACK carries it only when the SYN did. TS.Recent starts at the SYN's
// TSval (§4.3, §5.3).
func (c *Conn) negotiateTimestamps(o *Options, now time.Time) {
	if c.state == StateListen {
		// A passive open (passiveOpen in listener.go): we offer back
		// timestamps only to a SYN that offers them.
		c.tsOffered = !c.cfg.DisableTimestamps
	}
	if !c.tsOffered || !o.HasTimestamp {
		c.tsOffered, c.tsOn = false, false
		return
	}
	c.tsOn = true
	c.setTSRecent(o.TSVal, now)
	c.lastAckSent = c.rcvNxt
	c.mss -= tsOptionLen // negotiate left at least min(Config.MSS, minPeerMSS): 28 or more
	c.rcvMSS = c.mss
}

// ackRTT takes the RTT sample of an ACK that advances SND.UNA to ack.
// With timestamps, from its TSecr (RFC 7323 §4.1-4.2: "TSecr ... MAY be
// used to update the averaged RTT measurement only if the segment
// advances the left edge of the send window"); the echoed TSval belongs
// to the segment that caused the ACK, so a retransmission is no
// ambiguity and Karn's rule is not needed. Without (or with a TSecr of
// zero, which Linux too takes for none), from the one timed segment
// (RFC 6298 §3). It returns the sample, if the ACK gave one.
func (c *Conn) ackRTT(seg *Segment, ack seqnum.Value, now time.Time) (rtt time.Duration, ok bool) {
	if c.tsOn && seg.Options.HasTimestamp && seg.Options.TSEcr != 0 {
		c.rttTiming = false
		if d := seqnum.Value(seg.Options.TSEcr).Size(seqnum.Value(c.tsVal(now))); int32(d) >= 0 {
			return c.rttSample(time.Duration(d) * time.Millisecond), true
		}
		return 0, false
	}
	if c.rttTiming && ack.GreaterThanEq(c.rttSeq) {
		c.rttTiming = false
		return c.rttSample(now.Sub(c.rttStart)), true
	}
	return 0, false
}
