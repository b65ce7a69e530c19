package stack_test

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// TestLoopback_OneUnlockDeliversAtMost1024_TheRestLater: datagrams the
// stack sends to its own address are delivered when the lock is released,
// at most 1024 at a time (so that two local endpoints answering each
// other cannot keep one caller inside the stack for ever); what is left
// is delivered at the next release, none lost. A TCP transfer to
// ourselves makes far more than 1024 (segments and their ACKs) out of one
// Write.
func TestLoopback_OneUnlockDeliversAtMost1024_TheRestLater(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) {
		c.TCP = tcp.Config{MSS: 1460, RcvBuf: 16 << 20, SndBuf: 16 << 20, SndBufLocked: true} // one Write queues it all
	})
	l, _ := e.st.NewTCPEndpoint()
	defer l.Close()
	l.Bind(netip.AddrPortFrom(stackIP, stackPort), false)
	l.Listen(1)
	c, _ := e.st.NewTCPEndpoint()
	defer c.Close()
	if err := c.Connect(netip.AddrPortFrom(stackIP, stackPort)); !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("Connect: %v", err)
	}
	if err := c.ConnectResult(); err != nil {
		t.Fatalf("connect to ourselves: %v, want established (the handshake is looped back at once)", err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e.none() // never on the wire

	const size = 8 << 20
	before := e.st.Stats().IPv4.InReceives
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>13) // a pattern that shows a misplaced or stale byte
	}
	if n, err := c.Write(data); n != size || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	// Stats snapshots before its own unlock delivers the next share.
	if got := e.st.Stats().IPv4.InReceives - before; got != 1024 {
		t.Fatalf("one Write's unlock delivered %d datagrams to ourselves, want the budget, 1024", got)
	}
	// Every later release delivers more, until the transfer is done
	// (each Read releases the lock once).
	got := 0
	buf := make([]byte, 1<<20)
	for i := 0; i < 100000 && got < size; i++ {
		n, err := s.Read(buf, false)
		if err != nil && !errors.Is(err, syscall.EAGAIN) {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], data[got:got+n]) {
			t.Fatalf("bytes %d..%d read from ourselves differ from those written", got, got+n)
		}
		got += n
	}
	if got != size {
		t.Fatalf("read %d bytes of %d sent to ourselves", got, size)
	}
}

// TestLoopback_QueueBoundedAt4096_BeyondENOBUFSAndOutDiscards: at most
// 4096 datagrams to ourselves wait for delivery (a bound, as every queue
// has); one more is refused with ENOBUFS (no buffer space) and counted as
// an output discard (RFC 4293 ipSystemStatsOutDiscards: "discarded (e.g.,
// for lack of buffer space)"). Those queued are all delivered, 1024 at
// each release of the lock.
func TestLoopback_QueueBoundedAt4096_BeyondENOBUFSAndOutDiscards(t *testing.T) {
	e := newEnv(t)
	reply := echoRequest(0xbeef, 1, nil) // an echo reply no ping socket waits for: dropped on delivery
	ipv4.ICMP(reply).SetType(ipv4.TypeEchoReply)
	ipv4.ICMP(reply).SetChecksum()
	datagram := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Src: stackIP, Dst: stackIP}, reply)[ethernet.HeaderLen:]

	errs := e.st.SendToSelfTest(datagram, 4097)
	for i, err := range errs[:4096] {
		if err != nil {
			t.Fatalf("datagram %d to ourselves: %v, want queued (4096 may wait)", i+1, err)
		}
	}
	if !errors.Is(errs[4096], syscall.ENOBUFS) {
		t.Fatalf("datagram 4097 to ourselves: %v, want ENOBUFS (the queue holds 4096)", errs[4096])
	}
	// Each Stats call snapshots, then its release delivers the next 1024.
	for i, want := range []uint64{1024, 2048, 3072, 4096, 4096} {
		st := e.st.Stats().IPv4
		if st.OutDiscards != 1 || st.InReceives != want {
			t.Fatalf("release %d: %d discarded, %d delivered; want 1 and %d", i+1, st.OutDiscards, st.InReceives, want)
		}
	}
	e.none() // never on the wire
}
