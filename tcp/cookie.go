package tcp

import (
	"crypto/rand"
	"encoding/binary"
	"github.com/tapstack/tapstack/internal/siphash"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// SYN cookies (RFC 4987 §3.6). When a Listener's SYN queue is full, a SYN is
// answered with a SYN-ACK whose ISS encodes what the connection needs, and
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
// Only the MSS is encoded. Linux also encodes window scale, SACK-permitted
// and ECN in the low bits of the timestamp value when the SYN carried
// timestamps (cookie_init_timestamp); without them it offers neither
// (tcp_conn_request clears the options), and so do we: a cookie connection
// has no window scaling. TODO(timestamps): encode WScale/SACK in TSval once
// RFC 7323 timestamps are in.
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

// cookieWindow is the window a cookie SYN-ACK offers: the receive buffer,
// unscaled (no window scaling without state to remember it in).
func cookieWindow(cfg Config) int { return min(cfg.RcvBuf, 0xffff) }

// newConnFromCookie builds the TCB that a valid cookie ACK completes, as if
// passiveOpen had run when the SYN came: CLOSED → LISTEN → SYN-RECEIVED with
// ISS iss (the cookie), IRS = SEG.SEQ-1, the MSS from the cookie, no window
// scaling. The caller then hands it the ACK, which takes it to ESTABLISHED
// by the ordinary §3.10.7.4 rules (and processes any data or FIN on it, as
// Linux's child socket does). It holds no timer: the SYN-ACK is never
// retransmitted.
func newConnFromCookie(l *Listener, remote netip.AddrPort, seg *Segment, iss seqnum.Value, mss int) *Conn {
	c := NewConn(l.cfg, l.local, remote, iss, l.out)
	c.listener = l
	c.lq = inSynQueue // not in synQ: connEstablished moves it to the accept queue
	c.setState(StateListen)
	c.irs = seg.Seq.Sub(1)
	c.rcvNxt = seg.Seq
	c.wsOffered, c.sndWScale, c.rcvWScale = false, 0, 0
	c.mss = max(min(c.cfg.MSS, mss), minPeerMSS)
	c.rcvMSS = c.mss
	c.synWnd = cookieWindow(c.cfg)
	c.sndWnd, c.sndWL1, c.sndWL2 = int(seg.Window), c.irs, iss
	c.maxSndWnd = c.sndWnd
	c.setState(StateSynReceived)
	c.sndNxt = iss.Add(1)
	c.sndMax = c.sndNxt
	c.rcvAdvRight = c.rcvNxt.Add(seqnum.Size(c.synWnd))
	return c
}
