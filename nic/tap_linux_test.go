package nic_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/nic"
	"github.com/vishvananda/netlink"
)

var _ nic.Device = (*nic.TAP)(nil)

// openTAP opens a TAP inside ns and closes it when the test ends.
func openTAP(t *testing.T, ns *nstest.NS, cfg nic.TAPConfig) *nic.TAP {
	t.Helper()
	return openIn(t, ns, func() (*nic.TAP, error) { return nic.OpenTAP(cfg) })
}

// openIn opens a device inside ns with open and closes it when the test
// ends.
func openIn[D nic.Device](t *testing.T, ns *nstest.NS, open func() (D, error)) D {
	t.Helper()
	var dev D
	err := ns.Do(func() error {
		var err error
		dev, err = open()
		return err
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}

func TestTAP_Open_LinkUpWithMTUAndHostAddr(t *testing.T) {
	ns := nstest.New(t)
	mac := [6]byte{0x02, 0, 0, 0, 0, 0x02}
	tap := openTAP(t, ns, nic.TAPConfig{Name: "tap-t", MTU: 1400, MAC: mac, HostAddr: netip.MustParsePrefix("10.9.0.1/24")})
	info := tap.Info()
	if info.Name != "tap-t" || info.MAC != mac || info.MTU != 1400 || info.MaxFrame != 1414 || info.Batch != 64 || info.Offloads != 0 {
		t.Fatalf("Info() = %+v", info)
	}
	err := ns.Do(func() error {
		link, err := netlink.LinkByName("tap-t")
		if err != nil {
			return err
		}
		a := link.Attrs()
		if a.MTU != 1400 || a.Flags&net.FlagUp == 0 {
			t.Errorf("link MTU %d flags %v, want 1400 and up", a.MTU, a.Flags)
		}
		if hm := tap.HostMAC(); !bytes.Equal(a.HardwareAddr, hm[:]) {
			t.Errorf("HostMAC %x, link has %v", tap.HostMAC(), a.HardwareAddr)
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0].IPNet.String() != "10.9.0.1/24" {
			t.Errorf("addresses %v, want [10.9.0.1/24]", addrs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readResult is one Read by a reader goroutine.
type readResult struct {
	frame []byte
	meta  nic.Meta
	err   error
}

// reader reads tap (a TAP or a TUN) in a goroutine until it fails, sending
// each frame with its Meta.
func reader(tap nic.Device) <-chan readResult {
	ch := make(chan readResult)
	go func() {
		defer close(ch)
		fs := []nic.Frame{{}}
		for {
			fs[0].Data = make([]byte, 0, tap.Info().MaxFrame)
			_, err := tap.Read(fs)
			ch <- readResult{fs[0].Data, fs[0].Meta, err}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

func TestTAP_ARPRequest_KernelReplies(t *testing.T) {
	ns := nstest.New(t)
	mac := [6]byte{0x02, 0, 0, 0, 0, 0x02}
	tap := openTAP(t, ns, nic.TAPConfig{Name: "tap-arp", MAC: mac, HostAddr: netip.MustParsePrefix("10.9.0.1/24")})
	frames := reader(tap)
	defer func() {
		tap.Close()
		for range frames { // let the reader finish
		}
	}()

	req := arpFrame(mac, [4]byte{10, 9, 0, 2}, [4]byte{10, 9, 0, 1})
	if n, err := tap.Write([]nic.Frame{{Data: req}}); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	hostMAC := tap.HostMAC()
	f, err := awaitFrame(frames, func(f []byte) bool {
		return len(f) >= 42 && bytes.Equal(f[0:6], mac[:]) && f[12] == 0x08 && f[13] == 0x06
	})
	if err != nil {
		t.Fatalf("no ARP to us: %v", err)
	}
	if op := f[20:22]; op[0] != 0 || op[1] != 2 {
		t.Fatalf("ARP to us is not a reply: %x", f)
	}
	if !bytes.Equal(f[6:12], hostMAC[:]) || !bytes.Equal(f[22:28], hostMAC[:]) ||
		!bytes.Equal(f[28:32], []byte{10, 9, 0, 1}) || !bytes.Equal(f[32:38], mac[:]) ||
		!bytes.Equal(f[38:42], []byte{10, 9, 0, 2}) {
		t.Fatalf("unexpected ARP reply %x", f)
	}
	s := tap.Stats()
	if s.FramesWritten != 1 || s.BytesWritten != 42 || s.FramesRead == 0 || s.WriteErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// awaitFrame reads frames until one matches and returns it, skipping what
// else the kernel sends (IPv6 router solicitations and the like). It gives
// up after 50 frames or 10 s (hang guards, not waits).
func awaitFrame(frames <-chan readResult, match func([]byte) bool) ([]byte, error) {
	guard := time.After(10 * time.Second)
	for i := 0; i < 50; i++ {
		select {
		case r := <-frames:
			if r.err != nil {
				return nil, fmt.Errorf("Read: %w", r.err)
			}
			if match(r.frame) {
				return r.frame, nil
			}
		case <-guard:
			return nil, fmt.Errorf("none in 10s (%d frames)", i)
		}
	}
	return nil, errors.New("none in 50 frames")
}

func TestTAP_Close_UnblocksPendingRead(t *testing.T) {
	ns := nstest.New(t)
	// No address, so the kernel has little to send and Read blocks; what
	// it does send once the link is up (IPv6 router solicitations, MLD
	// reports) is read and dropped until Close ends the loop.
	tap := openTAP(t, ns, nic.TAPConfig{Name: "tap-close"})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		for range 1000 { // the kernel sends a handful at most
			if _, err := tap.Read([]nic.Frame{{Data: make([]byte, 0, tap.Info().MaxFrame)}}); err != nil {
				done <- err
				return
			}
		}
		done <- errors.New("1000 reads without an error")
	}()
	<-started
	if err := tap.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, nic.ErrClosed) {
		t.Fatalf("Read after Close = %v, want ErrClosed", err)
	}
	if _, err := tap.Write([]nic.Frame{{Data: make([]byte, 60)}}); !errors.Is(err, nic.ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
	// The TAP it created is gone with it.
	err := ns.Do(func() error {
		_, err := netlink.LinkByName("tap-close")
		return err
	})
	var notFound netlink.LinkNotFoundError
	if !errors.As(err, &notFound) {
		t.Fatalf("after Close, looking up the TAP gave %v, want LinkNotFoundError", err)
	}
}

// A frame longer than MaxFrame is refused: 14 + MTU on a TAP, the MTU on a
// TUN.
func TestTAP_Write_RejectsFrameTooBig(t *testing.T) {
	ns := nstest.New(t)
	for _, tc := range []struct {
		dev nic.Device
		len int
	}{
		{openTAP(t, ns, nic.TAPConfig{Name: "tap-big"}), 1515},
		{openTUN(t, ns, nic.TUNConfig{Name: "tun-big"}), 1501},
	} {
		n, err := tc.dev.Write([]nic.Frame{{Data: make([]byte, tc.len)}})
		if n != 0 || !errors.Is(err, nic.ErrFrameTooBig) {
			t.Errorf("%s: Write of %d bytes = %d, %v; want 0, ErrFrameTooBig", tc.dev.Info().Name, tc.len, n, err)
		}
	}
}

func TestOpenTAP_NameTooLong_ClearError(t *testing.T) {
	ns := nstest.New(t) // in case validation were missing: stay out of the host
	err := ns.Do(func() error {
		tap, err := nic.OpenTAP(nic.TAPConfig{Name: "tap-name-too-long"})
		if err == nil {
			tap.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "at most 15") {
		t.Fatalf("OpenTAP with a 17-byte name = %v, want an error saying at most 15", err)
	}
}

func TestOpenTAP_ExistingNonTAP_ClearError(t *testing.T) {
	ns := nstest.New(t)
	err := ns.Do(func() error {
		tap, err := nic.OpenTAP(nic.TAPConfig{Name: "lo"})
		if err == nil {
			tap.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "not a TAP") {
		t.Fatalf("OpenTAP(lo) = %v, want an error saying it is not a TAP", err)
	}
}

func TestCheckTUN_AsRoot(t *testing.T) {
	nstest.New(t) // skips (or fails in CI) where TAPs are impossible
	if err := nic.CheckTUN(); err != nil {
		t.Fatalf("CheckTUN as root: %v", err)
	}
}

func TestTAP_FrameLongerThanMaxFrame_TruncatedAndCountedAsReadFull(t *testing.T) {
	ns := nstest.New(t)
	mac := [6]byte{0x02, 0, 0, 0, 0, 0x02}
	tap := openTAP(t, ns, nic.TAPConfig{Name: "tap-trunc", MTU: 1400, MAC: mac, HostAddr: netip.MustParsePrefix("10.9.0.1/24")})
	frames := reader(tap)
	defer func() {
		tap.Close()
		for range frames {
		}
	}()
	// Behind the TAP's back: raise the kernel side's MTU and send a 1900-byte
	// UDP datagram to the stack's address (static neighbor, so no ARP).
	err := ns.Do(func() error {
		link, err := netlink.LinkByName("tap-trunc")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(link, 2000); err != nil {
			return err
		}
		if err := netlink.NeighAdd(&netlink.Neigh{
			LinkIndex: link.Attrs().Index, State: netlink.NUD_PERMANENT,
			IP: net.IPv4(10, 9, 0, 2), HardwareAddr: mac[:],
		}); err != nil {
			return err
		}
		c, err := net.Dial("udp4", "10.9.0.2:9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(make([]byte, 1900))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 50; i++ {
		select {
		case r := <-frames:
			if r.err != nil {
				t.Fatalf("Read: %v", r.err)
			}
			if len(r.frame) > 1414 {
				t.Fatalf("Read returned %d bytes, more than MaxFrame", len(r.frame))
			}
			if len(r.frame) == 1414 {
				if s := tap.Stats(); s.ReadFull != 1 {
					t.Fatalf("truncated frame read, ReadFull = %d, want 1", s.ReadFull)
				}
				return
			}
		case <-ctx.Done():
			t.Fatalf("no full-buffer frame after %d frames: %v", i, ctx.Err())
		}
	}
	t.Fatal("no full-buffer frame in 50 frames")
}
