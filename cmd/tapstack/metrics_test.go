package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// get serves one GET on d's handler and returns the body.
func get(t *testing.T, d *daemon, url string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	d.httpHandler().ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d %s", url, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// sample is one family of a /metrics page: its TYPE and its samples.
type family struct {
	typ, help string
	samples   map[string]float64 // by the sample's name with its labels
}

// parseMetrics reads the text exposition format as far as this page uses
// it: HELP and TYPE lines, then "name{labels} value" samples.
func parseMetrics(t *testing.T, page string) map[string]*family {
	t.Helper()
	fams := map[string]*family{}
	fam := func(name string) *family {
		if fams[name] == nil {
			fams[name] = &family{samples: map[string]float64{}}
		}
		return fams[name]
	}
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			fam(name).help = help
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			fam(name).typ = typ
			continue
		}
		key, val, ok := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		name, _, _ := strings.Cut(key, "{")
		if fams[name] == nil {
			t.Fatalf("sample %q before its TYPE line", line)
		}
		fams[name].samples[key] = v
	}
	return fams
}

// TestMetrics_PromtoolChecks: promtool (Debian's prometheus package)
// parses /metrics. Its lint may object only to the nstat names, which keep
// Linux's spelling (camelCase, no _total) on purpose so that what was
// written for node_exporter's netstat collector applies; every other name
// passes the lint.
func TestMetrics_PromtoolChecks(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is missing (Debian package prometheus; .ci/run installs it)")
		}
		t.Skip("promtool is missing: apt-get install prometheus")
	}
	p := newTWPeer(t)
	p.timeWaits(1024, 3)
	d := testDaemon(p.st)
	page := get(t, d, "/metrics")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(page)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 3: // lint problems only
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			name, problem, _ := strings.Cut(line, " ")
			if !strings.HasPrefix(name, "tapstack_netstat_") ||
				(problem != `counter metrics should have "_total" suffix` && problem != "metric names should be written in 'snake_case' not 'camelCase'") {
				t.Errorf("promtool: %s", line)
			}
		}
	default:
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out.String(), page)
	}
}

// TestMetrics_TypedNamedAndMoving: every family has HELP and TYPE; the
// nstat names are there with their kind (CurrEstab a gauge, RetransSegs a
// counter); the TIME-WAIT gauge and the segment counters follow traffic.
func TestMetrics_TypedNamedAndMoving(t *testing.T) {
	p := newTWPeer(t)
	p.timeWaits(1024, 2)
	d := testDaemon(p.st)
	before := parseMetrics(t, get(t, d, "/metrics"))
	for name, f := range before {
		if f.help == "" || (f.typ != "counter" && f.typ != "gauge") || len(f.samples) == 0 {
			t.Errorf("%s: help %q, type %q, %d samples", name, f.help, f.typ, len(f.samples))
		}
	}
	for name, typ := range map[string]string{
		"tapstack_netstat_Tcp_RetransSegs": "counter", "tapstack_netstat_Tcp_CurrEstab": "gauge",
		"tapstack_netstat_Tcp_ActiveOpens": "counter", "tapstack_netstat_Tcp_PassiveOpens": "counter",
		"tapstack_netstat_Tcp_InSegs": "counter", "tapstack_netstat_Tcp_OutSegs": "counter",
		"tapstack_netstat_Tcp_InErrs": "counter", "tapstack_netstat_Tcp_OutRsts": "counter",
		"tapstack_netstat_TcpExt_TCPTimeouts": "counter", "tapstack_netstat_TcpExt_TCPLossProbes": "counter",
		"tapstack_netstat_TcpExt_TCPSpuriousRTOs": "counter", "tapstack_netstat_Ip_InReceives": "counter",
		"tapstack_netstat_Udp_InDatagrams": "counter", "tapstack_netstat_Icmp_InMsgs": "counter",
		"tapstack_netstat_Ip6_InReceives": "counter", "tapstack_netstat_Icmp6_OutEchoReplies": "counter",
		"tapstack_netstat_Ip6_ReasmOKs": "counter", "tapstack_netstat_Ip6_FragCreates": "counter",
		"tapstack_netstat_Icmp6_OutParmProblems": "counter",
		"tapstack_tcp_time_wait":                 "gauge", "tapstack_tcp_connections": "gauge", "tapstack_drops_total": "counter",
		"tapstack_ipv6_in_truncated_total": "counter",
	} {
		if f := before[name]; f == nil || f.typ != typ {
			t.Errorf("%s: %+v, want a %s", name, f, typ)
		}
	}
	one := func(fams map[string]*family, name string) float64 {
		return fams[name].samples[name]
	}
	// Three connections more, each three segments in: SYN, ACK, FIN.
	p.timeWaits(2024, 3)
	after := parseMetrics(t, get(t, d, "/metrics"))
	if got := one(after, "tapstack_netstat_Tcp_InSegs") - one(before, "tapstack_netstat_Tcp_InSegs"); got != 9 {
		t.Errorf("Tcp_InSegs grew by %v, want 9", got)
	}
	if got := one(after, "tapstack_netstat_Tcp_PassiveOpens") - one(before, "tapstack_netstat_Tcp_PassiveOpens"); got != 3 {
		t.Errorf("Tcp_PassiveOpens grew by %v, want 3", got)
	}
	if tw := after["tapstack_tcp_connections"].samples[`tapstack_tcp_connections{state="TIME-WAIT"}`]; tw != 5 {
		t.Errorf("connections in TIME-WAIT %v, want 5", tw)
	}
	if tw := one(after, "tapstack_tcp_time_wait"); tw != 5 {
		t.Errorf("tapstack_tcp_time_wait %v, want 5", tw)
	}
}

// TestStats_ContractKeptV2SplitsCountersAndGauges: /stats is still an
// object of layers of numbers, which clients decode as
// map[string]map[string]uint64 (the daemon's contract); /stats?v=2 has the
// same fields split into counters and gauges, with uptime, version and the
// services; another v is a 400 with one line.
func TestStats_ContractKeptV2SplitsCountersAndGauges(t *testing.T) {
	p := newTWPeer(t)
	p.timeWaits(1024, 2)
	d := testDaemon(p.st)
	var v1 map[string]map[string]uint64
	if err := json.Unmarshal([]byte(get(t, d, "/stats")), &v1); err != nil {
		t.Fatalf("/stats is no longer layers of numbers: %v", err)
	}
	// Ten layers: link, arp, ipv4, icmp, udp, tcp, offload (added with
	// the TAP offloads), ipv6 and nd6 (issue 12), igmp: the contract lets
	// layers and keys be added.
	if v1["tcp"]["passive_opens"] != 2 || v1["tcp"]["time_wait"] != 2 || len(v1) != 10 {
		t.Errorf("/stats: %d layers, tcp.passive_opens %d, tcp.time_wait %d; want 10, 2, 2", len(v1), v1["tcp"]["passive_opens"], v1["tcp"]["time_wait"])
	}
	if _, ok := v1["tcp"]["curr_estab"]; !ok {
		t.Error("/stats tcp lacks curr_estab")
	}
	var v2 struct {
		Counters      map[string]map[string]uint64 `json:"counters"`
		Gauges        map[string]map[string]uint64 `json:"gauges"`
		UptimeSeconds *float64                     `json:"uptime_seconds"`
		Version       string                       `json:"version"`
	}
	if err := json.Unmarshal([]byte(get(t, d, "/stats?v=2")), &v2); err != nil {
		t.Fatal(err)
	}
	if v2.Counters["tcp"]["passive_opens"] != 2 || v2.Gauges["tcp"]["time_wait"] != 2 {
		t.Errorf("counters.tcp.passive_opens %d, gauges.tcp.time_wait %d; want 2, 2", v2.Counters["tcp"]["passive_opens"], v2.Gauges["tcp"]["time_wait"])
	}
	for _, g := range []string{"curr_estab", "time_wait", "mem_used_bytes"} {
		if _, ok := v2.Counters["tcp"][g]; ok {
			t.Errorf("gauge %s among the counters", g)
		}
		if _, ok := v2.Gauges["tcp"][g]; !ok {
			t.Errorf("gauge %s not among the gauges", g)
		}
	}
	if v2.UptimeSeconds == nil || v2.Version == "" {
		t.Errorf("uptime_seconds %v, version %q: want both", v2.UptimeSeconds, v2.Version)
	}
	rec := httptest.NewRecorder()
	d.httpHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/stats?v=3", nil))
	if rec.Code != 400 || strings.Count(rec.Body.String(), "\n") != 1 {
		t.Errorf("/stats?v=3: %d %q, want 400 and one line", rec.Code, rec.Body)
	}
}

// TestVersion_FromBuildInfoWhenDev: a version set at link time wins; else
// the module version go install recorded; else the VCS revision of a
// checkout build, marked dirty when it had changes; else "dev".
func TestVersion_FromBuildInfoWhenDev(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}}
	}
	for _, tc := range []struct {
		main string
		bi   *debug.BuildInfo
		want string
	}{
		{"v1.2.3", vcs("0123456789abcdef", "false"), "v1.2.3"},
		{"dev", &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}}, "v0.1.0"},
		{"dev", vcs("0123456789abcdef", "false"), "dev+0123456789ab"},
		{"dev", vcs("0123456789abcdef", "true"), "dev+0123456789ab-dirty"},
		{"dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"dev", nil, "dev"},
	} {
		if got := versionOf(tc.main, tc.bi); got != tc.want {
			t.Errorf("versionOf(%q, %+v) = %q, want %q", tc.main, tc.bi, got, tc.want)
		}
	}
}
