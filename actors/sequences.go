package actors

// The accumulator's idempotence rules (the sequence part of Java's TransactionManager, for one
// partition). The broker accepts a partition's batches from one producer id and epoch only in
// sequence order, each starting where the previous ended, and acknowledges a resent copy of one of
// its last five batches without writing it again. So:
//
//   - A batch gets its base sequence when it is first drained and keeps it across retries; its
//     bytes are rewritten in place only when its sequence must change (see rebase).
//   - At most five batches of a partition are out at once, only one until the broker has accepted
//     a batch of the current epoch, and a retried batch goes out only when no older one is out,
//     so retries reach the broker in order.
//   - When the broker's view and ours part (a batch that had a sequence failed, the broker lost our
//     producer state, or a gap), the partition waits until nothing of it is out, gets a newer epoch
//     from the sender (KIP-360: bumped locally, a new id only when needed), and starts again at 0.
//     Batches whose last attempt the broker refused are renumbered; a batch that may have been
//     written is never renumbered (a renumbered copy would be a duplicate): it is resent as it was
//     until the broker says what happened to it.

import (
	"errors"
	"fmt"
	"math"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// maxInflightPerPartition is the broker's duplicate-detection window: it remembers the last five
// batches of each producer and partition.
const maxInflightPerPartition = 5

// sequenceState is one partition's idempotence state.
type sequenceState struct {
	gen         uint64 // the identity generation the partition's sequences belong to; 0: none yet
	next        int32  // base sequence of the next new batch
	outstanding int    // batches handed to the sender whose BatchDone has not come back
	resetNeeded bool   // our sequences and the broker's no longer agree: start over at 0
	newIDNeeded bool   // ... under a new producer id: the broker does not know ours
	bumpAsked   uint64 // the generation we asked the sender to replace (0: none)
	// confirmed: the broker accepted a batch of this generation. Until then one batch is out at a
	// time: a broker with no state for us takes any first sequence, so a second batch accepted
	// while the first is refused (NOT_LEADER on a fresh partition, say) would be written ahead of
	// it, and the first could then only follow it under a new epoch — out of order.
	confirmed bool
}

// nextSequence returns base advanced by n records, wrapping to 0 after MaxInt32 as the broker does.
func nextSequence(base int32, n int) int32 {
	if int64(base)+int64(n) > math.MaxInt32 {
		return int32(int64(base) + int64(n) - math.MaxInt32 - 1)
	}
	return base + int32(n)
}

// sequenceBlocked reports whether head, the oldest batch neither out nor done, must wait for sequence
// reasons. When the partition is settled it also does what unblocks it: asks for a newer epoch,
// or renumbers under one that arrived.
func (s *accState) sequenceBlocked(head *accBatch, id *producerIdentity) bool {
	if !s.shared.Settings.Idempotent || s.abortErr != nil {
		return false
	}
	if id == nil {
		return false // the sender drains nothing before it has an identity, and fetches one
	}
	q := &s.sequences
	if head.baseSequence >= 0 { // a retry
		for _, b := range s.batches {
			if b == head {
				break
			}
			if b.inflight && b.result == nil {
				return true // resent only after every older batch is back, to keep the order
			}
		}
		if !head.notWritten || (!q.resetNeeded && id.Gen == q.gen) {
			return false // resent as it was: the broker deduplicates it if it was written
		}
	} else if q.outstanding >= maxInflightPerPartition || (q.outstanding > 0 && !q.confirmed) {
		return true
	} else if !q.resetNeeded && id.Gen == q.gen {
		return false
	}
	// Start over at 0: only once nothing is out, so no old-numbered batch can land after it.
	if q.outstanding > 0 {
		return true
	}
	if q.resetNeeded && id.Gen == q.gen {
		if q.bumpAsked != id.Gen {
			q.bumpAsked = id.Gen
			s.fx.send(s.sender, &messages.BumpEpoch{Gen: id.Gen, NewID: q.newIDNeeded, Accumulator: s.self})
		}
		return true // identityNews wakes us when a newer identity is out
	}
	s.rebase(id)
	return false
}

// rebase numbers the partition's unfinished batches from 0 under id. Every one of them that has a
// sequence was refused by the broker on its last attempt (the head was, and a later batch cannot
// have been written without it), so renumbering cannot duplicate anything.
func (s *accState) rebase(id *producerIdentity) {
	seq := int32(0)
	for _, b := range s.batches {
		if b.result != nil || b.baseSequence < 0 {
			continue
		}
		if err := wire.SetProducerFields(b.data, id.ID, id.Epoch, seq); err != nil {
			b.baseSequence = -1 // its old number is given up here, not a hole that needs a reset
			s.failBatch(b, fmt.Errorf("%w: renumbering a batch for %s-%d: %w", messages.ErrInternal, s.tp.Topic, s.tp.Partition, err))
			continue
		}
		b.baseSequence = seq
		seq = nextSequence(seq, len(b.records))
	}
	if s.sequences.gen != 0 {
		s.shared.Logger.Debug("partition sequences start over", "topic", s.tp.Topic, "partition", s.tp.Partition,
			"producer_id", id.ID, "epoch", id.Epoch)
	}
	s.sequences = sequenceState{gen: id.Gen, next: seq}
}

// idempotentOutcome adapts a broker answer for the idempotent producer before the usual retry
// rules see it. retry true: try b again whatever the error's class.
func (s *accState) idempotentOutcome(b *accBatch, m *messages.BatchDone) (_ *messages.BatchDone, retry bool) {
	o := classify(m.Err)
	b.notWritten = m.Err != nil && !o.maybeWritten
	switch {
	case m.Err == nil:
		s.sequences.confirmed = true
	case errors.Is(m.Err, wire.ErrDuplicateSequenceNumber):
		s.sequences.confirmed = true
		// Written before, too long ago for the broker to say where (Java's Sender.completeBatch).
		return &messages.BatchDone{BatchID: m.BatchID, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}, false
	case errors.Is(m.Err, wire.ErrOutOfOrderSequenceNumber):
		// Behind an older batch that has not been written yet: wait for it. At the head of the
		// partition it is a gap on the broker's side: start over under a new epoch.
		if !s.olderUnfinished(b) {
			s.sequences.resetNeeded = true
			if s.shared.Txn != nil {
				return m, false // the transaction must abort; its end bumps the epoch (txn.go)
			}
		}
		return m, true
	case errors.Is(m.Err, wire.ErrUnknownProducerID):
		if m.LogStartOffset < 0 {
			return m, true // the broker could not tell more; Java retries as is
		}
		// The broker lost our state (retention removed it). If it does not know us even at the
		// start of a fresh epoch, it does not know the id: ask for a new one.
		s.sequences.resetNeeded = true
		if b.baseSequence == 0 {
			s.sequences.newIDNeeded = true
		}
		if s.shared.Txn != nil {
			return m, false // the transaction must abort; its end bumps the epoch (txn.go)
		}
		return m, true
	case o.fatal:
		err := fmt.Errorf("%w: %w", messages.ErrFatal, m.Err)
		s.fx.send(s.sender, &messages.ProducerFailed{Err: err})
		return &messages.BatchDone{BatchID: m.BatchID, Err: err, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}, false
	}
	return m, false
}

// olderUnfinished reports whether a batch older than b has no outcome yet.
func (s *accState) olderUnfinished(b *accBatch) bool {
	for _, x := range s.batches {
		if x == b {
			return false
		}
		if x.result == nil {
			return true
		}
	}
	return false
}
