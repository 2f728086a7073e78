// Package freelist keeps things the record path made once for the next time it needs one, across
// goroutines: what a partition gives back (a completed batch's struct, its record array) is often
// needed next by another partition, where a per-partition list would drop it and allocate again.
package freelist

import "sync"

// List is a bounded stack of spare values, safe for concurrent use. The zero List keeps none.
type List[T any] struct {
	mu    sync.Mutex
	items []T
	max   int
}

// New returns a list that keeps at most max spares.
func New[T any](max int) *List[T] { return &List[T]{max: max} }

// Get returns a spare, ok false when there is none.
func (l *List[T]) Get() (v T, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.items)
	if n == 0 {
		return v, false
	}
	v = l.items[n-1]
	var zero T
	l.items[n-1] = zero
	l.items = l.items[:n-1]
	return v, true
}

// Put keeps v for a later Get, unless the list is full; it reports whether v was kept.
func (l *List[T]) Put(v T) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.items) >= l.max {
		return false
	}
	l.items = append(l.items, v)
	return true
}
