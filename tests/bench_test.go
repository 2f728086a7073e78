package tests

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kastor-go/kastor"
)

// BenchmarkRecordPath measures SendAsync → acknowledged for 100-byte records with null keys over 8
// partitions against an in-process kfake broker (acks=all, no compression, linger 5ms), next to
// franz-go's kgo doing the same in the same run, each with idempotence on (both libraries'
// default) and off; and actor users sending Produce by message to the producer spawned as their
// child (kastor-actor: one user actor; kastor-actor-4: four, sharing one producer). An actor user
// keeps at most 20,000 records in flight and sends the next one as each Delivered reply comes
// back. kfake's own CPU is included in all. Run with
//
//	go test ./tests -run xxx -bench RecordPath -benchmem -count 5
//
// ns/op is per record; records/s is reported as a metric.
func BenchmarkRecordPath(b *testing.B) {
	value := make([]byte, 100)
	for _, idempotent := range []bool{true, false} {
		name := map[bool]string{true: "idempotent", false: "plain"}[idempotent]
		b.Run("kastor/"+name, func(b *testing.B) {
			benchKastor(b, value, func(cfg *kastor.Config) { cfg.EnableIdempotence = idempotent })
		})
		b.Run("franz-go/"+name, func(b *testing.B) {
			opts := []kgo.Opt{kgo.ProducerLinger(5 * time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression())}
			if !idempotent {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			benchFranz(b, value, opts...)
		})
	}
	b.Run("kastor-actor", func(b *testing.B) { benchActors(b, 1, value, 0) })
	b.Run("kastor-actor-4", func(b *testing.B) { benchActors(b, 4, value, 0) })
	b.Run("kastor-actor-batch100", func(b *testing.B) { benchActors(b, 1, value, 100) })
}

func benchKastor(b *testing.B, value []byte, mutate func(*kastor.Config)) {
	c := benchCluster(b)
	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = c.ListenAddrs()
	mutate(&cfg)
	p, err := kastor.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	if _, err := p.Send(ctx, &kastor.Record{Topic: "bench", Value: value}); err != nil { // warm up metadata and connections
		b.Fatal(err)
	}
	measureAsync(b, func(done func(error)) {
		cb := func(_ kastor.RecordMetadata, err error) { done(err) }
		for i := 0; i < b.N; i++ {
			p.SendAsync(ctx, &kastor.Record{Topic: "bench", Value: value}, cb)
		}
	})
}

// measureAsync times produce, which sends b.N records and has each call done once, until every
// done was called; it reports allocations and records/s.
func measureAsync(b *testing.B, produce func(done func(error))) {
	var wg sync.WaitGroup
	wg.Add(b.N)
	done := func(err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	produce(done)
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

func benchFranz(b *testing.B, value []byte, opts ...kgo.Opt) {
	c := benchCluster(b)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "bench", Value: value}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	measureAsync(b, func(done func(error)) {
		cb := func(_ *kgo.Record, err error) { done(err) }
		for i := 0; i < b.N; i++ {
			cl.Produce(ctx, &kgo.Record{Topic: "bench", Value: value}, cb)
		}
	})
}

// benchApp is a user actor that produces its share of the records by message, with a window of
// records in flight: a Produce per record, or a ProduceBatch of batch records.
type benchApp struct {
	producer *actor.PID
	value    []byte
	batch    int
	n, sent  int
	received int
	failed   error
	done     chan<- error
}

type benchGo struct{ n int }

const benchWindow = 20_000

func (a *benchApp) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *benchGo:
		a.n, a.sent, a.received = m.n, 0, 0
		for a.sent < min(a.n, benchWindow) {
			a.produce(c)
		}
	case *kastor.ProducedBatch:
		a.received += len(m.Results)
		for i := range m.Results {
			if err := m.Results[i].Err; err != nil && a.failed == nil {
				a.failed = err
			}
		}
		for a.sent < a.n && a.sent-a.received < benchWindow {
			a.produce(c)
		}
		if a.received == a.n {
			a.done <- a.failed
		}
	case *kastor.Delivered:
		a.received++
		if m.Err != nil && a.failed == nil {
			a.failed = m.Err
		}
		if a.sent < a.n {
			a.produce(c)
		}
		if a.received == a.n {
			a.done <- a.failed
		}
	}
}

func (a *benchApp) produce(c actor.Context) {
	if a.batch > 0 {
		msg := &kastor.ProduceBatch{Records: make([]*kastor.Record, min(a.batch, a.n-a.sent))}
		for i := range msg.Records {
			msg.Records[i] = &kastor.Record{Topic: "bench", Value: a.value}
		}
		c.Request(a.producer, msg)
		a.sent += len(msg.Records)
		return
	}
	c.Request(a.producer, &kastor.Produce{Record: &kastor.Record{Topic: "bench", Value: a.value}, Correlation: uint64(a.sent)})
	a.sent++
}

// benchActors runs b.N records through Produce messages from senders user actors sharing one
// producer, spawned as the first one's child.
func benchActors(b *testing.B, senders int, value []byte, batch int) {
	c := benchCluster(b)
	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = c.ListenAddrs()
	props, err := kastor.Props(cfg)
	if err != nil {
		b.Fatal(err)
	}
	sys := actor.NewActorSystem(kastor.ActorSystemOptions(discardLogger())...)
	done := make(chan error, senders)
	stopped := make(chan struct{})
	var producer *actor.PID
	ready := make(chan struct{})
	parent := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			producer = ctx.Spawn(props)
			close(ready)
		case *actor.Stopped:
			close(stopped)
		}
	}))
	<-ready
	apps := make([]*actor.PID, senders)
	for i := range apps {
		apps[i] = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
			return &benchApp{producer: producer, value: value, batch: batch, done: done}
		}))
	}
	defer func() {
		for _, a := range apps {
			sys.Root.Stop(a)
		}
		sys.Root.Stop(parent)
		<-stopped
	}()
	sys.Root.Send(apps[0], &benchGo{n: 1}) // warm up metadata and connections
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i, a := range apps {
		n := b.N / senders
		if i == 0 {
			n += b.N % senders
		}
		if n == 0 {
			done <- nil
			continue
		}
		sys.Root.Send(a, &benchGo{n: n})
	}
	for range apps {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

func benchCluster(b *testing.B) *kfake.Cluster {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(8, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}
