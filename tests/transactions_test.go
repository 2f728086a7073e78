package tests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
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

// txnReader is a kgo consumer of c, reading committed records only (read_committed) or all.
func txnReader(t *testing.T, c *kfake.Cluster, committed bool, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// txnEnd is the call that ends p's transaction: a commit or an abort.
func txnEnd(p *kastor.Producer, commit bool) func(context.Context) error {
	if commit {
		return p.CommitTransaction
	}
	return p.AbortTransaction
}

// readTxn reads topic at the isolation level until it has seen every value of lasts, and
// returns the values by partition.
func readTxn(t *testing.T, c *kfake.Cluster, topic string, committed bool, lasts ...string) map[int32][]string {
	t.Helper()
	cl := txnReader(t, c, committed, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
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
			// Every Produce request names the transactional id, and the classic protocol never
			// sends the versions that announce transactions v2 (12+).
			var mu sync.Mutex
			var produceVersions []int16
			var produceIDs []string
			c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				mu.Lock()
				defer mu.Unlock()
				produceVersions = append(produceVersions, req.GetVersion())
				id := "<none>"
				if tid := req.(*kmsg.ProduceRequest).TransactionID; tid != nil {
					id = *tid
				}
				produceIDs = append(produceIDs, id)
				return nil, nil, false
			})
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
			mu.Lock()
			defer mu.Unlock()
			for i, v := range produceVersions {
				if produceIDs[i] != "commit-abort" || (protocol == "classic" && v > 11) || (protocol == "v2" && v < 12) {
					t.Fatalf("Produce v%d with transactional id %q", v, produceIDs[i])
				}
			}
			if len(produceVersions) == 0 {
				t.Fatal("no Produce request seen")
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

	// A transactional producer is idempotent: turning idempotence off is a config error (Java's).
	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = c.ListenAddrs()
	cfg.TransactionalID, cfg.EnableIdempotence = "states", false
	if _, err := kastor.New(cfg); !errors.Is(err, kastor.ErrInvalidConfig) || !strings.Contains(err.Error(), "TransactionalID") {
		t.Fatalf("New with a TransactionalID and no idempotence: %v", err)
	}
	if _, _, err := kastor.ParseProperties(map[string]string{"bootstrap.servers": "k:9092", "transactional.id": "t", "acks": "1"}); !errors.Is(err, kastor.ErrInvalidProperties) {
		t.Fatalf("transactional.id with acks=1: %v", err)
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

// committedOffset is the group's committed offset for topic-partition, read with kgo.
func committedOffset(t *testing.T, c *kfake.Cluster, group, topic string, partition int32) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("OffsetFetch: error %d", resp.ErrorCode)
	}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if rt.Topic == topic && p.Partition == partition {
				return p.Offset
			}
		}
	}
	t.Fatalf("no offset for %s-%d: %+v", topic, partition, resp)
	return 0
}

// Offsets sent in a committed transaction become the group's committed offsets; those of an
// aborted one do not.
func TestTransactionSendOffsets(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			c := txnCluster(t, protocol, kfake.NumBrokers(3), kfake.SeedTopics(1, "out"), kfake.SeedTopics(2, "in"))
			p := newTxnProducer(t, c, "offsets", nil)
			ctx := context.Background()
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			group := kastor.NewConsumerGroupMetadata("copiers")
			txn := func(value string, offset int64, commit bool) {
				t.Helper()
				if err := p.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				sendAll(t, p, "out", 1, value)
				offsets := map[kastor.TopicPartition]kastor.OffsetAndMetadata{
					{Topic: "in", Partition: 0}: {Offset: offset, LeaderEpoch: -1},
					{Topic: "in", Partition: 1}: {Offset: offset + 1, LeaderEpoch: -1, Metadata: "m"},
				}
				if err := p.SendOffsetsToTransaction(ctx, offsets, group); err != nil {
					t.Fatal(err)
				}
				end := txnEnd(p, commit)
				if err := end(ctx); err != nil {
					t.Fatal(err)
				}
			}
			txn("one", 42, true)
			txn("two", 99, false)
			if got := readTxn(t, c, "out", true, "one"); !slices.Equal(got[0], []string{"one"}) {
				t.Fatalf("read_committed: %v", got)
			}
			if o := committedOffset(t, c, "copiers", "in", 0); o != 42 {
				t.Fatalf("committed offset of in-0: %d, want 42 (the aborted 99 must not count)", o)
			}
			if o := committedOffset(t, c, "copiers", "in", 1); o != 43 {
				t.Fatalf("committed offset of in-1: %d, want 43", o)
			}
		})
	}
}

// A second producer with the same transactional id fences the first: the first fails for good
// on its next operation, says why, and nothing it sent becomes visible.
func TestTransactionFenced(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			c := txnCluster(t, protocol, kfake.NumBrokers(1), kfake.SeedTopics(1, "out"))
			ctx := context.Background()
			first := newTxnProducer(t, c, "same", func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
			if err := first.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := first.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, first, "out", 1, "zombie-1")

			second := newTxnProducer(t, c, "same", nil)
			if err := second.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}

			// The zombie's next record is refused by the broker, and its commit fails for good.
			var sendErr error
			done := make(chan struct{})
			first.SendAsync(ctx, &kastor.Record{Topic: "out", Value: []byte("zombie-2")}, func(_ kastor.RecordMetadata, err error) {
				sendErr = err
				close(done)
			})
			err := first.CommitTransaction(ctx)
			<-done
			fenced := func(err error) bool {
				return errors.Is(err, kastor.ErrFatal) && (errors.Is(err, kastor.ErrProducerFenced) ||
					errors.Is(err, kastor.ErrInvalidProducerEpoch) || errors.Is(err, kastor.ErrInvalidTxnState))
			}
			if !fenced(err) {
				t.Fatalf("commit after being fenced: %v", err)
			}
			if sendErr == nil {
				t.Fatal("the fenced producer's record succeeded")
			}
			// It stays failed, and says why.
			if err := first.BeginTransaction(); !fenced(err) {
				t.Fatalf("begin after the fence: %v", err)
			}
			if _, err := first.Send(ctx, &kastor.Record{Topic: "out", Value: []byte("zombie-3")}); !fenced(err) {
				t.Fatalf("send after the fence: %v", err)
			}
			if err := first.AbortTransaction(ctx); !fenced(err) {
				t.Fatalf("abort after the fence: %v", err)
			}

			if err := second.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, second, "out", 1, "live")
			if err := second.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			if got := readTxn(t, c, "out", true, "live"); !slices.Equal(got[0], []string{"live"}) {
				t.Fatalf("read_committed: %v", got)
			}
		})
	}
}

// Close with an open transaction aborts it: its records never become visible to read_committed,
// and do not hold back what others commit after it (an open transaction would, until it timed
// out).
func TestTransactionCloseAborts(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			c := txnCluster(t, protocol, kfake.NumBrokers(1), kfake.SeedTopics(2, "out"))
			ctx := context.Background()
			p := newTxnProducer(t, c, "closing", nil)
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, "out", 2, "open-0", "open-1")
			if err := p.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); !errors.Is(err, kastor.ErrProducerClosed) {
				t.Fatalf("begin after close: %v", err)
			}

			other := newTxnProducer(t, c, "other", nil)
			if err := other.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := other.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, other, "out", 2, "end-0", "end-1")
			if err := other.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			got := readTxn(t, c, "out", true, "end-0", "end-1")
			if !slices.Equal(got[0], []string{"end-0"}) || !slices.Equal(got[1], []string{"end-1"}) {
				t.Fatalf("read_committed: %v", got)
			}
			all := readTxn(t, c, "out", false, "end-0", "end-1")
			if !slices.Equal(all[0], []string{"open-0", "end-0"}) || !slices.Equal(all[1], []string{"open-1", "end-1"}) {
				t.Fatalf("read_uncommitted: %v", all)
			}
		})
	}
}

// Records of an aborted transaction that were never sent fail with ErrTransactionAborted, each
// once; the producer goes on with the next transaction, whose commit sends the records still
// lingering before it commits.
func TestTransactionAbortUnsent(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			c := txnCluster(t, protocol, kfake.NumBrokers(1), kfake.SeedTopics(2, "out"))
			ctx := context.Background()
			p := newTxnProducer(t, c, "unsent", func(cfg *kastor.Config) {
				cfg.Linger = time.Minute // nothing is sent before the abort
				cfg.DeliveryTimeout = 2 * time.Minute
			})
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			comp := newCompletions()
			for i := range 10 {
				p.SendAsync(ctx, &kastor.Record{Topic: "out", Partition: kastor.PartitionOf(int32(i % 2)), Value: value(i)}, comp.callback(i))
			}
			if err := p.AbortTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			comp.wait(t, 10*time.Second)
			for i := range 10 {
				if err := comp.get(i).err; !errors.Is(err, kastor.ErrTransactionAborted) {
					t.Fatalf("record %d: %v", i, err)
				}
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			// Left to linger for a minute: the commit flushes it first.
			next := make(chan error, 1)
			p.SendAsync(ctx, &kastor.Record{Topic: "out", Partition: kastor.PartitionOf(1), Value: []byte("next")},
				func(_ kastor.RecordMetadata, err error) { next <- err })
			if err := p.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-next:
				if err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatal("the commit returned before its record completed")
			}
			if got := readTxn(t, c, "out", true, "next"); !slices.Equal(got[1], []string{"next"}) || len(got[0]) != 0 {
				t.Fatalf("read_committed: %v", got)
			}
		})
	}
}

// The same operations as messages, for actor users: each is answered with one TransactionDone;
// a commit goes behind the Produce messages sent before it (here still waiting for the topic's
// metadata), so they are in the transaction; a Produce outside a transaction is refused.
func TestTransactionActorMessages(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"), kfake.SeedTopics(1, "in"))
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.TransactionalID = "actor"
	a := startApp(t, sys, cfg, actor.StopDirective)
	done := func(corr uint64) {
		t.Helper()
		if d := next[*kastor.TransactionDone](t, a); d.Correlation != corr || d.Err != nil {
			t.Fatalf("TransactionDone %+v, want correlation %d and no error", d, corr)
		}
	}
	a.sys.Root.Send(a.pid, &request{&kastor.InitTransactions{Correlation: 1}})
	done(1)
	a.sys.Root.Send(a.pid, &request{&kastor.BeginTransaction{Correlation: 2}})
	done(2)
	const n = 50
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", n: n})
	a.sys.Root.Send(a.pid, &request{&kastor.SendOffsetsToTransaction{Correlation: 3, Group: kastor.NewConsumerGroupMetadata("g"),
		Offsets: map[kastor.TopicPartition]kastor.OffsetAndMetadata{{Topic: "in", Partition: 0}: {Offset: 7, LeaderEpoch: -1}}}})
	a.sys.Root.Send(a.pid, &request{&kastor.CommitTransaction{Correlation: 4}})
	delivered, dones := 0, map[uint64]bool{}
	for delivered < n || len(dones) < 2 {
		switch m := next[any](t, a).(type) {
		case *kastor.Delivered:
			if m.Err != nil {
				t.Fatalf("record %d: %v", m.Correlation, m.Err)
			}
			if dones[4] {
				t.Fatalf("record %d answered after the commit", m.Correlation)
			}
			delivered++
		case *kastor.TransactionDone:
			if m.Err != nil {
				t.Fatalf("TransactionDone %+v", m)
			}
			dones[m.Correlation] = true
		default:
			t.Fatalf("unexpected %T", m)
		}
	}
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", from: n, n: 1})
	if d := next[*kastor.Delivered](t, a); !errors.Is(d.Err, kastor.ErrTransactionState) {
		t.Fatalf("Produce outside a transaction: %v", d.Err)
	}
	all := make([]string, n)
	for i := range all {
		all[i] = string(value(i))
	}
	got := readTxn(t, c, "t", true, all...)
	if len(got[0])+len(got[1]) != n {
		t.Fatalf("read_committed %d records, want %d", len(got[0])+len(got[1]), n)
	}
	if o := committedOffset(t, c, "g", "in", 0); o != 7 {
		t.Fatalf("committed offset %d, want 7", o)
	}
}

// The transaction coordinator moves while a transaction is open, and the first EndTxn is refused
// with a retriable error: the commit finds the coordinator again, retries, and commits exactly
// the transaction's records.
func TestTransactionCoordinatorMovesDuringCommit(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			c := txnCluster(t, protocol, kfake.NumBrokers(3), kfake.SeedTopics(2, "out"))
			ctx := context.Background()
			p := newTxnProducer(t, c, "mover", nil)
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, "out", 2, values("m", 6)...)
			before := c.CoordinatorFor("mover")
			for range 100 {
				if c.RehashCoordinators(); c.CoordinatorFor("mover") != before {
					break
				}
			}
			if c.CoordinatorFor("mover") == before {
				t.Fatal("the coordinator never moved")
			}
			refused := 0
			c.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if refused > 0 {
					return nil, nil, false
				}
				refused++
				resp := kmsg.NewPtrEndTxnResponse()
				resp.ErrorCode = kerr.ConcurrentTransactions.Code
				return resp, nil, true
			})
			if err := p.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			if refused != 1 {
				t.Fatalf("EndTxn refused %d times", refused)
			}
			got := readTxn(t, c, "out", true, "m-4", "m-5")
			if !slices.Equal(got[0], []string{"m-0", "m-2", "m-4"}) || !slices.Equal(got[1], []string{"m-1", "m-3", "m-5"}) {
				t.Fatalf("read_committed: %v", got)
			}
		})
	}
}

// A batch of the transaction fails for good (the broker refuses the topic): the commit fails
// with that error and must be aborted; after the abort (which bumps the epoch, the partition's
// sequences being unknown) the next transaction commits.
func TestTransactionRecordFailureRequiresAbort(t *testing.T) {
	for _, tc := range []struct {
		protocol string
		code     *kerr.Error
	}{{"classic", kerr.TopicAuthorizationFailed}, {"v2", kerr.TopicAuthorizationFailed},
		{"classic", kerr.OutOfOrderSequenceNumber}, {"v2", kerr.OutOfOrderSequenceNumber}} {
		protocol := tc.protocol
		t.Run(protocol+"/"+tc.code.Message, func(t *testing.T) {
			c := txnCluster(t, protocol, kfake.NumBrokers(1), kfake.SeedTopics(1, "out"))
			ctx := context.Background()
			p := newTxnProducer(t, c, "failing", func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, "out", 1, "ok-1")
			c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
				preq := req.(*kmsg.ProduceRequest)
				resp := preq.ResponseKind().(*kmsg.ProduceResponse)
				for _, rt := range preq.Topics {
					st := kmsg.NewProduceResponseTopic()
					st.Topic, st.TopicID = rt.Topic, rt.TopicID
					for _, rp := range rt.Partitions {
						sp := kmsg.NewProduceResponseTopicPartition()
						sp.Partition, sp.ErrorCode = rp.Partition, tc.code.Code
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				return resp, nil, true
			})
			refused := kastor.KafkaError{Code: tc.code.Code}
			if _, err := p.Send(ctx, &kastor.Record{Topic: "out", Value: []byte("refused")}); !errors.Is(err, &refused) {
				t.Fatalf("refused record: %v", err)
			}
			if err := p.CommitTransaction(ctx); !errors.Is(err, &refused) || errors.Is(err, kastor.ErrFatal) {
				t.Fatalf("commit: %v", err)
			}
			if _, err := p.Send(ctx, &kastor.Record{Topic: "out", Value: []byte("late")}); !errors.Is(err, kastor.ErrTransactionState) {
				t.Fatalf("send after the failed commit: %v", err)
			}
			if err := p.BeginTransaction(); !errors.Is(err, kastor.ErrTransactionState) {
				t.Fatalf("begin before the abort: %v", err)
			}
			if err := p.AbortTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, "out", 1, "ok-2")
			if err := p.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			if got := readTxn(t, c, "out", true, "ok-2"); !slices.Equal(got[0], []string{"ok-2"}) {
				t.Fatalf("read_committed: %v", got)
			}
		})
	}
}

// Ten transactions, every third aborted, each of records sent by four goroutines at once to three
// partitions: read_committed holds exactly the committed records, each once, and each
// goroutine's records of a partition in the order it sent them.
func TestTransactionsConcurrentSenders(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			c := txnCluster(t, protocol, kfake.NumBrokers(3), kfake.SeedTopics(3, "out"))
			ctx := context.Background()
			p := newTxnProducer(t, c, "busy", func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			const txns, senders, perSender = 10, 4, 50
			var want []string
			var mu sync.Mutex
			for n := range txns {
				if err := p.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				commit := n%3 != 2
				var wg sync.WaitGroup
				var failed sync.Map
				for g := range senders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range perSender {
							v := fmt.Sprintf("t%02d-g%d-%03d", n, g, i)
							p.SendAsync(ctx, &kastor.Record{Topic: "out", Partition: kastor.PartitionOf(int32(i % 3)), Value: []byte(v)},
								func(_ kastor.RecordMetadata, err error) {
									if err != nil && commit {
										failed.Store(v, err)
									}
								})
							if commit {
								mu.Lock()
								want = append(want, v)
								mu.Unlock()
							}
						}
					}()
				}
				wg.Wait()
				end := txnEnd(p, commit)
				if err := end(ctx); err != nil {
					t.Fatalf("transaction %d: %v", n, err)
				}
				failed.Range(func(k, v any) bool {
					t.Fatalf("record %v of a committed transaction: %v", k, v)
					return false
				})
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, "out", 3, "end-0", "end-1", "end-2")
			if err := p.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			got := readTxn(t, c, "out", true, "end-0", "end-1", "end-2")
			var all []string
			for part, vs := range got {
				last := map[string]string{} // per transaction and goroutine: the last value seen
				for _, v := range vs {
					if strings.HasPrefix(v, "end-") {
						continue
					}
					all = append(all, v)
					key := v[:len("t00-g0")]
					if prev, ok := last[key]; ok && prev >= v {
						t.Fatalf("partition %d: %s after %s", part, v, prev)
					}
					last[key] = v
				}
			}
			slices.Sort(all)
			slices.Sort(want)
			if !slices.Equal(all, want) {
				t.Fatalf("read_committed holds %d records, want %d (first differences: %v)", len(all), len(want), firstDiff(all, want))
			}
		})
	}
}

// firstDiff says where got first differs from want.
func firstDiff[T comparable](got, want []T) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: %v, want %v", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d, want %d", len(got), len(want))
}

// BenchmarkTransactionRecordPath is BenchmarkRecordPath's kastor/idempotent case next to the same
// records sent inside one transaction each b.N (begin, SendAsync b.N times, commit): the cost of
// the transaction gate on the record path. Run with
//
//	go test ./tests -run xxx -bench TransactionRecordPath -benchmem -count 5
func BenchmarkTransactionRecordPath(b *testing.B) {
	value := make([]byte, 100)
	b.Run("idempotent", func(b *testing.B) {
		benchKastor(b, value, func(cfg *kastor.Config) {})
	})
	b.Run("transactional", func(b *testing.B) {
		c := benchCluster(b)
		cfg := kastor.DefaultConfig()
		cfg.BootstrapServers = c.ListenAddrs()
		cfg.TransactionalID = "bench"
		p, err := kastor.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close(context.Background())
		ctx := context.Background()
		if err := p.InitTransactions(ctx); err != nil {
			b.Fatal(err)
		}
		if err := p.BeginTransaction(); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Send(ctx, &kastor.Record{Topic: "bench", Value: value}); err != nil { // warm up
			b.Fatal(err)
		}
		measureAsync(b, func(done func(error)) {
			cb := func(_ kastor.RecordMetadata, err error) { done(err) }
			for i := 0; i < b.N; i++ {
				p.SendAsync(ctx, &kastor.Record{Topic: "bench", Value: value}, cb)
			}
			if err := p.CommitTransaction(ctx); err != nil {
				b.Error(err)
			}
		})
	})
}

// Transactions under faults: leaders move, and some Produce, AddPartitionsToTxn and EndTxn requests
// lose their connection (before the broker applies them, or after, the answer lost). Twenty
// transactions of 200 records, every third aborted: read_committed holds exactly the committed
// records, each once, in send order per partition.
func TestTransactionsUnderFaults(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			c := txnCluster(t, protocol, kfake.NumBrokers(3), kfake.SeedTopics(2, "out"))
			var calls, moves atomic.Int64
			for _, key := range []kmsg.Key{kmsg.Produce, kmsg.EndTxn, kmsg.AddPartitionsToTxn} {
				c.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
					c.KeepControl()
					n := calls.Add(1)
					switch n % 17 {
					case 3: // dropped before the broker applies it
						return nil, errors.New("drop"), true
					case 11: // applied after the client gave up on it: the answer is lost
						if protocol == "classic" && key == kmsg.EndTxn {
							// The classic protocol's known hazard (fixed by KIP-890's epoch bump per
							// transaction): a late EndTxn of the same epoch would end the next
							// transaction. Not a fault a client can survive.
							break
						}
						c.SleepControl(func() { time.Sleep(400 * time.Millisecond) })
					}
					return nil, nil, false
				})
			}
			ctx := context.Background()
			p := newTxnProducer(t, c, "faulty", func(cfg *kastor.Config) {
				cfg.Logger = discardLogger()
				cfg.DeliveryTimeout = 10 * time.Second // a stuck partition fails the test soon
				cfg.ReconnectBackoff = 5 * time.Millisecond
				cfg.RequestTimeout = 250 * time.Millisecond
			})
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			moved := make(chan struct{})
			go func() {
				defer close(moved)
				for {
					select {
					case <-stop:
						return
					case <-time.After(40 * time.Millisecond):
					}
					part := int32(calls.Load() % 2)
					if c.MoveTopicPartition("out", part, (c.LeaderFor("out", part)+1)%3) == nil {
						moves.Add(1)
					}
				}
			}()
			var want []string
			for n := range 20 {
				if err := p.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				commit := n%3 != 2
				vs := values(fmt.Sprintf("t%02d", n), 200)
				for i, v := range vs {
					vs[i] = fmt.Sprintf("%s-%03d", v[:3], i)
				}
				errs := make(chan error, len(vs))
				for i, v := range vs {
					p.SendAsync(ctx, &kastor.Record{Topic: "out", Partition: kastor.PartitionOf(int32(i % 2)), Value: []byte(v)},
						func(_ kastor.RecordMetadata, err error) { errs <- err })
				}
				end := txnEnd(p, commit)
				if commit {
					want = append(want, vs...)
				}
				if err := end(ctx); err != nil {
					t.Fatalf("transaction %d (commit %v): %v", n, commit, err)
				}
				for range vs {
					if err := <-errs; err != nil && commit {
						t.Fatalf("transaction %d: a record failed: %v", n, err)
					}
				}
			}
			close(stop)
			<-moved
			if moves.Load() == 0 || calls.Load() < 3*17 {
				t.Fatalf("%d leader moves, %d requests seen: the faults did not happen", moves.Load(), calls.Load())
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, "out", 2, "end-0", "end-1")
			if err := p.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			got := readTxn(t, c, "out", true, "end-0", "end-1")
			var all []string
			for part, vs := range got {
				vs = vs[:len(vs)-1] // end-N
				if !slices.IsSorted(vs) {
					t.Fatalf("partition %d out of order: %v", part, vs)
				}
				all = append(all, vs...)
			}
			slices.Sort(all)
			slices.Sort(want)
			if !slices.Equal(all, want) {
				t.Fatalf("read_committed holds %d records, want %d (%s)", len(all), len(want), firstDiff(all, want))
			}
		})
	}
}

// The Close message of actor users aborts an open transaction too: what it sent never becomes
// visible to read_committed, and does not hold back what others commit after it.
func TestTransactionActorCloseAborts(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.TransactionalID = "actor-close"
	a := startApp(t, sys, cfg, actor.StopDirective)
	a.sys.Root.Send(a.pid, &request{&kastor.InitTransactions{Correlation: 1}})
	a.sys.Root.Send(a.pid, &request{&kastor.BeginTransaction{Correlation: 2}})
	for range 2 {
		if d := next[*kastor.TransactionDone](t, a); d.Err != nil {
			t.Fatal(d.Err)
		}
	}
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", n: 10})
	for range 10 {
		if d := next[*kastor.Delivered](t, a); d.Err != nil {
			t.Fatal(d.Err)
		}
	}
	a.sys.Root.Send(a.pid, &request{&kastor.Close{}})
	next[*kastor.Closed](t, a)

	other := newTxnProducer(t, c, "other", nil)
	ctx := context.Background()
	if err := other.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	sendAll(t, other, "t", 1, "end")
	if err := other.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readTxn(t, c, "t", true, "end"); !slices.Equal(got[0], []string{"end"}) {
		t.Fatalf("read_committed: %v", got)
	}
	if all := readTxn(t, c, "t", false, "end"); len(all[0]) != 11 {
		t.Fatalf("read_uncommitted: %v", all)
	}
}

// A commit whose caller stops waiting goes on, and calling CommitTransaction again waits for its
// result (Java's): the transaction commits once.
func TestTransactionCommitAgainAfterTimeout(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "out"))
	p := newTxnProducer(t, c, "slow-commit", nil)
	ctx := context.Background()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	sendAll(t, p, "out", 1, "once")
	var endTxns atomic.Int32
	c.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		endTxns.Add(1)
		c.SleepControl(func() { time.Sleep(300 * time.Millisecond) })
		return nil, nil, false
	})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := p.CommitTransaction(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("commit with a short deadline: %v", err)
	}
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatalf("commit again: %v", err)
	}
	if n := endTxns.Load(); n != 1 {
		t.Fatalf("%d EndTxn requests, want 1", n)
	}
	if got := readTxn(t, c, "out", true, "once"); !slices.Equal(got[0], []string{"once"}) {
		t.Fatalf("read_committed: %v", got)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatalf("begin after the commit: %v", err)
	}
}

// A transactional producer that failed for good (here: InitTransactions refused with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED) escalates to its supervisor; restarted, it starts
// uninitialized, and InitTransactions, a transaction and its commit work.
func TestTransactionActorRestartedBySupervisor(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.InitProducerID}, Err: kerr.TransactionalIDAuthorizationFailed, TopLevel: true, Count: 1})
	sys := newSystem(t)
	cfg := actorConfig(c)
	cfg.Logger = discardLogger()
	cfg.TransactionalID = "restarted"
	a := startApp(t, sys, cfg, actor.RestartDirective)

	a.sys.Root.Send(a.pid, &request{&kastor.InitTransactions{Correlation: 1}})
	if d := next[*kastor.TransactionDone](t, a); !errors.Is(d.Err, kastor.ErrFatal) || !errors.Is(d.Err, kastor.ErrTransactionalIDAuthorizationFailed) {
		t.Fatalf("InitTransactions: %v", d.Err)
	}
	a.failure(t, kastor.ErrTransactionalIDAuthorizationFailed)
	// Until the restart is applied the producer may still say it failed.
	for try := 0; ; try++ {
		a.sys.Root.Send(a.pid, &request{&kastor.InitTransactions{Correlation: 2}})
		d := next[*kastor.TransactionDone](t, a)
		if d.Err == nil {
			break
		}
		if !errors.Is(d.Err, kastor.ErrFatal) || try > 100 {
			t.Fatalf("InitTransactions after the restart: %v", d.Err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.sys.Root.Send(a.pid, &request{&kastor.BeginTransaction{Correlation: 3}})
	if d := next[*kastor.TransactionDone](t, a); d.Err != nil {
		t.Fatal(d.Err)
	}
	a.sys.Root.Send(a.pid, &produceRange{topic: "t", n: 5})
	a.sys.Root.Send(a.pid, &request{&kastor.CommitTransaction{Correlation: 4}})
	for range 5 {
		if d := next[*kastor.Delivered](t, a); d.Err != nil {
			t.Fatal(d.Err)
		}
	}
	if d := next[*kastor.TransactionDone](t, a); d.Err != nil || d.Correlation != 4 {
		t.Fatalf("commit: %+v", d)
	}
	if got := readTxn(t, c, "t", true, string(value(4))); len(got[0]) != 5 {
		t.Fatalf("read_committed: %v", got)
	}
}
