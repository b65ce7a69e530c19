package stack_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Offloads over IPv6: GRO super-segments in, TSO segments out, as over
// IPv4 (offload_test.go, tso_test.go).

// tso6Offloads are a virtio-net device's offloads with TSO both ways in
// both families.
const tso6Offloads = tsoOffloads | nic.TxTSO6 | nic.RxGSO6

// withTSO6 makes the env's pipe a pair of devices that carry super-frames
// of both families.
func withTSO6(_ *stack.Config, p *nic.PipeConfig) { p.Offloads = tso6Offloads }

// gro6Meta is the Meta a TAP with TCPv6 offloads gives a kernel
// super-frame of mss6-byte segments: GSO TCPv6 with only the
// pseudo-header sum, the TCP header behind 14+40 bytes.
var gro6Meta = nic.Meta{GSO: nic.GSOTCPv6, GSOSize: mss6, Csum: nic.CsumPartial,
	CsumStart: ethernet.HeaderLen + ipv6.HeaderLen, CsumOffset: 16}

// partialCsum6 spoils the TCP checksum of frame (from tcp6Frame), as a
// CHECKSUM_PARTIAL frame carries only the pseudo-header sum.
func partialCsum6(frame []byte) []byte {
	frame[ethernet.HeaderLen+ipv6.HeaderLen+16] ^= 0xff
	return frame
}

// A GRO super-segment of four IPv6 MSS with a partial checksum goes
// through IPv6 and TCP as one segment, as IPv4's does: accepted whole
// above the MTU, its checksum not verified, ACKed at once as the four
// segments it stands for, counted as four in InSegs and once in the
// offload counters. The same bytes without the Meta fail the checksum.
func TestTCP6_GROSuperSegment_AcceptedWholeChecksumTrusted(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	c, synack := handshake6(t, e, listening6(t, e, true), peerLL)
	iss, seq := synack.Seq, peerISS+1
	data := pattern(4 * int(mss6))
	before := e.st.Stats()
	frame := partialCsum6(tcp6Frame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, data))
	if len(frame) <= ethernet.HeaderLen+e.st.MTU() {
		t.Fatalf("fixture: frame of %d bytes is not above the MTU", len(frame))
	}
	e.st.HandleFrameTest(frame, gro6Meta)
	if ack := e.nextTCP6(); ack.Flags != tcp.FlagACK || ack.Ack != seq.Add(4*seqnum.Size(mss6)) {
		t.Fatalf("got %v, want the ACK of the whole super-segment, %d", &ack, seq.Add(4*seqnum.Size(mss6)))
	}
	buf := make([]byte, 8000)
	if n, _ := c.Recv(buf, 0); !bytes.Equal(buf[:n], data) {
		t.Fatalf("read %d bytes, want the %d sent", n, len(data))
	}
	checkGRO(t, before, e.st.Stats(), 4, len(data))
	seq = seq.Add(seqnum.Size(len(data)))
	e.inject(partialCsum6(tcp6Frame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, data[:100])))
	e.none()
	if got := e.st.Stats().TCP.InCsumErrors; got != before.TCP.InCsumErrors+1 {
		t.Errorf("InCsumErrors = %d for a partial checksum without Meta, want +1", got)
	}
}

// IPv6's largest super-segment: a Payload Length of 65535 (RFC 8200 §3,
// no jumbogram), 40 bytes more than IPv4's largest datagram, crosses IPv6
// whole and reaches TCP, which, finding no connection, answers with one
// RST (RFC 9293 §3.10.7.1) and counts the 46 segments of 1440 it stands
// for.
func TestTCP6_GROSuperSegment_LargestPayloadLength(t *testing.T) {
	e := newEnv(t, withTSO6)
	e.learnPeer6()
	before := e.st.Stats()
	data := pattern(ipv6.MaxPayloadLen - tcp.HeaderMinLen)
	frame := tcp6Frame(tcp.Segment{Seq: peerISS, Ack: 777, Flags: tcp.FlagACK, Window: peerWnd}, data)
	if got := len(frame) - ethernet.HeaderLen; got != ipv6.HeaderLen+ipv6.MaxPayloadLen {
		t.Fatalf("fixture: packet of %d bytes", got)
	}
	e.st.HandleFrameTest(partialCsum6(frame), gro6Meta)
	if rst := e.nextTCP6(); rst.Flags != tcp.FlagRST || rst.Seq != 777 {
		t.Fatalf("got %v, want <SEQ=777><RST>", &rst)
	}
	st := e.st.Stats()
	if d := st.TCP.InSegs - before.TCP.InSegs; d != 46 {
		t.Errorf("InSegs +%d, want +46", d)
	}
	if st.IPv6.InBadPayloadLen != before.IPv6.InBadPayloadLen || st.IPv6.InTruncated != before.IPv6.InTruncated {
		t.Errorf("IPv6 refused the packet: %+v", st.IPv6)
	}
}

// superSegment is an IP packet from src to dst (IPv4 or IPv6, as the
// addresses are) holding seg and payload as sendTCPLocked and
// sendTCP6Locked build a segment of several MSS: only the pseudo-header
// sum in the checksum field; ECT(0) in the traffic class (TOS), and for
// IPv6 a flow label, for IPv4 ID 0xfffe and DF, which every piece keeps
// (the ID stepping).
func superSegment(src, dst netip.Addr, seg tcp.Segment, payload []byte) []byte {
	th := make([]byte, seg.HeaderLen()+len(payload))
	hl := tcp.Encode(th, &seg)
	copy(th[hl:], payload)
	if src.Is4() {
		binary.BigEndian.PutUint16(th[16:], checksum.Fold(checksum.PseudoHeaderIPv4(src, dst, ipv4.ProtoTCP, uint16(len(th)))))
		pkt := make([]byte, ipv4.HeaderMinLen+len(th))
		ipv4.Encode(pkt, ipv4.Fields{TotalLen: len(pkt), ID: 0xfffe, DF: true, TTL: 64, Protocol: ipv4.ProtoTCP, Src: src, Dst: dst, TOS: 2})
		copy(pkt[ipv4.HeaderMinLen:], th)
		return pkt
	}
	binary.BigEndian.PutUint16(th[16:], checksum.Fold(ipv6.PseudoHeaderSum(src, dst, ipv6.ProtoTCP, uint32(len(th)))))
	pkt := make([]byte, ipv6.HeaderLen+len(th))
	ipv6.Encode(pkt, ipv6.Fields{TrafficClass: 2, FlowLabel: 0x12345, PayloadLen: len(th), NextHeader: ipv6.ProtoTCP, HopLimit: 64, Src: src, Dst: dst})
	copy(pkt[ipv6.HeaderLen:], th)
	return pkt
}

// On a device that takes TCPv6 TSO, the initial window over IPv6 leaves
// as one segment of ten MSS (1440: the MTU less 60), with the Meta and
// the partial checksum the kernel expects, counted as ten segments sent;
// its ACK lets the rest go, again whole with its short tail and PSH.
func TestTSO6_SegmentOfSeveralMSS_LeavesWholeAndIsACKed(t *testing.T) {
	e := newEnv(t, withTSO6)
	e.learnPeer6()
	c, synack := handshake6(t, e, listening6(t, e, true), peerLL)
	iss := synack.Seq
	data := pattern(16384)
	before := e.st.Stats()
	if n, err := c.Send(data, 0); err != nil || n != len(data) {
		t.Fatalf("Send: %d, %v", n, err)
	}
	mss := int(mss6)
	seg := tsoSegment(t, e.nextFrame(), mss)
	if seg.Seq != iss+1 || seg.Flags != tcp.FlagACK || !bytes.Equal(seg.Payload, data[:10*mss]) {
		t.Fatalf("got %v, want ACK seq=%d with the first %d bytes", &seg, iss+1, 10*mss)
	}
	e.none()
	st := e.st.Stats()
	if d := st.TCP.OutSegs - before.TCP.OutSegs; d != 10 {
		t.Errorf("OutSegs +%d, want +10 (the segments it stands for)", d)
	}
	if o := st.Offload; o.TSOOut != 1 || o.TSOSegsOut != 10 || o.TSOBytesOut != uint64(10*mss) || o.SoftGSOOut != 0 {
		t.Errorf("Offload %+v, want one TSO segment of 10 × %d bytes and nothing cut in software", o, mss)
	}
	e.inject(tcp6Frame(tcp.Segment{Seq: peerISS + 1, Ack: iss.Add(1 + seqnum.Size(10*mss)), Flags: tcp.FlagACK, Window: peerWnd}, nil))
	seg = tsoSegment(t, e.nextFrame(), mss)
	if seg.Seq != iss.Add(1+seqnum.Size(10*mss)) || seg.Flags != tcp.FlagACK|tcp.FlagPSH || !bytes.Equal(seg.Payload, data[10*mss:]) {
		t.Fatalf("got %v, want ACK|PSH with the last %d bytes", &seg, len(data)-10*mss)
	}
	e.none()
}

// For a device without TSO the stack cuts an IPv6 segment itself: 4000
// bytes and the FIN leave the TCB as one segment and reach the wire as
// three packets of at most an MSS, each with its own sequence number,
// Payload Length and complete checksum over the IPv6 pseudo-header, FIN
// and PSH on the last only.
func TestTSO6_SoftwareSegmentation_Golden(t *testing.T) {
	e := newEnv(t)
	e.learnPeer6()
	c, synack := handshake6(t, e, listening6(t, e, true), peerLL)
	mss := int(mss6)
	iss := synack.Seq.Add(seqnum.Size(10 * mss))
	if err := c.SetsockoptInt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64<<10); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Send(pattern(10*mss), 0); err != nil || n != 10*mss {
		t.Fatalf("Send: %d, %v", n, err)
	}
	for range 10 {
		e.nextTCP6() // the initial window, also cut
	}
	e.none()
	data := pattern(4000)
	if _, err := c.Send(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(socket.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	e.none()
	e.inject(tcp6Frame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	want := []struct {
		flags tcp.Flags
		off   int
		n     int
	}{{tcp.FlagACK, 0, mss}, {tcp.FlagACK, mss, mss}, {tcp.FlagACK | tcp.FlagPSH | tcp.FlagFIN, 2 * mss, 4000 - 2*mss}}
	for i, w := range want {
		f := e.nextFrame()
		if f.Meta != (nic.Meta{}) || len(f.Data) > ethernet.HeaderLen+1500 {
			t.Fatalf("frame of %d bytes with Meta %+v on a plain device", len(f.Data), f.Meta)
		}
		g := decodeTCP6(t, f.Data[ethernet.HeaderLen:])
		if g.Flags != w.flags || g.Seq != iss.Add(1+seqnum.Size(w.off)) || !bytes.Equal(g.Payload, data[w.off:w.off+w.n]) {
			t.Errorf("packet %d: %v, want %v seq=%d len=%d", i, &g, w.flags, iss.Add(1+seqnum.Size(w.off)), w.n)
		}
	}
	e.none()
	if o := e.st.Stats().Offload; o.SoftGSOOut != 2 || o.SoftGSOSegsOut != 13 || o.TSOOut != 0 {
		t.Errorf("Offload %+v, want two segments cut into 10 and 3 in software", o)
	}
}

// decodeTCP6 decodes the TCP segment in the IPv6 packet b, which must be
// complete: its Payload Length the packet's, its checksum valid over the
// IPv6 pseudo-header.
func decodeTCP6(t *testing.T, b []byte) tcp.Segment {
	t.Helper()
	h, err := ipv6.Parse(b)
	if err != nil || len(h) != len(b) || h.NextHeader() != ipv6.ProtoTCP {
		t.Fatalf("IPv6 packet of %d bytes: %v, Payload Length %d, next header %d", len(b), err, h.PayloadLen(), h.NextHeader())
	}
	if !tcp.Header(h.Payload()).VerifyIPv6(h.Src(), h.Dst()) {
		t.Fatal("the segment's checksum is not complete over the IPv6 pseudo-header")
	}
	seg, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
	if err != nil {
		t.Fatal(err)
	}
	seg.Payload = append([]byte(nil), seg.Payload...)
	return seg
}

// The IPv6 cut itself, byte for byte: CWR stays on the first packet only,
// FIN and PSH on the last only, ECE and ACK on all; sequence numbers step
// by the size; each packet has its own Payload Length, the traffic class
// and flow label of the segment, and a complete TCP checksum over its own
// pseudo-header (RFC 8200 §8.1: the upper-layer length is the piece's).
func TestTSO6_SoftwareSegmentation_FlagsAndChecksums(t *testing.T) {
	e := newEnv(t)
	payload := pattern(2500)
	seg := tcp.Segment{SrcPort: 80, DstPort: 40000, Seq: 7000, Ack: 99,
		Flags: tcp.FlagACK | tcp.FlagPSH | tcp.FlagFIN | tcp.FlagCWR | tcp.FlagECE, Window: 512,
		Options: tcp.Options{HasTimestamp: true, TSVal: 1, TSEcr: 2}}
	out := e.st.SegmentTest(superSegment(stackLL, peerLL, seg, payload), 1000)
	want := []struct {
		flags tcp.Flags
		off   int
	}{
		{tcp.FlagACK | tcp.FlagCWR | tcp.FlagECE, 0},
		{tcp.FlagACK | tcp.FlagECE, 1000},
		{tcp.FlagACK | tcp.FlagECE | tcp.FlagPSH | tcp.FlagFIN, 2000},
	}
	if len(out) != len(want) {
		t.Fatalf("%d packets, want %d", len(out), len(want))
	}
	for i, w := range want {
		h := ipv6.Header(out[i])
		if h.TrafficClass() != 2 || h.FlowLabel() != 0x12345 || h.Src() != stackLL || h.Dst() != peerLL {
			t.Errorf("packet %d: traffic class %d flow label %#x %v -> %v, want the segment's", i, h.TrafficClass(), h.FlowLabel(), h.Src(), h.Dst())
		}
		g := decodeTCP6(t, out[i])
		n := min(1000, len(payload)-w.off)
		if g.Flags != w.flags || g.Seq != 7000+seqnum.Value(w.off) || g.Ack != 99 || g.Window != 512 ||
			g.Options.TSVal != 1 || !bytes.Equal(g.Payload, payload[w.off:w.off+n]) {
			t.Errorf("segment %d: %v, want %v seq=%d len=%d with the same ACK, window and options", i, &g, w.flags, 7000+w.off, n)
		}
	}
}

// A segment of several MSS that must wait for the neighbour's address is
// cut before it joins the neighbour-discovery queue, which holds plain
// packets (RFC 4861 §7.2.2), even on a device with TSO: once the
// advertisement comes, the wire gets MSS-sized packets with complete
// checksums, in order.
func TestTSO6_WaitingForNeighbour_CutBeforeQueued(t *testing.T) {
	e := env6(t, false, withTSO6)
	e.clk.Advance(10 * time.Second) // DAD over
	e.drain()
	payload := pattern(5 * 1000)
	pkt := superSegment(stackLL, peerLL, tcp.Segment{SrcPort: stackPort, DstPort: peerPort, Seq: 1, Ack: 1, Flags: tcp.FlagACK, Window: 100}, payload)
	if err := e.st.Output6TSOTest(pkt, 1000); err != nil {
		t.Fatal(err)
	}
	e.one6(ipv6.TypeNeighborSolicit)
	e.none()
	e.inject(nd(stackMAC, peerLL, stackLL, na(peerLL, peerMAC, true, true, false, peerLL, stackLL)))
	for i := range 5 {
		f := e.nextFrame()
		if f.Meta != (nic.Meta{}) {
			t.Fatalf("packet %d left the queue with %+v", i, f.Meta)
		}
		g := decodeTCP6(t, f.Data[ethernet.HeaderLen:])
		if g.Seq != seqnum.Value(1+i*1000) || !bytes.Equal(g.Payload, payload[i*1000:(i+1)*1000]) {
			t.Fatalf("packet %d: %v, want seq=%d with its 1000 bytes", i, &g, 1+i*1000)
		}
	}
	e.none()
	if st := e.st.Stats(); st.Offload.SoftGSOOut != 1 || st.Offload.SoftGSOSegsOut != 5 || st.Offload.TSOOut != 0 || st.ND6.QueueDrops != 0 {
		t.Errorf("Offload %+v, queue drops %d; want one segment cut into 5 before the queue", st.Offload, st.ND6.QueueDrops)
	}
}

// A device with TCPv6 TSO gets a segment whole only if the segments it
// will cut fit the path MTU: at 1500 a segment of 3 × 1300 does; after
// SetMTU lowered the link to 1280, below 40+20+1300, the stack cuts it
// and fragments each piece at the source (RFC 8200 §4.5), which the
// kernel's TSO would not do.
func TestTSO6_SegmentsAbovePathMTU_CutAndFragmented(t *testing.T) {
	e := env6(t, false, withTSO6)
	e.clk.Advance(10 * time.Second)
	e.drain()
	resolved(t, e)
	payload := pattern(3 * 1300)
	pkt := superSegment(stackLL, peerLL, tcp.Segment{SrcPort: stackPort, DstPort: peerPort, Seq: 1, Ack: 1, Flags: tcp.FlagACK, Window: 100}, payload)
	if err := e.st.Output6TSOTest(pkt, 1300); err != nil {
		t.Fatal(err)
	}
	if f := e.nextFrame(); f.Meta.GSO != nic.GSOTCPv6 || len(f.Data) != ethernet.HeaderLen+len(pkt) {
		t.Fatalf("at MTU 1500: a frame of %d bytes with %+v, want the whole segment", len(f.Data), f.Meta)
	}
	if err := e.st.SetMTU(1280); err != nil {
		t.Fatal(err)
	}
	before := e.st.Stats()
	if err := e.st.Output6TSOTest(pkt, 1300); err != nil {
		t.Fatal(err)
	}
	frags := 0
	for {
		f, ok := e.peer.TryReadFrame()
		if !ok {
			break
		}
		h, err := ipv6.Parse(f.Data[ethernet.HeaderLen:])
		if err != nil || f.Meta != (nic.Meta{}) || len(f.Data) > ethernet.HeaderLen+1280 || h.NextHeader() != ipv6.ProtoFragment {
			t.Fatalf("at MTU 1280: a frame of %d bytes with %+v, next header %d (%v); want fragments", len(f.Data), f.Meta, h.NextHeader(), err)
		}
		frags++
	}
	st := e.st.Stats()
	if st.Offload.TSOOut != before.Offload.TSOOut || st.Offload.SoftGSOSegsOut-before.Offload.SoftGSOSegsOut != 3 ||
		st.IPv6.FragOKs-before.IPv6.FragOKs != 3 || frags != 6 {
		t.Errorf("Offload %+v, FragOKs +%d, %d fragments; want 3 pieces cut in software, each sent as 2 fragments",
			st.Offload, st.IPv6.FragOKs-before.IPv6.FragOKs, frags)
	}
}

// A segment of several MSS to one of our own addresses is cut before
// loopback, which delivers complete packets: TCP receives the five pieces
// with checksums that verify (no Meta vouches for them), and answers the
// first with a RST (no connection); none is counted as a bad checksum.
func TestTSO6_ToOurselves_CutBeforeLoopback(t *testing.T) {
	e := env6(t, false, withTSO6)
	e.clk.Advance(10 * time.Second)
	e.drain()
	before := e.st.Stats()
	payload := pattern(5 * 1000)
	pkt := superSegment(stackLL, stackLL, tcp.Segment{SrcPort: 1, DstPort: 2, Seq: 1, Ack: 1, Flags: tcp.FlagACK, Window: 100}, payload)
	if err := e.st.Output6TSOTest(pkt, 1000); err != nil {
		t.Fatal(err)
	}
	st := e.st.Stats()
	if d := st.TCP.InSegs - before.TCP.InSegs; d < 5 || st.TCP.InCsumErrors != before.TCP.InCsumErrors || st.Offload.SoftGSOSegsOut != 5 || st.Offload.TSOOut != 0 {
		t.Errorf("InSegs +%d, InCsumErrors %d, Offload %+v; want the 5 pieces delivered with valid checksums", d, st.TCP.InCsumErrors, st.Offload)
	}
	e.none() // nothing reached the link
}
