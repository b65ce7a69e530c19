package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// waitFor polls cond for up to 10 s (the stacks run on the real clock).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStatusPage_RetransmissionShownInRowAndStats: a segment lost on the
// way is retransmitted, and the daemon's status page row for the
// connection (text and JSON) and /stats all count it; the row also names
// the congestion control, and what the connection lacks (pacing) is left
// out.
func TestStatusPage_RetransmissionShownInRowAndStats(t *testing.T) {
	a, b, pa := startedPair(t)
	l, err := socket.Listen(b, "tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	received, done := make(chan int, 1), make(chan struct{})
	defer close(done)
	go func() {
		c, err := l.Accept()
		if err != nil {
			received <- 0
			return
		}
		defer c.Close()
		buf := make([]byte, 5)
		n, _ := io.ReadFull(c, buf)
		received <- n
		<-done // open until the page is read: the row stays ESTABLISHED
	}()
	c, err := socket.Dial(a, "tcp", "10.0.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The first transmission of "hello" is lost: everything a sends is
	// dropped until the pipe has dropped a frame.
	pa.SetImpairment(nic.Impairment{Loss: 1})
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pipe to drop the segment", func() bool { return pa.Stats().Lost > 0 })
	pa.SetImpairment(nic.Impairment{})
	select {
	case n := <-received:
		if n != 5 {
			t.Fatalf("the peer read %d bytes, want 5", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the retransmission never arrived")
	}

	// The JSON and text pages below are read one after the other: wait
	// until "hello" is acknowledged, so that Send-Q cannot change between
	// them (with the race detector the ACK often came in between).
	waitFor(t, "the retransmission to be acknowledged", func() bool {
		for _, ci := range a.TCPConnections() {
			if ci.Local.String() == c.LocalAddr().String() {
				return ci.SendQueue == 0
			}
		}
		return false
	})
	h := testDaemon(a).httpHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	var doc statusDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("/status.json: %v\n%s", err, rec.Body)
	}
	var row *statusConn
	for i, sc := range doc.TCP.Connections {
		if sc.Local == c.LocalAddr().String() {
			row = &doc.TCP.Connections[i]
		}
	}
	if row == nil {
		t.Fatalf("no connection from %v in /status.json:\n%s", c.LocalAddr(), rec.Body)
	}
	retrans := row.Retransmits
	if retrans == 0 || row.State != "ESTABLISHED" || row.Congestion != "cubic" || row.PacingRate != 0 {
		t.Fatalf("row %+v: want retransmits >= 1, ESTABLISHED, cubic, no pacing rate", *row)
	}
	// The text page's row says the same, as ss -tin.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	page := rec.Body.String()
	lines := strings.Split(page, "\n")
	info := ""
	for i, line := range lines {
		if f := strings.Fields(line); len(f) == 5 && f[0] == "ESTAB" && f[3] == c.LocalAddr().String() && i+1 < len(lines) {
			info = lines[i+1]
		}
	}
	want := " retrans:" + strconv.FormatUint(retrans, 10) + " "
	if !strings.HasPrefix(info, "\t") || !strings.Contains(info, want) || !strings.Contains(info, " cubic ") || strings.Contains(info, "pacing_rate") {
		t.Fatalf("info line %q: want a tab, %q, cubic and no pacing rate:\n%s", info, want, page)
	}
	// ss's wscale:snd,rcv, and the Send-Q column as a number (tcp.Info).
	if row.WScale == "" || !strings.Contains(info, " wscale:"+row.WScale+" ") {
		t.Fatalf("wscale %q, info line %q: want the window scales", row.WScale, info)
	}
	for _, line := range lines {
		if f := strings.Fields(line); len(f) == 5 && f[0] == "ESTAB" && f[3] == c.LocalAddr().String() && f[2] != strconv.Itoa(row.SendQ) {
			t.Fatalf("row %q: Send-Q %s, want %d", line, f[2], row.SendQ)
		}
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/stats", nil))
	var stats struct {
		TCP map[string]uint64 `json:"tcp"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &stats); err != nil {
		t.Fatalf("/stats: %v\n%s", err, rec.Body)
	}
	// a's only connection: its retransmissions are the stack's.
	if got := stats.TCP["retrans_segs"]; got != retrans {
		t.Fatalf("/stats retrans_segs %d, the row's retrans %d", got, retrans)
	}
}

// testDaemon is the daemon of up's defaults on st, no service running.
func testDaemon(st *stack.Stack) *daemon {
	var f serviceFlags
	flagSet(&f)
	return newDaemon(st, slog.New(slog.DiscardHandler), &f)
}
