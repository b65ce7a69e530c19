// Package testbin helps tests that build and run the project's binaries
// (the integration and container tests).
package testbin

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// TrackSources stats every .go file of the module so that Go's test cache
// counts them as inputs of the calling test. A test that runs `go build`
// itself depends on sources its own test binary does not import; without
// this, `go test` would replay a cached pass after those sources changed.
func TrackSources() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return err
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum") {
			_, err = os.Stat(path)
		}
		return err
	})
}
