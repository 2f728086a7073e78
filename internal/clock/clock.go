// Package clock is a millisecond clock that costs one atomic load to read while it is busy.
//
// Reading the system clock costs 50–150 ns on common virtual machines, about a fifth of kastor's
// whole per-record budget, while a record timestamp (milliseconds) and the linger and delivery
// deadlines need only millisecond precision. So while reads keep coming, a goroutine refreshes a
// shared value every millisecond; after idleTicks ticks without a read it stops, and the next read
// restarts it (and reads the system clock itself). An idle producer has no goroutine and no timer.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

const (
	tick      = time.Millisecond
	idleTicks = 50
)

// Coarse is the clock. The zero value is not usable; use New.
type Coarse struct {
	nowNs   atomic.Int64
	running atomic.Bool
	touched atomic.Bool // read since the last tick

	mu     sync.Mutex // serializes starting against Close
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// New returns a stopped clock.
func New() *Coarse { return &Coarse{stop: make(chan struct{})} }

// Now returns the current time, at most about a millisecond old. Safe for concurrent use.
func (c *Coarse) Now() time.Time {
	if !c.running.Load() {
		return c.start()
	}
	if !c.touched.Load() { // a load first: the store would make every reader contend on the line
		c.touched.Store(true)
	}
	return time.Unix(0, c.nowNs.Load())
}

func (c *Coarse) start() time.Time {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.running.Load() {
		return now
	}
	c.nowNs.Store(now.UnixNano())
	c.touched.Store(true)
	c.running.Store(true)
	c.wg.Add(1)
	go c.run()
	return now
}

func (c *Coarse) run() {
	defer c.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-c.stop:
			c.running.Store(false)
			return
		case <-t.C:
			c.nowNs.Store(time.Now().UnixNano())
			if c.touched.Swap(false) {
				idle = 0
				continue
			}
			if idle++; idle >= idleTicks {
				// A reader that saw running just before this store read a value one tick old,
				// which is within the clock's promise; later readers restart the goroutine.
				c.running.Store(false)
				return
			}
		}
	}
}

// Close stops the goroutine, if any, and waits for it; later reads use the system clock.
func (c *Coarse) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.stop)
	}
	c.mu.Unlock()
	c.wg.Wait()
}
