package nic_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/nic"
)

// A pipe with Offloads is a pair of virtio-net devices: both ends report
// them, a frame's Meta crosses with it (Read and TryReadFrame), through
// the Delay and the Reorder hold as well, and a super-frame of up to
// 14 + 65535 bytes is one frame.
func TestPipe_Offloads_CarryMetaAndSuperFrames(t *testing.T) {
	clk := clock.NewManual(epoch)
	const o = nic.TxCsum | nic.TxTSO4 | nic.RxCsumPartial | nic.RxGSO4
	a, b := nic.NewPipe(nic.PipeConfig{Offloads: o, Clock: clk, AtoB: nic.Impairment{Delay: time.Millisecond}})
	defer a.Close()
	if ia, ib := a.Info(), b.Info(); ia.Offloads != o || ib.Offloads != o || ia.MaxFrame != 14+65535 {
		t.Fatalf("Info %+v and %+v, want Offloads %v and MaxFrame %d", ia, ib, o, 14+65535)
	}
	meta := nic.Meta{GSO: nic.GSOTCPv4, GSOSize: 1448, Csum: nic.CsumPartial, CsumStart: 34, CsumOffset: 16}
	big := bytes.Repeat([]byte{7}, 14+65535)
	if n, err := a.Write([]nic.Frame{{Data: big, Meta: meta}, {Data: frame(1)}}); n != 2 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if _, ok := b.TryReadFrame(); ok {
		t.Fatal("a frame arrived before the delay")
	}
	clk.Advance(time.Millisecond)
	fs := []nic.Frame{{Data: make([]byte, 0, 14+65535)}, {Data: make([]byte, 0, 14+65535)}}
	n, err := b.Read(fs)
	if err != nil || n != 2 {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if !bytes.Equal(fs[0].Data, big) || fs[0].Meta != meta || fs[1].Meta != (nic.Meta{}) {
		t.Fatalf("read %d bytes with %+v, then %+v; want the super-frame with its Meta, then a zero Meta", len(fs[0].Data), fs[0].Meta, fs[1].Meta)
	}
	if _, err := b.Write([]nic.Frame{{Data: frame(2), Meta: nic.Meta{Csum: nic.CsumVerified}}}); err != nil {
		t.Fatal(err)
	}
	if f, ok := a.TryReadFrame(); !ok || f.Meta.Csum != nic.CsumVerified {
		t.Fatalf("TryReadFrame = %+v, %v; want the frame with its Meta", f.Meta, ok)
	}
}

// With TCPv6 offloads a super-frame may hold IPv6's largest packet, 40
// bytes of header more than IPv4's (RFC 8200 §3: Payload Length does not
// count the fixed header): 14 + 40 + 65535 bytes cross as one frame, one
// more byte is too big.
func TestPipe_OffloadsTCPv6_MaxFrameIsIPv6s(t *testing.T) {
	const o = nic.TxCsum | nic.TxTSO4 | nic.TxTSO6 | nic.RxCsumPartial | nic.RxGSO4 | nic.RxGSO6
	a, b := nic.NewPipe(nic.PipeConfig{Offloads: o})
	defer a.Close()
	const max = 14 + 40 + 65535
	if mf := a.Info().MaxFrame; mf != max {
		t.Fatalf("MaxFrame %d, want %d", mf, max)
	}
	meta := nic.Meta{GSO: nic.GSOTCPv6, GSOSize: 1428, Csum: nic.CsumPartial, CsumStart: 54, CsumOffset: 16}
	if _, err := a.Write([]nic.Frame{{Data: make([]byte, max), Meta: meta}}); err != nil {
		t.Fatalf("Write of %d bytes: %v", max, err)
	}
	if f, ok := b.TryReadFrame(); !ok || len(f.Data) != max || f.Meta != meta {
		t.Fatalf("TryReadFrame = %d bytes %+v, %v; want the super-frame with its Meta", len(f.Data), f.Meta, ok)
	}
	if _, err := a.Write([]nic.Frame{{Data: make([]byte, max+1), Meta: meta}}); !errors.Is(err, nic.ErrFrameTooBig) {
		t.Fatalf("Write of %d bytes: %v, want ErrFrameTooBig", max+1, err)
	}
}
