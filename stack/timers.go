package stack

import (
	"container/heap"
	"time"
)

// deadlineHeap orders the connections with an armed timer by deadline, so
// the stack's single clock timer can always point at the earliest one
// without scanning every connection.
type deadlineHeap []*tcpEntry

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}
func (h *deadlineHeap) Push(x any) {
	e := x.(*tcpEntry)
	e.heapIndex = len(*h)
	*h = append(*h, e)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heapIndex = -1
	return e
}

// schedule places e in the heap at deadline d, or removes it when !ok.
func (h *deadlineHeap) schedule(e *tcpEntry, d time.Time, ok bool) {
	switch {
	case !ok && e.heapIndex >= 0:
		heap.Remove(h, e.heapIndex)
	case !ok:
	case e.heapIndex >= 0:
		e.deadline = d
		heap.Fix(h, e.heapIndex)
	default:
		e.deadline = d
		heap.Push(h, e)
	}
}

// next returns the earliest deadline.
func (h deadlineHeap) next() (time.Time, bool) {
	if len(h) == 0 {
		return time.Time{}, false
	}
	return h[0].deadline, true
}
