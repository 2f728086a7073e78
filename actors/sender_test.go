package actors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor/bufferpool"
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
	return e.spawn(NewSenderProps(e.shared, meta.pid)), meta
}

func tp(topic string, p int32) messages.TopicPartition {
	return messages.TopicPartition{Topic: topic, Partition: p}
}

// TestSenderParksPartitionWithoutLeader: a ready partition without a known leader asks the
// metadata actor for a refresh (once) and is not drained until a snapshot names its leader.
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
	dr := expectMsg[*messages.Drain](t, acc)
	e.sys.Root.Send(snd, &messages.Drained{TP: tp("t", 0), Accumulator: acc.pid, Gather: dr.Gather})
	acc.none(t, quiet)
	meta.none(t, 0)
	if len(dialed) != 0 {
		t.Errorf("dialled %q although nothing was sent", <-dialed)
	}
}

// TestSenderSendsBatchToLeader: a drained batch goes to its leader's connection; when that
// connection fails, the batch comes back as a retriable BatchDone and metadata is refreshed.
func TestSenderSendsBatchToLeader(t *testing.T) {
	set := testSettings()
	dialed := make(chan string, 16)
	set.Dial = failingDial(dialed, nil)
	e := newEnv(t, set)
	e.publishCluster(map[int32]string{1: "b1:9092", 2: "b2:9092"}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1, 2)})
	snd, meta := e.newSender()
	acc := e.newProbe()

	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 1), Accumulator: acc.pid})
	dr := expectMsg[*messages.Drain](t, acc)
	b := &messages.Batch{TP: tp("t", 1), Accumulator: acc.pid, BatchID: 5, Data: sealedBatch(t, 2), Records: 2}
	e.sys.Root.Send(snd, &messages.Drained{TP: b.TP, Accumulator: acc.pid, Gather: dr.Gather, Batch: b})

	if addr := <-dialed; addr != "b2:9092" {
		t.Fatalf("dialled %q, want the leader b2:9092", addr)
	}
	done := expectMsg[*messages.BatchDone](t, acc)
	if done.BatchID != 5 || !errors.Is(done.Err, messages.ErrConnection) || !classify(done.Err).retry || done.BaseOffset != -1 {
		t.Fatalf("BatchDone %+v, want seq 5 failing with a retriable connection error", done)
	}
	rm := expectMsg[*messages.RefreshMetadata](t, meta)
	if !slices.Equal(rm.Topics, []string{"t"}) {
		t.Fatalf("RefreshMetadata for %v, want [t]", rm.Topics)
	}
}

// TestSenderInFlightWindow: one gather per broker at a time, and no more than MaxInFlight
// requests: partitions that become ready meanwhile wait, then are drained together.
func TestSenderInFlightWindow(t *testing.T) {
	set := testSettings()
	set.MaxInFlight = 1
	dialed := make(chan string, 16)
	release := make(chan struct{})
	set.Dial = failingDial(dialed, release)
	e := newEnv(t, set)
	e.publishCluster(map[int32]string{1: "b1:9092"}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1, 1, 1)})
	snd, meta := e.newSender()
	accs := []*probe{e.newProbe(), e.newProbe(), e.newProbe()}

	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 0), Accumulator: accs[0].pid})
	d0 := expectMsg[*messages.Drain](t, accs[0])
	// Ready while a gather is under way: they wait for it.
	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 1), Accumulator: accs[1].pid})
	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 2), Accumulator: accs[2].pid})
	accs[1].none(t, quiet)
	b0 := &messages.Batch{TP: tp("t", 0), Accumulator: accs[0].pid, BatchID: 1, Data: sealedBatch(t, 1), Records: 1}
	e.sys.Root.Send(snd, &messages.Drained{TP: b0.TP, Accumulator: accs[0].pid, Gather: d0.Gather, Batch: b0})
	<-dialed // the request is in flight (its connection is dialling)
	accs[1].none(t, quiet)
	accs[2].none(t, 0)

	close(release) // the request fails: the window opens again
	if done := expectMsg[*messages.BatchDone](t, accs[0]); done.BatchID != 1 || done.Err == nil {
		t.Fatalf("BatchDone %+v, want seq 1 failed", done)
	}
	d1 := expectMsg[*messages.Drain](t, accs[1])
	d2 := expectMsg[*messages.Drain](t, accs[2])
	if d1.Gather != d2.Gather || d1.Gather == d0.Gather {
		t.Fatalf("gathers %d, %d after %d: want both partitions in one new gather", d1.Gather, d2.Gather, d0.Gather)
	}
	expectMsg[*messages.RefreshMetadata](t, meta)
	e.sys.Root.Send(snd, &messages.Drained{TP: tp("t", 1), Accumulator: accs[1].pid, Gather: d1.Gather})
	e.sys.Root.Send(snd, &messages.Drained{TP: tp("t", 2), Accumulator: accs[2].pid, Gather: d2.Gather})
	accs[0].none(t, quiet)
}

// TestSenderGatherSize: one gather drains at most as many partitions as full batches fit in
// MaxRequestSize; the rest wait for the next gather, in the order they became ready.
func TestSenderGatherSize(t *testing.T) {
	set := testSettings()
	set.BatchSize = 1000
	set.MaxRequestSize = 2200 // two full batches
	e := newEnv(t, set)
	e.publishCluster(map[int32]string{1: "b1:9092"}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1, 1, 1, 1)})
	snd, _ := e.newSender()
	accs := []*probe{e.newProbe(), e.newProbe(), e.newProbe(), e.newProbe()}
	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 0), Accumulator: accs[0].pid})
	d0 := expectMsg[*messages.Drain](t, accs[0])
	for i := 1; i < 4; i++ {
		e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", int32(i)), Accumulator: accs[i].pid})
	}
	e.sys.Root.Send(snd, &messages.Drained{TP: tp("t", 0), Accumulator: accs[0].pid, Gather: d0.Gather})
	d1 := expectMsg[*messages.Drain](t, accs[1])
	d2 := expectMsg[*messages.Drain](t, accs[2])
	if d1.Gather != d2.Gather {
		t.Fatalf("partitions 1 and 2 in gathers %d and %d, want one", d1.Gather, d2.Gather)
	}
	accs[3].none(t, quiet)
	e.sys.Root.Send(snd, &messages.Drained{TP: tp("t", 1), Accumulator: accs[1].pid, Gather: d1.Gather})
	e.sys.Root.Send(snd, &messages.Drained{TP: tp("t", 2), Accumulator: accs[2].pid, Gather: d2.Gather})
	d3 := expectMsg[*messages.Drain](t, accs[3])
	e.sys.Root.Send(snd, &messages.Drained{TP: tp("t", 3), Accumulator: accs[3].pid, Gather: d3.Gather})
}

// TestSenderMoreReady: a Drained with MoreReady queues the partition again without a new
// PartitionReady.
func TestSenderMoreReady(t *testing.T) {
	e := newEnv(t, testSettings())
	e.publishCluster(map[int32]string{1: "b1:9092"}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1)})
	snd, _ := e.newSender()
	acc := e.newProbe()
	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 0), Accumulator: acc.pid})
	d0 := expectMsg[*messages.Drain](t, acc)
	e.sys.Root.Send(snd, &messages.Drained{TP: tp("t", 0), Accumulator: acc.pid, Gather: d0.Gather, MoreReady: true})
	d1 := expectMsg[*messages.Drain](t, acc)
	if d1.Gather == d0.Gather {
		t.Fatalf("second Drain in gather %d again", d1.Gather)
	}
	e.sys.Root.Send(snd, &messages.Drained{TP: tp("t", 0), Accumulator: acc.pid, Gather: d1.Gather})
	acc.none(t, quiet)
}

// TestSenderDrainedForUnknownGather: a batch drained for a gather this instance never started
// (it restarted) goes back as not sent, and MoreReady still queues the partition.
func TestSenderDrainedForUnknownGather(t *testing.T) {
	e := newEnv(t, testSettings())
	snd, meta := e.newSender()
	acc := e.newProbe()
	b := &messages.Batch{TP: tp("t", 0), Accumulator: acc.pid, BatchID: 9, Data: sealedBatch(t, 1), Records: 1}
	e.sys.Root.Send(snd, &messages.Drained{TP: b.TP, Accumulator: acc.pid, Gather: 999, Batch: b, MoreReady: true})
	done := expectMsg[*messages.BatchDone](t, acc)
	if done.BatchID != 9 || !errors.Is(done.Err, messages.ErrConnection) || !classify(done.Err).retry {
		t.Fatalf("BatchDone %+v, want seq 9 not sent (retriable)", done)
	}
	expectMsg[*messages.RefreshMetadata](t, meta) // queued again; no leader known yet
}

// sendProduceDone hands the sender a CallDone for batches of a request to a node it does not track
// (so nothing more is gathered for it), as a connection would.
func (e *env) sendProduceDone(snd *actor.PID, batches []*messages.Batch, resp *wire.ProduceResponse, err error) {
	// The request as the sender builds it: topic ids from the snapshot.
	req := (&senderState{shared: e.shared}).produceRequest(batches)
	pc := &produceCall{node: &nodeState{id: 77, addr: "gone:1", queued: map[messages.TopicPartition]bool{}, inflight: 1}, batches: batches, req: req}
	done := &messages.CallDone{Tag: pc, Node: 77, Version: 13, Err: err}
	if resp != nil {
		done.Resp = resp
	}
	e.sys.Root.Send(snd, done)
}

// TestSenderDispatchesProduceResponse: every batch of a request gets its own BatchDone: offsets for
// a partition answered by name or (v13) by topic id only, a wire error for an error code, an
// error for a partition the response left out; retriable errors refresh metadata and a new
// leader named in the response is passed on as a LeaderHint.
func TestSenderDispatchesProduceResponse(t *testing.T) {
	e := newEnv(t, testSettings())
	e.publishCluster(map[int32]string{1: "b1:9092"}, map[string]*TopicInfo{
		"t": topicWithLeaders(0xA, 1, 1, 1),
		"u": topicWithLeaders(0xB, 1),
	})
	snd, meta := e.newSender()
	acc := e.newProbe()
	var batches []*messages.Batch
	for i, p := range []messages.TopicPartition{tp("t", 0), tp("t", 1), tp("t", 2), tp("u", 0)} {
		batches = append(batches, &messages.Batch{TP: p, Accumulator: acc.pid, BatchID: uint64(i + 1), Records: 1})
	}
	moved := "leader moved"
	resp := &wire.ProduceResponse{
		Topics: []wire.ProduceResponseTopic{
			{Name: "t", Partitions: []wire.ProduceResponsePartition{
				{Partition: 1, ErrorCode: wire.ErrNotLeaderOrFollower.Code, ErrorMessage: &moved, BaseOffset: -1, LogAppendTime: -1,
					CurrentLeader: wire.ProduceLeader{LeaderID: 2, LeaderEpoch: 7}},
				{Partition: 0, BaseOffset: 100, LogAppendTime: 555, LogStartOffset: 3, CurrentLeader: wire.ProduceLeader{LeaderID: -1, LeaderEpoch: -1}},
			}},
			{TopicID: [16]byte{0xB}, Partitions: []wire.ProduceResponsePartition{
				{Partition: 0, BaseOffset: 200, LogAppendTime: -1, LogStartOffset: 0, CurrentLeader: wire.ProduceLeader{LeaderID: -1, LeaderEpoch: -1}},
			}},
		},
		NodeEndpoints: []wire.ProduceNodeEndpoint{{NodeID: 2, Host: "b2", Port: 9093}},
	}
	e.sendProduceDone(snd, batches, resp, nil)

	ok := expectMsg[*messages.BatchDone](t, acc)
	if ok.BatchID != 1 || ok.Err != nil || ok.BaseOffset != 100 || ok.LogAppendTime != 555 || ok.LogStartOffset != 3 {
		t.Errorf("t-0: %+v, want offset 100, log append time 555, log start 3", ok)
	}
	nl := expectMsg[*messages.BatchDone](t, acc)
	if nl.BatchID != 2 || !errors.Is(nl.Err, wire.ErrNotLeaderOrFollower) || !classify(nl.Err).retry ||
		!strings.Contains(nl.Err.Error(), moved) || nl.BaseOffset != -1 {
		t.Errorf("t-1: %+v, want NOT_LEADER_OR_FOLLOWER with the broker's message", nl)
	}
	missing := expectMsg[*messages.BatchDone](t, acc)
	if missing.BatchID != 3 || !errors.Is(missing.Err, errMissingPartition) || !strings.Contains(missing.Err.Error(), "t-2") {
		t.Errorf("t-2: %+v, want a missing-partition error", missing)
	}
	byID := expectMsg[*messages.BatchDone](t, acc)
	if byID.BatchID != 4 || byID.Err != nil || byID.BaseOffset != 200 || byID.LogAppendTime != -1 {
		t.Errorf("u-0 (answered by topic id): %+v, want offset 200", byID)
	}

	hint := expectMsg[*messages.LeaderHint](t, meta)
	if len(hint.Leaders) != 1 || hint.Leaders[0] != (messages.PartitionLeader{TP: tp("t", 1), Leader: 2, LeaderEpoch: 7}) ||
		hint.Endpoints[2] != "b2:9093" {
		t.Errorf("LeaderHint %+v, want t-1 led by 2 (epoch 7) at b2:9093", hint)
	}
	rm := expectMsg[*messages.RefreshMetadata](t, meta)
	if !slices.Equal(rm.Topics, []string{"t"}) {
		t.Errorf("RefreshMetadata for %v, want [t]", rm.Topics)
	}
	meta.none(t, quiet)
}

// TestSenderDispatchesErrorCodes: each error code becomes its wire error; non-retriable ones do
// not refresh metadata.
func TestSenderDispatchesErrorCodes(t *testing.T) {
	e := newEnv(t, testSettings())
	snd, meta := e.newSender()
	acc := e.newProbe()
	codes := []int16{wire.ErrMessageTooLarge.Code, wire.ErrTopicAuthorizationFailed.Code, 9999}
	var batches []*messages.Batch
	var parts []wire.ProduceResponsePartition
	for i, code := range codes {
		batches = append(batches, &messages.Batch{TP: tp("t", int32(i)), Accumulator: acc.pid, BatchID: uint64(i)})
		parts = append(parts, wire.ProduceResponsePartition{Partition: int32(i), ErrorCode: code, BaseOffset: -1,
			CurrentLeader: wire.ProduceLeader{LeaderID: -1, LeaderEpoch: -1}})
	}
	e.sendProduceDone(snd, batches, &wire.ProduceResponse{Topics: []wire.ProduceResponseTopic{{Name: "t", Partitions: parts}}}, nil)
	for i, code := range codes {
		done := expectMsg[*messages.BatchDone](t, acc)
		if done.BatchID != uint64(i) || !errors.Is(done.Err, wire.ErrorForCode(code)) || done.BaseOffset != -1 {
			t.Errorf("BatchDone %+v, want seq %d failing with code %d", done, i, code)
		}
	}
	meta.none(t, quiet)
}

// TestSenderRequestFailure: a request that failed as a whole fails each of its batches with that
// error and refreshes every topic in it.
func TestSenderRequestFailure(t *testing.T) {
	e := newEnv(t, testSettings())
	snd, meta := e.newSender()
	acc := e.newProbe()
	batches := []*messages.Batch{
		{TP: tp("t", 0), Accumulator: acc.pid, BatchID: 1},
		{TP: tp("u", 0), Accumulator: acc.pid, BatchID: 2},
		{TP: tp("t", 1), Accumulator: acc.pid, BatchID: 3},
	}
	cause := fmt.Errorf("%w: no answer", messages.ErrRequestTimeout)
	e.sendProduceDone(snd, batches, nil, cause)
	for _, b := range batches {
		done := expectMsg[*messages.BatchDone](t, acc)
		if done.BatchID != b.BatchID || !errors.Is(done.Err, messages.ErrRequestTimeout) || !classify(done.Err).retry {
			t.Errorf("BatchDone %+v, want seq %d failing with the request's error", done, b.BatchID)
		}
	}
	rm := expectMsg[*messages.RefreshMetadata](t, meta)
	topics := slices.Sorted(slices.Values(rm.Topics))
	if !slices.Equal(topics, []string{"t", "u"}) {
		t.Errorf("RefreshMetadata for %v, want t and u", rm.Topics)
	}
}

// TestSenderAcksZero: a request with no response (acks=0) completes its batches with unknown
// offsets.
func TestSenderAcksZero(t *testing.T) {
	e := newEnv(t, testSettings())
	snd, meta := e.newSender()
	acc := e.newProbe()
	e.sendProduceDone(snd, []*messages.Batch{{TP: tp("t", 0), Accumulator: acc.pid, BatchID: 4}}, nil, nil)
	done := expectMsg[*messages.BatchDone](t, acc)
	if done.BatchID != 4 || done.Err != nil || done.BaseOffset != -1 || done.LogAppendTime != -1 {
		t.Fatalf("BatchDone %+v, want seq 4 written at an unknown offset", done)
	}
	meta.none(t, quiet)
}

// bareState is a sender state over a Shared with no completer, for methods that need no actor.
func bareState(set Settings) *senderState {
	return &senderState{shared: NewShared(set, discardLogger, bufferpool.NewBudget(1<<20), nil)}
}

func batchOfSize(topic string, p int32, n int) *messages.Batch {
	return &messages.Batch{TP: tp(topic, p), Data: make([]byte, n)}
}

// TestSenderSplit: batches are grouped, in order, into requests of at most MaxRequestSize bytes;
// a batch larger than that goes alone.
func TestSenderSplit(t *testing.T) {
	set := testSettings()
	set.MaxRequestSize = 100
	s := bareState(set)
	split := func(batches []*messages.Batch) (out [][]*messages.Batch) {
		for len(batches) > 0 {
			var req []*messages.Batch
			req, batches = s.nextRequest(batches)
			out = append(out, req)
		}
		return out
	}
	if got := split(nil); len(got) != 0 {
		t.Fatalf("split(nil) = %v", got)
	}
	in := []*messages.Batch{batchOfSize("t", 0, 40), batchOfSize("t", 1, 60), batchOfSize("t", 2, 1),
		batchOfSize("t", 3, 150), batchOfSize("t", 4, 10), batchOfSize("t", 5, 90)}
	want := [][]int32{{0, 1}, {2}, {3}, {4, 5}}
	got := split(in)
	var parts [][]int32
	for _, req := range got {
		var ps []int32
		size := 0
		for _, b := range req {
			ps = append(ps, b.TP.Partition)
			size += len(b.Data)
		}
		if size > set.MaxRequestSize && len(req) > 1 {
			t.Errorf("request of %d bytes holds %d batches", size, len(req))
		}
		parts = append(parts, ps)
	}
	if !slices.EqualFunc(parts, want, slices.Equal) {
		t.Fatalf("split into %v, want %v", parts, want)
	}
}

// TestSenderProduceRequest: a request groups its partitions by topic, in first-seen order, carries
// each batch's bytes as they are, the topic ids of the snapshot, acks and the request timeout.
func TestSenderProduceRequest(t *testing.T) {
	set := testSettings()
	set.Acks = 1
	s := bareState(set)
	s.shared.publish(&Cluster{Brokers: map[int32]string{1: "b1:9092"}, Topics: map[string]*TopicInfo{"t": topicWithLeaders(0xA, 1, 1)}})
	batches := []*messages.Batch{batchOfSize("t", 1, 10), batchOfSize("u", 0, 20), batchOfSize("t", 0, 30)}
	req := s.produceRequest(batches)
	if req.Acks != 1 || req.TimeoutMillis != int32(set.RequestTimeout.Milliseconds()) || req.TransactionalID != nil {
		t.Errorf("request acks %d timeout %d transactional id %v", req.Acks, req.TimeoutMillis, req.TransactionalID)
	}
	if len(req.Topics) != 2 || req.Topics[0].Name != "t" || req.Topics[1].Name != "u" {
		t.Fatalf("request topics %+v, want t then u", req.Topics)
	}
	if req.Topics[0].TopicID != [16]byte{0xA} || req.Topics[1].TopicID != [16]byte{} {
		t.Errorf("topic ids %x, %x: want t's from the snapshot, none for u", req.Topics[0].TopicID, req.Topics[1].TopicID)
	}
	check := func(p wire.ProducePartition, partition int32, b *messages.Batch) {
		t.Helper()
		if p.Partition != partition || len(p.Records) != len(b.Data) || &p.Records[0] != &b.Data[0] {
			t.Errorf("partition %d: %d bytes, want partition %d carrying the batch's own %d bytes", p.Partition, len(p.Records), partition, len(b.Data))
		}
	}
	if ps := req.Topics[0].Partitions; len(ps) != 2 {
		t.Fatalf("topic t has %d partitions, want 2", len(ps))
	} else {
		check(ps[0], 1, batches[0])
		check(ps[1], 0, batches[2])
	}
	if ps := req.Topics[1].Partitions; len(ps) != 1 {
		t.Fatalf("topic u has %d partitions, want 1", len(ps))
	} else {
		check(ps[0], 0, batches[1])
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

// TestSenderBrokerMoved: when a broker's address changes, the sender opens a connection to the new
// address.
func TestSenderBrokerMoved(t *testing.T) {
	set := testSettings()
	dialed := make(chan string, 16)
	set.Dial = failingDial(dialed, nil)
	e := newEnv(t, set)
	snd, _ := e.newSender()
	acc := e.newProbe()
	for round, addr := range []string{"old:9092", "new:9092"} {
		e.publishCluster(map[int32]string{1: addr}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1)})
		e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 0), Accumulator: acc.pid})
		dr := expectMsg[*messages.Drain](t, acc)
		b := &messages.Batch{TP: tp("t", 0), Accumulator: acc.pid, BatchID: uint64(round), Data: sealedBatch(t, 1), Records: 1}
		e.sys.Root.Send(snd, &messages.Drained{TP: b.TP, Accumulator: acc.pid, Gather: dr.Gather, Batch: b})
		if got := <-dialed; got != addr {
			t.Fatalf("round %d dialled %q, want %q", round, got, addr)
		}
		if done := expectMsg[*messages.BatchDone](t, acc); done.BatchID != uint64(round) || done.Err == nil {
			t.Fatalf("BatchDone %+v", done)
		}
	}
}

// A produce call answers each of its batches once: what a panic handler settles is only what the
// response handling had not answered yet.
func TestProduceCallAnswersEachBatchOnce(t *testing.T) {
	acc := actor.NewPID("nonhost", "acc")
	pc := &produceCall{batches: []*messages.Batch{
		{TP: tp("t", 0), Accumulator: acc, BatchID: 1}, {TP: tp("t", 1), Accumulator: acc, BatchID: 2}, {TP: tp("t", 2), Accumulator: acc, BatchID: 3}}}
	ctx := &sendRecorder{}
	pc.answer(ctx, &messages.BatchDone{BatchID: 1, BaseOffset: 7})
	pc.settleRest(ctx, errNotSent)
	pc.settleRest(ctx, errNotSent)
	if len(ctx.sent) != 3 {
		t.Fatalf("%d answers, want 3", len(ctx.sent))
	}
	for i, m := range ctx.sent {
		d := m.msg.(*messages.BatchDone)
		if d.BatchID != uint64(i+1) || (i == 0) != (d.Err == nil) {
			t.Fatalf("answer %d: %+v", i, d)
		}
	}
}
