package dns

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Wire sizes.
const (
	// maxUDPReply is the receive buffer for a UDP reply. We send no EDNS
	// OPT record (RFC 6891), so a conforming server sends at most 512
	// octets (RFC 1035 §4.2.1) and sets TC beyond; the margin takes a
	// server that sends more anyway.
	maxUDPReply = 4096
	// maxCNAMEHops bounds a CNAME chain, within one reply and across the
	// queries that follow it (RFC 1034 §3.6.2 warns of loops; unbound
	// restarts at most 11 times, Go's resolver follows one reply's chain).
	maxCNAMEHops = 8
)

// Reasons a reply is not taken.
var (
	// errMismatch is a reply that does not answer our query: another ID,
	// not a response, or another question. RFC 5452 §9.1: such a reply is
	// dropped and we keep waiting for ours.
	errMismatch = errors.New("dns: reply does not match the query")
	// errMalformed is a reply that does not parse.
	errMalformed = errors.New("dns: malformed reply")
)

// buildQuery encodes a standard query (RFC 1035 §4.1.1: opcode QUERY, RD
// set since we are a stub asking a recursive server, one question).
func buildQuery(id uint16, q dnsmessage.Question) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	msg, err := b.Finish()
	if err != nil {
		return nil, err
	}
	return msg[2:], nil // the two bytes reserved for TCP's length prefix
}

// rr is one answer record we use.
type rr struct {
	name   string // canonical owner name
	typ    dnsmessage.Type
	ttl    time.Duration
	addr   netip.Addr // A, AAAA
	target string     // CNAME, canonical
}

// reply is a parsed reply to our query.
type reply struct {
	rcode     dnsmessage.RCode
	truncated bool
	answers   []rr
	// negTTL is the negative-caching TTL from the authority section's SOA,
	// valid when hasSOA (RFC 2308 §5).
	negTTL time.Duration
	hasSOA bool
}

// ttl converts a record's TTL. RFC 2181 §8: a value with the top bit set
// is treated as zero.
func ttl(v uint32) time.Duration {
	if v > 1<<31-1 {
		return 0
	}
	return time.Duration(v) * time.Second
}

// parseReply checks b against the query (ID and question, RFC 5452 §9.1)
// and parses what a stub needs: the rcode, TC, the A, AAAA and CNAME
// answers, and the SOA in the authority section. errMismatch means not
// ours; errMalformed that it does not parse. Other record types are
// skipped; the additional section is not read (RFC 5452 §6: a stub takes
// nothing it did not ask for).
func parseReply(b []byte, id uint16, q dnsmessage.Question) (reply, error) {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil {
		return reply{}, errMalformed
	}
	if h.ID != id || !h.Response || h.OpCode != 0 {
		return reply{}, errMismatch
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return reply{}, errMalformed
	}
	// RFC 5452 §9.1 and RFC 1035 §7.3: the question must be the one asked;
	// names compare case-insensitively (RFC 4343).
	if len(qs) != 1 || qs[0].Type != q.Type || qs[0].Class != q.Class ||
		!strings.EqualFold(qs[0].Name.String(), q.Name.String()) {
		return reply{}, errMismatch
	}
	r := reply{rcode: h.RCode, truncated: h.Truncated}
	if r.truncated {
		// RFC 2181 §9: a truncated reply's records are not used; we ask
		// again over TCP.
		return r, nil
	}
	for {
		ah, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return reply{}, errMalformed
		}
		x := rr{name: strings.ToLower(ah.Name.String()), typ: ah.Type, ttl: ttl(ah.TTL)}
		switch {
		case ah.Class != dnsmessage.ClassINET:
			err = p.SkipAnswer()
		case ah.Type == dnsmessage.TypeA:
			var a dnsmessage.AResource
			if a, err = p.AResource(); err == nil {
				x.addr = netip.AddrFrom4(a.A)
				r.answers = append(r.answers, x)
			}
		case ah.Type == dnsmessage.TypeAAAA:
			var a dnsmessage.AAAAResource
			if a, err = p.AAAAResource(); err == nil {
				x.addr = netip.AddrFrom16(a.AAAA)
				r.answers = append(r.answers, x)
			}
		case ah.Type == dnsmessage.TypeCNAME:
			var c dnsmessage.CNAMEResource
			if c, err = p.CNAMEResource(); err == nil {
				x.target = strings.ToLower(c.CNAME.String())
				r.answers = append(r.answers, x)
			}
		default:
			err = p.SkipAnswer()
		}
		if err != nil {
			return reply{}, errMalformed
		}
	}
	for {
		ah, err := p.AuthorityHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return reply{}, errMalformed
		}
		if ah.Type != dnsmessage.TypeSOA || ah.Class != dnsmessage.ClassINET || r.hasSOA {
			if err := p.SkipAuthority(); err != nil {
				return reply{}, errMalformed
			}
			continue
		}
		soa, err := p.SOAResource()
		if err != nil {
			return reply{}, errMalformed
		}
		// RFC 2308 §5: the negative TTL is the lesser of the SOA record's
		// own TTL and its MINIMUM field.
		r.negTTL, r.hasSOA = min(ttl(ah.TTL), ttl(soa.MinTTL)), true
	}
	return r, nil
}

// follow walks the answers from name along CNAMEs (RFC 1034 §3.6.2) to
// the records of type qtype. It returns their addresses and the least TTL
// of every record used (RFC 2181 §5.2); or, when the chain leaves the
// answers without reaching any, the name to ask for next (next != "").
// hops counts the CNAMEs taken; more than budget is a loop or too long.
func follow(answers []rr, name string, qtype dnsmessage.Type, budget int) (addrs []netip.Addr, least time.Duration, next string, hops int, ok bool) {
	least = maxTTL
	for {
		var cname *rr
		for i := range answers {
			a := &answers[i]
			switch {
			case a.name != name:
			case a.typ == qtype:
				if !slices.Contains(addrs, a.addr) {
					addrs = append(addrs, a.addr)
				}
				least = min(least, a.ttl)
			case a.typ == dnsmessage.TypeCNAME && cname == nil:
				cname = a
			}
		}
		if len(addrs) > 0 {
			return addrs, least, "", hops, true
		}
		if cname == nil {
			return nil, least, "", hops, true
		}
		if hops++; hops > budget {
			return nil, 0, "", hops, false
		}
		least = min(least, cname.ttl)
		name = cname.target
		if !hasOwner(answers, name) {
			return nil, least, name, hops, true
		}
	}
}

func hasOwner(answers []rr, name string) bool {
	for _, a := range answers {
		if a.name == name {
			return true
		}
	}
	return false
}
