package test

import (
	"github.com/tapstack/tapstack/internal/testbin"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestContainer_StaticBinaryRunsInEmptyRoot checks what the Dockerfile's
// final stage relies on (no Docker engine is needed): the binary built as
// the Dockerfile builds it is static, runs in a root directory holding
// nothing else, and there fails with one clear line about /dev/net/tun.
func TestContainer_StaticBinaryRunsInEmptyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("chroot needs root, and CI runs as root")
		}
		t.Skip("chroot needs root")
	}
	root := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", filepath.Join(root, "tapstack"), module+"/cmd/tapstack")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	// The binary's sources are inputs of this test for Go's test cache.
	if err := testbin.TrackSources(); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("file", filepath.Join(root, "tapstack")).Output(); len(out) > 0 && !strings.Contains(string(out), "statically linked") {
		t.Fatalf("not a static binary: %s", out)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command("/tapstack", args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		cmd.Dir = "/"
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("version")
	if err != nil || !strings.HasPrefix(out, "tapstack test") {
		t.Fatalf("version in an empty root: %v: %q", err, out)
	}
	out, err = run("up")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err == nil || len(lines) != 1 || !strings.Contains(out, "/dev/net/tun") {
		t.Fatalf("up without /dev/net/tun: want one line naming it, got %v: %q", err, out)
	}
}
