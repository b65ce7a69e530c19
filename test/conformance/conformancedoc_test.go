package conformance

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docPath is CONFORMANCE.md, from this package's directory.
const docPath = "../../CONFORMANCE.md"

// docSection is the heading of the section that lists the differences.
const docSection = "## Differences from gVisor (test/conformance)"

// docTables is what the differences section of CONFORMANCE.md says: the
// scripts of its "who matches Linux" tables with that column, those of
// its "what Linux does" table, and the script counts its text states.
type docTables struct {
	known      map[string]string // script → who matches Linux
	deviations map[string]bool
	counts     []int // total, ARP/IPv4/ICMP/UDP, TCP
}

var (
	docScriptName = regexp.MustCompile("`([A-Za-z0-9_]+)`")
	docCounts     = regexp.MustCompile(`plays (\d+) scripts \((\d+) for ARP/IPv4/ICMP/UDP, (\d+) for TCP\)`)
)

// parseDocTables reads the differences section of doc. A table whose
// header has a "who matches Linux" column lists known differences, one
// whose header has a "what Linux does" column lists linuxDeviations; the
// first column of a row names scripts in backquotes. Anything it cannot
// read is an error, so that the doc cannot drift into a shape the test
// no longer checks.
func parseDocTables(doc string) (docTables, error) {
	out := docTables{known: map[string]string{}, deviations: map[string]bool{}}
	i := strings.Index(doc, docSection+"\n")
	if i < 0 {
		return out, fmt.Errorf("no %q section", docSection)
	}
	sec := doc[i+len(docSection):]
	if j := strings.Index(sec, "\n## "); j >= 0 {
		sec = sec[:j]
	}
	if m := docCounts.FindStringSubmatch(sec); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			out.counts = append(out.counts, n)
		}
	}
	kind := ""
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "|") {
			kind = ""
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for k := range cells {
			cells[k] = strings.TrimSpace(cells[k])
		}
		switch {
		case kind == "" && slices.Contains(cells, "who matches Linux"):
			kind = "known"
			continue
		case kind == "" && slices.Contains(cells, "what Linux does"):
			kind = "deviation"
			continue
		case kind == "":
			return out, fmt.Errorf("a table with neither a \"who matches Linux\" nor a \"what Linux does\" column: %q", line)
		case strings.HasPrefix(cells[0], "---"):
			continue
		}
		names := docScriptName.FindAllStringSubmatch(cells[0], -1)
		if names == nil {
			return out, fmt.Errorf("a row that names no script in its first column: %q", line)
		}
		for _, m := range names {
			name := m[1]
			if _, dup := out.known[name]; dup || out.deviations[name] {
				return out, fmt.Errorf("%s is listed twice", name)
			}
			if kind == "deviation" {
				out.deviations[name] = true
				continue
			}
			if len(cells) != 3 {
				return out, fmt.Errorf("a row without three columns: %q", line)
			}
			out.known[name] = cells[2]
		}
	}
	return out, nil
}

// TestConformanceDoc_DifferencesMatchTables keeps CONFORMANCE.md's
// "Differences from gVisor" section and the test's tables in step: the
// same scripts as knownDiffs, with the same "who matches Linux"; the same
// as linuxDeviations; and the script counts the text gives.
func TestConformanceDoc_DifferencesMatchTables(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseDocTables(string(b))
	if err != nil {
		t.Fatalf("CONFORMANCE.md: %v", err)
	}
	for name, kd := range knownDiffs {
		switch who, ok := doc.known[name]; {
		case !ok:
			t.Errorf("CONFORMANCE.md does not list the known difference %s (who matches Linux: %s)", name, kd.linux)
		case who != kd.linux:
			t.Errorf("CONFORMANCE.md says %q matches Linux in %s; knownDiffs says %q", who, name, kd.linux)
		}
	}
	for name := range doc.known {
		if _, ok := knownDiffs[name]; !ok {
			t.Errorf("CONFORMANCE.md lists %s as a known difference; knownDiffs does not", name)
		}
	}
	for name := range linuxDeviations {
		if !doc.deviations[name] {
			t.Errorf("CONFORMANCE.md does not list %s, where both stacks differ from Linux", name)
		}
	}
	for name := range doc.deviations {
		if _, ok := linuxDeviations[name]; !ok {
			t.Errorf("CONFORMANCE.md lists %s as differing from Linux in both stacks; linuxDeviations does not", name)
		}
	}
	ip, tcp := 0, 0
	for _, sc := range scripts() {
		if sc.tcp {
			tcp++
		} else {
			ip++
		}
	}
	if want := []int{ip + tcp, ip, tcp}; !slices.Equal(doc.counts, want) {
		t.Errorf("CONFORMANCE.md says TestDifferential plays %v scripts (all, ARP/IPv4/ICMP/UDP, TCP); it plays %v: write \"plays %d scripts (%d for ARP/IPv4/ICMP/UDP, %d for TCP)\"", doc.counts, want, want[0], want[1], want[2])
	}
}

// TestConformanceDoc_ParserCatchesDrift checks the parser on a small
// section: a row it would skip silently would leave the doc unchecked.
func TestConformanceDoc_ParserCatchesDrift(t *testing.T) {
	good := docSection + "\n\n`TestDifferential` plays 3 scripts (1 for ARP/IPv4/ICMP/UDP, 2 for TCP).\n\n" +
		"| script | difference | who matches Linux |\n| --- | --- | --- |\n" +
		"| `A_One`, `A_Two` | x | tapstack |\n| `B` | y | neither |\n\n" +
		"| script | what Linux does |\n| --- | --- |\n| `C` | z |\n\n## Next\n| `D` | not here | gVisor |\n"
	got, err := parseDocTables(good)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A_One": "tapstack", "A_Two": "tapstack", "B": "neither"}
	if fmt.Sprint(got.known) != fmt.Sprint(want) || !got.deviations["C"] || len(got.deviations) != 1 || !slices.Equal(got.counts, []int{3, 1, 2}) {
		t.Errorf("parsed %+v, want known %v, deviations [C], counts [3 1 2]", got, want)
	}
	for name, bad := range map[string]string{
		"no script named":    docSection + "\n| script | difference | who matches Linux |\n| --- | --- | --- |\n| A | x | tapstack |\n",
		"listed twice":       docSection + "\n| script | difference | who matches Linux |\n| --- | --- | --- |\n| `A` | x | tapstack |\n| `A` | y | gVisor |\n",
		"unknown table":      docSection + "\n| script | difference |\n| --- | --- |\n| `A` | x |\n",
		"missing column":     docSection + "\n| script | difference | who matches Linux |\n| --- | --- | --- |\n| `A` | x |\n",
		"no section heading": "## Other\n| script | difference | who matches Linux |\n",
	} {
		if _, err := parseDocTables(bad); err == nil {
			t.Errorf("%s: parsed without an error", name)
		}
	}
}
