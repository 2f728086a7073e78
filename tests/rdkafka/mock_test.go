// Package rdkafka tests kastor against a second Kafka-protocol broker implementation: librdkafka's
// mock cluster (through confluent-kafka-go, cgo, with its bundled static librdkafka). It is a
// nested module so the library's go.mod stays pure Go.
package rdkafka

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/kastor-go/kastor"
)

// mockLogAppendTime is what librdkafka's mock cluster answers in every Produce response's
// log_append_time: the constant 1234, on CreateTime topics too (it has no LogAppendTime topics).
// kastor, like the Java client and librdkafka itself, reports a log_append_time that is not -1 as
// the record's timestamp; the log keeps the CreateTime the record was sent with.
var mockLogAppendTime = time.UnixMilli(1234)

func newMock(t *testing.T, brokers int, topics ...string) *kafka.MockCluster {
	t.Helper()
	c, err := kafka.NewMockCluster(brokers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, topic := range topics {
		if err := c.CreateTopic(topic, 2, 1); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func newProducer(t *testing.T, c *kafka.MockCluster, mutate func(*kastor.Config)) *kastor.Producer {
	t.Helper()
	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = strings.Split(c.BootstrapServers(), ",")
	level := slog.LevelWarn
	if os.Getenv("KASTOR_DEBUG") != "" {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.MaxBlock = 10 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := kastor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

type sent struct {
	md  kastor.RecordMetadata
	err error
}

// produce sends n records to topic, each stamped, and waits for every callback (exactly once).
func produce(t *testing.T, p *kastor.Producer, topic, prefix string, n int, base time.Time) []sent {
	t.Helper()
	results := make([]sent, n)
	done := make(chan int, n)
	calls := make([]int, n)
	for i := range n {
		p.SendAsync(context.Background(), &kastor.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i),
			Value: fmt.Appendf(nil, "%s%d", prefix, i), Timestamp: base.Add(time.Duration(i) * time.Millisecond)},
			func(md kastor.RecordMetadata, err error) {
				results[i] = sent{md, err}
				done <- i
			})
	}
	timeout := time.After(30 * time.Second)
	for range n {
		select {
		case i := <-done:
			calls[i]++
		case <-timeout:
			t.Fatalf("callbacks missing after 30s")
		}
	}
	for i, c := range calls {
		if c != 1 {
			t.Fatalf("record %d completed %d times", i, c)
		}
	}
	return results
}

// stored is one record as a consumer reads it from the log.
type stored struct {
	key       string
	partition int32
	offset    int64
	timestamp time.Time
}

// readBack reads both partitions of topic from the start with librdkafka's own consumer until it
// has n records, keyed by value. (kgo cannot read from the mock: its Fetch gets no records.)
func readBack(t *testing.T, c *kafka.MockCluster, topic string, n int) map[string]stored {
	t.Helper()
	cons, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": c.BootstrapServers(),
		"group.id": "kastor-test", "enable.auto.commit": false, "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := cons.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning},
		{Topic: &topic, Partition: 1, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]stored{}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("read back %d of %d records", len(got), n)
		}
		m, err := cons.ReadMessage(time.Second)
		if err != nil {
			continue // a timeout; the deadline bounds the loop
		}
		if _, dup := got[string(m.Value)]; dup {
			t.Fatalf("%q stored twice", m.Value)
		}
		got[string(m.Value)] = stored{string(m.Key), m.TopicPartition.Partition, int64(m.TopicPartition.Offset), m.Timestamp}
	}
	return got
}

func check(t *testing.T, topic, prefix string, results []sent, stored map[string]stored, base time.Time) {
	t.Helper()
	for i, res := range results {
		if res.err != nil {
			t.Fatalf("%s: record %d: %v", topic, i, res.err)
		}
		want := base.Add(time.Duration(i) * time.Millisecond)
		r, ok := stored[fmt.Sprintf("%s%d", prefix, i)]
		if !ok || r.key != fmt.Sprintf("k%d", i) || r.partition != res.md.Partition ||
			r.offset != res.md.Offset || !r.timestamp.Equal(want) {
			t.Fatalf("%s: record %d reported %+v, stored %+v, sent at %v", topic, i, res.md, r, want)
		}
		if !res.md.Timestamp.Equal(mockLogAppendTime) {
			t.Fatalf("%s: record %d reports timestamp %v; the mock's log_append_time is %v", topic, i, res.md.Timestamp, mockLogAppendTime)
		}
	}
}

// TestRdkafkaMockCodecs: every codec produces to librdkafka's mock cluster and reads back intact
// with kgo, at the offsets reported.
func TestRdkafkaMockCodecs(t *testing.T) {
	codecs := []kastor.Codec{kastor.CompressionNone, kastor.CompressionGzip, kastor.CompressionSnappy,
		kastor.CompressionLZ4, kastor.CompressionZstd}
	var topics []string
	for _, codec := range codecs {
		topics = append(topics, "c-"+codec.String())
	}
	c := newMock(t, 3, topics...)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i, codec := range codecs {
		p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Compression = codec })
		results := produce(t, p, topics[i], "v", 20, base)
		check(t, topics[i], "v", results, readBack(t, c, topics[i], 20), base)
	}
}

// TestRdkafkaMockBrokerDown: with the mock's only broker down, records wait (within the delivery
// timeout) and are all written once it is up again; with the broker slow (the mock's round-trip
// knob) they still complete exactly once.
func TestRdkafkaMockBrokerDown(t *testing.T) {
	c := newMock(t, 1, "down")
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.EnableIdempotence = true })
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	// Warm up: metadata and producer id known, connection open.
	first := produce(t, p, "down", "a", 5, base)
	if err := c.SetBrokerDown(1); err != nil {
		t.Fatal(err)
	}
	up := make(chan struct{})
	go func() {
		defer close(up)
		time.Sleep(500 * time.Millisecond)
		c.SetBrokerUp(1)
	}()
	second := produce(t, p, "down", "b", 10, base.Add(time.Second))
	<-up
	if err := c.SetRoundtripDuration(1, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	third := produce(t, p, "down", "c", 10, base.Add(2*time.Second))
	stored := readBack(t, c, "down", 25)
	if len(stored) != 25 {
		t.Fatalf("stored %d records, want 25", len(stored))
	}
	check(t, "down", "a", first, stored, base)
	check(t, "down", "b", second, stored, base.Add(time.Second))
	check(t, "down", "c", third, stored, base.Add(2*time.Second))
}
