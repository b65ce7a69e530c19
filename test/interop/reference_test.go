package interop

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	gipv4 "gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/tapstack/tapstack/nic"
)

// TestInterop_GVisorReference is the yardstick for the figures the
// matrix logs: gVisor sending to gVisor over the same Pipe, with the same
// impairment, seed and size as the matrix's tapstack → gVisor case
// (TapstackClientGVisorServer/client_sends) at 1% and 5% loss, and as
// Loss10/tapstack_sends at 10%. It checks the data and logs the
// throughput; it asserts nothing about speed.
//
// One run prints tapstack → gVisor, gVisor → tapstack and gVisor → gVisor
// at 1%, 5% and 10%:
//
//	go test -v -count 3 -run 'Interop_(TapstackClient|GVisorClient|Loss10|GVisorReference)' ./test/interop/ | grep -E '^=== NAME|MiB/s'
func TestInterop_GVisorReference(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		im   nic.Impairment
		seed uint64
		size int
	}{
		{"loss1", impairments[1].im, 1000 + 1 + 1, transferSize()},
		{"loss5", impairments[2].im, 1000 + 2 + 1, transferSize()},
		{"loss10", heavyLoss, 2001, heavyLossSize},
	} {
		t.Run(c.name, func(t *testing.T) {
			runGVisorPair(t, c.seed, c.im, c.size)
		})
	}
}

// runGVisorPair moves size bytes from a gVisor client (end A, 10.0.0.2) to
// a gVisor server (end B, 10.0.0.1) over a Pipe impaired by im each way,
// checks them by SHA-256 and logs the throughput as runTransfer does.
func runGVisorPair(t *testing.T, seed uint64, im nic.Impairment, size int) {
	a, b := nic.NewPipe(nic.PipeConfig{MTU: linkMTU, QueueLen: pipeQueueLen, Seed: seed, AtoB: im, BtoA: im})
	client := newGVNode(t, a, tapPrefix.Addr(), netip.Addr{})
	server := newGVNode(t, b, gvAddr, netip.Addr{})
	ctx, cancelPumps := context.WithCancel(context.Background())
	var pumps sync.WaitGroup
	for _, n := range []*gvNode{client, server} {
		pumps.Add(2)
		go func() { defer pumps.Done(); n.pumpIn() }()
		go func() { defer pumps.Done(); n.pumpOut(ctx) }()
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
		cancelPumps()
		pumps.Wait()
		for _, n := range []*gvNode{client, server} {
			n.st.Close()
			n.st.Wait()
			n.ch.Close()
		}
	})
	t.Logf("seed %d, impairment each way %+v", seed, im)

	data := payload()[:size]
	want := sha256.Sum256(data)
	tctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	ln, err := gonet.ListenTCP(server.st, tcpip.FullAddress{NIC: gvisorNIC, Port: serverPort}, gipv4.ProtocolNumber)
	if err != nil {
		t.Fatalf("gVisor: listen: %v", err)
	}
	var sent, recvd atomic.Int64
	results := make(chan result, 2)
	start := time.Now()
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			results <- result{role: "gVisor server", err: fmt.Errorf("accept: %w", err)}
			return
		}
		results <- receive("gVisor", c, &recvd)
	}()
	go func() {
		c, err := gonet.DialContextTCP(tctx, client.st, tcpip.FullAddress{NIC: gvisorNIC, Addr: tcpip.AddrFrom4(gvAddr.As4()), Port: serverPort}, gipv4.ProtocolNumber)
		if err != nil {
			ln.Close()
			results <- result{role: "gVisor client", err: fmt.Errorf("dial: %w", err)}
			return
		}
		results <- send("gVisor", c, data, &sent)
	}()
	for range 2 {
		select {
		case r := <-results:
			if r.err != nil {
				t.Errorf("%s: %v", r.role, r.err)
			}
			if r.role == "gVisor receiver" && (r.n != int64(size) || r.sum != want) {
				t.Errorf("receiver read %d bytes with SHA-256 %x, want %d bytes with %x", r.n, r.sum, size, want)
			}
		case <-tctx.Done():
			t.Fatalf("gVisor → gVisor transfer of %d bytes did not complete within %v: sender wrote %d, receiver read %d",
				size, transferTimeout, sent.Load(), recvd.Load())
		}
	}
	if t.Failed() {
		return
	}
	elapsed := time.Since(start)
	t.Logf("gVisor → gVisor: %d bytes in %v (handshake to close), %.1f MiB/s",
		size, elapsed.Round(time.Millisecond), float64(size)/(1<<20)/elapsed.Seconds())
}
