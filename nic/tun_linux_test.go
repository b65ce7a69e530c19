package nic_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/checksum"
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
	return openIn(t, ns, func() (*nic.TUN, error) { return nic.OpenTUN(cfg) })
}

// echoPacket is an IPv4 ICMP echo request from src to dst: a bare IP
// packet, as a TUN carries it (RFC 791 header, RFC 792 echo).
func echoPacket(src, dst [4]byte, id, seq uint16) []byte {
	b := make([]byte, 20+8+4)
	b[0], b[8], b[9] = 0x45, 64, 1 // version 4, IHL 5; TTL; ICMP
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	binary.BigEndian.PutUint16(b[10:], checksum.Checksum(b[:20], 0))
	m := b[20:]
	m[0] = 8 // echo
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], "tun!")
	binary.BigEndian.PutUint16(m[2:], checksum.Checksum(m, 0))
	return b
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
	link, addrs := linkAndAddrs(t, ns, "tun-t")
	if tt, ok := link.(*netlink.Tuntap); !ok || tt.Mode != netlink.TUNTAP_MODE_TUN {
		t.Errorf("link %s is %T, want a tuntap in TUN mode", link.Attrs().Name, link)
	}
	if a := link.Attrs(); a.MTU != 1400 || a.Flags&net.FlagUp == 0 {
		t.Errorf("link MTU %d flags %v, want 1400 and up", a.MTU, a.Flags)
	}
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.9.0.1/24" {
		t.Errorf("addresses %v, want [10.9.0.1/24]", addrs)
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
	p, err := awaitFrame(frames, func(p []byte) bool { return isEchoReply(p, hostIP, stackIP, 0x7475) })
	if err != nil {
		t.Fatalf("no echo reply: %v", err)
	}
	if len(p) != len(req) {
		t.Fatalf("echo reply of %d bytes, want %d (the request's size: nothing in front)", len(p), len(req))
	}
	s := tun.Stats()
	if s.FramesWritten != 1 || s.BytesWritten != uint64(len(req)) || s.FramesRead == 0 || s.WriteErrors != 0 {
		t.Fatalf("stats %+v", s)
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
		fmt.Printf("error %s: %v\n", errorKind(err), err)
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
	if _, err := awaitFrame(frames, func(p []byte) bool { return isEchoReply(p, hostIP, helperStackIP, 0x7475) }); err != nil {
		fmt.Println("no-echo-reply:", err)
		return
	}
	fmt.Println("echo-reply")
}

// A TUN made for the user opens without any capability, as a TAP does
// (tun_not_capable: the owner may attach), and is left as its owner set it.
func TestOpenTUN_Unprivileged_OwnedTUN_OpensAndCarriesPackets(t *testing.T) {
	ns := nstest.New(t)
	makeForNobody(t, ns, "tun", "tun-own")

	out := runHelperAsNobody(t, ns, helperTUNEnv, "tun-own", 0o666)
	if want := "opened mtu=1400 configured=false up=true\necho-reply"; out != want {
		t.Fatalf("as nobody: %q, want %q (the link's MTU, unconfigured, and the kernel answering a ping through it)", out, want)
	}
	checkLeftAlone(t, ns, "tun-own")
}
