package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/tapstack/tapstack/dns"
	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// manyRecords is how many A records many.example.test has: 40 answers of
// 16 octets make a reply of about 680, past the 512 a UDP reply without
// EDNS may carry (RFC 1035 §4.2.1), so dnsmasq truncates it and sets TC.
const manyRecords = 40

// stackInNamespace opens a TAP inside ns (kernel side hostAddr/24) and runs
// a tapstack stack on it at stackAddr/24, in this process.
func stackInNamespace(t *testing.T, ns *nstest.NS) *stack.Stack {
	t.Helper()
	var tap *nic.TAP
	err := ns.Do(func() (err error) {
		tap, err = nic.OpenTAP(nic.TAPConfig{Name: tapName(), HostAddr: netip.MustParsePrefix(hostAddr + "/24")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.New(tap, stack.Config{
		Addr:   netip.MustParsePrefix(stackAddr + "/24"),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tap.Close()
		t.Fatal(err)
	}
	st.Start()
	t.Cleanup(func() { st.Close() })
	return st
}

// startDnsmasq runs dnsmasq inside ns on hostAddr:53 with static records
// only: no upstream, no /etc/hosts, no configuration file.
func startDnsmasq(t *testing.T, ns *nstest.NS) *syncBuf {
	t.Helper()
	args := []string{
		"--no-hosts", "--log-queries",
		"--port=53", "--listen-address=" + hostAddr, "--bind-interfaces",
		"--host-record=www.example.test,10.0.0.1",
		"--cname=alias.example.test,www.example.test",
		"--local=/example.test/", // NXDOMAIN for other names in the zone, not REFUSED
	}
	for i := range manyRecords {
		args = append(args, fmt.Sprintf("--host-record=many.example.test,10.0.1.%d", i+1))
	}
	return runDnsmasq(t, ns, args...)
}

// runDnsmasq runs dnsmasq inside ns in the foreground, as root, with no
// configuration file, upstream servers or pid file, logging to its stderr,
// with args added, until the test ends; its log is returned (and shown if
// the test fails). It skips (fails under CI) if dnsmasq is missing.
func runDnsmasq(t *testing.T, ns *nstest.NS, args ...string) *syncBuf {
	t.Helper()
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dnsmasq is not installed (Debian package dnsmasq); CI is set, so this is a failure")
		}
		t.Skip("dnsmasq is not installed (apt-get install dnsmasq)")
	}
	args = append([]string{"--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
		"--pid-file", "--user=root", "--log-facility=-"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := ns.Command(ctx, "dnsmasq", args...)
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dnsmasq:\n%s", out)
		}
	})
	return out
}

func TestDNS_Dnsmasq_UDPAnswerAndTCPFallbackOverTapstack(t *testing.T) {
	ns := nstest.New(t)
	st := stackInNamespace(t, ns)
	log := startDnsmasq(t, ns)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return socket.DialContext(ctx, st, network, addr)
	}
	r, err := dns.New(dns.Config{
		Servers: []netip.AddrPort{netip.MustParseAddrPort(hostAddr + ":53")},
		Search:  []string{"example.test"},
		Timeout: time.Second, Attempts: 1,
	}, dial)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// dnsmasq needs a moment to bind: poll the first lookup, bounded. A
	// refused query (ICMP port unreachable before dnsmasq listens) fails
	// at once, a lost one after the 1s timeout.
	var addrs []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		if addrs, err = r.LookupHost(ctx, "www"); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not a wait for an event
	}
	if err != nil || !slices.Equal(addrs, []string{"10.0.0.1"}) {
		t.Fatalf("LookupHost(www) over UDP = %v, %v; want [10.0.0.1]\ndnsmasq:\n%s", addrs, err, log)
	}
	if got, err := r.LookupHost(ctx, "alias.example.test."); err != nil || !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Fatalf("LookupHost(alias, a CNAME) = %v, %v", got, err)
	}
	_, err = r.LookupHost(ctx, "nowhere.example.test.")
	if de, ok := err.(*net.DNSError); !ok || !de.IsNotFound {
		t.Fatalf("LookupHost(nowhere.example.test.) = %v, want IsNotFound", err)
	}
	before := r.Stats()
	if before.TCPFallbacks != 0 {
		t.Fatalf("%+v: a TCP fallback before any long answer", before)
	}
	got, err := r.LookupHost(ctx, "many.example.test.")
	if err != nil {
		t.Fatalf("LookupHost(many): %v", err)
	}
	var want []string
	for i := range manyRecords {
		want = append(want, fmt.Sprintf("10.0.1.%d", i+1))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("LookupHost(many) = %d addresses %v, want all %d", len(got), got, manyRecords)
	}
	// A over UDP, truncated, again over TCP; then AAAA (no data).
	if s := r.Stats(); s.TCPFallbacks != before.TCPFallbacks+1 || s.Queries != before.Queries+3 {
		t.Fatalf("stats %+v after %+v: want one truncated UDP reply asked again over TCP", s, before)
	}
}
