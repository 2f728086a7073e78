package kastor

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestStringAndBytesSerializers(t *testing.T) {
	b, err := StringSerializer{}.Serialize("t", "héllo")
	if err != nil || !bytes.Equal(b, []byte{'h', 0xc3, 0xa9, 'l', 'l', 'o'}) {
		t.Fatalf("string: %x, %v", b, err)
	}
	b, _ = StringSerializer{}.Serialize("t", "")
	if b == nil || len(b) != 0 {
		t.Fatalf("empty string should be empty, non-null bytes: %#v", b)
	}
	in := []byte{1, 2, 3}
	b, _ = BytesSerializer{}.Serialize("t", in)
	if !bytes.Equal(b, in) {
		t.Fatalf("bytes: %x", b)
	}
	if b, _ = (BytesSerializer{}).Serialize("t", nil); b != nil {
		t.Fatal("nil bytes should stay nil (a null value)")
	}
}

// Java's IntegerSerializer and LongSerializer write big-endian two's complement.
func TestIntSerializersMatchJava(t *testing.T) {
	for _, c := range []struct {
		v    int32
		want []byte
	}{
		{0, []byte{0, 0, 0, 0}},
		{1, []byte{0, 0, 0, 1}},
		{-1, []byte{0xff, 0xff, 0xff, 0xff}},
		{0x12345678, []byte{0x12, 0x34, 0x56, 0x78}},
		{256, []byte{0, 0, 1, 0}},
		{math.MinInt32, []byte{0x80, 0, 0, 0}},
		{math.MaxInt32, []byte{0x7f, 0xff, 0xff, 0xff}},
	} {
		if got, err := (Int32Serializer{}).Serialize("t", c.v); err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("Int32 %d: %x, %v; want %x", c.v, got, err, c.want)
		}
	}
	for _, c := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{1, []byte{0, 0, 0, 0, 0, 0, 0, 1}},
		{-1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{0x0102030405060708, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{-2, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}},
		{math.MinInt64, []byte{0x80, 0, 0, 0, 0, 0, 0, 0}},
	} {
		if got, err := (Int64Serializer{}).Serialize("t", c.v); err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("Int64 %d: %x, %v; want %x", c.v, got, err, c.want)
		}
	}
}

type serdeOrder struct {
	ID    int      `json:"id"`
	Items []string `json:"items"`
}

func TestJSONSerializer(t *testing.T) {
	b, err := JSONSerializer[serdeOrder]{}.Serialize("t", serdeOrder{ID: 7, Items: []string{"a", "b"}})
	if err != nil || string(b) != `{"id":7,"items":["a","b"]}` {
		t.Fatalf("%s, %v", b, err)
	}
	b, err = JSONSerializer[*serdeOrder]{}.Serialize("t", nil)
	if err != nil || string(b) != "null" {
		t.Fatalf("nil pointer: %q, %v", b, err)
	}
	_, err = JSONSerializer[chan int]{}.Serialize("t", make(chan int))
	if err == nil {
		t.Fatal("a channel should not serialize")
	}
}

func TestTypedProducerBuildsRecord(t *testing.T) {
	nullKeys := SerializerFunc[string](func(_ string, k string) ([]byte, error) {
		if k == "" {
			return nil, nil
		}
		return []byte(k), nil
	})
	tp := NewTypedProducer[string, int64](nil, nullKeys, Int64Serializer{})
	ts := time.UnixMilli(1700000000000)
	hdrs := []Header{{Key: "h", Value: []byte("v")}}
	r, err := tp.record(TypedRecord[string, int64]{Topic: "t", Partition: PartitionOf(3), Key: "k", Value: 258,
		Headers: hdrs, Timestamp: ts})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := r.Partition.Get(); r.Topic != "t" || !ok || p != 3 || string(r.Key) != "k" ||
		!bytes.Equal(r.Value, []byte{0, 0, 0, 0, 0, 0, 1, 2}) || !r.Timestamp.Equal(ts) || len(r.Headers) != 1 {
		t.Fatalf("record %+v", r)
	}
	r, err = tp.record(TypedRecord[string, int64]{Topic: "t"})
	if err != nil || r.Key != nil {
		t.Fatalf("a serializer returning nil should give a null key: %#v, %v", r.Key, err)
	}
}

var errSerdeBoom = errors.New("boom")

func failingSerializer[T any]() Serializer[T] {
	return SerializerFunc[T](func(string, T) ([]byte, error) { return nil, errSerdeBoom })
}

func TestTypedProducerSerializationFailure(t *testing.T) {
	valueCalls := 0
	countingValues := SerializerFunc[string](func(_ string, v string) ([]byte, error) {
		valueCalls++
		return []byte(v), nil
	})
	for _, c := range []struct {
		name string
		tp   *TypedProducer[string, string]
		part string
	}{
		// The producer is nil: a serialization failure must not touch it.
		{"key", NewTypedProducer[string, string](nil, failingSerializer[string](), countingValues), "key"},
		{"value", NewTypedProducer[string, string](nil, StringSerializer{}, failingSerializer[string]()), "value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			valueCalls = 0
			calls := 0
			var gotMD RecordMetadata
			var gotErr error
			c.tp.SendAsync(context.Background(), TypedRecord[string, string]{Topic: "orders", Key: "k", Value: "v"},
				func(md RecordMetadata, err error) {
					calls++
					gotMD, gotErr = md, err
				})
			if calls != 1 {
				t.Fatalf("callback called %d times, want 1", calls)
			}
			if c.part == "key" && valueCalls != 0 {
				t.Fatal("the value was serialized after the key failed")
			}
			var se *SerializationError
			if !errors.As(gotErr, &se) {
				t.Fatalf("error %v is not a *SerializationError", gotErr)
			}
			if se.Topic != "orders" || se.Part != c.part || !errors.Is(gotErr, errSerdeBoom) {
				t.Fatalf("got %+v", se)
			}
			want := `kastor: serializing ` + c.part + ` for topic "orders": boom`
			if gotErr.Error() != want {
				t.Fatalf("Error() = %q, want %q", gotErr.Error(), want)
			}
			if gotMD.Topic != "orders" || gotMD.Partition != -1 || gotMD.Offset != -1 {
				t.Fatalf("metadata %+v", gotMD)
			}

			md, err := c.tp.Send(context.Background(), TypedRecord[string, string]{Topic: "orders", Partition: PartitionOf(2)})
			if !errors.As(err, &se) || se.Part != c.part {
				t.Fatalf("Send: %v", err)
			}
			if md.Partition != 2 || md.Topic != "orders" {
				t.Fatalf("Send metadata %+v", md)
			}
		})
	}
	// A nil callback is allowed.
	NewTypedProducer[string, string](nil, failingSerializer[string](), StringSerializer{}).
		SendAsync(context.Background(), TypedRecord[string, string]{Topic: "t"}, nil)
}
