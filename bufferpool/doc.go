// Package bufferpool accounts for a fixed budget of memory and recycles fixed-size byte buffers.
//
// Budget is the budget (the producer's buffer.memory): Acquire reserves bytes, blocking in FIFO order
// until enough were released, the caller's context ends, or a deadline passes (max.block.ms);
// Release gives them back. Budget only counts bytes; it hands out no memory.
//
// Buffers recycles byte slices of one size class through a sync.Pool, so that steady-state batch
// building allocates nothing.
//
// The package knows nothing about Kafka.
package bufferpool
