package tcp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/buffer"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// FuzzTCB decodes its input into a sequence of events and checks invariants
// after every step (every Conn has the strict Observer, so an illegal transition
// panics):
//
//   - SND.UNA ≤ send cursor ≤ SND.NXT, buffers within their capacities, at most
//     one of the RTO and persist timers (tcbInvariants);
//   - the advertised right edge RCV.NXT+RCV.WND never moves left
//     (RFC 7323 §2.4), checked on every segment sent;
//   - no data segment exceeds the MSS;
//   - with timestamps negotiated every segment but a RST carries one, and
//     a Conn's TSval never goes back (RFC 7323 §3.2, §5.4);
//   - a CLOSED Conn has no timer; a timer never stays due after HandleTimer;
//   - the SACK scoreboard is sorted, disjoint, within SND.UNA..SND.NXT and
//     bounded (sackInvariants);
//   - in pair mode, the bytes each side reads are a prefix of what the other
//     side wrote: whatever the loss, duplication and reordering, the stream
//     is never corrupted.
//
// The first byte selects the mode: one Conn against arbitrary segments
// (active or passive), or two Conns on a lossy wire.
func FuzzTCB(f *testing.F) {
	// Seeds: a handshake then data; a RST storm; a pair exchanging data with
	// losses; a pair closing simultaneously; zero windows and probes.
	f.Add([]byte{0, 0, 0x12, 1, 0, 0, 0xff, 0xff, 10, 1, 50, 0, 0x18, 0, 0, 0, 0xff, 0xff, 40, 7, 7, 7})
	f.Add([]byte{1, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0x04, 2, 3, 0, 0, 0, 0, 0x10, 1, 1, 0, 0, 0, 0})
	f.Add([]byte{2, 1, 200, 0, 0, 1, 200, 0, 0, 0, 3, 0, 0, 6, 9, 0, 0, 0, 2, 100, 4, 5, 7, 7, 7, 7})
	f.Add([]byte{2, 0, 0, 0, 0, 5, 0, 5, 1, 0, 0, 0, 0, 7, 7, 7, 7, 7})
	f.Add([]byte{3, 0, 0x10, 1, 0, 0, 0, 0, 10, 1, 200, 6, 50, 6, 200, 6, 255, 7, 7, 0, 0x10, 1, 0, 0, 0xff, 0xff, 0})
	f.Add([]byte{0, 0, 0x12, 1, 0, 0, 0, 4, 0, 0, 0x18, 0, 3, 0, 0, 0, 0, 200, 3, 0, 0x11, 0, 0, 0, 0, 1, 10, 7, 7})
	// A pair with timestamps (the default) and keep-alive on one side; a
	// single active Conn fed timestamped segments, old ones among them.
	f.Add([]byte{2, 0x80, 0x21, 0xff, 0, 0, 1, 200, 0, 0, 0, 0, 6, 0, 50, 9, 9, 0, 0, 0, 7, 0, 50, 9, 9, 9, 9})
	f.Add([]byte{0, 0, 0x12, 0x80, 0, 0, 0xff, 0xff, 10, 0, 0, 0x10, 0x80, 0, 0x10, 0, 0x10, 0x80, 0xf0, 0, 0xff, 0xff, 20, 7, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		clear(rcvShrunk)
		in := &fuzzInput{b: data}
		switch mode := in.byte() % 4; mode {
		case 0, 1, 3:
			fuzzSingle(t, in, mode)
		case 2:
			fuzzPair(t, in)
		}
	})
}

type fuzzInput struct{ b []byte }

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	v := in.b[0]
	in.b = in.b[1:]
	return v
}

func (in *fuzzInput) u16() uint16 { return uint16(in.byte())<<8 | uint16(in.byte()) }
func (in *fuzzInput) u32() uint32 { return uint32(in.u16())<<16 | uint32(in.u16()) }

// checkOut is an Output that checks every segment against the state of the
// Conn that sends it, which conn names (nil for a Listener's own RST or SYN
// cookie: no Conn's rules apply), and forwards it.
type checkOut struct {
	t     *testing.T
	conn  func(local, remote netip.AddrPort, seg *Segment) *Conn
	right map[*Conn]seqnum.Value
	tsval map[*Conn]uint32
	next  func(local, remote netip.AddrPort, seg *Segment, p1, p2 []byte)
}

func newCheckOut(t *testing.T) *checkOut {
	return &checkOut{t: t, right: make(map[*Conn]seqnum.Value), tsval: make(map[*Conn]uint32)}
}

// listenerConn is the Conn in l's queues that sends seg to remote: one l
// made in the call that has not returned it yet (a new connection's
// SYN-ACK carries its ISS). nil for l's own sends, a RST or a SYN cookie.
func listenerConn(l *Listener, remote netip.AddrPort, seg *Segment) *Conn {
	for _, q := range [][]*Conn{l.synQ, l.acceptQ} {
		for i := len(q) - 1; i >= 0; i-- {
			if c := q[i]; c.remote == remote && c.state != StateClosed && (seg.Flags&FlagSYN == 0 || seg.Seq == c.iss) {
				return c
			}
		}
	}
	return nil
}

func (o *checkOut) SendSegment(local, remote netip.AddrPort, seg *Segment, p1, p2 []byte) {
	if c := o.conn(local, remote, seg); c != nil {
		o.check(c, seg, p1, p2)
	}
	if o.next != nil {
		o.next(local, remote, seg, p1, p2)
	}
}

func (o *checkOut) check(c *Conn, seg *Segment, p1, p2 []byte) {
	if n := len(p1) + len(p2); n > 0 && n > c.mss {
		o.t.Fatalf("segment of %d bytes > MSS %d", n, c.mss)
	}
	// SYN-ACKs are left out: their window is unscaled (RFC 7323 §2.2), so a
	// retransmitted SYN-ACK may offer less than a scaled ACK sent before it;
	// a peer that has seen that ACK is synchronized and takes no window from
	// an old SYN-ACK.
	if seg.Flags&(FlagACK|FlagRST|FlagSYN) == FlagACK && c.state != StateClosed {
		r := seg.Ack.Add(seqnum.Size(uint32(seg.Window) << c.rcvWScale))
		if prev, ok := o.right[c]; ok && r.LessThan(prev) {
			o.t.Fatalf("%v: advertised right edge moved left: %d → %d (%s)", c.state, prev, r, segString(seg))
		}
		o.right[c] = r
	}
	if c.tsOn && seg.Flags&FlagRST == 0 && !seg.Options.HasTimestamp {
		o.t.Fatalf("%v: timestamps negotiated, segment without one (%s)", c.state, segString(seg))
	}
	if seg.Options.HasTimestamp && c.state != StateClosed {
		if prev, ok := o.tsval[c]; ok && seqnum.Value(seg.Options.TSVal).LessThan(seqnum.Value(prev)) {
			o.t.Fatalf("%v: TSval went back: %d → %d", c.state, prev, seg.Options.TSVal)
		}
		o.tsval[c] = seg.Options.TSVal
	}
}

func fuzzConfig(in *fuzzInput) Config {
	b := in.byte()
	cfg := Config{NoDelay: b&1 != 0, DisableWindowScale: b&2 != 0}
	if b&4 != 0 {
		cfg.RcvBuf = 1 + int(in.u16())
		cfg.SndBuf = 1 + int(in.u16())
	}
	if b&8 != 0 {
		k := in.byte()
		cfg.MSS = 64 + int(k)*8
		cfg.DisableSACK = k&1 != 0 // SACK is otherwise on: pairs negotiate it
	}
	if b&16 != 0 {
		cfg.DataRetries, cfg.SynRetries, cfg.SynAckRetries = 2, 1, 1
	}
	if b&32 != 0 {
		k := in.byte()
		cfg.MaxOutOfOrderRanges = 1 + int(k%4)
		cfg.MaxOutOfOrderBytes = int(k/4%8) * 500
		if k&32 != 0 {
			// A tight memory budget: pressure from the first ring, a
			// limit a few rings above (a shared one in pair mode would
			// be the same Memory on both sides; each side has its own).
			cfg.Memory = buffer.NewMemory(1, 4096*(1+int(k/64)))
		}
	}
	cfg.DisableTimestamps = b&64 != 0
	if b&128 != 0 {
		k := in.byte()
		cfg.KeepAlive = true
		cfg.KeepIdle = time.Duration(1+k%8) * time.Second
		cfg.KeepInterval = time.Duration(1+k/8%4) * 100 * time.Millisecond
		cfg.KeepCount = 1 + int(k/32%4)
		if k&128 != 0 {
			cfg.UserTimeout = time.Duration(1+k%16) * 500 * time.Millisecond
		}
		cfg.InvalidACKInterval = time.Duration(int8(in.byte())) * time.Millisecond
	}
	return cfg
}

func checkConn(t *testing.T, c *Conn, now time.Time, step int) {
	t.Helper()
	if err := tcbInvariants(c); err != nil {
		t.Fatalf("step %d (%v): %v", step, c.state, err)
	}
	if c.state == StateClosed {
		if d, ok := c.NextDeadline(); ok {
			t.Fatalf("step %d: CLOSED with a timer at %v", step, d)
		}
	}
}

// fuzzSingle: one Conn (active if mode is 0 or 3, passive if 1) against
// segments built from the input, relative to its own variables or not.
func fuzzSingle(t *testing.T, in *fuzzInput, mode byte) {
	out := newCheckOut(t)
	cfg := fuzzConfig(in)
	now := t0
	var c *Conn
	var l *Listener
	out.conn = func(_, remote netip.AddrPort, seg *Segment) *Conn {
		if c == nil && l != nil {
			return listenerConn(l, remote, seg)
		}
		return c
	}
	if mode == 1 {
		l = NewListener(strict(cfg), addrA, 4, out)
		seq, wnd, mss, wsb := seqnum.Value(in.u32()), in.u16(), in.u16(), in.byte()
		syn := Segment{SrcPort: peerPort, DstPort: ourPort, Seq: seq, Flags: FlagSYN, Window: wnd,
			Options: Options{MSS: mss, HasWScale: wsb&1 != 0, SACKPermitted: wsb&2 == 0, WScale: in.byte() % 16}}
		if b := in.byte(); b&1 != 0 {
			syn.Options.HasTimestamp, syn.Options.TSVal = true, in.u32()
		}
		if c = l.HandleSegment(&syn, addrB, issEnv(testISS), now); c == nil {
			return
		}
	} else {
		c = NewConn(strict(cfg), addrA, addrB, seqnum.Value(in.u32()), out)
		c.Connect(now)
	}
	buf := make([]byte, 70000)
	payload := bytesN(1 << 16)
	for step := 0; len(in.b) > 0 && step < 400; step++ {
		switch op := in.byte(); op % 8 {
		case 0, 1: // a segment from the peer
			fb := in.byte()
			flags := Flags(fb) & (FlagFIN | FlagSYN | FlagRST | FlagPSH | FlagACK | FlagURG)
			sel := in.byte()
			var seq, ack seqnum.Value
			off := seqnum.Size(int8(in.byte()))
			switch sel % 4 {
			case 0:
				seq = c.rcvNxt.Add(off)
			case 1:
				seq = c.rcvNxt.Add(seqnum.Size(c.advertisedWnd())).Add(off)
			case 2:
				seq = c.irs.Add(off)
			default:
				seq = seqnum.Value(in.u32())
			}
			switch (sel / 4) % 4 {
			case 0:
				ack = c.sndUna.Add(off)
			case 1:
				ack = c.sndNxt
			case 2:
				ack = c.sndCur.Add(seqnum.Size(int8(in.byte())))
			default:
				ack = seqnum.Value(in.u32())
			}
			wnd := in.u16()
			if sel&0x10 != 0 {
				wnd = 0
			}
			n := int(in.byte())
			if sel&0x20 != 0 {
				n *= 8
			}
			seg := Segment{SrcPort: peerPort, DstPort: ourPort, Seq: seq, Ack: ack, Flags: flags, Window: wnd,
				Urgent: 1, Payload: payload[:n]}
			if flags&FlagSYN != 0 && sel&0x40 != 0 {
				mss, k := in.u16(), in.byte()
				seg.Options = Options{MSS: mss, HasWScale: true, WScale: k % 16, SACKPermitted: k&16 != 0}
			}
			if fb&0x40 != 0 {
				// SACK blocks around SND.UNA, valid or not.
				k := in.byte()
				seg.Options.NumSACK = 1 + int(k%4)
				for i := range seg.Options.NumSACK {
					start := c.sndUna.Add(seqnum.Size(int(int8(in.byte())) * 97))
					seg.Options.SACK[i] = SACKBlock{Start: start, End: start.Add(seqnum.Size(int(in.byte()) * 53))}
				}
			}
			if sel&0x80 != 0 {
				// A timestamp near TS.Recent (older ones exercise PAWS),
				// echoing one near our clock.
				seg.Options.HasTimestamp = true
				seg.Options.TSVal = uint32(seqnum.Value(c.tsRecent).Add(seqnum.Size(int8(in.byte()))))
				seg.Options.TSEcr = c.tsVal(now) - uint32(in.byte())
			}
			c.HandleSegment(&seg, now)
		case 2:
			c.Write(payload[:int(in.u16())%20000], now)
		case 3:
			c.Read(buf[:int(in.u16())], now)
		case 4:
			switch in.byte() % 8 {
			case 0:
				c.Close(now)
			case 1:
				c.Abort(now)
			case 2:
				n := 1 + int(in.u16())
				if n < c.rcvBuf.Readable()+c.rcvBuf.OutOfOrderBytes() {
					rcvShrunk[c] = true
				}
				c.SetRcvBuf(n)
			case 3:
				c.SetNoDelay(in.byte()&1 != 0)
			case 4:
				k := in.byte()
				c.SetKeepAlive(k&1 != 0, now)
				c.SetKeepIdle(time.Duration(k>>1)*100*time.Millisecond, now)
				c.SetKeepCount(int(k >> 5))
				c.SetUserTimeout(time.Duration(k>>4) * time.Second)
			default:
				c.Shutdown(now)
			}
		case 5: // time passes
			now = now.Add(time.Duration(in.u16()) * time.Millisecond)
			c.HandleTimer(now)
		default: // the next timer fires
			if d, ok := c.NextDeadline(); ok {
				now = d
				c.HandleTimer(now)
				if d2, ok := c.NextDeadline(); ok && !d2.After(now) {
					t.Fatalf("step %d: timer still due after HandleTimer (%v)", step, c.state)
				}
			}
		}
		checkConn(t, c, now, step)
		c.TakeEvents()
		c.Info()
	}
}

// pairSide is one Conn of the pair with its stream bookkeeping.
type pairSide struct {
	c        *Conn
	written  int // bytes accepted by Write
	read     int // bytes returned by Read
	readDone bool
	// hi is the end of what this side wrote, over all its incarnations:
	// the most the other side can have read.
	hi int
}

// streamByte is byte i of the stream a side writes.
func streamByte(side, i int) byte { return byte(i*7 + i>>8 + side*101) }

func fuzzPair(t *testing.T, in *fuzzInput) {
	out := newCheckOut(t)
	now := t0
	var queue []flight
	var sides [2]*pairSide
	cfgA, cfgB := fuzzConfig(in), fuzzConfig(in)
	a := NewConn(strict(cfgA), addrA, addrB, seqnum.Value(in.u32()), out)
	var lis *Listener
	pb := in.byte()
	passive := pb&1 == 0
	if passive {
		if pb&2 != 0 {
			cfgB.SynCookies = SynCookiesAlways // every connection made from a cookie
		}
		lis = NewListener(strict(cfgB), addrB, 2, out)
	} else {
		sides[1] = &pairSide{c: NewConn(strict(cfgB), addrB, addrA, seqnum.Value(in.u32()), out)}
	}
	sides[0] = &pairSide{c: a}
	side := func(c *Conn) int {
		if c == a {
			return 0
		}
		return 1
	}
	out.conn = func(local, remote netip.AddrPort, seg *Segment) *Conn {
		switch {
		case local == addrA:
			return a
		case sides[1] != nil && sides[1].c.state != StateClosed:
			return sides[1].c
		case lis != nil:
			return listenerConn(lis, remote, seg)
		}
		return nil
	}
	out.next = func(local, _ netip.AddrPort, seg *Segment, p1, p2 []byte) {
		s := *seg
		s.Payload = append(append([]byte(nil), p1...), p2...)
		to := 1
		if local == addrB {
			to = 0
		}
		queue = append(queue, flight{to: &node{name: fmt.Sprint(to)}, seg: s})
	}
	deliver := func(f flight) {
		to := 0
		if f.to.name == "1" {
			to = 1
		}
		ps := sides[to]
		switch {
		case ps != nil && ps.c.state != StateClosed:
			ps.c.HandleSegment(&f.seg, now)
		case to == 1 && lis != nil:
			if c := lis.HandleSegment(&f.seg, addrA, issEnv(seqnum.Value(1<<31+now.UnixNano())), now); c != nil {
				// A new incarnation (the old side 1 was closed). Its
				// byte j is stream byte j if side 0 is still opening (it
				// will synchronize with this one, or with an old one
				// whose SYN-ACK is still in flight, each from its own
				// start). Once side 0 is synchronized, only a cookie can
				// make one, from a later segment of side 0 (see below):
				// its ISS lies as far into the old stream as side 0 had
				// acknowledged, so it writes from there (the same bytes
				// the old one had there). Side 0 may still read the old
				// one's data in flight: hi keeps the most written.
				ns := &pairSide{c: c}
				if old := sides[1]; old != nil {
					ns.hi = old.hi
					if a.state.synchronized() {
						ns.written = int(uint32(c.iss) - uint32(a.irs))
					}
				}
				// It reads side 0's stream from its IRS on: 0 for the
				// first, but a cookie (RFC 4987 §3.6) also checks out for
				// a later segment of the old connection whose SEQ and ACK
				// moved by the same amount (the cookie arithmetic cancels
				// it, as in Linux), so an incarnation can start mid-stream,
				// or past side 0's FIN (which takes a sequence number).
				ns.read = min(int(uint32(c.irs)-uint32(a.iss)), sides[0].hi)
				sides[1] = ns
			}
		}
	}
	a.Connect(now)
	if !passive {
		if in.byte()&1 == 0 {
			sides[1].c.Connect(now) // simultaneous open
		}
	}
	buf := make([]byte, 70000)
	wbuf := make([]byte, 70000)
	for step := 0; len(in.b) > 0 && step < 600; step++ {
		op := in.byte()
		who := int(op>>7) & 1
		ps := sides[who]
		switch op & 0x7f % 12 {
		case 0, 1, 2: // deliver the next segment
			if len(queue) > 0 {
				f := queue[0]
				queue = queue[1:]
				deliver(f)
			}
		case 3: // lose it
			if len(queue) > 0 {
				queue = queue[1:]
			}
		case 4: // duplicate it
			if len(queue) > 0 {
				queue = append(queue, queue[0])
			}
		case 5: // reorder
			if len(queue) > 1 {
				queue[0], queue[1] = queue[1], queue[0]
			}
		case 6: // Write
			if ps != nil {
				n := int(in.u16()) % 20000
				for i := range n {
					wbuf[i] = streamByte(who, ps.written+i)
				}
				k, _ := ps.c.Write(wbuf[:n], now)
				ps.written += k
				ps.hi = max(ps.hi, ps.written)
			}
		case 7: // Read and verify
			if ps != nil {
				n, err := ps.c.Read(buf[:int(in.u16())], now)
				for i := range n {
					if buf[i] != streamByte(1-who, ps.read+i) {
						t.Fatalf("step %d: side %d read corrupt byte at %d", step, who, ps.read+i)
					}
				}
				ps.read += n
				if other := sides[1-who]; other == nil || ps.read > other.hi {
					if ps.read > 0 {
						t.Fatalf("step %d: side %d read %d bytes, more than written", step, who, ps.read)
					}
				}
				_ = err
			}
		case 8: // time passes
			now = now.Add(time.Duration(in.u16()) * time.Millisecond)
			for _, p := range sides {
				if p != nil {
					p.c.HandleTimer(now)
				}
			}
		case 9: // the next timer fires
			var next time.Time
			for _, p := range sides {
				if p != nil {
					if d, ok := p.c.NextDeadline(); ok && (next.IsZero() || d.Before(next)) {
						next = d
					}
				}
			}
			if !next.IsZero() {
				now = next
				for _, p := range sides {
					if p != nil {
						p.c.HandleTimer(now)
					}
				}
			}
		case 10:
			if ps != nil {
				switch in.byte() % 6 {
				case 0:
					ps.c.Close(now)
				case 1:
					ps.c.Abort(now)
				default:
					ps.c.Shutdown(now)
				}
			}
		case 11:
			if lis != nil {
				lis.Accept()
			}
		}
		for _, p := range sides {
			if p != nil {
				checkConn(t, p.c, now, step)
				p.c.TakeEvents()
			}
		}
		if len(queue) > 10000 {
			t.Fatal("segment storm")
		}
	}
	_ = side
}
