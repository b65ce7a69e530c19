package stack

import (
	"encoding/binary"
	"iter"
	"net/netip"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/gso"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/tcp"
)

// Generic segmentation offload on the send side. A TCP connection may
// build a segment of several MSS (tcp.Config.GSOMaxSize, tcp_tso_autosize
// sizes it); it leaves sendTCPLocked (sendTCP6Locked) as one packet with
// only the pseudo-header sum in its checksum field and a Meta that says so
// (GSO TCPv4 or TCPv6 of GSOSize octets, a partial checksum), as Linux
// hands a GSO skb to the device. The output path then either gives it
// whole to a device that agreed to TSO for its family (a TAP with the
// virtio-net header: the kernel cuts it, or takes it whole if it is for a
// local socket), or cuts it here, in this one place (segmentsLocked, with
// package gso's cut, which nic's segmented pcap shares), as Linux's
// software GSO does (tcp_gso_segment) for a device without TSO (a Pipe, a
// TAP whose kernel refused, a TUN), for the paths that never reach the
// device (loopback, the ARP and neighbour-discovery queues), and for an
// IPv6 packet whose segments need fragmentation. TCP never asks which
// device it is on.

// gsoMaxPayload is the GSOMaxSize the stack gives TCP: the larger family's
// bound; TCP holds each connection to its own (tcp.MaxGSOPayload4 for
// IPv4).
const gsoMaxPayload = tcp.MaxGSOPayload6

// tcpCsumOffset is where TCP's checksum field sits in its header
// (RFC 9293 §3.1), the virtio-net header's csum_offset.
const tcpCsumOffset = 16

// tcpChecksumLocked finishes the checksum of the TCP segment from src to
// dst whose header is th and whose payload is p1 then p2 (still in the
// send ring), and returns the Meta the packet leaves with and how many
// segments it stands for. A segment whose payload exceeds gsoSize
// (tcp.Segment.GSOSize) gets only the pseudo-header sum of its family
// (RFC 9293 §3.1; RFC 8200 §8.1: the upper-layer length as 32 bits),
// folded and not inverted, over the whole segment's length: whoever cuts
// it (the kernel, segmentsLocked) completes each piece's
// (include/linux/virtio_net.h, NEEDS_CSUM). Any other gets its full
// checksum, summed over the pieces where they are.
func (s *Stack) tcpChecksumLocked(th tcp.Header, p1, p2 []byte, src, dst netip.Addr, gsoSize int) (nic.Meta, int) {
	n := len(p1) + len(p2)
	var ph uint32
	ipLen, typ := ipv4.HeaderMinLen, nic.GSOTCPv4
	if src.Is4() {
		ph = checksum.PseudoHeaderIPv4(src, dst, ipv4.ProtoTCP, uint16(len(th)+n))
	} else {
		ph, ipLen, typ = ipv6.PseudoHeaderSum(src, dst, ipv6.ProtoTCP, uint32(len(th)+n)), ipv6.HeaderLen, nic.GSOTCPv6
	}
	if gsoSize <= 0 || n <= gsoSize {
		th.SetChecksum(0)
		sum := checksum.Sum(th, ph) // a TCP header is whole 32-bit words: even
		th.SetChecksum(^checksum.Fold(checksum.SumSplit(p1, p2, sum)))
		return nic.Meta{}, 1
	}
	binary.BigEndian.PutUint16(th[tcpCsumOffset:], checksum.Fold(ph))
	start := s.linkHdr + ipLen
	return nic.Meta{GSO: typ, GSOSize: uint16(gsoSize), Csum: nic.CsumPartial,
		CsumStart: uint16(start), CsumOffset: tcpCsumOffset}, (n + gsoSize - 1) / gsoSize
}

// fillTailLocked copies the payload of the segment being sent (s.tail)
// behind its headers in s.out, for every path that needs the datagram in
// one piece: loopback, the ARP queue, segmentsLocked, fragmentation, a
// device that writes only whole frames, a drop that logs the datagram.
func (s *Stack) fillTailLocked() {
	if len(s.tail[0])+len(s.tail[1]) == 0 {
		return
	}
	n := s.tailAt + copy(s.out[s.tailAt:], s.tail[0])
	copy(s.out[n:], s.tail[1])
	s.tail = [2][]byte{}
}

// tailFrameLocked reports whether frame is the segment being sent from
// s.out, its payload still in s.tail (and not, say, an ARP request sent
// from s.frag on the way).
func (s *Stack) tailFrameLocked(frame []byte) bool {
	return len(s.tail[0])+len(s.tail[1]) > 0 && len(frame) > s.tailAt && &frame[0] == &s.out[0]
}

// writeTailLocked writes frame, which is s.out up to the end of the
// segment being sent, with the payload still in s.tail, as one frame in
// pieces (nic.VecWriter: one writev, no copy of the payload here). It
// returns false, having written nothing, for any other frame, or when the
// device cannot or the frame needs padding; the caller then fills the
// tail (tailFrameLocked) and writes frame.
func (s *Stack) writeTailLocked(frame []byte, meta nic.Meta) (written bool, err error) {
	if !s.tailFrameLocked(frame) || s.vec == nil || !s.ipLink && len(frame) < ethernet.MinFrameLen {
		return false, nil
	}
	err = s.vec.WriteVec(frame[:s.tailAt], s.tail, meta)
	if err != nil {
		s.fillTailLocked() // the drop logs the frame
	}
	s.tail = [2][]byte{}
	return true, err
}

// tsoLocked reports whether the device takes the super-segment pkt (an
// IPv4 or IPv6 packet) with meta whole: it agreed to TSO for the family,
// and each segment it will cut fits the MTU (IPv4: after SetMTU lowered
// it, a connection may keep a larger MSS; its segments then go to
// fragmentation, which DF refuses, as before) or the path MTU (IPv6: a
// segment above it is cut here and fragmented, RFC 8200 §4.5, which the
// kernel's TSO would not do).
func (s *Stack) tsoLocked(pkt []byte, meta nic.Meta) bool {
	need, ipLen, mtu := nic.TxTSO4, 0, s.mtu
	if meta.GSO == nic.GSOTCPv6 {
		need, ipLen, mtu = nic.TxTSO6, ipv6.HeaderLen, s.pmtu6Locked(ipv6.Header(pkt).Dst())
	} else {
		ipLen = ipv4.Header(pkt).HeaderLen()
	}
	if s.info.Offloads&need == 0 {
		return false
	}
	hdrs := ipLen + tcp.Header(pkt[ipLen:]).DataOffset()
	return hdrs+int(meta.GSOSize) <= mtu
}

// writeTSOLocked writes frame, s.out up to the end of a super-segment the
// device takes whole (tsoLocked), its link header filled in, and counts
// it: one TSO segment, the segments its TCP segment th stands for, their
// payload.
func (s *Stack) writeTSOLocked(frame []byte, th tcp.Header, meta nic.Meta) {
	n := len(th) - th.DataOffset()
	o := &s.stats.Offload
	o.TSOOut++
	o.TSOSegsOut += uint64((n + int(meta.GSOSize) - 1) / int(meta.GSOSize))
	o.TSOBytesOut += uint64(n)
	s.writeFrameMetaLocked(frame, meta)
}

// sendSegmentsLocked sends the super-segment pkt, which the device does
// not take whole, as the packets segmentsLocked cuts, each with send; the
// first packet's error is the sender's.
func (s *Stack) sendSegmentsLocked(pkt []byte, meta nic.Meta, send func(p []byte) error) error {
	s.fillTailLocked()
	var err error
	for p := range s.segmentsLocked(pkt, meta) {
		if e := send(p); err == nil {
			err = e
		}
	}
	return err
}

// segmentsLocked cuts the TCP super-segment pkt (Meta GSO TCPv4 or TCPv6,
// partial checksum) into packets of at most meta.GSOSize payload, with
// package gso's cut (as the kernel's tcp_gso_segment: each its own
// sequence number, lengths, IPv4 ID and checksums; FIN and PSH on the last
// only, CWR on the first only), and counts them. Each is built in s.gsoBuf
// at offset linkHdr and is valid until the next one is yielded.
func (s *Stack) segmentsLocked(pkt []byte, meta nic.Meta) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		s.stats.Offload.SoftGSOOut++
		for p := range gso.Segments(&s.gsoBuf, s.linkHdr, pkt, int(meta.GSOSize)) {
			s.stats.Offload.SoftGSOSegsOut++
			if !yield(p) {
				return
			}
		}
	}
}
