// Package integration runs the tapstack daemon on a real TAP inside a network
// namespace each test creates, and points the kernel's own tools at it.
// Everything stays inside that namespace; it is deleted when the test ends.
// Without root or /dev/net/tun the tests skip (fail under CI=...).
package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/internal/testbin"
)

// bin is the tapstack binary built once for the whole package; examples is
// the directory holding the example programs' binaries.
var bin, examples string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tapstack-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // the no-root test runs it as nobody
	bin = filepath.Join(dir, "tapstack")
	examples = dir
	build := exec.Command("go", "build", "-o", dir+"/", "github.com/tapstack/tapstack/cmd/tapstack", "github.com/tapstack/tapstack/examples/...")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tapstack and the examples:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestBinaries_BuiltFromCurrentSources checks the binaries TestMain built
// run, and records the module's sources as inputs of this package's result:
// the binaries come from packages this test binary does not import, so
// without it `go test` would replay a cached pass after they changed. (File
// accesses count only once the tests run, hence here and not in TestMain.)
func TestBinaries_BuiltFromCurrentSources(t *testing.T) {
	if err := testbin.TrackSources(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "tapstack ") {
		t.Fatalf("tapstack version: %v %q", err, out)
	}
}

// Addresses inside every test namespace.
const (
	stackAddr = "10.0.0.2"
	hostAddr  = "10.0.0.1"
)

func tapName() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "tst" + hex.EncodeToString(b)
}

// syncBuf collects a process's output for failure messages.
type syncBuf = testbin.Output

// daemon is a running `tapstack up`.
type daemon struct {
	ns   *nstest.NS
	cmd  *exec.Cmd
	out  *syncBuf
	done chan error
}

// startDaemon runs `tapstack up` with args inside ns and returns once it
// has logged its readiness line. The test's cleanup stops it with SIGTERM
// and checks that it shut down cleanly.
func startDaemon(t *testing.T, ns *nstest.NS, args ...string) *daemon {
	t.Helper()
	args = append([]string{"up", "--tap", tapName(), "--addr", stackAddr + "/24", "--host-addr", hostAddr + "/24"}, args...)
	cmd := ns.Command(context.Background(), bin, args...)
	return launch(t, ns, cmd, cmd.Start)
}

// launch starts cmd, a `tapstack up` inside ns, by calling start, and
// returns once it has logged its readiness line; as startDaemon.
func launch(t *testing.T, ns *nstest.NS, cmd *exec.Cmd, start func() error) *daemon {
	t.Helper()
	p := testbin.Start(t, "tapstack up", cmd, start, `msg="tapstack up"`, 30*time.Second, nil)
	d := &daemon{ns: ns, cmd: cmd, out: p.Out, done: p.Done}
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop sends SIGTERM and checks the daemon exits 0.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("tapstack up did not shut down cleanly: %v\n%s", err, d.out)
		}
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("tapstack up ignored SIGTERM for 20s:\n%s", d.out)
	}
	d.cmd = nil
}

// run runs a command inside ns and returns its combined output.
func run(t *testing.T, ns *nstest.NS, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func needTool(t *testing.T, name string) {
	t.Helper()
	testbin.NeedTool(t, name)
}
