package stack_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// TCP when ARP resolution of the next hop fails (RFC 1122 §2.3.2.2: the
// queued segments are reported to their sender as ICMP host unreachable):
// a connect fails with EHOSTUNREACH when the ARP cache gives up, as on
// Linux; an established connection takes it as a soft error and retries.

// arpGiveUp is when the ARP cache gives up on an address nobody answers:
// arp.DefaultMaxRetries requests arp.DefaultRetransmitInterval apart, then
// one more interval for the last answer.
const arpGiveUp = arp.DefaultMaxRetries * arp.DefaultRetransmitInterval

func TestTCP_ConnectToSilentOnLinkHost_EHOSTUNREACHWhenARPGivesUp(t *testing.T) {
	e := newEnv(t)
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer fd.Close()
	if err := fd.Connect(netip.AddrPortFrom(otherIP, 80)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	if _, h := nextARP(e); h.TargetIP() != otherIP {
		t.Fatalf("resolving %v, want %v", h.TargetIP(), otherIP)
	}
	// Until the cache gives up, the connect is in progress (the SYN and its
	// retransmissions wait in the ARP queue; RFC 1122 §2.3.2.1 one request
	// a second).
	e.clk.Advance(arpGiveUp - time.Millisecond)
	if err := soError(t, fd); err != nil {
		t.Fatalf("SO_ERROR = %v before ARP gave up", err)
	}
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateSynSent {
		t.Fatalf("connections %+v, want one in SYN-SENT", cs)
	}
	// At the give-up the connect fails at once with EHOSTUNREACH (Linux:
	// arp_error_report → ICMP host unreachable → tcp_v4_err aborts
	// SYN-SENT), not after the SYN retries (127 s) with ETIMEDOUT.
	e.clk.Advance(time.Millisecond)
	if err := soError(t, fd); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("SO_ERROR = %v at the ARP give-up, want EHOSTUNREACH", err)
	}
	if cs := e.st.TCPConnections(); len(cs) != 0 {
		t.Fatalf("connection left: %+v", cs)
	}
	e.drain()
	e.clk.Advance(time.Minute)
	e.none() // no more SYNs, so no more ARP requests
	if st := e.st.Stats(); st.ARP.ResolutionFailed == 0 || st.TCP.ICMPErrors != 1 {
		t.Fatalf("stats ARP %+v TCP ICMPErrors %d", st.ARP, st.TCP.ICMPErrors)
	}
}

func TestTCP_DialSilentOnLinkHost_OpErrorMatchingEHOSTUNREACH(t *testing.T) {
	e := newEnv(t)
	got := make(chan error, 1)
	go func() {
		c, err := socket.Dial(e.st, "tcp", netip.AddrPortFrom(otherIP, 80).String())
		if c != nil {
			c.Close()
		}
		got <- err
	}()
	// The ARP request is on the wire once Dial has sent its SYN.
	frames := make(chan []byte, 1)
	go func() {
		fs := []nic.Frame{{Data: make([]byte, 0, e.peer.Info().MaxFrame)}}
		if n, err := e.peer.Read(fs); err == nil && n == 1 {
			frames <- fs[0].Data
		}
		close(frames)
	}()
	select {
	case f := <-frames:
		if eth, err := ethernet.Parse(f); err != nil || eth.Type() != ethernet.TypeARP {
			t.Fatalf("first frame %x, want an ARP request", f)
		}
	case err := <-got:
		t.Fatalf("Dial returned %v before resolving", err)
	}
	// The request is written while the stack holds its lock, before the
	// ARP deadline is armed; taking the lock (any locked call) waits for
	// that, so the clock does not move past a deadline not yet armed.
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateSynSent {
		t.Fatalf("connections %+v, want one in SYN-SENT", cs)
	}
	e.clk.Advance(arpGiveUp)
	var err error
	select {
	case err = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("Dial still blocked after the ARP cache gave up")
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("Dial: %v, want a *net.OpError matching EHOSTUNREACH", err)
	}
}

// neighborFails establishes a connection with "hello" in flight, then the
// peer stops answering ARP: it advances the clock until a resolution of the
// peer fails with a segment of the connection queued.
func neighborFails(t *testing.T) (*env, *socket.FD, seqnum.Value) {
	t.Helper()
	e := newEnv(t)
	c, iss := established(t, e)
	c.Send([]byte("hello"), 0)
	e.nextTCPDatagram()
	for i := 0; i < 600 && e.st.Stats().TCP.ICMPErrors == 0; i++ {
		e.clk.Advance(time.Second)
		e.drain()
	}
	if st := e.st.Stats(); st.TCP.ICMPErrors != 1 || st.ARP.ResolutionFailed == 0 {
		t.Fatalf("no failed resolution reached the connection in 10 minutes: ARP %+v", st.ARP)
	}
	return e, c, iss
}

func TestTCP_EstablishedNeighborFails_SoftErrorAndRetransmissionsGoOn(t *testing.T) {
	e, c, iss := neighborFails(t)
	// RFC 1122 §4.2.3.9 and Linux tcp_v4_err: a soft error once
	// synchronized. The connection stays, nothing is reported yet...
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateEstablished {
		t.Fatalf("connections %+v, want it ESTABLISHED", cs)
	}
	if _, err := c.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Recv: %v, want EAGAIN: a soft error is not reported at once", err)
	}
	// ...and the next retransmission resolves the peer afresh. When the peer
	// is back, the data gets through.
	var req arp.Header
	for i := 0; i < 300 && req == nil; i++ {
		e.clk.Advance(time.Second)
		for f, ok := e.peer.TryRead(); ok; f, ok = e.peer.TryRead() {
			if eth, _ := ethernet.Parse(f); eth.Type() == ethernet.TypeARP {
				req, _ = arp.Parse(eth.Payload())
			}
		}
	}
	if req == nil || req.TargetIP() != peerIP {
		t.Fatalf("no new ARP request for %v after the failure", peerIP)
	}
	e.inject(arpFrame(arp.OpReply, peerMAC, peerIP, stackMAC, stackIP, stackMAC))
	seg := e.nextTCP()
	if seg.Seq != iss+1 || string(seg.Payload) != "hello" {
		t.Fatalf("released %v %q, want the retransmission of hello", &seg, seg.Payload)
	}
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 6, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].State != tcp.StateEstablished {
		t.Fatalf("connections %+v after the ACK", cs)
	}
}

func TestTCP_EstablishedNeighborNeverAnswers_TimesOutWithEHOSTUNREACH(t *testing.T) {
	e, c, _ := neighborFails(t)
	// The retransmissions go on to R2 (RFC 1122 §4.2.3.5); then the soft
	// error is reported in place of ETIMEDOUT, as Linux's tcp_write_err.
	giveUp(e)
	if _, err := c.Recv(make([]byte, 10), 0); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("Recv after the timeout: %v, want EHOSTUNREACH", err)
	}
}
