package messages

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/wire"
)

// Completion is called exactly once per record with its outcome. It runs on kastor's completion
// goroutine, in send order for the records of one partition.
type Completion func(RecordMetadata, error)

// Append is one record for an accumulator to add to its partition's open batch. It travels by
// value through the accumulator's inbox, not as a message. Caller goroutine → accumulator.
type Append struct {
	Record *Record
	// TimestampMs is the record's timestamp, resolved by the caller (zero Timestamp = send time).
	TimestampMs int64
	// Reserved is the number of buffer-pool bytes held for this record until it completes.
	Reserved int64
	// EnqueuedNs is when the send was accepted (monotonic nanoseconds), for delivery.timeout.ms.
	EnqueuedNs int64
	Done       Completion
	// Urgent: a caller waits for this record (Send), so its batch is ready at once instead of
	// after linger, as franz-go's ProduceSync does. Records that join it before it is drained
	// still ride along. Done is then kastor's own hand-off to the waiting caller, which never
	// blocks, so it may run on whichever goroutine completes the batch.
	Urgent bool
}

// PartitionReady asks the sender where a partition's batches go: the accumulator has a batch to
// send and no route (none yet, or the last one failed). The sender answers with Route once the
// partition has a leader (and, with idempotence, the producer has an identity).
// Accumulator → sender.
type PartitionReady struct {
	TP          TopicPartition
	Accumulator *actor.PID
}

// Route tells an accumulator which sink (the produce connection of its partition's leader) takes
// its batches. The accumulator keeps it until a batch comes back with an error.
// Sender → accumulator.
type Route struct {
	Sink *actor.PID
}

// RouteLost tells every accumulator that the sender restarted: the sinks it routed to are gone,
// and every batch handed to them and not answered by now was dropped with their mailboxes, never
// written. Sender → accumulator.
type RouteLost struct{}

// Batch is a sealed record batch on its way to a broker. Ownership moves with the message: the
// accumulator does not touch Data after handing it to the sink, and the sink does not after
// answering it with BatchDone. Accumulator → sink.
type Batch struct {
	TP          TopicPartition
	Accumulator *actor.PID
	// BatchID identifies the batch within its accumulator (its send order there).
	BatchID uint64
	Data    []byte
	Records int
	// ExpiresNs is when the batch's delivery timeout passes (clock nanoseconds): a sink that has
	// not written it by then never does (its accumulator failed it already).
	ExpiresNs int64

	done BatchDone // see Answer
}

// Answer returns the batch's BatchDone, its offsets unknown (-1) until the caller sets them. A
// Batch is answered exactly once, so its answer lives inside it: answering allocates nothing.
func (b *Batch) Answer() *BatchDone {
	b.done = BatchDone{BatchID: b.BatchID, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	return &b.done
}

// Answers reports whether d is b's answer (the BatchDone Answer returned): the sender of b then
// knows the receiver handled b and is done with it.
func (b *Batch) Answers(d *BatchDone) bool { return d == &b.done }

// BatchDone is a batch's outcome from the broker. Err nil means written at BaseOffset.
// Sink → accumulator.
type BatchDone struct {
	BatchID        uint64
	Err            error
	BaseOffset     int64
	LogAppendTime  int64
	LogStartOffset int64
	// WriterDone, on a batch whose request failed with its connection, is closed once that
	// connection's writer stopped: until then it may still be reading the batch's bytes.
	WriterDone <-chan struct{}
}

// AbortPartition asks an accumulator to fail every record it holds (queued or in flight) with Err,
// at once. Results that arrive later for those batches are ignored.
// Sender (fatal state) or Close (its context ended) → accumulator.
type AbortPartition struct {
	Err error
}

// RefreshMetadata asks the metadata actor for fresh metadata that includes Topics.
// Anyone → metadata.
type RefreshMetadata struct {
	Topics []string
	Reason string
}

// MetadataUpdated says a new cluster snapshot was published. Metadata → sender.
type MetadataUpdated struct{}

// Call asks a connection to send Req and answer with CallDone to ReplyTo.
// Sender or metadata → connection.
type Call struct {
	Req     wire.Request
	ReplyTo *actor.PID
	Tag     any
	// MaxVersion, when above 0, caps the version the connection negotiates (the classic
	// transaction protocol must not use the versions that announce transactions v2).
	MaxVersion int16
	// Resp, when set, is where the answer is decoded (it must be Req's response type), reusing
	// what an earlier decode into it left; nil: into a new Req.ResponseKind().
	Resp wire.Response
}

// CallDone is a Call's outcome: the decoded response (nil for acks=0 produce requests, which the
// broker never answers), or Err when the request could not be sent or its connection failed.
// Connection → the Call's ReplyTo.
type CallDone struct {
	Tag     any
	Node    int32
	Version int16
	Resp    wire.Response
	Err     error
}

// LeaderHint carries the new leaders a produce response named (KIP-951, Produce v10+), so the
// metadata actor can move partitions at once instead of waiting for a refresh. Endpoints maps the
// node ids the hints use to host:port. Sink → metadata.
type LeaderHint struct {
	Leaders   []PartitionLeader
	Endpoints map[int32]string
}

// PartitionLeader is one partition's leader and leader epoch.
type PartitionLeader struct {
	TP          TopicPartition
	Leader      int32
	LeaderEpoch int32
}

// BumpEpoch asks the sender for a producer identity newer than generation Gen: the partition's
// sequence numbers no longer match the broker's (a batch failed after it was given a sequence,
// UNKNOWN_PRODUCER_ID, or a gap). The sender bumps the epoch locally (KIP-360), or asks for a new
// producer id when NewID is set or the epoch is exhausted, then sends every accumulator the
// new identity. Accumulator → sender.
type BumpEpoch struct {
	Gen         uint64
	NewID       bool
	Accumulator *actor.PID
}

// ProducerFailed says the producer entered a fatal state (for example the cluster refused
// idempotent writes, or the producer was fenced): every record it held has been failed with Err
// and every later send fails with it. Accumulator → sender (which owns the fatal state) when a
// broker answers with a fatal error; sender → producer actor, which escalates it to its
// supervisor.
type ProducerFailed struct {
	Err error
}
