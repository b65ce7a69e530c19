package conformance

import (
	"time"

	"github.com/tapstack/tapstack/tcp"
)

// The ports of the TCP scripts: the stack listens on lport and dials from
// dport; closed is a port nobody listens on. The peer is 10.0.0.1:40000.
const (
	lport  = uint16(80)
	dport  = uint16(45000)
	closed = uint16(81)
)

const (
	fSYN = tcp.FlagSYN
	fACK = tcp.FlagACK
	fFIN = tcp.FlagFIN
	fRST = tcp.FlagRST
	fPSH = tcp.FlagPSH
	fURG = tcp.FlagURG
)

// linuxSYN is the options a Linux peer offers, without SACK-permitted
// (so that neither target sends SACK blocks; both would, RFC 2018, and
// the SACK_ scripts offer it) and timestamps (the Timestamps_ scripts add
// them).
var linuxSYN = tcp.Options{MSS: 1460, HasWScale: true, WScale: 7}

// p is the peer's sequence number n octets after its SYN.
func p(n uint32) uint32 { return peerISS + 1 + n }

// peerSYN is the peer's SYN to port.
func peerSYN(port uint16, o tcp.Options) seg {
	return seg{dport: port, seq: peerISS, flags: fSYN, opts: o}
}

// data is a segment of the peer carrying n octets at p(off), acknowledging
// ack (relative to the stack's ISS).
func data(port uint16, off uint32, n int, ack uint32) seg {
	return seg{dport: port, seq: p(off), ack: ack, flags: fACK | fPSH, data: pattern(n)}
}

// ackOnly is the peer's bare ACK at p(off).
func ackOnly(port uint16, off, ack uint32) seg {
	return seg{dport: port, seq: p(off), ack: ack, flags: fACK}
}

// established is a passive open on :80 with Linux's options, accepted as
// c.
func established() []step {
	return []step{
		listenTCP("l", lport),
		send(peerSYN(lport, linuxSYN)),
		send(ackOnly(lport, 0, 1)),
		accept("l", "c"),
	}
}

// dialed is an active open from :45000 to the peer's :40000, answered by
// a SYN-ACK with Linux's options and established.
func dialed() []step {
	return []step{
		dial("c", dport, peerPort),
		send(seg{dport: dport, seq: peerISS, ack: 1, flags: fSYN | fACK, opts: linuxSYN}),
	}
}

func steps(groups ...[]step) []step {
	var out []step
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// tcpScripts are the TCP exchanges (RFC 9293, RFC 5961, RFC 1122 §4.2,
// RFC 6298, RFC 7323 window scaling).
func tcpScripts() []script {
	var sc []script
	add := func(name string, norms []normalizer, st ...step) {
		sc = append(sc, script{name: name, tcp: true, steps: st, normalize: norms})
	}
	// The normalizers a TCP script may need, each used only where the
	// stacks differ in what it erases (TestDifferential fails if one is
	// not needed). What openWindow, rstNoDF and dropARP erase is still
	// compared, in tapstack's pinned transcript (pinReason):
	//   - win: after the SYN-ACK, gVisor advertises about half its free
	//     buffer, tapstack all of it (PassiveOpen_WindowAfterData), so
	//     windows compare only as open or closed;
	//   - rst: tapstack's RSTs for segments that reach no connection, or a
	//     listener, carry DF as Linux's, gVisor's do not
	//     (SYNToClosedPort_RSTACK);
	//   - TS: each stack's TSval runs from its own random offset (RFC 7323
	//     §7), where timestamps are on: active opens (both offer them on
	//     the SYN) and the Timestamps_ scripts;
	//   - Long: the script runs past the neighbour entry's lifetime, and
	//     the ARP refreshes differ (NeighbourStale_RefreshedByUnicastProbes).
	win := []normalizer{openWindow}
	rst := []normalizer{rstNoDF}
	winRST := []normalizer{openWindow, rstNoDF}
	winTS := []normalizer{openWindow, zeroTSval}
	winTSLong := []normalizer{dropARP, openWindow, zeroTSval}
	winRSTLong := []normalizer{dropARP, openWindow, rstNoDF}

	// --- Passive open (RFC 9293 §3.5, §3.10.7.2) ---
	add("PassiveOpen_SYNACKWindowAndOptions", nil, established()...)
	add("PassiveOpen_WindowAfterData", nil, steps(established(),
		[]step{withDelAck(send(data(lport, 0, 1000, 1))), read("c", 4096)})...)
	add("PassiveOpen_NoOptions_MSS536Used", win,
		listenTCP("l", lport),
		send(peerSYN(lport, tcp.Options{})),
		send(ackOnly(lport, 0, 1)),
		accept("l", "c"),
		write("c", pattern(1200)))
	add("PassiveOpen_MSS1000_SegmentsCapped", win,
		listenTCP("l", lport),
		send(peerSYN(lport, tcp.Options{MSS: 1000, HasWScale: true, WScale: 7})),
		send(ackOnly(lport, 0, 1)),
		accept("l", "c"),
		write("c", pattern(2500)))
	add("PassiveOpen_SYNWithData_DataNotAcked", win,
		listenTCP("l", lport),
		send(seg{dport: lport, seq: peerISS, flags: fSYN, opts: linuxSYN, data: pattern(10)}),
		send(ackOnly(lport, 0, 1)),
		accept("l", "c"),
		read("c", 100))
	add("PassiveOpen_SYNACKRetransmitted", win,
		listenTCP("l", lport),
		send(peerSYN(lport, linuxSYN)),
		advance(999*time.Millisecond),
		advance(time.Millisecond),
		advance(2*time.Second),
		send(ackOnly(lport, 0, 1)),
		accept("l", "c"))
	add("SynReceived_DuplicateSYN_SYNACKAgain", win,
		listenTCP("l", lport),
		send(peerSYN(lport, linuxSYN)),
		send(peerSYN(lport, linuxSYN)))
	add("SynReceived_ACKOfISS_RST", win,
		listenTCP("l", lport),
		send(peerSYN(lport, linuxSYN)),
		send(ackOnly(lport, 0, 0)),
		accept("l", "c"))
	add("SynReceived_ACKBeyondSYNACK_RST", win,
		listenTCP("l", lport),
		send(peerSYN(lport, linuxSYN)),
		send(ackOnly(lport, 0, 2)),
		accept("l", "c"))
	add("SynReceived_RST_NoConnection", winRST,
		listenTCP("l", lport),
		send(peerSYN(lport, linuxSYN)),
		send(seg{dport: lport, seq: p(0), flags: fRST}),
		accept("l", "c"),
		send(ackOnly(lport, 0, 1)))
	add("SynReceived_FINWithACK_CloseWait", win,
		listenTCP("l", lport),
		send(peerSYN(lport, linuxSYN)),
		send(seg{dport: lport, seq: p(0), ack: 1, flags: fFIN | fACK}),
		accept("l", "c"),
		read("c", 100))

	// --- Segments to no connection (RFC 9293 §3.10.7.1) and to a listener
	// (§3.10.7.2) ---
	add("SYNToClosedPort_RSTACK", nil, send(peerSYN(closed, linuxSYN)))
	add("FINToClosedPort_RST", rst, send(seg{dport: closed, seq: p(0), ack: 5000, flags: fFIN | fACK}))
	add("DataToClosedPort_RST", rst, send(data(closed, 0, 100, 5000)))
	add("DataWithoutACKToClosedPort_RSTACK", rst, send(seg{dport: closed, seq: p(0), flags: fPSH, data: pattern(100)}))
	add("RSTToClosedPort_Ignored", nil, send(seg{dport: closed, seq: p(0), flags: fRST}))
	add("SYNACKToListener_RST", rst,
		listenTCP("l", lport),
		send(seg{dport: lport, seq: peerISS, ack: 5000, flags: fSYN | fACK, opts: linuxSYN}))
	add("StrayACKToListener_RST", rst,
		listenTCP("l", lport),
		send(ackOnly(lport, 0, 5000)))
	add("RSTToListener_Ignored", nil,
		listenTCP("l", lport),
		send(seg{dport: lport, seq: p(0), flags: fRST}),
		send(seg{dport: lport, seq: p(0), ack: 5000, flags: fRST | fACK}))

	// --- Active open (RFC 9293 §3.10.7.3) ---
	add("ActiveOpen_SYNOptions", winTS, dial("c", dport, peerPort))
	add("ActiveOpen_SYNACK_Established", winTS, steps(dialed(),
		[]step{status("c"), write("c", pattern(100))})...)
	add("ActiveOpen_RST_ECONNREFUSED", winTS,
		dial("c", dport, peerPort),
		send(seg{dport: dport, seq: p(0), ack: 1, flags: fRST | fACK}),
		status("c"),
		status("c"),
		write("c", pattern(10)))
	add("SynSent_RSTWithBadACK_Ignored", winTS,
		dial("c", dport, peerPort),
		send(seg{dport: dport, seq: p(0), ack: 7, flags: fRST | fACK}),
		status("c"))
	add("SynSent_SYNACKWithBadACK_RST", winTS,
		dial("c", dport, peerPort),
		send(seg{dport: dport, seq: peerISS, ack: 100, flags: fSYN | fACK, opts: linuxSYN}),
		status("c"))
	add("SynSent_SYNRetransmitted", winTSLong,
		dial("c", dport, peerPort),
		advance(999*time.Millisecond),
		advance(time.Millisecond),
		advance(2*time.Second),
		advance(4*time.Second))
	add("SimultaneousOpen", winTS,
		dial("c", dport, peerPort),
		send(seg{dport: dport, seq: peerISS, flags: fSYN, opts: linuxSYN}),
		send(seg{dport: dport, seq: peerISS, ack: 1, flags: fSYN | fACK, opts: linuxSYN}),
		status("c"),
		send(seg{dport: dport, seq: p(0), ack: 1, flags: fACK}),
		status("c"),
		write("c", pattern(10)))

	// --- Data (RFC 9293 §3.10.7.4 seventh, RFC 1122 §4.2.3.2, RFC 5681 §4.2) ---
	add("InOrderData_DelayedACK", win, steps(established(), []step{
		send(data(lport, 0, 100, 1)),
		advance(delAck - time.Millisecond),
		advance(time.Millisecond),
		read("c", 4096)})...)
	add("TwoFullSegments_ACKed", win, steps(established(), []step{
		withDelAck(groupStep{send(data(lport, 0, 1460, 1)), send(data(lport, 1460, 1460, 1))}),
		read("c", 1000)})...)
	add("AppRead_WindowUpdate", win, steps(established(), []step{
		withDelAck(send(data(lport, 0, 1000, 1))),
		withDelAck(send(data(lport, 1000, 1000, 1))),
		read("c", 1000),
		read("c", 1000)})...)
	add("OutOfOrderSegment_DuplicateACK_HoleFilled", win, steps(established(), []step{
		send(data(lport, 1000, 1000, 1)),
		read("c", 4096),
		// Filling the hole is ACKed at once (RFC 5681 §4.2), by both.
		send(data(lport, 0, 1000, 1)),
		advance(delAck),
		read("c", 1000)})...)
	add("RetransmittedData_ACKedAgain", win, steps(established(), []step{
		withDelAck(send(data(lport, 0, 100, 1))),
		send(data(lport, 0, 100, 1)),
		read("c", 4096)})...)
	add("PartlyDuplicateData_NewPartKept", win, steps(established(), []step{
		withDelAck(send(data(lport, 0, 100, 1))),
		withDelAck(send(data(lport, 50, 100, 1))),
		read("c", 4096)})...)
	add("DataFarBeyondWindow_ACKAndDrop", win, steps(established(), []step{
		send(data(lport, 50<<20, 100, 1)),
		read("c", 4096)})...)
	add("DataBeforeWindow_ACKAndDrop", win, steps(established(), []step{
		withDelAck(send(data(lport, 0, 100, 1))),
		send(seg{dport: lport, seq: p(0) - 5000, ack: 1, flags: fACK | fPSH, data: pattern(100)}),
		read("c", 4096)})...)
	add("URGData_DeliveredInline", win, steps(established(), []step{
		withDelAck(send(seg{dport: lport, seq: p(0), ack: 1, flags: fACK | fPSH | fURG, urg: 10, data: pattern(100)})),
		read("c", 4096)})...)
	add("AppWrite_SentAndACKed", win, steps(established(), []step{
		write("c", pattern(3000)),
		send(ackOnly(lport, 0, 1+3000)),
		write("c", pattern(10))})...)
	add("DataRetransmittedAfterRTO", win, steps(established(), []step{
		write("c", pattern(100)),
		advance(199 * time.Millisecond),
		advance(time.Millisecond),
		advance(400 * time.Millisecond),
		advance(400 * time.Millisecond),
		advance(800 * time.Millisecond),
		send(ackOnly(lport, 0, 101)),
		advance(5 * time.Second)})...)

	// --- Zero window (RFC 9293 §3.8.6, RFC 1122 §4.2.2.17) ---
	{
		fill := []step{listenTCPBuf("l", lport, 8192),
			send(peerSYN(lport, linuxSYN)),
			send(ackOnly(lport, 0, 1)),
			accept("l", "c")}
		var segs groupStep
		for i := range uint32(12) {
			segs = append(segs, send(data(lport, i*1000, 1000, 1)))
		}
		fill = append(fill, withDelAck(segs))
		add("ZeroWindow_FillReceiveBuffer", nil, fill...)
		qfill := []step{fill[0], quiet(fill[1]), fill[2], fill[3], quiet(fill[4]), markAck(lport)}
		add("ZeroWindow_ProbeAnswered", nil, steps(qfill, []step{
			send(seg{dport: lport, seq: 0, atRcvNxt: true, ack: 1, flags: fACK, data: pattern(1)}),
			advance(delAck)})...)
		add("ZeroWindow_WindowUpdateAfterRead", win, steps(qfill, []step{
			readAll("c"),
			advance(delAck)})...)
	}

	// --- ACK processing (RFC 9293 §3.10.7.4 fifth, RFC 5961 §5) ---
	add("ACKOfUnsentData_ACKAndDrop", win, steps(established(), []step{
		send(ackOnly(lport, 0, 1000)),
		send(data(lport, 0, 100, 1000)),
		advance(delAck),
		read("c", 4096)})...)
	add("OldDuplicateACK_Ignored", win, steps(established(), []step{
		write("c", pattern(100)),
		send(ackOnly(lport, 0, 101)),
		send(ackOnly(lport, 0, 1)),
		advance(time.Second)})...)

	// --- RST (RFC 9293 §3.10.7.4 second, RFC 5961 §3) ---
	add("ExactRST_Resets", winRST, steps(established(), []step{
		send(seg{dport: lport, seq: p(0), flags: fRST}),
		read("c", 100),
		send(ackOnly(lport, 0, 1))})...)
	add("InWindowRST_ChallengeACK", win, steps(established(), []step{
		send(seg{dport: lport, seq: p(100), flags: fRST}),
		read("c", 100),
		status("c")})...)
	add("OutOfWindowRST_Ignored", win, steps(established(), []step{
		send(seg{dport: lport, seq: p(50 << 20), flags: fRST}),
		read("c", 100),
		status("c")})...)
	// Two SYNs 500 ms apart, so that the rate limit of RFC 5961 §7 holds
	// neither back (SYNInEstablished_ChallengeACKRateLimited has them
	// back to back).
	add("SYNInEstablished_ChallengeACK", win, steps(established(), []step{
		send(peerSYN(lport, linuxSYN)),
		advance(500 * time.Millisecond),
		send(seg{dport: lport, seq: p(100), flags: fSYN, opts: linuxSYN}),
		status("c")})...)
	// (The rate-limit scripts first move the clock off zero: gVisor takes
	// a last-ACK time of zero, as on its manual clock at start, for none.)
	add("SYNInEstablished_ChallengeACKRateLimited", win, steps(established(), []step{
		advance(time.Second),
		send(peerSYN(lport, linuxSYN)),
		send(seg{dport: lport, seq: p(100), flags: fSYN, opts: linuxSYN}),
		status("c")})...)
	// RFC 5961 §7: challenge ACKs at most one per 500 ms per connection
	// (Linux's tcp_invalid_ratelimit; gVisor's TCPInvalidRateLimit).
	add("InWindowRST_ChallengeACKRateLimited", win, steps(established(), []step{
		advance(time.Second),
		send(seg{dport: lport, seq: p(100), flags: fRST}),
		send(seg{dport: lport, seq: p(200), flags: fRST}),
		advance(499 * time.Millisecond),
		send(seg{dport: lport, seq: p(300), flags: fRST}),
		advance(time.Millisecond),
		send(seg{dport: lport, seq: p(400), flags: fRST}),
		status("c")})...)

	// --- Timestamps (RFC 7323 §3-5) ---
	{
		tsSYN := linuxSYN
		tsSYN.HasTimestamp, tsSYN.TSVal = true, 1000
		tsOpts := func(v uint32) tcp.Options { return tcp.Options{HasTimestamp: true, TSVal: v} }
		tsEstablished := []step{
			listenTCP("l", lport),
			send(seg{dport: lport, seq: peerISS, flags: fSYN, opts: tsSYN}),
			send(seg{dport: lport, seq: p(0), ack: 1, flags: fACK, opts: tsOpts(1001)}),
			accept("l", "c"),
		}
		add("Timestamps_PassiveOpenEchoesTSval", winTS, steps(tsEstablished, []step{
			withDelAck(send(seg{dport: lport, seq: p(0), ack: 1, flags: fACK | fPSH, opts: tsOpts(1002), data: pattern(100)})),
			read("c", 4096)})...)
		// PAWS (§5.3 R1): a segment whose TSval is older than TS.Recent is
		// answered with an ACK and dropped, its data with it.
		add("Timestamps_PAWS_OldTSvalACKAndDrop", winTS, steps(tsEstablished, []step{
			withDelAck(send(seg{dport: lport, seq: p(0), ack: 1, flags: fACK | fPSH, opts: tsOpts(1002), data: pattern(100)})),
			send(seg{dport: lport, seq: p(100), ack: 1, flags: fACK | fPSH, opts: tsOpts(900), data: pattern(100)}),
			read("c", 4096)})...)
		// A RST is acceptable whatever its timestamp (§5.2).
		add("Timestamps_PAWS_RSTWithOldTSvalAccepted", winTS, steps(tsEstablished, []step{
			send(seg{dport: lport, seq: p(0), flags: fRST, opts: tsOpts(1)}),
			read("c", 100)})...)
		// RFC 6191 §2: in TIME-WAIT, a SYN whose TSval is newer than
		// TS.Recent opens a new incarnation though its sequence number is
		// below RCV.NXT.
		reuseSYN := tsSYN
		reuseSYN.TSVal = 2000
		add("TimeWait_Timestamps_NewerSYNBelowRcvNxtReopens", winTS, steps(tsEstablished, []step{
			closeConn("c"),
			send(seg{dport: lport, seq: p(0), ack: 2, flags: fFIN | fACK, opts: tsOpts(1002)}),
			advance(time.Second),
			send(seg{dport: lport, seq: peerISS, flags: fSYN, opts: reuseSYN})})...)
	}

	// --- SACK (RFC 2018 §4): the receiver's blocks ---
	{
		sackSYN := linuxSYN
		sackSYN.SACKPermitted = true
		sackEstablished := []step{
			listenTCP("l", lport),
			send(peerSYN(lport, sackSYN)),
			send(ackOnly(lport, 0, 1)),
			accept("l", "c"),
		}
		// Each out-of-order segment's range is the first block, the
		// others follow, most recent first; filling the holes drops them.
		add("SACK_OutOfOrder_BlocksMostRecentFirst", win, steps(sackEstablished, []step{
			send(data(lport, 1000, 100, 1)),
			send(data(lport, 3000, 100, 1)),
			send(data(lport, 2000, 100, 1)),
			send(data(lport, 1100, 100, 1)),
			send(data(lport, 0, 1000, 1)),
			read("c", 8192)})...)
		// D-SACK (RFC 2883 §4.1.1): a duplicate below RCV.NXT is reported
		// in the first block.
		add("SACK_DuplicateSegment_DSACK", win, steps(sackEstablished, []step{
			withDelAck(send(data(lport, 0, 100, 1))),
			send(data(lport, 0, 100, 1)),
			read("c", 4096)})...)
	}

	// --- SACK (RFC 6675, RFC 8985): the sender's recovery ---
	sackSenderScripts(add)

	// --- SYN cookies (RFC 4987 §3.6): every SYN is answered with a
	// cookie (targetConfig.synCookiesAlways: Linux's tcp_syncookies=2,
	// gVisor's TCPAlwaysUseSynCookies), and the completing ACK creates the
	// connection. The peer echoes the stack's TSval (echoTS), which is
	// where a cookie keeps window scale and SACK-permitted ---
	{
		cookies := targetConfig{synCookiesAlways: true}
		addC := func(name string, norms []normalizer, st ...step) {
			sc = append(sc, script{name: name, tcp: true, steps: st, normalize: norms, cfg: cookies})
		}
		fullSYN := linuxSYN
		fullSYN.SACKPermitted = true
		fullSYN.HasTimestamp, fullSYN.TSVal = true, 1000
		tsOnlySYN := tcp.Options{MSS: 1460, HasTimestamp: true, TSVal: 1000}
		noTSSYN := linuxSYN
		noTSSYN.SACKPermitted = true
		// tsSeg is the peer's segment at p(off) with n octets, TSval v,
		// echoing the stack's.
		tsSeg := func(off uint32, n int, ack, v uint32) seg {
			s := seg{dport: lport, seq: p(off), ack: ack, flags: fACK, opts: tcp.Options{HasTimestamp: true, TSVal: v}, echoTS: true}
			if n > 0 {
				s.flags |= fPSH
				s.data = pattern(n)
			}
			return s
		}
		addC("SynCookie_LinuxSYN_WScaleSACKViaTimestamps", winTS,
			listenTCP("l", lport),
			send(peerSYN(lport, fullSYN)),
			send(tsSeg(0, 0, 1, 1001)),
			accept("l", "c"),
			send(tsSeg(1000, 100, 1, 1002)),
			withDelAck(send(tsSeg(0, 1000, 1, 1003))),
			read("c", 4096),
			write("c", pattern(3000)))
		addC("SynCookie_TimestampsOnly_Established", winTS,
			listenTCP("l", lport),
			send(peerSYN(lport, tsOnlySYN)),
			send(tsSeg(0, 0, 1, 1001)),
			accept("l", "c"),
			withDelAck(send(tsSeg(0, 100, 1, 1002))),
			read("c", 4096),
			write("c", pattern(3000)))
		addC("SynCookie_NoTimestamps_MSSOnly", win,
			listenTCP("l", lport),
			send(peerSYN(lport, noTSSYN)),
			withDelAck(send(data(lport, 0, 100, 1))),
			accept("l", "c"),
			read("c", 4096),
			send(data(lport, 1000, 100, 1)),
			write("c", pattern(3000)))
		addC("SynCookie_ForgedACK_RST", rst,
			listenTCP("l", lport),
			send(peerSYN(lport, noTSSYN)),
			send(ackOnly(lport, 0, 1+1<<20)),
			send(ackOnly(lport, 5000, 1)),
			accept("l", "c"))
	}

	// --- Close (RFC 9293 §3.10.4, §3.10.7.4 eighth, §3.6) ---
	add("PeerFIN_CloseWait_LastAck", winRST, steps(established(), []step{
		send(seg{dport: lport, seq: p(0), ack: 1, flags: fFIN | fACK}),
		read("c", 100),
		closeConn("c"),
		send(ackOnly(lport, 1, 2)),
		send(ackOnly(lport, 1, 2))})...)
	add("AppClose_FinWait_TimeWait", win, steps(established(), []step{
		closeConn("c"),
		send(ackOnly(lport, 0, 2)),
		send(seg{dport: lport, seq: p(0), ack: 2, flags: fFIN | fACK}),
		send(seg{dport: lport, seq: p(0), ack: 2, flags: fFIN | fACK}),
		advance(59 * time.Second),
		send(ackOnly(lport, 1, 2))})...)
	add("TimeWait_ExpiresThenNewSYNAccepted", winRSTLong, steps(established(), []step{
		closeConn("c"),
		send(seg{dport: lport, seq: p(0), ack: 2, flags: fFIN | fACK}),
		advance(60 * time.Second),
		send(ackOnly(lport, 1, 2)),
		send(seg{dport: lport, seq: peerISS + 1000000, flags: fSYN, opts: linuxSYN})})...)
	add("TimeWait_RST", winRST, steps(established(), []step{
		closeConn("c"),
		send(seg{dport: lport, seq: p(0), ack: 2, flags: fFIN | fACK}),
		send(seg{dport: lport, seq: p(1), flags: fRST}),
		send(ackOnly(lport, 1, 2))})...)
	add("SimultaneousClose_Closing", win, steps(established(), []step{
		closeConn("c"),
		send(seg{dport: lport, seq: p(0), ack: 1, flags: fFIN | fACK}),
		send(ackOnly(lport, 1, 2)),
		send(ackOnly(lport, 1, 2))})...)
	add("ShutdownWrite_DataStillReceived", win, steps(established(), []step{
		shutdownWrite("c"),
		send(ackOnly(lport, 0, 2)),
		withDelAck(send(data(lport, 0, 100, 2))),
		read("c", 4096),
		send(seg{dport: lport, seq: p(100), ack: 2, flags: fFIN | fACK}),
		read("c", 4096)})...)
	add("CloseWithUnreadData_RST", winRST, steps(established(), []step{
		withDelAck(send(data(lport, 0, 100, 1))),
		closeConn("c"),
		send(ackOnly(lport, 100, 1))})...)
	add("Abort_Linger0_RST", winRST, steps(established(), []step{
		abortConn("c"),
		send(ackOnly(lport, 0, 1))})...)
	add("DataAfterClose_RST", win, steps(established(), []step{
		closeConn("c"),
		send(ackOnly(lport, 0, 2)),
		send(data(lport, 0, 100, 2))})...)
	return sc
}

// tcpKnownDiffs are the known differences of the TCP scripts.
var tcpKnownDiffs = map[string]knownDiff{
	"PassiveOpen_SYNACKWindowAndOptions": {
		reason: "SYN-ACK window: tapstack offers min(free buffer, 65535) = 65535; gVisor 29200 (2 × its 10-segment initial window). Linux offers the buffer rounded down to whole MSS, 64240 here. Both offer MSS 1460 and window scale 5 for a 1 MiB buffer",
		linux:  "neither",
	},
	"PassiveOpen_WindowAfterData": {
		reason: "after 1000 octets: tapstack advertises its free buffer (32736 << 5), gVisor half of it less per-segment overhead (16352 << 5), as Linux's tcp_adv_win_scale/scaling_ratio (about half). Scripts where windows differ compare them only as open or closed (openWindow), and tapstack's transcripts of them are pinned",
		linux:  "gVisor",
	},
	"SynReceived_DuplicateSYN_SYNACKAgain": {
		reason: "a retransmitted SYN in SYN-RECEIVED: tapstack resends the SYN-ACK, as Linux's tcp_check_req (inet_rtx_syn_ack); gVisor answers with a bare ACK, which a SYN-SENT peer drops",
		linux:  "tapstack",
	},
	"SYNToClosedPort_RSTACK": {
		reason: "RSTs (here the RST|ACK for a SYN to a closed port) carry DF from tapstack, as Linux (its control socket is IP_PMTUDISC_DO, \"enforce IP_DF and IPID==0 for RST\"); gVisor's RSTs for segments that reach no connection carry no DF (a connection's own RSTs carry DF in both). Scripts with such RSTs clear DF (rstNoDF), and tapstack's transcripts of them are pinned",
		linux:  "tapstack",
	},
	"ActiveOpen_RST_ECONNREFUSED": {
		reason: "after a refused connect, tapstack reports ECONNREFUSED from getsockopt(SO_ERROR) once and clears it, as Linux's sock_error (the second call gives 0, a write then EPIPE); gVisor reports ECONNREFUSED every time (its write gives EPIPE too)",
		linux:  "tapstack",
	},
	"SimultaneousOpen": {
		reason: "simultaneous open (RFC 9293 Figure 7): on the peer's SYN-ACK in SYN-RECEIVED tapstack becomes ESTABLISHED and sends nothing, as Linux (tcp_validate_incoming lets exactly this SYN-ACK through); gVisor answers with an ACK and stays in SYN-RECEIVED until the peer's bare ACK",
		linux:  "tapstack",
	},
	"InOrderData_DelayedACK": {
		reason: "one in-order data segment: tapstack delays the ACK 40 ms (RFC 1122 §4.2.3.2); gVisor has no delayed ACK and sends it at once. Linux starts a connection in quick-ACK mode (tcp_incr_quickack), so it too ACKs the first segments at once and delays later ones. Data scripts compare what is ACKed, not when (withDelAck), and pin when tapstack ACKs",
		linux:  "gVisor",
	},
	"TwoFullSegments_ACKed": {
		reason: "two full-sized segments: tapstack ACKs once after the second (RFC 5681 §4.2, RFC 1122 §4.2.3.2); gVisor ACKs each. Linux ACKs each while in quick-ACK mode at the start of a connection, every second one later",
		linux:  "gVisor",
	},
	"DataRetransmittedAfterRTO": {
		reason: "tapstack retransmits after 200 ms, then 400 ms, 800 ms: it samples the RTT of the handshake (0 on the manual clock) and applies the 200 ms minimum, as Linux (tcp_synack_rtt_meas, TCP_RTO_MIN); gVisor takes no sample from a passive handshake and waits the initial 1 s, then 2 s",
		linux:  "tapstack",
	},
	"ZeroWindow_FillReceiveBuffer": {
		reason: "8 KiB receive buffer, 12 × 1000 octets from the peer: tapstack offers window 8192 scale 0, accepts 8192 octets (cutting the ninth segment at the window edge), ACKs once two MSS (2 × 1460) are unacknowledged, after the third and the sixth segment, and each segment from the ninth; gVisor offers 4096 scale 5 (scale from its maximum buffer), accepts 5000 (segment overhead) and ACKs each. Linux offers scale 0 for a small locked SO_RCVBUF, as tapstack.",
		linux:  "neither",
	},
	"ACKOfUnsentData_ACKAndDrop": {
		reason: "SEG.ACK > SND.NXT: tapstack sends an ACK and drops the segment with its data (RFC 9293 §3.10.7.4), the ACK being a challenge ACK rate-limited to one per 500 ms (RFC 5961 §5.2, §7), so the data segment right after the bare ACK draws none; gVisor sends nothing for a bare ACK and accepts the data of such a segment. Linux drops the segment without an ACK (tcp_ack: SKB_DROP_REASON_TCP_ACK_UNSENT_DATA)",
		linux:  "neither",
	},
	"Timestamps_PAWS_OldTSvalACKAndDrop": {
		reason: "a data segment whose TSval (900) is older than TS.Recent (1002): tapstack drops it and ACKs RCV.NXT (RFC 7323 §5.3 R1, PAWS), as Linux (tcp_validate_incoming: tcp_paws_discard → tcp_send_dupack); gVisor implements no PAWS and accepts the data",
		linux:  "tapstack",
	},
	"SACK_DuplicateSegment_DSACK": {
		reason: "a duplicate of data below RCV.NXT with SACK negotiated: tapstack's ACK carries a D-SACK block for it (RFC 2883 §4.1.1), as Linux (tcp_send_dupack → tcp_dsack_set, net.ipv4.tcp_dsack=1 by default); gVisor sends no D-SACK blocks",
		linux:  "tapstack",
	},
	"SynCookie_LinuxSYN_WScaleSACKViaTimestamps": {
		reason: "a cookie SYN-ACK to a SYN with timestamps: tapstack offers window scale 5 and SACK-permitted, as a normal SYN-ACK, keeping the SYN's window scale and SACK-permitted in the low 6 bits of its TSval, and the connection then sends SACK blocks (and scales its window); Linux does the same (cookie_init_timestamp, cookie_timestamp_decode). gVisor encodes only the MSS in a cookie and offers neither, so its cookie connections have no window scaling and no SACK. Without timestamps both offer the MSS only (SynCookie_NoTimestamps_MSSOnly)",
		linux:  "tapstack",
	},
	"TimeWait_Timestamps_NewerSYNBelowRcvNxtReopens": {
		reason: "RFC 6191 §2: in TIME-WAIT, tapstack answers a SYN below RCV.NXT whose TSval (2000) is newer than TS.Recent with the SYN-ACK of a new incarnation, as Linux's tcp_timewait_state_process; gVisor looks only at the sequence number and silently drops it. (Before that, the ACK of the peer's FIN echoes the FIN's TSval 1002 in tapstack, as Linux, and the previous 1001 in gVisor.)",
		linux:  "tapstack",
	},
	"TimeWait_RST": {
		reason: "a RST in TIME-WAIT ends it in tapstack, so the next ACK draws a RST, as Linux with tcp_rfc1337=0 (the default); gVisor ignores the RST (RFC 1337's advice) and stays in TIME-WAIT",
		linux:  "tapstack",
	},
}

// tcpLinuxDeviations are linuxDeviations of the TCP scripts.
var tcpLinuxDeviations = map[string]string{
	"URGData_DeliveredInline": "both stacks deliver urgent data inline (SO_OOBINLINE semantics, as RFC 6093 recommends); Linux without SO_OOBINLINE takes the last urgent octet out of the stream",
}
