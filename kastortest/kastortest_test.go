package kastortest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/kastortest"
)

const partitions = 4

// debug shows the producer's logs when KASTORTEST_DEBUG is set.
func debug(cfg *kastor.Config) {
	if os.Getenv("KASTORTEST_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// sender sends numbered records spread over the partitions (record i to partition i%partitions)
// and keeps every completion, to check that each record completed exactly once.
type sender struct {
	t     *testing.T
	p     *kastor.Producer
	topic string
	mu    sync.Mutex
	next  int
	done  map[int][]result
	wg    sync.WaitGroup
}

type result struct {
	md  kastor.RecordMetadata
	err error
}

func newSender(t *testing.T, p *kastor.Producer, topic string) *sender {
	return &sender{t: t, p: p, topic: topic, done: map[int][]result{}}
}

func (s *sender) send(n int) {
	for range n {
		i := s.next
		s.next++
		s.wg.Add(1)
		s.p.SendAsync(context.Background(), &kastor.Record{
			Topic: s.topic, Partition: kastor.PartitionOf(int32(i % partitions)), Value: []byte(strconv.Itoa(i)),
		}, func(md kastor.RecordMetadata, err error) {
			s.mu.Lock()
			s.done[i] = append(s.done[i], result{md, err})
			s.mu.Unlock()
			s.wg.Done()
		})
	}
}

// wait waits for every completion (bounded) and returns each record's one result.
func (s *sender) wait() map[int]result {
	s.t.Helper()
	ch := make(chan struct{})
	go func() { s.wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		s.t.Fatalf("records did not complete within 20 s")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]result{}
	for i := range s.next {
		if len(s.done[i]) != 1 {
			s.t.Fatalf("record %d completed %d times", i, len(s.done[i]))
		}
		out[i] = s.done[i][0]
	}
	return out
}

// checkDelivered checks that every record sent completed without error and that the topic holds
// each exactly once, at the offset its completion gave, in send order within its partition.
func checkDelivered(t *testing.T, c *kastortest.Cluster, s *sender) {
	t.Helper()
	res := s.wait()
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("record %d: %v", i, r.err)
		}
	}
	checkLog(t, c, s.topic, res, s.next)
}

// checkLog checks that the topic holds every record of res that succeeded, once each, where
// its metadata says, in send order within each partition, and no record that failed, except
// that a record failed with ErrDeliveryTimeout may have been written (once), as its
// documentation says.
func checkLog(t *testing.T, c *kastortest.Cluster, topic string, res map[int]result, sent int) {
	t.Helper()
	ok := 0
	for _, r := range res {
		if r.err == nil {
			ok++
		}
	}
	got := c.Records(t, topic)
	if len(got) < ok {
		t.Fatalf("topic holds %d records, %d were acknowledged", len(got), ok)
	}
	seen := map[int]bool{}
	expiredWritten := 0
	last := map[int32]int{}
	for _, r := range got {
		i, err := strconv.Atoi(string(r.Value))
		if err != nil || i < 0 || i >= sent {
			t.Fatalf("unexpected record %q at %d@%d", r.Value, r.Partition, r.Offset)
		}
		if seen[i] {
			t.Fatalf("record %d written twice", i)
		}
		seen[i] = true
		md := res[i]
		if errors.Is(md.err, kastor.ErrDeliveryTimeout) {
			expiredWritten++
		} else if md.err != nil {
			t.Fatalf("record %d failed (%v) but was written at %d@%d", i, md.err, r.Partition, r.Offset)
		} else if md.md.Partition != r.Partition || md.md.Offset != r.Offset {
			t.Fatalf("record %d acknowledged at %d@%d, found at %d@%d", i, md.md.Partition, md.md.Offset, r.Partition, r.Offset)
		}
		if prev, ok := last[r.Partition]; ok && i <= prev {
			t.Fatalf("partition %d: record %d after record %d", r.Partition, i, prev)
		}
		last[r.Partition] = i
	}
	if expiredWritten > 0 {
		t.Logf("%d records that failed with ErrDeliveryTimeout were written", expiredWritten)
	}
}

func TestProducerAndReadBack(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Brokers(3), kastortest.Topic("t", partitions))
	p := c.NewProducer(t, debug)
	s := newSender(t, p, "t")
	s.send(1000)
	checkDelivered(t, c, s)
	if got := c.ReadN(t, "t", 1000); len(got) != 1000 {
		t.Fatalf("ReadN read %d records, want 1000", len(got))
	}
}

// A leader that goes down while records are in flight: its partitions move to the other brokers,
// every record is delivered once; the broker comes back on its address.
func TestBrokerDownAndUp(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Brokers(3), kastortest.Topic("t", partitions))
	p := c.NewProducer(t, debug)
	// The broker may go down during the producer's first InitProducerId: its retries ask the
	// other brokers.
	s := newSender(t, p, "t")
	s.send(500)
	node := c.LeaderFor("t", 0)
	if err := c.BrokerDown(node); err != nil {
		t.Fatal(err)
	}
	if err := c.BrokerDown(node); err == nil {
		t.Fatal("a second BrokerDown of the same node: no error")
	}
	s.send(500)
	// Reading back works while a broker is down (its address is still among the seeds).
	if got := c.ReadN(t, "t", 500); len(got) < 500 {
		t.Fatalf("read %d records while node %d was down, want at least 500", len(got), node)
	}
	for part := range int32(partitions) {
		if l := c.LeaderFor("t", part); l == node {
			t.Fatalf("partition %d is still led by the down node %d", part, l)
		}
	}
	if err := c.BrokerUp(node); err != nil {
		t.Fatal(err)
	}
	if err := c.BrokerUp(node); err == nil {
		t.Fatal("BrokerUp of a node that is up: no error")
	}
	addrs := c.Kfake().ListenAddrs()
	found := false
	for _, a := range addrs {
		found = found || a == c.Addrs()[node]
	}
	if !found {
		t.Logf("node %d came back on a new address (its port was taken)", node)
	}
	// Give the node a partition again: records now go to it through its new connection.
	if err := c.MoveLeader("t", 1, node); err != nil {
		t.Fatal(err)
	}
	s.send(500)
	checkDelivered(t, c, s)
}

// The only broker down: records fail with ErrDeliveryTimeout after DeliveryTimeout (each may or
// may not be written, as that error says, but at most once and in order); once the broker is back,
// records are delivered again.
func TestOnlyBrokerDownFailsThenRecovers(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Topic("t", partitions))
	p := c.NewProducer(t, debug, func(cfg *kastor.Config) {
		cfg.RequestTimeout = 200 * time.Millisecond
		cfg.DeliveryTimeout = time.Second // also the window to recover in after BrokerUp
	})
	ctx := context.Background()
	if _, err := p.Send(ctx, &kastor.Record{Topic: "t", Value: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	if err := c.BrokerDown(0); err != nil {
		t.Fatal(err)
	}
	s := newSender(t, p, "t")
	s.send(20)
	res := s.wait()
	for i, r := range res {
		if !errors.Is(r.err, kastor.ErrDeliveryTimeout) {
			t.Fatalf("record %d: got %v, want ErrDeliveryTimeout", i, r.err)
		}
	}
	if err := c.BrokerUp(0); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := p.Send(sctx, &kastor.Record{Topic: "t", Value: []byte("after")}); err != nil {
		t.Fatalf("after BrokerUp: %v", err)
	}
	// Records that failed with ErrDeliveryTimeout "may or may not have been written": each is
	// there at most once, in order within its partition; before and after are there once each.
	count := map[string]int{}
	last := map[int32]int{}
	written := 0
	var expiredWritten []string
	for _, r := range c.Records(t, "t") {
		v := string(r.Value)
		count[v]++
		if count[v] > 1 {
			t.Fatalf("record %q written twice", v)
		}
		if v == "before" || v == "after" {
			continue
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= 20 {
			t.Fatalf("unexpected record %q", v)
		}
		if prev, ok := last[r.Partition]; ok && i <= prev {
			t.Fatalf("partition %d: record %d after record %d", r.Partition, i, prev)
		}
		last[r.Partition] = i
		written++
		expiredWritten = append(expiredWritten, fmt.Sprintf("%d@%d", i, r.Partition))
	}
	if count["before"] != 1 || count["after"] != 1 {
		t.Fatalf("before written %d times, after %d times, want once each", count["before"], count["after"])
	}
	if written > 0 {
		t.Logf("%d of the 20 records that failed with ErrDeliveryTimeout were written after the broker came back (record@partition: %v)", written, expiredWritten)
	}
}

// The only broker down for less than DeliveryTimeout: records wait and are all delivered.
func TestOnlyBrokerDownBrieflyRecovers(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Topic("t", partitions))
	p := c.NewProducer(t, debug)
	s := newSender(t, p, "t")
	s.send(200)
	closes := p.Stats().ConnectionCloses
	if err := c.BrokerDown(0); err != nil {
		t.Fatal(err)
	}
	s.send(200)
	// Back up once the producer has lost its connection, so the records sent meanwhile waited.
	for deadline := time.Now().Add(10 * time.Second); p.Stats().ConnectionCloses == closes; {
		if time.Now().After(deadline) {
			t.Fatal("the producer did not notice the broker going down")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.BrokerUp(0); err != nil {
		t.Fatal(err)
	}
	s.send(200)
	checkDelivered(t, c, s)
}

func TestLeaderMove(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Brokers(3), kastortest.Topic("t", partitions))
	p := c.NewProducer(t, debug)
	s := newSender(t, p, "t")
	s.send(500)
	for part := range int32(partitions) {
		to := (c.LeaderFor("t", part) + 1) % 3
		if err := c.MoveLeader("t", part, to); err != nil {
			t.Fatal(err)
		}
		if got := c.LeaderFor("t", part); got != to {
			t.Fatalf("partition %d led by %d after MoveLeader to %d", part, got, to)
		}
	}
	s.send(500)
	checkDelivered(t, c, s)
	if err := c.MoveLeader("t", 0, 7); err == nil {
		t.Fatal("MoveLeader to a node that does not exist: no error")
	}
}

func TestFailProduceRetriable(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Brokers(2), kastortest.Topic("t", partitions))
	p := c.NewProducer(t, debug)
	f, err := c.FailProduce("t", kastor.ErrNotEnoughReplicas, 5)
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, p, "t")
	s.send(1000)
	checkDelivered(t, c, s)
	if f.Hits() != 5 {
		t.Fatalf("the fault answered %d requests, want 5", f.Hits())
	}
}

// A non-retriable code fails the records of the requests it answers, and only those.
func TestFailProduceNonRetriable(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Topic("t", partitions))
	p := c.NewProducer(t, debug)
	f, err := c.FailProduce("t", kastor.ErrTopicAuthorizationFailed, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = p.Send(ctx, &kastor.Record{Topic: "t", Value: []byte("refused")})
	if !errors.Is(err, kastor.ErrTopicAuthorizationFailed) {
		t.Fatalf("got %v, want ErrTopicAuthorizationFailed", err)
	}
	if f.Hits() != 1 {
		t.Fatalf("hits %d, want 1", f.Hits())
	}
	if _, err := p.Send(ctx, &kastor.Record{Topic: "t", Value: []byte("accepted")}); err != nil {
		t.Fatal(err)
	}
	got := c.Records(t, "t")
	if len(got) != 1 || string(got[0].Value) != "accepted" {
		t.Fatalf("topic holds %d records, want only the accepted one", len(got))
	}
}

func TestFailProduceBadInput(t *testing.T) {
	c := kastortest.NewCluster(t)
	for _, tc := range []struct {
		code *kastor.KafkaError
		n    int
	}{
		{nil, 1}, {kastor.ErrNotEnoughReplicas, 0}, {kastor.ErrNotEnoughReplicas, -2},
		{&kastor.KafkaError{Code: 0, Name: "NONE"}, 1}, {&kastor.KafkaError{Code: 30000, Name: "MADE_UP"}, 1},
	} {
		if _, err := c.FailProduce("t", tc.code, tc.n); err == nil {
			t.Fatalf("FailProduce(%v, %d): no error", tc.code, tc.n)
		}
	}
	if _, err := c.SlowProduce(0, 1); err == nil {
		t.Fatal("SlowProduce(0, 1): no error")
	}
	if err := c.BrokerDown(5); err == nil {
		t.Fatal("BrokerDown of a node that does not exist: no error")
	}
	if _, err := kastortest.Start(kastortest.Brokers(0)); err == nil {
		t.Fatal("Start with no broker: no error")
	}
	if _, err := c.Read(context.Background(), "missing"); err == nil {
		t.Fatal("Read of a topic that does not exist: no error")
	}
}

// Slow answers within RequestTimeout: records wait, then all arrive.
func TestSlowProduce(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Topic("t", partitions))
	p := c.NewProducer(t, debug)
	f, err := c.SlowProduce(100*time.Millisecond, 3)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := newSender(t, p, "t")
	for range 3 { // one Produce request each (one broker)
		s.send(100)
		if err := p.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Wait(ctx, 3); err != nil {
		t.Fatal(err)
	}
	s.send(100)
	checkDelivered(t, c, s)
	if f.Hits() != 3 {
		t.Fatalf("hits %d, want 3", f.Hits())
	}
	// The fault must have held at least one request for its whole delay.
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("delivered in %v with a 100 ms delay on each of three requests in a row", el)
	}
}

// An answer slower than RequestTimeout: the producer gives up on it, reconnects and sends again;
// the broker has written the first attempt by then, and idempotence keeps the copy out.
func TestSlowProducePastRequestTimeout(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Topic("t", partitions))
	p := c.NewProducer(t, debug, func(cfg *kastor.Config) { cfg.RequestTimeout = 200 * time.Millisecond })
	f, err := c.SlowProduce(500*time.Millisecond, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, p, "t")
	s.send(200)
	checkDelivered(t, c, s)
	if f.Hits() != 1 {
		t.Fatalf("hits %d, want 1", f.Hits())
	}
}

// SlowProduce with n = -1 holds every request until Remove.
func TestSlowProduceUntilRemoved(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Topic("t", partitions))
	p := c.NewProducer(t, debug)
	f, err := c.SlowProduce(50*time.Millisecond, -1)
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, p, "t")
	for range 5 {
		s.send(1)
		for i, r := range s.wait() {
			if r.err != nil {
				t.Fatalf("record %d: %v", i, r.err)
			}
		}
	}
	if f.Hits() < 5 {
		t.Fatalf("hits %d, want at least 5", f.Hits())
	}
	f.Remove()
	h := f.Hits()
	s.send(10)
	checkDelivered(t, c, s)
	if f.Hits() != h {
		t.Fatalf("hits went from %d to %d after Remove", h, f.Hits())
	}
}

// Works without a test: Start, Producer, Read, Close; Close closes the producers too.
func TestStartWithoutT(t *testing.T) {
	c, err := kastortest.Start(kastortest.Topic("t", 2))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Producer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	rs, err := c.Read(context.Background(), "t")
	if err != nil || len(rs) != 1 {
		t.Fatalf("Read: %d records, %v", len(rs), err)
	}
	c.Close()
	c.Close()
	if _, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: []byte("y")}); !errors.Is(err, kastor.ErrProducerClosed) {
		t.Fatalf("send after the cluster closed: %v, want ErrProducerClosed", err)
	}
	if _, err := c.Producer(); err == nil {
		t.Fatal("Producer after Close: no error")
	}
}

// ReadAtLeast gives up when its context ends, saying how many it read.
func TestReadAtLeastBounded(t *testing.T) {
	c := kastortest.NewCluster(t, kastortest.Topic("t", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.ReadAtLeast(ctx, "t", 1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
}

func BenchmarkSend(b *testing.B) {
	c := kastortest.NewCluster(b, kastortest.Topic("t", 1))
	p := c.NewProducer(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		p.SendAsync(ctx, &kastor.Record{Topic: "t", Value: []byte(strconv.Itoa(i))}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	c.ReadN(b, "t", b.N)
}
