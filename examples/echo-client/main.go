// Command echo-client is the seed's echo client on tapstack: connect, send
// each argument, receive the echo, print it, close.
//
//	sudo go run ./examples/echo-client --tap tap1 10.0.0.1:7007 hello world
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
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: echo-client [flags] ADDR:PORT MESSAGE...")
		flag.PrintDefaults()
	}
	var cfg tapstack.Config
	cfg.RegisterFlags(flag.CommandLine) // --tap, --addr, --host-addr, --gateway, --mtu
	flag.Parse()
	if flag.NArg() < 2 {
		flag.Usage()
		os.Exit(2)
	}
	server, err := netip.ParseAddrPort(flag.Arg(0))
	check(err)
	n, err := tapstack.New(cfg)
	check(err)
	defer n.Close()
	st := n.Stack()

	fd, err := socket.Socket(st, socket.AF_INET, socket.SOCK_STREAM, 0)
	check(err)
	defer fd.Close()
	check(fd.Connect(server))
	buf := make([]byte, 1024)
	for _, msg := range flag.Args()[1:] {
		_, err := fd.Send([]byte(msg), 0)
		check(err)
		got := 0
		for got < len(msg) {
			n, err := fd.Recv(buf[got:len(msg)], 0)
			check(err)
			if n == 0 {
				check(fmt.Errorf("server closed the connection"))
			}
			got += n
		}
		fmt.Println(string(buf[:got]))
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-client:", err)
		os.Exit(1)
	}
}
