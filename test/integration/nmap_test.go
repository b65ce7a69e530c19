package integration

import (
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
)

// documentedTCPPorts are the TCP services DESIGN.md and the README list
// on the stack's address: echo, discard, chargen and HTTP.
var documentedTCPPorts = []int{7, 9, 19, 80}

var nmapOpen = regexp.MustCompile(`(\d+)/open/tcp`)

// `nmap -6` SYN-scans every TCP port of the daemon's fd00::2 from the
// host namespace and finds open exactly the documented services, every
// other port closed (a RST, RFC 9293 §3.10.7.1), none filtered.
func TestNmap6_FindsExactlyTheDocumentedTCPPorts(t *testing.T) {
	needTool(t, "nmap")
	ns := nstest.New(t)
	startDaemon(t, ns)
	eventually(t, "an answer from fd00::2", func() bool { return pingable(t, ns, "fd00::2") })
	out, err := run(t, ns, "nmap", "-6", "-n", "-Pn", "-sS", "-T4", "-p-", "-oG", "-", "fd00::2")
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	var open []int
	for _, m := range nmapOpen.FindAllStringSubmatch(out, -1) {
		p, _ := strconv.Atoi(m[1])
		open = append(open, p)
	}
	slices.Sort(open)
	if !slices.Equal(open, documentedTCPPorts) {
		t.Fatalf("nmap -6 found open %v, want %v\n%s", open, documentedTCPPorts, out)
	}
	if !regexp.MustCompile(`Ignored State: closed \(65531\)`).MatchString(out) {
		t.Fatalf("nmap -6: the other 65531 ports not all closed\n%s", out)
	}
}
