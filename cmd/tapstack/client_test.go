package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// handlerTransport answers requests with a handler, in memory.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// withDaemon points ss and stat at d for the test.
func withDaemon(t *testing.T, d *daemon) {
	old := daemonClient
	daemonClient = &http.Client{Transport: handlerTransport{d.httpHandler()}}
	t.Cleanup(func() { daemonClient = old })
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	switch args[0] {
	case "ss":
		code = cmdSS(context.Background(), args[1:], &o, &e)
	case "stat":
		code = cmdStat(context.Background(), args[1:], &o, &e)
	}
	return code, o.String(), e.String()
}

// TestSS_ReadsTheDaemonsStatusPage: tapstack ss lists the daemon's
// connections as ss -tin (a row, then a tab-indented info line), says
// when it shows fewer than match, passes the filters on, prints the count
// by state with -s and the listeners with -l, and a bad filter is one
// line from the daemon.
func TestSS_ReadsTheDaemonsStatusPage(t *testing.T) {
	p := newTWPeer(t)
	p.timeWaits(1024, 3)
	lis, err := p.st.NewTCPEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	if err := lis.Listen(7); err != nil {
		t.Fatal(err)
	}
	withDaemon(t, testDaemon(p.st))

	code, out, errOut := runCmd("ss", "-n", "2")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 5 || !strings.HasPrefix(lines[0], "State") ||
		!strings.HasPrefix(lines[1], "TIME-WAIT ") || !strings.HasPrefix(lines[2], "\t") || !strings.Contains(lines[2], "timer:(timewait,") {
		t.Fatalf("ss -n 2: exit %d:\n%s", code, out)
	}
	if errOut != "tapstack ss: 2 of 3 connections shown (-n to see more)\n" {
		t.Errorf("ss -n 2: stderr %q", errOut)
	}
	if code, out, _ := runCmd("ss", "--port", "1025"); code != 0 || strings.Count(out, "TIME-WAIT ") != 1 || !strings.Contains(out, ":1025\n") {
		t.Errorf("ss --port 1025: exit %d:\n%s", code, out)
	}
	if code, out, _ := runCmd("ss", "--state", "estab"); code != 0 || strings.Contains(out, "TIME-WAIT") {
		t.Errorf("ss --state estab: exit %d:\n%s", code, out)
	}
	if code, out, _ := runCmd("ss", "-s"); code != 0 || out != "TCP connections: 3\n  TIME-WAIT    3\n" {
		t.Errorf("ss -s: exit %d: %q", code, out)
	}
	if code, out, _ := runCmd("ss", "-l"); code != 0 || !strings.Contains(out, "LISTEN ") || !strings.Contains(out, " 7 ") {
		t.Errorf("ss -l: exit %d (want a listener with backlog 7):\n%s", code, out)
	}
	code, _, errOut = runCmd("ss", "--state", "open")
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "?state=open: want one of SYN-SENT,") {
		t.Errorf("ss --state open: exit %d, %q", code, errOut)
	}
}

// TestStat_PrintsCountersAsNstat: tapstack stat prints the counters under
// their nstat names where Linux has them, the rest by /stats key, zeros
// only with -z, and only those matching the patterns given.
func TestStat_PrintsCountersAsNstat(t *testing.T) {
	p := newTWPeer(t)
	p.timeWaits(1024, 3)
	withDaemon(t, testDaemon(p.st))

	code, out, _ := runCmd("stat")
	if code != 0 || !strings.Contains(out, "TcpPassiveOpens ") || !strings.Contains(out, "tcp.time_wait ") || strings.Contains(out, "TcpRetransSegs") {
		t.Fatalf("stat: exit %d:\n%s", code, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) != 2 || f[1] == "0" {
			t.Errorf("stat: line %q: want a name and a non-zero value", line)
		}
	}
	code, out, _ = runCmd("stat", "-z", "Tcp*")
	fields := strings.Fields(out)
	if code != 0 || !strings.Contains(out, "TcpRetransSegs                   0\n") || !strings.Contains(out, "TcpPassiveOpens                  3\n") || strings.Contains(out, "Udp") || len(fields)%2 != 0 {
		t.Fatalf("stat -z 'Tcp*': exit %d:\n%s", code, out)
	}
}
