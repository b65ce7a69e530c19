package stack_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// ICMP errors about our TCP segments (RFC 1122 §4.2.3.9, RFC 5927 §4.1,
// RFC 1191): the test plays a router or the peer's host and quotes a
// datagram the stack sent.

// icmpAbout builds an ICMP error from the peer quoting orig (a datagram the
// stack sent). rest is the second word: the next-hop MTU for 3/4.
func icmpAbout(typ, code uint8, rest uint32, orig ipv4.Header) []byte {
	b := make([]byte, ipv4.ICMPHeaderLen+min(len(orig), ipv4.MaxQuote))
	n := ipv4.EncodeError(b, typ, code, rest, orig)
	return ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, b[:n])
}

// nextTCPDatagram returns a copy of the next datagram the stack sent, which
// must be TCP.
func (e *env) nextTCPDatagram() ipv4.Header {
	e.t.Helper()
	h := e.nextIPv4()
	if h.Protocol() != ipv4.ProtoTCP {
		e.t.Fatalf("got IP protocol %d, want TCP", h.Protocol())
	}
	return append(ipv4.Header(nil), h...)
}

// setQuotedSeq rewrites the sequence number of the TCP segment in d.
func setQuotedSeq(d ipv4.Header, seq uint32) ipv4.Header {
	d = append(ipv4.Header(nil), d...)
	binary.BigEndian.PutUint32(d[d.HeaderLen()+4:], seq)
	return d
}

func soError(t *testing.T, fd *socket.FD) error {
	t.Helper()
	e, err := fd.GetsockoptInt(socket.SOL_SOCKET, socket.SO_ERROR)
	if err != nil {
		t.Fatal(err)
	}
	if e == 0 {
		return nil
	}
	return syscall.Errno(e)
}

func connecting(t *testing.T, e *env) (*socket.FD, ipv4.Header) {
	t.Helper()
	e.learnPeer()
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	t.Cleanup(func() { fd.Close() })
	if err := fd.Connect(netip.AddrPortFrom(peerIP, 9)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	return fd, e.nextTCPDatagram()
}

func TestTCPICMP_PortUnreachable_RefusesConnect(t *testing.T) {
	e := newEnv(t)
	fd, syn := connecting(t, e)
	e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, syn))
	if err := soError(t, fd); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("SO_ERROR = %v, want ECONNREFUSED", err)
	}
	if cs := e.st.TCPConnections(); len(cs) != 0 {
		t.Fatalf("connection left: %+v", cs)
	}
	e.clk.Advance(time.Minute)
	e.none() // no SYN retransmission
	if st := e.st.Stats(); st.TCP.ICMPErrors != 1 || st.ICMP.InDestUnreachs != 1 {
		t.Fatalf("stats %+v %+v", st.TCP, st.ICMP)
	}
}

func TestTCPICMP_PortUnreachable_OutOfWindowSeq_Ignored(t *testing.T) {
	e := newEnv(t)
	fd, syn := connecting(t, e)
	iss := tcp.Header(syn.Payload()).Seq()
	for _, seq := range []uint32{uint32(iss) + 1, uint32(iss) - 1, uint32(iss) + 1<<31} {
		e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, setQuotedSeq(syn, seq)))
	}
	if err := soError(t, fd); err != nil {
		t.Fatalf("SO_ERROR = %v after blind ICMP errors (RFC 5927 §4.1)", err)
	}
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateSynSent {
		t.Fatalf("connections %+v", cs)
	}
	if st := e.st.Stats().TCP; st.OutOfWindowICMPs != 3 || st.ICMPErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The handshake still completes.
	e.inject(tcpFrame(tcp.Segment{SrcPort: 9, DstPort: tcp.Header(syn.Payload()).SrcPort(), Seq: peerISS, Ack: iss + 1,
		Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd}, nil))
	cs := e.st.TCPConnections()
	if err := soError(t, fd); err != nil || len(cs) != 1 || cs[0].State != tcp.StateEstablished {
		t.Fatalf("connect: %v %+v", err, cs)
	}
}

func TestTCPICMP_UnmatchedQuote_Counted(t *testing.T) {
	e := newEnv(t)
	_, syn := connecting(t, e)
	other := append(ipv4.Header(nil), syn...)
	binary.BigEndian.PutUint16(other[other.HeaderLen():], 1) // another source port
	e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, other))
	if st := e.st.Stats(); st.ICMP.InErrorsUnmatched != 1 || st.TCP.ICMPErrors != 0 || st.TCP.OutOfWindowICMPs != 0 {
		t.Fatalf("stats %+v %+v", st.ICMP, st.TCP)
	}
}

// giveUp advances the clock until the connection's retransmissions give up.
func giveUp(e *env) {
	for i := 0; i < 40 && len(e.st.TCPConnections()) > 0; i++ {
		e.clk.Advance(time.Minute)
		e.drain()
	}
	if cs := e.st.TCPConnections(); len(cs) != 0 {
		e.t.Fatalf("still open after 40 minutes: %+v", cs)
	}
}

func TestTCPICMP_HostUnreachable_SoftThenTimeout_EHOSTUNREACH(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ARP.ReachableTime = 24 * time.Hour })
	c, _ := established(t, e)
	c.Send([]byte("hello"), 0)
	d := e.nextTCPDatagram()
	// A router says the host is unreachable: RFC 1122 §4.2.3.9, a soft
	// error. The connection goes on...
	e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodeHostUnreachable, 0, d))
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateEstablished {
		t.Fatalf("connections %+v", cs)
	}
	buf := make([]byte, 10)
	if _, err := c.Recv(buf, 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Recv: %v, want EAGAIN: a soft error is not reported at once", err)
	}
	// ...and when it times out, the soft error is what the application
	// sees (as Linux's tcp_write_err), not ETIMEDOUT.
	giveUp(e)
	if _, err := c.Recv(buf, 0); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("Recv after the timeout: %v, want EHOSTUNREACH", err)
	}
	if st := e.st.Stats().TCP; st.ICMPErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTCPICMP_SoftError_ForgottenAfterProgress(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ARP.ReachableTime = 24 * time.Hour })
	c, iss := established(t, e)
	c.Send([]byte("hello"), 0)
	e.inject(icmpAbout(ipv4.TypeTimeExceeded, ipv4.CodeTTLExceeded, 0, e.nextTCPDatagram()))
	// The peer acknowledges: the path works after all.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 6, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c.Send([]byte("world"), 0)
	giveUp(e)
	if _, err := c.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Recv after the timeout: %v, want ETIMEDOUT", err)
	}
}

func TestTCPICMP_SynSent_NetUnreachable_ReportedWhenSYNsGiveUp(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ARP.ReachableTime = 24 * time.Hour })
	fd, syn := connecting(t, e)
	e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodeNetUnreachable, 0, syn))
	if err := soError(t, fd); err != nil {
		t.Fatalf("SO_ERROR = %v: RFC 1122 §4.2.3.9 MUST NOT abort on a soft error", err)
	}
	e.clk.Advance(127 * time.Second) // Linux's tcp_syn_retries = 6
	if err := soError(t, fd); !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("SO_ERROR = %v, want ENETUNREACH", err)
	}
}

func TestTCPICMP_Established_PortUnreachable_Soft(t *testing.T) {
	e := newEnv(t)
	c, _ := established(t, e)
	c.Send([]byte("hello"), 0)
	e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, e.nextTCPDatagram()))
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateEstablished {
		t.Fatalf("Deviation (Linux compat): a port unreachable must not end an established connection: %+v", cs)
	}
}

func TestTCPICMP_FragNeeded_LowersMSS_SegmentsShrink(t *testing.T) {
	e := newEnv(t)
	c, iss := established(t, e)
	c.Send(pattern(3000), 0)
	first := e.nextTCPDatagram()
	e.drain()
	if n := len(tcp.Header(first.Payload()).Payload()); n != 1460 {
		t.Fatalf("first segment %d bytes", n)
	}
	// A router with a 1000-byte next hop drops it (DF is set: RFC 1191).
	e.inject(icmpAbout(ipv4.TypeDestUnreachable, ipv4.CodeFragNeeded, 1000, first))
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].MSS != 960 {
		t.Fatalf("connections %+v, want MSS 960", cs)
	}
	// The flight is resent at once in segments that fit the path.
	var got []byte
	for {
		f, ok := e.peer.TryRead()
		if !ok {
			break
		}
		h, _ := ipv4.Parse(f[ethernet.HeaderLen:])
		if h.TotalLen() > 1000 {
			t.Fatalf("a %d-byte datagram after the PMTU dropped to 1000", h.TotalLen())
		}
		s, _ := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
		if s.Seq != iss.Add(1+seqnum.Size(len(got))) {
			t.Fatalf("retransmission at %d, want %d", s.Seq, iss.Add(1+seqnum.Size(len(got))))
		}
		got = append(got, s.Payload...)
	}
	if len(got) != 3000 || string(got) != string(pattern(3000)) {
		t.Fatalf("resent %d bytes", len(got))
	}
	// New data goes out at the new size too.
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 3001, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c.Send(pattern(2000), 0)
	if s := e.nextTCP(); len(s.Payload) != 960 {
		t.Fatalf("new segment of %d bytes, want 960", len(s.Payload))
	}
	if st := e.st.Stats().TCP; st.ICMPErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
}
