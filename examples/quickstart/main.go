// Quickstart shows the basic kastor round trip: produce 10,000 keyed records with headers through
// SendAsync, flush, and read them back with an independent consumer (franz-go's kgo) to prove they
// arrived, printing per-partition counts and offsets and the throughput.
//
// With no flags it starts an embedded Kafka-protocol broker (kfake) in-process, so it runs on a
// fresh machine. Use -bootstrap-server host:port to produce to a real cluster instead (the topic
// must exist there). The first record that fails ends the run: it prints why on one line and
// exits with status 1 (with no broker, after -max-block).
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -bootstrap-server localhost:9092 -topic quickstart
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/sasl"
)

func main() {
	bootstrap := flag.String("bootstrap-server", "", "Kafka bootstrap server host:port (default: an embedded broker)")
	topic := flag.String("topic", "quickstart", "topic to produce to")
	n := flag.Int("num-records", 10_000, "records to produce")
	maxBlock := flag.Duration("max-block", 10*time.Second, "how long a send may wait for metadata (the producer's MaxBlock)")
	config := flag.String("producer.config", "", "a Java producer .properties file (security.protocol, sasl.*, ssl.*, ...); the flags above override it")
	flag.Parse()
	base := kastor.DefaultConfig()
	if *config != "" {
		var err error
		if base, err = kastor.LoadProperties(*config); err != nil {
			fmt.Fprintln(os.Stderr, "quickstart:", err)
			os.Exit(2)
		}
	}
	if err := runWith(base, *bootstrap, *topic, *n, *maxBlock); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(bootstrap, topic string, n int, maxBlock time.Duration) error {
	return runWith(kastor.DefaultConfig(), bootstrap, topic, n, maxBlock)
}

// runWith produces with base (from a properties file, or the defaults), then reads the records
// back with franz-go's kgo over the same TLS and SASL settings.
func runWith(base kastor.Config, bootstrap, topic string, n int, maxBlock time.Duration) error {
	if bootstrap == "" {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic))
		if err != nil {
			return err
		}
		defer cluster.Close()
		bootstrap = cluster.ListenAddrs()[0]
		fmt.Printf("embedded broker at %s, topic %q with 4 partitions\n", bootstrap, topic)
	}

	cfg := base
	cfg.BootstrapServers = []string{bootstrap}
	cfg.MaxBlock = maxBlock
	producer, err := kastor.New(cfg)
	if err != nil {
		return err
	}
	// The first failure cancels ctx with its error: the loop stops sending, and the run ends with
	// that one reason rather than one per record.
	ctx, fail := context.WithCancelCause(context.Background())
	defer fail(nil)
	abort := func(err error) error {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		producer.Close(closeCtx) // what is still pending fails; the first error is the news
		return err
	}

	var failed atomic.Int64
	var mu sync.Mutex
	firstOffset, lastOffset := map[int32]int64{}, map[int32]int64{}
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		rec := &kastor.Record{
			Topic:   topic,
			Key:     fmt.Appendf(nil, "user-%d", i%100),
			Value:   fmt.Appendf(nil, "event %d", i),
			Headers: []kastor.Header{{Key: "source", Value: []byte("quickstart")}},
		}
		producer.SendAsync(ctx, rec, func(md kastor.RecordMetadata, err error) {
			if err != nil {
				if failed.Add(1) == 1 {
					fail(fmt.Errorf("record %d: %w", i, err))
				}
				return
			}
			mu.Lock()
			if first, ok := firstOffset[md.Partition]; !ok || md.Offset < first {
				firstOffset[md.Partition] = md.Offset
			}
			lastOffset[md.Partition] = max(lastOffset[md.Partition], md.Offset)
			mu.Unlock()
		})
	}
	if err := producer.Flush(ctx); err != nil {
		return abort(context.Cause(ctx))
	}
	if ctx.Err() != nil {
		return abort(context.Cause(ctx))
	}
	elapsed := time.Since(start)
	if err := producer.Close(ctx); err != nil {
		return err
	}
	fmt.Printf("produced %d records in %v (%.0f records/s)\n", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())

	counts, err := readBack(cfg, bootstrap, topic, firstOffset, lastOffset)
	if err != nil {
		return err
	}
	parts := make([]int32, 0, len(counts))
	total := 0
	for p := range counts {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		fmt.Printf("partition %d: %d records read back, last offset %d\n", p, counts[p], lastOffset[p])
		total += counts[p]
	}
	if total != n {
		return fmt.Errorf("read back %d records, produced %d", total, n)
	}
	fmt.Printf("all %d records arrived\n", total)
	return nil
}

// readBack consumes each partition between the first and last offsets the producer reported and
// counts what it reads, over cfg's TLS and SASL settings.
func readBack(cfg kastor.Config, bootstrap, topic string, firstOffset, lastOffset map[int32]int64) (map[int32]int, error) {
	offsets := map[int32]kgo.Offset{}
	for p, o := range firstOffset {
		offsets[p] = kgo.NewOffset().At(o)
	}
	opts := []kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})}
	if cfg.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg.TLS.Clone()))
	}
	switch m := cfg.SASL.(type) {
	case nil:
	case sasl.Plain:
		opts = append(opts, kgo.SASL(plain.Auth{User: m.User, Pass: m.Pass}.AsMechanism()))
	case sasl.ScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: m.User, Pass: m.Pass}.AsSha256Mechanism()))
	case sasl.ScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: m.User, Pass: m.Pass}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("reading back with SASL %s is not supported here", cfg.SASL.Name())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	counts := map[int32]int{}
	done := map[int32]bool{}
	for len(done) < len(lastOffset) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading back: %w", err)
		}
		if err := fs.Err0(); err != nil {
			return nil, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset > lastOffset[r.Partition] {
				return
			}
			if len(r.Headers) == 1 && string(r.Headers[0].Value) == "quickstart" {
				counts[r.Partition]++
			}
			if r.Offset == lastOffset[r.Partition] {
				done[r.Partition] = true
			}
		})
	}
	return counts, nil
}
