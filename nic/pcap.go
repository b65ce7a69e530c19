package nic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/gso"
)

// Classic libpcap file format (https://www.tcpdump.org/manpages/pcap-savefile.5.html),
// little-endian, with nanosecond timestamps.
const (
	pcapMagicNanos     = 0xa1b23c4d
	pcapVersionMajor   = 2
	pcapVersionMinor   = 4
	pcapLinkEthernet   = 1   // LINKTYPE_ETHERNET
	pcapLinkRaw        = 101 // LINKTYPE_RAW: a bare IPv4 or IPv6 packet, told by its version
	pcapDefaultSnaplen = 262144
	pcapGlobalLen      = 24
	pcapRecordLen      = 16
)

// PcapWriter writes frames to a classic pcap stream (LINKTYPE_ETHERNET, or
// LINKTYPE_RAW for an IP link; nanosecond timestamps), readable by tcpdump and Wireshark. It does not
// buffer: wrap w in a bufio.Writer for speed and flush it when done. It is
// safe for concurrent use; each record is one Write to w.
type PcapWriter struct {
	mu      sync.Mutex
	w       io.Writer
	snaplen int
	buf     []byte
}

// NewPcapWriter writes the pcap global header of an Ethernet capture to w.
// snaplen is the most bytes of a frame kept per record; 0 means 262144.
func NewPcapWriter(w io.Writer, snaplen int) (*PcapWriter, error) {
	return newPcapWriter(w, snaplen, LinkEthernet)
}

// newPcapWriter is NewPcapWriter for frames of the link kind k.
func newPcapWriter(w io.Writer, snaplen int, k LinkKind) (*PcapWriter, error) {
	if snaplen == 0 {
		snaplen = pcapDefaultSnaplen
	}
	if snaplen < 0 {
		return nil, fmt.Errorf("nic: pcap snaplen %d, want ≥ 0", snaplen)
	}
	var h [pcapGlobalLen]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagicNanos)
	binary.LittleEndian.PutUint16(h[4:], pcapVersionMajor)
	binary.LittleEndian.PutUint16(h[6:], pcapVersionMinor)
	// h[8:16]: thiszone and sigfigs, both 0.
	binary.LittleEndian.PutUint32(h[16:], uint32(snaplen))
	linkType := uint32(pcapLinkEthernet)
	if k == LinkIP {
		linkType = pcapLinkRaw
	}
	binary.LittleEndian.PutUint32(h[20:], linkType)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("nic: writing pcap header: %w", err)
	}
	return &PcapWriter{w: w, snaplen: snaplen}, nil
}

// WritePacket appends one record: the first snaplen bytes of frame, its
// original length and ts. ts must fall between 1970 and 2106.
func (p *PcapWriter) WritePacket(ts time.Time, frame []byte) error {
	sec := ts.Unix()
	if sec < 0 || sec > 1<<32-1 {
		return fmt.Errorf("nic: pcap timestamp %v out of range", ts)
	}
	incl := min(len(frame), p.snaplen)
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(sec))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts.Nanosecond()))
	b = binary.LittleEndian.AppendUint32(b, uint32(incl))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
	b = append(b, frame[:incl]...)
	p.buf = b
	if _, err := p.w.Write(b); err != nil {
		return fmt.Errorf("nic: writing pcap record: %w", err)
	}
	return nil
}

// NewPcap wraps dev so that every frame it reads or writes is also recorded
// to w, timestamped with clk (nil: clock.Real{}). It writes the pcap header
// at once, with the link type of dev's kind: LINKTYPE_ETHERNET, or
// LINKTYPE_RAW for an IP link (a TUN).
//
// Frames are recorded as they cross the device: a frame Write accepted, a
// frame Read returned. With offloads that means super-frames (up to 64 KiB)
// and partial checksums, exactly as tcpdump on the TAP shows them
// (notes/tap-offload.md §6 pitfall 12); the Meta is not recorded.
// NewPcapWith with PcapOptions.Segmented records them as the wire would
// carry them instead.
//
// A failure to record does not fail the device: recording stops, and the
// first such error is returned by Close, joined with dev's own. Close closes
// dev but not w. The wrapper has dev's Info and concurrency contract.
func NewPcap(dev Device, w io.Writer, clk clock.Clock) (Device, error) {
	return NewPcapWith(dev, w, PcapOptions{Clock: clk})
}

// PcapOptions are NewPcapWith's choices.
type PcapOptions struct {
	Clock clock.Clock // timestamps; nil: clock.Real{}
	// Segmented records a frame as the wire would carry it rather than as
	// it crossed the device: a TCP super-frame (a Meta with GSO, the
	// kernel's GRO or our TSO) as the MSS-sized frames it stands for,
	// each with its own lengths, IPv4 ID, sequence number, flags and
	// complete checksums, cut as the stack cuts for a device without TSO
	// (internal/gso, the one copy of that cut); a frame with a partial
	// checksum (CsumPartial) with its checksum completed. A super-frame
	// the cut cannot read (not TCP right behind an IPv4 or IPv6 header)
	// is recorded as it crossed.
	Segmented bool
}

// NewPcapWith is NewPcap with options.
func NewPcapWith(dev Device, w io.Writer, opts PcapOptions) (Device, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	pw, err := newPcapWriter(w, 0, dev.Info().Link)
	if err != nil {
		return nil, err
	}
	return &pcapDevice{dev: dev, pw: pw, clk: opts.Clock, segmented: opts.Segmented, linkHdr: dev.Info().Link.HeaderLen()}, nil
}

type pcapDevice struct {
	dev       Device
	pw        *PcapWriter
	clk       clock.Clock
	segmented bool
	linkHdr   int

	mu  sync.Mutex
	err error  // first recording error; recording stops after it
	buf []byte // a frame as the wire carries it (segmented)
}

func (d *pcapDevice) Info() Info { return d.dev.Info() }

func (d *pcapDevice) Read(fs []Frame) (int, error) {
	n, err := d.dev.Read(fs)
	d.record(fs[:n])
	return n, err
}

func (d *pcapDevice) Write(fs []Frame) (int, error) {
	n, err := d.dev.Write(fs)
	d.record(fs[:n])
	return n, err
}

func (d *pcapDevice) record(fs []Frame) {
	if len(fs) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return
	}
	now := d.clk.Now()
	for i := range fs {
		var err error
		if d.segmented && fs[i].Meta != (Meta{}) {
			err = d.recordWire(now, fs[i])
		} else {
			err = d.pw.WritePacket(now, fs[i].Data)
		}
		if err != nil {
			d.err = err
			return
		}
	}
}

// recordWire records f, a frame with offload metadata, as the wire would
// carry it (PcapOptions.Segmented).
func (d *pcapDevice) recordWire(now time.Time, f Frame) error {
	h, m := d.linkHdr, f.Meta
	if m.GSO != GSONone && len(f.Data) > h {
		pkt, err := gso.Check(f.Data[h:])
		if err != nil {
			return d.pw.WritePacket(now, f.Data)
		}
		if len(d.buf) < h {
			d.buf = make([]byte, h)
		}
		copy(d.buf, f.Data[:h]) // Segments keeps it in front of each piece
		for p := range gso.Segments(&d.buf, h, pkt, int(m.GSOSize)) {
			if err := d.pw.WritePacket(now, d.buf[:h+len(p)]); err != nil {
				return err
			}
		}
		return nil
	}
	if m.Csum != CsumPartial || int(m.CsumStart)+int(m.CsumOffset)+2 > len(f.Data) {
		return d.pw.WritePacket(now, f.Data)
	}
	// Complete the checksum as the kernel does for CHECKSUM_PARTIAL
	// (skb_checksum_help): the sum from CsumStart, the pseudo-header sum
	// in the field included, stored complemented.
	d.buf = append(d.buf[:0], f.Data...)
	field := int(m.CsumStart) + int(m.CsumOffset)
	binary.BigEndian.PutUint16(d.buf[field:], checksum.Checksum(d.buf[m.CsumStart:], 0))
	return d.pw.WritePacket(now, d.buf)
}

func (d *pcapDevice) Close() error {
	err := d.dev.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		err = errors.Join(err, fmt.Errorf("nic: pcap recording stopped: %w", d.err))
	}
	return err
}
