package integration

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
)

// TestOperators_SSAndStatReadARunningDaemon: from the host side of the
// TAP, tapstack ss and tapstack stat read the daemon's status page and
// counters: the listeners of its services, the count by state (the
// request's own connection ESTABLISHED), and
// TcpPassiveOpens after a few requests; /metrics carries the same count
// under node_exporter's name.
func TestOperators_SSAndStatReadARunningDaemon(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns, "--services", "echo,http")
	for range 3 {
		curl(t, ns, "http://"+stackAddr+"/stats")
	}
	url := "http://" + stackAddr + "/"
	out, err := run(t, ns, bin, "ss", "-l", "--url", url)
	// The services are dual-stack ([::] for IPv4 and IPv6): ss shows *:port.
	if err != nil || !regexp.MustCompile(`(?m)^LISTEN .* \*:7 +\*:\*$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^LISTEN .* \*:80 +\*:\*$`).MatchString(out) || strings.Contains(out, ":9 ") {
		t.Fatalf("tapstack ss -l: %v\n%s", err, out)
	}
	out, err = run(t, ns, bin, "ss", "-s", "--url", url)
	if err != nil || !strings.HasPrefix(out, "TCP connections: ") || !strings.Contains(out, "\n  ESTABLISHED  ") {
		t.Fatalf("tapstack ss -s: %v\n%s", err, out)
	}
	out, err = run(t, ns, bin, "stat", "--url", url, "TcpPassiveOpens")
	f := strings.Fields(out)
	if err != nil || len(f) != 2 || f[0] != "TcpPassiveOpens" {
		t.Fatalf("tapstack stat TcpPassiveOpens: %v\n%s", err, out)
	}
	if n, _ := strconv.Atoi(f[1]); n < 3 {
		t.Fatalf("TcpPassiveOpens %s after 3 requests", f[1])
	}
	metrics := curl(t, ns, url+"metrics")
	if !regexp.MustCompile(`(?m)^tapstack_netstat_Tcp_PassiveOpens [1-9]`).MatchString(metrics) {
		t.Fatalf("/metrics lacks a non-zero tapstack_netstat_Tcp_PassiveOpens:\n%.2000s", metrics)
	}
}
