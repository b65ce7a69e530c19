package ports

import "testing"

func nothingInUse(uint16) bool { return false }

func TestPick_NothingInUse_ReturnsPortInEphemeralRange(t *testing.T) {
	p := NewPicker()
	for range 10000 {
		port, ok := p.Pick(nothingInUse)
		if !ok {
			t.Fatal("Pick failed with nothing in use")
		}
		if port < EphemeralFirst || port > EphemeralLast {
			t.Fatalf("Pick = %d, outside [%d, %d]", port, EphemeralFirst, EphemeralLast)
		}
	}
}

func TestPick_AllInUse_ReturnsFalseAfterTryingEveryPort(t *testing.T) {
	p := NewPicker()
	tried := make(map[uint16]int)
	port, ok := p.Pick(func(port uint16) bool { tried[port]++; return true })
	if ok {
		t.Fatalf("Pick = %d, true; want false when every port is in use", port)
	}
	if len(tried) != numEphemeral {
		t.Fatalf("tried %d distinct ports, want %d", len(tried), numEphemeral)
	}
	for port, n := range tried {
		if n != 1 {
			t.Fatalf("port %d tried %d times, want once", port, n)
		}
		if port < EphemeralFirst || port > EphemeralLast {
			t.Fatalf("tried port %d outside the range", port)
		}
	}
}

func TestPick_OnlyOnePortFree_FindsIt(t *testing.T) {
	p := NewPicker()
	for _, free := range []uint16{EphemeralFirst, EphemeralFirst + 1, 45000, EphemeralLast} {
		for range 20 {
			port, ok := p.Pick(func(port uint16) bool { return port != free })
			if !ok || port != free {
				t.Fatalf("Pick = %d, %v; want %d, true", port, ok, free)
			}
		}
	}
}

func TestPick_CandidateTaken_TriesNextPortWithWrap(t *testing.T) {
	// Algorithm 1: after a taken candidate the next one is its successor,
	// wrapping from EphemeralLast to EphemeralFirst.
	p := newPickerSeed([32]byte{1})
	for range 1000 {
		var seq []uint16
		p.Pick(func(port uint16) bool {
			seq = append(seq, port)
			return len(seq) < 3
		})
		for i := 1; i < len(seq); i++ {
			want := seq[i-1] + 1
			if seq[i-1] == EphemeralLast {
				want = EphemeralFirst
			}
			if seq[i] != want {
				t.Fatalf("candidates %v are not successive", seq)
			}
		}
	}
}

func TestPick_TwoPickers_ChooseDifferentSequences(t *testing.T) {
	a, b := NewPicker(), NewPicker()
	same := 0
	const n = 16
	for range n {
		pa, _ := a.Pick(nothingInUse)
		pb, _ := b.Pick(nothingInUse)
		if pa == pb {
			same++
		}
	}
	// Independent uniform picks collide with probability ~1/28232 each.
	if same == n {
		t.Fatalf("two pickers produced the same %d ports", n)
	}
}

func TestPick_ConsecutivePicks_AreNotSequentialOrConstant(t *testing.T) {
	p := NewPicker()
	const n = 1000
	prev, _ := p.Pick(nothingInUse)
	sequential, constant := 0, 0
	seen := make(map[uint16]bool)
	for range n {
		port, _ := p.Pick(nothingInUse)
		switch port {
		case prev + 1:
			sequential++
		case prev:
			constant++
		}
		seen[port] = true
		prev = port
	}
	if sequential > 5 || constant > 5 {
		t.Fatalf("out of %d picks: %d sequential, %d repeated; want random", n, sequential, constant)
	}
	if len(seen) < n/2 {
		t.Fatalf("only %d distinct ports in %d picks", len(seen), n)
	}
}

func TestPick_NothingInUse_CoversRangeRoughlyUniformly(t *testing.T) {
	p := newPickerSeed([32]byte{2})
	const buckets, n = 8, 80000
	var count [buckets]int
	for range n {
		port, _ := p.Pick(nothingInUse)
		count[(int(port)-EphemeralFirst)*buckets/numEphemeral]++
	}
	for i, c := range count {
		if c < n/buckets*8/10 || c > n/buckets*12/10 {
			t.Fatalf("bucket %d has %d of %d picks; counts %v", i, c, n, count)
		}
	}
}

func TestPick_NothingInUse_DoesNotAllocate(t *testing.T) {
	p := NewPicker()
	if a := testing.AllocsPerRun(100, func() { p.Pick(nothingInUse) }); a != 0 {
		t.Fatalf("Pick allocates %v times per call", a)
	}
}
