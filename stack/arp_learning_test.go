package stack_test

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
)

// What an ARP packet teaches the cache (RFC 826 "Packet Reception"), and
// what it must not: a sender outside our prefix, or a sender hardware
// address that is a group address or zero (RFC 1812 §3.3.2: a unicast IP
// address never lives at a group MAC), is not learned, and is counted as
// off_link; a probe (sender 0.0.0.0, RFC 5227 §2.1.1) teaches nothing and
// is not off-link either.
func TestARP_SenderNotLearnable_NotLearnedAndCounted(t *testing.T) {
	for _, c := range []struct {
		name    string
		sha     ethernet.MAC
		spa     netip.Addr
		offLink uint64
	}{
		{"sender outside our prefix", peerMAC, netip.MustParseAddr("192.0.2.5"), 1},
		{"group sender MAC", ethernet.MAC{0x01, 0x00, 0x5e, 0, 0, 1}, peerIP, 1},
		{"zero sender MAC", ethernet.MAC{}, peerIP, 1},
		{"probe: sender 0.0.0.0", peerMAC, netip.IPv4Unspecified(), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			// A request for our address from that sender; the frame
			// itself comes from the peer's MAC.
			f := arpFrame(arp.OpRequest, c.sha, c.spa, ethernet.MAC{}, stackIP, ethernet.Broadcast)
			ethernet.Encode(f, ethernet.Broadcast, peerMAC, ethernet.TypeARP)
			e.inject(f)
			e.drain()
			if n := e.st.Neighbors(); len(n) != 0 {
				t.Errorf("learned %+v", n)
			}
			if s := e.st.Stats().ARP; s.OffLink != c.offLink || s.AddressConflicts != 0 {
				t.Errorf("off_link %d, address_conflicts %d; want %d, 0", s.OffLink, s.AddressConflicts, c.offLink)
			}
		})
	}
}

// Our own announcement, looped back to us (a bridge or a TAP that echoes
// broadcasts), claims our address with our MAC: not a conflict (RFC 5227
// §2.4 is about another host).
func TestARP_OwnAnnouncementLoopedBack_NoConflict(t *testing.T) {
	e := newEnv(t)
	e.inject(arpFrame(arp.OpRequest, stackMAC, stackIP, ethernet.MAC{}, stackIP, ethernet.Broadcast))
	e.drain()
	if s := e.st.Stats().ARP; s.AddressConflicts != 0 {
		t.Fatalf("address_conflicts %d for our own announcement, want 0", s.AddressConflicts)
	}
	if n := e.st.Neighbors(); len(n) != 0 {
		t.Fatalf("learned %+v from our own announcement", n)
	}
}
