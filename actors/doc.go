// Package actors holds kastor's actors, one file each: producer, metadata, accumulator, sender and
// connection. Each is a thin Receive over a plain state struct. They share nothing but immutable
// messages, the published cluster snapshot (Shared.Cluster) and the buffer pool.
//
// No Receive blocks: socket I/O runs on goroutines that report by message, timers are
// time.AfterFunc sending a message that carries a generation number (stale ones are ignored), and
// user callbacks run on the completion goroutine.
package actors
