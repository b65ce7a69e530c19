// Package deadlines keeps items in deadline order in an intrusive doubly
// linked list: the IPv4 and IPv6 reassemblers keep their datagrams in one,
// oldest deadline first, so that expiry looks only at the front. Every
// deadline is an arrival time plus a fixed timeout, so Insert with a
// monotonic clock appends at the tail in O(1).
package deadlines

import "time"

// Node is one item: embed it in the item and point Value back at it.
type Node[T any] struct {
	Deadline   time.Time
	Value      T
	prev, next *Node[T]
	in         bool
}

// List is the items in deadline order; the zero List is empty.
type List[T any] struct {
	head, tail *Node[T]
}

// Front returns the node with the earliest deadline, nil if none.
func (l *List[T]) Front() *Node[T] { return l.head }

// Insert adds n, not in a list, after every node whose deadline is not
// after n's.
func (l *List[T]) Insert(n *Node[T]) {
	at := l.tail
	for at != nil && at.Deadline.After(n.Deadline) {
		at = at.prev
	}
	n.prev, n.in = at, true
	if at == nil {
		n.next = l.head
		l.head = n
	} else {
		n.next = at.next
		at.next = n
	}
	if n.next == nil {
		l.tail = n
	} else {
		n.next.prev = n
	}
}

// Remove takes n out of l; a node not in a list is left alone.
func (l *List[T]) Remove(n *Node[T]) {
	if !n.in {
		return
	}
	if n.prev == nil {
		l.head = n.next
	} else {
		n.prev.next = n.next
	}
	if n.next == nil {
		l.tail = n.prev
	} else {
		n.next.prev = n.prev
	}
	n.prev, n.next, n.in = nil, nil, false
}
