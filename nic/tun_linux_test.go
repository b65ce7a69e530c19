package nic_test

import (
	"bytes"
	"context"
	"encoding/binary"
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

var _ nic.Device = (*nic.TUN)(nil)

// helperTUNEnv names the TUN that the test binary, run as nobody, opens
// with openTUNHelper.
const helperTUNEnv = "NIC_TEST_HELPER_TUN"

// openTUN opens a TUN inside ns and closes it when the test ends.
func openTUN(t *testing.T, ns *nstest.NS, cfg nic.TUNConfig) *nic.TUN {
	t.Helper()
	var tun *nic.TUN
	err := ns.Do(func() error {
		var err error
		tun, err = nic.OpenTUN(cfg)
		return err
	})
	if err != nil {
		t.Fatalf("OpenTUN: %v", err)
	}
	t.Cleanup(func() { tun.Close() })
	return tun
}

// echoPacket is an IPv4 ICMP echo request from src to dst: a bare IP
// packet, as a TUN carries it (RFC 791 header, RFC 792 echo).
func echoPacket(src, dst [4]byte, id, seq uint16) []byte {
	b := make([]byte, 20+8+4)
	b[0], b[8], b[9] = 0x45, 64, 1 // version 4, IHL 5; TTL; ICMP
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	binary.BigEndian.PutUint16(b[10:], inetChecksum(b[:20]))
	m := b[20:]
	m[0] = 8 // echo
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], "tun!")
	binary.BigEndian.PutUint16(m[2:], inetChecksum(m))
	return b
}

// inetChecksum is RFC 1071's one's complement sum.
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// isEchoReply reports whether p is a bare IPv4 packet (no link header: the
// version nibble first) carrying an ICMP echo reply from src to dst.
func isEchoReply(p []byte, src, dst [4]byte, id uint16) bool {
	return len(p) >= 28 && p[0] == 0x45 && p[9] == 1 && bytes.Equal(p[12:16], src[:]) &&
		bytes.Equal(p[16:20], dst[:]) && p[20] == 0 && binary.BigEndian.Uint16(p[24:]) == id
}

func TestTUN_Open_IPLinkWithMTUAndHostAddr(t *testing.T) {
	ns := nstest.New(t)
	tun := openTUN(t, ns, nic.TUNConfig{Name: "tun-t", MTU: 1400, HostAddr: netip.MustParsePrefix("10.9.0.1/24")})
	info := tun.Info()
	if info.Name != "tun-t" || info.Link != nic.LinkIP || info.MAC != ([6]byte{}) || info.MTU != 1400 ||
		info.MaxFrame != 1400 || info.Batch != 64 || info.Offloads != 0 {
		t.Fatalf("Info() = %+v, want an IP link: no MAC, MaxFrame = MTU = 1400", info)
	}
	if !tun.HostConfigured() || !tun.LinkUp() {
		t.Fatalf("HostConfigured %v LinkUp %v as root, want both", tun.HostConfigured(), tun.LinkUp())
	}
	err := ns.Do(func() error {
		link, err := netlink.LinkByName("tun-t")
		if err != nil {
			return err
		}
		tt, ok := link.(*netlink.Tuntap)
		if !ok || tt.Mode != netlink.TUNTAP_MODE_TUN {
			t.Errorf("link %s is %T, want a tuntap in TUN mode", link.Attrs().Name, link)
		}
		a := link.Attrs()
		if a.MTU != 1400 || a.Flags&net.FlagUp == 0 {
			t.Errorf("link MTU %d flags %v, want 1400 and up", a.MTU, a.Flags)
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

// Each Write is one IP packet and each Read one IP packet, no Ethernet
// header and no packet-information prefix: the kernel answers an echo
// request written as a bare IPv4 packet with a bare IPv4 echo reply.
func TestTUN_EchoRequest_KernelRepliesWithBareIPPacket(t *testing.T) {
	ns := nstest.New(t)
	tun := openTUN(t, ns, nic.TUNConfig{Name: "tun-echo", HostAddr: netip.MustParsePrefix("10.9.0.1/24")})
	frames := reader(tun)
	defer func() {
		tun.Close()
		for range frames {
		}
	}()
	stackIP, hostIP := [4]byte{10, 9, 0, 2}, [4]byte{10, 9, 0, 1}
	req := echoPacket(stackIP, hostIP, 0x7475, 1)
	if n, err := tun.Write([]nic.Frame{{Data: req}}); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a hang guard
	defer cancel()
	for i := 0; i < 50; i++ {
		var r readResult
		select {
		case r = <-frames:
		case <-ctx.Done():
			t.Fatalf("no echo reply after %d packets: %v", i, ctx.Err())
		}
		if r.err != nil {
			t.Fatalf("Read: %v", r.err)
		}
		if !isEchoReply(r.frame, hostIP, stackIP, 0x7475) {
			continue // IPv6 router solicitations and the like
		}
		if len(r.frame) != len(req) {
			t.Fatalf("echo reply of %d bytes, want %d (the request's size: nothing in front)", len(r.frame), len(req))
		}
		s := tun.Stats()
		if s.FramesWritten != 1 || s.BytesWritten != uint64(len(req)) || s.FramesRead == 0 || s.WriteErrors != 0 {
			t.Fatalf("stats %+v", s)
		}
		return
	}
	t.Fatal("no echo reply in 50 packets")
}

func TestTUN_Write_RejectsPacketLongerThanMTU(t *testing.T) {
	ns := nstest.New(t)
	tun := openTUN(t, ns, nic.TUNConfig{Name: "tun-big"})
	n, err := tun.Write([]nic.Frame{{Data: make([]byte, 1501)}})
	if n != 0 || !errors.Is(err, nic.ErrFrameTooBig) {
		t.Fatalf("Write of 1501 bytes = %d, %v; want 0, ErrFrameTooBig (MaxFrame is the MTU)", n, err)
	}
}

func TestOpenTUN_ExistingTAP_ClearError(t *testing.T) {
	ns := nstest.New(t)
	ip(t, ns, "tuntap", "add", "mode", "tap", "name", "tap-x")
	err := ns.Do(func() error {
		tun, err := nic.OpenTUN(nic.TUNConfig{Name: "tap-x"})
		if err == nil {
			tun.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `TUN "tap-x" is a TAP device, not a TUN`) {
		t.Fatalf("OpenTUN(a TAP) = %v, want an error saying it is a TAP device", err)
	}
}

func TestOpenTUN_MTUOutOfRange_ClearError(t *testing.T) {
	for _, mtu := range []int{67, nic.MaxTUNMTU + 1} {
		_, err := nic.OpenTUN(nic.TUNConfig{Name: "tun-mtu", MTU: mtu}) // refused before anything is opened
		if want := fmt.Sprintf("TUN MTU %d out of range [68, 65535]", mtu); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OpenTUN with MTU %d = %v, want %q", mtu, err, want)
		}
	}
}

// openTUNHelper opens the TUN and prints one line: "error KIND: MESSAGE"
// as openTAPHelper does, or "opened mtu=N configured=B up=B", followed when
// the link is up by "echo-reply" or "no-echo-reply" for an echo request to
// hostIP.
func openTUNHelper(name string) {
	tun, err := nic.OpenTUN(nic.TUNConfig{Name: name, MTU: helperAskMTU, HostAddr: helperAskHostAddr})
	if err != nil {
		kind := "other"
		for k, sentinel := range map[string]error{"notun": nic.ErrNoTUN, "denied": nic.ErrTUNDenied,
			"notpermitted": nic.ErrNotPermitted, "notowner": nic.ErrNotOwner} {
			if errors.Is(err, sentinel) {
				kind = k
			}
		}
		fmt.Printf("error %s: %v\n", kind, err)
		return
	}
	defer tun.Close()
	fmt.Printf("opened mtu=%d configured=%v up=%v\n", tun.Info().MTU, tun.HostConfigured(), tun.LinkUp())
	if !tun.LinkUp() {
		return
	}
	frames := reader(tun)
	if _, err := tun.Write([]nic.Frame{{Data: echoPacket(helperStackIP, hostIP, 0x7475, 1)}}); err != nil {
		fmt.Println("write:", err)
		return
	}
	guard := time.After(10 * time.Second) // a hang guard, not a wait
	for {
		select {
		case r := <-frames:
			if r.err != nil {
				fmt.Println("read:", r.err)
				return
			}
			if isEchoReply(r.frame, hostIP, helperStackIP, 0x7475) {
				fmt.Println("echo-reply")
				return
			}
		case <-guard:
			fmt.Println("no-echo-reply")
			return
		}
	}
}

// A TUN made for the user opens without any capability, as a TAP does
// (tun_not_capable: the owner may attach), and is left as its owner set it.
func TestOpenTUN_Unprivileged_OwnedTUN_OpensAndCarriesPackets(t *testing.T) {
	ns := nstest.New(t)
	ip(t, ns, "tuntap", "add", "mode", "tun", "user", fmt.Sprint(nobody), "name", "tun-own")
	ip(t, ns, "link", "set", "tun-own", "mtu", "1400")
	ip(t, ns, "addr", "add", "10.9.0.1/24", "dev", "tun-own")
	ip(t, ns, "link", "set", "tun-own", "up")

	out := runHelperAsNobody(t, ns, helperTUNEnv, "tun-own", 0o666)
	if want := "opened mtu=1400 configured=false up=true\necho-reply"; out != want {
		t.Fatalf("as nobody: %q, want %q (the link's MTU, unconfigured, and the kernel answering a ping through it)", out, want)
	}
	err := ns.Do(func() error {
		link, err := netlink.LinkByName("tun-own")
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		if link.Attrs().MTU != 1400 || len(addrs) != 1 || addrs[0].IPNet.String() != "10.9.0.1/24" {
			t.Errorf("after the unprivileged open: MTU %d, addresses %v; want 1400 and [10.9.0.1/24]", link.Attrs().MTU, addrs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenTUN_Unprivileged_ErrorsNameTheCause(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  []string // ip tuntap add arguments before "name", nil: no TUN
		kind string
		want []string
	}{
		{"no TUN and no CAP_NET_ADMIN", nil, "notpermitted",
			[]string{`creating TUN "tun-x" needs root or CAP_NET_ADMIN`, "ip tuntap add mode tun user nobody name tun-x"}},
		{"TUN of another user", []string{"user", "0"}, "notowner",
			[]string{`TUN "tun-x" belongs to another user (owner uid 0)`,
				"ip tuntap del mode tun name tun-x; ip tuntap add mode tun user nobody name tun-x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := nstest.New(t)
			if tc.add != nil {
				ip(t, ns, append(append([]string{"tuntap", "add", "mode", "tun"}, tc.add...), "name", "tun-x")...)
			}
			out := runHelperAsNobody(t, ns, helperTUNEnv, "tun-x", 0o666)
			if !strings.HasPrefix(out, "error "+tc.kind+": ") || strings.Contains(out, "\n") {
				t.Fatalf("as nobody: %q, want one line wrapping the %s error", out, tc.kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("error %q lacks %q", out, w)
				}
			}
		})
	}
}
