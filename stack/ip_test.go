package stack_test

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
)

func TestICMP_Echo_ReplyMirrorsRequest(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	data := pattern(56)
	e.inject(ipFrame(ipv4.Fields{ID: 77, TOS: 0x10, Protocol: ipv4.ProtoICMP}, echoRequest(0x1234, 9, data)))
	ip, m := e.nextICMP()
	if ip.Src() != stackIP || ip.Dst() != peerIP || ip.TTL() != 64 || ip.TOS() != 0x10 {
		t.Errorf("reply header src=%v dst=%v ttl=%d tos=%#x", ip.Src(), ip.Dst(), ip.TTL(), ip.TOS())
	}
	if m.Type() != ipv4.TypeEchoReply || m.Code() != 0 || m.Ident() != 0x1234 || m.Seq() != 9 {
		t.Errorf("reply type=%d code=%d id=%#x seq=%d", m.Type(), m.Code(), m.Ident(), m.Seq())
	}
	if !bytes.Equal(m.Payload(), data) {
		t.Error("reply data differs from the request's (RFC 792: returned unchanged)")
	}
	e.none()
}

func TestICMP_Echo_UnknownNeighbourResolvedFirst(t *testing.T) {
	e := newEnv(t)
	e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Src: otherIP}, echoRequest(1, 1, nil)))
	_, h := nextARP(e)
	if h.TargetIP() != otherIP {
		t.Fatalf("resolving %v, want %v", h.TargetIP(), otherIP)
	}
	e.inject(arpFrame(2, peerMAC, otherIP, stackMAC, stackIP, stackMAC))
	if ip, m := e.nextICMP(); m.Type() != ipv4.TypeEchoReply || ip.Dst() != otherIP {
		t.Fatalf("reply type %d to %v", m.Type(), ip.Dst())
	}
}

func TestICMP_Echo_BadChecksumDropped(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	req := echoRequest(1, 1, []byte("data"))
	req[2] ^= 0xff
	e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, req))
	e.none()
	if got := e.st.Stats().ICMP.InErrors; got != 1 {
		t.Fatalf("InErrors = %d, want 1", got)
	}
}

func TestICMP_Echo_BroadcastIgnored(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	for _, dst := range []string{"10.0.0.255", "255.255.255.255"} {
		e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Dst: netip.MustParseAddr(dst)}, echoRequest(1, 1, nil)))
	}
	e.none()
	if got := e.st.Stats().ICMP.InBroadcastEchos; got != 2 {
		t.Fatalf("InBroadcastEchos = %d, want 2", got)
	}
}

func TestICMP_Echo_LargestReassembledRequestAnsweredFragmented(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	data := pattern(ipv4.MaxTotalLen - ipv4.HeaderMinLen - ipv4.ICMPHeaderLen)
	for _, f := range fragments(t, ipFrame(ipv4.Fields{ID: 5, Protocol: ipv4.ProtoICMP}, echoRequest(7, 7, data)), 1500) {
		e.inject(f)
	}
	var reply []byte
	frags := 0
	for {
		f, ok := e.peer.TryRead()
		if !ok {
			break
		}
		frags++
		if len(f) > ethernet.HeaderLen+1500 {
			t.Fatalf("fragment of %d bytes exceeds the MTU", len(f)-ethernet.HeaderLen)
		}
		h, err := ipv4.Parse(f[ethernet.HeaderLen:])
		if err != nil {
			t.Fatal(err)
		}
		if h.FragOffset() != len(reply) {
			t.Fatalf("fragment at offset %d, want %d", h.FragOffset(), len(reply))
		}
		reply = append(reply, h.Payload()...)
	}
	if frags != 45 {
		t.Errorf("%d fragments, want 45", frags)
	}
	m, err := ipv4.ParseICMP(reply)
	if err != nil || m.Type() != ipv4.TypeEchoReply || !bytes.Equal(m.Payload(), data) {
		t.Fatalf("reassembled reply: err=%v type=%d equal=%v", err, m.Type(), bytes.Equal(m.Payload(), data))
	}
}

func TestIPv4_UnknownProtocol_ProtocolUnreachable(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	orig := ipFrame(ipv4.Fields{ID: 99, Protocol: 253}, pattern(40))
	e.inject(orig)
	ip, m := e.nextICMP()
	if m.Type() != ipv4.TypeDestUnreachable || m.Code() != ipv4.CodeProtoUnreachable || ip.Dst() != peerIP {
		t.Fatalf("got type %d code %d to %v, want 3/2 to the sender", m.Type(), m.Code(), ip.Dst())
	}
	if ip.TOS() != 0xc0 {
		t.Errorf("error TOS %#x, want 0xc0 (precedence internetwork control, as Linux)", ip.TOS())
	}
	if !bytes.Equal(m.Payload(), orig[ethernet.HeaderLen:]) {
		t.Error("the quote is not the whole offending datagram")
	}
	if got := e.st.Stats().IPv4.InUnknownProtos; got != 1 {
		t.Fatalf("InUnknownProtos = %d", got)
	}
}

func TestIPv4_Validation_DropsAndCounts(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	good := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, nil))
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b[ethernet.HeaderLen:])
		return b
	}
	cases := []struct {
		name  string
		frame []byte
		count func(stack.IPv4Stats) uint64
	}{
		{"truncated", good[:ethernet.HeaderLen+10], func(s stack.IPv4Stats) uint64 { return s.InTruncated }},
		{"version 6", mut(func(b []byte) { b[0] = 0x65 }), func(s stack.IPv4Stats) uint64 { return s.InBadVersion }},
		{"IHL 4", mut(func(b []byte) { b[0] = 0x44 }), func(s stack.IPv4Stats) uint64 { return s.InBadHeaderLen }},
		{"total length beyond frame", mut(func(b []byte) { b[2], b[3] = 0x05, 0xdc }), func(s stack.IPv4Stats) uint64 { return s.InBadTotalLen }},
		{"bad checksum", mut(func(b []byte) { b[10] ^= 1 }), func(s stack.IPv4Stats) uint64 { return s.InCsumErrors }},
		{"broadcast source", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Src: netip.MustParseAddr("255.255.255.255")}, echoRequest(1, 1, nil)), func(s stack.IPv4Stats) uint64 { return s.InBadSource }},
		{"subnet broadcast source", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Src: netip.MustParseAddr("10.0.0.255")}, echoRequest(1, 1, nil)), func(s stack.IPv4Stats) uint64 { return s.InBadSource }},
		{"loopback source", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Src: netip.MustParseAddr("127.0.0.1")}, echoRequest(1, 1, nil)), func(s stack.IPv4Stats) uint64 { return s.InBadSource }},
		{"our own source", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Src: stackIP}, echoRequest(1, 1, nil)), func(s stack.IPv4Stats) uint64 { return s.InBadSource }},
		{"not for us", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Dst: otherIP}, echoRequest(1, 1, nil)), func(s stack.IPv4Stats) uint64 { return s.InAddrErrors }},
		{"loose source route", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Options: []byte{1, 0x83, 7, 8, 10, 0, 0, 1}}, echoRequest(1, 1, nil)), func(s stack.IPv4Stats) uint64 { return s.InSourceRouted }},
		{"strict source route", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Options: []byte{1, 0x89, 7, 8, 10, 0, 0, 1}}, echoRequest(1, 1, nil)), func(s stack.IPv4Stats) uint64 { return s.InSourceRouted }},
		{"option length below 2", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Options: []byte{0x44, 1, 0, 0}}, echoRequest(1, 1, nil)), func(s stack.IPv4Stats) uint64 { return s.InBadOptions }},
		{"multicast", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Dst: netip.MustParseAddr("239.9.9.9")}, echoRequest(1, 1, nil)), func(s stack.IPv4Stats) uint64 { return s.InMulticast }},
	}
	for _, c := range cases {
		before := c.count(e.st.Stats().IPv4)
		e.inject(c.frame)
		e.none()
		if got := c.count(e.st.Stats().IPv4) - before; got != 1 {
			t.Errorf("%s: counter moved by %d, want 1", c.name, got)
		}
	}
}

func TestLink_FrameNotForUs_Counted(t *testing.T) {
	e := newEnv(t)
	f := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, echoRequest(1, 1, nil))
	copy(f, []byte{0x02, 9, 9, 9, 9, 9})
	e.inject(f)
	e.inject(f[:10])
	lldp := append([]byte(nil), f...) // LLDP: an EtherType the stack does not handle
	copy(lldp, stackMAC[:])
	lldp[12], lldp[13] = 0x88, 0xcc
	e.inject(lldp)
	e.none()
	s := e.st.Stats().Link
	if s.NotForUs != 1 || s.Malformed != 1 || s.UnknownEtherType != 1 {
		t.Fatalf("link stats %+v", s)
	}
}

func TestReassembly_AnyOrder_EchoAnswered(t *testing.T) {
	orders := map[string]func([][]byte) [][]byte{
		"in order": func(f [][]byte) [][]byte { return f },
		"reversed": func(f [][]byte) [][]byte {
			r := make([][]byte, len(f))
			for i := range f {
				r[len(f)-1-i] = f[i]
			}
			return r
		},
		"shuffled": func(f [][]byte) [][]byte {
			rand.New(rand.NewPCG(1, 1)).Shuffle(len(f), func(i, j int) { f[i], f[j] = f[j], f[i] })
			return f
		},
		"duplicated": func(f [][]byte) [][]byte { return append(append([][]byte{}, f[:2]...), f...) },
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.learnPeer()
			data := pattern(3000)
			for _, f := range order(fragments(t, ipFrame(ipv4.Fields{ID: 42, Protocol: ipv4.ProtoICMP}, echoRequest(3, 4, data)), 1500)) {
				e.inject(f)
			}
			var reply []byte
			for {
				f, ok := e.peer.TryRead()
				if !ok {
					break
				}
				h, _ := ipv4.Parse(f[ethernet.HeaderLen:])
				reply = append(reply, h.Payload()...)
			}
			m, err := ipv4.ParseICMP(reply)
			if err != nil || m.Type() != ipv4.TypeEchoReply || !bytes.Equal(m.Payload(), data) {
				t.Fatalf("reply: err=%v", err)
			}
			if s := e.st.Stats().IPv4; s.ReasmOKs != 1 {
				t.Fatalf("ReasmOKs = %d", s.ReasmOKs)
			}
		})
	}
}

func TestReassembly_Overlap_DatagramDiscarded(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	frags := fragments(t, ipFrame(ipv4.Fields{ID: 42, Protocol: ipv4.ProtoICMP}, echoRequest(3, 4, pattern(3000))), 1500)
	// A fragment that overlaps the first one's tail partially (Linux
	// discards the whole datagram; one wholly inside is a mere duplicate).
	ov := ipFrame(ipv4.Fields{ID: 42, Protocol: ipv4.ProtoICMP, MF: true, FragOffset: 1472}, pattern(24))
	e.inject(frags[0])
	e.inject(ov)
	for _, f := range frags[1:] {
		e.inject(f)
	}
	e.none()
	s := e.st.Stats().IPv4
	if s.ReasmOverlaps != 1 || s.ReasmOKs != 0 {
		t.Fatalf("ReasmOverlaps=%d ReasmOKs=%d, want 1 and 0", s.ReasmOverlaps, s.ReasmOKs)
	}
}

func TestReassembly_Timeout_TimeExceededOnlyIfFirstFragmentCame(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ARP.ReachableTime = time.Hour })
	e.learnPeer()
	frags := fragments(t, ipFrame(ipv4.Fields{ID: 1, Protocol: ipv4.ProtoUDP}, udpDatagram(netip.AddrPortFrom(peerIP, 5), netip.AddrPortFrom(stackIP, 9), pattern(3000))), 1500)
	e.inject(frags[0])
	later := fragments(t, ipFrame(ipv4.Fields{ID: 2, Protocol: ipv4.ProtoUDP}, udpDatagram(netip.AddrPortFrom(peerIP, 5), netip.AddrPortFrom(stackIP, 9), pattern(3000))), 1500)
	e.inject(later[1])
	e.clk.Advance(29 * time.Second)
	e.none()
	e.clk.Advance(time.Second)
	ip, m := e.nextICMP()
	if m.Type() != ipv4.TypeTimeExceeded || m.Code() != ipv4.CodeReassemblyTimeout || ip.Dst() != peerIP {
		t.Fatalf("got %d/%d, want 11/1", m.Type(), m.Code())
	}
	if q, _, err := ipv4.Quoted(m); err != nil || q.ID() != 1 {
		t.Fatalf("quote: %v id=%d, want the first fragment of datagram 1", err, q.ID())
	}
	e.none() // datagram 2 lacked its first fragment: no error (RFC 1122 §3.3.2)
	if got := e.st.Stats().IPv4.ReasmTimeouts; got != 2 {
		t.Fatalf("ReasmTimeouts = %d, want 2", got)
	}
}

func TestICMP_NoErrorAboutAnICMPError(t *testing.T) {
	// A fragmented ICMP error message that never completes must not draw a
	// time-exceeded (RFC 1122 §3.2.2).
	e := newEnv(t)
	e.learnPeer()
	inner := ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP, Src: stackIP, Dst: peerIP}, pattern(1400))[ethernet.HeaderLen:]
	msg := make([]byte, ipv4.ICMPHeaderLen+len(inner))
	n := ipv4.EncodeError(msg, ipv4.TypeDestUnreachable, ipv4.CodeHostUnreachable, 0, ipv4.Header(inner))
	frame := ipFrame(ipv4.Fields{ID: 3, Protocol: ipv4.ProtoICMP}, msg[:n])
	frags := fragments(t, frame, 300)
	e.inject(frags[0])
	e.clk.Advance(time.Minute)
	e.none()
	if got := e.st.Stats().ICMP.OutErrorsSuppressd; got != 1 {
		t.Fatalf("OutErrorsSuppressd = %d, want 1; stats %+v", got, e.st.Stats())
	}
}

func TestICMP_ErrorRateLimited(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ICMPErrorRate, c.ICMPErrorBurst = 10, 3 })
	e.learnPeer()
	for i := 0; i < 5; i++ {
		e.inject(ipFrame(ipv4.Fields{Protocol: 253}, nil))
	}
	for i := 0; i < 3; i++ {
		e.nextICMP()
	}
	e.none()
	e.clk.Advance(100 * time.Millisecond) // one token back at 10/s
	e.inject(ipFrame(ipv4.Fields{Protocol: 253}, nil))
	e.nextICMP()
	if got := e.st.Stats().ICMP.OutRateLimited; got != 2 {
		t.Fatalf("OutRateLimited = %d, want 2", got)
	}
}
