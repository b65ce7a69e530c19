package integration

// DHCP (RFC 2131) against dnsmasq, the DHCP server on the kernel side of
// the TAP, inside the test's namespace: the stack leases its address, is
// pingable there, and gives the lease back on close. Renewal timing is
// tested under the manual clock in package dhcp, not here.

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
)

// The DHCP server's side: its address, the pool and the lease (2 min is
// dnsmasq's minimum).
var (
	dhcpServerPrefix = netip.MustParsePrefix("10.9.0.1/24")
	dhcpPool         = [2]netip.Addr{netip.MustParseAddr("10.9.0.50"), netip.MustParseAddr("10.9.0.60")}
)

// startDHCPServer runs dnsmasq as the DHCP server on tap inside ns (DNS
// off) until the test ends, and returns its lease file and its log.
func startDHCPServer(t *testing.T, ns *nstest.NS, tap string) (string, *syncBuf) {
	t.Helper()
	leases := filepath.Join(t.TempDir(), "leases")
	log := runDnsmasq(t, ns, "--port=0", "--bind-interfaces", "--interface="+tap,
		"--dhcp-range=10.9.0.50,10.9.0.60,255.255.255.0,2m",
		"--dhcp-option=option:router,10.9.0.1", "--dhcp-option=option:dns-server,10.9.0.1",
		"--dhcp-leasefile="+leases, "--log-dhcp")
	return leases, log
}

// inPool reports whether a is one of the addresses dnsmasq hands out.
func inPool(a netip.Addr) bool { return a.Compare(dhcpPool[0]) >= 0 && a.Compare(dhcpPool[1]) <= 0 }

// waitFile polls path until cond holds for its contents, bounded.
func waitFile(t *testing.T, path, what string, cond func([]byte) bool) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if cond(b) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not so after 15 s; %s holds:\n%s", what, path, b)
		}
	}
}

// The library: a stack with no address leases one with dhcp.Run, is
// pingable at it, and releases it on Close (dnsmasq drops it from its
// lease file).
func TestDHCP_StackLeasesFromDnsmasq(t *testing.T) {
	ns := nstest.New(t)
	needTool(t, "ping")
	name := tapName()
	var tap *nic.TAP
	if err := ns.Do(func() (err error) {
		tap, err = nic.OpenTAP(nic.TAPConfig{Name: name, HostAddr: dhcpServerPrefix})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	leases, dlog := startDHCPServer(t, ns, name)
	st, err := stack.New(tap, stack.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tap.Close()
		t.Fatal(err)
	}
	st.Start()
	defer st.Close()
	r, err := dhcp.Run(st, dhcp.RunConfig{HostName: "tapstack-test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a guard against a hang
	defer cancel()
	l, err := r.Wait(ctx)
	if err != nil {
		t.Fatalf("no lease: %v; counters %+v\ndnsmasq:\n%s", err, r.Counters(), dlog)
	}
	addr := l.Addr.Addr()
	if !inPool(addr) || l.Addr.Bits() != 24 || l.Router != dhcpServerPrefix.Addr() || len(l.DNS) != 1 || l.DNS[0] != dhcpServerPrefix.Addr() ||
		l.Server != dhcpServerPrefix.Addr() || l.Duration != 2*time.Minute {
		t.Fatalf("lease %+v; want an address in %v-%v/24, router and DNS 10.9.0.1, 2 min", l, dhcpPool[0], dhcpPool[1])
	}
	if st.Addr() != addr {
		t.Fatalf("stack address %v, lease %v", st.Addr(), addr)
	}
	if out, err := run(t, ns, "ping", "-c", "1", "-W", "5", addr.String()); err != nil {
		t.Fatalf("ping %v: %v\n%s", addr, err, out)
	}
	waitFile(t, leases, "lease recorded", func(b []byte) bool { return bytes.Contains(b, []byte(" "+addr.String()+" ")) })
	r.Close()
	waitFile(t, leases, "lease released", func(b []byte) bool { return !bytes.Contains(b, []byte(" "+addr.String()+" ")) })
	if st.Addr() != netip.IPv4Unspecified() {
		t.Fatalf("after the release the stack still has %v", st.Addr())
	}
}

var leaseLine = regexp.MustCompile(`msg="DHCP lease" addr=(\S+)`)

// The daemon: `tapstack up --addr dhcp` on a TAP whose kernel side the
// test set up (--host-addr ""), with dnsmasq serving it, logs its lease,
// reports ready, and answers ping at the leased address.
func TestDHCP_DaemonLeasesFromDnsmasq(t *testing.T) {
	ns := nstest.New(t)
	needTool(t, "ping")
	name := tapName()
	for _, args := range [][]string{
		{"ip", "tuntap", "add", "mode", "tap", "name", name},
		{"ip", "addr", "add", dhcpServerPrefix.String(), "dev", name},
		{"ip", "link", "set", name, "up"},
	} {
		if out, err := run(t, ns, args[0], args[1:]...); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	_, dlog := startDHCPServer(t, ns, name)
	cmd := ns.Command(context.Background(), bin, "up", "--tap", name, "--addr", "dhcp", "--host-addr", "")
	d := launch(t, ns, cmd, cmd.Start)
	m := leaseLine.FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("no lease line in the daemon's log:\n%s\ndnsmasq:\n%s", d.out, dlog)
	}
	p, err := netip.ParsePrefix(m[1])
	if err != nil || !inPool(p.Addr()) || p.Bits() != 24 {
		t.Fatalf("leased %q (%v), want an address in %v-%v/24", m[1], err, dhcpPool[0], dhcpPool[1])
	}
	if out, err := run(t, ns, "ping", "-c", "1", "-W", "5", p.Addr().String()); err != nil {
		t.Fatalf("ping %v: %v\n%s\ndaemon:\n%s", p.Addr(), err, out, d.out)
	}
}
