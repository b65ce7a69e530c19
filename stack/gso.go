package stack

import (
	"encoding/binary"
	"iter"
	"net/netip"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// Generic segmentation offload on the send side. A TCP connection may
// build a segment of several MSS (tcp.Config.GSOMaxSize, tcp_tso_autosize
// sizes it); it leaves sendTCPLocked as one datagram with only the
// pseudo-header sum in its checksum field and a Meta that says so (GSO
// TCPv4 of GSOSize octets, a partial checksum), as Linux hands a GSO skb
// to the device. The output path then either gives it whole to a device
// that agreed to TSO (a TAP with the virtio-net header: the kernel cuts
// it, or takes it whole if it is for a local socket), or cuts it here,
// in this one place, as Linux's software GSO does (tcp_gso_segment) for
// a device without TSO (a Pipe, a TAP whose kernel refused, a TUN), and
// for the paths that never reach the device (loopback, the ARP queue).
// TCP never asks which device it is on.

// gsoMaxPayload is the most payload a segment of several MSS may carry:
// IPv4's largest datagram (RFC 791 §3.1, Total Length) less the largest
// IPv4 and TCP headers, so that any segment's datagram fits.
const gsoMaxPayload = ipv4.MaxTotalLen - ipv4.HeaderMaxLen - tcp.HeaderMaxLen

// tcpCsumOffset is where TCP's checksum field sits in its header
// (RFC 9293 §3.1), the virtio-net header's csum_offset.
const tcpCsumOffset = 16

// tcpChecksumLocked finishes the checksum of the TCP segment from src to
// dst whose header is th and whose payload is p1 then p2 (still in the
// send ring), and returns the Meta the datagram leaves with and how many
// segments it stands for. A segment whose payload exceeds gsoSize
// (tcp.Segment.GSOSize) gets only the pseudo-header sum, folded and not
// inverted, over the whole segment's length: whoever cuts it (the kernel,
// segmentLocked) completes each piece's (include/linux/virtio_net.h,
// NEEDS_CSUM). Any other gets its full checksum (RFC 9293 §3.1), summed
// over the pieces where they are.
func (s *Stack) tcpChecksumLocked(th tcp.Header, p1, p2 []byte, src, dst netip.Addr, gsoSize int) (nic.Meta, int) {
	n := len(p1) + len(p2)
	ph := checksum.PseudoHeaderIPv4(src, dst, ipv4.ProtoTCP, uint16(len(th)+n))
	if gsoSize <= 0 || n <= gsoSize {
		th.SetChecksum(0)
		sum := checksum.Sum(th, ph) // a TCP header is whole 32-bit words: even
		th.SetChecksum(^checksum.Fold(checksum.SumSplit(p1, p2, sum)))
		return nic.Meta{}, 1
	}
	binary.BigEndian.PutUint16(th[tcpCsumOffset:], checksum.Fold(ph))
	start := s.linkHdr + ipv4.HeaderMinLen
	return nic.Meta{GSO: nic.GSOTCPv4, GSOSize: uint16(gsoSize), Csum: nic.CsumPartial,
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

// tsoLocked reports whether the device takes the super-segment pkt with
// meta whole: it agreed to TCPv4 TSO, and each segment it will cut fits
// the MTU (after SetMTU lowered it, a connection may keep a larger MSS;
// its segments then go to fragmentation, which DF refuses, as before).
func (s *Stack) tsoLocked(pkt ipv4.Header, meta nic.Meta) bool {
	if s.info.Offloads&nic.TxTSO4 == 0 {
		return false
	}
	hdrs := pkt.HeaderLen() + tcp.Header(pkt.Payload()).DataOffset()
	return hdrs+int(meta.GSOSize) <= s.mtu
}

// segmentsLocked cuts the TCP super-segment pkt (Meta GSO TCPv4, partial
// checksum) into datagrams of at most meta.GSOSize payload, as the kernel
// does (net/ipv4/tcp_offload.c, tcp_gso_segment; inet_gso_segment): each
// has the headers of pkt with its own sequence number, IP ID (pkt's plus
// its index, the IDs sendTCPLocked reserved), Total Length and header
// checksum, and a complete TCP checksum; FIN and PSH stay only on the
// last, CWR only on the first (RFC 3168 §6.1.2: one CWR per reduction).
// Each datagram is built in s.gsoBuf at offset linkHdr and is valid
// until the next one is yielded.
func (s *Stack) segmentsLocked(pkt ipv4.Header, meta nic.Meta) iter.Seq[ipv4.Header] {
	return func(yield func(ipv4.Header) bool) {
		ihl := pkt.HeaderLen()
		th := tcp.Header(pkt.Payload())
		hdrs := ihl + th.DataOffset()
		payload, size := pkt[hdrs:], int(meta.GSOSize)
		if need := s.linkHdr + hdrs + size; len(s.gsoBuf) < need {
			s.gsoBuf = make([]byte, need)
		}
		src, dst := pkt.Src(), pkt.Dst()
		id, seq, flags := pkt.ID(), th.Seq(), th.Flags()
		s.stats.Offload.SoftGSOOut++
		for i, off := 0, 0; off < len(payload); i, off = i+1, off+size {
			k := min(size, len(payload)-off)
			p := ipv4.Header(s.gsoBuf[s.linkHdr : s.linkHdr+hdrs+k])
			copy(p, pkt[:hdrs])
			copy(p[hdrs:], payload[off:off+k])
			p.SetTotalLen(len(p))
			p.SetID(id + uint16(i))
			p.SetChecksum()
			t := tcp.Header(p[ihl:])
			t.SetSeq(seq.Add(seqnum.Size(off)))
			f := flags
			if off+k < len(payload) {
				f &^= tcp.FlagFIN | tcp.FlagPSH
			}
			if i > 0 {
				f &^= tcp.FlagCWR
			}
			t.SetFlags(f)
			t.ComputeChecksumIPv4(src, dst)
			s.stats.Offload.SoftGSOSegsOut++
			if !yield(p) {
				return
			}
		}
	}
}
