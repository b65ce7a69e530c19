// Command upper-server is the seed's concurrent upper-casing echo server on
// tapstack: every client gets its own goroutine (the seed used coroutines)
// and reads back what it sends, in upper case.
//
//	sudo go run ./examples/upper-server           # then: nc 10.0.0.2 7008
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
	port := flag.Int("port", 7008, "TCP port to serve")
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
	check(fd.Listen(128))
	fmt.Printf("upper-server listening on %v:%d\n", st.Addr(), *port)
	for {
		c, _, err := fd.Accept()
		check(err)
		go serve(c)
	}
}

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
		fmt.Fprintln(os.Stderr, "upper-server:", err)
		os.Exit(1)
	}
}
