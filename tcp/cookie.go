package tcp

import (
	"crypto/rand"
	"encoding/binary"
	"github.com/tapstack/tapstack/internal/siphash"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// SYN cookies (RFC 4987 §3.6). When a Listener's SYN queue is full (or for
// every SYN, with Config.SynCookies = SynCookiesAlways), a SYN is answered with a SYN-ACK whose ISS encodes what the connection needs, and
// nothing is kept: a flood of spoofed SYNs costs no memory. The peer's
// handshake-completing ACK acknowledges ISS+1, so the cookie comes back in
// SEG.ACK-1 and the peer's ISS in SEG.SEQ-1; if the cookie checks out, the
// connection is created then.
//
// The layout is Linux's (net/ipv4/syncookies.c, secure_tcp_syn_cookie):
//
//	cookie = H(k, 4-tuple, 0) + peerISS + count<<24
//	       + ((H(k, 4-tuple, count) + mssIndex) mod 2^24)
//
// H is SipHash-2-4 (as Linux's cookie_hash) under a random per-Listener key,
// the two calls told apart by a domain byte; count is the time in minutes
// (Linux's tcp_cookie_time, TCP_SYNCOOKIE_PERIOD), so a cookie is valid in
// the minute it was made and the next (MAX_SYNCOOKIE_AGE 2): at most two
// minutes. The low 24 bits carry the MSS as an index into cookieMSS; a forged
// ACK passes with probability about 2·4/2^24.
//
// Window scale and SACK-permitted ride in our timestamp, as Linux's
// (cookie_init_timestamp, cookie_timestamp_decode): when the SYN carries
// RFC 7323 timestamps, the low 6 bits of the SYN-ACK's TSval (less the
// connection's TS offset) say what the SYN offered, and the peer echoes
// them back in the TSecr of its ACK (RFC 7323 §3.2, §4.3). See
// cookieTSVal. The cookie SYN-ACK then offers window scale and
// SACK-permitted exactly as a normal SYN-ACK would. Without timestamps
// there is nowhere to keep them: the SYN-ACK carries the MSS only (as
// Linux's tcp_conn_request, which clears the other options) and the
// connection has neither window scaling nor SACK. As in Linux, the hash
// does not cover these bits: only a peer that saw the SYN-ACK can complete
// the handshake, and it chose the options in the first place.
//
// The arithmetic is modulo 2^32 on plain uint32s: it builds a number, it
// does not compare sequence numbers.

const (
	cookieBits = 24
	cookieMask = 1<<cookieBits - 1
	// cookiePeriod is Linux's TCP_SYNCOOKIE_PERIOD: the counter's tick.
	cookiePeriod = 60 * time.Second
	// cookieMaxAge is Linux's MAX_SYNCOOKIE_AGE: a cookie made at count n
	// is accepted while the counter reads n or n+1.
	cookieMaxAge = 2
	// cookieValid is Linux's TCP_SYNCOOKIE_VALID: how long after the last
	// cookie was sent a stray ACK is still checked against the cookies
	// (tcp_synq_no_recent_overflow). Otherwise it gets the usual RST.
	cookieValid = cookieMaxAge * cookiePeriod
)

// cookieMSS is Linux's msstab: the MSS values a cookie can carry, sorted.
// Linux's comment cites Alcock and Nelson, "An Analysis of TCP Maximum
// Segment Sizes" (2011): 1460 is the most common, 1300-1349 and 1440/1452
// (PPPoE) next, values below 536 are rare.
var cookieMSS = [...]uint16{536, 1300, 1440, 1460}

// cookieKey is the secret of one Listener's cookies.
type cookieKey struct{ k0, k1 uint64 }

// newCookieKey draws a fresh key from crypto/rand. It panics if crypto/rand
// fails, which it does not on supported platforms.
func newCookieKey() cookieKey {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("tcp: crypto/rand: " + err.Error())
	}
	return cookieKey{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])}
}

// cookieCount is the cookie counter at now: minutes since the epoch.
func cookieCount(now time.Time) uint32 {
	return uint32(now.UnixNano() / int64(cookiePeriod))
}

// hash is H(k, local, remote, count) with domain byte d.
func (k cookieKey) hash(local, remote netip.AddrPort, count uint32, d byte) uint32 {
	var msg [41]byte
	la, ra := local.Addr().As16(), remote.Addr().As16()
	copy(msg[0:16], la[:])
	binary.BigEndian.PutUint16(msg[16:], local.Port())
	copy(msg[18:34], ra[:])
	binary.BigEndian.PutUint16(msg[34:], remote.Port())
	binary.BigEndian.PutUint32(msg[36:], count)
	msg[40] = d
	return uint32(siphash.Sum64(k.k0, k.k1, msg[:]))
}

// make returns the cookie (our ISS) for a SYN from remote to local with
// sequence number peerISS, at counter count, carrying cookieMSS[mssIndex].
func (k cookieKey) make(local, remote netip.AddrPort, peerISS seqnum.Value, count uint32, mssIndex int) seqnum.Value {
	v := k.hash(local, remote, 0, 0) + uint32(peerISS) + count<<cookieBits +
		(k.hash(local, remote, count, 1)+uint32(mssIndex))&cookieMask
	return seqnum.Value(v)
}

// check validates cookie (SEG.ACK-1 of the completing ACK) for remote →
// local with the peer's ISS peerISS (SEG.SEQ-1) at counter count, and
// returns the MSS index it carries; ok is false if it is forged, for another
// 4-tuple or ISS, or older than cookieMaxAge counts (Linux's
// check_tcp_syn_cookie).
func (k cookieKey) check(cookie seqnum.Value, local, remote netip.AddrPort, peerISS seqnum.Value, count uint32) (mssIndex int, ok bool) {
	v := uint32(cookie) - (k.hash(local, remote, 0, 0) + uint32(peerISS))
	age := (count - v>>cookieBits) & (1<<(32-cookieBits) - 1)
	if age >= cookieMaxAge {
		return 0, false
	}
	idx := (v - k.hash(local, remote, count-age, 1)) & cookieMask
	if idx >= uint32(len(cookieMSS)) {
		return 0, false
	}
	return int(idx), true
}

// cookieMSSIndex returns the index of the largest cookieMSS entry not above
// mss; 0 (536) when mss is smaller still, as Linux's
// __cookie_v4_init_sequence.
func cookieMSSIndex(mss int) int {
	i := len(cookieMSS) - 1
	for i > 0 && int(cookieMSS[i]) > mss {
		i--
	}
	return i
}

// The low bits of a cookie's TSval (Linux's TSBITS and TS_OPT_*): the
// peer's window scale (cookieTSNoWScale: the SYN had none, or we do not
// scale), SACK-permitted, and ECN (the SYN asked for it and we agreed,
// RFC 3168 §6.1.1).
const (
	cookieTSBits     = 6
	cookieTSWScale   = 0xf // mask of the peer's shift
	cookieTSNoWScale = 0xf
	cookieTSSACK     = 1 << 4
	cookieTSECN      = 1 << 5
)

// cookieTSClock is the clock of the timestamps a Listener sends in cookie
// SYN-ACKs: milliseconds since base (RFC 7323 §5.4: 1 ms per tick, as our
// connections' TS clock), base being when the Listener sent its first
// cookie. A connection made from a cookie continues it (newConnFromCookie),
// so its TSvals never go back. It is monotonic, being a time.Time
// difference.
func cookieTSClock(base, now time.Time) uint32 {
	return uint32(max(now.Sub(base), 0) / time.Millisecond)
}

// cookieTSVal is the TSval (before the connection's offset is added) of a
// cookie SYN-ACK answering a SYN with options o, at TS clock reading
// clock: the clock with its low cookieTSBits replaced by the options, and
// one period earlier if that would be ahead of the clock, so that the
// TSvals the connection sends later are never older (Linux's
// cookie_init_timestamp). Window scale and SACK-permitted are encoded only
// if we offer them (not DisableWindowScale, DisableSACK): the same choice
// as negotiate makes for a normal SYN-ACK; ECN if ecn (ecnSYNAsks).
func cookieTSVal(cfg Config, o *Options, ecn bool, clock uint32) uint32 {
	opts := uint32(cookieTSNoWScale)
	if o.HasWScale && !cfg.DisableWindowScale {
		opts = uint32(min(o.WScale, MaxWScale)) // RFC 7323 §2.3: more than 14 is 14
	}
	if o.SACKPermitted && !cfg.DisableSACK {
		opts |= cookieTSSACK
	}
	if ecn {
		opts |= cookieTSECN
	}
	ts := clock&^(1<<cookieTSBits-1) | opts
	if ts > clock {
		ts -= 1 << cookieTSBits
	}
	return ts
}

// cookieSynOptions rebuilds, from the ACK seg completing a cookie
// handshake, the options the SYN offered that the connection needs: the
// MSS from the cookie; if seg carries timestamps, timestamps (TS.Recent
// from seg's TSval) and the window scale and SACK-permitted its TSecr
// echoes, less the TS offset of the connection whose ISS is iss (Linux's
// cookie_timestamp_decode). Without timestamps on seg, the MSS only. ok
// is false, as in Linux, if the echo names an option we do not offer
// (timestamps, SACK, or window scaling turned off): not a TSval of ours.
//
// A TSecr of zero is taken to echo no options: RFC 7323 §3.2 asks every
// ACK to echo our TSval, so only a broken peer sends it, and scaling
// windows on its word would be worse than not scaling. Linux decodes it
// as shift 0 with no SACK.
func cookieSynOptions(cfg Config, seg *Segment, iss seqnum.Value, mss int) (o Options, ok bool) {
	o.MSS = uint16(mss)
	if !seg.Options.HasTimestamp {
		return o, true
	}
	if cfg.DisableTimestamps {
		return o, false
	}
	o.HasTimestamp, o.TSVal = true, seg.Options.TSVal
	if seg.Options.TSEcr == 0 {
		return o, true
	}
	bits := seg.Options.TSEcr - tsOffsetFor(iss)
	if bits&cookieTSSACK != 0 {
		if cfg.DisableSACK {
			return o, false
		}
		o.SACKPermitted = true
	}
	if ws := bits & cookieTSWScale; ws != cookieTSNoWScale {
		if cfg.DisableWindowScale {
			return o, false
		}
		o.HasWScale, o.WScale = true, uint8(ws)
	}
	return o, true
}

// cookieWindow is the window a cookie SYN-ACK offers: the receive buffer,
// never scaled (RFC 7323 §2.2), as sendSyn's for a normal SYN-ACK.
func cookieWindow(cfg Config) int { return min(cfg.RcvBuf, 0xffff) }

// newConnFromCookie builds the TCB that a valid cookie ACK completes, as if
// passiveOpen had run when the SYN came: CLOSED → LISTEN → SYN-RECEIVED with
// ISS iss (the cookie), IRS = SEG.SEQ-1, and the SYN's options o as
// cookieSynOptions rebuilt them (MSS, and with timestamps window scale and
// SACK-permitted), negotiated as passiveOpen does. Our TS clock continues
// the Listener's cookie clock (cookieTSClock), so that the TSval of the
// SYN-ACK is not newer than the connection's. The caller then hands it the
// ACK, which takes it to ESTABLISHED by the ordinary §3.10.7.4 rules (and
// processes any data or FIN on it, as Linux's child socket does). It holds
// no timer: the SYN-ACK is never retransmitted.
func newConnFromCookie(l *Listener, remote netip.AddrPort, seg *Segment, iss seqnum.Value, o *Options, now time.Time) *Conn {
	c := NewConn(l.cfg, l.local, remote, iss, l.out)
	c.listener = l
	c.lq = inSynQueue // not in synQ: connEstablished moves it to the accept queue
	c.setState(StateListen)
	c.irs = seg.Seq.Sub(1)
	c.rcvNxt = seg.Seq
	c.wsOffered = !c.cfg.DisableWindowScale
	c.sackOffered = !c.cfg.DisableSACK
	c.negotiate(o, now) // as passiveOpen: window scale and SACK only if "the SYN" had them
	c.ecnOn = cookieECN(seg, iss)
	c.tsOffset += cookieTSClock(l.cookieTSBase, now)
	c.tsEpoch = now
	c.synWnd = cookieWindow(c.cfg)
	c.sndWnd, c.sndWL1, c.sndWL2 = int(seg.Window), c.irs, iss
	c.maxSndWnd = c.sndWnd
	c.setState(StateSynReceived)
	c.sndCur = iss.Add(1)
	c.sndNxt = c.sndCur
	c.rcvAdvRight = c.rcvNxt.Add(seqnum.Size(c.synWnd))
	return c
}
