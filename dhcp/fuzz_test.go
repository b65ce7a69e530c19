package dhcp

import (
	"net/netip"
	"reflect"
	"testing"
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
