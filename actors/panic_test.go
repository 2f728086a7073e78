//go:build kastor_faultinject

package actors

// Tests that make an actor panic on purpose, through hooks compiled only with the
// kastor_faultinject build tag (the README's test command sets it).

import (
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
	expectMsg[*messages.PartitionReady](t, sender) // record 0 is in its batch
	faultinject.OnAccumulatorAppend(func(tp messages.TopicPartition) {
		if tp == testTP {
			panic("injected")
		}
	})
	defer faultinject.OnAccumulatorAppend(nil)
	e.appendRec(acc, rc, 1, rec("b", "1", 2))
	// Handled after the restart: the mailbox waits for it.
	sink := e.newProbe()
	e.sys.Root.Send(acc, &messages.Route{Sink: sink.pid})
	b := nextBatch(t, sink)
	faultinject.OnAccumulatorAppend(nil)
	if b.Records != 1 {
		t.Fatalf("sent %d records after the restart, want the one appended before the panic", b.Records)
	}
	rc.none(t, quiet) // record 1 waits for record 0
	e.sys.Root.Send(acc, &messages.BatchDone{BatchID: b.BatchID, BaseOffset: 0, LogAppendTime: -1})
	rc.expectOK(t, 0, 0)
	rc.expectErr(t, 1, messages.ErrInternal)
}

// TestSenderPanicLosesRoutes: a sender that panics while routing is restarted, and the restarted
// sender tells every accumulator its route is lost (its sinks stopped with the old instance).
func TestSenderPanicLosesRoutes(t *testing.T) {
	e := newEnv(t, testSettings())
	e.publishCluster(map[int32]string{1: "b1:9092"}, map[string]*TopicInfo{"t": topicWithLeaders(1, 1)})
	snd, _ := e.newSender()
	acc := e.newProbe()
	e.shared.registerInbox(tp("t", 0), &Inbox{pid: acc.pid}) // so the restarted sender finds it
	faultinject.OnSenderRoute(func() { panic("injected") })
	defer faultinject.OnSenderRoute(nil)
	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 0), Accumulator: acc.pid})
	expectMsg[*messages.RouteLost](t, acc)
	faultinject.OnSenderRoute(nil)
	e.sys.Root.Send(snd, &messages.PartitionReady{TP: tp("t", 0), Accumulator: acc.pid})
	expectMsg[*messages.Route](t, acc)
}
