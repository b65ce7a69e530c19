package stack_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/tcp"
)

// pcapFrames returns the frames recorded in a classic little-endian pcap
// stream (pcap-savefile(5): a 24-byte global header, then a 16-byte
// header before each record, its captured length at offset 8).
func pcapFrames(t *testing.T, b []byte) [][]byte {
	t.Helper()
	if len(b) < 24 {
		t.Fatalf("pcap of %d bytes", len(b))
	}
	var out [][]byte
	for b = b[24:]; len(b) > 0; {
		n := int(binary.LittleEndian.Uint32(b[8:]))
		if len(b) < 16+n {
			t.Fatalf("record of %d bytes with %d left", n, len(b)-16)
		}
		out = append(out, b[16:16+n])
		b = b[16+n:]
	}
	return out
}

// A pcap written with PcapOptions.Segmented records a TCP super-frame as
// the wire would carry it: byte for byte the packets the stack's software
// GSO cuts from it (SegmentTest), each behind the frame's Ethernet header,
// over IPv4 and IPv6, while the device still carries the super-frame whole.
// tcpdump, if installed, reads the file and finds every TCP checksum
// correct.
func TestPcapSegmented_SuperFrameRecordedAsTheStackCuts(t *testing.T) {
	e := newEnv(t)
	var capture []byte
	seg := tcp.Segment{SrcPort: stackPort, DstPort: peerPort, Seq: 7000, Ack: 99,
		Flags: tcp.FlagACK | tcp.FlagPSH | tcp.FlagCWR, Window: 512, Options: tcp.Options{HasTimestamp: true, TSVal: 1, TSEcr: 2}}
	payload := pattern(3*1000 + 500)
	for _, c := range []struct {
		name   string
		pkt    []byte
		typ    ethernet.EtherType
		gso    nic.GSO
		ipLen  uint16
		pieces int
	}{
		{"IPv4", superSegment(stackIP, peerIP, seg, payload), ethernet.TypeIPv4, nic.GSOTCPv4, ipv4.HeaderMinLen, 4},
		{"IPv6", superSegment(stackLL, peerLL, seg, payload), ethernet.TypeIPv6, nic.GSOTCPv6, ipv6.HeaderLen, 4},
	} {
		a, b := nic.NewPipe(nic.PipeConfig{Offloads: tso6Offloads})
		var buf bytes.Buffer
		dev, err := nic.NewPcapWith(a, &buf, nic.PcapOptions{Segmented: true})
		if err != nil {
			t.Fatal(err)
		}
		frame := make([]byte, ethernet.HeaderLen+len(c.pkt))
		ethernet.Encode(frame, peerMAC, stackMAC, c.typ)
		copy(frame[ethernet.HeaderLen:], c.pkt)
		meta := nic.Meta{GSO: c.gso, GSOSize: 1000, Csum: nic.CsumPartial, CsumStart: ethernet.HeaderLen + c.ipLen, CsumOffset: 16}
		if _, err := dev.Write([]nic.Frame{{Data: frame, Meta: meta}}); err != nil {
			t.Fatal(err)
		}
		if f, ok := b.TryReadFrame(); !ok || !bytes.Equal(f.Data, frame) || f.Meta != meta {
			t.Fatalf("%s: the device carried %d bytes with %+v, want the super-frame whole", c.name, len(f.Data), f.Meta)
		}
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}
		got, want := pcapFrames(t, buf.Bytes()), e.st.SegmentTest(c.pkt, 1000)
		if len(got) != c.pieces || len(want) != c.pieces {
			t.Fatalf("%s: %d records, the stack cuts %d; want %d", c.name, len(got), len(want), c.pieces)
		}
		for i := range want {
			if !bytes.Equal(got[i][:ethernet.HeaderLen], frame[:ethernet.HeaderLen]) || !bytes.Equal(got[i][ethernet.HeaderLen:], want[i]) {
				t.Errorf("%s: record %d differs from the stack's cut:\n% x\nwant\n% x", c.name, i, got[i], want[i])
			}
		}
		if capture == nil {
			capture = buf.Bytes()
		} else {
			capture = append(capture, buf.Bytes()[24:]...) // the same global header
		}
	}
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed: skipping the check that it reads the file")
	}
	path := filepath.Join(t.TempDir(), "segmented.pcap")
	if err := os.WriteFile(path, capture, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tcpdump, "-r", path, "-nn", "-vv").Output()
	if err != nil {
		t.Fatalf("tcpdump -r: %v", err)
	}
	if n := strings.Count(string(out), "(correct)"); n != 8 || strings.Contains(string(out), "incorrect") {
		t.Fatalf("tcpdump -vv found %d correct TCP checksums in 8 packets:\n%s", n, out)
	}
}
