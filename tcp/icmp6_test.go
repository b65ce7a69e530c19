package tcp

import (
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/ipv6"
)

// The errnos of Linux's icmpv6_err_convert (net/ipv6/icmp.c tab_unreach),
// and which of them it calls fatal.
func TestICMPv6Errnos_MatchLinux(t *testing.T) {
	for _, c := range []struct {
		typ, code uint8
		soft      syscall.Errno
		fatal     bool
	}{
		{ipv6.TypeDestUnreachable, ipv6.CodeNoRoute, syscall.ENETUNREACH, false},
		{ipv6.TypeDestUnreachable, ipv6.CodeAdminProhibited, syscall.EACCES, true},
		{ipv6.TypeDestUnreachable, ipv6.CodeBeyondScope, syscall.EHOSTUNREACH, false},
		{ipv6.TypeDestUnreachable, ipv6.CodeAddrUnreachable, syscall.EHOSTUNREACH, false},
		{ipv6.TypeDestUnreachable, ipv6.CodePortUnreachable, syscall.ECONNREFUSED, true},
		{ipv6.TypeDestUnreachable, ipv6.CodeSourcePolicy, syscall.EACCES, true},
		{ipv6.TypeDestUnreachable, ipv6.CodeRejectRoute, syscall.EACCES, true},
		{ipv6.TypeDestUnreachable, 99, 0, false},
		{ipv6.TypePacketTooBig, 0, 0, true},
		{ipv6.TypeTimeExceeded, ipv6.CodeHopLimitExceeded, syscall.EHOSTUNREACH, false},
		{ipv6.TypeParamProblem, 0, syscall.EPROTO, true},
	} {
		if got := SoftICMPv6Error(c.typ, c.code); got != c.soft {
			t.Errorf("SoftICMPv6Error(%d, %d) = %v, want %v", c.typ, c.code, got, c.soft)
		}
		if _, fatal := FatalICMPv6Error(c.typ, c.code); fatal != c.fatal {
			t.Errorf("FatalICMPv6Error(%d, %d) fatal = %v, want %v", c.typ, c.code, fatal, c.fatal)
		}
	}
}
