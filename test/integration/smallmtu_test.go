package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
)

// TestCurl_PostEcho_MTU100: on a 100-byte link the kernel and the stack
// talk TCP both ways in 60-byte segments (48 of data with timestamps), as
// two Linux hosts would; the MSS floor for a peer's option (88) does not
// push the stack's segments past the link.
func TestCurl_PostEcho_MTU100(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns, "--mtu", "100")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	data := patternBytes(64 << 10)
	os.WriteFile(in, data, 0o644)
	curl(t, ns, "--data-binary", "@"+in, "-H", "Content-Type: application/octet-stream", "-o", out, "http://"+stackAddr+"/echo")
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatalf("POST /echo on MTU 100 returned %d bytes, not the %d sent", len(got), len(data))
	}
}
