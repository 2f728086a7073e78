package actors

// The one place that decides what a failed produce attempt means. The sender, the accumulator,
// the sequence rules and the producer-id fetch all ask classify; none of them looks at an error's
// class by itself.

import (
	"errors"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// outcome is what an error says about the attempt that returned it. The classes overlap: a
// timed-out request is retriable, may have been written and is a reason to refresh metadata.
type outcome struct {
	// retry: the same batch (or request) may succeed if sent again. Kafka's retriable codes (the
	// Java client's RetriableException family) and the failures of our own connection: a broken
	// link and a request that got no answer in time.
	retry bool
	// maybeWritten: the broker may have appended the batch although the attempt failed — the
	// connection broke or timed out after the write, REQUEST_TIMED_OUT (the leader appended, the
	// replicas were late) and NOT_ENOUGH_REPLICAS_AFTER_APPEND. Every other broker error code
	// is a refusal: the batch is known not to be in the log. An idempotent producer resends a
	// maybe-written batch byte for byte (the broker deduplicates it) and never renumbers it.
	maybeWritten bool
	// fatal: an idempotent producer cannot go on (Java's TransactionManager fatal errors): it is
	// not allowed to write, it was fenced, or the broker cannot speak what it needs. A producer
	// without idempotence just fails the batch.
	fatal bool
	// refreshMetadata: our view of where the partition lives is probably stale (Java's
	// InvalidMetadataException family, and a lost connection): ask for fresh metadata before the
	// retry goes out.
	refreshMetadata bool
	// tooLarge: MESSAGE_TOO_LARGE; the batch is split in two and the halves sent again, down to
	// a single record, which then fails with ErrRecordTooLarge.
	tooLarge bool
}

// classify returns what err means for the attempt that returned it. nil is a success: the zero
// outcome.
func classify(err error) outcome {
	if err == nil {
		return outcome{}
	}
	if errors.Is(err, messages.ErrConnection) {
		return outcome{retry: true, maybeWritten: true, refreshMetadata: true}
	}
	if errors.Is(err, messages.ErrRequestTimeout) {
		return outcome{retry: true, maybeWritten: true, refreshMetadata: true}
	}
	if errors.Is(err, wire.ErrUnsupportedVersion) {
		return outcome{fatal: true} // no common version: the client's own negotiation said so
	}
	kerr, ok := errors.AsType[*wire.Error](err)
	if !ok {
		// Our own errors (a response that left the partition out, say): final, and what the broker
		// did is unknown.
		return outcome{maybeWritten: true}
	}
	o := outcome{retry: kerr.Retriable}
	switch kerr.Code {
	case wire.ErrRequestTimedOut.Code, wire.ErrNotEnoughReplicasAfterAppend.Code:
		o.maybeWritten = true
	case wire.ErrNotLeaderOrFollower.Code, wire.ErrLeaderNotAvailable.Code, wire.ErrUnknownTopicOrPartition.Code,
		wire.ErrFencedLeaderEpoch.Code, wire.ErrUnknownLeaderEpoch.Code, wire.ErrKafkaStorageError.Code,
		wire.ErrUnknownTopicID.Code, wire.ErrInconsistentTopicID.Code, wire.ErrReplicaNotAvailable.Code:
		o.refreshMetadata = true
	case wire.ErrClusterAuthorizationFailed.Code, wire.ErrTransactionalIDAuthorizationFailed.Code,
		wire.ErrProducerFenced.Code, wire.ErrUnsupportedVersionCode.Code:
		o.fatal = true
	case wire.ErrMessageTooLarge.Code:
		o.tooLarge = true
	}
	return o
}
