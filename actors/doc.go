// Package actors holds kastor's actors, one file each: producer, metadata, accumulator, sender and
// connection (whose produce side, the sink, is in sink.go). Each is a thin Receive over a plain
// state struct; the producer-id state machine (producerid.go), the sink (sink.go) and the
// transaction state machine (txncore.go) are pure cores that take events and return effects.
// Actors share nothing but messages, the published cluster snapshot (Shared.Cluster), the
// accumulator registry and the buffer budget.
//
// No Receive blocks: socket I/O runs on goroutines that report by message, every timer is a
// wakeTimer (timer.go), a time.AfterFunc sending the actor a timerFired that carries a generation
// number (stale ones are ignored), and user callbacks run on the completion goroutine.
package actors

// The record path's cost budget, in CPU ns per record, for the default workload of
// tests/compare (100-byte values, null keys, 8 partitions, acks=all, idempotent, linger 5 ms,
// about 160 records per batch), from a CPU profile of the client process on the 2-core VM
// (448 ns/record in all, 2026-11-21; franz-go spends about 570 on the same run). Per-batch work is
// shown divided by the records of a batch.
//
//	caller goroutine (kastor.Producer.SendAsync)                  ~170
//	  lock, closed/fatal/ctx checks, interceptors, prepare          ~20
//	  metadata snapshot + sticky partitioner (one CAS)              ~40
//	  buffer pool reservation (TryAcquire, a mutex)                 ~20
//	  Inbox.Push (a mutex, the Append copied by value) + lookup     ~65
//	  (the caller's own Record allocation, not kastor's)            ~35
//	accumulator (drainInbox → onAppend)                             ~95
//	  encoding into the open batch (AppendIfFits)                   ~12
//	  pending record, readiness, timers                             ~60
//	  per batch: Drain, Seal (CRC-32C), BatchDone, completion       ~15
//	sender (per batch: gather, request, dispatch)                   ~20
//	connection: encode + write(2) + read + decode (per batch)       ~55
//
// (Measured before the sink: the drain round trip and the sender's per-batch work are gone since;
// the sink's request building and result dispatch now run on the connection.)
//	completer goroutine (callbacks in order, memory release)        ~30
//	garbage collection                                              ~25
//
// Where to look next: the inbox push and the accumulator's per-record bookkeeping are the largest
// kastor-owned items; the per-batch messages (about 16 small allocations per batch, 0.1 per
// record) are what keeps allocations above 1 per record.
