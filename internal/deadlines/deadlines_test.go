package deadlines

import (
	"testing"
	"time"
)

func order(l *List[int]) (fwd, back []int) {
	for n := l.head; n != nil; n = n.next {
		fwd = append(fwd, n.Value)
	}
	for n := l.tail; n != nil; n = n.prev {
		back = append([]int{n.Value}, back...)
	}
	return fwd, back
}

// Nodes come out in deadline order whatever the insertion order (equal
// deadlines in insertion order), both links agree, and removal from the
// front, middle and back keeps them so; removing twice is harmless.
func TestList_DeadlineOrder(t *testing.T) {
	t0 := time.Unix(0, 0)
	var l List[int]
	nodes := map[int]*Node[int]{}
	for _, s := range []int{3, 1, 4, 1, 5, 9, 2, 6} {
		n := &Node[int]{Deadline: t0.Add(time.Duration(s) * time.Second), Value: s*10 + len(nodes)}
		nodes[n.Value] = n
		l.Insert(n)
	}
	want := []int{11, 13, 26, 30, 42, 54, 67, 95}
	check := func(want []int) {
		t.Helper()
		fwd, back := order(&l)
		if len(fwd) != len(want) || len(back) != len(want) {
			t.Fatalf("forward %v, backward %v; want %v", fwd, back, want)
		}
		for i := range want {
			if fwd[i] != want[i] || back[i] != want[i] {
				t.Fatalf("forward %v, backward %v; want %v", fwd, back, want)
			}
		}
		if len(want) > 0 && l.Front().Value != want[0] || len(want) == 0 && l.Front() != nil {
			t.Fatalf("Front wrong for %v", want)
		}
	}
	check(want)
	l.Remove(nodes[11])
	l.Remove(nodes[42])
	l.Remove(nodes[95])
	l.Remove(nodes[95])
	check([]int{13, 26, 30, 54, 67})
	for _, v := range []int{13, 26, 30, 54, 67} {
		l.Remove(nodes[v])
	}
	check(nil)
}
