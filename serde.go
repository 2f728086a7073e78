package kastor

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Serializer turns a typed key or value into record bytes (Java's key.serializer and
// value.serializer). Returning nil bytes makes a null key or value. Implementations must be safe
// for concurrent use.
type Serializer[T any] interface {
	Serialize(topic string, v T) ([]byte, error)
}

// SerializerFunc adapts a function to the Serializer interface.
type SerializerFunc[T any] func(topic string, v T) ([]byte, error)

// Serialize calls f(topic, v).
func (f SerializerFunc[T]) Serialize(topic string, v T) ([]byte, error) { return f(topic, v) }

// StringSerializer encodes a string as its UTF-8 bytes, like Java's StringSerializer. The empty
// string is an empty, non-null key or value.
type StringSerializer struct{}

// Serialize returns the bytes of v.
func (StringSerializer) Serialize(_ string, v string) ([]byte, error) {
	return append([]byte{}, v...), nil
}

// BytesSerializer passes bytes through unchanged, like Java's ByteArraySerializer: nil is a null
// key or value.
type BytesSerializer struct{}

// Serialize returns v itself.
func (BytesSerializer) Serialize(_ string, v []byte) ([]byte, error) { return v, nil }

// Int32Serializer encodes an int32 as 4 big-endian bytes, like Java's IntegerSerializer.
type Int32Serializer struct{}

// Serialize returns v in big-endian order.
func (Int32Serializer) Serialize(_ string, v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(v)), nil
}

// Int64Serializer encodes an int64 as 8 big-endian bytes, like Java's LongSerializer.
type Int64Serializer struct{}

// Serialize returns v in big-endian order.
func (Int64Serializer) Serialize(_ string, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(v)), nil
}

// JSONSerializer encodes values with encoding/json. It always produces JSON text: a nil pointer,
// map or slice becomes the four bytes null, not a null record value. Wrap it in a SerializerFunc
// that returns nil bytes to send tombstones.
type JSONSerializer[T any] struct{}

// Serialize returns the JSON encoding of v.
func (JSONSerializer[T]) Serialize(_ string, v T) ([]byte, error) { return json.Marshal(v) }

// SerializationError reports that a record's key or value could not be serialized. The record was
// not sent.
type SerializationError struct {
	Topic string
	// Part is "key" or "value".
	Part string
	Err  error
}

func (e *SerializationError) Error() string {
	return fmt.Sprintf("kastor: serializing %s for topic %q: %v", e.Part, e.Topic, e.Err)
}

// Unwrap returns the serializer's error.
func (e *SerializationError) Unwrap() error { return e.Err }

// TypedRecord is a Record whose key and value are still typed; TypedProducer serializes them.
type TypedRecord[K, V any] struct {
	Topic     string
	Partition Partition
	Key       K
	Value     V
	Headers   []Header
	// Timestamp is the record's CreateTime; the zero time means "now".
	Timestamp time.Time
}

// TypedProducer sends TypedRecords through a Producer, serializing keys and values first. It is
// safe for concurrent use if its serializers are. Several TypedProducers may share one Producer.
type TypedProducer[K, V any] struct {
	p      *Producer
	keys   Serializer[K]
	values Serializer[V]
}

// NewTypedProducer returns a TypedProducer that sends through p with the given serializers.
func NewTypedProducer[K, V any](p *Producer, keys Serializer[K], values Serializer[V]) *TypedProducer[K, V] {
	return &TypedProducer[K, V]{p: p, keys: keys, values: values}
}

// Send serializes rec and produces it with Producer.Send. A serialization failure returns a
// *SerializationError without sending anything.
func (t *TypedProducer[K, V]) Send(ctx context.Context, rec TypedRecord[K, V]) (RecordMetadata, error) {
	r, err := t.record(rec)
	if err != nil {
		return failedMetadata(rec.Topic, rec.Partition), err
	}
	return t.p.Send(ctx, r)
}

// SendAsync serializes rec and produces it with Producer.SendAsync. cb is called exactly once: with
// a *SerializationError, on the calling goroutine before SendAsync returns, if serialization fails;
// otherwise as Producer.SendAsync calls it.
func (t *TypedProducer[K, V]) SendAsync(ctx context.Context, rec TypedRecord[K, V], cb func(RecordMetadata, error)) {
	r, err := t.record(rec)
	if err != nil {
		if cb != nil {
			cb(failedMetadata(rec.Topic, rec.Partition), err)
		}
		return
	}
	t.p.SendAsync(ctx, r, cb)
}

// record serializes rec into a new Record, which kastor then owns.
func (t *TypedProducer[K, V]) record(rec TypedRecord[K, V]) (*Record, error) {
	key, err := t.keys.Serialize(rec.Topic, rec.Key)
	if err != nil {
		return nil, &SerializationError{Topic: rec.Topic, Part: "key", Err: err}
	}
	value, err := t.values.Serialize(rec.Topic, rec.Value)
	if err != nil {
		return nil, &SerializationError{Topic: rec.Topic, Part: "value", Err: err}
	}
	return &Record{Topic: rec.Topic, Partition: rec.Partition, Key: key, Value: value,
		Headers: rec.Headers, Timestamp: rec.Timestamp}, nil
}

// failedMetadata is the metadata reported with a record that was never sent, as the Java producer
// does: the topic, the partition if the record named one (else -1), and -1 for the rest.
// refusedMetadata is failedMetadata for a record that may be nil.
func refusedMetadata(rec *Record) RecordMetadata {
	if rec == nil {
		return failedMetadata("", Partition{})
	}
	return failedMetadata(rec.Topic, rec.Partition)
}

func failedMetadata(topic string, p Partition) RecordMetadata {
	part, ok := p.Get()
	if !ok {
		part = -1
	}
	return RecordMetadata{Topic: topic, Partition: part, Offset: -1, SerializedKeySize: -1, SerializedValueSize: -1}
}
