package tests

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/goleak"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/internal/metrics"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// brokerSide ignores the broker's ends of connections the client has closed: kfake notices the
// close a moment later, and the broker itself is checked when it closes (TestMain's goleak).
var brokerSide = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/twmb/franz-go/pkg/kfake.(*clientConn).read"),
	goleak.IgnoreTopFunction("github.com/twmb/franz-go/pkg/kfake.(*clientConn).write"),
}

// newSystem is a user's actor system, quiet, with a short dead-letter throttle so goleak stays
// green.
func newSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	sys := actor.NewActorSystem(kastor.ActorSystemOptions(discardLogger())...)
	t.Cleanup(sys.Shutdown)
	return sys
}

// app is a user's application actor: it spawns the producer as its child and produces by
// message, on its own goroutine. Every reply it gets goes to replies, every failure its
// supervisor strategy sees goes to failures.
type app struct {
	t        *testing.T
	sys      *actor.ActorSystem
	pid      *actor.PID
	producer *actor.PID
	replies  chan any
	failures chan any
	stopped  chan struct{}
}

// produceRange asks the app to Request Produce for records [from, from+n) of topic (Send, without a
// sender, when fireAndForget).
type produceRange struct {
	topic         string
	from, n       int
	fireAndForget bool
}

// produceBatch asks the app to Request one ProduceBatch of records [from, from+n) of topic (Send,
// when fireAndForget), with correlation corr.
type produceBatch struct {
	topic         string
	from, n       int
	corr          uint64
	fireAndForget bool
}

// request asks the app to Request msg from the producer.
type request struct{ msg any }

// tell asks the app to Send msg to the producer.
type tell struct{ msg any }

func startApp(t *testing.T, sys *actor.ActorSystem, cfg kastor.Config, directive actor.Directive) *app {
	t.Helper()
	props, err := kastor.Props(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{t: t, sys: sys, replies: make(chan any, 1<<16), failures: make(chan any, 16), stopped: make(chan struct{})}
	ready := make(chan *actor.PID, 1)
	strategy := actor.NewOneForOneStrategy(10, time.Minute, func(reason interface{}) actor.Directive {
		a.failures <- reason
		return directive
	})
	a.pid = sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			a.producer = c.Spawn(props)
			ready <- a.producer
		case *actor.Stopped:
			close(a.stopped)
		case *produceRange:
			for i := m.from; i < m.from+m.n; i++ {
				msg := &kastor.Produce{Record: &kastor.Record{Topic: m.topic, Value: value(i)}, Correlation: uint64(i)}
				if m.fireAndForget {
					c.Send(a.producer, msg)
				} else {
					c.Request(a.producer, msg)
				}
			}
		case *produceBatch:
			msg := &kastor.ProduceBatch{Correlation: m.corr}
			for i := m.from; i < m.from+m.n; i++ {
				msg.Records = append(msg.Records, &kastor.Record{Topic: m.topic, Value: value(i)})
			}
			if m.fireAndForget {
				c.Send(a.producer, msg)
			} else {
				c.Request(a.producer, msg)
			}
		case *request:
			c.Request(a.producer, m.msg)
		case *tell:
			c.Send(a.producer, m.msg)
		case *kastor.Delivered, *kastor.ProducedBatch, *kastor.Flushed, *kastor.Closed, *kastor.TransactionDone:
			a.replies <- m
		}
	}, actor.WithSupervisor(strategy)))
	select {
	case <-ready:
	case <-time.After(time.Minute):
		t.Fatal("the app did not start")
	}
	t.Cleanup(a.stop)
	return a
}

// stop stops the app and so its producer child, and waits until both have stopped.
func (a *app) stop() {
	a.sys.Root.Stop(a.pid)
	select {
	case <-a.stopped:
	case <-time.After(30 * time.Second):
		a.t.Error("the app did not stop")
	}
}

// learn sends record i to topic and flushes, so the producer knows the topic (and has memory
// again) before what follows.
// flushed expects the app's next reply to be a successful Flushed with correlation corr.
func (a *app) flushed(t *testing.T, corr uint64) {
	t.Helper()
	if f := next[*kastor.Flushed](t, a); f.Correlation != corr || f.Err != nil {
		t.Fatalf("Flushed %+v, want correlation %d without error", f, corr)
	}
}

// stopLeakingNothing stops the app and checks no goroutine is left besides those before (leaks,
// goleak.IgnoreCurrent at the test's start) and the broker's.
func (a *app) stopLeakingNothing(t *testing.T, leaks goleak.Option) {
	t.Helper()
	a.stop()
	goleak.VerifyNone(t, append(brokerSide, leaks)...)
}

func (a *app) learn(t *testing.T, topic string, i int) {
	t.Helper()
	a.sys.Root.Send(a.pid, &produceRange{topic: topic, from: i, n: 1})
	a.sys.Root.Send(a.pid, &request{&kastor.Flush{}})
	if d := next[*kastor.Delivered](t, a); d.Err != nil {
		t.Fatal(d.Err)
	}
	next[*kastor.Flushed](t, a)
}

// failure waits for the failure the producer escalated to the app's supervisor, which must be an
// error matching every one of wants.
func (a *app) failure(t *testing.T, wants ...error) {
	t.Helper()
	select {
	case reason := <-a.failures:
		err, ok := reason.(error)
		for _, want := range wants {
			if !ok || !errors.Is(err, want) {
				t.Fatalf("the supervisor saw %v, want an error wrapping %v", reason, want)
			}
		}
	case <-time.After(time.Minute):
		t.Fatal("the failure never reached the supervisor")
	}
}

// next returns the app's next reply, which must be a T.
func next[T any](t *testing.T, a *app) T {
	t.Helper()
	select {
	case m := <-a.replies:
		v, ok := m.(T)
		if !ok {
			var want T
			t.Fatalf("got %T %+v, want a %T", m, m, want)
		}
		return v
	case <-time.After(time.Minute):
		var want T
		t.Fatalf("no %T within a minute", want)
		panic("unreachable")
	}
}

// deliveries collects n Delivered replies, checking each correlation is answered once and that the
// replies of each partition arrive in send order.
func deliveries(t *testing.T, a *app, n int) map[int]*kastor.Delivered {
	t.Helper()
	got := make(map[int]*kastor.Delivered, n)
	last := map[int32]int{}
	for range n {
		d := next[*kastor.Delivered](t, a)
		i := int(d.Correlation)
		if _, dup := got[i]; dup {
			t.Fatalf("record %d answered twice", i)
		}
		got[i] = d
		if d.Err != nil {
			continue
		}
		if prev, ok := last[d.Metadata.Partition]; ok && prev > i {
			t.Fatalf("partition %d: the reply for record %d came after the one for %d", d.Metadata.Partition, i, prev)
		}
		last[d.Metadata.Partition] = i
		if want := string(value(i)); string(d.Record.Value) != want {
			t.Fatalf("reply %d carries record %q", i, d.Record.Value)
		}
	}
	return got
}

// checkDelivered reads the topic back and checks every successful reply names the record's
// offset, in send order per partition, each record written at most once (exactly once when
// every reply succeeded).
func checkDelivered(t *testing.T, c *kfake.Cluster, topic string, got map[int]*kastor.Delivered) {
	t.Helper()
	at, written := readLog(t, c, topic, true)
	for i, d := range got {
		if written[i] > 1 {
			t.Fatalf("record %d written %d times", i, written[i])
		}
		if d.Err != nil {
			continue
		}
		if w, ok := at[d.Metadata.Partition][d.Metadata.Offset]; !ok || w != i {
			t.Fatalf("record %d acknowledged at %d@%d, the log has record %d there", i, d.Metadata.Partition, d.Metadata.Offset, w)
		}
	}
}

func actorConfig(c *kfake.Cluster) kastor.Config {
	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = c.ListenAddrs()
	cfg.Logger = testLogger()
	return cfg
}

// N Produce requests from a user actor give exactly N Delivered replies, in send order per
// partition, each naming the offset a consumer reads the record at; Flush is answered after them;
// once the user's actors are stopped nothing of kastor is left running.
func TestActorProduceDeliversEveryRecordInOrder(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	leaks := goleak.IgnoreCurrent()
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.BatchSize = 2048 // several batches per partition
	a := startApp(t, sys, cfg, actor.StopDirective)

	const n = 5000
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", n: n})
	a.sys.Root.Send(a.pid, &request{&kastor.Flush{Correlation: 99}})
	got := deliveries(t, a, n)
	for i, d := range got {
		if d.Err != nil {
			t.Fatalf("record %d: %v", i, d.Err)
		}
	}
	a.flushed(t, 99)
	checkDelivered(t, c, "t", got)
	a.stopLeakingNothing(t, leaks)
}

// A restart of the producer by its supervisor in the middle of a stream: the supervisor sees the
// fatal error the producer escalated; every record sent before, during and after gets exactly one
// reply (a record the restart caught fails with ErrProducerRestarted, nothing is left unanswered);
// the restarted producer works, and the log holds every acknowledged record at its offset.
func TestActorRestartMidStreamLeavesNoRecordUnanswered(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(4, "t"))
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.Linger = 20 * time.Millisecond // records wait in the accumulators when the restart comes
	cfg.Logger = discardLogger()
	a := startApp(t, sys, cfg, actor.RestartDirective)

	const chunks, per = 40, 100
	fatal := fmt.Errorf("%w: injected (as the sender reports a fenced producer)", kastor.ErrFatal)
	for k := range chunks {
		a.sys.Root.Send(a.pid, &produceRange{topic: "t", from: k * per, n: per})
		if k == chunks/2 {
			// What the sender reports when the producer enters a fatal state; sent by the app, so
			// it lands after the first half of the stream.
			a.sys.Root.Send(a.pid, &tell{&messages.ProducerFailed{Err: fatal}})
		}
	}
	got := deliveries(t, a, chunks*per)
	a.failure(t, kastor.ErrFatal)
	failed := 0
	for i, d := range got {
		if d.Err != nil {
			failed++
			if !errors.Is(d.Err, kastor.ErrProducerRestarted) {
				t.Fatalf("record %d failed with %v, want ErrProducerRestarted", i, d.Err)
			}
		}
	}
	t.Logf("%d of %d records failed with the restart", failed, len(got))

	// The restarted producer sends again: probe until a record gets through (those sent before
	// the restart was applied may still fail with it), then every later one must.
	for probe := 0; ; probe++ {
		a.sys.Root.Send(a.pid, &produceRange{topic: "t", from: chunks*per + probe, n: 1})
		d := next[*kastor.Delivered](t, a)
		got[int(d.Correlation)] = d
		if d.Err == nil {
			break
		}
		if !errors.Is(d.Err, kastor.ErrProducerRestarted) || probe > 1000 {
			t.Fatalf("after the restart: %v", d.Err)
		}
	}
	from := chunks*per + 2000
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", from: from, n: per})
	for i, d := range deliveries(t, a, per) {
		if d.Err != nil {
			t.Fatalf("record %d after the restart: %v", i, d.Err)
		}
		got[i] = d
	}
	checkDelivered(t, c, "t", got)
}

// A supervisor that stops the producer on a fatal error: every record gets its reply (sent, or
// ErrProducerClosed), and Produce messages after the stop are answered with ErrProducerClosed.
func TestActorSupervisorStopsTheProducer(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.Linger = 20 * time.Millisecond
	cfg.Logger = discardLogger()
	a := startApp(t, sys, cfg, actor.StopDirective)

	a.sys.Root.Send(a.pid, &produceRange{topic: "t", n: 1000})
	a.sys.Root.Send(a.pid, &tell{&messages.ProducerFailed{Err: fmt.Errorf("%w: injected", kastor.ErrFatal)}})
	got := deliveries(t, a, 1000)
	a.failure(t, kastor.ErrFatal)
	for i, d := range got {
		if d.Err != nil && !errors.Is(d.Err, kastor.ErrProducerClosed) {
			t.Fatalf("record %d: %v, want ErrProducerClosed", i, d.Err)
		}
	}
	checkDelivered(t, c, "t", got)
	// The producer stops asynchronously: a Produce is answered either way, and the last ones
	// with ErrProducerClosed.
	for i := 1000; ; i++ {
		a.sys.Root.Send(a.pid, &produceRange{topic: "t", from: i, n: 1})
		if d := next[*kastor.Delivered](t, a); errors.Is(d.Err, kastor.ErrProducerClosed) {
			break
		} else if d.Err != nil || i > 100000 {
			t.Fatalf("record %d after the stop: %v", i, d.Err)
		}
	}
}

// With BufferMemory spent, Produce messages wait inside the producer actor (its mailbox keeps
// working: Flush is answered) and go on, in order, as memory comes back.
func TestActorProduceWaitsForMemory(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.BufferMemory = 4096 // about 50 records
	cfg.BatchSize = 1024
	cfg.Linger = time.Millisecond
	reader := sdkmetric.NewManualReader()
	cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	a := startApp(t, sys, cfg, actor.StopDirective)

	const n = 3000
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", n: n})
	got := deliveries(t, a, n)
	for i, d := range got {
		if d.Err != nil {
			t.Fatalf("record %d: %v", i, d.Err)
		}
	}
	checkDelivered(t, c, "t", got)
	// The waits in the actor are counted as waits for buffer memory.
	if m := collect(t, reader); m.Sum(metrics.BufferWaitTime) <= 0 || m.Sum(metrics.SentMessages) != n {
		t.Fatalf("bufferpool.wait_time %vs, sent.messages %v; want > 0, %d", m.Sum(metrics.BufferWaitTime), m.Sum(metrics.SentMessages), n)
	}
}

// Memory that does not come back within MaxBlock: the waiting Produce messages fail with
// ErrTimeout, the others are sent; a Flush behind them is answered once they failed.
func TestActorProduceMemoryTimeout(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.BufferMemory = 2048
	cfg.Linger = time.Minute // nothing is sent, so no memory comes back, until the flush
	cfg.DeliveryTimeout = 2 * time.Minute
	cfg.MaxBlock = 50 * time.Millisecond
	a := startApp(t, sys, cfg, actor.StopDirective)

	const n = 100 // about 40 fit
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", n: n})
	a.sys.Root.Send(a.pid, &request{&kastor.Flush{}})
	got := deliveries(t, a, n)
	ok, timedOut := 0, 0
	for i, d := range got {
		switch {
		case d.Err == nil:
			ok++
		case errors.Is(d.Err, kastor.ErrTimeout):
			timedOut++
		default:
			t.Fatalf("record %d: %v", i, d.Err)
		}
	}
	if ok == 0 || timedOut == 0 {
		t.Fatalf("%d sent, %d timed out: want both", ok, timedOut)
	}
	next[*kastor.Flushed](t, a)
	checkDelivered(t, c, "t", got)
}

// While records wait for memory (MaxBlock an hour, no memory coming back), the producer actor's
// mailbox keeps working: Close is handled at once, the waiting records fail with
// ErrProducerClosed, the accepted ones are flushed and delivered.
func TestActorMailboxWorksWhileRecordsWait(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.BufferMemory = 2048
	cfg.Linger = time.Minute
	cfg.DeliveryTimeout = 2 * time.Minute
	cfg.MaxBlock = time.Hour
	a := startApp(t, sys, cfg, actor.StopDirective)

	a.learn(t, "t", 0)
	const n = 100
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", from: 1, n: n})
	a.sys.Root.Send(a.pid, &request{&kastor.Close{}})
	got := deliveries(t, a, n)
	ok, closed := 0, 0
	for i, d := range got {
		switch {
		case d.Err == nil:
			ok++
		case errors.Is(d.Err, kastor.ErrProducerClosed):
			closed++
		default:
			t.Fatalf("record %d: %v", i, d.Err)
		}
	}
	if ok == 0 || closed == 0 {
		t.Fatalf("%d sent, %d failed by Close: want both", ok, closed)
	}
	next[*kastor.Closed](t, a)
	checkDelivered(t, c, "t", got)
}

// A Produce for a topic the cluster does not have yet waits for its metadata (created on first
// use); one for a topic that never appears fails with ErrTimeout after MaxBlock, and does not hold
// up the others.
func TestActorProduceWaitsForMetadata(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"), kfake.AllowAutoTopicCreation())
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.MaxBlock = 300 * time.Millisecond
	a := startApp(t, sys, cfg, actor.StopDirective)

	// kfake creates a topic only for a metadata request that asks to: ours do.
	a.sys.Root.Send(a.pid, &produceRange{topic: "new", n: 10})
	got := deliveries(t, a, 10)
	for i, d := range got {
		if d.Err != nil {
			t.Fatalf("record %d of the new topic: %v", i, d.Err)
		}
	}
	checkDelivered(t, c, "new", got)

	c2 := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	cfg.BootstrapServers = c2.ListenAddrs()
	b := startApp(t, sys, cfg, actor.StopDirective)
	b.sys.Root.Send(b.pid, &produceRange{topic: "missing", from: 0, n: 1})
	b.sys.Root.Send(b.pid, &produceRange{topic: "t", from: 1, n: 50})
	got = deliveries(t, b, 51)
	if !errors.Is(got[0].Err, kastor.ErrTimeout) {
		t.Fatalf("the record of a missing topic: %v, want ErrTimeout", got[0].Err)
	}
	for i := 1; i <= 50; i++ {
		if got[i].Err != nil {
			t.Fatalf("record %d: %v", i, got[i].Err)
		}
	}
}

// Produce sent without a sender is not answered; its failures are counted (Flushed) and the
// records that can be sent are.
func TestActorFireAndForget(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	sys := newSystem(t)
	a := startApp(t, sys, actorConfig(c), actor.StopDirective)

	a.sys.Root.Send(a.pid, &produceRange{topic: "t", n: 500, fireAndForget: true})
	a.sys.Root.Send(a.pid, &produceRange{topic: "", from: 500, n: 3, fireAndForget: true}) // invalid: no topic
	// Inside a protoactor MessageBatch the Produce messages reach the actor's mailbox instead.
	a.sys.Root.Send(a.pid, &tell{batch{&kastor.Produce{Record: &kastor.Record{Topic: "t", Value: value(503)}},
		&kastor.Produce{Record: &kastor.Record{Topic: "t", Value: value(504)}}}})
	a.sys.Root.Send(a.pid, &request{&kastor.Flush{Correlation: 1}})
	f := next[*kastor.Flushed](t, a)
	if f.Err != nil || f.UnansweredFailures != 3 {
		t.Fatalf("Flushed %+v, want 3 unanswered failures", f)
	}
	recs := consumeAll(t, c, "t")
	total := 0
	for _, r := range recs {
		total += len(r)
	}
	if total != 502 {
		t.Fatalf("%d records written, want 502", total)
	}
	select {
	case m := <-a.replies:
		t.Fatalf("unexpected reply %T %+v", m, m)
	default:
	}
}

// batch is a protoactor MessageBatch.
type batch []any

func (b batch) GetMessages() []interface{} { return b }

// Close by message: accepted records are flushed and answered, then Closed; later Produce messages
// fail with ErrProducerClosed, and bad input is answered with a clear error, never a panic.
func TestActorCloseAndBadInput(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.Linger = time.Minute // only the close sends them
	a := startApp(t, sys, cfg, actor.StopDirective)

	a.learn(t, "t", 100)

	a.sys.Root.Send(a.pid, &request{&kastor.Produce{Correlation: 1}})
	a.sys.Root.Send(a.pid, &request{(*kastor.Produce)(nil)})
	a.sys.Root.Send(a.pid, &request{&kastor.Produce{Record: &kastor.Record{Topic: "t", Partition: kastor.PartitionOf(7)}, Correlation: 2}})
	for range 2 { // the third waits for a partition the topic does not have, without holding up the topic
		d := next[*kastor.Delivered](t, a)
		if d.Correlation == 2 || !errors.Is(d.Err, kastor.ErrInvalidRecord) {
			t.Fatalf("Produce %d answered with %v, want ErrInvalidRecord", d.Correlation, d.Err)
		}
	}

	a.sys.Root.Send(a.pid, &produceRange{topic: "t", from: 10, n: 20})
	a.sys.Root.Send(a.pid, &request{&kastor.Close{}})
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", from: 30, n: 1})
	var closed bool
	got := map[int]*kastor.Delivered{}
	for len(got) < 22 || !closed {
		switch m := (<-a.replies).(type) {
		case *kastor.Delivered:
			got[int(m.Correlation)] = m
		case *kastor.Closed:
			closed = true
		}
	}
	for i := 10; i < 30; i++ {
		if got[i].Err != nil {
			t.Fatalf("record %d accepted before Close: %v", i, got[i].Err)
		}
	}
	if !errors.Is(got[30].Err, kastor.ErrProducerClosed) {
		t.Fatalf("record after Close: %v, want ErrProducerClosed", got[30].Err)
	}
	if !errors.Is(got[2].Err, kastor.ErrProducerClosed) {
		t.Fatalf("record waiting for its partition at Close: %v, want ErrProducerClosed", got[2].Err)
	}
}

// New on the user's actor system: it runs there, Close stops only its own actors and goroutines,
// and the user's system keeps working.
func TestNewOnUserActorSystem(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	leaks := goleak.IgnoreCurrent()
	sys := newSystem(t)
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.ActorSystem = sys })
	produceAndVerify(t, c, p, "t", 1000, false)

	// Its producer actor takes messages too.
	replies := make(chan any, 4)
	user := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case string:
			ctx.Request(p.PID(), &kastor.Produce{Record: &kastor.Record{Topic: "t", Value: []byte(m)}})
		case *kastor.Delivered:
			replies <- m
		}
	}))
	sys.Root.Send(user, "by message")
	if d := (<-replies).(*kastor.Delivered); d.Err != nil {
		t.Fatal(d.Err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(user, "after close")
	if d := (<-replies).(*kastor.Delivered); !errors.Is(d.Err, kastor.ErrProducerClosed) {
		t.Fatalf("after Close: %v", d.Err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	echo := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(string); ok {
			wg.Done()
		}
	}))
	sys.Root.Send(echo, "still alive")
	wg.Wait()
	sys.Root.Stop(echo)
	sys.Root.Stop(user)
	goleak.VerifyNone(t, append(brokerSide, leaks)...)
}

// A real fatal error, not an injected one: the cluster refuses InitProducerId once
// (CLUSTER_AUTHORIZATION_FAILED). The records fail with ErrFatal, the user's supervisor sees the
// failure and restarts the producer, which gets a producer id and sends.
func TestActorFatalErrorRestartedBySupervisor(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.InitProducerID}, Err: kerr.ClusterAuthorizationFailed, TopLevel: true, Count: 1})
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.Logger = discardLogger()
	a := startApp(t, sys, cfg, actor.RestartDirective)

	a.sys.Root.Send(a.pid, &produceRange{topic: "t", n: 100})
	for i, d := range deliveries(t, a, 100) {
		if !errors.Is(d.Err, kastor.ErrFatal) || !errors.Is(d.Err, wire.ErrClusterAuthorizationFailed) {
			t.Fatalf("record %d: %v, want ErrFatal wrapping CLUSTER_AUTHORIZATION_FAILED", i, d.Err)
		}
	}
	a.failure(t, kastor.ErrFatal, wire.ErrClusterAuthorizationFailed)
	// Records sent while the restart is applied may still fail with it; then all go through.
	for probe := 100; ; probe++ {
		a.sys.Root.Send(a.pid, &produceRange{topic: "t", from: probe, n: 1})
		d := next[*kastor.Delivered](t, a)
		if d.Err == nil {
			break
		}
		if !errors.Is(d.Err, kastor.ErrFatal) && !errors.Is(d.Err, kastor.ErrProducerRestarted) || probe > 10000 {
			t.Fatalf("after the restart: %v", d.Err)
		}
	}
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", from: 20000, n: 500})
	for i, d := range deliveries(t, a, 500) {
		if d.Err != nil {
			t.Fatalf("record %d after the restart: %v", i, d.Err)
		}
	}
	checkSequences(t, c, "t")
}

// ProduceBatch: each batch is answered once, after all its records, with every record's outcome
// in its slot (offsets a consumer reads the records at, in send order per partition across
// batches); Flush is answered after the batches sent before it; an empty batch is answered at
// once; a batch sent without a sender is written and not answered.
func TestActorProduceBatch(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	leaks := goleak.IgnoreCurrent()
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.BatchSize = 2048 // several kastor batches per ProduceBatch and partition
	a := startApp(t, sys, cfg, actor.StopDirective)

	const batches, per = 20, 250
	for b := range batches {
		a.sys.Root.Send(a.pid, &produceBatch{topic: "t", from: b * per, n: per, corr: uint64(b)})
	}
	a.sys.Root.Send(a.pid, &produceBatch{topic: "t", corr: 1000})                                      // empty
	a.sys.Root.Send(a.pid, &produceBatch{topic: "t", from: batches * per, n: 10, fireAndForget: true}) // not answered
	a.sys.Root.Send(a.pid, &request{&kastor.Flush{Correlation: 99}})

	got := map[int]*kastor.Delivered{}
	answered := map[uint64]bool{}
	for len(answered) < batches+1 {
		r := next[*kastor.ProducedBatch](t, a)
		if answered[r.Correlation] {
			t.Fatalf("batch %d answered twice", r.Correlation)
		}
		answered[r.Correlation] = true
		if r.Correlation == 1000 {
			if len(r.Results) != 0 {
				t.Fatalf("the empty batch answered with %d results", len(r.Results))
			}
			continue
		}
		if len(r.Results) != per {
			t.Fatalf("batch %d answered with %d results, want %d", r.Correlation, len(r.Results), per)
		}
		for j := range r.Results {
			d := &r.Results[j]
			i := int(r.Correlation)*per + j
			if d.Err != nil || d.Correlation != r.Correlation || string(d.Record.Value) != string(value(i)) {
				t.Fatalf("batch %d slot %d: %+v, want record %d acknowledged", r.Correlation, j, d, i)
			}
			got[i] = d
		}
	}
	a.flushed(t, 99)
	checkDelivered(t, c, "t", got) // in send order per partition, each at its acknowledged offset
	_, written := readLog(t, c, "t", true)
	for i := batches * per; i < batches*per+10; i++ {
		if written[i] != 1 {
			t.Fatalf("fire-and-forget record %d written %d times", i, written[i])
		}
	}

	a.stopLeakingNothing(t, leaks)
}

// A ProduceBatch with bad records fails those, in their slots, and sends the others; one after
// Close fails every record with ErrProducerClosed; a nil one is answered, empty.
func TestActorProduceBatchBadInputAndClose(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.MaxRequestSize = 1 << 20
	a := startApp(t, sys, cfg, actor.StopDirective)
	a.learn(t, "t", 100)

	a.sys.Root.Send(a.pid, &request{&kastor.ProduceBatch{Correlation: 1, Records: []*kastor.Record{
		{Topic: "t", Value: value(0)},
		nil,
		{Topic: "", Value: value(2)},
		{Topic: "t", Value: make([]byte, 2<<20)},
		{Topic: "t", Value: value(4)},
	}}})
	r := next[*kastor.ProducedBatch](t, a)
	if r.Correlation != 1 || len(r.Results) != 5 {
		t.Fatalf("reply %+v, want batch 1 with 5 results", r)
	}
	for _, j := range []int{0, 4} {
		if d := r.Results[j]; d.Err != nil || string(d.Record.Value) != string(value(j)) || d.Metadata.Offset < 0 {
			t.Fatalf("slot %d: %+v, want record %d acknowledged", j, d, j)
		}
	}
	if r.Results[1].Err == nil || !errors.Is(r.Results[1].Err, kastor.ErrInvalidRecord) {
		t.Fatalf("nil record: %v, want ErrInvalidRecord", r.Results[1].Err)
	}
	if !errors.Is(r.Results[2].Err, kastor.ErrInvalidRecord) {
		t.Fatalf("record without a topic: %v, want ErrInvalidRecord", r.Results[2].Err)
	}
	if !errors.Is(r.Results[3].Err, kastor.ErrRecordTooLarge) {
		t.Fatalf("oversize record: %v, want ErrRecordTooLarge", r.Results[3].Err)
	}
	if r.Results[4].Metadata.Offset != r.Results[0].Metadata.Offset+1 {
		t.Fatalf("offsets %d then %d: the records between them failed, so want consecutive", r.Results[0].Metadata.Offset, r.Results[4].Metadata.Offset)
	}

	a.sys.Root.Send(a.pid, &request{(*kastor.ProduceBatch)(nil)})
	if r := next[*kastor.ProducedBatch](t, a); len(r.Results) != 0 {
		t.Fatalf("nil batch answered with %d results", len(r.Results))
	}

	a.sys.Root.Send(a.pid, &request{&kastor.Close{}})
	next[*kastor.Closed](t, a)
	a.sys.Root.Send(a.pid, &produceBatch{topic: "t", from: 10, n: 3, corr: 2})
	r = next[*kastor.ProducedBatch](t, a)
	if r.Correlation != 2 || len(r.Results) != 3 {
		t.Fatalf("reply after Close %+v, want batch 2 with 3 results", r)
	}
	for j, d := range r.Results {
		if !errors.Is(d.Err, kastor.ErrProducerClosed) || string(d.Record.Value) != string(value(10+j)) {
			t.Fatalf("slot %d after Close: %+v, want ErrProducerClosed", j, d)
		}
	}
}
