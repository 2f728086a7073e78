package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor"
)

// produceAndVerify sends n records to topic (8 partitions) from one goroutine and checks, against
// what a kgo consumer reads back: every record exactly once, in send order per partition, at the
// offset its callback reported, with key, value, headers and timestamp intact; keyed records on
// Java's partition for their key.
func produceAndVerify(t *testing.T, c *kfake.Cluster, p *kastor.Producer, topic string, n int, keyed bool) {
	t.Helper()
	ctx := context.Background()
	comp := newCompletions()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < n; i++ {
		rec := &kastor.Record{
			Topic:     topic,
			Value:     value(i),
			Headers:   []kastor.Header{{Key: "i", Value: []byte(strconv.Itoa(i))}, {Key: "null"}},
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
		}
		if keyed {
			rec.Key = fmt.Appendf(nil, "key-%d", i%1000)
		}
		p.SendAsync(ctx, rec, comp.callback(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, time.Minute)

	byValue := map[string]*kgo.Record{}
	got := consumeAll(t, c, topic)
	total := 0
	for part, recs := range got {
		last := -1
		for _, r := range recs {
			i, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), "record-"))
			if err != nil {
				t.Fatalf("unexpected value %q", r.Value)
			}
			if i <= last {
				t.Fatalf("partition %d: record %d after record %d", part, i, last)
			}
			last = i
			if byValue[string(r.Value)] != nil {
				t.Fatalf("record %d written twice", i)
			}
			byValue[string(r.Value)] = r
			total++
		}
	}
	if total != n {
		t.Fatalf("read back %d records, sent %d", total, n)
	}
	for i := 0; i < n; i++ {
		res := comp.get(i)
		if res.err != nil {
			t.Fatalf("record %d failed: %v", i, res.err)
		}
		r := byValue[string(value(i))]
		if r == nil {
			t.Fatalf("record %d acknowledged but not in the log", i)
		}
		md := res.md
		if md.Topic != topic || md.Partition != r.Partition || md.Offset != r.Offset {
			t.Fatalf("record %d: callback said %s-%d@%d, log has %s-%d@%d", i, md.Topic, md.Partition, md.Offset, r.Topic, r.Partition, r.Offset)
		}
		wantTS := base.Add(time.Duration(i) * time.Millisecond)
		if !r.Timestamp.Equal(wantTS) || !md.Timestamp.Equal(wantTS) {
			t.Fatalf("record %d: timestamp %v (callback %v), want %v", i, r.Timestamp, md.Timestamp, wantTS)
		}
		if len(r.Headers) != 2 || r.Headers[0].Key != "i" || string(r.Headers[0].Value) != strconv.Itoa(i) || r.Headers[1].Key != "null" || r.Headers[1].Value != nil {
			t.Fatalf("record %d: headers %+v", i, r.Headers)
		}
		if md.SerializedValueSize != len(value(i)) {
			t.Fatalf("record %d: value size %d", i, md.SerializedValueSize)
		}
		if keyed {
			key := fmt.Appendf(nil, "key-%d", i%1000)
			if !bytes.Equal(r.Key, key) {
				t.Fatalf("record %d: key %q, want %q", i, r.Key, key)
			}
			if want := kastor.KeyPartition(key, 8); r.Partition != want {
				t.Fatalf("record %d: key %q on partition %d, Java's partitioner says %d", i, key, r.Partition, want)
			}
		} else if r.Key != nil || md.SerializedKeySize != -1 {
			t.Fatalf("record %d: null key came back as %q (size %d)", i, r.Key, md.SerializedKeySize)
		}
	}
}

func TestEndToEnd200kRecords(t *testing.T) {
	for _, brokers := range []int{1, 3} {
		t.Run(fmt.Sprintf("brokers=%d", brokers), func(t *testing.T) {
			c := newCluster(t, kfake.NumBrokers(brokers), kfake.SeedTopics(8, "t"))
			p := newProducer(t, c, nil)
			produceAndVerify(t, c, p, "t", 200_000, brokers == 3)
		})
	}
}

func TestEveryCodecAndAcks(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3))
	for _, codec := range []kastor.Codec{kastor.CompressionNone, kastor.CompressionGzip, kastor.CompressionSnappy, kastor.CompressionLZ4, kastor.CompressionZstd} {
		for _, acks := range []kastor.Acks{kastor.AcksAll, kastor.AcksLeader} {
			t.Run(fmt.Sprintf("%s/acks=%s", codec, acks), func(t *testing.T) {
				topic := fmt.Sprintf("codec-%s-%s", codec, acks)
				if err := c.CreateTopic(topic, 8, nil); err != nil {
					t.Fatal(err)
				}
				p := newProducer(t, c, func(cfg *kastor.Config) {
					cfg.Compression = codec
					cfg.Acks = acks
					cfg.EnableIdempotence = acks == kastor.AcksAll
				})
				produceAndVerify(t, c, p, topic, 5000, true)
				got := consumeAll(t, c, topic)
				for _, recs := range got {
					for _, r := range recs {
						if r.Attrs.CompressionType() != uint8(codec) {
							t.Fatalf("record compressed with %d, want %s", r.Attrs.CompressionType(), codec)
						}
					}
				}
			})
		}
	}
}

// With acks=0 records complete once written, with offset -1; they must still all arrive.
func TestAcksNone(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(8, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Acks, cfg.EnableIdempotence = kastor.AcksNone, false })
	comp := newCompletions()
	const n = 5000
	for i := 0; i < n; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: value(i)}, comp.callback(i))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, time.Minute)
	for i := 0; i < n; i++ {
		if r := comp.get(i); r.err != nil || r.md.Offset != -1 {
			t.Fatalf("record %d: offset %d, err %v; want -1, nil", i, r.md.Offset, r.err)
		}
	}
	// The broker answers nothing for acks=0; a kgo consumer sees the data once the writes land.
	deadline := time.Now().Add(10 * time.Second)
	for {
		total := int64(0)
		for _, pi := range c.PartitionInfos("t") {
			total += pi.HighWatermark
		}
		if total == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records in the log", total, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	seen := map[string]bool{}
	for _, recs := range consumeAll(t, c, "t") {
		for _, r := range recs {
			if seen[string(r.Value)] {
				t.Fatalf("%s twice", r.Value)
			}
			seen[string(r.Value)] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("read back %d distinct records, want %d", len(seen), n)
	}
}

// A partition beyond the topic's count in metadata fetched for the send is ErrInvalidRecord at
// once (not after MaxBlock); a producer whose snapshot predates the topic's growth refreshes it and
// then sends to the new partition.
func TestPartitionBeyondCount(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(4, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.MaxBlock = 10 * time.Second })
	_, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Partition: kastor.PartitionOf(4), Value: []byte("x")})
	if !errors.Is(err, kastor.ErrInvalidRecord) || !strings.Contains(err.Error(), "partition 4 of topic t, which has 4 partitions") {
		t.Fatalf("got %v", err)
	}

	// Grow the topic; p's snapshot still says 4 partitions, so the send waits for a refresh.
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "t", 6
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	resp, err := req.RequestWith(context.Background(), adm)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("growing the topic: %v, %+v", err, resp)
	}
	md, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Partition: kastor.PartitionOf(5), Value: []byte("x")})
	if err != nil || md.Partition != 5 {
		t.Fatalf("after growing the topic: %v, %+v", err, md)
	}
}

func TestSendSyncAndExplicitPartitions(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(4, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Linger = 0 })
	ctx := context.Background()
	for part := int32(0); part < 4; part++ {
		for i := 0; i < 3; i++ {
			md, err := p.Send(ctx, &kastor.Record{Topic: "t", Partition: kastor.PartitionOf(part), Value: []byte("x")})
			if err != nil {
				t.Fatal(err)
			}
			if md.Partition != part || md.Offset != int64(i) {
				t.Fatalf("got %d@%d, want %d@%d", md.Partition, md.Offset, part, i)
			}
		}
	}
	_, err := p.Send(ctx, &kastor.Record{Topic: "t", Partition: kastor.PartitionOf(-1), Value: []byte("x")})
	if !errors.Is(err, kastor.ErrInvalidRecord) {
		t.Fatalf("partition -1: got %v, want ErrInvalidRecord", err)
	}
}

// On a LogAppendTime topic the broker's time comes back as the record's timestamp. kfake applies
// LogAppendTime only when the batch itself asks for it, not from the topic config as Kafka does, so
// the broker's answer is forged here: the records are written by kfake's usual path first.
func TestLogAppendTimeTopic(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "lat"))
	appendTime := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	c.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.BaseOffset = 41
				sp.LogAppendTime = appendTime.UnixMilli()
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	p := newProducer(t, c, nil)
	md, err := p.Send(context.Background(), &kastor.Record{Topic: "lat", Value: []byte("x"), Timestamp: time.Unix(1_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if !md.Timestamp.Equal(appendTime) || md.Offset != 41 {
		t.Fatalf("got %v@%d, want the broker's append time %v@41", md.Timestamp, md.Offset, appendTime)
	}
}

func TestUnknownTopicTimesOut(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.MaxBlock = 300 * time.Millisecond })
	start := time.Now()
	_, err := p.Send(context.Background(), &kastor.Record{Topic: "missing", Value: []byte("x")})
	if !errors.Is(err, kastor.ErrTimeout) || !strings.Contains(err.Error(), "Topic missing not present in metadata after 300 ms.") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestTopicCreatedWhileWaiting(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1))
	p := newProducer(t, c, nil)
	time.AfterFunc(300*time.Millisecond, func() { c.CreateTopic("late", 3, nil) })
	md, err := p.Send(context.Background(), &kastor.Record{Topic: "late", Value: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if md.Offset != 0 {
		t.Fatalf("offset %d", md.Offset)
	}
}

func TestOversizeRecordFailsAtOnce(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.MaxRequestSize = 10_000 })
	comp := newCompletions()
	p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: make([]byte, 20_000)}, comp.callback(0))
	comp.wait(t, time.Second)
	if err := comp.get(0).err; !errors.Is(err, kastor.ErrRecordTooLarge) {
		t.Fatalf("got %v", err)
	}
}

// A broker that never answers keeps records in memory: once BufferMemory is spent, sends block for
// MaxBlock and then fail; Close with an expired context fails the rest and still stops cleanly.
func TestBufferExhaustionThenCloseWithExpiredContext(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true // never answer
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.BufferMemory = 20_000
		cfg.MaxBlock = 300 * time.Millisecond
		cfg.Linger = 0
	})
	comp := newCompletions()
	var i int
	var blockedErr error
	for i = 0; i < 1000; i++ {
		start := time.Now()
		if err := sendWithCallback(p, i, comp); err != nil {
			if d := time.Since(start); d < 250*time.Millisecond {
				t.Fatalf("send %d failed after %v, before MaxBlock: %v", i, d, err)
			}
			blockedErr = err
			break
		}
	}
	if !errors.Is(blockedErr, kastor.ErrTimeout) {
		t.Fatalf("after %d sends: got %v, want ErrTimeout", i, blockedErr)
	}
	// The send that blocked waited MaxBlock for memory; the buffer is spent.
	if st := p.Stats(); st.BufferWaits == 0 || st.BufferWaitTimeTotal < 250*time.Millisecond || st.BufferAvailableBytes >= 1000 {
		t.Fatalf("Stats: %d waits for memory, %v in all, %d bytes available", st.BufferWaits, st.BufferWaitTimeTotal, st.BufferAvailableBytes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Close(ctx)
	if err == nil {
		t.Fatal("Close flushed records the broker never acknowledged")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
	comp.wait(t, time.Second)
	for j := 0; j < i; j++ {
		if err := comp.get(j).err; !errors.Is(err, kastor.ErrProducerClosed) {
			t.Fatalf("record %d: got %v, want ErrProducerClosed", j, err)
		}
	}
	if _, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: []byte("x")}); !errors.Is(err, kastor.ErrProducerClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

// sendWithCallback sends record i; it returns the error if the send was refused at once (the
// callback ran before SendAsync returned), nil when it was accepted.
func sendWithCallback(p *kastor.Producer, i int, comp *completions) error {
	cb := comp.callback(i)
	var refused error
	var returned atomic.Bool
	p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: make([]byte, 1000)}, func(md kastor.RecordMetadata, err error) {
		if !returned.Load() {
			refused = err
		}
		cb(md, err)
	})
	returned.Store(true)
	return refused
}

func TestSendAfterClose(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	p := newProducer(t, c, nil)
	if _, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp := newCompletions()
	p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: []byte("x")}, comp.callback(0))
	comp.wait(t, time.Second)
	if err := comp.get(0).err; !errors.Is(err, kastor.ErrProducerClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestCancelledContextIsRefused(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	p := newProducer(t, c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Send(ctx, &kastor.Record{Topic: "t", Value: []byte("x")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if hw := c.PartitionInfo("t", 0).HighWatermark; hw != 0 {
		t.Fatalf("a refused record was written (high watermark %d)", hw)
	}
}

// The typed API serializes keys and values on the way in; a consumer sees Java-compatible bytes.
func TestTypedProducer(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	p := newProducer(t, c, nil)
	tp := kastor.NewTypedProducer[string, int64](p, kastor.StringSerializer{}, kastor.Int64Serializer{})
	for i := int64(0); i < 30; i++ {
		if _, err := tp.Send(context.Background(), kastor.TypedRecord[string, int64]{Topic: "t", Key: fmt.Sprint("k", i%3), Value: i}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for part, recs := range consumeAll(t, c, "t") {
		for _, r := range recs {
			if want := kastor.KeyPartition(r.Key, 3); part != want {
				t.Fatalf("key %q on partition %d, want %d", r.Key, part, want)
			}
			if len(r.Value) != 8 {
				t.Fatalf("value %x is not a big-endian int64", r.Value)
			}
			n++
		}
	}
	if n != 30 {
		t.Fatalf("read back %d records", n)
	}
}
