package wire

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func benchProduceRequest() *ProduceRequest {
	txn := "txn-id"
	req := &ProduceRequest{TransactionalID: &txn, Acks: -1, TimeoutMillis: 30000}
	topic := ProduceTopic{Name: "benchmark-topic", TopicID: [16]byte{1, 2, 3}}
	for p := range 8 {
		batch := make([]byte, 16<<10)
		for i := range batch {
			batch[i] = byte(i * (p + 1))
		}
		topic.Partitions = append(topic.Partitions, ProducePartition{Partition: int32(p), Records: batch})
	}
	req.Topics = []ProduceTopic{topic}
	return req
}

// BenchmarkAppendProduceRequest encodes a whole Produce frame (size, header v2, body) with 8
// partitions of 16 KiB record batches into a reused buffer.
func BenchmarkAppendProduceRequest(b *testing.B) {
	req := benchProduceRequest()
	for _, v := range []int16{9, 13} {
		b.Run(fmt.Sprintf("v%d", v), func(b *testing.B) {
			buf := AppendRequest(nil, req, v, 1, "kastor")
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				buf = AppendRequest(buf[:0], req, v, int32(i), "kastor")
			}
		})
	}
}

// BenchmarkReadProduceResponse decodes a Produce v10 response for 8 partitions.
func BenchmarkReadProduceResponse(b *testing.B) {
	k := kmsg.NewPtrProduceResponse()
	k.Version = 10
	tp := kmsg.NewProduceResponseTopic()
	tp.Topic = "benchmark-topic"
	for p := range 8 {
		part := kmsg.NewProduceResponseTopicPartition()
		part.Partition, part.BaseOffset = int32(p), int64(p)*1000
		tp.Partitions = append(tp.Partitions, part)
	}
	k.Topics = append(k.Topics, tp)
	body := k.AppendTo(nil)
	var resp ProduceResponse
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := resp.ReadFrom(body, 10); err != nil {
			b.Fatal(err)
		}
	}
}

func TestProduceRequestAppendAllocs(t *testing.T) {
	req := benchProduceRequest()
	for _, v := range []int16{3, 9, 13} {
		buf := AppendRequest(nil, req, v, 1, "kastor")
		if n := testing.AllocsPerRun(20, func() { buf = AppendRequest(buf[:0], req, v, 1, "kastor") }); n != 0 {
			t.Errorf("v%d: %v allocs per AppendRequest into a reused buffer", v, n)
		}
	}
}
