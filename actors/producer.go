package actors

// producer actor: one per producer, the root of its actor tree. Owns the metadata and sender actors
// and the accumulators (its children; accumulators are spawned on first use of a partition and
// registered in Shared so callers find them without a message). Receives SpawnAccumulator and
// RefreshMetadata (forwarded to the metadata actor).

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
)

// SpawnAccumulator asks the producer actor for tp's accumulator; the PID is sent on Reply (buffered,
// capacity 1). Caller goroutine → producer, only on a partition's first use.
type SpawnAccumulator struct {
	TP    messages.TopicPartition
	Reply chan *actor.PID
}

type producerState struct {
	shared   *Shared
	metadata *actor.PID
	sender   *actor.PID
	stopped  chan struct{}
}

// Producer is the producer actor.
type Producer struct{ st *producerState }

// NewProducerProps returns props for the producer actor; stopped is closed once it and all its
// children have stopped.
func NewProducerProps(shared *Shared, stopped chan struct{}) *actor.Props {
	st := &producerState{shared: shared, stopped: stopped}
	return actor.PropsFromProducer(func() actor.Actor { return &Producer{st: st} }, supervision(shared.Settings))
}

// Receive implements actor.Actor.
func (a *Producer) Receive(c actor.Context) {
	s := a.st
	switch m := c.Message().(type) {
	case *actor.Started:
		if s.metadata == nil {
			s.metadata = c.SpawnPrefix(NewMetadataProps(s.shared), "metadata-")
			s.sender = c.SpawnPrefix(NewSenderProps(s.shared, s.metadata), "sender-")
			c.Send(s.metadata, &WatchMetadata{PID: s.sender})
		}
	case *SpawnAccumulator:
		pid, ok := s.shared.Accumulator(m.TP)
		if !ok {
			pid = c.SpawnPrefix(NewAccumulatorProps(s.shared, m.TP, s.sender), fmt.Sprintf("acc-%s-%d-", m.TP.Topic, m.TP.Partition))
			s.shared.registerAccumulator(m.TP, pid)
		}
		m.Reply <- pid
	case *messages.RefreshMetadata:
		c.Send(s.metadata, m)
	case *actor.Stopped:
		close(s.stopped)
	case *actor.Restarting:
		// Restarting stops every child: the accumulators fail what they hold, and Started builds
		// a fresh tree.
		s.metadata, s.sender = nil, nil
		s.shared.clearAccumulators()
	case *actor.Stopping, *actor.Restart, *actor.Terminated:
	default:
		s.shared.Logger.Warn("producer: unexpected message", "type", fmt.Sprintf("%T", m))
	}
}
