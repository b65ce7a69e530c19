package interop

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	gipv4 "gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	gipv6 "gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/tcp"
)

// transferSize is the bytes moved by each transfer: 10 MiB, with or without
// the race detector (on two cores the package takes about 20 s without it
// and 35 s with it: the two slowest cases, about 15 s each, wait on
// retransmission timers, not on the CPU), and 1 MiB with -short.
func transferSize() int {
	if testing.Short() {
		return 1 << 20
	}
	return 10 << 20
}

const (
	// transferTimeout guards each transfer: a hang fails with both stacks'
	// state instead of running into go test's own timeout. It is a hang
	// guard, not a speed check: generous, because CI machines are loaded.
	transferTimeout = 3 * time.Minute
	// teardownTimeout bounds the wait, after a hang, for the blocked calls
	// that closing both stacks must unblock.
	teardownTimeout = 10 * time.Second
	// writeChunk is the size of each Write; it is not a multiple of the MSS.
	writeChunk = 48 << 10
	readChunk  = 32 << 10
)

// payload returns 10 MiB of a fixed pseudo-random stream.
var payload = sync.OnceValue(func() []byte {
	b := make([]byte, 10<<20)
	rand.NewChaCha8([32]byte{'t', 'a', 'p', 's', 't', 'a', 'c', 'k'}).Read(b)
	return b
})

// impairments are the link conditions every transfer runs under. Each
// applies to both directions of the pipe.
var impairments = []struct {
	name string
	im   nic.Impairment
}{
	{"loss0", nic.Impairment{Loss: 0, Duplicate: 0.01, Reorder: 0.01}},
	{"loss1", nic.Impairment{Loss: 0.01, Duplicate: 0.01, Reorder: 0.01}},
	{"loss5", nic.Impairment{Loss: 0.05, Duplicate: 0.01, Reorder: 0.01}},
}

// heavyLoss is the impairment of the heavy-loss cases: 10% loss with
// duplication and reordering, each way.
var heavyLoss = nic.Impairment{Loss: 0.10, Duplicate: 0.01, Reorder: 0.01}

// heavyLossSize is the bytes moved at heavyLoss: small enough that a case
// takes a few seconds with the race detector on two cores (at 10% loss
// each way a transfer is paced by loss recovery, not by the CPU).
const heavyLossSize = 1 << 20

// transfer is one interop case: who dials, which side sends the data.
type transfer struct {
	tapDials    bool // tapstack is the client, gVisor the server; else the other way round
	clientSends bool // the client uploads; else the server sends
	im          nic.Impairment
	seed        uint64
	size        int // bytes to move; 0 means transferSize()
	ipv6        bool
}

// The two tests run in parallel with each other: each has its own pipe and
// stacks, and their slowest cases spend most of their time waiting for
// retransmission timers.
func TestInterop_TapstackClientGVisorServer(t *testing.T) {
	t.Parallel()
	runMatrix(t, true)
}

func TestInterop_GVisorClientTapstackServer(t *testing.T) {
	t.Parallel()
	runMatrix(t, false)
}

func runMatrix(t *testing.T, tapDials bool) {
	t.Logf("transfer size %d bytes", transferSize())
	for di, dir := range []struct {
		name        string
		clientSends bool
	}{{"client_sends", true}, {"server_sends", false}} {
		for ii, im := range impairments {
			// One seed per case, the same on every run.
			seed := uint64(1000*b2i(tapDials) + 100*di + ii + 1)
			t.Run(dir.name+"/"+im.name, func(t *testing.T) {
				runTransfer(t, transfer{tapDials: tapDials, clientSends: dir.clientSends, im: im.im, seed: seed})
			})
		}
	}
}

// TestInterop_Loss10 moves data each way at 10% loss (with 1%
// duplication and 1% reordering) each way: tapstack's sender must get
// through on loss recovery (RFC 6675, RACK, TLP) rather than on backed-off
// retransmission timeouts, and its receiver must cope with gVisor's.
func TestInterop_Loss10(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name        string
		clientSends bool
		seed        uint64
	}{{"tapstack_sends", true, 2001}, {"gVisor_sends", false, 2002}} {
		t.Run(c.name, func(t *testing.T) {
			runTransfer(t, transfer{tapDials: true, clientSends: c.clientSends, im: heavyLoss, seed: c.seed, size: heavyLossSize})
		})
	}
}

// TestInterop_IPv6 moves data over IPv6 (link-local to link-local, MSS
// 1440) each way with each stack dialling, at 1% loss with duplication
// and reordering each way, checked by hash as the IPv4 cases are.
func TestInterop_IPv6(t *testing.T) {
	t.Parallel()
	im := impairments[1].im // loss1
	for _, c := range []struct {
		name                  string
		tapDials, clientSends bool
		seed                  uint64
	}{
		{"tapstack_client/client_sends", true, true, 3001},
		{"tapstack_client/server_sends", true, false, 3002},
		{"gVisor_client/client_sends", false, true, 3003},
		{"gVisor_client/server_sends", false, false, 3004},
	} {
		t.Run(c.name, func(t *testing.T) {
			runTransfer(t, transfer{tapDials: c.tapDials, clientSends: c.clientSends, im: im, seed: c.seed, ipv6: true})
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// result is what one side of a transfer saw.
type result struct {
	role string
	n    int64    // bytes written (sender) or read (receiver)
	sum  [32]byte // receiver: SHA-256 of what it read
	err  error
}

func runTransfer(t *testing.T, tr transfer) {
	size := tr.size
	if size == 0 {
		size = transferSize()
	}
	data := payload()[:size]
	want := sha256.Sum256(data)
	l := newLinkFamily(t, tr.seed, tr.im, tr.ipv6)
	t.Logf("seed %d, impairment each way %+v", tr.seed, tr.im)

	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	clientName, serverName := side(tr.tapDials), side(!tr.tapDials)
	senderName, receiverName := serverName, clientName
	if tr.clientSends {
		senderName, receiverName = clientName, serverName
	}
	var sent, recvd atomic.Int64
	role := func(c net.Conn, sends bool) result {
		if sends {
			return send(senderName, c, data, &sent)
		}
		return receive(receiverName, c, &recvd)
	}

	// Each side starts its part as soon as it has a connection, as an
	// application would: the client's first data segment may be what
	// completes the handshake if the handshake's ACK was lost.
	results := make(chan result, 2)
	start := time.Now()
	ln := listen(t, l, !tr.tapDials, tr.ipv6)
	go func() {
		c, err := ln.Accept()
		// Closing the listener here also checks that it leaves the
		// accepted connection alone.
		if cerr := ln.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing the listener: %w", cerr)
		}
		if err != nil {
			results <- result{role: serverName + " server", err: fmt.Errorf("accept: %w", err)}
			return
		}
		results <- role(c, !tr.clientSends)
	}()
	go func() {
		c, err := dial(ctx, l, tr.tapDials, tr.ipv6)
		if err != nil {
			ln.Close() // unblocks Accept
			results <- result{role: clientName + " client", err: fmt.Errorf("dial: %w", err)}
			return
		}
		results <- role(c, tr.clientSends)
	}()

	var got []result
	for len(got) < 2 {
		select {
		case r := <-results:
			got = append(got, r)
		case <-ctx.Done():
			t.Errorf("transfer of %d bytes (%s client, %s → %s) did not complete within %v: sender wrote %d, receiver read %d\n%s",
				size, clientName, senderName, receiverName, transferTimeout, sent.Load(), recvd.Load(), l.dump())
			// Closing both stacks must unblock every call.
			l.close()
			timeout := time.After(teardownTimeout)
			for len(got) < 2 {
				select {
				case r := <-results:
					got = append(got, r)
				case <-timeout:
					t.Fatalf("a blocked Accept, Dial, Read or Write did not return within %v of both stacks closing", teardownTimeout)
				}
			}
			return
		}
	}
	elapsed := time.Since(start)
	failed := false
	for _, r := range got {
		if r.err != nil {
			t.Errorf("%s: %v", r.role, r.err)
			failed = true
		}
		if r.role == receiverName+" receiver" && (r.n != int64(size) || r.sum != want) {
			t.Errorf("%s read %d bytes with SHA-256 %x, want %d bytes with %x", r.role, r.n, r.sum, size, want)
			failed = true
		}
	}
	if failed {
		t.Logf("state after the transfer:\n%s", l.dump())
		return
	}
	t.Logf("%s → %s: %d bytes in %v (handshake to close), %.1f MiB/s",
		senderName, receiverName, size, elapsed.Round(time.Millisecond), float64(size)/(1<<20)/elapsed.Seconds())
	checkCounters(t, l, tr, size)
}

func side(tap bool) string {
	if tap {
		return "tapstack"
	}
	return "gVisor"
}

// listen opens the server's listener on :5001, on tapstack or on gVisor;
// with v6 IPv6 only ("tcp6", gVisor's IPv6 protocol).
func listen(t *testing.T, l *link, tap, v6 bool) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	switch {
	case tap && v6:
		ln, err = socket.Listen(l.tap, "tcp6", fmt.Sprintf(":%d", serverPort))
	case tap:
		ln, err = socket.Listen(l.tap, "tcp", fmt.Sprintf(":%d", serverPort))
	case v6:
		ln, err = gonet.ListenTCP(l.gv, tcpip.FullAddress{NIC: gvisorNIC, Port: serverPort}, gipv6.ProtocolNumber)
	default:
		ln, err = gonet.ListenTCP(l.gv, tcpip.FullAddress{NIC: gvisorNIC, Port: serverPort}, gipv4.ProtocolNumber)
	}
	if err != nil {
		t.Fatalf("%s: listen: %v", side(tap), err)
	}
	return ln
}

// dial connects the client, from tapstack or from gVisor, to the other;
// with v6 over IPv6, link-local to link-local.
func dial(ctx context.Context, l *link, tap, v6 bool) (net.Conn, error) {
	switch {
	case tap && v6:
		// tapstack resolves gVisor's link address by neighbour discovery.
		return (&socket.Dialer{Stack: l.tap}).DialContext(ctx, "tcp6", netip.AddrPortFrom(gvLL, serverPort).String())
	case tap:
		return (&socket.Dialer{Stack: l.tap}).DialContext(ctx, "tcp", netip.AddrPortFrom(gvAddr, serverPort).String())
	case v6:
		return gonet.DialContextTCP(ctx, l.gv, tcpip.FullAddress{NIC: gvisorNIC, Addr: tcpip.AddrFrom16(l.tap.LinkLocal().As16()), Port: serverPort}, gipv6.ProtocolNumber)
	}
	return gonet.DialContextTCP(ctx, l.gv, tcpip.FullAddress{NIC: gvisorNIC, Addr: tcpip.AddrFrom4(tapPrefix.Addr().As4()), Port: serverPort}, gipv4.ProtocolNumber)
}

type closeWriter interface{ CloseWrite() error }

// send writes data, half-closes, waits for the receiver's FIN (io.EOF
// after it has checked everything) and closes.
func send(name string, c net.Conn, data []byte, sent *atomic.Int64) result {
	r := result{role: name + " sender"}
	fail := func(format string, args ...any) result {
		r.err = fmt.Errorf(format, args...)
		c.Close()
		return r
	}
	for off := 0; off < len(data); {
		n, err := c.Write(data[off:min(off+writeChunk, len(data))])
		off += n
		sent.Add(int64(n))
		r.n += int64(n)
		if err != nil {
			return fail("Write after %d bytes: %v", off, err)
		}
	}
	if err := c.(closeWriter).CloseWrite(); err != nil {
		return fail("CloseWrite: %v", err)
	}
	var buf [1]byte
	if n, err := c.Read(buf[:]); n != 0 || err != io.EOF {
		return fail("Read after CloseWrite = %d, %v; want 0, io.EOF", n, err)
	}
	if err := c.Close(); err != nil {
		r.err = fmt.Errorf("Close: %v", err)
	}
	return r
}

// receive reads until io.EOF, hashing, then closes.
func receive(name string, c net.Conn, recvd *atomic.Int64) result {
	r := result{role: name + " receiver"}
	h := sha256.New()
	buf := make([]byte, readChunk)
	for {
		n, err := c.Read(buf)
		h.Write(buf[:n])
		r.n += int64(n)
		recvd.Add(int64(n))
		if errors.Is(err, io.EOF) {
			if err != io.EOF {
				r.err = fmt.Errorf("Read: %v, want a bare io.EOF", err)
			}
			break
		}
		if err != nil {
			r.err = fmt.Errorf("Read after %d bytes: %v", r.n, err)
			c.Close()
			return r
		}
	}
	copy(r.sum[:], h.Sum(nil))
	if err := c.Close(); err != nil && r.err == nil {
		r.err = fmt.Errorf("Close: %v", err)
	}
	return r
}

// checkCounters tears the link down and checks what both stacks counted
// and where tapstack's connection ended up.
func checkCounters(t *testing.T, l *link, tr transfer, size int) {
	t.Helper()
	conns := l.tap.TCPConnections()
	gvCounters := nonZeroCounters(l.gv.Stats().TCP) // before gVisor's Close aborts what is left
	l.close()
	st := l.tapStats.TCP
	pa, pb := l.tapEnd.Stats(), l.gvEnd.Stats()
	t.Logf("pipe tapstack→gVisor: sent %d lost %d duplicated %d reordered %d overflow %d; gVisor→tapstack: sent %d lost %d duplicated %d reordered %d overflow %d",
		pa.Sent, pa.Lost, pa.Duplicated, pa.Reordered, pa.Overflow, pb.Sent, pb.Lost, pb.Duplicated, pb.Reordered, pb.Overflow)
	t.Logf("tapstack: in %d segs, out %d segs, %d RSTs, %d retransmitted, %d RTOs, %d fast recoveries, %d loss probes; gVisor: %s",
		st.InSegs, st.OutSegs, st.OutRsts, st.RetransSegs, st.Timeouts, st.Recoveries, st.LossProbes, gvCounters)
	if pa.Overflow != 0 || pb.Overflow != 0 {
		// Not a failure: the pipe dropped more than the seed decided.
		t.Logf("the pipe's queue overflowed (%d, %d frames): the loss pattern is not the seed's alone", pa.Overflow, pb.Overflow)
	}

	// tapstack's sender repairs losses by loss recovery (fast retransmit
	// and recovery, RFC 5681 §3.2, RFC 6675; RACK-TLP, RFC 8985), not by
	// waiting for retransmission timeouts: at most one RTO per two
	// segments retransmitted (a sender left to its timer retransmits
	// about one segment per RTO; tapstack's ratio here is about 1 in 8 at
	// worst). Timing varies from run to run, and with the machine's load;
	// the loss pattern does not (the seed). The bound has room for both.
	if tapSends := tr.tapDials == tr.clientSends; tapSends && tr.im.Loss > 0 {
		if st.Recoveries == 0 || 2*st.Timeouts > st.RetransSegs {
			t.Errorf("tapstack sender: %d RTOs, %d fast recoveries, %d segments retransmitted: want recoveries and at most one RTO per 2 retransmissions",
				st.Timeouts, st.Recoveries, st.RetransSegs)
		}
	}

	// tapstack's sender builds segments of several MSS (GSO, IPv4 only);
	// the Pipe has no TSO, so the stack cut them into wire-sized
	// datagrams, and the impairments acted on those.
	if o := l.tapStats.Offload; tr.tapDials == tr.clientSends && !tr.ipv6 && (o.SoftGSOOut == 0 || o.SoftGSOSegsOut <= o.SoftGSOOut || o.TSOOut != 0) {
		t.Errorf("tapstack sender: offload %+v; want segments of several MSS cut by the stack", o)
	}

	// A clean transfer sends no RST but, perhaps, the answer to a late copy
	// of the final ACK (see finRST). Each stack's counter must agree with
	// what it was seen to send.
	tapBad, tapRSTs := l.tapRST.check()
	gvBad, gvRSTs := l.gvRST.check()
	for _, r := range tapBad {
		t.Errorf("tapstack sent %v in a transfer that closed cleanly (its FINs: %v)", r, l.tapRST.fins)
	}
	for _, r := range gvBad {
		t.Errorf("gVisor sent %v in a transfer that closed cleanly (its FINs: %v)", r, l.gvRST.fins)
	}
	if st.OutRsts != uint64(tapRSTs) {
		t.Errorf("tapstack counted %d RSTs sent (OutRsts) but was seen to send %d", st.OutRsts, tapRSTs)
	}
	if l.gvResetsSent != uint64(gvRSTs) {
		t.Errorf("gVisor counted %d RSTs sent but was seen to send %d", l.gvResetsSent, gvRSTs)
	}
	if tapRSTs+gvRSTs > 0 {
		t.Logf("RSTs answering a late copy of the final ACK: tapstack %d, gVisor %d", tapRSTs, gvRSTs)
	}

	// tapstack's connection: the sender closed first, so it ends in
	// TIME-WAIT (the receiver's FIN acknowledged its own: RFC 9293
	// Figure 12 without FIN-WAIT-2), unless gVisor's RST above reached it
	// there (RFC 9293 §3.10.7.4: a RST in TIME-WAIT closes). The receiver
	// ends in LAST-ACK until the final ACK arrives, then leaves the table.
	tapSends := tr.tapDials == tr.clientSends
	switch {
	case len(conns) > 1:
		t.Errorf("tapstack has %d connections after one transfer: %+v", len(conns), conns)
	case tapSends && len(conns) == 0 && gvRSTs == 0:
		t.Errorf("tapstack sender: no connection left, want one in TIME-WAIT")
	case tapSends && len(conns) == 1 && conns[0].State != tcp.StateTimeWait:
		t.Errorf("tapstack sender: connection in %v, want TIME-WAIT", conns[0].State)
	case tapSends && len(conns) == 1 && (conns[0].BytesSent != uint64(size) || conns[0].BytesReceived != 0):
		t.Errorf("tapstack sender: sent %d bytes, received %d; want %d, 0", conns[0].BytesSent, conns[0].BytesReceived, size)
	case !tapSends && len(conns) == 1 && conns[0].State != tcp.StateLastAck:
		t.Errorf("tapstack receiver: connection in %v, want LAST-ACK or gone", conns[0].State)
	case !tapSends && len(conns) == 1 && (conns[0].BytesReceived != uint64(size) || conns[0].BytesSent != 0):
		t.Errorf("tapstack receiver: received %d bytes, sent %d; want %d, 0", conns[0].BytesReceived, conns[0].BytesSent, size)
	}
	for _, c := range conns {
		t.Logf("tapstack connection at the end: %v, %d retransmits, RTO %v; %d timeouts, %d recoveries (%d started by RACK), %d lost retransmissions resent, %d loss probes",
			c.State, c.Retransmits, c.RTO, c.Timeouts, c.Recoveries, c.RACKRecoveries, c.RACKRetransmits, c.LossProbes)
	}

	wantActive, wantPassive := uint64(0), uint64(1)
	if tr.tapDials {
		wantActive, wantPassive = 1, 0
	}
	if st.ActiveOpens != wantActive || st.PassiveOpens != wantPassive {
		t.Errorf("tapstack: ActiveOpens %d, PassiveOpens %d; want %d, %d", st.ActiveOpens, st.PassiveOpens, wantActive, wantPassive)
	}
	if st.AttemptFails != 0 || st.EstabResets != 0 {
		t.Errorf("tapstack: AttemptFails %d, EstabResets %d; want 0, 0", st.AttemptFails, st.EstabResets)
	}
	if st.InErrs != 0 || st.InCsumErrors != 0 {
		t.Errorf("tapstack: InErrs %d, InCsumErrors %d; want 0, 0", st.InErrs, st.InCsumErrors)
	}
	// The family the case asked for carried the segments.
	ip4, ip6 := l.tapStats.IPv4.InDelivers, l.tapStats.IPv6.InDelivers
	if tr.ipv6 && (ip4 != 0 || ip6 < st.InSegs) || !tr.ipv6 && ip4 < st.InSegs {
		t.Errorf("tapstack: %d IPv4 and %d IPv6 packets delivered for %d segments, over IPv6: %v", ip4, ip6, st.InSegs, tr.ipv6)
	}
}
