package dhcp

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// FuzzParse: Parse never panics, and what it accepts survives Append and a
// second Parse unchanged.
func FuzzParse(f *testing.F) {
	f.Add((&Message{Op: OpRequest, Type: Discover, ParamRequest: []byte{1, 3, 6}}).Append(nil))
	f.Add((&Message{Op: OpReply, Xid: 7, Type: Ack, YIAddr: leaseIP, ServerID: srvIP, LeaseTime: 120,
		Routers: routers(2), DNS: routers(3), MTU: 1500, ClientID: []byte{1, 2}, Overload: 3}).Append(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Parse(m.Append(nil))
		if err != nil {
			t.Fatalf("Parse(Append(m)) = %v for %+v", err, m)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
		}
	})
}

func routers(n int) (l []netip.Addr) {
	for i := range n {
		l = append(l, netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)}))
	}
	return l
}

// FuzzClient drives a client with a random sequence of events (replies of
// every type, matching the pending exchange or not; timeouts at and before
// the deadline; Decline; Release) and checks the invariants after each:
// nothing panics, a lease is held exactly in BOUND, RENEWING and
// REBINDING, every state but STOPPED and an infinite BOUND has a deadline
// not in the past, and a held lease has T1 < T2 < its duration.
func FuzzClient(f *testing.F) {
	f.Add([]byte{0, 2, 5, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9})
	f.Add([]byte{0, 2, 5, 9, 9, 6, 1, 2, 5, 7})
	f.Add([]byte{0, 2, 5, 8, 9, 0, 2, 5, 10})
	f.Fuzz(func(t *testing.T, ops []byte) {
		c := NewClient(Config{MAC: testMAC, Rand: rand.New(rand.NewPCG(5, 6))})
		now := epoch
		c.Start(now)
		for i, op := range ops {
			var sent Message
			switch op % 12 {
			case 0, 1, 2, 3, 4, 5, 6, 7: // a reply of type op%8+1 (OFFER, ACK, NAK ...)
				sent = Message{Op: OpRequest, Xid: c.xid, CHAddr: testMAC}
				m := reply(sent, MessageType(op%8+1), func(m *Message) {
					if op&0x40 != 0 {
						m.Xid++
					}
					if op&0x80 != 0 {
						m.LeaseTime = uint32(op)
						m.RenewalTime = uint32(op >> 1)
					}
				})
				c.Handle(m, now)
			case 8:
				c.Decline(now)
			case 9:
				if d, ok := c.NextDeadline(); ok {
					now = d
				}
				c.Timeout(now)
			case 10:
				c.Release(now)
			case 11:
				now = now.Add(time.Duration(op) * time.Millisecond)
				c.Timeout(now)
			}
			_, has := c.Lease()
			st := c.State()
			if has != (st == StateBound || st == StateRenewing || st == StateRebinding) {
				t.Fatalf("op %d: lease held %v in %v", i, has, st)
			}
			d, ok := c.NextDeadline()
			if l, _ := c.Lease(); ok == (st == StateStopped || (st == StateBound && l.Infinite)) {
				t.Fatalf("op %d: deadline %v (%v) in %v", i, d, ok, st)
			}
			if l, has := c.Lease(); has && !l.Infinite && !(0 < l.T1 && l.T1 < l.T2 && l.T2 < l.Duration) {
				t.Fatalf("op %d: lease times T1 %v T2 %v lease %v", i, l.T1, l.T2, l.Duration)
			}
		}
	})
}
