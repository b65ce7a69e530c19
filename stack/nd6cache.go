package stack

import (
	"net/netip"
	"slices"
	"time"

	"github.com/tapstack/tapstack/ethernet"
)

// The IPv6 neighbour cache, RFC 4861 §7.3. Like arp.Cache it is sans-IO:
// every call takes now, nothing is sent from inside it; the stack sends the
// solicitations it asks for and the packets it hands back, and arms its
// timer for NextDeadline.

// Neighbour Unreachability Detection constants (RFC 4861 §10).
const (
	// MaxMulticastSolicit: multicast solicitations while INCOMPLETE.
	ndMaxMulticastSolicit = 3
	// MaxUnicastSolicit: unicast probes in PROBE.
	ndMaxUnicastSolicit = 3
	// RetransTimer: between solicitations (an RA may change it, §6.3.4).
	ndRetransTimer = time.Second
	// BaseReachableTime: ReachableTime is drawn from 0.5-1.5 times it
	// (MIN_RANDOM_FACTOR, MAX_RANDOM_FACTOR).
	ndBaseReachableTime = 30 * time.Second
	// DelayFirstProbeTime: DELAY's wait for an upper-layer confirmation.
	ndDelayFirstProbeTime = 5 * time.Second
	// ndMaxPending: packets queued per INCOMPLETE entry (§7.2.2: "SHOULD
	// retain ... at least one"; 16 as the ARP cache).
	ndMaxPending = 16
	// ndMaxEntries bounds the cache (Linux gc_thresh3, 1024).
	ndMaxEntries = 1024
)

// NDState is a neighbour cache entry's state (RFC 4861 §7.3.2).
type NDState uint8

// Neighbour cache states.
const (
	NDIncomplete NDState = iota // resolution in progress, packets queue
	NDReachable                 // confirmed within ReachableTime
	NDStale                     // unconfirmed; used, which moves it to DELAY
	NDDelay                     // used while stale: waiting DelayFirstProbeTime for a confirmation
	NDProbe                     // unicast solicitations sent to confirm
)

// String returns the state's name as `ip -6 neigh` prints it.
func (s NDState) String() string {
	switch s {
	case NDIncomplete:
		return "INCOMPLETE"
	case NDReachable:
		return "REACHABLE"
	case NDStale:
		return "STALE"
	case NDDelay:
		return "DELAY"
	case NDProbe:
		return "PROBE"
	}
	return "?"
}

// Neighbour6 is a snapshot of one neighbour cache entry.
type Neighbour6 struct {
	IP       netip.Addr   `json:"ip"`
	MAC      ethernet.MAC `json:"-"`
	State    NDState      `json:"-"`
	IsRouter bool         `json:"router"`
	Pending  int          `json:"pending"`
}

type ndEntry struct {
	mac      ethernet.MAC
	state    NDState
	isRouter bool
	// at: REACHABLE, when it goes stale; INCOMPLETE, DELAY, PROBE: when
	// the next solicitation (or the give-up) is due; STALE: zero, no
	// deadline (RFC 4861 §7.3.2 keeps a STALE entry until its memory is
	// needed; Linux collects them only above gc_thresh1, 128 entries).
	at      time.Time
	sent    int
	pending [][]byte
	// confirmed is the last upper-layer confirmation while REACHABLE
	// (Confirm), which age honours when at passes, as Linux's
	// neigh->confirmed: a confirmation per ACK costs no timer work.
	confirmed time.Time
}

// ndCache is the neighbour cache of one link.
type ndCache struct {
	entries map[netip.Addr]*ndEntry
	// reachable is ReachableTime (§6.3.2: recomputed from
	// BaseReachableTime), retrans RetransTimer.
	reachable, retrans time.Duration
	max                int
}

func newNDCache(reachable time.Duration) *ndCache {
	return &ndCache{entries: make(map[netip.Addr]*ndEntry), reachable: reachable, retrans: ndRetransTimer, max: ndMaxEntries}
}

// ndResult says what Resolve needs of the caller.
type ndResult uint8

const (
	ndSend    ndResult = iota // send to the returned MAC
	ndQueue                   // Enqueue the packet: resolution is under way
	ndSolicit                 // Enqueue, and send the first multicast solicitation
	ndFull                    // the cache is full: drop the packet
)

// Resolve looks up ip before sending to it (§7.2.2, §7.3.3).
func (c *ndCache) Resolve(ip netip.Addr, now time.Time) (ethernet.MAC, ndResult, bool) {
	e := c.entries[ip]
	if e == nil {
		if len(c.entries) >= c.max && !c.evict() {
			return ethernet.MAC{}, ndFull, false
		}
		// §7.2.2: create an INCOMPLETE entry and solicit.
		c.entries[ip] = &ndEntry{state: NDIncomplete, sent: 1, at: now.Add(c.retrans)}
		return ethernet.MAC{}, ndSolicit, false
	}
	c.age(e, now)
	switch e.state {
	case NDIncomplete:
		return ethernet.MAC{}, ndQueue, false
	case NDStale:
		// §7.3.3: "The first time a node sends a packet to a neighbor
		// whose entry is STALE, the sender changes the state to DELAY
		// and sets a timer to expire in DELAY_FIRST_PROBE_TIME seconds."
		e.state, e.at = NDDelay, now.Add(ndDelayFirstProbeTime)
	}
	return e.mac, ndSend, false
}

// age moves a REACHABLE entry past its ReachableTime to STALE (§7.3.3),
// as Expire would have at that moment.
func (c *ndCache) age(e *ndEntry, now time.Time) {
	if e.state != NDReachable || now.Before(e.at) {
		return
	}
	if until := e.confirmed.Add(c.reachable); now.Before(until) {
		e.at = until // confirmed since it became REACHABLE: ReachableTime from then
		return
	}
	e.state, e.at = NDStale, time.Time{}
}

// evict removes a STALE entry (the least useful kind, §7.3.2 "may be
// discarded at any time") to make room, if there is one.
func (c *ndCache) evict() bool {
	for ip, e := range c.entries {
		if e.state == NDStale {
			delete(c.entries, ip)
			return true
		}
	}
	return false
}

// Enqueue keeps a copy of pkt on ip's INCOMPLETE entry; false when a packet
// was dropped: pkt if there is no such entry, else (the queue full) the
// oldest, as Linux and the ARP cache.
func (c *ndCache) Enqueue(ip netip.Addr, pkt []byte) bool {
	e := c.entries[ip]
	if e == nil || e.state != NDIncomplete {
		return false
	}
	if len(e.pending) < ndMaxPending {
		e.pending = append(e.pending, slices.Clone(pkt))
		return true
	}
	copy(e.pending, e.pending[1:])
	e.pending[len(e.pending)-1] = slices.Clone(pkt)
	return false
}

// reach marks e REACHABLE for ReachableTime from now.
func (c *ndCache) reach(e *ndEntry, now time.Time) {
	e.state, e.at, e.sent = NDReachable, now.Add(c.reachable), 0
}

// stale marks e STALE from now.
func (c *ndCache) stale(e *ndEntry, now time.Time) {
	e.state, e.at, e.sent = NDStale, time.Time{}, 0
}

// LinkAddr records a link-layer address learnt from a source link-layer
// address option of a solicitation, router solicitation or advertisement,
// or redirect (§7.2.3, §6.2.6, §6.3.4): a new entry is created STALE; an
// entry with another address takes it and goes STALE; the same address
// changes nothing. An INCOMPLETE entry gets the address, goes STALE, and
// its queued packets are handed back to be sent.
func (c *ndCache) LinkAddr(ip netip.Addr, mac ethernet.MAC, router bool, now time.Time) [][]byte {
	e := c.entries[ip]
	if e == nil {
		if len(c.entries) >= c.max && !c.evict() {
			return nil
		}
		e = &ndEntry{mac: mac}
		c.entries[ip] = e
		c.stale(e, now)
		e.isRouter = e.isRouter || router
		return nil
	}
	e.isRouter = e.isRouter || router
	c.age(e, now)
	if e.state != NDIncomplete && e.mac == mac {
		return nil
	}
	pkts := e.pending
	e.pending = nil
	e.mac = mac
	c.stale(e, now)
	return pkts
}

// Advert applies a neighbour advertisement for ip (§7.2.5). hasMAC: it
// carried a target link-layer address option. It returns the packets to
// send now (an INCOMPLETE entry resolved), and whether the neighbour was a
// router and says it no longer is (the caller removes it from the default
// router list, §7.2.5 last paragraph). ok is false when the advertisement
// was ignored: no entry (§7.2.5 "silently discarded"), or INCOMPLETE
// without a link-layer address.
func (c *ndCache) Advert(ip netip.Addr, mac ethernet.MAC, hasMAC, solicited, override, router bool, now time.Time) (pkts [][]byte, notRouter, ok bool) {
	e := c.entries[ip]
	if e == nil {
		return nil, false, false
	}
	c.age(e, now)
	if e.state == NDIncomplete {
		if !hasMAC {
			return nil, false, false
		}
		pkts, e.pending, e.mac, e.isRouter = e.pending, nil, mac, router
		if solicited {
			c.reach(e, now)
		} else {
			c.stale(e, now)
		}
		return pkts, false, true
	}
	changed := hasMAC && mac != e.mac
	if !override && changed {
		// "If the Override flag is clear and the supplied link-layer
		// address differs ... if the state of the entry is REACHABLE,
		// set it to STALE, but do not update the entry in any other
		// way. Otherwise, ... ignore the advertisement."
		if e.state == NDReachable {
			c.stale(e, now)
		}
		return nil, false, true
	}
	if changed {
		e.mac = mac
	}
	switch {
	case solicited:
		c.reach(e, now)
	case changed:
		c.stale(e, now)
	}
	notRouter = e.isRouter && !router
	e.isRouter = router
	return nil, notRouter, true
}

// Confirm is upper-layer reachability confirmation (§7.3.1: forward
// progress, e.g. TCP acknowledging new data): an existing resolved entry
// becomes REACHABLE (rearm: its deadline changed); one already REACHABLE
// only notes the time, which extends it when its deadline comes (age), so
// a confirmation on every ACK does no timer work.
func (c *ndCache) Confirm(ip netip.Addr, now time.Time) (rearm bool) {
	e := c.entries[ip]
	switch {
	case e == nil || e.state == NDIncomplete:
		return false
	case e.state == NDReachable:
		e.confirmed = now // taken into account when e.at passes (age)
		return false
	}
	c.reach(e, now)
	return true
}

// Remove deletes ip's entry (its queued packets are dropped).
func (c *ndCache) Remove(ip netip.Addr) { delete(c.entries, ip) }

// Expire does the work of every deadline passed by now (§7.3.3):
// INCOMPLETE retransmits a multicast solicitation every RetransTimer, and
// after MAX_MULTICAST_SOLICIT unanswered ones the entry is deleted and
// failed called for each queued packet; REACHABLE goes STALE; DELAY goes
// to PROBE with a unicast solicitation; PROBE retransmits, and after
// MAX_UNICAST_SOLICIT the entry is deleted. STALE has no deadline.
// solicit(ip, mac, unicast) sends one solicitation.
func (c *ndCache) Expire(now time.Time, solicit func(ip netip.Addr, mac ethernet.MAC, unicast bool), failed func(ip netip.Addr, pkt []byte)) {
	for ip, e := range c.entries {
		if e.at.IsZero() || now.Before(e.at) {
			continue
		}
		switch e.state {
		case NDIncomplete, NDProbe:
			limit := ndMaxMulticastSolicit
			if e.state == NDProbe {
				limit = ndMaxUnicastSolicit
			}
			if e.sent >= limit {
				delete(c.entries, ip)
				for _, p := range e.pending {
					failed(ip, p)
				}
				continue
			}
			e.sent++
			e.at = now.Add(c.retrans)
			solicit(ip, e.mac, e.state == NDProbe)
		case NDReachable:
			c.age(e, now)
		case NDDelay:
			// §7.3.3: DELAY_FIRST_PROBE_TIME without confirmation:
			// PROBE, and the first unicast solicitation.
			e.state, e.sent, e.at = NDProbe, 1, now.Add(c.retrans)
			solicit(ip, e.mac, true)
		}
	}
}

// NextDeadline returns the earliest time Expire has work.
func (c *ndCache) NextDeadline() (t time.Time, ok bool) {
	for _, e := range c.entries {
		if !e.at.IsZero() && (!ok || e.at.Before(t)) {
			t, ok = e.at, true
		}
	}
	return t, ok
}

// Lookup returns ip's entry, if any.
func (c *ndCache) Lookup(ip netip.Addr) (Neighbour6, bool) {
	e := c.entries[ip]
	if e == nil {
		return Neighbour6{}, false
	}
	return Neighbour6{IP: ip, MAC: e.mac, State: e.state, IsRouter: e.isRouter, Pending: len(e.pending)}, true
}

// Entries returns every entry, sorted by address.
func (c *ndCache) Entries() []Neighbour6 {
	out := make([]Neighbour6, 0, len(c.entries))
	for ip := range c.entries {
		n, _ := c.Lookup(ip)
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Neighbour6) int { return a.IP.Compare(b.IP) })
	return out
}
