package conformance

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Pinned transcripts. The comparison with gVisor says nothing about a
// script on the known-difference list beyond "still different", and
// nothing about a field a normalizer erases. So for each such script,
// tapstack's own transcript is pinned in testdata/tapstack/NAME.txt and
// compared exactly: every frame it sent (described field by field, with a
// hash of its normalised octets), every socket result, and inside a
// grouped step which sub-step each came after. Only what cannot be
// deterministic is normalised away: the IP ID, the ISS (sequence numbers
// are relative to it) and the TSval (drawn from the ISS, RFC 7323 §7).
//
// After a deliberate change in tapstack's behaviour, regenerate them with
//
//	go test ./test/conformance -run 'TestDifferential|TestPinned' -update
//
// and review the diff: it is the change in behaviour.
var update = flag.Bool("update", false, "rewrite test/conformance/testdata/tapstack/*.txt from tapstack's transcripts")

// pinnedDir holds the pinned transcripts.
const pinnedDir = "testdata/tapstack"

// pinnedNorms are the normalizers a pinned transcript is seen through: the
// TSval comes from the random ISS.
var pinnedNorms = []normalizer{zeroTSval}

// pinReason says why sc's tapstack transcript is pinned, "" if it is not:
// sc is a known difference, its comparison with gVisor erases a field
// (a normalizer beyond pinnedNorms), or it groups steps (so the
// comparison does not see after which one a frame was sent).
func pinReason(sc script) string {
	if kd, ok := knownDiffs[sc.name]; ok {
		return fmt.Sprintf("a known difference from gVisor (who matches Linux: %s)", kd.linux)
	}
	var hidden []string
	for _, n := range sc.normalize {
		if !slices.ContainsFunc(pinnedNorms, func(p normalizer) bool { return p.name == n.name }) {
			hidden = append(hidden, n.name)
		}
	}
	if slices.ContainsFunc(sc.steps, func(st step) bool { _, ok := st.(groupStep); return ok }) {
		hidden = append(hidden, "the timing inside grouped steps")
	}
	if hidden == nil {
		return ""
	}
	return "the comparison with gVisor hides what " + strings.Join(hidden, ", ") + " erase"
}

func pinnedPath(name string) string { return filepath.Join(pinnedDir, name+".txt") }

// renderPinned renders tapstack's transcript of sc (as play returned it)
// for its pinned file.
func renderPinned(sc script, tr transcript, why string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# tapstack's transcript of the differential script %s, pinned because %s.\n", sc.name, why)
	fmt.Fprintf(&sb, "# The stack's sequence numbers are relative to its ISS; IP ID and TSval are 0. Each frame ends\n")
	fmt.Fprintf(&sb, "# with the first octets of the SHA-256 of its normalised octets. Regenerate: go test ./test/conformance -update\n")
	tr = tr.normalized(pinnedNorms)
	steps := append([]step{learnPeerStep}, sc.steps...)
	for i, st := range steps {
		fmt.Fprintf(&sb, "step %d: %s\n", i, st)
		var recs []record
		if i < len(tr.steps) {
			recs = tr.steps[i]
		}
		g, isGroup := st.(groupStep)
		if !isGroup {
			writeRecords(&sb, "    ", recs)
			continue
		}
		for j, sub := range g.leaves() {
			fmt.Fprintf(&sb, "  after %s:\n", sub)
			writeRecords(&sb, "    ", slices.DeleteFunc(slices.Clone(recs), func(rc record) bool { return rc.sub != j }))
		}
	}
	if tr.panic != "" {
		fmt.Fprintf(&sb, "%s\n", tr.panic)
	}
	return sb.String()
}

func writeRecords(sb *strings.Builder, indent string, recs []record) {
	if len(recs) == 0 {
		fmt.Fprintf(sb, "%s(nothing)\n", indent)
	}
	for _, rc := range recs {
		if rc.frame == nil {
			fmt.Fprintf(sb, "%s%s\n", indent, rc.socket)
			continue
		}
		sum := sha256.Sum256(rc.frame)
		fmt.Fprintf(sb, "%s%s #%x\n", indent, describe(rc.frame), sum[:6])
	}
}

// checkPinned compares tapstack's transcript of sc with its pinned file
// (or, with -update, writes it).
func checkPinned(t *testing.T, sc script, tap transcript) {
	t.Helper()
	why := pinReason(sc)
	if why == "" {
		return
	}
	got := renderPinned(sc, tap, why)
	path := pinnedPath(sc.name)
	if *update {
		if err := os.MkdirAll(pinnedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("tapstack's transcript is pinned (%s) but %v; write it with -update and review it", why, err)
		return
	}
	if got != string(want) {
		t.Errorf("tapstack's transcript differs from %s (- pinned, + now); if the change is deliberate, rerun with -update and review the diff:\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff renders the lines of a and b that differ, in order: a small
// LCS diff, enough for transcripts of a few hundred lines.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// lcs[i][j] is the LCS length of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			if strings.HasPrefix(x[i], "step ") {
				fmt.Fprintf(&sb, "  %s\n", x[i]) // context: where it is
			}
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&sb, "- %s\n", x[i])
			i++
		default:
			fmt.Fprintf(&sb, "+ %s\n", y[j])
			j++
		}
	}
	return sb.String()
}

// TestPinned_FilesMatchScripts keeps testdata/tapstack honest: a file for
// every script whose transcript is pinned, and for no other (with
// -update, stray files are removed).
func TestPinned_FilesMatchScripts(t *testing.T) {
	want := map[string]bool{}
	for _, sc := range scripts() {
		if pinReason(sc) != "" {
			want[filepath.Base(pinnedPath(sc.name))] = true
		}
	}
	ents, err := os.ReadDir(pinnedDir)
	if err != nil && !(*update && os.IsNotExist(err)) {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
		if want[e.Name()] {
			continue
		}
		if *update {
			if err := os.Remove(filepath.Join(pinnedDir, e.Name())); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s/%s pins no script's transcript (no script of that name, or its transcript needs no pin); remove it (-update does)", pinnedDir, e.Name())
	}
	for name := range want {
		if !have[name] && !*update {
			t.Errorf("%s/%s is missing; write it with -update and review it", pinnedDir, name)
		}
	}
}
