// Package queue has the one queue kastor hands work through between goroutines (inboxes, the
// producer lane, connection write queues, the completer): many pushers,
// one consumer that takes everything queued at once, never blocking a pusher.
package queue

import "sync"

// Queue is an unbounded many-producer, single-consumer queue. Push never blocks and reports
// whether the queue was empty, so the pusher that made it non-empty is the one that wakes the
// consumer (a poke message to an actor, a send on a channel): one wake-up per burst, not per item.
// The consumer takes everything at once and hands back the emptied slice of its previous take, so
// a steady stream allocates nothing. Close refuses every later push: what a closed queue refused,
// the pusher still owns.
//
// The zero Queue is empty and open.
type Queue[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
}

// Push queues it. ok is false, taking nothing, once the queue is closed; first is true when the
// queue was empty, so the caller must wake the consumer.
func (q *Queue[T]) Push(it T) (ok, first bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false
	}
	q.items = append(q.items, it)
	return true, len(q.items) == 1
}

// Take returns everything queued, in push order, and keeps spare (emptied) as the queue's next
// buffer: the caller must not touch spare afterwards, only what Take returned. It returns nothing
// once the queue is closed.
func (q *Queue[T]) Take(spare []T) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = keep(spare, len(items))
	return items
}

// keepMin is the capacity a spare buffer always keeps.
const keepMin = 1024

// keep returns spare emptied for the next pushes, or nil when it is far larger than the take that
// hands it back needed (more than 8 times, and more than keepMin items): a burst's buffer is not
// kept for good, and a steady stream still allocates nothing.
func keep[T any](spare []T, took int) []T {
	if cap(spare) > keepMin && cap(spare) > 8*took {
		return nil
	}
	return spare[:0]
}

// TakeOpen is Take that also reports whether the queue is still open; a consumer that waits for
// items uses it to tell "nothing yet" from "closed".
func (q *Queue[T]) TakeOpen(spare []T) (items []T, open bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, false
	}
	items = q.items
	q.items = keep(spare, len(items))
	return items, true
}

// Close refuses every later push and returns what was still queued. Closing twice returns nothing
// the second time.
func (q *Queue[T]) Close() []T {
	var left []T
	q.CloseWith(func(items []T) { left = items })
	return left
}

// CloseIfEmpty closes the queue only if nothing is queued, and reports whether it did (or it was
// closed already): a consumer that must not leave items behind closes it between takes.
func (q *Queue[T]) CloseIfEmpty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 {
		return false
	}
	q.closed = true
	return true
}

// CloseWith is Close that hands what was still queued to fail while the queue's lock is held: a
// pusher refused after it knows those items were already handled. fail runs only on the first
// close.
func (q *Queue[T]) CloseWith(fail func([]T)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	items := q.items
	q.items = nil
	fail(items)
}
