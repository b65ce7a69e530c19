package conformance

import (
	"time"
)

// The SACK sender scripts: the peer negotiates SACK (RFC 2018 §2), the
// stack sends a flight, and the peer's ACKs carry SACK blocks. What each
// stack retransmits, and when, is RFC 6675 loss recovery, RFC 8985
// RACK-TLP and the RTO (RFC 6298); gVisor runs with SACK and its default
// RACK loss detection.

const (
	// sackRTT is the path's round-trip time: the peer answers each flight
	// this long after it was sent, so that both stacks have RTT samples.
	sackRTT = 50 * time.Millisecond
	// chunk is the size of each write, and so of each segment: the
	// application writes with TCP_NODELAY, so that every write goes out
	// as one segment. (Full-sized segments would not compare: gVisor
	// takes the room of four SACK blocks off every segment once SACK is
	// negotiated, 1424 octets for an MSS of 1460, where Linux and
	// tapstack take it only when the segment carries blocks,
	// tcp_current_mss.)
	chunk = 1000
)

// fs is the stack's sequence number, relative to its ISS, where segment k
// (from 1) of the flight after the warm-up starts; fs(k+1) is where it
// ends.
func fs(k int) uint32 { return 1 + chunk + uint32(k-1)*chunk }

// sackACK is the peer's ACK of everything before flight segment una, with
// a SACK block for each [first, last] range of flight segments given,
// in that order.
func sackACK(una int, blocks ...[2]int) seg {
	s := ackOnly(lport, 0, fs(una))
	for _, b := range blocks {
		s.sack = append(s.sack, [2]uint32{fs(b[0]), fs(b[1] + 1)})
	}
	return s
}

// segs is a SACK block of flight segments first..last.
func segs(first, last int) [2]int { return [2]int{first, last} }

// writes is n writes of one chunk each on c.
func writes(n int) []step {
	var out []step
	for range n {
		out = append(out, write("c", pattern(chunk)))
	}
	return out
}

// sackSenderSetup opens a connection with SACK negotiated and Nagle off,
// one RTT for the handshake and one for a one-segment warm-up, so that
// both stacks have an RTT sample of sackRTT, an RTO of 200 ms (the
// minimum; RFC 6298 §2.2-2.4) and room in the congestion window for the
// 11-segment flight that follows.
func sackSenderSetup() []step {
	sackSYN := linuxSYN
	sackSYN.SACKPermitted = true
	return []step{
		listenTCP("l", lport),
		send(peerSYN(lport, sackSYN)),
		advance(sackRTT),
		send(ackOnly(lport, 0, 1)),
		accept("l", "c"),
		noDelay("c"),
		write("c", pattern(chunk)),
		advance(sackRTT),
		send(ackOnly(lport, 0, 1+chunk)),
	}
}

// sackSenderScripts are the SACK sender scripts. Times are written from
// t0, when the application writes the 11-segment flight; the peer's
// ACKs are those a Linux sender's transmissions would draw (where a
// stack sent something else, they still name only data it sent).
func sackSenderScripts(add func(name string, norms []normalizer, st ...step)) {
	// Windows compare only as open or closed, as in the other data
	// scripts (PassiveOpen_WindowAfterData); tapstack's are pinned.
	win := []normalizer{openWindow}
	flight := append(writes(11), advance(sackRTT))

	// One hole: segment 2 of 11 is lost. At t0+50 ms the ACKs of 1, 3, 4
	// and 5 arrive, the last three with growing SACK blocks; after the
	// third, segment 2 is lost (RFC 6675 §4 IsLost: more than
	// (DupThresh-1)·SMSS SACKed above it; RFC 8985 §6.2 with a zero
	// reordering window in recovery) and is retransmitted. The rest is
	// SACKed; nothing else is lost.
	add("SACKSender_OneHole_RetransmittedAfterThreeSACKs", win, steps(sackSenderSetup(), flight, []step{
		send(sackACK(2)),
		send(sackACK(2, segs(3, 3))),
		send(sackACK(2, segs(3, 4))),
		send(sackACK(2, segs(3, 5))),
		send(sackACK(2, segs(3, 8))),
		send(sackACK(2, segs(3, 11))),
		advance(sackRTT),
		send(sackACK(12)),
		advance(sackRTT),
	})...)

	// One SACK is enough: segment 2 is lost and so are the ACKs of 3 and
	// 4; the first duplicate ACK already SACKs 3 to 5, more than
	// (DupThresh-1)·SMSS octets above the hole, so IsLost holds and
	// recovery starts at once (RFC 6675 §5 (4) b), without waiting for
	// two more duplicates. (Linux: RACK with a zero reordering window
	// once three segments are SACKed.)
	add("SACKSender_OneSACKOfThree_LostByBytes", win, steps(sackSenderSetup(), flight, []step{
		send(sackACK(2)),
		send(sackACK(2, segs(3, 5))),
		send(sackACK(2, segs(3, 11))),
		advance(sackRTT),
		send(sackACK(12)),
		advance(sackRTT),
	})...)

	// Three holes: segments 2, 5 and 8 are lost, and the SACK blocks
	// (most recent first, RFC 2018 §4) reveal them one after the other.
	add("SACKSender_ThreeHoles_RetransmittedInOrder", win, steps(sackSenderSetup(), flight, []step{
		send(sackACK(2)),
		send(sackACK(2, segs(3, 3))),
		send(sackACK(2, segs(3, 4))),
		send(sackACK(2, segs(6, 6), segs(3, 4))),
		send(sackACK(2, segs(6, 7), segs(3, 4))),
		send(sackACK(2, segs(9, 9), segs(6, 7), segs(3, 4))),
		send(sackACK(2, segs(9, 11), segs(6, 7), segs(3, 4))),
		advance(sackRTT),
		send(sackACK(5, segs(6, 7), segs(9, 11))),
		send(sackACK(8, segs(9, 11))),
		send(sackACK(12)),
		advance(sackRTT),
	})...)

	// D-SACK (RFC 2883 §4.1, §5): segment 1 was only delayed. Its fast
	// retransmission follows the third SACK; then the original arrives
	// (the ACK covers all 11), and then the retransmission, which the
	// peer reports in a D-SACK block. The application then writes 11 more
	// segments: how many go out at once shows the congestion window (the
	// peer ACKs the first two, which both stacks send).
	// Linux takes a D-SACK for every retransmission of the episode as
	// proof the recovery was spurious and undoes its window reduction
	// (tcp_try_undo_dsack; RFC 2883 §5 allows it).
	add("SACKSender_DSACK_SpuriousRetransmission", win, steps(sackSenderSetup(), flight, []step{
		send(sackACK(1, segs(2, 2))),
		send(sackACK(1, segs(2, 3))),
		send(sackACK(1, segs(2, 4))),
		send(sackACK(1, segs(2, 11))),
		send(sackACK(12)),
		seg1DSACK(12),
	}, writes(11), []step{
		advance(sackRTT),
		send(sackACK(14)),
		advance(sackRTT),
	})...)

	// A retransmission lost again: segment 2 is lost, and so is its fast
	// retransmission at t0+50 ms. The application writes two more
	// segments 1 ms later; their SACKs at t0+101 ms prove the
	// retransmission lost (RFC 8985 §6.2: something sent after it was
	// delivered), which RFC 6675 alone leaves to the RTO (§5.1). The
	// second retransmission is ACKed an RTT after it was sent by tapstack
	// (t0+116 ms); the RTO (t0+250 ms) must not fire.
	add("SACKSender_RetransmissionLostAgain", win, steps(sackSenderSetup(), flight, []step{
		send(sackACK(2)),
		send(sackACK(2, segs(3, 3))),
		send(sackACK(2, segs(3, 4))),
		send(sackACK(2, segs(3, 5))),
		send(sackACK(2, segs(3, 11))),
		advance(time.Millisecond),
	}, writes(2), []step{
		advance(sackRTT),
		send(sackACK(2, segs(3, 12))),
		send(sackACK(2, segs(3, 13))),
		advance(14 * time.Millisecond),
		advance(time.Millisecond),
		advance(sackRTT),
		send(sackACK(14)),
		advance(200 * time.Millisecond),
	})...)

	// SACK blocks after an RTO: segments 1 and 5 are lost, and the
	// peer's ACKs, SACKing the rest, are delayed past the RTO. A tail
	// loss probe (RFC 8985 §7.2: 2·SRTT + 2 ms after the flight, t0+102
	// ms) is lost too; the RTO (t0+352 ms: SRTT + 200 ms after the probe,
	// as Linux; gVisor's at t0+302 ms) retransmits segment 1; then the delayed SACKs arrive, and the ACK of
	// the retransmission. Only segment 5 is missing: RFC 6675 §5.1 keeps
	// the scoreboard updated after an RTO so that SACKed data need not be
	// resent, and Linux skips SACKed segments while in CA_Loss.
	add("SACKSender_SACKAfterRTO_OnlyHoleResent", win, steps(sackSenderSetup(), writes(11), []step{
		advance(101 * time.Millisecond),
		advance(time.Millisecond),
		advance(249 * time.Millisecond),
		advance(time.Millisecond),
		send(sackACK(1, segs(2, 4))),
		send(sackACK(1, segs(6, 11), segs(2, 4))),
		advance(sackRTT),
		send(sackACK(5, segs(6, 11))),
		advance(sackRTT),
		send(sackACK(12)),
		advance(sackRTT),
	})...)

	// Tail loss: segments 10 and 11 are lost; at t0+50 ms the ACK of 1 to
	// 9 arrives and nothing more. The loss probe (RFC 8985 §7: PTO =
	// 2·SRTT + 2 ms, t0+152 ms) resends the last segment; its SACK, at
	// t0+202 ms, shows segment 10 missing, which RACK repairs (§6.2):
	// Linux at once, as segment 10 was sent more than an RTT before the
	// probe.
	add("SACKSender_TailLoss_ProbeThenRepair", win, steps(sackSenderSetup(), flight, []step{
		send(sackACK(10)),
		advance(101 * time.Millisecond),
		advance(time.Millisecond),
		advance(sackRTT),
		send(sackACK(10, segs(11, 11))),
		advance(14 * time.Millisecond),
		advance(time.Millisecond),
		advance(sackRTT),
		send(sackACK(12)),
		advance(sackRTT),
	})...)
}

// seg1DSACK is the peer's ACK of everything before flight segment una with
// a D-SACK block for segment 1 (RFC 2883 §4.1.1: below the cumulative
// ACK).
func seg1DSACK(una int) step {
	s := sackACK(una)
	s.sack = [][2]uint32{{fs(1), fs(2)}}
	return send(s)
}

// sackKnownDiffs are the known differences of the SACK sender scripts.
// One tapstack trait recurs: RACK waits RACK.reo_wnd from when tapstack
// first sees evidence of a loss (tcp/rack.go). Its retransmissions are
// Linux's segments (a retransmission stops at the first SACKed octet, a
// loss probe resends the last segment sent, go-back-N after an RTO skips
// SACKed data). gVisor's recur
// too: it retransmits the segment just above the highest SACK block,
// neither SACKed nor lost, on each new SACK.
var sackKnownDiffs = map[string]knownDiff{
	"SACKSender_OneHole_RetransmittedAfterThreeSACKs": {
		reason: "at the third SACK both retransmit segment 2 (RFC 6675 §5 (4.3); Linux's RACK marks it lost then, its reordering window being 0 once three segments are SACKed). tapstack's, as Linux's, is the 1000-octet hole, none of the SACKed segment after it (Linux never collapses a SACKed segment into a retransmission, tcp_can_collapse). gVisor's is the segment too, but it then retransmits segments 6, 9, 10 and 11, neither SACKed nor lost, which Linux does not",
		linux:  "neither",
	},
	"SACKSender_OneSACKOfThree_LostByBytes": {
		reason: "a single duplicate ACK SACKing segments 3 to 5 starts recovery in both (RFC 6675 §5 (4) b, IsLost; Linux's RACK), and both retransmit segment 2 at once, the 1000-octet segment, as Linux; gVisor segment 6 too, neither SACKed nor lost",
		linux:  "neither",
	},
	"SACKSender_ThreeHoles_RetransmittedInOrder": {
		reason: "both retransmit segment 2 at the ACK that SACKs 3, 4 and 6. tapstack retransmits 5 and 8, 1000 octets each (bounded by the holes), at the ACK that SACKs 10 and 11, when cwnd - pipe first reaches one SMSS (RFC 6675 §5 (C)); Linux sends each once RACK marks it lost (6 and 9 SACKed) and PRR (RFC 6937) allows. gVisor retransmits 7, 8, 9, 10 and 11 early, each the segment above the highest SACK, and 5 and 8 only when the cumulative ACK reaches them",
		linux:  "neither",
	},
	"SACKSender_DSACK_SpuriousRetransmission": {
		reason: "both fast-retransmit segment 1 at the third SACK. After the D-SACK shows the retransmission was needless, tapstack, as Linux, undoes the window reduction, D-SACKs having covered every retransmission of the episode (tcp_try_undo_dsack; RFC 2883 §5), and sends all 11 of the next writes at once; gVisor keeps its reduced window and sends 5 (ssthresh, in segments)",
		linux:  "tapstack",
	},
	"SACKSender_RetransmissionLostAgain": {
		reason: "the fast retransmission of segment 2 is lost; the SACKs of two segments written after it arrive at t0+101 ms. gVisor retransmits segment 2 again at once, as Linux's RACK (RFC 8985 §6.2, reordering window 0 in recovery), but also segment 13, neither SACKed nor lost; tapstack 14 ms later (t0+115 ms: the retransmission's xmit_ts + RACK.rtt + RACK.reo_wnd, RFC 8985 §6.2 step 5, with reo_wnd min_RTT/4 + 2 ms, not zeroed in recovery), the 1000-octet hole again. Neither waits for the RTO, and tapstack's does not fire after the ACK",
		linux:  "neither",
	},
	"SACKSender_SACKAfterRTO_OnlyHoleResent": {
		reason: "the loss probe goes at t0+102 ms in tapstack (2·SRTT + 2 ms, as Linux's tcp_schedule_loss_probe), t0+100 ms in gVisor; both resend the last segment, as Linux. The RTO resends from SND.UNA: at t0+352 ms in tapstack, SRTT + 200 ms after the probe as Linux (tcp_rto_min bounds RTTVAR, not the sum), at t0+302 ms in gVisor. On the delayed SACKs gVisor resends segments 1 and 5 with its RTO retransmission still in flight; tapstack, as Linux, waits. When the ACK reaches 5, both resend segment 5 only, as Linux (tapstack's go-back-N skips SACKed data, as Linux's CA_Loss, RFC 6675 §5.1)",
		linux:  "neither",
	},
	"SACKSender_TailLoss_ProbeThenRepair": {
		reason: "after the ACK of 1 to 9, gVisor resends 10 and 11 at t0+100 ms; tapstack sends one loss probe at t0+152 ms (PTO = 2·SRTT + 2 ms after the ACK, as Linux), the last segment, as Linux. When the probe's SACK shows 10 missing, tapstack repairs it at once, as Linux (segment 10 was sent more than RACK.rtt + reo_wnd before the SACK, RFC 8985 §6.2 step 5), with the 1000-octet hole. gVisor resends 10 again later (by t0+267 ms)",
		linux:  "tapstack",
	},
}
