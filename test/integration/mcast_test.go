package integration

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	xipv4 "golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
)

// captureIGMP opens an AF_PACKET socket on the namespace's interface
// ifname that sees every IPv4 frame the stack writes to the TAP, the
// equivalent of tcpdump -i ifname igmp. Reads time out after a second.
func captureIGMP(t *testing.T, ns *nstest.NS, ifname string) int {
	t.Helper()
	proto := binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, uint16(ethernet.TypeIPv4))) // htons(ETH_P_IP)
	var fd int
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(proto)); err != nil {
			return err
		}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestMulticast_KernelAndStackExchangeGroupDatagrams: a stack socket
// joined to 239.1.2.3 (socket.ListenMulticastUDP) is reported with an
// IGMPv3 report the kernel side captures (to 224.0.0.22, TTL 1, router
// alert, the group's MAC) and receives what a kernel socket sends to the
// group; a kernel socket joined to the group (net.ListenMulticastUDP)
// receives what a stack socket sends to it.
func TestMulticast_KernelAndStackExchangeGroupDatagrams(t *testing.T) {
	ns := nstest.New(t)
	st, _ := offloadStack(t, ns, nic.OffloadOff)
	ifname := st.LinkName()
	capfd := captureIGMP(t, ns, ifname)
	group := netip.MustParseAddr("239.1.2.3")

	l, err := socket.ListenMulticastUDP(st, "udp4", nil, &net.UDPAddr{IP: group.AsSlice(), Port: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// The join's report, as the kernel side sees it on the wire.
	buf := make([]byte, 2048)
	deadline := time.Now().Add(10 * time.Second) // a guard: the report goes at once
	for seen := false; !seen; {
		if time.Now().After(deadline) {
			t.Fatalf("no IGMPv3 report for %v captured; stack stats %+v", group, st.Stats().IGMP)
		}
		n, _, err := unix.Recvfrom(capfd, buf, 0)
		if err != nil {
			continue // the read timed out: try again until the guard
		}
		eth, err := ethernet.Parse(buf[:n])
		if err != nil {
			continue
		}
		h, err := ipv4.Parse(eth.Payload())
		if err != nil || h.Protocol() != ipv4.ProtoIGMP {
			continue
		}
		m, err := ipv4.ParseIGMP(h.Payload())
		if err != nil || m.Type != ipv4.TypeIGMPv3Report {
			continue
		}
		for _, r := range m.Records {
			if r.Group == group && r.Type == ipv4.IGMPChangeToExclude {
				seen = true
			}
		}
		if seen && (h.Dst() != ipv4.AllIGMPv3Routers || h.TTL() != 1 || !h.HasOption(0x94) || eth.Dst() != ethernet.MAC(ipv4.MulticastMAC(h.Dst()))) {
			t.Fatalf("report to %v (MAC %v), TTL %d, router alert %v; want 224.0.0.22, TTL 1, router alert", h.Dst(), eth.Dst(), h.TTL(), h.HasOption(0x94))
		}
	}

	// Kernel to stack: a kernel socket sends to the group on the TAP.
	var kout *net.UDPConn
	var kin *net.UDPConn
	err = ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		if kout, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(hostAddr)}); err != nil {
			return err
		}
		if err := xipv4.NewPacketConn(kout).SetMulticastInterface(ifi); err != nil {
			return err
		}
		kin, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: group.AsSlice(), Port: 6000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer kout.Close()
	defer kin.Close()
	if _, err := kout.WriteTo([]byte("from the kernel"), &net.UDPAddr{IP: group.AsSlice(), Port: 5000}); err != nil {
		t.Fatal(err)
	}
	l.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := l.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "from the kernel" || from.(*net.UDPAddr).IP.String() != hostAddr {
		t.Fatalf("stack socket got %q from %v (%v), want \"from the kernel\" from %s", buf[:n], from, err, hostAddr)
	}

	// Stack to kernel: the kernel listener joined the group on the TAP.
	tx, err := socket.ListenPacket(st, "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	msg := []byte("from the stack")
	kin.SetReadDeadline(time.Now().Add(10 * time.Second))
	for try := 0; ; try++ {
		// The kernel's own join races the first datagram only in theory
		// (it joined before we send); a retry bounds it anyway.
		if _, err := tx.WriteTo(msg, &net.UDPAddr{IP: group.AsSlice(), Port: 6000}); err != nil {
			t.Fatal(err)
		}
		kin.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, from, err = kin.ReadFrom(buf)
		if err == nil || try == 2 {
			break
		}
	}
	if err != nil || !bytes.Equal(buf[:n], msg) || from.(*net.UDPAddr).IP.String() != stackAddr {
		t.Fatalf("kernel listener got %q from %v (%v), want %q from %s", buf[:n], from, err, msg, stackAddr)
	}
	if s := st.Stats(); s.IGMP.OutReports == 0 || s.IPv4.InMcastPkts == 0 || s.IPv4.OutMcastPkts == 0 {
		t.Fatalf("stats: igmp %+v, in/out mcast %d/%d", s.IGMP, s.IPv4.InMcastPkts, s.IPv4.OutMcastPkts)
	}
}
