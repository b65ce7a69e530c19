package stack_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// A link of a small MTU: two stacks on one Pipe under the manual clock, the
// test moving every frame by hand and checking it fits the link.

// smallLink is two stacks, a (10.0.0.2) and b (10.0.0.1), on the two ends
// of a Pipe of MTU mtu with loss both ways, so that SACK blocks are sent.
type smallLink struct {
	t        *testing.T
	mtu      int
	clk      *clock.Manual
	a, b     *stack.Stack
	ea, eb   *nic.PipeEnd
	maxData  int  // the largest TCP payload seen
	sawSACK  bool // a segment carried SACK blocks
	sawFrame int  // frames moved
}

func newSmallLink(t *testing.T, mtu int, loss float64) *smallLink {
	t.Helper()
	clk := clock.NewManual(epoch)
	im := nic.Impairment{Loss: loss}
	ea, eb := nic.NewPipe(nic.PipeConfig{MTU: mtu, Clock: clk, QueueLen: 4096, Seed: 7, AtoB: im, BtoA: im})
	l := &smallLink{t: t, mtu: mtu, clk: clk, ea: ea, eb: eb}
	var err error
	quiet := slog.New(slog.DiscardHandler)
	if l.a, err = stack.New(ea, stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clk, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if l.b, err = stack.New(eb, stack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Clock: clk, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.a.Close(); l.b.Close() })
	return l
}

// move hands every frame waiting at one end to the stack at the other,
// checking each fits the link, and reports whether there was any.
func (l *smallLink) move() bool {
	l.t.Helper()
	moved := false
	for _, d := range []struct {
		from *nic.PipeEnd
		to   *stack.Stack
	}{{l.eb, l.b}, {l.ea, l.a}} {
		for {
			f, ok := d.from.TryRead()
			if !ok {
				break
			}
			moved = true
			l.sawFrame++
			l.check(f)
			d.to.HandleFrame(f, nic.Meta{})
		}
	}
	return moved
}

// check fails the test on a frame larger than the link or a fragment, and
// notes the TCP payload sizes and SACK blocks.
func (l *smallLink) check(f []byte) {
	l.t.Helper()
	if len(f) > ethernet.HeaderLen+l.mtu {
		l.t.Fatalf("a %d-byte frame on a link of MTU %d", len(f), l.mtu)
	}
	eth, err := ethernet.Parse(f)
	if err != nil || eth.Type() != ethernet.TypeIPv4 {
		return
	}
	h, err := ipv4.Parse(eth.Payload())
	if err != nil {
		l.t.Fatalf("a bad IPv4 datagram: %v", err)
	}
	if h.Protocol() != ipv4.ProtoTCP {
		return
	}
	if h.TotalLen() > l.mtu || h.IsFragment() || !h.DF() {
		l.t.Fatalf("TCP datagram of %d bytes (fragment %v, DF %v) on a link of MTU %d", h.TotalLen(), h.IsFragment(), h.DF(), l.mtu)
	}
	seg, err := tcp.Decode(h.Payload(), h.Src(), h.Dst(), true)
	if err != nil {
		l.t.Fatalf("a bad TCP segment: %v", err)
	}
	l.maxData = max(l.maxData, len(seg.Payload))
	l.sawSACK = l.sawSACK || seg.Options.NumSACK > 0
}

// until moves frames, and when none are left runs the clock to the next
// timer, until done reports true; it fails after a bound of steps.
func (l *smallLink) until(done func() bool) {
	l.t.Helper()
	for step := 0; step < 200_000; step++ {
		if done() {
			return
		}
		if l.move() {
			continue
		}
		next, ok := l.clk.NextDeadline()
		if !ok {
			l.t.Fatalf("stalled with no timer armed at virtual %v; a: %+v\nb: %+v", l.clk.Now().Sub(epoch), l.a.Stats().IPv4, l.b.Stats().IPv4)
		}
		l.clk.Set(next)
	}
	l.t.Fatalf("not done after 200000 steps (virtual %v); a: %+v\nb: %+v", l.clk.Now().Sub(epoch), l.a.Stats().IPv4, l.b.Stats().IPv4)
}

// TestTCP_SmallMTU_TransferInSegmentsThatFit: TCP works on any link IPv4
// allows (RFC 791: 68 octets). The send MSS is what the link carries, MTU
// less 40 (RFC 9293 §3.7.1), less 12 with timestamps, however far below
// Linux's 88-byte floor for a peer's MSS option that is; SACK blocks that do
// not fit are left off. Linux serves a 100-byte MTU with MSS 60 the same
// way. Before, the floor made 128-byte datagrams with DF set, every one
// refused by the sender: the connection stalled forever.
func TestTCP_SmallMTU_TransferInSegmentsThatFit(t *testing.T) {
	for _, mtu := range []int{68, 100} {
		t.Run("MTU"+strconv.Itoa(mtu), func(t *testing.T) {
			l := newSmallLink(t, mtu, 0.03)
			lfd, _ := socket.Socket(l.b, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
			defer lfd.Close()
			if err := lfd.Bind(netip.MustParseAddrPort("0.0.0.0:80")); err != nil {
				t.Fatal(err)
			}
			if err := lfd.Listen(4); err != nil {
				t.Fatal(err)
			}
			c, _ := socket.Socket(l.a, socket.AF_INET, socket.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
			defer c.Close()
			if err := c.Connect(netip.MustParseAddrPort("10.0.0.1:80")); !errors.Is(err, syscall.EINPROGRESS) {
				t.Fatalf("Connect: %v", err)
			}
			var srv *socket.FD
			l.until(func() bool {
				if s, _, err := lfd.Accept(); err == nil {
					srv = s
					srv.SetNonblock(true)
				}
				return srv != nil
			})
			defer srv.Close()
			data := pattern(20_000)
			var got []byte
			buf := make([]byte, 4096)
			sent := 0
			l.until(func() bool {
				if n, err := c.Send(data[sent:], 0); err == nil {
					sent += n
				}
				if n, err := srv.Recv(buf, 0); err == nil {
					got = append(got, buf[:n]...)
				}
				return len(got) == len(data)
			})
			if !bytes.Equal(got, data) {
				t.Fatal("the bytes received differ from those sent")
			}
			// Full-sized segments: the link's MSS less the timestamps.
			if want := mtu - 40 - 12; l.maxData != want {
				t.Errorf("largest segment carried %d bytes, want %d (MTU %d - 40 - 12)", l.maxData, want, mtu)
			}
			if !l.sawSACK {
				t.Error("no SACK block in a transfer with loss")
			}
			for name, st := range map[string]*stack.Stack{"a": l.a, "b": l.b} {
				if f := st.Stats().IPv4.FragFails; f != 0 {
					t.Errorf("stack %s refused %d datagrams too big for the link (FragFails)", name, f)
				}
			}
		})
	}
}

// TestNew_MTUOutOfIPv4Range_ErrBadConfig: a link IPv4 cannot use is
// refused, naming the bound: below 68 octets (RFC 791 "Every internet module
// must be able to forward a datagram of 68 octets") or above the largest
// datagram, 65535 (the 16-bit Total Length); so is a TCP MSS the link
// cannot carry.
func TestNew_MTUOutOfIPv4Range_ErrBadConfig(t *testing.T) {
	for _, c := range []struct {
		mtu, mss int
		want     string
	}{
		{67, 0, "minimum of 68"},
		{65536, 0, "maximum of 65535"},
		{1500, 1461, "at most 1460"},
		{100, 61, "at most 60"},
	} {
		a, b := nic.NewPipe(nic.PipeConfig{MTU: c.mtu})
		cfg := stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: slog.New(slog.DiscardHandler)}
		if c.mss != 0 {
			cfg.TCP = tcp.DefaultConfig()
			cfg.TCP.MSS = c.mss
		}
		st, err := stack.New(a, cfg)
		if !errors.Is(err, stack.ErrBadConfig) || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("MTU %d, MSS %d: %v, want ErrBadConfig saying %q", c.mtu, c.mss, err, c.want)
		}
		if st != nil {
			st.Close()
		}
		a.Close()
		b.Close()
	}
	// The edges are served.
	for _, mtu := range []int{68, 65535} {
		a, b := nic.NewPipe(nic.PipeConfig{MTU: mtu})
		st, err := stack.New(a, stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Errorf("MTU %d: %v", mtu, err)
		} else {
			st.Close()
		}
		b.Close()
	}
}

// TestTCP_ConfigWithoutMSS_AdvertisesTheLinks: a TCP config that sets other
// fields but no MSS gets the link's (MTU - 40, RFC 9293 §3.7.1), not
// tcp.DefaultMSS's 1460 for Ethernet.
func TestTCP_ConfigWithoutMSS_AdvertisesTheLinks(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, p *nic.PipeConfig) {
		p.MTU = 100
		c.TCP = tcp.Config{DisableSACK: true}
	})
	e.learnPeer()
	listening(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460}}, nil))
	if synack := e.nextTCP(); synack.Options.MSS != 60 {
		t.Fatalf("SYN-ACK advertises MSS %d on a link of MTU 100, want 60", synack.Options.MSS)
	}
}
