package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// startedPair is two started stacks on a Pipe (real clock): a client at
// 10.0.0.1 and the daemon's stack at 10.0.0.2, and the client's end of
// the Pipe (for impairments).
func startedPair(t *testing.T) (client, srv *stack.Stack, clientEnd *nic.PipeEnd) {
	pa, pb := nic.NewPipe(nic.PipeConfig{MTU: 1500, QueueLen: 4096})
	quiet := slog.New(slog.DiscardHandler)
	client, err := stack.New(pa, stack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv, err = stack.New(pb, stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	client.Start()
	srv.Start()
	t.Cleanup(func() { client.Close(); srv.Close() })
	return client, srv, pa
}

// startServices parses args as up's service flags and starts them on st.
func startServices(t *testing.T, st *stack.Stack, args ...string) *daemon {
	t.Helper()
	var f serviceFlags
	fs := flagSet(&f)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	defs, err := f.parse()
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(st, slog.New(slog.DiscardHandler), &f)
	closers, err := d.start(defs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range closers {
			c.Close()
		}
	})
	return d
}

// TestBytes_CapRefusedBeyondMaxBytes: /bytes/N beyond --max-bytes is a
// 400 with one line naming the flag; up to it, N bytes.
func TestBytes_CapRefusedBeyondMaxBytes(t *testing.T) {
	_, st, _ := startedPair(t)
	var f serviceFlags
	if err := flagSet(&f).Parse([]string{"--max-bytes", "200000"}); err != nil {
		t.Fatal(err)
	}
	h := newDaemon(st, slog.New(slog.DiscardHandler), &f).httpHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/bytes/200001", nil))
	if body := rec.Body.String(); rec.Code != 400 || strings.Count(body, "\n") != 1 || !strings.Contains(body, "--max-bytes") {
		t.Fatalf("/bytes/200001: %d %.200q, want 400 and one line naming --max-bytes", rec.Code, body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/bytes/200000", nil))
	if rec.Code != 200 || rec.Body.Len() != 200000 {
		t.Fatalf("/bytes/200000: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// TestServices_ConnectionLimitEnforced: with --max-service-conns 2, a
// third connection to discard is closed at once and counted; once one of
// the two closes, a new one is served.
func TestServices_ConnectionLimitEnforced(t *testing.T) {
	client, st, _ := startedPair(t)
	d := startServices(t, st, "--services", "discard", "--max-service-conns", "2")
	svc := d.services[0]
	dial := func() net.Conn {
		t.Helper()
		c, err := socket.Dial(client, "tcp", "10.0.0.2:9")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c1 := dial()
	dial()
	waitFor(t, "two connections served", func() bool { return svc.active.Load() == 2 })
	c3 := dial()
	c3.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c3.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third connection: read %d, %v; want EOF (closed by the limit)", n, err)
	}
	if r := svc.refused.Load(); r != 1 {
		t.Fatalf("refused %d, want 1", r)
	}
	c1.Close()
	waitFor(t, "the slot freed", func() bool { return svc.active.Load() == 1 })
	c4 := dial()
	waitFor(t, "the fourth served", func() bool { return svc.active.Load() == 2 })
	if _, err := c4.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if r := svc.refused.Load(); r != 1 {
		t.Fatalf("refused %d after a slot freed, want still 1", r)
	}
	// /metrics and /stats count it.
	rec := httptest.NewRecorder()
	d.httpHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "tapstack_service_refused_total{service=\"discard\"} 1\n") {
		t.Errorf("/metrics lacks the refused count:\n%s", rec.Body)
	}
}

// TestHTTP_LimitsOnTheWire: served over the stack, the HTTP service
// refuses a header larger than its limit (431), streams /bytes/N larger
// than several chunks, and closes connections beyond the limit.
func TestHTTP_LimitsOnTheWire(t *testing.T) {
	client, st, _ := startedPair(t)
	d := startServices(t, st, "--services", "http", "--max-service-conns", "1")
	hc := &http.Client{Transport: &http.Transport{DialContext: (&socket.Dialer{Stack: client}).DialContext}}
	defer hc.CloseIdleConnections()

	resp, err := hc.Get("http://10.0.0.2/bytes/1000000")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != 1000000 {
		t.Fatalf("/bytes/1000000: %d bytes, %v", n, err)
	}

	// The idle keep-alive connection holds the one slot: a second
	// connection is closed unanswered (reset: its request went unread,
	// RFC 2525 §2.17).
	c, err := socket.Dial(client, "tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); (err != nil && !errors.Is(err, syscall.ECONNRESET)) || len(b) != 0 {
		t.Fatalf("second connection: %.200q, %v; want closed unanswered", b, err)
	}
	if r := d.services[0].refused.Load(); r != 1 {
		t.Fatalf("refused %d, want 1", r)
	}
	hc.CloseIdleConnections()
	waitFor(t, "the slot freed", func() bool { return d.services[0].active.Load() == 0 })

	c, err = socket.Dial(client, "tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := strings.Repeat("a", 2*httpMaxHeaderBytes)
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a %d-byte header: %s, want 431", len(big), resp.Status)
	}
}

// TestServices_FlagSelects: --services runs exactly the services named.
func TestServices_FlagSelects(t *testing.T) {
	_, st, _ := startedPair(t)
	startServices(t, st, "--services", "echo,http")
	var ports []uint16
	for _, l := range st.TCPListeners() {
		ports = append(ports, l.Local.Port())
	}
	if fmt.Sprint(ports) != "[7 80]" || len(st.UDPEndpoints()) != 0 {
		t.Fatalf("listening on TCP %v and %d UDP sockets; want [7 80] and none", ports, len(st.UDPEndpoints()))
	}
}

// TestUp_BadServiceFlagsOneLine: a bad --services, --max-bytes or
// --max-service-conns is refused with one line saying what to pass,
// before anything is opened.
func TestUp_BadServiceFlagsOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--services", "echo,ftp"}, `tapstack up: --services: unknown service "ftp": want a comma list of udp-echo, echo, discard, chargen, http`},
		{[]string{"--services", ","}, `tapstack up: --services ",": want at least one of udp-echo, echo, discard, chargen, http`},
		{[]string{"--max-bytes", "-1"}, "tapstack up: --max-bytes -1: want 0 or more"},
		{[]string{"--max-service-conns", "0"}, "tapstack up: --max-service-conns 0: want at least 1"},
		{[]string{"--procs", "-1"}, "tapstack up: --procs -1: want a count of processors, or 0 for the default"},
	} {
		var stdout, stderr bytes.Buffer
		// A TAP name Linux refuses (16 bytes): if a refusal ever came
		// after the device opens, the open fails instead of making a TAP
		// in the machine's own namespace, and the test fails on it.
		args := append([]string{"up", "--tap", "tapstack-nottap0"}, tc.args...)
		code := run(args, &stdout, &stderr)
		if code != 2 || stderr.String() != tc.want+"\n" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestDaemonProcs: --procs wins, then $GOMAXPROCS (the runtime's figure
// stands), else half the runtime's default, at least one.
func TestDaemonProcs(t *testing.T) {
	for _, tc := range []struct {
		flag      int
		env       string
		cur, want int
	}{
		{0, "", 2, 1},
		{0, "", 1, 1},
		{0, "", 8, 4},
		{0, "", 7, 3},
		{3, "", 2, 3},
		{0, "2", 2, 2},
		{1, "2", 2, 1},
	} {
		if got := daemonProcs(tc.flag, tc.env, tc.cur); got != tc.want {
			t.Errorf("daemonProcs(%d, %q, %d) = %d; want %d", tc.flag, tc.env, tc.cur, got, tc.want)
		}
	}
}

// flagSet is up's service flags in a flag set of their own.
func flagSet(f *serviceFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	return fs
}
