package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The TCP demux and the stack's side of each connection: which segments a
// full table or exhausted memory refuses, ISS choice, ICMP errors handed
// to connections, the path MTU cache.

// TestTCP_ListenerAtItsLimits_RefusesOpeningsOnly: with the connection
// table full (or TCP memory exhausted) a listener drops what would open a
// connection, a SYN or a completing ACK (a SYN cookie's, RFC 4987 §3.6),
// and counts it; a RST is ignored as in any LISTEN (RFC 9293 §3.10.7.2),
// and a segment with none of SYN, ACK, RST is dropped uncounted
// (§3.10.7.2: "drop the segment and return").
func TestTCP_ListenerAtItsLimits_RefusesOpeningsOnly(t *testing.T) {
	for _, c := range []struct {
		name    string
		limit   func(*stack.Config, *nic.PipeConfig)
		fill    func(t *testing.T, e *env)
		counter string
	}{
		{"connection table full", func(c *stack.Config, _ *nic.PipeConfig) { c.MaxConnections = 1 }, func(t *testing.T, e *env) { established(t, e) }, "TCP.ConnLimitDrops"},
		{"TCP memory exhausted", func(c *stack.Config, _ *nic.PipeConfig) { c.TCPMemoryLimit = 16 << 10 }, func(t *testing.T, e *env) {
			_, iss := established(t, e)
			seq := peerISS + 1
			for range 16 { // 16000 unread bytes: a 16 KiB ring, the limit
				e.inject(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, pattern(1000)))
				seq += 1000
			}
			e.drain()
		}, "TCP.MemLimitDrops"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.limit)
			c.fill(t, e)
			for _, s := range []struct {
				name    string
				flags   tcp.Flags
				counted bool
			}{
				{"SYN", tcp.FlagSYN, true},
				{"ACK", tcp.FlagACK, true},
				{"SYN-ACK", tcp.FlagSYN | tcp.FlagACK, true},
				{"RST", tcp.FlagRST, false},
				{"RST-ACK", tcp.FlagRST | tcp.FlagACK, false},
				{"FIN", tcp.FlagFIN, false},
			} {
				seg := tcpFrame(tcp.Segment{SrcPort: peerPort + 1, Seq: peerISS, Ack: 5000, Flags: s.flags, Window: peerWnd}, nil)
				want := in(len(seg), map[string]int64{"IPv4.InDelivers": 1, "TCP.InSegs": 1})
				if s.counted {
					want[c.counter] = 1
				}
				e.expectCounted(s.name, want, func() { e.inject(seg) })
				e.none()
			}
		})
	}
}

// TestTCP_PassiveOpen_ISSFromTheGenerator: each connection's ISS comes from
// the RFC 6528 generator (a keyed hash of the 4-tuple plus a clock), so
// the ISSs of connections from different ports differ and none is a fixed
// value.
func TestTCP_PassiveOpen_ISSFromTheGenerator(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	tcpListen(t, e)
	seen := map[uint32]uint16{}
	for port := uint16(41000); port < 41020; port++ {
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd}, nil))
		iss := uint32(e.nextTCP().Seq)
		if other, dup := seen[iss]; dup {
			t.Fatalf("ports %d and %d got the same ISS %d", other, port, iss)
		}
		seen[iss] = port
	}
}

// TestTCPICMP_PathMTU_OnlyFromFragNeeded_AppliesToActiveOpens: only a
// "fragmentation needed" (type 3 code 4, RFC 1191 §4) that a connection
// accepted teaches the path MTU; the next connection to that destination,
// an active open too, sends segments that fit it from its first data
// segment (RFC 1191 §5); other errors carry no MTU (the field is unused,
// RFC 792) and teach nothing. Each accepted error is counted once.
func TestTCPICMP_PathMTU_OnlyFromFragNeeded_AppliesToActiveOpens(t *testing.T) {
	e := newEnv(t, longARP)
	e.learnPeer()
	// firstData opens a connection to port and returns how many bytes its
	// first data segment carries.
	firstData := func(port uint16) int {
		t.Helper()
		c, _ := e.st.NewTCPEndpoint()
		t.Cleanup(func() { c.Close() })
		if err := c.Connect(netip.AddrPortFrom(peerIP, port)); !errors.Is(err, syscall.EINPROGRESS) {
			t.Fatal(err)
		}
		syn := e.nextTCP()
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, DstPort: syn.SrcPort, Seq: peerISS, Ack: syn.Seq + 1, Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
		e.nextTCP() // the ACK
		c.Write(pattern(3000))
		n := len(e.nextTCP().Payload)
		e.drain()
		return n
	}
	// errorAbout sends an ICMP error quoting a data segment of a fresh
	// connection to port.
	errorAbout := func(port uint16, typ, code uint8, rest uint32, more map[string]int64) {
		t.Helper()
		c, _ := e.st.NewTCPEndpoint()
		t.Cleanup(func() { c.Close() })
		c.Connect(netip.AddrPortFrom(peerIP, port))
		syn := e.nextTCP()
		e.inject(tcpFrame(tcp.Segment{SrcPort: port, DstPort: syn.SrcPort, Seq: peerISS, Ack: syn.Seq + 1, Flags: tcp.FlagSYN | tcp.FlagACK, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
		e.nextTCP()
		c.Write(pattern(100))
		data := e.nextTCPDatagram()
		more["IPv4.InDelivers"]++
		more["ICMP.InMsgs"]++
		more[map[uint8]string{ipv4.TypeDestUnreachable: "ICMP.InDestUnreachs", ipv4.TypeTimeExceeded: "ICMP.InTimeExcds"}[typ]]++
		more["TCP.ICMPErrors"]++
		e.expectCounted("ICMP error about a segment in flight", in(len(icmpAbout(typ, code, rest, data)), more), func() { e.inject(icmpAbout(typ, code, rest, data)) })
		e.drain()
	}
	errorAbout(1, ipv4.TypeDestUnreachable, ipv4.CodeHostUnreachable, 1000, map[string]int64{})
	errorAbout(2, ipv4.TypeTimeExceeded, ipv4.CodeFragNeeded, 1000, map[string]int64{}) // a time exceeded with code 4: not a frag needed
	if n := firstData(3); n != 1460 {
		t.Fatalf("after errors that are not frag needed, the first segment carries %d bytes, want 1460", n)
	}
	// A frag needed: the segment it quotes is resent at once in segments
	// that fit (RFC 1191 §6.5), here the 100 bytes in one.
	errorAbout(4, ipv4.TypeDestUnreachable, ipv4.CodeFragNeeded, 1000, out(ethernet.HeaderLen+ipv4.HeaderMinLen+tcp.HeaderMinLen+100, map[string]int64{
		"TCP.OutSegs": 1, "TCP.RetransSegs": 1,
	}))
	if n := firstData(5); n != 960 {
		t.Fatalf("after a frag needed for MTU 1000, a new connection's first segment carries %d bytes, want 960", n)
	}
}
