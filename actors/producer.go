package actors

// producer actor: one per producer, the root of its actor tree. Owns the metadata and sender actors
// and the accumulators (its children; accumulators are spawned on first use of a partition and
// registered in Shared so callers find them without a message). Receives SpawnAccumulator,
// RefreshMetadata (forwarded to the metadata actor), the sender's producerFatal (published with
// the registry, sent to every accumulator, then handled as a ProducerFailed) and ProducerFailed
// (escalated to its own supervisor, or only logged); everything else, and every lifecycle event,
// goes to its Hooks (the root package's Produce path for actor users).
//
// A restart (its supervisor's decision, after an escalated ProducerFailed or a panic) stops every
// child: the accumulators and the transaction actor fail what they hold with the cause noticed
// to them here (stopNotice), and the new instance starts a fresh tree and a fresh producer
// identity.

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

// ProducerHooks is the part of the producer actor that lives in the root package. Every method runs
// on the producer actor's goroutine.
type ProducerHooks interface {
	// Started runs after the actor's own start (restarted: a new instance after a restart).
	Started(c actor.Context, restarted bool)
	// Restarting runs before a restart stops the children.
	Restarting(c actor.Context, reason error)
	// Stopping runs before a stop stops the children.
	Stopping(c actor.Context)
	// Stopped runs once every child has stopped, before ProducerOptions.Stopped is closed.
	Stopped(c actor.Context)
	// Receive handles a message the producer actor does not know, and reports whether it did.
	Receive(c actor.Context, msg any) bool
}

// ProducerOptions configures the producer actor.
type ProducerOptions struct {
	// Stopped, if not nil, is closed once the actor and all its children have stopped.
	Stopped chan struct{}
	// Hooks, if not nil, extends the actor; it also gets MetadataUpdated.
	Hooks ProducerHooks
	// Escalate sends ProducerFailed's error to the actor's supervisor as a failure (the actor's
	// mailbox is suspended until the supervisor decides). Without it the producer stays failed.
	Escalate bool
}

// escalator is the part of protoactor-go's actor context that reports a failure to the parent
// without a panic.
type escalator interface {
	EscalateFailure(reason interface{}, message interface{})
}

type producerState struct {
	shared    *Shared
	opts      ProducerOptions
	metadata  *actor.PID
	sender    *actor.PID
	txn       *actor.PID // the transaction actor (transactional producers only)
	txnNotice stopNotice // the transaction actor's
	restarted bool
	// fatal is the producer's fatal error, once the sender reported it (producerFatal): published
	// with the registry, sent to every accumulator, and given to each one spawned later.
	fatal error
}

// Producer is the producer actor.
type Producer struct{ st *producerState }

// newProducerProps returns props for the producer actor; stopped is closed once it and all its
// children have stopped.
func newProducerProps(shared *Shared, stopped chan struct{}) *actor.Props {
	return NewProducerPropsWith(shared, ProducerOptions{Stopped: stopped})
}

// NewProducerPropsWith returns props for the producer actor.
func NewProducerPropsWith(shared *Shared, opts ProducerOptions) *actor.Props {
	st := &producerState{shared: shared, opts: opts}
	return shared.props(func() actor.Actor { return &Producer{st: st} }, supervision(shared.Settings))
}

// Receive implements actor.Actor.
func (a *Producer) Receive(c actor.Context) {
	s := a.st
	switch m := c.Message().(type) {
	case *actor.Started:
		restarted := s.restarted
		if restarted {
			if g := s.shared.Txn; g != nil {
				g.reset() // the new transaction actor starts uninitialized
			}
			s.restarted = false
		}
		if s.metadata == nil {
			s.metadata = c.SpawnPrefix(newMetadataProps(s.shared), "metadata-")
			s.sender = c.SpawnPrefix(newSenderProps(s.shared, s.metadata), "sender-")
			if g := s.shared.Txn; g != nil {
				s.txnNotice = newStopNotice()
				s.txn = c.SpawnPrefix(newTxnProps(s.shared, s.sender, s.metadata, s.txnNotice), "txn-")
				g.setActor(s.txn, c.Self(), c.ActorSystem().Root)
			}
			c.Send(s.metadata, &WatchMetadata{PID: s.sender})
			if s.opts.Hooks != nil {
				c.Send(s.metadata, &WatchMetadata{PID: c.Self()})
			}
		}
		if s.opts.Hooks != nil {
			s.opts.Hooks.Started(c, restarted)
		}
	case *SpawnAccumulator:
		m.Reply <- s.accumulator(c, m.TP).pid
	case *messages.RefreshMetadata:
		c.Send(s.metadata, m)
	case *TxnOp:
		// Through here rather than straight to the transaction actor: the producer actor's PID
		// outlives a restart, and its mailbox holds the operation while one is under way.
		if s.txn == nil {
			m.Reply <- fmt.Errorf("%w: the producer is not transactional", ErrTransactionState)
			break
		}
		c.Send(s.txn, m)
	case *producerFatal:
		s.onFatal(c, m.err)
		s.onFailed(c, &messages.ProducerFailed{Err: m.err})
	case *messages.ProducerFailed:
		s.onFailed(c, m)
	case *actor.Stopping:
		if s.opts.Hooks != nil {
			s.opts.Hooks.Stopping(c)
		}
	case *actor.Stopped:
		if s.opts.Hooks != nil {
			s.opts.Hooks.Stopped(c)
		}
		if s.opts.Stopped != nil {
			close(s.opts.Stopped)
		}
	case *actor.Restarting:
		// Restarting stops every child: the accumulators and the transaction actor fail what they
		// hold with the cause noticed here, and Started builds a fresh tree, not failed.
		reason := fmt.Errorf("%w: its supervisor restarted it", messages.ErrProducerRestarted)
		if s.fatal != nil {
			reason = fmt.Errorf("%w: %w", messages.ErrProducerRestarted, s.fatal)
		}
		s.shared.RangeInboxes(func(_ messages.TopicPartition, in *Inbox) { in.stopNotice.send(reason) })
		if s.txnNotice != nil {
			s.txnNotice.send(reason)
		}
		s.metadata, s.sender, s.txn, s.txnNotice, s.fatal = nil, nil, nil, nil, nil
		s.restarted = true
		if s.opts.Hooks != nil {
			// Before the registry is cleared: a flush started now must reach the accumulators
			// that are about to stop, so it completes after they fail what they hold.
			s.opts.Hooks.Restarting(c, reason)
		}
		s.shared.clearAccumulators()
	case *actor.Restart, *actor.Terminated:
	default:
		if s.opts.Hooks == nil || !s.opts.Hooks.Receive(c, m) {
			s.shared.Logger.Warn("producer: unexpected message", "type", fmt.Sprintf("%T", m))
		}
	}
}

// accumulator returns tp's accumulator, spawning and registering it on first use.
func (s *producerState) accumulator(c actor.Context, tp messages.TopicPartition) *Inbox {
	if in, ok := s.shared.Inbox(tp); ok {
		return in
	}
	props, in := newAccumulator(s.shared, tp, s.sender, s.metadata, c.ActorSystem().Root, s.fatal)
	in.pid = c.SpawnPrefix(props, fmt.Sprintf("acc-%s-%d-", tp.Topic, tp.Partition))
	s.shared.registerInbox(tp, in)
	return in
}

// Accumulator returns tp's accumulator inbox, spawning the accumulator on first use. Producer
// actor only (hooks).
func (a *Producer) Accumulator(c actor.Context, tp messages.TopicPartition) *Inbox {
	return a.st.accumulator(c, tp)
}

// producerFatal is the sender's report of the producer's fatal error. Sender → producer actor,
// once. (A ProducerFailed sent by anyone else is only escalated, as a user's supervision test
// expects: the records it did not fail keep going until a restart or stop.)
type producerFatal struct{ err error }

// onFatal fails the producer: every record held, and every later send, fails with err. The
// registry is how callers learn it; accumulators hear it by message, and one spawned later at its
// spawn.
func (s *producerState) onFatal(c actor.Context, err error) {
	if s.fatal != nil {
		return
	}
	s.fatal = err
	s.shared.publishFatal(err)
	s.shared.RangeAccumulators(func(_ messages.TopicPartition, pid *actor.PID) {
		c.Send(pid, &messages.AbortPartition{Err: err})
	})
}

// onFailed handles the sender's report of a fatal state. With Escalate the supervisor decides:
// Restart gives a fresh producer (see Restarting), Stop ends it, Resume keeps it failed.
func (s *producerState) onFailed(c actor.Context, m *messages.ProducerFailed) {
	err := m.Err
	if err == nil {
		err = messages.ErrFatal
	}
	if e, ok := c.(escalator); ok && s.opts.Escalate {
		s.shared.Logger.Error("kastor: producer failed; escalating to its supervisor", "err", err)
		e.EscalateFailure(err, m)
		return
	}
	s.shared.Logger.Error("kastor: producer failed; every send fails until it is closed", "err", err)
}
