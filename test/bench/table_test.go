package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/internal/testbin"
	"github.com/tapstack/tapstack/tcp"
	"github.com/vishvananda/netlink"
)

var (
	flagMTU     = flag.Int("mtu", 1500, "link MTU of both TAPs (kernel side and stack)")
	flagDur     = flag.Duration("dur", 10*time.Second, "measured duration of each bulk and wrk row")
	flagWarmup  = flag.Duration("warmup", time.Second, "bulk rows: time spent before counting starts (slow start)")
	flagAbN     = flag.Int("ab-n", 20000, "ab: number of requests (one connection each)")
	flagRounds  = flag.Int("rounds", 1, "rounds, alternating the stacks; the table shows the median (and the range)")
	flagOnly    = flag.String("only", "", `comma-separated columns to run, e.g. "tapstack" or "gvisor,linux cubic" (default: all)`)
	flagPerf    = flag.Bool("perf", false, "record `perf record -g` of each stack process during each throughput row into results/")
	flagResults = flag.String("results", "results", "directory for latest.md (and perf data)")
	flagOffload = flag.String("offload", "auto", "tapstack's --offload: auto, on or off (TAP offloads; gVisor never has them on a TAP)")
	flagBigMTU  = flag.Int("big-mtu", 0, `with the bulk phase: two more columns, "tapstack MTU N" (--offload off) and "gVisor MTU N", bulk rows only, at this MTU (e.g. 65000: per-byte costs without offloads)`)
	flagClient  = flag.String("client-cc", "", `the kernel-side clients' congestion control in the tapstack and gVisor columns, set per socket (TCP_CONGESTION), e.g. "cubic" (default: the machine's)`)
	flagCounts  = flag.Bool("counts", false, "bulk rows: count the stack process's context switches and system calls (`perf stat`) and report them per GB")
	flagGVProcs = flag.Int("gvisor-procs", 0, "GOMAXPROCS of the gVisor stack process (0: the Go runtime's default, all CPUs); tapstack's daemon runs on half by default (--procs)")
	flagBinB    = flag.String("bin-b", "", `a second tapstack binary (e.g. an older build): "tapstack B" columns beside each tapstack column of the bulk phase, run alternately with it (A/B)`)
	flagPhases  = flag.String("phases", "all", "comma-separated phases to run: "+strings.Join(phaseNames, ", ")+` (or "all")`)
	flagIdleN   = flag.Int("idle-n", 10000, "idle phase: connections held open at once")
	flagZeroN   = flag.Int("zerowin-n", 2000, "zerowin phase: connections that request "+zeroWinRequest+" and never read")
	flagShortN  = flag.Int("short-n", 60000, "short phase: ab requests (one connection each)")
	flagLoss    = flag.String("loss", "0,1,5", "loss phase: comma-separated loss percentages in steps of 0.1, applied to each direction (0: the same set-up, nothing dropped)")
)

// phaseNames are the values -phases takes, in the order the phases run.
var phaseNames = []string{"idle", "zerowin", "ping", "bulk", "wrk", "short", "loss", "ab"}

// Addresses inside each stack's namespace (the same for both stacks).
const (
	stackAddr = "10.0.0.2"
	hostAddr  = "10.0.0.1"
)

// row names, in table order.
const (
	rowPing     = "ping RTT avg, ms (lower is better)"
	rowIn       = "bulk kernel→stack, Gbit/s"
	rowOut      = "bulk stack→kernel, Gbit/s"
	rowInCPU    = "bulk kernel→stack: stack CPU s per GB (lower is better)"
	rowOutCPU   = "bulk stack→kernel: stack CPU s per GB (lower is better)"
	rowWrk      = "HTTP keep-alive req/s (wrk -t2 -c50, /bytes/100)"
	rowAb       = "new connections/s (ab -c20, /bytes/100)"
	rowInCS     = "bulk kernel→stack: stack context switches per GB (lower is better)"
	rowOutCS    = "bulk stack→kernel: stack context switches per GB (lower is better)"
	rowInSys    = "bulk kernel→stack: stack system calls per GB (lower is better)"
	rowOutSys   = "bulk stack→kernel: stack system calls per GB (lower is better)"
	rowCPU      = "stack process CPU s, whole run (lower is better)"
	rowRSS      = "stack process peak RSS, MiB (lower is better)"
	phaseSuffix = " phase"
)

// Rows of the memory and loss phases; their names depend on the flags
// (setup fills them in).
var (
	rowIdleBefore, rowIdleHeld, rowIdlePer                    string
	rowZeroPer, rowZeroRing                                   string
	rowShortRate, rowShortBefore, rowShortAfter, rowShortGrow string
	lossPcts                                                  []float64
)

// rowLoss is the row of a bulk transfer at pct % loss; in is kernel→stack.
func rowLoss(pct float64, in bool) string {
	if in {
		return fmt.Sprintf("bulk kernel→stack at %s%% loss, Gbit/s", pctName(pct))
	}
	return fmt.Sprintf("bulk stack→kernel at %s%% loss, Gbit/s", pctName(pct))
}

// phaseLoss is the per-phase name of a loss row.
func phaseLoss(pct float64, in bool) string {
	if in {
		return fmt.Sprintf("loss %s%% in", pctName(pct))
	}
	return fmt.Sprintf("loss %s%% out", pctName(pct))
}

// pctName formats a loss percentage as -loss takes it: 1, 5, 0.1.
func pctName(pct float64) string { return strconv.FormatFloat(pct, 'f', -1, 64) }

// rows are the table's rows, in order; phases the measured steps whose CPU
// use is reported per phase, in the order they run. setup fills both.
var rows, phases []string

// selected is the set of -phases.
var selected = map[string]bool{}

// setup parses the phase flags and names the rows.
func setup() error {
	for _, p := range strings.Split(*flagPhases, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "all":
			for _, n := range phaseNames {
				selected[n] = true
			}
		case slices.Contains(phaseNames, p):
			selected[p] = true
		default:
			return fmt.Errorf("-phases: unknown phase %q (want %s or all)", p, strings.Join(phaseNames, ", "))
		}
	}
	lossPcts = nil
	for _, f := range strings.Split(*flagLoss, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		// The rules draw from 1000 (lossPerMille), so 0.1 % is the step.
		if err != nil || v < 0 || v > 100 || math.Abs(v*10-math.Round(v*10)) > 1e-9 {
			return fmt.Errorf("-loss: want percentages 0-100 in steps of 0.1 (e.g. 0.1,1,5), got %q", f)
		}
		lossPcts = append(lossPcts, math.Round(v*10)/10)
	}
	rowIdleBefore = "idle conns: stack RSS before, MiB (lower is better)"
	rowIdleHeld = fmt.Sprintf("idle conns: stack RSS with %d open, MiB (lower is better)", *flagIdleN)
	rowIdlePer = "idle conns: KiB of RSS per connection (lower is better)"
	rowZeroPer = fmt.Sprintf("%d zero-window conns (GET %s, never read): KiB of RSS each (lower is better)", *flagZeroN, zeroWinRequest)
	rowZeroRing = "zero-window conns: KiB of TCP ring memory each (lower is better)"
	rowShortRate = fmt.Sprintf("%d short conns: req/s (ab -c20, /bytes/100)", *flagShortN)
	rowShortBefore = fmt.Sprintf("%d short conns: stack RSS before, MiB (lower is better)", *flagShortN)
	rowShortAfter = fmt.Sprintf("%d short conns: stack RSS after, MiB (lower is better)", *flagShortN)
	rowShortGrow = fmt.Sprintf("%d short conns: stack RSS growth, MiB (lower is better)", *flagShortN)

	rows, phases = nil, nil
	add := func(name string, rs ...string) {
		if selected[name] {
			rows = append(rows, rs...)
		}
	}
	add("ping", rowPing)
	add("bulk", rowIn, rowOut, rowInCPU, rowOutCPU)
	if *flagCounts {
		add("bulk", rowInCS, rowOutCS, rowInSys, rowOutSys)
	}
	add("wrk", rowWrk)
	add("ab", rowAb)
	add("idle", rowIdleBefore, rowIdleHeld, rowIdlePer)
	add("zerowin", rowZeroPer, rowZeroRing)
	add("short", rowShortRate, rowShortBefore, rowShortAfter, rowShortGrow)
	for _, pct := range lossPcts {
		add("loss", rowLoss(pct, true), rowLoss(pct, false))
	}
	rows = append(rows, rowCPU, rowRSS)
	for _, n := range phaseNames {
		if !selected[n] {
			continue
		}
		switch n {
		case "bulk":
			phases = append(phases, "bulk in", "bulk out")
		case "loss":
			for _, pct := range lossPcts {
				phases = append(phases, phaseLoss(pct, true), phaseLoss(pct, false))
			}
		default:
			phases = append(phases, n)
		}
	}
	return nil
}

// result is one stack's column.
type result struct {
	name    string
	val     map[string]float64            // row → value
	note    map[string]string             // row → why there is no value, or a warning
	cpu     map[string]float64            // phase → stack process CPU seconds
	busy    map[string]float64            // phase → machine-wide busy fraction (all cores)
	wall    map[string]float64            // phase → wall seconds
	client  map[string]float64            // phase → kernel-side client CPU seconds (Go client or tool)
	other   map[string]float64            // phase → CPU seconds of everything else on the machine
	rss     map[string]float64            // phase → stack process RSS at its end, MiB
	toStk   map[string]float64            // phase → frames kernel→stack (TAP tx_packets)
	fromSt  map[string]float64            // phase → frames stack→kernel (TAP rx_packets)
	counts  map[string]map[string]float64 // phase → perf stat event → count (-counts)
	spread  map[string]string             // row → "min–max" over rounds
	loadA   string                        // /proc/loadavg before
	loadB   string                        // and after
	cc      string                        // kernel congestion control in the namespace (the kernel side's)
	stackCC string                        // the stack side's congestion control
	errors  []string
}

func newResult(name string) *result {
	return &result{name: name, val: map[string]float64{}, note: map[string]string{},
		cpu: map[string]float64{}, busy: map[string]float64{}, wall: map[string]float64{},
		client: map[string]float64{}, other: map[string]float64{}, rss: map[string]float64{}, spread: map[string]string{},
		toStk: map[string]float64{}, fromSt: map[string]float64{}, counts: map[string]map[string]float64{}}
}

var once sync.Once

// BenchmarkTable runs every row against tapstack and then against gVisor,
// never both at once, and prints the table. b.N is ignored: one run is the
// whole benchmark (use -benchtime 1x).
func BenchmarkTable(b *testing.B) {
	ran := false
	once.Do(func() { ran = true; table(b) })
	if !ran {
		b.Skip("the table runs once per process")
	}
}

func table(b *testing.B) {
	if err := setup(); err != nil {
		b.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "tapstack")
	build := exec.Command("go", "build", "-o", bin, "github.com/tapstack/tapstack/cmd/tapstack")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("building tapstack: %v", err)
	}
	if err := os.MkdirAll(*flagResults, 0o755); err != nil {
		b.Fatal(err)
	}
	mtu := strconv.Itoa(*flagMTU)
	started := time.Now()

	cols := columns(exe, bin, mtu)
	rounds := map[string][]*result{}
	for round := 0; round < max(1, *flagRounds); round++ {
		for i := range cols {
			// Alternate which stack goes first, so a change in the
			// machine's background load does not always favour one.
			c := cols[(i+round)%len(cols)]
			if !c.runs() {
				continue
			}
			fmt.Fprintf(os.Stderr, "bench: round %d: %s\n", round+1, c.name)
			rounds[c.name] = append(rounds[c.name], measure(b, c))
		}
	}
	var results []*result
	for _, c := range cols {
		if rs := rounds[c.name]; len(rs) > 0 {
			results = append(results, median(rs))
		}
	}
	md := render(results, started)
	fmt.Print(md)
	out := filepath.Join(*flagResults, "latest.md")
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		b.Error(err)
	}
	fmt.Printf("\n(written to %s)\n", out)
}

// column is one column of the table: a stack, and how to start it in the
// namespace ns behind the link (a TAP, or a veth for the Linux columns).
type column struct {
	name  string
	start func(b *testing.B, ns *nstest.NS, link string) (*exec.Cmd, error)
	ready string // what the process logs on stderr once it serves
	// lossOnly columns run the loss phase only: they are there to
	// compare congestion controls under loss.
	lossOnly bool
	// bulkOnly columns run the bulk phase only (-big-mtu): the same
	// rows at another MTU.
	bulkOnly bool
	stackCC  string // the stack side's congestion control, for the notes
	linux    bool   // both sides run stackCC (linux_test.go)
}

// columns are the table's columns, in order: tapstack with its default
// congestion control, then with each other one, gVisor, and Linux to Linux
// over a veth with cubic and with bbr.
func columns(exe, bin, mtu string) []column {
	tapstack := func(cc string) func(*testing.B, *nstest.NS, string) (*exec.Cmd, error) {
		return tapstackAt(bin, cc, mtu, lossOffload())
	}
	cols := []column{{name: "tapstack", start: tapstack(tcp.DefaultCongestion), ready: tapstackReady, stackCC: tcp.DefaultCongestion}}
	if *flagBinB != "" {
		cols = append(cols, column{name: "tapstack B", start: tapstackAt(*flagBinB, tcp.DefaultCongestion, mtu, lossOffload()), ready: tapstackReady, stackCC: tcp.DefaultCongestion})
	}
	for _, cc := range tcp.CongestionControls() {
		if cc != tcp.DefaultCongestion {
			cols = append(cols, column{name: "tapstack " + cc, start: tapstack(cc), ready: tapstackReady, lossOnly: true, stackCC: cc})
		}
	}
	cols = append(cols, column{name: "gVisor", start: gvisorAt(exe, mtu), ready: gvisorReady, stackCC: "reno (netstack's default)"})
	for _, cc := range linuxCCs {
		cols = append(cols, column{name: "Linux " + cc, start: linuxPeer(exe, cc), ready: linuxReady, lossOnly: true, stackCC: cc, linux: true})
	}
	if *flagBigMTU > 0 {
		big := strconv.Itoa(*flagBigMTU)
		cols = append(cols,
			column{name: bigName("tapstack"), start: tapstackAt(bin, tcp.DefaultCongestion, big, "off"), ready: tapstackReady, bulkOnly: true, stackCC: tcp.DefaultCongestion},
			column{name: bigName("gVisor"), start: gvisorAt(exe, big), ready: gvisorReady, bulkOnly: true, stackCC: "reno (netstack's default)"})
		if *flagBinB != "" {
			cols = append(cols, column{name: bigName("tapstack B"), start: tapstackAt(*flagBinB, tcp.DefaultCongestion, big, "off"), ready: tapstackReady, bulkOnly: true, stackCC: tcp.DefaultCongestion})
		}
	}
	return cols
}

// lossOffload is the --offload of the tapstack columns: -offload, except
// that a run with the loss phase uses "off" unless -offload was given. The
// loss rules drop a frame as the TAP sees it, and with TSO a frame the
// stack writes is a train of up to 44 segments (the kernel's side gets
// gso_max_segs 1 for the same reason, "Loss" in README.md): N % of them
// would not be N % of the segments the other columns lose.
func lossOffload() string {
	if !selected["loss"] {
		return *flagOffload
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "offload" })
	if given {
		return *flagOffload
	}
	return "off"
}

// bigName is the name of a -big-mtu column of stack.
func bigName(stack string) string { return fmt.Sprintf("%s MTU %d", stack, *flagBigMTU) }

// tapstackAt starts `tapstack up` with congestion control cc at mtu with
// --offload offload.
func tapstackAt(bin, cc, mtu, offload string) func(*testing.B, *nstest.NS, string) (*exec.Cmd, error) {
	return func(_ *testing.B, ns *nstest.NS, tap string) (*exec.Cmd, error) {
		// The daemon's per-service connection limit (default 1024) is
		// a policy the gVisor column does not have: the zero-window and
		// idle phases open thousands of connections to one service.
		return ns.Command(context.Background(), bin, "up", "--tap", tap,
			"--addr", stackAddr+"/24", "--host-addr", hostAddr+"/24", "--mtu", mtu, "--congestion", cc, "--offload", offload,
			"--max-service-conns", "1000000"), nil
	}
}

// gvisorAt starts the gVisor stack (this binary re-executed) at mtu.
func gvisorAt(exe, mtu string) func(*testing.B, *nstest.NS, string) (*exec.Cmd, error) {
	return func(_ *testing.B, ns *nstest.NS, tap string) (*exec.Cmd, error) {
		cmd := ns.Command(context.Background(), exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), envGVisor+"=1", envTAP+"="+tap, envMTU+"="+mtu)
		if *flagGVProcs > 0 {
			cmd.Env = append(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", *flagGVProcs))
		}
		return cmd, nil
	}
}

// tapstackReady is what `tapstack up` logs once it serves.
const tapstackReady = `msg="tapstack up"`

// runs reports whether the column is measured in this run (-only, and a
// loss-only column needs the loss phase).
func (c column) runs() bool {
	if c.lossOnly && !selected["loss"] || c.bulkOnly && !selected["bulk"] {
		return false
	}
	if *flagOnly == "" {
		return true
	}
	for _, n := range strings.Split(*flagOnly, ",") {
		if strings.EqualFold(strings.TrimSpace(n), c.name) {
			return true
		}
	}
	return false
}

// on reports whether the column runs phase ph.
func (c column) on(ph string) bool {
	return selected[ph] && (!c.lossOnly || ph == "loss") && (!c.bulkOnly || ph == "bulk")
}

// proc is a running stack process.
type proc struct {
	cmd  *exec.Cmd
	pid  int
	out  *syncBuf
	done chan error
}

func measure(b *testing.B, c column) *result {
	name := c.name
	r := newResult(name)
	r.loadA = loadavg()
	r.stackCC = c.stackCC
	ns := nstest.New(b)
	tap := tapName()
	cmd, err := c.start(b, ns, tap)
	var p *proc
	if err == nil {
		p, err = start(cmd, c.ready)
	}
	if err != nil {
		r.loadB = loadavg()
		r.errors = append(r.errors, err.Error())
		note := "did not start"
		var na notAvailable
		if errors.As(err, &na) {
			note = string(na)
		}
		for _, row := range rows {
			r.note[row] = note
		}
		return r
	}
	r.cc = ccIn(ns)
	dialCC = ""
	if !c.linux && *flagClient != "" {
		dialCC, r.cc = *flagClient, *flagClient
	}
	if c.linux {
		// Set per route: what a connection gets is the check.
		if r.cc, err = clientCC(ns); err != nil || r.cc != c.stackCC {
			r.errors = append(r.errors, fmt.Sprintf("%s: the kernel side's connections run %q (%v)", ccMismatch, r.cc, err))
		}
	}
	// Resolve ARP and check the stack answers before anything is timed.
	if out, err := runIn(ns, time.Minute, "ping", "-c", "3", "-i", "0.2", "-W", "2", stackAddr); err != nil {
		r.errors = append(r.errors, fmt.Sprintf("warm-up ping: %v\n%s", err, out))
	}
	cpuStart := procCPU(p.pid)

	phase := func(ph string, f func()) {
		if p.exited() {
			r.errors = append(r.errors, fmt.Sprintf("%s: the stack process had exited before this phase", ph))
		}
		var perf *exec.Cmd
		if *flagPerf && ph != "ping" {
			perf = startPerf(b, p.pid, fmt.Sprintf("%s/perf-%s-%s.data", *flagResults, strings.ToLower(name), strings.ReplaceAll(ph, " ", "-")))
		}
		var counts *exec.Cmd
		countsOut := filepath.Join(b.TempDir(), "perf-stat.txt")
		if *flagCounts && strings.HasPrefix(ph, "bulk") {
			counts = startCounts(b, p.pid, countsOut)
		}
		tx0, rx0 := tapFrames(ns, tap)
		c0, s0, k0, m0, t0 := procCPU(p.pid), procCPU(os.Getpid()), toolCPU, machineCPU(), time.Now()
		f()
		c1, s1, k1, m1, t1 := procCPU(p.pid), procCPU(os.Getpid()), toolCPU, machineCPU(), time.Now()
		tx1, rx1 := tapFrames(ns, tap)
		r.toStk[ph], r.fromSt[ph] = float64(tx1-tx0), float64(rx1-rx0)
		stopPerf(perf)
		if counts != nil {
			stopPerf(counts)
			r.counts[ph] = readCounts(countsOut)
		}
		r.cpu[ph] = c1 - c0
		r.client[ph] = s1 - s0 + k1 - k0
		r.wall[ph] = t1.Sub(t0).Seconds()
		if tot := m1.total - m0.total; tot > 0 {
			r.busy[ph] = 1 - float64(m1.idle-m0.idle)/float64(tot)
			busySecs := float64(tot-(m1.idle-m0.idle)) / clkTck
			r.other[ph] = max(0, busySecs-r.cpu[ph]-r.client[ph])
		}
		if rss, err := vmRSS(p.pid); err == nil {
			r.rss[ph] = rss / 1024
		}
	}
	set := func(row string, v float64, err error) {
		if err != nil {
			r.note[row] = "error"
			r.errors = append(r.errors, fmt.Sprintf("%s: %v", row, err))
			return
		}
		r.val[row] = v
	}
	tool := func(row, name string) bool {
		if _, err := exec.LookPath(name); err != nil {
			r.note[row] = "n/a (" + name + " missing)"
			return false
		}
		return true
	}

	fail := func(err error, rs ...string) {
		r.errors = append(r.errors, err.Error())
		for _, row := range rs {
			r.note[row] = "error"
		}
	}

	// Idle connections first, in the fresh process: the per-connection
	// figure is least disturbed by what earlier phases left in the heap.
	if c.on("idle") {
		phase("idle", func() {
			ir, err := idleConns(ns, p.pid, *flagIdleN)
			if err != nil {
				fail(fmt.Errorf("idle: %w", err), rowIdleBefore, rowIdleHeld, rowIdlePer)
				return
			}
			r.val[rowIdleBefore] = ir.before / 1024
			r.val[rowIdleHeld] = ir.held / 1024
			r.val[rowIdlePer] = (ir.held - ir.before) / float64(*flagIdleN)
			r.errors = append(r.errors, fmt.Sprintf("idle: %d connections to tcp/9 opened in %.1f s (%d dials retried); the stack's curr_estab then %d (with the /stats request's own)",
				*flagIdleN, ir.dialFor.Seconds(), ir.retries, ir.estab))
		})
	}
	// Zero-window connections next: each asks for 10 MB and stalls, so the
	// figure is what a stalled peer pins (the send buffer above all). Run
	// it alone (-phases zerowin) for a fresh heap: after the idle phase
	// part of what it freed is reused.
	if c.on("zerowin") {
		phase("zerowin", func() {
			zr, err := zeroWinConns(ns, p.pid, *flagZeroN)
			if err != nil {
				fail(fmt.Errorf("zerowin: %w", err), rowZeroPer, rowZeroRing)
				return
			}
			r.val[rowZeroPer] = (zr.held - zr.before) / float64(*flagZeroN)
			if zr.ringBytes > 0 {
				r.val[rowZeroRing] = float64(zr.ringBytes) / 1024 / float64(*flagZeroN)
			} else {
				r.note[rowZeroRing] = "n/a (not reported)"
			}
			r.errors = append(r.errors, fmt.Sprintf("zerowin: %d connections opened in %.1f s (%d dials retried); RSS %.1f → %.1f MiB",
				*flagZeroN, zr.dialFor.Seconds(), zr.retries, zr.before/1024, zr.held/1024))
		})
	}
	if c.on("ping") && tool(rowPing, "ping") {
		phase("ping", func() { v, err := pingRTT(ns); set(rowPing, v, err) })
	}
	if c.on("bulk") {
		phase("bulk in", func() { v, err := bulkIn(ns, *flagWarmup, *flagDur); set(rowIn, v, err) })
		phase("bulk out", func() { v, err := bulkOut(ns, *flagWarmup, *flagDur); set(rowOut, v, err) })
		cpuPerGB(r, rowInCPU, rowIn, "bulk in")
		cpuPerGB(r, rowOutCPU, rowOut, "bulk out")
		if *flagCounts {
			countPerGB(r, rowInCS, rowIn, "bulk in", "context-switches")
			countPerGB(r, rowOutCS, rowOut, "bulk out", "context-switches")
			countPerGB(r, rowInSys, rowIn, "bulk in", "raw_syscalls:sys_enter")
			countPerGB(r, rowOutSys, rowOut, "bulk out", "raw_syscalls:sys_enter")
			countNotes(r, rowIn, "bulk in")
			countNotes(r, rowOut, "bulk out")
		}
	}
	if c.on("wrk") && tool(rowWrk, "wrk") {
		phase("wrk", func() { v, warn, err := wrk(ns, *flagDur); set(rowWrk, v, err); addWarn(r, rowWrk, warn) })
	}
	// Short connections right after the keep-alive load (the issue's
	// gVisor figures: about 117 MB before, 167 MB after).
	var shortEnd time.Time
	if c.on("short") && tool(rowShortRate, "ab") {
		phase("short", func() {
			before, err := vmRSS(p.pid)
			if err != nil {
				fail(err, rowShortRate, rowShortBefore, rowShortAfter, rowShortGrow)
				return
			}
			v, warn, err := ab(ns, *flagShortN)
			set(rowShortRate, v, err)
			addWarn(r, rowShortRate, warn)
			after, err := vmRSS(p.pid)
			if err != nil {
				fail(err, rowShortBefore, rowShortAfter, rowShortGrow)
				return
			}
			r.val[rowShortBefore], r.val[rowShortAfter], r.val[rowShortGrow] = before/1024, after/1024, (after-before)/1024
		})
		shortEnd = time.Now()
	}
	if c.on("loss") {
		if _, err := exec.LookPath("nft"); err != nil {
			for _, pct := range lossPcts {
				r.note[rowLoss(pct, true)], r.note[rowLoss(pct, false)] = "n/a (nft missing)", "n/a (nft missing)"
			}
		}
		for _, pct := range lossPcts {
			if r.note[rowLoss(pct, true)] != "" {
				break
			}
			in, out := phaseLoss(pct, true), phaseLoss(pct, false)
			st0, stErr := stackStats(ns)
			lc, err := withLoss(ns, tap, pct, func() {
				phase(in, func() { v, err := bulkIn(ns, *flagWarmup, *flagDur); set(rowLoss(pct, true), v, err) })
				phase(out, func() { v, err := bulkOut(ns, *flagWarmup, *flagDur); set(rowLoss(pct, false), v, err) })
			})
			if err != nil {
				fail(fmt.Errorf("loss %s%%: %w", pctName(pct), err), rowLoss(pct, true), rowLoss(pct, false))
				continue
			}
			// The egress hook runs before the TAP counts a frame, the
			// ingress hook after.
			sentToStack := lc.toStack + uint64(r.toStk[in]+r.toStk[out])
			fromStack := uint64(r.fromSt[in] + r.fromSt[out])
			r.errors = append(r.errors, fmt.Sprintf("loss %s%%: nftables dropped %d of %d frames kernel→stack (%.2f%%), %d of %d stack→kernel (%.2f%%)",
				pctName(pct), lc.toStack, sentToStack, pctOf(lc.toStack, sentToStack), lc.fromStack, fromStack, pctOf(lc.fromStack, fromStack)))
			if st1, err := stackStats(ns); stErr == nil && err == nil {
				a, b := st0.TCP, st1.TCP
				r.errors = append(r.errors, fmt.Sprintf("loss %s%%: the stack retransmitted %d segments, with %d RTOs and %d fast recoveries (both rows)",
					pctName(pct), b.RetransSegs-a.RetransSegs, b.Timeouts-a.Timeouts, b.Recoveries-a.Recoveries))
			}
		}
	}
	if c.on("ab") && tool(rowAb, "ab") {
		// The short phase leaves up to a port range's worth of
		// connections in TIME-WAIT on the stack (the server closes
		// first); both stacks hold TIME-WAIT 60 s. Let them expire so the
		// ab row starts from the state it always has.
		if d := time.Until(shortEnd.Add(61 * time.Second)); !shortEnd.IsZero() && d > 0 {
			fmt.Fprintf(os.Stderr, "bench: %s: waiting %v for the short phase's TIME-WAIT to expire\n", name, d.Round(time.Second))
			time.Sleep(d)
		}
		phase("ab", func() { v, warn, err := ab(ns, *flagAbN); set(rowAb, v, err); addWarn(r, rowAb, warn) })
	}

	if strings.HasPrefix(name, "tapstack") {
		r.errors = append(r.errors, tapstackConns(ns))
	}
	// A loss-only column's whole run is comparable with the others' only
	// when they ran the loss phase alone too.
	only := func(ph string) bool {
		return !slices.ContainsFunc(phaseNames, func(p string) bool { return p != ph && selected[p] })
	}
	if (!c.lossOnly || only("loss")) && (!c.bulkOnly || only("bulk")) {
		r.val[rowCPU] = procCPU(p.pid) - cpuStart
		if hwm, err := vmHWM(p.pid); err == nil {
			r.val[rowRSS] = hwm / 1024
		} else {
			r.note[rowRSS] = "error"
			r.errors = append(r.errors, err.Error())
		}
	}
	for _, row := range rows {
		if _, ok := r.val[row]; !ok && r.note[row] == "" && (c.lossOnly || c.bulkOnly) {
			r.note[row] = "–"
		}
	}
	if p.exited() {
		r.errors = append(r.errors, "the stack process exited during the run:\n"+tail(p.out.String(), 2000))
	}
	if out := p.out.String(); strings.Contains(out, ccMismatch) {
		r.errors = append(r.errors, "the stack side's connections:\n"+tail(out, 2000))
	}
	if err := p.stop(); err != nil {
		r.errors = append(r.errors, fmt.Sprintf("stopping %s: %v\n%s", name, err, tail(p.out.String(), 2000)))
	}
	r.loadB = loadavg()
	return r
}

// cpuPerGB sets row to the stack process's CPU seconds in phase ph per
// GB (10^9 bytes) the phase moved, taking the rate of rate (Gbit/s) over
// the phase's whole wall time: its warm-up and connection set-up count
// as if at that rate, so the figure is high by their share, alike for
// every column.
func cpuPerGB(r *result, row, rate, ph string) {
	v, ok := r.val[rate]
	if !ok || v == 0 || r.wall[ph] == 0 {
		r.note[row] = "n/a"
		return
	}
	r.val[row] = r.cpu[ph] / (v * r.wall[ph] / 8)
}

// countPerGB is row: the perf stat count event of phase ph per GB moved
// at the rate of row rate over the phase's wall time, as cpuPerGB.
func countPerGB(r *result, row, rate, ph, event string) {
	v, ok := r.val[rate]
	n, counted := r.counts[ph][event]
	if !ok || v == 0 || r.wall[ph] == 0 || !counted {
		r.note[row] = "n/a"
		return
	}
	r.val[row] = n / (v * r.wall[ph] / 8)
}

// countNotes lists every count of phase ph per GB under the table.
func countNotes(r *result, rate, ph string) {
	v := r.val[rate]
	if v == 0 || r.wall[ph] == 0 || len(r.counts[ph]) == 0 {
		return
	}
	gb := v * r.wall[ph] / 8
	var parts []string
	for _, ev := range strings.Split(countEvents, ",") {
		if n, ok := r.counts[ph][ev]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimPrefix(strings.TrimPrefix(ev, "syscalls:sys_enter_"), "raw_syscalls:"), n/gb))
		}
	}
	r.errors = append(r.errors, fmt.Sprintf("%s, per GB: %s", ph, strings.Join(parts, ", ")))
}

func pctOf(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

func addWarn(r *result, row, warn string) {
	if warn != "" {
		r.errors = append(r.errors, row+": "+warn)
	}
}

func start(cmd *exec.Cmd, ready string) (*proc, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, out: &syncBuf{}, done: make(chan error, 1)}
	cmd.Stdout = p.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// `ip netns exec` execs the program, so the pid is the stack's own.
	p.pid = cmd.Process.Pid
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			fmt.Fprintln(p.out, sc.Text())
			if !signalled && strings.Contains(sc.Text(), ready) {
				signalled = true
				close(up)
			}
		}
		io.Copy(io.Discard, stderr)
		p.done <- cmd.Wait()
		close(p.done)
	}()
	select {
	case <-up:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("exited before it was ready: %v\n%s", err, p.out)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("not ready after 30s:\n%s", p.out)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err, ok := <-p.done:
		if !ok {
			return nil // already reported by exited
		}
		return err
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		return fmt.Errorf("ignored SIGTERM for 20s")
	}
}

func startPerf(b *testing.B, pid int, out string) *exec.Cmd {
	return runPerf(b, "record", "-q", "-g", "-F", "499", "-p", strconv.Itoa(pid), "-o", out)
}

// startCounts runs `perf stat` on the process pid (all its threads),
// writing CSV to out until stopPerf.
func startCounts(b *testing.B, pid int, out string) *exec.Cmd {
	return runPerf(b, "stat", "-x,", "-o", out, "-e", countEvents, "-p", strconv.Itoa(pid))
}

// runPerf starts `perf args...` and gives it time to attach; nil (and a
// log line) when perf is missing or fails to start.
func runPerf(b *testing.B, args ...string) *exec.Cmd {
	if _, err := exec.LookPath("perf"); err != nil {
		b.Logf("perf: not installed")
		return nil
	}
	cmd := exec.Command("perf", args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		b.Logf("perf %s: %v", args[0], err)
		return nil
	}
	time.Sleep(200 * time.Millisecond) // let it attach
	return cmd
}

// countEvents are what startCounts counts: the rows' two and, for the
// notes under the table, the system calls a stack's data path makes.
const countEvents = "context-switches,cpu-migrations,raw_syscalls:sys_enter," +
	"syscalls:sys_enter_read,syscalls:sys_enter_readv,syscalls:sys_enter_write,syscalls:sys_enter_writev," +
	"syscalls:sys_enter_futex,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_nanosleep,syscalls:sys_enter_sched_yield," +
	"syscalls:sys_enter_ppoll,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_sendmmsg"

// readCounts parses startCounts' CSV: event → count.
func readCounts(path string) map[string]float64 {
	m := map[string]float64{}
	data, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			m[f[2]] = v
		}
	}
	return m
}

func stopPerf(cmd *exec.Cmd) {
	if cmd == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
}

func tapName() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "bch" + hex.EncodeToString(b)
}

// runIn runs a program inside ns and returns its combined output.
func runIn(ns *nstest.NS, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := ns.Command(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if st := cmd.ProcessState; st != nil {
		toolCPU += (st.UserTime() + st.SystemTime()).Seconds()
	}
	return string(out), err
}

// toolCPU sums the CPU time of the tools runIn ran (`ip netns exec` execs
// them, so the child's rusage is the tool's). Only the benchmark goroutine
// touches it.
var toolCPU float64

func ccIn(ns *nstest.NS) string {
	var s string
	ns.Do(func() error {
		b, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
		s = strings.TrimSpace(string(b))
		return nil
	})
	return s
}

// syncBuf collects a process's output.
type syncBuf = testbin.Output

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func render(results []*result, started time.Time) string {
	var w strings.Builder
	uname, _ := exec.Command("uname", "-r").Output()
	title := "tapstack vs gVisor netstack over a TAP"
	if slices.ContainsFunc(results, func(r *result) bool { return strings.HasPrefix(r.name, "Linux") }) {
		title += " (Linux columns: Linux to Linux over a veth)"
	}
	fmt.Fprintf(&w, "## %s, MTU %d\n\n", title, *flagMTU)
	fmt.Fprintf(&w, "%s · kernel %s · %d CPUs · %s · gVisor %s\n\n", started.Format(time.RFC3339),
		strings.TrimSpace(string(uname)), runtime.NumCPU(), runtime.Version(), gvisorVersion())
	// Ratio columns: tapstack against gVisor, and against Linux CUBIC
	// where that column ran (its loss rows).
	ratios := [][2]string{{"tapstack", "gVisor"}}
	if ns := names(results); slices.Contains(ns, bigName("tapstack")) && slices.Contains(ns, bigName("gVisor")) {
		ratios = append(ratios, [2]string{bigName("tapstack"), bigName("gVisor")})
	}
	if slices.Contains(names(results), linuxRef) {
		ratios = append(ratios, [2]string{"tapstack", linuxRef})
	}
	fmt.Fprintf(&w, "| metric | %s |", strings.Join(names(results), " | "))
	for _, rt := range ratios {
		fmt.Fprintf(&w, " ratio %s/%s |", rt[0], rt[1])
	}
	fmt.Fprint(&w, "\n|---|")
	for range len(results) + len(ratios) {
		fmt.Fprint(&w, "---:|")
	}
	fmt.Fprint(&w, "\n")
	for _, row := range rows {
		fmt.Fprintf(&w, "| %s |", row)
		for _, r := range results {
			fmt.Fprintf(&w, " %s |", cell(r, row))
		}
		for _, rt := range ratios {
			// Against Linux only the loss rows: its "stack process"
			// does not hold its TCP's CPU or memory.
			if rt[1] == linuxRef && !strings.Contains(row, "% loss") {
				fmt.Fprint(&w, " – |")
				continue
			}
			fmt.Fprintf(&w, " %s |", ratio(results, row, rt[0], rt[1]))
		}
		fmt.Fprint(&w, "\n")
	}
	fmt.Fprint(&w, "\nPer phase, CPU seconds: the stack process / the kernel-side client (Go client or tool, with its kernel work) / everything else on the machine; wall seconds; machine busy (all CPUs); stack RSS at the end of the phase; TAP frames kernel→stack / stack→kernel\n\n")
	fmt.Fprintf(&w, "| phase | %s |\n|---|", strings.Join(names(results), " | "))
	for range results {
		fmt.Fprint(&w, "---:|")
	}
	fmt.Fprint(&w, "\n")
	for _, ph := range phases {
		fmt.Fprintf(&w, "| %s |", ph)
		for _, r := range results {
			if wall, ok := r.wall[ph]; ok {
				fmt.Fprintf(&w, " %.2f / %.2f / %.2f CPU s in %.1f s, busy %.0f%%, RSS %.0f MiB, frames %s / %s |",
					r.cpu[ph], r.client[ph], r.other[ph], wall, 100*r.busy[ph], r.rss[ph], count(r.toStk[ph]), count(r.fromSt[ph]))
			} else {
				fmt.Fprint(&w, " – |")
			}
		}
		fmt.Fprint(&w, "\n")
	}
	fmt.Fprint(&w, "\n")
	for _, r := range results {
		fmt.Fprintf(&w, "- %s: loadavg before `%s`, after `%s`; congestion control: kernel side (client, the sender kernel→stack) %s, stack side (the sender stack→kernel) %s\n",
			r.name, r.loadA, r.loadB, r.cc, r.stackCC)
	}
	for _, r := range results {
		for _, e := range r.errors {
			fmt.Fprintf(&w, "- %s: %s\n", r.name, strings.ReplaceAll(strings.TrimSpace(e), "\n", "\n  "))
		}
	}
	return w.String()
}

func names(results []*result) []string {
	var n []string
	for _, r := range results {
		n = append(n, r.name)
	}
	return n
}

func cell(r *result, row string) string {
	if v, ok := r.val[row]; ok {
		if sp := r.spread[row]; sp != "" {
			return format(v) + " (" + sp + ")"
		}
		return format(v)
	}
	if n := r.note[row]; n != "" {
		return n
	}
	return "n/a"
}

func format(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// ratio is column num's value of row over column den's, or "–".
func ratio(results []*result, row, num, den string) string {
	var a, g *result
	for _, r := range results {
		switch r.name {
		case num:
			a = r
		case den:
			g = r
		}
	}
	if a == nil || g == nil {
		return "–"
	}
	x, ok1 := a.val[row]
	y, ok2 := g.val[row]
	if !ok1 || !ok2 || y == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", x/y)
}

func gvisorVersion() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "gvisor.dev/gvisor").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// median folds the rounds of one stack into one result: the median of every
// value (the mean of the middle two for an even count), the range of each row, the
// notes and errors of every round, and the first and last load average.
func median(rs []*result) *result {
	if len(rs) == 1 {
		return rs[0]
	}
	m := newResult(rs[0].name)
	m.loadA, m.loadB, m.cc, m.stackCC = rs[0].loadA, rs[len(rs)-1].loadB, rs[0].cc, rs[0].stackCC
	fold := func(dst map[string]float64, get func(*result) map[string]float64) {
		keys := map[string]bool{}
		for _, r := range rs {
			for k := range get(r) {
				keys[k] = true
			}
		}
		for k := range keys {
			var vs []float64
			for _, r := range rs {
				if v, ok := get(r)[k]; ok {
					vs = append(vs, v)
				}
			}
			slices.Sort(vs)
			dst[k] = (vs[(len(vs)-1)/2] + vs[len(vs)/2]) / 2
		}
	}
	fold(m.val, func(r *result) map[string]float64 { return r.val })
	fold(m.cpu, func(r *result) map[string]float64 { return r.cpu })
	fold(m.busy, func(r *result) map[string]float64 { return r.busy })
	fold(m.wall, func(r *result) map[string]float64 { return r.wall })
	fold(m.client, func(r *result) map[string]float64 { return r.client })
	fold(m.other, func(r *result) map[string]float64 { return r.other })
	fold(m.rss, func(r *result) map[string]float64 { return r.rss })
	fold(m.toStk, func(r *result) map[string]float64 { return r.toStk })
	fold(m.fromSt, func(r *result) map[string]float64 { return r.fromSt })
	for _, row := range rows {
		var vs []float64
		for _, r := range rs {
			if v, ok := r.val[row]; ok {
				vs = append(vs, v)
			}
		}
		if len(vs) > 1 {
			m.spread[row] = format(slices.Min(vs)) + "–" + format(slices.Max(vs))
		}
		if len(vs) < len(rs) {
			m.spread[row] += fmt.Sprintf(", %d of %d rounds", len(vs), len(rs))
		}
	}
	for i, r := range rs {
		for k, v := range r.note {
			if _, ok := m.val[k]; !ok {
				m.note[k] = v
			}
		}
		for _, e := range r.errors {
			m.errors = append(m.errors, fmt.Sprintf("round %d: %s", i+1, e))
		}
	}
	return m
}

// count formats a frame count: 1234567 → 1.23M.
func count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// tapFrames reads the TAP's kernel-side packet counters: tx is what the
// kernel sent to the stack, rx what it received from it.
func tapFrames(ns *nstest.NS, tap string) (tx, rx uint64) {
	ns.Do(func() error {
		l, err := netlink.LinkByName(tap)
		if err != nil || l.Attrs().Statistics == nil {
			return err
		}
		tx, rx = l.Attrs().Statistics.TxPackets, l.Attrs().Statistics.RxPackets
		return nil
	})
	return tx, rx
}
