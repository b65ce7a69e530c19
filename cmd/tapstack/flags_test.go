package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// parseArgs registers the link flags, parses args and validates them.
func parseArgs(t *testing.T, args []string) (parsed, error) {
	t.Helper()
	var l linkFlags
	return parseArgsInto(t, &l, args)
}

// parseArgsInto is parseArgs into l.
func parseArgsInto(t *testing.T, l *linkFlags, args []string) (parsed, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return l.parse()
}

func TestLinkFlags_LimitsValidated(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for no error
	}{
		{nil, ""},
		{[]string{"--tcp-mem", "0", "--max-conns", "1"}, ""},
		{[]string{"--tcp-mem", "-1"}, "--tcp-mem -1"},
		{[]string{"--max-conns", "0"}, "--max-conns 0"},
		{[]string{"--congestion", "reno"}, ""},
		{[]string{"--congestion", "vegas"}, `--congestion "vegas"`},
		{[]string{"--mtu", "67"}, "--mtu 67"},
		{[]string{"--mtu", "65522"}, "--mtu 65522: above a TAP's maximum of 65521"},
		{[]string{"--tun", "tun0", "--mtu", "65535"}, ""}, // a TUN has no Ethernet header
		{[]string{"--tun", "tun0", "--mtu", "65536"}, "--mtu 65536: above a TUN's maximum of 65535"},
		{[]string{"--tun", "tun0", "--tap", "tap1"}, "--tap tap1 and --tun tun0: the stack runs on one device"},
		{[]string{"--ecn", "off"}, ""},
		{[]string{"--ecn", "passive"}, ""},
		{[]string{"--ecn", "1"}, `--ecn "1": want one of on, passive, off`},
		{[]string{"--offload", "off"}, ""},
		{[]string{"--offload", "on"}, ""},
		{[]string{"--offload", "yes"}, `--offload "yes": want auto, on or off`},
		{[]string{"--tun", "tun0", "--offload", "on"}, "--offload on and --tun tun0: offloads are for a TAP"},
		{[]string{"--tun", "tun0", "--offload", "auto"}, ""},
	} {
		_, err := parseArgs(t, tc.args)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want no error", tc.args, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%v: %v, want an error starting %q", tc.args, err, tc.want)
		}
	}
}

// TestLinkFlags_RefusedWithWhatToPass: every link flag value the stack
// cannot serve, or that would start a daemon nobody can reach, is refused
// with one line naming the flag, the reason and what to pass instead.
func TestLinkFlags_RefusedWithWhatToPass(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the one-line error
	}{
		// MTU: IPv4's minimum (RFC 791) and the TAP's maximum, 65535
		// less the Ethernet header, which the kernel enforces.
		{"MTU below IPv4's minimum", []string{"--mtu", "67"}, []string{"--mtu 67", "minimum of 68", "pass 68 to 65521"}},
		{"MTU above a TAP's maximum", []string{"--mtu", "65522"}, []string{"--mtu 65522", "maximum of 65521", "pass 68 to 65521"}},
		{"MTU 65535", []string{"--mtu", "65535"}, []string{"--mtu 65535", "maximum of 65521"}},

		// --addr: no host's address.
		{"addr /0", []string{"--addr", "10.0.0.2/0"}, []string{"--addr 10.0.0.2/0", "/0", "pass", "10.0.0.2/24"}},
		{"addr unspecified", []string{"--addr", "0.0.0.0/24"}, []string{"--addr 0.0.0.0/24", "unspecified", "pass", "10.0.0.2/24"}},
		{"addr in 0.0.0.0/8", []string{"--addr", "0.0.0.2/24", "--host-addr", "0.0.0.1/24"}, []string{"--addr 0.0.0.2/24", "0.0.0.0/8", "pass", "10.0.0.2/24"}},
		{"addr loopback", []string{"--addr", "127.0.0.2/8", "--host-addr", "127.0.0.1/8"}, []string{"--addr 127.0.0.2/8", "loopback", "pass"}},
		{"addr multicast", []string{"--addr", "224.0.0.2/24", "--host-addr", "224.0.0.1/24"}, []string{"--addr 224.0.0.2/24", "multicast", "pass"}},
		{"addr limited broadcast", []string{"--addr", "255.255.255.255/24"}, []string{"--addr 255.255.255.255/24", "limited broadcast", "pass", "10.0.0.2/24"}},
		{"addr subnet broadcast", []string{"--addr", "10.0.0.255/24"}, []string{"--addr 10.0.0.255/24", "broadcast address of 10.0.0.0/24", "pass", "10.0.0.2/24"}},
		{"addr network address", []string{"--addr", "10.0.0.0/24"}, []string{"--addr 10.0.0.0/24", "network address", "pass", "10.0.0.2/24"}},
		{"addr network address /16", []string{"--addr", "10.1.0.0/16", "--host-addr", "10.1.0.1/16"}, []string{"--addr 10.1.0.0/16", "network address", "10.1.0.2/16"}},

		// --pcap-segmented only says how --pcap records.
		{"pcap-segmented without pcap", []string{"--pcap-segmented"}, []string{"--pcap-segmented", "pass --pcap FILE"}},

		// --host-addr: the same rules.
		{"host-addr multicast", []string{"--host-addr", "239.1.1.1/24"}, []string{"--host-addr 239.1.1.1/24", "multicast", "pass"}},
		{"host-addr broadcast", []string{"--host-addr", "10.0.0.255/24"}, []string{"--host-addr 10.0.0.255/24", "broadcast", "10.0.0.1/24"}},
		{"host-addr network address", []string{"--host-addr", "10.0.0.0/24"}, []string{"--host-addr 10.0.0.0/24", "network address", "10.0.0.1/24"}},
		{"host-addr /0", []string{"--host-addr", "10.0.0.1/0"}, []string{"--host-addr 10.0.0.1/0", "/0"}},

		// The two ends of the link.
		{"same address", []string{"--addr", "10.0.0.1/24"}, []string{"--host-addr 10.0.0.1/24", "--addr", "differ", "pass"}},
		{"addr outside host-addr's subnet", []string{"--addr", "10.0.1.2/24"}, []string{"--addr 10.0.1.2/24", "outside", "10.0.0.0/24", "pass", "--addr 10.0.0.2/24", `--host-addr ""`}},
		{"host-addr outside addr's subnet", []string{"--addr", "10.0.0.2/32"}, []string{"--host-addr 10.0.0.1/24", "outside", "10.0.0.2/32", "--addr 10.0.0.2/24"}},

		// --gateway: an on-link unicast address that is not our own.
		{"gateway off-link", []string{"--gateway", "192.168.1.1"}, []string{"--gateway 192.168.1.1", "not in", "10.0.0.0/24", "pass"}},
		{"gateway is addr", []string{"--gateway", "10.0.0.2"}, []string{"--gateway 10.0.0.2", "own address", "pass"}},
		{"gateway broadcast", []string{"--gateway", "10.0.0.255"}, []string{"--gateway 10.0.0.255", "broadcast", "pass"}},
		{"gateway multicast", []string{"--gateway", "224.0.0.1"}, []string{"--gateway 224.0.0.1", "multicast"}},
		{"gateway unspecified", []string{"--gateway", "0.0.0.0"}, []string{"--gateway 0.0.0.0", "unspecified"}},

		// --addr dhcp: the router comes from the lease.
		{"dhcp with a gateway", []string{"--addr", "dhcp", "--gateway", "10.0.0.254"}, []string{"--gateway 10.0.0.254", "from the lease", "leave --gateway out"}},
		{"dhcp on a TUN", []string{"--addr", "dhcp", "--tun", "tun0"}, []string{"--addr dhcp and --tun tun0", "broadcast", "pass --addr"}},
		{"addr neither prefix nor dhcp", []string{"--addr", "DHCP"}, []string{`--addr "DHCP"`, "10.0.0.2/24", `or "dhcp"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseArgs(t, tc.args)
			if err == nil {
				t.Fatalf("%v accepted", tc.args)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !strings.HasPrefix(msg, tc.want[0]) {
				t.Errorf("%q does not start with %q", msg, tc.want[0])
			}
			for _, w := range tc.want[1:] {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
		})
	}
}

// TestLinkFlags_Accepted: the edges of what is served.
func TestLinkFlags_Accepted(t *testing.T) {
	for _, args := range [][]string{
		{"--mtu", "68"},
		{"--mtu", "65521"},
		{"--addr", "10.0.0.1/31", "--host-addr", "10.0.0.0/31"}, // RFC 3021: both ends of a /31 are hosts
		{"--addr", "192.168.7.254/24", "--host-addr", "192.168.7.1/24"},
		{"--addr", "10.0.0.2/24", "--host-addr", "10.0.0.1/16"}, // each inside the other's subnet
		{"--addr", "10.0.0.2/24", "--host-addr", "", "--gateway", "10.0.0.254"},
		{"--addr", "10.0.0.2/24", "--host-addr", ""}, // no default route: the kernel side is the user's
		{"--gateway", "10.0.0.254"},
	} {
		if _, err := parseArgs(t, args); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	// --addr dhcp: no address, no gateway (the lease brings them), whatever
	// --host-addr is.
	for _, args := range [][]string{{"--addr", "dhcp"}, {"--addr", "dhcp", "--host-addr", ""}, {"--addr", "dhcp", "--host-addr", "192.168.9.1/24"}} {
		p, err := parseArgs(t, args)
		if err != nil || !p.dhcp || p.addr.IsValid() || p.gateway.IsValid() {
			t.Errorf("%v: %+v, %v; want dhcp, no address, no gateway", args, p, err)
		}
	}
	// The default route defaults to the host side.
	p, err := parseArgs(t, nil)
	if err != nil || p.gateway.String() != "10.0.0.1" {
		t.Errorf("defaults: gateway %v, err %v; want 10.0.0.1", p.gateway, err)
	}
}
