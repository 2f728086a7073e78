package actors

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/bufferpool"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// The accumulator's core driven step by step: no actor system, no completer goroutine, and a
// clock that is a number the test sets (milliseconds below, as nanoseconds).

var (
	coreSelf   = actor.NewPID("nonhost", "acc")
	coreSender = actor.NewPID("nonhost", "sender")
	coreSink   = actor.NewPID("nonhost", "sink")
)

const ms = int64(time.Millisecond)

func newCoreAccumulator(set Settings) *accState {
	shared := NewShared(set, discardLogger, bufferpool.NewBudget(1<<30), nil)
	return &accState{tp: testTP, shared: shared, sender: coreSender, inbox: newInbox(nil), self: coreSelf}
}

// appendAt puts records into the inbox as sends at now would (the inbox's poke is the test's
// inboxReady step).
func (s *accState) appendAt(now int64, values ...string) {
	for _, v := range values {
		s.inbox.items.Push(inboxItem{app: messages.Append{Record: &messages.Record{Topic: testTP.Topic, Value: []byte(v)},
			TimestampMs: now / ms, Reserved: int64(len(v)), EnqueuedNs: now, Done: func(messages.RecordMetadata, error) {}}})
	}
}

// appendBatches puts n one-record batches into the inbox at now: a flush after each record.
func (s *accState) appendBatches(now int64, n int) {
	for i := range n {
		s.appendAt(now, fmt.Sprint(i))
		s.inbox.items.Push(inboxItem{flush: func() {}})
	}
}

// accSent returns the messages of fx in order, as "kind" strings with what matters about them.
func accSent(fx *accEffects) []string {
	var out []string
	for _, m := range fx.sends {
		switch v := m.msg.(type) {
		case *messages.PartitionReady:
			out = append(out, "ready")
		case *messages.Batch:
			out = append(out, fmt.Sprintf("batch %d (%d records)", v.BatchID, v.Records))
		case *messages.BumpEpoch:
			out = append(out, "bump")
		default:
			out = append(out, fmt.Sprintf("%T", v))
		}
	}
	return out
}

func expectSent(t *testing.T, fx *accEffects, want ...string) {
	t.Helper()
	got := accSent(fx)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
}

// copyFx takes the effects out of the core (they are reused by the next step).
func copyFx(fx *accEffects) accEffects {
	c := accEffects{wakeAt: fx.wakeAt, wakeSet: fx.wakeSet}
	c.sends = append(c.sends, fx.sends...)
	c.completions = append(c.completions, fx.completions...)
	*fx = accEffects{}
	return c
}

// TestAccumulatorCoreLinger: a batch waits for linger (the core asks to be woken then), takes the
// records that come meanwhile, asks for a route when it is ready and goes to the sink once routed.
func TestAccumulatorCoreLinger(t *testing.T) {
	set := testSettings()
	set.Linger = 5 * time.Millisecond
	s := newCoreAccumulator(set)
	s.appendAt(0, "a")
	fx := copyFx(s.step(0, pokeInbox))
	expectSent(t, &fx)
	if !fx.wakeSet || fx.wakeAt != 5*ms {
		t.Fatalf("wake at %d (set %v), want linger's 5 ms", fx.wakeAt, fx.wakeSet)
	}
	s.appendAt(2*ms, "b")
	fx = copyFx(s.step(2*ms, pokeInbox))
	expectSent(t, &fx)
	fx = copyFx(s.step(5*ms, wakeUp))
	expectSent(t, &fx, "ready")
	fx = copyFx(s.step(5*ms, &messages.Route{Sink: coreSink}))
	expectSent(t, &fx, "batch 0 (2 records)")
	if fx.sends[0].to != coreSink {
		t.Fatalf("batch sent to %v, want the sink", fx.sends[0].to)
	}
	// Only the delivery timeout is left to wake for.
	if want := int64(set.DeliveryTimeout); fx.wakeAt != want {
		t.Fatalf("wake at %d, want the delivery timeout at %d", fx.wakeAt, want)
	}
	fx = copyFx(s.step(7*ms, &messages.BatchDone{BatchID: 0, BaseOffset: 40, LogAppendTime: -1}))
	if len(fx.completions) != 1 || fx.completions[0].baseOffset != 40 || len(fx.completions[0].records) != 2 {
		t.Fatalf("completions %+v, want the batch's 2 records at offset 40", fx.completions)
	}
	if !fx.wakeSet || fx.wakeAt != 0 {
		t.Fatalf("wake at %d (set %v) with nothing held, want none", fx.wakeAt, fx.wakeSet)
	}
}

// TestAccumulatorCoreRetryBackoff: a retriable error drops the route and holds the batch for the
// retry backoff (with its ±20 % jitter); at the wake-up the partition asks for a route, and the
// same batch goes again.
func TestAccumulatorCoreRetryBackoff(t *testing.T) {
	set := testSettings()
	set.RetryBackoff, set.RetryBackoffMax = 100*time.Millisecond, time.Second
	s := newCoreAccumulator(set)
	s.step(0, &messages.Route{Sink: coreSink})
	s.appendAt(0, "a")
	fx := copyFx(s.step(0, pokeInbox))
	expectSent(t, &fx, "batch 0 (1 records)")
	fx = copyFx(s.step(10*ms, &messages.BatchDone{BatchID: 0, Err: fmt.Errorf("%w (t-3)", wire.ErrNotLeaderOrFollower), BaseOffset: -1}))
	expectSent(t, &fx)
	if fx.wakeAt < 10*ms+80*ms || fx.wakeAt > 10*ms+120*ms {
		t.Fatalf("wake at %d, want the retry backoff (80–120 ms after 10 ms)", fx.wakeAt)
	}
	retryAt := fx.wakeAt
	fx = copyFx(s.step(retryAt-1, wakeUp))
	expectSent(t, &fx)
	fx = copyFx(s.step(retryAt, wakeUp))
	expectSent(t, &fx, "ready")
	fx = copyFx(s.step(retryAt, &messages.Route{Sink: coreSink}))
	expectSent(t, &fx, "batch 0 (1 records)")
	fx = copyFx(s.step(retryAt+ms, &messages.BatchDone{BatchID: 0, BaseOffset: 7, LogAppendTime: -1}))
	if len(fx.completions) != 1 || fx.completions[0].err != nil || fx.completions[0].baseOffset != 7 {
		t.Fatalf("completions %+v, want the record at offset 7", fx.completions)
	}
}

// TestAccumulatorCoreDeliveryTimeout: a record that was never sent fails with ErrDeliveryTimeout
// exactly when its delivery timeout passes, not before.
func TestAccumulatorCoreDeliveryTimeout(t *testing.T) {
	set := testSettings()
	set.Linger = time.Hour
	set.DeliveryTimeout = 100 * time.Millisecond
	s := newCoreAccumulator(set)
	s.appendAt(0, "a")
	fx := copyFx(s.step(0, pokeInbox))
	if fx.wakeAt != 100*ms {
		t.Fatalf("wake at %d, want the delivery timeout at 100 ms (before linger)", fx.wakeAt)
	}
	if fx = copyFx(s.step(100*ms-1, wakeUp)); len(fx.completions) != 0 {
		t.Fatalf("completed %+v before the delivery timeout", fx.completions)
	}
	fx = copyFx(s.step(100*ms, wakeUp))
	if len(fx.completions) != 1 || !errors.Is(fx.completions[0].err, messages.ErrDeliveryTimeout) {
		t.Fatalf("completions %+v, want the record failed with ErrDeliveryTimeout", fx.completions)
	}
	expectSent(t, &fx)
}

// TestAccumulatorCoreInFlightLimit: a partition has at most MaxInFlight batches out; the next one
// goes when an answer comes back.
func TestAccumulatorCoreInFlightLimit(t *testing.T) {
	set := testSettings()
	set.MaxInFlight = 2
	s := newCoreAccumulator(set)
	s.step(0, &messages.Route{Sink: coreSink})
	s.appendBatches(0, 3)
	fx := copyFx(s.step(0, pokeInbox))
	expectSent(t, &fx, "batch 0 (1 records)", "batch 1 (1 records)")
	fx = copyFx(s.step(ms, &messages.BatchDone{BatchID: 0, BaseOffset: 0, LogAppendTime: -1}))
	expectSent(t, &fx, "batch 2 (1 records)")
}

// bufferCounts is the accumulator's batch buffers: carved, free, waiting for a writer to stop.
func bufferCounts(s *accState) string {
	slots, free, deferred := s.shared.Buffers.Stats()
	return fmt.Sprintf("%d slots, %d free, %d deferred", slots, free, deferred)
}

func expectBuffers(t *testing.T, s *accState, want string) {
	t.Helper()
	if got := bufferCounts(s); got != want {
		t.Fatalf("buffers: %s, want %s", got, want)
	}
}

// TestAccumulatorCoreBufferAfterFailedLink: a batch whose request failed with its connection may
// still be read by that connection's writer (frames share the sealed bytes): once it completes
// after its retry, its buffer is reused only after that writer stopped.
func TestAccumulatorCoreBufferAfterFailedLink(t *testing.T) {
	s := newCoreAccumulator(testSettings())
	s.step(0, &messages.Route{Sink: coreSink})
	s.appendAt(0, "a")
	fx := copyFx(s.step(0, pokeInbox))
	expectSent(t, &fx, "batch 0 (1 records)")
	writer := make(chan struct{})
	copyFx(s.step(ms, &messages.BatchDone{BatchID: 0, Err: fmt.Errorf("%w: read: reset", messages.ErrConnection), BaseOffset: -1, WriterDone: writer}))
	copyFx(s.step(100*ms, wakeUp))
	fx = copyFx(s.step(100*ms, &messages.Route{Sink: coreSink}))
	expectSent(t, &fx, "batch 0 (1 records)")
	fx = copyFx(s.step(101*ms, &messages.BatchDone{BatchID: 0, BaseOffset: 3, LogAppendTime: -1}))
	if len(fx.completions) != 1 || fx.completions[0].err != nil {
		t.Fatalf("completions %+v, want the record written", fx.completions)
	}
	expectBuffers(t, s, "1 slots, 0 free, 1 deferred")
	close(writer)
	s.shared.Buffers.Put(s.shared.Buffers.Get()) // a Get reaps what its writers let go
	expectBuffers(t, s, "1 slots, 1 free, 0 deferred")
}

// TestAccumulatorCoreBufferOfABatchExpiredInFlight: a batch that fails while out (its delivery
// timeout passed) completes at once, but its buffer waits for the batch to come back from the
// sink, which may be writing it.
func TestAccumulatorCoreBufferOfABatchExpiredInFlight(t *testing.T) {
	set := testSettings()
	set.DeliveryTimeout = 100 * time.Millisecond
	s := newCoreAccumulator(set)
	s.step(0, &messages.Route{Sink: coreSink})
	s.appendAt(0, "a")
	fx := copyFx(s.step(0, pokeInbox))
	expectSent(t, &fx, "batch 0 (1 records)")
	fx = copyFx(s.step(100*ms, wakeUp))
	if len(fx.completions) != 1 || !errors.Is(fx.completions[0].err, messages.ErrDeliveryTimeout) {
		t.Fatalf("completions %+v, want the record expired", fx.completions)
	}
	expectBuffers(t, s, "1 slots, 0 free, 0 deferred")
	writer := make(chan struct{})
	s.step(150*ms, &messages.BatchDone{BatchID: 0, Err: fmt.Errorf("%w: request timed out", messages.ErrConnection), BaseOffset: -1, WriterDone: writer})
	expectBuffers(t, s, "1 slots, 0 free, 1 deferred")
	close(writer)
	s.shared.Buffers.Put(s.shared.Buffers.Get())
	expectBuffers(t, s, "1 slots, 1 free, 0 deferred")
}

// TestAccumulatorCoreReusesAnsweredMessages: a Batch message the sink answered carries the next
// attempt, and the outcome it held stays the batch's while an older batch is still out; one the
// sink never answered (the sender restarted) is not reused, since a dead letter may still read it.
func TestAccumulatorCoreReusesAnsweredMessages(t *testing.T) {
	set := testSettings()
	set.RetryBackoff, set.RetryBackoffMax = 10*time.Millisecond, 10*time.Millisecond
	s := newCoreAccumulator(set)
	s.step(0, &messages.Route{Sink: coreSink})
	s.appendBatches(0, 3)
	fx := copyFx(s.step(0, pokeInbox))
	expectSent(t, &fx, "batch 0 (1 records)", "batch 1 (1 records)", "batch 2 (1 records)")
	first, second, dropped := fx.sends[0].msg.(*messages.Batch), fx.sends[1].msg.(*messages.Batch), fx.sends[2].msg.(*messages.Batch)

	// The second batch is answered first: it waits for the first, holding its answer, and its
	// message is free again.
	done := second.Answer()
	done.BaseOffset = 11
	fx = copyFx(s.step(ms, done))
	if len(fx.completions) != 0 {
		t.Fatalf("completed %+v before the older batch", fx.completions)
	}
	s.appendAt(ms, "3")
	fx = copyFx(s.step(ms, pokeInbox))
	expectSent(t, &fx, "batch 3 (1 records)")
	if reused := fx.sends[0].msg.(*messages.Batch); reused != second || reused.BatchID != 3 {
		t.Fatalf("batch 3 went in %p (id %d), want batch 1's answered message %p", reused, reused.BatchID, second)
	}
	done = first.Answer()
	done.BaseOffset = 10
	fx = copyFx(s.step(2*ms, done))
	if len(fx.completions) != 2 || fx.completions[0].baseOffset != 10 || fx.completions[1].baseOffset != 11 {
		t.Fatalf("completions %+v, want batch 0 at offset 10 and batch 1 at 11", fx.completions)
	}

	// Batches 2 and 3 are out when the sender restarts: their sinks dropped them, so they are
	// answered here, and their messages are not reused when they go again.
	s.step(3*ms, &messages.RouteLost{})
	retryAt := 3*ms + 12*ms // after both retry backoffs (10 ms ±20 %)
	fx = copyFx(s.step(retryAt, wakeUp))
	expectSent(t, &fx, "ready")
	fx = copyFx(s.step(retryAt, &messages.Route{Sink: coreSink}))
	expectSent(t, &fx, "batch 2 (1 records)", "batch 3 (1 records)")
	if b := fx.sends[0].msg.(*messages.Batch); b != first {
		t.Fatalf("batch 2 went again in %p, want batch 0's answered message %p", b, first)
	}
	if b := fx.sends[1].msg.(*messages.Batch); b == second || b == dropped || b == first {
		t.Fatalf("batch 3 went again in %p, a message a stopped sink may still hold", b)
	}
}

// TestAccumulatorCoreTellsTopicInUse: starting a batch tells the metadata actor the topic is in
// use, at most every topicIdle/2, so it keeps refreshing it without hearing of every batch.
func TestAccumulatorCoreTellsTopicInUse(t *testing.T) {
	s := newCoreAccumulator(testSettings())
	s.metadata = actor.NewPID("nonhost", "metadata")
	s.step(0, &messages.Route{Sink: coreSink})
	s.appendBatches(ms, 2)
	fx := copyFx(s.step(ms, pokeInbox))
	expectSent(t, &fx, "*actors.topicInUse", "batch 0 (1 records)", "batch 1 (1 records)")
	if fx.sends[0].to != s.metadata || fx.sends[0].msg.(*topicInUse).topic != testTP.Topic {
		t.Fatalf("sent %+v to %v, want the topic to the metadata actor", fx.sends[0].msg, fx.sends[0].to)
	}
	later := ms + int64(topicIdle/2)
	s.appendBatches(later-1, 1)
	fx = copyFx(s.step(later-1, pokeInbox))
	expectSent(t, &fx, "batch 2 (1 records)")
	s.appendBatches(later+ms, 1)
	fx = copyFx(s.step(later+ms, pokeInbox))
	expectSent(t, &fx, "*actors.topicInUse", "batch 3 (1 records)")
}
