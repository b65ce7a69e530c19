package buffer

// Memory accounts the ring bytes of every buffer that shares it: one stack's
// TCP memory, as Linux's tcp_memory_allocated against net.ipv4.tcp_mem. It
// has two thresholds:
//
//   - Pressure: once the rings in use reach it, the stack is under memory
//     pressure until they fall below three quarters of it (the hysteresis
//     of tcp_mem's "min" and "pressure" values). Under pressure receive
//     windows stop growing: a Recv offers only the free space of the ring it
//     already has (Linux's tcp_clamp_window and tcp_under_memory_pressure
//     in __tcp_select_window), a Send accepts only what fits its ring, and
//     out-of-order data that would need a larger ring is dropped (Linux
//     prunes its out-of-order queue, tcp_prune_ofo_queue).
//   - Limit: no ring grows if that would take the total past it (tcp_mem's
//     "max"); in-order data that would need a larger ring is dropped, and
//     the stack refuses new connections (Exhausted).
//
// Every buffer may always hold a ring of minRing bytes, whatever the
// pressure (Linux's tcp_rmem[0] and tcp_wmem[0]: "the minimal size ... used
// to ensure that in memory pressure mode, allocations below this size will
// still succeed"), so no connection deadlocks; the total is still bounded,
// by the number of connections times 2·minRing beyond Limit.
//
// A nil *Memory accounts nothing and never says no. Memory is not safe for
// concurrent use: the stack calls it under its lock, like the buffers.
type Memory struct {
	pressure int
	limit    int
	used     int
	under    bool
	stats    MemoryStats
}

// MemoryStats are the counters and gauges of a Memory, shaped like Linux's
// sockstat "mem" and TcpExt TCPMemoryPressures. (Segments dropped because a
// ring could not grow are counted by the TCB, which knows what they were.)
type MemoryStats struct {
	Used           int    `json:"used_bytes"`       // ring bytes allocated now
	Pressure       bool   `json:"under_pressure"`   // under memory pressure now
	PressureEvents uint64 `json:"pressure_entered"` // times pressure began (TCPMemoryPressures)
	// SendLimited counts writes cut short by pressure or the limit (Linux's
	// sk_stream_wait_memory: the writer waits for acknowledgements).
	SendLimited uint64 `json:"send_limited"`
}

// NewMemory returns an account with the given pressure threshold and limit
// in bytes. A limit <= 0 means no limit; a pressure <= 0 or above the limit
// means pressure at the limit.
func NewMemory(pressure, limit int) *Memory {
	if limit <= 0 {
		limit = int(^uint(0) >> 1)
	}
	if pressure <= 0 || pressure > limit {
		pressure = limit
	}
	return &Memory{pressure: pressure, limit: limit}
}

// Stats returns the counters and gauges.
func (m *Memory) Stats() MemoryStats {
	if m == nil {
		return MemoryStats{}
	}
	st := m.stats
	st.Used, st.Pressure = m.used, m.under
	return st
}

// Used returns the ring bytes allocated now.
func (m *Memory) Used() int {
	if m == nil {
		return 0
	}
	return m.used
}

// UnderPressure reports whether windows are being held back.
func (m *Memory) UnderPressure() bool { return m != nil && m.under }

// Exhausted reports whether the total has reached the limit: the stack
// then refuses new connections.
func (m *Memory) Exhausted() bool { return m != nil && m.used >= m.limit }

// grant reports whether a ring may grow from `from` to `to` bytes. ofo
// marks growth for out-of-order data, which pressure alone refuses.
func (m *Memory) grant(from, to int, ofo bool) bool {
	switch {
	case m == nil || to <= minRing:
		return true
	case m.used-from+to > m.limit:
		return false
	case ofo && m.under:
		return false
	}
	return true
}

// account records that a ring went from `from` to `to` bytes.
func (m *Memory) account(from, to int) {
	if m == nil {
		return
	}
	m.used += to - from
	switch {
	case !m.under && m.used >= m.pressure:
		m.under = true
		m.stats.PressureEvents++
	case m.under && m.used < m.pressure-m.pressure/4:
		m.under = false
	}
}

// ringCap is the largest ring a buffer of capacity cap holding a ring of
// cur bytes may use for new bytes without growing under pressure: its
// current ring (at least minRing), or the full capacity without pressure.
func (m *Memory) ringCap(cur, cap int) int {
	if m.UnderPressure() {
		return min(cap, max(cur, minRing))
	}
	return cap
}
