package kastor

// Partitioner chooses the partition of a record that names none. It is called on the sending
// goroutine, possibly from many goroutines at once, so implementations must be safe for concurrent
// use and must not block. numPartitions is the topic's current partition count (> 0); the result
// must be in [0, numPartitions).
type Partitioner interface {
	Partition(rec *Record, numPartitions int32) int32
}
