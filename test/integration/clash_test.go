package integration

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
)

// passFlags is the "pass ..." part of a clash message: the flags to use
// instead (up to a parenthesised remark).
var passFlags = regexp.MustCompile(`; pass ([^()]*?)\s*(\(|$)`)

// clashLine runs `tapstack args...` inside ns, expects it to fail with one
// line holding every one of want (never a ping run with 100% loss, never a
// get waiting out its timeout), and returns the flags the line says to
// pass.
func clashLine(t *testing.T, ns *nstest.NS, args []string, want ...string) []string {
	t.Helper()
	out, err := run(t, ns, bin, args...)
	line := strings.TrimSpace(out)
	if err == nil || strings.Contains(line, "\n") || strings.Contains(out, "packets transmitted") {
		t.Fatalf("tapstack %s next to a running daemon: %v, want one line naming the clash; got:\n%s", strings.Join(args, " "), err, out)
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("tapstack %s: %q lacks %q", strings.Join(args, " "), line, w)
		}
	}
	m := passFlags.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("tapstack %s: %q says no flags to pass", strings.Join(args, " "), line)
	}
	return strings.Fields(m[1])
}

// TestPingGet_NextToDaemon_ClashNamedThenSuggestedFlagsWork: `tapstack
// ping` and `get` with their default flags next to a running `tapstack up`
// (the same TAP name, the same subnet) fail at once with one line naming
// the clash and the flags that avoid it, and those flags work: the host's
// address at once, the daemon's once the host forwards (which the line
// says).
func TestPingGet_NextToDaemon_ClashNamedThenSuggestedFlagsWork(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns, "--tap", "tap0") // every link flag at its default

	// The same TAP name: the kernel gives a TAP to one process.
	busy := []string{"TAP tap0 is in use", "--tap tap1 --addr 10.0.1.2/24 --host-addr 10.0.1.1/24"}
	clashLine(t, ns, []string{"ping", "-c", "1", hostAddr}, busy...)
	clashLine(t, ns, []string{"get", "http://" + hostAddr + ":1/"}, busy...)
	// The daemon is reached through the host: the line says it must forward.
	flags := clashLine(t, ns, []string{"ping", "-c", "1", stackAddr}, append(busy, stackAddr+" is then reached through the host", "ip_forward=1")...)

	// Another TAP name in the daemon's subnet: the kernel would answer
	// through tap0 only.
	clashLine(t, ns, []string{"ping", "--tap", tapName(), "-c", "1", hostAddr},
		"10.0.0.0/24 is already on tap0", "--addr 10.0.1.2/24 --host-addr 10.0.1.1/24")

	// The suggested flags work: the host's address...
	out, err := run(t, ns, bin, append(append([]string{"ping"}, flags...), "-c", "2", "-i", "200ms", hostAddr)...)
	if err != nil || !strings.Contains(out, "2 packets transmitted, 2 received") {
		t.Fatalf("tapstack ping %s with the suggested flags %v: %v\n%s", hostAddr, flags, err, out)
	}
	// ... and, the host forwarding, the daemon's services.
	if out, err := run(t, ns, "sysctl", "-w", "net.ipv4.ip_forward=1"); err != nil {
		t.Fatalf("sysctl: %v\n%s", err, out)
	}
	out, err = run(t, ns, bin, append(append([]string{"get"}, flags...), "http://"+stackAddr+"/bytes/5")...)
	if err != nil || len(out) != 5 {
		t.Fatalf("tapstack get from the daemon with the suggested flags %v: %v\n%q", flags, err, out)
	}
}
