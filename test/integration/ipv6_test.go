package integration

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/nstest"
)

var tapAndMAC = regexp.MustCompile(`tap=(\S+) mac=(\S+)`)

// TestKernelPing6_LinkLocal: the kernel pings the stack's link-local
// address (fe80:: + the MAC's modified EUI-64, RFC 4291 appendix A) over
// the TAP, which takes neighbour discovery (RFC 4861 §7.2.4) and echo
// (RFC 4443 §4.2) both working.
func TestKernelPing6_LinkLocal(t *testing.T) {
	ns, target := linkLocal6(t)
	pingOK(t, ns, "-6", "-c", "3", "-i", "0.2", "-W", "5", target)
}

// TestKernelPing6_FragmentedBothWays: echo requests larger than the TAP's
// MTU (1500) reach the stack as fragments the kernel made, are reassembled
// (RFC 8200 §4.5), and the replies, as large, go back as fragments the
// kernel reassembles: 3000 octets (3 fragments each way) and the largest
// echo that fits one IPv6 packet, 65527 octets of data (45 fragments).
func TestKernelPing6_FragmentedBothWays(t *testing.T) {
	ns, target := linkLocal6(t)
	pingOK(t, ns, "-6", "-c", "3", "-i", "0.2", "-W", "5", "-s", "3000", target)
	pingOK(t, ns, "-6", "-c", "2", "-i", "0.2", "-W", "5", "-s", "65527", target)
}

// linkLocal6 starts the daemon in a new namespace, turns IPv6 on there,
// waits for the kernel's own link-local address on the TAP and returns the
// stack's link-local address with the TAP as its zone.
func linkLocal6(t *testing.T) (*nstest.NS, string) {
	t.Helper()
	needTool(t, "ping")
	ns := nstest.New(t)
	d := startDaemon(t, ns)
	tap, ll := linkLocalUp(t, ns, d)
	return ns, ll.String() + "%" + tap
}

// linkLocalUp turns IPv6 on for the daemon's TAP in ns, waits until the
// kernel's link-local address there is out of DAD, and returns the TAP's
// name and the stack's link-local address (fe80:: + the MAC's modified
// EUI-64, RFC 4291 appendix A).
func linkLocalUp(t *testing.T, ns *nstest.NS, d *daemon) (string, netip.Addr) {
	t.Helper()
	m := tapAndMAC.FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("no tap= mac= in the readiness line:\n%s", d.out)
	}
	tap := m[1]
	mac, err := ethernet.ParseMAC(m[2])
	if err != nil {
		t.Fatal(err)
	}
	ll := netip.AddrFrom16([16]byte{0xfe, 0x80, 8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
	// The namespace may start with IPv6 off; turned on, the kernel gives
	// the TAP its own link-local address, usable once its DAD is over.
	for _, k := range []string{"all", tap} {
		if out, err := run(t, ns, "sysctl", "-w", "net.ipv6.conf."+k+".disable_ipv6=0"); err != nil {
			t.Fatalf("sysctl: %v\n%s", err, out)
		}
	}
	ready := func() bool {
		out, err := run(t, ns, "ip", "-6", "addr", "show", "dev", tap, "scope", "link")
		return err == nil && strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative")
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(15 * time.Second); !ready(); <-tick.C {
		if time.Now().After(deadline) {
			out, _ := run(t, ns, "ip", "-6", "addr", "show", "dev", tap)
			t.Fatalf("the kernel's link-local address on %s never left DAD:\n%s", tap, out)
		}
	}
	return tap, ll
}
