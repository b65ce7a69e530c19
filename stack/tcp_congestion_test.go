package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// TCP_CONGESTION, as Linux's setsockopt(IPPROTO_TCP, TCP_CONGESTION): the
// stack's default is CUBIC (RFC 9438), a socket may name another, an
// unknown name is ENOENT, and an accepted socket has its listener's.

func TestTCPCongestion_DefaultCubic_SetGetAndInherit(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := listening(t, e)
	if got, err := l.GetsockoptString(socket.IPPROTO_TCP, socket.TCP_CONGESTION); err != nil || got != "cubic" {
		t.Fatalf("TCP_CONGESTION = %q, %v; want the default, cubic", got, err)
	}
	if err := l.SetsockoptString(socket.IPPROTO_TCP, socket.TCP_CONGESTION, "vegas"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("TCP_CONGESTION vegas: %v, want ENOENT", err)
	}
	if err := l.SetsockoptString(socket.IPPROTO_TCP, socket.TCP_CONGESTION, "reno"); err != nil {
		t.Fatalf("TCP_CONGESTION reno: %v", err)
	}
	handshake(t, e, peerPort)
	c, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, _ := c.GetsockoptString(socket.IPPROTO_TCP, socket.TCP_CONGESTION); got != "reno" {
		t.Fatalf("accepted socket's TCP_CONGESTION %q, want its listener's reno", got)
	}
	// Switched on a connected socket, the connection runs it at once.
	if err := c.SetsockoptString(socket.IPPROTO_TCP, socket.TCP_CONGESTION, "cubic"); err != nil {
		t.Fatal(err)
	}
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].Congestion != "cubic" {
		t.Fatalf("connections %+v, want one running cubic", cs)
	}
	// Not a TCP option of a UDP socket.
	u, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_DGRAM, 0)
	defer u.Close()
	if err := u.SetsockoptString(socket.IPPROTO_TCP, socket.TCP_CONGESTION, "reno"); !errors.Is(err, syscall.ENOPROTOOPT) {
		t.Fatalf("TCP_CONGESTION on UDP: %v, want ENOPROTOOPT", err)
	}
}

func TestStackNew_UnknownCongestionControl_Refused(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{MTU: 1500, MACA: stackMAC, MACB: peerMAC})
	defer a.Close()
	defer b.Close()
	cfg := stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), TCP: tcp.Config{Congestion: "bic"}}
	if _, err := stack.New(a, cfg); !errors.Is(err, stack.ErrBadConfig) {
		t.Fatalf("stack.New with congestion control bic: %v, want ErrBadConfig", err)
	}
	cfg.TCP.Congestion = "reno"
	st, err := stack.New(a, cfg)
	if err != nil {
		t.Fatalf("stack.New with reno: %v", err)
	}
	st.Close()
}

// A SACK block that fails validation (tcp.Conn's sackBlockValid, Linux's
// tcp_is_sackblock_valid) is counted in /stats as sack_discards.
func TestTCP_InvalidSACKBlock_CountedInStats(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := listening(t, e)
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS, Flags: tcp.FlagSYN, Window: peerWnd, Options: tcp.Options{MSS: 1460, SACKPermitted: true}}, nil))
	iss := e.nextTCP().Seq
	e.inject(tcpFrame(tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}, nil))
	c, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(make([]byte, 100), 0); err != nil {
		t.Fatal(err)
	}
	e.nextTCP()
	// A block beyond SND.NXT (iss+101).
	ack := tcp.Segment{Seq: peerISS + 1, Ack: iss + 1, Flags: tcp.FlagACK, Window: peerWnd}
	ack.Options.NumSACK = 1
	ack.Options.SACK[0] = tcp.SACKBlock{Start: iss + 51, End: iss + 201}
	e.inject(tcpFrame(ack, nil))
	if got := e.st.Stats().TCP.SACKDiscards; got != 1 {
		t.Fatalf("sack_discards = %d, want 1", got)
	}
}

// SO_RCVBUF and SO_SNDBUF set on a listener after listen(2) are the
// accepted connections' too, as Linux (sk_clone_lock copies them).
func TestTCPEndpoint_Accept_InheritsBufferSizesSetAfterListen(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := tcpListen(t, e)
	l.SetRcvBuf(64 << 10)
	l.SetSndBuf(96 << 10)
	handshake(t, e, peerPort)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Config(); got.RcvBuf != 64<<10 || got.SndBuf != 96<<10 {
		t.Fatalf("accepted connection's buffers %d/%d, want the listener's %d/%d", got.RcvBuf, got.SndBuf, 64<<10, 96<<10)
	}
}

// SO_SNDBUF locks the send buffer's size (no autotuning), and an accepted
// connection inherits the lock with the size (Linux's sk_userlocks), even
// when the size asked is the default one.
func TestTCPEndpoint_Accept_InheritsSndBufLock(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := tcpListen(t, e)
	l.SetSndBuf(tcp.DefaultSndBuf)
	handshake(t, e, peerPort)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Config(); got.SndBuf != tcp.DefaultSndBuf || !got.SndBufLocked {
		t.Fatalf("accepted connection's send buffer %d, locked %v; want the listener's %d, locked", got.SndBuf, got.SndBufLocked, tcp.DefaultSndBuf)
	}
}

// BBR is selectable per socket as on Linux (TCP_CONGESTION "bbr"), and a
// connected socket switched to it runs it at once.
func TestTCPCongestion_BBRSelectable(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	l := listening(t, e)
	handshake(t, e, peerPort)
	c, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetsockoptString(socket.IPPROTO_TCP, socket.TCP_CONGESTION, "bbr"); err != nil {
		t.Fatalf("TCP_CONGESTION bbr: %v", err)
	}
	if got, _ := c.GetsockoptString(socket.IPPROTO_TCP, socket.TCP_CONGESTION); got != "bbr" {
		t.Fatalf("TCP_CONGESTION %q after setting bbr", got)
	}
	if cs := e.st.TCPConnections(); len(cs) != 1 || cs[0].Congestion != "bbr" {
		t.Fatalf("connections %+v, want one running bbr", cs)
	}
}
