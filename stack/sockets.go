package stack

import (
	"cmp"
	"container/heap"
	"net/netip"
	"slices"
	"time"

	"github.com/tapstack/tapstack/tcp"
)

// This file lists the stack's sockets for operators (the daemon's status
// page, ss): read-only snapshots taken under the stack's lock, each a
// value the caller owns.

// TCPConnInfo describes one connection for the status page.
type TCPConnInfo struct {
	Local, Remote netip.AddrPort
	tcp.Info
	// RecvQueue is the in-order data waiting for Read (ss's Recv-Q); 0 in
	// TIME-WAIT.
	RecvQueue int
	// Timer is how long until the connection's next timer fires
	// (retransmission, probe, delayed ACK, keep-alive, or the end of
	// TIME-WAIT); 0 when none is armed.
	Timer time.Duration
}

// TCPConnections returns a snapshot of every connection in the table. With
// many connections, TCPTable costs less: it copies only the rows it keeps.
func (s *Stack) TCPConnections() []TCPConnInfo {
	s.mu.Lock()
	defer s.unlock()
	now := s.clock.Now()
	out := make([]TCPConnInfo, 0, len(s.tcpConns))
	for _, e := range s.tcpConns {
		out = append(out, e.infoLocked(now))
	}
	return out
}

// infoLocked is the entry's TCPConnInfo at now.
func (e *tcpEntry) infoLocked(now time.Time) TCPConnInfo {
	ci := TCPConnInfo{Local: e.key.local, Remote: e.key.remote}
	var at time.Time
	var armed bool
	if e.tw != nil {
		ci.Info = e.tw.Info()
		at, armed = e.tw.NextDeadline()
	} else {
		ci.Info = e.conn.Info()
		ci.RecvQueue = e.conn.Readable()
		at, armed = e.conn.NextDeadline()
	}
	if armed {
		ci.Timer = max(at.Sub(now), 0)
	}
	return ci
}

// TCPQuery selects connections for TCPTable. Zero fields select all.
type TCPQuery struct {
	// State keeps the connections in this state; StateClosed (the zero
	// value) keeps every state.
	State tcp.State
	// Port keeps the connections whose local or remote port it is.
	Port uint16
	// Limit is the most rows returned; 0 returns none (the counts only).
	Limit int
}

// TCPTable is a bounded view of the connection table.
type TCPTable struct {
	// ByState counts every connection in the table by its state,
	// whatever the query.
	ByState map[tcp.State]int
	// Matched is how many connections the query selected.
	Matched int
	// Conns are the first Limit of them, most active first: connections
	// outside TIME-WAIT before those in it, then by bytes moved (sent plus
	// received), then by local and remote address.
	Conns []TCPConnInfo
}

// TCPTable counts the connections by state and returns the Limit most
// active that match q. It copies only the rows it keeps, so its cost stays
// small beside a table of tens of thousands of TIME-WAIT entries.
func (s *Stack) TCPTable(q TCPQuery) TCPTable {
	s.mu.Lock()
	defer s.unlock()
	now := s.clock.Now()
	t := TCPTable{ByState: make(map[tcp.State]int)}
	top := connHeap{}
	for _, e := range s.tcpConns {
		state := tcp.StateTimeWait
		if e.tw == nil {
			state = e.conn.State()
		}
		t.ByState[state]++
		if q.State != tcp.StateClosed && state != q.State {
			continue
		}
		if q.Port != 0 && e.key.local.Port() != q.Port && e.key.remote.Port() != q.Port {
			continue
		}
		t.Matched++
		if q.Limit <= 0 {
			continue
		}
		ci := e.infoLocked(now)
		if len(top) < q.Limit {
			heap.Push(&top, ci)
		} else if moreActive(ci, top[0]) {
			top[0] = ci
			heap.Fix(&top, 0)
		}
	}
	t.Conns = []TCPConnInfo(top)
	slices.SortFunc(t.Conns, func(a, b TCPConnInfo) int {
		if moreActive(a, b) {
			return -1
		}
		if moreActive(b, a) {
			return 1
		}
		return 0
	})
	return t
}

// moreActive orders TCPTable's rows.
func moreActive(a, b TCPConnInfo) bool {
	if aTW, bTW := a.State == tcp.StateTimeWait, b.State == tcp.StateTimeWait; aTW != bTW {
		return bTW
	}
	if am, bm := a.BytesSent+a.BytesReceived, b.BytesSent+b.BytesReceived; am != bm {
		return am > bm
	}
	if c := a.Local.Compare(b.Local); c != 0 {
		return c < 0
	}
	return a.Remote.Compare(b.Remote) < 0
}

// connHeap keeps the most active rows seen so far, the least active of
// them at the root (the one a more active row replaces).
type connHeap []TCPConnInfo

func (h connHeap) Len() int           { return len(h) }
func (h connHeap) Less(i, j int) bool { return moreActive(h[j], h[i]) }
func (h connHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *connHeap) Push(x any)        { *h = append(*h, x.(TCPConnInfo)) }
func (h *connHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// TCPListenerInfo describes one listening socket.
type TCPListenerInfo struct {
	Local netip.AddrPort
	// Pending is the number of connections in the accept queue (ss's
	// Recv-Q for a listener), Backlog its bound as Listen clamped it
	// (ss's Send-Q).
	Pending, Backlog int
	// DualStack: an AF_INET6 listener on [::] without IPV6_V6ONLY, taking
	// IPv4 too (Linux's ss shows it as *:port).
	DualStack bool
	tcp.ListenerStats
}

// TCPListeners returns the listening sockets ordered by port.
func (s *Stack) TCPListeners() []TCPListenerInfo {
	s.mu.Lock()
	defer s.unlock()
	out := make([]TCPListenerInfo, 0, len(s.tcpListeners))
	for _, le := range s.tcpListeners {
		out = append(out, le.info())
	}
	for _, le := range s.tcpListeners6 {
		if le.fams&fam4 == 0 { // a dual-stack one is listed above
			out = append(out, le.info())
		}
	}
	slices.SortFunc(out, func(a, b TCPListenerInfo) int { return cmp.Compare(a.Local.Port(), b.Local.Port()) })
	return out
}

func (le *listenEntry) info() TCPListenerInfo {
	return TCPListenerInfo{Local: le.ep.local, Pending: le.lis.Pending(), Backlog: le.backlog,
		DualStack: le.fams == fam4|fam6, ListenerStats: le.lis.Stats()}
}

// UDPEndpointInfo describes one bound UDP socket.
type UDPEndpointInfo struct {
	Local  netip.AddrPort
	Remote netip.AddrPort // the connected peer, or the zero value
	// Datagrams and Bytes are queued for reading (Bytes is ss's Recv-Q);
	// Drops counts the datagrams refused because the receive buffer was
	// full (Linux's sk_drops).
	Datagrams, Bytes int
	Drops            uint64
	DualStack        bool // as TCPListenerInfo's
}

// UDPEndpoints returns the bound UDP sockets ordered by local port.
func (s *Stack) UDPEndpoints() []UDPEndpointInfo {
	s.mu.Lock()
	defer s.unlock()
	eps := s.udp.Endpoints()
	out := make([]UDPEndpointInfo, 0, len(eps))
	for _, ep := range eps {
		d, b := ep.Queued()
		out = append(out, UDPEndpointInfo{Local: ep.LocalAddr(), Remote: ep.RemoteAddr(), Datagrams: d, Bytes: b, Drops: ep.Drops(), DualStack: ep.DualStack()})
	}
	return out
}
