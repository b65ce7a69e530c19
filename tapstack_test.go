package tapstack_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// newPair brings up a (10.0.0.1, asking b for names) and b (10.0.0.2,
// serving DNS for records), both closed at the end of the test.
func newPair(t *testing.T, records map[string][]netip.Addr) (a, b *tapstack.Net) {
	t.Helper()
	a, b, err := tapstack.NewPair(
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2")}, Logger: quiet},
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	if records != nil {
		pc, err := b.ListenPacket("udp", ":53")
		if err != nil {
			t.Fatal(err)
		}
		go serveDNS(pc, records)
	}
	return a, b
}

// The done-when: a program brings tapstack up in one call, fetches
// http://name/ through it with the built-in resolver, and serves net/http
// on it.
func TestNewPair_FetchesHTTPByNameFromNetHTTPServedOnTheOther(t *testing.T) {
	a, b := newPair(t, map[string][]netip.Addr{"web.test": {netip.MustParseAddr("10.0.0.2")}})
	l, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "host "+r.Host+" peer "+r.RemoteAddr)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	tr := &http.Transport{DialContext: a.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get("http://web.test/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, body %q, err %v", resp.StatusCode, body, err)
	}
	if got := string(body); !strings.HasPrefix(got, "host web.test peer 10.0.0.1:") {
		t.Fatalf("body %q: want the request from 10.0.0.1 for web.test", got)
	}
	if in := b.Stats().UDP.InDatagrams; in == 0 {
		t.Fatalf("b received no UDP datagram: the name was not asked of its DNS server")
	}
}

func TestDial_Refused_IsOpErrorWithECONNREFUSED(t *testing.T) {
	a, _ := newPair(t, nil)
	_, err := a.Dial("tcp", "10.0.0.2:81")
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || oe.Net != "tcp" || oe.Addr.String() != "10.0.0.2:81" {
		t.Fatalf("err = %#v, want *net.OpError dial tcp 10.0.0.2:81", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ECONNREFUSED", err)
	}
}

func TestDialListen_UnknownNetwork(t *testing.T) {
	a, _ := newPair(t, nil)
	check := func(what string, err error) {
		t.Helper()
		var une net.UnknownNetworkError
		var oe *net.OpError
		if !errors.As(err, &oe) || !errors.As(err, &une) || string(une) != "sctp" {
			t.Errorf("%s: err = %v, want *net.OpError with UnknownNetworkError(sctp)", what, err)
		}
	}
	_, err := a.Dial("sctp", "10.0.0.2:80")
	check("Dial", err)
	_, err = a.Dial("sctp", "web.test:80") // before any lookup
	check("Dial by name", err)
	_, err = a.Listen("sctp", ":80")
	check("Listen", err)
	_, err = a.ListenPacket("sctp", ":80")
	check("ListenPacket", err)
}

func TestDial_BadAddress(t *testing.T) {
	a, _ := newPair(t, nil)
	for _, addr := range []string{"10.0.0.2", "10.0.0.2:nope", "10.0.0.2:99999"} {
		c, err := a.Dial("tcp", addr)
		var oe *net.OpError
		if !errors.As(err, &oe) || c != nil {
			t.Errorf("Dial(%q) = %v, %v: want a *net.OpError", addr, c, err)
		}
	}
}

func TestDial_NameNotFound_IsDNSErrorNotFound(t *testing.T) {
	a, _ := newPair(t, map[string][]netip.Addr{})
	for _, network := range []string{"tcp", "udp"} {
		_, err := a.Dial(network, "nowhere.test:80")
		var de *net.DNSError
		var oe *net.OpError
		if !errors.As(err, &oe) || !errors.As(err, &de) || !de.IsNotFound || de.Name != "nowhere.test" {
			t.Errorf("Dial(%s) = %v, want *net.OpError wrapping a not-found *net.DNSError", network, err)
		}
	}
	_, err := a.LookupHost("nowhere.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("LookupHost = %v, want a not-found *net.DNSError", err)
	}
}

func TestDialUDP_ByName(t *testing.T) {
	a, b := newPair(t, map[string][]netip.Addr{"echo.test": {netip.MustParseAddr("10.0.0.2")}})
	pc, err := b.ListenPacket("udp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Dial("udp", "echo.test:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != "10.0.0.2:7" {
		t.Fatalf("RemoteAddr %s, want 10.0.0.2:7", got)
	}
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hi" || from.String() != c.LocalAddr().String() {
		t.Fatalf("b read %q from %v (%v), want \"hi\" from %v", buf[:n], from, err, c.LocalAddr())
	}
}

// Net.ListenMulticastUDP, as net.ListenMulticastUDP: the listener gets
// what the other stack sends to the group at its port; a nil group is
// net's "missing address".
func TestListenMulticastUDP_OverThePair(t *testing.T) {
	a, b := newPair(t, nil)
	gaddr := &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: 1900}
	l, err := b.ListenMulticastUDP("udp4", nil, gaddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tx, err := a.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.WriteTo([]byte("M-SEARCH"), gaddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	l.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := l.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "M-SEARCH" || from.(*net.UDPAddr).IP.String() != "10.0.0.1" {
		t.Fatalf("read %q from %v (%v), want \"M-SEARCH\" from 10.0.0.1", buf[:n], from, err)
	}
	if _, err := b.ListenMulticastUDP("udp4", nil, nil); err == nil || !strings.Contains(err.Error(), "missing address") {
		t.Fatalf("nil group: %v, want missing address", err)
	}
}

// As net.Dialer: a name's addresses are tried in order until one
// connects; when none does, the error is the first address's.
func TestDial_ByName_TriesEachAddressInOrder(t *testing.T) {
	a, b := newPair(t, map[string][]netip.Addr{
		// 10.0.0.1 is a itself, where nobody listens: refused at once.
		"two.test": {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")},
	})
	l, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := a.Dial("tcp", "two.test:80")
	if err != nil {
		t.Fatalf("Dial: %v, want the second address to connect", err)
	}
	if got := c.RemoteAddr().String(); got != "10.0.0.2:80" {
		t.Errorf("connected to %s, want 10.0.0.2:80", got)
	}
	c.Close()

	_, err = a.Dial("tcp", "two.test:81")
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Addr == nil || oe.Addr.String() != "10.0.0.1:81" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want the first address's: refused at 10.0.0.1:81", err)
	}
}

func TestLookupHost_WithoutDNS(t *testing.T) {
	pa, pb := nic.NewPipe(nic.PipeConfig{})
	defer pb.Close()
	n, err := tapstack.New(tapstack.Config{Link: tapstack.Memory, Device: pa, Addr: netip.MustParsePrefix("10.0.0.1/24"), Logger: quiet,
		Resolver: dnsConfigHosts(map[string][]netip.Addr{"gw": {netip.MustParseAddr("fd00::1"), netip.MustParseAddr("10.0.0.254")}, "v6only": {netip.MustParseAddr("fd00::2")}})})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	// Both families, IPv4 first: the stack's only IPv6 address is its
	// link-local one, whose scope does not match fd00::1's (RFC 6724 §6
	// rule 2).
	for host, want := range map[string]string{"10.0.0.9": "[10.0.0.9]", "GW": "[10.0.0.254 fd00::1]", "gw.": "[10.0.0.254 fd00::1]", "v6only": "[fd00::2]"} {
		if got, err := n.LookupHost(host); err != nil || strings.Join(got, " ") != strings.Trim(want, "[]") {
			t.Errorf("LookupHost(%q) = %v, %v; want %s", host, got, err, want)
		}
	}
	for _, host := range []string{"web.test"} {
		_, err = n.LookupHost(host)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("LookupHost(%s) without servers = %v, want a not-found *net.DNSError", host, err)
		}
	}
}

// echoRequest is an ICMP echo request with seq and 4 bytes of data.
func echoRequest(t *testing.T, seq int) []byte {
	t.Helper()
	m, err := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{Seq: seq, Data: []byte("data")}}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readEchoReply reads one message from c, which must be an echo reply.
func readEchoReply(t *testing.T, c net.Conn) *icmp.Echo {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := icmp.ParseMessage(1, buf[:n]) // 1: ICMP for IPv4
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.Body.(*icmp.Echo)
	if m.Type != ipv4.ICMPTypeEchoReply || !ok {
		t.Fatalf("read %v %+v, want an echo reply", m.Type, m.Body)
	}
	return e
}

func TestPing_OverThePair(t *testing.T) {
	a, b := newPair(t, nil)
	c, err := a.DialPing(netip.Addr{}, b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echo := func(seq int) []byte { return echoRequest(t, seq) }
	// A reply from anyone but the dialed peer is not Read: a pings itself
	// first, then b.
	if _, err := c.WriteTo(echo(1), &tapstack.PingAddr{Addr: a.Addr()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(echo(2)); err != nil {
		t.Fatal(err)
	}
	if e := readEchoReply(t, c); e.Seq != 2 || string(e.Data) != "data" {
		t.Fatalf("read the reply to %+v, want the echo reply to seq 2 from b", e)
	}
	buf := make([]byte, 1500)

	// A deadline in the past fails Read at once with a timeout.
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, err = c.Read(buf)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline = %v, want a timeout", err)
	}

	// Errnos as a Linux ping socket.
	l, err := a.ListenPing(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Write(echo(3)); !errors.Is(err, syscall.EDESTADDRREQ) {
		t.Errorf("Write on an undialed ping socket = %v, want EDESTADDRREQ", err)
	}
	notEcho, _ := (&icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &icmp.Echo{}}).Marshal(nil)
	if _, err := l.WriteTo(notEcho, &tapstack.PingAddr{Addr: b.Addr()}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("WriteTo of an echo reply = %v, want EINVAL", err)
	}
	if _, err := a.ListenPing(netip.MustParseAddr("10.0.0.77")); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("ListenPing on another address = %v, want EADDRNOTAVAIL", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v, want net.ErrClosed", err)
	}
}

// Dial("ping4", host) is a ping socket to the host, by name too.
func TestDial_Ping4ByName(t *testing.T) {
	a, _ := newPair(t, map[string][]netip.Addr{"b.test": {netip.MustParseAddr("10.0.0.2")}})
	c, err := a.Dial("ping4", "b.test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ra := c.RemoteAddr(); ra.Network() != "ping4" || ra.String() != "10.0.0.2" {
		t.Fatalf("RemoteAddr %s %s, want ping4 10.0.0.2", ra.Network(), ra)
	}
	if _, err := c.Write(echoRequest(t, 5)); err != nil {
		t.Fatal(err)
	}
	if e := readEchoReply(t, c); e.Seq != 5 {
		t.Fatalf("read the reply to seq %d, want 5", e.Seq)
	}
	c, err = a.Dial("ping4", "nowhere.test")
	var de *net.DNSError
	if c != nil || !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("Dial(ping4, nowhere.test) = %v, %v; want nil and a not-found *net.DNSError", c, err)
	}
}

func TestClose_ClosesWhatWasOpenedAndRefusesMore(t *testing.T) {
	a, b := newPair(t, nil)
	l, err := a.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := a.ListenPacket("udp", ":53")
	if err != nil {
		t.Fatal(err)
	}
	bl, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Close()
	c, err := a.Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() { _, err := l.Accept(); accepted <- err }()

	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Errorf("blocked Accept after Close = %v, want net.ErrClosed", err)
	}
	if _, _, err := pc.ReadFrom(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrom after Close = %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v, want net.ErrClosed", err)
	}
	for _, network := range []string{"tcp", "udp", "ping4"} {
		addr := "10.0.0.2:80"
		if network == "ping4" {
			addr = "10.0.0.2"
		}
		if c, err := a.Dial(network, addr); c != nil || err == nil {
			t.Errorf("Dial(%s) after Close = %#v, %v; want a nil Conn and an error", network, c, err)
		}
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestNew_BadConfigs(t *testing.T) {
	addr := netip.MustParsePrefix("10.0.0.1/24")
	pc, pd := nic.NewPipe(nic.PipeConfig{})
	defer pd.Close()
	if _, err := tapstack.New(tapstack.Config{Link: tapstack.TUN, Device: pc, Addr: addr}); err == nil || !strings.Contains(err.Error(), "Config.Device is for Link Memory") {
		t.Errorf("TUN with a Device: %v, want an error saying Device is for Memory", err)
	}
	if _, err := tapstack.New(tapstack.Config{Link: tapstack.Memory, Addr: addr}); err == nil || !strings.Contains(err.Error(), "Config.Device") {
		t.Errorf("Memory without a Device: %v, want an error naming Config.Device", err)
	}
	if _, err := tapstack.New(tapstack.Config{Link: 9, Addr: addr}); err == nil {
		t.Errorf("unknown link: no error")
	}
	if _, err := tapstack.New(tapstack.Config{Link: tapstack.Memory, Device: pc, Addr: addr, HostAddr6: netip.MustParsePrefix("fd00::1/64")}); !errors.Is(err, stack.ErrBadConfig) || !strings.Contains(err.Error(), "HostAddr6") {
		t.Errorf("Memory with a HostAddr6: %v, want ErrBadConfig naming HostAddr6", err)
	}
	if _, _, err := tapstack.NewPair(tapstack.Config{Addr: addr, MTU: 1500}, tapstack.Config{Addr: addr.Masked(), MTU: 9000}); err == nil {
		t.Errorf("NewPair with two MTUs: no error")
	}
	// A bad address fails after the device is open: New closes it.
	pa, pb := nic.NewPipe(nic.PipeConfig{})
	defer pb.Close()
	if _, err := tapstack.New(tapstack.Config{Link: tapstack.Memory, Device: pa, Addr: netip.MustParsePrefix("fd00::2/64"), Logger: quiet}); !errors.Is(err, stack.ErrBadConfig) {
		t.Fatalf("an IPv6 Addr: %v, want stack.ErrBadConfig", err)
	}
	if _, err := pb.Write([]nic.Frame{{Data: make([]byte, 60)}}); !errors.Is(err, nic.ErrClosed) {
		t.Errorf("the failed New left its device open: Write on the other end = %v", err)
	}
}

// The gateway defaults to HostAddr's address, as the daemon's --gateway.
func TestNew_GatewayFromHostAddr(t *testing.T) {
	for _, tc := range []struct {
		host, gw string
		want     string // the default route's gateway; "" for none
	}{
		{"10.0.0.1/24", "", "10.0.0.1"},
		{"10.0.0.1/24", "10.0.0.254", "10.0.0.254"},
		{"", "", ""},
	} {
		pa, pb := nic.NewPipe(nic.PipeConfig{})
		cfg := tapstack.Config{Link: tapstack.Memory, Device: pa, Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: quiet}
		if tc.host != "" {
			cfg.HostAddr = netip.MustParsePrefix(tc.host)
		}
		if tc.gw != "" {
			cfg.Gateway = netip.MustParseAddr(tc.gw)
		}
		n, err := tapstack.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, r := range n.Stack().Routes() {
			if r.Dst.Bits() == 0 {
				got = r.Gateway.String()
			}
		}
		if got != tc.want {
			t.Errorf("host %q gateway %q: default route via %q, want %q", tc.host, tc.gw, got, tc.want)
		}
		n.Close()
		pb.Close()
	}
}

func TestRegisterFlags_DaemonDefaultsAndOverrides(t *testing.T) {
	parse := func(args ...string) tapstack.Config {
		t.Helper()
		var c tapstack.Config
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		c.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := parse()
	if c.Link != tapstack.TAP || c.Name != "tap0" || c.Addr.String() != "10.0.0.2/24" || c.HostAddr.String() != "10.0.0.1/24" || c.Gateway.IsValid() || c.MTU != 1500 || c.Addr6.IsValid() || c.HostAddr6.IsValid() {
		t.Errorf("defaults: %+v", c)
	}
	if c := parse("--addr6", "fd00::2/64", "--host-addr6", "fd00::1/64"); c.Addr6.String() != "fd00::2/64" || c.HostAddr6.String() != "fd00::1/64" {
		t.Errorf("--addr6, --host-addr6: %v, %v", c.Addr6, c.HostAddr6)
	}
	c = parse("--tap", "tap9", "--addr", "10.1.0.2/16", "--host-addr", "", "--gateway", "10.1.0.9", "--mtu", "9000")
	if c.Link != tapstack.TAP || c.Name != "tap9" || c.Addr.String() != "10.1.0.2/16" || c.HostAddr.IsValid() || c.Gateway.String() != "10.1.0.9" || c.MTU != 9000 {
		t.Errorf("overrides: %+v", c)
	}
	// --tun wins over --tap in either order, as the daemon's; "" is none.
	for _, args := range [][]string{{"--tun", "tun3"}, {"--tun", "tun3", "--tap", "tap9"}, {"--tap", "tap9", "--tun", "tun3"}} {
		if c := parse(args...); c.Link != tapstack.TUN || c.Name != "tun3" {
			t.Errorf("%q: link %v %q, want TUN tun3", args, c.Link, c.Name)
		}
	}
	if c := parse("--tun", "", "--tap", "tap9"); c.Link != tapstack.TAP || c.Name != "tap9" {
		t.Errorf(`--tun "": link %v %q, want TAP tap9`, c.Link, c.Name)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	(&tapstack.Config{}).RegisterFlags(fs)
	for _, args := range [][]string{{"--addr", "10.0.0.2"}, {"--addr6", "fd00::2"}, {"--addr6", "10.0.0.2/24"}, {"--host-addr6", "::ffff:10.0.0.1/120"}} {
		if err := fs.Parse(args); err == nil {
			t.Errorf("%q parsed", args)
		}
	}
}

// On a real TAP and a real TUN in a namespace: one call opens it, gives
// the kernel side its address, routes through it, and connects to a kernel
// listener.
func TestNew_TAPAndTUN(t *testing.T) {
	for i, link := range []tapstack.Link{tapstack.TAP, tapstack.TUN} {
		t.Run(link.String(), func(t *testing.T) {
			ns := nstest.New(t)
			host := netip.MustParsePrefix(fmt.Sprintf("10.9.%d.1/24", i))
			var n *tapstack.Net
			var kl net.Listener
			err := ns.Do(func() error {
				var err error
				if n, err = tapstack.New(tapstack.Config{Link: link, Name: "embed-" + strings.ToLower(link.String()),
					Addr: netip.PrefixFrom(host.Addr().Next(), 24), HostAddr: host, Logger: quiet}); err != nil {
					return err
				}
				kl, err = net.Listen("tcp4", host.Addr().String()+":0")
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			defer kl.Close()
			// A TUN carries IP packets: the stack has no MAC on it.
			if hasMAC := n.Stack().MAC() != (ethernet.MAC{}); hasMAC != (link == tapstack.TAP) {
				t.Fatalf("on a %v the stack's MAC is %v", link, n.Stack().MAC())
			}
			go func() {
				if c, err := kl.Accept(); err == nil {
					io.WriteString(c, "kernel")
					c.Close()
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := n.DialContext(ctx, "tcp", kl.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			c.Close()
			if string(got) != "kernel" {
				t.Fatalf("read %q (%v) from the kernel side", got, err)
			}
			var gw string
			for _, r := range n.Stack().Routes() {
				if r.Dst.Bits() == 0 {
					gw = r.Gateway.String()
				}
			}
			if gw != host.Addr().String() {
				t.Errorf("default route via %q, want host-addr's %v", gw, host.Addr())
			}
		})
	}
}

// As net.Dialer: with a deadline, each of a name's addresses gets a share
// of it, so an address that never answers leaves time for the next.
func TestDialContext_ByName_SharesTheDeadlineAmongAddresses(t *testing.T) {
	a, b, err := tapstack.NewPair(
		// b is a's gateway, and drops what is not for it: a SYN to
		// 192.0.2.1 is never answered, and retried for minutes.
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Gateway: netip.MustParseAddr("10.0.0.2"),
			DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2")}, Logger: quiet},
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	pc, err := b.ListenPacket("udp", ":53")
	if err != nil {
		t.Fatal(err)
	}
	go serveDNS(pc, map[string][]netip.Addr{"slow.test": {netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("10.0.0.2")}})
	l, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// 4.5 s: the black hole gets half (2.25 s), 10.0.0.2 the rest.
	ctx, cancel := context.WithTimeout(context.Background(), 4500*time.Millisecond)
	defer cancel()
	c, err := a.DialContext(ctx, "tcp", "slow.test:80")
	if err != nil {
		t.Fatalf("DialContext: %v, want the second address to connect in the time the first left", err)
	}
	c.Close()
}

// linkLocalReady waits (bounded) until n's link-local address has passed
// duplicate address detection (RFC 4862 §5.4) and returns it.
func linkLocalReady(t *testing.T, n *tapstack.Net) netip.Addr {
	t.Helper()
	ll := n.Stack().LinkLocal()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, a := range n.Stack().Addrs6() {
			if a.Prefix.Addr() == ll && a.State == stack.AddrPreferred {
				return ll
			}
		}
	}
	t.Fatalf("%v still tentative after 10 s", ll)
	return ll
}

// Dial("ping6", host) and Dial("ping", IPv6 literal) are ICMPv6 ping
// sockets; "ping4" refuses an IPv6 address.
func TestDial_Ping6ToTheOtherStacksLinkLocal(t *testing.T) {
	a, b := newPair(t, nil)
	linkLocalReady(t, a)
	peer := linkLocalReady(t, b)
	for _, network := range []string{"ping6", "ping"} {
		c, err := a.Dial(network, peer.String())
		if err != nil {
			t.Fatalf("Dial(%s, %s): %v", network, peer, err)
		}
		defer c.Close()
		if ra := c.RemoteAddr(); ra.Network() != "ping6" || ra.String() != peer.String() {
			t.Fatalf("Dial(%s): RemoteAddr %s %s, want ping6 %s", network, ra.Network(), ra, peer)
		}
		m, _ := (&icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{Seq: 6, Data: []byte("data")}}).Marshal(nil)
		if _, err := c.Write(m); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		r, err := icmp.ParseMessage(58, buf[:n]) // 58: ICMPv6
		if e, ok := r.Body.(*icmp.Echo); err != nil || r.Type != ipv6.ICMPTypeEchoReply || !ok || e.Seq != 6 {
			t.Fatalf("Dial(%s): read %v %+v (%v), want the echo reply to seq 6", network, r.Type, r.Body, err)
		}
	}
	var ae *net.AddrError
	if c, err := a.Dial("ping4", peer.String()); c != nil || !errors.As(err, &ae) {
		t.Fatalf("Dial(ping4, %s) = %v, %v; want no suitable address", peer, c, err)
	}
}

// Config.Addr6 gives each end of a pair a static IPv6 address that TCP
// reaches at once: NewPair's link holds only the two stacks, so they skip
// duplicate address detection (with it, the first second of dials would
// find the address tentative); the two addresses must differ.
func TestNewPair_Addr6_TCPAtOnce(t *testing.T) {
	a, b, err := tapstack.NewPair(
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Addr6: netip.MustParsePrefix("fd00::a/64"), Logger: quiet},
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Addr6: netip.MustParsePrefix("fd00::b/64"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	l, err := b.Listen("tcp6", "[fd00::b]:7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	c, err := a.Dial("tcp6", "[fd00::b]:7")
	if err != nil {
		t.Fatalf("dial [fd00::b]:7 right after NewPair: %v", err)
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.TCPAddr).IP; !got.Equal(net.ParseIP("fd00::a")) {
		t.Errorf("local address %v, want fd00::a", got)
	}
	msg := []byte("over IPv6")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo %q, %v", got, err)
	}

	_, _, err = tapstack.NewPair(
		tapstack.Config{Addr6: netip.MustParsePrefix("fd00::a/64"), Logger: quiet},
		tapstack.Config{Addr6: netip.MustParsePrefix("fd00::a/64"), Logger: quiet})
	if !errors.Is(err, stack.ErrBadConfig) {
		t.Fatalf("NewPair with one IPv6 address twice: %v, want ErrBadConfig", err)
	}
}

// A stack reaches its own IPv6 addresses (the static one and its
// link-local) without the link: TCP to a listener on the same stack, as
// over IPv4.
func TestDial_OwnIPv6Address_LoopsBack(t *testing.T) {
	a, b, err := tapstack.NewPair(
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Addr6: netip.MustParsePrefix("fd00::a/64"), Logger: quiet},
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	l, err := a.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	for _, to := range []string{"[fd00::a]:7", "[" + a.Stack().LinkLocal().String() + "]:7"} {
		c, err := a.Dial("tcp6", to)
		if err != nil {
			t.Fatalf("dial %s on the same stack: %v", to, err)
		}
		msg := []byte("to myself")
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
			t.Fatalf("%s: echo %q, %v", to, got, err)
		}
		c.Close()
	}
}

// Config.HostAddr6 gives the kernel side of a real TAP its IPv6 address,
// so with Addr6 in the same prefix the stack dials a kernel listener over
// IPv6 once both sides' duplicate address detection is over (polled, at
// most 20 s).
func TestNew_TAP_HostAddr6(t *testing.T) {
	ns := nstest.New(t)
	host, own := netip.MustParsePrefix("fd00:9::1/64"), netip.MustParsePrefix("fd00:9::2/64")
	var n *tapstack.Net
	err := ns.Do(func() error {
		var err error
		n, err = tapstack.New(tapstack.Config{Name: "embed6", Addr: netip.MustParsePrefix("10.9.9.2/24"),
			Addr6: own, HostAddr6: host, Logger: quiet})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var kl net.Listener
	deadline := time.Now().Add(20 * time.Second)
	for {
		err = ns.Do(func() error {
			var err error
			kl, err = net.Listen("tcp6", "["+host.Addr().String()+"]:0") // refused while the kernel's DAD runs
			return err
		})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kernel side never took %v: %v", host, err)
		}
		time.Sleep(100 * time.Millisecond) // polling the kernel's DAD, bounded above
	}
	defer kl.Close()
	go func() {
		for {
			c, err := kl.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "kernel6")
			c.Close()
		}
	}()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := n.DialContext(ctx, "tcp6", kl.Addr().String())
		cancel()
		if err == nil {
			got, _ := io.ReadAll(c)
			c.Close()
			if string(got) != "kernel6" {
				t.Fatalf("read %q from the kernel over IPv6", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %v over IPv6: %v", kl.Addr(), err)
		}
		time.Sleep(100 * time.Millisecond) // polling our own DAD, bounded above
	}
}

// A name with both families, looked up over DNS (A and AAAA): with global
// IPv6 addresses on both ends IPv6 comes first (RFC 6724 §6 rule 6, ::/0
// precedence 40 over IPv4's 35) and "tcp" connects over it; where nobody
// listens on IPv6 the refusal starts IPv4 at once and it connects.
func TestDial_ByName_BothFamilies_IPv6FirstThenIPv4(t *testing.T) {
	a, b, err := tapstack.NewPair(
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Addr6: netip.MustParsePrefix("2001:db8::1/64"), DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2")}, Logger: quiet},
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Addr6: netip.MustParsePrefix("2001:db8::2/64"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	pc, err := b.ListenPacket("udp4", ":53")
	if err != nil {
		t.Fatal(err)
	}
	go serveDNS(pc, map[string][]netip.Addr{"both.test": {netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("2001:db8::2")}})

	if got, err := a.LookupHost("both.test"); err != nil || strings.Join(got, " ") != "2001:db8::2 10.0.0.2" {
		t.Fatalf("LookupHost(both.test) = %v, %v; want [2001:db8::2 10.0.0.2]", got, err)
	}
	l6, err := b.Listen("tcp", ":80") // dual-stack
	if err != nil {
		t.Fatal(err)
	}
	defer l6.Close()
	l4, err := b.Listen("tcp4", ":81") // IPv4 only: IPv6 is refused
	if err != nil {
		t.Fatal(err)
	}
	defer l4.Close()
	for _, tc := range []struct{ port, want string }{{"80", "[2001:db8::2]:80"}, {"81", "10.0.0.2:81"}} {
		c, err := a.Dial("tcp", "both.test:"+tc.port)
		if err != nil {
			t.Fatalf("Dial(both.test:%s): %v", tc.port, err)
		}
		if got := c.RemoteAddr().String(); got != tc.want {
			t.Errorf("Dial(both.test:%s) connected to %s, want %s", tc.port, got, tc.want)
		}
		c.Close()
	}
}
