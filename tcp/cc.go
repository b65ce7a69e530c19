package tcp

import (
	"slices"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Congestion control is a seam between the sender and an algorithm, as
// Linux's struct tcp_congestion_ops and smoltcp's Controller are. The
// algorithm owns cwnd and ssthresh; the sender reports what happened (an
// ACK of new data, a loss, a timeout, an idle restart) and reads the two
// numbers back. How a loss recovery spends its window (NewReno's inflation
// and deflation, RFC 6582 §3.2; RFC 6675's pipe) is the sender's: it sets
// cwnd within a recovery with setCwnd, as Linux's tcp_cwnd_reduction does
// after asking the algorithm for ssthresh.
type congestionControl interface {
	// name is the algorithm's name, as Linux's TCP_CONGESTION gives it.
	name() string
	cwnd() int
	ssthresh() int
	// init sets cwnd and ssthresh: the initial window once the handshake
	// is complete (RFC 5681 §3.1), or the previous algorithm's when a
	// connection switches (Linux keeps both across TCP_CONGESTION).
	init(cwnd, ssthresh int)
	// onAck is an ACK of acked new bytes outside loss recovery: slow
	// start or congestion avoidance.
	onAck(s ackSample)
	// onLoss lowers ssthresh for a loss detected by duplicate ACKs, SACK
	// or RACK, or found by a tail loss probe; the sender sets cwnd next.
	onLoss(ev lossEvent)
	// onRTO is a retransmission timeout: cwnd becomes the loss window
	// (RFC 5681 §3.1). first is false for a repeated timeout of the same
	// segment, which leaves ssthresh alone.
	onRTO(flight, mss int, first bool)
	// onIdleRestart restarts the window after idle data-less periods
	// (RFC 5681 §4.1).
	onIdleRestart(idle, rto time.Duration, iw int)
	// setCwnd is for the sender's recovery rules.
	setCwnd(n int)
	// undo takes back the reduction of a loss that proved spurious: cwnd
	// and ssthresh go back up to what they were before it (Linux's
	// tcp_undo_cwnd_reduction with tcp_reno_undo_cwnd, which CUBIC uses
	// too).
	undo(cwnd, ssthresh int)
}

// CongestionControls returns the names Config.Congestion and
// Conn.SetCongestion accept.
func CongestionControls() []string { return []string{"cubic", "reno", "bbr"} }

// newCongestionControl returns the algorithm called name, nil if none is.
func newCongestionControl(name string) congestionControl {
	switch name {
	case "cubic":
		return newCubic()
	case "reno":
		return newReno()
	case "bbr":
		return newBBR()
	}
	return nil
}

// IsCongestionControl reports whether name is one of CongestionControls.
func IsCongestionControl(name string) bool { return slices.Contains(CongestionControls(), name) }

// ackSample describes an ACK of new data for onAck.
type ackSample struct {
	acked  int           // bytes newly acknowledged
	mss    int           // SMSS
	srtt   time.Duration // the smoothed RTT (RFC 6298), 0 before a sample
	rtt    time.Duration // this ACK's RTT sample, when hasRTT
	hasRTT bool
	now    time.Time
	// ack is SEG.ACK, sndNxt SND.NXT: rounds of one RTT
	// are counted by them (RFC 9406 §4.2).
	ack, sndNxt seqnum.Value
	// cwndLimited: the sender used its window lately (Conn.cwndLimited);
	// Reno and CUBIC grow cwnd only then (RFC 9438 §5.8, RFC 7661).
	cwndLimited bool
}

// lossEvent describes a loss for onLoss.
type lossEvent struct {
	flight int // FlightSize when the loss was detected
	mss    int // SMSS
	// repaired: a tail loss probe already repaired the loss and the
	// repairing ACK emptied the flight, so FlightSize says nothing.
	repaired bool
}

// reno is RFC 5681's slow start and congestion avoidance, with RFC 3465's
// appropriate byte counting.
type reno struct {
	cwndB, ssthreshB int
	bytesAcked       int // RFC 3465 §2.1: bytes acknowledged towards the next increase
}

// initialSsthresh is ssthresh before the first loss: RFC 5681 §3.1's
// "arbitrarily high".
const initialSsthresh = 1 << 30

func newReno() *reno {
	return &reno{ssthreshB: initialSsthresh}
}

func (r *reno) name() string  { return "reno" }
func (r *reno) cwnd() int     { return r.cwndB }
func (r *reno) ssthresh() int { return r.ssthreshB }
func (r *reno) setCwnd(n int) { r.cwndB = n }
func (r *reno) init(cwnd, ssthresh int) {
	r.cwndB, r.ssthreshB, r.bytesAcked = cwnd, ssthresh, 0
}
func (r *reno) onAck(s ackSample) {
	if !s.cwndLimited {
		return // RFC 7661 §4.3 (Linux's tcp_reno_cong_avoid)
	}
	if r.cwndB < r.ssthreshB {
		r.cwndB += min(s.acked, s.mss) // slow start, RFC 5681 eq. (2), RFC 3465 L = 1
		return
	}
	// Congestion avoidance with appropriate byte counting (RFC 5681 §3.1,
	// RFC 3465 §2.1): one MSS per cwnd of data acknowledged.
	r.bytesAcked += s.acked
	if r.bytesAcked >= r.cwndB {
		r.bytesAcked -= r.cwndB
		r.cwndB += s.mss
	}
}

func (r *reno) onLoss(ev lossEvent) {
	base := ev.flight // RFC 5681 eq. (4): ssthresh = max(FlightSize/2, 2·SMSS)
	if ev.repaired {
		// Deviation (Linux compat): after a probe repaired the loss the
		// reduction starts from cwnd (tcp_init_cwnd_reduction with
		// Reno's ssthresh, cwnd/2), not from FlightSize.
		base = r.cwndB
		r.bytesAcked = 0
	}
	r.ssthreshB = max(base/2, 2*ev.mss)
}

func (r *reno) undo(cwnd, ssthresh int) {
	r.cwndB, r.ssthreshB = max(r.cwndB, cwnd), max(r.ssthreshB, ssthresh)
}

func (r *reno) onRTO(flight, mss int, first bool) {
	if first {
		// RFC 5681 §3.1 eq. (4); held constant for repeated timeouts of
		// the same segment.
		r.ssthreshB = max(flight/2, 2*mss)
	}
	r.cwndB = mss // the loss window (RFC 5681 §3.1)
	r.bytesAcked = 0
}

func (r *reno) onIdleRestart(idle, rto time.Duration, iw int) {
	r.cwndB, r.ssthreshB = restartWindow(r.cwndB, r.ssthreshB, idle, rto, iw)
}

// restartWindow is the congestion window restart of RFC 5681 §4.1 for a
// sender idle for idle > rto. Deviation (Linux compat, tcp_cwnd_restart
// with net.ipv4.tcp_slow_start_after_idle=1): cwnd is halved for every RTO
// of idleness, down to the restart window RW = min(IW, cwnd), rather than
// set to RW at once; ssthresh keeps 3/4 of the old cwnd
// (tcp_current_ssthresh), so slow start climbs back to near it.
func restartWindow(cwnd, ssthresh int, idle, rto time.Duration, iw int) (int, int) {
	ssthresh = max(ssthresh, cwnd/2+cwnd/4)
	rw := min(iw, cwnd)
	for idle -= rto; idle > 0 && cwnd > rw; idle -= rto {
		cwnd /= 2
	}
	return max(cwnd, rw), ssthresh
}
