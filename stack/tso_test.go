package stack_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
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

// Send-side segmentation offload: the TCB builds segments of several MSS
// (tcp.Config.GSOMaxSize), which leave the stack whole, with a partial
// checksum, to a device that takes TSO, and are cut by the stack into
// MSS-sized datagrams for one that does not.

// tsoOffloads are a virtio-net device's offloads with TSO both ways.
const tsoOffloads = nic.TxCsum | nic.TxTSO4 | nic.RxCsumPartial | nic.RxGSO4

// withTSO makes the env's pipe a pair of devices that carry super-frames.
func withTSO(_ *stack.Config, p *nic.PipeConfig) { p.Offloads = tsoOffloads }

// nextFrame returns the next frame the stack sent with its Meta, failing
// if there is none.
func (e *env) nextFrame() nic.Frame {
	e.t.Helper()
	f, ok := e.peer.TryReadFrame()
	if !ok {
		e.t.Fatalf("the stack sent nothing; stats: %+v", e.st.Stats())
	}
	return f
}

// drainTCP returns every segment the stack sent so far, their checksums
// verified.
func (e *env) drainTCP() []tcp.Segment {
	e.t.Helper()
	var segs []tcp.Segment
	for {
		f, ok := e.peer.TryRead()
		if !ok {
			return segs
		}
		h, err := ipv4.Parse(f[ethernet.HeaderLen:])
		if err != nil {
			e.t.Fatal(err)
		}
		s, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
		if err != nil {
			e.t.Fatal(err)
		}
		segs = append(segs, s)
	}
}

// tsoSegment checks that f is a TSO super-frame as the kernel takes it
// (shared/notes/tap-offload.md §3), over IPv4 or IPv6 as its EtherType
// says: GSO TCPv4 or TCPv6 of mss, NEEDS_CSUM from the TCP header with the
// field at 16, the IP header complete (IPv4: DF, Total Length; IPv6:
// Payload Length, no extension header), and in the TCP checksum field the
// folded, non-inverted pseudo-header sum (RFC 9293 §3.1; RFC 8200 §8.1)
// over the whole segment's length, so that completing it as the kernel
// does gives a valid checksum. It returns the decoded segment.
func tsoSegment(t *testing.T, f nic.Frame, mss int) tcp.Segment {
	t.Helper()
	ip := f.Data[ethernet.HeaderLen:]
	var th []byte
	var src, dst netip.Addr
	var ph uint32
	want := nic.Meta{GSO: nic.GSOTCPv4, GSOSize: uint16(mss), Csum: nic.CsumPartial,
		CsumStart: ethernet.HeaderLen + ipv4.HeaderMinLen, CsumOffset: 16}
	if ethernet.Header(f.Data).Type() == ethernet.TypeIPv6 {
		want.GSO, want.CsumStart = nic.GSOTCPv6, ethernet.HeaderLen+ipv6.HeaderLen
		h, err := ipv6.Parse(ip)
		if err != nil || len(h) != len(ip) || h.NextHeader() != ipv6.ProtoTCP {
			t.Fatalf("the super-frame's IPv6 header: %v, Payload Length %d for %d bytes", err, h.PayloadLen(), len(ip))
		}
		th, src, dst = h.Payload(), h.Src(), h.Dst()
		ph = ipv6.PseudoHeaderSum(src, dst, ipv6.ProtoTCP, uint32(len(th)))
	} else {
		h, err := ipv4.Parse(ip)
		if err != nil {
			t.Fatalf("the super-frame's IPv4 header: %v", err)
		}
		if h.TotalLen() != len(ip) || !h.DF() {
			t.Fatalf("Total Length %d for %d bytes, DF %v", h.TotalLen(), len(ip), h.DF())
		}
		th, src, dst = h.Payload(), h.Src(), h.Dst()
		ph = checksum.PseudoHeaderIPv4(src, dst, ipv4.ProtoTCP, uint16(len(th)))
	}
	if f.Meta != want {
		t.Fatalf("Meta %+v, want %+v", f.Meta, want)
	}
	if got, want := binary.BigEndian.Uint16(th[16:]), checksum.Fold(ph); got != want {
		t.Fatalf("checksum field %#04x, want the pseudo-header sum %#04x", got, want)
	}
	// Complete it as the kernel does: sum from csum_start, store the complement.
	full := append([]byte(nil), th...)
	binary.BigEndian.PutUint16(full[16:], ^checksum.Fold(checksum.Sum(th, 0)))
	seg, err := tcp.Decode(full, src, dst, true)
	if err != nil {
		t.Fatalf("the completed segment: %v", err)
	}
	seg.Payload = append([]byte(nil), seg.Payload...)
	return seg
}

// establishedSACK is established with SACK-permitted on the peer's SYN.
func establishedSACK(t *testing.T, e *env) (*socket.FD, seqnum.Value) {
	t.Helper()
	e.learnPeer()
	l := listening(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460, SACKPermitted: true}}, nil))
	synack := e.nextTCP()
	if synack.Flags != tcp.FlagSYN|tcp.FlagACK || !synack.Options.SACKPermitted {
		t.Fatalf("want a SYN-ACK with SACK-permitted, got %v", &synack)
	}
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: synack.Seq + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetNonblock(true)
	return c, synack.Seq
}

// On a device that takes TSO, the initial window of data leaves as one
// TCP segment of ten MSS (cwnd, RFC 6928, bounds it), with the Meta and
// the partial checksum the kernel expects, counted as ten segments sent;
// its ACK lets the rest go, again whole with its short tail and PSH
// (Nagle lets the end of a write go). Without the TSO metadata the
// device would get a frame beyond its MTU.
func TestTSO_SegmentOfSeveralMSS_LeavesWholeAndIsACKed(t *testing.T) {
	e := newEnv(t, withTSO)
	c, iss := established(t, e)
	data := pattern(16384) // the send buffer's initial size
	before := e.st.Stats()
	if n, err := c.Send(data, 0); err != nil || n != len(data) {
		t.Fatalf("Send: %d, %v", n, err)
	}
	seg := tsoSegment(t, e.nextFrame(), 1460)
	if seg.Seq != iss+1 || seg.Flags != tcp.FlagACK || !bytes.Equal(seg.Payload, data[:10*1460]) {
		t.Fatalf("got %v, want ACK seq=%d with the first %d bytes", &seg, iss+1, 10*1460)
	}
	e.none() // cwnd is full
	st := e.st.Stats()
	if d := st.TCP.OutSegs - before.TCP.OutSegs; d != 10 {
		t.Errorf("OutSegs +%d, want +10 (the segments it stands for)", d)
	}
	if o := st.Offload; o.TSOOut != 1 || o.TSOSegsOut != 10 || o.TSOBytesOut != 10*1460 || o.SoftGSOOut != 0 {
		t.Errorf("Offload %+v, want one TSO segment of 10 × 1460 bytes and nothing cut in software", o)
	}
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1 + 10*1460, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	seg = tsoSegment(t, e.nextFrame(), 1460)
	if seg.Seq != iss+1+10*1460 || seg.Flags != tcp.FlagACK|tcp.FlagPSH || !bytes.Equal(seg.Payload, data[10*1460:]) {
		t.Fatalf("got %v, want ACK|PSH seq=%d with the last %d bytes", &seg, iss+1+10*1460, len(data)-10*1460)
	}
	e.none()
}

// A segment lost inside a TSO segment is a hole of one MSS: three
// duplicate ACKs whose SACK blocks cover the rest start recovery
// (RFC 6675 §5), and only that MSS is resent, as an ordinary segment;
// the ACK that fills the hole ends it with nothing else resent.
func TestTSO_LossInsideSegment_RepairedBySACK(t *testing.T) {
	e := newEnv(t, withTSO)
	c, iss := establishedSACK(t, e)
	data := pattern(10 * 1460)
	if _, err := c.Send(data, 0); err != nil {
		t.Fatal(err)
	}
	seg := tsoSegment(t, e.nextFrame(), 1460)
	if len(seg.Payload) != 10*1460 {
		t.Fatalf("first segment carries %d bytes, want the %d of the initial window", len(seg.Payload), 10*1460)
	}
	una := iss + 1
	mss := seqnum.Size(1460)
	ack := func(a seqnum.Value, sack ...tcp.SACKBlock) {
		o := tcp.Options{NumSACK: len(sack)}
		copy(o.SACK[:], sack)
		e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: a, Flags: tcp.FlagACK, Window: peerWnd, Options: o}, nil))
	}
	// The wire delivered segments 0, 1 and 3..9 of it; 2 was lost.
	ack(una.Add(mss))
	ack(una.Add(2 * mss))
	e.none() // nothing new to send
	var resent []tcp.Segment
	for k := seqnum.Size(4); k <= 10; k++ {
		ack(una.Add(2*mss), tcp.SACKBlock{Start: una.Add(3 * mss), End: una.Add(k * mss)})
		resent = append(resent, e.drainTCP()...)
	}
	if len(resent) == 0 {
		t.Fatal("the hole was not resent")
	}
	if rx := resent[0]; rx.Seq != una.Add(2*mss) || !bytes.Equal(rx.Payload, data[2*1460:3*1460]) {
		t.Fatalf("first retransmission %v, want the lost MSS at %d", &rx, una.Add(2*mss))
	}
	// Anything else resent is the tail's rescue (RFC 6675 §4 rule 4),
	// above the SACKed data: never the SACKed segments of the TSO segment.
	for _, s := range resent[1:] {
		if s.Seq.LessThan(una.Add(9*mss)) || len(s.Payload) > 1460 {
			t.Fatalf("resent %v: SACKed data (una %d)", &s, una)
		}
	}
	ack(una.Add(10 * mss))
	e.none()
	if got := e.st.Stats().TCP.RetransSegs; got != uint64(len(resent)) {
		t.Errorf("RetransSegs = %d, want the %d segments resent", got, len(resent))
	}
}

// For a device without TSO the stack cuts the segment itself (the
// Pipe's default): here 4000 bytes and the FIN, which Shutdown queued,
// leave as one segment of the TCB and reach the wire as three datagrams
// of at most an MSS, each with its own sequence number, consecutive IP
// IDs (following those of the segment before), complete IPv4 and TCP checksums (ipv4.Parse and tcp.Decode verify
// them), and FIN and PSH on the last only.
func TestTSO_SoftwareSegmentation_Golden(t *testing.T) {
	e := newEnv(t)
	c, iss := established(t, e)
	data := pattern(10*1460 + 4000)
	if err := c.SetsockoptInt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64<<10); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Send(data[:10*1460], 0); err != nil || n != 10*1460 {
		t.Fatalf("Send: %d, %v", n, err)
	}
	// The initial window, also cut: the last 4000 bytes wait for its ACK.
	var lastID uint16
	for k := 0; k < 10; k++ {
		lastID = e.nextIPv4().ID()
	}
	e.none()
	if n, err := c.Send(data[10*1460:], 0); err != nil || n != 4000 {
		t.Fatalf("Send: %d, %v", n, err)
	}
	if err := c.Shutdown(socket.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	e.none()
	iss += 10 * 1460
	data = data[10*1460:]
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	var got []tcp.Segment
	var ids []uint16
	for {
		f, ok := e.peer.TryReadFrame()
		if !ok {
			break
		}
		if f.Meta != (nic.Meta{}) || len(f.Data) > ethernet.HeaderLen+1500 {
			t.Fatalf("frame of %d bytes with Meta %+v on a plain device", len(f.Data), f.Meta)
		}
		h, err := ipv4.Parse(f.Data[ethernet.HeaderLen:])
		if err != nil {
			t.Fatalf("datagram %d: %v", len(got), err)
		}
		seg, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
		if err != nil {
			t.Fatalf("segment %d: %v", len(got), err)
		}
		ids = append(ids, h.ID())
		got = append(got, seg)
	}
	want := []struct {
		flags tcp.Flags
		off   int
		n     int
	}{{tcp.FlagACK, 0, 1460}, {tcp.FlagACK, 1460, 1460}, {tcp.FlagACK | tcp.FlagPSH | tcp.FlagFIN, 2920, 1080}}
	if len(got) != len(want) {
		t.Fatalf("%d datagrams on the wire, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Flags != w.flags || g.Seq != iss+1+seqnum.Value(w.off) || !bytes.Equal(g.Payload, data[w.off:w.off+w.n]) {
			t.Errorf("datagram %d: %v, want %v seq=%d len=%d", i, &g, w.flags, iss+1+seqnum.Value(w.off), w.n)
		}
		if ids[i] != lastID+1+uint16(i) {
			t.Errorf("IP IDs %v after %d, want consecutive: each segment reserved as many as it was cut into", ids, lastID)
		}
	}
	if o := e.st.Stats().Offload; o.SoftGSOOut != 2 || o.SoftGSOSegsOut != 13 || o.TSOOut != 0 {
		t.Errorf("Offload %+v, want two segments cut into 10 and 3 in software", o)
	}
}

// The cut itself, byte for byte: CWR (RFC 3168 §6.1.2, once per
// reduction) stays on the first datagram only, FIN and PSH on the last
// only, ECE and ACK on all; sequence numbers step by the size; each
// datagram has the next IP ID, its own Total Length and header checksum,
// and a complete TCP checksum over its own bytes.
func TestTSO_SoftwareSegmentation_FlagsAndChecksums(t *testing.T) {
	e := newEnv(t)
	src, dst := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")
	payload := pattern(2500)
	seg := tcp.Segment{SrcPort: 80, DstPort: 40000, Seq: 7000, Ack: 99,
		Flags: tcp.FlagACK | tcp.FlagPSH | tcp.FlagFIN | tcp.FlagCWR | tcp.FlagECE, Window: 512,
		Options: tcp.Options{HasTimestamp: true, TSVal: 1, TSEcr: 2}}
	th := make([]byte, seg.HeaderLen()+len(payload))
	hl := tcp.Encode(th, &seg)
	copy(th[hl:], payload)
	binary.BigEndian.PutUint16(th[16:], checksum.Fold(checksum.PseudoHeaderIPv4(src, dst, ipv4.ProtoTCP, uint16(len(th)))))
	pkt := make([]byte, ipv4.HeaderMinLen+len(th))
	ipv4.Encode(pkt, ipv4.Fields{TotalLen: len(pkt), ID: 0xfffe, DF: true, TTL: 64, Protocol: ipv4.ProtoTCP, Src: src, Dst: dst, TOS: 2})
	copy(pkt[ipv4.HeaderMinLen:], th)
	const size = 1000
	out := e.st.SegmentTest(pkt, size)
	want := []struct {
		flags tcp.Flags
		id    uint16
		off   int
	}{
		{tcp.FlagACK | tcp.FlagCWR | tcp.FlagECE, 0xfffe, 0},
		{tcp.FlagACK | tcp.FlagECE, 0xffff, 1000},
		{tcp.FlagACK | tcp.FlagECE | tcp.FlagPSH | tcp.FlagFIN, 0x0000, 2000},
	}
	if len(out) != len(want) {
		t.Fatalf("%d datagrams, want %d", len(out), len(want))
	}
	for i, w := range want {
		h, err := ipv4.Parse(out[i])
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		n := min(size, len(payload)-w.off)
		if h.ID() != w.id || h.TotalLen() != ipv4.HeaderMinLen+hl+n || !h.DF() || h.TOS() != 2 {
			t.Errorf("datagram %d: ID %#x Total Length %d DF %v TOS %d, want ID %#x length %d DF TOS 2",
				i, h.ID(), h.TotalLen(), h.DF(), h.TOS(), w.id, ipv4.HeaderMinLen+hl+n)
		}
		g, err := tcp.Decode(h.Payload(), src, dst, true)
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		if g.Flags != w.flags || g.Seq != 7000+seqnum.Value(w.off) || g.Ack != 99 || g.Window != 512 ||
			g.Options.TSVal != 1 || !bytes.Equal(g.Payload, payload[w.off:w.off+n]) {
			t.Errorf("segment %d: %v, want %v seq=%d len=%d with the same ACK, window and options", i, &g, w.flags, 7000+w.off, n)
		}
	}
}

// A device with TSO gets a segment whole only if the segments it will
// cut fit the MTU: after SetMTU lowered it below what an established
// connection's MSS makes (the connection keeps its MSS until path MTU
// discovery lowers it, as Linux's), the segment is cut in the stack and
// its datagrams, too large with DF, go to fragmentation, which refuses
// them, as it did any such datagram before (RFC 1191 §3).
func TestTSO_MTULoweredBelowSegments_NotHandedToDevice(t *testing.T) {
	e := newEnv(t, withTSO)
	c, _ := established(t, e)
	if err := e.st.SetMTU(1400); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(pattern(10*1460), 0); err != nil {
		t.Fatal(err)
	}
	for {
		f, ok := e.peer.TryReadFrame()
		if !ok {
			break
		}
		if f.Meta.GSO != nic.GSONone || len(f.Data) > ethernet.HeaderLen+1400 {
			t.Fatalf("frame of %d bytes with %+v beyond the MTU of 1400", len(f.Data), f.Meta)
		}
	}
	if st := e.st.Stats(); st.Offload.TSOOut != 0 || st.IPv4.FragFails == 0 {
		t.Errorf("Offload %+v, FragFails %d; want no TSO segment and the datagrams refused by fragmentation", st.Offload, st.IPv4.FragFails)
	}
}

// A segment of several MSS that must wait for the neighbour's address is
// cut before it joins the ARP queue, which holds plain datagrams: once
// the reply comes, the wire gets MSS-sized datagrams with complete
// checksums, in order.
func TestTSO_WaitingForARP_CutBeforeQueued(t *testing.T) {
	e := newEnv(t, withTSO)
	c, iss := established(t, e)
	e.clk.Advance(91 * time.Second) // the entry goes stale (30 s), then away unused (60 s)
	e.drain()
	data := pattern(10 * 1460)
	if _, err := c.Send(data, 0); err != nil {
		t.Fatal(err)
	}
	if eth, h := nextARP(e); eth.Dst() != ethernet.Broadcast || h.TargetIP() != peerIP {
		t.Fatalf("want a broadcast request for %v, got one to %v for %v", peerIP, eth.Dst(), h.TargetIP())
	}
	e.none()
	e.inject(arpFrame(arp.OpReply, peerMAC, peerIP, stackMAC, stackIP, stackMAC))
	for i := range 10 {
		f := e.nextFrame()
		if f.Meta != (nic.Meta{}) {
			t.Fatalf("datagram %d left the ARP queue with %+v", i, f.Meta)
		}
		h, err := ipv4.Parse(f.Data[ethernet.HeaderLen:])
		if err != nil {
			t.Fatal(err)
		}
		seg, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
		if err != nil || seg.Seq != iss+1+seqnum.Value(i*1460) || !bytes.Equal(seg.Payload, data[i*1460:(i+1)*1460]) {
			t.Fatalf("datagram %d: %v (%v), want seq=%d with its 1460 bytes", i, &seg, err, iss+1+seqnum.Value(i*1460))
		}
	}
	e.none()
}
