package nic_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/nic"
	"github.com/vishvananda/netlink"
)

// The tests below run OpenTAP as nobody, with no capabilities: the test
// binary runs itself, and TestMain sends it to openTAPHelper.
const (
	helperTAPEnv = "NIC_TEST_HELPER_TAP" // the TAP to open
	nobody       = 65534                 // uid and gid of nobody/nogroup
)

func TestMain(m *testing.M) {
	if name := os.Getenv(helperTAPEnv); name != "" {
		openTAPHelper(name)
		os.Exit(0)
	}
	if name := os.Getenv(helperTUNEnv); name != "" {
		openTUNHelper(name)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Addresses the helper uses: it asks OpenTAP for helperAskMTU and
// helperAskHostAddr, which it may not apply, and sends an ARP request from
// helperStackIP for the kernel side's hostIP.
var (
	helperAskHostAddr = netip.MustParsePrefix("10.9.0.99/24")
	helperStackIP     = [4]byte{10, 9, 0, 2}
	hostIP            = [4]byte{10, 9, 0, 1}
)

const helperAskMTU = 9000

// openTAPHelper opens the TAP and prints one line: "error KIND: MESSAGE",
// KIND naming the sentinel error it wraps, or "opened mtu=N configured=B
// up=B", followed when the link is up by "arp-reply" or "no-arp-reply" for
// an ARP request to hostIP.
func openTAPHelper(name string) {
	mac := [6]byte{0x02, 0, 0, 0, 0, 0x02}
	tap, err := nic.OpenTAP(nic.TAPConfig{Name: name, MTU: helperAskMTU, MAC: mac, HostAddr: helperAskHostAddr})
	if err != nil {
		fmt.Printf("error %s: %v\n", errorKind(err), err)
		return
	}
	defer tap.Close()
	fmt.Printf("opened mtu=%d configured=%v up=%v\n", tap.Info().MTU, tap.HostConfigured(), tap.LinkUp())
	if !tap.LinkUp() {
		return
	}
	frames := reader(tap)
	if _, err := tap.Write([]nic.Frame{{Data: arpFrame(mac, helperStackIP, hostIP)}}); err != nil {
		fmt.Println("write:", err)
		return
	}
	_, err = awaitFrame(frames, func(f []byte) bool {
		return len(f) >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 && string(f[28:32]) == string(hostIP[:])
	})
	if err != nil {
		fmt.Println("no-arp-reply:", err)
		return
	}
	fmt.Println("arp-reply")
}

// errorKind names the sentinel error err wraps, for the helpers' output.
func errorKind(err error) string {
	for k, sentinel := range map[string]error{"notun": nic.ErrNoTUN, "denied": nic.ErrTUNDenied,
		"notpermitted": nic.ErrNotPermitted, "notowner": nic.ErrNotOwner} {
		if errors.Is(err, sentinel) {
			return k
		}
	}
	return "other"
}

// runAsNobody runs openTAPHelper for the TAP name inside ns as nobody with
// no capabilities, /dev/net/tun having mode tunMode (0: absent), and
// returns its output.
func runAsNobody(t *testing.T, ns *nstest.NS, name string, tunMode os.FileMode) string {
	t.Helper()
	return runHelperAsNobody(t, ns, helperTAPEnv, name, tunMode)
}

// runHelperAsNobody is runAsNobody for the helper that helperEnv selects.
func runHelperAsNobody(t *testing.T, ns *nstest.NS, helperEnv, name string, tunMode os.FileMode) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, nstest.CopyExecutable(t, exe), "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := ns.StartAs(cmd, nobody, nobody, tunMode); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	return strings.TrimSpace(out.String())
}

// ip runs ip(8) with args inside ns.
func ip(t *testing.T, ns *nstest.NS, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func TestOpenTAP_Unprivileged_OwnedTAP_OpensAndLeavesItsConfigAlone(t *testing.T) {
	ns := nstest.New(t)
	// As QEMU's users do: root makes the TAP for the user and configures
	// its host side.
	makeForNobody(t, ns, "tap", "tap-own")

	out := runAsNobody(t, ns, "tap-own", 0o666)
	if want := "opened mtu=1400 configured=false up=true\narp-reply"; out != want {
		t.Fatalf("as nobody: %q, want %q (the link's MTU, unconfigured, and the kernel answering ARP through it)", out, want)
	}
	// Nothing asked for was applied: MTU and addresses are root's.
	checkLeftAlone(t, ns, "tap-own")
}

// makeForNobody has root make a TAP or TUN (mode) for nobody and configure
// its host side: MTU 1400, 10.9.0.1/24, up.
func makeForNobody(t *testing.T, ns *nstest.NS, mode, name string) {
	t.Helper()
	ip(t, ns, "tuntap", "add", "mode", mode, "user", fmt.Sprint(nobody), "name", name)
	ip(t, ns, "link", "set", name, "mtu", "1400")
	ip(t, ns, "addr", "add", "10.9.0.1/24", "dev", name)
	ip(t, ns, "link", "set", name, "up")
}

// checkLeftAlone checks the host side of name is as makeForNobody left it.
func checkLeftAlone(t *testing.T, ns *nstest.NS, name string) {
	t.Helper()
	link, addrs := linkAndAddrs(t, ns, name)
	if link.Attrs().MTU != 1400 || len(addrs) != 1 || addrs[0].IPNet.String() != "10.9.0.1/24" {
		t.Errorf("after the unprivileged open: MTU %d, addresses %v; want 1400 and [10.9.0.1/24]", link.Attrs().MTU, addrs)
	}
}

// linkAndAddrs looks up the interface name inside ns and its IPv4
// addresses.
func linkAndAddrs(t *testing.T, ns *nstest.NS, name string) (netlink.Link, []netlink.Addr) {
	t.Helper()
	var link netlink.Link
	var addrs []netlink.Addr
	err := ns.Do(func() (err error) {
		if link, err = netlink.LinkByName(name); err != nil {
			return err
		}
		addrs, err = netlink.AddrList(link, netlink.FAMILY_V4)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return link, addrs
}

func TestOpenTAP_Unprivileged_GroupTAP_Opens(t *testing.T) {
	ns := nstest.New(t)
	ip(t, ns, "tuntap", "add", "mode", "tap", "group", fmt.Sprint(nobody), "name", "tap-grp")
	out := runAsNobody(t, ns, "tap-grp", 0o666)
	if want := "opened mtu=1500 configured=false up=false"; out != want {
		t.Fatalf("as nobody, member of the TAP's group: %q, want %q", out, want)
	}
}

// What an unprivileged user sees: one line naming the cause. The same for a
// TUN (tun: true): the same code opens it, and its errors name the TUN and
// `ip tuntap add mode tun`.
func TestOpenTAP_Unprivileged_ErrorsNameTheCause(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tunMode os.FileMode
		add     []string // ip tuntap add arguments before "name", nil: no TAP
		kind    string
		want    []string
		tun     bool // open a TUN named tun-x instead
	}{
		{"device node root's alone", 0o600, nil, "denied",
			[]string{"may not open /dev/net/tun", "mode 0600, owner uid 0 gid 0", "process is uid 65534 gid 65534", "chmod 0666 /dev/net/tun"}, false},
		{"no device node", 0, nil, "notun", []string{"/dev/net/tun is missing"}, false},
		{"no TAP and no CAP_NET_ADMIN", 0o666, nil, "notpermitted",
			[]string{`creating TAP "tap-x" needs root or CAP_NET_ADMIN`, "ip tuntap add mode tap user nobody name tap-x"}, false},
		{"TAP of another user", 0o666, []string{"user", "0"}, "notowner",
			[]string{`TAP "tap-x" belongs to another user (owner uid 0)`, "(uid 65534) lacks CAP_NET_ADMIN",
				"ip tuntap del mode tap name tap-x; ip tuntap add mode tap user nobody name tap-x"}, false},
		{"TAP of another group", 0o666, []string{"group", "0"}, "notowner",
			[]string{`belongs to another user (group gid 0)`}, false},
		{"TAP of another user and group", 0o666, []string{"user", "0", "group", "0"}, "notowner",
			[]string{`belongs to another user (owner uid 0, group gid 0)`}, false},
		{"no TUN and no CAP_NET_ADMIN", 0o666, nil, "notpermitted",
			[]string{`creating TUN "tun-x" needs root or CAP_NET_ADMIN`, "ip tuntap add mode tun user nobody name tun-x"}, true},
		{"TUN of another user", 0o666, []string{"user", "0"}, "notowner",
			[]string{`TUN "tun-x" belongs to another user (owner uid 0)`,
				"ip tuntap del mode tun name tun-x; ip tuntap add mode tun user nobody name tun-x"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := nstest.New(t)
			mode, name, helper := "tap", "tap-x", helperTAPEnv
			if tc.tun {
				mode, name, helper = "tun", "tun-x", helperTUNEnv
			}
			if tc.add != nil {
				ip(t, ns, append(append([]string{"tuntap", "add", "mode", mode}, tc.add...), "name", name)...)
			}
			out := runHelperAsNobody(t, ns, helper, name, tc.tunMode)
			if !strings.HasPrefix(out, "error "+tc.kind+": ") || strings.Contains(out, "\n") {
				t.Fatalf("as nobody: %q, want one line wrapping the %s error", out, tc.kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("error %q lacks %q", out, w)
				}
			}
		})
	}
}

// A TAP with neither owner nor group: Linux lets anyone who can open
// /dev/net/tun attach to it (tun_not_capable); a security module may refuse.
// Either way the answer must be clear.
func TestOpenTAP_Unprivileged_TAPWithoutOwner(t *testing.T) {
	ns := nstest.New(t)
	ip(t, ns, "tuntap", "add", "mode", "tap", "name", "tap-none")
	out := runAsNobody(t, ns, "tap-none", 0o666)
	if out == "opened mtu=1500 configured=false up=false" {
		return
	}
	want := `error notpermitted: nic: TAP "tap-none" has no owner and the kernel refused to attach to it`
	if !strings.HasPrefix(out, want) || !strings.Contains(out, "ip tuntap add mode tap user nobody name tap-none") {
		t.Fatalf("as nobody: %q, want it opened unconfigured, or an error starting %q that says how to give it an owner", out, want)
	}
}

// OpenTAP on a TUN, and OpenTUN on a TAP, say which kind the device is.
func TestOpen_DeviceOfTheOtherKind_ClearError(t *testing.T) {
	ns := nstest.New(t)
	ip(t, ns, "tuntap", "add", "mode", "tun", "name", "tun-x")
	ip(t, ns, "tuntap", "add", "mode", "tap", "name", "tap-x")
	for _, tc := range []struct {
		open func() (nic.Device, error)
		want string
	}{
		{func() (nic.Device, error) { return nic.OpenTAP(nic.TAPConfig{Name: "tun-x"}) }, `TAP "tun-x" is a TUN device, not a TAP`},
		{func() (nic.Device, error) { return nic.OpenTUN(nic.TUNConfig{Name: "tap-x"}) }, `TUN "tap-x" is a TAP device, not a TUN`},
	} {
		err := ns.Do(func() error {
			dev, err := tc.open()
			if err == nil {
				dev.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("open = %v, want an error saying %q", err, tc.want)
		}
	}
}

func TestOpenTAP_AsRoot_ConfiguresAndSaysSo(t *testing.T) {
	ns := nstest.New(t)
	tap := openTAP(t, ns, nic.TAPConfig{Name: "tap-cfg", HostAddr: netip.MustParsePrefix("10.9.0.1/24")})
	if !tap.HostConfigured() || !tap.LinkUp() {
		t.Fatalf("HostConfigured %v LinkUp %v as root, want both", tap.HostConfigured(), tap.LinkUp())
	}
}
