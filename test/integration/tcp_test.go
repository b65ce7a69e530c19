package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
)

// patternBytes is what /bytes/N serves: byte i of every 64 KiB block is i.
func patternBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % (64 << 10))
	}
	return b
}

func curl(t *testing.T, ns *nstest.NS, args ...string) string {
	t.Helper()
	needTool(t, "curl")
	out, err := run(t, ns, "curl", append([]string{"-sS", "--fail", "--max-time", "60"}, args...)...)
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestCurl_StatusStatsAndBytes(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns)
	page := curl(t, ns, "http://"+stackAddr+"/")
	for _, want := range []string{"tapstack", "address   " + stackAddr, "ESTABLISHED"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q:\n%s", want, page)
		}
	}
	if stats := curl(t, ns, "http://"+stackAddr+"/stats"); !strings.Contains(stats, `"passive_opens"`) {
		t.Errorf("/stats is not the counters:\n%s", stats)
	}
	// 10 MiB, compared by hash.
	file := filepath.Join(t.TempDir(), "bytes")
	curl(t, ns, "-o", file, fmt.Sprintf("http://%s/bytes/%d", stackAddr, 10<<20))
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10<<20 || sha256.Sum256(got) != sha256.Sum256(patternBytes(10<<20)) {
		t.Fatalf("downloaded %d bytes that differ from the pattern", len(got))
	}
}

func TestCurl_PostEchoOneMiB(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*31 + i>>12)
	}
	os.WriteFile(in, data, 0o644)
	curl(t, ns, "--data-binary", "@"+in, "-H", "Content-Type: application/octet-stream", "-o", out, "http://"+stackAddr+"/echo")
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatalf("POST /echo returned %d bytes, not the 1 MiB sent", len(got))
	}
}

func TestSocat_EchoPort(t *testing.T) {
	needTool(t, "socat")
	ns := nstest.New(t)
	startDaemon(t, ns)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	data := patternBytes(2 << 20)
	os.WriteFile(in, data, 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// socat sends the file, half-closes, and prints what comes back until
	// the stack's echo closes after our FIN.
	got, err := ns.Command(ctx, "sh", "-c", "socat -t 30 - TCP:"+stackAddr+":7 < "+in).Output()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("socat through tcp/7: %v; got %d bytes back of %d", err, len(got), len(data))
	}
}

func TestKernelTCP_DiscardAndChargen(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns)
	var d, c net.Conn
	err := ns.Do(func() (err error) {
		if d, err = net.DialTimeout("tcp4", stackAddr+":9", 10*time.Second); err != nil {
			return err
		}
		c, err = net.DialTimeout("tcp4", stackAddr+":19", 10*time.Second)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	defer c.Close()
	d.SetDeadline(time.Now().Add(time.Minute))
	if n, err := io.Copy(d, io.LimitReader(zeroReader{}, 8<<20)); err != nil || n != 8<<20 {
		t.Fatalf("discard took %d bytes: %v", n, err)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 74*95)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(buf), " !\"#$%&'()*+,-./0123") || string(buf[72:76]) != "\r\n!\"" {
		t.Fatalf("chargen pattern wrong: %q", buf[:80])
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestWrk_FiftyConnectionsNoErrors(t *testing.T) {
	needTool(t, "wrk")
	ns := nstest.New(t)
	startDaemon(t, ns)
	out, err := run(t, ns, "wrk", "-t2", "-c50", "-d3s", "http://"+stackAddr+"/bytes/100")
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	if strings.Contains(out, "Socket errors") || strings.Contains(out, "Non-2xx") {
		t.Fatalf("wrk saw errors:\n%s", out)
	}
	if !regexp.MustCompile(`\d+ requests in`).MatchString(out) {
		t.Fatalf("wrk output not understood:\n%s", out)
	}
	t.Logf("wrk:\n%s", out)
}

func TestAb_NewConnectionPerRequestNoErrors(t *testing.T) {
	needTool(t, "ab")
	ns := nstest.New(t)
	startDaemon(t, ns)
	out, err := run(t, ns, "ab", "-q", "-c20", "-n2000", "http://"+stackAddr+"/bytes/100")
	if err != nil {
		t.Fatalf("ab: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Complete requests:      2000") || !strings.Contains(out, "Failed requests:        0") {
		t.Fatalf("ab saw failures:\n%s", out)
	}
}

func TestStackGet_FetchesFromKernelServer(t *testing.T) {
	stackGetFromKernel(t, "tcp4", "0.0.0.0:8080", "http://"+hostAddr+":8080/")
}

// `tapstack get http://[fd00::1]:8080/`: the URL's IPv6 literal reached
// over the stack's fd00::2, the kernel side's --host-addr6.
func TestStackGet6_FetchesFromKernelServer(t *testing.T) {
	stackGetFromKernel(t, "tcp6", "[::]:8080", "http://[fd00::1]:8080/")
}

// stackGetFromKernel serves 300 KiB on a kernel listener on (network,
// addr) in a new namespace and checks `tapstack get url` prints it.
func stackGetFromKernel(t *testing.T, network, addr, url string) {
	ns := nstest.New(t)
	var l net.Listener
	if err := ns.Do(func() (err error) { l, err = net.Listen(network, addr); return err }); err != nil {
		t.Fatal(err)
	}
	body := patternBytes(300 << 10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })}
	go srv.Serve(l)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := ns.Command(ctx, bin, "get", "--tap", tapName(), url).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("tapstack get %s: %v\n%s", url, err, stderr)
	}
	if !bytes.Equal(out, body) {
		t.Fatalf("tapstack get %s printed %d bytes, want the %d served", url, len(out), len(body))
	}
}
