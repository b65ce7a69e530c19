package integration

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
)

// kernelCounters reads the namespace's /proc/net/netstat (TcpExt, IpExt):
// "TcpExt.TCPDeliveredCE" and so on.
func kernelCounters(t *testing.T, ns *nstest.NS) map[string]uint64 {
	t.Helper()
	out, err := run(t, ns, "cat", "/proc/net/netstat")
	if err != nil {
		t.Fatalf("/proc/net/netstat: %v\n%s", err, out)
	}
	m := map[string]uint64{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) != len(values) || len(names) == 0 {
			t.Fatalf("/proc/net/netstat: unpaired lines %q, %q", lines[i], lines[i+1])
		}
		prefix := strings.TrimSuffix(names[0], ":")
		for j := 1; j < len(names); j++ {
			v, _ := strconv.ParseUint(values[j], 10, 64)
			m[prefix+"."+names[j]] = v
		}
	}
	return m
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ecnNFT loads nftables rules into ns.
func ecnNFT(t *testing.T, ns *nstest.NS, rules string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := ns.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
}

// ecnMarked returns the counter of the marking rule in table ecnmark.
func ecnMarked(t *testing.T, ns *nstest.NS) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := ns.Command(ctx, "nft", "list", "table", "netdev", "ecnmark").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`counter packets (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no counter in\n%s", out)
	}
	return string(m[1])
}

// ecnNamespace makes a namespace whose kernel asks for ECN
// (net.ipv4.tcp_ecn=1; per namespace) and starts the daemon in it with
// args; it returns the namespace and the TAP's name.
func ecnNamespace(t *testing.T, args ...string) (*nstest.NS, string) {
	t.Helper()
	needTool(t, "nft")
	needTool(t, "curl")
	ns := nstest.New(t)
	if err := ns.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/tcp_ecn", []byte("1"), 0o644) }); err != nil {
		t.Fatalf("net.ipv4.tcp_ecn=1 in the namespace: %v", err)
	}
	startDaemon(t, ns, args...)
	tap, _ := confined(t, ns)
	return ns, tap
}

// ingressMark marks CE one in ten ECT(0) packets from the stack at the
// TAP's ingress: before the kernel's IP input counts CE (IpExtInCEPkts).
func ingressMark(tap string) string {
	return fmt.Sprintf(`table netdev ecnmark {
	chain ingress { type filter hook ingress device %q priority 0; ip saddr %s ip ecn ect0 numgen random mod 10 == 0 counter ip ecn set ce; }
}`, tap, stackAddr)
}

// TestECN_KernelPeer_CEMarkedEachWay_EchoedAndReducedDataIntact runs
// RFC 3168 ECN between the stack and Linux (net.ipv4.tcp_ecn=1 in the
// namespace), with nftables on the TAP standing in for a congested
// router: it marks one in ten ECT(0) packets CE, first those the stack
// sends (the kernel echoes, the stack reduces its window and sends CWR),
// then those the kernel sends (the stack echoes, the kernel reduces).
func TestECN_KernelPeer_CEMarkedEachWay_EchoedAndReducedDataIntact(t *testing.T) {
	// --offload off: the stack's segments reach the ingress hook
	// wire-sized, as a router sees them, not as TSO super-frames of up
	// to 44 segments marked as one.
	ns, tap := ecnNamespace(t, "--offload", "off")
	// One frame per segment at the TAP's egress hook (not GSO bursts), as
	// in TestLossAndDuplication_DownloadsAndUploadsIntact.
	if out, err := run(t, ns, "ip", "link", "set", "dev", tap, "gso_max_segs", "1"); err != nil {
		t.Fatalf("gso_max_segs: %v\n%s", err, out)
	}
	// The stack's data.
	ecnNFT(t, ns, ingressMark(tap))
	dir := t.TempDir()
	down := filepath.Join(dir, "down")
	curl(t, ns, "-o", down, fmt.Sprintf("http://%s/bytes/%d", stackAddr, 4<<20))
	if got, _ := os.ReadFile(down); len(got) != 4<<20 || sha256.Sum256(got) != patternHash(4<<20) {
		t.Errorf("4 MiB download: %d bytes that differ from the pattern", len(got))
	}
	st, k := tcpStats(t, ns), kernelCounters(t, ns)
	t.Logf("download: nftables marked %s; stack: %d ECE received, %d reductions, %d CWR sent; kernel: %d CE received",
		ecnMarked(t, ns), st["ecn_ece_received"], st["ecn_cwnd_reductions"], st["ecn_cwr_sent"], k["IpExt.InCEPkts"])
	// At most one reduction per window (RFC 3168 §6.1.2): fewer than the
	// ECEs, each followed by a CWR.
	if st["ecn_ece_received"] == 0 || st["ecn_cwnd_reductions"] == 0 || st["ecn_cwnd_reductions"] >= st["ecn_ece_received"] ||
		st["ecn_cwr_sent"] == 0 || k["IpExt.InCEPkts"] == 0 {
		t.Errorf("CE on the stack's data: want the kernel to receive it and echo ECE, the stack to reduce once per window and send CWR")
	}

	// The kernel's data, marked at the TAP's egress.
	ecnNFT(t, ns, fmt.Sprintf(`delete table netdev ecnmark
table netdev ecnmark {
	chain egress { type filter hook egress device %q priority 0; ip daddr %s ip ecn ect0 numgen random mod 10 == 0 counter ip ecn set ce; }
}`, tap, stackAddr))
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	data := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{9}).Read(data)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	curl(t, ns, "--data-binary", "@"+in, "-H", "Content-Type: application/octet-stream", "-o", out, "http://"+stackAddr+"/echo")
	if echoed, _ := os.ReadFile(out); sha256.Sum256(echoed) != sha256.Sum256(data) {
		t.Errorf("4 MiB POST /echo: %d bytes back that differ from the upload", len(echoed))
	}
	st, k = tcpStats(t, ns), kernelCounters(t, ns)
	t.Logf("upload: nftables marked %s; stack: %d CE received, %d ECE sent; kernel: %d segments delivered with ECE",
		ecnMarked(t, ns), st["ecn_ce_received"], st["ecn_ece_sent"], k["TcpExt.TCPDeliveredCE"])
	// Every marked packet reached the stack's TCP as CE (none is lost on
	// the TAP, and only new data is ECT(0)).
	if n := ecnMarked(t, ns); st["ecn_ce_received"] != mustUint(t, n) || st["ecn_ece_sent"] == 0 || k["TcpExt.TCPDeliveredCE"] == 0 {
		t.Errorf("CE on the kernel's data (%s marked): want the stack to receive each and echo ECE, the kernel to take the echo", n)
	}
}

// TestECN_KernelPeer_DaemonECNOff_NotNegotiated: with --ecn off the
// stack's SYN-ACK does not agree, so its data is Not-ECT (nothing for the
// rule to mark) and nothing is echoed.
func TestECN_KernelPeer_DaemonECNOff_NotNegotiated(t *testing.T) {
	ns, tap := ecnNamespace(t, "--ecn", "off")
	ecnNFT(t, ns, ingressMark(tap))
	down := filepath.Join(t.TempDir(), "down")
	curl(t, ns, "-o", down, fmt.Sprintf("http://%s/bytes/%d", stackAddr, 1<<20))
	if got, _ := os.ReadFile(down); len(got) != 1<<20 || sha256.Sum256(got) != patternHash(1<<20) {
		t.Errorf("1 MiB download: %d bytes that differ from the pattern", len(got))
	}
	st := tcpStats(t, ns)
	if n := ecnMarked(t, ns); n != "0" || st["ecn_ece_received"] != 0 || st["ecn_ce_received"] != 0 {
		t.Errorf("--ecn off: %s packets marked, %d ECE and %d CE received; want none", n, st["ecn_ece_received"], st["ecn_ce_received"])
	}
}
