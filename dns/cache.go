package dns

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Cache bounds.
const (
	// DefaultCacheSize is the number of names cached when Config.CacheSize
	// is 0.
	DefaultCacheSize = 1024
	// maxTTL caps how long an answer is kept, whatever its TTL: a day, as
	// unbound's cache-max-ttl (RFC 2181 §8 allows up to 2^31-1 seconds; a
	// stub has no reason to trust a server for longer).
	maxTTL = 24 * time.Hour
	// maxNegativeTTL caps a negative answer's lifetime: RFC 2308 §5 finds
	// one to three hours to work well and recommends no more than a day;
	// we keep the lower three hours, as unbound's cache-max-negative-ttl.
	maxNegativeTTL = 3 * time.Hour
)

// cacheKey is one question: a canonical name and a type (class is IN).
type cacheKey struct {
	name  string
	qtype dnsmessage.Type
}

// cacheEntry is a cached answer: the addresses, or none for a negative
// answer (nxdomain tells NXDOMAIN from no data, RFC 2308 §2).
type cacheEntry struct {
	key      cacheKey
	addrs    []netip.Addr
	nxdomain bool
	expires  time.Time
}

// cache is a bounded LRU of answers with expiry times. Safe for concurrent
// use.
type cache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front: most recently used
	items map[cacheKey]*list.Element
}

func newCache(max int) *cache {
	return &cache{max: max, ll: list.New(), items: make(map[cacheKey]*list.Element)}
}

// get returns the live entry for k, dropping it if it has expired (RFC
// 1035 §3.2.1: the TTL is how long the record may be cached).
func (c *cache) get(k cacheKey, now time.Time) (cacheEntry, bool) {
	if c == nil {
		return cacheEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return cacheEntry{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, k)
		return cacheEntry{}, false
	}
	c.ll.MoveToFront(el)
	return *e, true
}

// put stores e, evicting the least recently used entry when full. A zero
// lifetime is not stored (a TTL of 0 means "use once", RFC 1035 §3.2.1).
func (c *cache) put(e cacheEntry, now time.Time) {
	if c == nil || !e.expires.After(now) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.key]; ok {
		el.Value = &e
		c.ll.MoveToFront(el)
		return
	}
	for c.ll.Len() >= c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
	c.items[e.key] = c.ll.PushFront(&e)
}

// len returns the number of entries, live or expired.
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
