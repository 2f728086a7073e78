package kastor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Partitioner chooses the partition of a record that names none. It is called on the sending
// goroutine, possibly from many goroutines at once, so implementations must be safe for concurrent
// use and must not block. numPartitions is the topic's current partition count (> 0); the result
// must be in [0, numPartitions).
type Partitioner interface {
	Partition(rec *Record, numPartitions int32) int32
}

// PartitionerFunc adapts a function to the Partitioner interface.
type PartitionerFunc func(rec *Record, numPartitions int32) int32

// Partition calls f(rec, numPartitions).
func (f PartitionerFunc) Partition(rec *Record, numPartitions int32) int32 {
	return f(rec, numPartitions)
}

// Murmur2 is the 32-bit murmur2 hash exactly as Kafka's Java client computes it (Utils.murmur2,
// seed 0x9747b28c), returned as Java's signed int. It is what decides a keyed record's partition,
// so producers in any language that use it send the same key to the same partition.
func Murmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	// Body: little-endian 4-byte words.
	for len(data) >= 4 {
		k := binary.LittleEndian.Uint32(data)
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	// Tail: the 1 to 3 remaining bytes, each taken as unsigned (Java masks with 0xff).
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// KeyPartition returns the partition Kafka's Java producer chooses for key among numPartitions:
// toPositive(murmur2(key)) % numPartitions, where toPositive clears the sign bit (it does not take
// the absolute value). numPartitions must be positive.
func KeyPartition(key []byte, numPartitions int32) int32 {
	if numPartitions <= 0 {
		panic("kastor: KeyPartition needs a positive partition count")
	}
	return (Murmur2(key) & 0x7fffffff) % numPartitions
}

// NewDefaultPartitioner returns the Java producer's built-in partitioner (Kafka 3.3+, without the
// adaptive part of KIP-794):
//
//   - a record with a key (an empty key included; only nil is a null key) goes to
//     KeyPartition(key, numPartitions), unless ignoreKeys is set (partitioner.ignore.keys);
//   - other records use the uniform sticky strategy of KIP-794: all of a topic's records go to one
//     partition until about batchSize bytes were assigned to it, then to another partition chosen
//     at random (never the same one again when the topic has more than one). Batches fill up, so
//     fewer, larger requests are sent, and over time the load spreads evenly.
//
// The bytes counted are the key, the value and the header keys and values (at least one byte per
// record, so that empty records also rotate). batchSize is normally Config.BatchSize; a value <= 1
// switches partitions on every record.
func NewDefaultPartitioner(batchSize int, ignoreKeys bool) Partitioner {
	return &defaultPartitioner{batchSize: int64(batchSize), ignoreKeys: ignoreKeys}
}

type defaultPartitioner struct {
	batchSize  int64
	ignoreKeys bool
	topics     sync.Map // topic name -> *stickyPartition
	// last is the topic used last: most producers send to one topic, and comparing its name is
	// cheaper than a sync.Map lookup per record.
	last atomic.Pointer[stickyPartition]
}

// stickyPartition is one topic's sticky state: the current partition and the bytes assigned to it
// since it was chosen, packed into one word and updated with compare-and-swap, so the per-record
// cost is one atomic operation and concurrent senders never block each other.
type stickyPartition struct {
	topic string
	state atomic.Uint64 // (partition+1) << 32 | bytes; 0 before the first record
}

func (d *defaultPartitioner) Partition(rec *Record, numPartitions int32) int32 {
	if numPartitions <= 1 {
		return 0
	}
	if rec.Key != nil && !d.ignoreKeys {
		return KeyPartition(rec.Key, numPartitions)
	}
	st := d.state(rec.Topic)
	size := stickySize(rec)
	for {
		old := st.state.Load()
		part, bytes := int32(old>>32)-1, int64(uint32(old))
		// A partition that is out of range (the first record, or a topic whose partition count
		// shrank in stale metadata) is replaced at once.
		if part < 0 || part >= numPartitions {
			part, bytes = rand.Int32N(numPartitions), 0
		}
		next := part
		if bytes += size; bytes >= d.batchSize {
			next, bytes = otherPartition(part, numPartitions), 0
		}
		if st.state.CompareAndSwap(old, uint64(next+1)<<32|uint64(min(bytes, math.MaxUint32))) {
			return part
		}
	}
}

func (d *defaultPartitioner) state(topic string) *stickyPartition {
	if st := d.last.Load(); st != nil && st.topic == topic {
		return st
	}
	v, ok := d.topics.Load(topic)
	if !ok {
		v, _ = d.topics.LoadOrStore(topic, &stickyPartition{topic: topic})
	}
	st := v.(*stickyPartition)
	d.last.Store(st)
	return st
}

// otherPartition returns a partition of [0, n) other than cur, uniformly at random (n > 1).
func otherPartition(cur, n int32) int32 {
	p := rand.Int32N(n - 1)
	if p >= cur {
		p++
	}
	return p
}

// stickySize is what a record counts towards the sticky partition's batch: key, value and headers,
// and at least 1 so that records without any bytes still rotate.
func stickySize(rec *Record) int64 {
	n := len(rec.Key) + len(rec.Value)
	for _, h := range rec.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(max(n, 1))
}

// NewRoundRobinPartitioner returns a partitioner that sends each topic's records to its partitions
// in turn (0, 1, 2, ..., 0, ...), whatever their keys (Java's RoundRobinPartitioner, without its
// skipping of partitions that have no leader).
func NewRoundRobinPartitioner() Partitioner {
	return &roundRobinPartitioner{}
}

type roundRobinPartitioner struct {
	counters sync.Map // topic name -> *atomic.Uint32
}

func (r *roundRobinPartitioner) Partition(rec *Record, numPartitions int32) int32 {
	if numPartitions <= 1 {
		return 0
	}
	v, ok := r.counters.Load(rec.Topic)
	if !ok {
		v, _ = r.counters.LoadOrStore(rec.Topic, new(atomic.Uint32))
	}
	next := v.(*atomic.Uint32).Add(1) - 1
	return int32(next % uint32(numPartitions))
}
