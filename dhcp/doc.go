// Package dhcp is a DHCP client (RFC 2131, with the options of RFC 2132
// that a host needs: address, subnet mask, router, DNS servers, MTU and the
// lease times).
//
// It has three parts. wire.go is the message codec. Client is the client
// state machine of RFC 2131 §4.4 (figure 5), sans-IO: it is driven by
// explicit calls that carry the time (Start, Handle, Timeout, Decline,
// Release) and answers with the messages to send and the lease events, and
// it reports the next deadline; it reads no clock and does no I/O, so tests
// run it under a manual clock. Run binds a Client to a stack.Stack: it
// sends and receives on UDP port 68, applies each lease with
// stack.SetAddr, renews in the background and releases on Close.
//
// A Client is not safe for concurrent use; a Runner is.
package dhcp
