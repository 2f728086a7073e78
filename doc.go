// Package kastor is a Kafka producer runtime built on protoactor-go actors.
//
// A Producer sends records to Kafka in order per partition and completes every record exactly
// once, with its offset or with an error. Send blocks until the record is acknowledged; SendAsync
// returns once the record is accepted and calls back later. Behind them, a metadata actor keeps the
// cluster view, one accumulator actor per partition builds batches and hands them to the produce
// connection of the partition's leader (one per broker), which fills requests and hands each
// result back; the per-record work (partitioning, memory accounting) runs on the caller's
// goroutine, so no single actor sees every record.
//
// An application built on protoactor-go can instead spawn the producer as a child of its own actor
// (Props) and produce by message: Produce is answered with Delivered, Flush with Flushed, Close
// with Closed (see the messages package), and fatal errors reach the spawning actor's supervisor.
//
// # Transactions
//
// With Config.TransactionalID the producer is transactional, as Java's: InitTransactions once,
// then BeginTransaction, sends, SendOffsetsToTransaction (consume-transform-produce) and
// CommitTransaction or AbortTransaction; read_committed consumers see a transaction's records
// and offsets all together or never. A send outside a transaction fails with ErrTransactionState;
// an error inside one makes the commit fail until the transaction is aborted; a producer fenced
// by a newer one with the same id fails for good (ErrFatal). Close aborts an open transaction.
// Actor users send the same operations as messages (TransactionDone answers them).
//
// # Which timeout is which
//
// A record meets three clocks, as in the Java producer:
//
//   - MaxBlock (max.block.ms, 60 s) bounds the send call itself: the wait for the topic's
//     metadata or for BufferMemory before the record is accepted. Past it the send fails with
//     ErrTimeout and the record was never sent; the error wraps why (no broker reachable: the
//     addresses tried and the last dial error; or the topic's Kafka error, such as
//     ErrUnknownTopicOrPartition for a mistyped topic). The ctx given to Send or SendAsync bounds
//     the same wait.
//   - RequestTimeout (request.timeout.ms, 30 s) bounds one request to one broker. When a broker
//     does not answer in time kastor closes that connection and retries the batch; ErrRequestTimeout
//     reaches a record only once Retries are spent.
//   - DeliveryTimeout (delivery.timeout.ms, 120 s) bounds an accepted record's whole life: linger,
//     every attempt and every backoff. Past it the record fails with ErrDeliveryTimeout; it may or
//     may not have been written.
//
// The ctx given to Send also ends its wait for the acknowledgement; that does not recall the
// record, which completes later for interceptors only.
//
// # Errors
//
// Every error is matched with errors.Is: kastor's own (ErrTimeout, ErrDeliveryTimeout, ...) and
// the Kafka error codes a broker answers with (ErrUnknownTopicOrPartition,
// ErrTopicAuthorizationFailed, ...; the wire package has every code). Send and Flush from inside
// a send callback fail with ErrInCallback; Close from a callback fails what is left with
// ErrProducerClosed and returns at once.
package kastor
