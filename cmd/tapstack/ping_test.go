package main

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/ipv6"
)

// The address decides the family and the largest -s: 65507 for IPv4
// (65535 less the IPv4 and ICMP headers), 65527 for IPv6 (the Payload
// Length less the ICMPv6 header); anything else is refused with one line.
func TestPing_AddressAndSizeRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-s", "65508", "10.0.0.1"}, "-s 65508: want 0 to 65507"},
		{[]string{"-s", "65528", "fd00::1"}, "-s 65528: want 0 to 65527"},
		{[]string{"::ffff:10.0.0.1"}, `"::ffff:10.0.0.1" is not an IPv4 or IPv6 address`},
		{[]string{"host.test"}, `"host.test" is not an IPv4 or IPv6 address`},
	} {
		var stderr bytes.Buffer
		if code := cmdPing(context.Background(), c.args, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("ping %v: exit %d, %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// An ICMPv6 error is printed as iputils ping -6 prints it, with the
// sequence number of the echo request it quotes (RFC 4443 §2.4 (c)).
func TestPing_Echo6ErrorNamedWithQuotedSeq(t *testing.T) {
	src, dst := netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::9")
	req := make([]byte, ipv6.HeaderLen+ipv6.ICMPHeaderLen)
	ipv6.Encode(req, ipv6.Fields{PayloadLen: ipv6.ICMPHeaderLen, NextHeader: ipv6.ProtoICMPv6, HopLimit: 64, Src: src, Dst: dst})
	ipv6.EncodeEcho(req[ipv6.HeaderLen:], ipv6.TypeEchoRequest, 1, 42, nil, src, dst)
	m := make([]byte, ipv6.ICMPHeaderLen+len(req))
	m = m[:ipv6.EncodeError(m, ipv6.TypeDestUnreachable, ipv6.CodeAddrUnreachable, 0, req, netip.MustParseAddr("fd00::1"), src)]
	if got := echo6.unreachable(m[0], m[1]); got != "Destination unreachable: Address unreachable" {
		t.Errorf("named %q", got)
	}
	if got := echo6.quotedSeq(m); got != 42 {
		t.Errorf("quoted seq %d, want 42", got)
	}
	if got := echo6.unreachable(ipv6.TypeEchoReply, 0); got != "" {
		t.Errorf("an echo reply named %q, want none", got)
	}
}
