package ipv4

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	gvchecksum "gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Seed corpora live in testdata/fuzz/<Name>/; f.Add adds the golden
// captures and hand-made edge cases on top.

// normalised clears what a Parse → Encode round trip may legitimately
// change: the reserved flag bit (Fields has no place for it; Parse accepts
// it, as Linux and gVisor do) and the checksum (0x0000 and 0xffff both
// verify when the rest of the header sums to 0xffff; Encode produces 0x0000).
func normalised(h []byte) []byte {
	c := bytes.Clone(h)
	c[offFlagsFO] &^= flagReserved >> 8
	c[offChecksum], c[offChecksum+1] = 0, 0
	return c
}

func FuzzParse(f *testing.F) {
	f.Add(echoRequest)
	f.Add(echoReply)
	f.Add(append(bytes.Clone(echoRequest), 0, 0, 0, 0)) // link padding
	f.Add(build(Fields{ID: 1, MF: true, FragOffset: 1480, TTL: 1, Protocol: ProtoTCP, Src: addrA, Dst: addrB, Options: []byte{0x94, 4, 0, 0}}, []byte("x")))
	f.Add(build(Fields{TTL: 64, Protocol: ProtoICMP, Src: addrA, Dst: addrB, Options: []byte{OptRecordRoute, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}}, []byte("x")))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Parse(data)

		// gVisor's IsValid checks version and lengths, not options;
		// IsChecksumValid checks the header checksum.
		g := header.IPv4(data)
		gvOK := len(data) >= header.IPv4MinimumSize && g.IsValid(len(data)) && g.IsChecksumValid()
		if err != nil {
			// Legitimate difference: gVisor's header package does not
			// validate options (its stack does later), so it may accept
			// what we reject with ErrOptions.
			if gvOK && err != ErrOptions {
				t.Fatalf("we reject (%v) what gVisor accepts", err)
			}
			return
		}
		if !gvOK {
			t.Fatalf("we accept what gVisor rejects: % x", data)
		}

		// Every accessor agrees with gVisor's.
		if h.HeaderLen() != int(g.HeaderLength()) || h.TotalLen() != int(g.TotalLength()) ||
			h.ID() != g.ID() || h.Protocol() != g.Protocol() || h.TTL() != g.TTL() ||
			h.FragOffset() != int(g.FragmentOffset()) || h.MF() != g.More() ||
			h.DF() != (g.Flags()&header.IPv4FlagDontFragment != 0) ||
			h.Checksum() != g.Checksum() || h.Version() != 4 {
			t.Fatalf("accessor disagrees with gVisor")
		}
		if tos, _ := g.TOS(); h.TOS() != tos {
			t.Fatalf("TOS %d, gVisor %d", h.TOS(), tos)
		}
		if h.Src().As4() != g.SourceAddress().As4() || h.Dst().As4() != g.DestinationAddress().As4() {
			t.Fatalf("addresses disagree")
		}
		if !bytes.Equal(h.Payload(), g.Payload()) || !bytes.Equal(h.Options(), []byte(g.Options())) {
			t.Fatalf("payload or options disagree")
		}
		if len(h) != h.TotalLen() {
			t.Fatalf("len %d, total length %d", len(h), h.TotalLen())
		}

		// Encode(fields) + payload parses back to the same datagram.
		fl := fieldsOf(h)
		b := make([]byte, len(h))
		n := Encode(b, fl)
		copy(b[n:], h.Payload())
		h2, err := Parse(b)
		if err != nil {
			t.Fatalf("re-encoded datagram: %v", err)
		}
		if !fieldsEqual(fieldsOf(h2), fl) || !bytes.Equal(h2.Payload(), h.Payload()) {
			t.Fatalf("round trip changed fields")
		}
		if !bytes.Equal(normalised(h2[:n]), normalised(h[:n])) {
			t.Fatalf("round trip changed header bytes:\n% x\n% x", []byte(h2[:n]), []byte(h[:n]))
		}

		// A valid Record Route option gives a reply's options that encode
		// into a header and parse back with the option in them.
		if ptr, ok := h.RecordRouteProblem(); !ok {
			if ptr < HeaderMinLen || ptr >= h.HeaderLen() {
				t.Fatalf("parameter problem pointer %d outside the options", ptr)
			}
		} else if opts := h.RecordRouteReply(addrA); h.HasOption(OptRecordRoute) {
			b := make([]byte, HeaderMinLen+len(opts))
			Encode(b, Fields{TotalLen: len(b), TTL: 64, Protocol: ProtoICMP, Src: addrA, Dst: addrB, Options: opts})
			r, err := Parse(b)
			if err != nil || !r.HasOption(OptRecordRoute) {
				t.Fatalf("reply options % x: %v", opts, err)
			}
		} else if opts != nil {
			t.Fatalf("reply options % x without a Record Route option", opts)
		}

		// Quoting it in an ICMP error and reading it back must work when
		// the quote holds the header and 8 octets.
		if ErrorAllowed(h, false, false) && len(h.Payload()) >= 8 {
			msg := make([]byte, ICMPHeaderLen+MaxQuote)
			n := EncodeError(msg, TypeDestUnreachable, CodePortUnreachable, 0, h)
			m, err := ParseICMP(msg[:n])
			if err != nil {
				t.Fatalf("EncodeError output: %v", err)
			}
			q, tr, err := Quoted(m)
			if err != nil || q.ID() != h.ID() || !bytes.Equal(tr, h.Payload()[:len(tr)]) {
				t.Fatalf("Quoted: %v", err)
			}
		}
	})
}

func FuzzParseICMP(f *testing.F) {
	f.Add(echoRequest[20:])
	f.Add(echoReply[20:])
	f.Add([]byte{8, 0, 0xf7, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseICMP(data)
		gvOK := len(data) >= header.ICMPv4MinimumSize && gvchecksum.Checksum(data, 0) == 0xffff
		if (err == nil) != gvOK {
			t.Fatalf("ParseICMP err %v, gVisor valid %v", err, gvOK)
		}
		if err != nil {
			return
		}
		g := header.ICMPv4(data)
		if m.Type() != uint8(g.Type()) || m.Code() != uint8(g.Code()) || m.Ident() != g.Ident() ||
			m.Seq() != g.Sequence() || m.Checksum() != g.Checksum() || m.MTU() != g.MTU() ||
			!bytes.Equal(m.Payload(), g.Payload()) {
			t.Fatalf("accessor disagrees with gVisor")
		}
		// Rebuild from the accessors.
		b := ICMP(make([]byte, len(m)))
		b.SetType(m.Type())
		b.SetCode(m.Code())
		b.SetIdent(m.Ident())
		b.SetSeq(m.Seq())
		copy(b.Payload(), m.Payload())
		b.SetChecksum()
		if _, err := ParseICMP(b); err != nil {
			t.Fatalf("rebuilt message: %v", err)
		}
		if !bytes.Equal(b[4:], m[4:]) || b[0] != m[0] || b[1] != m[1] {
			t.Fatalf("rebuilt message differs")
		}
		if IsError(m.Type()) {
			Quoted(m) // must not panic, whatever the quote
		}
	})
}

// FuzzReassembly feeds fragments cut from four true datagrams (IDs 0-3),
// in an order, with duplicates, overlaps and lies about the end, all chosen
// by the input. Every fragment carries true data at its offset, so every
// datagram that completes must be a prefix-consistent copy of its true
// datagram: exactly it, or (after a lie about the end) its first n octets.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{0x10, 0x00, 0, 0, 1, 0, 1, 1, 0, 2, 1})
	f.Add([]byte{0xff, 0xff, 0, 5, 30, 0, 0, 30, 0, 5, 30, 0, 2, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		rng := rand.New(rand.NewPCG(uint64(data[0]), uint64(data[1])))
		var truth [4][]byte
		for i := range truth {
			truth[i] = make([]byte, 8+rng.IntN(20000))
			for j := range truth[i] {
				truth[i][j] = byte(rng.Uint32())
			}
		}
		cfg := ReassemblyConfig{Timeout: 10 * time.Second, MaxBytes: 40000, MaxDatagrams: 3}
		r := NewReassembler(cfg)
		now := t0
		ops := data[2:]
		for ; len(ops) >= 4; ops = ops[4:] {
			id := ops[0] & 3
			p := truth[id]
			if ops[0]&0x80 != 0 {
				now = now.Add(time.Duration(ops[1]) * 100 * time.Millisecond)
				r.Expire(now, func(first Header) {
					if first.FragOffset() != 0 || !bytes.Equal(first.Payload(), truth[first.ID()&3][:len(first.Payload())]) {
						t.Fatalf("timedOut: bad first fragment")
					}
				})
				continue
			}
			blocks := (len(p) + 7) / 8
			off := 8 * (int(binary.BigEndian.Uint16(ops[1:])) % blocks)
			n := 8 * (1 + int(ops[3]&0x3f))
			if ops[3]&0x40 != 0 { // odd length: only honest for the last fragment
				n -= int(ops[3] & 7)
			}
			end := min(off+n, len(p))
			mf := end < len(p)
			if ops[0]&0x40 != 0 {
				mf = !mf // lie about the end
			}
			if off == 0 && !mf {
				continue // not a fragment
			}
			h := Header(build(Fields{ID: uint16(id), MF: mf, FragOffset: off, TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB}, p[off:end]))
			pkt, res := r.Add(h, now)
			if r.Bytes() > cfg.MaxBytes || r.Bytes() < 0 || r.Len() > cfg.MaxDatagrams {
				t.Fatalf("Bytes %d Len %d beyond bounds", r.Bytes(), r.Len())
			}
			if res != Complete {
				if pkt != nil {
					t.Fatalf("%v with a packet", res)
				}
				continue
			}
			g, err := Parse(pkt)
			if err != nil {
				t.Fatalf("completed datagram does not parse: %v", err)
			}
			if g.IsFragment() || g.ID() != uint16(id) || g.Src() != addrA || g.Dst() != addrB {
				t.Fatalf("completed header wrong")
			}
			if pl := g.Payload(); len(pl) > len(p) || !bytes.Equal(pl, p[:len(pl)]) {
				t.Fatalf("completed datagram is not consistent with the true one")
			}
			if !mf && end == len(p) && !bytes.Equal(g.Payload(), p) {
				t.Fatalf("honest completion differs")
			}
		}
		r.Expire(now.Add(cfg.Timeout), nil)
		if r.Len() != 0 || r.Bytes() != 0 {
			t.Fatalf("after expiring everything: Len %d Bytes %d", r.Len(), r.Bytes())
		}
		if _, ok := r.NextDeadline(); ok {
			t.Fatalf("deadline left")
		}
	})
}

var fuzzOptions = [][]byte{
	nil,
	{0x94, 4, 0, 0},             // Router Alert, copied
	{0x07, 7, 4, 0, 0, 0, 0, 0}, // Record Route, not copied
	{0x01, 0x83, 7, 4, 1, 2, 3, 4, 0x07, 3, 4, 0},       // NOP, LSRR (copied), RR
	append([]byte{0x44, 36, 5, 0}, make([]byte, 36)...), // Timestamp filling 40 octets
}

func FuzzFragment(f *testing.F) {
	f.Add([]byte("hello"), uint16(1500), uint8(0), uint16(3000))
	f.Add([]byte{1, 2, 3}, uint16(68), uint8(3), uint16(200))
	f.Fuzz(func(t *testing.T, seed []byte, mtu16 uint16, optSel uint8, size uint16) {
		opts := fuzzOptions[int(optSel)%len(fuzzOptions)]
		mtu := MinMTU + int(mtu16)%(MaxTotalLen-MinMTU+1)
		n := int(size) % (MaxTotalLen - HeaderMinLen - len(opts) + 1)
		payload := make([]byte, n)
		for i := range payload {
			if len(seed) > 0 {
				payload[i] = seed[i%len(seed)] + byte(i/len(seed))
			}
		}
		pkt := Header(build(Fields{ID: 77, TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: opts}, payload))
		var frags [][]byte
		next := 0
		err := Fragment(pkt, mtu, func(hdr, pl []byte) error {
			fr := append(bytes.Clone(hdr), pl...)
			h, err := Parse(fr)
			if err != nil {
				t.Fatalf("fragment does not parse: %v", err)
			}
			if len(fr) > mtu && len(pkt) > mtu {
				t.Fatalf("fragment of %d octets, mtu %d", len(fr), mtu)
			}
			if h.FragOffset() != next || (h.MF() && len(pl)%8 != 0) {
				t.Fatalf("offset %d want %d, MF %v len %d", h.FragOffset(), next, h.MF(), len(pl))
			}
			next += len(pl)
			frags = append(frags, fr)
			return nil
		})
		if err != nil {
			t.Fatalf("Fragment: %v", err)
		}
		if next != n {
			t.Fatalf("fragments carry %d octets, want %d", next, n)
		}
		if len(frags) == 1 {
			if !bytes.Equal(frags[0], pkt) {
				t.Fatalf("single piece differs")
			}
			return
		}
		r := NewReassembler(DefaultReassemblyConfig())
		rng := rand.New(rand.NewPCG(uint64(mtu), uint64(n)))
		rng.Shuffle(len(frags), func(i, j int) { frags[i], frags[j] = frags[j], frags[i] })
		var got []byte
		for i, fr := range frags {
			h, _ := Parse(fr)
			var res AddResult
			got, res = r.Add(h, t0)
			if i < len(frags)-1 && res != Pending {
				t.Fatalf("fragment %d: %v", i, res)
			}
		}
		if !bytes.Equal(got, pkt) {
			t.Fatalf("reassembled datagram differs from the original")
		}
	})
}

// TestWriteSeedCorpus regenerates testdata/fuzz/<Name>/ when run with
// IPV4_WRITE_CORPUS=1; otherwise it is skipped. The seeds are the tricky
// inputs each parser must handle; each file name says what it is.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("IPV4_WRITE_CORPUS") != "1" {
		t.Skip("set IPV4_WRITE_CORPUS=1 to regenerate the seed corpora")
	}
	write := func(target, name string, values ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := "go test fuzz v1\n"
		for _, v := range values {
			switch v := v.(type) {
			case []byte:
				s += fmt.Sprintf("[]byte(%q)\n", v)
			case uint8:
				s += fmt.Sprintf("byte(%d)\n", v)
			case uint16:
				s += fmt.Sprintf("uint16(%d)\n", v)
			default:
				t.Fatalf("type %T", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mut := func(fix bool, f func(b []byte)) []byte {
		b := bytes.Clone(echoRequest)
		f(b)
		if fix {
			Header(b).SetChecksum()
		}
		return b
	}
	opts := func(o ...byte) []byte {
		return build(Fields{TTL: 1, Protocol: ProtoUDP, Src: addrA, Dst: addrB, Options: o}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	}
	// A header whose checksum field may be 0x0000 or 0xffff: find an ID
	// for which the computed checksum is 0, then store the other zero.
	var negZero []byte
	for id := range 1 << 16 {
		b := build(Fields{ID: uint16(id), TTL: 64, Protocol: ProtoUDP, Src: addrA, Dst: addrB}, nil)
		if Header(b).Checksum() == 0 {
			b[offChecksum], b[offChecksum+1] = 0xff, 0xff
			negZero = b
			break
		}
	}
	reserved := mut(true, func(b []byte) { b[6] |= 0x80 })

	write("FuzzParse", "golden-echo-request", echoRequest)
	write("FuzzParse", "golden-echo-reply", echoReply)
	write("FuzzParse", "link-padding", append(bytes.Clone(echoRequest), make([]byte, 14)...))
	write("FuzzParse", "truncated-19", echoRequest[:19])
	write("FuzzParse", "version-6", mut(true, func(b []byte) { b[0] = 0x65 }))
	write("FuzzParse", "ihl-4", mut(false, func(b []byte) { b[0] = 0x44 }))
	write("FuzzParse", "ihl-beyond-buffer", mut(false, func(b []byte) { b[0] = 0x4f })[:40])
	write("FuzzParse", "total-len-below-ihl", mut(true, func(b []byte) { b[3] = 19 }))
	write("FuzzParse", "total-len-beyond-buffer", mut(true, func(b []byte) { b[3] = 53 }))
	write("FuzzParse", "bad-checksum", mut(false, func(b []byte) { b[8] = 1 }))
	write("FuzzParse", "option-len-0-loop", opts(0x07, 0, 0, 0))
	write("FuzzParse", "option-len-beyond-area", opts(0x44, 0x28, 0, 0))
	write("FuzzParse", "option-type-last-octet", opts(1, 1, 1, 0x44))
	write("FuzzParse", "options-ok-rr-ra", opts(0x94, 4, 0, 0, 0x07, 7, 4, 0, 0, 0, 0, 0))
	write("FuzzParse", "options-eol-then-garbage", opts(0, 0xff, 0xff, 0xff))
	write("FuzzParse", "fragment-mf-offset", build(Fields{ID: 9, MF: true, FragOffset: 65528, TTL: 3, Protocol: ProtoTCP, Src: addrA, Dst: addrB}, []byte("12345678")))
	write("FuzzParse", "reserved-flag-set", reserved)
	write("FuzzParse", "checksum-negative-zero", negZero)

	req := echoRequest[20:]
	unreach := make([]byte, ICMPHeaderLen+MaxQuote)
	unreach = unreach[:EncodeError(unreach, TypeDestUnreachable, CodeFragNeeded, 1400, Header(echoRequest))]
	shortQuote := make([]byte, ICMPHeaderLen+24)
	shortQuote = shortQuote[:EncodeError(shortQuote, TypeTimeExceeded, CodeTTLExceeded, 0, Header(echoRequest[:24]))]
	write("FuzzParseICMP", "golden-echo-request", req)
	write("FuzzParseICMP", "golden-echo-reply", echoReply[20:])
	write("FuzzParseICMP", "truncated-7", req[:7])
	write("FuzzParseICMP", "bad-checksum", append([]byte{8, 0, 0, 0}, req[4:]...))
	write("FuzzParseICMP", "frag-needed-quote", unreach)
	write("FuzzParseICMP", "time-exceeded-short-quote", shortQuote)

	write("FuzzReassembly", "in-order", []byte{1, 2, 0, 0, 0, 63, 0, 0, 8, 63, 0, 0, 16, 63, 0, 0, 24, 63})
	write("FuzzReassembly", "reverse-odd-last", []byte{3, 4, 0, 0, 9, 0x7f, 0, 0, 5, 63, 0, 0, 0, 63})
	write("FuzzReassembly", "dup-and-overlap", []byte{5, 6, 1, 0, 0, 10, 1, 0, 0, 10, 1, 0, 1, 10, 1, 0, 2, 30})
	write("FuzzReassembly", "lie-about-end", []byte{7, 8, 0x42, 0, 3, 5, 2, 0, 0, 63, 2, 0, 8, 63})
	write("FuzzReassembly", "expire-midway", []byte{9, 9, 3, 0, 0, 63, 0x80, 255, 0, 0, 0x83, 200, 3, 0, 1, 10})
	write("FuzzReassembly", "many-datagrams", []byte{1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 2, 0, 0, 1, 3, 0, 0, 1, 0, 0, 1, 1})

	write("FuzzFragment", "udp-3000-mtu-1500", []byte("payload"), uint16(1500-MinMTU), uint8(0), uint16(3000))
	write("FuzzFragment", "min-mtu-with-options", []byte{0xaa}, uint16(0), uint8(3), uint16(1000))
	write("FuzzFragment", "max-options-max-size", []byte{1, 2, 3}, uint16(9000), uint8(4), uint16(65535))
	write("FuzzFragment", "fits-exactly", []byte{7}, uint16(100), uint8(1), uint16(144))
}
