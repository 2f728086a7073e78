package tests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor"
)

// Transactions end to end: a transactional kastor producer against kfake, what it wrote read back
// with kgo at both isolation levels. Each test runs on both transaction protocols: v2 (KIP-890,
// kfake's default) and the classic one (transaction.version downgraded to 1, so the producer
// must add partitions and offsets with AddPartitionsToTxn / AddOffsetsToTxn).

var txnProtocols = []string{"classic", "v2"}

// txnCluster starts a cluster speaking the given transaction protocol.
func txnCluster(t *testing.T, protocol string, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c := newCluster(t, opts...)
	if protocol == "v2" {
		return c
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrUpdateFeaturesRequest()
	u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
	u.Feature, u.MaxVersionLevel, u.AllowDowngrade, u.UpgradeType = "transaction.version", 1, true, 2 // safe downgrade
	req.FeatureUpdates = append(req.FeatureUpdates, u)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("UpdateFeatures: error %d", resp.ErrorCode)
	}
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range av.FinalizedFeatures {
		if f.Name == "transaction.version" && f.MaxVersionLevel >= 2 {
			t.Fatalf("transaction.version still %d", f.MaxVersionLevel)
		}
	}
	return c
}

func newTxnProducer(t *testing.T, c *kfake.Cluster, id string, mutate func(*kastor.Config)) *kastor.Producer {
	t.Helper()
	return newProducer(t, c, func(cfg *kastor.Config) {
		cfg.TransactionalID = id
		cfg.RetryBackoff = 10 * time.Millisecond
		cfg.RetryBackoffMax = 100 * time.Millisecond
		if mutate != nil {
			mutate(cfg)
		}
	})
}

// readTxn reads topic at the isolation level until it has seen every value of lasts, and
// returns the values by partition.
func readTxn(t *testing.T, c *kfake.Cluster, topic string, committed bool, lasts ...string) map[int32][]string {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[int32][]string{}
	for seen := 0; seen < len(lasts); {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%q never arrived (committed %v); read %v", lasts, committed, out)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], string(r.Value))
			if slices.Contains(lasts, string(r.Value)) {
				seen++
			}
		})
	}
	return out
}

// sendAll sends the values to topic's partitions in turn (partition i%parts) and waits for them.
func sendAll(t *testing.T, p *kastor.Producer, topic string, parts int, values ...string) {
	t.Helper()
	errs := make(chan error, len(values))
	for i, v := range values {
		p.SendAsync(context.Background(), &kastor.Record{Topic: topic, Partition: kastor.PartitionOf(int32(i % parts)), Value: []byte(v)},
			func(_ kastor.RecordMetadata, err error) { errs <- err })
	}
	for range values {
		if err := <-errs; err != nil {
			t.Fatalf("send: %v", err)
		}
	}
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// A committed transaction is visible to read_committed; an aborted one is not, but is to
// read_uncommitted; a later commit still works after an abort.
func TestTransactionCommitAndAbort(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			c := txnCluster(t, protocol, kfake.NumBrokers(2), kfake.SeedTopics(3, "out"))
			p := newTxnProducer(t, c, "commit-abort", nil)
			ctx := context.Background()
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			// Records left to linger: the commit flushes them.
			for _, v := range values("c1", 6) {
				p.SendAsync(ctx, &kastor.Record{Topic: "out", Value: []byte(v)}, nil)
			}
			if err := p.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, "out", 3, values("a2", 6)...)
			if err := p.AbortTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, "out", 3, "end-0", "end-1", "end-2")
			if err := p.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}

			committed := readTxn(t, c, "out", true, "end-0", "end-1", "end-2")
			var all []string
			for _, vs := range committed {
				all = append(all, vs...)
			}
			slices.Sort(all)
			want := append(values("c1", 6), "end-0", "end-1", "end-2")
			slices.Sort(want)
			if !slices.Equal(all, want) {
				t.Fatalf("read_committed: %v, want %v", all, want)
			}
			uncommitted := readTxn(t, c, "out", false, "end-0", "end-1", "end-2")
			n := 0
			for _, vs := range uncommitted {
				n += len(vs)
				for _, v := range vs {
					if v == "a2-0" {
						n += 1000
					}
				}
			}
			if n != 1015 {
				t.Fatalf("read_uncommitted: %v", uncommitted)
			}
		})
	}
}

// Sending outside a transaction is refused, and so is every transactional method in the wrong
// state; a producer without a TransactionalID has none of them.
func TestTransactionStateErrors(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "out"))
	ctx := context.Background()
	plain := newProducer(t, c, nil)
	if err := plain.InitTransactions(ctx); !errors.Is(err, kastor.ErrTransactionState) {
		t.Fatalf("InitTransactions without a TransactionalID: %v", err)
	}
	if err := plain.BeginTransaction(); !errors.Is(err, kastor.ErrTransactionState) {
		t.Fatalf("BeginTransaction without a TransactionalID: %v", err)
	}

	p := newTxnProducer(t, c, "states", nil)
	if err := p.BeginTransaction(); !errors.Is(err, kastor.ErrTransactionState) {
		t.Fatalf("BeginTransaction before InitTransactions: %v", err)
	}
	if _, err := p.Send(ctx, &kastor.Record{Topic: "out", Value: []byte("x")}); !errors.Is(err, kastor.ErrTransactionState) {
		t.Fatalf("send before InitTransactions: %v", err)
	}
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, &kastor.Record{Topic: "out", Value: []byte("x")}); !errors.Is(err, kastor.ErrTransactionState) {
		t.Fatalf("send outside a transaction: %v", err)
	}
	if err := p.CommitTransaction(ctx); !errors.Is(err, kastor.ErrTransactionState) {
		t.Fatalf("commit outside a transaction: %v", err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); !errors.Is(err, kastor.ErrTransactionState) {
		t.Fatalf("BeginTransaction twice: %v", err)
	}
	if _, err := p.Send(ctx, &kastor.Record{Topic: "out", Value: []byte("in")}); err != nil {
		t.Fatal(err)
	}
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, &kastor.Record{Topic: "out", Value: []byte("after")}); !errors.Is(err, kastor.ErrTransactionState) {
		t.Fatalf("send after the commit: %v", err)
	}
	if got := readTxn(t, c, "out", true, "in"); !slices.Equal(got[0], []string{"in"}) {
		t.Fatalf("read_committed: %v", got)
	}
}
