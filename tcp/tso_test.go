package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp/seqnum"
)

// The size of a segment of several MSS is Linux's tcp_tso_autosize:
// about 1 ms at the pacing rate (cwnd/SRTT, doubled in slow start), plus
// GSOMaxSize >> (min RTT in µs >> 9), within GSOMaxSize, in whole MSS,
// at least two; without GSOMaxSize (or less than two MSS of it), one MSS.
func TestTSO_SizeGoal_AutosizeAsLinux(t *testing.T) {
	const mss = 1460
	for _, c := range []struct {
		name   string
		gsoMax int
		rtt    time.Duration // SRTT and min RTT; 0: no sample
		cwnd   int
		want   int
	}{
		{"no GSO", 0, time.Millisecond, 10 * mss, mss},
		{"GSO under two MSS", 2*mss - 1, time.Millisecond, 10 * mss, mss},
		{"no RTT yet: the minimum", 65000, 0, 10 * mss, 2 * mss},
		// 100 µs >> 9 = 0: the whole GSOMaxSize, 44 MSS.
		{"short RTT", 65000, 100 * time.Microsecond, 10 * mss, 44 * mss},
		// 2 ms: 14600·2/2ms = 14.6 MB/s >> 10 = 14257, plus 65000 >> 3 = 8125: 15 MSS.
		{"2 ms RTT", 65000, 2 * time.Millisecond, 10 * mss, 15 * mss},
		// 100 ms: 292 kB/s >> 10 = 285 and no share of GSOMaxSize: the minimum.
		{"long RTT", 65000, 100 * time.Millisecond, 10 * mss, 2 * mss},
		// 100 ms, cwnd 2000 MSS above ssthresh/2 (ratio 1.2): 35 MB/s >> 10 = 34218: 23 MSS.
		{"long RTT, large cwnd", 65000, 100 * time.Millisecond, 2000 * mss, 23 * mss},
	} {
		h := newEstablished(t, Config{GSOMaxSize: c.gsoMax})
		conn := h.c
		conn.hasRTT, conn.srtt, conn.minRTT = c.rtt > 0, c.rtt, c.rtt
		ssthresh := conn.cc.ssthresh() // the initial, "arbitrarily high" (RFC 5681 §3.1)
		if c.cwnd > 10*mss {
			ssthresh = c.cwnd
		}
		conn.cc.init(c.cwnd, ssthresh)
		if got := conn.sizeGoal(mss); got != c.want {
			t.Errorf("%s: sizeGoal = %d (%d MSS), want %d (%d MSS)", c.name, got, got/mss, c.want, c.want/mss)
		}
	}
}

// With GSO the sender puts several MSS in one segment and marks it with
// the MSS it stands for (Segment.GSOSize): a write of 5 MSS and 100
// bytes leaves, on a 100 ms path, in segments of the two-MSS minimum,
// the last with the short tail that ends the write (Nagle lets the end
// of a write go), PSH on it only.
func TestTSO_Segments_SizedAndMarked(t *testing.T) {
	h := newEstablished(t, Config{GSOMaxSize: 65000})
	h.c.srtt, h.c.minRTT = 100*time.Millisecond, 100*time.Millisecond
	h.c.Write(bytesN(5*1460+100), h.now)
	segs := h.out.take()
	want := []struct {
		n, gso int
		psh    bool
	}{{2920, 1460, false}, {2920, 1460, false}, {1560, 1460, true}}
	if len(segs) != len(want) {
		t.Fatalf("%d segments, want %d", len(segs), len(want))
	}
	for i, w := range want {
		s := segs[i]
		if len(s.Payload) != w.n || s.GSOSize != w.gso || (s.Flags&FlagPSH != 0) != w.psh {
			t.Errorf("segment %d: %d bytes GSOSize %d flags %v, want %d bytes GSOSize %d PSH %v", i, len(s.Payload), s.GSOSize, s.Flags, w.n, w.gso, w.psh)
		}
	}
}

// A short tail that Nagle would hold on its own is held inside a segment
// of several MSS too (Linux's tcp_mss_split_point): with an earlier
// short segment unacknowledged (Minshall), 1560 new bytes go as one MSS,
// an ordinary segment, and the 100 wait for the ACK.
func TestTSO_ShortTail_HeldByNagle(t *testing.T) {
	h := newEstablished(t, Config{GSOMaxSize: 65000})
	h.c.Write(bytesN(100), h.now)
	if segs := h.out.take(); len(segs) != 1 || len(segs[0].Payload) != 100 {
		t.Fatalf("first write: %d segments", len(segs))
	}
	h.c.Write(bytesN(1560), h.now)
	segs := h.out.take()
	if len(segs) != 1 || len(segs[0].Payload) != 1460 || segs[0].GSOSize != 0 {
		for _, s := range segs {
			t.Logf("%s", segString(&s))
		}
		t.Fatalf("%d segments, want one of 1460 bytes without GSOSize", len(segs))
	}
	h.in(h.seg(FlagACK)) // acknowledges everything: the tail may go
	segs = h.out.take()
	if len(segs) != 1 || len(segs[0].Payload) != 100 {
		t.Fatalf("after the ACK: %d segments, want the 100-byte tail", len(segs))
	}
}

// A retransmission of a segment of several MSS counts as the segments
// it stands for (Linux counts tcp_skb_pcount in RetransSegs), and each
// may come back as a D-SACK.
func TestTSO_CountRetransmit_CountsSegments(t *testing.T) {
	h := newEstablished(t, Config{GSOMaxSize: 65000})
	before := h.c.Info().Retransmits
	h.c.countRetransmit(3*1460 + 1)
	if got := h.c.Info().Retransmits - before; got != 4 {
		t.Errorf("Retransmits +%d for 3 MSS and a byte, want +4", got)
	}
}

// A hole of several MSS in SACK recovery goes out in segments of several
// MSS too (retransmissions may be TSO, as Linux's), but never more of it
// than cwnd − pipe holds in whole segments (RFC 6675 §5 (C)): the flight
// stays within cwnd. With cwnd at 40 MSS, one 40-MSS segment goes;
// segments 0-5 of it are lost; the receiver SACKs 6-9 segment by
// segment, then 10-13 (PRR's room is one MSS then: one goes), then 14-39
// at once (one ACK for a GRO super-segment, as Linux's): the rest of the
// hole goes as one segment.
func TestTSO_HoleResentInSegmentsWithinCwnd(t *testing.T) {
	h := newSACKEstablishedWith(t, Config{DisableTimestamps: true, GSOMaxSize: 65000})
	h.c.cc.init(40*1460, h.c.cc.ssthresh())
	h.c.Write(bytesN(40*1460), h.now)
	if segs := h.out.take(); len(segs) != 1 || len(segs[0].Payload) != 40*1460 {
		t.Fatalf("%d segments, want the window as one", len(segs))
	}
	h.at(10 * ms)
	var rx []Segment
	for _, k := range []int{7, 8, 9, 10, 14, 40} {
		h.in(h.sackAck(segAt(0), segAt(6), segAt(k)))
		rx = append(rx, h.out.take()...)
		if p, cw := h.c.pipe(), h.c.cc.cwnd(); h.c.inRecovery && p > cw {
			t.Fatalf("after the SACK of 6-%d: pipe %d above cwnd %d", k-1, p, cw)
		}
	}
	next, multi := segAt(0), false
	for _, s := range rx {
		if !s.Seq.LessThan(segAt(6)) {
			continue // the tail's rescue (RFC 6675 §4 rule 4)
		}
		if s.Seq != next || len(s.Payload)%1460 != 0 || (len(s.Payload) > 1460) != (s.GSOSize == 1460) {
			t.Fatalf("resent %s GSOSize %d, want whole MSSs of the hole from %d in order", segString(&s), s.GSOSize, next)
		}
		multi = multi || len(s.Payload) > 1460
		next = s.Seq.Add(seqnum.Size(len(s.Payload)))
	}
	if next != segAt(6) || !multi {
		t.Fatalf("resent up to %d, one of several MSS %v; want the hole up to %d, in at least one segment of several MSS", next, multi, segAt(6))
	}
}

// Segments of several MSS are bounded by what the family's length field
// carries: an IPv4 connection's payload by 65535 less the largest IPv4
// and TCP headers (65415), an IPv6 connection's by IPv6's Payload Length,
// which counts only the TCP header (RFC 8200 §3: 65535 - 60 = 65475), on
// a short path that earns the whole GSOMaxSize (here larger than both).
func TestTSO_SizeGoal_BoundedByTheFamilysLengthField(t *testing.T) {
	for _, c := range []struct {
		local, remote string
		mss, want     int
	}{
		{"10.0.0.1:40000", "10.0.0.2:80", 1000, 65 * 1000},
		{"[2001:db8::1]:40000", "[2001:db8::2]:80", 1000, 65 * 1000},
		{"10.0.0.1:40000", "10.0.0.2:80", 65415 / 3, 3 * (65415 / 3)},
		{"[2001:db8::1]:40000", "[2001:db8::2]:80", 65415 / 3, 3 * (65415 / 3)},
		// 65475/3: three fit IPv6's bound, only two IPv4's.
		{"10.0.0.1:40000", "10.0.0.2:80", 65475 / 3, 2 * (65475 / 3)},
		{"[2001:db8::1]:40000", "[2001:db8::2]:80", 65475 / 3, 3 * (65475 / 3)},
	} {
		a, b := netip.MustParseAddrPort(c.local), netip.MustParseAddrPort(c.remote)
		conn := NewConn(Config{GSOMaxSize: 1 << 20}.withDefaults(), a, b, testISS, &recorder{})
		conn.hasRTT, conn.minRTT = true, 100*time.Microsecond
		if got := conn.sizeGoal(c.mss); got != c.want {
			t.Errorf("%s, MSS %d: sizeGoal = %d, want %d", c.remote, c.mss, got, c.want)
		}
		if got := conn.sizeGoal(c.mss); got+HeaderMaxLen > 65535 || b.Addr().Is4() && got+HeaderMaxLen+60 > 65535 {
			t.Errorf("%s: a segment of %d payload octets overflows the length field", c.remote, got)
		}
	}
}
