package stack_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
)

// Ping endpoints behave as Linux's ping sockets (SOCK_DGRAM, IPPROTO_ICMP,
// net/ipv4/ping.c): the user hands in an echo request (RFC 792), the stack
// sets the identifier and the checksum, and the endpoint receives the
// replies and the ICMP errors quoting its requests.

func pingEndpoint(t *testing.T, e *env) *stack.PingEndpoint {
	t.Helper()
	p, err := e.st.NewPingEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// readable reports whether ch holds a notification (and takes it).
func readable(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestPing_SendTo_IdentAndChecksumSetByStack_DFWhenItFits: the request
// goes out with the endpoint's identifier and a valid checksum whatever
// the user put there; as Linux with IP_PMTUDISC_WANT, with DF when it
// fits the MTU and fragmented without DF when it does not (RFC 791 §3.2).
func TestPing_SendTo_IdentAndChecksumSetByStack_DFWhenItFits(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	p := pingEndpoint(t, e)
	req := echoRequest(0xdead, 7, pattern(1500-ipv4.HeaderMinLen-ipv4.ICMPHeaderLen))
	req[2], req[3] = 0, 0 // a wrong checksum: the stack computes it
	e.expectCounted("echo request of exactly the MTU", out(ethernet.HeaderLen+1500, map[string]int64{"ICMP.OutMsgs": 1, "ICMP.OutEchos": 1}), func() {
		if n, err := p.SendTo(req, peerIP); n != len(req) || err != nil {
			t.Fatalf("SendTo = %d, %v; want %d, nil", n, err, len(req))
		}
	})
	ip, m := e.nextICMP() // ParseICMP: the checksum is valid
	if !ip.DF() || ip.TotalLen() != 1500 || ip.Dst() != peerIP || ip.Src() != stackIP || ip.TTL() != 64 {
		t.Errorf("request: DF=%v len=%d %v -> %v TTL %d; want DF, 1500, %v -> %v, TTL 64", ip.DF(), ip.TotalLen(), ip.Src(), ip.Dst(), ip.TTL(), stackIP, peerIP)
	}
	if m.Type() != ipv4.TypeEcho || m.Ident() != p.Ident() || m.Seq() != 7 || !bytes.Equal(m.Payload(), req[8:]) {
		t.Errorf("request: type %d ident %#x (want %#x) seq %d", m.Type(), m.Ident(), p.Ident(), m.Seq())
	}
	e.none()

	big := echoRequest(0, 8, pattern(1500-ipv4.HeaderMinLen-ipv4.ICMPHeaderLen+1))
	if n, err := p.SendTo(big, peerIP); n != len(big) || err != nil {
		t.Fatalf("SendTo of one byte beyond the MTU = %d, %v", n, err)
	}
	for i := range 2 {
		if ip := e.nextIPv4(); ip.DF() {
			t.Errorf("fragment %d has DF", i)
		}
	}
	e.none()
}

// TestPing_SendTo_BadCallsRefusedAsLinux: what Linux's ping_v4_sendmsg
// and ping_common_sendmsg refuse, with its errno.
func TestPing_SendTo_BadCallsRefusedAsLinux(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.Gateway = netip.Addr{} })
	p := pingEndpoint(t, e)
	reply := echoRequest(0, 1, nil)
	reply[0] = ipv4.TypeEchoReply
	code := echoRequest(0, 1, nil)
	code[1] = 1
	for _, c := range []struct {
		name string
		b    []byte
		dst  netip.Addr
		want error
	}{
		{"shorter than an ICMP header", echoRequest(0, 1, nil)[:ipv4.ICMPHeaderLen-1], peerIP, syscall.EINVAL},
		{"not an echo request", reply, peerIP, syscall.EINVAL},
		{"code not 0", code, peerIP, syscall.EINVAL},
		{"IPv6 destination", echoRequest(0, 1, nil), netip.MustParseAddr("fd00::1"), syscall.EAFNOSUPPORT},
		{"larger than a datagram holds", echoRequest(0, 1, make([]byte, ipv4.MaxTotalLen-ipv4.HeaderMinLen-ipv4.ICMPHeaderLen+1)), peerIP, syscall.EMSGSIZE},
		{"subnet broadcast", echoRequest(0, 1, nil), netip.MustParseAddr("10.0.0.255"), syscall.EACCES},
		{"limited broadcast", echoRequest(0, 1, nil), netip.MustParseAddr("255.255.255.255"), syscall.EACCES},
		{"no route", echoRequest(0, 1, nil), remoteIP, syscall.ENETUNREACH},
	} {
		if n, err := p.SendTo(c.b, c.dst); n != 0 || !errors.Is(err, c.want) {
			t.Errorf("%s: SendTo = %d, %v; want 0, %v", c.name, n, err, c.want)
		}
	}
	// The largest request a datagram holds is sent (in fragments).
	e.learnPeer()
	largest := echoRequest(0, 1, make([]byte, ipv4.MaxTotalLen-ipv4.HeaderMinLen-ipv4.ICMPHeaderLen))
	if n, err := p.SendTo(largest, peerIP); n != len(largest) || err != nil {
		t.Errorf("largest request: SendTo = %d, %v", n, err)
	}
	p.Close()
	// A closed endpoint polls readable, so that a poller wakes and its
	// read reports the close.
	if !p.PollReadable() || !readable(p.Readable()) || !readable(p.Done()) {
		t.Error("a closed endpoint: not readable, or Done not closed")
	}
	if _, err := p.SendTo(echoRequest(0, 1, nil), peerIP); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SendTo after Close: %v, want net.ErrClosed", err)
	}
	if _, _, err := p.TryRecvFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("TryRecvFrom after Close: %v, want net.ErrClosed", err)
	}
	if err := p.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
}

// TestPing_Receive_RepliesAndErrorsForOurIdentOnly: an echo reply with the
// endpoint's identifier, and an ICMP error quoting one of its requests
// (RFC 1122 §3.2.2: passed up to the sender), are queued for it in order;
// a reply for another identifier and an error quoting another ICMP type
// are not. A reader that leaves a message behind is notified again, so
// several blocked readers all progress; one that takes the last is not.
func TestPing_Receive_RepliesAndErrorsForOurIdentOnly(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	p := pingEndpoint(t, e)
	buf := make([]byte, 100)
	if _, _, err := p.TryRecvFrom(buf); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("TryRecvFrom with nothing queued: %v, want EAGAIN", err)
	}
	if p.PollReadable() {
		t.Fatal("PollReadable with nothing queued")
	}
	if _, err := p.SendTo(echoRequest(0, 5, []byte("hi")), peerIP); err != nil {
		t.Fatal(err)
	}
	sent := e.nextIPv4()

	reply := func(ident uint16) []byte {
		m := ipv4.ICMP(echoRequest(ident, 5, []byte("hi")))
		m.SetType(ipv4.TypeEchoReply)
		m.SetChecksum()
		return ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, m)
	}
	e.inject(reply(p.Ident() + 1)) // another socket's
	if p.PollReadable() || readable(p.Readable()) {
		t.Fatal("a reply for another identifier reached the endpoint")
	}
	e.inject(reply(p.Ident()))
	unreach := make([]byte, ipv4.ICMPHeaderLen+len(sent))
	unreach = unreach[:ipv4.EncodeError(unreach, ipv4.TypeDestUnreachable, ipv4.CodeHostUnreachable, 0, sent)]
	e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Src: otherIP}, unreach))
	// An error quoting an echo reply we sent (not a request) is nobody's.
	notReq := append([]byte(nil), sent...)
	ipv4.ICMP(ipv4.Header(notReq).Payload()).SetType(ipv4.TypeEchoReply)
	other := make([]byte, ipv4.ICMPHeaderLen+len(notReq))
	other = other[:ipv4.EncodeError(other, ipv4.TypeDestUnreachable, ipv4.CodeHostUnreachable, 0, ipv4.Header(notReq))]
	e.expectCounted("error quoting an echo reply", in(ethernet.HeaderLen+ipv4.HeaderMinLen+len(other), map[string]int64{
		"IPv4.InDelivers": 1, "ICMP.InMsgs": 1, "ICMP.InDestUnreachs": 1, "ICMP.InErrorsUnmatched": 1,
	}), func() { e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, other)) })

	if !p.PollReadable() || !readable(p.Readable()) {
		t.Fatal("not readable with two messages queued")
	}
	n, from, err := p.TryRecvFrom(buf)
	if m := ipv4.ICMP(buf[:n]); err != nil || from != peerIP || m.Type() != ipv4.TypeEchoReply || m.Ident() != p.Ident() {
		t.Fatalf("first message: type %d ident %#x from %v, %v; want our echo reply from %v", m.Type(), m.Ident(), from, err, peerIP)
	}
	if !readable(p.Readable()) {
		t.Fatal("a message is left, but the reader that took one did not notify again")
	}
	n, from, err = p.TryRecvFrom(buf)
	if m := ipv4.ICMP(buf[:n]); err != nil || from != otherIP || m.Type() != ipv4.TypeDestUnreachable || m.Code() != ipv4.CodeHostUnreachable {
		t.Fatalf("second message: type %d code %d from %v, %v; want host unreachable from %v", m.Type(), m.Code(), from, err, otherIP)
	}
	if readable(p.Readable()) || p.PollReadable() {
		t.Fatal("notified with nothing left")
	}
	if _, _, err := p.TryRecvFrom(buf); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("third TryRecvFrom: %v, want EAGAIN", err)
	}
}

// TestPing_Identifiers_UniqueUntilExhaustedThenEAGAIN: every open ping
// endpoint has its own identifier (the demux key of its replies); once
// all 65536 are taken, a new endpoint fails with EAGAIN (Linux's
// ping_get_port fails the same way), and a closed endpoint's identifier
// is free again.
func TestPing_Identifiers_UniqueUntilExhaustedThenEAGAIN(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{})
	defer b.Close()
	st, err := stack.New(a, stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// A NewPingEndpoint that never gives up holds the stack's lock.
	defer closeWithin(t, st)
	seen := make(map[uint16]*stack.PingEndpoint, 1<<16)
	done := make(chan error, 1)
	go func() {
		for len(seen) <= 1<<16 {
			p, err := st.NewPingEndpoint()
			if err != nil {
				done <- err
				return
			}
			if seen[p.Ident()] != nil {
				done <- fmt.Errorf("identifier %#x given twice", p.Ident())
				return
			}
			seen[p.Ident()] = p
		}
		done <- nil
	}()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("opening 65537 ping endpoints did not end within a minute")
	}
	if !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("after %d endpoints: %v, want EAGAIN", len(seen), err)
	}
	// Free all but one: the next endpoint cannot have that one's identifier.
	var kept uint16
	for id, p := range seen {
		if kept == 0 && id != 0 {
			kept = id
			continue
		}
		p.Close()
	}
	p, err := st.NewPingEndpoint()
	if err != nil || p.Ident() == kept {
		t.Fatalf("after closing: %v, identifier %#x (the one still open: %#x)", err, p.Ident(), kept)
	}
}
