// Package bufferpool accounts for a fixed budget of memory and recycles fixed-size byte buffers.
//
// Budget is the budget (the producer's buffer.memory): Acquire reserves bytes, blocking in FIFO order
// until enough were released, the caller's context ends, or a deadline passes (max.block.ms);
// Release gives them back. Budget only counts bytes; it hands out no memory.
//
// Buffers hands out byte buffers of one size from memory mapped outside the Go heap and reuses them
// once given back, so that batch building allocates nothing and buffers full of records cost
// their size once, not the double the garbage collector's pacing would make of them.
//
// The package knows nothing about Kafka.
package bufferpool
