package nic

import (
	"encoding/binary"
	"errors"
)

// The virtio-net header (struct virtio_net_hdr, include/uapi/linux/virtio_net.h,
// the legacy 10-byte form) that a TAP opened with IFF_VNET_HDR puts in front
// of every frame it reads and expects in front of every frame written to it
// (drivers/net/tun.c, tun_put_user and tun_get_user; notes/tap-offload.md §3).
//
// The tun driver uses the host's byte order unless TUNSETVNETLE is set
// (tun_vnet.h, tun_is_little_endian); tapstack runs on little-endian hosts
// (amd64, arm64), so the header is little-endian here.
const vnetHdrLen = 10

// virtio_net_hdr flags (VIRTIO_NET_HDR_F_*).
const (
	vnetFlagNeedsCsum = 1 // CHECKSUM_PARTIAL: the L4 field holds the pseudo-header sum only
	vnetFlagDataValid = 2 // CHECKSUM_UNNECESSARY: the kernel verified the checksum
)

// virtio_net_hdr gso_type values (VIRTIO_NET_HDR_GSO_*). vnetGSOECN is OR'd
// into the type when the super-frame carries CWR (only with TUN_F_TSO_ECN,
// which tapstack does not negotiate; a frame that has it is still TCPv4 or
// TCPv6).
const (
	vnetGSONone  = 0
	vnetGSOTCPv4 = 1
	vnetGSOTCPv6 = 4
	vnetGSOECN   = 0x80
)

// vnetHdr is a decoded virtio_net_hdr. Offsets count from the first byte of
// the Ethernet header (on a TAP; a TUN has none).
type vnetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16 // length of the headers; from the kernel only a hint (notes §3)
	gsoSize    uint16 // L4 payload bytes per segment
	csumStart  uint16 // where the L4 checksum's coverage begins
	csumOffset uint16 // where the checksum field sits, from csumStart
}

// parseVnetHdr decodes the header at the start of b.
func parseVnetHdr(b []byte) (vnetHdr, error) {
	if len(b) < vnetHdrLen {
		return vnetHdr{}, errVnetShort
	}
	return vnetHdr{
		flags:      b[0],
		gsoType:    b[1],
		hdrLen:     binary.LittleEndian.Uint16(b[2:]),
		gsoSize:    binary.LittleEndian.Uint16(b[4:]),
		csumStart:  binary.LittleEndian.Uint16(b[6:]),
		csumOffset: binary.LittleEndian.Uint16(b[8:]),
	}, nil
}

// encode writes h into b[:vnetHdrLen].
func (h vnetHdr) encode(b []byte) {
	_ = b[vnetHdrLen-1]
	b[0], b[1] = h.flags, h.gsoType
	binary.LittleEndian.PutUint16(b[2:], h.hdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.gsoSize)
	binary.LittleEndian.PutUint16(b[6:], h.csumStart)
	binary.LittleEndian.PutUint16(b[8:], h.csumOffset)
}

// Why a received header does not make a Meta. The TAP drops such a frame
// and counts it.
var (
	errVnetShort   = errors.New("nic: frame shorter than the virtio-net header")
	errVnetGSOType = errors.New("nic: virtio-net header has a GSO type we did not negotiate")
	errVnetGSOSize = errors.New("nic: virtio-net header has GSO without a segment size")
	errVnetCsum    = errors.New("nic: virtio-net header's checksum offsets lie outside the frame")
)

// meta translates a header read with a frame of frameLen bytes (the header
// not included) into the frame's Meta, on a device whose receive offloads
// are rx. It refuses what the kernel would only send if we had negotiated
// it (a TCPv4 or TCPv6 super-frame without RxGSO4 or RxGSO6, UDP GSO:
// notes §6 pitfall 5), GSO without a size, and a partial checksum whose
// field lies beyond the frame. hdrLen is dropped: it is a hint, not the
// header length (notes §3).
func (h vnetHdr) meta(frameLen int, rx Offloads) (Meta, error) {
	var m Meta
	switch h.gsoType &^ vnetGSOECN {
	case vnetGSONone:
	case vnetGSOTCPv4:
		m.GSO = GSOTCPv4
	case vnetGSOTCPv6:
		m.GSO = GSOTCPv6
	default:
		return Meta{}, errVnetGSOType
	}
	if m.GSO != GSONone {
		if rx&gsoOffload[m.GSO] == 0 {
			return Meta{}, errVnetGSOType
		}
		if h.gsoSize == 0 {
			return Meta{}, errVnetGSOSize
		}
		m.GSOSize = h.gsoSize
	}
	switch {
	case h.flags&vnetFlagNeedsCsum != 0:
		// The field holds the pseudo-header sum: 2 bytes at start+offset.
		if int(h.csumStart)+int(h.csumOffset)+2 > frameLen {
			return Meta{}, errVnetCsum
		}
		m.Csum, m.CsumStart, m.CsumOffset = CsumPartial, h.csumStart, h.csumOffset
	case h.flags&vnetFlagDataValid != 0:
		m.Csum = CsumVerified
	}
	return m, nil
}

// gsoOffload is the receive offload a GSO type needs, and vnetGSOType
// its virtio-net header gso_type.
var (
	gsoOffload  = [...]Offloads{GSOTCPv4: RxGSO4, GSOTCPv6: RxGSO6}
	vnetGSOType = [...]uint8{GSOTCPv4: vnetGSOTCPv4, GSOTCPv6: vnetGSOTCPv6}
)

// vnetHdrOf builds the header written in front of a frame with Meta m. A zero
// Meta gives a zero header: an ordinary frame with a complete checksum. With
// a partial checksum, hdrLen is the least the kernel accepts (it raises it to
// csum_start+csum_offset+2 anyway: include/linux/virtio_net.h,
// virtio_net_hdr_to_skb).
func vnetHdrOf(m Meta) vnetHdr {
	var h vnetHdr
	if m.GSO == GSOTCPv4 || m.GSO == GSOTCPv6 {
		h.gsoType, h.gsoSize = vnetGSOType[m.GSO], m.GSOSize
	}
	switch m.Csum {
	case CsumPartial:
		h.flags = vnetFlagNeedsCsum
		h.csumStart, h.csumOffset = m.CsumStart, m.CsumOffset
		h.hdrLen = m.CsumStart + m.CsumOffset + 2
	case CsumVerified:
		h.flags = vnetFlagDataValid
	}
	return h
}
