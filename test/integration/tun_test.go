package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/vishvananda/netlink"
)

// The daemon on a TUN (`tapstack up --tun`): the kernel side is a
// point-to-point IP interface with 10.0.0.1/24, the stack 10.0.0.2; no
// Ethernet and no ARP between them.

func tunName() string { return "tun" + tapName()[3:] }

// startTUNDaemon runs `tapstack up --tun` with args inside ns, as
// startDaemon runs it on a TAP, and returns the TUN's name.
func startTUNDaemon(t *testing.T, ns *nstest.NS, args ...string) (*daemon, string) {
	t.Helper()
	name := tunName()
	args = append([]string{"up", "--tun", name, "--addr", stackAddr + "/24", "--host-addr", hostAddr + "/24"}, args...)
	cmd := ns.Command(context.Background(), bin, args...)
	return launch(t, ns, cmd, cmd.Start), name
}

// stackStats reads the daemon's /stats from inside ns.
func stackStats(t *testing.T, ns *nstest.NS) map[string]map[string]uint64 {
	t.Helper()
	var st map[string]map[string]uint64
	if err := json.Unmarshal([]byte(curl(t, ns, "http://"+stackAddr+"/stats")), &st); err != nil {
		t.Fatalf("/stats: %v", err)
	}
	return st
}

func TestTUN_KernelPingAndTCPTransfers(t *testing.T) {
	ns := nstest.New(t)
	d, name := startTUNDaemon(t, ns)
	if !strings.Contains(d.out.String(), "tun="+name) {
		t.Errorf("the readiness line does not name the TUN:\n%s", d.out)
	}
	err := ns.Do(func() error {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if tt, ok := link.(*netlink.Tuntap); !ok || tt.Mode != netlink.TUNTAP_MODE_TUN {
			t.Errorf("%s is %T, want a TUN", name, link)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pingOK(t, ns, "-c", "5", "-i", "0.05", "-W", "5", stackAddr)
	pingOK(t, ns, "-c", "2", "-i", "0.2", "-W", "5", "-s", "3000", stackAddr) // fragmented both ways

	// TCP from the kernel: 2 MiB through the stack's echo service, and
	// 10 MiB from its HTTP service, each compared by hash.
	c := kernelDial(t, ns, stackAddr+":7")
	data := make([]byte, 2<<20)
	rand.Read(data)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(data); errc <- err }()
	back := make([]byte, len(data))
	if _, err := io.ReadFull(c, back); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writing to the echo service: %v", err)
	}
	if sha256.Sum256(back) != sha256.Sum256(data) {
		t.Fatal("the echoed 2 MiB differ from what was sent")
	}
	file := filepath.Join(t.TempDir(), "bytes")
	curl(t, ns, "-o", file, fmt.Sprintf("http://%s/bytes/%d", stackAddr, 10<<20))
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10<<20 || !bytes.Equal(got, patternBytes(10<<20)) {
		t.Fatalf("downloaded %d bytes that differ from the pattern", len(got))
	}

	// No ARP in either direction, and every packet counted at the link.
	// (The kernel's IPv6 router solicitations and MLD reports land in
	// unknown_ip_version.)
	st := stackStats(t, ns)
	for k, v := range st["arp"] {
		if v != 0 {
			t.Errorf("arp %s = %d on a TUN, want no ARP at all", k, v)
		}
	}
	if st["link"]["frames_in"] < 2000 || st["link"]["frames_out"] < 7000 {
		t.Errorf("link counters %v after 12 MiB of TCP", st["link"])
	}
}

// A TUN has no Ethernet header to leave room for: its MTU goes up to IPv4's
// largest datagram, 65535, where the kernel's largest ping passes whole.
func TestTUN_MTU65535_LargestPingUnfragmented(t *testing.T) {
	ns := nstest.New(t)
	startTUNDaemon(t, ns, "--mtu", "65535")
	pingOK(t, ns, "-c", "2", "-i", "0.2", "-W", "5", "-s", "65507", "-M", "do", stackAddr)
	if st := stackStats(t, ns); st["ipv4"]["frag_creates"] != 0 || st["ipv4"]["reasm_reqds"] != 0 {
		t.Errorf("ipv4 counters %v: the 65535-byte echoes were fragmented", st["ipv4"])
	}
}

// As with a TAP, a TUN root made for a user serves that user's daemon,
// which has no capability at all.
func TestTUN_Unprivileged_DaemonOnATUNItsUserOwns(t *testing.T) {
	ns := nstest.New(t)
	name := tunName()
	for _, args := range [][]string{
		{"tuntap", "add", "mode", "tun", "user", "65534", "name", name},
		{"addr", "add", hostAddr + "/24", "dev", name},
		{"link", "set", name, "up"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	cmd := exec.CommandContext(context.Background(), bin, "up", "--tun", name, "--addr", stackAddr+"/24", "--host-addr", hostAddr+"/24")
	d := launch(t, ns, cmd, func() error { return ns.StartAs(cmd, 65534, 65534, 0o666) })
	pingOK(t, ns, "-c", "3", "-i", "0.2", "-W", "5", stackAddr)
	if got := curl(t, ns, "http://"+stackAddr+"/bytes/1000"); len(got) != 1000 {
		t.Errorf("GET /bytes/1000 returned %d bytes", len(got))
	}
	d.stop(t)
	if out := d.out.String(); !strings.Contains(out, `msg="TUN opened without CAP_NET_ADMIN: its MTU, link state and addresses are left to its owner, who configures the host side" tun=`+name) {
		t.Errorf("the log does not say, in one line, what was left to the TUN's owner:\n%s", out)
	}
}

// The capture of a TUN is LINKTYPE_RAW: tcpdump reads bare IP packets
// from it, and there is no ARP to read.
func TestTUN_Pcap_ReadableByTcpdumpAsRawIP(t *testing.T) {
	needTool(t, "tcpdump")
	ns := nstest.New(t)
	file := filepath.Join(t.TempDir(), "up.pcap")
	d, _ := startTUNDaemon(t, ns, "--pcap", file)
	pingOK(t, ns, "-c", "2", "-i", "0.2", "-W", "5", stackAddr)
	d.stop(t)
	out, err := exec.Command("tcpdump", "-nn", "-r", file).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	for _, want := range []string{"link-type RAW", "IP " + hostAddr + " > " + stackAddr + ": ICMP echo request", "IP " + stackAddr + " > " + hostAddr + ": ICMP echo reply"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("capture lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "ARP") {
		t.Errorf("ARP in the capture of a TUN:\n%s", out)
	}
}

// IPv6 over the TUN: the daemon gives the kernel side --host-addr6
// (fd00::1/64) on the TUN too, and the stack's fd00::2 is usable at once
// (no DAD, no neighbour discovery on an IP link): `ping -6` from the
// kernel, small and fragmented both ways, and curl over TCP.
func TestTUN_KernelPing6AndCurl(t *testing.T) {
	needTool(t, "ping")
	needTool(t, "curl")
	ns := nstest.New(t)
	startTUNDaemon(t, ns)
	pingOK(t, ns, "-6", "-c", "3", "-i", "0.2", "-W", "5", "fd00::2")
	pingOK(t, ns, "-6", "-c", "2", "-i", "0.2", "-W", "5", "-s", "3000", "fd00::2")
	if got := curl(t, ns, "-6", "-g", "http://[fd00::2]/bytes/100000"); len(got) != 100000 {
		t.Fatalf("curl over IPv6 on the TUN: %d bytes, want 100000", len(got))
	}
}
