// Package dns is a stub resolver (RFC 1035 §7, RFC 1123 §6.1.3.1): it asks
// the recursive servers it is given for A and AAAA records ("ip4": A only,
// "ip6": AAAA only) and
// answers as Go's net.Resolver does, over any transport the caller dials,
// typically a tapstack stack (socket.DialContext).
//
// A lookup tries, in order: an IP literal; the static entries of an
// /etc/hosts-style table (ParseHosts); the cache; then the servers. Names
// with fewer dots than Ndots are tried with the search domains first
// (resolv.conf(5)). A query goes over UDP, Attempts rounds over the servers
// with Timeout each (resolv.conf's timeout:5 attempts:2 by default), and
// again over TCP to the same server when the reply is truncated (RFC 1035
// §4.2.2, RFC 7766 §5). Each query has a random ID, goes out on a freshly
// dialed socket (a random source port, RFC 6056), and only a reply with
// the same ID and question is taken: anything else is dropped and counted
// (RFC 5452 §9). CNAME chains are followed (RFC 1034 §3.6.2), bounded.
//
// Answers are cached for the least TTL of the records used (RFC 1035
// §3.2.1, RFC 2181 §5.2), and NXDOMAIN and no-data answers for the SOA's
// negative TTL (RFC 2308 §5), both bounded; the cache holds at most
// CacheSize names and evicts the least recently used.
//
// Errors are *net.DNSError with IsNotFound, IsTimeout and IsTemporary set
// as the net package sets them, so callers test them with errors.As.
//
// The package imports no part of the stack: time comes from Config.Now,
// connections from the DialFunc, so it is tested against an in-memory
// server under a manual clock.
package dns
