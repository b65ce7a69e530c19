package integration

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
)

// The way QEMU runs unprivileged: root makes a TAP for a user and
// configures its host side; the user's `tapstack up`, with no capability,
// attaches to it, leaves its configuration alone, and serves.
func TestDaemon_Unprivileged_OnATAPItsUserOwns(t *testing.T) {
	ns := nstest.New(t)
	tap := tapName()
	for _, args := range [][]string{
		{"tuntap", "add", "mode", "tap", "user", "65534", "name", tap},
		{"addr", "add", hostAddr + "/24", "dev", tap},
		{"link", "set", tap, "up"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	cmd := exec.CommandContext(context.Background(), bin, "up", "--tap", tap, "--addr", stackAddr+"/24", "--host-addr", hostAddr+"/24")
	// nobody, no capabilities, and a /dev/net/tun it may open (0666, as
	// most distributions ship it; this machine's may be root's alone).
	d := launch(t, ns, cmd, func() error { return ns.StartAs(cmd, 65534, 65534, 0o666) })
	pingOK(t, ns, "-c", "3", "-i", "0.2", "-W", "5", stackAddr)
	d.stop(t)
	out := d.out.String()
	t.Log(out)
	if !strings.Contains(out, `msg="TAP opened without CAP_NET_ADMIN: its MTU, link state and addresses are left to its owner, who configures the host side" tap=`+tap) ||
		!strings.Contains(out, `owner-configures="ip addr replace `+hostAddr+`/24 dev `+tap+`"`) {
		t.Errorf("the log does not say, in one line, what was left to the TAP's owner:\n%s", out)
	}
}

// What a user without the rights sees: one line naming the real cause.
func TestDaemon_Unprivileged_ErrorsNameTheCause(t *testing.T) {
	const capNetAdmin = 12 // CAP_NET_ADMIN, linux/capability.h
	for _, tc := range []struct {
		name     string
		tunMode  os.FileMode
		ambient  []uintptr
		tapOwner string // "": no TAP
		want     []string
		not      string
	}{
		{"CAP_NET_ADMIN but /dev/net/tun root's alone", 0o600, []uintptr{capNetAdmin}, "",
			[]string{"may not open /dev/net/tun", "mode 0600", "chmod 0666 /dev/net/tun"}, "needs root or CAP_NET_ADMIN"},
		{"TAP of another user", 0o666, nil, "0",
			[]string{"belongs to another user (owner uid 0)", "ip tuntap add mode tap user nobody name "}, ""},
		{"no TAP and no capability", 0o666, nil, "",
			[]string{"needs root or CAP_NET_ADMIN", "ip tuntap add mode tap user nobody name "}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := nstest.New(t)
			tap := tapName()
			if tc.tapOwner != "" {
				if out, err := exec.Command("ip", "-n", ns.Name, "tuntap", "add", "mode", "tap", "user", tc.tapOwner, "name", tap).CombinedOutput(); err != nil {
					t.Fatalf("ip tuntap add: %v: %s", err, out)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "up", "--tap", tap)
			cmd.SysProcAttr = &syscall.SysProcAttr{AmbientCaps: tc.ambient}
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := ns.StartAs(cmd, 65534, 65534, tc.tunMode); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			line := strings.TrimSuffix(out.String(), "\n")
			if err == nil || strings.Contains(line, "\n") || !strings.HasPrefix(line, "tapstack up: nic: ") {
				t.Fatalf("want a failure and one line; got %v:\n%s", err, out.String())
			}
			t.Log(line)
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("%q lacks %q", line, w)
				}
			}
			if tc.not != "" && strings.Contains(line, tc.not) {
				t.Errorf("%q says %q, which is not the cause", line, tc.not)
			}
		})
	}
}
