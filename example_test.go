package tapstack_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// quiet keeps the stacks' rare log lines out of the examples' output.
var quiet = slog.New(slog.DiscardHandler)

// pair brings up two stacks joined in memory: a at 10.0.0.1, asking b
// (10.0.0.2) for names.
func pair() (a, b *tapstack.Net) {
	a, b, err := tapstack.NewPair(
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2")}, Logger: quiet},
		tapstack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: quiet})
	if err != nil {
		panic(err)
	}
	return a, b
}

// One call brings a stack up on a TAP: here tap0 with the kernel side at
// 10.0.0.1, the gateway and the DNS server. It needs CAP_NET_ADMIN, so
// this example is not run; the others run in memory.
func ExampleNew() {
	n, err := tapstack.New(tapstack.Config{
		Link:     tapstack.TAP,
		Name:     "tap0",
		Addr:     netip.MustParsePrefix("10.0.0.2/24"),
		HostAddr: netip.MustParsePrefix("10.0.0.1/24"),
		DNS:      []netip.Addr{netip.MustParseAddr("10.0.0.1")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: n.DialContext}}
	resp, err := client.Get("http://example.com/")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
}

// Two stacks in memory, no privilege needed: b serves net/http and a DNS
// server answering web.test; a fetches http://web.test/ with the built-in
// resolver.
func ExampleNewPair() {
	a, b := pair()
	defer a.Close()
	defer b.Close()

	dnsConn, _ := b.ListenPacket("udp", ":53")
	go serveDNS(dnsConn, map[string][]netip.Addr{"web.test": {b.Addr()}})
	l, _ := b.Listen("tcp", ":80")
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %v\n", r.Host, b.Addr())
	}))

	client := &http.Client{Transport: &http.Transport{DialContext: a.DialContext}}
	resp, err := client.Get("http://web.test/")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Status, ": ", string(body))
	// Output:
	// 200 OK: hello web.test from 10.0.0.2
}

// Dial connects over TCP or UDP; errors carry the errno Linux gives.
func ExampleNet_Dial() {
	a, b := pair()
	defer a.Close()
	defer b.Close()

	_, err := a.Dial("tcp", "10.0.0.2:81") // nobody listens
	fmt.Println(err, errors.Is(err, syscall.ECONNREFUSED))

	pc, _ := b.ListenPacket("udp", ":7")
	defer pc.Close()
	c, _ := a.Dial("udp", "10.0.0.2:7")
	defer c.Close()
	c.Write([]byte("ping"))
	buf := make([]byte, 100)
	n, from, _ := pc.ReadFrom(buf)
	fmt.Printf("%q from %v\n", buf[:n], from.(*net.UDPAddr).IP)
	// Output:
	// dial tcp 10.0.0.2:81: tapstack: connection refused true
	// "ping" from 10.0.0.1
}

// Listen returns a net.Listener; Accept returns net.Conns.
func ExampleNet_Listen() {
	a, b := pair()
	defer a.Close()
	defer b.Close()

	l, _ := b.Listen("tcp", ":7")
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c) // echo
		c.Close()
	}()
	c, _ := a.Dial("tcp", "10.0.0.2:7")
	c.Write([]byte("hello"))
	c.(interface{ CloseWrite() error }).CloseWrite()
	echoed, _ := io.ReadAll(c)
	c.Close()
	fmt.Printf("%s from %v\n", echoed, l.Addr())
	// Output:
	// hello from [::]:7
}

// ListenMulticastUDP joins a group, as net.ListenMulticastUDP: here
// SSDP's, where a sends a search.
func ExampleNet_ListenMulticastUDP() {
	a, b := pair()
	defer a.Close()
	defer b.Close()

	ssdp := &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: 1900}
	l, err := b.ListenMulticastUDP("udp4", nil, ssdp)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	pc, _ := a.ListenPacket("udp4", ":0")
	defer pc.Close()
	pc.WriteTo([]byte("M-SEARCH * HTTP/1.1"), ssdp)
	buf := make([]byte, 100)
	n, from, _ := l.ReadFrom(buf)
	fmt.Printf("%q from %v\n", buf[:n], from.(*net.UDPAddr).IP)
	// Output:
	// "M-SEARCH * HTTP/1.1" from 10.0.0.1
}

// ListenPacket returns a net.PacketConn: a UDP socket.
func ExampleNet_ListenPacket() {
	a, b := pair()
	defer a.Close()
	defer b.Close()

	server, _ := b.ListenPacket("udp", ":9000")
	client, _ := a.ListenPacket("udp", ":9001")
	client.WriteTo([]byte("datagram"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.0.0.2:9000")))
	buf := make([]byte, 100)
	n, from, _ := server.ReadFrom(buf)
	fmt.Printf("%s from %v\n", buf[:n], from)
	// Output:
	// datagram from 10.0.0.1:9001
}

// LookupHost asks Config.DNS over the stack itself.
func ExampleNet_LookupHost() {
	a, b := pair()
	defer a.Close()
	defer b.Close()
	dnsConn, _ := b.ListenPacket("udp", ":53")
	go serveDNS(dnsConn, map[string][]netip.Addr{"db.test": {netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("10.0.0.8")}})

	addrs, err := a.LookupHost("db.test")
	fmt.Println(addrs, err)
	_, err = a.LookupContextHost(context.Background(), "nowhere.test")
	var dnsErr *net.DNSError
	fmt.Println(errors.As(err, &dnsErr) && dnsErr.IsNotFound)
	// Output:
	// [10.0.0.7 10.0.0.8] <nil>
	// true
}

// DialPing sends ICMP echo requests, as an unprivileged ping socket; the
// other stack answers them.
func ExampleNet_DialPing() {
	a, b := pair()
	defer a.Close()
	defer b.Close()

	c, err := a.DialPing(netip.Addr{}, b.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	req, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{Seq: 1, Data: []byte("tapstack")}}).Marshal(nil)
	c.Write(req)
	buf := make([]byte, 1500)
	n, _ := c.Read(buf)
	m, _ := icmp.ParseMessage(1, buf[:n]) // 1: ICMP for IPv4
	echo := m.Body.(*icmp.Echo)
	fmt.Println(m.Type, echo.Seq, string(echo.Data), c.RemoteAddr().Network(), c.RemoteAddr())
	// Output:
	// echo reply 1 tapstack ping4 10.0.0.2
}

// ListenPing pings any address: replies come with their sender.
func ExampleNet_ListenPing() {
	a, b := pair()
	defer a.Close()
	defer b.Close()

	c, _ := a.ListenPing(netip.Addr{})
	defer c.Close()
	req, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{Seq: 7, Data: []byte("x")}}).Marshal(nil)
	c.WriteTo(req, &tapstack.PingAddr{Addr: b.Addr()})
	buf := make([]byte, 1500)
	n, from, _ := c.ReadFrom(buf)
	m, _ := icmp.ParseMessage(1, buf[:n])
	fmt.Println(m.Type, "from", from)
	// Output:
	// echo reply from 10.0.0.2
}

// Stats returns every counter of the stack.
func ExampleNet_Stats() {
	a, b := pair()
	defer a.Close()
	defer b.Close()

	c, _ := a.DialPing(netip.Addr{}, b.Addr())
	req, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{Seq: 1}}).Marshal(nil)
	c.Write(req)
	c.Read(make([]byte, 1500))
	c.Close()
	fmt.Println(a.Stats().ICMP.OutEchos, "echo sent,", b.Stats().ICMP.OutEchoReps, "reply sent")
	// Output:
	// 1 echo sent, 1 reply sent
}

// Close stops the stack: what was opened on it is closed too.
func ExampleNet_Close() {
	a, b := pair()
	defer b.Close()

	pc, _ := a.ListenPacket("udp", ":9")
	a.Close()
	_, _, err := pc.ReadFrom(make([]byte, 10))
	fmt.Println(errors.Is(err, net.ErrClosed))
	// Output:
	// true
}

// RegisterFlags gives a program the daemon's link flags; New(cfg) then
// brings the stack up as `tapstack up` would.
func ExampleConfig_RegisterFlags() {
	var cfg tapstack.Config
	fs := flag.NewFlagSet("prog", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	fs.Parse([]string{"--tap", "tap1", "--addr", "10.1.0.2/24", "--host-addr", "10.1.0.1/24"})
	fmt.Println(cfg.Link, cfg.Name, cfg.Addr, cfg.HostAddr, cfg.MTU)
	// Output:
	// TAP tap1 10.1.0.2/24 10.1.0.1/24 1500
}
