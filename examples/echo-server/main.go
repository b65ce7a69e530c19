// Command echo-server is the seed's plain echo server, on tapstack's
// BSD-like sockets: bind, listen(5), accept, recv(1024), send, close — one
// client at a time.
//
//	sudo go run ./examples/echo-server            # then, from the host:
//	echo hello | nc -q1 10.0.0.2 7007
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"

	"github.com/tapstack/tapstack"
	"github.com/tapstack/tapstack/socket"
)

func main() {
	port := flag.Int("port", 7007, "TCP port to serve")
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
	check(fd.Listen(5))
	fmt.Printf("echo-server listening on %v:%d\n", st.Addr(), *port)
	buf := make([]byte, 1024)
	for {
		c, peer, err := fd.Accept()
		check(err)
		fmt.Printf("connection from %v\n", peer)
		for {
			n, err := c.Recv(buf, 0)
			if err != nil || n == 0 { // 0: the client closed its side
				break
			}
			if _, err := c.Send(buf[:n], 0); err != nil {
				break
			}
		}
		c.Close()
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-server:", err)
		os.Exit(1)
	}
}
