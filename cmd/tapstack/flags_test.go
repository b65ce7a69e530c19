package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestLinkFlags_LimitsValidated(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for no error
	}{
		{nil, ""},
		{[]string{"--tcp-mem", "0", "--max-conns", "1"}, ""},
		{[]string{"--tcp-mem", "-1"}, "--tcp-mem -1"},
		{[]string{"--max-conns", "0"}, "--max-conns 0"},
		{[]string{"--mtu", "67"}, "--mtu 67"},
	} {
		var l linkFlags
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		l.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		_, err := l.parse()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want no error", tc.args, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%v: %v, want an error starting %q", tc.args, err, tc.want)
		}
	}
}
