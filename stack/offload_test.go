package stack_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// groMeta is the Meta a TAP with offloads gives a kernel super-frame of
// 1460-byte segments: GSO TCPv4 with only the pseudo-header sum.
var groMeta = nic.Meta{GSO: nic.GSOTCPv4, GSOSize: 1460, Csum: nic.CsumPartial, CsumStart: 34, CsumOffset: 16}

// partialCsum replaces the TCP checksum of frame (from tcpFrame) with a
// value that does not verify, as a CHECKSUM_PARTIAL frame carries only
// the pseudo-header sum.
func partialCsum(frame []byte) []byte {
	frame[ethernet.HeaderLen+ipv4.HeaderMinLen+16] ^= 0xff
	return frame
}

// A GRO super-segment four times the MTU's MSS with a partial checksum
// goes through IPv4 and TCP as one segment: accepted whole (no size check
// against the MTU on receive), its checksum not verified, ACKed at once as
// the four segments it stands for, counted as four in InSegs and as one
// super-segment in the offload counters. The same bytes without the Meta
// fail the checksum.
func TestTCP_GROSuperSegment_AcceptedWholeChecksumTrusted(t *testing.T) {
	e := newEnv(t)
	c, iss := established(t, e)
	seq := peerISS + 1
	data := pattern(4 * 1460)
	before := e.st.Stats()
	frame := partialCsum(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: peerWnd}, data))
	if len(frame) <= ethernet.HeaderLen+e.st.MTU() {
		t.Fatalf("fixture: frame of %d bytes is not above the MTU", len(frame))
	}
	e.st.HandleFrameTest(frame, groMeta)
	e.expectTCP(tcp.FlagACK, iss+1, seq+4*1460)
	buf := make([]byte, 8000)
	if n, _ := c.Recv(buf, 0); !bytes.Equal(buf[:n], data) {
		t.Fatalf("read %d bytes, want the %d sent", n, len(data))
	}
	checkGRO(t, before, e.st.Stats(), 4, len(data))
	// Without the device's word, the partial checksum is a bad one.
	seq += 4 * 1460
	e.inject(partialCsum(tcpFrame(tcp.Segment{Seq: seq, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, data[:100])))
	e.none()
	if got := e.st.Stats().TCP.InCsumErrors; got != 1 {
		t.Errorf("InCsumErrors = %d for a partial checksum without Meta, want 1", got)
	}
}

// A UDP datagram whose checksum the kernel verified (DATA_VALID) is not
// verified again; without the Meta the bad checksum drops it.
func TestUDP_CsumVerifiedMeta_NotVerifiedAgain(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	src, dst := netip.AddrPortFrom(peerIP, 5353), netip.AddrPortFrom(stackIP, 9999)
	bad := func() []byte {
		u := udpDatagram(src, dst, []byte("hello"))
		u[6] ^= 0xff
		return ipFrame(ipv4.Fields{Protocol: ipv4.ProtoUDP}, u)
	}
	before := e.st.Stats()
	e.st.HandleFrameTest(bad(), nic.Meta{Csum: nic.CsumVerified})
	e.drain() // the port unreachable
	st := e.st.Stats()
	if st.UDP.NoPorts != before.UDP.NoPorts+1 || st.UDP.InCsumErrors != before.UDP.InCsumErrors || st.Offload.CsumSkipped != before.Offload.CsumSkipped+1 {
		t.Fatalf("verified by the kernel: NoPorts %d, InCsumErrors %d, CsumSkipped %d; want it past the checksum", st.UDP.NoPorts, st.UDP.InCsumErrors, st.Offload.CsumSkipped)
	}
	e.inject(bad())
	if got := e.st.Stats().UDP.InCsumErrors; got != before.UDP.InCsumErrors+1 {
		t.Fatalf("InCsumErrors = %d without the Meta, want +1", got)
	}
}

// checkGRO checks that between the stats before and st one super-segment
// of n payload bytes standing for segs segments arrived, its checksum
// trusted: InSegs counts the segments, the offload counters one of each.
func checkGRO(t *testing.T, before, st stack.Stats, segs, n int) {
	t.Helper()
	if d := st.TCP.InSegs - before.TCP.InSegs; d != uint64(segs) {
		t.Errorf("InSegs +%d, want +%d", d, segs)
	}
	if d, want := offloadDelta(before, st), stackOffload(1, 1, uint64(segs), uint64(n)); d != want {
		t.Errorf("Offload stats +%+v, want +%+v", d, want)
	}
}

func stackOffload(csum, gro, segs, bytes uint64) stack.OffloadStats {
	return stack.OffloadStats{CsumSkipped: csum, GROIn: gro, GROSegsIn: segs, GROBytesIn: bytes}
}

func offloadDelta(before, after stack.Stats) stack.OffloadStats {
	a, b := after.Offload, before.Offload
	return stack.OffloadStats{CsumSkipped: a.CsumSkipped - b.CsumSkipped, GROIn: a.GROIn - b.GROIn, GROSegsIn: a.GROSegsIn - b.GROSegsIn, GROBytesIn: a.GROBytesIn - b.GROBytesIn}
}
