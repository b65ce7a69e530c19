package integration

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

// offloadStack runs a stack in this process on a TAP inside ns opened with
// the offload mode m, with the kernel side as its gateway (so that it
// reaches networks behind the kernel); each of cfgs may change its Config.
func offloadStack(t *testing.T, ns *nstest.NS, m nic.OffloadMode, cfgs ...func(*stack.Config)) (*stack.Stack, *nic.TAP) {
	t.Helper()
	var tap *nic.TAP
	err := ns.Do(func() (err error) {
		tap, err = nic.OpenTAP(nic.TAPConfig{Name: tapName(), HostAddr: netip.MustParsePrefix(hostAddr + "/24"), Offload: m})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := stack.Config{Addr: netip.MustParsePrefix(stackAddr + "/24"), Gateway: netip.MustParseAddr(hostAddr),
		Logger: slog.New(slog.DiscardHandler)}
	for _, f := range cfgs {
		f(&cfg)
	}
	st, err := stack.New(tap, cfg)
	if err != nil {
		tap.Close()
		t.Fatal(err)
	}
	st.Start()
	t.Cleanup(func() { st.Close() })
	return st, tap
}

// bulkToStack sends n bytes from a kernel socket in ns to a Go server on
// the stack (socket.Listen) at addr over network ("tcp4", "tcp6") and
// checks their SHA-256 on arrival.
func bulkToStack(t *testing.T, ns *nstest.NS, st *stack.Stack, network, addr string, n int) {
	t.Helper()
	l, err := socket.Listen(st, network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := hashFirst(func() (net.Conn, error) { return l.Accept() })
	data := patternBytes(n)
	var c net.Conn
	if err := ns.Do(func() (err error) {
		c, err = (&net.Dialer{Timeout: 10 * time.Second}).Dial(network, addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute)) // a hang guard, not a timing assertion
	if _, err := c.Write(data); err != nil {
		t.Fatalf("kernel write: %v", err)
	}
	c.Close()
	checkHash(t, "the stack", done, data)
}

// hashed is what a receiver read: its length, its SHA-256, the error that
// ended it other than EOF.
type hashed struct {
	n   int64
	sum [32]byte
	err error
}

// hashFirst accepts one connection with accept and hashes what it reads
// until EOF, in a goroutine; the result arrives on the channel.
func hashFirst(accept func() (net.Conn, error)) <-chan hashed {
	done := make(chan hashed, 1)
	go func() {
		c, err := accept()
		if err != nil {
			done <- hashed{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Minute)) // a hang guard, not a timing assertion
		h := sha256.New()
		k, err := io.Copy(h, c)
		r := hashed{n: k, err: err}
		copy(r.sum[:], h.Sum(nil))
		done <- r
	}()
	return done
}

// checkHash waits for who's hashFirst result and checks it is data.
func checkHash(t *testing.T, who string, done <-chan hashed, data []byte) {
	t.Helper()
	select {
	case r := <-done:
		if r.err != nil || r.n != int64(len(data)) || r.sum != sha256.Sum256(data) {
			t.Fatalf("%s received %d bytes (err %v), SHA-256 match %v; want %d intact", who, r.n, r.err, r.sum == sha256.Sum256(data), len(data))
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s's server did not finish in 2 min", who)
	}
}

// Kernel→stack bulk over a TAP with offloads: the kernel hands over TSO
// super-frames with partial checksums, the stack takes them whole, and
// 100 MiB arrive intact.
func TestOffloadOn_BulkKernelToStack_100MiBIntact(t *testing.T) {
	ns := nstest.New(t)
	st, tap := offloadStack(t, ns, nic.OffloadOn)
	bulkToStack(t, ns, st, "tcp4", stackAddr+":5001", 100<<20)
	ts, ss := tap.Stats(), st.Stats()
	if ts.GSOFramesRead == 0 || ss.Offload.GROIn == 0 || ss.Offload.CsumSkipped == 0 || ss.TCP.InCsumErrors != 0 {
		t.Errorf("TAP %+v, stack offload %+v, TCP checksum errors %d; want super-frames and trusted checksums", ts, ss.Offload, ss.TCP.InCsumErrors)
	}
	t.Logf("%d super-frames of %d bytes on average; %d segments in", ss.Offload.GROIn, ss.Offload.GROBytesIn/max(ss.Offload.GROIn, 1), ss.TCP.InSegs)
}

// The same with offloads off: plain frames, every checksum verified.
func TestOffloadOff_BulkKernelToStack_100MiBIntact(t *testing.T) {
	ns := nstest.New(t)
	st, tap := offloadStack(t, ns, nic.OffloadOff)
	bulkToStack(t, ns, st, "tcp4", stackAddr+":5001", 100<<20)
	if ts, ss := tap.Stats(), st.Stats(); ts.GSOFramesRead != 0 || ss.Offload != (stack.OffloadStats{}) {
		t.Errorf("TAP %+v, stack offload %+v; want no offload at all", ts, ss.Offload)
	}
}

// toDiscard sends n zero bytes from a kernel socket in ns to the daemon's
// discard port.
func toDiscard(t *testing.T, ns *nstest.NS, n int64) {
	t.Helper()
	var conn net.Conn
	if err := ns.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp4", stackAddr+":9", 10*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute)) // a hang guard
	if k, err := io.Copy(conn, io.LimitReader(zeroReader{}, n)); err != nil || k != n {
		t.Fatalf("discard took %d bytes: %v", k, err)
	}
}

// The daemon uses offloads by default and says so in its readiness line;
// a bulk send to its discard port arrives as super-segments (/stats).
// --offload off reads plain frames.
func TestDaemon_Offload_ReadinessLineAndStats(t *testing.T) {
	for _, c := range []struct {
		args []string
		line string
		gro  bool
	}{
		{nil, "offload=auto:on", true},
		{[]string{"--offload", "off"}, "offload=off", false},
	} {
		ns := nstest.New(t)
		d := startDaemon(t, ns, c.args...)
		if !strings.Contains(d.out.String(), c.line) {
			t.Fatalf("%v: the readiness line lacks %s:\n%s", c.args, c.line, d.out)
		}
		toDiscard(t, ns, 8<<20)
		// A download: the stack's segments go whole to the TAP as TSO
		// frames with offloads, cut by the stack without.
		if n := len(curl(t, ns, fmt.Sprintf("http://%s/bytes/%d", stackAddr, 4<<20))); n != 4<<20 {
			t.Fatalf("%v: downloaded %d bytes, want %d", c.args, n, 4<<20)
		}
		stats := curl(t, ns, "http://"+stackAddr+"/stats")
		var st stack.Stats
		if err := json.Unmarshal([]byte(stats), &st); err != nil {
			t.Fatalf("/stats: %v", err)
		}
		if got := st.Offload.GROIn > 0 && st.Offload.CsumSkipped > 0; got != c.gro {
			t.Errorf("%v: /stats offload %+v; want super-segments and skipped checksums %v", c.args, st.Offload, c.gro)
		}
		if got := st.Offload.TSOOut > 0 && st.Offload.SoftGSOOut == 0; got != c.gro || st.Offload.TSOOut+st.Offload.SoftGSOOut == 0 {
			t.Errorf("%v: /stats offload %+v; want TSO segments %v, else segments cut in software", c.args, st.Offload, c.gro)
		}
		// The status page gives the mode and what the offloads saved.
		mode := strings.TrimPrefix(c.line, "offload=")
		page := curl(t, ns, "http://"+stackAddr+"/")
		if !strings.Contains(page, "offload   "+mode+" (GRO super-segments in ") || !strings.Contains(page, "; TSO segments out ") {
			t.Errorf("%v: the status page lacks the offload line for %s:\n%s", c.args, mode, page)
		}
		d.stop(t)
	}
}
