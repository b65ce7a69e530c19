package tcp

import "time"

// Defaults for Config. Each names its source.
const (
	// DefaultMSS is the MSS for an Ethernet MTU of 1500 (1500 - 20 - 20).
	DefaultMSS = 1460
	// DefaultPeerMSS is the send MSS assumed when the peer's SYN carries no
	// MSS option (RFC 9293 §3.7.1, RFC 1122 §4.2.2.6).
	DefaultPeerMSS = 536
	// DefaultRcvBuf and DefaultSndBuf are the buffer sizes in bytes.
	DefaultRcvBuf = 256 << 10
	DefaultSndBuf = 256 << 10
	// DefaultMaxOutOfOrderRanges bounds the out-of-order segments kept.
	DefaultMaxOutOfOrderRanges = 32
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

	// clockGranularity is G of RFC 6298 §2.
	clockGranularity = time.Millisecond
)

// Config holds a connection's tunables. The zero value of every field means
// its default (DefaultConfig), so Config{} is a usable configuration.
type Config struct {
	MSS                 int           // MSS we advertise and cap our segments at; default 1460
	RcvBuf              int           // receive buffer bytes; fixes the window scale (RFC 7323 §2.2)
	SndBuf              int           // send buffer bytes
	MaxOutOfOrderRanges int           // out-of-order ranges kept by the receive buffer
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
}

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
	}
}

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
