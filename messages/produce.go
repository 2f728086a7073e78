package messages

// The messages below are kastor's API for actor users: send them to the producer actor (the PID
// that spawning kastor.Props returned, or Producer.PID). Send them as pointers and do not change
// them, or the Record they carry, until they are answered.

// Produce asks the producer actor to send Record. Sent with ctx.Request, it is answered with exactly
// one *Delivered to the sender; sent with ctx.Send (no sender) it is not answered, and a failure is
// counted (Flushed.UnansweredFailures) and logged. Replies to the accepted records of one partition
// arrive in send order; a Produce refused before it is accepted (invalid record, closed or failed
// producer, MaxBlock spent waiting for metadata or buffer memory) is answered as soon as it is
// refused. User actor → producer actor.
type Produce struct {
	Record *Record
	// Correlation comes back unchanged in Delivered, so a sender can match replies to requests.
	Correlation uint64
}

// Delivered answers a Produce: Err is nil when the broker acknowledged Record at Metadata.Offset.
// Producer → the Produce's sender.
type Delivered struct {
	Correlation uint64
	// Record is the Produce's record (or the one an interceptor replaced it with).
	Record   *Record
	Metadata RecordMetadata
	Err      error
}

// ProduceBatch asks the producer actor to send Records, each exactly as a Produce of its own
// would be (partitioned, checked and ordered the same way, records of one partition in slice
// order), and is answered with one ProducedBatch once every record has completed. One message and
// one reply for many records: a user actor that produces at a high rate pays the mailbox and the
// reply per batch rather than per record. Without a sender (Send instead of Request) nothing is
// answered and failures are counted and logged, as for a Produce. The slice must not change until
// the reply. User actor → producer actor.
type ProduceBatch struct {
	Records []*Record
	// Correlation comes back unchanged in ProducedBatch.
	Correlation uint64
}

// ProducedBatch answers a ProduceBatch once all its records completed. Results[i] is Records[i]'s
// outcome, as a Delivered for it would carry (its Correlation is the batch's). Producer → the
// ProduceBatch's sender.
type ProducedBatch struct {
	Correlation uint64
	Results     []Delivered
}

// Flush asks the producer actor to send everything it holds now (ignoring linger). Sent with
// ctx.Request, it is answered with *Flushed once every Produce the producer actor received before
// it has completed (and was answered). User actor → producer actor.
type Flush struct {
	Correlation uint64
}

// Flushed answers Flush. Err is nil, or ErrProducerClosed when the Flush reached a producer that
// had stopped (every record it held was answered with its own error before).
// Producer → the Flush's sender.
type Flushed struct {
	Correlation uint64
	Err         error
	// UnansweredFailures counts the records of fire-and-forget Produce messages (sent without a
	// sender) that failed, since the producer started.
	UnansweredFailures uint64
}

// Close asks the producer actor to stop gracefully: it stops accepting records (later Produce
// messages fail with ErrProducerClosed, and so do those still waiting for metadata or memory),
// flushes and waits for every accepted record to complete, then stops itself and answers *Closed to
// every Close sender. Stopping the actor instead (ctx.Stop, ctx.Poison, or stopping its parent)
// fails whatever it holds at once with ErrProducerClosed. User actor → producer actor.
type Close struct{}

// Closed answers Close once the producer actor, its children and its goroutines have stopped.
// Producer → the Close's sender.
type Closed struct {
	// UnansweredFailures is Flushed.UnansweredFailures at the end.
	UnansweredFailures uint64
}
