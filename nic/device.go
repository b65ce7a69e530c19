// Package nic moves frames between the stack and a link: a real TAP device
// (Ethernet frames), a real TUN device (bare IP packets), an in-memory Pipe
// with impairments for tests in either kind, and a pcap writer that wraps
// any of them. It knows no protocol beyond the MAC address and, on an IP
// link, the version nibble.
//
// The Device interface is shaped for what removes per-packet cost later:
// batches (several frames per call) and offload metadata (the virtio-net
// header of a TAP opened with IFF_VNET_HDR, see shared/notes/tap-offload.md).
// A plain device reports no offloads, and every Meta is zero; a TAP opened
// with TAPConfig.Offload fills Meta from the virtio-net header (vnethdr.go).
package nic

import (
	"errors"
	"os"
)

// ErrClosed is returned by Read and Write once the device is closed. It
// matches os.ErrClosed.
var ErrClosed = os.ErrClosed

// ErrFrameTooBig is returned by Write for a frame larger than Info().MaxFrame.
var ErrFrameTooBig = errors.New("nic: frame larger than the device's maximum")

// Offloads lists what a device has agreed to beyond plain frames.
type Offloads uint16

// Offload bits. TX is stack → link, RX is link → stack.
const (
	TxCsum        Offloads = 1 << iota // we may hand over partial L4 checksums
	TxTSO4                             // we may hand over TCPv4 super-frames
	RxCsumPartial                      // frames may arrive with partial L4 checksums
	RxGSO4                             // frames may arrive as TCPv4 super-frames
	TxTSO6                             // we may hand over TCPv6 super-frames
	RxGSO6                             // frames may arrive as TCPv6 super-frames
)

// GSO is a frame's segmentation-offload type.
type GSO uint8

// GSO types, as in the virtio-net header (vnethdr.go maps them).
const (
	GSONone GSO = iota
	GSOTCPv4
	GSOTCPv6
)

// Csum says what is known of a frame's L4 checksum.
type Csum uint8

// Checksum states. The zero value means the checksum is complete and must be
// verified by the stack.
const (
	CsumUnverified Csum = iota // complete, not verified: verify it
	CsumPartial                // only the pseudo-header sum is present: trust it
	CsumVerified               // already verified by the kernel: trust it
)

// Meta is one frame's offload state. Its zero value is an ordinary frame with
// complete checksums.
type Meta struct {
	GSO        GSO
	GSOSize    uint16 // L4 payload bytes per segment
	Csum       Csum
	CsumStart  uint16 // from the first byte of the Ethernet header
	CsumOffset uint16 // from CsumStart
}

// Frame is one frame of the device's link kind: on an Ethernet link an
// Ethernet frame (destination MAC first, no FCS), on an IP link one IP
// packet (version nibble first, no link header at all).
//
// For Read, the caller sets Data to a buffer whose capacity is at least
// Info().MaxFrame; the device reslices it to the frame's length. For Write,
// Data is the frame; the device does not keep it after Write returns.
type Frame struct {
	Data []byte
	Meta Meta
}

// LinkKind says what a device's frames are. Its zero value is Ethernet, so
// a device that does not set it is an Ethernet link.
type LinkKind uint8

// Link kinds.
const (
	// LinkEthernet: frames carry a 14-byte Ethernet header (IEEE 802.3);
	// the stack resolves neighbours with ARP. A TAP, an Ethernet Pipe.
	LinkEthernet LinkKind = iota
	// LinkIP: each frame is one IP packet with no link header, told apart
	// by its version nibble, as a Linux TUN opened with IFF_TUN|IFF_NO_PI
	// carries them (Documentation/networking/tuntap.rst). There are no link
	// addresses and no neighbour resolution: every packet goes to the one
	// peer at the other end.
	LinkIP
)

// HeaderLen is the length of the link header in front of each IP packet:
// 14 for Ethernet (no VLAN tag, no FCS), 0 for an IP link.
func (k LinkKind) HeaderLen() int {
	if k == LinkIP {
		return 0
	}
	return ethernetHeaderLen
}

func (k LinkKind) String() string {
	if k == LinkIP {
		return "ip"
	}
	return "ethernet"
}

// ethernetHeaderLen is an Ethernet II header: two MACs and the EtherType.
const ethernetHeaderLen = 14

// maxIPv4Len is IPv4's largest datagram (RFC 791 §3.1, Total Length): the
// most a TCPv4 super-frame can carry after the link header.
const maxIPv4Len = 65535

// maxIPv6Len is IPv6's largest packet without jumbograms: the fixed
// header and a Payload Length of 65535 (RFC 8200 §3; RFC 2675 jumbograms
// are never negotiated): the most a TCPv6 super-frame can carry.
const maxIPv6Len = 40 + 65535

// maxSuperLen is the largest IP packet a device with the offloads o
// carries in one frame: IPv6's with TCPv6 super-frames, else IPv4's.
func maxSuperLen(o Offloads) int {
	if o&(RxGSO6|TxTSO6) != 0 {
		return maxIPv6Len
	}
	return maxIPv4Len
}

// Info describes a device. It does not change after the device is opened.
type Info struct {
	Name     string
	Link     LinkKind // what a frame is: Ethernet (the zero value) or a bare IP packet
	MAC      [6]byte  // the stack's own MAC on this link; zero on an IP link
	MTU      int      // largest IP packet the link carries
	MaxFrame int      // largest frame Read can return (Link.HeaderLen() + MTU for a plain device; 14 + 65535 with RxGSO4, 14 + 40 + 65535 with RxGSO6)
	Batch    int      // frames per Read/Write call the device prefers (≥ 1)
	Offloads Offloads
}

// Device is a link that carries frames of the kind its Info().Link says.
//
// Read and Write may be called concurrently with each other, and Close with
// either; Close unblocks a pending Read, which then returns ErrClosed. A
// single goroutine calls Read at a time.
type Device interface {
	Info() Info
	// Read blocks until at least one frame is available, then fills fs
	// without blocking further until fs is full or the device has nothing
	// more ready. It returns the number of frames filled.
	Read(fs []Frame) (n int, err error)
	// Write sends fs in order and returns how many the device accepted. A
	// frame the link cannot take is an error, not a silent drop.
	Write(fs []Frame) (n int, err error)
	Close() error
}

// VecWriter is a Device that writes a frame given in pieces with one
// system call (writev), so that a sender need not copy a payload it holds
// elsewhere (a TCP send ring) behind the headers first.
type VecWriter interface {
	// WriteVec writes the one frame made of head followed by tail[0] and
	// tail[1], with meta, exactly as Write would write their
	// concatenation: the same checks, errors and counters. It keeps none
	// of the slices after it returns.
	WriteVec(head []byte, tail [2][]byte, meta Meta) error
}
