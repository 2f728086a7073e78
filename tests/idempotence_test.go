package tests

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/wire"
)

// These tests run with the defaults that matter here: idempotence on, 5 requests in flight.

// batchHeader is what a raw fetch shows of one stored record batch.
type batchHeader struct {
	offset  int64
	pid     int64
	epoch   int16
	seq     int32
	records int32
}

// rawBatches fetches every stored batch of topic, per partition, as the broker keeps them (kfake
// stores the producer's bytes), with kmsg on a kgo client: the only way to see producer ids,
// epochs and sequence numbers.
func rawBatches(t *testing.T, c *kfake.Cluster, topic string) map[int32][]batchHeader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[int32][]batchHeader{}
	for _, pi := range c.PartitionInfos(topic) {
		for next := int64(0); next < pi.HighWatermark; {
			req := kmsg.NewPtrFetchRequest()
			req.MaxBytes = 64 << 20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = topic, c.TopicInfo(topic).TopicID
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = pi.Partition, next, 64<<20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := cl.Broker(int(c.LeaderFor(topic, pi.Partition))).Request(ctx, req)
			if err != nil {
				t.Fatalf("fetch %s-%d@%d: %v", topic, pi.Partition, next, err)
			}
			fr := resp.(*kmsg.FetchResponse)
			if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 || fr.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("fetch %s-%d@%d: unexpected response %+v", topic, pi.Partition, next, fr)
			}
			raw := fr.Topics[0].Partitions[0].RecordBatches
			if len(raw) == 0 {
				t.Fatalf("fetch %s-%d@%d: no batches below the high watermark %d", topic, pi.Partition, next, pi.HighWatermark)
			}
			for len(raw) >= 12 {
				n := 12 + int(binary.BigEndian.Uint32(raw[8:12]))
				if n > len(raw) {
					break // a partial batch at the end of the response
				}
				var b kmsg.RecordBatch
				if err := b.ReadFrom(raw[:n]); err != nil {
					t.Fatalf("decoding a batch of %s-%d: %v", topic, pi.Partition, err)
				}
				if b.FirstOffset >= next {
					out[pi.Partition] = append(out[pi.Partition], batchHeader{offset: b.FirstOffset, pid: b.ProducerID,
						epoch: b.ProducerEpoch, seq: b.FirstSequence, records: b.NumRecords})
					next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
				}
				raw = raw[n:]
			}
		}
	}
	return out
}

// checkSequences asserts what the broker's log must show of an idempotent producer: one producer
// id, epochs that never go back, and per partition sequence numbers that start at 0 with each
// epoch and continue without a gap or an overlap. It returns the highest epoch seen.
func checkSequences(t *testing.T, c *kfake.Cluster, topic string) int16 {
	t.Helper()
	pid, top := int64(-1), int16(0)
	for part, batches := range rawBatches(t, c, topic) {
		epoch, next := int16(-1), int32(0)
		for _, b := range batches {
			if pid == -1 {
				pid = b.pid
			}
			if b.pid != pid || b.pid < 0 {
				t.Fatalf("partition %d offset %d: producer id %d, want %d throughout", part, b.offset, b.pid, pid)
			}
			switch {
			case b.epoch < epoch:
				t.Fatalf("partition %d offset %d: epoch %d after %d", part, b.offset, b.epoch, epoch)
			case b.epoch > epoch:
				epoch, next = b.epoch, 0
			}
			if b.seq != next {
				t.Fatalf("partition %d offset %d: epoch %d sequence %d, want %d", part, b.offset, b.epoch, b.seq, next)
			}
			next = b.seq + b.records
			top = max(top, b.epoch)
		}
	}
	return top
}

func allSucceeded(t *testing.T, comp *completions, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

// REQUEST_TIMED_OUT after the broker appended the batch: the retry carries the same producer id,
// epoch and sequence, and the broker acknowledges it without writing it again.
func TestIdempotentWrittenButAnsweredRequestTimedOut(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Err: kerr.RequestTimedOut, Count: 4})
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.RetryBackoff = 5 * time.Millisecond })
	comp := sendN(t, p, "t", 6000, 2*time.Millisecond)
	if h.Hits() != 4 {
		t.Fatalf("fault hit %d times, want 4", h.Hits())
	}
	allSucceeded(t, comp, 6000)
	checkLog(t, c, "t", 6000, comp, true)
	if e := checkSequences(t, c, "t"); e != 0 {
		t.Fatalf("epoch %d: a duplicate answered by the broker needs no bump", e)
	}
}

// The connection drops after the broker wrote a request, with up to 5 in flight: every batch of
// that connection is resent as it was, and the broker keeps one copy.
func TestIdempotentConnectionDroppedAfterTheWrite(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	var drops atomic.Int32
	drops.Store(3)
	proxy := &frameProxy{onResponse: func(key int16, _ []byte) bool { return key == int16(kmsg.Produce) && drops.Add(-1) >= 0 }}
	t.Cleanup(proxy.close)
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Dialer = proxy.dial
		cfg.RetryBackoff = 5 * time.Millisecond
		cfg.ReconnectBackoff = 5 * time.Millisecond
	})
	comp := sendN(t, p, "t", 6000, 2*time.Millisecond)
	if d := drops.Load(); d >= 0 {
		t.Fatalf("%d drops left: the test did not drop connections", d+1)
	}
	allSucceeded(t, comp, 6000)
	p.Close(context.Background())
	checkLog(t, c, "t", 6000, comp, true)
	checkSequences(t, c, "t")
}

// A burst of retriable errors across partitions with 5 requests in flight: later batches of a
// partition whose earlier batch was refused get OUT_OF_ORDER_SEQUENCE_NUMBER and wait their turn.
func TestIdempotentRetriableErrorBurst(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Partitions: []int32{1}, Err: kerr.NotEnoughReplicas, Count: 6})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.RetryBackoff = 5 * time.Millisecond
		cfg.Partitioner = kastor.NewRoundRobinPartitioner() // every partition gets records
	})
	comp := sendN(t, p, "t", 6000, 2*time.Millisecond)
	if h.Hits() != 6 {
		t.Fatalf("fault hit %d times, want 6", h.Hits())
	}
	allSucceeded(t, comp, 6000)
	checkLog(t, c, "t", 6000, comp, true)
	if e := checkSequences(t, c, "t"); e != 0 {
		t.Fatalf("epoch %d: refused batches are resent as they were, no bump", e)
	}
}

// OUT_OF_ORDER_SEQUENCE_NUMBER for the batch at the head of a partition means the broker lost
// something: the producer bumps its epoch locally and starts that partition's sequences over.
func TestIdempotentOutOfOrderAtTheHeadBumpsTheEpoch(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.RetryBackoff = 5 * time.Millisecond
		cfg.Partitioner = kastor.NewRoundRobinPartitioner() // every partition gets records
	})
	first := sendN(t, p, "t", 500, 0)
	allSucceeded(t, first, 500)
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Partitions: []int32{0}, Err: kerr.OutOfOrderSequenceNumber, Count: 1})
	comp := sendN(t, p, "t", 3000, 2*time.Millisecond)
	if h.Hits() != 1 {
		t.Fatalf("fault hit %d times", h.Hits())
	}
	allSucceeded(t, comp, 3000)
	if e := checkSequences(t, c, "t"); e != 1 {
		t.Fatalf("highest epoch %d, want 1 (one bump)", e)
	}
}

// UNKNOWN_PRODUCER_ID with a log start offset (the broker lost our state to retention): bump the
// epoch, start the partition over at sequence 0, resend.
func TestIdempotentUnknownProducerIDBumpsTheEpoch(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.RetryBackoff = 5 * time.Millisecond })
	allSucceeded(t, sendN(t, p, "t", 300, 0), 300)
	var answered atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		if answered.Swap(true) {
			return nil, nil, false
		}
		return refuseProduce(kr.(*kmsg.ProduceRequest), kerr.UnknownProducerID.Code, 0), nil, true
	})
	comp := sendN(t, p, "t", 2000, 2*time.Millisecond)
	if !answered.Load() {
		t.Fatal("the control never answered")
	}
	allSucceeded(t, comp, 2000)
	recs := consumeAll(t, c, "t")[0]
	if len(recs) != 2300 {
		t.Fatalf("log holds %d records, want 2300", len(recs))
	}
	for i, r := range recs[300:] {
		if string(r.Value) != string(value(i)) || comp.get(i).md.Offset != r.Offset {
			t.Fatalf("offset %d holds %q, want record %d acknowledged there", r.Offset, r.Value, i)
		}
	}
	if e := checkSequences(t, c, "t"); e != 1 {
		t.Fatalf("highest epoch %d, want 1", e)
	}
}

// A batch that expires while the broker holds it (its fate unknown) completes with a delivery
// timeout; the partition then starts over under a new epoch, so later batches are not refused
// forever for a gap the producer cannot fill.
func TestIdempotentExpiryInFlightBumpsTheEpoch(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	// Every produce request before the deadline stalls until it, then its connection drops
	// unanswered (nothing written): the first attempt times out after RequestTimeout, its retry
	// is still out when the record's DeliveryTimeout passes.
	var deadline atomic.Pointer[time.Time]
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if deadline.Load() == nil {
			d := time.Now().Add(450 * time.Millisecond)
			deadline.Store(&d)
		}
		wait := time.Until(*deadline.Load())
		if wait <= 0 {
			return nil, nil, false
		}
		c.SleepControl(func() { time.Sleep(wait) })
		return nil, errors.New("drop after the stall"), true
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Linger = 0
		cfg.RequestTimeout = 250 * time.Millisecond
		cfg.DeliveryTimeout = 300 * time.Millisecond
		cfg.RetryBackoff = 5 * time.Millisecond
		cfg.ReconnectBackoff = 5 * time.Millisecond
	})
	_, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(0)})
	if !errors.Is(err, kastor.ErrDeliveryTimeout) {
		t.Fatalf("the stalled record: got %v, want ErrDeliveryTimeout", err)
	}
	// The later records go once the stall is over, so their own DeliveryTimeout is not at stake.
	time.Sleep(time.Until(*deadline.Load()) + 20*time.Millisecond)
	comp := newCompletions()
	for i := 1; i <= 500; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: value(i)}, comp.callback(i))
	}
	comp.wait(t, 30*time.Second)
	for i := 1; i <= 500; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	recs := consumeAll(t, c, "t")[0]
	if len(recs) != 500 || string(recs[0].Value) != string(value(1)) {
		t.Fatalf("log holds %d records starting with %q; want records 1..500", len(recs), recs[0].Value)
	}
	if e := checkSequences(t, c, "t"); e != 1 {
		t.Fatalf("highest epoch %d, want 1", e)
	}
}

// InitProducerId refused for good (the cluster does not allow idempotent writes to this
// principal): the producer fails, and every pending and later send fails with the cause.
func TestIdempotenceRefusedIsFatal(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.InitProducerID}, Err: kerr.ClusterAuthorizationFailed, TopLevel: true, Count: -1})
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
	comp := newCompletions()
	for i := 0; i < 100; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: value(i)}, comp.callback(i))
	}
	comp.wait(t, 30*time.Second)
	for i := 0; i < 100; i++ {
		if err := comp.get(i).err; !errors.Is(err, kastor.ErrFatal) || !errors.Is(err, wire.ErrClusterAuthorizationFailed) {
			t.Fatalf("record %d: got %v, want ErrFatal and CLUSTER_AUTHORIZATION_FAILED", i, err)
		}
	}
	_, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(100)})
	if !errors.Is(err, kastor.ErrFatal) {
		t.Fatalf("a later send: got %v, want ErrFatal", err)
	}
	if hw := c.PartitionInfo("t", 0).HighWatermark; hw != 0 {
		t.Fatalf("%d records written", hw)
	}
}

// Retriable InitProducerId errors are retried; the records wait and then go.
func TestInitProducerIDRetried(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.InitProducerID}, Err: kerr.CoordinatorNotAvailable, TopLevel: true, Count: 3})
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.RetryBackoff = 5 * time.Millisecond })
	comp := sendN(t, p, "t", 100, 0)
	if h.Hits() != 3 {
		t.Fatalf("fault hit %d times", h.Hits())
	}
	allSucceeded(t, comp, 100)
	checkLog(t, c, "t", 100, comp, true)
	checkSequences(t, c, "t")
}

// A fatal answer to a produce request (CLUSTER_AUTHORIZATION_FAILED: idempotent writes not
// allowed) fails the producer: every pending and later send fails with ErrFatal wrapping it.
func TestFatalProduceErrorFailsTheProducer(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
	allSucceeded(t, sendN(t, p, "t", 100, 0), 100)
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.ClusterAuthorizationFailed, Count: -1})
	comp := sendN(t, p, "t", 1000, 0)
	for i := 0; i < 1000; i++ {
		if err := comp.get(i).err; !errors.Is(err, kastor.ErrFatal) || !errors.Is(err, wire.ErrClusterAuthorizationFailed) {
			t.Fatalf("record %d: got %v, want ErrFatal wrapping CLUSTER_AUTHORIZATION_FAILED", i, err)
		}
	}
	_, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(0)})
	if !errors.Is(err, kastor.ErrFatal) || !errors.Is(err, wire.ErrClusterAuthorizationFailed) {
		t.Fatalf("a later send: got %v, want ErrFatal wrapping CLUSTER_AUTHORIZATION_FAILED", err)
	}
}

// Everything at once, with 5 requests in flight: leaders move, connections drop after the broker
// wrote (the response never arrives), writes are answered REQUEST_TIMED_OUT after they were
// applied, and retriable errors come in bursts. Each record is in the log once, in send order,
// with contiguous sequences.
func TestIdempotentChaos(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "t"))
	var responses atomic.Int32
	proxy := &frameProxy{onResponse: func(key int16, _ []byte) bool {
		return key == int16(kmsg.Produce) && responses.Add(1)%40 == 0 // every 40th produce response is lost
	}}
	t.Cleanup(proxy.close)
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Err: kerr.RequestTimedOut, Count: 6})
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Partitions: []int32{1, 4}, Err: kerr.NotEnoughReplicas, Count: 8})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Dialer = proxy.dial
		cfg.RetryBackoff = 5 * time.Millisecond
		cfg.ReconnectBackoff = 5 * time.Millisecond
		cfg.ReconnectBackoffMax = 50 * time.Millisecond
		cfg.Partitioner = kastor.NewRoundRobinPartitioner()
	})
	stop, moved := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(moved)
		for k := 0; k < 6; k++ {
			select {
			case <-stop:
				return
			case <-time.After(70 * time.Millisecond):
			}
			part := int32(k % 6)
			c.MoveTopicPartition("t", part, (c.LeaderFor("t", part)+1)%3)
		}
	}()
	const n = 12000
	comp := sendN(t, p, "t", n, 3*time.Millisecond)
	close(stop)
	<-moved
	allSucceeded(t, comp, n)
	if responses.Load() < 40 {
		t.Fatalf("only %d produce responses: no connection was cut", responses.Load())
	}
	p.Close(context.Background())
	checkLog(t, c, "t", n, comp, true)
	checkSequences(t, c, "t")
}

// The first produce to a partition is refused (NOT_LEADER_OR_FOLLOWER) while more batches of it
// are ready. A released broker takes any first sequence from a producer it has no state for, so a
// second batch sent beside the first would be written ahead of it, and the first could follow
// only under a new epoch: out of order. Until the broker has accepted one batch of an epoch, a
// partition has one request in flight.
func TestIdempotentFirstProduceRefusedKeepsOrder(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"), kfake.MaxVersions(kversion.V4_0_0()))
	var refused, produces atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		produces.Add(1)
		if refused.Add(1) > 1 {
			return nil, nil, false
		}
		return refuseProduce(kr.(*kmsg.ProduceRequest), kerr.NotLeaderForPartition.Code, -1), nil, true
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.RetryBackoff = 5 * time.Millisecond
		cfg.BatchSize = 512 // many batches ready before the first request goes
	})
	comp := sendN(t, p, "t", 2000, 0)
	if refused.Load() < 1 {
		t.Fatal("the first produce was never refused")
	}
	allSucceeded(t, comp, 2000)
	checkLog(t, c, "t", 2000, comp, true)
	if e := checkSequences(t, c, "t"); e != 0 {
		t.Fatalf("epoch %d: a refused first batch is resent as it was, no bump", e)
	}
	if produces.Load() < 10 {
		t.Fatalf("%d produce requests: too few to have pipelined", produces.Load())
	}
}

// refuseProduce answers every partition of req with code (and logStartOffset), writing nothing.
func refuseProduce(req *kmsg.ProduceRequest, code int16, logStartOffset int64) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.LogStartOffset = rp.Partition, code, logStartOffset
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
