package messages

// Transactions for actor users: a producer actor whose Config has a TransactionalID accepts these
// messages, with the semantics of the Producer methods of the same names (Java's). Each is
// answered with exactly one *TransactionDone to its sender (none when sent without one), never
// blocking the sender or the producer actor. Send the next one only once the last is answered.
//
// CommitTransaction, AbortTransaction and SendOffsetsToTransaction go behind every Produce their
// sender sent before (like Flush): a Produce still waiting for metadata or memory is part of the
// transaction. A Produce sent after BeginTransaction was answered, and before CommitTransaction or
// AbortTransaction, belongs to the transaction; outside one it is refused with
// ErrTransactionState. Close aborts an open transaction before it flushes, as Java's close does.
// User actor → producer actor.
type (
	// InitTransactions: see Producer.InitTransactions.
	InitTransactions struct{ Correlation uint64 }
	// BeginTransaction: see Producer.BeginTransaction.
	BeginTransaction struct{ Correlation uint64 }
	// SendOffsetsToTransaction: see Producer.SendOffsetsToTransaction.
	SendOffsetsToTransaction struct {
		Correlation uint64
		Offsets     map[TopicPartition]OffsetAndMetadata
		Group       ConsumerGroupMetadata
	}
	// CommitTransaction: see Producer.CommitTransaction.
	CommitTransaction struct{ Correlation uint64 }
	// AbortTransaction: see Producer.AbortTransaction.
	AbortTransaction struct{ Correlation uint64 }
)

// TransactionDone answers a transactional message: Request is the message answered, Err nil or
// why the operation failed (errors.Is with the root package's ErrTransactionState,
// ErrTransactionAborted, ErrFatal, ...). Producer → the request's sender.
type TransactionDone struct {
	Correlation uint64
	Request     any
	Err         error
}

// OffsetAndMetadata is the offset a consumer group commits for one partition: the offset of the
// next record to consume (the last processed record's offset + 1), as in Java.
type OffsetAndMetadata struct {
	Offset int64
	// LeaderEpoch is the leader epoch of the last consumed record (kgo's Record.LeaderEpoch), or
	// -1 when unknown.
	LeaderEpoch int32
	// Metadata is stored with the offset (empty: none).
	Metadata string
}

// ConsumerGroupMetadata identifies the consumer whose offsets a transaction commits (Java's
// ConsumerGroupMetadata): with the generation and member id the group coordinator refuses the
// commit of a consumer that is no longer a member (KIP-447), so a zombie cannot commit.
type ConsumerGroupMetadata struct {
	GroupID string
	// GenerationID is the group generation (-1: unknown, no fencing by generation).
	GenerationID int32
	// MemberID is the consumer's member id ("": unknown).
	MemberID string
	// GroupInstanceID is the static member id (nil: none).
	GroupInstanceID *string
}
