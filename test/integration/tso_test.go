package integration

import (
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// Send-side segmentation offload on a real TAP: the stack's TCP builds
// segments of several MSS, which leave as TSO super-frames (virtio-net
// header GSO TCPv4, partial checksum) when the TAP has offloads, and are
// cut by the stack otherwise.

// randomBytes is n bytes of a seeded ChaCha8 stream: unlike patternBytes,
// whose period is 256, a segment put at a wrong offset shows.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{10}).Read(b)
	return b
}

// bulkFromStack sends n random bytes from the stack to a kernel server
// listening on addr inside ns over network ("tcp4", "tcp6") and checks
// their SHA-256 on arrival.
func bulkFromStack(t *testing.T, ns *nstest.NS, st *stack.Stack, network, addr string, n int) {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := hashFirst(func() (net.Conn, error) { return l.Accept() })
	data := randomBytes(n)
	c, err := socket.Dial(st, network, addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("stack write: %v", err)
	}
	c.Close()
	checkHash(t, "the kernel", done, data)
}

// Stack→kernel bulk over a TAP with offloads: the data leaves as TSO
// super-frames that the kernel takes whole for its local socket, and
// 100 MiB arrive intact; nothing was cut in software, the TAP refused
// no write.
func TestOffloadOn_BulkStackToKernel_100MiBIntact(t *testing.T) {
	ns := nstest.New(t)
	st, tap := offloadStack(t, ns, nic.OffloadOn)
	bulkFromStack(t, ns, st, "tcp4", hostAddr+":5002", 100<<20)
	o, ts := st.Stats().Offload, tap.Stats()
	if o.TSOOut == 0 || o.TSOSegsOut <= o.TSOOut || o.SoftGSOOut != 0 || ts.WriteErrors != 0 || ts.GSOFramesWritten != o.TSOOut {
		t.Errorf("offload %+v, TAP %+v; want TSO segments of several MSS, each written as a super-frame, none cut in software", o, ts)
	}
	t.Logf("%d TSO segments of %d bytes on average, for %d segments", o.TSOOut, o.TSOBytesOut/max(o.TSOOut, 1), o.TSOSegsOut)
}

// The same with the kernel forwarding the stack's TSO segments through a
// veth to a server in another namespace. The veth takes no checksum
// offload on send (so no TSO either) and trusts none on receive, so the
// kernel must cut every super-frame in software before it leaves
// (net/core/dev.c, validate_xmit_skb: skb_gso_segment) rewriting each
// piece's headers from ours, and complete each piece's checksum from our
// pseudo-header sum at our csum_start and csum_offset (skb_checksum_help);
// the far namespace then verifies it (veth_xmit marks nothing
// CHECKSUM_UNNECESSARY without NETIF_F_RXCSUM). A wrong GSO size, header
// or pseudo-header sum shows as dropped segments (the transfer stalls),
// checksum errors or corrupted bytes.
func TestOffloadOn_BulkStackForwardedByKernel_100MiBIntact(t *testing.T) {
	ns := nstest.New(t)
	far := nstest.New(t)
	st, tap := offloadStack(t, ns, nic.OffloadOn)
	vA, vB := "tso"+tapName()[3:], "tsp"+tapName()[3:]
	bulkForwarded(t, ns, far, st, tap, vA, vB, []nsCmd{
		{ns, []string{"ip", "link", "add", vA, "type", "veth", "peer", "name", vB, "netns", far.Name}},
		{ns, []string{"ip", "addr", "add", "10.77.0.1/24", "dev", vA}},
		{ns, []string{"ip", "link", "set", "dev", vA, "up"}},
		{ns, []string{"sysctl", "-qw", "net.ipv4.ip_forward=1"}},
		{far, []string{"ip", "addr", "add", "10.77.0.2/24", "dev", vB}},
		{far, []string{"ip", "link", "set", "dev", vB, "up"}},
		{far, []string{"ip", "route", "add", "default", "via", "10.77.0.1"}},
	}, "tcp4", "10.77.0.2:5003")
}

// nsCmd is a command to run in a namespace.
type nsCmd struct {
	ns   *nstest.NS
	args []string
}

// bulkForwarded runs setup, which links ns (the TAP's) to far through
// the veth pair vA–vB and has the kernel forward between them, turns
// checksum offload off on the veth (vA on send, so no TSO either; vB on
// receive), sends 100 MiB from st to addr in far over network and checks
// them: intact, no TCP checksum error counted in far, TSO segments sent
// and none cut in software.
func bulkForwarded(t *testing.T, ns, far *nstest.NS, st *stack.Stack, tap *nic.TAP, vA, vB string, setup []nsCmd, network, addr string) {
	t.Helper()
	for _, c := range setup {
		if out, err := run(t, c.ns, c.args[0], c.args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out)
		}
	}
	ethtoolOff(t, ns, vA, unix.ETHTOOL_STXCSUM)
	ethtoolOff(t, far, vB, unix.ETHTOOL_SRXCSUM)
	csumErrs := func() int { return snmpTCP(t, far, "InCsumErrors") }
	before := csumErrs()
	bulkFromStack(t, far, st, network, addr, 100<<20)
	if d := csumErrs() - before; d != 0 {
		t.Errorf("the far namespace counted %d TCP checksum errors", d)
	}
	o := st.Stats().Offload
	if o.TSOOut == 0 || o.SoftGSOOut != 0 || tap.Stats().WriteErrors != 0 {
		t.Errorf("offload %+v, TAP write errors %d; want TSO segments, none cut in software", o, tap.Stats().WriteErrors)
	}
	t.Logf("%d TSO segments of %d bytes on average; %d segments resent", o.TSOOut, o.TSOBytesOut/max(o.TSOOut, 1), st.Stats().TCP.RetransSegs)
}

// With offloads off the TAP takes plain frames: the stack cuts its
// segments itself, and 100 MiB still arrive intact.
func TestOffloadOff_BulkStackToKernel_100MiBIntact(t *testing.T) {
	ns := nstest.New(t)
	st, tap := offloadStack(t, ns, nic.OffloadOff)
	bulkFromStack(t, ns, st, "tcp4", hostAddr+":5002", 100<<20)
	o := st.Stats().Offload
	if o.TSOOut != 0 || o.SoftGSOOut == 0 || o.SoftGSOSegsOut <= o.SoftGSOOut || tap.Stats().WriteErrors != 0 {
		t.Errorf("offload %+v, TAP write errors %d; want segments cut in software only", o, tap.Stats().WriteErrors)
	}
}

// ethtoolOff turns off one of dev's offloads in ns with a legacy ethtool
// set command (ETHTOOL_STXCSUM, ETHTOOL_SRXCSUM: struct ethtool_value
// with data 0), as `ethtool -K dev tx off` does, without the tool.
func ethtoolOff(t *testing.T, ns *nstest.NS, dev string, cmd uint32) {
	t.Helper()
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		val := struct{ cmd, data uint32 }{cmd: cmd}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte // the rest of the ifreq union
		}
		copy(ifr.name[:], dev)
		ifr.data = unsafe.Pointer(&val)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return errno
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ethtool command %#x on %s: %v", cmd, dev, err)
	}
}

// snmpTCP reads one TCP counter of /proc/net/snmp inside ns.
func snmpTCP(t *testing.T, ns *nstest.NS, name string) int {
	t.Helper()
	out, err := run(t, ns, "cat", "/proc/net/snmp")
	if err != nil {
		t.Fatalf("/proc/net/snmp: %v", err)
	}
	var names []string
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == name && i < len(f) {
				v, _ := strconv.Atoi(f[i])
				return v
			}
		}
	}
	t.Fatalf("/proc/net/snmp has no Tcp %s", name)
	return 0
}
