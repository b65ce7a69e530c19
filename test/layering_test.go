// Package test holds the cross-cutting checks on the code base itself; the
// integration, conformance and benchmark suites live in its subdirectories.
package test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tapstack/tapstack"

// rank orders the layers of DESIGN.md: a package may import only packages
// of a lower rank (and internal/). nic sits beside the protocols: it knows
// none of them, and only stack/ and above may use it. dns imports none of
// the layers: the caller hands it a dial function. The root package (the
// embedding API) sits beside cmd at the top: it may import every layer,
// and only the example programs, written against it, and tests import it.
var rank = map[string]int{
	"ethernet": 1,
	"arp":      2,
	"ipv4":     3,
	"ipv6":     3, // beside ipv4 (issue 12)
	"udp":      4,
	"tcp":      4,
	"nic":      4,
	"stack":    5,
	"socket":   6,
	"dns":      6, // beside socket: it knows only its DialFunc
	"dhcp":     6, // a client over stack/, beside socket/
	"tapstack": 7, // the module root
	"cmd":      7,
	"examples": 8,
	"test":     9,
}

func layer(pkg string) (string, bool) {
	if pkg == module {
		return "tapstack", true
	}
	rel, ok := strings.CutPrefix(pkg, module+"/")
	if !ok {
		return "", false
	}
	return strings.SplitN(rel, "/", 2)[0], true
}

// TestLayering_ImportsPointDown fails on any import edge that points up or
// sideways, and on any production package that links gVisor.
func TestLayering_ImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		from, _ := layer(f[0])
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, "gvisor.dev/") {
				t.Errorf("%s imports %s: gVisor is for tests only", f[0], imp)
			}
			to, ours := layer(imp)
			if !ours {
				continue
			}
			checked++
			if to == "internal" || to == "clock" || to == from { // clock: the time source every layer takes
				continue // shared pieces, or a layer's own subpackage (tcp → tcp/buffer)
			}
			if from == "internal" {
				t.Errorf("%s imports %s: internal/ may not depend on the layers", f[0], imp)
				continue
			}
			if to == "nic" && rank[from] < rank["stack"] {
				t.Errorf("%s imports %s: protocols must not know the device layer", f[0], imp)
			}
			if from == "nic" || rank[to] >= rank[from] {
				if from != "test" && (from != "nic" || to != "internal") {
					t.Errorf("%s imports %s: imports must point down (%s → %s)", f[0], imp, from, to)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no import edges checked: go list output not understood")
	}
}

// TestLayering_NoGVisorInBinary checks the daemon's full dependency set.
func TestLayering_NoGVisorInBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"/cmd/tapstack").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	if strings.Contains(string(out), "gvisor.dev") {
		t.Fatal("the tapstack binary links gVisor; it may appear only in tests")
	}
	if !strings.Contains(string(out), module+"/stack") {
		t.Fatal("go list -deps output not understood")
	}
}
