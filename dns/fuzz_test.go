package dns

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// seedReply packs a reply to q with the given answers.
func seedReply(id uint16, q dnsmessage.Question, rcode dnsmessage.RCode, tc bool, answers ...dnsmessage.Resource) []byte {
	m := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, Response: true, RCode: rcode, Truncated: tc},
		Questions: []dnsmessage.Question{q},
		Answers:   answers,
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzParseReply feeds arbitrary bytes as the reply to a query for
// www.example.test A: never a panic, and what is accepted is consistent.
func FuzzParseReply(f *testing.F) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("www.example.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	h := func(name string, typ dnsmessage.Type) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET, TTL: 60}
	}
	f.Add(seedReply(7, q, dnsmessage.RCodeSuccess, false,
		dnsmessage.Resource{Header: h("www.example.test.", dnsmessage.TypeCNAME), Body: &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("a.example.test.")}},
		dnsmessage.Resource{Header: h("a.example.test.", dnsmessage.TypeA), Body: &dnsmessage.AResource{A: [4]byte{10, 0, 0, 1}}}))
	f.Add(seedReply(7, q, dnsmessage.RCodeNameError, false))
	f.Add(seedReply(7, q, dnsmessage.RCodeSuccess, true))
	f.Add(seedReply(7, q, dnsmessage.RCodeSuccess, true, // TC with a partial answer
		dnsmessage.Resource{Header: h("www.example.test.", dnsmessage.TypeA), Body: &dnsmessage.AResource{A: [4]byte{10, 0, 0, 1}}}))
	f.Add([]byte{0, 7, 0x80, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := parseReply(b, 7, q)
		if err != nil {
			if err != errMismatch && err != errMalformed {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if rep.truncated && len(rep.answers) > 0 {
			t.Fatal("answers taken from a truncated reply")
		}
		for _, a := range rep.answers {
			if a.name != strings.ToLower(a.name) || a.ttl < 0 || a.ttl > 1<<31*1e9 {
				t.Fatalf("answer %+v not normalised", a)
			}
		}
		addrs, least, next, hops, ok := follow(rep.answers, "www.example.test.", dnsmessage.TypeA, maxCNAMEHops)
		if !ok {
			return
		}
		if hops > maxCNAMEHops || least > maxTTL || (len(addrs) > 0 && next != "") {
			t.Fatalf("follow: %v %v %q %d", addrs, least, next, hops)
		}
		for _, a := range addrs {
			if !a.Is4() {
				t.Fatalf("an A answer gave %v", a)
			}
		}
	})
}

// FuzzParseHosts: never a panic; every entry is a valid lower-case name
// with addresses, none repeated.
func FuzzParseHosts(f *testing.F) {
	f.Add([]byte("127.0.0.1 localhost\n::1 localhost ip6-localhost # comment\n10.0.0.1\tRouter.LAN. router\n"))
	f.Add([]byte("# only a comment\nnot-an-address host\n10.0.0.300 bad\n"))
	f.Add([]byte("fe80::1%eth0 link\n::ffff:10.0.0.1 mapped\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for name, addrs := range ParseHosts(b) {
			if !isDomainName(name) || name != strings.ToLower(name) || strings.HasSuffix(name, ".") {
				t.Fatalf("entry %q is not a canonical host name", name)
			}
			if len(addrs) == 0 {
				t.Fatalf("entry %q without addresses", name)
			}
			seen := map[netip.Addr]bool{}
			for _, a := range addrs {
				if !a.IsValid() || a.Is4In6() || seen[a] {
					t.Fatalf("entry %q: addresses %v", name, addrs)
				}
				seen[a] = true
			}
		}
	})
}
