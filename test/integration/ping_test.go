package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
)

var received = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// pingOK runs the kernel's ping inside ns and checks every request was answered.
func pingOK(t *testing.T, ns *nstest.NS, args ...string) string {
	t.Helper()
	needTool(t, "ping")
	out, err := run(t, ns, "ping", args...)
	m := received.FindStringSubmatch(out)
	if err != nil || m == nil || m[1] != m[2] {
		t.Fatalf("ping %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestKernelPing_TwentyNoLoss(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns)
	out := pingOK(t, ns, "-c", "20", "-i", "0.05", "-W", "5", stackAddr)
	if !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("loss reported:\n%s", out)
	}
}

func TestKernelPing_FragmentedBothWays(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns)
	// 3000 bytes: the request arrives in 3 fragments, the reply leaves in 3.
	pingOK(t, ns, "-c", "3", "-i", "0.2", "-W", "5", "-s", "3000", stackAddr)
	// The largest echo there is: 65507 data bytes, 45 fragments each way.
	pingOK(t, ns, "-c", "2", "-i", "0.2", "-W", "5", "-s", "65507", stackAddr)
}

func TestKernelPing_FullSizeWithDontFragment(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns)
	pingOK(t, ns, "-c", "3", "-i", "0.2", "-W", "5", "-s", "1472", "-M", "do", stackAddr)
}

func TestKernelPing_JumboMTU(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns, "--mtu", "9000")
	pingOK(t, ns, "-c", "3", "-i", "0.2", "-W", "5", "-s", "8972", "-M", "do", stackAddr)
}

func TestStackPing_ReachesKernel(t *testing.T) {
	ns := nstest.New(t)
	out, err := run(t, ns, bin, "ping", "--tap", tapName(), "-c", "3", "-i", "200ms", hostAddr)
	if err != nil || !strings.Contains(out, "3 packets transmitted, 3 received") {
		t.Fatalf("tapstack ping %s: %v\n%s", hostAddr, err, out)
	}
	// Fragmented both ways too.
	out, err = run(t, ns, bin, "ping", "--tap", tapName(), "-c", "2", "-i", "200ms", "-s", "4000", hostAddr)
	if err != nil || !strings.Contains(out, "2 packets transmitted, 2 received") {
		t.Fatalf("tapstack ping -s 4000: %v\n%s", err, out)
	}
}

func TestStackPing_UnresolvableHost_DestinationHostUnreachable(t *testing.T) {
	ns := nstest.New(t)
	out, err := run(t, ns, bin, "ping", "--tap", tapName(), "-c", "1", "-W", "5s", "10.0.0.99")
	if err == nil || !strings.Contains(out, "Destination Host Unreachable") {
		t.Fatalf("tapstack ping to a silent address: %v\n%s", err, out)
	}
}

func TestPcap_ReadableByTcpdump(t *testing.T) {
	needTool(t, "tcpdump")
	ns := nstest.New(t)
	file := filepath.Join(t.TempDir(), "up.pcap")
	d := startDaemon(t, ns, "--pcap", file)
	pingOK(t, ns, "-c", "2", "-i", "0.2", "-W", "5", stackAddr)
	d.stop(t)
	out, err := exec.Command("tcpdump", "-nn", "-r", file).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	for _, want := range []string{"ICMP echo request", "ICMP echo reply", "ARP, Reply " + stackAddr + " is-at"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("capture lacks %q:\n%s", want, out)
		}
	}
}

func TestDaemon_WithoutRoot_OneClearLine(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop to another user")
	}
	cmd := exec.Command(bin, "up", "--tap", tapName())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err == nil || len(lines) != 1 || !strings.Contains(lines[0], "root") {
		t.Fatalf("want a failure with one line naming what is missing; got %v:\n%s", err, out)
	}
}

// `tapstack ping` to the kernel side's --host-addr6 (fd00::1): ICMPv6
// echo from the stack's ping socket, small and fragmented both ways, the
// first request answered (the command waits out its own DAD; the kernel
// side is set without DAD).
func TestStackPing6_ReachesKernel(t *testing.T) {
	ns := nstest.New(t)
	out, err := run(t, ns, bin, "ping", "--tap", tapName(), "-c", "3", "-i", "200ms", "fd00::1")
	if err != nil || !strings.Contains(out, "3 packets transmitted, 3 received") || !strings.Contains(out, "from fd00::1: icmp_seq=1 ") {
		t.Fatalf("tapstack ping fd00::1: %v\n%s", err, out)
	}
	out, err = run(t, ns, bin, "ping", "--tap", tapName(), "-c", "2", "-i", "200ms", "-s", "4000", "fd00::1")
	if err != nil || !strings.Contains(out, "2 packets transmitted, 2 received") {
		t.Fatalf("tapstack ping -s 4000 fd00::1: %v\n%s", err, out)
	}
}
