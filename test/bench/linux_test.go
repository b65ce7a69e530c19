package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
	"golang.org/x/sys/unix"
)

// The Linux reference columns: Linux sending to Linux over a veth pair, with
// the same loss rules as the TAP. The bench namespace keeps the kernel side
// (10.0.0.1, the clients) and one end of the veth, named as the TAP would
// be, so withLoss puts its rules on it unchanged; the other end is in a
// second namespace, the "stack side" (10.0.0.2), where this test binary
// re-executed with TAPSTACK_BENCH_LINUX=1 serves discard, chargen and
// /stats from kernel sockets. Both ends use the column's congestion control,
// so each direction's sender runs it: set per route (`congctl`), because a
// namespace other than the first may only set net.ipv4.tcp_congestion_control
// to one in the machine's tcp_allowed_congestion_control (EPERM otherwise),
// and a route's needs only CAP_NET_ADMIN. Both ends check it on their
// sockets (TCP_CONGESTION).

// linuxCCs are the Linux columns' congestion controls.
var linuxCCs = []string{"cubic", "bbr"}

// linuxRef is the column the loss rows also compare tapstack with.
const linuxRef = "Linux cubic"

const (
	envLinux = "TAPSTACK_BENCH_LINUX" // "1": be the Linux stack side's server
	envCC    = "TAPSTACK_BENCH_CC"    // the congestion control its connections must have

	// linuxReady is logged on stderr once every service listens.
	linuxReady = "linux up"

	// peerSuffix names the stack side's end of the veth (link + suffix,
	// within IFNAMSIZ: tapName gives 11 characters).
	peerSuffix = "s"
)

// linuxPeer returns a column's start function: it creates the stack side's
// namespace, joins it to ns with a veth pair whose end in ns is called link,
// routes each end to the other with congestion control cc, and returns the
// command that runs the server there.
func linuxPeer(exe, cc string) func(b *testing.B, ns *nstest.NS, link string) (*exec.Cmd, error) {
	return func(b *testing.B, ns *nstest.NS, link string) (*exec.Cmd, error) {
		peer := nstest.New(b)
		mtu := strconv.Itoa(*flagMTU)
		peerLink := link + peerSuffix
		for _, c := range []struct {
			ns   *nstest.NS
			args []string
		}{
			{ns, []string{"link", "add", link, "mtu", mtu, "type", "veth", "peer", "name", peerLink, "mtu", mtu, "netns", peer.Name}},
			{ns, []string{"address", "add", hostAddr + "/24", "dev", link}},
			{ns, []string{"link", "set", link, "up"}},
			{peer, []string{"address", "add", stackAddr + "/24", "dev", peerLink}},
			{peer, []string{"link", "set", peerLink, "up"}},
			{ns, []string{"route", "add", stackAddr + "/32", "dev", link, "congctl", cc}},
			{peer, []string{"route", "add", hostAddr + "/32", "dev", peerLink, "congctl", cc}},
		} {
			if out, err := nsCmd(c.ns, nil, "ip", c.args...); err != nil {
				if avail := availableCC(c.ns); !slices.Contains(strings.Fields(avail), cc) {
					return nil, notAvailable(fmt.Sprintf("n/a (no %s: tcp_available_congestion_control is %s)", cc, avail))
				}
				return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(c.args, " "), err, out)
			}
		}
		// The stack side sends one segment per skb, as withLoss makes the
		// kernel side do: otherwise the ingress rule would see (and drop)
		// whole TSO trains of up to 64 KiB, which the veth never splits.
		// The loss-only column runs nothing else, so it stays set.
		if _, err := gsoMaxSegs(peer, peerLink, 1); err != nil {
			return nil, err
		}
		cmd := peer.Command(context.Background(), exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), envLinux+"=1", envCC+"="+cc)
		return cmd, nil
	}
}

// availableCC is net.ipv4.tcp_available_congestion_control in ns (a name
// not listed may still be a module the kernel loads on first use).
func availableCC(ns *nstest.NS) string {
	var s string
	ns.Do(func() error {
		s, _ = readFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
		return nil
	})
	return s
}

// connCC is the congestion control of a TCP connection (TCP_CONGESTION).
func connCC(c net.Conn) (string, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return "", fmt.Errorf("not a kernel TCP connection: %T", c)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return "", err
	}
	var cc string
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		cc, gerr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	}); err != nil {
		return "", err
	}
	return strings.TrimRight(cc, "\x00"), gerr
}

// clientCC is the congestion control of a connection the kernel side
// opens to the stack (to discard, closed at once).
func clientCC(ns *nstest.NS) (string, error) {
	c, err := dial(ns, 9)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return connCC(c)
}

// ccMismatch starts the server's complaint about an accepted connection's
// congestion control.
const ccMismatch = "congestion control mismatch"

// notAvailable is why a column cannot run on this machine; its rows say so.
type notAvailable string

func (e notAvailable) Error() string { return string(e) }

// linuxMain serves discard (tcp/9), chargen (tcp/19) and GET /stats
// (tcp/80) from kernel sockets in its namespace until SIGTERM.
func linuxMain() int {
	lg := log.New(os.Stderr, "linux-server: ", log.Lmicroseconds)
	want := os.Getenv(envCC)
	// checked wraps a service: every connection must run want.
	checked := func(handle func(net.Conn)) func(net.Conn) {
		return func(c net.Conn) {
			if cc, err := connCC(c); err != nil || cc != want {
				lg.Printf("%s: %s from %v (%v), want %s", ccMismatch, cc, c.RemoteAddr(), err, want)
			}
			handle(c)
		}
	}
	for _, svc := range []struct {
		port   int
		handle func(net.Conn)
	}{{9, discard}, {19, chargen}} {
		l, err := net.Listen("tcp4", ":"+strconv.Itoa(svc.port))
		if err != nil {
			lg.Print(err)
			return 1
		}
		go acceptLoop(l, checked(svc.handle))
	}
	hl, err := net.Listen("tcp4", ":80")
	if err != nil {
		lg.Print(err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := kernelTCPStats()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]map[string]uint64{"tcp": st})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(hl)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	lg.Printf("%s congestion=%s", linuxReady, want)
	<-sig
	srv.Close()
	return 0
}

// kernelTCPStats reads the namespace's TCP counters under tapstack's /stats
// names (tcpStats): curr_estab and retrans_segs are RFC 4022's (Tcp: in
// /proc/net/snmp), timeouts and recoveries Linux's TcpExt: TCPTimeouts and
// TCPSackRecovery + TCPRenoRecovery (/proc/net/netstat).
func kernelTCPStats() (map[string]uint64, error) {
	snmp, err := procNetCounters("/proc/net/snmp", "Tcp:")
	if err != nil {
		return nil, err
	}
	ext, err := procNetCounters("/proc/net/netstat", "TcpExt:")
	if err != nil {
		return nil, err
	}
	return map[string]uint64{
		"curr_estab":   snmp["CurrEstab"],
		"retrans_segs": snmp["RetransSegs"],
		"timeouts":     ext["TCPTimeouts"],
		"recoveries":   ext["TCPSackRecovery"] + ext["TCPRenoRecovery"],
	}, nil
}

// procNetCounters parses the pair of lines starting with prefix in a
// /proc/net/snmp-style file: names, then values.
func procNetCounters(path, prefix string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines [][]string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == prefix {
			lines = append(lines, f[1:])
		}
	}
	if len(lines) != 2 || len(lines[0]) != len(lines[1]) {
		return nil, fmt.Errorf("%s: no %s names and values", path, prefix)
	}
	m := map[string]uint64{}
	for i, name := range lines[0] {
		// CurrEstab is a gauge, MaxConn may be -1: skip what is not a count.
		if v, err := strconv.ParseUint(lines[1][i], 10, 64); err == nil {
			m[name] = v
		}
	}
	return m, nil
}
