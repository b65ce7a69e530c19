package nic_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/nic"
)

type pcapRecord struct {
	ts       time.Time
	origLen  int
	captured []byte
}

// decodePcap is an independent reader of the classic format, written from
// pcap-savefile(5) rather than from PcapWriter.
func decodePcap(t *testing.T, b []byte) (snaplen int, recs []pcapRecord) {
	t.Helper()
	if len(b) < 24 {
		t.Fatalf("pcap of %d bytes has no global header", len(b))
	}
	le := binary.LittleEndian
	if m := le.Uint32(b); m != 0xa1b23c4d {
		t.Fatalf("magic %#x, want little-endian nanosecond 0xa1b23c4d", m)
	}
	if maj, min := le.Uint16(b[4:]), le.Uint16(b[6:]); maj != 2 || min != 4 {
		t.Fatalf("version %d.%d, want 2.4", maj, min)
	}
	if lt := le.Uint32(b[20:]); lt != 1 {
		t.Fatalf("link type %d, want 1 (Ethernet)", lt)
	}
	snaplen = int(le.Uint32(b[16:]))
	for b = b[24:]; len(b) > 0; {
		if len(b) < 16 {
			t.Fatalf("%d trailing bytes, not a record header", len(b))
		}
		incl, orig := int(le.Uint32(b[8:])), int(le.Uint32(b[12:]))
		if len(b) < 16+incl || incl > orig || incl > snaplen {
			t.Fatalf("bad record: incl %d orig %d snaplen %d, %d bytes left", incl, orig, snaplen, len(b)-16)
		}
		recs = append(recs, pcapRecord{
			ts:       time.Unix(int64(le.Uint32(b)), int64(le.Uint32(b[4:]))).UTC(),
			origLen:  orig,
			captured: b[16 : 16+incl],
		})
		b = b[16+incl:]
	}
	return snaplen, recs
}

// arpFrame is a well-formed ARP request, so tcpdump has something to print.
func arpFrame(src [6]byte, spa, tpa [4]byte) []byte {
	f := make([]byte, 0, 42)
	f = append(f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	f = append(f, src[:]...)
	f = append(f, 0x08, 0x06)                   // EtherType ARP
	f = append(f, 0, 1, 0x08, 0x00, 6, 4, 0, 1) // Ethernet, IPv4, hlen, plen, request
	f = append(f, src[:]...)
	f = append(f, spa[:]...)
	f = append(f, 0, 0, 0, 0, 0, 0)
	f = append(f, tpa[:]...)
	return f
}

func TestPcapWriter_RecordsRoundTrip_Truncated(t *testing.T) {
	var buf bytes.Buffer
	w, err := nic.NewPcapWriter(&buf, 50)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	short, long := bytes.Repeat([]byte{1}, 42), bytes.Repeat([]byte{2}, 1514)
	for _, f := range [][]byte{short, long} {
		if err := w.WritePacket(ts, f); err != nil {
			t.Fatal(err)
		}
	}
	snaplen, recs := decodePcap(t, buf.Bytes())
	if snaplen != 50 || len(recs) != 2 {
		t.Fatalf("snaplen %d, %d records; want 50, 2", snaplen, len(recs))
	}
	if !recs[0].ts.Equal(ts) || recs[0].origLen != 42 || !bytes.Equal(recs[0].captured, short) {
		t.Fatalf("record 0 = %v %d %x", recs[0].ts, recs[0].origLen, recs[0].captured)
	}
	if recs[1].origLen != 1514 || !bytes.Equal(recs[1].captured, long[:50]) {
		t.Fatalf("record 1: orig %d, %d bytes captured; want 1514, 50", recs[1].origLen, len(recs[1].captured))
	}
}

func TestPcapWriter_DefaultSnaplen(t *testing.T) {
	var buf bytes.Buffer
	if _, err := nic.NewPcapWriter(&buf, 0); err != nil {
		t.Fatal(err)
	}
	if snaplen, _ := decodePcap(t, buf.Bytes()); snaplen != 262144 {
		t.Fatalf("snaplen %d, want 262144", snaplen)
	}
}

func TestPcap_RecordsFramesReadAndWritten(t *testing.T) {
	clk := clock.NewManual(epoch)
	a, b := nic.NewPipe(nic.PipeConfig{})
	defer b.Close()
	var buf bytes.Buffer
	dev, err := nic.NewPcap(a, &buf, clk)
	if err != nil {
		t.Fatal(err)
	}
	mac := a.Info().MAC
	out1 := arpFrame(mac, [4]byte{10, 0, 0, 2}, [4]byte{10, 0, 0, 1})
	out2 := arpFrame(mac, [4]byte{10, 0, 0, 2}, [4]byte{10, 0, 0, 3})
	in := arpFrame(b.Info().MAC, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2})
	if _, err := dev.Write([]nic.Frame{{Data: out1}, {Data: out2}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(1500 * time.Microsecond)
	if _, err := b.Write([]nic.Frame{{Data: in}}); err != nil {
		t.Fatal(err)
	}
	fs := []nic.Frame{{Data: make([]byte, 0, dev.Info().MaxFrame)}}
	if n, err := dev.Read(fs); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	// A rejected frame is not recorded.
	if _, err := dev.Write([]nic.Frame{{Data: make([]byte, 2000)}}); !errors.Is(err, nic.ErrFrameTooBig) {
		t.Fatalf("Write of 2000 bytes = %v, want ErrFrameTooBig", err)
	}
	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	_, recs := decodePcap(t, buf.Bytes())
	want := []struct {
		at    time.Duration
		frame []byte
	}{{0, out1}, {0, out2}, {1500 * time.Microsecond, in}}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		r := recs[i]
		if !r.ts.Equal(epoch.Add(w.at)) || r.origLen != len(w.frame) || !bytes.Equal(r.captured, w.frame) {
			t.Errorf("record %d: at %v, %d bytes %x; want at %v, %x", i, r.ts.Sub(epoch), r.origLen, r.captured, w.at, w.frame)
		}
	}

	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed: skipping the check that it reads the file")
	}
	path := filepath.Join(t.TempDir(), "cap.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tcpdump, "-r", path, "-nn")
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tcpdump -r: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 ||
		!strings.Contains(lines[0], "ARP, Request who-has 10.0.0.1 tell 10.0.0.2") ||
		!strings.HasPrefix(lines[2], "00:00:00.001500 ") {
		t.Fatalf("tcpdump printed:\n%s", out)
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(b), nil
}

func TestPcap_RecordingFailure_KeepsDeviceWorkingAndReportsOnClose(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{})
	dev, err := nic.NewPcap(a, &failingWriter{n: 1}, nil) // the header fits, records do not
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := dev.Write([]nic.Frame{{Data: frame(0)}}); err != nil {
			t.Fatalf("Write failed because recording did: %v", err)
		}
	}
	if _, ok := b.TryRead(); !ok {
		t.Fatal("frame not delivered")
	}
	if err := dev.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close = %v, want the recording error", err)
	}
}

// A capture of an IP link (a TUN) is LINKTYPE_RAW (101): tcpdump then
// reads each record as a bare IP packet, not as Ethernet.
func TestPcap_IPLink_WritesRawLinkType(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{Link: nic.LinkIP})
	defer b.Close()
	var buf bytes.Buffer
	dev, err := nic.NewPcap(a, &buf, clock.NewManual(epoch))
	if err != nil {
		t.Fatal(err)
	}
	pkt := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1}
	if _, err := dev.Write([]nic.Frame{{Data: pkt}}); err != nil {
		t.Fatal(err)
	}
	h := buf.Bytes()
	if lt := binary.LittleEndian.Uint32(h[20:]); lt != 101 {
		t.Fatalf("link type %d, want 101 (LINKTYPE_RAW)", lt)
	}
	if rec := h[24+16:]; !bytes.Equal(rec, pkt) {
		t.Fatalf("record % x, want the packet % x", rec, pkt)
	}
}

// With PcapOptions.Segmented a frame with a partial checksum and no GSO is
// recorded with its checksum completed as the kernel completes it (the
// sum from CsumStart, the pseudo-header sum in the field included), and a
// super-frame the cut cannot read (here UDP) as it crossed; without the
// option, frames are recorded as they crossed, partial checksum and all.
func TestPcapSegmented_CompletesPartialChecksums(t *testing.T) {
	// An IPv4 UDP frame whose checksum field holds the pseudo-header sum
	// (10.0.0.2 -> 10.0.0.1, length 12): the sum of the addresses, 17 and
	// 12, folded.
	frame := make([]byte, 14+20+12)
	frame[12], frame[13] = 0x08, 0x00
	ip := frame[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 32)
	copy(ip[12:], []byte{10, 0, 0, 2, 10, 0, 0, 1})
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:], 5353)
	binary.BigEndian.PutUint16(u[2:], 53)
	binary.BigEndian.PutUint16(u[4:], 12)
	copy(u[8:], "abcd")
	ph := uint32(0x0a00+0x0002+0x0a00+0x0001) + 17 + 12
	binary.BigEndian.PutUint16(u[6:], uint16(ph))
	partial := nic.Meta{Csum: nic.CsumPartial, CsumStart: 34, CsumOffset: 6}
	// The complete checksum, computed independently: the one's-complement
	// sum of the pseudo-header and the datagram with a zero field.
	var sum uint32 = 0x0a00 + 0x0002 + 0x0a00 + 0x0001 + 17 + 12
	for i := 0; i < 12; i += 2 {
		if i != 6 {
			sum += uint32(binary.BigEndian.Uint16(u[i:]))
		}
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	want := ^uint16(sum)
	gsoUDP := nic.Meta{GSO: nic.GSOTCPv4, GSOSize: 4, Csum: nic.CsumPartial, CsumStart: 34, CsumOffset: 6}

	for _, segmented := range []bool{false, true} {
		a, b := nic.NewPipe(nic.PipeConfig{Offloads: nic.TxCsum | nic.TxTSO4 | nic.RxCsumPartial | nic.RxGSO4})
		var buf bytes.Buffer
		dev, err := nic.NewPcapWith(a, &buf, nic.PcapOptions{Clock: clock.NewManual(epoch), Segmented: segmented})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dev.Write([]nic.Frame{{Data: frame, Meta: partial}, {Data: frame, Meta: gsoUDP}}); err != nil {
			t.Fatal(err)
		}
		dev.Close()
		b.Close()
		_, recs := decodePcap(t, buf.Bytes())
		if len(recs) != 2 || !bytes.Equal(recs[1].captured, frame) {
			t.Fatalf("segmented %v: %d records; want 2, the UDP super-frame as it crossed", segmented, len(recs))
		}
		got := binary.BigEndian.Uint16(recs[0].captured[34+6:])
		if segmented && got != want || !segmented && !bytes.Equal(recs[0].captured, frame) {
			t.Errorf("segmented %v: checksum %#04x recorded, want %#04x (completed) only when segmented", segmented, got, want)
		}
		if !bytes.Equal(frame[34+6:34+8], []byte{byte(ph >> 8), byte(ph)}) {
			t.Fatal("recording changed the caller's frame")
		}
	}
}
