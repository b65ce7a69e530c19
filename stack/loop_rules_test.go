package stack_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The receive loop (Start): frames read in batches, each handled inline,
// the ACKs a batch owes sent once per connection at its end; a device
// error that is not the device closing is logged and reading goes on.

// waitFrame polls, for at most 10 s, for the next frame the stack sent
// from its own goroutine.
func (e *env) waitFrame() ethernet.Header {
	e.t.Helper()
	return waitFrameOn(e.t, e.peer)
}

func waitFrameOn(t testing.TB, peer *nic.PipeEnd) ethernet.Header {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for {
		if f, ok := peer.TryRead(); ok {
			return ethernet.Header(f)
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatal("the stack sent nothing within 10s")
		}
	}
}

// TestLoop_Batch_EveryFrameHandled_OneACKPerConnection: the loop handles
// every frame of a batch (each counted once), and a connection that got
// several segments in it sends one ACK for all of them at the batch's end
// (tcp.Conn.HandleSegmentBatch; the receive-side coalescing Linux gets
// from GRO), not one per two full segments (RFC 1122 §4.2.3.2).
func TestLoop_Batch_EveryFrameHandled_OneACKPerConnection(t *testing.T) {
	e := newEnv(t, longARP)
	_, iss := established(t, e)
	e.st.Start()
	if eth := e.waitFrame(); eth.Type() != ethernet.TypeARP {
		t.Fatalf("first frame after Start: %v, want the gratuitous ARP", eth.Type())
	}
	before := e.st.Stats().Link.FramesIn
	seq := peerISS + 1
	var batch []nic.Frame
	for range 3 {
		batch = append(batch, nic.Frame{Data: tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, pattern(1460))})
		seq += 1460
	}
	if n, err := e.peer.Write(batch); n != 3 || err != nil {
		t.Fatalf("peer Write = %d, %v", n, err)
	}
	eth := e.waitFrame()
	ip, _ := ipv4.Parse(eth.Payload())
	ack, err := tcp.Decode(ip.Payload(), ip.Src(), ip.Dst(), true)
	if err != nil || ack.Flags != tcp.FlagACK || ack.Ack != seq {
		t.Fatalf("first reply to the batch: %v (%v), want one ACK of all three segments, ack=%d", &ack, err, seq)
	}
	if got := e.st.Stats().Link.FramesIn - before; got != 3 {
		t.Errorf("FramesIn moved by %d for a batch of 3", got)
	}
	e.none()
}

// flakyDevice is a Pipe end whose reads fail as told: once with a
// transient error, and with a non-nic.ErrClosed error once it is closed
// (as a TAP's read returns EBADF or os.ErrClosed rather than ours).
type flakyDevice struct {
	*nic.PipeEnd
	mu        sync.Mutex
	transient bool
}

func (d *flakyDevice) Read(fs []nic.Frame) (int, error) {
	d.mu.Lock()
	if d.transient {
		d.transient = false
		d.mu.Unlock()
		return 0, errors.New("flaky: transient read error")
	}
	d.mu.Unlock()
	n, err := d.PipeEnd.Read(fs)
	if err != nil {
		return n, os.ErrClosed
	}
	return n, nil
}

// TestLoop_DeviceErrors_TransientLoggedAndReadOn_ClosedEnds: a read error
// is logged and the loop reads on; once the stack is closed, an error
// from the closed device (whatever it is) ends the loop, so Close returns.
func TestLoop_DeviceErrors_TransientLoggedAndReadOn_ClosedEnds(t *testing.T) {
	var log syncBuffer
	a, b := nic.NewPipe(nic.PipeConfig{MACA: stackMAC, MACB: peerMAC})
	defer b.Close()
	dev := &flakyDevice{PipeEnd: a, transient: true}
	st, err := stack.New(dev, stack.Config{Addr: netip.PrefixFrom(stackIP, 24), Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	st.Start()        // its first read fails
	waitFrameOn(t, b) // the gratuitous ARP
	b.Write([]nic.Frame{{Data: arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast)}})
	if eth := waitFrameOn(t, b); eth.Type() != ethernet.TypeARP {
		t.Fatalf("got %v, want the ARP reply: the loop must read on after a transient error", eth.Type())
	}
	if !strings.Contains(log.String(), "device read failed") {
		t.Errorf("the transient error was not logged: %q", log.String())
	}
	// Closing: the device's reads now fail with os.ErrClosed, not
	// nic.ErrClosed; the loop must still end for Close to return.
	closeWithin(t, st)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
