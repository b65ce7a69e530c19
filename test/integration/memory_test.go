package integration

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
)

// A daemon with a 1 MiB TCP memory budget (--tcp-mem 1) serving eight
// parallel 4 MiB downloads: their send rings want about 2 MiB, so the
// stack goes under memory pressure (windows and rings stop growing, writers
// wait). Every byte still arrives intact, and the pressure is counted.
func TestTCPMemoryLimit_ParallelDownloadsIntactUnderPressure(t *testing.T) {
	needTool(t, "curl")
	ns := nstest.New(t)
	startDaemon(t, ns, "--tcp-mem", "1")

	const n, size = 8, 4 << 20
	dir := t.TempDir()
	args := []string{"--max-time", "120", "--parallel", "--parallel-max", fmt.Sprint(n)}
	for i := range n {
		args = append(args, "-o", filepath.Join(dir, fmt.Sprint(i)), fmt.Sprintf("http://%s/bytes/%d", stackAddr, size))
	}
	curl(t, ns, args...)
	for i := range n {
		got, err := os.ReadFile(filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != size || sha256.Sum256(got) != patternHash(size) {
			t.Errorf("download %d: %d bytes that differ from the pattern", i, len(got))
		}
	}
	st := tcpStats(t, ns)
	t.Logf("memory: %d bytes in use now, %d pressure episodes, %d writes cut short, %d segments not kept for memory",
		st["mem_used_bytes"], st["mem_pressures"], st["mem_send_limited"], st["rcvq_drops"])
	if st["mem_pressures"] == 0 || st["mem_send_limited"] == 0 {
		t.Errorf("eight parallel downloads within 1 MiB never met memory pressure: %v", st)
	}
}
