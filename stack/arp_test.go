package stack_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
)

func nextARP(e *env) (ethernet.Header, arp.Header) {
	e.t.Helper()
	eth := e.next()
	if eth.Type() != ethernet.TypeARP {
		e.t.Fatalf("got %v, want ARP", eth.Type())
	}
	h, err := arp.Parse(eth.Payload())
	if err != nil {
		e.t.Fatalf("bad ARP from the stack: %v", err)
	}
	return eth, h
}

func TestARP_RequestForUs_RepliesAndLearnsSender(t *testing.T) {
	e := newEnv(t)
	e.inject(arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast))
	eth, h := nextARP(e)
	if eth.Dst() != peerMAC || eth.Src() != stackMAC {
		t.Errorf("reply frame %v -> %v, want %v -> %v", eth.Src(), eth.Dst(), stackMAC, peerMAC)
	}
	if h.Op() != arp.OpReply || h.SenderMAC() != stackMAC || h.SenderIP() != stackIP ||
		h.TargetMAC() != peerMAC || h.TargetIP() != peerIP {
		t.Errorf("reply op=%d %v/%v -> %v/%v", h.Op(), h.SenderMAC(), h.SenderIP(), h.TargetMAC(), h.TargetIP())
	}
	if len(eth) < ethernet.MinFrameLen {
		t.Errorf("reply is %d bytes, want padding to %d", len(eth), ethernet.MinFrameLen)
	}
	n := e.st.Neighbors()
	if len(n) != 1 || n[0].IP != peerIP || n[0].MAC != peerMAC || n[0].State != arp.StateReachable {
		t.Fatalf("neighbours %+v, want the peer reachable", n)
	}
	if s := e.st.Stats().ARP; s.RequestsIn != 1 || s.RepliesOut != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestARP_RequestForOtherHost_NoReplyNotLearned(t *testing.T) {
	e := newEnv(t)
	e.inject(arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, otherIP, ethernet.Broadcast))
	e.none()
	if n := e.st.Neighbors(); len(n) != 0 {
		t.Fatalf("learned %+v from a request not addressed to us (RFC 826: only update)", n)
	}
}

func TestARP_Probe_AnsweredButNothingLearned(t *testing.T) {
	// RFC 5227 §2.1.1: a probe has sender IP 0.0.0.0.
	e := newEnv(t)
	e.inject(arpFrame(arp.OpRequest, peerMAC, netip.IPv4Unspecified(), ethernet.MAC{}, stackIP, ethernet.Broadcast))
	_, h := nextARP(e)
	if h.Op() != arp.OpReply {
		t.Fatalf("op %d, want reply", h.Op())
	}
	if n := e.st.Neighbors(); len(n) != 0 {
		t.Fatalf("learned %+v from a probe", n)
	}
}

func TestARP_ConflictingClaimOfOurAddress_Counted(t *testing.T) {
	e := newEnv(t)
	e.inject(arpFrame(arp.OpReply, peerMAC, stackIP, stackMAC, stackIP, ethernet.Broadcast))
	e.none()
	if got := e.st.Stats().ARP.AddressConflicts; got != 1 {
		t.Fatalf("AddressConflicts = %d, want 1", got)
	}
}

func TestARP_Malformed_Counted(t *testing.T) {
	e := newEnv(t)
	f := arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, stackIP, ethernet.Broadcast)
	e.inject(f[:ethernet.HeaderLen+20])
	f2 := append([]byte(nil), f...)
	f2[ethernet.HeaderLen+1] = 0xdd // protocol type 0x08dd
	e.inject(f2)
	e.none()
	s := e.st.Stats().ARP
	if s.Malformed != 1 || s.Unsupported != 1 {
		t.Fatalf("Malformed=%d Unsupported=%d, want 1 and 1", s.Malformed, s.Unsupported)
	}
}

func TestARP_Start_SendsGratuitousARP(t *testing.T) {
	e := newEnv(t)
	e.st.Start()
	_, h := nextARP(e)
	if h.Op() != arp.OpRequest || h.SenderIP() != stackIP || h.TargetIP() != stackIP || h.SenderMAC() != stackMAC {
		t.Fatalf("announcement op=%d spa=%v tpa=%v", h.Op(), h.SenderIP(), h.TargetIP())
	}
}

// send queues a UDP datagram to dst through a socket.
func sendUDP(t testing.TB, e *env, dst netip.AddrPort, payload []byte) *socket.FD {
	t.Helper()
	fd, err := socket.Socket(e.st, socket.AF_INET, socket.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.Close() })
	if _, err := fd.SendTo(payload, 0, dst); err != nil {
		t.Fatalf("SendTo: %v", err)
	}
	return fd
}

func TestARP_Resolution_QueuedPacketSentOnReply(t *testing.T) {
	e := newEnv(t)
	sendUDP(t, e, netip.AddrPortFrom(peerIP, 9), []byte("first"))
	eth, h := nextARP(e)
	if eth.Dst() != ethernet.Broadcast || h.Op() != arp.OpRequest || h.TargetIP() != peerIP {
		t.Fatalf("want a broadcast who-has %v, got op=%d to %v for %v", peerIP, h.Op(), eth.Dst(), h.TargetIP())
	}
	e.none()
	e.inject(arpFrame(arp.OpReply, peerMAC, peerIP, stackMAC, stackIP, stackMAC))
	ip := e.nextIPv4()
	if ip.Protocol() != ipv4.ProtoUDP || string(ip.Payload()[8:]) != "first" {
		t.Fatalf("released datagram: proto %d payload %q", ip.Protocol(), ip.Payload()[8:])
	}
	e.none()
}

func TestARP_Resolution_OffLinkUsesGateway(t *testing.T) {
	e := newEnv(t)
	sendUDP(t, e, netip.AddrPortFrom(remoteIP, 9), []byte("x"))
	_, h := nextARP(e)
	if h.TargetIP() != peerIP {
		t.Fatalf("resolving %v, want the gateway %v", h.TargetIP(), peerIP)
	}
}

func TestARP_Retry_OnePerSecondThenHostUnreachable(t *testing.T) {
	e := newEnv(t)
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_DGRAM, 0)
	defer fd.Close()
	if err := fd.Connect(netip.AddrPortFrom(otherIP, 9)); err != nil {
		t.Fatal(err)
	}
	ping, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
	defer ping.Close()
	if _, err := fd.Send([]byte("lost"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ping.SendTo(echoRequest(0, 1, []byte("abc")), 0, netip.AddrPortFrom(otherIP, 0)); err != nil {
		t.Fatal(err)
	}
	if _, h := nextARP(e); h.TargetIP() != otherIP {
		t.Fatalf("first request for %v", h.TargetIP())
	}
	e.none() // the second packet waits on the same resolution: no new request
	for i := 2; i <= 3; i++ {
		e.clk.Advance(999 * time.Millisecond)
		e.none()
		e.clk.Advance(time.Millisecond)
		if _, h := nextARP(e); h.TargetIP() != otherIP {
			t.Fatalf("retry %d for %v", i, h.TargetIP())
		}
		e.none()
	}
	e.clk.Advance(time.Second)
	e.none() // given up: no fourth request, and no ICMP on the wire
	if got := e.st.Stats().ARP.ResolutionFailed; got != 2 {
		t.Fatalf("ResolutionFailed = %d, want 2", got)
	}
	// The UDP sender learns EHOSTUNREACH (RFC 1122 §2.3.2.2)...
	_, err := fd.Recv(make([]byte, 10), socket.MSG_DONTWAIT)
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("connected UDP socket: %v, want EHOSTUNREACH", err)
	}
	// ...and the ping socket gets "Destination Host Unreachable" quoting its request.
	buf := make([]byte, 1500)
	n, from, err := ping.RecvFrom(buf, socket.MSG_DONTWAIT)
	if err != nil {
		t.Fatalf("ping socket: %v", err)
	}
	m := ipv4.ICMP(buf[:n])
	if m.Type() != ipv4.TypeDestUnreachable || m.Code() != ipv4.CodeHostUnreachable || from.Addr() != stackIP {
		t.Fatalf("ping socket got type %d code %d from %v", m.Type(), m.Code(), from)
	}
}

func TestARP_QueueBound_DropsOldest(t *testing.T) {
	e := newEnv(t, func(c *stack.Config, _ *nic.PipeConfig) { c.ARP = arp.Config{MaxPending: 4} })
	fd, _ := socket.Socket(e.st, socket.AF_INET, socket.SOCK_DGRAM, 0)
	defer fd.Close()
	for i := 0; i < 6; i++ {
		if _, err := fd.SendTo([]byte{byte(i)}, 0, netip.AddrPortFrom(peerIP, 9)); err != nil {
			t.Fatal(err)
		}
	}
	nextARP(e)
	e.inject(arpFrame(arp.OpReply, peerMAC, peerIP, stackMAC, stackIP, stackMAC))
	for want := byte(2); want < 6; want++ {
		ip := e.nextIPv4()
		if got := ip.Payload()[8]; got != want {
			t.Fatalf("released datagram %d, want %d (oldest dropped first)", got, want)
		}
	}
	e.none()
	if got := e.st.Stats().ARP.QueueDrops; got != 2 {
		t.Fatalf("QueueDrops = %d, want 2", got)
	}
}

func TestARP_Expiry_StaleEntryRefreshedByUnicastPoll(t *testing.T) {
	e := newEnv(t)
	e.learnPeer()
	sendUDP(t, e, netip.AddrPortFrom(peerIP, 9), []byte("a"))
	e.nextIPv4() // fresh entry: no ARP
	e.clk.Advance(31 * time.Second)
	sendUDP(t, e, netip.AddrPortFrom(peerIP, 9), []byte("b"))
	// A stale entry is still used, and refreshed with a unicast request
	// (RFC 1122 §2.3.2.1 unicast poll).
	eth, h := nextARP(e)
	if eth.Dst() != peerMAC || h.TargetIP() != peerIP {
		t.Fatalf("refresh went to %v for %v, want unicast to the peer", eth.Dst(), h.TargetIP())
	}
	if ip := e.nextIPv4(); string(ip.Payload()[8:]) != "b" {
		t.Fatal("datagram to a stale neighbour not sent")
	}
	// No answer: after the retries the entry is gone and the next send
	// resolves afresh with a broadcast.
	e.clk.Advance(10 * time.Second)
	e.drain()
	sendUDP(t, e, netip.AddrPortFrom(peerIP, 9), []byte("c"))
	if eth, _ := nextARP(e); eth.Dst() != ethernet.Broadcast {
		t.Fatalf("after expiry the request went to %v, want broadcast", eth.Dst())
	}
}
