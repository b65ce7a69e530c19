package integration

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
)

// Offloads over IPv6 on a real TAP: the kernel hands over TCPv6
// super-frames (TUN_F_TSO6), and takes the stack's whole.

// The IPv6 addresses of offload6Stack: the stack's and the kernel side's.
const (
	stackAddr6 = "fd00:6::2"
	hostAddr6  = "fd00:6::1"
)

// offload6Stack is offloadStack with IPv6 on both sides of the TAP: the
// stack has stackAddr6/64 and the kernel hostAddr6/64, both usable at once
// (duplicate address detection off on both: the namespace is the test's
// own, and nothing else holds the addresses).
func offload6Stack(t *testing.T, ns *nstest.NS, m nic.OffloadMode) (*stack.Stack, *nic.TAP) {
	t.Helper()
	for _, conf := range []string{"all", "default"} {
		if out, err := run(t, ns, "sysctl", "-qw", "net.ipv6.conf."+conf+".accept_dad=0"); err != nil {
			t.Fatalf("sysctl accept_dad: %v\n%s", err, out)
		}
	}
	st, tap := offloadStack(t, ns, m, func(c *stack.Config) {
		c.Addr6, c.DupAddrDetectTransmits = netip.MustParsePrefix(stackAddr6+"/64"), -1
	})
	if err := ns.Do(func() error { return nic.SetHostAddr6(tap.Info().Name, netip.MustParsePrefix(hostAddr6+"/64")) }); err != nil {
		t.Fatal(err)
	}
	return st, tap
}

// Kernel→stack bulk over IPv6 on a TAP with offloads: the kernel hands
// over TCPv6 super-frames with partial checksums (the TAP read GSO
// frames, all of them IPv6 here but for the handshake's neighbour
// discovery), the stack takes them whole, and 100 MiB arrive intact.
func TestOffloadOn_BulkKernelToStack6_100MiBIntact(t *testing.T) {
	ns := nstest.New(t)
	st, tap := offload6Stack(t, ns, nic.OffloadOn)
	if o := tap.Info().Offloads; o&nic.RxGSO6 == 0 {
		t.Fatalf("Offloads %b: the kernel did not take TUN_F_TSO6", o)
	}
	bulkToStack(t, ns, st, "tcp6", "["+stackAddr6+"]:5001", 100<<20)
	ts, ss := tap.Stats(), st.Stats()
	if ts.GSOFramesRead == 0 || ts.BadVnetHdr != 0 || ss.Offload.GROIn == 0 || ss.Offload.GROSegsIn <= ss.Offload.GROIn ||
		ss.Offload.CsumSkipped == 0 || ss.TCP.InCsumErrors != 0 {
		t.Errorf("TAP %+v, stack offload %+v, TCP checksum errors %d; want TCPv6 super-frames and trusted checksums", ts, ss.Offload, ss.TCP.InCsumErrors)
	}
	t.Logf("%d super-frames of %d bytes on average; %d segments in", ss.Offload.GROIn, ss.Offload.GROBytesIn/max(ss.Offload.GROIn, 1), ss.TCP.InSegs)
}
