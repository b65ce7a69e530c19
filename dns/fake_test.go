package dns_test

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/tapstack/tapstack/clock"
)

// fakeNet is an in-memory network with DNS servers on it, reached through
// its Dial. Time is simulated: a Read that would block until its deadline
// moves the manual clock to that deadline (nothing else is in flight, since
// servers answer as the query is written), so timeouts cost no wall time.
type fakeNet struct {
	clk *clock.Manual

	mu   sync.Mutex
	zone map[string][]dnsmessage.Resource // canonical owner name → records
	// soa is the SOA put in negative answers; nil sends none.
	soa *dnsmessage.Resource
	// serve, when set, answers instead of the zone: the raw replies to
	// deliver (none: the query is lost).
	serve func(network string, server netip.AddrPort, query []byte) [][]byte
	// hold makes a Read with a deadline in the future wait (for a context
	// to cancel it) instead of moving the clock.
	hold    bool
	blocked chan struct{} // a Read waits (hold)
	dials   []string      // "udp 10.0.0.1:53", in order
	asked   []string      // question names, in order
	ids     []uint16
}

func newFakeNet() *fakeNet {
	return &fakeNet{
		clk:     clock.NewManual(time.Date(2026, 12, 5, 17, 0, 0, 0, time.UTC)),
		zone:    make(map[string][]dnsmessage.Resource),
		blocked: make(chan struct{}, 1),
	}
}

var (
	server1 = netip.MustParseAddrPort("192.0.2.1:53")
	server2 = netip.MustParseAddrPort("192.0.2.2:53")
)

func hdr(name string, typ dnsmessage.Type, ttl uint32) dnsmessage.ResourceHeader {
	return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET, TTL: ttl}
}

// add puts records in the zone.
func (n *fakeNet) add(rs ...dnsmessage.Resource) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range rs {
		k := strings.ToLower(r.Header.Name.String())
		n.zone[k] = append(n.zone[k], r)
	}
}

func rrA(name string, ttl uint32, ip string) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeA, ttl), Body: &dnsmessage.AResource{A: netip.MustParseAddr(ip).As4()}}
}

func rrAAAA(name string, ttl uint32, ip string) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeAAAA, ttl), Body: &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr(ip).As16()}}
}

func rrCNAME(name string, ttl uint32, target string) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeCNAME, ttl), Body: &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(target)}}
}

func rrSOA(zone string, ttl, minTTL uint32) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(zone, dnsmessage.TypeSOA, ttl), Body: &dnsmessage.SOAResource{
		NS: dnsmessage.MustNewName("ns." + zone), MBox: dnsmessage.MustNewName("admin." + zone),
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, MinTTL: minTTL,
	}}
}

// zoneReply answers q from the zone as a recursive server would: the CNAME
// chain and the records, NXDOMAIN for a name with no records, no data for
// a name with others; over UDP a reply beyond 512 octets is cut to its
// header and question with TC set (RFC 1035 §4.2.1, RFC 2181 §9).
func (n *fakeNet) zoneReply(network string, query []byte) [][]byte {
	var m dnsmessage.Message
	if err := m.Unpack(query); err != nil || len(m.Questions) != 1 {
		return nil
	}
	q := m.Questions[0]
	resp := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: m.ID, Response: true, RecursionDesired: m.RecursionDesired, RecursionAvailable: true},
		Questions: m.Questions,
	}
	n.mu.Lock()
	name := strings.ToLower(q.Name.String())
	for hops := 0; hops < 10; hops++ {
		rs, ok := n.zone[name]
		if !ok {
			if hops == 0 {
				resp.RCode = dnsmessage.RCodeNameError
			}
			break
		}
		next := ""
		for _, r := range rs {
			switch {
			case r.Header.Type == q.Type:
				resp.Answers = append(resp.Answers, r)
			case r.Header.Type == dnsmessage.TypeCNAME:
				resp.Answers = append(resp.Answers, r)
				next = strings.ToLower(r.Body.(*dnsmessage.CNAMEResource).CNAME.String())
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	if len(resp.Answers) == 0 && n.soa != nil {
		resp.Authorities = []dnsmessage.Resource{*n.soa}
	}
	n.mu.Unlock()
	b, err := resp.Pack()
	if err != nil {
		panic(err)
	}
	if network == "udp" && len(b) > 512 {
		resp.Truncated, resp.Answers, resp.Authorities = true, nil, nil
		b, _ = resp.Pack()
	}
	return [][]byte{b}
}

// handle delivers a query to the server and returns its replies.
func (n *fakeNet) handle(network string, server netip.AddrPort, query []byte) [][]byte {
	var p dnsmessage.Parser
	if h, err := p.Start(query); err == nil {
		if q, err := p.Question(); err == nil {
			n.mu.Lock()
			n.asked = append(n.asked, q.Name.String())
			n.ids = append(n.ids, h.ID)
			n.mu.Unlock()
		}
	}
	n.mu.Lock()
	serve := n.serve
	n.mu.Unlock()
	if serve != nil {
		return serve(network, server, query)
	}
	return n.zoneReply(network, query)
}

// Dial is the resolver's DialFunc.
func (n *fakeNet) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.dials = append(n.dials, network+" "+address)
	n.mu.Unlock()
	return &fakeConn{n: n, network: network, server: ap, wake: make(chan struct{}, 1)}, nil
}

func (n *fakeNet) Dials() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dials...)
}

func (n *fakeNet) Asked() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.asked...)
}

// fakeConn is one end of a connection to a fake server.
type fakeConn struct {
	n       *fakeNet
	network string
	server  netip.AddrPort

	mu       sync.Mutex
	in       [][]byte // UDP: datagrams; TCP: stream chunks
	out      []byte   // TCP: bytes written, not yet a whole message
	deadline time.Time
	closed   bool
	wake     chan struct{}
}

func (c *fakeConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	var queries [][]byte
	if c.network == "udp" {
		queries = append(queries, append([]byte(nil), b...))
	} else {
		c.out = append(c.out, b...)
		for len(c.out) >= 2 && len(c.out) >= 2+int(binary.BigEndian.Uint16(c.out)) {
			l := int(binary.BigEndian.Uint16(c.out))
			queries = append(queries, append([]byte(nil), c.out[2:2+l]...))
			c.out = c.out[2+l:]
		}
	}
	c.mu.Unlock()
	for _, q := range queries {
		for _, r := range c.n.handle(c.network, c.server, q) {
			if c.network == "tcp" {
				r = append(binary.BigEndian.AppendUint16(nil, uint16(len(r))), r...)
			}
			c.mu.Lock()
			c.in = append(c.in, r)
			c.mu.Unlock()
		}
	}
	return len(b), nil
}

func (c *fakeConn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return 0, net.ErrClosed
		case len(c.in) > 0:
			n := copy(b, c.in[0])
			if c.network == "tcp" && n < len(c.in[0]) {
				c.in[0] = c.in[0][n:]
			} else {
				c.in = c.in[1:]
			}
			c.mu.Unlock()
			return n, nil
		case !c.deadline.IsZero() && !c.n.clk.Now().Before(c.deadline):
			c.mu.Unlock()
			return 0, &net.OpError{Op: "read", Net: c.network, Err: os.ErrDeadlineExceeded}
		}
		dl := c.deadline
		c.mu.Unlock()
		c.n.mu.Lock()
		hold := c.n.hold
		c.n.mu.Unlock()
		if !dl.IsZero() && !hold {
			c.n.clk.Set(dl) // nothing is in flight: jump to the deadline
			continue
		}
		select {
		case c.n.blocked <- struct{}{}:
		default:
		}
		<-c.wake
	}
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.poke()
	return nil
}

func (c *fakeConn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *fakeConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 40000}
}
func (c *fakeConn) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(c.server) }
func (c *fakeConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	c.poke()
	return nil
}
func (c *fakeConn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *fakeConn) SetWriteDeadline(t time.Time) error { return nil }
