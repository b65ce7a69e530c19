package udp

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
)

var (
	peerA = netip.MustParseAddrPort("10.0.0.1:40000")
	peerB = netip.MustParseAddrPort("10.0.0.3:53")
)

func mustDequeue(t *testing.T, e *Endpoint, b []byte) (n, full int, from netip.AddrPort) {
	t.Helper()
	n, full, from, ok := e.Dequeue(b)
	if !ok {
		t.Fatal("Dequeue: queue empty")
	}
	return n, full, from
}

func TestNewEndpoint_NonPositiveSize_UsesLinuxDefault(t *testing.T) {
	e := NewEndpoint(0)
	n := 0
	for e.Enqueue(make([]byte, 1000), peerA) {
		n++
	}
	if want := DefaultRcvBuf / (1000 + DatagramOverhead); n != want {
		t.Fatalf("queued %d datagrams of 1000 bytes, want %d", n, want)
	}
}

func TestEnqueue_QueueFull_RefusesAndCountsDrops(t *testing.T) {
	e := NewEndpoint(3 * (100 + DatagramOverhead))
	for i := range 3 {
		if !e.Enqueue(make([]byte, 100), peerA) {
			t.Fatalf("datagram %d refused below the bound", i)
		}
	}
	if e.Enqueue(make([]byte, 1), peerA) || e.Enqueue(nil, peerA) {
		t.Fatal("Enqueue accepted past the bound")
	}
	if d, b := e.Queued(); d != 3 || b != 300 {
		t.Fatalf("Queued = %d, %d; want 3, 300", d, b)
	}
	if got := e.Drops(); got != 2 {
		t.Fatalf("Drops = %d, want 2", got)
	}
	// Room again after a Dequeue.
	mustDequeue(t, e, nil)
	if !e.Enqueue(make([]byte, 100), peerA) {
		t.Fatal("Enqueue refused after Dequeue made room")
	}
}

func TestEnqueue_EmptyDatagrams_ChargedOverheadSoBounded(t *testing.T) {
	e := NewEndpoint(10 * DatagramOverhead)
	n := 0
	for e.Enqueue(nil, peerA) {
		n++
	}
	if n != 10 {
		t.Fatalf("queued %d empty datagrams, want 10", n)
	}
}

func TestEnqueue_EmptyQueueSmallBuffer_AcceptsOneOversizedDatagram(t *testing.T) {
	e := NewEndpoint(100)
	if !e.Enqueue(make([]byte, 1000), peerA) {
		t.Fatal("empty queue refused a datagram larger than the bound")
	}
	if e.Enqueue([]byte{1}, peerA) {
		t.Fatal("second datagram accepted past the bound")
	}
	if _, full, _ := mustDequeue(t, e, nil); full != 1000 {
		t.Fatalf("full = %d, want 1000", full)
	}
}

func TestDequeue_ManyDatagrams_ComeOutInFIFOOrderWithSource(t *testing.T) {
	e := NewEndpoint(0)
	for i := range 100 {
		from := peerA
		if i%3 == 0 {
			from = peerB
		}
		if !e.Enqueue([]byte{byte(i), byte(i)}, from) {
			t.Fatal("refused")
		}
	}
	buf := make([]byte, 10)
	for i := range 100 {
		n, full, from := mustDequeue(t, e, buf)
		want := peerA
		if i%3 == 0 {
			want = peerB
		}
		if n != 2 || full != 2 || buf[0] != byte(i) || from != want {
			t.Fatalf("datagram %d: n=%d full=%d data=%x from=%v", i, n, full, buf[:n], from)
		}
	}
	if _, _, _, ok := e.Dequeue(buf); ok {
		t.Fatal("Dequeue ok on empty queue")
	}
}

func TestDequeue_ShortBuffer_TruncatesAndDiscardsRest(t *testing.T) {
	e := NewEndpoint(0)
	e.Enqueue([]byte("hello, world"), peerA)
	e.Enqueue([]byte("next"), peerB)
	buf := make([]byte, 5)
	n, full, from := mustDequeue(t, e, buf)
	if n != 5 || full != 12 || string(buf) != "hello" || from != peerA {
		t.Fatalf("got n=%d full=%d %q from %v; want 5, 12, \"hello\", %v", n, full, buf[:n], from, peerA)
	}
	// The rest of the truncated datagram is gone (MSG_TRUNC semantics).
	n, full, from = mustDequeue(t, e, buf)
	if n != 4 || full != 4 || string(buf[:n]) != "next" || from != peerB {
		t.Fatalf("got n=%d full=%d %q from %v; want the next datagram", n, full, buf[:n], from)
	}
}

func TestDequeue_NilBuffer_DiscardsDatagramReportingLength(t *testing.T) {
	e := NewEndpoint(0)
	e.Enqueue([]byte("abc"), peerA)
	if n, full, _ := mustDequeue(t, e, nil); n != 0 || full != 3 {
		t.Fatalf("n=%d full=%d; want 0, 3", n, full)
	}
	if d, b := e.Queued(); d != 0 || b != 0 {
		t.Fatalf("Queued = %d, %d after draining", d, b)
	}
}

func TestEnqueue_ZeroLengthDatagram_DeliveredAsEmpty(t *testing.T) {
	e := NewEndpoint(0)
	e.Enqueue(nil, peerA)
	if full, ok := e.Peek(); !ok || full != 0 {
		t.Fatalf("Peek = %d, %v; want 0, true", full, ok)
	}
	if n, full, from := mustDequeue(t, e, make([]byte, 8)); n != 0 || full != 0 || from != peerA {
		t.Fatalf("n=%d full=%d from=%v", n, full, from)
	}
}

func TestPeek_ReportsNextLengthWithoutRemoving(t *testing.T) {
	e := NewEndpoint(0)
	if _, ok := e.Peek(); ok {
		t.Fatal("Peek ok on empty queue")
	}
	e.Enqueue(make([]byte, 7), peerA)
	e.Enqueue(make([]byte, 9), peerA)
	for range 2 {
		if full, ok := e.Peek(); !ok || full != 7 {
			t.Fatalf("Peek = %d, %v; want 7, true", full, ok)
		}
	}
	if d, b := e.Queued(); d != 2 || b != 16 {
		t.Fatalf("Queued = %d, %d; want 2, 16", d, b)
	}
}

func TestPeekData_CopiesOldestAndLeavesItQueued(t *testing.T) {
	e := NewEndpoint(0)
	if _, _, _, ok := e.PeekData(nil); ok {
		t.Fatal("PeekData ok on empty queue")
	}
	e.Enqueue([]byte("first"), peerA)
	e.Enqueue([]byte("second"), peerB)
	buf := make([]byte, 3)
	for range 2 {
		n, full, from, ok := e.PeekData(buf)
		if !ok || n != 3 || full != 5 || string(buf) != "fir" || from != peerA {
			t.Fatalf("PeekData = %d, %d, %v, %v (%q)", n, full, from, ok, buf[:n])
		}
	}
	if d, _ := e.Queued(); d != 2 {
		t.Fatalf("Queued = %d datagrams after peeking, want 2", d)
	}
	buf = make([]byte, 8)
	if n, _, _ := mustDequeue(t, e, buf); string(buf[:n]) != "first" {
		t.Fatalf("Dequeue after peek got %q", buf[:n])
	}
}

func TestEnqueue_CopiesPayload(t *testing.T) {
	e := NewEndpoint(0)
	p := []byte("abc")
	e.Enqueue(p, peerA)
	p[0] = 'X'
	buf := make([]byte, 3)
	mustDequeue(t, e, buf)
	if string(buf) != "abc" {
		t.Fatalf("got %q; the queue aliased the caller's buffer", buf)
	}
}

func TestSetRcvBuf_Shrink_KeepsQueuedRefusesNew(t *testing.T) {
	e := NewEndpoint(0)
	for range 4 {
		e.Enqueue(make([]byte, 100), peerA)
	}
	e.SetRcvBuf(2 * (100 + DatagramOverhead))
	if e.Enqueue(make([]byte, 1), peerA) {
		t.Fatal("accepted while over the new bound")
	}
	if d, _ := e.Queued(); d != 4 {
		t.Fatalf("Queued = %d datagrams, want the 4 already queued", d)
	}
	mustDequeue(t, e, nil)
	mustDequeue(t, e, nil)
	mustDequeue(t, e, nil)
	if !e.Enqueue(make([]byte, 100), peerA) {
		t.Fatal("refused below the new bound")
	}
}

func TestTakeError_ReturnsPendingErrorOnce(t *testing.T) {
	e := NewEndpoint(0)
	if err := e.TakeError(); err != nil {
		t.Fatalf("TakeError = %v on a fresh endpoint", err)
	}
	e.SetError(syscall.EHOSTUNREACH)
	e.SetError(syscall.ECONNREFUSED) // the latest replaces the earlier
	if err := e.TakeError(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("TakeError = %v, want ECONNREFUSED", err)
	}
	if err := e.TakeError(); err != nil {
		t.Fatalf("second TakeError = %v, want nil", err)
	}
}

// TestQueue_RandomVariableSizes_MatchesSliceModel drives the rings through
// many wrap-arounds and growths with random sizes, bounds and buffer
// lengths, and compares every result with a plain slice-of-datagrams model
// that applies the same admission rule.
func TestQueue_RandomVariableSizes_MatchesSliceModel(t *testing.T) {
	type dgram struct {
		data []byte
		from netip.AddrPort
	}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		rcvBuf := 1 + rng.IntN(8192)
		e := NewEndpoint(rcvBuf)
		var model []dgram
		charged, queuedBytes := 0, 0
		var drops uint64
		buf := make([]byte, 3000)
		wrapped := 0
		for step := range 10000 {
			if e.dHead+e.dLen > len(e.data) {
				wrapped++ // queued payload bytes straddle the end of the ring
			}
			if rng.IntN(100) == 0 {
				rcvBuf = rng.IntN(8192)
				e.SetRcvBuf(rcvBuf)
			}
			if rng.IntN(2) == 0 {
				size := rng.IntN(1500)
				if rng.IntN(10) == 0 {
					size = rng.IntN(10)
				}
				p := make([]byte, size)
				for i := range p {
					p[i] = byte(rng.Uint32())
				}
				from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(step)}), uint16(step))
				fits := len(model) == 0 || charged+size+DatagramOverhead <= rcvBuf
				if got := e.Enqueue(p, from); got != fits {
					t.Fatalf("seed %d step %d: Enqueue = %v, model %v", seed, step, got, fits)
				}
				if fits {
					model = append(model, dgram{p, from})
					charged += size + DatagramOverhead
					queuedBytes += size
				} else {
					drops++
				}
			} else {
				b := buf[:rng.IntN(len(buf))]
				dequeue := e.Dequeue
				peek := rng.IntN(4) == 0
				if peek {
					dequeue = e.PeekData
				}
				n, full, from, ok := dequeue(b)
				if ok != (len(model) > 0) {
					t.Fatalf("seed %d step %d: Dequeue ok = %v with %d modelled", seed, step, ok, len(model))
				}
				if ok {
					m := model[0]
					if !peek {
						model = model[1:]
						charged -= len(m.data) + DatagramOverhead
						queuedBytes -= len(m.data)
					}
					wantN := min(len(b), len(m.data))
					if n != wantN || full != len(m.data) || from != m.from || !bytes.Equal(b[:n], m.data[:wantN]) {
						t.Fatalf("seed %d step %d: Dequeue = %d, %d, %v; want %d, %d, %v (data equal %v)",
							seed, step, n, full, from, wantN, len(m.data), m.from, bytes.Equal(b[:n], m.data[:wantN]))
					}
				}
			}
			if d, by := e.Queued(); d != len(model) || by != queuedBytes {
				t.Fatalf("seed %d step %d: Queued = %d, %d; want %d, %d", seed, step, d, by, len(model), queuedBytes)
			}
			if full, ok := e.Peek(); ok != (len(model) > 0) || (ok && full != len(model[0].data)) {
				t.Fatalf("seed %d step %d: Peek = %d, %v", seed, step, full, ok)
			}
			if e.Drops() != drops {
				t.Fatalf("seed %d step %d: Drops = %d, want %d", seed, step, e.Drops(), drops)
			}
		}
		if wrapped == 0 {
			t.Fatalf("seed %d: the payload ring never wrapped", seed)
		}
	}
}

func TestEnqueueDequeue_SteadyState_DoesNotAllocate(t *testing.T) {
	e := NewEndpoint(0)
	payload := make([]byte, 1472)
	buf := make([]byte, 2048)
	// Warm up: let the rings grow to their working size, with wrap-around.
	for range 64 {
		e.Enqueue(payload, peerA)
	}
	for range 1000 {
		e.Enqueue(payload[:1+len(e.recs)%1000], peerA)
		e.Dequeue(buf)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if !e.Enqueue(payload, peerA) {
			t.Fatal("refused")
		}
		if _, _, _, ok := e.Dequeue(buf); !ok {
			t.Fatal("empty")
		}
	})
	if allocs != 0 {
		t.Fatalf("Enqueue+Dequeue allocate %v times", allocs)
	}
}

func BenchmarkEnqueueDequeue(b *testing.B) {
	for _, size := range []int{64, 1472} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			e := NewEndpoint(0)
			payload := make([]byte, size)
			buf := make([]byte, 2048)
			for range 16 {
				e.Enqueue(payload, peerA)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				e.Enqueue(payload, peerA)
				e.Dequeue(buf)
			}
		})
	}
}

// A datagram larger than the whole payload ring grows it to hold the queued
// bytes and the new payload: every datagram comes out whole and in order.
func TestEnqueue_DatagramLargerThanTheRing_GrowsItKeepingQueuedData(t *testing.T) {
	e := NewEndpoint(0)
	p := [][]byte{pattern(2000, 1), pattern(5000, 2), pattern(20000, 3)}
	for i, d := range p {
		if !e.Enqueue(d, peerA) {
			t.Fatalf("datagram %d refused", i)
		}
	}
	buf := make([]byte, 30000)
	for i, d := range p {
		if n, _, _ := mustDequeue(t, e, buf); !bytes.Equal(buf[:n], d) {
			t.Fatalf("datagram %d: %d octets, equal %v", i, n, bytes.Equal(buf[:n], d))
		}
	}
}

// The payload ring is reused whenever the payload fits its free space, to
// the last octet: with a small SO_RCVBUF the ring is as long as the bound,
// and a datagram of that length into the empty queue (always accepted, see
// Enqueue) fills it exactly; cycling such datagrams allocates nothing.
func TestEnqueueDequeue_PayloadFillingTheRingExactly_DoesNotAllocate(t *testing.T) {
	e := NewEndpoint(minDataRing)
	p := pattern(minDataRing, 1)
	buf := make([]byte, minDataRing)
	cycle := func() {
		if !e.Enqueue(p, peerA) {
			t.Fatal("refused")
		}
		if n, _, _, _ := e.Dequeue(buf); n != len(p) || !bytes.Equal(buf, p) {
			t.Fatal("datagram differs")
		}
	}
	cycle() // the rings' first allocation
	if allocs := testing.AllocsPerRun(10, cycle); allocs != 0 {
		t.Errorf("%v allocations per datagram, want 0", allocs)
	}
}

// pattern returns n octets that differ from those of another seed.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7+i>>8)
	}
	return p
}
