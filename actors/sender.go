package actors

// sender actor: one per producer. It routes: an accumulator that has a batch to send and no route
// asks it (PartitionReady) and is told which sink takes the partition's batches (Route): the
// produce connection of the partition's leader, spawned here on first use and kept for the life
// of the producer (its PID is what accumulators hold). It also owns the producer identity
// (producerid.go). It carries no batch: batches go from accumulators to sinks and their results
// come straight back (sink.go).

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/internal/faultinject"
	"github.com/kastor-go/kastor/messages"
)

type nodeState struct {
	id   int32
	addr string
	sink *actor.PID
}

type senderState struct {
	shared   *Shared
	metadata *actor.PID

	nodes map[int32]*nodeState
	// parked: partitions whose leader is unknown, until the next metadata.
	parked map[messages.TopicPartition]*actor.PID
	// waiting: partitions routed once the producer has an identity (idempotence).
	waiting    map[messages.TopicPartition]routeWait
	ident      identityCore // idempotence; see producerid.go
	retryTimer wakeTimer    // the identity core's InitProducerId retry
	retryGen   uint64       // the fetch the retry is for
	restarted  bool         // this instance replaces one that panicked
	// kept outlives a restart: a restarted sender picks up the identity its predecessor had.
	kept *senderKept
}

type senderKept struct {
	identity   *producerIdentity
	fatal      error
	produceCap int16 // from the transaction actor, for every sink (0: none)
}

// identityNews gives an accumulator the producer identity to seal its batches with: with every
// Route, and whenever the identity changes. Sender → accumulator.
type identityNews struct{ id *producerIdentity }

type routeWait struct {
	acc  *actor.PID
	sink *actor.PID
}

// senderActor is the sender actor.
type senderActor struct{ st *senderState }

// newSenderProps returns props for the sender actor.
func newSenderProps(shared *Shared, metadata *actor.PID) *actor.Props {
	instances := 0 // the producer runs on the actor's goroutine, at spawn and at each restart
	kept := &senderKept{}
	return shared.props(func() actor.Actor {
		set := shared.Settings
		instances++
		return &senderActor{st: &senderState{shared: shared, metadata: metadata, restarted: instances > 1, kept: kept,
			nodes: map[int32]*nodeState{}, parked: map[messages.TopicPartition]*actor.PID{},
			waiting: map[messages.TopicPartition]routeWait{},
			// A restarted sender picks up its predecessor's identity and fatal state.
			ident: identityCore{current: kept.identity, fatal: kept.fatal,
				retryBackoff: set.RetryBackoff, retryBackoffMax: set.RetryBackoffMax}}}
	}, supervision(shared.Settings))
}

// Receive implements actor.Actor.
func (a *senderActor) Receive(c actor.Context) {
	s := a.st
	switch m := c.Message().(type) {
	case *messages.PartitionReady:
		faultinject.SenderRoute()
		s.route(c, m.TP, m.Accumulator)
	case *messages.CallDone:
		if tag, ok := m.Tag.(*initProducerIDCall); ok {
			s.onProducerIDDone(c, m, tag)
		}
	case *messages.BumpEpoch:
		if s.shared.Txn != nil {
			// A transactional producer's epoch moves with its transactions (txn.go): the partition
			// waits for the identity the transaction actor sends after the abort.
			break
		}
		s.applyIdentity(c, s.ident.bump(m.Gen, m.NewID, m.Accumulator), nil)
	case *produceCapNews:
		s.kept.produceCap = m.cap
		for _, n := range s.nodes {
			c.Send(n.sink, m)
		}
	case *txnIdentity:
		s.applyIdentity(c, s.ident.publish(m.id, "", logNone), nil)
	case *timerFired:
		if s.retryTimer.fired(m) {
			s.applyIdentity(c, s.ident.retryDue(s.retryGen), nil)
		}
	case *messages.ProducerFailed:
		s.fail(c, m.Err)
	case *messages.MetadataUpdated:
		cluster := s.shared.Cluster()
		for _, n := range s.nodes {
			if addr, ok := cluster.Brokers[n.id]; ok && addr != n.addr {
				n.addr = addr
				c.Send(n.sink, &sinkAddress{addr: addr})
			}
		}
		parked := s.parked
		s.parked = map[messages.TopicPartition]*actor.PID{}
		for tp, acc := range parked {
			s.route(c, tp, acc)
		}
	case *actor.Stopping, *actor.Restarting:
		s.stopProducerIDTimer()
	case *actor.Started:
		// After a restart (a panic here) the sinks are gone: protoactor stopped them before this
		// instance started, dropping what their mailboxes held, and the route asked for by the
		// message that panicked was never given. Every accumulator starts over.
		if s.restarted {
			s.shared.RangeAccumulators(func(_ messages.TopicPartition, pid *actor.PID) {
				c.Send(pid, &messages.RouteLost{})
			})
		}
	case *actor.Stopped, *actor.Restart, *actor.Terminated:
	default:
		s.shared.Logger.Warn("sender: unexpected message", "type", fmt.Sprintf("%T", m))
	}
}

// route tells acc where tp's batches go: its leader's sink, once the leader is known and (with
// idempotence) the producer has an identity.
func (s *senderState) route(c actor.Context, tp messages.TopicPartition, acc *actor.PID) {
	node, addr, ok := s.shared.Cluster().Leader(tp)
	if !ok {
		if _, already := s.parked[tp]; !already {
			s.parked[tp] = acc
			c.Send(s.metadata, &messages.RefreshMetadata{Topics: []string{tp.Topic}, Reason: "no leader"})
		}
		return
	}
	n := s.node(c, node, addr)
	if !s.identityReady(c, n) {
		s.waiting[tp] = routeWait{acc: acc, sink: n.sink}
		return
	}
	s.sendRoute(c, acc, n.sink)
}

// sendRoute tells acc its sink, with the identity to seal its batches with first.
func (s *senderState) sendRoute(c actor.Context, acc, sink *actor.PID) {
	if s.shared.Settings.Idempotent {
		c.Send(acc, &identityNews{id: s.ident.current})
	}
	c.Send(acc, &messages.Route{Sink: sink})
}

func (s *senderState) node(c actor.Context, id int32, addr string) *nodeState {
	n := s.nodes[id]
	if n == nil {
		n = &nodeState{id: id, addr: addr}
		cfg := connectionTo(s.shared.Settings, id, addr)
		cfg.Produce, cfg.Metadata, cfg.ProduceCap = true, s.metadata, s.kept.produceCap
		n.sink = c.SpawnPrefix(newConnectionProps(s.shared, cfg), fmt.Sprintf("produce-%d-", id))
		s.nodes[id] = n
	} else if n.addr != addr { // the broker moved: the sink follows it
		n.addr = addr
		c.Send(n.sink, &sinkAddress{addr: addr})
	}
	return n
}

// routeWaiting routes the partitions that waited for the producer identity.
func (s *senderState) routeWaiting(c actor.Context) {
	for tp, w := range s.waiting {
		s.sendRoute(c, w.acc, w.sink)
		delete(s.waiting, tp)
	}
}
