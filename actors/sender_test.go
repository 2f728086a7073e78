package actors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

var errRefused = errors.New("test: connection refused")

// failingDial records every address the sender's connections dial and refuses them all, after
// release is closed (nil: at once).
func failingDial(dialed chan<- string, release <-chan struct{}) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		dialed <- addr
		if release != nil {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil, errRefused
	}
}

// topicWithLeaders returns a topic whose partition i is led by leaders[i] (-1: no leader).
func topicWithLeaders(id byte, leaders ...int32) *TopicInfo {
	ti := &TopicInfo{ID: [16]byte{id}}
	for _, l := range leaders {
		ti.Partitions = append(ti.Partitions, PartitionInfo{Leader: l, LeaderEpoch: 1})
	}
	return ti
}

func (e *env) publishCluster(brokers map[int32]string, topics map[string]*TopicInfo) {
	e.shared.publish(&Cluster{Brokers: brokers, Topics: topics})
}

// newSender spawns the sender with a probe as its metadata actor.
func (e *env) newSender() (snd *actor.PID, meta *probe) {
	meta = e.newProbe()
	return e.spawn(newSenderProps(e.shared, meta.pid)), meta
}

func tp(topic string, p int32) messages.TopicPartition {
	return messages.TopicPartition{Topic: topic, Partition: p}
}

// TestSenderParksPartitionWithoutLeader: a partition without a known leader asks the metadata
// actor for a refresh (once) and gets no route until a snapshot names its leader.
func TestSenderParksPartitionWithoutLeader(t *testing.T) {
	set := testSettings()
	dialed := make(chan string, 16)
	set.Dial = failingDial(dialed, nil)
	e := newEnv(t, set)
	snd, meta := e.newSender()
	acc := e.newProbe()

	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 0), Accumulator: acc.pid})
	rm := expectMsg[*messages.RefreshMetadata](t, meta)
	if !slices.Equal(rm.Topics, []string{"t"}) {
		t.Fatalf("RefreshMetadata for %v, want [t]", rm.Topics)
	}
	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 0), Accumulator: acc.pid})
	meta.none(t, quiet) // already parked: no second refresh
	acc.none(t, 0)

	// A snapshot that still has no leader: parked again, another refresh.
	e.publishCluster(map[int32]string{1: "b1:9092"}, map[string]*TopicInfo{"t": topicWithLeaders(1, -1)})
	e.sys.Root.Send(snd, &messages.MetadataUpdated{})
	expectMsg[*messages.RefreshMetadata](t, meta)
	acc.none(t, quiet)

	e.publishCluster(map[int32]string{1: "b1:9092"}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1)})
	e.sys.Root.Send(snd, &messages.MetadataUpdated{})
	if r := expectMsg[*messages.Route](t, acc); r.Sink == nil {
		t.Fatal("Route without a sink")
	}
	acc.none(t, quiet)
	meta.none(t, 0)
	if len(dialed) != 0 {
		t.Errorf("dialled %q although nothing was sent", <-dialed)
	}
}

// TestSenderRoutesToLeadersSink: partitions led by one broker share its sink, another broker's
// get another; a batch handed to the sink goes to that leader, and when its connection fails the
// batch comes back as a retriable BatchDone, the metadata actor hears of the failed setup and
// metadata is refreshed.
func TestSenderRoutesToLeadersSink(t *testing.T) {
	set := testSettings()
	dialed := make(chan string, 16)
	set.Dial = failingDial(dialed, nil)
	e := newEnv(t, set)
	e.publishCluster(map[int32]string{1: "b1:9092", 2: "b2:9092"}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1, 2, 2)})
	snd, meta := e.newSender()
	acc := e.newProbe()
	routes := map[int32]*actor.PID{}
	for _, p := range []int32{1, 2, 0} {
		e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", p), Accumulator: acc.pid})
		routes[p] = expectMsg[*messages.Route](t, acc).Sink
	}
	if !routes[1].Equal(routes[2]) || routes[0].Equal(routes[1]) {
		t.Fatalf("sinks %v, want partitions 1 and 2 (broker 2) sharing one, partition 0 another", routes)
	}

	b := &messages.Batch{TP: tp("t", 1), Accumulator: acc.pid, BatchID: 5, Data: sealedBatch(t, 2), Records: 2}
	e.sys.Root.Send(routes[1], b)
	if addr := <-dialed; addr != "b2:9092" {
		t.Fatalf("dialled %q, want the leader b2:9092", addr)
	}
	done := expectMsg[*messages.BatchDone](t, acc)
	if done.BatchID != 5 || !errors.Is(done.Err, messages.ErrConnection) || !classify(done.Err).retry || done.BaseOffset != -1 {
		t.Fatalf("BatchDone %+v, want batch 5 failing with a retriable connection error", done)
	}
	// The metadata actor hears of the failed setup (for the snapshot's SetupFailure) first.
	if sn := expectMsg[*setupNoted](t, meta); sn.err == nil {
		t.Fatal("a failed dial noted as a successful setup")
	}
	rm := expectMsg[*messages.RefreshMetadata](t, meta)
	if !slices.Equal(rm.Topics, []string{"t"}) {
		t.Fatalf("RefreshMetadata for %v, want [t]", rm.Topics)
	}
}

// produceBroker answers produce requests like a partition leader: each batch is written at the
// partition's next offset. The first response asks the client to wait throttle.
type produceBroker struct {
	mu        sync.Mutex
	next      map[string]int64
	responses []time.Time
	requests  []time.Time
	throttle  time.Duration
	bad       []string
}

func (pb *produceBroker) handle(req kmsg.Request) reply {
	pr := req.(*kmsg.ProduceRequest)
	pb.mu.Lock()
	defer pb.mu.Unlock()
	pb.requests = append(pb.requests, time.Now())
	resp := kmsg.NewPtrProduceResponse()
	for _, rt := range pr.Topics {
		topic := kmsg.NewProduceResponseTopic()
		topic.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewProduceResponseTopicPartition()
			p.Partition, p.LogAppendTime = rp.Partition, -1
			rb, _, err := wire.DecodeRecordBatch(rp.Records, 1<<20)
			if err != nil {
				pb.bad = append(pb.bad, err.Error())
				p.ErrorCode = wire.ErrCorruptMessage.Code
			} else {
				key := fmt.Sprintf("%s-%d", rt.Topic, rp.Partition)
				p.BaseOffset = pb.next[key]
				pb.next[key] += int64(rb.NumRecords)
			}
			topic.Partitions = append(topic.Partitions, p)
		}
		resp.Topics = append(resp.Topics, topic)
	}
	if len(pb.responses) == 0 {
		resp.ThrottleMillis = int32(pb.throttle.Milliseconds())
	}
	pb.responses = append(pb.responses, time.Now())
	return reply{resp: resp}
}

// TestSenderWithAccumulatorsEndToEnd: real accumulators and the real sender, through a
// connection, to a scripted broker: records complete at the offsets the broker assigned, in order,
// and after a response with throttle_time_ms the next request to that broker waits it out.
func TestSenderWithAccumulatorsEndToEnd(t *testing.T) {
	pb := &produceBroker{next: map[string]int64{}, throttle: 100 * time.Millisecond}
	fb := newFakeBroker(t, pb.handle)
	set := testSettings()
	set.Dial = fb.dial
	e := newEnv(t, set)
	e.publishCluster(map[int32]string{1: "b1:9092"}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1, 1)})
	snd, _ := e.newSender()
	accs := []*actor.PID{
		e.spawnAccumulator(tp("t", 0), snd),
		e.spawnAccumulator(tp("t", 1), snd),
	}
	rc := newRecorder()
	e.appendRec(accs[0], rc, 0, rec("a", "0", 1))
	ev := rc.expectOK(t, 0, 0)
	if ev.md.Partition != 0 {
		t.Fatalf("record 0 completed for partition %d", ev.md.Partition)
	}

	// Throttled: the next request waits.
	for i := 1; i <= 4; i++ {
		e.appendRec(accs[i%2], rc, i, rec("k", fmt.Sprint(i), int64(i)))
	}
	offsets := map[int32]int64{0: 1, 1: 0}
	perPartition := map[int32][]int{}
	for range 4 {
		ev := rc.next(t)
		if ev.err != nil {
			t.Fatalf("record %d failed: %v", ev.id, ev.err)
		}
		p := ev.md.Partition
		if ev.md.Offset != offsets[p] {
			t.Errorf("record %d in partition %d at offset %d, want %d", ev.id, p, ev.md.Offset, offsets[p])
		}
		offsets[p]++
		perPartition[p] = append(perPartition[p], ev.id)
	}
	if !slices.Equal(perPartition[0], []int{2, 4}) || !slices.Equal(perPartition[1], []int{1, 3}) {
		t.Errorf("completion order per partition %v, want [2 4] and [1 3]", perPartition)
	}
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if len(pb.bad) > 0 {
		t.Errorf("the broker got corrupt batches: %v", pb.bad)
	}
	if len(pb.requests) < 2 {
		t.Fatalf("%d produce requests", len(pb.requests))
	}
	if wait := pb.requests[1].Sub(pb.responses[0]); wait < pb.throttle*9/10 {
		t.Errorf("second request %v after a response throttling %v", wait, pb.throttle)
	}
}

// TestSenderBrokerMoved: when a broker's address changes, its sink (the same PID: accumulators
// hold it) connects to the new address.
func TestSenderBrokerMoved(t *testing.T) {
	set := testSettings()
	dialed := make(chan string, 16)
	set.Dial = failingDial(dialed, nil)
	e := newEnv(t, set)
	snd, _ := e.newSender()
	acc := e.newProbe()
	var sink *actor.PID
	for round, addr := range []string{"old:9092", "new:9092"} {
		e.publishCluster(map[int32]string{1: addr}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1)})
		e.sys.Root.Send(snd, &messages.MetadataUpdated{})
		e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 0), Accumulator: acc.pid})
		r := expectMsg[*messages.Route](t, acc)
		if sink != nil && !r.Sink.Equal(sink) {
			t.Fatalf("round %d routed to %v, want the same sink %v", round, r.Sink, sink)
		}
		sink = r.Sink
		b := &messages.Batch{TP: tp("t", 0), Accumulator: acc.pid, BatchID: uint64(round), Data: sealedBatch(t, 1), Records: 1}
		e.sys.Root.Send(sink, b)
		if got := <-dialed; got != addr {
			t.Fatalf("round %d dialled %q, want %q", round, got, addr)
		}
		if done := expectMsg[*messages.BatchDone](t, acc); done.BatchID != uint64(round) || done.Err == nil {
			t.Fatalf("BatchDone %+v", done)
		}
	}
}
