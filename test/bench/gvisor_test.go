package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// The gVisor "daemon" is this test binary re-executed inside the stack's
// namespace with these environment variables set; TestMain hands over to
// gvisorMain before any flag is parsed (and to linuxMain for the Linux
// columns' server, linux_test.go).
const (
	envGVisor = "TAPSTACK_BENCH_GVISOR" // "1": be the gVisor daemon
	envTAP    = "TAPSTACK_BENCH_TAP"    // TAP name
	envMTU    = "TAPSTACK_BENCH_MTU"    // link MTU

	// gvisorReady is logged on stderr once every service listens.
	gvisorReady = "gvisor up"
)

func TestMain(m *testing.M) {
	if os.Getenv(envGVisor) == "1" {
		os.Exit(gvisorMain())
	}
	if os.Getenv(envLinux) == "1" {
		os.Exit(linuxMain())
	}
	os.Exit(m.Run())
}

// gvisorMain brings up gVisor's netstack on a TAP with the same addresses and
// services as `tapstack up` and serves until SIGTERM.
func gvisorMain() int {
	lg := log.New(os.Stderr, "gvisor-daemon: ", log.Lmicroseconds)
	name := os.Getenv(envTAP)
	mtu, err := strconv.Atoi(os.Getenv(envMTU))
	if err != nil || name == "" {
		lg.Printf("want %s and %s", envTAP, envMTU)
		return 2
	}
	fd, err := openTAP(name)
	if err != nil {
		lg.Print(err)
		return 1
	}
	if err := configureHostSide(name, mtu); err != nil {
		lg.Print(err)
		return 1
	}

	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, icmp.NewProtocol4},
	})
	// As runsc configures it: SACK on, receive buffer auto-tuning on.
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)

	ep, err := fdbased.New(&fdbased.Options{
		FDs:            []int{fd},
		MTU:            uint32(mtu),
		EthernetHeader: true,
		Address:        tcpip.LinkAddress(stackMAC),
	})
	if err != nil {
		lg.Printf("fdbased.New: %v", err)
		return 1
	}
	const nicID = 1
	if err := s.CreateNIC(nicID, ep); err != nil {
		lg.Printf("CreateNIC: %v", err)
		return 1
	}
	addr := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), PrefixLen: 24}
	if err := s.AddProtocolAddress(nicID, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: addr}, stack.AddressProperties{}); err != nil {
		lg.Printf("AddProtocolAddress: %v", err)
		return 1
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: addr.Subnet(), NIC: nicID},
		{Destination: header.IPv4EmptySubnet, Gateway: tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), NIC: nicID},
	})

	listen := func(port uint16) (net.Listener, error) {
		return gonet.ListenTCP(s, tcpip.FullAddress{NIC: nicID, Port: port}, ipv4.ProtocolNumber)
	}
	for _, svc := range []struct {
		port   uint16
		handle func(net.Conn)
	}{{9, discard}, {19, chargen}} {
		l, err := listen(svc.port)
		if err != nil {
			lg.Printf("listen :%d: %v", svc.port, err)
			return 1
		}
		go acceptLoop(l, svc.handle)
	}
	hl, err := listen(80)
	if err != nil {
		lg.Printf("listen :80: %v", err)
		return 1
	}
	srv := &http.Server{Handler: httpHandler(s), ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(hl)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	lg.Printf("%s tap=%s mtu=%d", gvisorReady, name, mtu)
	<-sig
	srv.Close()
	s.Close()
	return 0
}

// stackMAC is the gVisor NIC's address (locally administered).
var stackMAC = []byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}

// openTAP creates (or attaches to) the TAP name as a plain Ethernet device:
// IFF_TAP|IFF_NO_PI, no virtio-net header, so no offloads either way.
func openTAP(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	return fd, nil
}

// configureHostSide does what tapstack's nic.OpenTAP does for the kernel
// side: MTU, link up, 10.0.0.1/24.
func configureHostSide(name string, mtu int) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netlink: %s: %w", name, err)
	}
	if err := netlink.LinkSetMTU(link, mtu); err != nil {
		return fmt.Errorf("netlink: MTU %d: %w", mtu, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("netlink: up: %w", err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 0, 0, 1), Mask: net.CIDRMask(24, 32)}}
	if err := netlink.AddrAdd(link, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("netlink: address: %w", err)
	}
	return nil
}

func acceptLoop(l net.Listener, handle func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

// The services below are copies of cmd/tapstack's (services.go), so both
// stacks run the same application code.

func discard(c net.Conn) {
	buf := make([]byte, 64<<10)
	io.CopyBuffer(io.Discard, c, buf)
}

var chargenPattern = func() []byte {
	var b []byte
	for line := 0; line < 95; line++ {
		for i := 0; i < 72; i++ {
			b = append(b, byte(' '+(line+i)%95))
		}
		b = append(b, '\r', '\n')
	}
	return b
}()

func chargen(c net.Conn) {
	go io.Copy(io.Discard, c)
	buf := make([]byte, 0, 64<<10+len(chargenPattern))
	for len(buf) < 64<<10 {
		buf = append(buf, chargenPattern...)
	}
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// bytesPattern is what GET /bytes/N sends, 64 KiB at a time: shared and
// never written, so a response that waits on a stalled peer holds no buffer
// of its own.
var bytesPattern = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// httpHandler serves tcp/80: a title, /stats and /bytes/N.
func httpHandler(s *stack.Stack) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "gVisor netstack (tapstack bench)")
	})
	// A few of gVisor's counters under the names of tapstack's /stats, for
	// the phases that poll the stack (tcpStats).
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		t := s.Stats().TCP
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]map[string]uint64{"tcp": {
			"curr_estab":       t.CurrentEstablished.Value(),
			"passive_opens":    t.PassiveConnectionOpenings.Value(),
			"listen_overflows": t.ListenOverflowSynDrop.Value() + t.ListenOverflowAckDrop.Value(),
			"retrans_segs":     t.Retransmits.Value(),
			"timeouts":         t.Timeouts.Value(),
			"recoveries":       t.FastRecovery.Value() + t.SACKRecovery.Value(),
		}})
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			http.Error(w, "want /bytes/N with 0 <= N <= 2^40", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		for n > 0 {
			k := min(n, int64(len(bytesPattern)))
			if _, err := w.Write(bytesPattern[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	return mux
}
