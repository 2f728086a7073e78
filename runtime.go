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

// Record is one record to produce. kastor owns it from the moment it is handed to Send or
// SendAsync until its completion runs: do not modify it, or reuse its slices, before then.
// Its fields:
//
//	Topic     string     // required
//	Partition Partition  // zero: the partitioner chooses; PartitionOf(n): partition n
//	Key       []byte     // nil is a null key (spread by the sticky partitioner)
//	Value     []byte     // nil is a null value (a tombstone on compacted topics)
//	Headers   []Header   // {Key string, Value []byte}
//	Timestamp time.Time  // CreateTime; the zero time means "now" when sent
//
// Topics configured with LogAppendTime get the broker's time back in RecordMetadata.
type Record = messages.Record

// Header is a record header: a key and an opaque value (nil is a null value). Its fields:
//
//	Key   string
//	Value []byte
type Header = messages.Header

// RecordMetadata is what the broker acknowledged for a record. Its fields:
//
//	Topic               string
//	Partition           int32
//	Offset              int64     // -1 when unknown (acks=0, or the record failed)
//	Timestamp           time.Time // CreateTime, or the broker's LogAppendTime on such topics
//	SerializedKeySize   int       // -1 when the key is null
//	SerializedValueSize int       // -1 when the value is null
type RecordMetadata = messages.RecordMetadata

// TopicPartition names one partition of a topic. Its fields:
//
//	Topic     string
//	Partition int32
type TopicPartition = messages.TopicPartition

// Partition selects a record's partition; the zero value lets the partitioner choose, and
// PartitionOf(n) names partition n. Get returns the partition and whether one was named.
type Partition = messages.Partition

// PartitionOf returns a Partition that sends a record to partition n.
func PartitionOf(n int32) Partition { return messages.PartitionOf(n) }

// Errors a send can complete with, besides Kafka's own (KafkaError values such as
// ErrUnknownTopicOrPartition, matchable with errors.Is). Which timeout is which: see the package
// documentation.
var (
	// ErrProducerClosed: the producer was closed before the record could be sent or acknowledged
	// (a Close whose context ended, a Close from a callback, or a send after Close).
	ErrProducerClosed = messages.ErrProducerClosed
	// ErrRecordTooLarge: the record can never be sent: serialized, it is larger than
	// MaxRequestSize or BufferMemory. Refused before it is accepted.
	ErrRecordTooLarge = messages.ErrRecordTooLarge
	// ErrDeliveryTimeout: the record was accepted but not acknowledged within DeliveryTimeout of
	// its send (delivery.timeout.ms), retries included. It may or may not have been written.
	ErrDeliveryTimeout = messages.ErrDeliveryTimeout
	// ErrTimeout: the send blocked longer than MaxBlock (max.block.ms) before the record was
	// accepted, waiting for the topic's metadata or for buffer memory. The record was not sent.
	// It wraps the reason when there is one (no broker reachable, the topic's Kafka error).
	ErrTimeout = messages.ErrTimeout
	// ErrConnection: the connection to a broker failed (dial, handshake, or a broken link); a
	// request on it may or may not have been written. Retriable: kastor reconnects and retries; a
	// record fails with it only once Retries are spent.
	ErrConnection = messages.ErrConnection
	// ErrRequestTimeout: a broker did not answer one request within RequestTimeout
	// (request.timeout.ms); kastor closes the connection and retries. A record fails with it only
	// once Retries are spent.
	ErrRequestTimeout = messages.ErrRequestTimeout
	// ErrInternal: a bug in kastor was caught (a panic inside one of its actors); the record was
	// failed rather than lost.
	ErrInternal = messages.ErrInternal
	// ErrFatal is wrapped by the error of a producer in a fatal state (authorization refused, a
	// fenced producer, a cluster without idempotence support): nothing more can be sent; close it
	// (or let its supervisor restart it, see Props).
	ErrFatal = messages.ErrFatal
	// ErrProducerRestarted: the producer actor was restarted by its supervisor while it held the
	// record (see Props); the record may or may not have been written.
	ErrProducerRestarted = messages.ErrProducerRestarted
	// ErrAuthentication: a broker rejected the SASL login, or a certificate (ours or the broker's)
	// was rejected; the error names the broker and the mechanism.
	ErrAuthentication = messages.ErrAuthentication
	// ErrInvalidRecord: the record names no topic, or a partition the topic does not have
	// (according to metadata fetched for the send). Refused before it is accepted.
	ErrInvalidRecord = errors.New("kastor: invalid record")
	// ErrInCallback: Send or Flush was called from a send callback (or an interceptor's
	// OnAcknowledgement). Both wait for completions that run on the callback's own goroutine after
	// it returns, so they would wait for themselves; use SendAsync there.
	ErrInCallback = errors.New("kastor: called from a send callback, where waiting would deadlock")
)

// Producer sends records to Kafka. It is safe for concurrent use. Close it when done.
type Producer struct {
	cfg         Config
	logger      *slog.Logger
	sys         *actor.ActorSystem
	ownSys      bool
	shared      *actors.Shared
	memory      *bufferpool.Budget
	pid         *actor.PID
	stopped     chan struct{}
	partitioner Partitioner
	// builtin is partitioner when it is kastor's own, which never panics: called directly,
	// without the recover a user's needs.
	builtin *defaultPartitioner
	clock   *clock.Coarse

	// mu is held for reading by every send in progress (SendAsync, and a Produce on its sender's
	// goroutine); closing takes it for writing to wait them out (they see closing and give up
	// their waits) before anything is flushed or stopped.
	mu         sync.RWMutex
	closed     bool
	closedFlag atomic.Bool // closed, for readers that do not hold mu (the producer actor)
	closing    chan struct{}
	closeErr   error
	closeDone  chan struct{} // closed once Close has stopped everything (the first Close, wherever it ran)
	once       sync.Once
	closeOnce  sync.Once
	// cleanupOnce: the producer actor's Stopped releases what the producer owns, once.
	cleanupOnce sync.Once

	// Actor-native use (actor.go): the producer actor's mailbox, the queue of what waits in the
	// actor, and the memory-release notification it asks for when records wait for memory.
	mailbox     *producerMailbox
	gate        laneGate
	lane        laneQueue
	memWaiting  atomic.Bool // records wait in the actor for buffer memory
	memNotified atomic.Bool // a memoryReleased message is on its way
	noReply     messages.Completion
	unanswered  atomic.Uint64 // fire-and-forget records that failed
	txnRunner   txnRunner     // actor users' transactional operations (transactions.go)
	txnPending  txnPending    // the transactional operation a cancelled wait left running
	lastFailLog atomic.Int64  // unix ns of the last such failure logged
}

var producerSeq atomic.Uint64

// New validates cfg and starts a producer. It does not contact the cluster until the first send.
// Its producer actor runs at the root of cfg.ActorSystem (or of a private system); Producer.PID
// accepts the actor messages (Produce, Flush) too. To run the producer as a child of your own actor,
// spawn Props instead.
func New(cfg Config) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := newProducer(cfg, cfg.ActorSystem)
	// Not named after ClientID: a '/' in it would read as an actor path.
	if _, err := p.sys.Root.SpawnNamed(p.props(false), fmt.Sprintf("kastor-%d", producerSeq.Add(1))); err != nil {
		p.cleanup()
		return nil, fmt.Errorf("kastor: spawning the producer actor: %w", err)
	}
	return p, nil
}

// newProducer builds a producer's state (pool, completer, shared view) for cfg, which must be
// valid, without spawning its actor. sys nil makes a private actor system.
func newProducer(cfg Config, sys *actor.ActorSystem) *Producer {
	// The caller keeps its slices; kastor reads its own copies from many goroutines.
	cfg.BootstrapServers = slices.Clone(cfg.BootstrapServers)
	cfg.Interceptors = slices.Clone(cfg.Interceptors)
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	p := &Producer{cfg: cfg, logger: logger, sys: sys, stopped: make(chan struct{}), closing: make(chan struct{}), closeDone: make(chan struct{}),
		clock: clock.New()}
	if p.sys == nil {
		p.ownSys = true
		p.sys = actor.NewActorSystem(ActorSystemOptions(logger)...)
	}
	p.memory = bufferpool.NewBudget(cfg.BufferMemory)
	p.partitioner = cfg.Partitioner
	if p.partitioner == nil {
		p.builtin = &defaultPartitioner{batchSize: int64(cfg.BatchSize), ignoreKeys: cfg.PartitionerIgnoreKeys}
		p.partitioner = p.builtin
	}
	p.noReply = p.onUnanswered
	var onRecord func(RecordMetadata, error)
	if len(cfg.Interceptors) > 0 {
		onRecord = p.acknowledge
	}
	completer := actors.NewCompleter(onRecord, p.release, logger)
	completer.Metrics = p.newRecorder()
	p.shared = actors.NewShared(actors.Settings{
		Bootstrap: cfg.BootstrapServers, ClientID: cfg.ClientID, Acks: int16(cfg.Acks), Idempotent: cfg.EnableIdempotence,
		BatchSize: cfg.BatchSize, Linger: cfg.Linger, MaxRequestSize: cfg.MaxRequestSize,
		Codec: cfg.Compression, CodecLevel: cfg.CompressionLevel,
		RequestTimeout: cfg.RequestTimeout, DeliveryTimeout: cfg.DeliveryTimeout,
		Retries: cfg.Retries, RetryBackoff: cfg.RetryBackoff, RetryBackoffMax: cfg.RetryBackoffMax,
		MaxInFlight: cfg.MaxInFlightRequestsPerConnection, MetadataMaxAge: cfg.MetadataMaxAge,
		ReconnectBackoff: cfg.ReconnectBackoff, ReconnectMax: cfg.ReconnectBackoffMax,
		SetupTimeout: cfg.SocketConnectionSetupTimeout, Dial: cfg.Dialer, ConnectionsMaxIdle: cfg.ConnectionsMaxIdle,
		Security:        actors.Security{TLS: cfg.TLS, SASL: cfg.SASL},
		TransactionalID: cfg.TransactionalID, TransactionTimeout: cfg.TransactionTimeout,
	}, logger, p.memory, completer)
	p.shared.Metrics = completer.Metrics
	return p
}

// cleanup releases what the producer owns once its actor has stopped (or never started): the
// completion goroutine (after it ran every completion), the connections' goroutines, the batch
// buffers' memory, the clock.
func (p *Producer) cleanup() {
	p.cleanupOnce.Do(func() {
		p.shared.Completer.Stop()
		p.shared.Goroutines.Wait()
		p.shared.Dispatcher.Stop()
		// After the accumulators (which write batch buffers) stopped and the connections'
		// goroutines (which read them) returned.
		p.shared.Buffers.Close()
		p.shared.Metrics.Close()
		p.clock.Close()
		if n := p.unanswered.Load(); n > 0 {
			p.logger.Warn("kastor: fire-and-forget records failed during the producer's life", "failed_total", n)
		}
	})
}

// release returns buffer memory and, when records wait for memory in the producer actor, tells it
// (once per wake-up: memNotified is reset by the actor before it retries).
func (p *Producer) release(n int64) {
	p.memory.Release(n)
	if p.memWaiting.Load() && p.memNotified.CompareAndSwap(false, true) {
		p.post(memoryReleasedMsg)
	}
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
	if p.shared.Completer.OnCompletionGoroutine() {
		err := fmt.Errorf("%w: Send waits for an acknowledgement that completes on this goroutine after the callback returns; use SendAsync", ErrInCallback)
		p.refuse(rec, nil, err)
		return refusedMetadata(rec), err
	}
	ch := make(chan result, 1)
	// Urgent: the caller waits, so the record's batch goes without lingering (as franz-go's
	// ProduceSync does); concurrent Sends still share batches while requests are in flight.
	p.sendAsync(ctx, rec, func(md RecordMetadata, err error) { ch <- result{md, err} }, true)
	select { // a refusal is already here: report it, even when ctx is done too
	case r := <-ch:
		return r.md, r.err
	default:
	}
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
	p.sendAsync(ctx, rec, cb, false)
}

func (p *Producer) sendAsync(ctx context.Context, rec *Record, cb func(RecordMetadata, error), urgent bool) {
	if cb == nil {
		cb = func(RecordMetadata, error) {}
	}
	if rec == nil {
		p.refuse(nil, cb, fmt.Errorf("%w: nil record", ErrInvalidRecord))
		return
	}
	rec, err := p.accept(ctx, rec, cb, urgent)
	if err != nil {
		// Outside the lock: a callback that closes the producer must not deadlock.
		p.refuse(rec, cb, err)
	}
}

func (p *Producer) accept(ctx context.Context, rec *Record, cb messages.Completion, urgent bool) (*Record, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return rec, ErrProducerClosed
	}
	if err := ctx.Err(); err != nil {
		return rec, fmt.Errorf("kastor: send: %w", context.Cause(ctx))
	}
	if err := p.shared.Fatal(); err != nil {
		return rec, err
	}
	rec = p.intercept(rec)
	e, err := p.prepare(rec, cb)
	if err != nil {
		return rec, err
	}
	e.urgent = urgent
	for {
		st, err := p.advance(&e)
		if err == nil {
			if st == stageDone {
				return rec, nil
			}
			err = p.wait(ctx, &e, st)
		}
		if err != nil {
			if e.reserved {
				p.release(int64(e.size))
			}
			return rec, err
		}
	}
}

// sendEntry is one record on its way from a send into its partition's accumulator. SendAsync and
// the producer actor (for Produce messages) take it through the same steps (advance); they differ
// only in how they wait when a step cannot be done yet: SendAsync blocks, the actor parks it.
type sendEntry struct {
	rec  *Record
	done messages.Completion
	// now is when the send began: the default timestamp, and where MaxBlock counts from.
	now      time.Time
	size     int   // bytes the record is charged in the buffer pool (its serialized upper bound)
	want     int32 // the partition the record names, or -1
	part     int32 // the partition chosen, or -1 until then
	reserved bool  // size bytes are held in the pool for it
	urgent   bool  // a caller waits for it (Send): its batch does not linger
}

// stage is where a send stopped: the step it waits for.
type stage uint8

const (
	stageDone        stage = iota // handed to the accumulator
	stageTopic                    // the topic's metadata (or a partition it does not have yet)
	stageMemory                   // buffer memory
	stageAccumulator              // the partition's accumulator (spawned by the producer actor)
)

// prepare checks what can be checked once and for all, before any wait.
func (p *Producer) prepare(rec *Record, done messages.Completion) (sendEntry, error) {
	if rec.Topic == "" {
		return sendEntry{}, fmt.Errorf("%w: no topic", ErrInvalidRecord)
	}
	size := recordSizeUpperBound(rec)
	if size+wire.RecordBatchOverhead > p.cfg.MaxRequestSize {
		return sendEntry{}, fmt.Errorf("%w: the record is %d bytes when serialized, larger than MaxRequestSize (%d)", ErrRecordTooLarge, size+wire.RecordBatchOverhead, p.cfg.MaxRequestSize)
	}
	if int64(size) > p.cfg.BufferMemory {
		return sendEntry{}, fmt.Errorf("%w: the record is %d bytes when serialized, larger than BufferMemory (%d)", ErrRecordTooLarge, size, p.cfg.BufferMemory)
	}
	want := int32(-1)
	if part, explicit := rec.Partition.Get(); explicit {
		if part < 0 {
			return sendEntry{}, fmt.Errorf("%w: partition %d", ErrInvalidRecord, part)
		}
		want = part
	}
	// One coarse clock read on the fast path (an atomic load; see internal/clock); the MaxBlock
	// deadline is computed only if something waits.
	return sendEntry{rec: rec, done: done, now: p.clock.Now(), size: size, want: want, part: -1}, nil
}

// advance takes e as far as it can go without waiting: metadata, partition, memory, then one push
// into the partition's accumulator inbox. It returns stageDone once the accumulator has the
// record, the step to wait for, or an error (e then still holds its reservation, if any).
func (p *Producer) advance(e *sendEntry) (stage, error) {
	if e.part < 0 {
		ok, err := p.choosePartition(e)
		if err != nil || !ok {
			return stageTopic, err
		}
	}
	if !e.reserved && !p.reserve(e) {
		return stageMemory, nil
	}
	if g := p.shared.Txn; g != nil {
		return p.deliverInTransaction(g, e)
	}
	if !p.deliver(e) {
		return stageAccumulator, nil
	}
	return stageDone, nil
}

// choosePartition picks e's partition from the current metadata snapshot; ok false means the
// topic (or the partition e names) is not known yet.
func (p *Producer) choosePartition(e *sendEntry) (ok bool, err error) {
	topic, err := p.topicNow(e.rec.Topic, e.want)
	if topic == nil {
		return false, err
	}
	n := int32(len(topic.Partitions))
	part := e.want
	if part < 0 {
		if part, err = p.partition(e.rec, n); err != nil {
			return false, err
		}
	}
	if part < 0 || part >= n {
		return false, fmt.Errorf("%w: partition %d of topic %s, which has %d partitions", ErrInvalidRecord, part, e.rec.Topic, n)
	}
	e.part = part
	return true, nil
}

// partition asks the partitioner. A user's partitioner that panics fails the record instead of
// the caller's goroutine, or the producer actor with records in its hands.
func (p *Producer) partition(rec *Record, n int32) (part int32, err error) {
	if p.builtin != nil {
		return p.builtin.Partition(rec, n), nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: the partitioner panicked: %v", ErrInvalidRecord, r)
		}
	}()
	return p.partitioner.Partition(rec, n), nil
}

func (p *Producer) reserve(e *sendEntry) bool {
	e.reserved = p.memory.TryAcquire(int64(e.size))
	return e.reserved
}

// deliver pushes e into its partition's accumulator; false means there is none right now (not
// spawned yet, or stopped by a restart of the producer actor), and e is still the caller's.
func (p *Producer) deliver(e *sendEntry) bool {
	in, ok := p.shared.Inbox(TopicPartition{Topic: e.rec.Topic, Partition: e.part})
	return ok && in.Push(p.appendOf(e))
}

func (p *Producer) appendOf(e *sendEntry) messages.Append {
	ts := e.rec.Timestamp
	if ts.IsZero() {
		ts = e.now
	}
	return messages.Append{Record: e.rec, TimestampMs: ts.UnixMilli(), Reserved: int64(e.size), EnqueuedNs: e.now.UnixNano(), Done: e.done, Urgent: e.urgent}
}

// wait blocks SendAsync's caller until e can go past st (or fails).
func (p *Producer) wait(ctx context.Context, e *sendEntry, st stage) error {
	switch st {
	case stageTopic:
		return p.waitTopic(ctx, e.rec.Topic, e.want, e.now)
	case stageMemory:
		defer p.shared.Metrics.BufferWaited(time.Now())
		err := p.memory.Acquire(ctx, int64(e.size), time.Until(e.now.Add(p.cfg.MaxBlock)))
		switch {
		case err == nil:
			e.reserved = true
			return nil
		case errors.Is(err, bufferpool.ErrTimeout):
			return p.memoryTimeout(e.size)
		case errors.Is(err, bufferpool.ErrClosed):
			return ErrProducerClosed
		}
		return err
	case stageAccumulator:
		return p.spawnAccumulator(ctx, TopicPartition{Topic: e.rec.Topic, Partition: e.part}, e.now)
	}
	return nil
}

func (p *Producer) memoryTimeout(size int) error {
	return fmt.Errorf("%w: failed to allocate %d bytes of buffer memory within MaxBlock (%v)", ErrTimeout, size, p.cfg.MaxBlock)
}

// topicNow returns the topic's metadata if the snapshot has it with partition want (want < 0: any),
// nil if not yet, or the topic's error if it is not retriable.
func (p *Producer) topicNow(topic string, want int32) (*actors.TopicInfo, error) {
	ti := p.shared.Cluster().Topics[topic]
	if ti.Usable() && want < int32(len(ti.Partitions)) {
		return ti, nil
	}
	if ti != nil && ti.Err != nil && !wire.IsRetriable(ti.Err) {
		return nil, fmt.Errorf("kastor: topic %s: %w", topic, ti.Err)
	}
	return nil, nil
}

// topicTimeout is the error of a send that waited MaxBlock for topic (Java's messages), wrapping
// why: the topic's own error (UNKNOWN_TOPIC_OR_PARTITION, matchable with errors.Is) or why no broker
// answered.
func (p *Producer) topicTimeout(topic string, want int32) error {
	if ti := p.shared.Cluster().Topics[topic]; ti.Usable() {
		return fmt.Errorf("%w: Partition %d of topic %s with partition count %d is not present in metadata after %d ms.",
			ErrTimeout, want, topic, len(ti.Partitions), p.cfg.MaxBlock.Milliseconds())
	}
	msg := fmt.Errorf("%w: Topic %s not present in metadata after %d ms.", ErrTimeout, topic, p.cfg.MaxBlock.Milliseconds())
	if cause := p.metadataCause(topic); cause != nil {
		return fmt.Errorf("%w: %w", msg, cause)
	}
	return msg
}

// metadataCause is the last reason topic's metadata was missing: why no broker answered, else the
// topic's error in the last answer; nil if there is none.
func (p *Producer) metadataCause(topic string) error {
	setup := p.shared.SetupFailure() // a rejected login or TLS handshake says the most
	if err := p.shared.MetadataErr(); err != nil {
		if setup != nil && !errors.Is(err, setup) {
			return fmt.Errorf("%w (last connection setup failure: %w)", err, setup)
		}
		return err
	}
	if setup != nil {
		return setup
	}
	if ti := p.shared.Cluster().Topics[topic]; ti != nil && ti.Err != nil {
		return fmt.Errorf("topic %s: %w", topic, ti.Err)
	}
	return nil
}

// waitTopic waits (up to MaxBlock from start, ctx or Close) until the topic is known, with
// partition number want when want >= 0 (the partition count may have grown, as Java's
// waitOnMetadata assumes), asking for its metadata meanwhile. A partition the topic still lacks in
// metadata fetched after the wait began is ErrInvalidRecord at once: the second snapshot published
// since is the answer to a request sent after this send asked (the first may have been in flight).
func (p *Producer) waitTopic(ctx context.Context, topic string, want int32, start time.Time) error {
	timer := time.NewTimer(time.Until(start.Add(p.cfg.MaxBlock)))
	defer timer.Stop()
	updates := 0
	for {
		cl := p.shared.Cluster()
		if ti, err := p.topicNow(topic, want); ti != nil || err != nil {
			return err
		}
		if ti := cl.Topics[topic]; updates >= 2 && ti.Usable() && want >= int32(len(ti.Partitions)) {
			return fmt.Errorf("%w: partition %d of topic %s, which has %d partitions", ErrInvalidRecord, want, topic, len(ti.Partitions))
		}
		p.post(&messages.RefreshMetadata{Topics: []string{topic}, Reason: "send"})
		select {
		case <-cl.Updated():
			updates++
		case <-timer.C:
			return p.topicTimeout(topic, want)
		case <-ctx.Done():
			err := fmt.Errorf("kastor: waiting for metadata of topic %s: %w", topic, context.Cause(ctx))
			if cause := p.metadataCause(topic); cause != nil {
				return fmt.Errorf("%w: %w", err, cause)
			}
			return err
		case <-p.closing:
			return ErrProducerClosed
		}
	}
}

// spawnAccumulator asks the producer actor for tp's accumulator (a partition's first record) and
// waits for it, within MaxBlock from start: a request lost to a restart of the producer actor must
// not block the caller for good.
func (p *Producer) spawnAccumulator(ctx context.Context, tp TopicPartition, start time.Time) error {
	if _, ok := p.shared.Inbox(tp); ok {
		return nil
	}
	reply := make(chan *actor.PID, 1)
	p.post(&actors.SpawnAccumulator{TP: tp, Reply: reply})
	timer := time.NewTimer(time.Until(start.Add(p.cfg.MaxBlock)))
	defer timer.Stop()
	select {
	case <-reply:
		return nil
	case <-timer.C:
		return fmt.Errorf("%w: the accumulator of %s-%d was not ready within MaxBlock (%v)", ErrTimeout, tp.Topic, tp.Partition, p.cfg.MaxBlock)
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-p.closing:
		return ErrProducerClosed
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
	md := refusedMetadata(rec)
	p.acknowledge(md, err)
	if cb != nil {
		cb(md, err)
	}
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
//
// From a send callback it returns ErrInCallback at once: the records it would wait for complete on
// the callback's goroutine, after the callback returns.
func (p *Producer) Flush(ctx context.Context) error {
	if p.shared.Completer.OnCompletionGoroutine() {
		return fmt.Errorf("%w: Flush waits for completions that run on this goroutine after the callback returns", ErrInCallback)
	}
	done := make(chan struct{})
	p.flushAll(func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kastor: flush: %w", context.Cause(ctx))
	}
}

// flushAll asks every accumulator to send what it holds now and runs done, on the completion
// goroutine, once every record pushed before has completed.
func (p *Producer) flushAll(done func()) {
	var left atomic.Int64
	left.Store(1)
	finish := func() {
		if left.Add(-1) == 0 {
			done()
		}
	}
	p.shared.RangeInboxes(func(_ TopicPartition, in *actors.Inbox) {
		left.Add(1)
		if !in.PushFlush(finish) {
			// Stopped: what it held has been failed and handed to the completer already.
			p.shared.Completer.After(finish)
		}
	})
	finish()
}

// Close stops accepting records, flushes what was accepted and waits for it, then stops every
// actor and goroutine of the producer. If ctx ends first, every record not yet completed fails
// with ErrProducerClosed (it may or may not have been written) and Close still stops cleanly,
// returning ctx's error. Later sends fail with ErrProducerClosed. Close is idempotent. It does not
// stop an actor system given in Config.ActorSystem.
//
// Called from a send callback (where waiting would wait for itself), Close does what Java's
// close(0) does: every record not yet completed fails with ErrProducerClosed, and Close returns at
// once; the producer finishes stopping after the callback returns, and the failed records' callbacks
// run after it, on the same goroutine. A Close from elsewhere still waits for all of it.
func (p *Producer) Close(ctx context.Context) error {
	if p.shared.Completer.OnCompletionGoroutine() {
		p.once.Do(func() { p.closeErr = p.closeFromCallback() })
		return p.closeErr
	}
	p.once.Do(func() { p.closeErr = p.close(ctx) })
	<-p.closeDone // the first Close may have come from a callback and not waited
	return p.closeErr
}

// closeFromCallback fails what is left and stops the producer without waiting: the completion
// goroutine (the caller) must return for the stop to finish. The actor's Stopping fails what every
// accumulator holds with ErrProducerClosed.
func (p *Producer) closeFromCallback() error {
	p.beginClose()
	select {
	case <-p.stopped:
		p.finishClose()
		return nil
	default:
	}
	p.shared.RangeAccumulators(func(_ TopicPartition, pid *actor.PID) {
		p.sys.Root.Send(pid, &messages.AbortPartition{Err: ErrProducerClosed})
	})
	p.sys.Root.Stop(p.pid)
	go func() {
		<-p.stopped
		p.finishClose()
	}()
	return nil
}

// finishClose runs once everything of the producer has stopped.
func (p *Producer) finishClose() {
	if p.ownSys {
		p.sys.Shutdown()
	}
	close(p.closeDone)
}

// beginClose stops accepting records: blocked sends give up, sends in progress are waited for (none
// of them blocks any more), later ones are refused. Idempotent; also run by the producer actor
// when it is closed by message or stopped.
func (p *Producer) beginClose() {
	p.closeOnce.Do(func() {
		close(p.closing) // sends blocked on metadata or spawning give up
		p.memory.Close() // sends blocked on memory give up
		p.mu.Lock()      // waits for sends in progress to finish accepting or refusing
		p.closed = true
		p.closedFlag.Store(true)
		p.mu.Unlock()
	})
}

func (p *Producer) close(ctx context.Context) error {
	p.beginClose()
	var err error
	select {
	case <-p.stopped: // closed by a Close message, or stopped: nothing is left
	default:
		err = p.closeTransaction(ctx)
		if err == nil {
			err = p.Flush(ctx)
		}
		if err != nil {
			abort := fmt.Errorf("%w before the record completed (%v)", ErrProducerClosed, context.Cause(ctx))
			p.shared.RangeAccumulators(func(_ TopicPartition, pid *actor.PID) {
				p.sys.Root.Send(pid, &messages.AbortPartition{Err: abort})
			})
			// Nothing waits on the network any more: this returns as soon as the aborts are done.
			p.Flush(context.Background())
		}
		p.sys.Root.Stop(p.pid)
		<-p.stopped // the actor's Stopped ran cleanup: every completion has run
	}
	p.finishClose()
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
