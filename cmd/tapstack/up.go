package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// node is a running stack on its TAP or TUN.
type node struct {
	st   *stack.Stack
	link hostLink
	pcap *bufio.Writer
	file *os.File
	dhcp *dhcp.Runner // --addr dhcp
}

// hostLink is the device a stack runs on: a *nic.TAP or a *nic.TUN.
type hostLink interface {
	nic.Device
	HostConfigured() bool
	LinkUp() bool
}

// defaultTAP is --tap's default.
const defaultTAP = "tap0"

// device names the device the flags ask for, and its kind: --tun's TUN,
// else --tap's TAP.
func (l *linkFlags) device() (name, kind string) {
	if l.tun != "" {
		return l.tun, "TUN"
	}
	return l.tap, "TAP"
}

// openLink opens the TAP or TUN the flags ask for.
func openLink(l *linkFlags, p parsed) (hostLink, error) {
	if l.tun != "" {
		return nic.OpenTUN(nic.TUNConfig{Name: l.tun, MTU: l.mtu, HostAddr: p.hostAddr})
	}
	return nic.OpenTAP(nic.TAPConfig{Name: l.tap, MTU: l.mtu, HostAddr: p.hostAddr, Offload: p.offload})
}

// upAttrs name the device in the readiness line: the TAP and the stack's
// MAC, or the TUN, which has no MAC.
func upAttrs(l *linkFlags, st *stack.Stack) []any {
	if name, kind := l.device(); kind == "TUN" {
		return []any{"tun", name}
	}
	return []any{"tap", l.tap, "mac", st.MAC()}
}

// offloadState is the readiness line's offload: the mode, and under auto
// what the kernel agreed to ("auto:on" or "auto:off").
func offloadState(l *linkFlags, link hostLink) string {
	if l.offload != "auto" {
		return l.offload
	}
	if link.Info().Offloads&nic.RxGSO4 != 0 {
		return "auto:on"
	}
	return "auto:off"
}

func (n *node) Close() error {
	if n.dhcp != nil {
		n.dhcp.Close() // DHCPRELEASE while the stack still runs
	}
	err := n.st.Close()
	if n.pcap != nil {
		n.pcap.Flush()
		n.file.Close()
	}
	return err
}

// bringUp opens the TAP (or TUN), configures the kernel side and starts a
// stack on it.
// Errors are single lines meant for the user.
func bringUp(l *linkFlags, log *slog.Logger) (*node, error) {
	p, err := l.parse()
	if err != nil {
		return nil, err
	}
	// Clashes with the namespace are checked before anything changes in it
	// (best effort: without the listing, OpenTAP's own errors remain).
	ns, nsErr := readNamespace()
	if nsErr == nil {
		if err := ns.checkClash(l, p, l.target); err != nil {
			return nil, err
		}
	}
	// OpenTAP's and OpenTUN's errors say what is missing: /dev/net/tun,
	// permission to open it, CAP_NET_ADMIN, or ownership of the device.
	tap, err := openLink(l, p)
	if err != nil {
		if nsErr == nil && isBusy(err) {
			return nil, ns.busy(l, p, l.target)
		}
		return nil, err
	}
	if !tap.HostConfigured() {
		logUnconfigured(log, tap, l, p)
	} else if p.hostAddr6.IsValid() {
		// A kernel without IPv6 leaves the IPv4 daemon as it was: warned,
		// not refused. On a TUN too: the stack's IPv6 reaches it as
		// packets (no ND: the kernel's TUN is IFF_NOARP, and skips DAD).
		if err := configureHost6(tap.Info().Name, p.hostAddr6); err != nil {
			log.Warn(err.Error())
		}
	}
	n := &node{link: tap}
	var dev nic.Device = tap
	if l.pcap != "" {
		f, err := os.Create(l.pcap)
		if err != nil {
			tap.Close()
			return nil, fmt.Errorf("--pcap: %v", err)
		}
		n.file, n.pcap = f, bufio.NewWriterSize(f, 1<<16)
		if dev, err = nic.NewPcapWith(tap, n.pcap, nic.PcapOptions{Segmented: l.pcapSegmented}); err != nil {
			tap.Close()
			f.Close()
			return nil, fmt.Errorf("--pcap: %v", err)
		}
	}
	memLimit := l.tcpMem << 20
	if l.tcpMem == 0 {
		memLimit = -1 // no limit
	}
	st, err := stack.New(dev, stack.Config{Addr: p.addr, Gateway: p.gateway, Addr6: p.addr6, Logger: log,
		MaxConnections: l.maxConns, TCPMemoryLimit: memLimit, TCP: tcp.Config{Congestion: l.cc, ECN: p.ecn}})
	if err != nil {
		dev.Close()
		return nil, err
	}
	n.st = st
	st.Start()
	if p.dhcp {
		if n.dhcp, err = leaseAddr(st, log); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// leaseAddr gets the stack's address, prefix and router from a DHCP server
// (--addr dhcp), waiting for the lease until SIGINT or SIGTERM. The runner
// logs the lease and renews it in the background.
func leaseAddr(st *stack.Stack, log *slog.Logger) (*dhcp.Runner, error) {
	r, err := dhcp.Run(st, dhcp.RunConfig{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--addr dhcp: %v", err)
	}
	log.Info("waiting for a DHCP lease", "mac", st.MAC())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := r.Wait(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("--addr dhcp: no lease: %v", err)
	}
	return r, nil
}

// logUnconfigured says, in one line, that the TAP (or TUN) was opened
// without CAP_NET_ADMIN (it belongs to this user), what was therefore left
// alone, and what its owner runs to configure the host side. A down link
// is a warning: no frame passes until the owner brings it up.
func logUnconfigured(log *slog.Logger, tap hostLink, l *linkFlags, p parsed) {
	name, mtu := tap.Info().Name, tap.Info().MTU
	_, kind := l.device()
	attrs := []any{strings.ToLower(kind), name, "mtu", mtu}
	if l.mtu != mtu {
		attrs = append(attrs, "mtu-flag-not-applied", l.mtu)
	}
	var todo []string
	if p.hostAddr.IsValid() {
		todo = append(todo, fmt.Sprintf("ip addr replace %v dev %s", p.hostAddr, name))
	}
	level := slog.LevelInfo
	if !tap.LinkUp() {
		level = slog.LevelWarn
		todo = append(todo, fmt.Sprintf("ip link set %s up", name))
		attrs = append(attrs, "link", "down")
	}
	if len(todo) > 0 {
		attrs = append(attrs, "owner-configures", strings.Join(todo, " && "))
	}
	log.Log(context.Background(), level, kind+" opened without CAP_NET_ADMIN: its MTU, link state and addresses are left to its owner, who configures the host side", attrs...)
}

func cmdUp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("up", "", stderr)
	var sf serviceFlags
	sf.register(c.fs)
	procs := c.fs.Int("procs", 0, "Go processors (GOMAXPROCS) the daemon uses; 0: half the machine's, at least 1, or $GOMAXPROCS when set")
	if !c.parse(args, 0) {
		return 2
	}
	defs, err := sf.parse()
	if err != nil {
		return c.fail(2, "%v", err)
	}
	if *procs < 0 {
		return c.fail(2, "--procs %d: want a count of processors, or 0 for the default", *procs)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(daemonProcs(*procs, os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0))))
	n, log, code := c.start()
	if n == nil {
		return code
	}
	defer n.Close()

	d := newDaemon(n.st, log, &sf)
	if _, kind := c.link.device(); kind == "TAP" {
		d.offload = offloadState(&c.link, n.link)
	}
	closers, err := d.start(defs)
	if err != nil {
		return c.fail(1, "%v", err)
	}
	names := []string{"icmp echo"}
	for i, def := range defs {
		defer closers[i].Close()
		names = append(names, def.label)
	}
	// This line is the readiness signal scripts and tests wait for.
	log.Info("tapstack up", append(upAttrs(&c.link, n.st), "addr", c.link.addr, "host-addr", c.link.hostAddr, "addr6", c.link.addr6,
		"mtu", n.st.MTU(), "offload", offloadState(&c.link, n.link), "procs", runtime.GOMAXPROCS(0), "services", strings.Join(names, ", "))...)
	<-ctx.Done()
	log.Info("shutting down", shutdownTotals(n.st.Stats())...)
	return 0
}

// daemonProcs is the GOMAXPROCS of `tapstack up`: flag when given (> 0),
// else the runtime's own when $GOMAXPROCS (env) sets it, else half of the
// runtime's default cur, at least 1. Every byte through a TAP costs about
// as much CPU in the kernel's half (the peer's TCP, the tun driver) as in
// the stack, and a spare Go processor costs that half: each time the
// receive loop wakes a reader or a writer, the runtime wakes an idle
// processor's thread (a futex and a context switch) that mostly spins and
// finds nothing to steal. On this 2-CPU VM one processor halved the
// stack's context switches per GB (test/bench/README.md, "Context
// switches").
func daemonProcs(flag int, env string, cur int) int {
	switch {
	case flag > 0:
		return flag
	case env != "":
		return cur
	}
	return max(1, cur/2)
}

// shutdownTotals are the few totals the shutdown line gives (/stats has
// every counter): frames each way, TCP connections opened (both ways), UDP
// datagrams delivered, and packets dropped (Stats.Drops; with
// --log-level debug each drop was logged with its reason).
func shutdownTotals(st stack.Stats) []any {
	return []any{"frames_in", st.Link.FramesIn, "frames_out", st.Link.FramesOut,
		"tcp_conns", st.TCP.ActiveOpens + st.TCP.PassiveOpens, "udp_in", st.UDP.InDatagrams, "drops", st.Drops()}
}

// serveUDPEcho answers every datagram on udp/7 with the same bytes (RFC 862),
// over IPv4 and IPv6 (a dual-stack "udp" socket on [::]).
func serveUDPEcho(st *stack.Stack, log *slog.Logger) (io.Closer, error) {
	pc, err := socket.ListenPacket(st, "udp", ":7")
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					log.Warn("udp echo: read", "err", err)
				}
				return
			}
			if _, err := pc.WriteTo(buf[:n], from); err != nil {
				log.Debug("udp echo: write", "to", from, "err", err)
			}
		}
	}()
	return pc, nil
}
