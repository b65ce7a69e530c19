package dns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/tapstack/tapstack/dns"
)

// newResolver returns a resolver on n's clock; cfg.Servers defaults to
// server1.
func newResolver(t *testing.T, n *fakeNet, cfg dns.Config) *dns.Resolver {
	t.Helper()
	if cfg.Servers == nil {
		cfg.Servers = []netip.AddrPort{server1}
	}
	cfg.Now = n.clk.Now
	r, err := dns.New(cfg, n.Dial)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// lookup4 is LookupHost for IPv4 addresses only ("ip4"): most tests
// here are about one query type (LookupHost asks for A and AAAA).
func lookup4(r *dns.Resolver, ctx context.Context, host string) ([]string, error) {
	as, err := r.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out, nil
}

// dnsErr asserts err is a *net.DNSError and returns it.
func dnsErr(t *testing.T, err error) *net.DNSError {
	t.Helper()
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T), want a *net.DNSError", err, err)
	}
	return de
}

func TestLookupHost_AnswerOverUDP(t *testing.T) {
	n := newFakeNet()
	n.add(rrA("www.example.test.", 300, "10.0.0.1"), rrA("www.example.test.", 300, "10.0.0.9"), rrAAAA("www.example.test.", 300, "2001:db8::1"))
	r := newResolver(t, n, dns.Config{})
	got, err := r.LookupHost(context.Background(), "WWW.Example.test")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1", "10.0.0.9", "2001:db8::1"}; !slices.Equal(got, want) {
		t.Fatalf("LookupHost = %v, want %v (A, then AAAA records for \"ip\")", got, want)
	}
	if d := n.Dials(); !slices.Equal(d, []string{"udp 192.0.2.1:53", "udp 192.0.2.1:53"}) {
		t.Fatalf("dials = %v, want a UDP dial to the server for each type", d)
	}
	if s := r.Stats(); s.Queries != 2 || s.Retries != 0 || s.CacheMisses != 2 {
		t.Fatalf("stats = %+v, want 2 queries, 0 retries, 2 cache misses", s)
	}
	got4, err := r.LookupNetIP(context.Background(), "ip4", "www.example.test")
	if err != nil || len(got4) != 2 {
		t.Fatalf("LookupNetIP(ip4) = %v, %v; want the two A records", got4, err)
	}
	got6, err := r.LookupNetIP(context.Background(), "ip6", "www.example.test")
	if err != nil || len(got6) != 1 || got6[0] != netip.MustParseAddr("2001:db8::1") {
		t.Fatalf("LookupNetIP(ip6) = %v, %v; want the AAAA record", got6, err)
	}
}

func TestLookup_CacheKeepsAnswerForLeastTTL(t *testing.T) {
	n := newFakeNet()
	// RFC 2181 §5.2: the answer lives as long as its shortest-lived record,
	// the CNAME included.
	n.add(rrCNAME("www.example.test.", 40, "web.example.test."), rrA("web.example.test.", 60, "10.0.0.1"), rrA("web.example.test.", 30, "10.0.0.2"))
	r := newResolver(t, n, dns.Config{})
	ctx := context.Background()
	lookup := func() {
		t.Helper()
		if got, err := lookup4(r, ctx, "www.example.test"); err != nil || len(got) != 2 {
			t.Fatalf("LookupHost = %v, %v", got, err)
		}
	}
	lookup()
	n.clk.Advance(29 * time.Second)
	lookup()
	if s := r.Stats(); s.Queries != 1 || s.CacheHits != 1 {
		t.Fatalf("after 29s: %+v, want the answer from the cache (1 query, 1 hit)", s)
	}
	n.clk.Advance(time.Second)
	lookup()
	if s := r.Stats(); s.Queries != 2 || s.CacheMisses != 2 {
		t.Fatalf("after 30s: %+v, want the answer expired (2 queries, 2 misses)", s)
	}
}

func TestLookup_NegativeCache_SOAMinimum(t *testing.T) {
	n := newFakeNet()
	n.add(rrA("www.example.test.", 300, "10.0.0.1"))
	soa := rrSOA("example.test.", 300, 60)
	n.soa = &soa
	r := newResolver(t, n, dns.Config{})
	ctx := context.Background()
	for _, name := range []string{"nx.example.test.", "www.example.test."} {
		network := "ip4"
		if name == "www.example.test." {
			network = "ip6" // the name exists, without AAAA: no data
		}
		for i := range 2 {
			_, err := r.LookupNetIP(ctx, network, name)
			if de := dnsErr(t, err); !de.IsNotFound || de.IsTemporary || de.IsTimeout || de.Name != name {
				t.Fatalf("%s lookup %d: %+v, want IsNotFound only, naming %s", name, i, de, name)
			}
		}
	}
	if s := r.Stats(); s.Queries != 2 || s.CacheHits != 2 {
		t.Fatalf("%+v: want each negative answer cached (2 queries, 2 hits)", s)
	}
	// RFC 2308 §5: cached for min(SOA TTL, SOA MINIMUM) = 60s.
	n.clk.Advance(59 * time.Second)
	r.LookupNetIP(ctx, "ip4", "nx.example.test.")
	if s := r.Stats(); s.Queries != 2 {
		t.Fatalf("after 59s: %d queries, want the NXDOMAIN still cached", s.Queries)
	}
	n.clk.Advance(time.Second)
	r.LookupNetIP(ctx, "ip4", "nx.example.test.")
	if s := r.Stats(); s.Queries != 3 {
		t.Fatalf("after 60s: %d queries, want the NXDOMAIN expired", s.Queries)
	}
	// Without an SOA a negative answer is not cached (RFC 2308 §5).
	n.soa = nil
	r.LookupNetIP(ctx, "ip4", "other.example.test.")
	r.LookupNetIP(ctx, "ip4", "other.example.test.")
	if s := r.Stats(); s.Queries != 5 {
		t.Fatalf("%d queries, want an NXDOMAIN without SOA asked again", s.Queries)
	}
}

func TestLookup_NegativeCache_Bounded(t *testing.T) {
	n := newFakeNet()
	soa := rrSOA("example.test.", 1<<30, 1<<30) // decades
	n.soa = &soa
	r := newResolver(t, n, dns.Config{})
	ctx := context.Background()
	lookup4(r, ctx, "nx.example.test.")
	n.clk.Advance(3*time.Hour - time.Second)
	lookup4(r, ctx, "nx.example.test.")
	if q := r.Stats().Queries; q != 1 {
		t.Fatalf("%d queries, want the NXDOMAIN cached", q)
	}
	n.clk.Advance(time.Second)
	lookup4(r, ctx, "nx.example.test.")
	if q := r.Stats().Queries; q != 2 {
		t.Fatalf("%d queries after 3h, want the negative TTL capped at 3h", q)
	}
}

func TestLookup_CacheBoundEvictsLeastRecentlyUsed(t *testing.T) {
	n := newFakeNet()
	for _, h := range []string{"a", "b", "c"} {
		n.add(rrA(h+".example.test.", 300, "10.0.0.1"))
	}
	r := newResolver(t, n, dns.Config{CacheSize: 2})
	ctx := context.Background()
	for _, h := range []string{"a", "b", "a", "c", "a", "b"} {
		if _, err := lookup4(r, ctx, h+".example.test"); err != nil {
			t.Fatal(err)
		}
	}
	// a, b: misses; a: hit; c: miss, evicts b (a was used more recently);
	// a: hit; b: miss.
	if s := r.Stats(); s.CacheHits != 2 || s.CacheMisses != 4 {
		t.Fatalf("%+v: want 2 hits and 4 misses with room for 2 names", s)
	}
	r = newResolver(t, n, dns.Config{CacheSize: -1})
	lookup4(r, ctx, "a.example.test")
	lookup4(r, ctx, "a.example.test")
	if s := r.Stats(); s.Queries != 2 || s.CacheHits != 0 {
		t.Fatalf("%+v: want no cache with CacheSize -1", s)
	}
}

func TestLookup_NoReply_AttemptsRoundsOverServersThenTimeout(t *testing.T) {
	n := newFakeNet()
	n.serve = func(string, netip.AddrPort, []byte) [][]byte { return nil }
	r := newResolver(t, n, dns.Config{Servers: []netip.AddrPort{server1, server2}})
	start := n.clk.Now()
	_, err := lookup4(r, context.Background(), "www.example.test.")
	de := dnsErr(t, err)
	if !de.IsTimeout || !de.IsTemporary || de.IsNotFound || !de.Timeout() {
		t.Fatalf("%+v: want IsTimeout and IsTemporary", de)
	}
	want := []string{"udp 192.0.2.1:53", "udp 192.0.2.2:53", "udp 192.0.2.1:53", "udp 192.0.2.2:53"}
	if d := n.Dials(); !slices.Equal(d, want) {
		t.Fatalf("dials = %v, want resolv.conf's order: attempts:2 rounds over both servers, a new socket each", d)
	}
	// Each query waited the default timeout:5 on the simulated clock.
	if waited := n.clk.Now().Sub(start); waited != 4*dns.DefaultTimeout {
		t.Fatalf("the lookup took %v of simulated time, want 4 x %v", waited, dns.DefaultTimeout)
	}
	if s := r.Stats(); s.Queries != 4 || s.Retries != 3 || s.Timeouts != 4 {
		t.Fatalf("%+v: want 4 queries, 3 retries, 4 timeouts", s)
	}
}

func TestLookup_FirstServerSilent_SecondAnswers(t *testing.T) {
	n := newFakeNet()
	n.add(rrA("www.example.test.", 300, "10.0.0.1"))
	n.serve = func(network string, srv netip.AddrPort, q []byte) [][]byte {
		if srv == server1 {
			return nil
		}
		return n.zoneReply(network, q)
	}
	r := newResolver(t, n, dns.Config{Servers: []netip.AddrPort{server1, server2}, Timeout: time.Second, Attempts: 3})
	start := n.clk.Now()
	if _, err := lookup4(r, context.Background(), "www.example.test."); err != nil {
		t.Fatal(err)
	}
	if waited := n.clk.Now().Sub(start); waited != time.Second {
		t.Fatalf("waited %v, want the configured 1s timeout once", waited)
	}
	if s := r.Stats(); s.Queries != 2 || s.Retries != 1 || s.Timeouts != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestLookup_Rotate_StartsAtNextServer(t *testing.T) {
	n := newFakeNet()
	n.add(rrA("www.example.test.", 0, "10.0.0.1")) // TTL 0: never cached
	r := newResolver(t, n, dns.Config{Servers: []netip.AddrPort{server1, server2}, Rotate: true})
	for range 3 {
		if _, err := lookup4(r, context.Background(), "www.example.test."); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"udp 192.0.2.1:53", "udp 192.0.2.2:53", "udp 192.0.2.1:53"}
	if d := n.Dials(); !slices.Equal(d, want) {
		t.Fatalf("dials = %v, want %v", d, want)
	}
}

func TestLookup_TruncatedReply_FallsBackToTCP(t *testing.T) {
	n := newFakeNet()
	var want []string
	for i := range 40 {
		ip := fmt.Sprintf("10.0.1.%d", i+1)
		n.add(rrA("many.example.test.", 300, ip))
		want = append(want, ip)
	}
	r := newResolver(t, n, dns.Config{})
	got, err := lookup4(r, context.Background(), "many.example.test.")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %d addresses %v, want all 40", len(got), got)
	}
	if d := n.Dials(); !slices.Equal(d, []string{"udp 192.0.2.1:53", "tcp 192.0.2.1:53"}) {
		t.Fatalf("dials = %v, want UDP then TCP to the same server", d)
	}
	if s := r.Stats(); s.TCPFallbacks != 1 || s.Queries != 2 {
		t.Fatalf("%+v: want 1 TCP fallback, 2 queries", s)
	}
}

// reID rewrites a packed message's ID.
func reID(b []byte, id uint16) []byte {
	b = append([]byte(nil), b...)
	b[0], b[1] = byte(id>>8), byte(id)
	return b
}

func TestLookup_SpoofedReplies_DroppedAndCounted(t *testing.T) {
	n := newFakeNet()
	n.add(rrA("www.example.test.", 300, "10.0.0.1"))
	n.add(rrA("evil.example.test.", 300, "6.6.6.6"))
	honest := true
	n.serve = func(network string, srv netip.AddrPort, q []byte) [][]byte {
		id := uint16(q[0])<<8 | uint16(q[1])
		good := n.zoneReply(network, q)[0]
		// The same answer for another question, with our ID.
		var m dnsmessage.Message
		m.Unpack(q)
		m.Questions[0].Name = dnsmessage.MustNewName("evil.example.test.")
		otherQ, _ := m.Pack()
		wrongQuestion := reID(n.zoneReply(network, otherQ)[0], id)
		// Our name, another type: an AAAA question answered with an A.
		m.Questions[0].Name, m.Questions[0].Type = dnsmessage.MustNewName("www.example.test."), dnsmessage.TypeAAAA
		m.Response = true
		m.Answers = []dnsmessage.Resource{rrA("www.example.test.", 300, "6.6.6.6")}
		wrongType, _ := m.Pack()
		wrongType = reID(wrongType, id)
		notResponse := reID(q, id)
		wrongID := reID(good, id+1)
		wrongID[len(wrongID)-1] = 6 // and another address
		out := [][]byte{wrongID, wrongQuestion, wrongType, notResponse, []byte{0x01}}
		if honest {
			out = append(out, good)
		}
		return out
	}
	r := newResolver(t, n, dns.Config{CacheSize: -1})
	got, err := lookup4(r, context.Background(), "www.example.test.")
	if err != nil || !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Fatalf("LookupHost = %v, %v; want only the genuine answer", got, err)
	}
	if s := r.Stats(); s.Mismatched != 4 || s.Malformed != 1 {
		t.Fatalf("%+v: want 4 mismatched replies and 1 malformed dropped", s)
	}
	// RFC 5452: with only forged replies, none is taken; the query times out.
	honest = false
	_, err = lookup4(r, context.Background(), "www.example.test.")
	if de := dnsErr(t, err); !de.IsTimeout {
		t.Fatalf("with only spoofed replies: %+v, want a timeout", de)
	}
}

func TestLookup_RandomIDs(t *testing.T) {
	n := newFakeNet()
	n.add(rrA("www.example.test.", 0, "10.0.0.1"))
	r := newResolver(t, n, dns.Config{})
	for range 32 {
		lookup4(r, context.Background(), "www.example.test.")
	}
	seen := map[uint16]bool{}
	for _, id := range n.ids {
		seen[id] = true
	}
	// 32 draws from 65536 values collide at most a little; sequential or
	// constant IDs would show as few distinct values or a run.
	if len(seen) < 30 {
		t.Fatalf("%d distinct IDs in 32 queries: IDs are not random (RFC 5452 §4)", len(seen))
	}
	run := 0
	for i := 1; i < len(n.ids); i++ {
		if n.ids[i] == n.ids[i-1]+1 {
			run++
		}
	}
	if run > 2 {
		t.Fatalf("IDs %v look sequential", n.ids)
	}
}

func TestLookup_SearchDomainsAndNdots(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ndots int
		want  []string
	}{
		{"db", 0, []string{"db.corp.test.", "db.lab.test.", "db."}},
		{"db.x", 0, []string{"db.x.", "db.x.corp.test.", "db.x.lab.test."}},
		{"db.x", 2, []string{"db.x.corp.test.", "db.x.lab.test.", "db.x."}},
		{"db", -1, []string{"db.", "db.corp.test.", "db.lab.test."}},
		{"db.", 0, []string{"db."}},
	} {
		n := newFakeNet()
		r := newResolver(t, n, dns.Config{Search: []string{"corp.test", "lab.test."}, Ndots: tc.ndots})
		_, err := lookup4(r, context.Background(), tc.name)
		if de := dnsErr(t, err); !de.IsNotFound || de.Name != tc.name {
			t.Fatalf("%q: %+v", tc.name, de)
		}
		if got := n.Asked(); !slices.Equal(got, tc.want) {
			t.Errorf("%q ndots %d: asked %v, want %v", tc.name, tc.ndots, got, tc.want)
		}
	}
	// The first name that answers ends the search.
	n := newFakeNet()
	n.add(rrA("db.lab.test.", 60, "10.0.0.5"))
	r := newResolver(t, n, dns.Config{Search: []string{"corp.test", "lab.test"}})
	if got, err := lookup4(r, context.Background(), "db"); err != nil || !slices.Equal(got, []string{"10.0.0.5"}) {
		t.Fatalf("LookupHost(db) = %v, %v", got, err)
	}
	if got := n.Asked(); len(got) != 2 {
		t.Fatalf("asked %v, want to stop at db.lab.test.", got)
	}
}

func TestLookup_CNAMEChains(t *testing.T) {
	n := newFakeNet()
	n.add(rrCNAME("www.example.test.", 300, "a.example.test."), rrCNAME("a.example.test.", 300, "b.example.test."), rrA("b.example.test.", 300, "10.0.0.3"))
	r := newResolver(t, n, dns.Config{})
	if got, err := lookup4(r, context.Background(), "www.example.test."); err != nil || !slices.Equal(got, []string{"10.0.0.3"}) {
		t.Fatalf("chain in one reply: %v, %v", got, err)
	}
	// A server that returns only the CNAME: the resolver asks for its target.
	n = newFakeNet()
	n.add(rrA("b.example.test.", 300, "10.0.0.3"))
	n.serve = func(network string, srv netip.AddrPort, q []byte) [][]byte {
		var m dnsmessage.Message
		m.Unpack(q)
		if m.Questions[0].Name.String() != "www.example.test." {
			return n.zoneReply(network, q)
		}
		m.Response = true
		m.Answers = []dnsmessage.Resource{rrCNAME("www.example.test.", 300, "b.example.test.")}
		b, _ := m.Pack()
		return [][]byte{b}
	}
	r = newResolver(t, n, dns.Config{})
	if got, err := lookup4(r, context.Background(), "www.example.test."); err != nil || !slices.Equal(got, []string{"10.0.0.3"}) {
		t.Fatalf("chain across replies: %v, %v", got, err)
	}
	if got := n.Asked(); !slices.Equal(got, []string{"www.example.test.", "b.example.test."}) {
		t.Fatalf("asked %v", got)
	}
	// A loop ends after a bounded number of hops and queries.
	n = newFakeNet()
	n.serve = func(network string, srv netip.AddrPort, q []byte) [][]byte {
		var m dnsmessage.Message
		m.Unpack(q)
		m.Response = true
		name := m.Questions[0].Name.String()
		target := "loop1.example.test."
		if name == target {
			target = "loop2.example.test."
		}
		m.Answers = []dnsmessage.Resource{rrCNAME(name, 300, target)}
		b, _ := m.Pack()
		return [][]byte{b}
	}
	r = newResolver(t, n, dns.Config{})
	_, err := lookup4(r, context.Background(), "loop1.example.test.")
	if de := dnsErr(t, err); de.IsNotFound || !strings.Contains(de.Err, "CNAME") {
		t.Fatalf("CNAME loop: %+v", de)
	}
	if q := r.Stats().Queries; q > 10 {
		t.Fatalf("a CNAME loop cost %d queries, want the chain bounded", q)
	}
}

func TestLookup_HostsEntriesBeforeServers(t *testing.T) {
	n := newFakeNet()
	n.add(rrA("router.lan.", 300, "10.9.9.9"))
	hosts := dns.ParseHosts([]byte("10.0.0.1 router.lan router # the gateway\n2001:db8::1 router.lan\n"))
	r := newResolver(t, n, dns.Config{Hosts: hosts})
	ctx := context.Background()
	for _, name := range []string{"router.lan", "ROUTER.lan.", "router"} {
		if got, err := lookup4(r, ctx, name); err != nil || !slices.Equal(got, []string{"10.0.0.1"}) {
			t.Fatalf("LookupHost(%q) = %v, %v; want the hosts entry", name, got, err)
		}
	}
	if got, err := r.LookupNetIP(ctx, "ip6", "router.lan"); err != nil || len(got) != 1 || !got[0].Is6() {
		t.Fatalf("LookupNetIP(ip6) = %v, %v", got, err)
	}
	if q := r.Stats().Queries; q != 0 {
		t.Fatalf("%d queries sent for names in the hosts table", q)
	}
}

func TestLookup_LiteralsInvalidNamesAndNetworks(t *testing.T) {
	n := newFakeNet()
	r := newResolver(t, n, dns.Config{})
	ctx := context.Background()
	if got, err := lookup4(r, ctx, "10.1.2.3"); err != nil || !slices.Equal(got, []string{"10.1.2.3"}) {
		t.Fatalf("LookupHost(literal) = %v, %v", got, err)
	}
	if _, err := r.LookupNetIP(ctx, "ip6", "10.1.2.3"); !dnsErr(t, err).IsNotFound {
		t.Fatalf("an IPv4 literal for ip6: %v", err)
	}
	for _, name := range []string{"", ".", "a..b", "-a.test", "a-.test", "sp ace.test", "a\x00b", strings.Repeat("a", 64) + ".test", strings.Repeat("abcdefgh.", 32)} {
		_, err := lookup4(r, ctx, name)
		if de := dnsErr(t, err); !de.IsNotFound || de.Err != "no such host" {
			t.Errorf("LookupHost(%q): %+v, want no such host", name, de)
		}
	}
	if q := r.Stats().Queries; q != 0 {
		t.Fatalf("%d queries sent for invalid names", q)
	}
	var ue net.UnknownNetworkError
	if _, err := r.LookupNetIP(ctx, "tcp", "a.test"); !errors.As(err, &ue) {
		t.Fatalf("LookupNetIP(tcp) = %v, want net.UnknownNetworkError", err)
	}
}

func TestLookup_ServerErrors(t *testing.T) {
	for _, tc := range []struct {
		rcode     dnsmessage.RCode
		temporary bool
	}{
		{dnsmessage.RCodeServerFailure, true},
		{dnsmessage.RCodeRefused, false},
		{dnsmessage.RCodeFormatError, false},
	} {
		n := newFakeNet()
		n.serve = func(network string, srv netip.AddrPort, q []byte) [][]byte {
			var m dnsmessage.Message
			m.Unpack(q)
			m.Response, m.RCode = true, tc.rcode
			b, _ := m.Pack()
			return [][]byte{b}
		}
		r := newResolver(t, n, dns.Config{Servers: []netip.AddrPort{server1, server2}})
		_, err := lookup4(r, context.Background(), "www.example.test.")
		de := dnsErr(t, err)
		if de.IsNotFound || de.IsTimeout || de.IsTemporary != tc.temporary || de.Err != "server misbehaving" {
			t.Errorf("%v: %+v, want server misbehaving, IsTemporary %v", tc.rcode, de, tc.temporary)
		}
		// Each server is asked, in each attempt.
		if q := r.Stats().Queries; q != 4 {
			t.Errorf("%v: %d queries, want 4", tc.rcode, q)
		}
	}
}

// refusingDial returns connections whose reads fail with ECONNREFUSED, as
// a tapstack UDP socket after an ICMP port unreachable.
func refusingDial(n *fakeNet, refuse netip.AddrPort) dns.DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := n.Dial(ctx, network, address)
		if address == refuse.String() {
			return refusedConn{c}, err
		}
		return c, err
	}
}

type refusedConn struct{ net.Conn }

func (c refusedConn) Read([]byte) (int, error) {
	return 0, &net.OpError{Op: "read", Net: "udp", Err: syscall.ECONNREFUSED}
}

func TestLookup_ConnectionRefused_NextServerNoWait(t *testing.T) {
	n := newFakeNet()
	n.add(rrA("www.example.test.", 300, "10.0.0.1"))
	r, err := dns.New(dns.Config{Servers: []netip.AddrPort{server1, server2}, Now: n.clk.Now}, refusingDial(n, server1))
	if err != nil {
		t.Fatal(err)
	}
	start := n.clk.Now()
	if got, err := lookup4(r, context.Background(), "www.example.test."); err != nil || len(got) != 1 {
		t.Fatalf("LookupHost = %v, %v", got, err)
	}
	if n.clk.Now() != start {
		t.Fatal("a refused query waited for its timeout")
	}
	r, _ = dns.New(dns.Config{Servers: []netip.AddrPort{server1}, Now: n.clk.Now}, refusingDial(n, server1))
	_, err = lookup4(r, context.Background(), "www.example.test.")
	if de := dnsErr(t, err); !de.IsTemporary || de.IsTimeout || !strings.Contains(de.Err, "connection refused") {
		t.Fatalf("only server refuses: %+v, want a temporary error saying connection refused", de)
	}
}

func TestLookup_ContextCanceled_EndsBlockedQuery(t *testing.T) {
	n := newFakeNet()
	n.hold = true
	n.serve = func(string, netip.AddrPort, []byte) [][]byte { return nil }
	r := newResolver(t, n, dns.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := lookup4(r, ctx, "www.example.test.")
		done <- err
	}()
	<-n.blocked
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled lookup: %v, want an error matching context.Canceled", err)
	}
	dnsErr(t, err)
	if q := r.Stats().Queries; q != 1 {
		t.Fatalf("%d queries, want the lookup to stop at cancellation", q)
	}
}

func TestNew_RejectsBadConfig(t *testing.T) {
	n := newFakeNet()
	for _, tc := range []struct {
		cfg  dns.Config
		dial dns.DialFunc
	}{
		{dns.Config{Servers: []netip.AddrPort{server1}}, nil},
		{dns.Config{}, n.Dial},
		{dns.Config{Servers: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:0")}}, n.Dial},
		{dns.Config{Servers: []netip.AddrPort{server1}, Search: []string{"bad..domain"}}, n.Dial},
		{dns.Config{Servers: []netip.AddrPort{server1}, Timeout: -1}, n.Dial},
	} {
		if _, err := dns.New(tc.cfg, tc.dial); err == nil {
			t.Errorf("New(%+v) accepted", tc.cfg)
		}
	}
}

// FuzzLookup_Reply serves arbitrary bytes, with the query's ID patched in
// so they reach the parser past the ID check, as the reply to every query,
// over UDP and TCP: the lookup ends with addresses or a *net.DNSError,
// never a panic or a hang.
func FuzzLookup_Reply(f *testing.F) {
	n := newFakeNet()
	n.add(rrCNAME("www.example.test.", 60, "a.example.test."), rrA("a.example.test.", 60, "10.0.0.1"))
	var m dnsmessage.Message
	m.Header.Response = true
	m.Questions = []dnsmessage.Question{{Name: dnsmessage.MustNewName("www.example.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}
	q, _ := m.Pack()
	f.Add(n.zoneReply("udp", q)[0])
	m.Truncated = true
	tc, _ := m.Pack()
	f.Add(tc)
	f.Fuzz(func(t *testing.T, b []byte) {
		n := newFakeNet()
		n.serve = func(network string, srv netip.AddrPort, q []byte) [][]byte {
			if len(b) < 2 {
				return [][]byte{b}
			}
			return [][]byte{reID(b, uint16(q[0])<<8|uint16(q[1]))}
		}
		r := newResolver(t, n, dns.Config{Attempts: 1})
		as, err := r.LookupNetIP(context.Background(), "ip", "www.example.test.")
		if err != nil {
			dnsErr(t, err)
			return
		}
		for _, a := range as {
			if !a.Is4() {
				t.Fatalf("an A lookup returned %v", a)
			}
		}
	})
}

func TestLookup_TCPReplyNotOurs_FailsTheQuery(t *testing.T) {
	n := newFakeNet()
	n.serve = func(network string, srv netip.AddrPort, q []byte) [][]byte {
		var m dnsmessage.Message
		m.Unpack(q)
		m.Response = true
		if network == "udp" {
			m.Truncated = true
		} else {
			m.ID++ // over TCP the stream holds nothing else: fail, do not wait
			m.Answers = []dnsmessage.Resource{rrA("www.example.test.", 300, "6.6.6.6")}
		}
		b, _ := m.Pack()
		return [][]byte{b}
	}
	r := newResolver(t, n, dns.Config{Attempts: 1})
	start := n.clk.Now()
	_, err := lookup4(r, context.Background(), "www.example.test.")
	if de := dnsErr(t, err); de.Err != "invalid DNS response" || de.IsNotFound {
		t.Fatalf("%+v, want invalid DNS response", de)
	}
	if s := r.Stats(); s.TCPFallbacks != 1 || s.Mismatched != 1 || n.clk.Now() != start {
		t.Fatalf("%+v: want the TCP reply refused as mismatched, at once", s)
	}
}
