package tcp

import (
	"syscall"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// ICMPv6 errors about our segments (RFC 4443 §3, RFC 1122 §4.2.3.9 as
// RFC 4443 §3 carries it over, RFC 5927, RFC 8201). They follow the rules
// of HandleICMPError through the ICMP message with the same meaning.

// icmp6As4 is the ICMP (type, code) an ICMPv6 error means to TCP, and the
// path MTU to hand on for a packet too big: the one whose MSS over IPv4 is
// the IPv6 MSS (20 octets less), the MTU raised to IPv6's 1280 first
// (RFC 8201 §4: a smaller one is not a path MTU; the minimum MTU stands).
// Unknown types come back as type 0, which handleError ignores.
func icmp6As4(typ, code uint8, mtu int) (t4, c4 uint8, mtu4 int) {
	switch typ {
	case ipv6.TypeDestUnreachable:
		switch code {
		case ipv6.CodeNoRoute:
			return ipv4.TypeDestUnreachable, ipv4.CodeNetUnreachable, 0
		case ipv6.CodeBeyondScope, ipv6.CodeAddrUnreachable:
			return ipv4.TypeDestUnreachable, ipv4.CodeHostUnreachable, 0
		case ipv6.CodePortUnreachable:
			return ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0
		case ipv6.CodeAdminProhibited, ipv6.CodeSourcePolicy, ipv6.CodeRejectRoute:
			return ipv4.TypeDestUnreachable, codeCommProhibited, 0
		}
		return ipv4.TypeDestUnreachable, maxUnreachCode + 1, 0 // unknown: ignored
	case ipv6.TypePacketTooBig:
		// As ApplyPathMTU6, for a caller that hands Packet Too Big here
		// (the stack applies it per destination instead).
		return ipv4.TypeDestUnreachable, ipv4.CodeFragNeeded, max(mtu, ipv6.MinMTU) - (ipv6.HeaderLen - ipv4.HeaderMinLen)
	case ipv6.TypeTimeExceeded:
		return ipv4.TypeTimeExceeded, code, 0
	case ipv6.TypeParamProblem:
		return ipv4.TypeParamProblem, 0, 0
	}
	return 0, 0, 0
}

// ApplyPathMTU6 is ApplyPathMTU for a connection over IPv6: the send MSS
// becomes the path MTU mtu (at least 1280, RFC 8200 §5) less the IPv6 and
// TCP headers (RFC 8201 §5.2), never raised.
func (c *Conn) ApplyPathMTU6(mtu int, now time.Time) {
	c.ApplyPathMTU(max(mtu, ipv6.MinMTU)-(ipv6.HeaderLen-ipv4.HeaderMinLen), now)
}

// codeCommProhibited is ICMP's "communication administratively
// prohibited" (RFC 1812 §5.2.7.1), the IPv4 kin of ICMPv6's administrative
// and policy codes: a soft error to TCP.
const codeCommProhibited = 13

// HandleICMPv6Error is HandleICMPError for an ICMPv6 error: typ and code
// are ICMPv6's, mtu a packet too big's MTU (RFC 4443 §3.2). Port
// unreachable is the hard error (ECONNREFUSED on a connect, RFC 4443 §3.1
// code 4); packet too big lowers the send MSS to the MTU less 60 (RFC 8201
// §4, at least 1280); the rest are soft errors whose errno SoftICMPv6Error
// gives.
// Deviation (Linux compat kept from IPv4, see HandleICMPError): Linux's
// tcp_v6_err fails a connect on any ICMPv6 error; as for IPv4 we follow
// RFC 1122 §4.2.3.9's MUST NOT abort for soft errors.
func (c *Conn) HandleICMPv6Error(typ, code uint8, quotedSeq seqnum.Value, mtu int, now time.Time) (accepted bool) {
	t4, c4, mtu4 := icmp6As4(typ, code, mtu)
	return c.handleError(t4, c4, quotedSeq, mtu4, false, now)
}

// SoftICMPv6Error is SoftICMPError for an ICMPv6 error: the errno of
// Linux's icmpv6_err_convert (no route ENETUNREACH; administratively
// prohibited, source policy and reject route EACCES; beyond scope and
// address unreachable EHOSTUNREACH; port ECONNREFUSED; time exceeded
// EHOSTUNREACH; parameter problem EPROTO), 0 for packet too big and
// unknown codes.
func SoftICMPv6Error(typ, code uint8) syscall.Errno {
	switch typ {
	case ipv6.TypeDestUnreachable:
		switch code {
		case ipv6.CodeNoRoute:
			return syscall.ENETUNREACH
		case ipv6.CodeAdminProhibited, ipv6.CodeSourcePolicy, ipv6.CodeRejectRoute:
			return syscall.EACCES
		case ipv6.CodeBeyondScope, ipv6.CodeAddrUnreachable:
			return syscall.EHOSTUNREACH
		case ipv6.CodePortUnreachable:
			return syscall.ECONNREFUSED
		}
	case ipv6.TypeTimeExceeded:
		return syscall.EHOSTUNREACH
	case ipv6.TypeParamProblem:
		return syscall.EPROTO
	}
	return 0
}

// FatalICMPv6Error reports whether Linux's icmpv6_err_convert calls the
// error fatal: what a connected UDP socket reports without IPV6_RECVERR
// (__udp6_lib_err), with packet too big (EMSGSIZE, fatal there under the
// default path MTU discovery).
func FatalICMPv6Error(typ, code uint8) (syscall.Errno, bool) {
	switch {
	case typ == ipv6.TypePacketTooBig:
		return syscall.EMSGSIZE, true
	case typ == ipv6.TypeParamProblem:
		return syscall.EPROTO, true
	case typ == ipv6.TypeDestUnreachable && (code == ipv6.CodeAdminProhibited || code == ipv6.CodePortUnreachable ||
		code == ipv6.CodeSourcePolicy || code == ipv6.CodeRejectRoute):
		return SoftICMPv6Error(typ, code), true
	}
	return 0, false
}
