package tcp

import (
	"io"
	"net/netip"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/tcp/buffer"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// ErrWouldBlock is what Read and Write return when the call cannot make
// progress now: call again after the next event.
var ErrWouldBlock error = syscall.EAGAIN

// Output is how a Conn (or a Listener) sends. The stack implements it under
// its lock. seg carries ports, seq, ack, flags, the raw 16-bit window
// (already scaled down) and options (MSS/WScale on SYNs); seg.Payload is
// unused (nil). The data is payload1 followed by payload2 (the send ring may
// wrap). seg and both slices are valid only during the call.
//
// local and remote are the segment's source and destination (a Conn's
// LocalAddr and RemoteAddr; for a RST or SYN cookie a Listener sends on its
// own, the addresses of the segment being answered). A wildcard local
// address (a connection of a 0.0.0.0 Listener) is the stack's to fill in.
type Output interface {
	SendSegment(local, remote netip.AddrPort, seg *Segment, payload1, payload2 []byte)
}

// Events are bits a Conn or Listener accumulates for the stack, read and
// cleared by TakeEvents; the stack wakes sockets from them.
type Events uint8

// Event bits.
const (
	EventReadable    Events = 1 << iota // data, FIN or an error for Read
	EventWritable                       // send space freed, or an error for Write
	EventEstablished                    // handshake completed (connect done / ready to accept)
	EventClosed                         // the Conn reached CLOSED (or TIME-WAIT ended): the stack removes it from its tables
	EventAcceptable                     // on a Listener: a connection is ready in the accept queue
)

// InfiniteSsthresh is Info.Ssthresh before the first loss (Linux's
// TCP_INFINITE_SSTHRESH, which ss does not show either).
const InfiniteSsthresh = initialSsthresh

// Info is a snapshot of a connection for the status page.
type Info struct {
	State                                 State
	SRTT, RTTVar, RTO                     time.Duration
	Cwnd, Ssthresh, SndWnd, RcvWnd, MSS   int
	BytesSent, BytesReceived, Retransmits uint64
	// FastRetrans counts the retransmissions sent in fast recovery
	// (Linux's TCPFastRetrans), part of Retransmits.
	FastRetrans uint64
	// PacingRate is the rate the connection paces its segments at, in
	// bytes per second (Linux's tcpi_pacing_rate): BBR's pacing_rate; 0
	// for a congestion control that does not pace (CUBIC, Reno).
	PacingRate uint64
	// ChallengeACKs counts RFC 5961 challenge ACKs sent (Linux's
	// TCPChallengeACK); ACKsRateLimited the replies to invalid segments
	// that Config.InvalidACKInterval held back (Linux's TCPACKSkipped*).
	ChallengeACKs, ACKsRateLimited uint64
	KeepAliveProbes                uint64 // keep-alive probes sent (Linux's TCPKeepAlive)
	// Timeouts counts retransmission timeouts with data outstanding
	// (Linux's TCPTimeouts), Recoveries the entries into fast recovery
	// (RFC 5681 §3.2, RFC 6675 §5; Linux's TCPSackRecovery and
	// TCPRenoRecovery), LossProbes the tail loss probes sent (RFC 8985
	// §7.3, Linux's TCPLossProbes) and TLPRecoveries the probes that
	// repaired a loss (§7.4, Linux's TCPLossProbeRecovery).
	Timeouts, Recoveries, LossProbes, TLPRecoveries uint64
	// DSACKUndos counts fast recoveries undone because D-SACKs showed
	// every retransmission of them to be a duplicate (RFC 2883 §5;
	// Linux's TCPDSACKUndo).
	DSACKUndos uint64
	// SpuriousRTOs counts timeouts undone because the ACK after them
	// echoed a timestamp older than the retransmission (RFC 3522; Linux's
	// TCPSpuriousRTOs).
	SpuriousRTOs uint64
	// RACKRecoveries counts the recoveries the time-based rule started
	// (RFC 8985 §6.2; with fewer than DupThresh SACKed segments),
	// RACKRetransmits the lost retransmissions it sent again.
	RACKRecoveries, RACKRetransmits uint64
	PAWSDrops                       uint64 // segments dropped by PAWS, RFC 7323 §5 (Linux's PAWSEstab)
	SACKDiscards                    uint64 // SACK blocks ignored as invalid (Linux's TCPSACKDiscard)
	Timestamps                      bool   // RFC 7323 timestamps negotiated
	SACK                            bool   // RFC 2018 SACK negotiated
	Congestion                      string // the congestion control's name (TCP_CONGESTION)
	// ECN is true when RFC 3168 ECN was negotiated; CEReceived counts the
	// CE-marked segments that arrived, ECNReductions the window
	// reductions for an ECN-Echo.
	ECN                       bool
	CEReceived, ECNReductions uint64
	// SendQueue is the octets written and not yet acknowledged (ss's
	// Send-Q: Linux's write_seq - snd_una).
	SendQueue int
	// WScale is true when window scaling was negotiated (RFC 7323 §2);
	// SndWScale and RcvWScale are then the peer's shift and ours (ss's
	// wscale:snd,rcv).
	WScale               bool
	SndWScale, RcvWScale uint8
	// Timer is the kind of the next timer, in ss -o's words: "on" for the
	// retransmission timer and the loss-detection timers that stand for it
	// (tail loss probe, RACK), "persist", "keepalive", "timewait", or ""
	// when none of those is armed (a delayed ACK or pacing alone).
	Timer string
}

// Conn is a TCP connection's TCB (RFC 9293 §3.3.1) and the state machine that
// runs it: a sans-IO core. It reads no clock (every input carries now), starts
// no goroutine and does no I/O: segments leave through Output synchronously
// during the call that produced them, and after every call the caller asks
// NextDeadline when to call HandleTimer.
//
// A Conn is not safe for concurrent use; the stack calls it under its lock.
type Conn struct {
	cfg           Config
	local, remote netip.AddrPort
	out           Output
	listener      *Listener // the Listener of a passive open, nil for an active one
	lq            listenerQueue
	state         State
	err           error // sticky, returned by Read and Write
	events        Events
	activeOpen    bool // went through SYN-SENT: a RST in SYN-RECEIVED refuses
	userClosed    bool // Close was called: the application will not read again

	// The TCB's parts (tcb.go), one per owner:
	sendState                       // send sequence space and the send ring (output.go)
	recoveryState                   // loss recovery: scoreboard, NewReno/SACK, PRR, undo (sack.go, undo.go)
	rackState                       // RACK-TLP (rack.go, tlp.go)
	recvState                       // receive sequence space, the reassembly ring, ACK policy (input.go)
	rttState                        // the RTT estimator (timers.go, timestamps.go)
	timerState                      // the retransmission, persist, keep-alive and close timers (timers.go)
	cc            congestionControl // owns cwnd and ssthresh (cc.go)
	pace          pacing            // pacing.go: for a paced congestion control (BBR)
	optState                        // what the SYNs negotiate beyond ackState's: window scale, SACK, timestamps
	ecnState                        // ECN (ecn.go)
	connStats                       // the counts Info reports

	tx Segment // scratch for outgoing segments: no allocation per segment
}

// NewConn makes a CLOSED TCB for local↔remote with initial send sequence iss
// (the stack computes it with an ISNGenerator, RFC 6528).
func NewConn(cfg Config, local, remote netip.AddrPort, iss seqnum.Value, out Output) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		cfg:    cfg,
		local:  local,
		remote: remote,
		out:    out,
		sendState: sendState{
			iss:       iss,
			sndUna:    iss,
			sndCur:    iss,
			sndNxt:    iss,
			sndBufSeq: iss.Add(1),
			sndSml:    iss,
			sndBuf:    buffer.NewSend(initialSndBuf(cfg)),
			mss:       min(cfg.MSS, DefaultPeerMSS),
		},
		recoveryState: recoveryState{recover: iss},
		recvState:     recvState{rcvBuf: buffer.NewRecv(cfg.RcvBuf, cfg.MaxOutOfOrderRanges)},
		rttState:      rttState{rto: cfg.RTOInitial},
		cc:            newCongestionControl(cfg.Congestion),
	}
	c.rcvMSS = c.mss
	c.tsRecentAt, c.lastOOWAck = noTime, noTime
	c.oowIvl, c.counters, c.own = cfg.InvalidACKInterval, cfg.Counters, &c.replyCounts
	c.sndBuf.SetMemory(cfg.Memory)
	c.rcvBuf.SetMemory(cfg.Memory)
	c.rcvBuf.SetMaxOutOfOrder(cfg.MaxOutOfOrderBytes)
	if !cfg.DisableWindowScale {
		c.rcvWScale = windowScaleFor(cfg.RcvBuf)
	}
	c.tsOffset = tsOffsetFor(iss)
	return c
}

// Connect is the active OPEN (RFC 9293 §3.10.1): CLOSED → SYN-SENT, sending
// <SEQ=ISS><CTL=SYN> with our MSS and, unless disabled, Window Scale.
func (c *Conn) Connect(now time.Time) error {
	c.startTSClock(now)
	if c.state != StateClosed || c.sndNxt != c.iss {
		return syscall.EISCONN
	}
	c.activeOpen = true
	c.wsOffered = !c.cfg.DisableWindowScale
	c.tsOffered = !c.cfg.DisableTimestamps // RFC 7323 §3.2: a TCP MAY send TSopt on its SYN
	c.sackOffered = !c.cfg.DisableSACK     // RFC 2018 §2: SACK-permitted MAY be sent in a SYN
	c.ecnOffered = c.cfg.ECN == ECNOn      // RFC 3168 §6.1.1: an ECN-setup SYN
	c.setState(StateSynSent)
	c.sndCur = c.iss.Add(1)
	c.sndNxt = c.sndCur
	c.sendSyn(now, false)
	c.startRTT(c.sndCur, now)
	c.rtoAt = now.Add(c.rto)
	return nil
}

// Write is the SEND call (RFC 9293 §3.10.2): it copies what fits of p into
// the send buffer and sends what the windows, Nagle and SWS avoidance allow.
// In SYN-SENT and SYN-RECEIVED the data is queued for after the handshake.
// A full buffer gives 0, ErrWouldBlock.
func (c *Conn) Write(p []byte, now time.Time) (int, error) {
	c.startTSClock(now)
	if c.err != nil {
		return 0, c.err
	}
	if c.finQueued {
		return 0, syscall.EPIPE // "error: connection closing"
	}
	switch c.state {
	case StateSynSent, StateSynReceived, StateEstablished, StateCloseWait:
	default:
		return 0, syscall.ENOTCONN
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := c.sndBuf.Write(p)
	if n == 0 {
		return 0, ErrWouldBlock
	}
	c.trySend(now)
	return n, nil
}

// Read is the RECEIVE call (RFC 9293 §3.10.3): in-order bytes, then io.EOF
// once the peer's FIN is reached, the sticky error after a reset or timeout,
// ErrWouldBlock when nothing is there yet. Reading may open the window enough
// to send a window update (RFC 1122 §4.2.3.3).
func (c *Conn) Read(p []byte, now time.Time) (int, error) {
	c.startTSClock(now)
	if n := c.rcvBuf.Read(p); n > 0 {
		c.afterRead(now)
		return n, nil
	}
	return 0, c.readErr(len(p))
}

// Peek is Read without consuming (MSG_PEEK).
func (c *Conn) Peek(p []byte) (int, error) {
	if n := c.rcvBuf.Peek(p); n > 0 {
		return n, nil
	}
	return 0, c.readErr(len(p))
}

func (c *Conn) readErr(n int) error {
	switch {
	case n == 0 && c.rcvBuf.Readable() > 0:
		return nil
	case c.err != nil:
		return c.err
	case c.finRcvd:
		return io.EOF
	case c.state == StateClosed || c.state == StateListen:
		return syscall.ENOTCONN
	}
	return ErrWouldBlock
}

// Shutdown is SHUT_WR: a FIN follows the queued data. ESTABLISHED →
// FIN-WAIT-1, CLOSE-WAIT → LAST-ACK (RFC 9293 §3.10.4). In SYN-SENT and
// SYN-RECEIVED the FIN is queued until ESTABLISHED is reached ("queue for
// processing after entering ESTABLISHED state").
func (c *Conn) Shutdown(now time.Time) error {
	c.startTSClock(now)
	switch c.state {
	case StateClosed, StateListen:
		return syscall.ENOTCONN
	case StateSynSent, StateSynReceived:
		c.queueFin()
	case StateEstablished:
		c.queueFin()
		c.setState(StateFinWait1)
		c.trySend(now)
	case StateCloseWait:
		c.queueFin()
		c.setState(StateLastAck)
		c.trySend(now)
	}
	// FIN-WAIT-*, CLOSING, LAST-ACK, TIME-WAIT: already shut down.
	return nil
}

func (c *Conn) queueFin() {
	if !c.finQueued {
		c.finQueued = true
		c.finSeq = c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
		c.events |= EventWritable
	}
}

// Close is the CLOSE call (RFC 9293 §3.10.4): the application is done with
// the connection in both directions.
//
//   - SYN-SENT: the TCB is deleted (CLOSED), nothing is sent.
//   - With received data still unread: RST and CLOSED (RFC 1122 §4.2.2.13,
//     as Linux's tcp_close; RFC 2525 §2.17).
//   - Otherwise as Shutdown, and the connection lives on until its FIN is
//     acknowledged and TIME-WAIT ends. Deviation (Linux compat): an orphaned
//     FIN-WAIT-2 is abandoned with a RST after Config.TimeWait (Linux's
//     tcp_fin_timeout, also 60s), and data arriving after Close is answered
//     with a RST, as Linux's tcp_rcv_state_process does.
func (c *Conn) Close(now time.Time) error {
	c.startTSClock(now)
	switch c.state {
	case StateClosed:
		return nil
	case StateListen, StateSynSent:
		c.drop(nil)
		return nil
	}
	c.userClosed = true
	if c.rcvBuf.Readable() > 0 && c.state != StateTimeWait {
		c.sendRST(now, c.sndNxt, true)
		c.drop(nil)
		return nil
	}
	if err := c.Shutdown(now); err != nil {
		return err
	}
	if c.state == StateFinWait2 && c.closeAt.IsZero() {
		c.closeAt = now.Add(c.cfg.TimeWait)
	}
	return nil
}

// Abort is the ABORT call (RFC 9293 §3.10.5, SO_LINGER with a zero timeout):
// in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2 and CLOSE-WAIT a RST
// is sent; in every state the connection goes to CLOSED.
func (c *Conn) Abort(now time.Time) {
	c.startTSClock(now)
	switch c.state {
	case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		// Deviation (Linux compat): <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>
		// as Linux's tcp_send_active_reset; the RFC shows no ACK.
		c.sendRST(now, c.sndNxt, true)
	}
	c.userClosed = true
	c.drop(nil)
}

// State returns the connection state.
func (c *Conn) State() State { return c.state }

// Err returns the sticky error (ECONNREFUSED, ECONNRESET, ETIMEDOUT), nil if
// none.
func (c *Conn) Err() error { return c.err }

// TakeEvents returns the events since the last call and clears them.
func (c *Conn) TakeEvents() Events {
	ev := c.events
	c.events = 0
	return ev
}

// Readable returns the in-order bytes waiting for Read.
func (c *Conn) Readable() int { return c.rcvBuf.Readable() }

// Writable returns the free send buffer space, 0 when Write would not accept
// data (buffer full, or the connection is shut down, failed or not open).
func (c *Conn) Writable() int {
	if c.err != nil || c.finQueued {
		return 0
	}
	switch c.state {
	case StateSynSent, StateSynReceived, StateEstablished, StateCloseWait:
		return c.sndBuf.Free()
	}
	return 0
}

// ReadClosed reports whether Read returns without blocking even when no data
// is buffered: the peer's FIN was reached, an error is pending, or the
// connection is closed.
func (c *Conn) ReadClosed() bool {
	return c.finRcvd || c.err != nil || c.state == StateClosed
}

// WriteClosed reports whether Shutdown or Close has closed the sending
// side: Write fails from then on.
func (c *Conn) WriteClosed() bool { return c.finQueued }

// LocalAddr returns our address and port.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// RemoteAddr returns the peer's address and port.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// Listener returns the Listener a passive connection came from, nil for an
// active open.
func (c *Conn) Listener() *Listener { return c.listener }

// SetNoDelay sets TCP_NODELAY (disables Nagle, RFC 9293 §3.7.4). Data
// Nagle held back goes at the next Push.
func (c *Conn) SetNoDelay(on bool) { c.cfg.NoDelay = on }

// SetCongestion switches the connection's congestion control to the
// algorithm called name (TCP_CONGESTION), keeping cwnd and ssthresh as
// Linux's tcp_set_congestion_control does; the new algorithm starts its
// own state from them. An unknown name is ENOENT, as on Linux.
func (c *Conn) SetCongestion(name string) error {
	cc := newCongestionControl(name)
	if cc == nil {
		return syscall.ENOENT
	}
	if name != c.cc.name() {
		cc.init(c.cc.cwnd(), c.cc.ssthresh())
		c.cc, c.cfg.Congestion = cc, name
	}
	return nil
}

// Congestion returns the name of the connection's congestion control.
func (c *Conn) Congestion() string { return c.cc.name() }

// Push sends what the send and congestion windows allow now, as Linux's
// tcp_push_pending_frames after setting TCP_NODELAY (__tcp_sock_set_nodelay):
// data Nagle held back goes at once rather than at the next ACK.
func (c *Conn) Push(now time.Time) {
	c.startTSClock(now)
	c.trySend(now)
}

// SetKeepAlive sets SO_KEEPALIVE (RFC 1122 §4.2.3.6). Turning it on in a
// connected state arms the first probe KeepIdle from now, as Linux's
// tcp_set_keepalive; turning it off stops the probes.
func (c *Conn) SetKeepAlive(on bool, now time.Time) {
	if on == c.cfg.KeepAlive {
		return
	}
	c.cfg.KeepAlive = on
	c.keepProbes = 0
	c.keepAt = time.Time{}
	if on && c.keepAliveState() {
		c.keepAt = now.Add(c.cfg.KeepIdle)
	}
}

// SetKeepIdle sets TCP_KEEPIDLE, the idle time before the first probe
// (d <= 0: the default). As Linux's tcp_sock_set_keepidle_locked, with
// keep-alive on the timer is re-armed for the new idle time counted from
// the last segment received.
func (c *Conn) SetKeepIdle(d time.Duration, now time.Time) {
	if d <= 0 {
		d = DefaultKeepIdle
	}
	c.cfg.KeepIdle = d
	if c.cfg.KeepAlive && c.keepAliveState() {
		c.keepAt = seqMaxTime(c.lastRcvAt.Add(d), now)
	}
}

// SetKeepInterval sets TCP_KEEPINTVL, the time between probes (d <= 0:
// the default). It applies from the next probe.
func (c *Conn) SetKeepInterval(d time.Duration) {
	if d <= 0 {
		d = DefaultKeepInterval
	}
	c.cfg.KeepInterval = d
}

// SetKeepCount sets TCP_KEEPCNT, the unanswered probes after which the
// connection ends (n <= 0: the default).
func (c *Conn) SetKeepCount(n int) {
	if n <= 0 {
		n = DefaultKeepCount
	}
	c.cfg.KeepCount = n
}

// SetUserTimeout sets TCP_USER_TIMEOUT (Config.UserTimeout; 0 turns it
// off). It applies at once to data already waiting.
func (c *Conn) SetUserTimeout(d time.Duration) { c.cfg.UserTimeout = max(d, 0) }

// Config returns the connection's configuration, with the changes the
// setters made.
func (c *Conn) Config() Config { return c.cfg }

func seqMaxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// SetRcvBuf sets the receive buffer size. Before the handshake it also fixes
// the window scale we offer (RFC 7323 §2.2); afterwards the window can grow
// at most to 65535 << the negotiated shift.
func (c *Conn) SetRcvBuf(n int) {
	if n <= 0 {
		return
	}
	c.cfg.RcvBuf = n
	c.rcvBuf.SetCap(n)
	if c.state == StateClosed && c.sndNxt == c.iss && !c.cfg.DisableWindowScale {
		c.rcvWScale = windowScaleFor(n)
	}
}

// SetSndBuf sets the send buffer size (SO_SNDBUF): the buffer is n bytes
// from now on and autotuning stops (Linux's SOCK_SNDBUF_LOCK). Shrinking
// below what is queued keeps the queued data.
func (c *Conn) SetSndBuf(n int) {
	if n <= 0 {
		return
	}
	c.cfg.SndBuf, c.cfg.SndBufLocked = n, true
	c.sndBuf.SetCap(n)
	if c.sndBuf.Free() > 0 {
		c.events |= EventWritable
	}
}

// pacingRateInfo is Info's PacingRate: the congestion control's pacing
// rate if it paces (pacedControl), else 0.
func (c *Conn) pacingRateInfo() uint64 {
	if p, ok := c.cc.(pacedControl); ok {
		return p.pacingRate()
	}
	return 0
}

// Info returns a snapshot for the status page.
func (c *Conn) Info() Info {
	return Info{
		State:           c.state,
		SRTT:            c.srtt,
		RTTVar:          c.rttvar,
		RTO:             c.currentRTO(),
		Cwnd:            c.cc.cwnd(),
		Ssthresh:        c.cc.ssthresh(),
		Congestion:      c.cc.name(),
		PacingRate:      c.pacingRateInfo(),
		SndWnd:          c.sndWnd,
		RcvWnd:          c.advertisedWnd(),
		MSS:             c.mss,
		BytesSent:       c.bytesSent,
		BytesReceived:   c.bytesReceived,
		Retransmits:     c.retransmits,
		FastRetrans:     c.fastRetrans,
		ChallengeACKs:   c.challengeACKs,
		ACKsRateLimited: c.acksRateLimited,
		KeepAliveProbes: c.keepAliveProbes,
		Timeouts:        c.timeouts,
		Recoveries:      c.recoveries,
		LossProbes:      c.lossProbes,
		TLPRecoveries:   c.tlpRecoveries,
		DSACKUndos:      c.dsackUndos,
		SpuriousRTOs:    c.spuriousRTOs,
		RACKRecoveries:  c.rackRecoveries,
		RACKRetransmits: c.rackRetransmits,
		PAWSDrops:       c.pawsDrops,
		SACKDiscards:    c.sackDiscards,
		Timestamps:      c.tsOn,
		SACK:            c.sackOn,
		ECN:             c.ecnOn,
		CEReceived:      c.ceReceived,
		ECNReductions:   c.ecnReductions,
		SendQueue:       c.sndBuf.Len(),
		WScale:          c.wsOffered && c.state.synchronized(),
		SndWScale:       c.sndWScale,
		RcvWScale:       c.rcvWScale,
		Timer:           c.timerKind(),
	}
}

// timerKind names the earliest of the timers ss -o shows (Info.Timer):
// the one of c.timers with a kind.
func (c *Conn) timerKind() string {
	kind, _ := c.earliestTimer(true)
	return kind
}

// countRetransmit, countTimeout, countRecovery, countLossProbe,
// countRACKRecovery and countTLPRecovery add one to the connection's count
// (Info) and to the stack's total (Counters).
//
// A retransmission in recovery is also a fast one (Linux's TCPFastRetrans,
// counted in tcp_xmit_retransmit_queue outside TCP_CA_Loss); an RTO ends
// recovery before it resends. Deviation (Linux compat, approximate): the
// probe recoveryProbe sends in recovery counts too, where Linux, which
// sends none there, counts its TLP in neither.
//
// n is the payload resent: a segment of several MSS (tso.go) counts as
// the segments it stands for, as Linux counts tcp_skb_pcount (and each
// of them may come back as a D-SACK).
func (c *Conn) countRetransmit(n int) {
	segs := uint64(gsoSegs(n, c.mss))
	if c.undoOn {
		c.undoRetrans += int(segs)
	}
	c.retransmits += segs
	if c.inRecovery {
		c.fastRetrans += segs
	}
	if k := c.cfg.Counters; k != nil {
		k.RetransSegs += segs
		if c.inRecovery {
			k.FastRetrans += segs
		}
	}
}

func (c *Conn) countTimeout() {
	c.ecnQueueCWR() // RFC 3168 §6.1.2: the timeout reduced the window
	c.timeouts++
	if k := c.cfg.Counters; k != nil {
		k.Timeouts++
	}
}

func (c *Conn) countRecovery() {
	c.recoveries++
	if k := c.cfg.Counters; k != nil {
		k.Recoveries++
		if c.sackOn {
			k.SACKRecoveries++ // RFC 6675 (Linux's TCPSackRecovery)
		} else {
			k.RenoRecoveries++ // RFC 6582 (TCPRenoRecovery)
		}
	}
}

func (c *Conn) countRACKRecovery() {
	c.rackRecoveries++
	if k := c.cfg.Counters; k != nil {
		k.RACKRecoveries++
	}
}

func (c *Conn) countTLPRecovery() {
	c.tlpRecoveries++
	if k := c.cfg.Counters; k != nil {
		k.TLPRecoveries++
	}
}

// startUndo opens the undo record of a fast recovery about to reduce the
// window (call before the reduction).
func (c *Conn) startUndo(now time.Time) {
	c.undoOn, c.undoSeq, c.undoRetrans = true, c.sndUna, 0
	c.priorCwnd, c.priorSsthresh = c.cc.cwnd(), c.cc.ssthresh()
	c.rxtTS = c.tsVal(now)
}

// dsackUndo takes the D-SACK block of an acceptable ACK as evidence that a
// retransmission of the current undo record was a duplicate: once every
// one is, the recovery was spurious (the originals arrived: reordering or
// a delayed ACK, not loss) and its reduction is undone (RFC 2883 §5, as
// Linux's tcp_try_undo_dsack; RFC 9438 §4.9 for CUBIC).
func (c *Conn) dsackUndo(b SACKBlock) {
	if !c.undoOn || !b.End.GreaterThan(c.undoSeq) || !b.Start.LessThan(b.End) {
		return
	}
	segs := (int(b.Start.Size(b.End)) + c.mss - 1) / c.mss
	c.undoRetrans -= segs
	if c.undoRetrans > 0 {
		return
	}
	c.undoOn = false
	c.cc.undo(c.priorCwnd, c.priorSsthresh)
	c.dsackUndos++
	if k := c.cfg.Counters; k != nil {
		k.DSACKUndos++
	}
}

func (c *Conn) countLossProbe() {
	c.lossProbes++
	if k := c.cfg.Counters; k != nil {
		k.LossProbes++
	}
}

// drop ends the connection: err (if not nil) becomes the sticky error, every
// timer stops, the state becomes CLOSED. Received data stays readable, as in
// Linux (tcp_done does not purge the receive queue); unsent data is dropped.
func (c *Conn) drop(err error) {
	if err != nil && c.err == nil {
		c.err = err
	}
	c.rtoAt, c.persistAt, c.delackAt, c.closeAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	c.keepAt, c.stallSince, c.ptoAt, c.rackAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	c.ackPending = false
	c.setState(StateClosed)
	c.events |= EventReadable | EventWritable
	if c.listener != nil {
		c.listener.connClosed(c)
	}
}

// AcceptsNewSYN reports whether seg, arriving for this connection while it
// sits in TIME-WAIT at now, may open a new incarnation of it: RFC 6191 §2
// with timestamps, RFC 1122 §4.2.2.13 (a sequence number beyond everything
// the old connection received) without, as Linux's
// tcp_timewait_state_process (TCP_TW_SYN); see reopens. The caller then
// drops this Conn and opens the new one with an ISS of at least
// NextISSFloor.
func (c *Conn) AcceptsNewSYN(seg *Segment, now time.Time) bool {
	return c.state == StateTimeWait && c.reopens(seg, now)
}

// NextISSFloor is the lowest ISS a new incarnation of this connection may
// use (issFloor).
func (c *Conn) NextISSFloor() seqnum.Value { return issFloor(c.sndNxt) }
