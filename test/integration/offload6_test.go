package integration

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	// The kernel may still hold the address tentative for a moment (until
	// the link is up): poll until a socket binds to it.
	eventually(t, "the kernel side binds "+hostAddr6, func() bool {
		return ns.Do(func() error {
			l, err := net.Listen("tcp6", "["+hostAddr6+"]:0")
			if err == nil {
				l.Close()
			}
			return err
		}) == nil
	})
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

// Stack→kernel bulk over IPv6 on a TAP with offloads: the data leaves as
// TCPv6 TSO super-frames that the kernel takes whole for its local socket,
// and 100 MiB arrive intact; nothing was cut in software, the TAP refused
// no write.
func TestOffloadOn_BulkStackToKernel6_100MiBIntact(t *testing.T) {
	ns := nstest.New(t)
	st, tap := offload6Stack(t, ns, nic.OffloadOn)
	bulkFromStack(t, ns, st, "tcp6", "["+hostAddr6+"]:5002", 100<<20)
	o, ts := st.Stats().Offload, tap.Stats()
	if o.TSOOut == 0 || o.TSOSegsOut <= o.TSOOut || o.SoftGSOOut != 0 || ts.WriteErrors != 0 || ts.GSOFramesWritten != o.TSOOut {
		t.Errorf("offload %+v, TAP %+v; want TCPv6 TSO segments of several MSS, each written as a super-frame, none cut in software", o, ts)
	}
	t.Logf("%d TSO segments of %d bytes on average, for %d segments", o.TSOOut, o.TSOBytesOut/max(o.TSOOut, 1), o.TSOSegsOut)
}

// The same with the kernel forwarding the stack's TCPv6 TSO segments
// through a veth to a server in another namespace, as the IPv4 test does
// (TestOffloadOn_BulkStackForwardedByKernel_100MiBIntact): the veth takes
// no checksum offload on send (so no TSO6 either) and trusts none on
// receive, so the kernel must cut every super-frame in software
// (skb_gso_segment: ipv6_gso_segment, tcp6_gso_segment) rewriting each
// piece's Payload Length and sequence number from ours, and complete each
// piece's checksum from our IPv6 pseudo-header sum at our csum_start and
// csum_offset; the far namespace verifies it. The far address is on the
// stack's own prefix, answered for by the kernel (proxy NDP) and routed
// to the veth, since the stack learns IPv6 routers only from
// advertisements.
func TestOffloadOn_BulkStackForwardedByKernel6_100MiBIntact(t *testing.T) {
	ns := nstest.New(t)
	far := nstest.New(t)
	st, tap := offload6Stack(t, ns, nic.OffloadOn)
	const farAddr = "fd00:6::77"
	vA, vB := "tso"+tapName()[3:], "tsp"+tapName()[3:]
	bulkForwarded(t, ns, far, st, tap, vA, vB, []nsCmd{
		{ns, []string{"ip", "link", "add", vA, "type", "veth", "peer", "name", vB, "netns", far.Name}},
		{ns, []string{"ip", "-6", "addr", "add", "fd00:77::1/64", "dev", vA, "nodad"}},
		{ns, []string{"ip", "link", "set", "dev", vA, "up"}},
		{ns, []string{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"}},
		{ns, []string{"sysctl", "-qw", "net.ipv6.conf." + tap.Info().Name + ".proxy_ndp=1"}},
		{ns, []string{"ip", "-6", "neigh", "add", "proxy", farAddr, "dev", tap.Info().Name}},
		{ns, []string{"ip", "-6", "route", "add", farAddr + "/128", "via", "fd00:77::2", "dev", vA}},
		{far, []string{"ip", "-6", "addr", "add", "fd00:77::2/64", "dev", vB, "nodad"}},
		{far, []string{"ip", "-6", "addr", "add", farAddr + "/128", "dev", vB, "nodad"}},
		{far, []string{"ip", "link", "set", "dev", vB, "up"}},
		{far, []string{"ip", "-6", "route", "add", "fd00:6::/64", "via", "fd00:77::1", "dev", vB}},
	}, "tcp6", "["+farAddr+"]:5003")
}

// With offloads off the TAP takes plain frames: the stack cuts its IPv6
// segments itself, and 100 MiB still arrive intact.
func TestOffloadOff_BulkStackToKernel6_100MiBIntact(t *testing.T) {
	ns := nstest.New(t)
	st, tap := offload6Stack(t, ns, nic.OffloadOff)
	bulkFromStack(t, ns, st, "tcp6", "["+hostAddr6+"]:5002", 100<<20)
	o := st.Stats().Offload
	if o.TSOOut != 0 || o.SoftGSOOut == 0 || o.SoftGSOSegsOut <= o.SoftGSOOut || tap.Stats().WriteErrors != 0 {
		t.Errorf("offload %+v, TAP write errors %d; want IPv6 segments cut in software only", o, tap.Stats().WriteErrors)
	}
}

// The daemon's --pcap-segmented on a TAP with offloads: a bulk send from
// the kernel (GRO super-frames in) and a download (TSO segments out) leave
// a capture of wire-sized frames only, none above 14 + the MTU, whose TCP
// checksums tcpdump finds correct, and which carries all the data.
// Without the flag the same capture holds super-frames (README).
func TestDaemon_PcapSegmented_WireSizedFramesOnly(t *testing.T) {
	needTool(t, "tcpdump")
	ns := nstest.New(t)
	file := filepath.Join(t.TempDir(), "up.pcap")
	d := startDaemon(t, ns, "--pcap", file, "--pcap-segmented")
	const n = 1 << 20
	toDiscard(t, ns, n)
	if k := len(curl(t, ns, fmt.Sprintf("http://%s/bytes/%d", stackAddr, n))); k != n {
		t.Fatalf("downloaded %d bytes, want %d", k, n)
	}
	var st stack.Stats
	if err := json.Unmarshal([]byte(curl(t, ns, "http://"+stackAddr+"/stats")), &st); err != nil {
		t.Fatal(err)
	}
	d.stop(t)
	if st.Offload.GROIn == 0 || st.Offload.TSOOut == 0 {
		t.Fatalf("offload %+v: no super-frames crossed the TAP, nothing to segment", st.Offload)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	in, out := 0, 0 // TCP payload bytes to the discard port, from the web server
	for b = b[24:]; len(b) >= 16; {
		k := int(binary.LittleEndian.Uint32(b[8:]))
		f := b[16 : 16+k]
		b = b[16+k:]
		if len(f) > 14+1500 {
			t.Fatalf("a frame of %d bytes in a segmented capture", len(f))
		}
		if len(f) < 54 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6 {
			continue // not IPv4 TCP
		}
		ihl := int(f[14]&0x0f) * 4
		tcpH := f[14+ihl:]
		payload := int(binary.BigEndian.Uint16(f[16:])) - ihl - int(tcpH[12]>>4)*4
		switch {
		case binary.BigEndian.Uint16(tcpH[2:]) == 9:
			in += payload
		case binary.BigEndian.Uint16(tcpH[0:]) == 80:
			out += payload
		}
	}
	if in < n || out < n {
		t.Errorf("the capture carries %d bytes to the discard port and %d from the web server; want at least %d each", in, out, n)
	}
	dump, err := exec.Command("tcpdump", "-nn", "-vv", "-r", file).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v", err)
	}
	if bad := strings.Count(string(dump), "incorrect"); bad != 0 || !strings.Contains(string(dump), "(correct)") {
		t.Errorf("tcpdump -vv found %d incorrect checksums (and correct ones: %v)", bad, strings.Contains(string(dump), "(correct)"))
	}
}
