package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// resolv.conf(5) defaults and glibc's bound (resolv/resolv.h).
const (
	// DefaultTimeout is how long one query waits for a reply: resolv.conf's
	// timeout:5 (RES_TIMEOUT).
	DefaultTimeout = 5 * time.Second
	// DefaultAttempts is how many rounds of queries go to the servers:
	// resolv.conf's attempts:2 (RES_DFLRETRY).
	DefaultAttempts = 2
	// DefaultNdots is resolv.conf's ndots:1.
	DefaultNdots = 1
	// maxNdots is glibc's cap on ndots (RES_MAXNDOTS).
	maxNdots = 15
)

// DialFunc opens a connection to address ("ip:port") over network "udp" or
// "tcp": socket.DialContext bound to a stack, or net.Dialer.DialContext.
// Its connections' deadlines must run on the clock Config.Now reads.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Config configures a Resolver. The zero value of each field but Servers
// means the resolv.conf default.
type Config struct {
	// Servers are the recursive servers, tried in order (resolv.conf's
	// nameserver lines). At least one is required.
	Servers []netip.AddrPort
	// Search are the search domains (resolv.conf's search).
	Search []string
	// Ndots is the number of dots from which a name is tried as given
	// before the search domains: 0 means the default 1; a negative value
	// means ndots:0 (always as given first). At most 15, as glibc.
	Ndots int
	// Timeout is how long each query waits for its reply; 0 means 5s.
	Timeout time.Duration
	// Attempts is how many rounds over Servers a query makes; 0 means 2.
	Attempts int
	// Rotate starts each query's round at the next server instead of the
	// first, spreading load (resolv.conf's options rotate).
	Rotate bool
	// Hosts are static entries, consulted before the servers, as
	// /etc/hosts: names (case-insensitive, no trailing dot) to addresses.
	// ParseHosts reads the file format.
	Hosts map[string][]netip.Addr
	// CacheSize bounds the cache, in names; 0 means DefaultCacheSize, a
	// negative value turns the cache off.
	CacheSize int
	// Now reads the clock for TTLs and query deadlines; nil means
	// time.Now.
	Now func() time.Time
}

// Stats counts a Resolver's work since New. Each field only grows.
type Stats struct {
	Queries      uint64 // queries sent, UDP and TCP
	Retries      uint64 // queries sent again, to the same or another server
	Timeouts     uint64 // queries that got no (complete) reply in time
	TCPFallbacks uint64 // truncated UDP replies asked again over TCP
	CacheHits    uint64 // questions answered from the cache
	CacheMisses  uint64 // questions the cache could not answer
	Mismatched   uint64 // replies dropped: wrong ID or question (RFC 5452)
	Malformed    uint64 // replies dropped: unparsable
}

// Resolver is a stub resolver. Safe for concurrent use.
type Resolver struct {
	servers  []netip.AddrPort
	search   []string
	ndots    int
	timeout  time.Duration
	attempts int
	rotate   bool
	hosts    map[string][]netip.Addr
	cache    *cache
	now      func() time.Time
	dial     DialFunc

	next  atomic.Uint32 // Rotate's next first server
	stats struct {
		queries, retries, timeouts, tcpFallbacks atomic.Uint64
		cacheHits, cacheMisses                   atomic.Uint64
		mismatched, malformed                    atomic.Uint64
	}
}

// New returns a resolver asking cfg.Servers through dial.
func New(cfg Config, dial DialFunc) (*Resolver, error) {
	if dial == nil {
		return nil, errors.New("dns: no DialFunc: pass one, such as a stack's socket.DialContext")
	}
	if len(cfg.Servers) == 0 {
		return nil, errors.New("dns: no servers: Config.Servers needs at least one address:port")
	}
	for _, s := range cfg.Servers {
		if !s.IsValid() || s.Port() == 0 || s.Addr().IsUnspecified() {
			return nil, fmt.Errorf("dns: server %v: want an address and a port, such as 10.0.0.1:53", s)
		}
	}
	for _, d := range cfg.Search {
		if !isDomainName(d) {
			return nil, fmt.Errorf("dns: search domain %q is not a valid domain name", d)
		}
	}
	if cfg.Timeout < 0 || cfg.Attempts < 0 {
		return nil, errors.New("dns: Timeout and Attempts must not be negative (0 means the default)")
	}
	r := &Resolver{
		servers:  append([]netip.AddrPort(nil), cfg.Servers...),
		search:   append([]string(nil), cfg.Search...),
		ndots:    cfg.Ndots,
		timeout:  cfg.Timeout,
		attempts: cfg.Attempts,
		rotate:   cfg.Rotate,
		hosts:    make(map[string][]netip.Addr, len(cfg.Hosts)),
		now:      cfg.Now,
		dial:     dial,
	}
	switch {
	case r.ndots == 0:
		r.ndots = DefaultNdots
	case r.ndots < 0:
		r.ndots = 0
	case r.ndots > maxNdots:
		r.ndots = maxNdots
	}
	if r.timeout == 0 {
		r.timeout = DefaultTimeout
	}
	if r.attempts == 0 {
		r.attempts = DefaultAttempts
	}
	if r.now == nil {
		r.now = time.Now
	}
	for name, as := range cfg.Hosts {
		r.hosts[strings.TrimSuffix(strings.ToLower(name), ".")] = append([]netip.Addr(nil), as...)
	}
	switch {
	case cfg.CacheSize == 0:
		r.cache = newCache(DefaultCacheSize)
	case cfg.CacheSize > 0:
		r.cache = newCache(cfg.CacheSize)
	}
	return r, nil
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	s := &r.stats
	return Stats{
		Queries: s.queries.Load(), Retries: s.retries.Load(), Timeouts: s.timeouts.Load(),
		TCPFallbacks: s.tcpFallbacks.Load(), CacheHits: s.cacheHits.Load(), CacheMisses: s.cacheMisses.Load(),
		Mismatched: s.mismatched.Load(), Malformed: s.malformed.Load(),
	}
}

// LookupHost returns host's addresses as strings, as net.Resolver's.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	as, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out, nil
}

// queryTypes maps a network to the record types asked for, in the order
// their addresses are returned.
func queryTypes(network string) ([]dnsmessage.Type, error) {
	switch network {
	case "ip":
		// Both families, as Go's resolver asks for "ip"; the caller orders
		// them (RFC 6724 §6 needs the host's source addresses, which a
		// stub resolver does not know). Asked one after the other, not in
		// parallel as Go's: the second is usually an answer from the same
		// server's cache.
		return []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}, nil
	case "ip4":
		return []dnsmessage.Type{dnsmessage.TypeA}, nil
	case "ip6":
		return []dnsmessage.Type{dnsmessage.TypeAAAA}, nil
	}
	return nil, net.UnknownNetworkError(network)
}

// ofType keeps the addresses of qtype's family.
func ofType(as []netip.Addr, qtype dnsmessage.Type) []netip.Addr {
	var out []netip.Addr
	for _, a := range as {
		if a.Is4() == (qtype == dnsmessage.TypeA) {
			out = append(out, a)
		}
	}
	return out
}

// LookupNetIP returns host's addresses for network "ip", "ip4" or "ip6",
// as net.Resolver's: an IP literal is returned as is, then the static
// entries are consulted, then the cache and the servers for each name of
// the search list.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	qtypes, err := queryTypes(network)
	if err != nil {
		return nil, err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		var out []netip.Addr
		for _, t := range qtypes {
			out = append(out, ofType([]netip.Addr{a.Unmap()}, t)...)
		}
		if len(out) == 0 {
			return nil, &net.DNSError{Err: errNoSuitable, Name: host, IsNotFound: true}
		}
		return out, nil
	}
	// As Go's resolver: an invalid name is simply not found (RFC 1123
	// §2.1 names only; nothing goes on the wire).
	if !isDomainName(host) {
		return nil, &net.DNSError{Err: errNoSuchHost, Name: host, IsNotFound: true}
	}
	if as := r.hosts[strings.TrimSuffix(strings.ToLower(host), ".")]; len(as) > 0 {
		var out []netip.Addr
		for _, t := range qtypes {
			out = append(out, ofType(as, t)...)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	var firstErr *net.DNSError
	for _, fq := range candidates(host, r.search, r.ndots) {
		var out []netip.Addr
		for _, t := range qtypes {
			as, err := r.lookupName(ctx, fq, t)
			if err != nil && !err.IsNotFound {
				err.Name = host
				if ctx.Err() != nil {
					return nil, err
				}
				if firstErr == nil || firstErr.IsNotFound {
					firstErr = err
				}
			}
			out = append(out, as...)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, &net.DNSError{Err: errNoSuchHost, Name: host, IsNotFound: true}
}

// The net package's error texts.
const (
	errNoSuchHost         = "no such host"
	errNoSuitable         = "no suitable address found"
	errServerMisbehaving  = "server misbehaving"
	errCNAMEChainTooLong  = "CNAME chain too long"
	errInvalidDNSResponse = "invalid DNS response"
)

// lookupName answers one fully qualified name and type from the cache or
// the servers, following CNAMEs, and caches the result.
func (r *Resolver) lookupName(ctx context.Context, fqdn string, qtype dnsmessage.Type) ([]netip.Addr, *net.DNSError) {
	key := cacheKey{fqdn, qtype}
	if e, ok := r.cache.get(key, r.now()); ok {
		r.stats.cacheHits.Add(1)
		if len(e.addrs) == 0 {
			return nil, &net.DNSError{Err: errNoSuchHost, Name: fqdn, IsNotFound: true}
		}
		return append([]netip.Addr(nil), e.addrs...), nil
	}
	if r.cache != nil {
		r.stats.cacheMisses.Add(1)
	}
	name, least, hops := fqdn, maxTTL, 0
	for {
		rep, server, err := r.exchange(ctx, name, qtype)
		if err != nil {
			return nil, err
		}
		if rep.rcode == dnsmessage.RCodeNameError {
			r.putNegative(key, rep, least)
			return nil, &net.DNSError{Err: errNoSuchHost, Name: fqdn, Server: server, IsNotFound: true}
		}
		addrs, l, next, h, ok := follow(rep.answers, name, qtype, maxCNAMEHops-hops)
		if !ok {
			return nil, &net.DNSError{Err: errCNAMEChainTooLong, Name: fqdn, Server: server}
		}
		least, hops = min(least, l), hops+h
		if len(addrs) > 0 {
			r.cache.put(cacheEntry{key: key, addrs: addrs, expires: r.now().Add(least)}, r.now())
			return append([]netip.Addr(nil), addrs...), nil
		}
		if next == "" {
			// No data (RFC 2308 §2.2): the name exists without records of
			// this type.
			r.putNegative(key, rep, least)
			return nil, &net.DNSError{Err: errNoSuchHost, Name: fqdn, Server: server, IsNotFound: true}
		}
		// The chain leads out of this reply: ask for its end (RFC 1034
		// §5.3.3 step 3).
		name = next
	}
}

// putNegative caches a negative answer for the SOA's negative TTL,
// bounded (RFC 2308 §5); without an SOA it is not cached (RFC 2308 §5: "
// SHOULD NOT be cached").
func (r *Resolver) putNegative(key cacheKey, rep reply, least time.Duration) {
	if !rep.hasSOA {
		return
	}
	d := min(rep.negTTL, least, maxNegativeTTL)
	r.cache.put(cacheEntry{key: key, expires: r.now().Add(d)}, r.now())
}

// exchange asks the servers for name and qtype: Attempts rounds over the
// servers in order (resolv.conf(5)), each query waiting Timeout. A reply
// with NOERROR or NXDOMAIN ends it; SERVFAIL, REFUSED and the like, a
// timeout or a network error move on to the next server.
func (r *Resolver) exchange(ctx context.Context, name string, qtype dnsmessage.Type) (reply, string, *net.DNSError) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: qtype, Class: dnsmessage.ClassINET}
	start := 0
	if r.rotate {
		start = int((r.next.Add(1) - 1) % uint32(len(r.servers)))
	}
	var last *net.DNSError
	sent := false
	for range r.attempts {
		for i := range r.servers {
			srv := r.servers[(start+i)%len(r.servers)]
			if sent {
				r.stats.retries.Add(1)
			}
			sent = true
			rep, err := r.tryServer(ctx, srv, q)
			if err == nil {
				switch rep.rcode {
				case dnsmessage.RCodeSuccess, dnsmessage.RCodeNameError:
					return rep, srv.String(), nil
				case dnsmessage.RCodeServerFailure:
					// As Go: SERVFAIL is temporary, other rcodes are not.
					last = &net.DNSError{Err: errServerMisbehaving, Name: name, Server: srv.String(), IsTemporary: true}
				default:
					last = &net.DNSError{Err: errServerMisbehaving, Name: name, Server: srv.String()}
				}
				continue
			}
			last = err
			if ctx.Err() != nil {
				return reply{}, "", last
			}
		}
	}
	return reply{}, "", last
}

// aLongTimeAgo is a deadline in the past: it ends a blocked call now.
var aLongTimeAgo = time.Unix(1, 0)

// tryServer sends one query to srv over UDP, and again over TCP if the
// reply was truncated (RFC 1035 §4.2.2; RFC 7766 §5: a stub must fall back
// to TCP).
func (r *Resolver) tryServer(ctx context.Context, srv netip.AddrPort, q dnsmessage.Question) (reply, *net.DNSError) {
	// RFC 5452 §4 and §9.2: an unpredictable ID (math/rand/v2's generator
	// is ChaCha8 seeded from the OS) on a fresh socket, so a fresh random
	// source port (RFC 6056), for every query.
	id := uint16(rand.Uint32())
	msg, err := buildQuery(id, q)
	if err != nil {
		return reply{}, &net.DNSError{Err: err.Error(), Name: q.Name.String()}
	}
	rep, derr := r.roundTrip(ctx, "udp", srv, id, q, msg)
	if derr == nil && rep.truncated {
		r.stats.tcpFallbacks.Add(1)
		rep, derr = r.roundTrip(ctx, "tcp", srv, id, q, msg)
	}
	return rep, derr
}

// roundTrip sends msg to srv on a new connection and returns the first
// reply that matches the query. Over UDP a reply that does not match is
// dropped and counted, and the wait goes on until the deadline; over TCP
// the stream carries nothing else, so a mismatch fails the query.
func (r *Resolver) roundTrip(ctx context.Context, network string, srv netip.AddrPort, id uint16, q dnsmessage.Question, msg []byte) (reply, *net.DNSError) {
	name := q.Name.String()
	netErr := func(err error) *net.DNSError {
		e := &net.DNSError{Err: err.Error(), Name: name, Server: srv.String()}
		if cerr := ctx.Err(); cerr != nil {
			e.Err, e.UnwrapErr = cerr.Error(), cerr
			e.IsTimeout = errors.Is(cerr, context.DeadlineExceeded)
			return e
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			e.IsTimeout = true
			r.stats.timeouts.Add(1)
		}
		// As Go's resolver: an error from the network is temporary.
		var oe *net.OpError
		e.IsTemporary = errors.As(err, &oe) || e.IsTimeout
		return e
	}
	c, err := r.dial(ctx, network, srv.String())
	if err != nil {
		return reply{}, netErr(err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	defer stop()
	c.SetDeadline(r.now().Add(r.timeout))
	r.stats.queries.Add(1)
	if network == "tcp" {
		return r.exchangeTCP(c, srv, id, q, msg, netErr)
	}
	if _, err := c.Write(msg); err != nil {
		return reply{}, netErr(err)
	}
	buf := make([]byte, maxUDPReply)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return reply{}, netErr(err)
		}
		if rep, ok := r.accept(buf[:n], id, q); ok {
			return rep, nil
		}
	}
}

// accept parses b as the reply to query id and q; a reply that is not
// ours or does not parse is counted and refused.
func (r *Resolver) accept(b []byte, id uint16, q dnsmessage.Question) (reply, bool) {
	rep, err := parseReply(b, id, q)
	switch err {
	case nil:
		return rep, true
	case errMismatch:
		r.stats.mismatched.Add(1)
	default:
		r.stats.malformed.Add(1)
	}
	return reply{}, false
}

// exchangeTCP sends msg with RFC 1035 §4.2.2's two-octet length prefix and
// reads one reply framed the same way (RFC 7766 §8).
func (r *Resolver) exchangeTCP(c net.Conn, srv netip.AddrPort, id uint16, q dnsmessage.Question, msg []byte, netErr func(error) *net.DNSError) (reply, *net.DNSError) {
	framed := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(framed, uint16(len(msg)))
	copy(framed[2:], msg)
	if _, err := c.Write(framed); err != nil { // one write: one segment, RFC 7766 §8
		return reply{}, netErr(err)
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return reply{}, netErr(noEOF(err))
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return reply{}, netErr(noEOF(err))
	}
	if rep, ok := r.accept(buf, id, q); ok {
		return rep, nil
	}
	return reply{}, &net.DNSError{Err: errInvalidDNSResponse, Name: q.Name.String(), Server: srv.String()}
}

// noEOF turns the server closing before its reply into an error: a TCP
// reply cut short.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
