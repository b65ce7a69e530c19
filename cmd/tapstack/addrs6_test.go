package main

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/stack"
)

// --addr6 and --host-addr6 (issue 12): defaults fd00::2/64 and fd00::1/64,
// "" for none; every other refusal is one line saying what to pass.
func TestLinkFlags6_DefaultsAndRefusals(t *testing.T) {
	p, err := parseArgs(t, nil)
	if err != nil || p.addr6 != netip.MustParsePrefix("fd00::2/64") || p.hostAddr6 != netip.MustParsePrefix("fd00::1/64") {
		t.Fatalf("defaults: %v %v, %v", p.addr6, p.hostAddr6, err)
	}
	for _, args := range [][]string{
		{"--addr6", "", "--host-addr6", ""},
		{"--addr6", "2001:db8::2/64", "--host-addr6", ""},
		{"--addr6", "", "--host-addr6", "2001:db8::1/64"},
		{"--addr6", "fd00::2/64", "--host-addr6", "fd00::1/48"},
	} {
		if _, err := parseArgs(t, args); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--addr6", "10.0.0.2/24"}, []string{`--addr6 "10.0.0.2/24"`, "IPv6", "fd00::2/64", `""`}},
		{[]string{"--addr6", "fd00::2"}, []string{`--addr6 "fd00::2"`, "prefix length"}},
		{[]string{"--addr6", "fe80::2/64"}, []string{"--addr6 fe80::2/64", "link-local", "pass", "fd00::2/64"}},
		{[]string{"--addr6", "ff02::2/64"}, []string{"--addr6 ff02::2/64", "multicast", "pass"}},
		{[]string{"--addr6", "::/64"}, []string{"--addr6 ::/64", "::", "pass"}},
		{[]string{"--addr6", "fd00::2/0"}, []string{"--addr6 fd00::2/0", "/0"}},
		{[]string{"--host-addr6", "::1/128"}, []string{"--host-addr6 ::1/128", "::1", "pass"}},
		{[]string{"--addr6", "fd00::1/64"}, []string{"--host-addr6 fd00::1/64", "same address", "pass --addr6 fd00::2/64", `--host-addr6 ""`}},
		{[]string{"--addr6", "fd01::2/64"}, []string{"--addr6 fd01::2/64 and --host-addr6 fd00::1/64", "one prefix", "pass"}},
	} {
		_, err := parseArgs(t, tc.args)
		if err == nil {
			t.Errorf("%v accepted", tc.args)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, tc.want[0]) {
			t.Errorf("%v: %q, want one line starting %q", tc.args, msg, tc.want[0])
		}
		for _, w := range tc.want[1:] {
			if !strings.Contains(msg, w) {
				t.Errorf("%v: %q lacks %q", tc.args, msg, w)
			}
		}
	}
}

// The status page and /status.json list the IPv6 addresses with their
// state and origin, and the IPv6 neighbour cache.
func TestStatusPage_IPv6AddressesAndNeighbours(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	dev := &lastFrame{closed: make(chan struct{})}
	st, err := stack.New(dev, stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Addr6: netip.MustParsePrefix("fd00::2/64"),
		Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := testDaemon(st).httpHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	for _, w := range []string{"IPv6 addresses:", "fe80::ff:fe00:2/64", "fd00::2/64", "tentative", "static", "link-local", "IPv6 neighbours:"} {
		if !strings.Contains(rec.Body.String(), w) {
			t.Errorf("status page lacks %q:\n%s", w, rec.Body)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	var doc statusDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Addrs6) != 2 || doc.Addrs6[1].Prefix != "fd00::2/64" || doc.Addrs6[1].State != "tentative" || doc.Addrs6[1].Origin != "static" || doc.Neighbours6 == nil {
		t.Errorf("/status.json IPv6: %+v, neighbours %v", doc.Addrs6, doc.Neighbours6)
	}
}
