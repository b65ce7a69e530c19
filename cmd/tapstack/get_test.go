package main

import (
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// dialErr is the error net/http returns when socket.Dialer fails with errno.
func dialErr(dst string, errno syscall.Errno) error {
	ap := netip.MustParseAddrPort(dst)
	return &url.Error{Op: "Get", URL: "http://" + dst + "/", Err: &net.OpError{
		Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: os.NewSyscallError("tapstack", errno),
	}}
}

func TestArpFailure_NamesTheHopOnlyWhenARPGaveUpOnIt(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a, b := nic.NewPipe(nic.PipeConfig{MTU: 1500, Clock: clk, QueueLen: 64})
	defer b.Close()
	st, err := stack.New(a, stack.Config{
		Addr: netip.MustParsePrefix("10.0.0.2/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
		Clock: clk, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if msg, ok := arpFailure(st, dialErr("10.0.0.99:80", syscall.EHOSTUNREACH)); ok {
		t.Fatalf("no resolution has failed yet, but: %q", msg)
	}
	// Nobody answers for 10.0.0.99 nor for the gateway 10.0.0.1.
	fd, _ := socket.Socket(st, socket.AF_INET, socket.SOCK_DGRAM, 0)
	defer fd.Close()
	for _, dst := range []string{"10.0.0.99:9", "192.0.2.9:9"} {
		if _, err := fd.SendTo([]byte("x"), 0, netip.MustParseAddrPort(dst)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(arp.DefaultMaxRetries * arp.DefaultRetransmitInterval)
	for _, tc := range []struct {
		err  error
		want string // "" for no explanation
	}{
		{dialErr("10.0.0.99:80", syscall.EHOSTUNREACH), "connect 10.0.0.99:80: no host answers ARP for 10.0.0.99 (EHOSTUNREACH)"},
		{dialErr("192.0.2.9:8080", syscall.EHOSTUNREACH), "connect 192.0.2.9:8080: no host answers ARP for the gateway 10.0.0.1 (EHOSTUNREACH)"},
		{dialErr("10.0.0.99:80", syscall.ECONNREFUSED), ""},
		{dialErr("10.0.0.99:80", syscall.ETIMEDOUT), ""},
	} {
		msg, ok := arpFailure(st, tc.err)
		if msg != tc.want || ok != (tc.want != "") {
			t.Errorf("arpFailure(%v) = %q, %v; want %q", tc.err, msg, ok, tc.want)
		}
	}
	// Once the gateway answers, a host unreachable about an off-link
	// address came from beyond it: no ARP explanation.
	gw, gwMAC := netip.MustParseAddr("10.0.0.1"), ethernet.MAC{2, 0, 0, 0, 0, 1}
	reply := make([]byte, ethernet.HeaderLen+arp.HeaderLen)
	ethernet.Encode(reply, st.MAC(), gwMAC, ethernet.TypeARP)
	arp.Encode(reply[ethernet.HeaderLen:], arp.OpRequest, gwMAC, gw, ethernet.MAC{}, st.Addr())
	st.HandleFrame(reply, nic.Meta{})
	if msg, ok := arpFailure(st, dialErr("192.0.2.9:8080", syscall.EHOSTUNREACH)); ok {
		t.Fatalf("the gateway answers ARP, yet: %q", msg)
	}
}
