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

// txnClass is what an error means to a transactional producer, following the handlers of Java's
// TransactionManager. classify decides the produce path; classifyTxn decides the coordinator
// requests (FindCoordinator, InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
// EndTxn) and the fate of a transaction one of whose batches failed.
type txnClass uint8

const (
	// txnClassRetry: send the same request again after a backoff. COORDINATOR_LOAD_IN_PROGRESS,
	// CONCURRENT_TRANSACTIONS (the coordinator is still completing the previous transaction),
	// UNKNOWN_TOPIC_OR_PARTITION and Kafka's other retriable codes.
	txnClassRetry txnClass = iota
	// txnClassFindCoordinator: the coordinator moved or could not be reached — NOT_COORDINATOR,
	// COORDINATOR_NOT_AVAILABLE, REQUEST_TIMED_OUT, our broken connection or request timeout:
	// find the coordinator again, then retry.
	txnClassFindCoordinator
	// txnClassAbortable: the transaction cannot commit, but the producer goes on once it is
	// aborted. TRANSACTION_ABORTABLE (KIP-890), a topic or group the producer may not use, and a
	// consumer group that moved on (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID:
	// Java's CommitFailedException).
	txnClassAbortable
	// txnClassAbortableBump: abortable, and the broker lost the producer's state, so the epoch is
	// bumped after the abort and the sequences start over (KIP-360): UNKNOWN_PRODUCER_ID,
	// INVALID_PRODUCER_ID_MAPPING, OUT_OF_ORDER_SEQUENCE_NUMBER.
	txnClassAbortableBump
	// txnClassFatal: the producer can do nothing more. PRODUCER_FENCED and INVALID_PRODUCER_EPOCH
	// (a newer producer took the transactional id), TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
	// CLUSTER_AUTHORIZATION_FAILED, INVALID_TXN_STATE, UNSUPPORTED_VERSION and no common version.
	txnClassFatal
	// txnClassUnexpected: any other error. A coordinator that answers with it is beyond what the
	// protocol foresees (fatal, as Java's "unexpected error"); a batch that failed with it
	// (MESSAGE_TOO_LARGE, a delivery timeout, ...) spoils only its transaction (abortable).
	txnClassUnexpected
)

// classifyTxn returns what a non-nil err means to a transactional producer.
func classifyTxn(err error) txnClass {
	if errors.Is(err, messages.ErrConnection) || errors.Is(err, messages.ErrRequestTimeout) {
		return txnClassFindCoordinator
	}
	if errors.Is(err, wire.ErrUnsupportedVersion) {
		return txnClassFatal
	}
	kerr, ok := errors.AsType[*wire.Error](err)
	if !ok {
		return txnClassUnexpected
	}
	switch kerr.Code {
	case wire.ErrNotCoordinator.Code, wire.ErrCoordinatorNotAvailable.Code, wire.ErrRequestTimedOut.Code:
		return txnClassFindCoordinator
	case wire.ErrProducerFenced.Code, wire.ErrInvalidProducerEpoch.Code, wire.ErrTransactionalIDAuthorizationFailed.Code,
		wire.ErrClusterAuthorizationFailed.Code, wire.ErrInvalidTxnState.Code, wire.ErrUnsupportedVersionCode.Code:
		return txnClassFatal
	case wire.ErrTransactionAbortable.Code, wire.ErrTopicAuthorizationFailed.Code, wire.ErrGroupAuthorizationFailed.Code,
		wire.ErrUnknownMemberID.Code, wire.ErrIllegalGeneration.Code, wire.ErrFencedInstanceID.Code:
		return txnClassAbortable
	case wire.ErrUnknownProducerID.Code, wire.ErrInvalidProducerIDMapping.Code, wire.ErrOutOfOrderSequenceNumber.Code:
		return txnClassAbortableBump
	}
	if kerr.Retriable {
		return txnClassRetry
	}
	return txnClassUnexpected
}
