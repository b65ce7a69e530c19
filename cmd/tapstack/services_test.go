package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
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
// connection and /stats both count it; the row also names the congestion
// control, and what the connection lacks (pacing) is "-".
func TestStatusPage_RetransmissionShownInRowAndStats(t *testing.T) {
	pa, pb := nic.NewPipe(nic.PipeConfig{MTU: 1500, QueueLen: 4096})
	quiet := slog.New(slog.DiscardHandler)
	a, err := stack.New(pa, stack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	b, err := stack.New(pb, stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	b.Start()
	t.Cleanup(func() { a.Close(); b.Close() })

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

	h := httpHandler(a, time.Now())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	page := rec.Body.String()
	var row []string
	for _, line := range strings.Split(page, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == c.LocalAddr().String() {
			row = f
		}
	}
	header := strings.Fields(tcpTableHeader)
	if len(row) != len(header) {
		t.Fatalf("no row of %d columns for %v:\n%s", len(header), c.LocalAddr(), page)
	}
	col := func(name string) string {
		for i, h := range header {
			if h == name {
				return row[i]
			}
		}
		t.Fatalf("no column %q in %q", name, header)
		return ""
	}
	retrans, err := strconv.ParseUint(col("retrans"), 10, 64)
	if err != nil || retrans == 0 {
		t.Fatalf("retrans column %q, want at least 1:\n%s", col("retrans"), page)
	}
	if col("state") != "ESTABLISHED" || col("cc") != "cubic" || col("pacing") != "-" {
		t.Fatalf("state %s cc %s pacing %s, want ESTABLISHED cubic -:\n%s", col("state"), col("cc"), col("pacing"), page)
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
