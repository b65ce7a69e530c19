package arp

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// FuzzParse checks that Parse never panics, that what it accepts re-encodes
// to the same bytes, and that it agrees with gVisor's header.ARP.
func FuzzParse(f *testing.F) {
	f.Add(goldenRequest)
	f.Add(goldenReply)
	f.Add(append(append([]byte(nil), goldenReply...), make([]byte, 18)...))                                       // padded
	f.Add(goldenRequest[:HeaderLen-1])                                                                            // truncated
	f.Add(mustHex("0006" + "0800" + "0604" + "0001" + "0242ac110001" + "0a000001" + "000000000000" + "0a000002")) // IEEE 802 hardware
	f.Add(mustHex("0001" + "0800" + "0604" + "0003" + "0242ac110001" + "0a000001" + "000000000000" + "0a000002")) // RARP request
	f.Add(mustHex("0001" + "86dd" + "0610" + "0001" + "0242ac110001" + "0a000001" + "000000000000" + "0a000002")) // IPv6 lengths
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b)
		g := header.ARP(b)
		gValid := g.IsValid() // gVisor checks length, hrd, pro, hln, pln; not op
		switch {
		case len(b) < HeaderLen:
			if !errors.Is(err, ErrTruncated) || gValid {
				t.Fatalf("%d bytes: error %v, gVisor valid %v", len(b), err, gValid)
			}
			return
		case !gValid:
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("gVisor rejects, we return %v", err)
			}
			return
		case g.Op() != header.ARPRequest && g.Op() != header.ARPReply:
			if !errors.Is(err, ErrBadOp) {
				t.Fatalf("op %d: we return %v", g.Op(), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("gVisor accepts, we return %v", err)
		}
		if len(h) != HeaderLen {
			t.Fatalf("len(h) = %d", len(h))
		}
		// Agreement with gVisor, field by field.
		op, sha, spa, tha, tpa := h.Op(), h.SenderMAC(), h.SenderIP(), h.TargetMAC(), h.TargetIP()
		if uint16(op) != uint16(g.Op()) {
			t.Errorf("op: ours %d, gVisor %d", op, g.Op())
		}
		if !bytes.Equal(sha[:], g.HardwareAddressSender()) || !bytes.Equal(tha[:], g.HardwareAddressTarget()) {
			t.Errorf("hardware addresses disagree")
		}
		if s, t4 := spa.As4(), tpa.As4(); !bytes.Equal(s[:], g.ProtocolAddressSender()) || !bytes.Equal(t4[:], g.ProtocolAddressTarget()) {
			t.Errorf("protocol addresses disagree")
		}
		// Parse → Encode → Parse.
		out := make([]byte, HeaderLen)
		Encode(out, op, sha, spa, tha, tpa)
		if !bytes.Equal(out, b[:HeaderLen]) {
			t.Fatalf("re-encoded = %x, input %x", out, b[:HeaderLen])
		}
		h2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if h2.Op() != op || h2.SenderMAC() != sha || h2.SenderIP() != spa || h2.TargetMAC() != tha || h2.TargetIP() != tpa {
			t.Fatalf("re-parsed fields differ")
		}
	})
}

// FuzzCache drives a small cache with a random sequence of operations on a
// handful of addresses, with time advancing, and checks its invariants.
//
// Each operation takes three bytes: opcode, address index, time step.
func FuzzCache(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 1, 0, 1, 1, 0, 3, 0, 250, 3, 0, 250, 3, 0, 250, 3, 0, 250, 3, 0, 250})
	f.Add([]byte{0, 1, 0, 1, 1, 0, 2, 1, 10, 3, 0, 255, 0, 1, 255, 0, 1, 0, 3, 1, 100})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 2, 5, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0})
	f.Add([]byte{4, 1, 0, 0, 1, 200, 3, 0, 255, 3, 0, 255, 0, 1, 0, 6, 1, 9, 3, 0, 100})
	f.Fuzz(func(t *testing.T, ops []byte) {
		cfg := Config{
			ReachableTime:      3 * time.Second,
			StaleTime:          5 * time.Second,
			RetransmitInterval: time.Second,
			MaxRetries:         3,
			MaxPending:         3,
			MaxEntries:         4,
		}
		c := NewCache(cfg)
		now := time.Unix(1_000_000, 0)
		var nextID uint32
		released := map[uint32]bool{}
		failedIDs := map[uint32]bool{}
		queued, dropped := 0, 0
		seen := func(pkt []byte) uint32 {
			if len(pkt) != 4 {
				t.Fatalf("packet of %d bytes", len(pkt))
			}
			id := uint32(pkt[0])<<24 | uint32(pkt[1])<<16 | uint32(pkt[2])<<8 | uint32(pkt[3])
			if released[id] || failedIDs[id] {
				t.Fatalf("packet %d handed out twice", id)
			}
			return id
		}
		for len(ops) >= 3 {
			op, ipIdx, step := ops[0], ops[1], ops[2]
			ops = ops[3:]
			ip := netip.AddrFrom4([4]byte{10, 0, 0, ipIdx % 6})
			now = now.Add(time.Duration(step) * 20 * time.Millisecond)
			switch op % 5 {
			case 0:
				mac, ok, req := c.Resolve(ip, now)
				if ok && req && mac.IsZero() {
					// Stale→Probe returns the old MAC; never zero here
					// since Update in this fuzzer uses non-zero MACs.
					t.Fatalf("Resolve ok with zero MAC")
				}
			case 1:
				nextID++
				pkt := []byte{byte(nextID >> 24), byte(nextID >> 16), byte(nextID >> 8), byte(nextID)}
				before := pendingOf(c, ip)
				if c.Enqueue(ip, pkt) {
					queued++
				} else if before == cfg.MaxPending {
					queued++
					dropped++ // the oldest went
				}
				pkt[0] ^= 0xff // the cache must have copied
			case 2, 3:
				if op%5 == 3 && step&1 == 0 {
					c.Expire(now, func(netip.Addr, ethernet.MAC) {}, func(_ netip.Addr, pkt []byte) {
						failedIDs[seen(pkt)] = true
					})
					if d, ok := c.NextDeadline(); ok && !d.After(now) {
						t.Fatalf("NextDeadline %v not after Expire(%v)", d, now)
					}
					break
				}
				for _, pkt := range c.Update(ip, ethernet.MAC{2, 0, 0, 0, 0, ipIdx}, now, step&2 != 0) {
					released[seen(pkt)] = true
				}
			case 4:
				// Jump to the next deadline (or a little past it), as the
				// stack's timer does; time never goes backwards.
				if d, ok := c.NextDeadline(); ok {
					if d.After(now) {
						now = d
					}
					now = now.Add(time.Duration(step%4) * time.Millisecond)
					c.Expire(now, func(netip.Addr, ethernet.MAC) {}, func(_ netip.Addr, pkt []byte) {
						failedIDs[seen(pkt)] = true
					})
					if d, ok := c.NextDeadline(); ok && !d.After(now) {
						t.Fatalf("NextDeadline %v not after Expire(%v)", d, now)
					}
				}
			}
			if c.Len() > cfg.MaxEntries {
				t.Fatalf("Len %d > MaxEntries %d", c.Len(), cfg.MaxEntries)
			}
			total := 0
			for _, e := range c.Entries() {
				if e.Pending > cfg.MaxPending {
					t.Fatalf("%v: %d pending > %d", e.IP, e.Pending, cfg.MaxPending)
				}
				if e.Pending > 0 && e.State != StateIncomplete {
					t.Fatalf("%v: %d pending in state %v", e.IP, e.Pending, e.State)
				}
				total += e.Pending
			}
			if queued != len(released)+len(failedIDs)+dropped+total {
				t.Fatalf("packets: %d queued != %d released + %d failed + %d dropped + %d pending",
					queued, len(released), len(failedIDs), dropped, total)
			}
		}
		if !slices.IsSortedFunc(c.Entries(), func(a, b Entry) int { return a.IP.Compare(b.IP) }) {
			t.Fatalf("Entries not sorted")
		}
	})
}

func pendingOf(c *Cache, ip netip.Addr) int {
	if e := c.entries[ip]; e != nil {
		return len(e.pending)
	}
	return 0
}
