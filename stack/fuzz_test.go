package stack_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// FuzzStack feeds random and mutated frames into a live stack that holds
// two established connections, on peer ports 40000 (exposed to the attack)
// and 40001 (never named by an attack frame). Whatever arrives: no panic,
// and the unattacked connection still carries data both ways afterwards.
//
// The input is a sequence of frames, each a one-byte kind and a one-byte
// length followed by that many bytes: kind 0 sends the bytes raw (after an
// Ethernet header to our MAC), kind 1 mutates a valid TCP segment for the
// exposed connection (bytes overwrite the segment from an offset), kind 2
// a valid ICMP error quoting the exposed connection, kind 3 an ARP packet,
// kind 4 advances the clock by the byte's value in 100 ms steps.
func FuzzStack(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 4, 13, 0x04, 0, 0})            // flags byte → RST
	f.Add([]byte{1, 3, 13, 0x02, 0})               // a SYN on the connection
	f.Add([]byte{1, 6, 4, 0xff, 0xff, 0, 0, 0x10}) // sequence number far off
	f.Add([]byte{2, 2, 3, 3})                      // port unreachable
	f.Add([]byte{2, 2, 3, 4})                      // fragmentation needed
	f.Add([]byte{3, 4, 0, 2, 10, 0})               // ARP reply, mangled
	f.Add([]byte{0, 20, 0x45, 0, 0, 20, 0, 0, 0x20, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Add([]byte{4, 1, 200, 1, 2, 12, 0x50}) // time passes, then a data offset change
	// An IGMPv3 general query to 224.0.0.1 (kind 0), then time for the
	// answer: the IGMP host code under mutation.
	q := make([]byte, ipv4.IGMPv3QueryLen)
	ipv4.EncodeIGMP(q, query(3, 10, netip.IPv4Unspecified()))
	ip := make([]byte, ipv4.HeaderMinLen+len(ipv4.RouterAlert)+len(q))
	ipv4.Encode(ip, ipv4.Fields{TotalLen: len(ip), TTL: 1, Protocol: ipv4.ProtoIGMP, Src: peerIP, Dst: ipv4.AllSystems, Options: ipv4.RouterAlert})
	copy(ip[ipv4.HeaderMinLen+len(ipv4.RouterAlert):], q)
	f.Add(append(append([]byte{0, byte(len(ip))}, ip...), 4, 1, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ARP.ReachableTime = time.Hour })
		_, issA := established(t, e)
		safe, issB := establishedOn(t, e, peerPort+1)
		e.drain()

		template := tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: issA + 1, Flags: tcp.FlagACK, Window: peerWnd}, []byte("payload!"))
		for len(data) >= 2 {
			kind, n := data[0], int(data[1])
			data = data[2:]
			n = min(n, len(data))
			body := data[:n]
			data = data[n:]
			var frame []byte
			switch kind % 5 {
			case 0:
				frame = make([]byte, ethernet.HeaderLen+len(body))
				ethernet.Encode(frame, stackMAC, peerMAC, ethernet.TypeIPv4)
				copy(frame[ethernet.HeaderLen:], body)
			case 1:
				frame = append([]byte(nil), template...)
				if len(body) > 0 {
					off := ethernet.HeaderLen + int(body[0])%(len(frame)-ethernet.HeaderLen)
					copy(frame[off:], body[1:])
				}
			case 2:
				orig := tcpFrame(tcp.Segment{SrcPort: stackPort, DstPort: peerPort, Seq: issA + 1, Flags: tcp.FlagACK}, nil)
				h := ipv4.Header(orig[ethernet.HeaderLen:])
				h.SetSrc(stackIP)
				h.SetDst(peerIP)
				h.SetChecksum()
				typ, code := uint8(3), uint8(3)
				if len(body) >= 2 {
					typ, code = body[0], body[1]
				}
				msg := make([]byte, ipv4.ICMPHeaderLen+len(h))
				m := ipv4.EncodeError(msg, typ, code, 1200, h)
				frame = ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, msg[:m])
			case 3:
				frame = arpFrame(arp.OpReply, peerMAC, peerIP, stackMAC, stackIP, stackMAC)
				copy(frame[ethernet.HeaderLen:], body)
			case 4:
				if len(body) > 0 {
					e.clk.Advance(time.Duration(body[0]) * 100 * time.Millisecond)
				}
				continue
			}
			if bytes.Contains(frame, binary.BigEndian.AppendUint16(nil, peerPort+1)) {
				continue // never touch the safe connection
			}
			e.inject(frame)
		}
		e.drain()

		// The safe connection still works: data in...
		e.inject(tcpFrame(tcp.Segment{SrcPort: peerPort + 1, Seq: peerISS + 1, Ack: issB + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, []byte("still here")))
		buf := make([]byte, 32)
		if n, err := safe.Recv(buf, 0); err != nil || string(buf[:n]) != "still here" {
			t.Fatalf("the unattacked connection lost incoming data: %q, %v", buf[:n], err)
		}
		// ...and data out.
		if _, err := safe.Send([]byte("reply"), 0); err != nil {
			t.Fatalf("the unattacked connection cannot send: %v", err)
		}
		for {
			f, ok := e.peer.TryRead()
			if !ok {
				t.Fatal("the unattacked connection sent nothing")
			}
			h, err := ipv4.Parse(f[ethernet.HeaderLen:])
			if err != nil || h.Protocol() != ipv4.ProtoTCP {
				continue
			}
			s, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
			if err == nil && s.DstPort == peerPort+1 && string(s.Payload) == "reply" && s.Seq == issB+1 {
				break
			}
		}
	})
}

// establishedOn is established for another peer port, on the listener
// established made.
func establishedOn(t *testing.T, e *env, port uint16) (*socket.FD, seqnum.Value) {
	t.Helper()
	e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	synack := e.nextTCP()
	if synack.Flags != tcp.FlagSYN|tcp.FlagACK {
		t.Fatalf("want a SYN-ACK, got %v", &synack)
	}
	iss := synack.Seq
	e.inject(tcpFrame(tcp.Segment{SrcPort: port, Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c, _, err := e.listener.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetNonblock(true)
	return c, iss
}
