package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// cmdGet brings up a stack on its own TAP and fetches URL through it with
// Go's net/http client, printing the body.
func cmdGet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("get", "URL   (e.g. tapstack get http://10.0.0.1:8080/ or http://[fd00::1]:8080/)", stderr)
	timeout := c.fs.Duration("timeout", 30*time.Second, "give up after this long")
	if !c.parse(args, 1) {
		return 2
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.fs.Arg(0), nil)
	if err != nil {
		return c.fail(2, "%v", err)
	}
	c.link.target, _ = netip.ParseAddr(req.URL.Hostname()) // an IP literal; a name is not resolved yet
	n, _, code := c.start()
	if n == nil {
		return code
	}
	defer n.Close()
	if c.link.target.Is6() && !c.link.target.Is4In6() {
		waitSource6(ctx, n.st, c.link.target) // http://[fd00::1]/ right after DAD began
	}
	d := &socket.Dialer{Stack: n.st}
	client := &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		Timeout:   *timeout,
	}
	resp, err := client.Do(req)
	if err != nil {
		if msg, ok := arpFailure(n.st, err); ok {
			return c.fail(1, "%s", msg)
		}
		return c.fail(1, "%v", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return c.fail(1, "reading the body: %v", err)
	}
	if resp.StatusCode >= 400 {
		return c.fail(1, "%s", resp.Status)
	}
	return 0
}

// arpFailure explains a dial that failed with EHOSTUNREACH because the
// stack's ARP gave up on the next hop (the connect fails when it does, as on
// Linux), as "connect ADDR: no host answers ARP for HOP (EHOSTUNREACH)".
// It tells that case from a host unreachable sent by a router by asking
// the stack: it counted a failed resolution and holds no entry for the hop
// (a hop that answered stays in the cache for minutes).
func arpFailure(st *stack.Stack, err error) (string, bool) {
	var oe *net.OpError
	if !errors.Is(err, syscall.EHOSTUNREACH) || !errors.As(err, &oe) || oe.Op != "dial" {
		return "", false
	}
	ta, ok := oe.Addr.(*net.TCPAddr)
	if !ok || st.Stats().ARP.ResolutionFailed == 0 {
		return "", false
	}
	dst := ta.AddrPort()
	var routes ipv4.RouteTable
	for _, r := range st.Routes() {
		routes.Add(r)
	}
	_, hop, ok := routes.Lookup(dst.Addr().Unmap())
	if !ok {
		return "", false
	}
	for _, n := range st.Neighbors() {
		if n.IP == hop {
			return "", false
		}
	}
	what := hop.String()
	if hop != dst.Addr().Unmap() {
		what = "the gateway " + what
	}
	return fmt.Sprintf("connect %v: no host answers ARP for %s (EHOSTUNREACH)", dst, what), true
}
