package tapstack_test

import (
	"net"
	"net/netip"
	"strings"

	"github.com/tapstack/tapstack/dns"
	"golang.org/x/net/dns/dnsmessage"
)

// serveDNS answers A and AAAA questions on pc from records (names without the
// trailing dot) until pc is closed: the records' addresses, or NXDOMAIN
// for a name it does not know. It is the smallest server the examples and
// tests need; a real one would be dnsmasq.
func serveDNS(pc net.PacketConn, records map[string][]netip.Addr) {
	buf := make([]byte, 512) // RFC 1035 §4.2.1: UDP messages are 512 bytes at most
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		addrs, ok := records[strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")]
		rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
		if !ok {
			rh.RCode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(nil, rh)
		b.EnableCompression()
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		for _, a := range addrs {
			rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
			switch {
			case q.Type == dnsmessage.TypeA && a.Is4():
				b.AResource(rh, dnsmessage.AResource{A: a.As4()})
			case q.Type == dnsmessage.TypeAAAA && a.Is6():
				b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
			}
		}
		msg, err := b.Finish()
		if err != nil {
			continue
		}
		pc.WriteTo(msg, from)
	}
}

func dnsConfigHosts(h map[string][]netip.Addr) dns.Config { return dns.Config{Hosts: h} }
