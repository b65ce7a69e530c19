package main

import (
	"net/netip"
	"strings"
	"testing"
)

// ns builds a namespace listing: "tap0=tap:10.0.0.1/24" is a TAP named tap0
// with that address, "eth0=link:192.168.1.5/24,10.1.0.1/16" another kind
// of link.
func ns(forwarding bool, links ...string) nsState {
	s := nsState{forwarding: forwarding}
	for _, l := range links {
		name, rest, _ := strings.Cut(l, "=")
		kind, addrs, _ := strings.Cut(rest, ":")
		k := nsLink{name: name, tap: kind == "tap"}
		for _, a := range strings.Split(addrs, ",") {
			if a != "" {
				k.addrs = append(k.addrs, netip.MustParsePrefix(a))
			}
		}
		s.links = append(s.links, k)
	}
	return s
}

// TestClash_NamedWithFlagsThatAvoidIt: the checks before a TAP is opened,
// on namespace listings, and the flags they suggest.
func TestClash_NamedWithFlagsThatAvoidIt(t *testing.T) {
	daemon := ns(false, "lo=link:127.0.0.1/8", "tap0=tap:10.0.0.1/24")
	for _, tc := range []struct {
		name   string
		ns     nsState
		args   []string
		target string
		busy   bool     // the TAP turned out held by another process
		want   []string // substrings of the one line ("!s": s must not be in it); nil: no clash
	}{
		{"default flags next to a daemon: TAP busy", daemon, nil, "10.0.0.1", true,
			[]string{"TAP tap0 is in use by another process", "pass --tap tap1 --addr 10.0.1.2/24 --host-addr 10.0.1.1/24", "!ip_forward"}},
		{"busy, reaching the daemon: the host must forward", daemon, nil, "10.0.0.2", true,
			[]string{"pass --tap tap1 --addr 10.0.1.2/24 --host-addr 10.0.1.1/24 (10.0.0.2 is then reached through the host, which must forward: sysctl -w net.ipv4.ip_forward=1)"}},
		{"busy, the host forwards already", ns(true, "tap0=tap:10.0.0.1/24"), nil, "10.0.0.2", true,
			[]string{"pass --tap tap1 --addr 10.0.1.2/24 --host-addr 10.0.1.1/24", "!ip_forward"}},
		{"busy, reaching beyond the host: forwarding is no new need", daemon, nil, "192.0.2.9", true,
			[]string{"pass --tap tap1 --addr 10.0.1.2/24 --host-addr 10.0.1.1/24", "!ip_forward"}},
		{"busy, tap1 taken too", ns(false, "tap0=tap:10.0.0.1/24", "tap1=tap:"), nil, "", true,
			[]string{"pass --tap tap2 "}},
		{"busy, the kernel side left alone: a name only", daemon, []string{"--host-addr", ""}, "", true,
			[]string{"TAP tap0 is in use", "pass --tap tap1"}},
		{"another TAP name in the daemon's subnet", daemon, []string{"--tap", "tap7"}, "10.0.0.1", false,
			[]string{"10.0.0.0/24 is already on tap0 (10.0.0.1/24, a TAP: a running tapstack up?)", "pass --addr 10.0.1.2/24 --host-addr 10.0.1.1/24"}},
		{"the next subnet taken too", ns(false, "tap0=tap:10.0.0.1/24", "tap1=tap:10.0.1.1/24"), []string{"--tap", "tap7"}, "", false,
			[]string{"10.0.0.0/24 is already on tap0", "pass --addr 10.0.2.2/24 --host-addr 10.0.2.1/24"}},
		{"an address of another kind of link inside our subnet", ns(false, "lo=link:127.0.0.1/8,10.0.0.7/32"), nil, "", false,
			[]string{"10.0.0.0/24 is already on lo (10.0.0.7/32)", "pass --addr 10.0.1.2/24"}},
		{"other prefix lengths keep theirs", ns(false, "eth0=link:10.0.0.1/24"), []string{"--addr", "10.0.0.2/16", "--host-addr", "10.0.0.1/24"}, "", false,
			[]string{"pass --addr 10.0.1.2/16 --host-addr 10.0.1.1/24"}},
		{"no free subnet before multicast", ns(false, "eth0=link:223.255.255.1/24"), []string{"--addr", "223.255.255.2/24", "--host-addr", "223.255.255.1/24"}, "", false,
			[]string{"pass --addr and --host-addr in a subnet no interface has"}},
		{"the name is not a TAP", ns(false, "eth0=link:192.168.1.5/24"), []string{"--tap", "eth0"}, "", false,
			[]string{"--tap eth0: an interface of that name exists and is not a TAP; pass --tap tap0", "!--addr"}},
		{"the name is not a TAP and holds our subnet", ns(false, "eth0=link:10.0.0.9/24"), []string{"--tap", "eth0"}, "", false,
			[]string{"--tap eth0: an interface of that name exists and is not a TAP; pass --tap tap0 --addr 10.0.1.2/24 --host-addr 10.0.1.1/24"}},

		// No clash.
		{"an empty namespace", ns(false, "lo=link:127.0.0.1/8"), nil, "", false, nil},
		{"our own persistent TAP with the host address on it", daemon, nil, "", false, nil},
		{"a wider subnet elsewhere whose address is outside ours", ns(false, "eth0=link:10.9.9.9/8"), nil, "", false, nil},
		{"the kernel side left alone", daemon, []string{"--tap", "tap7", "--host-addr", ""}, "", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l linkFlags
			p, err := parseArgsInto(t, &l, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			target, _ := netip.ParseAddr(tc.target)
			err = tc.ns.checkClash(&l, p, target)
			if tc.busy {
				if err != nil {
					t.Fatalf("checkClash: %v, want none before the TAP is found busy", err)
				}
				err = tc.ns.busy(&l, p, target)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("%v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no clash reported")
			}
			for _, w := range tc.want {
				if not, ok := strings.CutPrefix(w, "!"); ok {
					if strings.Contains(err.Error(), not) {
						t.Errorf("%q has %q", err, not)
					}
				} else if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
		})
	}
}
