package integration

// Robustness in a network namespace (issue 4): a SYN flood from random
// sources, blind injection into a live connection, loss and duplication on
// the TAP.
//
// Containment: a test namespace holds only lo and the daemon's TAP, has no
// route beyond 10.0.0.0/24 and does not forward (ip_forward=0); confined
// checks all three before any spoofed or flooded packet is sent. The stack
// answers spoofed sources through its gateway, the namespace's own kernel
// side, which drops what is not addressed to it. Every flood and every
// nftables rule ends with the namespace.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/internal/nstest"
)

// confined checks that nothing sent inside ns can leave it: the only
// interfaces are lo and the TAP, no route reaches beyond the TAP's subnet,
// and the kernel side does not forward. It returns the TAP's name and index.
func confined(t *testing.T, ns *nstest.NS) (string, int) {
	t.Helper()
	var ifs []net.Interface
	if err := ns.Do(func() (err error) { ifs, err = net.Interfaces(); return err }); err != nil {
		t.Fatal(err)
	}
	var tap *net.Interface
	for i := range ifs {
		switch {
		case ifs[i].Flags&net.FlagLoopback != 0:
		case tap == nil:
			tap = &ifs[i]
		default:
			t.Fatalf("namespace has interfaces besides lo and the TAP: %v", ifs)
		}
	}
	if tap == nil {
		t.Fatalf("no TAP in the namespace: %v", ifs)
	}
	if out, err := run(t, ns, "cat", "/proc/sys/net/ipv4/ip_forward"); err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("ip_forward in the namespace: %q, %v; want 0", out, err)
	}
	out, err := run(t, ns, "ip", "-4", "route", "show", "table", "all", "type", "unicast")
	if err != nil {
		t.Fatalf("ip route: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "10.0.0.0/24 dev "+tap.Name+" ") {
			t.Fatalf("namespace has a route beyond the TAP's subnet: %q", line)
		}
	}
	if out, err := run(t, ns, "ip", "route", "get", "192.0.2.1"); err == nil {
		t.Fatalf("192.0.2.1 is routable from the namespace:\n%s", out)
	}
	return tap.Name, tap.Index
}

// tcpStats fetches the stack's TCP counters from /stats.
func tcpStats(t *testing.T, ns *nstest.NS) map[string]uint64 {
	t.Helper()
	out := curl(t, ns, "--max-time", "10", "http://"+stackAddr+"/stats")
	var s struct {
		TCP map[string]uint64 `json:"tcp"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.TCP == nil {
		t.Fatalf("/stats: %v\n%s", err, out)
	}
	return s.TCP
}

var hpingSent = regexp.MustCompile(`(\d+) packets transmitted`)

func TestSYNFlood_CurlKeepsConnecting(t *testing.T) {
	needTool(t, "hping3")
	needTool(t, "curl")
	ns := nstest.New(t)
	startDaemon(t, ns)
	confined(t, ns)

	// A SYN every 20µs asked (hping3 manages about 10,000 a second here),
	// each from a random source. --flood (over 100,000 a second) overflows
	// the TAP's transmit queue, which then drops the legitimate SYNs too:
	// that measures the link, not the SYN queue.
	floodCtx, stopFlood := context.WithTimeout(context.Background(), 20*time.Second) // a bound, not a wait
	defer stopFlood()
	flood := ns.Command(floodCtx, "hping3", "-q", "-S", "-p", "80", "-i", "u20", "--rand-source", stackAddr)
	flood.Cancel = func() error { return flood.Process.Signal(syscall.SIGINT) } // hping3 prints its count on SIGINT
	flood.WaitDelay = 5 * time.Second
	floodOut := &syncBuf{}
	flood.Stdout, flood.Stderr = floodOut, floodOut
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	floodStart := time.Now()
	floodDone := make(chan struct{})
	go func() { flood.Wait(); close(floodDone) }()
	defer func() { stopFlood(); <-floodDone }()

	// Wait until the SYN queue has filled: the listener sends cookies.
	for deadline := time.Now().Add(10 * time.Second); tcpStats(t, ns)["syncookies_sent"] == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no SYN cookie 10s into the flood:\n%s", floodOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	filledAfter := time.Since(floodStart)

	const tries = 30
	ok, slowest := 0, 0.0
	var failures []string
	for i := 0; i < tries; i++ {
		out, err := run(t, ns, "curl", "-sS", "--max-time", "5", "-o", "/dev/null",
			"-w", "%{http_code} %{size_download} %{time_total}", fmt.Sprintf("http://%s/bytes/10", stackAddr))
		var code, size int
		var secs float64
		if _, serr := fmt.Sscanf(out, "%d %d %g", &code, &size, &secs); err == nil && serr == nil && code == 200 && size == 10 {
			ok++
			slowest = max(slowest, secs)
		} else {
			failures = append(failures, fmt.Sprintf("curl %d: %v: %s", i, err, out))
		}
	}
	select {
	case <-floodDone:
		t.Fatalf("hping3 ended before the last curl, so not every curl met the flood:\n%s", floodOut)
	default:
	}
	stopFlood()
	<-floodDone
	floodFor := time.Since(floodStart)

	st := tcpStats(t, ns)
	sent := "?"
	if m := hpingSent.FindStringSubmatch(floodOut.String()); m != nil {
		sent = m[1]
	}
	t.Logf("flood: %s SYNs from random sources in %v (SYN queue full after %v); legitimate curl: %d/%d connected and fetched, slowest %.3fs",
		sent, floodFor.Round(time.Millisecond), filledAfter.Round(time.Millisecond), ok, tries, slowest)
	t.Logf("counters: syncookies_sent=%d syncookies_recv=%d syncookies_failed=%d passive_opens=%d listen_overflows=%d listen_drops=%d",
		st["syncookies_sent"], st["syncookies_recv"], st["syncookies_failed"], st["passive_opens"], st["listen_overflows"], st["listen_drops"])
	if ok != tries {
		t.Errorf("%d of %d curls failed during the flood:\n%s", tries-ok, tries, strings.Join(failures, "\n"))
	}
	// A full SYN queue holds backlog+1 = 4097 embryonic connections; every
	// SYN beyond that is answered with a cookie.
	if st["syncookies_sent"] < 1000 {
		t.Errorf("syncookies_sent = %d: the SYN queue never filled", st["syncookies_sent"])
	}
}

// segment is a TCP segment seen on the TAP.
type segment struct {
	at           time.Time
	src, dst     netip.AddrPort
	seq, ack     uint32
	flags        uint8
	window       uint16
	payload      int    // payload length
	payloadHead  string // the payload's first 16 bytes
	hasTS        bool   // a timestamp option (RFC 7323), tsVal and tsEcr
	tsVal, tsEcr uint32
}

// TCP flag bits.
const (
	finFlag = 0x01
	synFlag = 0x02
	rstFlag = 0x04
	pshFlag = 0x08
	ackFlag = 0x10
)

func (s segment) String() string {
	var f []string
	for _, b := range []struct {
		bit  uint8
		name string
	}{{synFlag, "S"}, {finFlag, "F"}, {rstFlag, "R"}, {pshFlag, "P"}, {ackFlag, "."}} {
		if s.flags&b.bit != 0 {
			f = append(f, b.name)
		}
	}
	return fmt.Sprintf("%v > %v [%s] seq %d ack %d win %d len %d", s.src, s.dst, strings.Join(f, ""), s.seq, s.ack, s.window, s.payload)
}

// parseFrame decodes an Ethernet frame carrying IPv4 and TCP.
func parseFrame(b []byte) (segment, bool) {
	if len(b) < 14+20 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return segment{}, false
	}
	ip := b[14:]
	ihl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || total < ihl+20 || total > len(ip) || ip[9] != 6 {
		return segment{}, false
	}
	src, _ := netip.AddrFromSlice(ip[12:16])
	dst, _ := netip.AddrFromSlice(ip[16:20])
	tcp := ip[ihl:total]
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return segment{}, false
	}
	s := segment{
		src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp[0:])),
		dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:])),
		seq:     binary.BigEndian.Uint32(tcp[4:]),
		ack:     binary.BigEndian.Uint32(tcp[8:]),
		flags:   tcp[13],
		window:  binary.BigEndian.Uint16(tcp[14:]),
		payload: len(tcp) - off,
	}
	s.payloadHead = string(tcp[off:min(len(tcp), off+16)])
	for o := tcp[20:off]; len(o) > 0; {
		switch {
		case o[0] == 0: // EOL
			o = nil
		case o[0] == 1: // NOP
			o = o[1:]
		case len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o):
			o = nil
		default:
			if o[0] == 8 && o[1] == 10 {
				s.hasTS, s.tsVal, s.tsEcr = true, binary.BigEndian.Uint32(o[2:]), binary.BigEndian.Uint32(o[6:])
			}
			o = o[o[1]:]
		}
	}
	return s, true
}

// capture records the TCP segments crossing a TAP, both ways, through an
// AF_PACKET socket opened inside the namespace.
type capture struct {
	fd   int
	mu   sync.Mutex
	cond *sync.Cond // signalled when a segment is added
	segs []segment
	done chan struct{}
}

func startCapture(t *testing.T, ns *nstest.NS, ifindex int) *capture {
	t.Helper()
	proto := int(htons(unix.ETH_P_ALL))
	c := &capture{done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	err := ns.Do(func() (err error) {
		if c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		return unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex})
	})
	if err != nil {
		t.Fatalf("AF_PACKET capture: %v", err)
	}
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	stop := make(chan struct{})
	go func() {
		defer close(c.done)
		buf := make([]byte, 65536)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, _, err := unix.Recvfrom(c.fd, buf, 0)
			if err != nil {
				continue // the 100ms timeout, so that stop is seen
			}
			if s, ok := parseFrame(buf[:n]); ok {
				s.at = time.Now()
				c.mu.Lock()
				c.segs = append(c.segs, s)
				c.cond.Broadcast()
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-c.done; unix.Close(c.fd) })
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// waitNew waits until the capture records another segment, or for at
// most d (a segment recorded just before the call is not noticed: the
// caller re-checks after d).
func (c *capture) waitNew(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	timedOut := false
	stop := time.AfterFunc(d, func() { c.mu.Lock(); timedOut = true; c.cond.Broadcast(); c.mu.Unlock() })
	defer stop.Stop()
	for n := len(c.segs); len(c.segs) == n && !timedOut; {
		c.cond.Wait()
	}
}

// between returns the segments from src to dst seen since from.
func (c *capture) between(src, dst netip.AddrPort, from time.Time) []segment {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []segment
	for _, s := range c.segs {
		if s.src == src && s.dst == dst && !s.at.Before(from) {
			out = append(out, s)
		}
	}
	return out
}

// tcpChecksum is the Internet checksum of tcp with the IPv4 pseudo-header.
func tcpChecksum(src, dst netip.Addr, tcp []byte) uint16 {
	s4, d4 := src.As4(), dst.As4()
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(s4[:])
	add(d4[:])
	sum += 6 + uint32(len(tcp))
	add(tcp)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// craft builds a TCP segment from src to dst, with a timestamp option when
// ts is not nil.
func craft(src, dst netip.AddrPort, seq, ack uint32, flags uint8, window uint16, ts *[2]uint32, payload []byte) []byte {
	hlen := 20
	if ts != nil {
		hlen += 12
	}
	b := make([]byte, hlen+len(payload))
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = byte(hlen/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], window)
	if ts != nil {
		copy(b[20:], []byte{1, 1, 8, 10})
		binary.BigEndian.PutUint32(b[24:], ts[0])
		binary.BigEndian.PutUint32(b[28:], ts[1])
	}
	copy(b[hlen:], payload)
	binary.BigEndian.PutUint16(b[16:], tcpChecksum(src.Addr(), dst.Addr(), b))
	return b
}

func TestBlindInjection_LiveConnectionSurvives(t *testing.T) {
	ns := nstest.New(t)
	startDaemon(t, ns)
	_, ifindex := confined(t, ns)
	capt := startCapture(t, ns, ifindex)

	c := kernelDial(t, ns, stackAddr+":7")
	client := c.LocalAddr().(*net.TCPAddr).AddrPort()
	client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
	server := netip.MustParseAddrPort(stackAddr + ":7")
	echoed := 0 // bytes each way
	for _, msg := range []string{"hello", strings.Repeat("before the injections ", 200)} {
		if got := exchange(t, c, msg); got != msg {
			t.Fatalf("echo before the injections came back different")
		}
		echoed += len(msg)
	}
	// Wait until the capture shows both sides quiet: each has received and
	// acknowledged every byte of the echo (the delayed ACKs are out), so
	// nothing is in flight either way. The SYNs give each side's ISN.
	var toStack, fromStack []segment
	var lastIn, lastOut segment
	for deadline := time.Now().Add(10 * time.Second); ; {
		toStack = capt.between(client, server, time.Time{})
		fromStack = capt.between(server, client, time.Time{})
		if len(toStack) >= 3 && len(fromStack) >= 2 && toStack[0].flags == synFlag && fromStack[0].flags&synFlag != 0 {
			kernelEnd := toStack[0].seq + 1 + uint32(echoed)  // past the kernel's last byte
			stackEnd := fromStack[0].seq + 1 + uint32(echoed) // past the stack's
			lastIn, lastOut = toStack[len(toStack)-1], fromStack[len(fromStack)-1]
			if lastIn.seq+uint32(lastIn.payload) == kernelEnd && lastOut.ack == kernelEnd &&
				lastOut.seq+uint32(lastOut.payload) == stackEnd && lastIn.ack == stackEnd {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection not quiet after 10s: %d segments in, %d out; last in %v, last out %v", len(toStack), len(fromStack), lastIn, lastOut)
		}
		capt.waitNew(100 * time.Millisecond)
	}
	rcvNxt := lastOut.ack // the stack's RCV.NXT: all the kernel sent
	sndNxt := lastIn.ack  // the stack's SND.NXT: all it sent, acknowledged
	// The injected segments carry the kernel's latest timestamp when the
	// connection has them, so that PAWS (RFC 7323 §5) passes them on to
	// the RFC 5961 checks under test.
	var ts *[2]uint32
	if lastIn.hasTS {
		ts = &[2]uint32{lastIn.tsVal, lastIn.tsEcr}
	}
	t.Logf("connection %v -> %v: stack RCV.NXT %d, SND.NXT %d, timestamps %v", client, server, rcvNxt, sndNxt, ts != nil)

	var raw net.PacketConn
	if err := ns.Do(func() (err error) { raw, err = net.ListenPacket("ip4:tcp", hostAddr); return err }); err != nil {
		t.Fatalf("raw socket: %v", err)
	}
	defer raw.Close()

	// Each injection, and what RFC 5961 / RFC 9293 §3.10.7.4 want the
	// stack to answer: an ACK carrying its current SND.NXT and RCV.NXT
	// (a challenge ACK, or the ACK for an unacceptable segment), or
	// nothing. None may reset the connection or deliver its payload. The
	// stack sends at most one such ACK per 500ms per connection (RFC 5961
	// §7; Linux's tcp_invalid_ratelimit), so the injections are spaced
	// further apart than that.
	const far = 1 << 30 // beyond any window: the receive buffer is 256 KiB
	injections := []struct {
		name     string
		seq, ack uint32
		flags    uint8
		payload  string
		wantACK  bool
	}{
		{"RST in the window, not RCV.NXT (RFC 5961 §3.2)", rcvNxt + 1000, 0, rstFlag, "", true},
		{"RST far outside the window (RFC 5961 §3.2)", rcvNxt + far, 0, rstFlag, "", false},
		{"SYN with a random sequence number (RFC 5961 §4.2)", rcvNxt + 1<<20 + rand.Uint32N(far), 0, synFlag, "", true},
		{"data outside the window (RFC 9293 §3.10.7.4)", rcvNxt + far, sndNxt, ackFlag | pshFlag, "INJECTED-OUT-OF-WINDOW", true},
		{"data at RCV.NXT acknowledging unsent data (RFC 5961 §5.2)", rcvNxt, sndNxt + 100000, ackFlag | pshFlag, "INJECTED-ACK-UNSENT", true},
		{"data at RCV.NXT with an ACK older than SND.UNA-MAX.SND.WND (RFC 5961 §5.2)", rcvNxt, sndNxt - far, ackFlag | pshFlag, "INJECTED-ACK-TOO-OLD", true},
	}
	// After each injection a barrier: a SYN from another port to a closed
	// port, which the stack answers with a RST. The stack handles the
	// frames it reads in order and writes its answers in order, so once
	// the barrier's RST is in the capture, so is every answer to the
	// injection: what the stack sent is then known exactly, with no wait
	// for answers that must not come.
	barrierPort := uint16(20000)
	barrier := func(name string) {
		t.Helper()
		barrierPort++
		from := netip.AddrPortFrom(client.Addr(), barrierPort)
		to := netip.AddrPortFrom(server.Addr(), 1) // nothing listens on tcp/1
		at := time.Now()
		if _, err := raw.WriteTo(craft(from, to, 1, 0, synFlag, 1024, nil, nil), &net.IPAddr{IP: net.ParseIP(stackAddr)}); err != nil {
			t.Fatalf("barrier after %s: %v", name, err)
		}
		for deadline := at.Add(10 * time.Second); ; {
			if len(capt.between(to, from, at)) > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no RST for the barrier SYN after %s within 10s", name)
			}
			capt.waitNew(100 * time.Millisecond)
		}
	}
	challenges := 0
	var lastAnswer time.Time
	for _, inj := range injections {
		// Pacing, not a wait for an event: the stack answers at most one
		// invalid segment per 500ms per connection (RFC 5961 §7), so each
		// injection comes at least 600ms after the last answer.
		time.Sleep(time.Until(lastAnswer.Add(600 * time.Millisecond)))
		seg := craft(client, server, inj.seq, inj.ack, inj.flags, lastIn.window, ts, []byte(inj.payload))
		at := time.Now()
		if _, err := raw.WriteTo(seg, &net.IPAddr{IP: net.ParseIP(stackAddr)}); err != nil {
			t.Fatalf("injecting %s: %v", inj.name, err)
		}
		barrier(inj.name)
		var acks []string
		for _, s := range capt.between(server, client, at) {
			if s.flags&(rstFlag|synFlag|finFlag) != 0 || s.payload != 0 {
				t.Errorf("after %s the stack sent %v", inj.name, s)
				continue
			}
			if s.seq != sndNxt || s.ack != rcvNxt {
				t.Errorf("after %s the stack's ACK moved: %v, want seq %d ack %d", inj.name, s, sndNxt, rcvNxt)
			}
			acks = append(acks, s.String())
		}
		challenges += len(acks)
		if len(acks) > 0 {
			lastAnswer = time.Now()
		}
		switch {
		case inj.wantACK && len(acks) != 1:
			t.Errorf("%s: the stack answered with %d ACKs, want one: %v", inj.name, len(acks), acks)
		case !inj.wantACK && len(acks) != 0:
			t.Errorf("%s: the stack answered %v, want silence", inj.name, acks)
		default:
			t.Logf("%s: answered with %d ACK", inj.name, len(acks))
		}
		for _, s := range capt.between(client, server, at) {
			if s.flags&rstFlag != 0 && s.seq == rcvNxt {
				t.Errorf("the kernel reset the connection after %s: %v", inj.name, s)
			}
		}
	}

	// The connection must carry on byte for byte, with no injected byte in
	// the stream either way.
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = byte(i*7 + i>>10)
	}
	for _, msg := range []string{"after the injections", string(big)} {
		if got := exchange(t, c, msg); got != msg {
			t.Fatalf("echo of %d bytes after the injections came back different", len(msg))
		}
	}
	for _, s := range capt.between(server, client, time.Time{}) {
		if strings.HasPrefix(s.payloadHead, "INJECTED") {
			t.Errorf("the stack echoed injected data: %v", s)
		}
	}
	st := tcpStats(t, ns)
	t.Logf("stack ACKs in reply to the %d injections: %d; /stats: challenge_acks=%d acks_rate_limited=%d estab_resets=%d out_rsts=%d in_errs=%d",
		len(injections), challenges, st["challenge_acks"], st["acks_rate_limited"], st["estab_resets"], st["out_rsts"], st["in_errs"])
	if st["estab_resets"] != 0 {
		t.Errorf("estab_resets = %d: an injection reset a connection", st["estab_resets"])
	}
	// The in-window RST and the SYN draw RFC 5961 challenge ACKs, counted
	// stack-wide (Linux's TCPChallengeACK).
	if st["challenge_acks"] < 2 {
		t.Errorf("challenge_acks = %d after an in-window RST and a SYN, want at least 2", st["challenge_acks"])
	}
}

// patternHash is the SHA-256 of what /bytes/n serves.
func patternHash(n int) [32]byte { return sha256.Sum256(patternBytes(n)) }

func TestLossAndDuplication_DownloadsAndUploadsIntact(t *testing.T) {
	needTool(t, "nft")
	needTool(t, "curl")
	ns := nstest.New(t)
	startDaemon(t, ns)
	tap, _ := confined(t, ns)

	nft := func(rules string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := ns.Command(ctx, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	// 3% real loss each way on the TAP itself. Frames the stack writes are
	// dropped at the TAP's ingress. Frames the kernel sends it are diverted
	// at egress to a veth whose peer is down, so the kernel's TCP believes
	// them sent and must detect the loss; a drop in the IP output path
	// (an inet output or postrouting chain) would hand it an error instead,
	// and it would resend at once without any loss recovery. gso_max_segs
	// 1 makes the egress hook see one frame per segment, not GSO bursts of
	// up to 64 KiB. 3% of what the kernel sends is also duplicated; the
	// mark stops a copy from being copied again.
	for _, args := range [][]string{
		{"ip", "link", "add", "lossbh", "type", "veth", "peer", "name", "lossbh-peer"},
		{"ip", "link", "set", "lossbh", "up"},
		{"ip", "link", "set", "dev", tap, "gso_max_segs", "1"},
	} {
		if out, err := run(t, ns, args[0], args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	err := nft(fmt.Sprintf(`table netdev impair {
	chain egress { type filter hook egress device %[1]q priority 0; meta mark 0x7e57 accept; numgen random mod 100 < 3 counter fwd to "lossbh"; numgen random mod 100 < 3 meta mark set 0x7e57 counter dup to %[1]q; }
	chain ingress { type filter hook ingress device %[1]q priority 0; numgen random mod 100 < 3 counter drop; }
}`, tap))
	if err != nil {
		t.Fatalf("nft (netdev egress needs Linux 5.16): %v", err)
	}

	dir := t.TempDir()
	down := filepath.Join(dir, "down")
	start := time.Now()
	curl(t, ns, "--max-time", "120", "-o", down, fmt.Sprintf("http://%s/bytes/%d", stackAddr, 10<<20))
	downFor := time.Since(start)
	got, err := os.ReadFile(down)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10<<20 || sha256.Sum256(got) != patternHash(10<<20) {
		t.Errorf("10 MiB download: %d bytes that differ from the pattern", len(got))
	}
	// The stack sent the download through 3% loss: it must have repaired
	// the losses by loss recovery (fast retransmit and recovery, RACK-TLP),
	// not by waiting for its retransmission timer (a sender left to its
	// timer retransmits about one segment per RTO).
	st := tcpStats(t, ns)
	t.Logf("stack after the download: %d segments retransmitted, %d RTOs, %d fast recoveries, %d loss probes",
		st["retrans_segs"], st["timeouts"], st["recoveries"], st["loss_probes"])
	if st["recoveries"] == 0 || 2*st["timeouts"] > st["retrans_segs"] {
		t.Errorf("download through 3%% loss: %d RTOs, %d fast recoveries, %d segments retransmitted: want recoveries and at most one RTO per 2 retransmissions",
			st["timeouts"], st["recoveries"], st["retrans_segs"])
	}

	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	data := make([]byte, 2<<20)
	r := rand.NewChaCha8([32]byte{4})
	r.Read(data)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	curl(t, ns, "--max-time", "120", "--data-binary", "@"+in, "-H", "Content-Type: application/octet-stream", "-o", out, "http://"+stackAddr+"/echo")
	upFor := time.Since(start)
	echoed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(echoed) != sha256.Sum256(data) {
		t.Errorf("2 MiB POST /echo: %d bytes back that differ from the upload", len(echoed))
	}

	// The rules did drop (and duplicate) packets.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rules, err := ns.Command(ctx, "nft", "list", "ruleset").Output()
	if err != nil {
		t.Fatal(err)
	}
	counts := regexp.MustCompile(`counter packets (\d+)`).FindAllStringSubmatch(string(rules), -1)
	var n [3]string // in declaration order: lost to the stack, duplicated, dropped from it
	for i := range min(len(counts), 3) {
		n[i] = counts[i][1]
	}
	t.Logf("10 MiB download %v, 2 MiB upload+echo %v; nftables lost %s frames to the stack, %s from it; duplicated %s",
		downFor.Round(time.Millisecond), upFor.Round(time.Millisecond), n[0], n[2], n[1])
	for i, what := range []string{"lost to the stack", "duplicated", "dropped from the stack"} {
		if n[i] == "" || n[i] == "0" {
			t.Errorf("nftables %s no packet:\n%s", what, bytes.TrimSpace(rules))
		}
	}
}
