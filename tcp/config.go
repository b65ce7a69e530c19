package tcp

import (
	"time"

	"github.com/tapstack/tapstack/tcp/buffer"
)

// Defaults for Config. Each names its source.
const (
	// DefaultMSS is the MSS for an Ethernet MTU of 1500 (1500 - 20 - 20).
	DefaultMSS = 1460
	// DefaultPeerMSS is the send MSS assumed when the peer's SYN carries no
	// MSS option (RFC 9293 §3.7.1, RFC 1122 §4.2.2.6).
	DefaultPeerMSS = 536
	// DefaultPeerMSS6 is DefaultPeerMSS over IPv6: 1220, the IPv6 minimum
	// MTU of 1280 less 60 (RFC 9293 §3.7.1, MUST-15; RFC 8200 §5).
	DefaultPeerMSS6 = 1220
	// DefaultRcvBuf and DefaultSndBuf are the buffer sizes in bytes; the
	// send buffer's is the most autotuning grows it to (Linux's
	// tcp_wmem[2] is 4 MiB).
	//
	// The receive buffer is gVisor's default, 1 MiB (Linux autotunes its
	// own from tcp_rmem[1], 128 KiB, up to tcp_rmem[2], 6 MiB or more):
	// the window must hold what a sender sends past a hole at RCV.NXT
	// until the hole is repaired. With 256 KiB a bulk sender at 5 % loss
	// filled the window above the hole and had no new data to send, so a
	// lost retransmission showed only by its RTO (no later segment was
	// SACKed for RACK to see it, RFC 8985 §6.2, and Linux sends no loss
	// probe in recovery). The ring grows to the buffer size only with the
	// data held, so an idle connection costs no more.
	DefaultRcvBuf = 1 << 20
	DefaultSndBuf = 256 << 10
	// InitialSndBuf is where an autotuned send buffer starts: Linux's
	// tcp_wmem[1], 16 KiB (see sndbuf.go).
	InitialSndBuf = 16 << 10
	// DefaultMaxOutOfOrderRanges bounds the out-of-order ranges kept (the
	// bytes are bounded by the window). Linux bounds only the memory. A
	// slow start overrunning a drop-tail queue loses every other segment
	// for a while: with 32, the receiver dropped the segments past the
	// 32nd hole and the sender sent them again (test/bench
	// BenchmarkBottleneck).
	DefaultMaxOutOfOrderRanges = 256
	// DefaultRTOInitial is RFC 6298 §2.1's initial RTO.
	DefaultRTOInitial = time.Second
	// DefaultRTOMin: Deviation (Linux compat): RFC 6298 §2.4 says 1s; Linux's
	// TCP_RTO_MIN is 200ms.
	DefaultRTOMin = 200 * time.Millisecond
	// DefaultRTOMax is Linux's TCP_RTO_MAX (RFC 6298 §2.5 allows any maximum
	// of at least 60s).
	DefaultRTOMax = 120 * time.Second
	// DefaultSynRetries is Linux's tcp_syn_retries: SYN given up after 127s.
	DefaultSynRetries = 6
	// DefaultSynAckRetries is Linux's tcp_synack_retries.
	DefaultSynAckRetries = 5
	// DefaultDataRetries is Linux's tcp_retries2 (RFC 1122 §4.2.3.5's R2).
	DefaultDataRetries = 15
	// DefaultDelayedACK is Linux's TCP_DELACK_MIN; RFC 1122 §4.2.3.2 requires
	// less than 0.5s.
	DefaultDelayedACK = 40 * time.Millisecond
	// DefaultTimeWait: Deviation (Linux compat): 2·MSL with RFC 9293 §3.4.2's
	// MSL of 2 minutes would be 4 minutes; Linux's TCP_TIMEWAIT_LEN is 60s.
	DefaultTimeWait = 60 * time.Second

	// DefaultInvalidACKInterval is Linux's tcp_invalid_ratelimit: the least
	// time between two ACKs one connection sends in reply to invalid
	// segments (RFC 5961 challenge ACKs, unacceptable segments, PAWS
	// failures). RFC 5961 §7 asks for a configurable limit.
	DefaultInvalidACKInterval = 500 * time.Millisecond
	// DefaultKeepIdle, DefaultKeepInterval and DefaultKeepCount are Linux's
	// tcp_keepalive_time, tcp_keepalive_intvl and tcp_keepalive_probes
	// (RFC 1122 §4.2.3.6: the idle interval "MUST default to no less than
	// two hours").
	DefaultKeepIdle     = 2 * time.Hour
	DefaultKeepInterval = 75 * time.Second
	DefaultKeepCount    = 9

	// DefaultCongestion is the default congestion control, as Linux's.
	DefaultCongestion = "cubic"

	// clockGranularity is G of RFC 6298 §2.
	clockGranularity = time.Millisecond
)

// Config holds a connection's tunables. The zero value of every field means
// its default (DefaultConfig), so Config{} is a usable configuration.
type Config struct {
	// Counters, if set, receives stack-wide totals from every connection
	// sharing this Config (a pointer, so copies share it). The caller
	// serialises access: the stack holds its one lock around every Conn.
	Counters *Counters
	// Observer, if set, is told of every state change of every connection
	// sharing this Config, as it happens (the stack logs them at debug
	// level). nil costs one branch per state change.
	Observer Observer
	// Memory, if set, accounts every connection's ring bytes against a
	// shared budget (a pointer, so copies share it): under its pressure
	// windows stop growing, at its limit rings stop growing (see
	// buffer.Memory). nil: no budget beyond each connection's buffers.
	Memory *buffer.Memory

	MSS    int // MSS we advertise and cap our segments at; default 1460
	RcvBuf int // receive buffer bytes; fixes the window scale (RFC 7323 §2.2)
	// SndBuf is the send buffer's size in bytes. Unless SndBufLocked it is
	// the most send-buffer autotuning grows it to (Linux's tcp_wmem[2]):
	// the buffer starts at InitialSndBuf and follows congestion control
	// (sndbuf.go). SndBufLocked, set by SO_SNDBUF (Conn.SetSndBuf), makes
	// it the size from the start, as Linux's SOCK_SNDBUF_LOCK.
	SndBuf              int
	SndBufLocked        bool
	MaxOutOfOrderRanges int           // out-of-order ranges kept by the receive buffer
	MaxOutOfOrderBytes  int           // out-of-order bytes kept; 0: as many as the window holds
	RTOInitial          time.Duration // RFC 6298 §2.1
	RTOMin              time.Duration // RFC 6298 §2.4 (Linux value, see DefaultRTOMin)
	RTOMax              time.Duration // RFC 6298 §2.5
	SynRetries          int           // SYN retransmissions before ETIMEDOUT
	SynAckRetries       int           // SYN-ACK retransmissions before the embryonic connection is dropped
	DataRetries         int           // data/FIN retransmissions before ETIMEDOUT
	DelayedACK          time.Duration // RFC 1122 §4.2.3.2
	TimeWait            time.Duration // 2·MSL (RFC 9293 §3.4.2, Linux value)
	NoDelay             bool          // TCP_NODELAY: disable Nagle (RFC 9293 §3.7.4)
	// DisableWindowScale stops us offering RFC 7323 window scaling. It is a
	// negative so that the zero Config keeps the default (offered).
	DisableWindowScale bool
	// DisableTimestamps stops us offering RFC 7323 timestamps (and using
	// them when a peer's SYN offers them), as net.ipv4.tcp_timestamps=0.
	DisableTimestamps bool
	// DisableSACK stops us offering SACK-permitted (RFC 2018 §2) and
	// accepting a peer's offer, as net.ipv4.tcp_sack=0: no SACK blocks
	// are sent, and loss recovery is NewReno (RFC 6582) instead of
	// RFC 6675's.
	DisableSACK bool
	// SynCookies says when a Listener answers a SYN with a SYN cookie
	// (RFC 4987 §3.6) instead of queueing it: as Linux's
	// net.ipv4.tcp_syncookies, when the SYN queue is full (the zero
	// value), always, or never.
	SynCookies SynCookieMode
	// ECN says when a connection uses Explicit Congestion Notification
	// (RFC 3168), as Linux's net.ipv4.tcp_ecn: ECNOn (the zero value's
	// default) asks for it on active opens and accepts it on passive
	// ones; ECNPassive only accepts; ECNOff neither.
	ECN ECNMode

	// InvalidACKInterval is the least time between two ACKs a connection
	// sends in reply to invalid segments: RFC 5961 challenge ACKs (§3.2
	// RST, §4.2 SYN, §5.2 ACK), replies to unacceptable bare segments
	// (RFC 9293 §3.10.7.4 first) and PAWS failures (RFC 7323 §5.3 R1).
	// RFC 5961 §7 asks for a configurable limit; 0 means the default
	// (Linux's tcp_invalid_ratelimit, 500ms, so at most two per second);
	// a negative value turns the limit off.
	InvalidACKInterval time.Duration

	// KeepAlive turns on keep-alive probes (SO_KEEPALIVE; RFC 1122
	// §4.2.3.6: off by default). KeepIdle, KeepInterval and KeepCount are
	// TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT; zero means the Linux
	// default (2h, 75s, 9).
	KeepAlive    bool
	KeepIdle     time.Duration
	KeepInterval time.Duration
	KeepCount    int
	// Congestion names the congestion control (Linux's TCP_CONGESTION
	// and net.ipv4.tcp_congestion_control): "cubic" (RFC 9438, the
	// default, as on Linux) or "reno" (RFC 5681). CongestionControls
	// lists the names; "" means the default.
	Congestion string

	// GSOMaxSize, when at least two segments' worth, lets the sender
	// build segments of several MSS (generic segmentation offload, as
	// Linux's sk_gso_max_size): at most this many payload octets, sized
	// as tcp_tso_autosize does (tso.go). The stack sets it and cuts such
	// a segment into MSS-sized ones on the wire, in software or in the
	// device (TSO); Segment.GSOSize tells it the size. 0 or negative: one
	// MSS at most (the stack sets the largest a datagram holds unless
	// negative).
	GSOMaxSize int

	// UserTimeout is TCP_USER_TIMEOUT (RFC 9293 §3.8.3 "USER TIMEOUT",
	// RFC 5482, Linux semantics): how long sent data may stay
	// unacknowledged, or the peer's window stay closed, before the
	// connection ends with ETIMEDOUT. When set it replaces DataRetries.
	// 0: off.
	UserTimeout time.Duration
}

// SynCookieMode is Config.SynCookies.
type SynCookieMode uint8

const (
	// SynCookiesOnOverflow sends a cookie when the SYN queue is full
	// (Linux's tcp_syncookies=1, its default).
	SynCookiesOnOverflow SynCookieMode = iota
	// SynCookiesAlways answers every SYN with a cookie and never queues
	// one (tcp_syncookies=2; gVisor's TCPAlwaysUseSynCookies): for tests.
	SynCookiesAlways
	// SynCookiesOff drops a SYN that finds the SYN queue full
	// (tcp_syncookies=0).
	SynCookiesOff
)

// DefaultConfig returns the defaults, as Linux would have them.
func DefaultConfig() Config {
	return Config{
		MSS:                 DefaultMSS,
		RcvBuf:              DefaultRcvBuf,
		SndBuf:              DefaultSndBuf,
		MaxOutOfOrderRanges: DefaultMaxOutOfOrderRanges,
		RTOInitial:          DefaultRTOInitial,
		RTOMin:              DefaultRTOMin,
		RTOMax:              DefaultRTOMax,
		SynRetries:          DefaultSynRetries,
		SynAckRetries:       DefaultSynAckRetries,
		DataRetries:         DefaultDataRetries,
		DelayedACK:          DefaultDelayedACK,
		TimeWait:            DefaultTimeWait,
		InvalidACKInterval:  DefaultInvalidACKInterval,
		KeepIdle:            DefaultKeepIdle,
		KeepInterval:        DefaultKeepInterval,
		KeepCount:           DefaultKeepCount,
		Congestion:          DefaultCongestion,
	}
}

// WithDefaults returns cfg with every zero (or nonsensical) field replaced
// by its default: the configuration a Conn made from cfg runs with.
func (cfg Config) WithDefaults() Config { return cfg.withDefaults() }

// withDefaults fills every zero (or nonsensical) field with its default.
func (cfg Config) withDefaults() Config {
	d := DefaultConfig()
	if cfg.MSS <= 0 {
		cfg.MSS = d.MSS
	}
	cfg.MSS = min(cfg.MSS, 65535)
	if cfg.RcvBuf <= 0 {
		cfg.RcvBuf = d.RcvBuf
	}
	if cfg.SndBuf <= 0 {
		cfg.SndBuf = d.SndBuf
	}
	if cfg.MaxOutOfOrderRanges <= 0 {
		cfg.MaxOutOfOrderRanges = d.MaxOutOfOrderRanges
	}
	if cfg.RTOInitial <= 0 {
		cfg.RTOInitial = d.RTOInitial
	}
	if cfg.RTOMin <= 0 {
		cfg.RTOMin = d.RTOMin
	}
	if cfg.RTOMax <= 0 {
		cfg.RTOMax = d.RTOMax
	}
	cfg.RTOMax = max(cfg.RTOMax, cfg.RTOMin)
	if cfg.SynRetries <= 0 {
		cfg.SynRetries = d.SynRetries
	}
	if cfg.SynAckRetries <= 0 {
		cfg.SynAckRetries = d.SynAckRetries
	}
	if cfg.DataRetries <= 0 {
		cfg.DataRetries = d.DataRetries
	}
	if cfg.DelayedACK <= 0 {
		cfg.DelayedACK = d.DelayedACK
	}
	if cfg.TimeWait <= 0 {
		cfg.TimeWait = d.TimeWait
	}
	if cfg.InvalidACKInterval == 0 {
		cfg.InvalidACKInterval = d.InvalidACKInterval
	}
	if cfg.KeepIdle <= 0 {
		cfg.KeepIdle = d.KeepIdle
	}
	if cfg.KeepInterval <= 0 {
		cfg.KeepInterval = d.KeepInterval
	}
	if cfg.KeepCount <= 0 {
		cfg.KeepCount = d.KeepCount
	}
	if !IsCongestionControl(cfg.Congestion) {
		cfg.Congestion = d.Congestion // stack.New refuses an unknown name
	}
	if cfg.ECN == ECNDefault || cfg.ECN > ECNOff {
		cfg.ECN = ECNOn // stack.New refuses an unknown mode
	}
	cfg.UserTimeout = max(cfg.UserTimeout, 0)
	cfg.MaxOutOfOrderBytes = max(cfg.MaxOutOfOrderBytes, 0)
	return cfg
}

// windowScaleFor returns the smallest shift that lets a window of rcvBuf bytes
// fit the 16-bit field (RFC 7323 §2.2), at most MaxWScale (§2.3).
func windowScaleFor(rcvBuf int) uint8 {
	var s uint8
	for s < MaxWScale && rcvBuf>>s > 0xffff {
		s++
	}
	return s
}

// Observer watches connections. Its methods run inside the Conn's call, so
// they must not call back into the Conn.
type Observer interface {
	// StateChange reports that c went from one state to another; every
	// change goes through setState, so none is missed (a segment that
	// moves a connection through two states reports both).
	StateChange(c *Conn, from, to State)
}

// Counters are totals over many connections, the stack-wide counterparts
// of Info's per-connection counts (Linux's TcpExt counters).
type Counters struct {
	ChallengeACKs   uint64 // RFC 5961 challenge ACKs sent (TCPChallengeACK)
	ACKsRateLimited uint64 // replies to invalid segments held back by the rate limit (TCPACKSkipped*)
	PAWSDrops       uint64 // segments dropped by PAWS, RFC 7323 §5 (PAWSEstab)

	SynCookiesSent   uint64 // SYN-ACKs carrying a cookie (SyncookiesSent)
	SynCookiesRecv   uint64 // ACKs that validated a cookie (SyncookiesRecv)
	SynCookiesFailed uint64 // ACKs whose cookie did not check out (SyncookiesFailed)
	ListenOverflows  uint64 // SYNs and completing ACKs dropped for a full accept queue (ListenOverflows)
	ListenDrops      uint64 // every SYN or completing ACK a listener dropped (ListenDrops)

	// OutOfOrderDrops counts segments whose out-of-order data was not kept:
	// the range or byte limit, or memory (TCPOFODrop). RecvQueueDrops
	// counts segments whose in-order data within the window was (partly)
	// not kept because the receive ring could not grow (TCPRcvQDrop).
	OutOfOrderDrops uint64
	RecvQueueDrops  uint64

	// Loss recovery, the totals of Info's counts of the same names:
	// segments retransmitted (RFC 4022 tcpRetransSegs; Info.Retransmits),
	// retransmission timeouts with data outstanding (TCPTimeouts), fast
	// recoveries entered (TCPSackRecovery + TCPRenoRecovery) and tail loss
	// probes sent (TCPLossProbes).
	RetransSegs, Timeouts, Recoveries, LossProbes uint64
	// FastRetrans counts the retransmissions sent in fast recovery
	// (Linux's TCPFastRetrans: those not sent after an RTO, TCPSlowStartRetrans),
	// RACK's included.
	FastRetrans uint64
	// Recoveries by kind: SACKRecoveries those run by RFC 6675 (Linux's
	// TCPSackRecovery), RenoRecoveries those by RFC 6582 NewReno, without
	// SACK (TCPRenoRecovery); they add up to Recoveries. RACKRecoveries
	// counts the SACK recoveries that RACK's time-based rule started (RFC
	// 8985 §6.2), TLPRecoveries the losses a tail loss probe repaired (§7.4,
	// TCPLossProbeRecovery), which enter no recovery.
	SACKRecoveries, RenoRecoveries, RACKRecoveries, TLPRecoveries uint64

	// SACKDiscards counts SACK blocks ignored as invalid: empty, beyond
	// SND.NXT or reaching down to SND.UNA (Linux's TCPSACKDiscard).
	SACKDiscards uint64
	// DSACKUndos counts fast recoveries undone as spurious (TCPDSACKUndo).
	DSACKUndos uint64
	// SpuriousRTOs counts timeouts undone by Eifel detection (RFC 3522;
	// Linux's TCPSpuriousRTOs).
	SpuriousRTOs uint64

	// ECN (RFC 3168): CE-marked segments received (as Linux's
	// IpExtInCEPkts, which counts every IP packet), ACKs with ECE
	// received, window reductions for them, segments sent with ECE and
	// with CWR.
	CEReceived, ECEReceived, ECNReductions, ECESent, CWRSent uint64
}
