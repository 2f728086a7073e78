package actors

import (
	"errors"
	"fmt"
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
	e, prod, stopped := startProducerTree(t, func(*Settings) {})
	spawn := func(tp messages.TopicPartition) *actor.PID { return spawnAccumulator(t, e, prod, tp) }
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

// The sender's fatal error reaches every accumulator by message: one spawned before it fails what
// it holds and takes afterwards, one spawned after it refuses everything from the start; callers
// read it from the published registry. A ProducerFailed from anyone else only escalates.
func TestProducerActorFatalByMessage(t *testing.T) {
	e, prod, _ := startProducerTree(t, func(set *Settings) {
		set.Linger = time.Hour // records stay in their batches until the failure
	})
	spawn := func(tp messages.TopicPartition) *actor.PID { return spawnAccumulator(t, e, prod, tp) }

	before := spawn(tp("t", 0))
	rc := newRecorder()
	e.appendRec(before, rc, 0, rec("k", "v", 0))
	e.sys.Root.Send(prod, &messages.ProducerFailed{Err: errors.New("not the sender's")})
	if err := e.shared.Fatal(); err != nil {
		t.Fatalf("a ProducerFailed from outside the tree failed the producer: %v", err)
	}

	fatal := fmt.Errorf("%w: fenced", messages.ErrFatal)
	e.sys.Root.Send(prod, &producerFatal{err: fatal})
	rc.expectErr(t, 0, fatal)
	after := spawn(tp("t", 1)) // handled after the failure: the registry has it now
	if err := e.shared.Fatal(); !errors.Is(err, fatal) {
		t.Fatalf("published fatal error %v, want %v", err, fatal)
	}
	e.appendRec(before, rc, 1, rec("k", "v", 1))
	rc.expectErr(t, 1, fatal)
	e.appendRec(after, rc, 2, rec("k", "v", 2))
	rc.expectErr(t, 2, fatal)
	e.stop(prod)
}

// startProducerTree spawns a producer actor whose connections reach a scripted broker that
// answers metadata and produce requests; stopped is closed once the tree has stopped.
func startProducerTree(t *testing.T, mutate func(*Settings)) (e *env, prod *actor.PID, stopped chan struct{}) {
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
	mutate(&set)
	e = newEnv(t, set)
	stopped = make(chan struct{})
	return e, e.spawn(newProducerProps(e.shared, stopped)), stopped
}

// spawnAccumulator asks the producer actor for tp's accumulator, as a first send to it does.
func spawnAccumulator(t *testing.T, e *env, prod *actor.PID, tp messages.TopicPartition) *actor.PID {
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
