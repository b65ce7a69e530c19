// Command pool-server serves clients from a bounded pool of workers on
// tapstack: at most --workers connections are served at once and at most
// --queue wait; a client beyond that is told "busy" and closed, so load
// can never grow memory or goroutines without bound.
//
//	sudo go run ./examples/pool-server            # then: nc 10.0.0.2 7009
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"

	"github.com/tapstack/tapstack"
	"github.com/tapstack/tapstack/socket"
)

func main() {
	port := flag.Int("port", 7009, "TCP port to serve")
	workers := flag.Int("workers", 4, "connections served at once")
	queue := flag.Int("queue", 16, "accepted connections waiting for a worker")
	var cfg tapstack.Config
	cfg.RegisterFlags(flag.CommandLine) // --tap, --addr, --host-addr, --gateway, --mtu
	flag.Parse()
	n, err := tapstack.New(cfg)
	check(err)
	defer n.Close()
	st := n.Stack()

	fd, err := socket.Socket(st, socket.AF_INET, socket.SOCK_STREAM, 0)
	check(err)
	check(fd.SetsockoptInt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1))
	check(fd.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(*port))))
	check(fd.Listen(*queue))
	fmt.Printf("pool-server listening on %v:%d with %d workers\n", st.Addr(), *port, *workers)

	work := make(chan *socket.FD, *queue)
	for i := 0; i < *workers; i++ {
		go func() {
			for c := range work {
				serve(c)
			}
		}()
	}
	for {
		c, _, err := fd.Accept()
		check(err)
		select {
		case work <- c:
		default:
			c.Send([]byte("busy\n"), 0)
			c.Close()
		}
	}
}

// serve upper-cases lines until the client closes.
func serve(c *socket.FD) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Recv(buf, 0)
		if err != nil || n == 0 {
			return
		}
		if _, err := c.Send(bytes.ToUpper(buf[:n]), 0); err != nil {
			return
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "pool-server:", err)
		os.Exit(1)
	}
}
