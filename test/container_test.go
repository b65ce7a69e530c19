package test

import (
	"context"
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
	buildStatic(t, filepath.Join(root, "tapstack"))
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

// buildStatic builds cmd/tapstack into file as the Dockerfile's build stage
// does: no cgo, so the binary needs no libc in an empty image.
func buildStatic(t *testing.T, file string) {
	t.Helper()
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", file, module+"/cmd/tapstack")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	// The binary's sources are inputs of this test for Go's test cache.
	if err := testbin.TrackSources(); err != nil {
		t.Fatal(err)
	}
}

// TestContainer_Docker runs the README's container recipe against a real
// Docker engine: the image built from Dockerfile.scratch (the binary built
// here, since CI can pull no base image), run with --network host --cap-add
// NET_ADMIN --device /dev/net/tun and a volume for --pcap. The engine is a
// dockerd the test starts inside its own network namespace, so "host" is
// that namespace: the TAP and its host-side address 10.0.0.1 appear there,
// and from there ping and curl reach the stack at 10.0.0.2, as they would
// from the host. Then the same image in a namespace of its own, as
// compose.yaml's client finds it.
func TestContainer_Docker(t *testing.T) {
	for _, tool := range []string{"docker", "dockerd", "nsenter", "curl", "ping", "tcpdump"} {
		testbin.NeedTool(t, tool)
	}
	dir := shortTempDir(t)
	ns := nstest.New(t)
	ctxDir := filepath.Join(dir, "image")
	pcapDir := filepath.Join(dir, "pcap")
	for _, d := range []string{ctxDir, pcapDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	buildStatic(t, filepath.Join(ctxDir, "tapstack"))
	// Copied rather than named with -f, so Go's test cache counts it as an
	// input of this test.
	dockerfile, err := os.ReadFile("../Dockerfile.scratch")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile.scratch"), dockerfile, 0o644); err != nil {
		t.Fatal(err)
	}

	e := startDockerd(t, ns, dir)
	const image = "tapstack:test"
	if out, err := e.docker(2*time.Minute, "build", "-q", "-f", filepath.Join(ctxDir, "Dockerfile.scratch"), "-t", image, ctxDir); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}

	t.Run("HostNetwork", func(t *testing.T) {
		// The README's recipe, with the pcap volume.
		c := e.runContainer(t, "tapstack-host", "--network", "host", "--cap-add", "NET_ADMIN", "--device", "/dev/net/tun",
			"-v", pcapDir+":/pcap", image, "up", "--pcap", "/pcap/t.pcap")
		if out, err := inNS(ns, "ping", "-c", "2", "-i", "0.2", "-W", "5", "10.0.0.2"); err != nil {
			t.Fatalf("ping 10.0.0.2 from the namespace: %v\n%s\ncontainer:\n%s", err, out, c.Out)
		}
		out, err := inNS(ns, "curl", "-sS", "-m", "10", "http://10.0.0.2/")
		if err != nil || !strings.Contains(out, "address   10.0.0.2") {
			t.Fatalf("curl http://10.0.0.2/ from the namespace: %v\n%s\ncontainer:\n%s", err, out, c.Out)
		}
		// docker run passes SIGTERM on to the container: tapstack shuts
		// down cleanly, closing the capture, which the volume leaves on the
		// host.
		stop(t, c)
		dump, err := exec.Command("tcpdump", "-nn", "-r", filepath.Join(pcapDir, "t.pcap")).CombinedOutput()
		if err != nil {
			t.Fatalf("tcpdump -r of the capture on the volume: %v\n%s", err, dump)
		}
		for _, want := range []string{"10.0.0.2 > 10.0.0.1: ICMP echo reply", "10.0.0.2.80 > 10.0.0.1."} {
			if !strings.Contains(string(dump), want) {
				t.Errorf("capture lacks %q:\n%s", want, dump)
			}
		}
	})

	// compose.yaml's layout without network_mode: host on tapstack, and
	// the README's other subnet: the TAP stays in the container's own
	// namespace, off the host, and whatever shares that namespace reaches
	// the stack.
	t.Run("OwnNamespace_ReachedBySharer", func(t *testing.T) {
		const name = "tapstack-own"
		c := e.runContainer(t, name, "--network", "none", "--cap-add", "NET_ADMIN", "--device", "/dev/net/tun",
			image, "up", "--addr", "192.168.77.2/24", "--host-addr", "192.168.77.1/24")
		if out, err := inNS(ns, "ip", "-br", "addr"); err != nil || strings.Contains(out, "192.168.77.1/") {
			t.Fatalf("the TAP's host side is in the test's namespace, not the container's: %v\n%s", err, out)
		}
		pid, err := e.docker(time.Minute, "inspect", "--format", "{{.State.Pid}}", name)
		if err != nil {
			t.Fatalf("docker inspect: %v\n%s", err, pid)
		}
		// nsenter is not bounded here: curl's -m is.
		out, err := exec.Command("nsenter", "--net=/proc/"+strings.TrimSpace(pid)+"/ns/net", "curl", "-sS", "-m", "10", "http://192.168.77.2/").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "address   192.168.77.2") {
			t.Fatalf("curl http://192.168.77.2/ in the container's namespace: %v\n%s\ncontainer:\n%s", err, out, c.Out)
		}
		stop(t, c)
	})
}

// TestContainer_ComposeFileIsValid checks compose.yaml against Compose's
// schema with `docker-compose config` (Debian's docker-compose; it needs no
// engine) and that it still sets up what its comments and the README say:
// tapstack on the host's network with NET_ADMIN and /dev/net/tun, and a
// client in tapstack's network namespace. (Running it would pull the golang
// and curl images, which CI cannot; TestContainer_Docker runs both layouts.)
func TestContainer_ComposeFileIsValid(t *testing.T) {
	testbin.NeedTool(t, "docker-compose")
	const file = "../compose.yaml"
	if _, err := os.Stat(file); err != nil { // an input of this test for Go's test cache
		t.Fatal(err)
	}
	out, err := exec.Command("docker-compose", "--file", file, "config").CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, want := range []string{"network_mode: host", "network_mode: service:tapstack", "- NET_ADMIN", "- /dev/net/tun:/dev/net/tun"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("compose.yaml lacks %q; docker-compose config reads it as:\n%s", want, out)
		}
	}
}

// shortTempDir is t.TempDir under a short name: dockerd's and containerd's
// unix sockets live below it, and a socket's path is limited to 107 bytes.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tsdocker")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	return dir
}

// inNS runs a command inside ns, bounded by a minute, and returns its
// combined output.
func inNS(ns *nstest.NS, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// engine is a dockerd the test started in its namespace. All its state is
// in the test's directory, it serves on its own socket, and it makes no
// bridge and no iptables rule, so it touches neither the machine's docker
// nor its network.
type engine struct {
	env []string // for the docker client: DOCKER_HOST, DOCKER_CONFIG
}

// startDockerd starts dockerd inside ns and returns once it serves its API.
// The daemon runs in a mount namespace of its own (the mounts it makes for
// images and containers vanish with it) but shares the machine's /sys, so
// it finds the cgroups: nsenter enters only the network namespace (ip netns
// exec would remount /sys). The test's cleanup stops it with SIGTERM, and
// kills its process group if it does not exit.
func startDockerd(t *testing.T, ns *nstest.NS, dir string) *engine {
	t.Helper()
	config := filepath.Join(dir, "daemon.json") // not the machine's /etc/docker/daemon.json
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	cmd := exec.Command("nsenter", "--net="+filepath.Join("/run/netns", ns.Name), "dockerd",
		"--config-file", config,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--host", "unix://"+sock,
		"--bridge", "none", "--iptables=false", "--ip6tables=false")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Unshareflags: syscall.CLONE_NEWNS}
	testbin.Start(t, "dockerd", cmd, cmd.Start, "API listen on "+sock, time.Minute, func(p *testbin.Process) {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.Done:
		case <-time.After(30 * time.Second): // a guard against a hang, not a wait
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.Done
			t.Errorf("dockerd ignored SIGTERM for 30s:\n%s", p.Out.Tail())
		}
		if t.Failed() {
			t.Logf("dockerd's log:\n%s", p.Out.Tail())
		}
	})
	env := []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + filepath.Join(dir, "client"), "DOCKER_BUILDKIT=0"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") { // DOCKER_CONTEXT would win over DOCKER_HOST
			env = append(env, kv)
		}
	}
	return &engine{env: env}
}

// docker runs the docker client against the engine, bounded by limit, and
// returns its combined output.
func (e *engine) docker(limit time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = e.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// runContainer runs `docker run --rm --name name args...`, attached, and
// returns once the container's tapstack has logged its readiness line. The
// cleanup removes the container whatever happened.
func (e *engine) runContainer(t *testing.T, name string, args ...string) *testbin.Process {
	t.Helper()
	cmd := exec.Command("docker", append([]string{"run", "--rm", "--name", name}, args...)...)
	cmd.Env = e.env
	return testbin.Start(t, "docker run", cmd, cmd.Start, `msg="tapstack up"`, time.Minute, func(*testbin.Process) {
		e.docker(time.Minute, "rm", "-f", name)
	})
}

// stop sends SIGTERM and checks that the process exits 0.
func stop(t *testing.T, p *testbin.Process) {
	t.Helper()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.Done:
		if err != nil {
			t.Fatalf("%s did not shut down cleanly: %v\n%s", p.Name, err, p.Out.Tail())
		}
	case <-time.After(30 * time.Second): // a guard against a hang, not a wait
		p.Cmd.Process.Kill()
		t.Fatalf("%s ignored SIGTERM for 30s:\n%s", p.Name, p.Out.Tail())
	}
}
