package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// tapstack ss and tapstack stat read a running daemon's status page and
// counters over HTTP, through the host's own network (the kernel side of
// the TAP), as ss and nstat read the kernel's.

// defaultDaemonURL is the status page of a daemon started with up's
// default --addr.
const defaultDaemonURL = "http://10.0.0.2/"

// clientTimeout bounds a request to the daemon.
const clientTimeout = 10 * time.Second

// daemonClient makes the requests (tests serve them in memory).
var daemonClient = http.DefaultClient

// daemonGet fetches path (with query) from the daemon at base and decodes
// its JSON into v. Errors are one line.
func daemonGet(ctx context.Context, base, p string, query url.Values, v any) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want the daemon's address, like %s", base, defaultDaemonURL)
	}
	u = u.JoinPath(p)
	u.RawQuery = query.Encode()
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := daemonClient.Do(req)
	if err != nil {
		return fmt.Errorf("no daemon answered at %s (is tapstack up running, with this --addr?): %v", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: not the daemon's JSON: %v", u, err)
	}
	return nil
}

// clientCommand is a flag set for the commands that talk to a daemon.
func clientCommand(name, args string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("tapstack "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", defaultDaemonURL, "the running daemon's status page")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tapstack %s [flags]%s\n", name, args)
		fs.PrintDefaults()
	}
	return fs, base
}

// cmdSS prints a daemon's sockets as ss -tin does the kernel's.
func cmdSS(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, base := clientCommand("ss", "", stderr)
	n := fs.Int("n", defaultStatusRows, fmt.Sprintf("most connections to list, 0 to %d (most active first)", statusMaxRows))
	state := fs.String("state", "", "list only connections in this state (ESTABLISHED or ESTAB, TIME-WAIT, ...)")
	port := fs.Int("port", 0, "list only connections with this local or remote port")
	listening := fs.Bool("l", false, "list the listening sockets instead (Recv-Q: accept queue, Send-Q: backlog)")
	udp := fs.Bool("u", false, "list the UDP sockets instead (Recv-Q: bytes queued)")
	summary := fs.Bool("s", false, "print the connection count by state instead")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	q := url.Values{"n": {strconv.Itoa(*n)}}
	if *state != "" {
		q.Set("state", *state)
	}
	if *port != 0 {
		q.Set("port", strconv.Itoa(*port))
	}
	var doc statusDoc
	if err := daemonGet(ctx, *base, "status.json", q, &doc); err != nil {
		fmt.Fprintf(stderr, "tapstack ss: %v\n", err)
		return 1
	}
	switch {
	case *summary:
		writeSummary(stdout, doc)
	case *listening:
		writeListeners(stdout, doc)
	case *udp:
		writeUDP(stdout, doc)
	default:
		writeConns(stdout, doc)
		if shown := len(doc.TCP.Connections); shown < doc.TCP.Matched {
			fmt.Fprintf(stderr, "tapstack ss: %d of %d connections shown (-n to see more)\n", shown, doc.TCP.Matched)
		}
	}
	return 0
}

// cmdStat prints a daemon's counters (/stats?v=2) as nstat -a does the kernel's: one
// per line, by its nstat name where Linux has one (TcpRetransSegs), else
// by its /stats key (tcp.challenge_acks); zeros left out unless -z.
func cmdStat(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, base := clientCommand("stat", " [PATTERN ...]", stderr)
	zeros := fs.Bool("z", false, "print counters that are zero too")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, p := range fs.Args() {
		if _, err := path.Match(p, ""); err != nil {
			fmt.Fprintf(stderr, "tapstack stat: pattern %q: %v; want a shell pattern like 'Tcp*'\n", p, err)
			return 2
		}
	}
	var page struct {
		Counters map[string]map[string]uint64 `json:"counters"`
		Gauges   map[string]map[string]uint64 `json:"gauges"`
	}
	if err := daemonGet(ctx, *base, "stats", url.Values{"v": {"2"}}, &page); err != nil {
		fmt.Fprintf(stderr, "tapstack stat: %v\n", err)
		return 1
	}
	type row struct {
		name  string
		value uint64
	}
	var rows []row
	for _, m := range []map[string]map[string]uint64{page.Counters, page.Gauges} {
		for section, fields := range m {
			for name, v := range fields {
				rows = append(rows, row{statName(section, name), v})
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	for _, r := range rows {
		if (r.value == 0 && !*zeros) || !matchAny(fs.Args(), r.name) {
			continue
		}
		fmt.Fprintf(stdout, "%-32s %d\n", r.name, r.value)
	}
	return 0
}

// statName is the nstat name of a /stats field where Linux has one
// (TcpExtTCPTimeouts), else its key (tcp.challenge_acks).
func statName(section, name string) string {
	if n, ok := nstatNames[section+"."+name]; ok {
		return strings.Replace(n, "_", "", 1)
	}
	return section + "." + name
}

// matchAny reports whether name matches one of the patterns (all match
// when there are none), as nstat's arguments.
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return len(patterns) == 0
}
