package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// rateSampler measures the delivery rate BBR models the path with
// (draft-ietf-ccwg-bbr "Delivery Rate Samples", from
// draft-cheng-iccrg-delivery-rate-estimation). The drafts keep per packet
// the connection's delivered count and time when the packet was sent, and
// on its ACK divide what was delivered since by the time since. tapstack
// keeps no per-segment records, so the sampler takes one sample per round
// trip: a round starts at an ACK (remembering C.delivered, the time, and
// SND.NXT) and ends at the first ACK that delivers an octet sent after
// that, the octet a draft sender would have stamped with the round start's
// delivered and time; the sample is what was delivered in between over the
// time in between (the drafts' ack_elapsed). That octet was sent at the
// round start when the sender had something to send then (the sampler
// runs before the ACK's transmissions); if it left later, the interval
// includes the wait and the sample is lower, never higher, than the
// drafts'. The same rounds are BBR.round_count's (draft-ietf-ccwg-bbr
// "BBR.round_count: Tracking Packet-Timed Round Trips").
type rateSampler struct {
	started bool
	// The round: it ends when an octet beyond end is delivered.
	end            seqnum.Value
	startDelivered uint64
	startTime      time.Time
	// appLimited: the sender ran out of data (with room in cwnd) at some
	// point of the round, so the sample measures the application, not
	// the path (the drafts' P.is_app_limited).
	appLimited bool
	// appLimitedUntil is C.app_limited: the sender is app-limited until
	// C.delivered passes it, once what was in flight when it ran out of
	// data is delivered (0 when not app-limited).
	appLimitedUntil uint64
}

// rateSample is the sample of a round that ended.
type rateSample struct {
	rate       uint64        // bytes per second
	delivered  uint64        // bytes delivered during the round
	interval   time.Duration // the round's duration
	appLimited bool
}

// markAppLimited notes that the sender has nothing to send and room to
// send it (the drafts' "C.app_limited = C.delivered + packets_in_flight").
func (r *rateSampler) markAppLimited(delivered uint64, inflight int) {
	r.appLimitedUntil = max(delivered+uint64(inflight), 1)
	r.appLimited = true
}

// restart starts a round at now (BBRStartRound).
func (r *rateSampler) restart(delivered uint64, sndNxt seqnum.Value, now time.Time) {
	r.started, r.end = true, sndNxt
	r.startDelivered, r.startTime = delivered, now
	r.appLimited = r.appLimitedUntil != 0
}

// onAck takes an ACK after which delivered octets are delivered in all
// and the highest delivered octet ends before high (the cumulative ACK or
// the end of the highest SACK block). It reports whether a round ended
// and, if so, the round's sample; the next round starts here.
func (r *rateSampler) onAck(delivered uint64, high, sndNxt seqnum.Value, now time.Time) (rateSample, bool) {
	if r.appLimitedUntil != 0 && delivered > r.appLimitedUntil {
		r.appLimitedUntil = 0 // what was sent app-limited is delivered
	}
	if !r.started {
		r.restart(delivered, sndNxt, now)
		return rateSample{}, false
	}
	if !high.GreaterThan(r.end) {
		return rateSample{}, false
	}
	s := rateSample{delivered: delivered - r.startDelivered, interval: now.Sub(r.startTime), appLimited: r.appLimited}
	if s.interval > 0 {
		s.rate = uint64(float64(s.delivered) / s.interval.Seconds())
	}
	r.restart(delivered, sndNxt, now)
	return s, true
}
