// Package testbin helps tests that build and run the project's binaries and
// drive other programs (the integration, container and benchmark tests).
package testbin

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TrackSources stats every .go file of the module so that Go's test cache
// counts them as inputs of the calling test. A test that runs `go build`
// itself depends on sources its own test binary does not import; without
// this, `go test` would replay a cached pass after those sources changed.
func TrackSources() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return err
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum") {
			_, err = os.Stat(path)
		}
		return err
	})
}

// NeedTool skips the test with a one-line reason when the command name is
// not installed, or fails it when the environment variable CI is set (.ci/run
// installs every tool the tests drive, so CI never skips silently).
func NeedTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (.ci/run installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
}

// Output collects a process's output for failure messages; the process's
// copying goroutines and the test may use it at once.
type Output struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *Output) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Output) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tailBytes is how much of a process's output a failure message quotes.
const tailBytes = 8 << 10

// Tail returns the last 8 KiB written, for a failure message.
func (b *Output) Tail() string {
	s := b.String()
	if len(s) > tailBytes {
		return "..." + s[len(s)-tailBytes:]
	}
	return s
}

// Process is a program started by Start.
type Process struct {
	Name string // for messages: "tapstack up", "dockerd"
	Cmd  *exec.Cmd
	Out  *Output    // what it has printed, standard output and error
	Done chan error // gives cmd.Wait's result once it has exited, then is closed
}

// Start starts cmd by calling start (cmd.Start, or a function that starts
// it in another way) and returns once a line of its standard error contains
// ready. Once cmd runs, the test's cleanup calls cleanup (if not nil)
// whatever happens next. Start fails the test if cmd exits first, or prints
// no such line within limit (then it kills cmd).
func Start(t testing.TB, name string, cmd *exec.Cmd, start func() error, ready string, limit time.Duration, cleanup func(*Process)) *Process {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{Name: name, Cmd: cmd, Out: &Output{}, Done: make(chan error, 1)}
	cmd.Stdout = p.Out
	if err := start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if cleanup != nil {
		t.Cleanup(func() { cleanup(p) })
	}
	seen := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		signalled := false
		for sc.Scan() {
			fmt.Fprintln(p.Out, sc.Text())
			if !signalled && strings.Contains(sc.Text(), ready) {
				signalled = true
				close(seen)
			}
		}
		io.Copy(io.Discard, stderr)
		p.Done <- cmd.Wait()
		close(p.Done)
	}()
	select {
	case <-seen:
	case err := <-p.Done:
		t.Fatalf("%s exited before it was ready: %v\n%s", name, err, p.Out.Tail())
	case <-time.After(limit): // a guard against a hang, not a wait
		cmd.Process.Kill()
		t.Fatalf("%s not ready after %v:\n%s", name, limit, p.Out.Tail())
	}
	return p
}
