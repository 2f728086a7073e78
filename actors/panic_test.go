//go:build kastor_faultinject

package actors

// Tests that make an actor panic on purpose, through hooks compiled only with the
// kastor_faultinject build tag (the README's test command sets it).

import (
	"errors"
	"testing"

	"github.com/kastor-go/kastor/internal/faultinject"
	"github.com/kastor-go/kastor/messages"
)

// TestAccumulatorPanicKeepsBatches: a panic while appending fails that record with ErrInternal,
// in send order (after the record before it); the restarted actor keeps the batches it held.
func TestAccumulatorPanicKeepsBatches(t *testing.T) {
	e := newEnv(t, testSettings())
	acc, sender := e.newAccumulator(testTP)
	rc := newRecorder()
	e.appendRec(acc, rc, 0, rec("a", "0", 1))
	expectMsg[*messages.PartitionReady](t, sender)
	faultinject.OnAccumulatorAppend(func(tp messages.TopicPartition) {
		if tp == testTP {
			panic("injected")
		}
	})
	defer faultinject.OnAccumulatorAppend(nil)
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	// After the restart the partition is announced again (Started re-announces).
	expectMsg[*messages.PartitionReady](t, sender)
	faultinject.OnAccumulatorAppend(nil)
	rc.none(t, quiet) // record 1 waits for record 0
	d := e.drain(t, acc, sender, 1)
	if d.Batch == nil || d.Batch.Records != 1 {
		t.Fatalf("Drained %+v after the restart, want the record appended before the panic", d)
	}
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: d.Batch.BatchID, BaseOffset: 0, LogAppendTime: -1})
	rc.expectOK(t, 0, 0)
	rc.expectErr(t, 1, messages.ErrInternal)
}

// TestSenderPanicReturnsBatch: a sender that panics while handling a drained batch hands the batch
// back as not sent (retriable), and the restarted sender asks every accumulator to announce itself
// again.
func TestSenderPanicReturnsBatch(t *testing.T) {
	e := newEnv(t, testSettings())
	e.publishCluster(map[int32]string{1: "b1:9092"}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1)})
	snd, _ := e.newSender()
	acc := e.newProbe()
	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 0), Accumulator: acc.pid})
	dr := expectMsg[*messages.Drain](t, acc)
	e.shared.registerInbox(tp("t", 0), &Inbox{pid: acc.pid}) // so the restarted sender finds it

	faultinject.OnSenderDrained(func() { panic("injected") })
	defer faultinject.OnSenderDrained(nil)
	b := &messages.Batch{TP: tp("t", 0), Accumulator: acc.pid, BatchID: 3, Data: sealedBatch(t, 1), Records: 1}
	e.sys.Root.Send(snd, &messages.Drained{TP: b.TP, Accumulator: acc.pid, Gather: dr.Gather, Batch: b})
	done := expectMsg[*messages.BatchDone](t, acc)
	if done.BatchID != 3 || !errors.Is(done.Err, messages.ErrConnection) || !classify(done.Err).retry {
		t.Fatalf("BatchDone %+v, want seq 3 back as retriable", done)
	}
	faultinject.OnSenderDrained(nil)
	expectMsg[*messages.Reannounce](t, acc)
}
