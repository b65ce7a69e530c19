// Package nstest gives integration tests a network namespace of their own, so
// that every TAP device, address and packet they create stays out of the
// machine's own network.
//
// New creates the namespace and registers its deletion with t.Cleanup; Do
// runs code inside it on a locked OS thread; Command runs a program inside it.
// Names are "tst-<pid>-<random>": New also deletes namespaces left behind by
// test processes that died before their cleanup ran (a go test timeout, a
// kill), recognised by that name and a pid that no longer exists.
//
// An NS may be used from several goroutines at once. It needs root (or
// CAP_SYS_ADMIN and CAP_NET_ADMIN), the ip(8) command and /dev/net/tun.
package nstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"
)

// netnsDir is where ip(8) keeps named network namespaces.
const netnsDir = "/run/netns"

// NS is a named network namespace created for one test.
type NS struct {
	Name string
}

// New creates a network namespace with a unique name, brings its loopback up
// and registers t.Cleanup to delete it, killing any process still inside
// (other than this one), even if the test fails. Without root, ip(8) or
// /dev/net/tun it calls t.Skip with a one-line reason, or t.Fatal when the
// environment variable CI is non-empty, so CI never skips silently.
func New(t testing.TB) *NS {
	t.Helper()
	if reason := missing(); reason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("nstest: %s (CI is set, so this is a failure, not a skip)", reason)
		}
		t.Skipf("nstest: %s", reason)
	}
	sweepStale()
	n, err := create()
	if err != nil {
		t.Fatalf("nstest: %v", err)
	}
	t.Cleanup(func() {
		if err := n.destroy(); err != nil {
			t.Errorf("nstest: %v", err)
		}
	})
	return n
}

// missing returns why namespaces cannot be used here, or "".
func missing() string {
	if os.Geteuid() != 0 {
		return "network namespace tests need root"
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return "/dev/net/tun is missing (load the tun module, or run the container with --device /dev/net/tun)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "the ip command (iproute2) is not installed"
	}
	return ""
}

func create() (*NS, error) {
	var r [4]byte
	rand.Read(r[:])
	n := &NS{Name: fmt.Sprintf("tst-%d-%s", os.Getpid(), hex.EncodeToString(r[:]))}
	if err := run("ip", "netns", "add", n.Name); err != nil {
		return nil, err
	}
	if err := run("ip", "-n", n.Name, "link", "set", "lo", "up"); err != nil {
		return nil, errors.Join(err, n.destroy())
	}
	return n, nil
}

// destroy kills the processes left inside the namespace and deletes it.
// The kernel frees the namespace, and the interfaces in it, once nothing
// refers to it any more.
func (n *NS) destroy() error {
	var errs []error
	out, err := exec.Command("ip", "netns", "pids", n.Name).Output()
	if err != nil {
		errs = append(errs, fmt.Errorf("listing processes in %s: %w", n.Name, err))
	}
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("killing pid %d in %s: %w", pid, n.Name, err))
		}
	}
	if err := run("ip", "netns", "delete", n.Name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

var staleName = regexp.MustCompile(`^tst-([0-9]+)-[0-9a-f]{8}$`)

// sweepStale deletes namespaces named by nstest whose creating process is
// gone. Errors are ignored: another test process may be sweeping too.
func sweepStale() {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		m := staleName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		(&NS{Name: e.Name()}).destroy()
	}
}

// Exists reports whether the namespace is still registered under its name.
func (n *NS) Exists() bool {
	_, err := os.Stat(filepath.Join(netnsDir, n.Name))
	return err == nil
}

// Do runs f with the calling goroutine locked to its OS thread and that
// thread inside the namespace, then moves the thread back. Goroutines that f
// starts do not run inside the namespace, but file descriptors opened inside
// (a TAP, a netlink socket) keep working from any goroutine afterwards. If
// the thread cannot be moved back it stays locked, so the runtime discards
// it when the goroutine exits. Do returns f's error, or why it could not
// enter or leave the namespace.
func (n *NS) Do(f func() error) (err error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("nstest: current namespace: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(n.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("nstest: opening namespace %s: %w", n.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("nstest: entering namespace %s: %w", n.Name, err)
	}
	// Deferred so that the thread is restored even if f panics or calls
	// t.FailNow (runtime.Goexit).
	defer func() {
		if rerr := netns.Set(orig); rerr != nil {
			err = errors.Join(err, fmt.Errorf("nstest: leaving namespace %s: %w", n.Name, rerr))
			return // the thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
	}()
	return f()
}

// Command returns a command that runs name with args inside the namespace,
// through `ip netns exec`. The caller starts it, and kills it (ctx) before
// the test ends; the cleanup kills whatever is left.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
