// Actors shows kastor inside a protoactor-go application: an application actor spawns the producer
// as its child (kastor.Props), produces 10,000 records by message (Produce, answered with
// Delivered) and counts the replies; then a fatal error is injected into the producer, which
// escalates it to its supervisor, the application actor; the application restarts it, sends
// again the records the restart answered with an error, goes on with 2,000 more, and closes the
// producer by message (Close, answered with Closed).
//
// With no flags it starts an embedded Kafka-protocol broker (kfake) in-process, so it runs on a
// fresh machine and exits on its own. Use -bootstrap-server host:port for a real cluster (the
// topic must exist there).
//
//	go run ./examples/actors
//	go run ./examples/actors -bootstrap-server localhost:9092 -topic events
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/messages"
)

func main() {
	bootstrap := flag.String("bootstrap-server", "", "Kafka bootstrap server host:port (default: an embedded broker)")
	topic := flag.String("topic", "actors", "topic to produce to")
	n := flag.Int("num-records", 10_000, "records to produce before the failure")
	flag.Parse()
	if err := run(os.Stdout, *bootstrap, *topic, *n, *n/5); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func run(out io.Writer, bootstrap, topic string, before, after int) error {
	var cluster *kfake.Cluster
	if bootstrap == "" {
		var err error
		cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic))
		if err != nil {
			return err
		}
		defer cluster.Close()
		bootstrap = cluster.ListenAddrs()[0]
		fmt.Fprintf(out, "embedded broker at %s, topic %q with 4 partitions\n", bootstrap, topic)
	}

	// One logger for kastor and protoactor; this application reports what matters itself.
	logger := slog.New(slog.DiscardHandler)
	// One actor system for the whole application; kastor's actors run in it too. Built with
	// kastor.ActorSystemOptions: protoactor's own logging goes to logger (it prints its start at
	// Info on stderr otherwise), and a short dead-letter throttle: the first dead letter of a
	// period starts a goroutine that lives for the period (1 s by default), which Shutdown cannot
	// stop, so a program (or a goleak check) ending after it would still find it.
	sys := actor.NewActorSystem(kastor.ActorSystemOptions(logger)...)
	defer sys.Shutdown()

	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = []string{bootstrap}
	cfg.Logger = logger
	props, err := kastor.Props(cfg)
	if err != nil {
		return err
	}

	done := make(chan error, 1)
	stopped := make(chan struct{})
	a := &app{out: out, props: props, topic: topic, before: before, after: after, done: done, stopped: stopped,
		pending: map[uint64]*pendingRecord{}, perPartition: map[int32]int{}}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }))

	var result error
	select {
	case result = <-done:
	case <-time.After(time.Minute):
		result = errors.New("timed out")
	}
	sys.Root.Stop(pid) // stops the producer too, if it is still running
	<-stopped

	if result == nil && cluster != nil {
		written := int64(0)
		for _, p := range cluster.PartitionInfos(topic) {
			written += p.HighWatermark
		}
		fmt.Fprintf(out, "the topic holds %d records for %d delivered", written, a.delivered)
		if extra := written - int64(a.delivered); extra > 0 {
			fmt.Fprintf(out, " (%d sent again after the restart had been written already: without idempotence a record caught in flight may land twice)", extra)
		}
		fmt.Fprintln(out)
	}
	return result
}

// app is the application actor. It is also its children's supervisor strategy (HandleFailure),
// which protoactor-go uses when the actor implements one.
type app struct {
	out           io.Writer
	props         *actor.Props
	topic         string
	before, after int
	done          chan<- error
	stopped       chan struct{}

	producer     *actor.PID
	phase        int
	next         uint64 // correlation of the next Produce
	sent         int
	pending      map[uint64]*pendingRecord
	retry        []*pendingRecord
	retryArmed   bool
	delivered    int
	resent       int
	perPartition map[int32]int
	restarts     int
	start        time.Time
}

type pendingRecord struct {
	rec      *kastor.Record
	attempts int
}

// resend is the app's own timer message: send again what an error answered.
type resend struct{}

func (a *app) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.producer = c.Spawn(a.props)
		a.phase, a.start = 1, time.Now()
		for i := range a.before {
			a.produce(c, &pendingRecord{rec: &kastor.Record{Topic: a.topic, Value: fmt.Appendf(nil, "record %d", i)}})
		}
	case *kastor.Delivered:
		a.onDelivered(c, m)
	case *resend:
		a.retryArmed = false
		for _, r := range a.retry {
			a.produce(c, r)
		}
		a.retry = nil
	case *kastor.Closed:
		fmt.Fprintf(a.out, "producer closed; %d records delivered in all, %d answered with an error by the restart and sent again\n",
			a.delivered, a.resent)
		a.done <- nil
	case *actor.Stopped:
		close(a.stopped)
	}
}

func (a *app) produce(c actor.Context, r *pendingRecord) {
	a.next++
	r.attempts++
	a.pending[a.next] = r
	c.Request(a.producer, &kastor.Produce{Record: r.rec, Correlation: a.next})
}

func (a *app) onDelivered(c actor.Context, d *kastor.Delivered) {
	r := a.pending[d.Correlation]
	delete(a.pending, d.Correlation)
	switch {
	case d.Err == nil:
		a.delivered++
		a.perPartition[d.Metadata.Partition]++
	case (errors.Is(d.Err, kastor.ErrProducerRestarted) || errors.Is(d.Err, kastor.ErrFatal)) && r.attempts < 5:
		// The restart caught it (it may or may not have been written): send it again, shortly,
		// to the restarted producer.
		a.resent++
		a.retry = append(a.retry, r)
		if !a.retryArmed {
			a.retryArmed = true
			self, root := c.Self(), c.ActorSystem().Root
			time.AfterFunc(20*time.Millisecond, func() { root.Send(self, &resend{}) })
		}
		return
	default:
		a.done <- fmt.Errorf("record %q: %w", d.Record.Value, d.Err)
		return
	}
	if len(a.pending) > 0 || len(a.retry) > 0 {
		return
	}
	switch a.phase {
	case 1:
		parts := slices.Sorted(func(yield func(int32) bool) {
			for p := range a.perPartition {
				if !yield(p) {
					return
				}
			}
		})
		fmt.Fprintf(a.out, "phase 1: %d Delivered replies in %v; per partition:", a.delivered, time.Since(a.start).Round(time.Millisecond))
		for _, p := range parts {
			fmt.Fprintf(a.out, " %d:%d", p, a.perPartition[p])
		}
		fmt.Fprintln(a.out)

		// Inject what kastor's sender reports when the cluster fences the producer: the producer
		// escalates it to us (HandleFailure) and keeps its mailbox suspended until we decide.
		fmt.Fprintln(a.out, "injecting a fatal error into the producer")
		c.Send(a.producer, &messages.ProducerFailed{Err: fmt.Errorf("%w: simulated: the cluster fenced this producer", kastor.ErrFatal)})

		// The work goes on meanwhile: records the restart catches are answered with an error and
		// sent again.
		a.phase, a.start = 2, time.Now()
		for i := range a.after {
			a.produce(c, &pendingRecord{rec: &kastor.Record{Topic: a.topic, Value: fmt.Appendf(nil, "record %d", a.before+i)}})
		}
	case 2:
		fmt.Fprintf(a.out, "phase 2: %d more records delivered across the restart in %v\n", a.after, time.Since(a.start).Round(time.Millisecond))
		a.phase = 3
		c.Request(a.producer, &kastor.Close{}) // flushes, stops the producer, answers Closed
	}
}

// HandleFailure is the app's supervisor strategy for its children: kastor escalates fatal errors
// (they wrap kastor.ErrFatal); the app restarts the producer a few times, then gives up.
func (a *app) HandleFailure(_ *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason interface{}, _ interface{}) {
	err, _ := reason.(error)
	if !errors.Is(err, kastor.ErrFatal) || a.restarts >= 3 {
		fmt.Fprintf(a.out, "supervisor: the producer failed (%v); stopping it\n", reason)
		supervisor.StopChildren(child)
		a.done <- fmt.Errorf("the producer failed: %v", reason)
		return
	}
	a.restarts++
	fmt.Fprintf(a.out, "supervisor: the producer failed (%v); restarting it\n", err)
	supervisor.RestartChildren(child)
}
