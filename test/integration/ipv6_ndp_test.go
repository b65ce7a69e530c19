package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/internal/testbin"
)

// IPv6 addressing end to end (issue 12): the daemon's default --addr6
// (after the stack's DAD), a SLAAC address from radvd's prefix, and DAD
// finding the kernel already holding --addr6.

// eventually polls cond every 100 ms for up to 20 s, then fails with what.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(20 * time.Second); !cond(); <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
	}
}

// daemonTAP returns the TAP and MAC in d's readiness line.
func daemonTAP(t *testing.T, d *daemon) (string, ethernet.MAC) {
	t.Helper()
	m := tapAndMAC.FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("no tap= mac= in the readiness line:\n%s", d.out)
	}
	mac, err := ethernet.ParseMAC(m[2])
	if err != nil {
		t.Fatal(err)
	}
	return m[1], mac
}

// eui64 is prefix's /64 with mac's modified EUI-64 interface identifier
// (RFC 4291 appendix A), as the stack forms SLAAC addresses.
func eui64(prefix netip.Prefix, mac ethernet.MAC) netip.Addr {
	a := prefix.Addr().As16()
	a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15] = mac[0]^0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]
	return netip.AddrFrom16(a)
}

// status6 is the IPv6 part of the daemon's /status.json.
type status6 struct {
	Addrs   []struct{ Prefix, State, Origin string } `json:"ipv6_addresses"`
	Routers []struct{ Addr string }                  `json:"ipv6_routers"`
}

// addrState returns the state and origin /status.json gives prefix.
func addrState(t *testing.T, ns *nstest.NS, prefix string) (state, origin string, doc status6) {
	t.Helper()
	body, err := run(t, ns, "curl", "-sS", "http://"+stackAddr+"/status.json")
	if err != nil {
		t.Fatalf("/status.json: %v\n%s", err, body)
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("/status.json: %v\n%s", err, body)
	}
	for _, a := range doc.Addrs {
		if a.Prefix == prefix {
			return a.State, a.Origin, doc
		}
	}
	return "", "", doc
}

// pingable reports whether one echo to addr is answered within a second.
func pingable(t *testing.T, ns *nstest.NS, addr string) bool {
	out, err := run(t, ns, "ping", "-6", "-c", "1", "-W", "1", addr)
	return err == nil && strings.Contains(out, " 1 received")
}

// The daemon's defaults: the kernel side has fd00::1/64, the stack
// fd00::2/64 once its DAD is over; `ping -6 fd00::2` from the host
// namespace is answered.
func TestKernelPing6_DefaultAddr6(t *testing.T) {
	needTool(t, "ping")
	ns := nstest.New(t)
	d := startDaemon(t, ns)
	tap, _ := daemonTAP(t, d)
	out, err := run(t, ns, "ip", "-6", "addr", "show", "dev", tap)
	if err != nil || !strings.Contains(out, "fd00::1/64") {
		t.Fatalf("--host-addr6's default is not on %s: %v\n%s", tap, err, out)
	}
	eventually(t, "an answer from fd00::2", func() bool { return pingable(t, ns, "fd00::2") })
	pingOK(t, ns, "-6", "-c", "3", "-i", "0.2", "-W", "5", "fd00::2")
}

// radvd on the kernel side advertises 2001:db8:5::/64 (on-link,
// autonomous): the stack forms its SLAAC address from it (RFC 4862
// §5.5.3), runs DAD, and answers ping on it.
func TestRadvd_SLAACAddressAnswersPing(t *testing.T) {
	needTool(t, "ping")
	needTool(t, "radvd")
	ns := nstest.New(t)
	d := startDaemon(t, ns)
	tap, mac := daemonTAP(t, d)
	// The kernel side is the router: forwarding on (radvd insists), an
	// address in the prefix, so it has a route to the stack's.
	for _, c := range [][]string{
		{"sysctl", "-w", "net.ipv6.conf.all.forwarding=1"},
		{"ip", "-6", "addr", "add", "2001:db8:5::1/64", "dev", tap, "nodad"},
	} {
		if out, err := run(t, ns, c[0], c[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "radvd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`interface %s {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 4;
	prefix 2001:db8:5::/64 { AdvOnLink on; AdvAutonomous on; };
};
`, tap)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(context.Background(), "radvd", "--nodaemon", "--config", conf, "--pidfile", filepath.Join(dir, "radvd.pid"), "--logmethod", "stderr")
	p := testbin.Start(t, "radvd", cmd, cmd.Start, "started", 20*time.Second, func(p *testbin.Process) { p.Cmd.Process.Kill(); <-p.Done })
	slaac := eui64(netip.MustParsePrefix("2001:db8:5::/64"), mac).String()
	eventually(t, "an answer from the SLAAC address "+slaac, func() bool { return pingable(t, ns, slaac) })
	pingOK(t, ns, "-6", "-c", "3", "-i", "0.2", "-W", "5", slaac)
	state, origin, doc := addrState(t, ns, slaac+"/64")
	if state != "preferred" || origin != "slaac" || len(doc.Routers) != 1 || !strings.HasPrefix(doc.Routers[0].Addr, "fe80::") {
		t.Fatalf("/status.json: %s from %s, routers %v; want preferred from slaac, radvd's link-local\nradvd:\n%s", state, origin, doc.Routers, p.Out)
	}
}

// DAD (RFC 4862 §5.4) finds the kernel side already holding --addr6: the
// kernel answers the stack's solicitation, and the stack does not use the
// address and says so.
func TestDAD_KernelHoldsAddr6(t *testing.T) {
	needTool(t, "curl")
	ns := nstest.New(t)
	tap := tapName()
	for _, c := range [][]string{
		{"ip", "tuntap", "add", "mode", "tap", "name", tap},
		{"ip", "link", "set", tap, "up"},
		{"ip", "-6", "addr", "add", "fd00::5/64", "dev", tap, "nodad"},
	} {
		if out, err := run(t, ns, c[0], c[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	cmd := ns.Command(context.Background(), bin, "up", "--tap", tap, "--addr", stackAddr+"/24", "--host-addr", hostAddr+"/24",
		"--addr6", "fd00::5/64", "--host-addr6", "")
	d := launch(t, ns, cmd, cmd.Start)
	eventually(t, "the daemon reporting the duplicate", func() bool {
		return strings.Contains(d.out.String(), "duplicate address detected") && strings.Contains(d.out.String(), "addr=fd00::5/64")
	})
	if state, _, _ := addrState(t, ns, "fd00::5/64"); state != "duplicate" {
		t.Fatalf("/status.json: fd00::5/64 is %q, want duplicate", state)
	}
	body, err := run(t, ns, "curl", "-sS", "http://"+stackAddr+"/stats")
	var stats map[string]map[string]uint64
	if err != nil || json.Unmarshal([]byte(body), &stats) != nil || stats["nd6"]["dad_duplicates"] != 1 {
		t.Fatalf("/stats: %v\n%s", err, body)
	}
}
