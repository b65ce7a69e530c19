package integration

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
)

// TestNewcomer6_UpPingCurl is issue 12's "done when" as a newcomer meets
// it: `tapstack up` with its defaults, then from the host namespace
// `ping -6` to fd00::2 (small, and -s 3000: fragmented both ways) and
// `curl -6 'http://[fd00::2]/'`, the status page and a 10 MiB download
// checked by hash, with no zone and no link-local address to look up.
func TestNewcomer6_UpPingCurl(t *testing.T) {
	needTool(t, "ping")
	needTool(t, "curl")
	ns := nstest.New(t)
	startDaemon(t, ns)
	// The stack's DAD (RFC 4862 §5.4) holds fd00::2 for about a second.
	eventually(t, "an answer from fd00::2", func() bool { return pingable(t, ns, "fd00::2") })
	pingOK(t, ns, "-6", "-c", "3", "-i", "0.2", "-W", "5", "fd00::2")
	pingOK(t, ns, "-6", "-c", "3", "-i", "0.2", "-W", "5", "-s", "3000", "fd00::2")
	const base = "http://[fd00::2]"
	if page := curl(t, ns, "-6", "-g", base+"/"); !strings.Contains(page, "tapstack") {
		t.Fatalf("status page over IPv6:\n%s", page)
	}
	const n = 10 << 20
	down := filepath.Join(t.TempDir(), "down")
	curl(t, ns, "-6", "-g", "-o", down, fmt.Sprintf("%s/bytes/%d", base, n))
	if got, _ := os.ReadFile(down); len(got) != n || sha256.Sum256(got) != patternHash(n) {
		t.Fatalf("10 MiB from fd00::2: %d bytes that differ from the pattern", len(got))
	}
}
