package dns_test

import (
	"slices"
	"testing"

	"github.com/tapstack/tapstack/dns"
)

func TestParseHosts_AsGlibc(t *testing.T) {
	text := "# /etc/hosts\n" +
		"127.0.0.1\tlocalhost\n" +
		"10.0.0.1   router.lan  Router gw # the gateway\n" +
		"10.0.0.2 gw\n" +
		"10.0.0.1 router\n" + // repeated: listed once
		"::ffff:10.0.0.3 mapped\n" + // an IPv4-mapped address is IPv4
		"300.0.0.1 badaddr\n" + // unparsable address: line skipped
		"10.0.0.4\n" + // no name
		"10.0.0.5 good bad_name.ok -bad\n" +
		"  # indented comment\n" +
		"2001:db8::1 router.lan"
	want := map[string][]string{
		"localhost":   {"127.0.0.1"},
		"router.lan":  {"10.0.0.1", "2001:db8::1"},
		"router":      {"10.0.0.1"},
		"gw":          {"10.0.0.1", "10.0.0.2"},
		"mapped":      {"10.0.0.3"},
		"good":        {"10.0.0.5"},
		"bad_name.ok": {"10.0.0.5"},
	}
	got := dns.ParseHosts([]byte(text))
	if len(got) != len(want) {
		t.Errorf("got %d names %v, want %d", len(got), got, len(want))
	}
	for name, addrs := range want {
		var as []string
		for _, a := range got[name] {
			as = append(as, a.String())
		}
		if !slices.Equal(as, addrs) {
			t.Errorf("%s: %v, want %v", name, as, addrs)
		}
	}
	if got["badaddr"] != nil || got["-bad"] != nil {
		t.Error("kept an entry with a bad address or name")
	}
}
