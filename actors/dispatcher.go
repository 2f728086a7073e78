package actors

import "sync"

// Dispatcher runs kastor's mailboxes on long-lived worker goroutines. protoactor-go's default
// dispatcher starts a new goroutine every time an idle mailbox gets a message; on the record path
// that happens several times per batch, and each new goroutine starts with a small stack that the
// handlers (sealing, encoding, CRC) grow again: measured at 19 % of the client's CPU with 1 KiB
// records (runtime.newstack/copystack). A worker keeps its grown stack and waits for the next
// mailbox instead of exiting.
//
// There is no bound: when every worker is busy a new one starts, exactly as often as the default
// dispatcher would start a goroutine, so no mailbox ever waits for another. Stop makes idle
// workers exit and busy ones exit when done; a mailbox scheduled after Stop runs on a goroutine
// of its own, as with the default dispatcher.
type Dispatcher struct {
	throughput int
	// work hands a mailbox to an idle worker; unbuffered, so a send succeeds only when one waits.
	// Closed by Stop: a plain receive is cheaper for the workers than a select with a quit channel.
	work chan func()
	mu   sync.RWMutex // Schedule's send and Stop's close must not overlap
	// stopped is read under mu.
	stopped bool
}

// NewDispatcher returns a dispatcher whose mailboxes handle up to throughput messages per turn.
func NewDispatcher(throughput int) *Dispatcher {
	return &Dispatcher{throughput: throughput, work: make(chan func())}
}

// Schedule implements actor.Dispatcher.
func (d *Dispatcher) Schedule(fn func()) {
	d.mu.RLock()
	if d.stopped {
		d.mu.RUnlock()
		go fn()
		return
	}
	select {
	case d.work <- fn:
		d.mu.RUnlock()
		return
	default:
	}
	d.mu.RUnlock()
	go d.worker(fn)
}

func (d *Dispatcher) worker(fn func()) {
	for ok := true; ok; fn, ok = <-d.work {
		fn()
	}
}

// Throughput implements actor.Dispatcher.
func (d *Dispatcher) Throughput() int { return d.throughput }

// Stop lets every worker exit once it is idle. It is idempotent.
func (d *Dispatcher) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped {
		d.stopped = true
		close(d.work)
	}
}
