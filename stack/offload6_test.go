package stack_test

import (
	"bytes"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
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
	st := e.st.Stats()
	if d := st.TCP.InSegs - before.TCP.InSegs; d != 4 {
		t.Errorf("InSegs +%d, want +4", d)
	}
	if d, want := offloadDelta(before, st), stackOffload(1, 1, 4, uint64(len(data))); d != want {
		t.Errorf("Offload stats +%+v, want +%+v", d, want)
	}
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
