package nic

import (
	"bytes"
	"testing"
)

// Golden headers: the bytes the kernel reads and writes (little-endian,
// struct virtio_net_hdr), as seen on this machine's TAP (notes §5).
var vnetGolden = []struct {
	name  string
	bytes []byte
	hdr   vnetHdr
	meta  Meta
}{
	{
		name:  "plain",
		bytes: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		hdr:   vnetHdr{},
		meta:  Meta{},
	},
	{
		// A GRO super-frame from the kernel: 44×1460 bytes, TCPv4,
		// NEEDS_CSUM, headers 54 bytes, TCP header at 34, checksum at +16.
		name:  "gro tcpv4 partial",
		bytes: []byte{0x01, 0x01, 54, 0, 0xb4, 0x05, 34, 0, 16, 0},
		hdr:   vnetHdr{flags: vnetFlagNeedsCsum, gsoType: vnetGSOTCPv4, hdrLen: 54, gsoSize: 1460, csumStart: 34, csumOffset: 16},
		meta:  Meta{GSO: GSOTCPv4, GSOSize: 1460, Csum: CsumPartial, CsumStart: 34, CsumOffset: 16},
	},
	{
		// A GRO super-frame from the kernel over IPv6: 20×1440 bytes
		// (an MSS of 1500-40-20 less 12 of timestamps), TCPv6 (4),
		// NEEDS_CSUM, TCP header at 14+40 = 54, checksum at +16.
		name:  "gro tcpv6 partial",
		bytes: []byte{0x01, 0x04, 86, 0, 0xa0, 0x05, 54, 0, 16, 0},
		hdr:   vnetHdr{flags: vnetFlagNeedsCsum, gsoType: vnetGSOTCPv6, hdrLen: 86, gsoSize: 1440, csumStart: 54, csumOffset: 16},
		meta:  Meta{GSO: GSOTCPv6, GSOSize: 1440, Csum: CsumPartial, CsumStart: 54, CsumOffset: 16},
	},
	{
		// TCPv6 with the ECN bit (0x84): still TCPv6.
		name:  "tcpv6 ecn",
		bytes: []byte{0x01, 0x84, 86, 0, 0xa0, 0x05, 54, 0, 16, 0},
		hdr:   vnetHdr{flags: vnetFlagNeedsCsum, gsoType: vnetGSOTCPv6 | vnetGSOECN, hdrLen: 86, gsoSize: 1440, csumStart: 54, csumOffset: 16},
		meta:  Meta{GSO: GSOTCPv6, GSOSize: 1440, Csum: CsumPartial, CsumStart: 54, CsumOffset: 16},
	},
	{
		name:  "data valid",
		bytes: []byte{0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		hdr:   vnetHdr{flags: vnetFlagDataValid},
		meta:  Meta{Csum: CsumVerified},
	},
	{
		name:  "small partial",
		bytes: []byte{0x01, 0x00, 0x36, 0x00, 0x00, 0x00, 0x22, 0x00, 0x10, 0x00},
		hdr:   vnetHdr{flags: vnetFlagNeedsCsum, hdrLen: 54, csumStart: 34, csumOffset: 16},
		meta:  Meta{Csum: CsumPartial, CsumStart: 34, CsumOffset: 16},
	},
	{
		// Multi-byte fields show the byte order: 0x1234 is 34 12.
		name:  "byte order",
		bytes: []byte{0x01, 0x81, 0x34, 0x12, 0x78, 0x56, 0x22, 0x00, 0x10, 0x00},
		hdr:   vnetHdr{flags: vnetFlagNeedsCsum, gsoType: vnetGSOTCPv4 | vnetGSOECN, hdrLen: 0x1234, gsoSize: 0x5678, csumStart: 34, csumOffset: 16},
		meta:  Meta{GSO: GSOTCPv4, GSOSize: 0x5678, Csum: CsumPartial, CsumStart: 34, CsumOffset: 16},
	},
}

// rxAll are a TAP's receive offloads when the kernel took TUN_F_TSO6 too.
const rxAll = RxCsumPartial | RxGSO4 | RxGSO6

func TestVnetHdr_Golden(t *testing.T) {
	for _, g := range vnetGolden {
		h, err := parseVnetHdr(g.bytes)
		if err != nil || h != g.hdr {
			t.Errorf("%s: parse = %+v, %v; want %+v", g.name, h, err, g.hdr)
		}
		var b [vnetHdrLen]byte
		g.hdr.encode(b[:])
		if !bytes.Equal(b[:], g.bytes) {
			t.Errorf("%s: encode = % x, want % x", g.name, b, g.bytes)
		}
		m, err := g.hdr.meta(65000, rxAll)
		if err != nil || m != g.meta {
			t.Errorf("%s: meta = %+v, %v; want %+v", g.name, m, err, g.meta)
		}
	}
}

func TestVnetHdrOf_BuildsWhatTheKernelWants(t *testing.T) {
	// A zero Meta is a plain frame: a zero header.
	if h := vnetHdrOf(Meta{}); h != (vnetHdr{}) {
		t.Errorf("vnetHdrOf(zero) = %+v, want zero", h)
	}
	// A TSO frame: TCPv4, the size, NEEDS_CSUM, offsets, and hdr_len at
	// least csum_start+csum_offset+2 (the kernel refuses less: N3 is the
	// other bound, hdr_len > frame).
	m := Meta{GSO: GSOTCPv4, GSOSize: 1448, Csum: CsumPartial, CsumStart: 34, CsumOffset: 16}
	var b [vnetHdrLen]byte
	vnetHdrOf(m).encode(b[:])
	want := []byte{0x01, 0x01, 52, 0, 0xa8, 0x05, 34, 0, 16, 0}
	if !bytes.Equal(b[:], want) {
		t.Errorf("TSO header = % x, want % x", b, want)
	}
	// The same over IPv6: TCPv6 (4), the TCP header behind 14+40 bytes.
	m = Meta{GSO: GSOTCPv6, GSOSize: 1428, Csum: CsumPartial, CsumStart: 54, CsumOffset: 16}
	vnetHdrOf(m).encode(b[:])
	want = []byte{0x01, 0x04, 72, 0, 0x94, 0x05, 54, 0, 16, 0}
	if !bytes.Equal(b[:], want) {
		t.Errorf("TSO6 header = % x, want % x", b, want)
	}
}

func TestVnetHdr_Meta_RefusesWhatWasNotNegotiated(t *testing.T) {
	for _, c := range []struct {
		name string
		h    vnetHdr
		len  int
		rx   Offloads
		want error
	}{
		// A TAP whose kernel refused TUN_F_TSO6 (the fallback set) gets
		// no TCPv6 super-frame; one refused both gets none at all.
		{"tcpv6 without TSO6", vnetHdr{gsoType: vnetGSOTCPv6, gsoSize: 1440}, 9000, RxCsumPartial | RxGSO4, errVnetGSOType},
		{"tcpv4 transmit only", vnetHdr{gsoType: vnetGSOTCPv4, gsoSize: 1460}, 9000, 0, errVnetGSOType},
		{"udp l4", vnetHdr{gsoType: 5, gsoSize: 1440}, 9000, rxAll, errVnetGSOType},
		{"ufo", vnetHdr{gsoType: 3, gsoSize: 1440}, 9000, rxAll, errVnetGSOType},
		{"gso size 0", vnetHdr{gsoType: vnetGSOTCPv4}, 9000, rxAll, errVnetGSOSize},
		{"tcpv6 gso size 0", vnetHdr{gsoType: vnetGSOTCPv6}, 9000, rxAll, errVnetGSOSize},
		{"csum beyond frame", vnetHdr{flags: vnetFlagNeedsCsum, csumStart: 34, csumOffset: 16}, 51, rxAll, errVnetCsum},
	} {
		if m, err := c.h.meta(c.len, c.rx); err != c.want {
			t.Errorf("%s: meta = %+v, %v; want %v", c.name, m, err, c.want)
		}
	}
	// The field exactly at the end is inside.
	if _, err := (vnetHdr{flags: vnetFlagNeedsCsum, csumStart: 34, csumOffset: 16}).meta(52, rxAll); err != nil {
		t.Errorf("csum field at the frame's end: %v", err)
	}
	if _, err := parseVnetHdr(make([]byte, 9)); err != errVnetShort {
		t.Errorf("parse of 9 bytes: %v, want errVnetShort", err)
	}
}

// FuzzVnetHdr: parsing never panics; what parses re-encodes to the same
// bytes; a Meta that a header yields builds a header that yields it again.
func FuzzVnetHdr(f *testing.F) {
	for _, g := range vnetGolden {
		f.Add(g.bytes, 65000)
	}
	f.Add([]byte{1, 2, 3}, 0)
	f.Fuzz(func(t *testing.T, b []byte, frameLen int) {
		h, err := parseVnetHdr(b)
		if err != nil {
			if len(b) >= vnetHdrLen {
				t.Fatalf("parse of %d bytes failed: %v", len(b), err)
			}
			return
		}
		var enc [vnetHdrLen]byte
		h.encode(enc[:])
		if !bytes.Equal(enc[:], b[:vnetHdrLen]) {
			t.Fatalf("round trip: % x → %+v → % x", b[:vnetHdrLen], h, enc)
		}
		m, err := h.meta(frameLen, rxAll)
		if err != nil {
			return
		}
		m2, err := vnetHdrOf(m).meta(frameLen, rxAll)
		if err != nil || m2 != m {
			t.Fatalf("Meta round trip: %+v → %+v → %+v, %v", m, vnetHdrOf(m), m2, err)
		}
	})
}
