// Command clauses is the mutation operator gremlins lacks: it replaces each
// if-condition with true and with false, and drops each operand of every
// && and || in turn, then runs the package's tests against each such
// mutant (with go test -overlay, so the module is not copied). A mutant
// the tests do not fail "lived": a clause, or a whole condition, that no
// test guards. These are the regressions a review found getting through
// (a rule deleted, a condition made constant), where gremlins' operators
// (negation, boundaries, arithmetic) do not reach.
//
//	go run ./test/mutation/clauses ./tcp ./arp
//	go run ./test/mutation/clauses -files 'input.go|output.go' ./tcp
//
// It prints each survivor as file:line:col, what was done and the original
// text, then each package's efficacy (killed / (killed + lived)). Mutants
// that do not compile (a variable left unused) are not counted. It is slow
// and not part of CI; test/mutation.sh runs it after gremlins.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// mutant is one change to one file: the bytes [start, end) replaced by text.
type mutant struct {
	file       string // absolute path
	pos        token.Position
	start, end int
	text       string
	what       string // "condition → true", "drop right operand of &&"
	orig       string
}

type status int

const (
	killed status = iota
	lived
	timedOut
	notViable
)

func main() {
	files := flag.String("files", "", "only files whose base name matches this regexp")
	workers := flag.Int("j", max(1, runtime.NumCPU()), "mutants tested at once")
	coeff := flag.Int("timeout-coefficient", 10, "a mutant's tests may take this many times the unmutated run")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: clauses [-files regexp] [-j n] ./pkg ...")
		os.Exit(2)
	}
	var only *regexp.Regexp
	if *files != "" {
		only = regexp.MustCompile(*files)
	}
	tmp, err := os.MkdirTemp("", "clauses")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(tmp)

	type summary struct {
		pkg                           string
		killed, lived, timedOut, nonv int
	}
	var sums []summary
	for _, pkg := range flag.Args() {
		ms, err := mutants(pkg, only)
		if err != nil {
			fail(err)
		}
		start := time.Now()
		if out, err := goTest(context.Background(), pkg, ""); err != nil {
			fail(fmt.Errorf("%s: the tests fail without any mutant:\n%s", pkg, out))
		}
		budget := time.Duration(*coeff) * max(time.Since(start), time.Second)
		fmt.Fprintf(os.Stderr, "== %s: %d mutants, %v each at most\n", pkg, len(ms), budget.Round(time.Second))

		results := make([]status, len(ms))
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < *workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					results[i] = run(ms[i], pkg, filepath.Join(tmp, fmt.Sprint(i)), budget)
				}
			}()
		}
		for i := range ms {
			next <- i
		}
		close(next)
		wg.Wait()

		s := summary{pkg: pkg}
		for i, r := range results {
			m := ms[i]
			switch r {
			case killed:
				s.killed++
			case lived:
				s.lived++
				fmt.Printf("  LIVED %s/%s:%d:%d %s: %s\n", strings.TrimPrefix(pkg, "./"), filepath.Base(m.file), m.pos.Line, m.pos.Column, m.what, m.orig)
			case timedOut:
				s.timedOut++
				fmt.Printf("  TIMED OUT %s/%s:%d:%d %s: %s\n", strings.TrimPrefix(pkg, "./"), filepath.Base(m.file), m.pos.Line, m.pos.Column, m.what, m.orig)
			case notViable:
				s.nonv++
			}
		}
		sums = append(sums, s)
	}
	fmt.Println()
	fmt.Println("clause efficacy = killed / (killed + lived)")
	for _, s := range sums {
		eff := 0.0
		if s.killed+s.lived > 0 {
			eff = 100 * float64(s.killed) / float64(s.killed+s.lived)
		}
		fmt.Printf("%-12s %6.2f%%  killed %4d  lived %3d  timed out %3d  not viable %3d\n", s.pkg, eff, s.killed, s.lived, s.timedOut, s.nonv)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "clauses:", err)
	os.Exit(1)
}

// mutants lists the mutants of the package in dir pkg, in file order.
func mutants(pkg string, only *regexp.Regexp) ([]mutant, error) {
	dir, err := filepath.Abs(pkg)
	if err != nil {
		return nil, err
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []mutant
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") || (only != nil && !only.MatchString(filepath.Base(name))) {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			return nil, err
		}
		text := func(n ast.Node) string {
			return string(src[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset])
		}
		add := func(n ast.Node, repl, what string) {
			p := fset.Position(n.Pos())
			ms = append(ms, mutant{file: name, pos: p, start: p.Offset, end: fset.Position(n.End()).Offset,
				text: repl, what: what, orig: oneLine(text(n))})
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.IfStmt:
				if id, ok := n.Cond.(*ast.Ident); !ok || (id.Name != "true" && id.Name != "false") {
					add(n.Cond, "true", "condition → true")
					add(n.Cond, "false", "condition → false")
				}
			case *ast.BinaryExpr:
				if n.Op == token.LAND || n.Op == token.LOR {
					add(n, "("+text(n.X)+")", "drop right operand of "+n.Op.String())
					add(n, "("+text(n.Y)+")", "drop left operand of "+n.Op.String())
				}
			}
			return true
		})
	}
	return ms, nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

// run applies m through an overlay in dir and runs the package's tests.
func run(m mutant, pkg, dir string, budget time.Duration) status {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	src, err := os.ReadFile(m.file)
	if err != nil {
		fail(err)
	}
	mutated := append(append(append([]byte(nil), src[:m.start]...), m.text...), src[m.end:]...)
	file := filepath.Join(dir, filepath.Base(m.file))
	if err := os.WriteFile(file, mutated, 0o644); err != nil {
		fail(err)
	}
	ov, _ := json.Marshal(map[string]any{"Replace": map[string]string{m.file: file}})
	overlay := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlay, ov, 0o644); err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	out, err := goTest(ctx, pkg, overlay)
	switch {
	case ctx.Err() != nil:
		return timedOut
	case err == nil:
		return lived
	case bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")):
		return notViable // a mutant must compile before its tests count
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return killed
	}
	fail(err)
	return 0
}

func goTest(ctx context.Context, pkg, overlay string) ([]byte, error) {
	args := []string{"test", "-count=1", "-failfast"}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}
