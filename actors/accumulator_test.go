package actors

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

var testTP = messages.TopicPartition{Topic: "t", Partition: 3}

// TestAccumulatorDrainEncodesRecords: with linger 0 the first Append announces the partition once;
// Drain hands over one sealed batch holding exactly the appended records.
func TestAccumulatorDrainEncodesRecords(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	want := []testRecord{
		rec("k0", "v0", 1000, wire.Header{Key: "h1", Value: []byte("x")}, wire.Header{Key: "h2"}, wire.Header{Key: "h3", Value: []byte{}}),
		rec("", "v1", 1005), // null key
		rec("k2", "", 999),  // null value, timestamp before the first record's
		{rec: &messages.Record{Topic: "t", Key: []byte{}, Value: []byte{}}, ts: 1001}, // empty, not null
	}
	for i, r := range want {
		e.appendRec(acc, rc, i, r)
	}
	ready := expectMsg[*messages.PartitionReady](t, sender)
	if ready.TP != testTP || !ready.Accumulator.Equal(acc) {
		t.Fatalf("PartitionReady %+v, want tp %v from %v", ready, testTP, acc)
	}
	d := e.drain(t, acc, sender, 7)
	if d.TP != testTP || !d.Accumulator.Equal(acc) || d.MoreReady || d.Batch == nil {
		t.Fatalf("Drained %+v, want one batch of %v and nothing more", d, testTP)
	}
	b := d.Batch
	if b.TP != testTP || !b.Accumulator.Equal(acc) || b.Records != len(want) {
		t.Fatalf("Batch tp %v acc %v records %d, want %v %v %d", b.TP, b.Accumulator, b.Records, testTP, acc, len(want))
	}
	rb := decodeBatch(t, b.Data)
	checkRecords(t, rb, want)
	if rb.MaxTimestamp != 1005 || rb.Codec() != wire.CodecNone || rb.ProducerID != -1 || rb.BaseSequence != -1 {
		t.Errorf("batch header: max timestamp %d codec %v producer id %d base sequence %d",
			rb.MaxTimestamp, rb.Codec(), rb.ProducerID, rb.BaseSequence)
	}
	sender.none(t, quiet) // one PartitionReady for the whole batch, nothing after the drain

	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: 40, LogAppendTime: -1, LogStartOffset: 0})
	sizes := [][2]int{{2, 2}, {-1, 2}, {2, -1}, {0, 0}}
	for i, r := range want {
		ev := rc.expectOK(t, i, int64(40+i))
		md := ev.md
		if md.Topic != testTP.Topic || md.Partition != testTP.Partition || !md.Timestamp.Equal(time.UnixMilli(r.ts)) ||
			md.SerializedKeySize != sizes[i][0] || md.SerializedValueSize != sizes[i][1] {
			t.Errorf("record %d metadata %+v, want timestamp %d key/value sizes %v", i, md, r.ts, sizes[i])
		}
	}
}

// TestAccumulatorLinger: with linger 50ms the partition is announced once, no earlier than linger
// after the first record, and a Drain before then finds nothing ready.
func TestAccumulatorLinger(t *testing.T) {
	set := testSettings()
	set.Linger = 50 * time.Millisecond
	e := newEnv(t, set)
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	start := time.Now()
	e.appendAt(acc, rc, 0, rec("a", "1", 1), start.UnixNano())
	e.appendRec(acc, rc, 1, rec("b", "2", 2))
	if d := e.drain(t, acc, sender, 1); d.Batch != nil || d.MoreReady {
		if time.Since(start) >= set.Linger {
			t.Skip("the machine is too slow to drain within the linger time")
		}
		t.Fatalf("Drain during linger returned %+v, want nothing", d)
	}
	expectMsg[*messages.PartitionReady](t, sender)
	if elapsed := time.Since(start); elapsed < set.Linger {
		t.Fatalf("PartitionReady %v after the first record, before linger %v", elapsed, set.Linger)
	}
	sender.none(t, quiet)
	d := e.drain(t, acc, sender, 2)
	if d.Batch == nil || d.Batch.Records != 2 {
		t.Fatalf("Drained %+v after linger, want both records", d)
	}
}

// TestAccumulatorSplitsAtBatchSize: records beyond BatchSize start new batches; MoreReady says
// whether another full batch waits; the last, partial batch lingers.
func TestAccumulatorSplitsAtBatchSize(t *testing.T) {
	set := testSettings()
	set.BatchSize = 400
	set.Linger = time.Hour
	e := newEnv(t, set)
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()

	r := rec("", strings.Repeat("x", 50), 1000)
	var probeBuilder wire.BatchBuilder
	perBatch := 0
	for probeBuilder.AppendIfFits(set.BatchSize, r.ts, r.rec.Key, r.rec.Value, nil) {
		perBatch++
	}
	if perBatch < 2 {
		t.Fatalf("test setup: %d records per batch", perBatch)
	}
	n := 2*perBatch + 1
	var all []testRecord
	for i := range n {
		r := rec("", strings.Repeat(string(rune('a'+i%26)), 50), 1000)
		all = append(all, r)
		e.appendRec(acc, rc, i, r)
	}
	expectMsg[*messages.PartitionReady](t, sender)
	sender.none(t, quiet)

	d1 := e.drain(t, acc, sender, 1)
	if d1.Batch == nil || !d1.MoreReady {
		t.Fatalf("first Drained %+v, want a batch and MoreReady", d1)
	}
	sender.none(t, quiet) // MoreReady replaces a PartitionReady
	d2 := e.drain(t, acc, sender, 2)
	if d2.Batch == nil || d2.MoreReady {
		t.Fatalf("second Drained %+v, want a batch and no MoreReady (the rest lingers)", d2)
	}
	if d3 := e.drain(t, acc, sender, 3); d3.Batch != nil || d3.MoreReady {
		t.Fatalf("third Drained %+v, want nothing", d3)
	}
	for i, d := range []*messages.Drained{d1, d2} {
		if len(d.Batch.Data) > set.BatchSize {
			t.Errorf("batch %d is %d bytes, more than BatchSize %d", i, len(d.Batch.Data), set.BatchSize)
		}
		checkRecords(t, decodeBatch(t, d.Batch.Data), all[i*perBatch:(i+1)*perBatch])
	}
	if d1.Batch.BatchID >= d2.Batch.BatchID {
		t.Errorf("batch seqs %d, %d are not increasing", d1.Batch.BatchID, d2.Batch.BatchID)
	}
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: d1.Batch.BatchID, BaseOffset: 0, LogAppendTime: -1})
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: d2.Batch.BatchID, BaseOffset: 100, LogAppendTime: -1})
	for i := range perBatch {
		rc.expectOK(t, i, int64(i))
	}
	for i := range perBatch {
		rc.expectOK(t, perBatch+i, int64(100+i))
	}
	rc.none(t, quiet)
	e.stop(acc) // the lingering record is failed, not lost
	rc.expectErr(t, n-1, messages.ErrProducerClosed)
}

// TestAccumulatorBatchDoneCompletesInOrder: a successful BatchDone completes every record once,
// in order, at base offset + index, then releases the reserved bytes.
func TestAccumulatorBatchDoneCompletesInOrder(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	var reserved int64
	for i := range 5 {
		r := rec(fmt.Sprint("k", i), fmt.Sprint("v", i), int64(i))
		reserved += int64(len(r.rec.Key) + len(r.rec.Value) + 10)
		e.appendRec(acc, rc, i, r)
	}
	expectMsg[*messages.PartitionReady](t, sender)
	d := e.drain(t, acc, sender, 1)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: d.Batch.BatchID, BaseOffset: 1000, LogAppendTime: -1, LogStartOffset: 0})
	for i := range 5 {
		rc.expectOK(t, i, int64(1000+i))
	}
	e.settle(t)
	if got := e.released.Load(); got != reserved {
		t.Errorf("released %d bytes, want %d", got, reserved)
	}
	// Stopping fails nothing more: every record completed exactly once.
	e.stop(acc)
	e.settle(t)
	rc.none(t, quiet)
}

// TestAccumulatorLogAppendTime: a topic with LogAppendTime reports the broker's time.
func TestAccumulatorLogAppendTime(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("k", "v", 5))
	e.appendRec(acc, rc, 1, rec("k", "v", 6))
	expectMsg[*messages.PartitionReady](t, sender)
	d := e.drain(t, acc, sender, 1)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: d.Batch.BatchID, BaseOffset: 9, LogAppendTime: 777})
	for i := range 2 {
		if ev := rc.expectOK(t, i, int64(9+i)); !ev.md.Timestamp.Equal(time.UnixMilli(777)) {
			t.Errorf("record %d timestamp %v, want the log append time", i, ev.md.Timestamp)
		}
	}
}

// TestAccumulatorCompletesBatchesInOrder: the second batch's answer arriving first is held until
// the first batch's answer, then both complete in send order.
func TestAccumulatorCompletesBatchesInOrder(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	expectMsg[*messages.PartitionReady](t, sender)
	first := e.drain(t, acc, sender, 1).Batch
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	expectMsg[*messages.PartitionReady](t, sender)
	second := e.drain(t, acc, sender, 2).Batch
	if first == nil || second == nil || first.BatchID == second.BatchID {
		t.Fatalf("batches %+v, %+v, want two distinct batches", first, second)
	}

	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: second.BatchID, BaseOffset: 50, LogAppendTime: -1})
	e.settle(t)
	rc.none(t, quiet)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: first.BatchID, BaseOffset: 10, LogAppendTime: -1})
	rc.expectOK(t, 0, 10)
	rc.expectOK(t, 1, 50)
}

// TestAccumulatorRetriesRetriableError: a retriable error sends the batch back to the head of the
// partition; it is announced again after the retry backoff and drained with the same bytes.
func TestAccumulatorRetriesRetriableError(t *testing.T) {
	set := testSettings()
	set.RetryBackoff, set.RetryBackoffMax = 40*time.Millisecond, 40*time.Millisecond
	e := newEnv(t, set)
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	want := []testRecord{rec("a", "0", 1), rec("b", "1", 2)}
	for i, r := range want {
		e.appendRec(acc, rc, i, r)
	}
	expectMsg[*messages.PartitionReady](t, sender)
	first := e.drain(t, acc, sender, 1).Batch
	data := bytes.Clone(first.Data)

	failed := time.Now()
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: first.BatchID, BaseOffset: -1, LogAppendTime: -1,
		Err: fmt.Errorf("%w (t-3: moved)", wire.ErrNotLeaderOrFollower)})
	// Not ready during the backoff.
	if d := e.drain(t, acc, sender, 2); d.Batch != nil {
		if time.Since(failed) >= set.RetryBackoff*8/10 {
			t.Skip("the machine is too slow to drain within the retry backoff")
		}
		t.Fatalf("Drain during the retry backoff returned a batch")
	}
	expectMsg[*messages.PartitionReady](t, sender)
	if elapsed, least := time.Since(failed), set.RetryBackoff*8/10; elapsed < least {
		t.Fatalf("re-announced %v after the failure, before the backoff (at least %v)", elapsed, least)
	}
	retry := e.drain(t, acc, sender, 3).Batch
	if retry == nil || retry.BatchID != first.BatchID || !bytes.Equal(retry.Data, data) {
		t.Fatalf("retry %+v, want batch %d with the same bytes", retry, first.BatchID)
	}
	checkRecords(t, decodeBatch(t, retry.Data), want)
	e.settle(t)
	rc.none(t, 0)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: retry.BatchID, BaseOffset: 7, LogAppendTime: -1})
	rc.expectOK(t, 0, 7)
	rc.expectOK(t, 1, 8)
}

// TestAccumulatorRetryKeepsOrder: records appended while a batch waits to be retried go after it.
func TestAccumulatorRetryKeepsOrder(t *testing.T) {
	set := testSettings()
	set.RetryBackoff, set.RetryBackoffMax = time.Millisecond, time.Millisecond
	e := newEnv(t, set)
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	expectMsg[*messages.PartitionReady](t, sender)
	first := e.drain(t, acc, sender, 1).Batch
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	expectMsg[*messages.PartitionReady](t, sender)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: first.BatchID, Err: fmt.Errorf("%w", wire.ErrRequestTimedOut), BaseOffset: -1, LogAppendTime: -1})
	d := e.drain(t, acc, sender, 2)
	for d.Batch == nil { // the drain may beat the 1ms backoff
		expectMsg[*messages.PartitionReady](t, sender)
		d = e.drain(t, acc, sender, 3)
	}
	if d.Batch.BatchID != first.BatchID {
		t.Fatalf("drained batch %d first, want the retried batch %d", d.Batch.BatchID, first.BatchID)
	}
	if !d.MoreReady {
		t.Fatalf("Drained %+v, want MoreReady for the newer batch", d)
	}
	second := e.drain(t, acc, sender, 4).Batch
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: second.BatchID, BaseOffset: 21, LogAppendTime: -1})
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: first.BatchID, BaseOffset: 20, LogAppendTime: -1})
	rc.expectOK(t, 0, 20)
	rc.expectOK(t, 1, 21)
}

// TestAccumulatorFailsNonRetriableError: a non-retriable error fails the batch's records with it,
// and the batch is not sent again.
func TestAccumulatorFailsNonRetriableError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		targets []error
	}{
		{"authorization", fmt.Errorf("%w (t-3)", wire.ErrTopicAuthorizationFailed), []error{wire.ErrTopicAuthorizationFailed}},
		{"too large, one record", fmt.Errorf("%w (t-3)", wire.ErrMessageTooLarge), []error{wire.ErrMessageTooLarge, messages.ErrRecordTooLarge}},
		{"unknown code", wire.ErrorForCode(9999), []error{wire.ErrorForCode(9999)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testSettings())
			acc, sender := e.newAccumulator(testTP)
			rc := newRecorder()
			e.appendRec(acc, rc, 0, rec("k", "v", 1))
			expectMsg[*messages.PartitionReady](t, sender)
			b := e.drain(t, acc, sender, 1).Batch
			e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, Err: tc.err, BaseOffset: -1, LogAppendTime: -1})
			ev := rc.expectErr(t, 0, tc.targets[0])
			for _, target := range tc.targets[1:] {
				if !errors.Is(ev.err, target) {
					t.Errorf("error %v does not match %v", ev.err, target)
				}
			}
			sender.none(t, quiet)
		})
	}
}

// TestAccumulatorSplitsOversizeBatch: MESSAGE_TOO_LARGE on a batch of several records splits it in
// two halves, sent again in its place, and the records complete in order.
func TestAccumulatorSplitsOversizeBatch(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	want := []testRecord{rec("a", "0", 10), rec("b", "1", 11, wire.Header{Key: "h", Value: []byte("v")}), rec("", "2", 12), rec("d", "", 9)}
	for i, r := range want {
		e.appendRec(acc, rc, i, r)
	}
	expectMsg[*messages.PartitionReady](t, sender)
	b := e.drain(t, acc, sender, 1).Batch
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, Err: fmt.Errorf("%w (t-3)", wire.ErrMessageTooLarge), BaseOffset: -1, LogAppendTime: -1})
	expectMsg[*messages.PartitionReady](t, sender)
	d1 := e.drain(t, acc, sender, 2)
	if d1.Batch == nil || !d1.MoreReady {
		t.Fatalf("first half %+v, want a batch and MoreReady", d1)
	}
	d2 := e.drain(t, acc, sender, 3)
	if d2.Batch == nil || d2.MoreReady {
		t.Fatalf("second half %+v, want a batch and nothing more", d2)
	}
	checkRecords(t, decodeBatch(t, d1.Batch.Data), want[:2])
	checkRecords(t, decodeBatch(t, d2.Batch.Data), want[2:])
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: d2.Batch.BatchID, BaseOffset: 20, LogAppendTime: -1})
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: d1.Batch.BatchID, BaseOffset: 10, LogAppendTime: -1})
	for i, off := range []int64{10, 11, 20, 21} {
		rc.expectOK(t, i, off)
	}
}

// TestAccumulatorFlush: A flush marker makes a lingering batch ready at once and calls Done after
// that batch's records completed, not before, and without waiting for records appended later.
func TestAccumulatorFlush(t *testing.T) {
	set := testSettings()
	set.Linger = time.Hour
	e := newEnv(t, set)
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	sender.none(t, quiet)
	e.flush(acc, rc.mark("flush"))
	expectMsg[*messages.PartitionReady](t, sender)
	e.appendRec(acc, rc, 2, rec("c", "2", 3)) // after the flush: not waited for
	d := e.drain(t, acc, sender, 1)
	if d.Batch == nil || d.Batch.Records != 2 || d.MoreReady {
		t.Fatalf("Drained %+v, want the two flushed records and nothing more", d)
	}
	e.settle(t)
	rc.none(t, quiet) // Done waits for the batch
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: d.Batch.BatchID, BaseOffset: 0, LogAppendTime: -1})
	rc.expectOK(t, 0, 0)
	rc.expectOK(t, 1, 1)
	rc.expectMark(t, "flush")
	sender.none(t, quiet) // the record appended after the flush still lingers
}

// TestAccumulatorFlushEmpty: A flush marker on an accumulator holding nothing calls Done.
func TestAccumulatorFlushEmpty(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.flush(acc, rc.mark("flush"))
	rc.expectMark(t, "flush")
	sender.none(t, quiet)
}

// TestAccumulatorFlushInFlight: a flush while the only batch is in flight waits for its answer.
func TestAccumulatorFlushInFlight(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	expectMsg[*messages.PartitionReady](t, sender)
	b := e.drain(t, acc, sender, 1).Batch
	e.flush(acc, rc.mark("flush"))
	e.settle(t)
	rc.none(t, quiet)
	sender.none(t, 0)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: 3, LogAppendTime: -1})
	rc.expectOK(t, 0, 3)
	rc.expectMark(t, "flush")
}

// TestAccumulatorAbort: AbortPartition fails queued and in-flight records with its error, in
// order; a late BatchDone for an aborted batch is ignored; later Appends fail at once.
func TestAccumulatorAbort(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	expectMsg[*messages.PartitionReady](t, sender)
	inflight := e.drain(t, acc, sender, 1).Batch
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	e.appendRec(acc, rc, 2, rec("c", "2", 3))
	expectMsg[*messages.PartitionReady](t, sender)
	abort := errors.New("aborted by the test")
	e.sys.Root.Send(acc, &messages.AbortPartition{Err: abort})
	for i := range 3 {
		rc.expectErr(t, i, abort)
	}
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: inflight.BatchID, BaseOffset: 100, LogAppendTime: -1})
	if d := e.drain(t, acc, sender, 2); d.Batch != nil {
		t.Fatalf("Drain after abort returned a batch")
	}
	e.settle(t)
	rc.none(t, quiet)
	e.appendRec(acc, rc, 3, rec("d", "3", 4))
	rc.expectErr(t, 3, abort)
	e.stop(acc)
	e.settle(t)
	rc.none(t, 0)
}

// TestAccumulatorDeliveryTimeout: a queued batch older than DeliveryTimeout fails with
// ErrDeliveryTimeout without being sent.
func TestAccumulatorDeliveryTimeout(t *testing.T) {
	set := testSettings()
	set.Linger = time.Hour
	set.DeliveryTimeout = 80 * time.Millisecond
	e := newEnv(t, set)
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	start := time.Now()
	e.appendAt(acc, rc, 0, rec("a", "0", 1), start.UnixNano())
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	rc.expectErr(t, 0, messages.ErrDeliveryTimeout)
	if elapsed := time.Since(start); elapsed < set.DeliveryTimeout {
		t.Fatalf("expired after %v, before DeliveryTimeout %v", elapsed, set.DeliveryTimeout)
	}
	rc.expectErr(t, 1, messages.ErrDeliveryTimeout)
	sender.none(t, quiet)
}

// TestAccumulatorDeliveryTimeoutInFlight: a batch in flight for longer than DeliveryTimeout fails
// too, and the late answer is ignored.
func TestAccumulatorDeliveryTimeoutInFlight(t *testing.T) {
	set := testSettings()
	set.DeliveryTimeout = 80 * time.Millisecond
	e := newEnv(t, set)
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	expectMsg[*messages.PartitionReady](t, sender)
	b := e.drain(t, acc, sender, 1).Batch
	rc.expectErr(t, 0, messages.ErrDeliveryTimeout)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: 5, LogAppendTime: -1})
	e.settle(t)
	rc.none(t, quiet)
}

// TestAccumulatorRetriesExhausted: after Retries retries (Retries+1 attempts) the batch fails with
// the last attempt's error.
func TestAccumulatorRetriesExhausted(t *testing.T) {
	set := testSettings()
	set.Retries = 2
	set.RetryBackoff, set.RetryBackoffMax = time.Millisecond, time.Millisecond
	e := newEnv(t, set)
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	var seq uint64
	for attempt := 1; attempt <= set.Retries+1; attempt++ {
		expectMsg[*messages.PartitionReady](t, sender)
		b := e.drain(t, acc, sender, uint64(attempt)).Batch
		if b == nil {
			t.Fatalf("attempt %d: nothing drained", attempt)
		}
		if attempt > 1 && b.BatchID != seq {
			t.Fatalf("attempt %d drained batch %d, want %d", attempt, b.BatchID, seq)
		}
		seq = b.BatchID
		e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: -1, LogAppendTime: -1,
			Err: fmt.Errorf("attempt %d: %w", attempt, wire.ErrNotEnoughReplicas)})
	}
	ev := rc.expectErr(t, 0, wire.ErrNotEnoughReplicas)
	if !strings.Contains(ev.err.Error(), fmt.Sprintf("attempt %d", set.Retries+1)) {
		t.Errorf("failed with %v, want the last attempt's error", ev.err)
	}
	sender.none(t, quiet)
}

// TestAccumulatorStopFailsEverything: stopping the actor fails what it holds, in flight or
// queued, with ErrProducerClosed, in order, and then calls the flush waiters.
func TestAccumulatorStopFailsEverything(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	expectMsg[*messages.PartitionReady](t, sender)
	e.drain(t, acc, sender, 1)
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	expectMsg[*messages.PartitionReady](t, sender)
	e.flush(acc, rc.mark("flush"))
	e.poison(acc) // handles the flush, then stops
	rc.expectErr(t, 0, messages.ErrProducerClosed)
	rc.expectErr(t, 1, messages.ErrProducerClosed)
	rc.expectMark(t, "flush")
	e.settle(t)
	rc.none(t, 0)
}

// TestAccumulatorReannounce: Reannounce (the sender restarted) repeats PartitionReady.
func TestAccumulatorReannounce(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	expectMsg[*messages.PartitionReady](t, sender)
	e.sys.Root.Send(acc, &messages.Reannounce{})
	expectMsg[*messages.PartitionReady](t, sender)
	sender.none(t, quiet)
}

// TestExpiredInFlightBatchBufferIsNotReused (found as a bug): when a drained batch expires (DeliveryTimeout) while
// the sender still holds it, the accumulator returns the batch's buffer to Shared.Buffers at
// once. Batch.Data (with CodecNone, the builder's own storage) still points into it, and the
// connection only copies it when it writes the request, which may be much later (dialling, a
// busy mailbox). The next batch the pool hands that buffer to overwrites the bytes about to be
// written: a corrupt batch on the wire, or another partition's records in this one.
func TestExpiredInFlightBatchBufferIsNotReused(t *testing.T) {
	prev := runtime.GOMAXPROCS(1) // one P: the pool hands the buffer straight back
	defer runtime.GOMAXPROCS(prev)
	set := testSettings()
	set.DeliveryTimeout = 30 * time.Millisecond
	e := newEnv(t, set)
	for attempt := range 20 { // sync.Pool drops some Puts under -race
		acc, sender := e.newAccumulator(testTP)
		rc := newRecorder()
		e.appendRec(acc, rc, 0, rec("key", strings.Repeat("a", 200), 1))
		expectMsg[*messages.PartitionReady](t, sender)
		d := e.drain(t, acc, sender, 1)
		saved := bytes.Clone(d.Batch.Data)
		rc.expectErr(t, 0, messages.ErrDeliveryTimeout) // the sender has not answered yet
		e.appendRec(acc, rc, 1, rec("other", strings.Repeat("b", 200), 2))
		expectMsg[*messages.PartitionReady](t, sender)
		if !bytes.Equal(d.Batch.Data, saved) {
			t.Fatalf("attempt %d: the Data of a batch still in flight was overwritten by a newer batch", attempt)
		}
		e.stop(acc)
	}
}

// TestAccumulatorUrgentSkipsLinger: a record someone waits for (Send) makes its batch ready at
// once, whatever the linger; records appended before the drain join it.
func TestAccumulatorUrgentSkipsLinger(t *testing.T) {
	set := testSettings()
	set.Linger = time.Minute
	e := newEnv(t, set)
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("", "lingering", 1))
	e.settle(t)
	sender.none(t, quiet)
	r := rec("", "urgent", 2)
	e.push(acc, messages.Append{Record: r.rec, TimestampMs: r.ts, Reserved: 16, EnqueuedNs: time.Now().UnixNano(), Done: rc.done(1), Urgent: true})
	expectMsg[*messages.PartitionReady](t, sender)
	e.appendRec(acc, rc, 2, rec("", "rides along", 3))
	e.settle(t)
	d := e.drain(t, acc, sender, 1)
	if d.Batch == nil || d.Batch.Records != 3 {
		t.Fatalf("drained %+v, want one batch of the 3 records", d)
	}
}
