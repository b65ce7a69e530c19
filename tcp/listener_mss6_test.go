package tcp

import (
	"testing"
)

// ListenEnv.MSS: a dual-stack listener offers each SYN its family's MSS
// (IPv6: the MTU less 60), on a normal SYN-ACK and on a cookie, and the
// connection keeps it; the next SYN without it gets Config.MSS again.
func TestListener_EnvMSS_PerSegmentFamilyMSS(t *testing.T) {
	for _, cookies := range []SynCookieMode{SynCookiesOff, SynCookiesAlways} {
		out := &recorder{}
		l := NewListener(strict(Config{MSS: 1460, SynCookies: cookies}), addrA, 8, out)
		syn := func(port uint16, mss int) *Conn {
			s := Segment{SrcPort: port, DstPort: ourPort, Seq: peerISS, Flags: FlagSYN, Window: 65535, Options: Options{MSS: 1460}}
			env := issEnv(testISS)
			env.MSS = mss
			return l.HandleSegment(&s, client(port), env, t0)
		}
		c6 := syn(1000, 1440)
		got := out.take()
		if len(got) != 1 || got[0].Options.MSS != 1440 {
			t.Fatalf("cookies %v: SYN-ACK with env MSS 1440: %v", cookies, got)
		}
		if c6 != nil && c6.Config().MSS != 1440 {
			t.Fatalf("the IPv6 connection's MSS %d, want 1440", c6.Config().MSS)
		}
		syn(1001, 0)
		if got := out.take(); len(got) != 1 || got[0].Options.MSS != 1460 {
			t.Fatalf("cookies %v: SYN-ACK without env MSS: %v, want MSS 1460", cookies, got)
		}
	}
}
