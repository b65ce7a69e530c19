package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tapstack/tapstack/socket"
)

// cmdGet brings up a stack on its own TAP and fetches URL through it with
// Go's net/http client, printing the body.
func cmdGet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tapstack get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var l linkFlags
	l.register(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tapstack get [flags] URL   (e.g. tapstack get http://10.0.0.1:8080/)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	log, err := newLogger(stderr, l.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "tapstack get: %v\n", err)
		return 2
	}
	n, err := bringUp(&l, log)
	if err != nil {
		fmt.Fprintf(stderr, "tapstack get: %v\n", err)
		return 1
	}
	defer n.Close()
	d := &socket.Dialer{Stack: n.st}
	client := &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		Timeout:   *timeout,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fs.Arg(0), nil)
	if err != nil {
		fmt.Fprintf(stderr, "tapstack get: %v\n", err)
		return 2
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "tapstack get: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		fmt.Fprintf(stderr, "tapstack get: reading the body: %v\n", err)
		return 1
	}
	if resp.StatusCode >= 400 {
		fmt.Fprintf(stderr, "tapstack get: %s\n", resp.Status)
		return 1
	}
	return 0
}
