package actors

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// The sink's core, driven step by step with no actor system and a clock that is just a number.

var sinkAcc = actor.NewPID("nonhost", "acc")

func sinkTestCore(mutate func(*Settings)) *sinkCore {
	set := testSettings()
	if mutate != nil {
		mutate(&set)
	}
	return newSinkCore(set)
}

func sinkBatch(topic string, p int32, id uint64, size int) *messages.Batch {
	return &messages.Batch{TP: tp(topic, p), Accumulator: sinkAcc, BatchID: id, Data: make([]byte, size), Records: 1}
}

var sinkTopics = map[string]*TopicInfo{"t": topicWithLeaders(0xA, 1, 1, 1, 1), "u": topicWithLeaders(0xB, 1)}

// requestParts lists a request's batches as "topic-partition#id".
func requestParts(r *sinkRequest) []string {
	var out []string
	for _, b := range r.batches {
		out = append(out, fmt.Sprintf("%s-%d#%d", b.TP.Topic, b.TP.Partition, b.BatchID))
	}
	return out
}

// TestSinkFlushesOncePerBurst: the first batch of a burst asks for one flush; the batches that
// arrive before it runs share its request.
func TestSinkFlushesOncePerBurst(t *testing.T) {
	k := sinkTestCore(nil)
	if e := k.add(sinkBatch("t", 0, 1, 10)); !e.queueFlush {
		t.Fatal("the first batch queued no flush")
	}
	for i, p := range []int32{1, 2} {
		if e := k.add(sinkBatch("t", p, uint64(2+i), 10)); e.queueFlush {
			t.Fatalf("batch %d queued a second flush", 2+i)
		}
	}
	e := k.flush(0, true, sinkTopics)
	if len(e.write) != 1 || !slices.Equal(requestParts(e.write[0]), []string{"t-0#1", "t-1#2", "t-2#3"}) {
		t.Fatalf("flush wrote %d requests (%v), want one with all three batches", len(e.write), e.write)
	}
	if k.inflight != 1 || len(k.pending) != 0 {
		t.Fatalf("in flight %d, pending %d after the flush", k.inflight, len(k.pending))
	}
	if e := k.add(sinkBatch("t", 0, 4, 10)); !e.queueFlush {
		t.Fatal("a batch after the flush queued no new flush")
	}
}

// TestSinkWindow: at most MaxInFlight requests are out; batches wait while the window is full and
// go together, one request, as soon as an answer frees a slot. Nothing is written while the link
// is down.
func TestSinkWindow(t *testing.T) {
	k := sinkTestCore(func(s *Settings) { s.MaxInFlight = 2 })
	k.add(sinkBatch("t", 0, 1, 10))
	if e := k.flush(0, false, sinkTopics); len(e.write) != 0 {
		t.Fatal("wrote while the link is down")
	}
	// Effects are valid until the sink's next call: what a later step needs is kept.
	first := slices.Clone(k.flush(0, true, sinkTopics).write)
	k.add(sinkBatch("t", 0, 2, 10))
	second := k.flush(0, true, sinkTopics).write
	if len(first) != 1 || len(second) != 1 || k.inflight != 2 {
		t.Fatalf("wrote %d then %d requests, %d in flight; want one each, two in flight", len(first), len(second), k.inflight)
	}
	for i, p := range []int32{1, 2, 0} {
		k.add(sinkBatch("t", p, uint64(3+i), 10))
	}
	if e := k.flush(0, true, sinkTopics); len(e.write) != 0 {
		t.Fatalf("wrote %v with the window full", requestParts(e.write[0]))
	}
	done := k.done(0, first[0], &wire.ProduceResponse{}, nil)
	if !done.queueFlush {
		t.Fatal("an answer with batches pending queued no flush")
	}
	e3 := k.flush(0, true, sinkTopics)
	// t-0#5 goes too: t-0#2, the partition's previous batch, is already written.
	if len(e3.write) != 1 || !slices.Equal(requestParts(e3.write[0]), []string{"t-1#3", "t-2#4", "t-0#5"}) {
		t.Fatalf("after a slot freed: %d requests %v, want one with every pending batch", len(e3.write), e3.write)
	}
}

// TestSinkRequestContents: oldest first, one batch per partition (the next one of a partition
// waits for the next request, keeping its order), as many bytes as MaxRequestSize allows (a lone
// larger batch still goes alone), and what is skipped stays pending in order.
func TestSinkRequestContents(t *testing.T) {
	k := sinkTestCore(func(s *Settings) { s.MaxRequestSize = 100; s.MaxInFlight = 10 })
	for _, b := range []*messages.Batch{
		sinkBatch("t", 0, 1, 40), sinkBatch("t", 0, 2, 10), sinkBatch("t", 1, 3, 50), sinkBatch("t", 2, 4, 30),
		sinkBatch("t", 3, 5, 150), sinkBatch("u", 0, 6, 5), sinkBatch("t", 1, 7, 5),
	} {
		k.add(b)
	}
	e := k.flush(0, true, sinkTopics)
	var got [][]string
	for _, r := range e.write {
		got = append(got, requestParts(r))
		size := 0
		for _, b := range r.batches {
			size += len(b.Data)
		}
		if size > 100 && len(r.batches) > 1 {
			t.Errorf("request of %d bytes holds %d batches", size, len(r.batches))
		}
	}
	want := [][]string{
		{"t-0#1", "t-1#3", "u-0#6"},
		{"t-0#2", "t-2#4", "t-1#7"},
		{"t-3#5"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("requests %v, want %v", got, want)
	}
}

// TestSinkBatchTooBigForTheRequestHoldsItsPartition: a batch left for the next request because
// the request is full keeps its partition's later batches behind it (found as a bug: a small later
// batch went ahead, and the broker answered OUT_OF_ORDER_SEQUENCE_NUMBER).
func TestSinkBatchTooBigForTheRequestHoldsItsPartition(t *testing.T) {
	k := sinkTestCore(func(s *Settings) { s.MaxRequestSize = 100; s.MaxInFlight = 10 })
	for _, b := range []*messages.Batch{sinkBatch("t", 0, 1, 40), sinkBatch("t", 1, 2, 70), sinkBatch("t", 1, 3, 5), sinkBatch("t", 2, 4, 5)} {
		k.add(b)
	}
	e := k.flush(0, true, sinkTopics)
	var got [][]string
	for _, r := range e.write {
		got = append(got, requestParts(r))
	}
	want := [][]string{{"t-0#1", "t-2#4"}, {"t-1#2"}, {"t-1#3"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("requests %v, want %v", got, want)
	}
}

// TestSinkProduceRequest: a request groups its partitions by topic, in first-seen order, carries
// each batch's bytes as they are, the topic ids of the snapshot, acks and the request timeout.
func TestSinkProduceRequest(t *testing.T) {
	k := sinkTestCore(func(s *Settings) { s.Acks = 1 })
	batches := []*messages.Batch{sinkBatch("t", 1, 1, 10), sinkBatch("v", 0, 2, 20), sinkBatch("t", 0, 3, 30)}
	topics := map[string]*TopicInfo{"t": sinkTopics["t"], "v": {Partitions: []PartitionInfo{{Leader: 1}}}}
	req := &wire.ProduceRequest{}
	k.fillRequest(req, batches, topics)
	if req.Acks != 1 || req.TimeoutMillis != int32(testSettings().RequestTimeout.Milliseconds()) || req.TransactionalID != nil {
		t.Errorf("request acks %d timeout %d transactional id %v", req.Acks, req.TimeoutMillis, req.TransactionalID)
	}
	if len(req.Topics) != 2 || req.Topics[0].Name != "t" || req.Topics[1].Name != "v" {
		t.Fatalf("request topics %+v, want t then v", req.Topics)
	}
	if req.Topics[0].TopicID != [16]byte{0xA} || req.Topics[1].TopicID != [16]byte{} {
		t.Errorf("topic ids %x, %x: want t's from the snapshot, none for v", req.Topics[0].TopicID, req.Topics[1].TopicID)
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
		t.Fatalf("topic v has %d partitions, want 1", len(ps))
	} else {
		check(ps[0], 0, batches[1])
	}

	// Refilled (a recycled request), it is the new batches' request and nothing of the old one's.
	again := []*messages.Batch{sinkBatch("v", 3, 4, 40)}
	k.fillRequest(req, again, topics)
	if len(req.Topics) != 1 || req.Topics[0].Name != "v" || req.Topics[0].TopicID != [16]byte{} || len(req.Topics[0].Partitions) != 1 {
		t.Fatalf("refilled request topics %+v, want v alone with one partition", req.Topics)
	}
	check(req.Topics[0].Partitions[0], 3, again[0])
}

// TestSinkUnknownTopic: a batch whose topic left the metadata fails with
// UNKNOWN_TOPIC_OR_PARTITION and asks for a refresh; the others go.
func TestSinkUnknownTopic(t *testing.T) {
	k := sinkTestCore(nil)
	k.add(sinkBatch("gone", 0, 1, 10))
	k.add(sinkBatch("t", 0, 2, 10))
	e := k.flush(0, true, sinkTopics)
	if len(e.answers) != 1 || e.answers[0].done.BatchID != 1 || !errors.Is(e.answers[0].done.Err, wire.ErrUnknownTopicOrPartition) {
		t.Fatalf("answers %+v, want batch 1 failing with UNKNOWN_TOPIC_OR_PARTITION", e.answers)
	}
	if !slices.Equal(e.refresh, []string{"gone"}) || len(e.write) != 1 || !slices.Equal(requestParts(e.write[0]), []string{"t-0#2"}) {
		t.Fatalf("refresh %v, requests %v", e.refresh, e.write)
	}
	k.add(sinkBatch("gone", 0, 3, 10))
	if e := k.flush(0, true, sinkTopics); len(e.write) != 0 || len(e.answers) != 1 || k.inflight != 1 {
		t.Fatalf("a flush with only an unknown topic wrote %d requests, answered %d, %d in flight", len(e.write), len(e.answers), k.inflight)
	}
}

// writeOne runs batches through the core as one request and returns it.
func writeOne(t *testing.T, k *sinkCore, batches ...*messages.Batch) *sinkRequest {
	t.Helper()
	for _, b := range batches {
		k.add(b)
	}
	e := k.flush(0, true, sinkTopics)
	if len(e.write) != 1 {
		t.Fatalf("%d requests, want 1", len(e.write))
	}
	return e.write[0]
}

// TestSinkResults: every batch of a request gets its own BatchDone: offsets for a partition
// answered by name or (v13) by topic id only, a wire error for an error code, an error for a
// partition the response left out; retriable errors refresh metadata and a new leader named in the
// response is passed on as a LeaderHint.
func TestSinkResults(t *testing.T) {
	k := sinkTestCore(nil)
	r := writeOne(t, k, sinkBatch("t", 0, 1, 10), sinkBatch("t", 1, 2, 10), sinkBatch("t", 2, 3, 10), sinkBatch("u", 0, 4, 10))
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
	e := k.done(0, r, resp, nil)
	if k.inflight != 0 || len(e.answers) != 4 {
		t.Fatalf("%d in flight, %d answers", k.inflight, len(e.answers))
	}
	if ok := e.answers[0].done; ok.BatchID != 1 || ok.Err != nil || ok.BaseOffset != 100 || ok.LogAppendTime != 555 || ok.LogStartOffset != 3 {
		t.Errorf("t-0: %+v, want offset 100, log append time 555, log start 3", ok)
	}
	if nl := e.answers[1].done; nl.BatchID != 2 || !errors.Is(nl.Err, wire.ErrNotLeaderOrFollower) || !classify(nl.Err).retry ||
		!strings.Contains(nl.Err.Error(), moved) || nl.BaseOffset != -1 {
		t.Errorf("t-1: %+v, want NOT_LEADER_OR_FOLLOWER with the broker's message", nl)
	}
	if missing := e.answers[2].done; missing.BatchID != 3 || !errors.Is(missing.Err, errMissingPartition) || !strings.Contains(missing.Err.Error(), "t-2") {
		t.Errorf("t-2: %+v, want a missing-partition error", missing)
	}
	if byID := e.answers[3].done; byID.BatchID != 4 || byID.Err != nil || byID.BaseOffset != 200 || byID.LogAppendTime != -1 {
		t.Errorf("u-0 (answered by topic id): %+v, want offset 200", byID)
	}
	for _, a := range e.answers {
		if !a.to.Equal(sinkAcc) {
			t.Errorf("answer to %v", a.to)
		}
	}
	if h := e.hint; h == nil || len(h.Leaders) != 1 || h.Leaders[0] != (messages.PartitionLeader{TP: tp("t", 1), Leader: 2, LeaderEpoch: 7}) ||
		h.Endpoints[2] != "b2:9093" {
		t.Errorf("LeaderHint %+v, want t-1 led by 2 (epoch 7) at b2:9093", h)
	}
	if !slices.Equal(e.refresh, []string{"t"}) {
		t.Errorf("refresh %v, want [t]", e.refresh)
	}
}

// TestSinkErrorCodes: each error code becomes its wire error; non-retriable ones do not refresh
// metadata.
func TestSinkErrorCodes(t *testing.T) {
	k := sinkTestCore(nil)
	codes := []int16{wire.ErrMessageTooLarge.Code, wire.ErrTopicAuthorizationFailed.Code, 9999}
	var batches []*messages.Batch
	var parts []wire.ProduceResponsePartition
	for i, code := range codes {
		batches = append(batches, sinkBatch("t", int32(i), uint64(i), 10))
		parts = append(parts, wire.ProduceResponsePartition{Partition: int32(i), ErrorCode: code, BaseOffset: -1,
			CurrentLeader: wire.ProduceLeader{LeaderID: -1, LeaderEpoch: -1}})
	}
	r := writeOne(t, k, batches...)
	e := k.done(0, r, &wire.ProduceResponse{Topics: []wire.ProduceResponseTopic{{Name: "t", Partitions: parts}}}, nil)
	for i, code := range codes {
		if d := e.answers[i].done; d.BatchID != uint64(i) || !errors.Is(d.Err, wire.ErrorForCode(code)) || d.BaseOffset != -1 {
			t.Errorf("BatchDone %+v, want batch %d failing with code %d", d, i, code)
		}
	}
	if len(e.refresh) != 0 || e.hint != nil {
		t.Errorf("refresh %v, hint %v: want none", e.refresh, e.hint)
	}
}

// TestSinkRequestFailure: a request that failed as a whole (it may have been written) fails each
// of its batches with that error and refreshes every topic in it; batches not yet written fail as
// not sent when the connection drops them.
func TestSinkRequestFailure(t *testing.T) {
	k := sinkTestCore(func(s *Settings) { s.MaxInFlight = 1 })
	r := writeOne(t, k, sinkBatch("t", 0, 1, 10), sinkBatch("u", 0, 2, 10), sinkBatch("t", 1, 3, 10))
	k.add(sinkBatch("t", 0, 4, 10))
	cause := fmt.Errorf("%w: no answer", messages.ErrRequestTimeout)
	drop := k.dropPending(fmt.Errorf("%w (not sent: %v)", messages.ErrConnection, cause))
	if len(drop.answers) != 1 || drop.answers[0].done.BatchID != 4 || !classify(drop.answers[0].done.Err).retry || len(k.pending) != 0 {
		t.Fatalf("dropped %+v, want batch 4 back as retriable", drop.answers)
	}
	e := k.done(0, r, nil, cause)
	for i, b := range r.batches {
		if d := e.answers[i].done; d.BatchID != b.BatchID || !errors.Is(d.Err, messages.ErrRequestTimeout) || !classify(d.Err).maybeWritten {
			t.Errorf("BatchDone %+v, want batch %d failing with the request's error", d, b.BatchID)
		}
	}
	if got := slices.Sorted(slices.Values(e.refresh)); !slices.Equal(got, []string{"t", "u"}) {
		t.Errorf("refresh %v, want t and u", e.refresh)
	}
	if e.queueFlush || k.inflight != 0 {
		t.Errorf("queue flush %v with nothing pending, %d in flight", e.queueFlush, k.inflight)
	}
}

// TestSinkAcksZero: a request with no response (acks=0) completes its batches with unknown
// offsets.
func TestSinkAcksZero(t *testing.T) {
	k := sinkTestCore(func(s *Settings) { s.Acks = 0 })
	r := writeOne(t, k, sinkBatch("t", 0, 4, 10))
	e := k.done(0, r, nil, nil)
	if d := e.answers[0].done; d.BatchID != 4 || d.Err != nil || d.BaseOffset != -1 || d.LogAppendTime != -1 {
		t.Fatalf("BatchDone %+v, want batch 4 written at an unknown offset", d)
	}
}

// TestSinkThrottle: a response with throttle_time_ms holds the next request until it passed
// (KIP-219); the core asks to be woken then.
func TestSinkThrottle(t *testing.T) {
	k := sinkTestCore(nil)
	const now = int64(1_000_000_000)
	r := writeOne(t, k, sinkBatch("t", 0, 1, 10))
	k.done(now, r, &wire.ProduceResponse{ThrottleMillis: 100, Topics: []wire.ProduceResponseTopic{{Name: "t",
		Partitions: []wire.ProduceResponsePartition{{Partition: 0, CurrentLeader: wire.ProduceLeader{LeaderID: -1}}}}}}, nil)
	k.add(sinkBatch("t", 0, 2, 10))
	until := now + int64(100*time.Millisecond)
	if e := k.flush(now+1, true, sinkTopics); len(e.write) != 0 || e.wakeAt != until {
		t.Fatalf("throttled flush wrote %d requests, wake at %d; want none, wake at %d", len(e.write), e.wakeAt, until)
	}
	if e := k.flush(until, true, sinkTopics); len(e.write) != 1 {
		t.Fatalf("flush after the throttle wrote %d requests", len(e.write))
	}
}

// TestSinkDropsExpiredBatches: a batch whose delivery timeout passed while it waited (the link was
// down, the window full) is answered, never written: its accumulator failed it already.
func TestSinkDropsExpiredBatches(t *testing.T) {
	k := sinkTestCore(nil)
	old, fresh := sinkBatch("t", 0, 1, 10), sinkBatch("t", 1, 2, 10)
	old.ExpiresNs, fresh.ExpiresNs = 100, 300
	k.add(old)
	k.add(fresh)
	if e := k.flush(50, false, sinkTopics); len(e.write) != 0 || len(e.answers) != 0 {
		t.Fatalf("the link is down: wrote %d, answered %d", len(e.write), len(e.answers))
	}
	e := k.flush(200, true, sinkTopics)
	if len(e.answers) != 1 || e.answers[0].done.BatchID != 1 || !errors.Is(e.answers[0].done.Err, messages.ErrDeliveryTimeout) {
		t.Fatalf("answers %+v, want batch 1 failed with a delivery timeout", e.answers)
	}
	if len(e.write) != 1 || !slices.Equal(requestParts(e.write[0]), []string{"t-1#2"}) {
		t.Fatalf("requests %v, want only the batch still in time", e.write)
	}
}
