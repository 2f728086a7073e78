package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor/messages"
)

// TestProducerActorTree: the producer actor spawns one accumulator per partition on demand and
// registers it; records appended to it reach the scripted broker through the sender and complete
// at its offsets; stopping the producer stops the whole tree.
func TestProducerActorTree(t *testing.T) {
	pb := &produceBroker{next: map[string]int64{}}
	fb := newFakeBroker(t, func(req kmsg.Request) reply {
		if mr, ok := req.(*kmsg.MetadataRequest); ok {
			return reply{resp: metadataAnswer(mr, nil)}
		}
		return pb.handle(req)
	})
	set := testSettings()
	set.Bootstrap = []string{"boot:9092"}
	set.Dial = fb.dial
	e := newEnv(t, set)
	stopped := make(chan struct{})
	prod := e.spawn(newProducerProps(e.shared, stopped))

	spawn := func(tp messages.TopicPartition) *actor.PID {
		t.Helper()
		reply := make(chan *actor.PID, 1)
		e.sys.Root.Send(prod, &SpawnAccumulator{TP: tp, Reply: reply})
		select {
		case pid := <-reply:
			return pid
		case <-time.After(waitLimit):
			t.Fatal("no accumulator")
			return nil
		}
	}
	acc := spawn(tp("t", 0))
	if again := spawn(tp("t", 0)); !again.Equal(acc) {
		t.Fatalf("second SpawnAccumulator gave %v, want the same %v", again, acc)
	}
	if got, ok := e.shared.Accumulator(tp("t", 0)); !ok || !got.Equal(acc) {
		t.Fatalf("registry has %v %v", got, ok)
	}

	// Ask for the topic through the producer, then wait for the snapshot to name its leader.
	for {
		cl := e.shared.Cluster()
		if _, _, ok := cl.Leader(tp("t", 0)); ok {
			break
		}
		e.sys.Root.Send(prod, &messages.RefreshMetadata{Topics: []string{"t"}, Reason: "test"})
		select {
		case <-cl.Updated():
		case <-time.After(waitLimit):
			t.Fatal("no metadata for t")
		}
	}

	rc := newRecorder()
	for i := range 3 {
		e.appendRec(acc, rc, i, rec("k", "v", int64(i)))
	}
	for i := range 3 {
		rc.expectOK(t, i, int64(i))
	}

	e.stop(prod)
	select {
	case <-stopped:
	case <-time.After(waitLimit):
		t.Fatal("stopped channel not closed")
	}
}
