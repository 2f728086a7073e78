package actors

// Test harness for the actors package: a real actor system, the actor under test spawned with its
// own props, and probe actors standing in for its peers. A probe pushes every user message it
// receives into a channel, so a test sees exactly what the actor under test sent, in order.

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor/bufferpool"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// waitLimit bounds every wait for something that must happen.
const waitLimit = 5 * time.Second

// quiet is how long a test watches for something that must not happen.
const quiet = 50 * time.Millisecond

var discardLogger = slog.New(slog.DiscardHandler)

// testSettings are settings that make nothing happen on its own: a long delivery timeout, no
// linger, generous limits. Tests change what they exercise.
func testSettings() Settings {
	return Settings{
		ClientID:         "kastor-test",
		Acks:             -1,
		BatchSize:        16 << 10,
		Linger:           0,
		MaxRequestSize:   1 << 20,
		Codec:            wire.CodecNone,
		RequestTimeout:   5 * time.Second,
		DeliveryTimeout:  time.Minute,
		Retries:          10,
		RetryBackoff:     10 * time.Millisecond,
		RetryBackoffMax:  50 * time.Millisecond,
		MaxInFlight:      5,
		MetadataMaxAge:   time.Minute,
		ReconnectBackoff: 10 * time.Millisecond,
		ReconnectMax:     50 * time.Millisecond,
		SetupTimeout:     2 * time.Second,
	}
}

// env is one test's actor system and Shared. Cleanup stops every actor it spawned (leaves first,
// by t.Cleanup's LIFO order), then the completer, and waits for kastor's goroutines.
type env struct {
	t        *testing.T
	sys      *actor.ActorSystem
	shared   *Shared
	released atomic.Int64
	inboxes  map[string]*Inbox // by accumulator PID id
}

func newEnv(t *testing.T, set Settings) *env {
	t.Helper()
	e := &env{t: t, inboxes: map[string]*Inbox{}}
	e.sys = quietSystem(actor.WithDeadLetterThrottleInterval(10 * time.Millisecond))
	completer := NewCompleter(nil, func(n int64) { e.released.Add(n) }, discardLogger)
	e.shared = NewShared(set, discardLogger, bufferpool.NewBudget(1<<30), completer)
	t.Cleanup(func() {
		completer.Stop()
		e.shared.Goroutines.Wait()
		e.shared.Dispatcher.Stop()
		e.sys.Shutdown()
	})
	return e
}

// spawn starts props at the root and stops the actor (waiting for it to terminate) at cleanup.
func (e *env) spawn(props *actor.Props) *actor.PID {
	pid := e.sys.Root.Spawn(props)
	e.t.Cleanup(func() { e.stop(pid) })
	return pid
}

// stop stops pid and waits until it has terminated (its Stopping handler has run and its
// children have stopped). Stopping a stopped actor returns at once. Stop drops the user messages
// still queued in the actor's mailbox.
func (e *env) stop(pid *actor.PID) { e.halt(pid, false) }

// poison stops pid after it has handled every message queued before, and waits for it.
func (e *env) poison(pid *actor.PID) { e.halt(pid, true) }

func (e *env) halt(pid *actor.PID, poison bool) {
	e.t.Helper()
	terminated := make(chan struct{})
	watcher := e.sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.Watch(pid)
		case *actor.Terminated:
			if m.Who.Equal(pid) {
				close(terminated)
				c.Stop(c.Self())
			}
		}
	}))
	if poison {
		e.sys.Root.Poison(pid)
	} else {
		e.sys.Root.Stop(pid)
	}
	select {
	case <-terminated:
	case <-time.After(waitLimit):
		e.sys.Root.Stop(watcher)
		e.t.Errorf("actor %s did not stop within %v", pid.Id, waitLimit)
	}
}

// probe is an actor that records every user message it receives.
type probe struct {
	pid *actor.PID
	ch  chan any
}

func (e *env) newProbe() *probe {
	p := &probe{ch: make(chan any, 4096)}
	p.pid = e.spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch c.Message().(type) {
		case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting, *actor.Restart, *actor.Terminated:
			return
		}
		p.ch <- c.Message()
	}))
	return p
}

// expectMsg returns the probe's next message, which must be a T.
func expectMsg[T any](t *testing.T, p *probe) T {
	t.Helper()
	select {
	case m := <-p.ch:
		v, ok := m.(T)
		if !ok {
			var want T
			t.Fatalf("probe got %T %+v, want a %T", m, m, want)
		}
		return v
	case <-time.After(waitLimit):
		var want T
		t.Fatalf("probe got nothing within %v, want a %T", waitLimit, want)
		panic("unreachable")
	}
}

// none checks that the probe receives nothing for d.
func (p *probe) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-p.ch:
		t.Fatalf("probe got an unexpected %T %+v", m, m)
	case <-time.After(d):
	}
}

// event is one record completion (id >= 0) or a marker (id < 0, name set).
type event struct {
	id   int
	name string
	md   messages.RecordMetadata
	err  error
	at   time.Time
}

// recorder collects completions and markers in the order the completer runs them.
type recorder struct{ ch chan event }

func newRecorder() *recorder { return &recorder{ch: make(chan event, 4096)} }

func (r *recorder) done(id int) messages.Completion {
	return func(md messages.RecordMetadata, err error) { r.ch <- event{id: id, md: md, err: err, at: time.Now()} }
}

func (r *recorder) mark(name string) func() {
	return func() { r.ch <- event{id: -1, name: name, at: time.Now()} }
}

func (r *recorder) next(t *testing.T) event {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(waitLimit):
		t.Fatalf("no completion within %v", waitLimit)
		panic("unreachable")
	}
}

// expectOK expects record id to complete without error at offset.
func (r *recorder) expectOK(t *testing.T, id int, offset int64) event {
	t.Helper()
	ev := r.next(t)
	if ev.id != id || ev.err != nil || ev.md.Offset != offset {
		t.Fatalf("completion %d (mark %q) offset %d err %v; want record %d at offset %d without error",
			ev.id, ev.name, ev.md.Offset, ev.err, id, offset)
	}
	return ev
}

// expectErr expects record id to fail with an error matching target.
func (r *recorder) expectErr(t *testing.T, id int, target error) event {
	t.Helper()
	ev := r.next(t)
	if ev.id != id || ev.err == nil {
		t.Fatalf("completion %d (mark %q) err %v; want record %d failing with %v", ev.id, ev.name, ev.err, id, target)
	}
	if target != nil && !errors.Is(ev.err, target) {
		t.Fatalf("record %d failed with %v; want an error matching %v", id, ev.err, target)
	}
	if ev.md.Offset != -1 {
		t.Fatalf("failed record %d has offset %d, want -1", id, ev.md.Offset)
	}
	return ev
}

func (r *recorder) expectMark(t *testing.T, name string) {
	t.Helper()
	ev := r.next(t)
	if ev.id >= 0 || ev.name != name {
		t.Fatalf("got completion %d (mark %q, err %v), want mark %q", ev.id, ev.name, ev.err, name)
	}
}

func (r *recorder) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-r.ch:
		t.Fatalf("unexpected completion %d (mark %q) offset %d err %v", ev.id, ev.name, ev.md.Offset, ev.err)
	case <-time.After(d):
	}
}

// settle waits until the completer has run everything pushed so far.
func (e *env) settle(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	e.shared.Completer.After(func() { close(done) })
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("completer did not settle within %v", waitLimit)
	}
}

// testRecord is a record as the test appends it, with the timestamp the caller resolved.
type testRecord struct {
	rec *messages.Record
	ts  int64
}

func rec(key, value string, ts int64, headers ...wire.Header) testRecord {
	r := &messages.Record{Topic: "t", Headers: headers}
	if key != "" {
		r.Key = []byte(key)
	}
	if value != "" {
		r.Value = []byte(value)
	}
	return testRecord{rec: r, ts: ts}
}

// appendRec sends one Append for r to acc, completed through rc as record id.
func (e *env) appendRec(acc *actor.PID, rc *recorder, id int, r testRecord) {
	e.appendAt(acc, rc, id, r, time.Now().UnixNano())
}

func (e *env) appendAt(acc *actor.PID, rc *recorder, id int, r testRecord, enqueuedNs int64) {
	e.push(acc, messages.Append{Record: r.rec, TimestampMs: r.ts,
		Reserved: int64(len(r.rec.Key) + len(r.rec.Value) + 10), EnqueuedNs: enqueuedNs, Done: rc.done(id)})
}

// push puts m into acc's inbox, as a send does.
func (e *env) push(acc *actor.PID, m messages.Append) {
	e.t.Helper()
	if !e.inbox(acc).Push(m) {
		e.t.Fatalf("the inbox of %v refused a record", acc)
	}
}

// flush puts a flush marker into acc's inbox, as Flush does.
func (e *env) flush(acc *actor.PID, done func()) {
	e.t.Helper()
	if !e.inbox(acc).PushFlush(done) {
		e.t.Fatalf("the inbox of %v refused a flush", acc)
	}
}

// inbox finds acc's inbox: spawned by the test, or by a producer actor (then in the registry).
func (e *env) inbox(acc *actor.PID) *Inbox {
	e.t.Helper()
	if in := e.inboxes[acc.Id]; in != nil {
		return in
	}
	var found *Inbox
	e.shared.RangeInboxes(func(_ messages.TopicPartition, in *Inbox) {
		if in.pid.Equal(acc) {
			found = in
		}
	})
	if found == nil {
		e.t.Fatalf("no inbox for %v", acc)
	}
	return found
}

// newAccumulator spawns tp's accumulator with a probe as its sender.
func (e *env) newAccumulator(tp messages.TopicPartition) (*actor.PID, *probe) {
	sender := e.newProbe()
	return e.spawnAccumulator(tp, sender.pid), sender
}

// spawnAccumulator spawns tp's accumulator sending to sender; records reach it with push.
func (e *env) spawnAccumulator(tp messages.TopicPartition, sender *actor.PID) *actor.PID {
	props, in := newAccumulator(e.shared, tp, sender, nil, e.sys.Root, nil)
	in.pid = e.spawn(props)
	e.inboxes[in.pid.Id] = in
	return in.pid
}

// newRoutedAccumulator spawns tp's accumulator with a probe as its sender and another as the sink
// it is routed to, so its ready batches arrive at the sink as it sends them.
func (e *env) newRoutedAccumulator(tp messages.TopicPartition) (acc *actor.PID, sender, sink *probe) {
	acc, sender = e.newAccumulator(tp)
	sink = e.newProbe()
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	return acc, sender, sink
}

// nextBatch expects the sink's next message to be a Batch and returns it.
func nextBatch(t *testing.T, sink *probe) *messages.Batch {
	t.Helper()
	return expectMsg[*messages.Batch](t, sink)
}

// decodeBatch decodes a sent batch, which must be exactly one valid record batch.
func decodeBatch(t *testing.T, data []byte) wire.RecordBatch {
	t.Helper()
	rb, rest, err := wire.DecodeRecordBatch(data, 64<<20)
	if err != nil {
		t.Fatalf("DecodeRecordBatch: %v", err)
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the batch", len(rest))
	}
	return rb
}

// checkRecords checks that rb holds exactly want, in order: keys, values, headers (null kept
// apart from empty) and timestamps.
func checkRecords(t *testing.T, rb wire.RecordBatch, want []testRecord) {
	t.Helper()
	if int(rb.NumRecords) != len(want) || len(rb.Records) != len(want) {
		t.Fatalf("batch has %d records (%d decoded), want %d", rb.NumRecords, len(rb.Records), len(want))
	}
	for i, w := range want {
		got := rb.Records[i]
		if got.OffsetDelta != int32(i) {
			t.Errorf("record %d: offset delta %d", i, got.OffsetDelta)
		}
		if ts := rb.BaseTimestamp + got.TimestampDelta; ts != w.ts {
			t.Errorf("record %d: timestamp %d, want %d", i, ts, w.ts)
		}
		if err := sameBytes(got.Key, w.rec.Key); err != nil {
			t.Errorf("record %d: key: %v", i, err)
		}
		if err := sameBytes(got.Value, w.rec.Value); err != nil {
			t.Errorf("record %d: value: %v", i, err)
		}
		if len(got.Headers) != len(w.rec.Headers) {
			t.Errorf("record %d: %d headers, want %d", i, len(got.Headers), len(w.rec.Headers))
			continue
		}
		for j, h := range w.rec.Headers {
			if got.Headers[j].Key != h.Key {
				t.Errorf("record %d header %d: key %q, want %q", i, j, got.Headers[j].Key, h.Key)
			}
			if err := sameBytes(got.Headers[j].Value, h.Value); err != nil {
				t.Errorf("record %d header %d: value: %v", i, j, err)
			}
		}
	}
}

func sameBytes(got, want []byte) error {
	if (got == nil) != (want == nil) || !bytes.Equal(got, want) {
		return fmt.Errorf("got %q (null %v), want %q (null %v)", got, got == nil, want, want == nil)
	}
	return nil
}

// sealedBatch builds a valid record batch of n small records, as an accumulator would send it.
func sealedBatch(t *testing.T, n int) []byte {
	t.Helper()
	var b wire.BatchBuilder
	b.Reset(nil)
	for i := range n {
		b.Append(int64(1000+i), []byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("v%d", i)), nil)
	}
	data, err := b.Seal(nil, wire.SealOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: -1})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// produceAnswer is a produce response writing every partition each adds (in request order, a
// topic's partitions together) at baseOffset.
func produceAnswer(baseOffset int64, each func(add func(topic string, partition int32))) *kmsg.ProduceResponse {
	resp := kmsg.NewPtrProduceResponse()
	each(func(topic string, partition int32) {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != topic {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = topic
			resp.Topics = append(resp.Topics, t)
		}
		p := kmsg.NewProduceResponseTopicPartition()
		p.Partition, p.BaseOffset = partition, baseOffset
		t := &resp.Topics[len(resp.Topics)-1]
		t.Partitions = append(t.Partitions, p)
	})
	return resp
}

// quietSystem is an actor system that logs nothing.
func quietSystem(opts ...actor.ConfigOption) *actor.ActorSystem {
	return actor.NewActorSystem(append([]actor.ConfigOption{actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return discardLogger })}, opts...)...)
}
