package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
)

// The zero-window phase: connections that each ask for a large response
// and then never read it, so their receive window closes and the stack's
// send side holds what it queued for as long as the peer stalls (issue 9,
// send-buffer autotuning).

// zeroWinRequest is what every connection asks for: far more than any send
// buffer, so the handler blocks in Write with the buffer full.
const zeroWinRequest = "/bytes/10000000"

// zeroWinRcvBuf is the kernel side's SO_RCVBUF (the kernel doubles it): a
// small receive buffer fills, and the window closes, after a few segments.
const zeroWinRcvBuf = 4096

// zeroWinResult is what the phase measured: RSS in KiB, ring bytes from the
// stack's /stats (0 for a stack that does not report them).
type zeroWinResult struct {
	before, held float64
	ringBytes    uint64
	retries      int64
	dialFor      time.Duration
}

// zeroWinConns opens n connections to the stack's HTTP server (tcp/80) with
// idleDialers connects in flight, each with a zeroWinRcvBuf receive buffer,
// sends GET zeroWinRequest on each and never reads. Once the stack counts
// every one as established, it reads the stack's RSS (and its TCP ring
// bytes) every 500 ms until neither has grown by more than 64 KiB since the
// read before (at most 60 s: the stack fills each send buffer as far as the
// closing windows let it), then closes them all and waits until the stack
// has let them go (the kernel has unread data, so its close is a RST).
func zeroWinConns(ns *nstest.NS, pid, n int) (zeroWinResult, error) {
	var r zeroWinResult
	before, err := prepareConns(ns, pid, n)
	if err != nil {
		return r, err
	}
	r.before = before

	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, zeroWinRcvBuf)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", zeroWinRequest, stackAddr)
	t0 := time.Now()
	conns, retries, err := openConns(ns, n, func() (net.Conn, error) {
		return d.Dial("tcp4", net.JoinHostPort(stackAddr, "80"))
	}, func(c net.Conn) error {
		_, err := c.Write([]byte(req))
		return err
	})
	r.dialFor, r.retries = time.Since(t0), retries
	defer closeConns(conns)
	if err != nil {
		return r, err
	}
	if _, err := waitEstab(ns, time.Minute, func(v uint64) bool { return v >= uint64(n) }); err != nil {
		return r, fmt.Errorf("%d connections open on the kernel side, but the stack: %w", n, err)
	}
	held, _ := vmRSS(pid)
	ring, _ := stackRingBytes(ns)
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		time.Sleep(500 * time.Millisecond) // polling interval
		now, err := vmRSS(pid)
		if err != nil {
			return r, err
		}
		nowRing, err := stackRingBytes(ns)
		if err != nil {
			return r, err
		}
		grew, ringGrew := now-held, int64(nowRing)-int64(ring)
		held, ring = max(held, now), max(ring, nowRing)
		if grew <= 64 && ringGrew <= 64<<10 {
			break
		}
	}
	r.held, r.ringBytes = held, ring

	closeConns(conns)
	if _, err := waitEstab(ns, time.Minute, func(v uint64) bool { return v <= 1 }); err != nil {
		return r, fmt.Errorf("after closing the %d connections: %w", n, err)
	}
	return r, nil
}

// stackRingBytes is the stack's tcp.mem_used_bytes from GET /stats (0 when
// the stack does not report it: gVisor's daemon).
func stackRingBytes(ns *nstest.NS) (uint64, error) {
	c, err := dial(ns, 80)
	if err != nil {
		return 0, fmt.Errorf("GET /stats: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /stats HTTP/1.0\r\nHost: %s\r\n\r\n", stackAddr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, fmt.Errorf("GET /stats: %w", err)
	}
	defer resp.Body.Close()
	var st struct {
		TCP struct {
			MemUsed uint64 `json:"mem_used_bytes"`
		} `json:"tcp"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("GET /stats: %w", err)
	}
	return st.TCP.MemUsed, nil
}
