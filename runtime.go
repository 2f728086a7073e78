// Package kastor is a Kafka producer runtime built on protoactor-go actors.
//
// A Producer sends records to Kafka in order per partition and completes every record exactly
// once, with its offset or with an error. Send blocks until the record is acknowledged; SendAsync
// returns once the record is accepted and calls back later. Behind them, a metadata actor keeps the
// cluster view, one accumulator actor per partition builds batches, a sender actor drains them to
// one connection actor per broker; the per-record work (partitioning, memory accounting) runs on
// the caller's goroutine, so no single actor sees every record.
package kastor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/actors"
	"github.com/kastor-go/kastor/bufferpool"
	"github.com/kastor-go/kastor/internal/clock"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// Record is one record to produce; see messages.Record.
type Record = messages.Record

// Header is a record header.
type Header = messages.Header

// RecordMetadata is what the broker acknowledged for a record.
type RecordMetadata = messages.RecordMetadata

// TopicPartition names one partition of a topic.
type TopicPartition = messages.TopicPartition

// Partition selects a record's partition; the zero value lets the partitioner choose.
type Partition = messages.Partition

// PartitionOf returns a Partition that sends a record to partition n.
func PartitionOf(n int32) Partition { return messages.PartitionOf(n) }

// Errors a send can complete with, besides Kafka's own (wire.Err*, matchable with errors.Is).
var (
	ErrProducerClosed  = messages.ErrProducerClosed
	ErrRecordTooLarge  = messages.ErrRecordTooLarge
	ErrDeliveryTimeout = messages.ErrDeliveryTimeout
	ErrTimeout         = messages.ErrTimeout
	ErrConnection      = messages.ErrConnection
	ErrRequestTimeout  = messages.ErrRequestTimeout
	ErrInternal        = messages.ErrInternal
	ErrFatal           = messages.ErrFatal
	// ErrInvalidRecord: the record names no topic, or a partition the topic does not have.
	ErrInvalidRecord = errors.New("kastor: invalid record")
)

// Producer sends records to Kafka. It is safe for concurrent use. Close it when done.
type Producer struct {
	cfg         Config
	logger      *slog.Logger
	sys         *actor.ActorSystem
	ownSys      bool
	shared      *actors.Shared
	pool        *bufferpool.Pool
	pid         *actor.PID
	stopped     chan struct{}
	partitioner Partitioner
	clock       *clock.Coarse

	// mu is held for reading by every send in progress; Close takes it for writing to wait them
	// out (they see closing and give up their waits) before it flushes.
	mu       sync.RWMutex
	closed   bool
	closing  chan struct{}
	closeErr error
	once     sync.Once
}

var producerSeq atomic.Uint64

// New validates cfg and starts a producer. It does not contact the cluster until the first send.
func New(cfg Config) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The caller keeps its slices; kastor reads its own copies from many goroutines.
	cfg.BootstrapServers = slices.Clone(cfg.BootstrapServers)
	cfg.Interceptors = slices.Clone(cfg.Interceptors)
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	p := &Producer{cfg: cfg, logger: logger, sys: cfg.ActorSystem, stopped: make(chan struct{}), closing: make(chan struct{}),
		clock: clock.New()}
	if p.sys == nil {
		p.ownSys = true
		p.sys = actor.NewActorSystem(
			actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
				return slog.New(minLevel{h: logger.Handler(), min: slog.LevelWarn}).With("lib", "protoactor")
			}),
			// A dead letter starts a goroutine that lives this long; keep it short so Close
			// leaves nothing behind.
			actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
		)
	}
	p.pool = bufferpool.New(cfg.BufferMemory)
	p.partitioner = cfg.Partitioner
	if p.partitioner == nil {
		p.partitioner = NewDefaultPartitioner(cfg.BatchSize, cfg.PartitionerIgnoreKeys)
	}
	var onRecord func(RecordMetadata, error)
	if len(cfg.Interceptors) > 0 {
		onRecord = p.acknowledge
	}
	completer := actors.NewCompleter(onRecord, p.pool.Release, logger)
	p.shared = actors.NewShared(actors.Settings{
		Bootstrap: cfg.BootstrapServers, ClientID: cfg.ClientID, Acks: int16(cfg.Acks), Idempotent: cfg.EnableIdempotence,
		BatchSize: cfg.BatchSize, Linger: cfg.Linger, MaxRequestSize: cfg.MaxRequestSize,
		Codec: cfg.Compression, CodecLevel: cfg.CompressionLevel,
		RequestTimeout: cfg.RequestTimeout, DeliveryTimeout: cfg.DeliveryTimeout,
		Retries: cfg.Retries, RetryBackoff: cfg.RetryBackoff, RetryBackoffMax: cfg.RetryBackoffMax,
		MaxInFlight: cfg.MaxInFlightRequestsPerConnection, MetadataMaxAge: cfg.MetadataMaxAge,
		ReconnectBackoff: cfg.ReconnectBackoff, ReconnectMax: cfg.ReconnectBackoffMax,
		SetupTimeout: cfg.SocketConnectionSetupTimeout, Dial: cfg.Dialer, ConnectionsMaxIdle: cfg.ConnectionsMaxIdle,
	}, logger, p.pool, completer)
	// Not named after ClientID: a '/' in it would read as an actor path.
	pid, err := p.sys.Root.SpawnNamed(actors.NewProducerProps(p.shared, p.stopped), fmt.Sprintf("kastor-%d", producerSeq.Add(1)))
	if err != nil {
		completer.Stop()
		p.clock.Close()
		return nil, fmt.Errorf("kastor: spawning the producer actor: %w", err)
	}
	p.pid = pid
	return p, nil
}

// Send produces rec and waits until it is acknowledged (or fails). Cancelling ctx stops the wait
// for metadata or buffer memory and, once the record is accepted, the wait for its
// acknowledgement: the record itself is not recalled and may still be written, as with Java's
// Future.get timeout. Its outcome is then reported only to interceptors.
func (p *Producer) Send(ctx context.Context, rec *Record) (RecordMetadata, error) {
	type result struct {
		md  RecordMetadata
		err error
	}
	ch := make(chan result, 1)
	p.SendAsync(ctx, rec, func(md RecordMetadata, err error) { ch <- result{md, err} })
	select {
	case r := <-ch:
		return r.md, r.err
	case <-ctx.Done():
		return RecordMetadata{}, fmt.Errorf("kastor: stopped waiting for the acknowledgement, the record may still be written: %w", context.Cause(ctx))
	}
}

// SendAsync produces rec and calls cb exactly once with the outcome: from SendAsync itself when the
// record is refused (closed producer, invalid or oversize record, no metadata or memory within
// MaxBlock or ctx), otherwise later, on kastor's completion goroutine, in send order for the
// records of a partition. cb must not block for long: it delays the completions behind it. ctx
// bounds only the blocking before the record is accepted. rec belongs to kastor until cb runs.
func (p *Producer) SendAsync(ctx context.Context, rec *Record, cb func(RecordMetadata, error)) {
	if cb == nil {
		cb = func(RecordMetadata, error) {}
	}
	if rec == nil {
		p.refuse(nil, cb, fmt.Errorf("%w: nil record", ErrInvalidRecord))
		return
	}
	rec, err := p.accept(ctx, rec, cb)
	if err != nil {
		// Outside the lock: a callback that closes the producer must not deadlock.
		p.refuse(rec, cb, err)
	}
}

func (p *Producer) accept(ctx context.Context, rec *Record, cb messages.Completion) (*Record, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return rec, ErrProducerClosed
	}
	if err := ctx.Err(); err != nil {
		return rec, fmt.Errorf("kastor: send: %w", context.Cause(ctx))
	}
	rec = p.intercept(rec)
	return rec, p.enqueue(ctx, rec, cb)
}

// enqueue runs a send on the caller's goroutine: metadata, partition, memory, then one message to
// the partition's accumulator.
func (p *Producer) enqueue(ctx context.Context, rec *Record, cb messages.Completion) error {
	if rec.Topic == "" {
		return fmt.Errorf("%w: no topic", ErrInvalidRecord)
	}
	if err := p.shared.Fatal(); err != nil {
		return err
	}
	size := recordSizeUpperBound(rec)
	if size+wire.RecordBatchOverhead > p.cfg.MaxRequestSize {
		return fmt.Errorf("%w: the record is %d bytes when serialized, larger than MaxRequestSize (%d)", ErrRecordTooLarge, size+wire.RecordBatchOverhead, p.cfg.MaxRequestSize)
	}
	if int64(size) > p.cfg.BufferMemory {
		return fmt.Errorf("%w: the record is %d bytes when serialized, larger than BufferMemory (%d)", ErrRecordTooLarge, size, p.cfg.BufferMemory)
	}
	// One coarse clock read on the fast path (an atomic load; see internal/clock); the MaxBlock
	// deadline is computed only if something blocks.
	now := p.clock.Now()
	part, explicit := rec.Partition.Get()
	if explicit && part < 0 {
		return fmt.Errorf("%w: partition %d", ErrInvalidRecord, part)
	}
	want := int32(-1)
	if explicit {
		want = part
	}
	topic, err := p.waitTopic(ctx, rec.Topic, want, now)
	if err != nil {
		return err
	}
	n := int32(len(topic.Partitions))
	if !explicit {
		part = p.partitioner.Partition(rec, n)
	}
	if part < 0 || part >= n {
		return fmt.Errorf("%w: partition %d of topic %s, which has %d partitions", ErrInvalidRecord, part, rec.Topic, n)
	}
	if !p.pool.TryAcquire(int64(size)) {
		if err := p.pool.Acquire(ctx, int64(size), time.Until(now.Add(p.cfg.MaxBlock))); err != nil {
			switch {
			case errors.Is(err, bufferpool.ErrTimeout):
				return fmt.Errorf("%w: failed to allocate %d bytes of buffer memory within MaxBlock (%v)", ErrTimeout, size, p.cfg.MaxBlock)
			case errors.Is(err, bufferpool.ErrClosed):
				return ErrProducerClosed
			}
			return err
		}
	}
	tp := TopicPartition{Topic: rec.Topic, Partition: part}
	pid, err := p.accumulator(ctx, tp)
	if err != nil {
		p.pool.Release(int64(size))
		return err
	}
	ts := rec.Timestamp
	if ts.IsZero() {
		ts = now
	}
	m := actors.NewAppend()
	*m = messages.Append{Record: rec, TimestampMs: ts.UnixMilli(), Reserved: int64(size), EnqueuedNs: now.UnixNano(), Done: cb}
	p.sys.Root.Send(pid, m)
	return nil
}

// waitTopic returns the topic's metadata, asking for it and waiting (up to MaxBlock from start, ctx
// or Close) while the topic is unknown, or while it has no partition number want (when want >= 0:
// the partition count may have grown, as Java's waitOnMetadata assumes).
func (p *Producer) waitTopic(ctx context.Context, topic string, want int32, start time.Time) (*actors.TopicInfo, error) {
	var timer *time.Timer
	for {
		cl := p.shared.Cluster()
		ti := cl.Topics[topic]
		if ti != nil && ti.Err == nil && len(ti.Partitions) > 0 && want < int32(len(ti.Partitions)) {
			return ti, nil
		}
		if ti != nil && ti.Err != nil && !wire.IsRetriable(ti.Err) {
			return nil, fmt.Errorf("kastor: topic %s: %w", topic, ti.Err)
		}
		p.sys.Root.Send(p.pid, &messages.RefreshMetadata{Topics: []string{topic}, Reason: "send"})
		if timer == nil {
			timer = time.NewTimer(time.Until(start.Add(p.cfg.MaxBlock)))
			defer timer.Stop()
		}
		select {
		case <-cl.Updated():
		case <-timer.C:
			if ti != nil && ti.Err == nil && len(ti.Partitions) > 0 {
				return nil, fmt.Errorf("%w: Partition %d of topic %s with partition count %d is not present in metadata after %d ms.",
					ErrTimeout, want, topic, len(ti.Partitions), p.cfg.MaxBlock.Milliseconds())
			}
			return nil, fmt.Errorf("%w: Topic %s not present in metadata after %d ms.", ErrTimeout, topic, p.cfg.MaxBlock.Milliseconds())
		case <-ctx.Done():
			return nil, fmt.Errorf("kastor: waiting for metadata of topic %s: %w", topic, context.Cause(ctx))
		case <-p.closing:
			return nil, ErrProducerClosed
		}
	}
}

// accumulator returns tp's accumulator, asking the producer actor to spawn it on first use.
func (p *Producer) accumulator(ctx context.Context, tp TopicPartition) (*actor.PID, error) {
	if pid, ok := p.shared.Accumulator(tp); ok {
		return pid, nil
	}
	reply := make(chan *actor.PID, 1)
	p.sys.Root.Send(p.pid, &actors.SpawnAccumulator{TP: tp, Reply: reply})
	select {
	case pid := <-reply:
		return pid, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-p.closing:
		return nil, ErrProducerClosed
	}
}

// recordSizeUpperBound is the most bytes rec can take in a batch: its fields plus the largest
// varints (Java's estimateSizeInBytesUpperBound, without the batch header).
func recordSizeUpperBound(r *Record) int {
	n := 5 + 1 + 10 + 5 + 5 + len(r.Key) + 5 + len(r.Value) + 5
	for _, h := range r.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

func (p *Producer) intercept(rec *Record) *Record {
	for _, in := range p.cfg.Interceptors {
		func() {
			defer p.recoverInterceptor("OnSend")
			if r := in.OnSend(rec); r != nil {
				rec = r
			}
		}()
	}
	return rec
}

func (p *Producer) recoverInterceptor(where string) {
	if v := recover(); v != nil {
		p.logger.Error("kastor: interceptor panicked", "method", where, "panic", v)
	}
}

// refuse completes a record that was never accepted: interceptors first, then cb, on the
// caller's goroutine.
func (p *Producer) refuse(rec *Record, cb func(RecordMetadata, error), err error) {
	md := RecordMetadata{Partition: -1, Offset: -1, SerializedKeySize: -1, SerializedValueSize: -1}
	if rec != nil {
		md.Topic = rec.Topic
		if n, ok := rec.Partition.Get(); ok {
			md.Partition = n
		}
	}
	p.acknowledge(md, err)
	cb(md, err)
}

func (p *Producer) acknowledge(md RecordMetadata, err error) {
	for _, in := range p.cfg.Interceptors {
		func() {
			defer p.recoverInterceptor("OnAcknowledgement")
			in.OnAcknowledgement(md, err)
		}()
	}
}

// Flush sends every record accepted before it without waiting for linger, and returns when all
// of them have completed (their callbacks have run), or with ctx's error.
func (p *Producer) Flush(ctx context.Context) error {
	var pids []*actor.PID
	p.shared.RangeAccumulators(func(_ TopicPartition, pid *actor.PID) { pids = append(pids, pid) })
	var left atomic.Int64
	left.Store(int64(len(pids)) + 1)
	done := make(chan struct{})
	finish := func() {
		if left.Add(-1) == 0 {
			close(done)
		}
	}
	for _, pid := range pids {
		p.sys.Root.Send(pid, &messages.FlushPartition{Done: finish})
	}
	finish()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kastor: flush: %w", context.Cause(ctx))
	}
}

// Close stops accepting records, flushes what was accepted and waits for it, then stops every
// actor and goroutine of the producer. If ctx ends first, every record not yet completed fails
// with ErrProducerClosed (it may or may not have been written) and Close still stops cleanly,
// returning ctx's error. Later sends fail with ErrProducerClosed. Close is idempotent.
func (p *Producer) Close(ctx context.Context) error {
	p.once.Do(func() { p.closeErr = p.close(ctx) })
	return p.closeErr
}

func (p *Producer) close(ctx context.Context) error {
	close(p.closing) // sends blocked on metadata or spawning give up
	p.pool.Close()   // sends blocked on memory give up
	p.mu.Lock()      // waits for sends in progress to finish accepting or refusing
	p.closed = true
	p.mu.Unlock()

	err := p.Flush(ctx)
	if err != nil {
		abort := fmt.Errorf("%w before the record completed (%v)", ErrProducerClosed, context.Cause(ctx))
		p.shared.RangeAccumulators(func(_ TopicPartition, pid *actor.PID) {
			p.sys.Root.Send(pid, &messages.AbortPartition{Err: abort})
		})
		// Nothing waits on the network any more: this returns as soon as the aborts are done.
		p.Flush(context.Background())
	}
	p.sys.Root.Stop(p.pid)
	<-p.stopped
	p.shared.Completer.Stop()
	p.shared.Goroutines.Wait()
	p.clock.Close()
	if p.ownSys {
		p.sys.Shutdown()
	}
	if err != nil {
		return fmt.Errorf("kastor: close: unfinished records were failed: %w", err)
	}
	return nil
}

// minLevel drops records below a level (protoactor-go logs every actor system start at Info).
type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(a), min: m.min}
}
func (m minLevel) WithGroup(g string) slog.Handler { return minLevel{h: m.h.WithGroup(g), min: m.min} }
