// Package ipv6 holds the IPv6 wire codecs (RFC 8200): the fixed header, the
// extension-header walk, ICMPv6 (RFC 4443) and the NDP messages and options
// (RFC 4861 §4). Views are zero-copy over []byte; parsers return a typed error
// per drop reason so the stack can count them; encoders write into a caller's
// buffer. Nothing here is wired into the stack yet (issue 12).
package ipv6
