package stack

import (
	"encoding/binary"
	"log/slog"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/tcp"
)

// Each drop package tcp counts is named by its /stats counter; an accept
// queue overflow, which also counts in ListenDrops, by the narrower one.
func TestTCPCountedDrop_NamesTheCounterThatMoved(t *testing.T) {
	for _, tc := range []struct {
		bump func(*tcp.Counters)
		want string
	}{
		{func(k *tcp.Counters) {}, ""},
		{func(k *tcp.Counters) { k.ChallengeACKs++ }, ""}, // a reply, not a drop
		{func(k *tcp.Counters) { k.PAWSDrops++ }, "paws_drops"},
		{func(k *tcp.Counters) { k.ListenOverflows++; k.ListenDrops++ }, "listen_overflows"},
		{func(k *tcp.Counters) { k.ListenDrops++ }, "listen_drops"},
		{func(k *tcp.Counters) { k.SynCookiesFailed++ }, "syncookies_failed"},
		{func(k *tcp.Counters) { k.OutOfOrderDrops++ }, "ofo_drops"},
		{func(k *tcp.Counters) { k.RecvQueueDrops++ }, "rcvq_drops"},
	} {
		before := tcp.Counters{PAWSDrops: 3, ListenDrops: 5, OutOfOrderDrops: 7}
		after := before
		tc.bump(&after)
		if got := tcpCountedDrop(&before, &after); got != tc.want {
			t.Errorf("counters %+v → %+v: %q, want %q", before, after, got, tc.want)
		}
	}
}

// attrKeys returns the keys of attrs, in order.
func attrKeys(attrs []slog.Attr) []string {
	var keys []string
	for _, a := range attrs {
		keys = append(keys, a.Key)
	}
	return keys
}

// A dropped frame is described by every field its bytes hold, to the last
// one: a frame of exactly an Ethernet header has its MACs, an ARP payload
// of exactly 28 bytes its addresses, an IPv4 header of exactly 20 bytes
// its addresses, and a TCP or UDP datagram with exactly 4 bytes after the
// header its ports. One byte less and the field is left out, never read.
func TestFrameAttrs_EveryFieldTheBytesHold(t *testing.T) {
	eth := func(typ ethernet.EtherType, payload []byte) []byte {
		b := make([]byte, ethernet.HeaderLen, ethernet.HeaderLen+len(payload))
		binary.BigEndian.PutUint16(b[12:14], uint16(typ))
		return append(b, payload...)
	}
	ip := func(proto uint8, l4 int) []byte {
		b := make([]byte, ipv4.HeaderMinLen+l4)
		b[0], b[9] = 0x45, proto
		copy(b[12:16], []byte{10, 0, 0, 1})
		copy(b[16:20], []byte{10, 0, 0, 2})
		if l4 >= 2 {
			binary.BigEndian.PutUint16(b[20:], 1234) // the source port
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"13 bytes", make([]byte, 13), "len"},
		{"Ethernet header only", eth(0x1234, nil), "eth_src eth_dst ether_type len"},
		{"ARP, 27 bytes", eth(ethernet.TypeARP, make([]byte, 27)), "eth_src eth_dst ether_type len"},
		{"ARP, 28 bytes", eth(ethernet.TypeARP, make([]byte, 28)), "eth_src eth_dst ether_type op sender sender_mac target len"},
		{"IPv4, 19 bytes", eth(ethernet.TypeIPv4, ip(ipv4.ProtoTCP, 0)[:19]), "eth_src eth_dst ether_type len"},
		{"IPv4 header only", eth(ethernet.TypeIPv4, ip(ipv4.ProtoTCP, 0)), "eth_src eth_dst ether_type src dst proto len"},
		{"TCP, 3 bytes", eth(ethernet.TypeIPv4, ip(ipv4.ProtoTCP, 3)), "eth_src eth_dst ether_type src dst proto len"},
		{"TCP, 4 bytes", eth(ethernet.TypeIPv4, ip(ipv4.ProtoTCP, 4)), "eth_src eth_dst ether_type src dst proto len"},
		{"ICMP, 2 bytes", eth(ethernet.TypeIPv4, ip(ipv4.ProtoICMP, 2)), "eth_src eth_dst ether_type src dst icmp_type icmp_code proto len"},
	} {
		if got := strings.Join(attrKeys(frameAttrs(nil, tc.frame)), " "); got != tc.want {
			t.Errorf("%s: keys %q, want %q", tc.name, got, tc.want)
		}
	}
	// The ports come with 4 bytes after the header, not 3.
	for l4, want := range map[int]string{3: "10.0.0.1", 4: "10.0.0.1:1234"} {
		attrs := frameAttrs(nil, eth(ethernet.TypeIPv4, ip(ipv4.ProtoUDP, l4)))
		if got := attrs[3].Value.String(); got != want {
			t.Errorf("UDP with %d bytes: src %q, want %q", l4, got, want)
		}
	}
}
