// Package arp is ARP for IPv4 over Ethernet (RFC 826, with the host
// requirements of RFC 1122 §2.3.2): the wire codec (wire.go) and the neighbor
// cache with its resolution queue (cache.go).
//
// The Cache owns the IP→MAC mappings of one link and the packets waiting for
// a mapping. It is sans-IO: it reads no clock (every call that needs the
// time takes now), starts no goroutines and sends nothing; it tells the
// caller when to send a request and when it next needs Expire to be called.
// It is not safe for concurrent use: the stack holds one lock around it.
//
// The codec functions are pure and safe for concurrent use on distinct
// buffers.
package arp

import (
	"net/netip"
	"slices"
	"time"

	"github.com/tapstack/tapstack/ethernet"
)

// Defaults for Config. Each is a named constant with its source.
const (
	// DefaultReachableTime is how long a confirmed entry is used without
	// question. Linux base_reachable_time is 30 s (it randomises to
	// 0.5-1.5×; we do not). RFC 1122 §2.3.2.1 requires some timeout on
	// cache entries, without fixing the value.
	DefaultReachableTime = 30 * time.Second
	// DefaultStaleTime is how long an unused stale entry lives before it is
	// garbage collected (Linux gc_stale_time, 60 s).
	DefaultStaleTime = 60 * time.Second
	// DefaultRetransmitInterval: RFC 1122 §2.3.2.1 "a host SHOULD NOT send
	// more than one ARP request per second to any one destination" (Linux
	// retrans_time, 1 s).
	DefaultRetransmitInterval = time.Second
	// DefaultMaxRetries is the number of requests (or unicast probes) sent
	// before resolution fails (Linux mcast_solicit and ucast_solicit, 3).
	DefaultMaxRetries = 3
	// DefaultMaxPending is the number of packets queued per unresolved
	// address. RFC 1122 §2.3.2.2: the queue SHOULD hold at least one; Linux
	// queues up to unres_qlen_bytes (about 100 packets); 16 bounds memory.
	DefaultMaxPending = 16
	// DefaultMaxEntries bounds the table (Linux gc_thresh3 is 1024).
	DefaultMaxEntries = 1024
)

// Config holds the cache's timers and bounds. A zero (or negative) field
// takes its default.
type Config struct {
	ReachableTime      time.Duration // 30s: a confirmed entry is used without question this long (Linux base_reachable_time)
	StaleTime          time.Duration // 60s: an unused stale entry is removed this long after it went stale (garbage collection)
	RetransmitInterval time.Duration // 1s: RFC 1122 §2.3.2.1: at most one request per second per destination
	MaxRetries         int           // 3 requests, then resolution fails (Linux mcast_solicit/ucast_solicit = 3)
	MaxPending         int           // 16: packets queued per unresolved address (RFC 1122 §2.3.2.2 SHOULD keep at least one)
	MaxEntries         int           // 1024: entries in all; when full, new unresolved entries are refused (the packet is dropped)
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		ReachableTime:      DefaultReachableTime,
		StaleTime:          DefaultStaleTime,
		RetransmitInterval: DefaultRetransmitInterval,
		MaxRetries:         DefaultMaxRetries,
		MaxPending:         DefaultMaxPending,
		MaxEntries:         DefaultMaxEntries,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ReachableTime <= 0 {
		c.ReachableTime = d.ReachableTime
	}
	if c.StaleTime <= 0 {
		c.StaleTime = d.StaleTime
	}
	if c.RetransmitInterval <= 0 {
		c.RetransmitInterval = d.RetransmitInterval
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = d.MaxRetries
	}
	if c.MaxPending <= 0 {
		c.MaxPending = d.MaxPending
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = d.MaxEntries
	}
	return c
}

// State is a neighbor entry's state, after Linux's NUD states (and RFC 4861
// §7.3.2, which names the same machine for IPv6).
type State uint8

// Entry states.
//
//	(none) --Resolve--> Incomplete --Update--> Reachable
//	Incomplete --MaxRetries requests unanswered--> (none), queued packets failed
//	Reachable --ReachableTime without Update--> Stale
//	Stale --Resolve--> Probe (unicast refresh requests)
//	Stale --StaleTime unused--> (none)
//	Probe --Update--> Reachable
//	Probe --MaxRetries probes unanswered--> (none)
//	any entry --Update--> Reachable
const (
	StateIncomplete State = iota // request sent, no answer yet; packets queue
	StateReachable               // confirmed within ReachableTime
	StateStale                   // unconfirmed for ReachableTime; still usable
	StateProbe                   // in use while stale; refresh requests sent
)

// String returns the state's name as `ip neigh` prints it.
func (s State) String() string {
	switch s {
	case StateIncomplete:
		return "INCOMPLETE"
	case StateReachable:
		return "REACHABLE"
	case StateStale:
		return "STALE"
	case StateProbe:
		return "PROBE"
	}
	return "State(" + itoa(uint16(s)) + ")"
}

// Entry is a snapshot of one neighbor entry.
type Entry struct {
	IP      netip.Addr
	MAC     ethernet.MAC // zero while Incomplete
	State   State
	Updated time.Time // last confirmation (Reachable), when it went stale (Stale), or when resolution or probing began (Incomplete, Probe)
	Pending int       // packets queued (Incomplete only)
}

// entry is the cache's record for one address.
type entry struct {
	mac     ethernet.MAC
	state   State
	updated time.Time // as Entry.Updated
	// Incomplete and Probe: requests sent so far in this round, and when
	// the next one (or the give-up) is due.
	sent   int
	nextAt time.Time
	// Incomplete: packets waiting for the address, oldest first.
	pending [][]byte
}

// deadline returns when Expire next has work for e.
func (e *entry) deadline(cfg *Config) time.Time {
	switch e.state {
	case StateReachable:
		return e.updated.Add(cfg.ReachableTime) // goes stale
	case StateStale:
		return e.updated.Add(cfg.StaleTime) // garbage collected
	default: // Incomplete, Probe
		return e.nextAt // next request, or give up
	}
}

// Cache is the neighbor cache of one link. Times passed to its methods must
// not go backwards. See the package doc for the concurrency contract.
type Cache struct {
	cfg     Config
	entries map[netip.Addr]*entry

	// Memo of NextDeadline, recomputed after any change to an entry's
	// state or deadline.
	next      time.Time
	hasNext   bool
	nextValid bool
}

// NewCache returns an empty cache. Zero fields of cfg take defaults.
func NewCache(cfg Config) *Cache {
	return &Cache{cfg: cfg.withDefaults(), entries: make(map[netip.Addr]*entry)}
}

// Len returns the number of entries, in every state.
func (c *Cache) Len() int { return len(c.entries) }

// Resolve looks up ip before sending a packet to it at now.
//
//   - Reachable: mac, ok=true, request=false.
//   - Reachable but older than ReachableTime: becomes Stale, and this call
//     behaves as Stale.
//   - Stale: mac, ok=true (keep using it; RFC 1122 §2.3.2.1 lets a host use
//     an entry while revalidating it), and the entry moves to Probe:
//     request=true, and the caller sends a refresh request now (the first
//     of MaxRetries; Expire sends the rest, one per RetransmitInterval).
//   - Probe: mac, ok=true, request=false.
//   - Unknown: creates an Incomplete entry and returns ok=false,
//     request=true: the caller broadcasts a request now (the first of
//     MaxRetries) and Enqueues the packet. If the cache holds MaxEntries
//     entries, nothing is created and ok=false, request=false: the caller
//     drops the packet and counts it.
//   - Incomplete: ok=false, request=false: the caller Enqueues the packet.
//     A request is already outstanding; Expire sends the next one when due
//     (RFC 1122 §2.3.2.1: at most one per second).
//
// Resolve does not allocate for an existing entry.
func (c *Cache) Resolve(ip netip.Addr, now time.Time) (mac ethernet.MAC, ok, request bool) {
	e := c.entries[ip]
	if e == nil {
		if len(c.entries) >= c.cfg.MaxEntries {
			return ethernet.MAC{}, false, false
		}
		c.entries[ip] = &entry{
			state:   StateIncomplete,
			updated: now,
			sent:    1,
			nextAt:  now.Add(c.cfg.RetransmitInterval),
		}
		c.nextValid = false
		return ethernet.MAC{}, false, true
	}
	switch e.state {
	case StateReachable:
		staleAt := e.updated.Add(c.cfg.ReachableTime)
		if now.Before(staleAt) {
			return e.mac, true, false
		}
		e.state, e.updated = StateStale, staleAt
		fallthrough
	case StateStale:
		e.state, e.updated = StateProbe, now
		e.sent, e.nextAt = 1, now.Add(c.cfg.RetransmitInterval)
		c.nextValid = false
		return e.mac, true, true
	case StateProbe:
		return e.mac, true, false
	default: // StateIncomplete
		return ethernet.MAC{}, false, false
	}
}

// Enqueue queues a copy of pkt on ip's Incomplete entry until the address
// resolves (RFC 1122 §2.3.2.2: the link layer SHOULD save at least one
// packet per unresolved address). It returns false if a packet was dropped:
// pkt itself when ip has no Incomplete entry, or, when MaxPending packets
// are already queued, the oldest of them, and pkt is queued in its place.
// RFC 1122 §2.3.2.2 asks that at least "the latest" packet be kept; like
// Linux (__neigh_event_send) we drop from the head, so the newest always is.
func (c *Cache) Enqueue(ip netip.Addr, pkt []byte) bool {
	e := c.entries[ip]
	if e == nil || e.state != StateIncomplete {
		return false
	}
	if len(e.pending) < c.cfg.MaxPending {
		e.pending = append(e.pending, slices.Clone(pkt))
		return true
	}
	// Full: drop the oldest, reusing its buffer when it is big enough.
	old := e.pending[0]
	copy(e.pending, e.pending[1:])
	if cap(old) >= len(pkt) {
		old = append(old[:0], pkt...)
	} else {
		old = slices.Clone(pkt)
	}
	e.pending[len(e.pending)-1] = old
	return false
}

// Update records ip→mac, learned from an ARP packet at now: RFC 826's
// "merge" step. If ip has an entry, it becomes Reachable with mac, whatever
// its state (an entry in Probe is thereby answered). If it has none, one is
// created, Reachable, only when create is true: the stack passes true when
// the packet's target protocol address is ours (RFC 826: "If Merge_flag is
// false, add the triplet"), and is refused if the cache is full.
//
// Every update counts as confirmation (RFC 826 has no notion of
// reachability). Deviation (Linux compat, partial): Linux confirms only on
// a solicited reply and records other senders as STALE.
//
// A group mac (multicast or broadcast) is ignored and nil returned: no
// unicast IP address lives at a group address (RFC 1812 §3.3.2 forbids
// believing such a claim), and storing one would turn unicast traffic
// into broadcast.
//
// Update returns the packets queued for ip, in the order they were queued;
// the caller owns them and sends them to mac.
func (c *Cache) Update(ip netip.Addr, mac ethernet.MAC, now time.Time, create bool) [][]byte {
	if mac.IsMulticast() {
		return nil
	}
	e := c.entries[ip]
	if e == nil {
		if !create || len(c.entries) >= c.cfg.MaxEntries {
			return nil
		}
		e = &entry{}
		c.entries[ip] = e
	}
	pkts := e.pending
	*e = entry{mac: mac, state: StateReachable, updated: now}
	c.nextValid = false
	return pkts
}

// Expire does the work of every deadline that has passed by now:
//
//   - Incomplete, RetransmitInterval after the last request: calls
//     request(ip, ethernet.Broadcast) to send another; once MaxRetries
//     requests have gone unanswered it deletes the entry and calls
//     failed(ip, pkt) for each queued packet, oldest first, handing it over
//     (the stack answers with ICMP host unreachable, RFC 1122 §2.3.2.2).
//   - Probe: likewise, calling request(ip, mac) with the entry's old MAC
//     (a unicast poll, RFC 1122 §2.3.2.1 "Unicast Poll"); after MaxRetries
//     unanswered probes the entry is deleted.
//   - Reachable, ReachableTime after its confirmation: becomes Stale.
//   - Stale, StaleTime after it went stale without being used: deleted.
//
// A late call does each entry's work once, not once per missed interval:
// the next request is due RetransmitInterval after this call. The callbacks
// must not call the Cache's methods.
func (c *Cache) Expire(now time.Time, request func(ip netip.Addr, dst ethernet.MAC), failed func(ip netip.Addr, pkt []byte)) {
	if next, ok := c.NextDeadline(); !ok || now.Before(next) {
		return
	}
	c.nextValid = false
	for ip, e := range c.entries {
		switch e.state {
		case StateIncomplete, StateProbe:
			if now.Before(e.nextAt) {
				continue
			}
			if e.sent >= c.cfg.MaxRetries {
				delete(c.entries, ip)
				for i, pkt := range e.pending {
					e.pending[i] = nil
					failed(ip, pkt)
				}
				continue
			}
			e.sent++
			e.nextAt = now.Add(c.cfg.RetransmitInterval)
			dst := ethernet.Broadcast
			if e.state == StateProbe {
				dst = e.mac
			}
			request(ip, dst)
		case StateReachable, StateStale:
			if e.state == StateReachable {
				staleAt := e.updated.Add(c.cfg.ReachableTime)
				if now.Before(staleAt) {
					continue
				}
				e.state, e.updated = StateStale, staleAt
			}
			if !now.Before(e.updated.Add(c.cfg.StaleTime)) {
				delete(c.entries, ip)
			}
		}
	}
}

// NextDeadline returns the earliest time at which Expire has work, and false
// if it has none. The stack arms its timer for it after each call to the
// cache.
func (c *Cache) NextDeadline() (time.Time, bool) {
	if !c.nextValid {
		c.next, c.hasNext = time.Time{}, false
		for _, e := range c.entries {
			if d := e.deadline(&c.cfg); !c.hasNext || d.Before(c.next) {
				c.next, c.hasNext = d, true
			}
		}
		c.nextValid = true
	}
	return c.next, c.hasNext
}

// Entries returns a snapshot of every entry, sorted by IP. States are as of
// the last call that changed them: a Reachable entry past ReachableTime shows
// as Reachable until Resolve or Expire notices.
func (c *Cache) Entries() []Entry {
	out := make([]Entry, 0, len(c.entries))
	for ip, e := range c.entries {
		out = append(out, Entry{IP: ip, MAC: e.mac, State: e.state, Updated: e.updated, Pending: len(e.pending)})
	}
	slices.SortFunc(out, func(a, b Entry) int { return a.IP.Compare(b.IP) })
	return out
}
