package stack_test

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// The packet-level harness: a stack on one end of a Pipe with a manual
// clock. The test plays the peer on the other end: it injects crafted frames
// with HandleFrame (processed synchronously) and reads what the stack sent
// with TryRead, so every assertion is deterministic and instant.

var (
	epoch    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stackIP  = netip.MustParseAddr("10.0.0.2")
	peerIP   = netip.MustParseAddr("10.0.0.1")
	otherIP  = netip.MustParseAddr("10.0.0.77")
	remoteIP = netip.MustParseAddr("192.0.2.9") // off-link, via the gateway
	peerMAC  = ethernet.MAC{0x02, 0, 0, 0, 0, 0x01}
	stackMAC = ethernet.MAC{0x02, 0, 0, 0, 0, 0x02}
)

type env struct {
	t        testing.TB
	clk      *clock.Manual
	st       *stack.Stack
	peer     *nic.PipeEnd
	listener *socket.FD // set by established
}

func newEnv(t testing.TB, mutate ...func(*stack.Config, *nic.PipeConfig)) *env {
	t.Helper()
	clk := clock.NewManual(epoch)
	cfg := stack.Config{
		Addr:    netip.MustParsePrefix("10.0.0.2/24"),
		Gateway: peerIP,
		Clock:   clk,
		Logger:  slog.New(slog.DiscardHandler),
		// IPv6 addresses usable at once; the DAD tests turn it on.
		DupAddrDetectTransmits: -1,
	}
	pcfg := nic.PipeConfig{MTU: 1500, MACA: stackMAC, MACB: peerMAC, Clock: clk, QueueLen: 4096}
	for _, m := range mutate {
		m(&cfg, &pcfg)
	}
	a, b := nic.NewPipe(pcfg)
	st, err := stack.New(a, cfg)
	if err != nil {
		t.Fatalf("stack.New: %v", err)
	}
	t.Cleanup(func() { st.Close(); b.Close() })
	return &env{t: t, clk: clk, st: st, peer: b}
}

// inject hands a frame to the stack as if it came from the wire
// (HandleFrame; HandleFrameTest so that a panic fails the test at once).
func (e *env) inject(frame []byte) { e.st.HandleFrameTest(frame, nic.Meta{}) }

// next returns the next frame the stack sent, failing if there is none.
func (e *env) next() ethernet.Header {
	e.t.Helper()
	f, ok := e.peer.TryRead()
	if !ok {
		e.t.Fatalf("the stack sent nothing; stats: %+v", e.st.Stats())
	}
	h, err := ethernet.Parse(f)
	if err != nil {
		e.t.Fatalf("the stack sent a bad frame: %v", err)
	}
	return h
}

// none asserts the stack sent nothing more.
func (e *env) none() {
	e.t.Helper()
	if f, ok := e.peer.TryRead(); ok {
		e.t.Fatalf("the stack sent an unexpected frame: % x", f)
	}
}

// drain discards everything the stack sent so far.
func (e *env) drain() {
	for {
		if _, ok := e.peer.TryRead(); !ok {
			return
		}
	}
}

// nextIPv4 returns the next frame as a parsed IPv4 datagram.
func (e *env) nextIPv4() ipv4.Header {
	e.t.Helper()
	eth := e.next()
	if eth.Type() != ethernet.TypeIPv4 {
		e.t.Fatalf("got a %v frame, want IPv4", eth.Type())
	}
	if eth.Dst() != peerMAC || eth.Src() != stackMAC {
		e.t.Fatalf("IPv4 frame %v -> %v, want %v -> %v", eth.Src(), eth.Dst(), stackMAC, peerMAC)
	}
	h, err := ipv4.Parse(eth.Payload())
	if err != nil {
		e.t.Fatalf("the stack sent a bad IPv4 datagram: %v", err)
	}
	return h
}

// nextICMP returns the next frame as an ICMP message and its IP header.
func (e *env) nextICMP() (ipv4.Header, ipv4.ICMP) {
	e.t.Helper()
	h := e.nextIPv4()
	if h.Protocol() != ipv4.ProtoICMP {
		e.t.Fatalf("got IP protocol %d, want ICMP", h.Protocol())
	}
	m, err := ipv4.ParseICMP(h.Payload())
	if err != nil {
		e.t.Fatalf("the stack sent a bad ICMP message: %v", err)
	}
	return h, m
}

// learnPeer makes the stack learn the peer's MAC from an ARP request and
// discards the reply, so IPv4 output goes straight out.
func (e *env) learnPeer() {
	e.t.Helper()
	e.inject(arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast))
	if eth := e.next(); eth.Type() != ethernet.TypeARP {
		e.t.Fatalf("want the ARP reply, got %v", eth.Type())
	}
}

// --- frame builders (the peer's side) ---

func arpFrame(op arp.Op, sha ethernet.MAC, spa netip.Addr, tha ethernet.MAC, tpa netip.Addr, dst ethernet.MAC) []byte {
	b := make([]byte, ethernet.HeaderLen+arp.HeaderLen)
	ethernet.Encode(b, dst, sha, ethernet.TypeARP)
	arp.Encode(b[ethernet.HeaderLen:], op, sha, spa, tha, tpa)
	return b
}

// ipFrame wraps payload in IPv4 (fields filled in where zero) and Ethernet.
func ipFrame(f ipv4.Fields, payload []byte) []byte {
	if f.TTL == 0 {
		f.TTL = 64
	}
	if !f.Src.IsValid() {
		f.Src = peerIP
	}
	if !f.Dst.IsValid() {
		f.Dst = stackIP
	}
	hl := ipv4.HeaderMinLen + len(f.Options)
	f.TotalLen = hl + len(payload)
	b := make([]byte, ethernet.HeaderLen+f.TotalLen)
	dst := stackMAC
	if f.Dst == netip.MustParseAddr("10.0.0.255") || f.Dst == netip.MustParseAddr("255.255.255.255") {
		dst = ethernet.Broadcast
	}
	ethernet.Encode(b, dst, peerMAC, ethernet.TypeIPv4)
	ipv4.Encode(b[ethernet.HeaderLen:], f)
	copy(b[ethernet.HeaderLen+hl:], payload)
	return b
}

func echoRequest(id, seq uint16, data []byte) []byte {
	m := make(ipv4.ICMP, ipv4.ICMPHeaderLen+len(data))
	m.SetType(ipv4.TypeEcho)
	m.SetIdent(id)
	m.SetSeq(seq)
	copy(m[8:], data)
	m.SetChecksum()
	return m
}

func udpDatagram(src, dst netip.AddrPort, payload []byte) []byte {
	u := make(udp.Header, udp.HeaderLen+len(payload))
	udp.Encode(u, src.Port(), dst.Port(), len(payload))
	copy(u[udp.HeaderLen:], payload)
	u.ComputeChecksumIPv4(src.Addr(), dst.Addr())
	return u
}

// fragments splits the IP datagram in frame (an ipFrame result) at mtu and
// returns one frame per fragment.
func fragments(t testing.TB, frame []byte, mtu int) [][]byte {
	t.Helper()
	h, err := ipv4.Parse(frame[ethernet.HeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	err = ipv4.Fragment(h, mtu, func(hdr, payload []byte) error {
		b := make([]byte, ethernet.HeaderLen+len(hdr)+len(payload))
		copy(b, frame[:ethernet.HeaderLen])
		copy(b[ethernet.HeaderLen:], hdr)
		copy(b[ethernet.HeaderLen+len(hdr):], payload)
		out = append(out, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// waitBlockedIn waits, for at most 10 s, until a goroutine is parked on a
// channel (in a select or a receive) inside the function fn (as it
// appears in a stack trace, e.g. "socket.(*FD).RecvFrom"). A test that
// means to wake a blocked call calls it first, so that the call really is
// blocked rather than not yet started: otherwise the wake-up could come
// first and the call would return without ever waiting.
func waitBlockedIn(t testing.TB, fn string) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if (strings.Contains(header, "[select") || strings.Contains(header, "[chan receive")) && strings.Contains(g, fn+"(") {
				return
			}
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("no goroutine blocked in %s after 10s:\n%s", fn, buf[:n])
		}
	}
}

// result waits, for at most 10 s, for the error a blocked call sends on ch.
func result(t testing.TB, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return within 10s", what)
		return nil
	}
}
