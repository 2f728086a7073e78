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

// TestAccumulatorSendEncodesRecords: with no route the partition asks the sender for one, once;
// once routed, the batch goes to the sink sealed, holding exactly the appended records.
func TestAccumulatorSendEncodesRecords(t *testing.T) {
	e := newEnv(t, testSettings())
	e.shared.Settings.Linger = 50 * time.Millisecond // the records share a batch
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
	sink := e.newProbe()
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	b := nextBatch(t, sink)
	if b.TP != testTP || !b.Accumulator.Equal(acc) || b.Records != len(want) {
		t.Fatalf("Batch tp %v acc %v records %d, want %v %v %d", b.TP, b.Accumulator, b.Records, testTP, acc, len(want))
	}
	rb := decodeBatch(t, b.Data)
	checkRecords(t, rb, want)
	if rb.MaxTimestamp != 1005 || rb.Codec() != wire.CodecNone || rb.ProducerID != -1 || rb.BaseSequence != -1 {
		t.Errorf("batch header: max timestamp %d codec %v producer id %d base sequence %d",
			rb.MaxTimestamp, rb.Codec(), rb.ProducerID, rb.BaseSequence)
	}
	sender.none(t, quiet) // one PartitionReady, however many batches
	sink.none(t, 0)

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

// TestAccumulatorLinger: with linger 50ms a routed partition sends its batch no earlier than
// linger after the first record, with every record appended meanwhile.
func TestAccumulatorLinger(t *testing.T) {
	set := testSettings()
	set.Linger = 50 * time.Millisecond
	e := newEnv(t, set)
	acc, sender, sink := e.newRoutedAccumulator(testTP)
	rc := newRecorder()
	start := time.Now()
	e.appendAt(acc, rc, 0, rec("a", "1", 1), start.UnixNano())
	e.appendRec(acc, rc, 1, rec("b", "2", 2))
	b := nextBatch(t, sink)
	if elapsed := time.Since(start); elapsed < set.Linger {
		t.Fatalf("batch sent %v after the first record, before linger %v", elapsed, set.Linger)
	}
	if b.Records != 2 {
		t.Fatalf("batch of %d records after linger, want both", b.Records)
	}
	sender.none(t, quiet)
	sink.none(t, 0)
}

// TestAccumulatorSplitsAtBatchSize: records beyond BatchSize start new batches; full batches go at
// once, the last, partial batch lingers.
func TestAccumulatorSplitsAtBatchSize(t *testing.T) {
	set := testSettings()
	set.BatchSize = 400
	set.Linger = time.Hour
	e := newEnv(t, set)
	acc, sender, sink := e.newRoutedAccumulator(testTP)
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
	b1, b2 := nextBatch(t, sink), nextBatch(t, sink)
	sink.none(t, quiet) // the rest lingers
	sender.none(t, 0)
	for i, b := range []*messages.Batch{b1, b2} {
		if len(b.Data) > set.BatchSize {
			t.Errorf("batch %d is %d bytes, more than BatchSize %d", i, len(b.Data), set.BatchSize)
		}
		checkRecords(t, decodeBatch(t, b.Data), all[i*perBatch:(i+1)*perBatch])
	}
	if b1.BatchID >= b2.BatchID {
		t.Errorf("batch ids %d, %d are not increasing", b1.BatchID, b2.BatchID)
	}
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b1.BatchID, BaseOffset: 0, LogAppendTime: -1})
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b2.BatchID, BaseOffset: 100, LogAppendTime: -1})
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
	e.settle(t) // every record is in the batch before it is routed
	sink := e.newProbe()
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	b := nextBatch(t, sink)
	if b.Records != 5 {
		t.Fatalf("batch of %d records, want 5", b.Records)
	}
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: 1000, LogAppendTime: -1, LogStartOffset: 0})
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
	e.settle(t)
	sink := e.newProbe()
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	b := nextBatch(t, sink)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: 9, LogAppendTime: 777})
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
	acc, _, sink := e.newRoutedAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	first := nextBatch(t, sink)
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	second := nextBatch(t, sink)
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

// TestAccumulatorRetriesRetriableError: a retriable error puts the batch back at the head of the
// partition and drops the route; after the retry backoff the partition asks for a route again
// and sends the batch with the same bytes.
func TestAccumulatorRetriesRetriableError(t *testing.T) {
	set := testSettings()
	set.RetryBackoff, set.RetryBackoffMax = 40*time.Millisecond, 40*time.Millisecond
	e := newEnv(t, set)
	e.shared.Settings.Linger = time.Hour // the records share a batch
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	want := []testRecord{rec("a", "0", 1), rec("b", "1", 2)}
	for i, r := range want {
		e.appendRec(acc, rc, i, r)
	}
	e.flush(acc, func() {})
	expectMsg[*messages.PartitionReady](t, sender)
	sink := e.newProbe()
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	first := nextBatch(t, sink)
	data := bytes.Clone(first.Data)

	failed := time.Now()
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: first.BatchID, BaseOffset: -1, LogAppendTime: -1,
		Err: fmt.Errorf("%w (t-3: moved)", wire.ErrNotLeaderOrFollower)})
	expectMsg[*messages.PartitionReady](t, sender)
	if elapsed, least := time.Since(failed), set.RetryBackoff*8/10; elapsed < least {
		t.Fatalf("asked for a route %v after the failure, before the backoff (at least %v)", elapsed, least)
	}
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	retry := nextBatch(t, sink)
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
	set.MaxInFlight = 1 // the newer batch waits while the first is out
	e := newEnv(t, set)
	acc, sender, sink := e.newRoutedAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	first := nextBatch(t, sink)
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	e.settle(t)
	sink.none(t, quiet)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: first.BatchID, Err: fmt.Errorf("%w", wire.ErrRequestTimedOut), BaseOffset: -1, LogAppendTime: -1})
	expectMsg[*messages.PartitionReady](t, sender)
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	if b := nextBatch(t, sink); b.BatchID != first.BatchID {
		t.Fatalf("sent batch %d first, want the retried batch %d", b.BatchID, first.BatchID)
	}
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: first.BatchID, Err: fmt.Errorf("%w", wire.ErrRequestTimedOut), BaseOffset: -1, LogAppendTime: -1})
	expectMsg[*messages.PartitionReady](t, sender)
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	if b := nextBatch(t, sink); b.BatchID != first.BatchID {
		t.Fatalf("sent batch %d, want the retried batch %d again", b.BatchID, first.BatchID)
	}
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: first.BatchID, BaseOffset: 20, LogAppendTime: -1})
	second := nextBatch(t, sink)
	rc.expectOK(t, 0, 20)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: second.BatchID, BaseOffset: 21, LogAppendTime: -1})
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
			acc, sender, sink := e.newRoutedAccumulator(testTP)
			rc := newRecorder()
			e.appendRec(acc, rc, 0, rec("k", "v", 1))
			b := nextBatch(t, sink)
			e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, Err: tc.err, BaseOffset: -1, LogAppendTime: -1})
			ev := rc.expectErr(t, 0, tc.targets[0])
			for _, target := range tc.targets[1:] {
				if !errors.Is(ev.err, target) {
					t.Errorf("error %v does not match %v", ev.err, target)
				}
			}
			sender.none(t, quiet)
			sink.none(t, 0)
		})
	}
}

// TestAccumulatorSplitsOversizeBatch: MESSAGE_TOO_LARGE on a batch of several records splits it in
// two halves, sent again in its place, and the records complete in order.
func TestAccumulatorSplitsOversizeBatch(t *testing.T) {
	e := newEnv(t, testSettings())
	e.shared.Settings.Linger = time.Hour
	acc, sender, sink := e.newRoutedAccumulator(testTP)
	rc := newRecorder()
	want := []testRecord{rec("a", "0", 10), rec("b", "1", 11, wire.Header{Key: "h", Value: []byte("v")}), rec("", "2", 12), rec("d", "", 9)}
	for i, r := range want {
		e.appendRec(acc, rc, i, r)
	}
	e.flush(acc, func() {})
	b := nextBatch(t, sink)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, Err: fmt.Errorf("%w (t-3)", wire.ErrMessageTooLarge), BaseOffset: -1, LogAppendTime: -1})
	expectMsg[*messages.PartitionReady](t, sender) // the route was dropped with the error
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	h1, h2 := nextBatch(t, sink), nextBatch(t, sink)
	sink.none(t, quiet)
	checkRecords(t, decodeBatch(t, h1.Data), want[:2])
	checkRecords(t, decodeBatch(t, h2.Data), want[2:])
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: h2.BatchID, BaseOffset: 20, LogAppendTime: -1})
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: h1.BatchID, BaseOffset: 10, LogAppendTime: -1})
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
	acc, _, sink := e.newRoutedAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	sink.none(t, quiet)
	e.flush(acc, rc.mark("flush"))
	e.appendRec(acc, rc, 2, rec("c", "2", 3)) // after the flush: not waited for
	b := nextBatch(t, sink)
	if b.Records != 2 {
		t.Fatalf("sent %d records, want the two flushed ones", b.Records)
	}
	e.settle(t)
	rc.none(t, quiet) // Done waits for the batch
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: 0, LogAppendTime: -1})
	rc.expectOK(t, 0, 0)
	rc.expectOK(t, 1, 1)
	rc.expectMark(t, "flush")
	sink.none(t, quiet) // the record appended after the flush still lingers
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
	acc, _, sink := e.newRoutedAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	b := nextBatch(t, sink)
	e.flush(acc, rc.mark("flush"))
	e.settle(t)
	rc.none(t, quiet)
	sink.none(t, 0)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: 3, LogAppendTime: -1})
	rc.expectOK(t, 0, 3)
	rc.expectMark(t, "flush")
}

// TestAccumulatorAbort: AbortPartition fails queued and in-flight records with its error, in
// order; a late BatchDone for an aborted batch is ignored; later Appends fail at once.
func TestAccumulatorAbort(t *testing.T) {
	set := testSettings()
	set.MaxInFlight = 1 // records 1 and 2 stay queued behind record 0
	e := newEnv(t, set)
	acc, _, sink := e.newRoutedAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	inflight := nextBatch(t, sink)
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	e.appendRec(acc, rc, 2, rec("c", "2", 3))
	e.settle(t)
	abort := errors.New("aborted by the test")
	e.sys.Root.Send(acc, &messages.AbortPartition{Err: abort})
	for i := range 3 {
		rc.expectErr(t, i, abort)
	}
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: inflight.BatchID, BaseOffset: 100, LogAppendTime: -1})
	e.settle(t)
	sink.none(t, quiet) // nothing left to send
	rc.none(t, 0)
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
	acc, _, sink := e.newRoutedAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	b := nextBatch(t, sink)
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
	sink := e.newProbe()
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	var seq uint64
	for attempt := 1; attempt <= set.Retries+1; attempt++ {
		expectMsg[*messages.PartitionReady](t, sender) // an error drops the route
		e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
		b := nextBatch(t, sink)
		if attempt > 1 && b.BatchID != seq {
			t.Fatalf("attempt %d sent batch %d, want %d", attempt, b.BatchID, seq)
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
	sink.none(t, 0)
}

// TestAccumulatorStopFailsEverything: stopping the actor fails what it holds, in flight or
// queued, with ErrProducerClosed, in order, and then calls the flush waiters.
func TestAccumulatorStopFailsEverything(t *testing.T) {
	set := testSettings()
	set.MaxInFlight = 1 // record 1 stays queued
	e := newEnv(t, set)
	acc, _, sink := e.newRoutedAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	nextBatch(t, sink)
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	e.flush(acc, rc.mark("flush"))
	e.poison(acc) // handles the flush, then stops
	rc.expectErr(t, 0, messages.ErrProducerClosed)
	rc.expectErr(t, 1, messages.ErrProducerClosed)
	rc.expectMark(t, "flush")
	e.settle(t)
	rc.none(t, 0)
}

// TestAccumulatorRouteLost: RouteLost (the sender restarted; its sinks are gone with what their
// mailboxes held) asks for a route again and sends again, as they were, the batches that were out.
func TestAccumulatorRouteLost(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender, sink := e.newRoutedAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	b := nextBatch(t, sink)
	data := bytes.Clone(b.Data)
	e.sys.Root.Send(acc, &messages.RouteLost{})
	expectMsg[*messages.PartitionReady](t, sender)
	sink2 := e.newProbe()
	e.sys.Root.Send(acc, &messages.Route{Sink: sink2.pid})
	again := nextBatch(t, sink2)
	if again.BatchID != b.BatchID || !bytes.Equal(again.Data, data) {
		t.Fatalf("sent batch %d again with other bytes, want batch %d as it was", again.BatchID, b.BatchID)
	}
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: 4, LogAppendTime: -1})
	rc.expectOK(t, 0, 4)
	sender.none(t, quiet)
	sink.none(t, 0)
}

// TestExpiredInFlightBatchBufferIsNotReused (found as a bug): when a batch handed to its sink expires
// (DeliveryTimeout) while the sink still holds it, the accumulator returns the batch's buffer to Shared.Buffers at
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
		acc, _, sink := e.newRoutedAccumulator(testTP)
		rc := newRecorder()
		e.appendRec(acc, rc, 0, rec("key", strings.Repeat("a", 200), 1))
		b := nextBatch(t, sink)
		saved := bytes.Clone(b.Data)
		rc.expectErr(t, 0, messages.ErrDeliveryTimeout) // the sink has not answered yet
		e.appendRec(acc, rc, 1, rec("other", strings.Repeat("b", 200), 2))
		nextBatch(t, sink)
		if !bytes.Equal(b.Data, saved) {
			t.Fatalf("attempt %d: the Data of a batch still in flight was overwritten by a newer batch", attempt)
		}
		e.stop(acc)
	}
}

// TestAccumulatorUrgentSkipsLinger: a record someone waits for (Send) makes its batch ready at
// once, whatever the linger; records appended before it is sent join it.
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
	sink := e.newProbe()
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	if b := nextBatch(t, sink); b.Records != 3 {
		t.Fatalf("sent %d records, want one batch of the 3", b.Records)
	}
}
