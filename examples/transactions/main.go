// Transactions copies the records of one topic to another exactly once (consume-transform-
// produce): a kgo group consumer reads "input" (read_committed); each batch it polls is written to
// "output" by a kastor transactional producer, in one transaction that also carries the consumer's
// offsets (SendOffsetsToTransaction), so the copies and the progress commit together or not at
// all. At the end it reads "output" back (read_committed) and checks that every input
// record is there exactly once, in its partition's order, and that the group's committed offsets
// are the ends of "input".
//
// It runs on an embedded Kafka-protocol broker (kfake) in-process, which it seeds with the input
// records, so it runs on a fresh machine and exits on its own.
//
//	go run ./examples/transactions
//	go run ./examples/transactions -num-records 100000 -partitions 8 -batch 2000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor"
)

const (
	inputTopic  = "input"
	outputTopic = "output"
	group       = "copier"
)

func main() {
	n := flag.Int("num-records", 10_000, "records to seed into the input topic and copy")
	parts := flag.Int("partitions", 4, "partitions of each topic")
	batch := flag.Int("batch", 1_000, "most records copied in one transaction")
	flag.Parse()
	if *n < 1 || *parts < 1 || *batch < 1 {
		fmt.Fprintln(os.Stderr, "transactions: -num-records, -partitions and -batch must be at least 1")
		os.Exit(2)
	}
	if err := embedded(os.Stdout, *n, *parts, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "transactions:", err)
		os.Exit(1)
	}
}

// embedded runs the example on an embedded cluster of three brokers.
func embedded(w io.Writer, n, parts, batch int) error {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(int32(parts), inputTopic, outputTopic))
	if err != nil {
		return err
	}
	defer cluster.Close()
	fmt.Fprintf(w, "embedded brokers at %v, topics %q and %q with %d partitions each\n", cluster.ListenAddrs(), inputTopic, outputTopic, parts)
	_, err = run(w, cluster.ListenAddrs(), n, parts, batch)
	return err
}

// summary is what a run did.
type summary struct {
	Copied       int
	Transactions int
	// Committed is the group's committed offset of each input partition after the run.
	Committed map[int32]int64
}

// run seeds n records into the input topic (parts partitions, both topics already created), copies
// them in transactions of at most batch records, and checks the output. It prints to w.
func run(w io.Writer, brokers []string, n, parts, batch int) (summary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	input, err := seed(ctx, brokers, n, parts)
	if err != nil {
		return summary{}, fmt.Errorf("seeding %q: %w", inputTopic, err)
	}
	fmt.Fprintf(w, "seeded %d records into %q\n", n, inputTopic)

	start := time.Now()
	sum, err := copyExactlyOnce(ctx, brokers, n, batch)
	if err != nil {
		return sum, err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(w, "copied %d records in %d transactions in %v (%.0f records/s)\n", sum.Copied, sum.Transactions,
		elapsed.Round(time.Millisecond), float64(sum.Copied)/elapsed.Seconds())

	output, err := readCommitted(ctx, brokers, outputTopic, parts, n)
	if err != nil {
		return sum, fmt.Errorf("reading %q back: %w", outputTopic, err)
	}
	for p := range int32(parts) {
		if !slices.Equal(output[p], input[p]) {
			return sum, fmt.Errorf("output partition %d holds %d records, input partition %d %d: not the same records in the same order",
				p, len(output[p]), p, len(input[p]))
		}
		fmt.Fprintf(w, "partition %d: %d records, the same as the input's, in order\n", p, len(output[p]))
	}
	if sum.Committed, err = committedOffsets(ctx, brokers, parts); err != nil {
		return sum, err
	}
	for p := range int32(parts) {
		if want := int64(len(input[p])); sum.Committed[p] != want {
			return sum, fmt.Errorf("group %q committed offset %d for %s-%d, want its end %d", group, sum.Committed[p], inputTopic, p, want)
		}
	}
	fmt.Fprintf(w, "every input record is in %q exactly once, in order; group %q committed the end of every input partition\n", outputTopic, group)
	return sum, nil
}

// seed writes n records to the input topic, record i to partition i % parts, and returns the
// values of each partition in offset order.
func seed(ctx context.Context, brokers []string, n, parts int) (map[int32][]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	out := map[int32][]string{}
	for i := range recs {
		p := int32(i % parts)
		v := fmt.Sprintf("record-%07d", i)
		recs[i] = &kgo.Record{Topic: inputTopic, Partition: p, Key: fmt.Appendf(nil, "key-%d", i), Value: []byte(v)}
		out[p] = append(out[p], v) // one producer, idempotent: each partition keeps send order
	}
	return out, cl.ProduceSync(ctx, recs...).FirstErr()
}

// copyExactlyOnce consumes the input topic as a member of the group and writes each poll's
// records to the output topic in one transaction, with the offsets of what it consumed, until it
// has copied n records.
//
// A transaction that fails here ends the run. A long-running copier would abort it, rewind the
// consumer to the group's committed offsets and go on (or, on ErrFatal, close the producer: a
// newer copier with the same TransactionalID has taken over).
func copyExactlyOnce(ctx context.Context, brokers []string, n, batch int) (summary, error) {
	sum := summary{}
	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(inputTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), // never copy another writer's aborted records
		kgo.DisableAutoCommit(),                      // offsets are committed by the transactions
		kgo.BlockRebalanceOnPoll(),                   // the generation cannot change mid-transaction
	)
	if err != nil {
		return sum, err
	}
	defer func() {
		// A poll ended by an error still blocks rebalances, and leaving the group waits for them.
		consumer.AllowRebalance()
		consumer.Close()
	}()

	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = brokers
	cfg.TransactionalID = "copier-0" // one per input shard in a real deployment: it fences zombies
	producer, err := kastor.New(cfg)
	if err != nil {
		return sum, err
	}
	defer func() {
		// Aborts a transaction left open by an error; bounded, as the coordinator may be gone.
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		producer.Close(closeCtx)
	}()
	if err := producer.InitTransactions(ctx); err != nil {
		return sum, fmt.Errorf("InitTransactions: %w", err)
	}

	for sum.Copied < n {
		fs := consumer.PollRecords(ctx, batch)
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("copied %d of %d records: %w", sum.Copied, n, err)
		}
		if err := fs.Err0(); err != nil {
			return sum, fmt.Errorf("consuming: %w", err)
		}
		if fs.Empty() {
			consumer.AllowRebalance()
			continue
		}
		copied, err := copyInTransaction(ctx, producer, consumer, fs)
		if err != nil {
			return sum, fmt.Errorf("transaction %d: %w", sum.Transactions+1, err)
		}
		consumer.AllowRebalance()
		sum.Copied += copied
		sum.Transactions++
	}
	if err := producer.Close(ctx); err != nil {
		return sum, err
	}
	return sum, nil
}

// copyInTransaction writes the records of one poll and the offsets after them in one transaction.
func copyInTransaction(ctx context.Context, producer *kastor.Producer, consumer *kgo.Client, fs kgo.Fetches) (int, error) {
	if err := producer.BeginTransaction(); err != nil {
		return 0, err
	}
	var mu sync.Mutex
	var sendErr error
	offsets := map[kastor.TopicPartition]kastor.OffsetAndMetadata{}
	copied := 0
	fs.EachRecord(func(r *kgo.Record) {
		out := &kastor.Record{Topic: outputTopic, Partition: kastor.PartitionOf(r.Partition), Key: r.Key, Value: r.Value}
		producer.SendAsync(ctx, out, func(_ kastor.RecordMetadata, err error) {
			if err != nil {
				mu.Lock()
				sendErr = errors.Join(sendErr, err)
				mu.Unlock()
			}
		})
		// The offset to commit is the next one to consume.
		offsets[kastor.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = kastor.OffsetAndMetadata{Offset: r.Offset + 1, LeaderEpoch: r.LeaderEpoch}
		copied++
	})
	member, generation := consumer.GroupMetadata()
	meta := kastor.ConsumerGroupMetadata{GroupID: group, GenerationID: generation, MemberID: member}
	if err := producer.SendOffsetsToTransaction(ctx, offsets, meta); err != nil {
		return 0, errors.Join(fmt.Errorf("SendOffsetsToTransaction: %w", err), producer.AbortTransaction(ctx))
	}
	if err := producer.CommitTransaction(ctx); err != nil {
		// CommitTransaction waited for every record: a record's failure is the commit's error.
		return 0, errors.Join(fmt.Errorf("CommitTransaction: %w", err), producer.AbortTransaction(ctx))
	}
	mu.Lock()
	defer mu.Unlock()
	if sendErr != nil { // cannot happen once the commit succeeded; checked to say so
		return 0, fmt.Errorf("a record failed in a committed transaction: %w", sendErr)
	}
	return copied, nil
}

// readCommitted reads topic from the start at read_committed until it has n records, then polls
// once more briefly to see that nothing follows them, and returns the values by partition.
func readCommitted(ctx context.Context, brokers []string, topic string, parts, n int) (map[int32][]string, error) {
	offsets := map[int32]kgo.Offset{}
	for p := range int32(parts) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	out := map[int32][]string{}
	read := 0
	collect := func(fs kgo.Fetches) error {
		if err := fs.Err0(); err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], string(r.Value))
			read++
		})
		return nil
	}
	for read < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %d of %d records: %w", read, n, err)
		}
		if err := collect(fs); err != nil {
			return nil, err
		}
	}
	more, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := collect(cl.PollFetches(more)); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	if read != n {
		return nil, fmt.Errorf("read %d records, want %d: some were copied more than once", read, n)
	}
	return out, nil
}

// committedOffsets fetches the group's committed offsets of the input topic (OffsetFetch).
func committedOffsets(ctx context.Context, brokers []string, parts int) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = inputTopic
	for p := range int32(parts) {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("OffsetFetch: %w", err)
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("OffsetFetch: error code %d", resp.ErrorCode)
	}
	out := map[int32]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return nil, fmt.Errorf("OffsetFetch %s-%d: error code %d", t.Topic, p.Partition, p.ErrorCode)
			}
			out[p.Partition] = p.Offset
		}
	}
	return out, nil
}
