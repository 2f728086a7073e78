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
// franz-go's kgo doing the same in the same run. kfake's own CPU is included in both. Run with
//
//	go test ./tests -run xxx -bench RecordPath -benchmem
//
// ns/op is per record; records/s is reported as a metric.
func BenchmarkRecordPath(b *testing.B) {
	value := make([]byte, 100)
	b.Run("kastor", func(b *testing.B) {
		c := benchCluster(b)
		cfg := kastor.DefaultConfig()
		cfg.BootstrapServers = c.ListenAddrs()
		p, err := kastor.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close(context.Background())
		ctx := context.Background()
		if _, err := p.Send(ctx, &kastor.Record{Topic: "bench", Value: value}); err != nil { // warm up metadata and connections
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(b.N)
		done := func(_ kastor.RecordMetadata, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			p.SendAsync(ctx, &kastor.Record{Topic: "bench", Value: value}, done)
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	})
	b.Run("franz-go", func(b *testing.B) {
		c := benchCluster(b)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DisableIdempotentWrite(),
			kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		ctx := context.Background()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "bench", Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(b.N)
		done := func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			cl.Produce(ctx, &kgo.Record{Topic: "bench", Value: value}, done)
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
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
