package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
)

// The kernel-side clients. Each runs inside the stack's namespace: the Go
// clients dial from a thread inside it (nstest.NS.Do), the tools run through
// `ip netns exec`.

var pingAvg = regexp.MustCompile(`rtt min/avg/max/mdev = [0-9.]+/([0-9.]+)/`)

// pingRTT is the kernel's ping: 100 echo requests 10 ms apart; the average
// RTT in milliseconds.
func pingRTT(ns *nstest.NS) (float64, error) {
	out, err := runIn(ns, time.Minute, "ping", "-q", "-c", "100", "-i", "0.01", "-W", "1", stackAddr)
	m := pingAvg.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("ping: %v\n%s", err, out)
	}
	if !strings.Contains(out, " 0% packet loss") {
		return 0, fmt.Errorf("ping lost packets:\n%s", out)
	}
	return strconv.ParseFloat(m[1], 64)
}

// dial connects to the stack's port from inside ns. The socket stays in the
// namespace, so it can be used from any goroutine afterwards.
func dial(ns *nstest.NS, port int) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		if cc := dialCC; cc != "" {
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc)
				}); err != nil {
					return err
				}
				return serr
			}
		}
		var err error
		c, err = d.Dial("tcp4", net.JoinHostPort(stackAddr, strconv.Itoa(port)))
		return err
	})
	return c, err
}

// dialCC is the congestion control dial sets on the client's sockets
// (-client-cc), "" for the namespace's default.
var dialCC string

// bulkIn writes 64 KiB at a time to discard (tcp/9) and counts the bytes the
// kernel accepted after the warm-up, for dur. The kernel's send buffer (a few
// MiB at most) is the error bound, well under 1% at these rates.
func bulkIn(ns *nstest.NS, warmup, dur time.Duration) (float64, error) {
	c, err := dial(ns, 9)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	return pump(c, warmup, dur, func() (int, error) { return c.Write(buf) }, c.SetWriteDeadline)
}

// bulkOut reads chargen (tcp/19) 64 KiB at a time and counts the bytes
// received after the warm-up, for dur.
func bulkOut(ns *nstest.NS, warmup, dur time.Duration) (float64, error) {
	c, err := dial(ns, 19)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	return pump(c, warmup, dur, func() (int, error) { return c.Read(buf) }, c.SetReadDeadline)
}

// pump calls op until warmup+dur has passed and returns Gbit/s over the
// part after warmup.
func pump(c net.Conn, warmup, dur time.Duration, op func() (int, error), deadline func(time.Time) error) (float64, error) {
	t0 := time.Now()
	warm, end := t0.Add(warmup), t0.Add(warmup+dur)
	deadline(end)
	var total, atWarm int64
	var tWarm time.Time
	for {
		n, err := op()
		total += int64(n)
		if tWarm.IsZero() {
			if now := time.Now(); now.After(warm) {
				atWarm, tWarm = total, now
			}
		}
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, fmt.Errorf("after %d bytes in %v: %w", total, time.Since(t0).Round(time.Millisecond), err)
			}
			break
		}
	}
	if tWarm.IsZero() {
		return 0, fmt.Errorf("no progress past the warm-up (%d bytes)", total)
	}
	secs := time.Since(tWarm).Seconds()
	return float64(total-atWarm) * 8 / secs / 1e9, nil
}

var (
	wrkRate   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkErrors = regexp.MustCompile(`(Socket errors:.*|Non-2xx or 3xx responses:.*)`)
)

// wrk: HTTP/1.1 keep-alive requests for dur over 50 connections.
func wrk(ns *nstest.NS, dur time.Duration) (float64, string, error) {
	out, err := runIn(ns, dur+time.Minute, "wrk", "-t2", "-c50", "-d"+strconv.Itoa(int(dur.Seconds()))+"s",
		"http://"+stackAddr+"/bytes/100")
	m := wrkRate.FindStringSubmatch(out)
	if m == nil {
		return 0, "", fmt.Errorf("wrk: %v\n%s", err, out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, strings.Join(wrkErrors.FindAllString(out, -1), "; "), err
}

var (
	abRate   = regexp.MustCompile(`Requests per second:\s+([0-9.]+)`)
	abFailed = regexp.MustCompile(`Failed requests:\s+([0-9]+)`)
	abNon2xx = regexp.MustCompile(`Non-2xx responses:\s+([0-9]+)`)
)

// ab: n requests with 20 in flight, each on a new connection (HTTP/1.0, no
// keep-alive), so the rate is new connections per second.
func ab(ns *nstest.NS, n int) (float64, string, error) {
	out, err := runIn(ns, 5*time.Minute, "ab", "-q", "-r", "-s", "10", "-c", "20", "-n", strconv.Itoa(n),
		"http://"+stackAddr+"/bytes/100")
	m := abRate.FindStringSubmatch(out)
	if m == nil {
		return 0, "", fmt.Errorf("ab: %v\n%s", err, tail(out, 2000))
	}
	var warn []string
	if f := abFailed.FindStringSubmatch(out); f != nil && f[1] != "0" {
		warn = append(warn, "failed requests: "+f[1])
	}
	if f := abNon2xx.FindStringSubmatch(out); f != nil && f[1] != "0" {
		warn = append(warn, "non-2xx responses: "+f[1])
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, strings.Join(warn, "; "), err
}

// clkTck is USER_HZ, 100 on every Linux architecture Go supports.
const clkTck = 100

// procCPU is the process's user+system CPU time in seconds, all threads.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: state is field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / clkTck
}

// vmHWM is the process's peak resident set in KiB.
func vmHWM(pid int) (float64, error) { return procStatus(pid, "VmHWM:") }

// vmRSS is the process's resident set now, in KiB.
func vmRSS(pid int) (float64, error) { return procStatus(pid, "VmRSS:") }

func procStatus(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			return strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

type cpuTimes struct{ idle, total uint64 }

// machineCPU is the first line of /proc/stat: all CPUs, in ticks.
func machineCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var t cpuTimes
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		t.total += v
		if i == 3 || i == 4 { // idle, iowait
			t.idle += v
		}
	}
	return t
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// tapstackConns summarises tapstack's status page (GET /): how many TCP
// connections it still holds, by state, from the page's summary (ab leaves
// one per request in TIME-WAIT on the stack's side, since the server
// closes first).
func tapstackConns(ns *nstest.NS) string {
	c, err := dial(ns, 80)
	if err != nil {
		return "status page: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /?n=0 HTTP/1.0\r\nHost: %s\r\n\r\n", stackAddr)
	body, err := io.ReadAll(c)
	if err != nil {
		return "status page: " + err.Error()
	}
	var by []string
	total, inSummary := "", false
	for _, line := range strings.Split(string(body), "\n") {
		if t, ok := strings.CutPrefix(line, "TCP connections: "); ok {
			total, inSummary = t, true
			continue
		}
		// The summary's lines: "  STATE  N", until the blank line.
		if f := strings.Fields(line); inSummary && len(f) == 2 && strings.HasPrefix(line, "  ") {
			by = append(by, f[0]+" "+f[1])
			continue
		}
		inSummary = false
	}
	slices.Sort(by)
	return fmt.Sprintf("TCP connections held by tapstack after the last row (status page): %s (%s)", total, strings.Join(by, ", "))
}
