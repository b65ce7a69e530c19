package nic

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
	"golang.org/x/sys/unix"
)

func TestDecideOffload(t *testing.T) {
	refused := unix.EINVAL
	for _, c := range []struct {
		mode    OffloadMode
		vnetOK  bool
		setErr  error
		vnet    bool
		o       Offloads
		refuses bool
	}{
		{OffloadOff, true, nil, false, 0, false},
		{OffloadAuto, true, nil, true, TxCsum | TxTSO4 | RxCsumPartial | RxGSO4, false},
		{OffloadAuto, true, refused, true, TxCsum | TxTSO4, false},
		{OffloadAuto, false, nil, false, 0, false},
		{OffloadOn, true, nil, true, TxCsum | TxTSO4 | RxCsumPartial | RxGSO4, false},
		{OffloadOn, true, refused, false, 0, true},
		{OffloadOn, false, nil, false, 0, true},
	} {
		vnet, o, err := decideOffload(c.mode, c.vnetOK, c.setErr)
		if vnet != c.vnet || o != c.o || (err != nil) != c.refuses || (err != nil && !errors.Is(err, ErrOffloadRefused)) {
			t.Errorf("decideOffload(%v, %v, %v) = %v, %b, %v; want %v, %b, refused %v", c.mode, c.vnetOK, c.setErr, vnet, o, err, c.vnet, c.o, c.refuses)
		}
	}
}

func TestParseOffloadMode(t *testing.T) {
	for s, want := range map[string]OffloadMode{"auto": OffloadAuto, "on": OffloadOn, "off": OffloadOff} {
		if m, err := ParseOffloadMode(s); m != want || err != nil || m.String() != s {
			t.Errorf("ParseOffloadMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseOffloadMode("yes"); err == nil || !strings.Contains(err.Error(), "auto, on or off") {
		t.Errorf("ParseOffloadMode(yes) = %v, want an error naming the choices", err)
	}
}

// With the kernel refusing TUNSETOFFLOAD (forced through the hook), auto
// opens a TAP that reads plain frames, and on fails with one clear line.
func TestOpenTAP_OffloadRefused_AutoFallsBackOnFails(t *testing.T) {
	ns := nstest.New(t)
	saved := tunSetOffload
	t.Cleanup(func() { tunSetOffload = saved })
	asked := 0
	tunSetOffload = func(fd, bits int) error {
		asked++
		if bits != unix.TUN_F_CSUM|unix.TUN_F_TSO4 {
			t.Errorf("TUNSETOFFLOAD bits %#x", bits)
		}
		return unix.EINVAL
	}
	var tap *TAP
	err := ns.Do(func() (err error) {
		tap, err = OpenTAP(TAPConfig{Name: "tap-ref", HostAddr: netip.MustParsePrefix("10.9.0.1/24"), Offload: OffloadAuto})
		return err
	})
	if err != nil {
		t.Fatalf("auto with offloads refused: %v", err)
	}
	info := tap.Info()
	tap.Close()
	if asked != 1 || info.Offloads != TxCsum|TxTSO4 || info.MaxFrame != 1514 || !tap.vnet {
		t.Fatalf("auto, refused: asked %d, Info %+v, vnet %v; want the header with transmit offloads only, MaxFrame 1514", asked, info, tap.vnet)
	}
	err = ns.Do(func() (err error) {
		tap, err = OpenTAP(TAPConfig{Name: "tap-ref", Offload: OffloadOn})
		if err == nil {
			tap.Close()
		}
		return err
	})
	if !errors.Is(err, ErrOffloadRefused) || !errors.Is(err, unix.EINVAL) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("on, refused: %v; want one line wrapping ErrOffloadRefused and EINVAL", err)
	}
}
