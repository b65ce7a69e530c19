package integration

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
)

func TestStackGet_SilentOnLinkHost_FailsWithARPMessage(t *testing.T) {
	ns := nstest.New(t)
	// 10.0.0.99 is on the stack's link and nobody has it: ARP gives up
	// after 3 requests and the connect fails with EHOSTUNREACH, as on Linux.
	const silent = "10.0.0.99"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a guard against a hang
	defer cancel()
	cmd := ns.Command(ctx, bin, "get", "--tap", tapName(), "http://"+silent+"/")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("tapstack get to a silent address: %v, want exit status 1\n%s", err, out)
	}
	want := "tapstack get: connect " + silent + ":80: no host answers ARP for " + silent + " (EHOSTUNREACH)"
	if got := strings.TrimSpace(string(ee.Stderr)); got != want {
		t.Fatalf("tapstack get printed\n%s\nwant the one line\n%s", ee.Stderr, want)
	}
	if len(out) != 0 {
		t.Fatalf("tapstack get printed a body: %q", out)
	}
}
