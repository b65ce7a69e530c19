package dns

import (
	"bufio"
	"bytes"
	"net/netip"
	"slices"
	"strings"
)

// ParseHosts reads the text of an /etc/hosts file (hosts(5)): on each line
// an IP address and one or more names (canonical name, then aliases), "#"
// starting a comment. As glibc does, a line whose address does not parse is
// skipped, and so is a name that is not a valid host name; addresses keep
// the file's order and a repeated address for a name is listed once.
//
// The result maps each name, lower case and without a trailing dot, to its
// addresses; it is what Config.Hosts takes.
func ParseHosts(text []byte) map[string][]netip.Addr {
	hosts := make(map[string][]netip.Addr)
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, len(text)+1) // a single line may be the whole input
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		a = a.Unmap()
		for _, name := range f[1:] {
			if !isDomainName(name) {
				continue
			}
			key := strings.TrimSuffix(strings.ToLower(name), ".")
			if !slices.Contains(hosts[key], a) {
				hosts[key] = append(hosts[key], a)
			}
		}
	}
	return hosts
}
