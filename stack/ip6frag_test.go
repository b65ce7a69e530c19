package stack_test

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
)

// IPv6 fragments at packet level (RFC 8200 §4.5): what the stack
// reassembles, what it answers, what it fragments, and the counters.

// learnPeer6 makes the stack learn peerLL's MAC from a neighbour
// solicitation with a source link-layer address option (RFC 4861 §7.2.3),
// so errors routed through output6Locked reach it, and drops the answer.
func (e *env) learnPeer6() {
	e.t.Helper()
	e.inject(ip6Frame(stackMAC, ipv6.Fields{HopLimit: 255}, ns(stackLL, peerMAC, peerLL, stackLL)))
	e.drain()
}

// frag6 is a fragment from peerLL to stackLL: a Fragment header naming
// next, with offset, M and id, and data.
func frag6(next uint8, off int, more bool, id uint32, data []byte) []byte {
	fh := make([]byte, 8, 8+len(data))
	fh[0] = next
	w := uint16(off)
	if more {
		w |= 1
	}
	binary.BigEndian.PutUint16(fh[2:], w)
	binary.BigEndian.PutUint32(fh[4:], id)
	return ip6Frame(stackMAC, ipv6.Fields{NextHeader: ipv6.ProtoFragment}, append(fh, data...))
}

// fragsOf cuts an upper-layer message into fragments of size octets.
func fragsOf(next uint8, msg []byte, size int, id uint32) [][]byte {
	var out [][]byte
	for off := 0; off < len(msg); off += size {
		end := min(off+size, len(msg))
		out = append(out, frag6(next, off, end < len(msg), id, msg[off:end]))
	}
	return out
}

// fragHeaderOf returns the Fragment header of h, if it has one.
func fragHeaderOf(h ipv6.Header) (ipv6.Ext, bool) {
	it := h.Exts()
	for {
		e, ok, err := it.Next()
		if err != nil || !ok {
			return ipv6.Ext{}, false
		}
		if e.Proto == ipv6.ProtoFragment {
			return e, true
		}
	}
}

// replies reads every frame the stack sent, reassembles them (each at
// most mtu octets of IPv6) and returns the packets and the Identifications
// the fragments carried.
func (e *env) replies(mtu int) (pkts []ipv6.Header, ids []uint32) {
	e.t.Helper()
	r := ipv6.NewReassembler(ipv6.ReassemblyConfig{})
	for {
		f, ok := e.peer.TryRead()
		if !ok {
			return pkts, ids
		}
		eth, err := ethernet.Parse(f)
		if err != nil || eth.Type() != ethernet.TypeIPv6 || eth.Dst() != peerMAC {
			e.t.Fatalf("sent a frame that is not IPv6 to the peer: %v", err)
		}
		h, err := ipv6.Parse(eth.Payload())
		if err != nil || len(h) > mtu {
			e.t.Fatalf("sent a %d-octet packet (%v), above the MTU %d", len(h), err, mtu)
		}
		fh, ok := fragHeaderOf(h)
		if !ok {
			pkts = append(pkts, h)
			continue
		}
		if len(ids) == 0 || ids[len(ids)-1] != fh.FragID() {
			ids = append(ids, fh.FragID())
		}
		if fh.More() && (len(h)-fh.Off-8)%8 != 0 {
			e.t.Errorf("fragment with M set carries %d octets, not a multiple of 8", len(h)-fh.Off-8)
		}
		pkt, res, _ := r.Add(h, fh, epoch)
		switch res {
		case ipv6.Complete:
			pkts = append(pkts, pkt)
		case ipv6.Pending:
		default:
			e.t.Fatalf("our fragments do not reassemble: %v", res)
		}
	}
}

// checkEchoReply checks that pkt is an echo reply from stackLL to peerLL
// with id, seq and data.
func checkEchoReply(t *testing.T, pkt ipv6.Header, id, seq uint16, data []byte) {
	t.Helper()
	if pkt.Src() != stackLL || pkt.Dst() != peerLL || pkt.NextHeader() != ipv6.ProtoICMPv6 {
		t.Fatalf("reply %v -> %v next header %d", pkt.Src(), pkt.Dst(), pkt.NextHeader())
	}
	m, err := ipv6.ParseICMP(pkt.Payload(), pkt.Src(), pkt.Dst())
	if err != nil || m.Type() != ipv6.TypeEchoReply || m.Ident() != id || m.Seq() != seq || !bytes.Equal(m.Payload(), data) {
		t.Fatalf("reply: %v, type %d id %d seq %d, %d octets of data; want echo reply %d %d and the %d octets sent", err, m.Type(), m.Ident(), m.Seq(), len(m.Payload()), id, seq, len(data))
	}
}

// RFC 8200 §4.5, RFC 4443 §4.2: a 3000-octet echo request in fragments, in
// any order, is reassembled and answered in full, the reply fragmented to
// the link MTU (1500) under one Identification, a new one per packet.
func TestIPv6Frag_EchoRequestReassembledReplyFragmented(t *testing.T) {
	data := pattern(3000)
	msg := echo6(peerLL, stackLL, 0x77, 1, data)
	for _, c := range []struct {
		name  string
		order []int
	}{
		{"in order", []int{0, 1, 2}},
		{"reversed", []int{2, 1, 0}},
		{"last first", []int{2, 0, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.learnPeer6()
			fs := fragsOf(ipv6.ProtoICMPv6, msg, 1232, 0xabcd)
			before := e.st.Stats().IPv6
			for _, i := range c.order {
				e.inject(fs[i])
			}
			pkts, ids := e.replies(1500)
			if len(pkts) != 1 || len(ids) != 1 {
				t.Fatalf("%d replies under %d identifications, want 1 and 1", len(pkts), len(ids))
			}
			checkEchoReply(t, pkts[0], 0x77, 1, data)
			st := e.st.Stats().IPv6
			if d := [...]uint64{st.ReasmReqds - before.ReasmReqds, st.ReasmOKs - before.ReasmOKs, st.FragOKs - before.FragOKs, st.FragCreates - before.FragCreates, st.InDelivers - before.InDelivers}; d != [...]uint64{3, 1, 1, 3, 1} {
				t.Errorf("reasm_reqds, reasm_oks, frag_oks, frag_creates, in_delivers moved by %v, want [3 1 1 3 1]", d)
			}
			// A second request: another Identification (RFC 7739).
			for _, f := range fragsOf(ipv6.ProtoICMPv6, echo6(peerLL, stackLL, 0x77, 2, data), 1232, 0xabce) {
				e.inject(f)
			}
			pkts, ids2 := e.replies(1500)
			if len(pkts) != 1 || len(ids2) != 1 || ids2[0] == ids[0] || ids2[0] == 0 {
				t.Errorf("second reply: %d packets, identifications %v after %v; want one, new and not zero", len(pkts), ids2, ids)
			}
		})
	}
}

// The largest echo the reassembler accepts (Payload Length 65535) is
// answered, in 45 fragments.
func TestIPv6Frag_LargestEchoAnswered(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	data := pattern(ipv6.MaxPayloadLen - ipv6.ICMPHeaderLen)
	for _, f := range fragsOf(ipv6.ProtoICMPv6, echo6(peerLL, stackLL, 1, 1, data), 1448, 9) {
		e.inject(f)
	}
	pkts, _ := e.replies(1500)
	if len(pkts) != 1 {
		t.Fatalf("%d replies, want 1; stats %+v", len(pkts), e.st.Stats().IPv6)
	}
	checkEchoReply(t, pkts[0], 1, 1, data)
}

// RFC 5722: an overlapping fragment discards the packet, and its fragments
// that arrive later; a duplicate is dropped alone (RFC 8200 §4.5).
func TestIPv6Frag_OverlapDiscardsDuplicateDropped(t *testing.T) {
	msg := echo6(peerLL, stackLL, 1, 1, pattern(200))
	t.Run("overlap", func(t *testing.T) {
		e := newEnv(t)
		e.learnPeer6()
		e.inject(frag6(ipv6.ProtoICMPv6, 0, true, 5, msg[:104]))
		over := frag6(ipv6.ProtoICMPv6, 96, true, 5, msg[96:112])
		e.expectCounted("overlap", map[string]int64{"Link.FramesIn": 1, "Link.BytesIn": int64(len(over)), "IPv6.InReceives": 1,
			"IPv6.ReasmReqds": 1, "IPv6.ReasmFails": 1, "IPv6.ReasmOverlaps": 1}, func() { e.inject(over) })
		last := frag6(ipv6.ProtoICMPv6, 104, false, 5, msg[104:])
		e.expectCounted("a later fragment", map[string]int64{"Link.FramesIn": 1, "Link.BytesIn": int64(len(last)), "IPv6.InReceives": 1,
			"IPv6.ReasmReqds": 1, "IPv6.ReasmDiscarded": 1}, func() { e.inject(last) })
		e.inject(frag6(ipv6.ProtoICMPv6, 0, true, 5, msg[:104]))
		e.none()
	})
	t.Run("duplicate", func(t *testing.T) {
		e := newEnv(t)
		e.learnPeer6()
		first := frag6(ipv6.ProtoICMPv6, 0, true, 5, msg[:104])
		e.inject(first)
		e.expectCounted("duplicate", map[string]int64{"Link.FramesIn": 1, "Link.BytesIn": int64(len(first)), "IPv6.InReceives": 1,
			"IPv6.ReasmReqds": 1, "IPv6.ReasmDuplicates": 1}, func() { e.inject(first) })
		e.inject(frag6(ipv6.ProtoICMPv6, 104, false, 5, msg[104:]))
		pkts, _ := e.replies(1500)
		if len(pkts) != 1 {
			t.Fatalf("%d replies, want 1", len(pkts))
		}
		checkEchoReply(t, pkts[0], 1, 1, pattern(200))
	})
}

// RFC 6946 §4: an atomic fragment is delivered at once, leaving a packet
// in reassembly under the same Identification alone; counted as a
// reassembly request and success, as Linux does.
func TestIPv6Frag_AtomicFragmentDeliveredAlone(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	msg := echo6(peerLL, stackLL, 1, 1, pattern(200))
	e.inject(frag6(ipv6.ProtoICMPv6, 0, true, 5, msg[:104]))
	atomic := frag6(ipv6.ProtoICMPv6, 0, false, 5, echo6(peerLL, stackLL, 2, 2, []byte("atomic")))
	e.inject(atomic)
	pkts, _ := e.replies(1500)
	if len(pkts) != 1 {
		t.Fatalf("%d replies to the atomic fragment, want 1", len(pkts))
	}
	checkEchoReply(t, pkts[0], 2, 2, []byte("atomic"))
	e.inject(frag6(ipv6.ProtoICMPv6, 104, false, 5, msg[104:]))
	if pkts, _ = e.replies(1500); len(pkts) != 1 {
		t.Fatalf("the packet in reassembly did not complete after the atomic fragment")
	}
	checkEchoReply(t, pkts[0], 1, 1, pattern(200))
	if st := e.st.Stats().IPv6; st.ReasmReqds != 3 || st.ReasmOKs != 2 {
		t.Errorf("reasm_reqds %d, reasm_oks %d; want 3, 2", st.ReasmReqds, st.ReasmOKs)
	}
}

// RFC 8200 §4.5: 60 s after the first-arriving fragment the packet is
// given up; with the first fragment held, a Time Exceeded code 1 quoting
// it goes to the source.
func TestIPv6Frag_Timeout(t *testing.T) {
	msg := echo6(peerLL, stackLL, 1, 1, pattern(200))
	for _, withFirst := range []bool{true, false} {
		t.Run(map[bool]string{true: "first fragment held", false: "first fragment missing"}[withFirst], func(t *testing.T) {
			e := newEnv(t)
			e.learnPeer6()
			first := frag6(ipv6.ProtoICMPv6, 0, true, 5, msg[:104])
			e.inject(frag6(ipv6.ProtoICMPv6, 112, false, 5, msg[112:]))
			e.clk.Advance(30 * time.Second)
			if withFirst {
				e.inject(first)
			}
			e.clk.Advance(30*time.Second - time.Millisecond)
			e.none()
			before := e.st.Stats().IPv6
			e.clk.Advance(time.Millisecond)
			st := e.st.Stats().IPv6
			if st.ReasmTimeout-before.ReasmTimeout != 1 || st.ReasmFails-before.ReasmFails != 1 {
				t.Errorf("reasm_timeout %+d, reasm_fails %+d; want +1, +1", st.ReasmTimeout-before.ReasmTimeout, st.ReasmFails-before.ReasmFails)
			}
			if !withFirst {
				e.none()
				return
			}
			_, h, m := e.nextIPv6()
			if h.Src() != stackLL || h.Dst() != peerLL || m.Type() != ipv6.TypeTimeExceeded || m.Code() != ipv6.CodeReassemblyTimeout {
				t.Fatalf("sent %v -> %v type %d code %d, want Time Exceeded code 1 to the peer", h.Src(), h.Dst(), m.Type(), m.Code())
			}
			if !bytes.Equal(m.Payload(), first[ethernet.HeaderLen:]) {
				t.Errorf("quoted\n% x\nwant the first fragment\n% x", m.Payload(), first[ethernet.HeaderLen:])
			}
			if st.ICMP6OutTimeExcds-before.ICMP6OutTimeExcds != 1 {
				t.Errorf("icmp6_out_time_excds not counted")
			}
			e.none()
		})
	}
}

// RFC 8200 §4.5: fragments answered with a Parameter Problem and dropped:
// one making the packet longer than 65535 (code 0 at its Fragment Offset),
// one with M set and a length not a multiple of 8 (code 0 at Payload
// Length), a first fragment without the whole header chain (RFC 7112:
// code 3, pointer 0).
func TestIPv6Frag_ParameterProblems(t *testing.T) {
	for _, c := range []struct {
		name  string
		frame []byte
		code  uint8
		ptr   uint32
	}{
		{"too big", frag6(ipv6.ProtoICMPv6, 65528, false, 5, make([]byte, 16)), 0, 42},
		{"length not a multiple of 8", frag6(ipv6.ProtoICMPv6, 8, true, 5, make([]byte, 12)), 0, 4},
		{"no UDP header", frag6(ipv6.ProtoUDP, 0, true, 5, nil), 3, 0},
		{"TCP header cut", frag6(ipv6.ProtoTCP, 0, true, 5, make([]byte, 16)), 3, 0},
		// No ICMPv6 type to tell it is not an error (RFC 4443 §2.4
		// (e.1)): dropped unanswered, as Linux's is_ineligible.
		{"no ICMPv6 header", frag6(ipv6.ProtoICMPv6, 0, true, 5, nil), 255, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.learnPeer6()
			before := e.st.Stats()
			e.inject(c.frame)
			if c.code == 255 {
				after := e.st.Stats()
				if after.IPv6.InHdrErrors-before.IPv6.InHdrErrors != 1 || after.IPv6.ICMP6OutErrorsSuppressed-before.IPv6.ICMP6OutErrorsSuppressed != 1 {
					t.Errorf("in_hdr_errors %+d, icmp6_out_errors_suppressed %+d; want +1, +1", after.IPv6.InHdrErrors-before.IPv6.InHdrErrors,
						after.IPv6.ICMP6OutErrorsSuppressed-before.IPv6.ICMP6OutErrorsSuppressed)
				}
				e.none()
				return
			}
			_, h, m := e.nextIPv6()
			if h.Dst() != peerLL || m.Type() != ipv6.TypeParamProblem || m.Code() != c.code || m.Pointer() != c.ptr {
				t.Fatalf("sent to %v type %d code %d pointer %d, want Parameter Problem code %d pointer %d", h.Dst(), m.Type(), m.Code(), m.Pointer(), c.code, c.ptr)
			}
			if !bytes.Equal(m.Payload(), c.frame[ethernet.HeaderLen:]) {
				t.Errorf("quote is not the fragment")
			}
			after := e.st.Stats()
			if after.IPv6.InHdrErrors-before.IPv6.InHdrErrors != 1 || after.Drops()-before.Drops() != 1 || after.IPv6.ICMP6OutParmProblems-before.IPv6.ICMP6OutParmProblems != 1 {
				t.Errorf("in_hdr_errors %+d, drops %+d, icmp6_out_parm_problems %+d; want +1 each",
					after.IPv6.InHdrErrors-before.IPv6.InHdrErrors, after.Drops()-before.Drops(), after.IPv6.ICMP6OutParmProblems-before.IPv6.ICMP6OutParmProblems)
			}
			e.none()
		})
	}
}

// The reassembler's memory is bounded (4 MiB, Linux's
// ip6frag_high_thresh): a flood of packets each reserving 64 KiB runs into
// it, the excess counted as no memory.
func TestIPv6Frag_MemoryBounded(t *testing.T) {
	e := newEnv(t)
	for i := range 100 {
		e.inject(frag6(ipv6.ProtoICMPv6, 65000, true, uint32(i), make([]byte, 8)))
	}
	st := e.st.Stats().IPv6
	if st.ReasmNoMemory < 30 || st.ReasmNoMemory != st.ReasmFails || st.ReasmReqds != 100 {
		t.Errorf("reasm_no_memory %d, reasm_fails %d, reasm_reqds %d; want ≥ 30 refused of 100, all counted as fails", st.ReasmNoMemory, st.ReasmFails, st.ReasmReqds)
	}
	e.none()
}

// The debug log has one record for the IPv6 packets a reassembly timeout
// gave up, with their count.
func TestIPv6Frag_Timeout_DebugRecord(t *testing.T) {
	e, rec := newDebugEnv(t, slog.LevelDebug, noARPExpiry)
	msg := echo6(peerLL, stackLL, 1, 1, pattern(200))
	e.inject(frag6(ipv6.ProtoICMPv6, 112, false, 5, msg[112:]))
	e.inject(frag6(ipv6.ProtoICMPv6, 112, false, 6, msg[112:]))
	rec.take("")
	e.clk.Advance(60 * time.Second)
	want := []string{"drop layer=ipv6 reason=reasm_timeout datagrams=2"}
	if got := rec.take("drop"); !slices.Equal(got, want) {
		t.Fatalf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
