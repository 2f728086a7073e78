package bufferpool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

var (
	// ErrTooLarge is matched (errors.Is) by Acquire's error for a request larger than the whole pool:
	// it could never be satisfied, so it fails at once.
	ErrTooLarge = errors.New("kastor/bufferpool: request larger than the pool")
	// ErrTimeout is matched by Acquire's error when the bytes did not become available within
	// maxWait (at once when maxWait <= 0).
	ErrTimeout = errors.New("kastor/bufferpool: timed out waiting for memory")
	// ErrClosed is returned by Acquire on a closed pool, and to the waiters Close wakes.
	ErrClosed = errors.New("kastor/bufferpool: pool closed")
)

// Budget is a byte budget shared by many goroutines: Acquire reserves bytes, Release returns them.
// Waiters are served strictly in arrival order, so a large request is not starved by a stream of
// small ones: while anyone waits, a new request queues behind it even if it would fit.
//
// All methods are safe for concurrent use. Budget starts no goroutines.
type Budget struct {
	mu     sync.Mutex
	limit  int64
	used   int64
	closed bool
	// head and tail are the FIFO queue of blocked Acquire calls.
	head, tail *waiter
	waiting    int
}

// waiter is one blocked Acquire. Every field but ready is guarded by Budget.mu; the grant, the close
// and the give-up all happen under it, which is what makes the cancel/grant race benign. Waiters
// and their timers are reused (waiters): under a full budget every send waits, and three
// allocations per wait would be most of the garbage a producer makes with large records.
type waiter struct {
	n          int64
	ready      chan struct{} // one token, sent once state leaves waiting
	timer      *time.Timer
	state      waiterState
	prev, next *waiter
}

var waiters = sync.Pool{New: func() any { return &waiter{ready: make(chan struct{}, 1)} }}

// signalLocked tells w's Acquire that its state left waiting. The token slot is empty (a waiter
// goes back to the pool only with its token taken), so the send never blocks; if it ever found it
// full it must not block under the lock.
func (w *waiter) signalLocked() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

type waiterState uint8

const (
	stateWaiting waiterState = iota
	stateGranted             // the n bytes are counted in Budget.used on the waiter's behalf
	stateClosed              // the pool was closed; nothing was reserved
)

// NewBudget returns a budget of limit bytes. A limit <= 0 makes every non-empty request fail with
// ErrTooLarge.
func NewBudget(limit int64) *Budget {
	return &Budget{limit: max(limit, 0)}
}

// Acquire reserves n bytes. It returns nil once they are reserved; the caller must Release them.
// Otherwise it reserves nothing and returns an error:
//   - matching ErrTooLarge at once if n exceeds the pool's limit;
//   - matching ErrClosed if the pool is or gets closed;
//   - wrapping ctx.Err() if ctx is done before the bytes are reserved (also when it already is);
//   - matching ErrTimeout if maxWait passes first. maxWait <= 0 means do not wait: fail at once
//     when the bytes are not available right now (or others are already waiting).
//
// Acquiring 0 bytes always succeeds on an open pool. A negative n panics.
func (p *Budget) Acquire(ctx context.Context, n int64, maxWait time.Duration) error {
	if n < 0 {
		panic(fmt.Sprintf("bufferpool: Acquire of %d bytes", n))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kastor/bufferpool: waiting for %d bytes: %w", n, err)
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return ErrClosed
	case n > p.limit:
		limit := p.limit
		p.mu.Unlock()
		return &tooLargeError{n: n, limit: limit}
	case n == 0 || p.fitsLocked(n):
		p.used += n
		p.mu.Unlock()
		return nil
	case maxWait <= 0:
		err := p.timeoutLocked(n, 0)
		p.mu.Unlock()
		return err
	}
	w := waiters.Get().(*waiter)
	w.n, w.state = n, stateWaiting
	p.pushLocked(w)
	p.mu.Unlock()

	if w.timer == nil {
		w.timer = time.NewTimer(maxWait)
	} else {
		w.timer.Reset(maxWait) // stopped when it was put back: no stale tick (Go 1.23 timers)
	}
	var giveUp error // nil after the timer fired: the timeout error is built under the lock below
	select {
	case <-w.ready:
		// Granted or closed. state was written under p.mu before the token was sent, and the send
		// happens before this receive, so reading it without the lock is race-free.
		state := w.state
		w.release()
		if state == stateGranted {
			return nil
		}
		return ErrClosed
	case <-ctx.Done():
		giveUp = fmt.Errorf("kastor/bufferpool: waiting for %d bytes: %w", n, ctx.Err())
	case <-w.timer.C:
	}

	// We are giving up (context done or deadline passed), but a Release or Close on another
	// goroutine may have served us in the meantime: select picks at random among ready cases, and
	// between the wake-up and the Lock below anything may happen. Step by step:
	//  1. Take p.mu. From here on nobody can grant, close or dequeue w behind our back: those only
	//     happen under p.mu.
	//  2. state == waiting: w is still queued and owns no bytes. Unlink it. If it was the head, it
	//     may have been the one blocking the waiters behind it (a big request ahead of small ones),
	//     so run the grant loop again: otherwise they could sleep although their bytes are free.
	//  3. state == granted: releaseLocked/grantLocked already moved w.n into p.used for us and
	//     closed ready, but the caller will see an error and will never Release. Give the bytes
	//     back here, which also wakes whoever now fits. No byte leaks, and Used() returns to 0.
	//  4. state == closed: nothing was reserved; report the close.
	// The caller thus sees either nil with n bytes reserved, or an error with nothing reserved.
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.state != stateWaiting {
		<-w.ready // sent under p.mu before we took it: the waiter goes back empty
	}
	defer w.release()
	switch w.state {
	case stateWaiting:
		wasHead := p.head == w
		p.removeLocked(w)
		if wasHead {
			p.grantLocked()
		}
	case stateGranted:
		p.releaseLocked(n)
	case stateClosed:
		return ErrClosed
	}
	if giveUp == nil {
		giveUp = p.timeoutLocked(n, maxWait)
	}
	return giveUp
}

// TryAcquire reserves n bytes if that is possible right now without waiting (and without jumping
// ahead of a waiter), and reports whether it did. 0 bytes always succeed on an open pool.
func (p *Budget) TryAcquire(n int64) bool {
	if n < 0 {
		panic(fmt.Sprintf("bufferpool: TryAcquire of %d bytes", n))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || n > p.limit || (n > 0 && !p.fitsLocked(n)) {
		return false
	}
	p.used += n
	return true
}

// Release returns n previously acquired bytes and wakes, in order, the waiters that now fit. It
// works on a closed pool too. Releasing more than is in use (or a negative n) is an accounting bug
// and panics.
func (p *Budget) Release(n int64) {
	if n < 0 {
		panic(fmt.Sprintf("bufferpool: Release of %d bytes", n))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n > p.used {
		panic(fmt.Sprintf("bufferpool: Release of %d bytes with only %d in use", n, p.used))
	}
	p.releaseLocked(n)
}

// Close makes every waiting and future Acquire fail with ErrClosed. Bytes already acquired stay
// counted until they are released. Close is idempotent.
func (p *Budget) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for w := p.head; w != nil; w = p.head {
		p.removeLocked(w)
		w.state = stateClosed
		w.signalLocked()
	}
}

// release puts a waiter whose Acquire is over back for reuse: out of the queue, its token taken.
func (w *waiter) release() {
	w.timer.Stop()
	w.prev, w.next = nil, nil
	waiters.Put(w)
}

// Used returns the bytes currently reserved.
func (p *Budget) Used() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}

// Limit returns the pool's size in bytes.
func (p *Budget) Limit() int64 { return p.limit }

// Waiters returns the number of Acquire calls currently blocked.
func (p *Budget) Waiters() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

// fitsLocked reports whether n bytes can be granted to a newcomer right now: there is room and
// nobody is queued ahead.
func (p *Budget) fitsLocked(n int64) bool {
	return p.head == nil && p.used+n <= p.limit
}

func (p *Budget) releaseLocked(n int64) {
	p.used -= n
	p.grantLocked()
}

// grantLocked serves queued waiters from the head while the head fits. It stops at the first one
// that does not fit, even if a later one would: that is what keeps large requests from starving.
func (p *Budget) grantLocked() {
	if p.closed {
		return
	}
	for w := p.head; w != nil && p.used+w.n <= p.limit; w = p.head {
		p.used += w.n
		p.removeLocked(w)
		w.state = stateGranted
		w.signalLocked()
	}
}

func (p *Budget) pushLocked(w *waiter) {
	w.prev = p.tail
	if p.tail != nil {
		p.tail.next = w
	} else {
		p.head = w
	}
	p.tail = w
	p.waiting++
}

func (p *Budget) removeLocked(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		p.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		p.tail = w.prev
	}
	w.prev, w.next = nil, nil
	p.waiting--
}

func (p *Budget) timeoutLocked(n int64, wait time.Duration) error {
	return &timeoutError{n: n, wait: wait, limit: p.limit, available: p.limit - p.used}
}

// timeoutError is the ErrTimeout failure with the numbers needed to size buffer.memory.
type timeoutError struct {
	n, limit, available int64
	wait                time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("kastor/bufferpool: failed to allocate %d bytes within %v (pool %d bytes, %d available)",
		e.n, e.wait, e.limit, e.available)
}

func (e *timeoutError) Is(target error) bool { return target == ErrTimeout }

// Timeout reports true, like net.Error timeouts.
func (e *timeoutError) Timeout() bool { return true }

type tooLargeError struct{ n, limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("kastor/bufferpool: %d bytes requested, more than the whole pool of %d bytes", e.n, e.limit)
}

func (e *tooLargeError) Is(target error) bool { return target == ErrTooLarge }
