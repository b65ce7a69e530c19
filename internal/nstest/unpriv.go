package nstest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// tunMajor and tunMinor number the TUN/TAP clone device
// (Documentation/admin-guide/devices.txt: 10 char 200).
const tunMajor, tunMinor = 10, 200

// StartAs starts cmd inside the namespace as the user uid, group gid, with
// no supplementary groups and no capabilities: SysProcAttr.Credential and
// no AmbientCaps, so the kernel clears every capability set when the uid
// changes from 0, as for any unprivileged user. (AmbientCaps already in
// cmd.SysProcAttr are kept: a test may give the process one capability.)
//
// The process gets a mount namespace of its own in which /dev/net/tun is a
// fresh node for the TUN clone device with permissions tunMode (0666, as
// most distributions ship it, or 0600 to see what a user gets where it is
// root's alone); tunMode 0 leaves no /dev/net/tun at all. The machine's own
// node and mounts are not touched. The executable must be one uid may read
// and run (see CopyExecutable). The rest of cmd.SysProcAttr is replaced.
//
// The caller waits for cmd; the namespace's cleanup kills it if it is
// still running.
func (n *NS) StartAs(cmd *exec.Cmd, uid, gid uint32, tunMode os.FileMode) error {
	dir, err := os.MkdirTemp("", "nstest-tun-")
	if err != nil {
		return fmt.Errorf("nstest: %w", err)
	}
	// The bind mount keeps the node alive once it is gone from here.
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // with tunMode 0 it stands for /dev/net
		return fmt.Errorf("nstest: %w", err)
	}
	node := filepath.Join(dir, "tun")
	if tunMode != 0 {
		if err := unix.Mknod(node, unix.S_IFCHR|0o600, int(unix.Mkdev(tunMajor, tunMinor))); err != nil {
			return fmt.Errorf("nstest: making a TUN device node: %w", err)
		}
		if err := os.Chmod(node, tunMode.Perm()); err != nil {
			return fmt.Errorf("nstest: %w", err)
		}
	}
	var ambient []uintptr
	if cmd.SysProcAttr != nil {
		ambient = cmd.SysProcAttr.AmbientCaps
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}},
		AmbientCaps: ambient,
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: this thread's mount and network namespaces change
		// for good, so it must end with this goroutine (the runtime then
		// discards it) instead of going back to the pool. The child is
		// forked from this thread and inherits both namespaces.
		runtime.LockOSThread()
		errc <- n.startFromThisThread(cmd, dir, node, tunMode != 0)
	}()
	return <-errc
}

func (n *NS) startFromThisThread(cmd *exec.Cmd, dir, node string, withNode bool) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("nstest: new mount namespace: %w", err)
	}
	// Private, so that nothing mounted here reaches the machine's namespace.
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("nstest: making / private: %w", err)
	}
	if withNode {
		if err := unix.Mount(node, "/dev/net/tun", "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("nstest: bind-mounting the TUN node: %w", err)
		}
	} else if err := unix.Mount(dir, "/dev/net", "", unix.MS_BIND, ""); err != nil { // an empty directory
		return fmt.Errorf("nstest: hiding /dev/net: %w", err)
	}
	target, err := netns.GetFromName(n.Name)
	if err != nil {
		return fmt.Errorf("nstest: opening namespace %s: %w", n.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("nstest: entering namespace %s: %w", n.Name, err)
	}
	return cmd.Start()
}

// CopyExecutable copies the executable at path into a new directory that
// every user may enter, as a file every user may run, and returns the copy's
// path; the directory is removed at cleanup. A test binary or a temporary
// build directory is usually root's alone, which an unprivileged process
// (StartAs) cannot run.
func CopyExecutable(t testing.TB, path string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nstest-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(dir, filepath.Base(path))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}
