package stack

import (
	"net/netip"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/tcp"
)

// CompactTimeWaits counts the table entries held in the compact TIME-WAIT
// form (tests only: Stats().TCP.TimeWait counts full Conns in TIME-WAIT too).
func (s *Stack) CompactTimeWaits() int {
	s.mu.Lock()
	defer s.unlock()
	n := 0
	for _, e := range s.tcpConns {
		if e.tw != nil {
			n++
		}
	}
	return n
}

// HandleFrameTest is HandleFrame with the lock released by a deferred
// call (tests only). HandleFrame keeps its per-frame path free of defer;
// a panic inside it leaves the lock held, and the test's cleanups, which
// close the stack and its sockets, would then wait on that lock until the
// test binary's timeout. With this the panic fails the test at once
// (what a mutation run needs of a mutant that panics).
func (s *Stack) HandleFrameTest(frame []byte, meta nic.Meta) {
	s.mu.Lock()
	defer s.unlock()
	s.handleFrameLocked(frame, meta)
}

// SendToSelfTest sends datagram, addressed to our own address, n times
// from one hold of the lock and returns each send's error (tests only: an
// API call sends a few datagrams at most, and the loopback queue is
// emptied at every release of the lock, so its bound is out of reach
// otherwise).
func (s *Stack) SendToSelfTest(datagram []byte, n int) []error {
	s.mu.Lock()
	defer s.unlock()
	errs := make([]error, n)
	for i := range errs {
		errs[i] = s.outputLocked(ipv4.Header(datagram))
	}
	return errs
}

// ListenerStatsTest returns the counters of the Listener on port (tests
// only: the status page does not show them).
func (s *Stack) ListenerStatsTest(port uint16) tcp.ListenerStats {
	s.mu.Lock()
	defer s.unlock()
	if le := s.tcpListeners[port]; le != nil {
		return le.lis.Stats()
	}
	return tcp.ListenerStats{}
}

// Neighbour6Test returns the link-layer address learnt for an IPv6
// neighbour.
func (s *Stack) Neighbour6Test(ip netip.Addr) (ethernet.MAC, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.ip6.nc.Lookup(ip)
	return n.MAC, ok
}

// SegmentTest cuts pkt, an IPv4 or IPv6 packet holding a TCP segment
// with only the pseudo-header sum in its checksum field, into packets of
// at most gsoSize payload as the output path does for a device without
// TSO, and returns copies of them (tests only).
func (s *Stack) SegmentTest(pkt []byte, gsoSize int) [][]byte {
	s.mu.Lock()
	defer s.unlock()
	var out [][]byte
	meta := nic.Meta{GSO: nic.GSOTCPv4, GSOSize: uint16(gsoSize), Csum: nic.CsumPartial}
	if pkt[0]>>4 == 6 {
		meta.GSO = nic.GSOTCPv6
	}
	for p := range s.segmentsLocked(pkt, meta) {
		out = append(out, append([]byte(nil), p...))
	}
	return out
}

// Output6TSOTest sends pkt, an IPv6 packet holding a TCP segment of
// several gsoSize with only the pseudo-header sum in its checksum field,
// as sendTCP6Locked hands one to the output path: built in s.out, with a
// Meta of GSO TCPv6 and a partial checksum (tests only).
func (s *Stack) Output6TSOTest(pkt []byte, gsoSize int) error {
	s.mu.Lock()
	defer s.unlock()
	p := s.out[s.linkHdr : s.linkHdr+len(pkt)]
	copy(p, pkt)
	meta := nic.Meta{GSO: nic.GSOTCPv6, GSOSize: uint16(gsoSize), Csum: nic.CsumPartial,
		CsumStart: uint16(s.linkHdr + ipv6.HeaderLen), CsumOffset: tcpCsumOffset}
	return s.output6MetaLocked(ipv6.Header(p), meta)
}
