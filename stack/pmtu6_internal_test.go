package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
)

// The MSS TCP over IPv6 is to use follows the path MTU: the link's less 60
// (RFC 8201 §5.2, RFC 9293 §3.7.1), then what a Packet Too Big for that
// destination leaves less 60, for that destination only.
func TestTCPMSS6_FollowsPathMTU(t *testing.T) {
	clk := clock.NewManual(time.Unix(1000, 0))
	mac := [6]byte{2, 0, 0, 0, 0, 2}
	a, b := nic.NewPipe(nic.PipeConfig{MTU: 1500, MACA: mac, Clock: clk})
	defer b.Close()
	s, err := New(a, Config{Clock: clk, DupAddrDetectTransmits: -1}) // the link-local usable at once
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	peer := netip.MustParseAddr("fe80::1")
	s.mu.Lock()
	defer s.mu.Unlock()
	if got := s.tcpMSS6Locked(peer); got != 1440 {
		t.Fatalf("MSS %d on a 1500 link, want 1440", got)
	}
	ll := s.linkLocalLocked()
	orig := make([]byte, ipv6.HeaderLen+8)
	ipv6.Encode(orig, ipv6.Fields{PayloadLen: 8, NextHeader: ipv6.ProtoTCP, HopLimit: 64, Src: ll, Dst: peer})
	m := make(ipv6.ICMP, ipv6.ICMPHeaderLen+len(orig))
	ipv6.EncodeError(m, ipv6.TypePacketTooBig, 0, 1400, orig, peer, ll)
	s.handlePacketTooBigLocked(m)
	if got := s.tcpMSS6Locked(peer); got != 1340 {
		t.Errorf("MSS %d after a Packet Too Big of 1400, want 1340", got)
	}
	if got := s.tcpMSS6Locked(netip.MustParseAddr("fe80::2")); got != 1440 {
		t.Errorf("MSS %d to another destination, want 1440", got)
	}
}
