package tests

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/wire"
)

// sendN sends n records to topic from one goroutine (pacing them by pause between records, so
// faults land mid-stream), flushes, and waits for every callback.
func sendN(t *testing.T, p *kastor.Producer, topic string, n int, pause time.Duration) *completions {
	t.Helper()
	comp := newCompletions()
	for i := 0; i < n; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: topic, Value: value(i)}, comp.callback(i))
		if pause > 0 && i%100 == 99 {
			time.Sleep(pause)
		}
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, time.Minute)
	return comp
}

// checkLog asserts the delivery invariants against what a consumer reads back: every record
// acknowledged with an offset is in the log at that offset; no record that failed was written;
// records are in send order per partition; with exactlyOnce, nothing is written twice.
func checkLog(t *testing.T, c *kfake.Cluster, topic string, n int, comp *completions, exactlyOnce bool) {
	t.Helper()
	at, count := readLog(t, c, topic, exactlyOnce)
	for i := 0; i < n; i++ {
		res := comp.get(i)
		if res.err != nil {
			if count[i] > 0 {
				t.Fatalf("record %d failed (%v) but was written %d times", i, res.err, count[i])
			}
			continue
		}
		if got, ok := at[res.md.Partition][res.md.Offset]; !ok || got != i {
			t.Fatalf("record %d acknowledged at %d@%d, the log has record %d there", i, res.md.Partition, res.md.Offset, got)
		}
		if exactlyOnce && count[i] != 1 {
			t.Fatalf("record %d written %d times", i, count[i])
		}
	}
}

// readLog reads topic back: which record (by its value) sits at each offset, and how many times
// each was written. With ordered, records must be in send order in each partition.
func readLog(t *testing.T, c *kfake.Cluster, topic string, ordered bool, opts ...kgo.Opt) (at map[int32]map[int64]int, count map[int]int) {
	t.Helper()
	at, count = map[int32]map[int64]int{}, map[int]int{}
	for part, recs := range consumeAll(t, c, topic, opts...) {
		at[part] = map[int64]int{}
		last := -1
		for _, r := range recs {
			i, _ := strconv.Atoi(strings.TrimPrefix(string(r.Value), "record-"))
			at[part][r.Offset] = i
			count[i]++
			if ordered && i <= last {
				t.Fatalf("partition %d: record %d after %d", part, i, last)
			}
			last = max(last, i)
		}
	}
	return at, count
}

func TestRetriableErrorBurst(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Err: kerr.NotEnoughReplicas, Count: 5})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.MaxInFlightRequestsPerConnection = 1
		cfg.RetryBackoff = 10 * time.Millisecond
		cfg.RetryBackoffMax = 50 * time.Millisecond
	})
	comp := sendN(t, p, "t", 3000, time.Millisecond)
	if h.Hits() != 5 {
		t.Fatalf("fault hit %d times, want 5", h.Hits())
	}
	for i := 0; i < 3000; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	checkLog(t, c, "t", 3000, comp, true)
}

func TestNonRetriableErrorFailsTheBatch(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Err: kerr.TopicAuthorizationFailed, Count: 1})
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Linger = 0 })
	_, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(0)})
	if !errors.Is(err, wire.ErrTopicAuthorizationFailed) {
		t.Fatalf("got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	comp := sendN(t, p, "t", 100, 0)
	checkLog(t, c, "t", 100, comp, true)
	if hw := c.PartitionInfo("t", 0).HighWatermark; hw != 100 {
		t.Fatalf("high watermark %d, want 100 (the failed record must not be written)", hw)
	}
}

// The leader moves while records flow, with 5 requests in flight: NOT_LEADER_OR_FOLLOWER, a
// metadata refresh, and the batches go to the new leader, in order, exactly once (idempotence:
// later batches that overtake a refused one get OUT_OF_ORDER_SEQUENCE_NUMBER and wait their turn).
func TestLeaderMovesMidStream(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(2, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.RetryBackoff = 10 * time.Millisecond })
	var moves atomic.Int32
	stop := make(chan struct{})
	moved := make(chan struct{})
	go func() {
		defer close(moved)
		for k := 0; k < 4; k++ {
			select {
			case <-stop:
				return
			case <-time.After(60 * time.Millisecond):
			}
			for part := int32(0); part < 2; part++ {
				old := c.LeaderFor("t", part)
				if err := c.MoveTopicPartition("t", part, (old+1)%3); err == nil {
					moves.Add(1)
				}
			}
		}
	}()
	comp := sendN(t, p, "t", 5000, 5*time.Millisecond)
	close(stop)
	<-moved
	if moves.Load() == 0 {
		t.Fatal("no leader moved")
	}
	for i := 0; i < 5000; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	checkLog(t, c, "t", 5000, comp, true)
	checkSequences(t, c, "t")
}

// The connection drops before the broker applies the request: the producer reconnects and
// retries, and every record arrives once.
func TestConnectionDroppedBeforeTheWrite(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	var n atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if n.Add(1) > 2 {
			c.DropControl()
			return nil, nil, false
		}
		c.KeepControl()
		return nil, errors.New("drop"), true
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.MaxInFlightRequestsPerConnection = 1
		cfg.ReconnectBackoff = 10 * time.Millisecond
		cfg.RetryBackoff = 10 * time.Millisecond
	})
	comp := sendN(t, p, "t", 1000, 0)
	for i := 0; i < 1000; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	checkLog(t, c, "t", 1000, comp, true)
}

// A broker stalls past RequestTimeout and then applies the request anyway: the retry carries the
// same sequence numbers, so whichever copy lands second is recognised as a duplicate (without
// idempotence it would be written twice).
func TestBrokerStallsLongerThanRequestTimeout(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	var once atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if once.Swap(true) {
			c.DropControl()
			return nil, nil, false
		}
		c.KeepControl()
		c.SleepControl(func() { time.Sleep(800 * time.Millisecond) })
		return nil, nil, false
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.RequestTimeout = 300 * time.Millisecond
		cfg.MaxInFlightRequestsPerConnection = 1
		cfg.ReconnectBackoff = 10 * time.Millisecond
		cfg.RetryBackoff = 10 * time.Millisecond
	})
	comp := sendN(t, p, "t", 200, 0)
	for i := 0; i < 200; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	time.Sleep(time.Second) // let the stalled request land
	checkLog(t, c, "t", 200, comp, true)
	checkSequences(t, c, "t")
}

// A throttled response (KIP-219) holds the next request to that broker until the throttle time
// has passed; the record is still written exactly once. kfake enforces no quotas, so the first
// produce is answered with throttle_time_ms and a retriable error, as the test-broker notes show.
func TestThrottledResponseHoldsTheNextRequest(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	const throttle = 500 * time.Millisecond
	var arrivals []time.Time
	var mu sync.Mutex
	c.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		first := len(arrivals) == 1
		mu.Unlock()
		if !first {
			return nil, nil, false
		}
		req := kr.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.ThrottleMillis = int32(throttle.Milliseconds())
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Linger = 0
		cfg.RetryBackoff = 10 * time.Millisecond
	})
	if _, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(0)}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != 2 {
		t.Fatalf("%d produce requests, want 2", len(arrivals))
	}
	if gap := arrivals[1].Sub(arrivals[0]); gap < throttle-20*time.Millisecond {
		t.Fatalf("retry came %v after a %v throttle", gap, throttle)
	}
	if hw := c.PartitionInfo("t", 0).HighWatermark; hw != 1 {
		t.Fatalf("high watermark %d, want 1", hw)
	}
	if st := p.Stats(); st.ThrottleTimeMax != throttle || st.ThrottleTimeTotal != throttle || st.RecordRetries != 1 {
		t.Fatalf("Stats: throttle max %v total %v, %d retries; want %v, %v, 1", st.ThrottleTimeMax, st.ThrottleTimeTotal, st.RecordRetries, throttle, throttle)
	}
}

// MESSAGE_TOO_LARGE from a real limit: a batch of several records is split (again and again if
// need be) and every record arrives once, in order; one record too large on its own fails with
// ErrRecordTooLarge. The limit applies to the wire size, so the values are incompressible.
func TestMessageTooLargeSplitsTheBatch(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1))
	if err := c.CreateTopic("small", 1, map[string]string{"max.message.bytes": "2000"}); err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Linger = 100 * time.Millisecond
		// Order across a split holds with one request in flight; with more and no idempotence,
		// the halves can be written out of order (as with Java's producer).
		cfg.MaxInFlightRequestsPerConnection = 1
	})
	rnd := rand.New(rand.NewPCG(1, 2))
	comp := newCompletions()
	const n = 12
	for i := 0; i < n; i++ {
		v := make([]byte, 500)
		for j := range v {
			v[j] = byte(rnd.Uint32())
		}
		copy(v, value(i))
		p.SendAsync(context.Background(), &kastor.Record{Topic: "small", Value: v}, comp.callback(i))
	}
	p.SendAsync(context.Background(), &kastor.Record{Topic: "small", Value: make([]byte, 3000)}, comp.callback(n))
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, 10*time.Second)
	for i := 0; i < n; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	err := comp.get(n).err
	if !errors.Is(err, kastor.ErrRecordTooLarge) || !errors.Is(err, wire.ErrMessageTooLarge) {
		t.Fatalf("the oversize record: got %v, want ErrRecordTooLarge and MESSAGE_TOO_LARGE", err)
	}
	recs := consumeAll(t, c, "small")[0]
	if len(recs) != n {
		t.Fatalf("read back %d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if !strings.HasPrefix(string(r.Value), string(value(i))) {
			t.Fatalf("offset %d holds %q, want record %d", i, r.Value[:15], i)
		}
	}
}

// The broker appends the batch but answers REQUEST_TIMED_OUT (kfake answers this fault after the
// append). Without idempotence the retry writes a second copy: at least once. The invariants that
// must hold anyway: every acknowledged record is in the log at its offset, order holds for the
// first copies, nothing is lost.
func TestWrittenButAnsweredRequestTimedOut(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Err: kerr.RequestTimedOut, Count: 1})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Linger = 0
		cfg.RetryBackoff = 5 * time.Millisecond
		cfg.EnableIdempotence = false
	})
	md, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(0)})
	if err != nil {
		t.Fatal(err)
	}
	if h.Hits() != 1 {
		t.Fatalf("fault hit %d times", h.Hits())
	}
	recs := consumeAll(t, c, "t")[0]
	if len(recs) != 2 || string(recs[0].Value) != string(value(0)) || string(recs[1].Value) != string(value(0)) {
		t.Fatalf("log holds %d records; want the record twice (at least once without idempotence)", len(recs))
	}
	if md.Offset != 1 {
		t.Fatalf("acknowledged at %d; the retry's copy is at 1", md.Offset)
	}
}

// KIP-951: a NOT_LEADER_OR_FOLLOWER answer names the new leader, and the producer goes there at
// once, without waiting for a metadata refresh (stalled here for 3 s).
func TestLeaderHintFromProduceResponse(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(1, "t"))
	var stall atomic.Bool
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if stall.Load() {
			c.SleepControl(func() {
				select {
				case <-release:
				case <-time.After(3 * time.Second):
				}
			})
		}
		return nil, nil, false
	})
	defer close(release)
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Linger = 0
		cfg.RetryBackoff = 10 * time.Millisecond
	})
	if _, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(0)}); err != nil {
		t.Fatal(err)
	}
	stall.Store(true)
	old := c.LeaderFor("t", 0)
	if err := c.MoveTopicPartition("t", 0, (old+1)%3); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	md, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(1)})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v: the leader hint was not used (metadata is stalled for 3 s)", d)
	}
	if md.Offset != 1 {
		t.Fatalf("offset %d, want 1", md.Offset)
	}
}

// Cancelling Send's context after the record was accepted stops the wait, not the record (like
// Java's Future.get timeout): Send returns the context's error at once, and the record is still
// written and completed.
func TestSendContextStopsTheWaitNotTheRecord(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	var held, armed atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !armed.Load() {
			c.KeepControl()
			return nil, nil, false
		}
		if held.Swap(true) {
			c.DropControl()
			return nil, nil, false
		}
		c.KeepControl()
		c.SleepControl(func() { time.Sleep(400 * time.Millisecond) })
		return nil, nil, false
	})
	var acks atomic.Int32
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Linger = 0
		cfg.Interceptors = []kastor.Interceptor{ackCounter{&acks}}
	})
	if _, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(0)}); err != nil {
		t.Fatal(err) // metadata and connection are up: the next send is accepted at once
	}
	armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Send(ctx, &kastor.Record{Topic: "t", Value: value(1)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Fatalf("Send returned after %v, not when its context ended", d)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if acks.Load() != 2 {
		t.Fatalf("%d records completed, want 2", acks.Load())
	}
	if hw := c.PartitionInfo("t", 0).HighWatermark; hw != 2 {
		t.Fatalf("high watermark %d: the record was not written", hw)
	}
}

type ackCounter struct{ n *atomic.Int32 }

func (ackCounter) OnSend(r *kastor.Record) *kastor.Record { return r }
func (a ackCounter) OnAcknowledgement(_ kastor.RecordMetadata, err error) {
	if err == nil {
		a.n.Add(1)
	}
}

// Full requests keep each partition's order: with MaxRequestSize holding only a few batches, a
// batch left for the next request must hold its partition's later (smaller) batches behind it.
// Without idempotence nothing at the broker would catch a reordering, so the log is checked.
// (Found as a bug: OUT_OF_ORDER_SEQUENCE_NUMBER retries with 1,000 partitions.)
func TestFullRequestsKeepPartitionOrder(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(16, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.EnableIdempotence = false
		cfg.BatchSize = 4 << 10
		cfg.MaxRequestSize = 12 << 10
		cfg.Linger = 20 * time.Millisecond
	})
	const n = 6000
	comp := newCompletions()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		// Keys of 1 B to 3 KB make batches of very different sizes (the value names the record).
		key := make([]byte, 1+rng.IntN(3000))
		key[0] = byte(i % 16)
		p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Key: key, Value: value(i)}, comp.callback(i))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, time.Minute)
	for i := 0; i < n; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	checkLog(t, c, "t", n, comp, true)
}
