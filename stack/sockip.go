package stack

import "syscall"

// IPOption names one of a socket's own IP header fields, set with
// SetIPOption on a TCP or UDP endpoint (setsockopt(2) in package socket).
type IPOption int

const (
	// IPTTL is IP_TTL, the Time to Live of the socket's IPv4 datagrams
	// (RFC 9293 §3.9.2 MUST-49, RFC 1122 §3.2.1.7): 1 to 255, or -1 for
	// the stack's (Config.TTL).
	IPTTL IPOption = iota + 1
	// IPTOS is IP_TOS, the Type of Service octet of its IPv4 datagrams
	// (RFC 9293 §3.9.1.9 MUST-48: DSCP, RFC 2474). Any value; the low
	// octet is kept, as Linux. On a TCP socket the ECN bits stay TCP's
	// (RFC 3168 §6.1.1).
	IPTOS
	// IPv6HopLimit is IPV6_UNICAST_HOPS, the Hop Limit of its IPv6
	// packets (RFC 3493 §5.1): 0 to 255, or -1 for the stack's.
	IPv6HopLimit
	// IPv6TrafficClass is IPV6_TCLASS, the Traffic Class of its IPv6
	// packets (RFC 3542 §6.5): 0 to 255, or -1 for the default, 0. On a
	// TCP socket the ECN bits stay TCP's.
	IPv6TrafficClass
)

// sockIP is a socket's own IP header fields. The zero value is the
// stack's defaults. A socket of either family keeps all four: an AF_INET6
// socket's IPv4-mapped peers get the IPv4 ones, as on Linux.
type sockIP struct {
	ttl     uint8 // 0: the stack's TTL (IP_TTL cannot be 0)
	tos     uint8
	hops    uint8
	hopsSet bool // hops is set (IPV6_UNICAST_HOPS may be 0)
	tclass  uint8
}

// set sets opt to v with Linux's checks (do_ip_setsockopt,
// do_ipv6_setsockopt): EINVAL outside the bounds. On a stream socket the
// ECN bits of TOS and Traffic Class are left out (Linux's
// __ip_sock_set_tos masks INET_ECN_MASK): TCP sets them per segment.
func (o *sockIP) set(opt IPOption, v int, stream bool) error {
	switch opt {
	case IPTTL:
		if v != -1 && (v < 1 || v > 255) {
			return syscall.EINVAL
		}
		o.ttl = uint8(max(v, 0))
	case IPTOS:
		o.tos = uint8(v)
	case IPv6HopLimit:
		if v < -1 || v > 255 {
			return syscall.EINVAL
		}
		o.hops, o.hopsSet = uint8(max(v, 0)), v >= 0
	case IPv6TrafficClass:
		if v < -1 || v > 255 {
			return syscall.EINVAL
		}
		o.tclass = uint8(max(v, 0))
	default:
		return syscall.ENOPROTOOPT
	}
	if stream {
		o.tos &^= ecnMask
		o.tclass &^= ecnMask
	}
	return nil
}

// get reads opt as getsockopt(2) does: an unset TTL or hop limit reads as
// the stack's.
func (o *sockIP) get(opt IPOption, s *Stack) (int, error) {
	switch opt {
	case IPTTL:
		return int(o.ttl4(s.ttl)), nil
	case IPTOS:
		return int(o.tos), nil
	case IPv6HopLimit:
		return int(o.hopLimit6(s.hopLimit6Locked())), nil
	case IPv6TrafficClass:
		return int(o.tclass), nil
	}
	return 0, syscall.ENOPROTOOPT
}

// ttl4 is the TTL for the socket's IPv4 datagrams, def unless set; a nil
// sockIP (a segment no socket owns, such as a RST to a closed port) has
// the defaults.
func (o *sockIP) ttl4(def uint8) uint8 {
	if o == nil || o.ttl == 0 {
		return def
	}
	return o.ttl
}

// hopLimit6 is the Hop Limit for the socket's IPv6 packets, def unless set.
func (o *sockIP) hopLimit6(def uint8) uint8 {
	if o == nil || !o.hopsSet {
		return def
	}
	return o.hops
}

// tos4 is the TOS octet for the socket's IPv4 datagrams, 0 for none.
func (o *sockIP) tos4() uint8 {
	if o == nil {
		return 0
	}
	return o.tos
}

// tclass6 is the Traffic Class for the socket's IPv6 packets, 0 for none.
func (o *sockIP) tclass6() uint8 {
	if o == nil {
		return 0
	}
	return o.tclass
}
