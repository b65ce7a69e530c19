package nic

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/nstest"
	"golang.org/x/sys/unix"
)

// decideOffload asks for TSO6 with the rest first and, refused, for the
// set without it, before settling for transmit offloads (auto) or failing
// (on); transmit offloads of both families come with the header alone.
func TestDecideOffload(t *testing.T) {
	refused := unix.EINVAL
	const tx = TxCsum | TxTSO4 | TxTSO6
	full := []int{tapRxOffloads}
	both := []int{tapRxOffloads, tapRxOffloads4}
	for _, c := range []struct {
		mode    OffloadMode
		vnetOK  bool
		refuse  int // TUNSETOFFLOAD refuses bit sets with any of these bits
		asked   []int
		vnet    bool
		o       Offloads
		refuses bool
	}{
		{OffloadOff, true, 0, nil, false, 0, false},
		{OffloadAuto, true, 0, full, true, tx | RxCsumPartial | RxGSO4 | RxGSO6, false},
		{OffloadAuto, true, unix.TUN_F_TSO6, both, true, tx | RxCsumPartial | RxGSO4, false},
		{OffloadAuto, true, unix.TUN_F_CSUM, both, true, tx, false},
		{OffloadAuto, false, 0, nil, false, 0, false},
		{OffloadOn, true, 0, full, true, tx | RxCsumPartial | RxGSO4 | RxGSO6, false},
		{OffloadOn, true, unix.TUN_F_TSO6, both, true, tx | RxCsumPartial | RxGSO4, false},
		{OffloadOn, true, unix.TUN_F_CSUM, both, false, 0, true},
		{OffloadOn, false, 0, nil, false, 0, true},
	} {
		var asked []int
		set := func(bits int) error {
			asked = append(asked, bits)
			if bits&c.refuse != 0 {
				return refused
			}
			return nil
		}
		vnet, o, err := decideOffload(c.mode, c.vnetOK, set)
		if vnet != c.vnet || o != c.o || (err != nil) != c.refuses || (err != nil && !errors.Is(err, ErrOffloadRefused)) || !slices.Equal(asked, c.asked) {
			t.Errorf("decideOffload(%v, %v, refusing %#x) = %v, %b, %v, asking %#x; want %v, %b, refused %v, asking %#x",
				c.mode, c.vnetOK, c.refuse, vnet, o, err, asked, c.vnet, c.o, c.refuses, c.asked)
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
		if want := []int{tapRxOffloads, tapRxOffloads4}[(asked-1)%2]; bits != want {
			t.Errorf("TUNSETOFFLOAD bits %#x, want %#x", bits, want)
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
	if asked != 2 || info.Offloads != TxCsum|TxTSO4|TxTSO6 || info.MaxFrame != 1514 || !tap.vnet {
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
