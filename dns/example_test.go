package dns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/tapstack/tapstack/dns"
)

// A resolver asking one server, here an in-memory one; over tapstack the
// DialFunc is a stack's socket.DialContext:
//
//	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
//		return socket.DialContext(ctx, st, network, addr)
//	}
func ExampleResolver_LookupHost() {
	server := newFakeNet()
	server.add(rrA("www.example.test.", 300, "10.0.0.1"), rrA("www.example.test.", 300, "10.0.0.2"), rrAAAA("www.example.test.", 300, "2001:db8::1"))

	r, err := dns.New(dns.Config{
		Servers: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53")},
		Search:  []string{"example.test"},
		Hosts:   dns.ParseHosts([]byte("10.0.0.254 gateway\n")),
	}, server.Dial)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	addrs, err := r.LookupHost(ctx, "www") // www.example.test. by the search list, A then AAAA
	fmt.Println(addrs, err)
	addrs, err = r.LookupHost(ctx, "gateway") // from the hosts table
	fmt.Println(addrs, err)
	_, err = r.LookupHost(ctx, "nowhere.example.test.")
	var dnsErr *net.DNSError
	fmt.Println(errors.As(err, &dnsErr) && dnsErr.IsNotFound)
	fmt.Println(r.Stats().Queries, "queries")
	// Output:
	// [10.0.0.1 10.0.0.2 2001:db8::1] <nil>
	// [10.0.0.254] <nil>
	// true
	// 4 queries
}
