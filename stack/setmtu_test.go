package stack_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/tcp"
)

// SetMTU (a DHCP interface-MTU option): within [68, the device's MTU],
// else EINVAL; a connection made after it advertises the MSS it allows
// (RFC 9293 §3.7.1: the MTU less 40).
func TestStack_SetMTU_BoundsAndNewConnectionsMSS(t *testing.T) {
	e := newEnv(t)
	for _, bad := range []int{67, 0, e.st.DeviceMTU() + 1} {
		if err := e.st.SetMTU(bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SetMTU(%d) = %v, want EINVAL", bad, err)
		}
	}
	if err := e.st.SetMTU(1000); err != nil || e.st.MTU() != 1000 {
		t.Fatalf("SetMTU(1000) = %v, MTU %d", err, e.st.MTU())
	}
	e.learnPeer()
	listening(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	if s := e.nextTCP(); s.Options.MSS != 960 {
		t.Errorf("SYN-ACK MSS %d after SetMTU(1000), want 960", s.Options.MSS)
	}
}
