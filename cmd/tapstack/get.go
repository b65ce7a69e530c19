package main

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/socket"
)

// cmdGet brings up a stack on its own TAP and fetches URL through it with
// Go's net/http client, printing the body.
func cmdGet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("get", "URL   (e.g. tapstack get http://10.0.0.1:8080/)", stderr)
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
	d := &socket.Dialer{Stack: n.st}
	client := &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		Timeout:   *timeout,
	}
	resp, err := client.Do(req)
	if err != nil {
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
