// Command tapstack runs the tapstack TCP/IP stack on a TAP device.
//
//	tapstack up [flags]          serve ICMP echo, UDP and TCP services until SIGINT/SIGTERM
//	tapstack ping [flags] ADDR   send ICMP echo requests from the stack
//	tapstack get [flags] URL     fetch URL over the stack and print the body
//	tapstack ss [flags]          list a running daemon's sockets, as ss -tin
//	tapstack stat [flags]        print a running daemon's counters, as nstat
//	tapstack version             print the version
//
// Every command that opens a TAP (or, with --tun, a TUN) needs /dev/net/tun
// and either root (or CAP_NET_ADMIN) or a device made for its user (ip tuntap
// add mode tap user U); without them it fails with one line saying what is
// missing.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/tcp"
)

// version is set at build time with -ldflags "-X main.version=..."; when
// it is not, buildVersion asks the build info.
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: tapstack <command> [flags]

commands:
  up         bring up the stack on a TAP device (a TUN with --tun) and serve until SIGINT/SIGTERM
  ping ADDR  send ICMP echo requests from the stack (on its own TAP)
  get URL    fetch URL with net/http over the stack (on its own TAP) and print the body
  ss         list a running daemon's sockets (from its status page), as ss -tin
  stat       print a running daemon's counters (from its /stats), as nstat
  version    print the version

Run 'tapstack <command> -h' for the command's flags.
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "up":
		return cmdUp(ctx, args[1:], stdout, stderr)
	case "ping":
		return cmdPing(ctx, args[1:], stdout, stderr)
	case "get":
		return cmdGet(ctx, args[1:], stdout, stderr)
	case "ss":
		return cmdSS(ctx, args[1:], stdout, stderr)
	case "stat":
		return cmdStat(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "tapstack %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "tapstack: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
}

// linkFlags are the flags of DESIGN.md's daemon contract, shared by every
// command that brings up a stack.
type linkFlags struct {
	tap      string
	tun      string // a TUN's name: run on it instead of the TAP
	addr     string
	hostAddr string
	gateway  string
	// IPv6 (addrs6.go).
	addr6, hostAddr6 string
	mtu              int
	pcap             string
	pcapSegmented    bool // --pcap-segmented: super-frames as the wire carries them
	logLevel         string
	maxConns         int
	tcpMem           int
	cc               string // TCP congestion control
	ecn              string // TCP ECN mode
	offload          string // TAP offloads: auto, on, off

	// target is the address the command will reach (ping's, get's),
	// if known: a clash message says how to reach it. Not a flag.
	target netip.Addr
}

func (l *linkFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.tap, "tap", defaultTAP, "TAP device name, created if absent")
	fs.StringVar(&l.tun, "tun", "", "run on this TUN device instead of a TAP (IP packets: no Ethernet, no ARP), created if absent")
	fs.StringVar(&l.addr, "addr", "10.0.0.2/24", `the stack's own address, or "dhcp" to lease one from a DHCP server on the link (TAP only)`)
	fs.StringVar(&l.hostAddr, "host-addr", "10.0.0.1/24", `address for the kernel side of the TAP ("": leave it alone)`)
	fs.StringVar(&l.gateway, "gateway", "", "default route (default: host-addr's IP)")
	fs.StringVar(&l.addr6, "addr6", defaultAddr6, `the stack's static IPv6 address ("": none; the link-local address is always there, and a router's prefix adds one)`)
	fs.StringVar(&l.hostAddr6, "host-addr6", defaultHostAddr6, `IPv6 address for the kernel side of the TAP or TUN ("": leave it alone)`)
	fs.IntVar(&l.mtu, "mtu", 1500, "link MTU, 68 to 65521 (with --tun, 65535)")
	fs.StringVar(&l.pcap, "pcap", "", "write every frame in and out to this pcap file")
	fs.BoolVar(&l.pcapSegmented, "pcap-segmented", false, "with --pcap, write TCP super-frames (offloads: GRO in, TSO out) as the MSS-sized frames the wire would carry, checksums complete, instead of as they cross the TAP")
	fs.StringVar(&l.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&l.maxConns, "max-conns", 131072, "most TCP connections, TIME-WAIT included; beyond it SYNs are dropped and counted")
	fs.StringVar(&l.cc, "congestion", tcp.DefaultCongestion, "TCP congestion control: "+strings.Join(tcp.CongestionControls(), " or "))
	fs.StringVar(&l.ecn, "ecn", "on", "TCP ECN (RFC 3168): on (ask and accept), passive (accept only) or off")
	fs.StringVar(&l.offload, "offload", "auto", "TAP offloads (the kernel's TCP super-frames and checksums over the virtio-net header): auto (when the kernel accepts), on (or fail) or off")
	fs.IntVar(&l.tcpMem, "tcp-mem", 512, "TCP buffer memory limit in MiB (windows stop growing at 3/4 of it, new connections are refused at it; 0: no limit)")
}

// parsed is linkFlags after validation.
type parsed struct {
	addr, hostAddr netip.Prefix // addr is zero with --addr dhcp
	gateway        netip.Addr
	ecn            tcp.ECNMode
	dhcp           bool // --addr dhcp: address, prefix and router from a lease
	offload        nic.OffloadMode
	addr6          netip.Prefix // zero with --addr6 ""
	hostAddr6      netip.Prefix // zero with --host-addr6 ""
}

func (l *linkFlags) parse() (parsed, error) {
	var p parsed
	var err error
	p.dhcp = l.addr == "dhcp"
	if !p.dhcp {
		if p.addr, err = parseHost("--addr", l.addr, 2); err != nil {
			if _, perr := netip.ParsePrefix(l.addr); perr != nil {
				err = fmt.Errorf(`%w, or "dhcp" to lease one`, err)
			}
			return p, err
		}
	}
	if l.hostAddr != "" {
		if p.hostAddr, err = parseHost("--host-addr", l.hostAddr, 1); err != nil {
			return p, err
		}
		if err := checkEnds(p.addr, p.hostAddr); err != nil && !p.dhcp {
			return p, err
		}
	}
	switch {
	case p.dhcp && l.gateway != "":
		return p, fmt.Errorf("--gateway %s: with --addr dhcp the router comes from the lease; leave --gateway out", l.gateway)
	case p.dhcp:
	case l.gateway != "":
		if p.gateway, err = netip.ParseAddr(l.gateway); err != nil || !p.gateway.Is4() {
			return p, fmt.Errorf("--gateway %q: want an IPv4 address, like %v", l.gateway, otherHost(p.addr).Addr())
		}
		if err := checkGateway(p.gateway, p.addr); err != nil {
			return p, err
		}
	case p.hostAddr.IsValid():
		p.gateway = p.hostAddr.Addr() // on-link: checkEnds
	}
	if l.pcapSegmented && l.pcap == "" {
		return p, fmt.Errorf("--pcap-segmented changes how the --pcap file records super-frames; pass --pcap FILE too")
	}
	if l.tun != "" && l.tap != defaultTAP {
		return p, fmt.Errorf("--tap %s and --tun %s: the stack runs on one device; pass --tun alone for a TUN, --tap alone for a TAP", l.tap, l.tun)
	}
	if p.dhcp && l.tun != "" {
		return p, fmt.Errorf("--addr dhcp and --tun %s: DHCP needs a broadcast link (RFC 2131 §4.1) and a TUN has none; pass --addr with an address, like 10.0.0.2/24, or run on a TAP", l.tun)
	}
	if err := checkMTU(l.mtu, l.tun != ""); err != nil {
		return p, err
	}
	if l.maxConns < 1 {
		return p, fmt.Errorf("--max-conns %d: want at least 1", l.maxConns)
	}
	if !tcp.IsCongestionControl(l.cc) {
		return p, fmt.Errorf("--congestion %q: want one of %s", l.cc, strings.Join(tcp.CongestionControls(), ", "))
	}
	var ok bool
	if p.ecn, ok = tcp.ParseECNMode(l.ecn); !ok {
		return p, fmt.Errorf("--ecn %q: want one of %s", l.ecn, strings.Join(tcp.ECNModes(), ", "))
	}
	if p.offload, err = nic.ParseOffloadMode(l.offload); err != nil {
		return p, fmt.Errorf("--offload %q: want auto, on or off", l.offload)
	}
	if l.tun != "" && p.offload == nic.OffloadOn {
		return p, fmt.Errorf("--offload on and --tun %s: offloads are for a TAP; pass --offload off or auto with --tun", l.tun)
	}
	if l.tcpMem < 0 || l.tcpMem > 1<<20 {
		return p, fmt.Errorf("--tcp-mem %d: want 0 (no limit) to 1048576 MiB", l.tcpMem)
	}
	if err := l.parse6(&p); err != nil {
		return p, err
	}
	return p, nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv})), nil
}

// command is what every command that brings up a stack shares: a flag set
// with the link flags, its usage line, and one-line errors.
type command struct {
	name   string // "up", "ping", ...
	stderr io.Writer
	fs     *flag.FlagSet
	link   linkFlags
}

// newCommand makes the flag set; args describes the positional arguments
// for the usage line ("" when there are none).
func newCommand(name, args string, stderr io.Writer) *command {
	c := &command{name: name, stderr: stderr, fs: flag.NewFlagSet("tapstack "+name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	c.link.register(c.fs)
	if args != "" {
		args = " " + args
	}
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tapstack %s [flags]%s\n", name, args)
		c.fs.PrintDefaults()
	}
	return c
}

// parse parses args and checks there are nargs positional arguments. On
// false the caller exits with status 2 (the reason is already printed).
func (c *command) parse(args []string, nargs int) bool {
	if err := c.fs.Parse(args); err != nil {
		return false
	}
	if c.fs.NArg() != nargs {
		c.fs.Usage()
		return false
	}
	return true
}

// fail prints one line, "tapstack NAME: ...", and returns code.
func (c *command) fail(code int, format string, a ...any) int {
	fmt.Fprintf(c.stderr, "tapstack %s: %s\n", c.name, fmt.Sprintf(format, a...))
	return code
}

// start brings up the stack. On failure it prints the reason and returns
// the exit status (2 for a usage error, 1 otherwise) and a nil node.
func (c *command) start() (*node, *slog.Logger, int) {
	log, err := newLogger(c.stderr, c.link.logLevel)
	if err != nil {
		return nil, nil, c.fail(2, "%v", err)
	}
	n, err := bringUp(&c.link, log)
	if err != nil {
		return nil, nil, c.fail(1, "%v", err)
	}
	return n, log, 0
}
