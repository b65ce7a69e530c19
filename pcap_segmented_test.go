package tapstack_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
)

// Config.PcapSegmented: over a Memory link whose Pipe carries TSO
// super-frames, a 256 KiB transfer leaves a capture of wire-sized frames
// only (none above 14 + the MTU), which carries every byte sent; without
// Pcap it is refused as a bad configuration.
func TestNew_PcapSegmented_WireSizedFrames(t *testing.T) {
	pc, pd := nic.NewPipe(nic.PipeConfig{})
	defer pd.Close()
	if n, err := tapstack.New(tapstack.Config{Link: tapstack.Memory, Device: pc, Addr: netip.MustParsePrefix("10.0.0.1/24"), Logger: quiet,
		PcapSegmented: true}); !errors.Is(err, stack.ErrBadConfig) || !strings.Contains(err.Error(), "set Pcap") {
		if n != nil {
			n.Close()
		}
		t.Fatalf("PcapSegmented without Pcap: %v, want ErrBadConfig saying to set Pcap", err)
	}
	pc.Close()
	pa, pb := nic.NewPipe(nic.PipeConfig{Offloads: nic.TxCsum | nic.TxTSO4 | nic.RxCsumPartial | nic.RxGSO4})
	var capture bytes.Buffer
	a, err := tapstack.New(tapstack.Config{Link: tapstack.Memory, Device: pa, Addr: netip.MustParsePrefix("10.0.0.1/24"), Logger: quiet,
		Pcap: &capture, PcapSegmented: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tapstack.New(tapstack.Config{Link: tapstack.Memory, Device: pb, Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l, err := b.Listen("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute)) // a hang guard
		k, _ := io.Copy(io.Discard, c)
		got <- k
	}()
	const n = 256 << 10
	c, err := a.Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if k := <-got; k != n {
		t.Fatalf("the server read %d bytes, want %d", k, n)
	}
	tso := a.Stack().Stats().Offload.TSOOut
	a.Close()
	if tso == 0 {
		t.Fatal("no TSO segment crossed the link: nothing to segment")
	}
	sent, frames := 0, 0
	for rec := capture.Bytes()[24:]; len(rec) >= 16; frames++ {
		k := int(binary.LittleEndian.Uint32(rec[8:]))
		f := rec[16 : 16+k]
		rec = rec[16+k:]
		if len(f) > 14+1500 {
			t.Fatalf("a frame of %d bytes in a segmented capture", len(f))
		}
		if len(f) >= 54 && f[23] == 6 && binary.BigEndian.Uint16(f[36:]) == 80 { // IPv4 TCP to port 80, IHL 5
			sent += int(binary.BigEndian.Uint16(f[16:])) - 20 - int(f[46]>>4)*4
		}
	}
	if sent < n {
		t.Errorf("the capture's %d frames carry %d bytes to port 80, want at least %d", frames, sent, n)
	}
}
