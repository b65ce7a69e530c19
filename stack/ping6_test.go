package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
)

// ICMPv6 ping endpoints (Linux's SOCK_DGRAM, IPPROTO_ICMPV6): RFC 4443
// §4.1-4.2 echo requests out, the replies and the errors quoting them in.

func pingEndpoint6(t *testing.T, e *env) *stack.PingEndpoint {
	t.Helper()
	p, err := e.st.NewPingEndpoint6()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// The request goes out from our link-local address to a link-local peer,
// hop limit 64, with the endpoint's identifier and a checksum over the
// IPv6 pseudo-header (RFC 4443 §2.3) whatever the user put there.
func TestPing6_SendTo_IdentAndChecksumSetByStack(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	p := pingEndpoint6(t, e)
	before := e.st.Stats().IPv6.ICMP6OutMsgs // the advertisement learnPeer6 drew
	req := make([]byte, ipv6.ICMPHeaderLen+3)
	req[0] = ipv6.TypeEchoRequest
	req[2], req[3], req[4], req[5] = 0xde, 0xad, 0xbe, 0xef // checksum, identifier: the stack's
	req[6], req[7] = 0, 9
	copy(req[8:], "abc")
	if n, err := p.SendTo(req, peerLL); err != nil || n != len(req) {
		t.Fatalf("SendTo: %d, %v", n, err)
	}
	eth, h, m := e.nextIPv6() // nextIPv6 checks the checksum (ParseICMP)
	if eth.Dst() != peerMAC || h.Src() != stackLL || h.Dst() != peerLL || h.HopLimit() != 64 {
		t.Errorf("request %v -> %v (MAC %v) hop limit %d; want %v -> %v (MAC %v) 64", h.Src(), h.Dst(), eth.Dst(), h.HopLimit(), stackLL, peerLL, peerMAC)
	}
	if m.Type() != ipv6.TypeEchoRequest || m.Ident() != p.Ident() || m.Seq() != 9 || string(m.Payload()) != "abc" {
		t.Errorf("request type %d id %#x seq %d data %q; want 128 %#x 9 \"abc\"", m.Type(), m.Ident(), m.Seq(), m.Payload(), p.Ident())
	}
	if st := e.st.Stats().IPv6; st.ICMP6OutEchos != 1 || st.ICMP6OutMsgs != before+1 {
		t.Errorf("ICMP6OutEchos %d ICMP6OutMsgs %d, want 1 %d", st.ICMP6OutEchos, st.ICMP6OutMsgs, before+1)
	}
}

// As Linux's ping_v6_sendmsg: no echo request (an ICMP one, a reply, a
// non-zero code, too short) is EINVAL, as is an IPv4-mapped destination;
// an IPv4 one is EAFNOSUPPORT. Nothing is sent.
func TestPing6_SendTo_BadCallsRefusedAsLinux(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	p := pingEndpoint6(t, e)
	ok := echo6(stackLL, peerLL, 0, 1, nil)
	with := func(i int, v byte) []byte { b := append([]byte(nil), ok...); b[i] = v; return b }
	for _, c := range []struct {
		name string
		b    []byte
		dst  netip.Addr
		want error
	}{
		{"ICMP echo request", with(0, 8), peerLL, syscall.EINVAL},
		{"echo reply", with(0, ipv6.TypeEchoReply), peerLL, syscall.EINVAL},
		{"code 1", with(1, 1), peerLL, syscall.EINVAL},
		{"7 bytes", ok[:7], peerLL, syscall.EINVAL},
		{"IPv4-mapped", ok, netip.MustParseAddr("::ffff:10.0.0.1"), syscall.EINVAL},
		{"IPv4", ok, netip.MustParseAddr("10.0.0.1"), syscall.EAFNOSUPPORT},
	} {
		if _, err := p.SendTo(c.b, c.dst); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	e.none()
}

// Echo replies reach the endpoint whose identifier they carry, and so do
// ICMPv6 errors quoting its echo requests (read as messages, as on the
// ICMP endpoint); an error quoting an echo reply is nobody's.
func TestPing6_Receive_RepliesAndErrorsForOurIdentOnly(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	p := pingEndpoint6(t, e)
	if _, err := p.SendTo(echo6(stackLL, peerLL, 0, 5, []byte("hi")), peerLL); err != nil {
		t.Fatal(err)
	}
	sent := e.nextPacket6()
	reply := func(ident uint16) []byte {
		b := make([]byte, ipv6.ICMPHeaderLen+2)
		ipv6.EncodeEcho(b, ipv6.TypeEchoReply, ident, 5, []byte("hi"), peerLL, stackLL)
		return ip6Frame(stackMAC, ipv6.Fields{}, b)
	}
	e.inject(reply(p.Ident() + 1)) // another socket's
	if p.PollReadable() || readable(p.Readable()) {
		t.Fatal("a reply for another identifier reached the endpoint")
	}
	e.inject(reply(p.Ident()))
	e.inject(icmp6ErrorFrame(ipv6.TypeDestUnreachable, ipv6.CodeNoRoute, 0, sent))
	notReq := append([]byte(nil), sent...)
	notReq[ipv6.HeaderLen] = ipv6.TypeEchoReply
	before := e.st.Stats().IPv6.ICMP6InErrorsUnmatched
	e.inject(icmp6ErrorFrame(ipv6.TypeDestUnreachable, ipv6.CodeNoRoute, 0, notReq))
	if got := e.st.Stats().IPv6.ICMP6InErrorsUnmatched; got != before+1 {
		t.Errorf("error quoting an echo reply: ICMP6InErrorsUnmatched %d, want %d", got, before+1)
	}
	if got := e.st.Stats().IPv6.ICMP6InEchoReps; got != 2 {
		t.Errorf("ICMP6InEchoReps %d, want 2", got)
	}

	buf := make([]byte, 100)
	n, from, err := p.TryRecvFrom(buf)
	if m := ipv6.ICMP(buf[:n]); err != nil || from != peerLL || m.Type() != ipv6.TypeEchoReply || m.Ident() != p.Ident() || string(m.Payload()) != "hi" {
		t.Fatalf("first message: type %d ident %#x from %v, %v; want our echo reply from %v", m.Type(), m.Ident(), from, err, peerLL)
	}
	n, from, err = p.TryRecvFrom(buf)
	if m := ipv6.ICMP(buf[:n]); err != nil || from != peerLL || m.Type() != ipv6.TypeDestUnreachable || m.Code() != ipv6.CodeNoRoute {
		t.Fatalf("second message: type %d code %d from %v, %v; want no route from %v", m.Type(), m.Code(), from, err, peerLL)
	}
	if _, _, err := p.TryRecvFrom(buf); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("third TryRecvFrom: %v, want EAGAIN", err)
	}
}
