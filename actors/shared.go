package actors

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/bufferpool"
	"github.com/kastor-go/kastor/internal/freelist"
	"github.com/kastor-go/kastor/internal/metrics"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// Version is kastor's version, sent to brokers in ApiVersions.
const Version = "0.1.0"

// Settings is the producer configuration the actors use, copied from kastor.Config.
type Settings struct {
	Bootstrap          []string
	ClientID           string
	Acks               int16
	Idempotent         bool
	BatchSize          int
	Linger             time.Duration
	MaxRequestSize     int
	Codec              wire.Codec
	CodecLevel         int
	RequestTimeout     time.Duration
	DeliveryTimeout    time.Duration
	Retries            int
	RetryBackoff       time.Duration
	RetryBackoffMax    time.Duration
	MaxInFlight        int
	MetadataMaxAge     time.Duration
	ReconnectBackoff   time.Duration
	ReconnectMax       time.Duration
	SetupTimeout       time.Duration
	ConnectionsMaxIdle time.Duration
	Dial               func(ctx context.Context, network, address string) (net.Conn, error)
	Security           Security
	// TransactionalID makes the producer transactional (txn.go); TransactionTimeout is the
	// coordinator's transaction.timeout.ms for it.
	TransactionalID    string
	TransactionTimeout time.Duration
}

// Shared is what the actors of one producer share. Everything in it is safe for concurrent use:
// the cluster snapshot and the accumulator registry are immutable values swapped atomically (the
// metadata actor publishes the one, the producer actor the other), the memory budget and the
// completer lock internally. The producer identity, the fatal error and the stop cause are not
// here: they reach the actors that need them by message.
type Shared struct {
	Settings  Settings
	Logger    *slog.Logger
	Memory    *bufferpool.Budget
	Buffers   *bufferpool.Buffers
	Completer *Completer
	// Metrics counts what the actors do (nil: nothing is counted); see internal/metrics.
	Metrics *metrics.Recorder
	// Dispatcher runs every kastor mailbox; stop it once the actors have stopped.
	Dispatcher *Dispatcher
	// Goroutines counts every goroutine kastor starts, so Close can wait for all of them.
	Goroutines sync.WaitGroup

	cluster atomic.Pointer[Cluster]
	// registry is the published accumulator registry (see accRegistry), replaced whole by the
	// producer actor; callers read it with one atomic load.
	registry atomic.Pointer[accRegistry]
	// connLog rate-limits repeated log lines (logging policy, not state any actor decides by).
	connLog connFailureLog
	// Txn is the record path's view of the transaction (txn.go); nil unless transactional.
	Txn *TxnGate

	// spareBatches and spareMessages: completed batches' structs and answered Batch messages,
	// for any partition's next batch (one partition often completes what another one starts).
	// At most as many as BufferMemory holds batches.
	spareBatches  *freelist.List[*accBatch]
	spareMessages *freelist.List[*messages.Batch]
}

// MetadataErr returns why metadata could not be fetched lately (every broker tried and the last
// error), or nil if the last metadata request succeeded.
func (sh *Shared) MetadataErr() error { return sh.Cluster().MetadataErr }

// NewShared returns Shared with an empty cluster snapshot.
func NewShared(s Settings, logger *slog.Logger, memory *bufferpool.Budget, completer *Completer) *Shared {
	sh := &Shared{Settings: s, Logger: logger, Memory: memory, Completer: completer,
		Buffers: newBatchBuffers(s, memory), Dispatcher: NewDispatcher(300)}
	spares := 64
	if memory != nil && s.BatchSize > 0 {
		spares = max(spares, int(memory.Limit()/int64(s.BatchSize)))
	}
	sh.spareBatches, sh.spareMessages = freelist.New[*accBatch](spares), freelist.New[*messages.Batch](spares)
	sh.registry.Store(&accRegistry{})
	if s.TransactionalID != "" {
		sh.Txn = newTxnGate()
	}
	sh.cluster.Store(&Cluster{Topics: map[string]*TopicInfo{}, Brokers: map[int32]string{}, updated: make(chan struct{})})
	return sh
}

// producerIdentity is an idempotent producer's id and epoch. Gen changes with every new id or epoch, so
// an accumulator can tell that its sequences belong to an older one. It travels by message: the
// sender sends it (identityNews) with every route and to every accumulator when it changes.
type producerIdentity struct {
	ID    int64
	Epoch int16
	Gen   uint64
}

// Fatal returns the error of a producer in a fatal state, or nil: the producer actor publishes it
// with the registry once the sender reports it (producerFatal), so a send to a failed producer
// fails at once.
func (sh *Shared) Fatal() error { return sh.registry.Load().fatal }

// Cluster returns the current snapshot. It never returns nil.
func (sh *Shared) Cluster() *Cluster { return sh.cluster.Load() }

// publish swaps in a new snapshot and wakes everyone waiting on the old one. Metadata actor only.
func (sh *Shared) publish(c *Cluster) {
	c.updated = make(chan struct{})
	old := sh.cluster.Swap(c)
	close(old.updated)
}

// publishDiagnostics swaps in a copy of the snapshot with new MetadataErr and SetupFailure. Its
// waiters are not woken (nothing they wait for changed): the copy shares their Updated channel,
// closed by the next publish. Metadata actor only.
func (sh *Shared) publishDiagnostics(metadataErr, setupFailure error) {
	next := *sh.cluster.Load()
	next.MetadataErr, next.SetupFailure = metadataErr, setupFailure
	sh.cluster.Store(&next)
}

// Accumulator returns the PID of a partition's accumulator, if it was spawned.
func (sh *Shared) Accumulator(tp messages.TopicPartition) (*actor.PID, bool) {
	in, ok := sh.Inbox(tp)
	if !ok {
		return nil, false
	}
	return in.pid, true
}

// Inbox returns the inbox of a partition's accumulator, if it was spawned. A push to it may still
// fail: the accumulator stopped since (the producer actor restarted); the next one is spawned on
// demand.
func (sh *Shared) Inbox(tp messages.TopicPartition) (*Inbox, bool) {
	ins := sh.registry.Load().inboxes[tp.Topic]
	if tp.Partition < 0 || int(tp.Partition) >= len(ins) || ins[tp.Partition] == nil {
		return nil, false
	}
	return ins[tp.Partition], true
}

// RangeAccumulators calls fn for every accumulator spawned so far.
func (sh *Shared) RangeAccumulators(fn func(tp messages.TopicPartition, pid *actor.PID)) {
	sh.RangeInboxes(func(tp messages.TopicPartition, in *Inbox) { fn(tp, in.pid) })
}

// RangeInboxes calls fn for every accumulator's inbox.
func (sh *Shared) RangeInboxes(fn func(tp messages.TopicPartition, in *Inbox)) {
	for topic, ins := range sh.registry.Load().inboxes {
		for p, in := range ins {
			if in != nil {
				fn(messages.TopicPartition{Topic: topic, Partition: int32(p)}, in)
			}
		}
	}
}

// accRegistry is what callers need to hand a record to its accumulator: topic → partition →
// inbox, and the producer's fatal error (nil while it works). Immutable once published; only the
// producer actor publishes one: when it spawns an accumulator (once per partition), when the
// sender reports a fatal error, and when it restarts (an empty one: a fresh tree, not failed).
type accRegistry struct {
	inboxes map[string][]*Inbox
	fatal   error
}

// registerInbox publishes a new accumulator. Producer actor only.
func (sh *Shared) registerInbox(tp messages.TopicPartition, in *Inbox) {
	old := sh.registry.Load()
	next := make(map[string][]*Inbox, len(old.inboxes)+1)
	for t, ins := range old.inboxes {
		next[t] = ins
	}
	ins := make([]*Inbox, max(len(old.inboxes[tp.Topic]), int(tp.Partition)+1))
	copy(ins, old.inboxes[tp.Topic])
	ins[tp.Partition] = in
	next[tp.Topic] = ins
	sh.registry.Store(&accRegistry{inboxes: next, fatal: old.fatal})
}

// publishFatal publishes the producer's fatal error. Producer actor only.
func (sh *Shared) publishFatal(err error) {
	old := sh.registry.Load()
	sh.registry.Store(&accRegistry{inboxes: old.inboxes, fatal: err})
}

// clearAccumulators forgets every accumulator and the fatal error (the producer actor's children
// are stopping for a restart: the next tree starts afresh).
func (sh *Shared) clearAccumulators() { sh.registry.Store(&accRegistry{}) }

// Cluster is an immutable snapshot of the cluster as the last metadata response described it.
type Cluster struct {
	Brokers map[int32]string // node id → host:port
	Topics  map[string]*TopicInfo
	// MetadataErr is why the last metadata request failed (nil once one succeeds), SetupFailure
	// the latest failed connection setup (dial, TLS, ApiVersions, SASL; nil once one succeeds):
	// what a send that waited for metadata in vain, or a record that expired, reports. A change
	// of them alone replaces the snapshot without waking its waiters (see publishDiagnostics).
	MetadataErr  error
	SetupFailure error
	updated      chan struct{}
}

// Updated is closed when a newer snapshot replaces this one.
func (c *Cluster) Updated() <-chan struct{} { return c.updated }

// Leader returns the leader of tp and its address, or ok false when it is unknown.
func (c *Cluster) Leader(tp messages.TopicPartition) (node int32, addr string, ok bool) {
	t := c.Topics[tp.Topic]
	if t == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
		return -1, "", false
	}
	node = t.Partitions[tp.Partition].Leader
	addr, ok = c.Brokers[node]
	return node, addr, ok && node >= 0
}

// TopicInfo is one topic in a snapshot. Err is the topic's error code (nil when the topic is fine).
type TopicInfo struct {
	Err        error
	ID         [16]byte
	Partitions []PartitionInfo // indexed by partition number
}

// Usable reports whether records can be sent to the topic: it exists, without an error, with
// partitions. A nil TopicInfo (not in the snapshot) is not usable.
func (t *TopicInfo) Usable() bool { return t != nil && t.Err == nil && len(t.Partitions) > 0 }

// PartitionInfo is one partition in a snapshot.
type PartitionInfo struct {
	Leader      int32
	LeaderEpoch int32
	Err         error
}

// backoff returns the wait before attempt n (1-based): min·2^(n-1), capped at max, with ±20 %
// jitter (KIP-580 for retries, KIP-144 for reconnects).
func backoff(minD, maxD time.Duration, n int) time.Duration {
	d := minD
	for i := 1; i < n && d < maxD; i++ {
		if d > maxD/2 { // doubling would pass the cap (or overflow)
			d = maxD
			break
		}
		d *= 2
	}
	d = min(d, maxD)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// newBatchBuffers is the producer's pool of batch buffers: BatchSize plus room for the record that
// overflows it; as many free ones keep their memory as BufferMemory holds.
func newBatchBuffers(s Settings, memory *bufferpool.Budget) *bufferpool.Buffers {
	size := s.BatchSize + wire.AppendSlack
	keep := 64
	if memory != nil {
		keep = max(keep, int(memory.Limit()/int64(size)))
	}
	return bufferpool.NewBuffers(size, keep)
}
