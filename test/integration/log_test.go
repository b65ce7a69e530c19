package integration

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
)

// `--log-level debug` logs each drop with its reason and each TCP state
// change; the shutdown line names its totals.
func TestDaemon_LogLevelDebug_DropsTCPStatesAndShutdownTotals(t *testing.T) {
	ns := nstest.New(t)
	d := startDaemon(t, ns, "--log-level", "debug")
	curl(t, ns, "-s", "-o", "/dev/null", "http://"+stackAddr+"/")
	// A datagram to a closed port: dropped (and answered with ICMP).
	if out, err := run(t, ns, "bash", "-c", "echo x > /dev/udp/"+stackAddr+"/9999"); err != nil {
		t.Fatalf("sending to udp/9999: %v: %s", err, out)
	}
	// The datagram is in flight when bash returns: stop the daemon only
	// once its drop is logged.
	udpDrop := regexp.MustCompile(`msg=drop layer=udp reason=no_ports`)
	for deadline := time.Now().Add(10 * time.Second); !udpDrop.MatchString(d.out.String()); {
		if time.Now().After(deadline) {
			t.Fatalf("no UDP drop logged 10 s after the datagram:\n%s", d.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.stop(t)
	out := d.out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`level=DEBUG msg="tcp state" local=` + stackAddr + `:80 remote=` + hostAddr + `:\d+ from=SYN-RECEIVED to=ESTABLISHED`),
		regexp.MustCompile(`level=DEBUG msg=drop layer=udp reason=no_ports src=` + hostAddr + `:\d+ dst=` + stackAddr + `:9999 proto=17`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the debug log lacks %v:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`msg="shutting down" frames_in=(\d+) frames_out=(\d+) tcp_conns=1 udp_in=0 drops=(\d+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no shutdown line with named totals (one TCP connection, no UDP delivered):\n%s", out)
	}
	for i, name := range []string{"frames_in", "frames_out", "drops"} {
		if n, _ := strconv.Atoi(m[i+1]); n < 1 {
			t.Errorf("%s=%d, want at least 1 (the curl exchange, the drop)", name, n)
		}
	}
	// Every drop counted was logged (or counted as suppressed by the rate
	// limit): the kernel's IPv6 frames at the link layer, the UDP datagram.
	logged := strings.Count(out, "msg=drop ")
	for _, sm := range regexp.MustCompile(`msg="debug records suppressed by the rate limit" category=\S+ suppressed=(\d+)`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(sm[1])
		logged += n
	}
	if drops, _ := strconv.Atoi(m[3]); logged != drops {
		t.Errorf("%d drops logged or suppressed, shutdown line says drops=%d:\n%s", logged, drops, out)
	}
	if strings.Contains(out, "stats=") {
		t.Errorf("the old unnamed stats= total is still logged:\n%s", out)
	}
}
