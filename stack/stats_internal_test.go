package stack

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/tapstack/tapstack/nic"
)

// Every stack-wide TCP counter (tcp.Counters) reaches /stats under its
// own name: a counter added to tcp.Counters and not copied in Stats fails
// here.
func TestStats_EveryTCPCounterReported(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{MTU: 1500})
	defer b.Close()
	s, err := New(a, Config{Addr: netip.MustParsePrefix("10.0.0.2/24")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := reflect.ValueOf(&s.tcpCounters).Elem()
	for i := range k.NumField() {
		k.Field(i).SetUint(uint64(1000 + i))
	}
	got := reflect.ValueOf(s.Stats().TCP)
	for i := range k.NumField() {
		name := k.Type().Field(i).Name
		f := got.FieldByName(name)
		if !f.IsValid() {
			t.Errorf("tcp.Counters.%s has no TCPStats field of its name", name)
		} else if f.Uint() != uint64(1000+i) {
			t.Errorf("TCPStats.%s = %d, want tcp.Counters.%s = %d", name, f.Uint(), name, 1000+i)
		}
	}
}
