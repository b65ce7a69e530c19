package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/vishvananda/netlink"
)

// The memory and loss phases: idle connections held open, many short
// connections, and bulk transfers through random loss on the TAP.

// tcpStats is the part of a stack's GET /stats that the phases read. Both
// daemons serve it: tapstack's is its full counter set, the gVisor daemon's
// a few of gVisor's counters under the same names.
type tcpStats struct {
	TCP struct {
		// CurrEstab is RFC 4022 tcpCurrEstab: connections in ESTABLISHED
		// or CLOSE-WAIT (gVisor's TCP.CurrentEstablished, the same
		// definition).
		CurrEstab uint64 `json:"curr_estab"`
		// What the sender did in the loss phases: segments retransmitted
		// (RFC 4022 tcpRetransSegs; gVisor's Retransmits), retransmission
		// timeouts (gVisor's Timeouts) and fast recoveries entered
		// (gVisor's FastRecovery + SACKRecovery).
		RetransSegs uint64 `json:"retrans_segs"`
		Timeouts    uint64 `json:"timeouts"`
		Recoveries  uint64 `json:"recoveries"`
	} `json:"tcp"`
}

// stackStats fetches GET /stats from the stack (HTTP/1.0 on tcp/80, so the
// connection is the stack's to close and leaves nothing in the kernel).
// While the request is served its own connection counts in curr_estab.
func stackStats(ns *nstest.NS) (tcpStats, error) {
	var st tcpStats
	c, err := dial(ns, 80)
	if err != nil {
		return st, fmt.Errorf("GET /stats: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /stats HTTP/1.0\r\nHost: %s\r\n\r\n", stackAddr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return st, fmt.Errorf("GET /stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /stats: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("GET /stats: %w", err)
	}
	return st, nil
}

// waitEstab polls the stack's /stats until cond holds for curr_estab, every
// 100 ms, for at most limit. It returns the last value seen.
func waitEstab(ns *nstest.NS, limit time.Duration, cond func(uint64) bool) (uint64, error) {
	end := time.Now().Add(limit)
	for {
		st, err := stackStats(ns)
		if err != nil {
			return 0, err
		}
		if cond(st.TCP.CurrEstab) {
			return st.TCP.CurrEstab, nil
		}
		if time.Now().After(end) {
			return st.TCP.CurrEstab, fmt.Errorf("curr_estab still %d after %v", st.TCP.CurrEstab, limit)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// idleResult is what the idle-connections phase measured, RSS in KiB.
type idleResult struct {
	before, held float64
	estab        uint64 // the stack's curr_estab once every dial had returned
	retries      int64  // dials that failed and were tried again
	dialFor      time.Duration
}

// idleDialers is how many connects are in flight at a time: a bounded rate,
// far below either stack's listen backlog (4096).
const idleDialers = 32

// idleConns opens n connections to discard (tcp/9) from the kernel side,
// with idleDialers connects in flight and up to 3 retries each, waits until
// the stack counts every one of them as established, reads the stack's RSS
// once it has stopped growing, then closes them all (the kernel side first,
// so the stack keeps no TIME-WAIT) and waits until the stack has let them
// go. The discard handler (the same code in both daemons) gives every
// connection a goroutine and a 64 KiB buffer that stays untouched while no
// data arrives.
func idleConns(ns *nstest.NS, pid, n int) (idleResult, error) {
	var r idleResult
	before, err := prepareConns(ns, pid, n)
	if err != nil {
		return r, err
	}
	r.before = before

	t0 := time.Now()
	conns, retries, err := openConns(ns, n, func() (net.Conn, error) {
		return net.DialTimeout("tcp4", net.JoinHostPort(stackAddr, "9"), 10*time.Second)
	}, nil)
	r.dialFor, r.retries = time.Since(t0), retries
	defer closeConns(conns)
	if err != nil {
		return r, err
	}

	// Both ends: every connect has returned (the kernel is ESTABLISHED)
	// and the stack counts them all (plus the /stats request's own).
	r.estab, err = waitEstab(ns, time.Minute, func(v uint64) bool { return v >= uint64(n) })
	if err != nil {
		return r, fmt.Errorf("%d connections open on the kernel side, but the stack: %w", n, err)
	}
	// The accept loops may still be starting handlers: read RSS until it
	// has not grown by more than 64 KiB over 500 ms (at most 10 s).
	held, _ := vmRSS(pid)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		time.Sleep(500 * time.Millisecond) // polling interval
		now, err := vmRSS(pid)
		if err != nil {
			return r, err
		}
		grew := now - held
		held = max(held, now)
		if grew <= 64 {
			break
		}
	}
	r.held = held

	closeConns(conns)
	// The stack goes CLOSE-WAIT, its handler reads EOF and closes,
	// LAST-ACK, CLOSED: wait until only the /stats request is left.
	if _, err := waitEstab(ns, time.Minute, func(v uint64) bool { return v <= 1 }); err != nil {
		return r, fmt.Errorf("after closing the %d connections: %w", n, err)
	}
	return r, nil
}

// openConns opens n connections from inside ns with idleDialers connects
// in flight, each made by dial (tried up to 4 times) and then handed to
// ready (if not nil). It returns the connections (nil where none was made:
// the caller closes them, also on error) and how many dials were retried.
func openConns(ns *nstest.NS, n int, dial func() (net.Conn, error), ready func(net.Conn) error) ([]net.Conn, int64, error) {
	conns := make([]net.Conn, n)
	var next, retries atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range idleDialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One namespace switch per dialer; its sockets stay in the
			// namespace after Do returns.
			err := ns.Do(func() error {
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return nil
					}
					var err error
					for try := 0; try < 4; try++ {
						if try > 0 {
							retries.Add(1)
						}
						if conns[i], err = dial(); err == nil {
							break
						}
					}
					if err != nil {
						return fmt.Errorf("connection %d: %w", i, err)
					}
					if ready != nil {
						if err := ready(conns[i]); err != nil {
							return fmt.Errorf("connection %d: %w", i, err)
						}
					}
				}
			})
			if err != nil {
				errOnce.Do(func() { firstErr = err })
				next.Store(int64(n)) // stop the other dialers
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return conns, retries.Load(), fmt.Errorf("opening %d connections: %w (%d retried dials)", n, firstErr, retries.Load())
	}
	return conns, retries.Load(), nil
}

// closeConns closes every connection not closed yet.
func closeConns(conns []net.Conn) {
	for i, c := range conns {
		if c != nil {
			c.Close()
			conns[i] = nil
		}
	}
}

// prepareConns makes room for n connections (roomFor) and returns the
// stack's RSS before they open.
func prepareConns(ns *nstest.NS, pid, n int) (float64, error) {
	if err := roomFor(ns, n); err != nil {
		return 0, err
	}
	return vmRSS(pid)
}

// roomFor makes sure this process may hold n more connections and the
// namespace's local port range fits them (the kernel picks a local port per
// connection).
func roomFor(ns *nstest.NS, n int) error {
	if err := raiseNoFile(uint64(n) + 1024); err != nil {
		return err
	}
	if lo, hi, err := localPortRange(ns); err == nil && hi-lo+1 < n {
		return fmt.Errorf("%d connections need more than the namespace's local port range %d-%d", n, lo, hi)
	}
	return nil
}

// raiseNoFile makes sure this process may hold want descriptors.
func raiseNoFile(want uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= want {
		return nil
	}
	lim.Cur = want
	lim.Max = max(lim.Max, want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE to %d: %w", want, err)
	}
	return nil
}

// localPortRange is net.ipv4.ip_local_port_range inside ns.
func localPortRange(ns *nstest.NS) (lo, hi int, err error) {
	err = ns.Do(func() error {
		b, err := readFile("/proc/sys/net/ipv4/ip_local_port_range")
		if err != nil {
			return err
		}
		f := strings.Fields(b)
		if len(f) != 2 {
			return fmt.Errorf("ip_local_port_range: %q", b)
		}
		lo, _ = strconv.Atoi(f[0])
		hi, _ = strconv.Atoi(f[1])
		return nil
	})
	return lo, hi, err
}

// Loss on the TAP. Both directions drop frames at random with nftables in
// the stack's namespace, in a netdev table on the TAP itself (numgen random
// mod lossPerMille, so the loss rate has a step of 0.1 %):
//
//   - stack→kernel: the ingress hook drops a frame the stack wrote before
//     the kernel sees it. The stack's write succeeded, so this is loss as on
//     a wire.
//   - kernel→stack: a drop in the output or egress hook is not a loss to the
//     kernel's TCP. The hook's verdict returns an error to tcp_transmit_skb,
//     which then treats the segment as not sent and sends it again later
//     (measured: 1518 "drops" at 5 % gave 1 retransmission). The egress hook
//     instead forwards the chosen frames (`fwd to`) to a veth whose peer is
//     down, which discards them; a forwarded frame is "stolen", which the
//     transmit path reports as sent. The TAP also gets gso_max_segs 1, so
//     the kernel's TCP builds one segment per skb and the hook sees single
//     frames rather than GSO trains of up to 44 (measured with both: 3570
//     frames dropped at 5 %, 3576 retransmissions).
const (
	lossTable    = "bench_loss"
	blackhole    = "bhole"
	lossPerMille = 1000
)

// lossCounts is what the nftables rules dropped.
type lossCounts struct{ toStack, fromStack uint64 }

var nftCounter = regexp.MustCompile(`counter packets (\d+)`)

// withLoss runs f with pct % of the frames dropped each way on tap, then
// removes the rules and restores the TAP's gso_max_segs.
func withLoss(ns *nstest.NS, tap string, pct float64, f func()) (lossCounts, error) {
	var lc lossCounts
	if !linkExists(ns, blackhole) {
		if out, err := nsCmd(ns, nil, "ip", "link", "add", blackhole, "type", "veth", "peer", "name", blackhole+"-peer"); err != nil {
			return lc, fmt.Errorf("blackhole veth: %v: %s", err, out)
		}
		if out, err := nsCmd(ns, nil, "ip", "link", "set", blackhole, "up"); err != nil {
			return lc, fmt.Errorf("blackhole veth: %v: %s", err, out)
		}
	}
	segs, err := gsoMaxSegs(ns, tap, 1)
	if err != nil {
		return lc, err
	}
	defer gsoMaxSegs(ns, tap, segs)
	rules := fmt.Sprintf(`table netdev %[1]s {
	chain egress { type filter hook egress device %[2]q priority 0; numgen random mod %[5]d < %[3]d counter fwd to %[4]q; }
	chain ingress { type filter hook ingress device %[2]q priority 0; numgen random mod %[5]d < %[3]d counter drop; }
}`, lossTable, tap, int(math.Round(pct*lossPerMille/100)), blackhole, lossPerMille)
	if out, err := nsCmd(ns, strings.NewReader(rules), "nft", "-f", "-"); err != nil {
		return lc, fmt.Errorf("nft: %v: %s", err, out)
	}
	defer nsCmd(ns, nil, "nft", "delete", "table", "netdev", lossTable)
	f()
	out, err := nsCmd(ns, nil, "nft", "list", "table", "netdev", lossTable)
	if err != nil {
		return lc, fmt.Errorf("nft list: %v: %s", err, out)
	}
	m := nftCounter.FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		return lc, fmt.Errorf("nft list: want 2 counters:\n%s", out)
	}
	// Chains are listed in the order they were declared.
	lc.toStack, _ = strconv.ParseUint(m[0][1], 10, 64)
	lc.fromStack, _ = strconv.ParseUint(m[1][1], 10, 64)
	return lc, nil
}

// gsoMaxSegs sets the link's gso_max_segs and returns the previous value.
func gsoMaxSegs(ns *nstest.NS, name string, segs uint32) (uint32, error) {
	var old uint32
	err := ns.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		old = l.Attrs().GSOMaxSegs
		return netlink.LinkSetGSOMaxSegs(l, int(segs))
	})
	if err != nil {
		return 0, fmt.Errorf("gso_max_segs %d on %s: %w", segs, name, err)
	}
	return old, nil
}

func linkExists(ns *nstest.NS, name string) bool {
	return ns.Do(func() error { _, err := netlink.LinkByName(name); return err }) == nil
}

// nsCmd runs a set-up command inside ns (not a measured tool: its CPU is
// not added to the client's).
func nsCmd(ns *nstest.NS, stdin *strings.Reader, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := ns.Command(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}
