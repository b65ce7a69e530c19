package stack_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// TCP memory (Config.TCPMemoryLimit, Linux's tcp_mem): once the rings of
// all connections reach the limit, new connections are refused (SYNs
// dropped, connects ENOBUFS), in-order data beyond a ring is dropped and
// counted; once the reader frees the memory, connections are accepted
// again.
func TestTCP_MemoryLimit_RefusesConnectionsUntilMemoryIsFreed(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.TCPMemoryLimit = 16 << 10 })
	c, iss := established(t, e)
	seq := peerISS + 1
	for range 16 { // 16000 bytes: the ring grows 4 → 8 → 16 KiB, the limit
		e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, pattern(1000)))
		seq += 1000
	}
	e.drain()
	st := e.st.Stats().TCP
	if st.MemUsedBytes != 16<<10 || st.MemUnderPressure != 1 || st.MemPressures != 1 {
		t.Fatalf("memory after 16000 unread bytes: %+v", st)
	}

	e.inject(tcpFrame(tcp.Segment{SrcPort: peerPort + 1, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	e.none() // dropped, not reset: the peer retries later
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer fd.Close()
	if err := fd.Connect(netip.AddrPortFrom(peerIP, 9)); !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("Connect at the memory limit: %v, want ENOBUFS", err)
	}
	if got := e.st.Stats().TCP.MemLimitDrops; got != 2 {
		t.Fatalf("MemLimitDrops = %d, want 2", got)
	}

	// 1000 more bytes: only the 384 the ring has room for are kept, and
	// the ACK says so at once.
	e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, pattern(1000)))
	ack := e.nextTCP()
	if ack.Ack != peerISS+1+16384 {
		t.Fatalf("ACK %d, want %d: the bytes kept", ack.Ack, peerISS+1+16384)
	}
	if got := e.st.Stats().TCP.RecvQueueDrops; got != 1 {
		t.Fatalf("RecvQueueDrops = %d, want 1", got)
	}

	buf := make([]byte, 1<<20)
	if n, err := c.Recv(buf, 0); n != 16384 || err != nil {
		t.Fatalf("Read = %d, %v; want 16384", n, err)
	}
	if m := e.st.Stats().TCP; m.MemUsedBytes != 0 || m.MemUnderPressure != 0 {
		t.Fatalf("memory after the reader drained it: %+v", m)
	}
	e.drain() // the window update
	e.inject(tcpFrame(tcp.Segment{SrcPort: peerPort + 1, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
	if s := e.nextTCP(); s.Flags != tcp.FlagSYN|tcp.FlagACK {
		t.Fatalf("SYN after memory was freed: got %v, want a SYN-ACK", &s)
	}
}

// SO_RCVBUF and SO_SNDBUF are capped at Config.MaxSocketBuffer before they
// are doubled, as Linux caps them at net.core.rmem_max and wmem_max; left
// unset (0), the cap is Linux's default rmem_max and wmem_max, 212992.
func TestSocket_BufferSizes_CappedByMaxSocketBuffer(t *testing.T) {
	for _, tc := range []struct {
		max, want int
	}{{100000, 200000}, {0, 2 * 212992}} {
		e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.MaxSocketBuffer = tc.max })
		fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_STREAM, 0)
		defer fd.Close()
		for _, opt := range []int{socket.SO_RCVBUF, socket.SO_SNDBUF} {
			if err := fd.SetsockoptInt(socket.SOL_SOCKET, opt, 1<<30); err != nil {
				t.Fatal(err)
			}
			if got, _ := fd.GetsockoptInt(socket.SOL_SOCKET, opt); got != tc.want {
				t.Fatalf("MaxSocketBuffer %d: option %d set to 1 GiB reads back %d, want %d", tc.max, opt, got, tc.want)
			}
		}
	}
}

// The daemon's /stats page is the JSON of Stats, and outside rigs read each
// layer as a flat object of counters: no nested objects, no strings.
func TestStats_JSONIsFlatNumbersPerLayer(t *testing.T) {
	e := newEnv(t)
	b, err := json.Marshal(e.st.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var layers map[string]map[string]uint64
	if err := json.Unmarshal(b, &layers); err != nil {
		t.Fatalf("/stats is not layers of flat counters: %v\n%s", err, b)
	}
	if _, ok := layers["tcp"]["mem_used_bytes"]; !ok {
		t.Fatalf("tcp.mem_used_bytes missing: %s", b)
	}
}
