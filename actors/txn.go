package actors

// transaction actor: one per transactional producer, spawned by the producer actor. A thin
// Receive over txnCore (txncore.go): it feeds the core the user's operations, the coordinator's
// answers, its timer, and what the record path reports (a partition's first record, failed
// batches, finished flushes), each with the current time, and carries out the effects: it sends
// the request the core names through a connection actor of its own for that broker (the
// coordinator may be missing from metadata: FindCoordinator names it by host and port), arms the
// timer, completes the waiters, hands the sender the new identity, opens the partitions the core
// allows, flushes or aborts the accumulators, and fails the producer on a fatal error.
//
// The record path (TxnGate) costs a map lookup per record: only a partition's first record of a
// transaction is announced to this actor (txnRecord), without waiting. Its batches are held in
// the accumulator (txnGateOpen) until the core allows the partition — at once with transactions
// v2, after AddPartitionsToTxn on the classic protocol — and every accumulator opened during a
// transaction is closed again once it ended, before the operation that ended it completes, so the
// next transaction's records never pass an old allowance.

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// TxnGate is the record path's view of the transaction, shared by the callers' goroutines and
// the transaction actor: whether a transaction is open, why records are refused, and which
// partitions the open transaction has seen already.
type TxnGate struct {
	mu        sync.RWMutex
	open      bool
	err       error // the abortable or fatal error records fail with (nil: none)
	announced map[messages.TopicPartition]struct{}
	// pid is the transaction actor, set by the producer actor when it spawns it (ready is closed
	// then, the first time); operations go through producer, whose PID outlives a restart.
	pid       atomic.Pointer[actor.PID]
	producer  *actor.PID
	root      *actor.RootContext
	ready     chan struct{}
	readyOnce sync.Once
}

func newTxnGate() *TxnGate {
	return &TxnGate{announced: map[messages.TopicPartition]struct{}{}, ready: make(chan struct{})}
}

func (g *TxnGate) setActor(pid, producer *actor.PID, root *actor.RootContext) {
	g.pid.Store(pid)
	g.readyOnce.Do(func() {
		g.root, g.producer = root, producer // the same every time
		close(g.ready)
	})
}

// Ready is closed once the transaction actor runs.
func (g *TxnGate) Ready() <-chan struct{} { return g.ready }

// Enter admits one record for tp into the open transaction, announcing the partition to the
// transaction actor the first time. On success the caller holds the gate (shared) until Exit,
// and pushes the record into the accumulator in between: a commit or abort, which closes the
// gate exclusively, then comes after the push.
func (g *TxnGate) Enter(tp messages.TopicPartition) error {
	g.mu.RLock()
	if err := g.refuseLocked(); err != nil {
		g.mu.RUnlock()
		return err
	}
	if _, ok := g.announced[tp]; ok {
		return nil
	}
	g.mu.RUnlock()
	g.mu.Lock()
	if err := g.refuseLocked(); err != nil {
		g.mu.Unlock()
		return err
	}
	if _, ok := g.announced[tp]; !ok {
		g.announced[tp] = struct{}{}
		g.root.Send(g.pid.Load(), txnRecord{tp: tp})
	}
	g.mu.Unlock()
	g.mu.RLock()
	if err := g.refuseLocked(); err != nil { // ended in between: the record stays out
		g.mu.RUnlock()
		return err
	}
	return nil
}

// Exit releases what Enter took.
func (g *TxnGate) Exit() { g.mu.RUnlock() }

func (g *TxnGate) refuseLocked() error {
	if g.err != nil {
		return g.err
	}
	if !g.open {
		return fmt.Errorf("%w: a record can only be sent inside a transaction (call BeginTransaction first)", ErrTransactionState)
	}
	return nil
}

// Begin opens the gate once the transaction actor began a transaction. A fatal error stays.
func (g *TxnGate) Begin() {
	g.mu.Lock()
	g.open = true
	if !errors.Is(g.err, messages.ErrFatal) {
		g.err = nil
	}
	clear(g.announced)
	g.mu.Unlock()
}

// End closes the gate and then runs send (the commit or abort to hand to the transaction actor):
// every record admitted before was pushed, and announced before send runs.
func (g *TxnGate) End(send func()) {
	g.mu.Lock()
	g.open = false
	send()
	g.mu.Unlock()
}

// Send hands the transaction actor an operation (after Ready), through the producer actor.
func (g *TxnGate) Send(op *TxnOp) { g.root.Send(g.producer, op) }

// reset forgets the transaction: a restarted producer actor has a new transaction actor, which
// needs InitTransactions again.
func (g *TxnGate) reset() {
	g.mu.Lock()
	g.open, g.err = false, nil
	clear(g.announced)
	g.mu.Unlock()
}

func (g *TxnGate) setErr(err error) {
	g.mu.Lock()
	g.err = err
	g.mu.Unlock()
}

// TxnOp is a transactional operation for the transaction actor, answered on Reply (buffered,
// capacity 1) with nil or the operation's error. Root package → transaction actor.
type TxnOp struct {
	Kind TxnOpKind
	// SendOffsets only.
	GroupID         string
	GenerationID    int32
	MemberID        string
	GroupInstanceID *string
	Offsets         []wire.TxnOffsetCommitTopic
	Reply           chan error
}

// TxnOpKind names a transactional operation.
type TxnOpKind uint8

// The transactional operations.
const (
	TxnInit TxnOpKind = iota
	TxnBegin
	TxnSendOffsets
	TxnCommit
	TxnAbort
	TxnClose
)

// Messages between the transaction actor and the accumulators.
type (
	// txnGateAsk: an accumulator holds batches of tp and may not send them yet. Accumulator →
	// transaction actor, once until it hears txnGateOpen.
	txnGateAsk struct {
		tp  messages.TopicPartition
		acc *actor.PID
	}
	// txnGateOpen: whether the accumulator may send its batches (the partition is in the open
	// transaction), and the identity to seal them with: a new epoch (v2's every EndTxn, an abort's
	// bump) reaches the accumulators through the sender, one hop more than this message, so it
	// could come after the next transaction's records. Transaction actor → accumulator.
	txnGateOpen struct {
		open bool
		id   *producerIdentity
	}
	// txnAbortUndrained: fail every batch not sent yet with err. Transaction actor → accumulator.
	txnAbortUndrained struct{ err error }
	// produceCapNews caps the Produce version (0: none) by the transaction protocol the brokers
	// speak. Transaction actor → sender → every sink.
	produceCapNews struct{ cap int16 }
	// txnIdentity: the transactional producer's identity. Transaction actor → sender.
	txnIdentity struct{ id *producerIdentity }
	// txnBatchFailed: a batch of the transaction failed; bump: it had a sequence, so the
	// partition's sequences start over under a new epoch. Accumulator → transaction actor.
	txnBatchFailed struct {
		err  error
		bump bool
	}
	txnFlushDone  struct{ gen uint64 }
	txnCallTag    struct{ seq uint64 }
	txnFeatureTag struct{}
)

type txnActorState struct {
	shared   *Shared
	sender   *actor.PID
	metadata *actor.PID // told of its connections' setups
	core     *txnCore

	conns map[string]*actor.PID // connection actors by address
	timer wakeTimer
	gen   uint64 // the core's timer generation armed

	// Features: the brokers' transaction protocol is asked (ApiVersions) before the first
	// operation; the operations wait in held until it is known.
	features      bool
	featureAsking bool
	featureTimer  wakeTimer
	featureTries  int
	held          []txnEvent
	anyTries      int // rotates the broker asked when any will do

	allowed  map[messages.TopicPartition]bool
	opened   map[messages.TopicPartition]*actor.PID // told open, or waiting for the allowance
	flushes  uint64
	refusing txnState // the core's state the gate was last told about

	stopNotice stopNotice // why it stops next, from the producer actor (a restart)
	// produceCap is the Produce version cap last sent to the sender (capSent: one was sent).
	produceCap int16
	capSent    bool
}

type txnActor struct{ st *txnActorState }

func newTxnProps(shared *Shared, sender, metadata *actor.PID, notice stopNotice) *actor.Props {
	set := shared.Settings
	st := &txnActorState{shared: shared, sender: sender, metadata: metadata, conns: map[string]*actor.PID{}, stopNotice: notice,
		core:    newTxnCore(set.TransactionalID, set.TransactionTimeout, set.RetryBackoff, set.RetryBackoffMax),
		allowed: map[messages.TopicPartition]bool{}, opened: map[messages.TopicPartition]*actor.PID{}}
	return shared.props(func() actor.Actor { return &txnActor{st: st} })
}

// Receive implements actor.Actor.
func (a *txnActor) Receive(c actor.Context) {
	s := a.st
	switch m := c.Message().(type) {
	case *TxnOp:
		s.onOp(c, m)
	case txnEvent: // txnRecord from the gate
		s.step(c, m)
	case *txnBatchFailed:
		if m.bump {
			s.core.needBump()
		}
		s.step(c, txnRecordFailed{err: m.err})
	case *txnGateAsk:
		if s.allowed[m.tp] {
			c.Send(m.acc, &txnGateOpen{open: true, id: s.core.identity})
		}
		s.opened[m.tp] = m.acc
	case *txnFlushDone:
		if m.gen == s.flushes {
			s.step(c, txnFlushed{})
		}
	case *messages.CallDone:
		switch tag := m.Tag.(type) {
		case *txnCallTag:
			s.step(c, txnAnswered{seq: tag.seq, resp: m.Resp, version: m.Version, err: m.Err})
		case *txnFeatureTag:
			s.onFeatures(c, m)
		}
	case *timerFired:
		switch {
		case s.timer.fired(m):
			s.step(c, txnTimerFired{gen: s.gen})
		case s.featureTimer.fired(m):
			s.askFeatures(c)
		}
	case *actor.Stopping:
		s.timer.stop()
		s.featureTimer.stop()
		// A restart of the producer replaces this actor: what waits here is answered now.
		err := s.stopNotice.cause()
		for _, ev := range s.held {
			s.answer(ev, err)
		}
		s.held = nil
		for _, d := range s.core.abandon(err) {
			s.reply(d)
		}
	case *actor.Started, *actor.Stopped, *actor.Restarting, *actor.Restart, *actor.Terminated:
	default:
		s.shared.Logger.Warn("transactions: unexpected message", "type", fmt.Sprintf("%T", m))
	}
}

func (s *txnActorState) onOp(c actor.Context, m *TxnOp) {
	var ev txnEvent
	switch m.Kind {
	case TxnInit:
		ev = txnInit{reply: m.Reply}
	case TxnBegin:
		ev = txnBegin{reply: m.Reply}
	case TxnSendOffsets:
		ev = txnSendOffsets{reply: m.Reply, topics: m.Offsets, group: txnGroupMetadata{
			GroupID: m.GroupID, GenerationID: m.GenerationID, MemberID: m.MemberID, GroupInstanceID: m.GroupInstanceID}}
	case TxnCommit:
		ev = txnCommit{reply: m.Reply}
	case TxnAbort:
		ev = txnAbort{reply: m.Reply}
	case TxnClose:
		ev = txnClose{reply: m.Reply}
	default:
		m.Reply <- fmt.Errorf("%w: unknown transactional operation %d", messages.ErrInternal, m.Kind)
		return
	}
	if !s.features && m.Kind != TxnClose {
		// The protocol is not known yet: the operation waits for ApiVersions.
		s.held = append(s.held, ev)
		if !s.featureAsking {
			s.askFeatures(c)
		}
		return
	}
	s.step(c, ev)
}

// askFeatures asks a broker's ApiVersions for the transaction protocol it speaks.
func (s *txnActorState) askFeatures(c actor.Context) {
	s.featureAsking = true
	conn := s.anyConn(c)
	c.Send(conn, &messages.Call{Req: &wire.ApiVersionsRequest{ClientSoftwareName: "kastor", ClientSoftwareVersion: Version},
		ReplyTo: c.Self(), Tag: &txnFeatureTag{}})
}

func (s *txnActorState) onFeatures(c actor.Context, m *messages.CallDone) {
	resp, ok := m.Resp.(*wire.ApiVersionsResponse)
	err := m.Err
	if err == nil && (!ok || resp.ErrorCode != 0) {
		err = fmt.Errorf("%w: ApiVersions answered %T", messages.ErrConnection, m.Resp)
	}
	if err != nil {
		s.featureTries++
		s.anyTries++
		s.shared.Logger.Debug("transactions: ApiVersions failed; retrying", "err", err)
		s.featureTimer.arm(c, backoff(s.shared.Settings.RetryBackoff, s.shared.Settings.RetryBackoffMax, s.featureTries))
		return
	}
	s.features, s.featureAsking = true, false
	s.step(c, txnFeatures{v2: resp.TransactionsV2()})
	held := s.held
	s.held = nil
	for _, ev := range held {
		s.step(c, ev)
	}
}

// step feeds the core one event at the current time and carries out its effects.
func (s *txnActorState) step(c actor.Context, ev txnEvent) {
	s.apply(c, s.core.step(time.Now(), ev))
}

func (s *txnActorState) apply(c actor.Context, e txnEffects) {
	switch e.logLevel {
	case logDebug:
		s.shared.Logger.Debug("transactions: " + e.log)
	case logInfo:
		s.shared.Logger.Info("transactions: " + e.log)
	case logError:
		s.shared.Logger.Error("transactions: " + e.log)
	}
	core := s.core
	produceCap := int16(wire.ProduceMaxVersionV1)
	if core.v2 {
		produceCap = 0
	}
	if !s.capSent || produceCap != s.produceCap {
		// Before the identity (below): the sender forwards it to its sinks first, so no batch
		// sealed with the identity reaches a sink ahead of it.
		s.capSent, s.produceCap = true, produceCap
		c.Send(s.sender, &produceCapNews{cap: produceCap})
	}
	if e.fail != nil {
		// The sender records it, fails every partition's batches and tells the producer actor.
		c.Send(s.sender, &messages.ProducerFailed{Err: e.fail})
	}
	// Why the gate refuses records, whatever else it says: told once per change of state (the
	// core's error only changes with it: the first error of a transaction stays its cause).
	if core.state != s.refusing {
		s.refusing = core.state
		var refuse error
		switch core.state {
		case txnFatalError:
			refuse = core.lastErr
		case txnAbortableError:
			refuse = fmt.Errorf("%w: the transaction must be aborted: %w", ErrTransactionState, core.lastErr)
		}
		s.shared.Txn.setErr(refuse)
	}
	if e.identity != nil {
		c.Send(s.sender, &txnIdentity{id: e.identity})
	}
	if e.abortUndrained != nil && e.fail == nil {
		s.shared.RangeAccumulators(func(_ messages.TopicPartition, pid *actor.PID) {
			c.Send(pid, &txnAbortUndrained{err: e.abortUndrained})
		})
	}
	if e.flush {
		s.flush(c)
	}
	if e.send != nil {
		s.send(c, e.send)
	}
	if e.timer != nil {
		s.gen = e.timer.gen
		s.timer.armAt(c, e.timer.at)
	}
	if e.newTransaction {
		s.closeGates(c)
	}
	for _, tp := range e.allow {
		s.allowed[tp] = true
		if acc := s.opened[tp]; acc != nil {
			c.Send(acc, &txnGateOpen{open: true, id: core.identity})
		}
	}
	switch core.state {
	case txnInTransaction, txnCommitting, txnAborting, txnAbortableError:
	default:
		// The transaction ended: its allowances end before the operation that ended it completes.
		s.closeGates(c)
	}
	for _, d := range e.done {
		s.reply(d)
	}
	if e.reject != nil {
		// The record was admitted by the gate before the core's state moved on (an error, or the
		// producer failed): its batch waits held, and the abort or the failure fails it.
		s.shared.Logger.Debug("transactions: a record's partition was refused", "err", e.reject)
	}
}

func (s *txnActorState) reply(d txnDone) {
	switch r := d.reply.(type) {
	case chan error:
		select {
		case r <- d.err:
		default: // answered already (buffered, capacity 1)
		}
	case nil:
	default:
		s.shared.Logger.Warn("transactions: unexpected reply token", "type", fmt.Sprintf("%T", r))
	}
}

// answer fails a held operation (one waiting for the brokers' protocol).
func (s *txnActorState) answer(ev txnEvent, err error) {
	var reply any
	switch ev := ev.(type) {
	case txnInit:
		reply = ev.reply
	case txnBegin:
		reply = ev.reply
	case txnSendOffsets:
		reply = ev.reply
	case txnCommit:
		reply = ev.reply
	case txnAbort:
		reply = ev.reply
	}
	s.reply(txnDone{reply: reply, err: err})
}

// closeGates tells every accumulator opened (or waiting) in the last transaction that it must
// wait for an allowance again.
func (s *txnActorState) closeGates(c actor.Context) {
	for tp, acc := range s.opened {
		c.Send(acc, &txnGateOpen{open: false})
		delete(s.opened, tp)
	}
	clear(s.allowed)
}

// flush asks every accumulator to send what it holds and reports txnFlushed once all of it
// completed.
func (s *txnActorState) flush(c actor.Context) {
	s.flushes++
	gen, self, root := s.flushes, c.Self(), c.ActorSystem().Root
	left := 1
	var mu sync.Mutex
	finish := func() {
		mu.Lock()
		left--
		last := left == 0
		mu.Unlock()
		if last {
			root.Send(self, &txnFlushDone{gen: gen})
		}
	}
	s.shared.RangeInboxes(func(_ messages.TopicPartition, in *Inbox) {
		mu.Lock()
		left++
		mu.Unlock()
		if !in.PushFlush(finish) {
			s.shared.Completer.After(finish)
		}
	})
	finish()
}

// send hands the core's request to the connection of the broker it names.
func (s *txnActorState) send(c actor.Context, r *txnSend) {
	var conn *actor.PID
	if r.coordinator == nil {
		conn = s.anyConn(c)
		s.anyTries++ // the next one asks the next broker, should this one be down
	} else {
		addr := net.JoinHostPort(r.coordinator.Host, strconv.Itoa(int(r.coordinator.Port)))
		conn = s.conn(c, r.coordinator.ID, addr)
	}
	s.shared.Logger.Debug("transactions: sending", "api", wire.APIName(r.req.Key()), "coordinator", r.coordinator != nil)
	call := &messages.Call{Req: r.req, ReplyTo: c.Self(), Tag: &txnCallTag{seq: r.seq}}
	if r.maxVersion >= 0 {
		call.MaxVersion = r.maxVersion
	}
	c.Send(conn, call)
}

// anyConn is a connection to some broker: those of the metadata in turn, or the bootstrap
// servers before there is any.
func (s *txnActorState) anyConn(c actor.Context) *actor.PID {
	if brokers := s.shared.Cluster().Brokers; len(brokers) > 0 {
		ids := make([]int32, 0, len(brokers))
		for id := range brokers {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		id := ids[s.anyTries%len(ids)]
		return s.conn(c, id, brokers[id])
	}
	boot := s.shared.Settings.Bootstrap
	return s.conn(c, -1, boot[s.anyTries%len(boot)])
}

func (s *txnActorState) conn(c actor.Context, node int32, addr string) *actor.PID {
	if pid := s.conns[addr]; pid != nil {
		return pid
	}
	cfg := connectionTo(s.shared.Settings, node, addr)
	cfg.Metadata = s.metadata
	pid := c.SpawnPrefix(newConnectionProps(s.shared, cfg), fmt.Sprintf("txn-%d-", node))
	s.conns[addr] = pid
	return pid
}
