package actors

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

func TestNextSequenceWrapsLikeTheBroker(t *testing.T) {
	for _, tc := range []struct {
		base int32
		n    int
		want int32
	}{
		{0, 5, 5},
		{math.MaxInt32 - 5, 5, math.MaxInt32},
		{math.MaxInt32 - 5, 6, 0},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 1, 10, 8},
	} {
		if got := nextSequence(tc.base, tc.n); got != tc.want {
			t.Errorf("nextSequence(%d, %d) = %d, want %d", tc.base, tc.n, got, tc.want)
		}
	}
}

// sendBatch makes acc's open batch ready (a flush) and returns it as its sink gets it.
func sendBatch(t *testing.T, e *env, acc *actor.PID, sink *probe) (*messages.Batch, wire.RecordBatch) {
	t.Helper()
	e.flush(acc, func() {})
	b := nextBatch(t, sink)
	return b, decodeBatch(t, b.Data)
}

func checkProducerFields(t *testing.T, rb wire.RecordBatch, id int64, epoch int16, seq int32) {
	t.Helper()
	if rb.ProducerID != id || rb.ProducerEpoch != epoch || rb.BaseSequence != seq {
		t.Fatalf("batch has producer %d epoch %d sequence %d, want %d %d %d", rb.ProducerID, rb.ProducerEpoch, rb.BaseSequence, id, epoch, seq)
	}
}

// The idempotent accumulator: sequences are taken when a batch is first sent and kept across
// retries; a refused batch behind an older one waits for it, then goes with its old sequence;
// OUT_OF_ORDER at the head asks the sender for a new epoch once nothing is out, and the partition
// starts over at 0 under it; DUPLICATE_SEQUENCE_NUMBER completes the batch without an offset.
func TestAccumulatorIdempotentSequences(t *testing.T) {
	set := testSettings()
	set.Idempotent = true
	set.Linger = time.Hour // batches are made ready by flushes
	set.RetryBackoff, set.RetryBackoffMax = time.Millisecond, time.Millisecond
	e := newEnv(t, set)
	acc, sender := e.newAccumulator(testTP)
	sink := e.newProbe()
	e.sys.Root.Send(acc, &identityNews{id: &producerIdentity{ID: 77, Epoch: 3, Gen: 1}})
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	rc := newRecorder()

	// The ramp: until the broker accepted a batch of the epoch, one batch is out at a time.
	e.appendRec(acc, rc, 100, rec("", "z", 1))
	z, rb := sendBatch(t, e, acc, sink)
	checkProducerFields(t, rb, 77, 3, 0)
	e.appendRec(acc, rc, 0, rec("", "a0", 1))
	e.appendRec(acc, rc, 1, rec("", "a1", 1))
	e.flush(acc, func() {})
	e.settle(t)
	sink.none(t, quiet)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: z.BatchID, BaseOffset: 9, LogStartOffset: 0})
	rc.expectOK(t, 100, 9)
	a := nextBatch(t, sink)
	checkProducerFields(t, decodeBatch(t, a.Data), 77, 3, 1)
	aData := bytes.Clone(a.Data)
	e.appendRec(acc, rc, 2, rec("", "b", 1))
	b, rb := sendBatch(t, e, acc, sink)
	checkProducerFields(t, rb, 77, 3, 3)
	e.appendRec(acc, rc, 3, rec("", "c", 1))
	c, rb := sendBatch(t, e, acc, sink)
	checkProducerFields(t, rb, 77, 3, 4)

	// B refused as out of order (A is not written yet), then A refused: A goes first, alone.
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, Err: fmt.Errorf("%w (t-3)", wire.ErrOutOfOrderSequenceNumber), BaseOffset: -1, LogStartOffset: -1})
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: a.BatchID, Err: fmt.Errorf("%w (t-3)", wire.ErrNotLeaderOrFollower), BaseOffset: -1, LogStartOffset: -1})
	expectMsg[*messages.PartitionReady](t, sender) // the errors dropped the route
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	if again := nextBatch(t, sink); again.BatchID != a.BatchID || !bytes.Equal(again.Data, aData) {
		t.Fatalf("after the refusals: sent batch %d, want batch A (%d) unchanged", again.BatchID, a.BatchID)
	}
	e.settle(t)
	sink.none(t, quiet) // B waits while A is out
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: a.BatchID, BaseOffset: 10, LogStartOffset: 0})
	rc.expectOK(t, 0, 10)
	rc.expectOK(t, 1, 11)
	b2 := nextBatch(t, sink)
	if b2.BatchID != b.BatchID {
		t.Fatalf("sent batch %d, want B (%d)", b2.BatchID, b.BatchID)
	}
	checkProducerFields(t, decodeBatch(t, b2.Data), 77, 3, 3)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: 12, LogStartOffset: 0})
	rc.expectOK(t, 2, 12)

	// C refused as out of order at the head: a gap on the broker. Nothing is out, so the
	// accumulator asks for a newer epoch at once (once routed again), and waits for it.
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: c.BatchID, Err: fmt.Errorf("%w (t-3)", wire.ErrOutOfOrderSequenceNumber), BaseOffset: -1, LogStartOffset: 0})
	expectMsg[*messages.PartitionReady](t, sender)
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	bump := expectMsg[*messages.BumpEpoch](t, sender)
	if bump.Gen != 1 || bump.NewID || !bump.Accumulator.Equal(acc) {
		t.Fatalf("BumpEpoch %+v, want generation 1 from the accumulator", bump)
	}
	e.settle(t)
	sink.none(t, quiet)
	sender.none(t, 0)
	e.sys.Root.Send(acc, &identityNews{id: &producerIdentity{ID: 77, Epoch: 4, Gen: 2}})
	c2 := nextBatch(t, sink)
	if c2.BatchID != c.BatchID {
		t.Fatalf("sent batch %d, want C (%d)", c2.BatchID, c.BatchID)
	}
	rb = decodeBatch(t, c2.Data)
	checkProducerFields(t, rb, 77, 4, 0)
	checkRecords(t, rb, []testRecord{rec("", "c", 1)})
	// A new epoch ramps up again: D waits until C is accepted.
	e.appendRec(acc, rc, 4, rec("", "d", 1))
	e.flush(acc, func() {})
	e.settle(t)
	sink.none(t, quiet)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: c.BatchID, BaseOffset: 13, LogStartOffset: 0})
	rc.expectOK(t, 3, 13)
	dd := nextBatch(t, sink)
	checkProducerFields(t, decodeBatch(t, dd.Data), 77, 4, 1)
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: dd.BatchID, Err: fmt.Errorf("%w (t-3)", wire.ErrDuplicateSequenceNumber), BaseOffset: -1, LogStartOffset: 0})
	rc.expectOK(t, 4, -1)
}
