package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The example's run on a cluster the test owns; then the test reads the output itself, at both
// isolation levels, and asks for the group's offsets.
func TestRunCopiesExactlyOnce(t *testing.T) {
	const n, parts, batch = 3000, 3, 250
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(parts, inputTopic, outputTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out bytes.Buffer
	sum, err := run(&out, c.ListenAddrs(), n, parts, batch)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if sum.Copied != n || sum.Transactions < n/batch {
		t.Fatalf("copied %d records in %d transactions, want %d in at least %d", sum.Copied, sum.Transactions, n, n/batch)
	}
	if !strings.Contains(out.String(), "exactly once, in order") {
		t.Fatalf("the summary does not say the check passed:\n%s", out.String())
	}

	// What the output holds, read independently: record i in partition i % parts, once, in order,
	// inside committed transactions (the same records at read_committed as at read_uncommitted:
	// nothing was aborted).
	for _, committed := range []bool{true, false} {
		opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(outputTopic)}
		if committed {
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		next := map[int32]int{0: 0, 1: 1, 2: 2}
		for read := 0; read < n; {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("committed %v: read %d of %d records", committed, read, n)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if want := fmt.Sprintf("record-%07d", next[r.Partition]); string(r.Value) != want || string(r.Key) != fmt.Sprintf("key-%d", next[r.Partition]) {
					t.Fatalf("committed %v: partition %d offset %d holds %q, want %q", committed, r.Partition, r.Offset, r.Value, want)
				}
				if committed && r.ProducerID < 0 {
					t.Fatalf("partition %d offset %d: not written by a transactional producer", r.Partition, r.Offset)
				}
				next[r.Partition] += parts
				read++
			})
		}
		cancel()
		cl.Close()
	}
	offsets, err := committedOffsets(context.Background(), c.ListenAddrs(), parts)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(parts) {
		if offsets[p] != n/parts {
			t.Fatalf("group offsets %v, want %d for every partition", offsets, n/parts)
		}
	}
}

// The command's own path: an embedded cluster, started and stopped by the example.
func TestEmbedded(t *testing.T) {
	if err := embedded(io.Discard, 500, 2, 100); err != nil {
		t.Fatal(err)
	}
}

// A transaction that fails for good ends the run with its error (the consumer, whose last poll
// still blocks rebalances, and the producer are closed on the way out), and nothing of it is
// committed: neither its records nor the group's offsets.
func TestRunEndsOnAFailedTransaction(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, inputTopic, outputTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.TransactionalIDAuthorizationFailed, Count: -1})
	done := make(chan error, 1)
	go func() {
		_, err := run(io.Discard, c.ListenAddrs(), 400, 2, 100)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not end after its transaction failed")
	}
	if err == nil || !strings.Contains(err.Error(), "TRANSACTIONAL_ID_AUTHORIZATION_FAILED") {
		t.Fatalf("run: %v, want the commit's authorization error", err)
	}
	if hw := c.PartitionInfo(outputTopic, 0).HighWatermark + c.PartitionInfo(outputTopic, 1).HighWatermark; hw == 0 {
		t.Fatal("nothing was written: the failure came before the transaction")
	}
	offsets, err := committedOffsets(context.Background(), c.ListenAddrs(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		if o, ok := offsets[p]; !ok || o != -1 {
			t.Fatalf("the group's offsets %v: partition %d has one (want -1, none)", offsets, p)
		}
	}
}
