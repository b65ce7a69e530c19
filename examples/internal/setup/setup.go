// Package setup brings up a tapstack stack on a TAP for the example
// programs, with the daemon's link flags (--tap, --addr, --host-addr,
// --gateway, --mtu).
package setup

import (
	"flag"
	"fmt"
	"net/netip"
	"os"

	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
)

var (
	tap      = flag.String("tap", "tap0", "TAP device name, created if absent")
	addr     = flag.String("addr", "10.0.0.2/24", "the stack's own address")
	hostAddr = flag.String("host-addr", "10.0.0.1/24", `address for the kernel side of the TAP ("": leave it alone)`)
	gateway  = flag.String("gateway", "", "default route (default: host-addr's IP)")
	mtu      = flag.Int("mtu", 1500, "link MTU")
)

// Stack parses the flags (flag.Parse must have run), opens the TAP and
// starts a stack on it. On any error it prints one line and exits.
func Stack() *stack.Stack {
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, os.Args[0]+": "+format+"\n", a...)
		os.Exit(1)
	}
	p, err := netip.ParsePrefix(*addr)
	if err != nil {
		fail("--addr: %v", err)
	}
	var hp netip.Prefix
	if *hostAddr != "" {
		if hp, err = netip.ParsePrefix(*hostAddr); err != nil {
			fail("--host-addr: %v", err)
		}
	}
	var gw netip.Addr
	switch {
	case *gateway != "":
		if gw, err = netip.ParseAddr(*gateway); err != nil {
			fail("--gateway: %v", err)
		}
	case hp.IsValid():
		gw = hp.Addr()
	}
	if err := nic.CheckTUN(); err != nil {
		fail("%v", err)
	}
	dev, err := nic.OpenTAP(nic.TAPConfig{Name: *tap, MTU: *mtu, HostAddr: hp})
	if err != nil {
		fail("%v", err)
	}
	st, err := stack.New(dev, stack.Config{Addr: p, Gateway: gw})
	if err != nil {
		dev.Close()
		fail("%v", err)
	}
	st.Start()
	return st
}
