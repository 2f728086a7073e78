package actors

import (
	"bytes"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/kastor-go/kastor/internal/freelist"
	"github.com/kastor-go/kastor/internal/metrics"
	"github.com/kastor-go/kastor/internal/queue"
	"github.com/kastor-go/kastor/messages"
)

// pendingRecord is what an accumulator keeps of a record once it is encoded into a batch: enough to
// build its RecordMetadata and complete it. 24 bytes: a producer holds one for every record
// buffered (about 200,000 of them when the caller outpaces the brokers), so what is counted per
// batch (the reserved buffer memory) is not kept per record.
type pendingRecord struct {
	done        messages.Completion
	timestampMs int64
	keySize     int32
	valueSize   int32
}

// completion is one batch's outcome (or a bare flush marker, with no records).
type completion struct {
	tp            messages.TopicPartition
	records       []pendingRecord
	reserved      int64 // the records' buffer memory, released after their callbacks
	err           error
	baseOffset    int64 // -1 when unknown (acks=0)
	logAppendTime int64 // -1 unless the topic uses LogAppendTime
	after         []func()
	// waitersOnly: every record's completion is a waiting Send's own hand-off (never user code,
	// never blocking), so it may run on the pusher's goroutine when nothing is ahead of it.
	waitersOnly bool
	// ownsRecords: records is a whole array from recordSlice that nothing else refers to, reused
	// once completed (a split batch's halves share one array, so they never own theirs).
	ownsRecords bool
}

// Completer runs record completions on one goroutine, in the order accumulators push them, so the
// records of a partition complete in send order and a slow user callback never blocks an actor. It
// is the only place user callbacks run (besides failures before a record is accepted, which
// complete on the sender's goroutine).
type Completer struct {
	// OnRecord, when set, runs for every record before its own callback (interceptors). It must
	// not panic (the root package's recovers the interceptors' panics).
	OnRecord func(md messages.RecordMetadata, err error)
	// Release returns a batch's reserved buffer memory, once per batch after its callbacks.
	Release func(reserved int64)
	// Metrics counts completed batches (nil: not counted). Set it before the first push: the
	// completion goroutine reads it after taking the queue (whose lock orders it after the set).
	Metrics *metrics.Recorder

	logger *slog.Logger

	// queue is closed when the goroutine exits: what is pushed after that runs at once, on the
	// pusher's goroutine.
	queue    queue.Queue[completion]
	wake     chan struct{} // one token: the push that made the queue non-empty, or Stop
	stopping atomic.Bool
	done     chan struct{}

	// gid is the completion goroutine's id: a Close, Send or Flush on it would wait for itself.
	gid atomic.Uint64
	// outstanding counts the items pushed and not completed yet.
	outstanding atomic.Int64

	// spareRecords: record arrays of completed batches, for the accumulators' next batches (a
	// batch's records would otherwise be an allocation per batch and most of the garbage the
	// record path makes). At most maxSpareRecords arrays of at most maxSpareRecordCap each.
	spareRecords *freelist.List[[]pendingRecord]
}

const (
	maxSpareRecords   = 1024
	maxSpareRecordCap = 4096
)

// recordSlice returns an empty slice for a new batch's records, room for n preferred; safe for
// concurrent use (and on a nil Completer, for tests of the accumulator's core alone).
func (c *Completer) recordSlice(n int) []pendingRecord {
	if c != nil {
		if rs, ok := c.spareRecords.Get(); ok && cap(rs) >= n {
			return rs
		}
	}
	return make([]pendingRecord, 0, n)
}

// recycleRecords keeps a completed batch's record array for recordSlice.
func (c *Completer) recycleRecords(rs []pendingRecord) {
	if cap(rs) > maxSpareRecordCap {
		return
	}
	clear(rs) // the callbacks they hold
	c.spareRecords.Put(rs[:0])
}

// NewCompleter starts the completion goroutine; Stop ends it after the queue drains.
func NewCompleter(onRecord func(md messages.RecordMetadata, err error), release func(reserved int64), logger *slog.Logger) *Completer {
	c := &Completer{OnRecord: onRecord, Release: release, logger: logger, wake: make(chan struct{}, 1), done: make(chan struct{}),
		spareRecords: freelist.New[[]pendingRecord](maxSpareRecords)}
	go c.run()
	return c
}

// push queues a batch's outcome; once the completer has stopped (everything pushed before ran),
// it completes at once on the caller's goroutine.
//
// A completion of waiting Sends only, with nothing ahead of it and no interceptor, completes at
// once on the caller's goroutine instead: the waiting caller is woken one goroutine hand-off
// sooner, and no record of its partition can be ahead of it (an accumulator pushes its
// partition's completions in order, from its own goroutine).
func (c *Completer) push(item completion) {
	if item.waitersOnly && c.OnRecord == nil && c.outstanding.Load() == 0 {
		c.complete(&item)
		return
	}
	c.outstanding.Add(1)
	ok, first := c.queue.Push(item)
	if !ok {
		c.complete(&item)
		c.outstanding.Add(-1)
		return
	}
	if first {
		c.signal()
	}
}

// After runs fn on the completion goroutine after everything pushed so far; once the completer has
// stopped, at once on the caller's goroutine.
func (c *Completer) After(fn func()) { c.push(completion{after: []func(){fn}}) }

func (c *Completer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Stop waits for the queue to drain and the goroutine to exit.
func (c *Completer) Stop() {
	c.stopping.Store(true)
	c.signal()
	<-c.done
}

func (c *Completer) run() {
	defer close(c.done)
	c.gid.Store(goroutineID())
	var spare []completion
	for {
		batch := c.queue.Take(spare)
		if len(batch) == 0 {
			if !c.stopping.Load() {
				<-c.wake
				spare = batch
				continue
			}
			// Closed only when nothing is left, so everything pushed before runs here, in
			// order; every later push runs on its pusher.
			if c.queue.CloseIfEmpty() {
				return
			}
			spare = batch
			continue
		}
		for i := range batch {
			c.complete(&batch[i])
			batch[i] = completion{}
			c.outstanding.Add(-1)
		}
		spare = batch
	}
}

func (c *Completer) complete(item *completion) {
	c.Metrics.BatchCompleted(item.tp.Topic, len(item.records), item.err)
	for i := 0; i < len(item.records); {
		i = c.callbacks(item, i)
	}
	if item.reserved > 0 && c.Release != nil {
		c.Release(item.reserved)
	}
	if item.ownsRecords {
		c.recycleRecords(item.records)
	}
	for _, fn := range item.after {
		fn()
	}
}

// callbacks completes item's records from the one at from, and returns where to go on: the end,
// or the record after one whose callback panicked (the panic is logged, and the completions behind
// it go on). One deferred recover for a run of records, not one per record.
func (c *Completer) callbacks(item *completion, from int) (next int) {
	next = from
	defer func() {
		if v := recover(); v != nil {
			c.logger.Error("kastor: send callback panicked", "topic", item.tp.Topic, "partition", item.tp.Partition, "panic", v)
		}
	}()
	md := messages.RecordMetadata{Topic: item.tp.Topic, Partition: item.tp.Partition}
	for next < len(item.records) {
		r := &item.records[next]
		next++
		md.Offset = -1
		md.Timestamp = time.UnixMilli(r.timestampMs)
		md.SerializedKeySize, md.SerializedValueSize = int(r.keySize), int(r.valueSize)
		if item.err == nil {
			if item.baseOffset >= 0 {
				md.Offset = item.baseOffset + int64(next-1)
			}
			// The timestamp rule (Java's FutureRecordMetadata): a record reports the timestamp it
			// was sent with (its CreateTime, "now" resolved at send when it had none), which is
			// what a CreateTime topic stores. Only a response carrying a log_append_time (not -1,
			// Kafka's NO_TIMESTAMP: a LogAppendTime topic) replaces it with the broker's time.
			if item.logAppendTime != -1 {
				md.Timestamp = time.UnixMilli(item.logAppendTime)
			}
		}
		if c.OnRecord != nil {
			c.OnRecord(md, item.err)
		}
		r.done(md, item.err)
	}
	return next
}

// OnCompletionGoroutine reports whether the caller runs on the completion goroutine (in a send
// callback or an interceptor's OnAcknowledgement), where waiting for a completion waits for itself.
func (c *Completer) OnCompletionGoroutine() bool {
	id := c.gid.Load()
	return id != 0 && id == goroutineID()
}

// goroutineID parses the current goroutine's id from the header of its stack trace ("goroutine
// 42 [running]:"): Go has no other way to ask, and callers need it only outside the record path.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0
	}
	return id
}
