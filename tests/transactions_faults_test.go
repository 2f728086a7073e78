package tests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/wire"
)

// Transactions under faults: what a read_committed consumer sees after many transactions, some
// aborted, while leaders move, connections drop and responses are lost after the write; the
// transaction coordinator moving and answering retriable errors during the commit; offsets
// committed (or not) with the transaction, for a live group member and for a zombie; a producer
// fenced with records in flight, or whose transaction the coordinator timed out; ends of
// transactions racing sends, outliving their context, or meeting batches waiting for a retry.
// Every test runs on both transaction protocols (txnProtocols, transactions_test.go).

const (
	faultTxns       = 100  // transactions in the run
	faultTxnRecords = 1000 // records in each
	faultTxnParts   = 6    // partitions of the topic, record i goes to i % faultTxnParts
	faultAbortEvery = 3    // every third transaction is aborted
)

// txnTracker records each record's completion, by the record's index across the whole run, and
// lets a test wait for one transaction's records.
type txnTracker struct {
	mu      sync.Mutex
	results map[int]result
	twice   []int
	pending map[int]*sync.WaitGroup // by transaction
}

func newTxnTracker() *txnTracker {
	return &txnTracker{results: map[int]result{}, pending: map[int]*sync.WaitGroup{}}
}

func (tr *txnTracker) callback(txn, i int) func(kastor.RecordMetadata, error) {
	tr.mu.Lock()
	wg := tr.pending[txn]
	if wg == nil {
		wg = &sync.WaitGroup{}
		tr.pending[txn] = wg
	}
	tr.mu.Unlock()
	wg.Add(1)
	return func(md kastor.RecordMetadata, err error) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if _, dup := tr.results[i]; dup {
			tr.twice = append(tr.twice, i)
			return
		}
		tr.results[i] = result{md, err}
		wg.Done()
	}
}

// wait waits for every record of txn to complete.
func (tr *txnTracker) wait(t *testing.T, txn int) {
	t.Helper()
	tr.mu.Lock()
	wg := tr.pending[txn]
	tr.mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("transaction %d: records still not completed after a minute", txn)
	}
}

// completed is how many records completed so far.
func (tr *txnTracker) completed() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.results)
}

// waitCompleted waits until at least n records completed (a minute at most).
func (tr *txnTracker) waitCompleted(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); tr.completed() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d records completed after a minute, want %d", tr.completed(), n)
		}
	}
}

func (tr *txnTracker) get(i int) (result, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r, ok := tr.results[i]
	return r, ok
}

// sendUntilStopped sends record after record (record i to partition i % parts, tracked as
// transaction 0 of tr) until stop is closed, pausing for pause every every records so that what
// the test does meanwhile lands mid-stream; the channel it returns gives the number of records
// sent.
func sendUntilStopped(p *kastor.Producer, topic string, parts int, tr *txnTracker, stop <-chan struct{}, every int, pause time.Duration) <-chan int {
	sent := make(chan int, 1)
	go func() {
		i := 0
		defer func() { sent <- i }()
		for ; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%every == every-1 {
				time.Sleep(pause)
			}
			p.SendAsync(context.Background(), &kastor.Record{Topic: topic, Partition: kastor.PartitionOf(int32(i % parts)), Value: value(i)},
				tr.callback(0, i))
		}
	}()
	return sent
}

// txnRecord is a record read back: the index its value names (-1 for an end marker) and where.
type txnRecord struct {
	index  int
	offset int64
}

// readUntilEnds reads every partition of topic from the start at the isolation level until each
// has delivered its end marker ("end-<partition>"), and returns what it read by partition.
func readUntilEnds(t *testing.T, c *kfake.Cluster, topic string, parts int, committed bool) map[int32][]txnRecord {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	for p := range parts {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl := txnReader(t, c, committed, kgo.FetchMaxBytes(64<<20), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := map[int32][]txnRecord{}
	ended := map[int32]bool{}
	for len(ended) < parts {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read (committed %v): only partitions %v reached their end marker", committed, ended)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if strings.HasPrefix(v, "end-") {
				if ended[r.Partition] {
					t.Fatalf("partition %d: end marker twice", r.Partition)
				}
				ended[r.Partition] = true
				return
			}
			i, err := strconv.Atoi(strings.TrimPrefix(v, "record-"))
			if err != nil {
				t.Fatalf("partition %d offset %d: unexpected value %q", r.Partition, r.Offset, v)
			}
			if ended[r.Partition] {
				t.Fatalf("partition %d: record %d after the end marker", r.Partition, i)
			}
			out[r.Partition] = append(out[r.Partition], txnRecord{i, r.Offset})
		})
	}
	return out
}

// commitEndMarkers commits one transaction holding an end marker in each partition.
func commitEndMarkers(t *testing.T, p *kastor.Producer, topic string, parts int) {
	t.Helper()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	sendAll(t, p, topic, parts, values("end", parts)...)
	if err := p.CommitTransaction(context.Background()); err != nil {
		t.Fatalf("committing the end markers: %v", err)
	}
}

// checkTxnLog checks one isolation level's view: in each partition exactly the records want says
// are visible, each once, in send order, each at the offset its acknowledgement named.
func checkTxnLog(t *testing.T, what string, got map[int32][]txnRecord, tr *txnTracker, n, parts int, want func(i int) bool) {
	t.Helper()
	for p := range parts {
		var wantIdx, gotIdx []int
		for i := p; i < n; i += parts {
			if want(i) {
				wantIdx = append(wantIdx, i)
			}
		}
		for _, r := range got[int32(p)] {
			gotIdx = append(gotIdx, r.index)
			res, _ := tr.get(r.index)
			if res.err != nil || res.md.Offset != r.offset || res.md.Partition != int32(p) {
				t.Fatalf("%s: record %d read at %d@%d, acknowledged at %d@%d (err %v)", what, r.index, p, r.offset,
					res.md.Partition, res.md.Offset, res.err)
			}
		}
		if !slices.Equal(gotIdx, wantIdx) {
			t.Fatalf("%s: partition %d holds %d records, want %d; first difference at %s", what, p, len(gotIdx), len(wantIdx),
				firstDiff(gotIdx, wantIdx))
		}
	}
}

// 100 transactions of 1,000 records over 6 partitions, every third aborted, while the faults of
// the fault tests strike mid-transaction in turn: a leader moves, a connection drops before the
// broker applies the request, a produce response is lost after the write (REQUEST_TIMED_OUT
// answered after the append, so the retry is a duplicate the broker must recognise). A
// read_committed consumer sees exactly the committed transactions' records, each once, in order,
// at the offsets acknowledged; read_uncommitted sees, besides, every record of an aborted
// transaction that was acknowledged before the abort, and none that failed.
func TestHundredTransactionsUnderFaults(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			const topic = "copied"
			c := txnCluster(t, protocol, kfake.NumBrokers(3), kfake.SeedTopics(faultTxnParts, topic))
			var drops, dropped atomic.Int32
			c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if drops.Load() > 0 && drops.Add(-1) >= 0 {
					dropped.Add(1)
					return nil, errors.New("drop"), true // kfake closes the connection unanswered
				}
				return nil, nil, false
			})
			var lost []*kfake.FaultHandle
			p := newTxnProducer(t, c, "under-faults", func(cfg *kastor.Config) {
				// kastor's reconnect backoff grows with each failure and resets only after a minute
				// without one (actors/supervision.go), where Java's resets once a connection is
				// ready: with a drop every fourth transaction it would reach a second per drop.
				cfg.ReconnectBackoff = 10 * time.Millisecond
				cfg.ReconnectBackoffMax = 50 * time.Millisecond
				cfg.Logger = discardLogger() // the faults are expected: no warnings in the output
			})
			ctx := context.Background()
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			tr := newTxnTracker()
			aborted := func(i int) bool { return (i/faultTxnRecords)%faultAbortEvery == faultAbortEvery-1 }
			moves := 0
			start := time.Now()
			for txn := range faultTxns {
				if err := p.BeginTransaction(); err != nil {
					t.Fatalf("transaction %d: %v", txn, err)
				}
				for j := range faultTxnRecords {
					i := txn*faultTxnRecords + j
					if j == faultTxnRecords/2 {
						switch txn % 4 { // with the abort every third, each fault strikes both kinds
						case 1:
							for part := range int32(faultTxnParts) {
								old := c.LeaderFor(topic, part)
								if err := c.MoveTopicPartition(topic, part, (old+1)%3); err != nil {
									t.Fatal(err)
								}
								moves++
							}
						case 2:
							drops.Store(2)
						case 3:
							lost = append(lost, c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic,
								Err: kerr.RequestTimedOut, Count: 1}))
						}
					}
					p.SendAsync(ctx, &kastor.Record{Topic: topic, Partition: kastor.PartitionOf(int32(i % faultTxnParts)), Value: value(i)},
						tr.callback(txn, i))
				}
				if !aborted(txn * faultTxnRecords) {
					if err := p.CommitTransaction(ctx); err != nil {
						t.Fatalf("transaction %d: commit: %v", txn, err)
					}
					tr.wait(t, txn) // the commit returned: every record has completed already
					continue
				}
				if txn%2 == 0 {
					tr.wait(t, txn) // all written before the abort: read_uncommitted must see them all
				}
				if err := p.AbortTransaction(ctx); err != nil {
					t.Fatalf("transaction %d: abort: %v", txn, err)
				}
				tr.wait(t, txn)
			}
			commitEndMarkers(t, p, topic, faultTxnParts)
			elapsed := time.Since(start)

			lostHits := 0
			for _, h := range lost {
				lostHits += h.Hits()
			}
			if moves == 0 || dropped.Load() == 0 || lostHits == 0 {
				t.Fatalf("faults that struck: %d leader moves, %d connections dropped, %d responses lost; want each", moves, dropped.Load(), lostHits)
			}
			tr.mu.Lock()
			twice := tr.twice
			tr.mu.Unlock()
			if len(twice) > 0 {
				t.Fatalf("records completed twice: %v", twice[:min(10, len(twice))])
			}
			n := faultTxns * faultTxnRecords
			acked, abortedAcked := 0, 0
			for i := range n {
				res, ok := tr.get(i)
				switch {
				case !ok:
					t.Fatalf("record %d never completed", i)
				case !aborted(i) && res.err != nil:
					t.Fatalf("record %d of committed transaction %d: %v", i, i/faultTxnRecords, res.err)
				case aborted(i) && res.err != nil && !errors.Is(res.err, kastor.ErrTransactionAborted):
					t.Fatalf("record %d of aborted transaction %d: %v, want success or ErrTransactionAborted", i, i/faultTxnRecords, res.err)
				case res.err == nil:
					acked++
					if aborted(i) {
						abortedAcked++
					}
				}
			}
			if abortedAcked == 0 {
				t.Fatal("no record of an aborted transaction was written: read_uncommitted proves nothing")
			}
			committedView := readUntilEnds(t, c, topic, faultTxnParts, true)
			checkTxnLog(t, "read_committed", committedView, tr, n, faultTxnParts, func(i int) bool { return !aborted(i) })
			allView := readUntilEnds(t, c, topic, faultTxnParts, false)
			checkTxnLog(t, "read_uncommitted", allView, tr, n, faultTxnParts, func(i int) bool {
				res, _ := tr.get(i)
				return res.err == nil
			})
			t.Logf("%s: %d transactions of %d records in %v; %d leader moves, %d connections dropped, %d responses lost; %d records of aborted transactions written",
				protocol, faultTxns, faultTxnRecords, elapsed.Round(time.Millisecond), moves, dropped.Load(), lostHits, abortedAcked)
		})
	}
}

// coordinatorFault is a fault a transaction meets on its way: installed before the
// transaction begins (arm), it must have struck by the end of it, and the transaction must still
// commit (or abort) as asked.
type coordinatorFault struct {
	name    string
	classic bool // only the classic protocol sends the request (AddPartitionsToTxn, AddOffsetsToTxn)
	faults  []kfake.Fault
}

func (f coordinatorFault) want() int {
	n := 0
	for _, ft := range f.faults {
		n += max(ft.Count, 1)
	}
	return n
}

// The transaction coordinator answers retriable errors, moves, and is hard to find, while a
// transaction with offsets ends: each time the producer retries (re-finding the coordinator where
// the error says to) and the transaction commits or aborts as asked. A read_committed consumer
// then sees exactly the committed transactions' records, and the group's offset is the one the
// last committed transaction sent.
func TestTransactionCoordinatorErrorsRetried(t *testing.T) {
	const txnID, topic, parts, perTxn = "coord-faults", "out", 3, 30
	ep := func(key kmsg.Key, err *kerr.Error, count int) kfake.Fault {
		return kfake.Fault{Keys: []kmsg.Key{key}, TxnID: txnID, Err: err, Count: count}
	}
	cases := []coordinatorFault{
		{name: "EndTxn NOT_COORDINATOR", faults: []kfake.Fault{ep(kmsg.EndTxn, kerr.NotCoordinator, 2)}},
		{name: "EndTxn COORDINATOR_LOAD_IN_PROGRESS", faults: []kfake.Fault{ep(kmsg.EndTxn, kerr.CoordinatorLoadInProgress, 2)}},
		{name: "EndTxn COORDINATOR_NOT_AVAILABLE", faults: []kfake.Fault{ep(kmsg.EndTxn, kerr.CoordinatorNotAvailable, 2)}},
		{name: "EndTxn CONCURRENT_TRANSACTIONS", faults: []kfake.Fault{ep(kmsg.EndTxn, kerr.ConcurrentTransactions, 3)}},
		{name: "FindCoordinator COORDINATOR_NOT_AVAILABLE after NOT_COORDINATOR", faults: []kfake.Fault{
			ep(kmsg.EndTxn, kerr.NotCoordinator, 1), ep(kmsg.FindCoordinator, kerr.CoordinatorNotAvailable, 2)}},
		{name: "FindCoordinator COORDINATOR_LOAD_IN_PROGRESS after NOT_COORDINATOR", faults: []kfake.Fault{
			ep(kmsg.EndTxn, kerr.NotCoordinator, 1), ep(kmsg.FindCoordinator, kerr.CoordinatorLoadInProgress, 2)}},
		{name: "TxnOffsetCommit COORDINATOR_LOAD_IN_PROGRESS", faults: []kfake.Fault{ep(kmsg.TxnOffsetCommit, kerr.CoordinatorLoadInProgress, 2)}},
		{name: "TxnOffsetCommit NOT_COORDINATOR", faults: []kfake.Fault{ep(kmsg.TxnOffsetCommit, kerr.NotCoordinator, 1)}},
		{name: "AddPartitionsToTxn CONCURRENT_TRANSACTIONS", classic: true, faults: []kfake.Fault{ep(kmsg.AddPartitionsToTxn, kerr.ConcurrentTransactions, 3)}},
		{name: "AddPartitionsToTxn NOT_COORDINATOR", classic: true, faults: []kfake.Fault{ep(kmsg.AddPartitionsToTxn, kerr.NotCoordinator, 1)}},
		{name: "AddPartitionsToTxn COORDINATOR_LOAD_IN_PROGRESS", classic: true, faults: []kfake.Fault{ep(kmsg.AddPartitionsToTxn, kerr.CoordinatorLoadInProgress, 2)}},
		{name: "AddOffsetsToTxn CONCURRENT_TRANSACTIONS", classic: true, faults: []kfake.Fault{ep(kmsg.AddOffsetsToTxn, kerr.ConcurrentTransactions, 2)}},
		{name: "AddOffsetsToTxn NOT_COORDINATOR", classic: true, faults: []kfake.Fault{ep(kmsg.AddOffsetsToTxn, kerr.NotCoordinator, 1)}},
	}
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			c := txnCluster(t, protocol, kfake.NumBrokers(3), kfake.SeedTopics(parts, topic), kfake.SeedTopics(1, "in"))
			var endTxnAt sync.Map // node → EndTxn requests it received
			c.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				n, _ := endTxnAt.LoadOrStore(c.CurrentNode(), new(atomic.Int32))
				n.(*atomic.Int32).Add(1)
				return nil, nil, false
			})
			p := newTxnProducer(t, c, txnID, func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
			ctx := context.Background()
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			group := kastor.NewConsumerGroupMetadata("coord-group")
			tr := newTxnTracker()
			var abortedTxns []int
			lastCommitted := int64(-1)
			txn := 0
			// run runs one transaction (perTxn records, offset txn+1 for in-0), while arm's fault
			// strikes; it commits or aborts as asked.
			run := func(name string, commit bool, arm func() func() error) {
				t.Helper()
				check := arm()
				if err := p.BeginTransaction(); err != nil {
					t.Fatalf("%s: begin: %v", name, err)
				}
				for j := range perTxn {
					i := txn*perTxn + j
					p.SendAsync(ctx, &kastor.Record{Topic: topic, Partition: kastor.PartitionOf(int32(i % parts)), Value: value(i)},
						tr.callback(txn, i))
				}
				offsets := map[kastor.TopicPartition]kastor.OffsetAndMetadata{{Topic: "in", Partition: 0}: {Offset: int64(txn + 1), LeaderEpoch: -1}}
				if err := p.SendOffsetsToTransaction(ctx, offsets, group); err != nil {
					t.Fatalf("%s: SendOffsetsToTransaction: %v", name, err)
				}
				end, what := p.CommitTransaction, "commit"
				if !commit {
					end, what = p.AbortTransaction, "abort"
				}
				if err := end(ctx); err != nil {
					t.Fatalf("%s: %s: %v", name, what, err)
				}
				tr.wait(t, txn)
				if err := check(); err != nil {
					t.Fatalf("%s (%s): %v", name, what, err)
				}
				if commit {
					lastCommitted = int64(txn + 1)
				} else {
					abortedTxns = append(abortedTxns, txn)
				}
				txn++
			}
			for _, fc := range cases {
				if fc.classic && protocol != "classic" {
					continue // v2 adds partitions and offsets without these requests
				}
				for _, commit := range []bool{true, false} {
					run(fc.name, commit, func() func() error {
						h := c.Fault(fc.faults...)
						return func() error {
							defer h.Remove()
							if got := h.Hits(); got != fc.want() {
								return fmt.Errorf("the faults struck %d times, want %d", got, fc.want())
							}
							return nil
						}
					})
				}
			}
			// The coordinator moves in the middle of a transaction (kfake rehashes every
			// coordinator; the old one answers NOT_COORDINATOR): the commit finds the new one.
			for _, commit := range []bool{true, false} {
				run("coordinator move", commit, func() func() error {
					old := c.CoordinatorFor(txnID)
					for c.CoordinatorFor(txnID) == old {
						c.RehashCoordinators()
					}
					moved := c.CoordinatorFor(txnID)
					before := int32(0)
					if n, ok := endTxnAt.Load(moved); ok {
						before = n.(*atomic.Int32).Load()
					}
					return func() error {
						n, ok := endTxnAt.Load(moved)
						if !ok || n.(*atomic.Int32).Load() == before {
							return fmt.Errorf("the transaction did not end at the new coordinator %d (was %d)", moved, old)
						}
						return nil
					}
				})
			}

			commitEndMarkers(t, p, topic, parts)
			n := txn * perTxn
			aborted := func(i int) bool { return slices.Contains(abortedTxns, i/perTxn) }
			for i := range n {
				if res, _ := tr.get(i); !aborted(i) && res.err != nil {
					t.Fatalf("record %d of committed transaction %d: %v", i, i/perTxn, res.err)
				}
			}
			checkTxnLog(t, "read_committed", readUntilEnds(t, c, topic, parts, true), tr, n, parts, func(i int) bool { return !aborted(i) })
			if o := committedOffset(t, c, "coord-group", "in", 0); o != lastCommitted {
				t.Fatalf("the group's offset is %d, want %d (the last committed transaction's)", o, lastCommitted)
			}
			t.Logf("%s: %d transactions, %d aborted", protocol, txn, len(abortedTxns))
		})
	}
}

// joinGroup starts a kgo consumer in group, subscribed to topic, and waits until it is a member
// (it has a member id and a generation). The consumer is closed at the end of the test.
func joinGroup(t *testing.T, c *kfake.Cluster, group, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if member, gen := cl.GroupMetadata(); member != "" && gen >= 0 && len(cl.GetConsumeTopics()) > 0 {
			return cl
		}
		if time.Now().After(deadline) {
			t.Fatal("the consumer did not join its group")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		cl.PollFetches(ctx)
		cancel()
	}
}

// Offsets with a live consumer's group metadata (KIP-447): a committed transaction's offsets are
// the group's afterwards; an aborted one's are not; offsets sent for a member the group does not
// know, or for another generation (a zombie consumer), are refused: SendOffsetsToTransaction
// fails with the group's error, the transaction cannot commit, and after its abort neither its
// records nor its offsets are visible, and the next transaction commits.
func TestTransactionOffsetsOfAGroupMember(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			const group = "members"
			c := txnCluster(t, protocol, kfake.NumBrokers(3), kfake.SeedTopics(1, "out"), kfake.SeedTopics(2, "in"))
			consumer := joinGroup(t, c, group, "in")
			member, generation := consumer.GroupMetadata()
			live := kastor.ConsumerGroupMetadata{GroupID: group, GenerationID: generation, MemberID: member}
			p := newTxnProducer(t, c, "member-offsets", func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
			ctx := context.Background()
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			offsets := func(o int64) map[kastor.TopicPartition]kastor.OffsetAndMetadata {
				return map[kastor.TopicPartition]kastor.OffsetAndMetadata{
					{Topic: "in", Partition: 0}: {Offset: o, LeaderEpoch: -1},
					{Topic: "in", Partition: 1}: {Offset: o + 1000, LeaderEpoch: -1},
				}
			}
			wantOffsets := func(o int64) {
				t.Helper()
				if got0, got1 := committedOffset(t, c, group, "in", 0), committedOffset(t, c, group, "in", 1); got0 != o || got1 != o+1000 {
					t.Fatalf("the group's offsets: %d, %d; want %d, %d", got0, got1, o, o+1000)
				}
			}
			txn := func(v string, o int64, meta kastor.ConsumerGroupMetadata, commit bool) {
				t.Helper()
				if err := p.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				sendAll(t, p, "out", 1, v)
				if err := p.SendOffsetsToTransaction(ctx, offsets(o), meta); err != nil {
					t.Fatal(err)
				}
				end := txnEnd(p, commit)
				if err := end(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// refused sends offsets the group must refuse with want.
			refused := func(v string, o int64, meta kastor.ConsumerGroupMetadata, want error) {
				t.Helper()
				if err := p.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				sendAll(t, p, "out", 1, v)
				err := p.SendOffsetsToTransaction(ctx, offsets(o), meta)
				if !errors.Is(err, want) || errors.Is(err, kastor.ErrFatal) {
					t.Fatalf("offsets of %+v: %v, want %v (abortable)", meta, err, want)
				}
				if err := p.CommitTransaction(ctx); err == nil {
					t.Fatal("a transaction whose offsets were refused committed")
				}
				if err := p.AbortTransaction(ctx); err != nil {
					t.Fatalf("abort after the refused offsets: %v", err)
				}
			}

			txn("committed-1", 10, live, true)
			wantOffsets(10)
			txn("aborted-1", 20, live, false)
			wantOffsets(10)
			refused("zombie-member", 30, kastor.ConsumerGroupMetadata{GroupID: group, GenerationID: generation, MemberID: "not-a-member"},
				wire.ErrUnknownMemberID)
			wantOffsets(10)
			refused("zombie-generation", 40, kastor.ConsumerGroupMetadata{GroupID: group, GenerationID: generation + 1, MemberID: member},
				wire.ErrIllegalGeneration)
			wantOffsets(10)
			txn("committed-2", 50, live, true)
			wantOffsets(50)

			got := readTxn(t, c, "out", true, "committed-2")
			if !slices.Equal(got[0], []string{"committed-1", "committed-2"}) {
				t.Fatalf("read_committed: %v", got[0])
			}
		})
	}
}

// A producer fenced while its transaction is busy (records flowing to several partitions, many in
// flight): every record it was handed completes exactly once, its commit fails with the fatal
// fencing error and so does every later call, and a read_committed consumer sees only what the
// new producer commits.
func TestTransactionFencedWithRecordsInFlight(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			const topic, parts = "out", 4
			c := txnCluster(t, protocol, kfake.NumBrokers(3), kfake.SeedTopics(parts, topic))
			ctx := context.Background()
			zombie := newTxnProducer(t, c, "busy", func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
			if err := zombie.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := zombie.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			tr := newTxnTracker()
			stop := make(chan struct{})
			// A pause every 200 records lets the fence land mid-stream.
			sent := sendUntilStopped(zombie, topic, parts, tr, stop, 200, time.Millisecond)
			tr.waitCompleted(t, 1000) // the zombie's records are flowing
			successor := newTxnProducer(t, c, "busy", nil)
			if err := successor.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			tr.waitCompleted(t, tr.completed()+1000) // and go on past the fence
			close(stop)
			n := <-sent
			err := zombie.CommitTransaction(ctx)
			fenced := func(err error) bool {
				return errors.Is(err, kastor.ErrFatal) && (errors.Is(err, kastor.ErrProducerFenced) ||
					errors.Is(err, kastor.ErrInvalidProducerEpoch) || errors.Is(err, kastor.ErrInvalidTxnState))
			}
			if !fenced(err) {
				t.Fatalf("the zombie's commit: %v", err)
			}
			tr.wait(t, 0)
			failed := 0
			for i := range n {
				if res, _ := tr.get(i); res.err != nil {
					failed++
				}
			}
			tr.mu.Lock()
			twice := len(tr.twice)
			tr.mu.Unlock()
			if twice > 0 || failed == 0 {
				t.Fatalf("%d records sent: %d failed, %d completed twice", n, failed, twice)
			}
			for _, call := range []func() error{
				zombie.BeginTransaction,
				func() error { return zombie.AbortTransaction(ctx) },
				func() error {
					_, err := zombie.Send(ctx, &kastor.Record{Topic: topic, Value: []byte("late")})
					return err
				},
				func() error { return zombie.InitTransactions(ctx) },
			} {
				if err := call(); !fenced(err) {
					t.Fatalf("a call after the fence: %v", err)
				}
			}

			commitEndMarkers(t, successor, topic, parts)
			if got := readUntilEnds(t, c, topic, parts, true); len(got) != 0 {
				for p, recs := range got {
					t.Fatalf("read_committed: partition %d holds %d of the zombie's records", p, len(recs))
				}
			}
			t.Logf("%s: the zombie sent %d records, %d failed", protocol, n, failed)
		})
	}
}

// A transaction open longer than TransactionTimeout is aborted by the coordinator (which bumps
// the producer's epoch): its commit must fail, never report success, and none of its records
// become visible. The failure is fatal today (as Java's classic producer treats a timed-out
// transaction: ProducerFencedException), and then the producer stays failed with that reason and
// a new producer with the same transactional id carries on; were it abortable, the abort must
// succeed and the same producer carry on.
func TestTransactionTimedOutByTheCoordinator(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			const topic, parts = "out", 2
			c := txnCluster(t, protocol, kfake.NumBrokers(1), kfake.SeedTopics(parts, topic))
			ctx := context.Background()
			p := newTxnProducer(t, c, "slow", func(cfg *kastor.Config) {
				cfg.TransactionTimeout = 200 * time.Millisecond
				cfg.Logger = discardLogger()
			})
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, topic, parts, "timed-out-0", "timed-out-1")
			time.Sleep(600 * time.Millisecond) // past the timeout: the coordinator aborts
			err := p.CommitTransaction(ctx)
			if err == nil {
				t.Fatal("a transaction the coordinator aborted committed")
			}
			next := p
			if errors.Is(err, kastor.ErrFatal) {
				if err2 := p.BeginTransaction(); !errors.Is(err2, kastor.ErrFatal) || err2.Error() != err.Error() {
					t.Fatalf("begin after the failed commit: %v, want the commit's reason %v", err2, err)
				}
				next = newTxnProducer(t, c, "slow", nil)
				if err := next.InitTransactions(ctx); err != nil {
					t.Fatal(err)
				}
			} else if abortErr := p.AbortTransaction(ctx); abortErr != nil {
				t.Fatalf("the commit failed with %v (abortable), and the abort with %v", err, abortErr)
			}
			commitEndMarkers(t, next, topic, parts)
			if got := readUntilEnds(t, c, topic, parts, true); len(got) != 0 {
				t.Fatalf("read_committed holds the timed-out transaction's records: %v", got)
			}
			t.Logf("%s: %v", protocol, err)
		})
	}
}

// Sends race with the ends of transactions: one goroutine sends all the time while another
// begins and commits transactions back to back. A record sent while no transaction is open fails
// with ErrTransactionState; every record completes once, and every record acknowledged with an
// offset is visible to read_committed there, once, in order (each belonged to a transaction that
// committed); none that failed is.
func TestTransactionSendsRacingCommits(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			const topic, parts, txns = "out", 3, 40
			c := txnCluster(t, protocol, kfake.NumBrokers(2), kfake.SeedTopics(parts, topic))
			p := newTxnProducer(t, c, "racing", func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
			ctx := context.Background()
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			tr := newTxnTracker()
			stop := make(chan struct{})
			sent := sendUntilStopped(p, topic, parts, tr, stop, 50, 200*time.Microsecond)
			for k := range txns {
				if err := p.BeginTransaction(); err != nil {
					t.Fatalf("transaction %d: %v", k, err)
				}
				time.Sleep(time.Duration(k%5) * time.Millisecond)
				if err := p.CommitTransaction(ctx); err != nil {
					t.Fatalf("transaction %d: commit: %v", k, err)
				}
			}
			close(stop)
			n := <-sent
			tr.wait(t, 0)
			tr.mu.Lock()
			twice := len(tr.twice)
			tr.mu.Unlock()
			if twice > 0 {
				t.Fatalf("%d records completed twice", twice)
			}
			acked := 0
			for i := range n {
				res, _ := tr.get(i)
				switch {
				case res.err == nil:
					acked++
				case !errors.Is(res.err, kastor.ErrTransactionState):
					t.Fatalf("record %d: %v, want success or ErrTransactionState", i, res.err)
				}
			}
			if acked == 0 || acked == n {
				t.Fatalf("%d of %d records acknowledged: the race was not run", acked, n)
			}
			commitEndMarkers(t, p, topic, parts)
			checkTxnLog(t, "read_committed", readUntilEnds(t, c, topic, parts, true), tr, n, parts, func(i int) bool {
				res, _ := tr.get(i)
				return res.err == nil
			})
			t.Logf("%s: %d records sent during %d transactions, %d acknowledged", protocol, n, txns, acked)
		})
	}
}

// A commit (or an abort) whose context ends while the coordinator is slow goes on: the call
// returns the context's error, nothing else may start meanwhile (ErrTransactionState, as Java's
// "must be retried"), and calling it again returns the outcome; the transaction ends exactly as
// asked, once.
func TestTransactionEndOutlivesItsContext(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			const topic, parts = "out", 2
			c := txnCluster(t, protocol, kfake.NumBrokers(1), kfake.SeedTopics(parts, topic))
			var slow atomic.Int32
			c.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if slow.Load() > 0 && slow.Add(-1) >= 0 {
					c.SleepControl(func() { time.Sleep(400 * time.Millisecond) })
				}
				return nil, nil, false
			})
			p := newTxnProducer(t, c, "outlived", func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
			ctx := context.Background()
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			tr := newTxnTracker()
			for txn, commit := range []bool{true, false, true} {
				if err := p.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				for j := range 10 {
					i := txn*10 + j
					p.SendAsync(ctx, &kastor.Record{Topic: topic, Partition: kastor.PartitionOf(int32(i % parts)), Value: value(i)}, tr.callback(txn, i))
				}
				end := txnEnd(p, commit)
				slow.Store(1)
				short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				err := end(short)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("transaction %d: the first call: %v, want the context's deadline", txn, err)
				}
				if err := p.BeginTransaction(); !errors.Is(err, kastor.ErrTransactionState) {
					t.Fatalf("transaction %d: begin while it ends: %v", txn, err)
				}
				if err := txnEnd(p, !commit)(ctx); !errors.Is(err, kastor.ErrTransactionState) {
					t.Fatalf("transaction %d: the other end while it ends: %v", txn, err)
				}
				if err := end(ctx); err != nil {
					t.Fatalf("transaction %d: the second call: %v", txn, err)
				}
				tr.wait(t, txn)
			}
			commitEndMarkers(t, p, topic, parts)
			checkTxnLog(t, "read_committed", readUntilEnds(t, c, topic, parts, true), tr, 30, parts, func(i int) bool { return i/10 != 1 })
		})
	}
}

// A batch the broker wrote but whose answer was lost (REQUEST_TIMED_OUT after the append) waits
// for its retry when the transaction is aborted. It was sent, so the abort must not fail it as
// "aborted before it was sent" (Java aborts only batches without a sequence): it is retried, the
// broker recognises the duplicate, and the record completes with the offset it holds in the log;
// the next transaction commits.
func TestTransactionAbortWhileARetryWaits(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			const topic = "out"
			c := txnCluster(t, protocol, kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
			p := newTxnProducer(t, c, "retry-waits", func(cfg *kastor.Config) {
				cfg.Linger = 0
				cfg.RetryBackoff = 500 * time.Millisecond
				cfg.RetryBackoffMax = 500 * time.Millisecond
				cfg.Logger = discardLogger()
			})
			ctx := context.Background()
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.RequestTimedOut, Count: 1})
			tr := newTxnTracker()
			p.SendAsync(ctx, &kastor.Record{Topic: topic, Partition: kastor.PartitionOf(0), Value: value(0)}, tr.callback(0, 0))
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := h.Wait(wctx, 1); err != nil {
				t.Fatalf("the fault never struck: %v", err)
			}
			for p.Stats().RecordRetries == 0 { // the answer reached the producer: the retry waits
				if wctx.Err() != nil {
					t.Fatal("the record was never retried")
				}
				time.Sleep(time.Millisecond)
			}
			if err := p.AbortTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			tr.wait(t, 0)
			res, _ := tr.get(0)
			if hw := c.PartitionInfo(topic, 0).HighWatermark; hw == 0 {
				t.Fatal("the record was not written: the test proves nothing")
			}
			if res.err != nil {
				t.Fatalf("the record is in the log, but completed with %v", res.err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, topic, 1, "end-0")
			if err := p.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			if got := readUntilEnds(t, c, topic, 1, true); len(got) != 0 {
				t.Fatalf("read_committed shows the aborted record: %v", got)
			}
			all := readUntilEnds(t, c, topic, 1, false)
			if len(all[0]) != 1 || all[0][0].index != 0 || all[0][0].offset != res.md.Offset {
				t.Fatalf("read_uncommitted: %v, want the aborted record once at its acknowledged offset %d", all[0], res.md.Offset)
			}
		})
	}
}

// answerProduce answers a Produce request with code for every partition it carries.
func answerProduce(req kmsg.Request, code int16) kmsg.Response {
	preq := req.(*kmsg.ProduceRequest)
	resp := preq.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range preq.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// A batch of a partition is refused for good (TOPIC_AUTHORIZATION_FAILED: its sequence becomes a
// hole) while the partition's later batches are out and come back refused with a retriable error
// (NOT_LEADER_OR_FOLLOWER): those cannot be resent under this epoch, so the abort that follows must
// fail them (they are not in the log) rather than wait for an epoch bump that only comes after it.
// Every record completes once; none that failed is in the log; the next transaction commits.
func TestTransactionAbortAfterARefusedBatch(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			const topic, n = "out", 200
			c := txnCluster(t, protocol, kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
			p := newTxnProducer(t, c, "refused", func(cfg *kastor.Config) {
				cfg.Linger = 0
				cfg.Logger = discardLogger()
			})
			ctx := context.Background()
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			// A first record confirms the partition's sequence: later batches may then be out
			// together.
			tr := newTxnTracker()
			p.SendAsync(ctx, &kastor.Record{Topic: topic, Partition: kastor.PartitionOf(0), Value: value(0)}, tr.callback(0, 0))
			tr.wait(t, 0)
			var requests atomic.Int32
			c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
				k := requests.Add(1)
				if k > 4 {
					c.DropControl()
					return nil, nil, false
				}
				c.KeepControl()
				if k == 1 { // held, so that the next requests are out behind it
					c.SleepControl(func() { time.Sleep(100 * time.Millisecond) })
					return answerProduce(req, kerr.TopicAuthorizationFailed.Code), nil, true
				}
				return answerProduce(req, kerr.NotLeaderForPartition.Code), nil, true
			})
			for i := 1; i < n; i++ {
				p.SendAsync(ctx, &kastor.Record{Topic: topic, Partition: kastor.PartitionOf(0), Value: value(i)}, tr.callback(1, i))
				if i%20 == 19 {
					time.Sleep(5 * time.Millisecond)
				}
			}
			if err := p.CommitTransaction(ctx); !errors.Is(err, wire.ErrTopicAuthorizationFailed) {
				t.Fatalf("commit: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
			// The delivery timeout (2 min) would end a hang; the test gives the abort 20 s.
			actx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := p.AbortTransaction(actx); err != nil {
				t.Fatalf("abort: %v", err)
			}
			tr.wait(t, 1)
			if requests.Load() < 2 {
				t.Fatalf("%d produce requests: no batch was out behind the refused one", requests.Load())
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			sendAll(t, p, topic, 1, "end-0")
			if err := p.CommitTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			checkTxnLog(t, "read_uncommitted", readUntilEnds(t, c, topic, 1, false), tr, n, 1, func(i int) bool {
				res, _ := tr.get(i)
				return res.err == nil
			})
		})
	}
}

// Back-to-back transactions on transactions v2, where every EndTxn bumps the producer's epoch:
// the records of the next transaction must be sealed with the new epoch. Each transaction's
// records are sent right after BeginTransaction; every transaction must end as asked, and
// read_committed must hold exactly the committed ones.
func TestTransactionBackToBackEpochs(t *testing.T) {
	for _, protocol := range txnProtocols {
		t.Run(protocol, func(t *testing.T) {
			const topic, parts, txns, perTxn = "out", 3, 300, 6
			c := txnCluster(t, protocol, kfake.NumBrokers(3), kfake.SeedTopics(parts, topic))
			p := newTxnProducer(t, c, "epochs", func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
			ctx := context.Background()
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			tr := newTxnTracker()
			aborted := func(i int) bool { return (i/perTxn)%3 == 2 }
			for txn := range txns {
				if err := p.BeginTransaction(); err != nil {
					t.Fatalf("transaction %d: %v", txn, err)
				}
				for j := range perTxn {
					i := txn*perTxn + j
					p.SendAsync(ctx, &kastor.Record{Topic: topic, Partition: kastor.PartitionOf(int32(i % parts)), Value: value(i)}, tr.callback(txn, i))
				}
				if err := txnEnd(p, !aborted(txn*perTxn))(ctx); err != nil {
					t.Fatalf("transaction %d: %v", txn, err)
				}
				tr.wait(t, txn)
			}
			commitEndMarkers(t, p, topic, parts)
			checkTxnLog(t, "read_committed", readUntilEnds(t, c, topic, parts, true), tr, txns*perTxn, parts, func(i int) bool { return !aborted(i) })
		})
	}
}
