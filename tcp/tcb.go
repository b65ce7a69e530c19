package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/buffer"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// The parts of a Conn's TCB. Conn embeds each, so a field reads as
// c.sndUna wherever it lives; the split says who owns what: the sender
// (sendState, recoveryState, rackState, pace), the receiver (recvState
// and the ackState it shares with TimeWait), the RTT estimator
// (rttState), the timers (timerState) and congestion control (cc, behind
// the congestionControl interface of cc.go).

// sendState is the send sequence space (RFC 9293 §3.3.1) and the send
// ring. sndNxt is SND.NXT, the highest sequence number sent plus one
// (BSD's snd_max), which ACK acceptability uses. sndCur, the send
// cursor, is the next sequence number transmit sends: SND.NXT, except
// that a retransmission timeout rewinds it to SND.UNA ("go back N";
// BSD's snd_nxt) and a zero-window probe sends from it without advancing
// it.
type sendState struct {
	iss, sndUna, sndCur, sndNxt seqnum.Value
	sndWnd                      int // SND.WND in bytes, already scaled
	maxSndWnd                   int // largest SND.WND seen (RFC 1122 §4.2.3.4, RFC 5961 §5.2)
	sndWL1, sndWL2              seqnum.Value
	sndBuf                      *buffer.Send
	sndBufSeq                   seqnum.Value // sequence number of sndBuf offset 0
	finQueued                   bool         // Shutdown/Close: a FIN follows the queued data
	finSeq                      seqnum.Value // the FIN's sequence number, when finQueued
	sndWScale                   uint8        // shift for the peer's window field (RFC 7323 §2.3)
	mss                         int          // effective send MSS (RFC 9293 §3.7.1)
	sndSml                      seqnum.Value // end of the last short segment sent (Minshall's Nagle)
	lastDataSent                time.Time    // when data was last sent (Linux's lsndtime), for the restart after idle
	lastSegSeq                  seqnum.Value // where the segment that last extended SND.NXT began: the loss probe resends it

	// cwnd use (cwndValidate): whether cwnd held the sender back in the
	// window of data that ends at cwndUsageSeq, and the most in flight.
	isCwndLimited bool
	maxFlight     int
	cwndUsageSeq  seqnum.Value
}

// recoveryState is loss recovery (RFC 5681, RFC 6582 NewReno, RFC 6675
// SACK, RFC 6937 PRR) and the undo of spurious recoveries and timeouts.
type recoveryState struct {
	dupAcks    int
	inRecovery bool
	recover    seqnum.Value // NewReno's recover (RFC 6582), RecoveryPoint of RFC 6675

	// SACK scoreboard (RFC 2018, RFC 2883, RFC 6675); sackOn is in
	// ackState. peerSACKs: the peer has sent a valid SACK block; a
	// partial ACK with none then means it holds nothing above, not that
	// it sends none.
	sb        scoreboard   // SACKed ranges the peer reported (RFC 6675 §3)
	highRxt   seqnum.Value // HighRxt (RFC 6675 §2): end of the highest retransmitted
	rescueRxt seqnum.Value // RescueRxt (RFC 6675 §2, §4 NextSeg rule 4), when rescueSet
	rescueSet bool
	peerSACKs bool

	// Proportional Rate Reduction (RFC 6937) in SACK recovery: octets
	// delivered and sent since it began, and FlightSize then.
	prrDelivered, prrOut, recoverFS int

	// Undo of a spurious fast recovery (RFC 2883 §5, Linux's
	// tcp_try_undo_dsack): while undoOn, the recovery that began at
	// SND.UNA = undoSeq with cwnd and ssthresh at priorCwnd and
	// priorSsthresh has undoRetrans retransmitted segments that no
	// D-SACK has shown to be duplicates yet.
	undoOn                   bool
	undoSeq                  seqnum.Value
	undoRetrans              int
	priorCwnd, priorSsthresh int

	// Eifel detection of a spurious RTO (RFC 3522, undo.go): while
	// eifelOn, an ACK of new data echoing a TSval before eifelTS (our
	// TSval when the episode's first retransmission went out) undoes the
	// timeout. rxtTS is that TSval for the current fast recovery.
	eifelOn bool
	eifelTS uint32
	rxtTS   uint32

	// F-RTO (RFC 5682 §3, frto.go): while frtoOn, the octets of
	// [frtoOrig, frtoHigh) were sent before the timeout and not
	// retransmitted since; frtoNew: step 2b sent new data.
	frtoOn, frtoNew    bool
	frtoOrig, frtoHigh seqnum.Value
}

// rackState is RACK-TLP (RFC 8985): time-based loss detection (rack.go)
// and the tail loss probe (tlp.go).
type rackState struct {
	// Tail Loss Probe (RFC 8985 §7). ptoAt is the probe timeout; it is
	// armed alongside rtoAt, never later. tlpOut: a probe episode is open
	// (TLP.end_seq is not None), tlpEndSeq is TLP.end_seq, tlpRetrans
	// TLP.is_retrans.
	ptoAt      time.Time
	tlpOut     bool
	tlpRetrans bool
	tlpEndSeq  seqnum.Value

	rackAt time.Time // the reordering timer (RFC 8985 §6.3)
	txl    txLog     // the transmit log (txlog.go)
	// RACK.xmit_ts, RACK.end_seq (when rackSet) and RACK.rtt (RFC 8985
	// §6.1); rackAckXmit is the transmit time of the most recently sent
	// segment the ACK being handled delivered (when rackAckSeen), whose
	// RTT RACK.rtt takes.
	rackXmit    time.Time
	rackEndSeq  seqnum.Value
	rackRTT     time.Duration
	rackSet     bool
	rackAckXmit time.Time
	rackAckSeen bool
	recoveryAt  time.Time // when the current SACK recovery began (rackResent)
	// RACK.reo_wnd adaptation (RFC 8985 §6.2 step 4), rackDSACK:
	// reoWndMult is RACK.reo_wnd_mult less one, reoWndPersist
	// RACK.reo_wnd_persist, dsackRound RACK.dsack_round (when
	// dsackRoundSet).
	reoWndMult, reoWndPersist int
	dsackRound                seqnum.Value
	dsackRoundSet             bool
	// reorderingSeen is RACK.reordering_seen (RFC 8985 §6.2 step 2):
	// from then on DupThresh no longer marks losses, time does.
	reorderingSeen bool
}

// recvState is the receive side beyond ackState (RCV.NXT, the advertised
// right edge, TS.Recent, the D-SACK to report and the rate limit of
// replies to invalid segments, which a TimeWait takes over): the
// reassembly ring, the ACK policy and the SACK blocks we send.
type recvState struct {
	ackState
	irs        seqnum.Value
	rcvBuf     *buffer.Recv
	synWnd     int  // the (unscaled) window our SYN or SYN-ACK advertised
	finRcvd    bool // the peer's FIN is consumed: RCV.NXT is past it
	oooFin     bool // a FIN arrived beyond a hole, at oooFinSeq
	oooFinSeq  seqnum.Value
	rcvMSS     int       // largest segment received, the "full-sized segment" of RFC 5681 §4.2
	rcvUnacked int       // in-order bytes received since our last ACK
	ackAtFlush bool      // an every-second-segment ACK waits for FlushACK
	delackAt   time.Time // the delayed-ACK timer (RFC 1122 §4.2.3.2); zero: not armed

	sackRecent    [maxSACKBlocks]seqnum.Value // recently received out-of-order segments, newest first (RFC 2018 §4)
	sackRecentN   int
	rangesScratch [][2]int // rcvBuf.Ranges, reused
}

// rttState is the RTT estimator (RFC 6298 §2-3, RFC 7323 §4): SRTT,
// RTTVAR and RTO, the segment being timed without timestamps (Karn), and
// RACK.min_RTT.
type rttState struct {
	srtt, rttvar, rto time.Duration
	hasRTT            bool
	rttTiming         bool // timing the segment ending at rttSeq (Karn, RFC 6298 §3)
	rttSeq            seqnum.Value
	rttStart          time.Time
	minRTT            time.Duration // RACK.min_RTT: the least RTT sample
}

// timerState is the connection's timers (RFC 6298, RFC 9293 §3.8) other
// than the delayed ACK (recvState) and RACK-TLP's (rackState); the zero
// time means not armed.
type timerState struct {
	rtoAt, persistAt, closeAt time.Time
	keepAt                    time.Time // keep-alive (RFC 1122 §4.2.3.6)
	keepProbes                int       // unanswered keep-alive probes
	lastRcvAt                 time.Time // last acceptable segment: the keep-alive idle clock
	stallSince                time.Time // since when sent data waits for an ACK or a window (UserTimeout); zero: nothing waits
	backoff                   int       // retransmissions in the current episode (RTO exponent)
	persistBackoff            int
	synRetransmitted          bool
}

// optState is what our SYN offered and the peer's agreed to, beyond
// ackState's tsOn and sackOn, and our TS clock (RFC 7323 §3-5).
type optState struct {
	wsOffered   bool      // our SYN carried a Window Scale option
	sackOffered bool      // our SYN or SYN-ACK carries SACK-permitted
	tsOffered   bool      // our SYN or SYN-ACK carries the Timestamps option
	tsOffset    uint32    // our TS clock's per-connection offset
	tsEpoch     time.Time // the time our TS clock reads tsOffset
}

// ecnState is ECN (RFC 3168), ecn.go. ecnOffered: our SYN asked for it;
// ecnOn: negotiated. ecnEcho: a CE mark waits for the peer's CWR
// (§6.1.3). ecnCWR: the next new data carries CWR (§6.1.2). ecnCut: an
// ECE reduction's window, up to ecnCutEnd, is outstanding.
type ecnState struct {
	ecnOffered, ecnOn, ecnEcho, ecnCWR, ecnCut bool
	ecnCutEnd                                  seqnum.Value
}

// connStats are the connection's own counts, reported by Info.
type connStats struct {
	bytesSent, bytesReceived, retransmits uint64
	fastRetrans                           uint64
	replyCounts                           // pawsDrops, challengeACKs, acksRateLimited
	sackDiscards                          uint64
	keepAliveProbes                       uint64
	timeouts, recoveries                  uint64
	lossProbes, tlpRecoveries             uint64
	dsackUndos                            uint64
	rackRecoveries, rackRetransmits       uint64
	ceReceived, ecnReductions             uint64
	spuriousRTOs                          uint64
}
