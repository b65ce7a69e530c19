package conformance

import (
	"fmt"
	"strings"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	gipv6 "gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	gudp "gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/udp"
)

// TCP and UDP over IPv6 against gVisor's IPv6 stack (issue 12): segments
// and datagrams from fe80::1 to the stack's link-local address, a listener
// on tcp/80 and a socket on udp/7 on both sides; what each answers (TCP
// flags, acknowledgment and MSS; ICMPv6 errors) is compared.

// tcp6ConfFrame is a segment from peerLL6:40000 to stackLL6:port, its
// checksum over the IPv6 pseudo-header (spoiled if bad).
func tcp6ConfFrame(port uint16, seg tcp.Segment, bad bool) []byte {
	seg.SrcPort, seg.DstPort = 40000, port
	b := make([]byte, tcp.HeaderMaxLen)
	n := tcp.Encode(b, &seg)
	tcp.Header(b[:n]).ComputeChecksumIPv6(peerLL6, stackLL6)
	if bad {
		b[16] ^= 0xff
	}
	return ip6Frame(ipv6.ProtoTCP, b[:n])
}

// udp6ConfFrame is a datagram from peerLL6:40000 to stackLL6:port; zero
// sends it with a zero checksum.
func udp6ConfFrame(port uint16, payload []byte, zero bool) []byte {
	u := make(udp.Header, udp.HeaderLen+len(payload))
	udp.Encode(u, 40000, port, len(payload))
	copy(u[udp.HeaderLen:], payload)
	if !zero {
		u.ComputeChecksumIPv6(peerLL6, stackLL6)
	}
	return ip6Frame(ipv6.ProtoUDP, u)
}

// describeTCP6 names a segment describe6 found by its flags,
// acknowledgment and MSS: "tcp RST|ACK ack=1001".
func describeTCP6(t *testing.T, h ipv6.Header) string {
	t.Helper()
	seg, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
	if err != nil {
		t.Fatalf("sent a bad segment: %v", err)
	}
	d := fmt.Sprintf("tcp %v ack=%d", seg.Flags&^(tcp.FlagECE|tcp.FlagCWR), seg.Ack)
	if seg.Flags&tcp.FlagSYN != 0 {
		d += fmt.Sprintf(" mss=%d", seg.Options.MSS)
	}
	return d
}

func TestTransport6_AgainstGVisor(t *testing.T) {
	if gvisorTCP == nil {
		t.Skip("gVisor's TCP is not linked in (see gvisorTCP)")
	}
	syn := tcp.Segment{Seq: 1000, Flags: tcp.FlagSYN, Window: 65535, Options: tcp.Options{MSS: 1440}}
	for _, c := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"SYN to a listener", tcp6ConfFrame(80, syn, false), "tcp SYN|ACK ack=1001 mss=1440"},
		{"SYN without MSS to a listener", tcp6ConfFrame(80, tcp.Segment{Seq: 1000, Flags: tcp.FlagSYN, Window: 65535}, false), "tcp SYN|ACK ack=1001 mss=1440"},
		{"SYN to a closed port", tcp6ConfFrame(81, syn, false), "tcp RST|ACK ack=1001"},
		{"ACK to a closed port", tcp6ConfFrame(81, tcp.Segment{Seq: 1000, Ack: 5000, Flags: tcp.FlagACK, Window: 65535}, false), "tcp RST ack=0"},
		{"SYN with a bad checksum", tcp6ConfFrame(80, syn, true), ""},
		{"UDP to a closed port", udp6ConfFrame(9, []byte("x"), false), "dest-unreachable code=4"},
		{"UDP with a zero checksum to a closed port", udp6ConfFrame(9, []byte("x"), true), ""},
		{"UDP to a bound socket", udp6ConfFrame(7, []byte("x"), false), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tap := newTapTarget(t, targetConfig{})
			defer tap.close()
			gv := newGvisor6(t, gvisorTCP, gudp.NewProtocol)
			listen6(t, tap, gv)
			tap.inject(nsFrame())
			tap.drain()
			tap.inject(c.frame)
			gv.inject(c.frame)
			got := strings.Join(describe6(t, tap.drain()), "; ")
			g := strings.Join(describe6(t, gv.drain()), "; ")
			if got != c.want || g != c.want {
				t.Errorf("tapstack %q, gVisor %q; want %q from both", got, g, c.want)
			}
		})
	}
}

// listen6 opens tcp/80 and udp/7 on IPv6 on both targets.
func listen6(t *testing.T, tap *tapTarget, gv *gvisorTarget) {
	t.Helper()
	l, err := socket.Listen(tap.st, "tcp6", ":80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	u, err := socket.ListenPacket(tap.st, "udp6", ":7")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	var wq waiter.Queue
	ep, terr := gv.st.NewEndpoint(header.TCPProtocolNumber, gipv6.ProtocolNumber, &wq)
	if terr != nil {
		t.Fatalf("gVisor: tcp endpoint: %v", terr)
	}
	if terr := ep.Bind(tcpip.FullAddress{Port: 80}); terr != nil {
		t.Fatalf("gVisor: bind: %v", terr)
	}
	if terr := ep.Listen(8); terr != nil {
		t.Fatalf("gVisor: listen: %v", terr)
	}
	t.Cleanup(ep.Close)
	uep, terr := gv.st.NewEndpoint(gudp.ProtocolNumber, gipv6.ProtocolNumber, &wq)
	if terr != nil {
		t.Fatalf("gVisor: udp endpoint: %v", terr)
	}
	if terr := uep.Bind(tcpip.FullAddress{Port: 7}); terr != nil {
		t.Fatalf("gVisor: bind udp: %v", terr)
	}
	t.Cleanup(uep.Close)
}
