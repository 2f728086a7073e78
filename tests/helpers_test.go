package tests

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kastor-go/kastor"
)

func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// testLogger shows kastor's warnings and errors in test output (set KASTOR_DEBUG=1 for more).
func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("KASTOR_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newProducer starts a producer on c; mutate adjusts the config. The producer is closed at the end
// of the test (a second Close is harmless).
func newProducer(t *testing.T, c *kfake.Cluster, mutate func(*kastor.Config)) *kastor.Producer {
	t.Helper()
	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = c.ListenAddrs()
	cfg.Logger = testLogger()
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := kastor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

// consumeAll reads every record of topic up to the current high watermarks with a fresh kgo client
// (opts add to its options: TLS, SASL).
func consumeAll(t *testing.T, c *kfake.Cluster, topic string, opts ...kgo.Opt) map[int32][]*kgo.Record {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	want := int64(0)
	for _, p := range c.PartitionInfos(topic) {
		offsets[p.Partition] = kgo.NewOffset().AtStart()
		want += p.HighWatermark
	}
	out := map[int32][]*kgo.Record{}
	if want == 0 {
		return out
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(64 << 20)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := int64(0)
	for got < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", got, want, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], r)
			got++
		})
	}
	return out
}

// completions records every callback, so a test can check each record completed exactly once.
type completions struct {
	mu      sync.Mutex
	results map[int]result
	twice   []int
	wg      sync.WaitGroup
}

type result struct {
	md  kastor.RecordMetadata
	err error
}

func newCompletions() *completions { return &completions{results: map[int]result{}} }

// callback returns the callback for record i; the test must call it for every i once.
func (c *completions) callback(i int) func(kastor.RecordMetadata, error) {
	c.wg.Add(1)
	return func(md kastor.RecordMetadata, err error) {
		c.mu.Lock()
		if _, dup := c.results[i]; dup {
			c.twice = append(c.twice, i)
			c.mu.Unlock()
			return
		}
		c.results[i] = result{md, err}
		c.mu.Unlock()
		c.wg.Done()
	}
}

// wait waits for every callback, failing the test after d; then checks none ran twice.
func (c *completions) wait(t *testing.T, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		c.mu.Lock()
		n := len(c.results)
		c.mu.Unlock()
		t.Fatalf("only %d callbacks ran within %v", n, d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.twice) > 0 {
		t.Fatalf("callbacks ran twice for records %v", c.twice[:min(10, len(c.twice))])
	}
}

func (c *completions) get(i int) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.results[i]
}

func value(i int) []byte { return fmt.Appendf(nil, "record-%08d", i) }
