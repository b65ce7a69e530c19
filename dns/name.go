package dns

import (
	"strings"
)

// RFC 1035 §2.3.4 size limits.
const (
	maxLabelLen = 63
	// maxNameLen is the longest name in text form without the root's dot:
	// 255 octets on the wire (length bytes and the root label included)
	// leave 253 characters.
	maxNameLen = 253
)

// isDomainName reports whether s is a host name we ask for: RFC 1035
// §2.3.1's letters, digits and hyphens, with underscores also allowed as
// Go's net package and glibc allow them (service labels, RFC 2782), labels
// of 1 to 63 octets, a trailing dot allowed, 253 octets at most without it.
// Deviation (Go compat): a label may start or end with a digit (RFC 1123
// §2.1) and an all-numeric last label is refused by neither.
func isDomainName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > maxLabelLen {
			return false
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			default:
				return false
			}
		}
	}
	return true
}

// canonical is the form names are compared and cached in: lower case (RFC
// 4343: DNS names compare case-insensitively) with the trailing dot.
func canonical(s string) string {
	s = strings.ToLower(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// candidates lists the fully qualified names a lookup of name tries, in
// order, as resolv.conf(5) describes: a name ending in a dot is absolute;
// otherwise, with at least ndots dots it is tried as given first and then
// with each search domain, with fewer it is tried with the search domains
// first and as given last.
func candidates(name string, search []string, ndots int) []string {
	if strings.HasSuffix(name, ".") {
		return []string{canonical(name)}
	}
	asIs := canonical(name)
	var out []string
	if strings.Count(name, ".") >= ndots {
		out = append(out, asIs)
	}
	for _, d := range search {
		fq := canonical(name + "." + strings.TrimSuffix(d, "."))
		if len(fq)-1 <= maxNameLen {
			out = append(out, fq)
		}
	}
	if strings.Count(name, ".") < ndots {
		out = append(out, asIs)
	}
	return out
}
