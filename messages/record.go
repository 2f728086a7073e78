// Package messages holds the Record types users hand to kastor and every message the actors
// exchange. Messages are plain structs, sent as pointers and never mutated after they are sent;
// there is no logic here.
package messages

import (
	"time"

	"github.com/kastor-go/kastor/wire"
)

// Header is a record header: a key and an opaque value (nil is a null value).
type Header = wire.Header

// Partition selects a record's partition. The zero value lets the partitioner choose; PartitionOf(n)
// sends the record to partition n (0 included).
type Partition struct {
	n   int32
	set bool
}

// PartitionOf returns a Partition that sends a record to partition n.
func PartitionOf(n int32) Partition { return Partition{n: n, set: true} }

// Get returns the explicit partition and true, or 0 and false when the partitioner chooses.
func (p Partition) Get() (int32, bool) { return p.n, p.set }

// Record is one record to produce. kastor owns it from the moment it is handed to Send or
// SendAsync until its completion runs: do not modify it, or reuse its slices, before then.
type Record struct {
	Topic     string
	Partition Partition
	// Key is the record key; nil is a null key (spread by the sticky partitioner).
	Key []byte
	// Value is the record value; nil is a null value (a tombstone on compacted topics).
	Value   []byte
	Headers []Header
	// Timestamp is the record's CreateTime; the zero time means "now" when the record is sent.
	// Topics configured with LogAppendTime get the broker's time back in RecordMetadata.
	Timestamp time.Time
}

// RecordMetadata is what the broker acknowledged for a record.
type RecordMetadata struct {
	Topic     string
	Partition int32
	// Offset is the record's offset in the partition, or -1 when it is unknown (acks=0).
	Offset int64
	// Timestamp is the record's CreateTime, or the broker's LogAppendTime on such topics.
	Timestamp time.Time
	// SerializedKeySize and SerializedValueSize are the key and value lengths, -1 when null.
	SerializedKeySize   int
	SerializedValueSize int
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}
