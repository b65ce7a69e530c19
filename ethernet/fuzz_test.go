package ethernet

import (
	"bytes"
	"errors"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// FuzzParse checks that Parse never panics, that what it accepts re-encodes
// to the same fields, and that it agrees with gVisor's header.Ethernet.
func FuzzParse(f *testing.F) {
	f.Add(arpRequestFrame)                                           // broadcast ARP request, 42 bytes
	f.Add(ipv4Frame)                                                 // unicast IPv4
	f.Add(arpRequestFrame[:HeaderLen-1])                             // one byte short
	f.Add(arpRequestFrame[:HeaderLen])                               // bare header, empty payload
	f.Add(Pad(append([]byte(nil), arpRequestFrame...)))              // padded to 60
	f.Add(mustHex("333300000001" + "02000000000281000064" + "86dd")) // VLAN tag, multicast
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b)
		if len(b) < HeaderLen {
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("Parse(%d bytes) error = %v, want ErrTruncated", len(b), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Parse(%d bytes): %v", len(b), err)
		}
		// Every accessor is safe after Parse.
		dst, src, typ, payload := h.Dst(), h.Src(), h.Type(), h.Payload()
		_ = h.ForUs(src)
		_ = typ.String()
		_ = dst.String()

		// Parse → Encode → Parse.
		out := make([]byte, HeaderLen+len(payload))
		Encode(out, dst, src, typ)
		copy(out[HeaderLen:], payload)
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded frame differs:\n got %x\nwant %x", out, b)
		}
		h2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if h2.Dst() != dst || h2.Src() != src || h2.Type() != typ || !bytes.Equal(h2.Payload(), payload) {
			t.Fatalf("re-parse fields differ")
		}

		// Agreement with gVisor.
		g := header.Ethernet(b)
		if got := g.DestinationAddress(); got != tcpip.LinkAddress(dst[:]) {
			t.Errorf("dst: ours %v, gVisor %v", dst, got)
		}
		if got := g.SourceAddress(); got != tcpip.LinkAddress(src[:]) {
			t.Errorf("src: ours %v, gVisor %v", src, got)
		}
		if got := g.Type(); got != tcpip.NetworkProtocolNumber(typ) {
			t.Errorf("type: ours %#x, gVisor %#x", uint16(typ), got)
		}
		if got := header.IsMulticastEthernetAddress(tcpip.LinkAddress(dst[:])); got != dst.IsMulticast() {
			t.Errorf("multicast(%v): ours %v, gVisor %v", dst, dst.IsMulticast(), got)
		}
	})
}
