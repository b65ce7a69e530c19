package nstest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestNew_CleanupDeletesNamespace(t *testing.T) {
	var ns *NS
	t.Run("user", func(t *testing.T) {
		ns = New(t)
		if !strings.HasPrefix(ns.Name, "tst-") || !ns.Exists() {
			t.Fatalf("namespace %q not created", ns.Name)
		}
	})
	if ns == nil {
		t.Skip("the sub-test skipped")
	}
	if ns.Exists() {
		t.Fatalf("namespace %s still exists after its test's cleanup", ns.Name)
	}
}

func TestNew_UniqueNames(t *testing.T) {
	a, b := New(t), New(t)
	if a.Name == b.Name {
		t.Fatalf("two namespaces named %s", a.Name)
	}
}

func TestDo_RunsInsideWithLoopbackUpAndRestores(t *testing.T) {
	ns := New(t)
	before, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	err = ns.Do(func() error {
		inside, err := netns.Get()
		if err != nil {
			return err
		}
		defer inside.Close()
		if inside.Equal(before) {
			t.Error("Do ran f in the original namespace")
		}
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		if len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().OperState == netlink.OperDown {
			t.Errorf("links inside: %d, first %+v; want only lo, up", len(links), links[0].Attrs())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Do must have moved this goroutine's thread back (it may be unlocked and
	// another thread now, but every thread of the process is in the original
	// namespace unless Do leaked one).
	after, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if !after.Equal(before) {
		t.Fatal("thread left inside the namespace after Do")
	}
}

func TestCommand_RunsInsideNamespace(t *testing.T) {
	ns := New(t)
	out, err := ns.Command(context.Background(), "ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], ": lo:") {
		t.Fatalf("ip link inside the namespace shows:\n%s", out)
	}
}

func TestStartAs_UnprivilegedInsideWithItsOwnTUNNode(t *testing.T) {
	ns := New(t)
	before, err := os.Stat("/dev/net/tun")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "id -u; id -G; grep CapEff /proc/self/status; stat -c %a /dev/net/tun; grep -c : /proc/net/dev")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := ns.StartAs(cmd, 65534, 65534, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	// uid, groups, no effective capability, the node's mode, and one
	// interface (the namespace's lo).
	want := "65534\n65534\nCapEff:\t0000000000000000\n640\n1\n"
	if out.String() != want {
		t.Fatalf("inside: %q, want %q", out.String(), want)
	}
	after, err := os.Stat("/dev/net/tun")
	if err != nil || after.Mode() != before.Mode() {
		t.Fatalf("the machine's /dev/net/tun changed: %v, %v → %v", err, before.Mode(), after.Mode())
	}
}
