// Package kastor is a Kafka producer runtime built on protoactor-go actors.
package kastor

import (
	"context"
	"errors"

	"github.com/kastor-go/kastor/messages"
)

// Record is one record to produce; see messages.Record.
type Record = messages.Record

// Header is a record header.
type Header = messages.Header

// RecordMetadata is what the broker acknowledged for a record.
type RecordMetadata = messages.RecordMetadata

// TopicPartition names one partition of a topic.
type TopicPartition = messages.TopicPartition

// Partition selects a record's partition; the zero value lets the partitioner choose.
type Partition = messages.Partition

// PartitionOf returns a Partition that sends a record to partition n.
func PartitionOf(n int32) Partition { return messages.PartitionOf(n) }

// Producer sends records to Kafka. It is safe for concurrent use.
type Producer struct{}

// Send produces rec and waits for its acknowledgement.
func (p *Producer) Send(ctx context.Context, rec *Record) (RecordMetadata, error) {
	return RecordMetadata{}, errors.New("kastor: not implemented yet")
}

// SendAsync produces rec and calls cb exactly once with the outcome.
func (p *Producer) SendAsync(ctx context.Context, rec *Record, cb func(RecordMetadata, error)) {
	cb(RecordMetadata{}, errors.New("kastor: not implemented yet"))
}
