package stack

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
