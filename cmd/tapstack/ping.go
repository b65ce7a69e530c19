package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/socket"
)

func cmdPing(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("ping", "ADDR", stderr)
	count := c.fs.Int("c", 4, "stop after this many requests (0: until interrupted)")
	interval := c.fs.Duration("i", time.Second, "time between requests")
	size := c.fs.Int("s", 56, "data bytes per request")
	wait := c.fs.Duration("W", 2*time.Second, "how long to wait for the last reply")
	if !c.parse(args, 1) {
		return 2
	}
	dst, err := netip.ParseAddr(c.fs.Arg(0))
	if err != nil || !dst.Is4() {
		return c.fail(2, "%q is not an IPv4 address", c.fs.Arg(0))
	}
	if *size < 0 || *size > ipv4.MaxTotalLen-ipv4.HeaderMinLen-ipv4.ICMPHeaderLen {
		return c.fail(2, "-s %d: want 0 to 65507", *size)
	}
	c.link.target = dst
	n, _, code := c.start()
	if n == nil {
		return code
	}
	defer n.Close()
	fd, err := socket.Socket(n.st, socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
	if err != nil {
		return c.fail(1, "%v", err)
	}
	defer fd.Close()
	return pingLoop(ctx, fd, dst, *count, *interval, *size, *wait, stdout)
}

// pingLoop sends echo requests and prints replies the way iputils ping does.
func pingLoop(ctx context.Context, fd *socket.FD, dst netip.Addr, count int, interval time.Duration, size int, wait time.Duration, out io.Writer) int {
	fmt.Fprintf(out, "PING %v (%v) %d(%d) bytes of data.\n", dst, dst, size, size+ipv4.ICMPHeaderLen+ipv4.HeaderMinLen)
	sentAt := map[uint16]time.Time{}
	replies := make(chan string, 16)
	received, errorsSeen := 0, 0
	var rtts []time.Duration
	go func() {
		buf := make([]byte, 65536)
		for {
			nr, from, err := fd.RecvFrom(buf, 0)
			if err != nil {
				close(replies)
				return
			}
			replies <- string(buf[:nr]) + "\x00" + from.Addr().String()
		}
	}()
	handle := func(r string) {
		i := len(r) - 1
		for r[i] != 0 {
			i--
		}
		m, from := ipv4.ICMP(r[:i]), r[i+1:]
		switch m.Type() {
		case ipv4.TypeEchoReply:
			seq := m.Seq()
			t0, ok := sentAt[seq]
			if !ok {
				return
			}
			delete(sentAt, seq)
			rtt := time.Since(t0)
			rtts = append(rtts, rtt)
			received++
			fmt.Fprintf(out, "%d bytes from %s: icmp_seq=%d time=%.3f ms\n", len(m), from, seq, float64(rtt.Microseconds())/1000)
		case ipv4.TypeDestUnreachable, ipv4.TypeTimeExceeded:
			errorsSeen++
			what := "Destination Unreachable"
			switch {
			case m.Type() == ipv4.TypeTimeExceeded:
				what = "Time to live exceeded"
			case m.Code() == ipv4.CodeHostUnreachable:
				what = "Destination Host Unreachable"
			case m.Code() == ipv4.CodeNetUnreachable:
				what = "Destination Net Unreachable"
			}
			seq := uint16(0)
			if orig, tp, err := ipv4.Quoted(m); err == nil && orig.Protocol() == ipv4.ProtoICMP {
				seq = binary.BigEndian.Uint16(tp[6:8])
			}
			fmt.Fprintf(out, "From %s icmp_seq=%d %s\n", from, seq, what)
		}
	}
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	req := make([]byte, ipv4.ICMPHeaderLen+size)
	req[0] = ipv4.TypeEcho
	for i := 8; i < len(req); i++ {
		req[i] = byte(i)
	}
	sent := 0
	var deadline <-chan time.Time
	due := true // a request is due: the first at once, then one per tick
loop:
	for {
		if due && deadline == nil && (count == 0 || sent < count) {
			due = false
			sent++
			binary.BigEndian.PutUint16(req[6:8], uint16(sent))
			if len(req) >= 16 {
				binary.BigEndian.PutUint64(req[8:16], uint64(time.Now().UnixNano()))
			}
			sentAt[uint16(sent)] = time.Now()
			if _, err := fd.SendTo(req, 0, netip.AddrPortFrom(dst, 0)); err != nil {
				fmt.Fprintf(out, "ping: sendto: %v\n", err)
			}
			if count != 0 && sent == count {
				deadline = time.After(wait)
			}
		}
		select {
		case <-ctx.Done():
			break loop
		case r, ok := <-replies:
			if !ok {
				break loop
			}
			handle(r)
			if count != 0 && received+errorsSeen >= count {
				break loop
			}
			continue
		case <-deadline:
			break loop
		case <-tick.C:
			due = true
		}
	}
	loss := 0.0
	if sent > 0 {
		loss = 100 * float64(sent-received) / float64(sent)
	}
	fmt.Fprintf(out, "\n--- %v ping statistics ---\n", dst)
	fmt.Fprintf(out, "%d packets transmitted, %d received, %.0f%% packet loss, time %dms\n", sent, received, loss, time.Since(start).Milliseconds())
	if len(rtts) > 0 {
		lo, hi, sum := rtts[0], rtts[0], time.Duration(0)
		for _, r := range rtts {
			lo, hi, sum = min(lo, r), max(hi, r), sum+r
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		fmt.Fprintf(out, "rtt min/avg/max = %.3f/%.3f/%.3f ms\n", ms(lo), ms(sum/time.Duration(len(rtts))), ms(hi))
	}
	if received == 0 {
		return 1
	}
	return 0
}
