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

// TCP and UDP over IPv6 (issue 12) end to end: the kernel reaches the
// daemon's dual-stack services at the stack's link-local address, with
// the TAP as the zone.

// TestKernelCurl6_LinkLocal: curl -6 fetches the status page and a 10 MiB
// download over IPv6 (the TCP handshake, the IPv6 MSS, a long transfer
// with the kernel's offloads), checked by hash; IPv4 still answers on the
// same dual-stack listener.
func TestKernelCurl6_LinkLocal(t *testing.T) {
	needTool(t, "curl")
	ns := nstest.New(t)
	d := startDaemon(t, ns)
	tap, ll := linkLocalUp(t, ns, d)
	base := fmt.Sprintf("http://[%s%%25%s]", ll, tap) // %25: the zone's % in a URL (RFC 6874)
	if page := curl(t, ns, "-6", "-g", base+"/"); !strings.Contains(page, "tapstack") {
		t.Fatalf("status page over IPv6:\n%s", page)
	}
	const n = 10 << 20
	down := filepath.Join(t.TempDir(), "down")
	curl(t, ns, "-6", "-g", "-o", down, fmt.Sprintf("%s/bytes/%d", base, n))
	if got, _ := os.ReadFile(down); len(got) != n || sha256.Sum256(got) != patternHash(n) {
		t.Fatalf("10 MiB over IPv6: %d bytes that differ from the pattern", len(got))
	}
	if page := curl(t, ns, "-4", "http://"+stackAddr+"/"); !strings.Contains(page, "tapstack") {
		t.Fatalf("status page over IPv4 beside IPv6:\n%s", page)
	}
}

// TestKernelUDP6_EchoService: socat sends a datagram over IPv6 to udp/7
// and gets it back.
func TestKernelUDP6_EchoService(t *testing.T) {
	needTool(t, "socat")
	ns := nstest.New(t)
	d := startDaemon(t, ns)
	tap, ll := linkLocalUp(t, ns, d)
	// The first datagram may go before the kernel resolved the stack's
	// address: a few tries, each bounded by socat's -T.
	const msg = "hello over udp6"
	var out string
	var err error
	for try := 0; try < 3; try++ {
		out, err = run(t, ns, "sh", "-c", fmt.Sprintf("printf %%s '%s' | socat -T3 - 'UDP6:[%s%%%s]:7'", msg, ll, tap))
		if err == nil && out == msg {
			return
		}
	}
	t.Fatalf("socat UDP6 echo: %v, got %q, want %q", err, out, msg)
}
