package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
)

// startExample runs an example server inside ns and waits for its
// "listening" line.
func startExample(t *testing.T, ns *nstest.NS, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args = append([]string{"--tap", tapName()}, args...)
	cmd := ns.Command(ctx, filepath.Join(examples, name), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				ready <- true
			}
		}
		ready <- false
		io.Copy(io.Discard, out)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("%s exited before listening:\n%s", name, stderr)
		}
	case <-time.After(30 * time.Second): // a guard against a hang
		t.Fatalf("%s not listening after 30s:\n%s", name, stderr)
	}
}

// kernelDial connects from the kernel side of ns.
func kernelDial(t *testing.T, ns *nstest.NS, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	if err := ns.Do(func() (err error) { c, err = net.DialTimeout("tcp4", addr, 10*time.Second); return err }); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func exchange(t *testing.T, c net.Conn, send string) string {
	t.Helper()
	if _, err := c.Write([]byte(send)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(send))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading the reply to %q: %v", send, err)
	}
	return string(buf)
}

func TestExample_EchoServer(t *testing.T) {
	ns := nstest.New(t)
	startExample(t, ns, "echo-server")
	c := kernelDial(t, ns, stackAddr+":7007")
	for _, msg := range []string{"hello", strings.Repeat("x", 1024), strings.Repeat("tapstack ", 500)} {
		if got := exchange(t, c, msg); got != msg {
			t.Fatalf("echo of %d bytes came back different", len(msg))
		}
	}
}

func TestExample_EchoClient(t *testing.T) {
	ns := nstest.New(t)
	var l net.Listener
	if err := ns.Do(func() (err error) { l, err = net.Listen("tcp4", "0.0.0.0:7007"); return err }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	out, err := run(t, ns, filepath.Join(examples, "echo-client"), "--tap", tapName(), hostAddr+":7007", "hello", "world")
	if err != nil || out != "hello\nworld\n" {
		t.Fatalf("echo-client: %v\n%q", err, out)
	}
}

func TestExample_UpperServer_ConcurrentClients(t *testing.T) {
	ns := nstest.New(t)
	startExample(t, ns, "upper-server")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		c := kernelDial(t, ns, stackAddr+":7008")
		wg.Add(1)
		go func(i int, c net.Conn) {
			defer wg.Done()
			msg := fmt.Sprintf("client %d says hello", i)
			c.Write([]byte(msg))
			buf := make([]byte, len(msg))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != strings.ToUpper(msg) {
				errs <- fmt.Errorf("client %d got %q, %v", i, buf, err)
			}
		}(i, c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestExample_PoolServer_RefusesBeyondItsBound(t *testing.T) {
	ns := nstest.New(t)
	startExample(t, ns, "pool-server", "--workers", "1", "--queue", "1")
	// One worker and one queue slot. The first client is served (and kept
	// open, so the worker stays busy), the second waits in the queue, the
	// third is turned away. Accept order is connection order, so this is
	// deterministic.
	c1 := kernelDial(t, ns, stackAddr+":7009")
	if got := exchange(t, c1, "hi"); got != "HI" {
		t.Fatalf("first client got %q, want HI", got)
	}
	kernelDial(t, ns, stackAddr+":7009")
	c3 := kernelDial(t, ns, stackAddr+":7009")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c3, buf); err != nil || string(buf) != "busy\n" {
		t.Fatalf("third client got %q, %v; want busy", buf, err)
	}
	if n, err := c3.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("third client not closed after busy: %d, %v", n, err)
	}
}
