package integration

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	xipv4 "golang.org/x/net/ipv4"
	xipv6 "golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// capturePackets opens an AF_PACKET socket on the namespace's interface ifname
// that sees every frame of EtherType typ the stack writes to the TAP, the
// equivalent of tcpdump -i ifname. Reads time out after a second.
func capturePackets(t *testing.T, ns *nstest.NS, ifname string, typ ethernet.EtherType) int {
	t.Helper()
	proto := binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, uint16(typ))) // htons
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

// awaitFrame reads frames from a capture socket until match takes one,
// failing after a guard of 10 s (what it waits for is sent at once).
func awaitFrame(t *testing.T, fd int, what string, match func(ethernet.Header) bool) {
	t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(10 * time.Second)
	for !time.Now().After(deadline) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // the read timed out: try again until the guard
		}
		if eth, err := ethernet.Parse(buf[:n]); err == nil && match(eth) {
			return
		}
	}
	t.Fatalf("no %s captured", what)
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
	capfd := capturePackets(t, ns, st.LinkName(), ethernet.TypeIPv4)
	group := netip.MustParseAddr("239.1.2.3")
	l := listenGroup(t, st, "udp4", group)

	// The join's report, as the kernel side sees it on the wire.
	awaitFrame(t, capfd, "IGMPv3 report for "+group.String(), func(eth ethernet.Header) bool {
		h, err := ipv4.Parse(eth.Payload())
		if err != nil || h.Protocol() != ipv4.ProtoIGMP {
			return false
		}
		m, err := ipv4.ParseIGMP(h.Payload())
		if err != nil || m.Type != ipv4.TypeIGMPv3Report || !slices.ContainsFunc(m.Records, func(r ipv4.IGMPRecord) bool { return r.Type == ipv4.IGMPChangeToExclude && r.Group == group }) {
			return false
		}
		if h.Dst() != ipv4.AllIGMPv3Routers || h.TTL() != 1 || !h.HasOption(0x94) || eth.Dst() != ethernet.MAC(ipv4.MulticastMAC(h.Dst())) {
			t.Fatalf("report to %v (MAC %v), TTL %d, router alert %v; want 224.0.0.22, TTL 1, router alert", h.Dst(), eth.Dst(), h.TTL(), h.HasOption(0x94))
		}
		return true
	})
	exchangeWithKernel(t, ns, st, l, "udp4", group, netip.MustParseAddr(hostAddr), netip.MustParseAddr(stackAddr))
	if s := st.Stats(); s.IGMP.OutReports == 0 || s.IPv4.InMcastPkts == 0 || s.IPv4.OutMcastPkts == 0 {
		t.Fatalf("stats: igmp %+v, in/out mcast %d/%d", s.IGMP, s.IPv4.InMcastPkts, s.IPv4.OutMcastPkts)
	}
}

// TestMulticast6_KernelAndStackExchangeGroupDatagrams: the same over
// IPv6: a stack socket joined to ff02::1234:5678 ("udp6") is reported
// with an MLDv2 report (to ff02::16, hop limit 1) and receives what the
// kernel sends to the group, and the kernel's listener receives what the
// stack sends.
func TestMulticast6_KernelAndStackExchangeGroupDatagrams(t *testing.T) {
	ns := nstest.New(t)
	st, _ := offload6Stack(t, ns, nic.OffloadOff)
	capfd := capturePackets(t, ns, st.LinkName(), ethernet.TypeIPv6)
	group := netip.MustParseAddr("ff02::1234:5678")
	l := listenGroup(t, st, "udp6", group)

	awaitFrame(t, capfd, "MLDv2 report for "+group.String(), func(eth ethernet.Header) bool {
		h, err := ipv6.Parse(eth.Payload())
		if err != nil {
			return false
		}
		it := h.Exts()
		for {
			if _, ok, err := it.Next(); err != nil || !ok {
				break
			}
		}
		next, off, _ := it.Upper()
		if next != ipv6.ProtoICMPv6 {
			return false
		}
		m, err := ipv6.ParseICMP(h[off:], h.Src(), h.Dst())
		if err != nil || m.Type() != ipv6.TypeMLDv2Report {
			return false
		}
		recs, _ := ipv6.MLDv2Records(m)
		if !slices.Contains(recs, ipv6.MLDRecord{Type: ipv6.MLDChangeToExclude, Group: group}) {
			return false
		}
		if h.Dst() != ipv6.AllMLDv2Routers || h.HopLimit() != 1 {
			t.Fatalf("report to %v, hop limit %d; want ff02::16, 1", h.Dst(), h.HopLimit())
		}
		return true
	})
	exchangeWithKernel(t, ns, st, l, "udp6", group, netip.Addr{}, st.LinkLocal())
}

// listenGroup opens a stack socket on network joined to group at port 5000.
func listenGroup(t *testing.T, st *stack.Stack, network string, group netip.Addr) *socket.PacketConn {
	t.Helper()
	l, err := socket.ListenMulticastUDP(st, network, nil, &net.UDPAddr{IP: group.AsSlice(), Port: 5000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// exchangeWithKernel sends a datagram from a kernel socket in ns (from
// kernelSrc, or any address when invalid) to group:5000, which the stack's
// listener l must receive, and one from a stack socket to group:6000, which
// a kernel socket joined to the group on the TAP (net.ListenMulticastUDP)
// must receive from stackSrc.
func exchangeWithKernel(t *testing.T, ns *nstest.NS, st *stack.Stack, l *socket.PacketConn, network string, group, kernelSrc, stackSrc netip.Addr) {
	t.Helper()
	var kout, kin *net.UDPConn
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(st.LinkName())
		if err != nil {
			return err
		}
		laddr := &net.UDPAddr{}
		if kernelSrc.IsValid() {
			laddr.IP = kernelSrc.AsSlice()
		}
		if kout, err = net.ListenUDP(network, laddr); err != nil {
			return err
		}
		if group.Is4() {
			err = xipv4.NewPacketConn(kout).SetMulticastInterface(ifi)
		} else {
			err = xipv6.NewPacketConn(kout).SetMulticastInterface(ifi)
		}
		if err != nil {
			return err
		}
		kin, err = net.ListenMulticastUDP(network, ifi, &net.UDPAddr{IP: group.AsSlice(), Port: 6000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer kout.Close()
	defer kin.Close()

	// Kernel to stack.
	if _, err := kout.WriteTo([]byte("from the kernel"), &net.UDPAddr{IP: group.AsSlice(), Port: 5000}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	l.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := l.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "from the kernel" || kernelSrc.IsValid() && from.(*net.UDPAddr).IP.String() != kernelSrc.String() {
		t.Fatalf("stack socket got %q from %v (%v), want \"from the kernel\" from %v", buf[:n], from, err, kernelSrc)
	}

	// Stack to kernel.
	tx, err := socket.ListenPacket(st, network, ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	msg := []byte("from the stack")
	for try := 0; ; try++ {
		// The kernel joined before we send; a retry bounds a lost first
		// datagram anyway, as the other integration tests do.
		if _, err := tx.WriteTo(msg, &net.UDPAddr{IP: group.AsSlice(), Port: 6000}); err != nil {
			t.Fatal(err)
		}
		kin.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, from, err = kin.ReadFrom(buf)
		if err == nil || try == 2 {
			break
		}
	}
	if err != nil || !bytes.Equal(buf[:n], msg) || from.(*net.UDPAddr).IP.String() != stackSrc.String() {
		t.Fatalf("kernel listener got %q from %v (%v), want %q from %v", buf[:n], from, err, msg, stackSrc)
	}
}
