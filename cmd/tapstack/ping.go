package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
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
	if err != nil || dst.Is4In6() || dst.IsUnspecified() {
		return c.fail(2, "%q is not an IPv4 or IPv6 address (like 10.0.0.1, fd00::1 or fe80::1%%tap0)", c.fs.Arg(0))
	}
	v6 := dst.Is6()
	maxSize := ipv4.MaxTotalLen - ipv4.HeaderMinLen - ipv4.ICMPHeaderLen
	if v6 {
		maxSize = ipv6.MaxPayloadLen - ipv6.ICMPHeaderLen
	}
	if *size < 0 || *size > maxSize {
		return c.fail(2, "-s %d: want 0 to %d", *size, maxSize)
	}
	c.link.target = dst
	n, _, code := c.start()
	if n == nil {
		return code
	}
	defer n.Close()
	domain, proto := socket.AF_INET, socket.IPPROTO_ICMP
	if v6 {
		domain, proto = socket.AF_INET6, socket.IPPROTO_ICMPV6
		waitSource6(ctx, n.st, dst)
	}
	fd, err := socket.Socket(n.st, domain, socket.SOCK_DGRAM, proto)
	if err != nil {
		return c.fail(1, "%v", err)
	}
	defer fd.Close()
	return pingLoop(ctx, fd, dst, *count, *interval, *size, *wait, stdout)
}

// dadWait bounds how long a command waits for an IPv6 source address: the
// stack's DAD (RFC 4862 §5.4) takes about a second.
const dadWait = 5 * time.Second

// waitSource6 waits, at most dadWait, until the stack has a usable source
// address for dst (its addresses start tentative, RFC 4862 §5.4), so that
// the first packet is not refused with ENETUNREACH.
func waitSource6(ctx context.Context, st *stack.Stack, dst netip.Addr) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	give := time.After(dadWait)
	for !st.SourceAddr6(dst).IsValid() {
		select {
		case <-ctx.Done():
			return
		case <-give:
			return
		case <-tick.C:
		}
	}
}

// echoFamily is what pingLoop needs to know of ICMP or ICMPv6.
type echoFamily struct {
	request, reply uint8
	hdrLen         int // the IP header in front of the ICMP message
	// unreachable names an error message as iputils ping does; "" for a
	// message that is neither an echo reply nor an error.
	unreachable func(typ, code uint8) string
	quotedSeq   func(m []byte) uint16 // the sequence number of the request an error quotes
}

var (
	echo4 = echoFamily{ipv4.TypeEcho, ipv4.TypeEchoReply, ipv4.HeaderMinLen, func(typ, code uint8) string {
		switch {
		case typ == ipv4.TypeTimeExceeded:
			return "Time to live exceeded"
		case typ != ipv4.TypeDestUnreachable:
			return ""
		case code == ipv4.CodeHostUnreachable:
			return "Destination Host Unreachable"
		case code == ipv4.CodeNetUnreachable:
			return "Destination Net Unreachable"
		}
		return "Destination Unreachable"
	}, func(m []byte) uint16 {
		if orig, tp, err := ipv4.Quoted(ipv4.ICMP(m)); err == nil && orig.Protocol() == ipv4.ProtoICMP {
			return binary.BigEndian.Uint16(tp[6:8])
		}
		return 0
	}}
	// echo6 names errors as iputils ping -6 does (RFC 4443 §3.1, §3.3).
	echo6 = echoFamily{ipv6.TypeEchoRequest, ipv6.TypeEchoReply, ipv6.HeaderLen, func(typ, code uint8) string {
		switch {
		case typ == ipv6.TypeTimeExceeded:
			return "Time exceeded: Hop limit"
		case typ != ipv6.TypeDestUnreachable:
			return ""
		case code == ipv6.CodeNoRoute:
			return "Destination unreachable: No route"
		case code == ipv6.CodeAdminProhibited:
			return "Destination unreachable: Administratively prohibited"
		case code == ipv6.CodeAddrUnreachable:
			return "Destination unreachable: Address unreachable"
		case code == ipv6.CodePortUnreachable:
			return "Destination unreachable: Port unreachable"
		}
		return "Destination unreachable"
	}, func(m []byte) uint16 {
		// The quote: our IPv6 header, then the echo request's header.
		if q := m[ipv6.ICMPHeaderLen:]; len(q) >= ipv6.HeaderLen+ipv6.ICMPHeaderLen && q[6] == ipv6.ProtoICMPv6 {
			return binary.BigEndian.Uint16(q[ipv6.HeaderLen+6:])
		}
		return 0
	}}
)

// pingLoop sends echo requests and prints replies the way iputils ping does.
func pingLoop(ctx context.Context, fd *socket.FD, dst netip.Addr, count int, interval time.Duration, size int, wait time.Duration, out io.Writer) int {
	fam := echo4
	if dst.Is6() {
		fam = echo6
	}
	fmt.Fprintf(out, "PING %v (%v) %d(%d) bytes of data.\n", dst, dst, size, size+ipv4.ICMPHeaderLen+fam.hdrLen)
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
		m, from := []byte(r[:i]), r[i+1:]
		if len(m) < ipv4.ICMPHeaderLen {
			return
		}
		if m[0] == fam.reply {
			seq := binary.BigEndian.Uint16(m[6:8])
			t0, ok := sentAt[seq]
			if !ok {
				return
			}
			delete(sentAt, seq)
			rtt := time.Since(t0)
			rtts = append(rtts, rtt)
			received++
			fmt.Fprintf(out, "%d bytes from %s: icmp_seq=%d time=%.3f ms\n", len(m), from, seq, float64(rtt.Microseconds())/1000)
			return
		}
		if what := fam.unreachable(m[0], m[1]); what != "" {
			errorsSeen++
			fmt.Fprintf(out, "From %s icmp_seq=%d %s\n", from, fam.quotedSeq(m), what)
		}
	}
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	req := make([]byte, ipv4.ICMPHeaderLen+size)
	req[0] = fam.request
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
