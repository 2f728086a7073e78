package tests

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kastor-go/kastor"
)

// BenchmarkRecordPath measures SendAsync → acknowledged for 100-byte records with null keys over 8
// partitions against an in-process kfake broker (acks=all, no compression, linger 5ms), next to
// franz-go's kgo doing the same in the same run, each with idempotence on (both libraries'
// default) and off. kfake's own CPU is included in all. Run with
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

func benchCluster(b *testing.B) *kfake.Cluster {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(8, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}
