package dhcp

import (
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"time"
)

// State is the client's state in RFC 2131 §4.4, figure 5. INIT-REBOOT and
// REBOOTING (reusing a remembered lease) are not implemented: every start
// goes through INIT.
type State uint8

const (
	StateInit       State = iota // no lease; waiting to (re)start discovery
	StateSelecting               // DISCOVER sent, waiting for an OFFER
	StateRequesting              // REQUEST sent for an offer, waiting for ACK or NAK
	StateBound                   // holding a lease until T1
	StateRenewing                // past T1: unicast REQUESTs to the leasing server
	StateRebinding               // past T2: broadcast REQUESTs to any server
	StateStopped                 // released or never to run again
)

func (s State) String() string {
	return [...]string{"INIT", "SELECTING", "REQUESTING", "BOUND", "RENEWING", "REBINDING", "STOPPED"}[s]
}

// Timing constants.
const (
	// RFC 2131 §4.1: the first retransmission after 4 s, doubling to at
	// most 64 s, each randomized by ±1 s.
	initialRetransmit = 4 * time.Second
	maxRetransmit     = 64 * time.Second
	retransmitJitter  = time.Second
	// maxRequestTries is how many REQUESTs the client sends for an offer
	// before it goes back to INIT (RFC 2131 §4.4.1: "If the client receives
	// neither a DHCPACK or a DHCPNAK message after employing the
	// retransmission algorithm, the client reverts to INIT state"): 4 s +
	// 8 s + 16 s + 32 s, as dhclient's one minute.
	maxRequestTries = 4
	// minRenewRetry: RFC 2131 §4.4.5, "down to a minimum of 60 seconds".
	minRenewRetry = 60 * time.Second
	// declineWait: RFC 2131 §3.1 item 5, after a DHCPDECLINE the client
	// "SHOULD wait a minimum of ten seconds before restarting".
	declineWait = 10 * time.Second
	// infiniteLease is option 51's "infinity" (RFC 2131 §3.3).
	infiniteLease = 0xffffffff
)

// Lease is what an ACK gave.
type Lease struct {
	Addr     netip.Prefix // the address and its subnet (option 1; by class when absent)
	Router   netip.Addr   // the first router of option 3 on the subnet; zero if none
	DNS      []netip.Addr // option 6
	MTU      int          // option 26; 0 when absent
	Server   netip.Addr   // option 54, the server that granted the lease
	Start    time.Time    // when the client sent the REQUEST that got it (RFC 2131 §4.4.1)
	Duration time.Duration
	T1, T2   time.Duration // renewal and rebinding times from Start
	Infinite bool          // option 51 was 0xffffffff: never renewed, never expires
}

// RenewAt, RebindAt and ExpiresAt are T1, T2 and the lease's end.
func (l Lease) RenewAt() time.Time   { return l.Start.Add(l.T1) }
func (l Lease) RebindAt() time.Time  { return l.Start.Add(l.T2) }
func (l Lease) ExpiresAt() time.Time { return l.Start.Add(l.Duration) }

// Config configures a Client.
type Config struct {
	// MAC is the client's hardware address (chaddr).
	MAC [6]byte
	// HostName, if set, is sent as option 12 (RFC 2132 §3.14).
	HostName string
	// ClientID is option 61; default hardware type 1 and MAC (RFC 2132
	// §9.14).
	ClientID []byte
	// Rand draws xids and retransmission jitter; default math/rand/v2's
	// global generator. Tests pass a seeded one.
	Rand *rand.Rand
}

// Packet is a message to send and where: 255.255.255.255:67 or the
// server's address and port 67.
type Packet struct {
	Msg Message
	Dst netip.AddrPort
}

// EventKind says what happened to the lease.
type EventKind uint8

const (
	// LeaseBound: a new lease, or a renewal that changed the address or
	// subnet; apply Event.Lease.
	LeaseBound EventKind = iota + 1
	// LeaseRenewed: the same address with new times and options.
	LeaseRenewed
	// LeaseLost: the lease ended (expired, refused with a NAK, declined or
	// released); stop using its address (RFC 2131 §4.4.5).
	LeaseLost
)

// Event reports a change of lease.
type Event struct {
	Kind   EventKind
	Lease  Lease  // the new lease, or the one lost
	Reason string // for LeaseLost: "expired", "nak", "declined", "released"
}

// Output is what a call asks the caller to do.
type Output struct {
	Send   []Packet
	Events []Event
}

// Counters count what the client dropped and why.
type Counters struct {
	Sent, Received uint64
	NotReply       uint64 // op is not BOOTREPLY
	BadXID         uint64 // xid of no pending exchange
	BadCHAddr      uint64 // another client's chaddr
	Unexpected     uint64 // a message type the state does not expect, or from another server
	BadOffer       uint64 // an OFFER without a usable address or server id (RFC 2131 §4.3.1)
	BadAck         uint64 // an ACK without a usable address or lease time (RFC 2131 §4.3.1)
	Overloaded     uint64 // option 52: options in sname/file, not read
	NAKs           uint64
}

// Client is the DHCP client state machine (RFC 2131 §4.4). It does no I/O
// and reads no clock: every call carries the time, and NextDeadline says
// when Timeout must be called next.
type Client struct {
	cfg      Config
	state    State
	xid      uint32
	secs     uint16    // secs of the exchange's DISCOVER, repeated in its REQUEST (RFC 2131 §4.4.1)
	start    time.Time // first transmission of the current exchange
	tries    int       // transmissions of the current message so far
	deadline time.Time // next Timeout; zero: none
	offer    Message   // the offer being requested (REQUESTING)
	lease    Lease     // valid in BOUND, RENEWING, REBINDING
	lastAddr netip.Addr
	counters Counters
}

// NewClient returns a client in INIT; Start begins discovery.
func NewClient(cfg Config) *Client {
	if cfg.ClientID == nil {
		cfg.ClientID = append([]byte{htypeEthernet}, cfg.MAC[:]...)
	}
	return &Client{cfg: cfg}
}

// State returns the current state.
func (c *Client) State() State { return c.state }

// Lease returns the lease held, if any.
func (c *Client) Lease() (Lease, bool) {
	switch c.state {
	case StateBound, StateRenewing, StateRebinding:
		return c.lease, true
	}
	return Lease{}, false
}

// Counters returns the drop counters.
func (c *Client) Counters() Counters { return c.counters }

// NextDeadline returns when Timeout must next be called; false when no
// timer is needed (stopped, or bound to an infinite lease).
func (c *Client) NextDeadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// Start begins discovery from INIT (RFC 2131 §4.4.1). It does nothing in
// any other state.
func (c *Client) Start(now time.Time) Output {
	var out Output
	if c.state == StateInit {
		c.discover(now, &out)
	}
	return out
}

// discover starts a new exchange with a DISCOVER (INIT -> SELECTING).
func (c *Client) discover(now time.Time, out *Output) {
	c.state = StateSelecting
	c.newExchange(now)
	c.sendDiscover(now, out)
}

func (c *Client) newExchange(now time.Time) {
	c.xid = c.rand32()
	c.start = now
	c.tries = 0
}

func (c *Client) sendDiscover(now time.Time, out *Output) {
	c.secs = secsSince(c.start, now)
	m := c.request(Discover)
	m.Secs = c.secs
	// RFC 2131 §4.4.1: the client MAY suggest its last address.
	m.RequestedIP = c.lastAddr
	c.transmit(out, m, broadcastDst, now)
}

// sendSelectingRequest asks for the chosen offer: broadcast, with the
// server id and requested address, ciaddr zero (RFC 2131 §4.3.2 table 4,
// "SELECTING"), the same secs as the DISCOVER (§4.4.1).
func (c *Client) sendSelectingRequest(now time.Time, out *Output) {
	m := c.request(Request)
	m.Secs = c.secs
	m.RequestedIP = c.offer.YIAddr
	m.ServerID = c.offer.ServerID
	c.transmit(out, m, broadcastDst, now)
}

// sendLeaseRequest asks to extend the lease: ciaddr set, no server id or
// requested address (RFC 2131 §4.3.2 table 4, RENEWING and REBINDING);
// unicast to the server when renewing, broadcast when rebinding (§4.4.5).
func (c *Client) sendLeaseRequest(now time.Time, out *Output) {
	m := c.request(Request)
	m.Secs = secsSince(c.start, now)
	m.CIAddr = c.lease.Addr.Addr()
	// The server answers ciaddr by unicast (RFC 2131 §4.1): no BROADCAST flag.
	m.Broadcast = false
	dst := broadcastDst
	if c.state == StateRenewing {
		dst = netip.AddrPortFrom(c.lease.Server, ServerPort)
	}
	c.transmit(out, m, dst, now)
}

var broadcastDst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), ServerPort)

// request is a client message with the fields every one carries.
// The BROADCAST flag is set (RFC 2131 §4.1: a client that cannot receive
// unicast datagrams before it has an address sets it; ours could, but
// then the stack would have to accept datagrams to an address it does not
// hold yet); parameter request list: mask, router, DNS, MTU (RFC 2132
// §9.8).
func (c *Client) request(t MessageType) Message {
	return Message{Op: OpRequest, Xid: c.xid, Broadcast: true, CHAddr: c.cfg.MAC, Type: t,
		HostName: c.cfg.HostName, ClientID: c.cfg.ClientID,
		ParamRequest: []byte{OptSubnetMask, OptRouter, OptDNS, OptInterfaceMTU, OptLeaseTime, OptRenewalTime, OptRebindingTime}}
}

// transmit queues m and arms the retransmission timer for the states that
// retransmit with exponential backoff (RFC 2131 §4.1).
func (c *Client) transmit(out *Output, m Message, dst netip.AddrPort, now time.Time) {
	out.Send = append(out.Send, Packet{Msg: m, Dst: dst})
	c.counters.Sent++
	switch c.state {
	case StateSelecting, StateRequesting:
		c.deadline = now.Add(c.backoff(c.tries))
	case StateRenewing:
		c.deadline = renewRetry(now, c.lease.RebindAt())
	case StateRebinding:
		c.deadline = renewRetry(now, c.lease.ExpiresAt())
	}
	c.tries++
}

// backoff is the wait after the (n+1)th transmission: 4 s doubled n times,
// at most 64 s, randomized by a uniform ±1 s (RFC 2131 §4.1).
func (c *Client) backoff(n int) time.Duration {
	d := maxRetransmit
	if n < 4 {
		d = initialRetransmit << n
	}
	jitter := time.Duration(c.randN(int64(2*retransmitJitter)+1)) - retransmitJitter
	return d + jitter
}

// renewRetry is when to retransmit a renewing or rebinding REQUEST: after
// half the time left until end (T2, or the lease's expiry), but at least
// 60 s, and never after end (RFC 2131 §4.4.5).
func renewRetry(now, end time.Time) time.Time {
	next := now.Add(max(end.Sub(now)/2, minRenewRetry))
	if next.After(end) {
		return end
	}
	return next
}

// Timeout runs the timer that NextDeadline asked for; called early it does
// nothing.
func (c *Client) Timeout(now time.Time) Output {
	var out Output
	if c.deadline.IsZero() || now.Before(c.deadline) {
		return out
	}
	switch c.state {
	case StateInit:
		c.discover(now, &out) // after a DECLINE's wait
	case StateSelecting:
		c.sendDiscover(now, &out)
	case StateRequesting:
		if c.tries >= maxRequestTries {
			c.discover(now, &out) // RFC 2131 §4.4.1: back to INIT
		} else {
			c.sendSelectingRequest(now, &out)
		}
	case StateBound, StateRenewing, StateRebinding:
		c.leaseTimeout(now, &out)
	}
	return out
}

// leaseTimeout moves through RENEWING and REBINDING as T1, T2 and the
// expiry pass (RFC 2131 §4.4.5), retransmitting in between.
func (c *Client) leaseTimeout(now time.Time, out *Output) {
	switch {
	case !now.Before(c.lease.ExpiresAt()):
		// "If the lease expires before the client receives a DHCPACK, the
		// client moves to INIT state, MUST immediately stop any other
		// network processing and requests network initialization
		// parameters as if the client were uninitialized."
		out.Events = append(out.Events, Event{Kind: LeaseLost, Lease: c.lease, Reason: "expired"})
		c.discover(now, out)
	case !now.Before(c.lease.RebindAt()) && c.state != StateRebinding:
		c.state = StateRebinding
		c.newExchange(now)
		c.sendLeaseRequest(now, out)
	case !now.Before(c.lease.RenewAt()) && c.state == StateBound:
		c.state = StateRenewing
		c.newExchange(now)
		c.sendLeaseRequest(now, out)
	default:
		c.sendLeaseRequest(now, out) // a retransmission (RENEWING or REBINDING)
	}
}

// Handle processes a message received on port 68.
func (c *Client) Handle(m Message, now time.Time) Output {
	var out Output
	c.counters.Received++
	switch {
	case m.Op != OpReply:
		c.counters.NotReply++
		return out
	case m.Xid != c.xid || c.state == StateInit || c.state == StateStopped || c.state == StateBound:
		// RFC 2131 §4.1: the xid matches replies to pending requests; in
		// INIT, BOUND and STOPPED nothing is pending.
		c.counters.BadXID++
		return out
	case m.CHAddr != c.cfg.MAC:
		c.counters.BadCHAddr++
		return out
	}
	if m.Overload != 0 {
		c.counters.Overloaded++
	}
	switch c.state {
	case StateSelecting:
		c.handleSelecting(m, now, &out)
	case StateRequesting, StateRenewing, StateRebinding:
		c.handleReply(m, now, &out)
	}
	return out
}

// handleSelecting takes the first usable OFFER (RFC 2131 §4.4.1 lets the
// client wait for several; the first is what most clients take).
func (c *Client) handleSelecting(m Message, now time.Time, out *Output) {
	if m.Type != Offer {
		c.counters.Unexpected++
		return
	}
	// RFC 2131 §4.3.1 table 3: an OFFER carries yiaddr and MUST carry the
	// server identifier, which the REQUEST names.
	if !usableAddr(m.YIAddr) || !usableAddr(m.ServerID) {
		c.counters.BadOffer++
		return
	}
	c.offer = m
	c.state = StateRequesting
	c.tries = 0
	c.sendSelectingRequest(now, out)
}

// handleReply takes the ACK or NAK to a REQUEST.
func (c *Client) handleReply(m Message, now time.Time, out *Output) {
	server := c.offer.ServerID
	if c.state != StateRequesting {
		server = c.lease.Server
	}
	// In REQUESTING, only the selected server answers (RFC 2131 §4.3.2:
	// the others take the REQUEST as a decline of their offers); when
	// renewing it is the leasing server. When rebinding any server may.
	if c.state != StateRebinding && m.ServerID.IsValid() && m.ServerID != server {
		c.counters.Unexpected++
		return
	}
	switch m.Type {
	case Nak:
		// RFC 2131 §4.4.1 (REQUESTING) and §4.4.5 (RENEWING, REBINDING):
		// a NAK sends the client back to INIT, which restarts at once.
		c.counters.NAKs++
		if c.state != StateRequesting {
			out.Events = append(out.Events, Event{Kind: LeaseLost, Lease: c.lease, Reason: "nak"})
		}
		c.discover(now, out)
	case Ack:
		l, ok := c.leaseFrom(m, server)
		if !ok {
			c.counters.BadAck++
			return
		}
		kind := LeaseBound
		if c.state != StateRequesting && l.Addr == c.lease.Addr {
			kind = LeaseRenewed
		}
		c.bind(l)
		out.Events = append(out.Events, Event{Kind: kind, Lease: l})
	default:
		c.counters.Unexpected++
	}
}

// bind enters BOUND with l and arms T1.
func (c *Client) bind(l Lease) {
	c.state = StateBound
	c.lease = l
	c.lastAddr = l.Addr.Addr()
	c.deadline = time.Time{}
	if !l.Infinite {
		c.deadline = l.RenewAt()
	}
}

// leaseFrom builds the lease an ACK grants. Its times count from the
// exchange's first REQUEST (RFC 2131 §4.4.1: "the sum of the time at which
// the original request was sent and the duration of the lease").
func (c *Client) leaseFrom(m Message, server netip.Addr) (Lease, bool) {
	// RFC 2131 §4.3.1 table 3: an ACK to a REQUEST MUST carry the lease time.
	if !usableAddr(m.YIAddr) || m.LeaseTime == 0 {
		return Lease{}, false
	}
	if m.ServerID.IsValid() {
		server = m.ServerID
	}
	l := Lease{Addr: netip.PrefixFrom(m.YIAddr, maskBits(m.SubnetMask, m.YIAddr)), DNS: m.DNS,
		MTU: int(m.MTU), Server: server, Start: c.start}
	for _, r := range m.Routers {
		if l.Addr.Masked().Contains(r) && r != m.YIAddr {
			l.Router = r
			break
		}
	}
	if m.LeaseTime == infiniteLease {
		l.Infinite = true
		return l, true
	}
	lease := time.Duration(m.LeaseTime) * time.Second
	t1 := time.Duration(m.RenewalTime) * time.Second
	t2 := time.Duration(m.RebindingTime) * time.Second
	// RFC 2131 §4.4.5: T1 defaults to 0.5 and T2 to 0.875 of the lease.
	// Times that break T1 < T2 < lease are replaced by the defaults.
	if t2 <= 0 || t2 >= lease {
		t2 = lease * 7 / 8
	}
	if t1 <= 0 || t1 >= t2 {
		t1, t2 = lease/2, lease*7/8
	}
	l.Duration, l.T1, l.T2 = lease, t1, t2
	return l, true
}

// maskBits is the prefix length of option 1, or, when it is absent or not
// a contiguous mask, the address's class's (RFC 791 §3.2's classes A, B and
// C; dhclient does the same).
func maskBits(mask, a netip.Addr) int {
	if mask.Is4() {
		v := mask.As4()
		m := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
		ones := bits.LeadingZeros32(^m)
		if ones > 0 && m == ^uint32(0)<<(32-ones) {
			return ones
		}
	}
	switch b := a.As4()[0]; {
	case b < 128:
		return 8
	case b < 192:
		return 16
	}
	return 24
}

// usableAddr reports whether a can be a host's unicast address.
func usableAddr(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() && a != broadcastDst.Addr()
}

// Decline reports that the leased address is already in use (the caller's
// ARP check found another host on it): the client sends a DECLINE, drops
// the lease and restarts after ten seconds (RFC 2131 §3.1 item 5, §4.4.1).
// It does nothing without a lease.
func (c *Client) Decline(now time.Time) Output {
	var out Output
	l, ok := c.Lease()
	if !ok {
		return out
	}
	// RFC 2131 §4.4.1: DECLINE is broadcast; table 5: requested address
	// and server id MUST, ciaddr 0.
	m := c.request(Decline)
	m.ParamRequest, m.HostName = nil, ""
	m.RequestedIP = l.Addr.Addr()
	m.ServerID = l.Server
	c.state = StateInit
	c.lastAddr = netip.Addr{} // do not ask for it again
	c.transmit(&out, m, broadcastDst, now)
	c.deadline = now.Add(declineWait)
	out.Events = append(out.Events, Event{Kind: LeaseLost, Lease: l, Reason: "declined"})
	return out
}

// Release gives the lease back (RFC 2131 §4.4.6: a RELEASE unicast to the
// server, ciaddr set, server id MUST, table 5) and stops the client; with
// no lease it only stops.
func (c *Client) Release(now time.Time) Output {
	var out Output
	l, ok := c.Lease()
	c.state, c.deadline = StateStopped, time.Time{}
	if !ok {
		return out
	}
	c.xid = c.rand32() // a new exchange (table 5: "selected by client")
	m := c.request(Release)
	m.ParamRequest, m.HostName, m.Broadcast = nil, "", false
	m.CIAddr = l.Addr.Addr()
	m.ServerID = l.Server
	c.transmit(&out, m, netip.AddrPortFrom(l.Server, ServerPort), now)
	out.Events = append(out.Events, Event{Kind: LeaseLost, Lease: l, Reason: "released"})
	return out
}

// secsSince is the secs field: seconds since the exchange began (RFC 2131
// §2), saturated at 16 bits.
func secsSince(start, now time.Time) uint16 {
	return uint16(min(max(now.Sub(start)/time.Second, 0), 0xffff))
}

func (c *Client) rand32() uint32 {
	if c.cfg.Rand != nil {
		return c.cfg.Rand.Uint32()
	}
	return rand.Uint32()
}

func (c *Client) randN(n int64) int64 {
	if c.cfg.Rand != nil {
		return c.cfg.Rand.Int64N(n)
	}
	return rand.Int64N(n)
}
