package actors

// sender actor: one per producer. Owns which partitions are ready, per-broker in-flight counts and
// the produce connections (its children). Receives PartitionReady, Drained, CallDone (produce
// responses) and MetadataUpdated. Sends Drain to accumulators, Call to connections, BatchDone back
// to accumulators, RefreshMetadata to the metadata actor.
//
// For one broker it gathers at most one request at a time: it asks each ready partition for its
// head batch (Drain), and when every answer is in, sends them as one Produce request. Batches that
// wait for a busy broker stay in their accumulator and keep filling.

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/internal/faultinject"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

type readyPartition struct {
	tp  messages.TopicPartition
	acc *actor.PID
}

type nodeState struct {
	id       int32
	addr     string
	conn     *actor.PID
	ready    []readyPartition
	queued   map[messages.TopicPartition]bool
	inflight int
	gather   *gathering

	// throttledUntil holds further requests to this broker (KIP-219: the broker answered with
	// throttle_time_ms and expects the client to wait it out).
	throttledUntil time.Time
	throttleTimer  *time.Timer
	throttleGen    uint64
}

type throttleOver struct {
	node int32
	gen  uint64
}

type gathering struct {
	id      uint64
	node    *nodeState
	waiting int
	batches []*messages.Batch
}

// gatherIDs numbers gathers for every sender instance: a restarted sender must not take a Drained
// meant for its predecessor's gather as one of its own.
var gatherIDs atomic.Uint64

// produceCall tags a produce request so its CallDone finds its batches.
type produceCall struct {
	node    *nodeState
	batches []*messages.Batch
	req     *wire.ProduceRequest // its topic ids say which topic a v13 response (ids only) means
	settled int                  // batches[:settled] have their BatchDone, so a panic answers only the rest
	sentNs  int64                // when it was handed to the connection (metrics; 0 without them)
	metered bool                 // taken off the in-flight gauges: answered, or abandoned at a stop
}

// answer sends batch i's outcome (in order: i == pc.settled).
func (pc *produceCall) answer(c actor.Context, done *messages.BatchDone) {
	c.Send(pc.batches[pc.settled].Accumulator, done)
	pc.settled++
}

// settleRest answers every batch not answered yet with err.
func (pc *produceCall) settleRest(c actor.Context, err error) {
	for pc.settled < len(pc.batches) {
		b := pc.batches[pc.settled]
		pc.answer(c, &messages.BatchDone{BatchID: b.BatchID, Err: err, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
	}
}

// orphanCheck: sent to itself by a restarted sender, after its old connections' answers.
type orphanCheck struct{}

type senderState struct {
	shared   *Shared
	metadata *actor.PID
	current  any // the message being handled, so a panic can settle it
	// currentHeld: the current Drained's batch was taken into a gather, so a panic must not hand it
	// back a second time.
	currentHeld bool

	nodes      map[int32]*nodeState
	parked     map[messages.TopicPartition]*actor.PID // ready, but the leader is unknown
	gathers    map[uint64]*gathering
	ident      identityCore // idempotence; see producerid.go
	retryTimer *time.Timer  // the identity core's InitProducerId retry
	// calls are the produce requests handed to connections and not answered yet. It outlives a
	// restart: the restart stops the connections, which drops the Calls still in their mailboxes,
	// and those batches must still be answered (orphanCheck).
	calls map[*produceCall]struct{}
}

// Sender is the sender actor.
type Sender struct{ st *senderState }

// NewSenderProps returns props for the sender actor.
func NewSenderProps(shared *Shared, metadata *actor.PID) *actor.Props {
	calls := map[*produceCall]struct{}{}
	return actor.PropsFromProducer(func() actor.Actor {
		set := shared.Settings
		return &Sender{st: &senderState{shared: shared, metadata: metadata, calls: calls,
			nodes: map[int32]*nodeState{}, parked: map[messages.TopicPartition]*actor.PID{}, gathers: map[uint64]*gathering{},
			// A restarted sender picks up what its predecessor published.
			ident: identityCore{current: shared.Identity(), fatal: shared.Fatal(),
				retryBackoff: set.RetryBackoff, retryBackoffMax: set.RetryBackoffMax}}}
	}, supervision(shared.Settings), actor.WithDispatcher(shared.Dispatcher))
}

// Receive implements actor.Actor.
func (a *Sender) Receive(c actor.Context) {
	s := a.st
	msg := c.Message()
	if r, ok := msg.(*actor.Restarting); ok {
		s.recoverFromPanic(c, r)
		return
	}
	// Not cleared by a defer: a defer would run while a panic unwinds, and recoverFromPanic needs it.
	s.current, s.currentHeld = msg, false
	switch m := msg.(type) {
	case *messages.PartitionReady:
		s.route(c, m.TP, m.Accumulator)
	case *messages.Drained:
		faultinject.SenderDrained()
		s.onDrained(c, m)
	case *messages.CallDone:
		if tag, ok := m.Tag.(*initProducerIDCall); ok {
			s.onProducerIDDone(c, m, tag)
		} else {
			s.onProduceDone(c, m)
		}
	case *messages.BumpEpoch:
		s.applyIdentity(c, s.ident.bump(m.Gen, m.NewID, m.Accumulator), nil)
	case *initProducerIDRetry:
		s.applyIdentity(c, s.ident.retryDue(m.gen), nil)
	case *messages.ProducerFailed:
		s.fail(c, m.Err)
	case *throttleOver:
		if n := s.nodes[m.node]; n != nil && n.throttleGen == m.gen {
			n.throttleTimer = nil
			s.maybeGather(c, n)
		}
	case *messages.MetadataUpdated:
		parked := s.parked
		s.parked = map[messages.TopicPartition]*actor.PID{}
		for tp, acc := range parked {
			s.route(c, tp, acc)
		}
	case *actor.Stopping:
		for _, n := range s.nodes {
			if n.throttleTimer != nil {
				n.throttleTimer.Stop()
			}
		}
		s.stopProducerIDTimer()
		s.abandonCalls()
	case *actor.Started:
		// After a restart this instance knows nothing of what was ready; on a first start there
		// are no accumulators yet.
		if len(s.calls) > 0 {
			// The old connections have stopped, so their answers are in the mailbox already,
			// ahead of this: what is still unanswered when it arrives was never written. Sent
			// before anything that leads to new requests.
			c.Send(c.Self(), &orphanCheck{})
		}
		s.shared.RangeAccumulators(func(_ messages.TopicPartition, pid *actor.PID) {
			c.Send(pid, &messages.Reannounce{})
		})
	case *orphanCheck:
		for pc := range s.calls {
			s.meterAbandoned(pc)
			pc.settleRest(c, errNotSent)
		}
		clear(s.calls)
	case *actor.Stopped, *actor.Restart:
	case *actor.Terminated:
	default:
		s.shared.Logger.Warn("sender: unexpected message", "type", fmt.Sprintf("%T", m))
	}
	s.current = nil
}

// route queues a ready partition on its leader, or parks it until metadata names a leader.
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
	if !n.queued[tp] {
		n.queued[tp] = true
		n.ready = append(n.ready, readyPartition{tp: tp, acc: acc})
	}
	s.maybeGather(c, n)
}

func (s *senderState) node(c actor.Context, id int32, addr string) *nodeState {
	n := s.nodes[id]
	if n != nil && n.addr != addr { // the broker moved: a new connection for the new address
		// Poison, not Stop: Stop drops the Calls still queued in its mailbox, and their batches
		// would never hear back. Poison lets it answer every one of them first.
		c.Poison(n.conn)
		n.conn, n.addr = nil, addr
	}
	if n == nil {
		n = &nodeState{id: id, addr: addr, queued: map[messages.TopicPartition]bool{}}
		s.nodes[id] = n
	}
	if n.conn == nil {
		set := s.shared.Settings
		n.conn = c.SpawnPrefix(NewConnectionProps(s.shared, ConnectionConfig{
			Node: id, Addr: addr, ClientID: set.ClientID, Dial: set.Dial, SetupTimeout: set.SetupTimeout,
			RequestTimeout: set.RequestTimeout, MaxIdle: set.ConnectionsMaxIdle,
		}), fmt.Sprintf("produce-%d-", id))
	}
	return n
}

// maybeGather starts gathering a request for n when it has ready partitions and a free in-flight
// slot. It drains as many partitions as full batches fit in one request, fairly: the first ready
// go first, and a partition with more goes to the back of the line.
func (s *senderState) maybeGather(c actor.Context, n *nodeState) {
	set := s.shared.Settings
	if n.gather != nil || n.inflight >= set.MaxInFlight || len(n.ready) == 0 || !s.identityReady(c, n) {
		return
	}
	if wait := time.Until(n.throttledUntil); wait > 0 {
		if n.throttleTimer == nil {
			n.throttleGen++
			gen, id, self, root := n.throttleGen, n.id, c.Self(), c.ActorSystem().Root
			n.throttleTimer = time.AfterFunc(wait, func() { root.Send(self, &throttleOver{node: id, gen: gen}) })
		}
		return
	}
	k := min(len(n.ready), max(1, set.MaxRequestSize/(set.BatchSize+wire.RecordBatchOverhead)))
	g := &gathering{id: gatherIDs.Add(1), node: n, waiting: k, batches: make([]*messages.Batch, 0, k)}
	n.gather = g
	s.gathers[g.id] = g
	for _, rp := range n.ready[:k] {
		delete(n.queued, rp.tp)
		c.Send(rp.acc, &messages.Drain{Gather: g.id})
	}
	n.ready = append(n.ready[:0], n.ready[k:]...)
}

func (s *senderState) onDrained(c actor.Context, m *messages.Drained) {
	g := s.gathers[m.Gather]
	if g == nil {
		// Drained for a gather an earlier instance started (it restarted): hand the batch back
		// for a retry; it was never sent.
		if m.Batch != nil {
			settle(c, m.Batch, errNotSent)
			s.currentHeld = true
		}
		if m.MoreReady { // the accumulator counts on us to queue it again
			s.route(c, m.TP, m.Accumulator)
		}
		return
	}
	if m.Batch != nil {
		g.batches = append(g.batches, m.Batch)
		s.currentHeld = true
	}
	if m.MoreReady {
		s.route(c, m.TP, m.Accumulator)
	}
	g.waiting--
	if g.waiting > 0 {
		return
	}
	n := g.node
	// A topic that left the snapshot since it was routed (deleted, for one) cannot be addressed
	// by id: its batches wait for the next metadata.
	cluster := s.shared.Cluster()
	var kept, missing []*messages.Batch
	for _, b := range g.batches {
		if cluster.Topics[b.TP.Topic] == nil {
			missing = append(missing, b)
		} else {
			kept = append(kept, b)
		}
	}
	g.batches = kept
	var topics []string
	for _, b := range missing {
		settle(c, b, fmt.Errorf("%w (%s: not in the current metadata)", wire.ErrUnknownTopicOrPartition, b.TP.Topic))
		if !slices.Contains(topics, b.TP.Topic) {
			topics = append(topics, b.TP.Topic)
		}
	}
	if len(topics) > 0 {
		c.Send(s.metadata, &messages.RefreshMetadata{Topics: topics, Reason: "topic left the metadata"})
	}
	// The gather keeps what is not sent yet, so a panic halfway hands back exactly that.
	for len(g.batches) > 0 {
		var req []*messages.Batch
		req, g.batches = s.nextRequest(g.batches)
		n.inflight++
		pc := &produceCall{node: n, batches: req, req: s.produceRequest(req), sentNs: s.shared.Metrics.RequestSent(req)}
		s.calls[pc] = struct{}{}
		c.Send(n.conn, &messages.Call{Req: pc.req, ReplyTo: c.Self(), Tag: pc})
	}
	delete(s.gathers, g.id)
	n.gather = nil
	s.maybeGather(c, n)
}

// nextRequest takes the batches of the next request from the front of batches: as many as fit in
// MaxRequestSize bytes (a lone larger batch still goes, alone: the broker's limits decide). Both
// results share batches' array, so splitting allocates nothing.
func (s *senderState) nextRequest(batches []*messages.Batch) (req, rest []*messages.Batch) {
	size := 0
	for i, b := range batches {
		if i > 0 && size+len(b.Data) > s.shared.Settings.MaxRequestSize {
			return batches[:i:i], batches[i:]
		}
		size += len(b.Data)
	}
	return batches, nil
}

func (s *senderState) produceRequest(batches []*messages.Batch) *wire.ProduceRequest {
	set := s.shared.Settings
	req := &wire.ProduceRequest{Acks: set.Acks, TimeoutMillis: int32(set.RequestTimeout.Milliseconds()),
		Topics: make([]wire.ProduceTopic, 0, 1)}
	cluster := s.shared.Cluster()
	for _, b := range batches {
		i := slices.IndexFunc(req.Topics, func(t wire.ProduceTopic) bool { return t.Name == b.TP.Topic })
		if i < 0 {
			i = len(req.Topics)
			// Most requests hold one topic: room for every batch saves regrowing.
			t := wire.ProduceTopic{Name: b.TP.Topic, Partitions: make([]wire.ProducePartition, 0, len(batches))}
			if ti := cluster.Topics[b.TP.Topic]; ti != nil {
				t.TopicID = ti.ID
			}
			req.Topics = append(req.Topics, t)
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, wire.ProducePartition{Partition: b.TP.Partition, Records: b.Data})
	}
	return req
}

func (s *senderState) onProduceDone(c actor.Context, m *messages.CallDone) {
	pc, ok := m.Tag.(*produceCall)
	if !ok {
		return
	}
	delete(s.calls, pc)
	s.meterAnswer(pc, m)
	n := pc.node
	n.inflight--
	refresh := map[string]bool{}
	if m.Err != nil {
		if classify(m.Err).refreshMetadata {
			for _, b := range pc.batches {
				refresh[b.TP.Topic] = true
			}
		}
		pc.settleRest(c, m.Err)
	} else if m.Resp == nil { // acks=0: written is all we will ever know
		pc.settleRest(c, nil)
	} else {
		resp := m.Resp.(*wire.ProduceResponse)
		if resp.ThrottleMillis > 0 {
			until := time.Now().Add(time.Duration(resp.ThrottleMillis) * time.Millisecond)
			if until.After(n.throttledUntil) {
				n.throttledUntil = until
			}
			s.shared.Logger.Debug("broker throttled us", "broker", n.id, "throttle_ms", resp.ThrottleMillis)
		}
		s.dispatchResults(c, pc, resp, refresh)
	}
	if len(refresh) > 0 {
		topics := make([]string, 0, len(refresh))
		for t := range refresh {
			topics = append(topics, t)
		}
		c.Send(s.metadata, &messages.RefreshMetadata{Topics: topics, Reason: "produce error"})
	}
	// A response to a request an earlier instance sent (before a restart) carries that instance's
	// node, whose connection is gone: its results count, but nothing more is sent through it.
	if s.nodes[n.id] == n {
		s.maybeGather(c, n)
	}
}

// settle tells a batch's accumulator its outcome when no broker result says more: err, or (nil)
// written without an offset (acks=0).
func settle(c actor.Context, b *messages.Batch, err error) {
	c.Send(b.Accumulator, &messages.BatchDone{BatchID: b.BatchID, Err: err, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
}

// errNotSent: the batch was drained but never sent (the sender restarted). Retriable.
var errNotSent = fmt.Errorf("%w: the sender restarted before sending the batch", messages.ErrConnection)

// errMissingPartition: a produce response left out a partition it was asked to write.
var errMissingPartition = errors.New("kastor: produce response did not mention the partition")

func (s *senderState) dispatchResults(c actor.Context, pc *produceCall, resp *wire.ProduceResponse, refresh map[string]bool) {
	var hint *messages.LeaderHint
	for _, b := range pc.batches {
		p := producePartitionResult(resp, pc.req, b.TP)
		done := &messages.BatchDone{BatchID: b.BatchID, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
		if p != nil {
			done.LogStartOffset = p.LogStartOffset // UNKNOWN_PRODUCER_ID needs it too
		}
		switch {
		case p == nil:
			done.Err = fmt.Errorf("%w: %s-%d", errMissingPartition, b.TP.Topic, b.TP.Partition)
		case p.ErrorCode != 0:
			err := wire.ErrorForCode(p.ErrorCode)
			if p.ErrorMessage != nil && *p.ErrorMessage != "" {
				err = fmt.Errorf("%w (%s-%d: %s)", err, b.TP.Topic, b.TP.Partition, *p.ErrorMessage)
			} else {
				err = fmt.Errorf("%w (%s-%d)", err, b.TP.Topic, b.TP.Partition)
			}
			done.Err = err
			if classify(err).refreshMetadata {
				refresh[b.TP.Topic] = true
			}
			if p.CurrentLeader.LeaderID >= 0 && (p.ErrorCode == wire.ErrNotLeaderOrFollower.Code || p.ErrorCode == wire.ErrFencedLeaderEpoch.Code) {
				if hint == nil {
					hint = &messages.LeaderHint{Endpoints: map[int32]string{}}
					for _, e := range resp.NodeEndpoints {
						hint.Endpoints[e.NodeID] = net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
					}
				}
				hint.Leaders = append(hint.Leaders, messages.PartitionLeader{TP: b.TP, Leader: p.CurrentLeader.LeaderID, LeaderEpoch: p.CurrentLeader.LeaderEpoch})
			}
		default:
			done.BaseOffset, done.LogAppendTime = p.BaseOffset, p.LogAppendTime
		}
		pc.answer(c, done)
	}
	if hint != nil {
		// Sent before the retries come back as PartitionReady, so the hint is applied by then.
		c.Send(s.metadata, hint)
	}
}

// producePartitionResult finds tp's result in resp: by name, or (v13 answers by topic id only) by
// the id the request was built with, not the current snapshot's: metadata may have changed (or been
// reset by a restart) while the request was out. A request holds a few topics and one entry per
// partition, so scanning costs less than building maps for every response.
func producePartitionResult(resp *wire.ProduceResponse, req *wire.ProduceRequest, tp messages.TopicPartition) *wire.ProduceResponsePartition {
	var id [16]byte
	for i := range req.Topics {
		if req.Topics[i].Name == tp.Topic {
			id = req.Topics[i].TopicID
			break
		}
	}
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		if t.Name != tp.Topic && (t.Name != "" || t.TopicID != id || id == [16]byte{}) {
			continue
		}
		for pi := range t.Partitions {
			if t.Partitions[pi].Partition == tp.Partition {
				return &t.Partitions[pi]
			}
		}
	}
	return nil
}

// recoverFromPanic runs on Restarting. The actor system drops the message that panicked, so the
// batches it carried are handed back to their accumulators as retriable failures; the new
// instance then rebuilds its view from the accumulators' Reannounce answers.
func (s *senderState) recoverFromPanic(c actor.Context, _ *actor.Restarting) {
	for _, n := range s.nodes {
		if n.throttleTimer != nil {
			n.throttleTimer.Stop()
		}
	}
	s.stopProducerIDTimer()
	switch m := s.current.(type) {
	case *messages.Drained:
		// Unless it reached its gather (handed back below) or a request (its CallDone settles it).
		if m.Batch != nil && !s.currentHeld {
			settle(c, m.Batch, errNotSent)
		}
	case *messages.CallDone:
		if pc, ok := m.Tag.(*produceCall); ok { // only the batches it had not answered yet
			err := m.Err
			if err == nil {
				err = fmt.Errorf("%w: the sender restarted while handling the response; the batch may have been written", messages.ErrConnection)
			}
			pc.settleRest(c, err)
			delete(s.calls, pc)
		}
	}
	// Batches gathered for requests not yet sent would otherwise wait for a drain that is gone.
	for _, g := range s.gathers {
		for _, b := range g.batches {
			settle(c, b, errNotSent)
		}
	}
	s.current = nil
}
