package socket_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/socket"
)

// exchange sends a message each way over the pair c, s and checks both
// arrive, within a bound.
func exchange(t *testing.T, c, s net.Conn, what string) {
	t.Helper()
	for _, dir := range [][2]net.Conn{{c, s}, {s, c}} {
		msg := []byte(what + " from " + dir[0].LocalAddr().String())
		if _, err := dir[0].Write(msg); err != nil {
			t.Fatalf("%s: write: %v", what, err)
		}
		dir[1].SetReadDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(dir[1], got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%s: read %q, %v; want %q", what, got, err, msg)
		}
	}
}

// RFC 9293 §3.9.1.1 (MUST-41): a passive OPEN either creates a listener
// or fails, and "MUST NOT ... affect ... an existing connection". Here
// every way a second passive OPEN on a port in use can fail leaves the
// first listener accepting and its connection moving data: a second
// Listen (EADDRINUSE, as Linux's inet_csk_get_port), a Bind with
// SO_REUSEADDR while the port listens (EADDRINUSE), and a Listen on a
// socket that shared the port with SO_REUSEADDR while neither listened
// (EADDRINUSE at listen(2), as Linux), each failed socket then closed.
func TestListen_FailedPassiveOpen_LeavesListenerAndConnectionAlone(t *testing.T) {
	a, b := twoStacks(t)
	// Two sockets share port 80 while neither listens (both set
	// SO_REUSEADDR; Go's Listen sets it too).
	early, err := socket.Socket(b, socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := early.SetsockoptInt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	port80 := netip.AddrPortFrom(netip.IPv4Unspecified(), 80)
	if err := early.Bind(port80); err != nil {
		t.Fatalf("Bind with SO_REUSEADDR beside no listener: %v", err)
	}
	l, err := socket.Listen(b, "tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accept := func() net.Conn {
		t.Helper()
		l.SetDeadline(time.Now().Add(10 * time.Second))
		s, err := l.Accept()
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		return s
	}
	c1, err := socket.Dial(a, "tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	s1 := accept()
	defer s1.Close()
	exchange(t, c1, s1, "before")

	// The passive OPENs that fail.
	if err := early.Listen(16); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen on a port another socket listens on: %v, want EADDRINUSE", err)
	}
	if _, err := socket.Listen(b, "tcp", ":80"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Listen on :80: %v, want EADDRINUSE", err)
	}
	late, err := socket.Socket(b, socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	late.SetsockoptInt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	if err := late.Bind(port80); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Bind with SO_REUSEADDR to a listening port: %v, want EADDRINUSE", err)
	}
	early.Close()
	late.Close()

	// The connection still moves data both ways, and the listener
	// still accepts.
	exchange(t, c1, s1, "after")
	c2, err := socket.Dial(a, "tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatalf("Dial to the first listener after the failed opens: %v", err)
	}
	defer c2.Close()
	s2 := accept()
	defer s2.Close()
	exchange(t, c2, s2, "new")
	if got := s2.LocalAddr().(*net.TCPAddr).Port; got != 80 {
		t.Fatalf("accepted on port %d, want 80", got)
	}
}
