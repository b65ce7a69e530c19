package ipv6

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// The seeds are the golden packets and the edge cases of the unit tests;
// the targets check that nothing panics, that the walks stay inside their
// buffers and end, and that what parses encodes back to the same bytes.

func FuzzParse(f *testing.F) {
	f.Add(echoRequest)
	f.Add(echoRequest[:39])
	f.Add(append(bytes.Clone(echoRequest), 0, 0, 0))
	f.Add([]byte(chain(ProtoHopByHop, []byte("udp!"), optsHdr(ProtoDestOpts, 0x05, 2, 0, 0), optsHdr(ProtoRouting), routingHdr(ProtoFragment, 0, 0), fragHdr(ProtoUDP, 0, false, 1))))
	f.Add([]byte(chain(ProtoFragment, []byte("1234567"), fragHdr(ProtoUDP, 0, true, 1))))
	f.Add([]byte(chain(ProtoRouting, nil, routingHdr(ProtoUDP, RoutingType0, 1))))
	f.Add([]byte(chain(ProtoDestOpts, nil, optsHdr(ProtoHopByHop), optsHdr(ProtoUDP))))
	f.Add([]byte(chain(ProtoHopByHop, nil, optsHdr(ProtoUDP, OptPadN, 0, 0xc2, 4, 0, 1, 0, 0))))
	f.Add([]byte(chain(ProtoDestOpts, nil, []byte{ProtoUDP, 0, OptPadN, 5, 0, 0, 0, 0})))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b)
		gvOK := header.IPv6(b).IsValid(len(b))
		if (err == nil) != gvOK {
			t.Fatalf("Parse %v, gVisor IsValid %v", err, gvOK)
		}
		if err != nil {
			return
		}
		if len(h) != HeaderLen+h.PayloadLen() {
			t.Fatalf("len %d, payload length %d", len(h), h.PayloadLen())
		}
		out := make([]byte, HeaderLen)
		Encode(out, fieldsOf(h))
		if !bytes.Equal(out, h[:HeaderLen]) {
			t.Fatalf("round trip\n% x\nwant\n% x", out, h[:HeaderLen])
		}
		it := h.Exts()
		end := HeaderLen
		for n := 0; ; n++ {
			if n > MaxExtHeaders {
				t.Fatalf("walk did not stop after %d headers", n)
			}
			e, ok, err := it.Next()
			if err != nil || !ok {
				break
			}
			if e.Off != end || e.Off+len(e.Data) > len(h) || len(e.Data) < 8 || len(e.Data)%8 != 0 {
				t.Fatalf("header at %d len %d, expected at %d in %d", e.Off, len(e.Data), end, len(h))
			}
			end += len(e.Data)
		}
		if _, off, ptr := it.Upper(); off > len(h) || ptr >= off {
			t.Fatalf("upper at %d, pointer %d, len %d", off, ptr, len(h))
		}
	})
}

func FuzzICMPv6(f *testing.F) {
	h, _ := Parse(echoRequest)
	f.Add(h.Payload(), uint8(0))
	f.Add(goldenNS, uint8(1))
	f.Add(goldenRA, uint8(1))
	f.Add(h.Payload()[:7], uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, pair uint8) {
		src, dst := loopback, loopback
		if pair%2 == 1 {
			src, dst = llA, snmB
		}
		m, err := ParseICMP(b, src, dst)
		if err != nil {
			// Whatever the bytes, setting the checksum makes them parse.
			if len(b) < ICMPHeaderLen {
				return
			}
			c := bytes.Clone(b)
			ICMP(c).SetChecksum(src, dst)
			if _, err := ParseICMP(c, src, dst); err != nil {
				t.Fatalf("after SetChecksum: %v", err)
			}
			return
		}
		_, _, _, _ = m.Type(), m.Code(), m.MTU(), m.Payload()
		// An echo rebuilt from its fields is the same message.
		if m.Type() == TypeEchoRequest || m.Type() == TypeEchoReply {
			if m.Code() != 0 {
				return
			}
			out := make([]byte, len(m))
			if n := EncodeEcho(out, m.Type(), m.Ident(), m.Seq(), m.Payload(), src, dst); !bytes.Equal(out[:n], m) && !negZero(out[:n], m) {
				t.Fatalf("echo round trip\n% x\nwant\n% x", out[:n], []byte(m))
			}
		}
		// The ND checks never panic on any message that parses.
		_ = ValidateNS(255, src, dst, m)
		_ = ValidateNA(255, dst, m)
		_ = ValidateRS(255, src, m)
		_ = ValidateRA(255, src, m)
		_ = m.NDPOptions()
	})
}

// negZero reports whether a and b differ only in a checksum of 0x0000 vs
// 0xffff, both of which verify.
func negZero(a, b []byte) bool {
	if len(a) != len(b) || !bytes.Equal(a[4:], b[4:]) || !bytes.Equal(a[:2], b[:2]) {
		return false
	}
	x, y := ICMP(a).Checksum(), ICMP(b).Checksum()
	return (x == 0 && y == 0xffff) || (x == 0xffff && y == 0)
}

func FuzzNDPOptions(f *testing.F) {
	f.Add(goldenRA[RALen:])
	f.Add(goldenNS[NSLen:])
	f.Add([]byte{OptMTU, 0, 0, 0, 0, 0, 5, 0xdc})
	f.Add([]byte{OptPrefixInfo, 4, 64, 0xc0, 0, 0, 0, 0})
	f.Add([]byte{OptSourceLinkAddr, 1, 2, 0, 0, 0, 0, 1, OptMTU})
	f.Fuzz(func(t *testing.T, b []byte) {
		it := Options(b)
		end := 0
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if len(o.Data) < 8 || len(o.Data)%8 != 0 || &o.Data[0] != &b[end] {
				t.Fatalf("option at %d of %d octets", end, len(o.Data))
			}
			end += len(o.Data)
			if o.ValidPrefixInfo() {
				p, ok := o.Prefix()
				_ = p
				if ok != (o.PrefixLen() <= 128) {
					t.Fatalf("prefix length %d: ok %v", o.PrefixLen(), ok)
				}
			}
		}
		if (it.Err() == nil) != (end == len(b)) {
			t.Fatalf("ended at %d of %d with %v", end, len(b), it.Err())
		}
		// gVisor's checked iterator refuses the same framing errors (it
		// also refuses bodies it models: a prefix option of the wrong
		// length, so only our rejections are compared).
		if it.Err() != nil && gvisorNDPOptionsOK(b) {
			t.Fatalf("we refuse (%v), gVisor accepts % x", it.Err(), b)
		}
		// Rebuilding the options we read gives the same bytes.
		var out []byte
		it = Options(b)
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			out = append(out, o.Data...)
		}
		if !bytes.Equal(out, b[:end]) {
			t.Fatal("options do not concatenate back to the input")
		}
	})
}
