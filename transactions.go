package kastor

// Transactions: a producer with a Config.TransactionalID writes its records inside transactions
// that commit or abort atomically across partitions, optionally with a consumer group's offsets
// (consume-transform-produce, exactly once). The state machine is Java's TransactionManager
// (actors/txncore.go), owned by the transaction actor (actors/txn.go); these methods hand it the
// operation and wait for its answer.

import (
	"context"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/actors"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

var (
	// ErrTransactionState: the operation is not allowed in the producer's transaction state
	// (Java's IllegalStateException): a send outside a transaction, BeginTransaction while one is
	// open, CommitTransaction before BeginTransaction or after an error that requires an abort,
	// any transactional method on a producer without a TransactionalID.
	ErrTransactionState = actors.ErrTransactionState
	// ErrTransactionAborted fails the records of a transaction that was aborted before they were
	// sent (Java's TransactionAbortedException).
	ErrTransactionAborted = actors.ErrTransactionAborted
	// ErrInvalidProducerEpoch (INVALID_PRODUCER_EPOCH): a newer producer with the same
	// transactional id took over (the broker's answer to a zombie's produce request). Fatal.
	ErrInvalidProducerEpoch = wire.ErrInvalidProducerEpoch
	// ErrInvalidTxnState (INVALID_TXN_STATE): the coordinator refused the transition; fatal.
	ErrInvalidTxnState = wire.ErrInvalidTxnState
	// ErrTransactionAbortable (TRANSACTION_ABORTABLE): the broker asks for the transaction to be
	// aborted; AbortTransaction and go on.
	ErrTransactionAbortable = wire.ErrTransactionAbortable
	// ErrConcurrentTransactions (CONCURRENT_TRANSACTIONS, retriable): the previous transaction is
	// still being completed; kastor retries.
	ErrConcurrentTransactions = wire.ErrConcurrentTransactions
	// ErrGroupAuthorizationFailed (GROUP_AUTHORIZATION_FAILED): the principal may not commit the
	// group's offsets; the transaction must be aborted.
	ErrGroupAuthorizationFailed = wire.ErrGroupAuthorizationFailed
)

// OffsetAndMetadata is the offset a consumer group commits for one partition: the offset of the
// next record to consume (the last processed record's offset + 1), as in Java.
type OffsetAndMetadata = messages.OffsetAndMetadata

// ConsumerGroupMetadata identifies the consumer whose offsets a transaction commits (Java's
// ConsumerGroupMetadata; see messages.ConsumerGroupMetadata).
type ConsumerGroupMetadata = messages.ConsumerGroupMetadata

// The transactional messages of actor-native use; see the messages package.
type (
	InitTransactions         = messages.InitTransactions
	BeginTransaction         = messages.BeginTransaction
	SendOffsetsToTransaction = messages.SendOffsetsToTransaction
	CommitTransaction        = messages.CommitTransaction
	AbortTransaction         = messages.AbortTransaction
	TransactionDone          = messages.TransactionDone
)

// NewConsumerGroupMetadata is the metadata of a group when only its id is known (no fencing by
// generation or member).
func NewConsumerGroupMetadata(groupID string) ConsumerGroupMetadata {
	return ConsumerGroupMetadata{GroupID: groupID, GenerationID: -1}
}

// InitTransactions must be called once before any other transactional method: it finds the
// transaction coordinator, completes or aborts whatever an earlier producer with the same
// TransactionalID left open, fences that producer (its next operation fails with
// ErrProducerFenced or ErrInvalidProducerEpoch) and gets this producer's id and epoch.
//
// If ctx ends first, it returns ctx's error and the initialization goes on: call it again to wait
// for the same result. A fatal error (ErrFatal: authorization, fencing) means the producer can
// only be closed.
func (p *Producer) InitTransactions(ctx context.Context) error {
	return p.txnCall(ctx, &actors.TxnOp{Kind: actors.TxnInit})
}

// BeginTransaction opens a transaction: every record sent until CommitTransaction or
// AbortTransaction belongs to it. It needs InitTransactions first and no transaction open; a
// previous transaction that failed must have been aborted. It does not contact the cluster.
func (p *Producer) BeginTransaction() error {
	g, err := p.txnGate()
	if err != nil {
		return err
	}
	if err := p.txnCall(context.Background(), &actors.TxnOp{Kind: actors.TxnBegin}); err != nil {
		return err
	}
	g.Begin()
	return nil
}

// CommitTransaction sends every record of the open transaction, waits for all of them (commit
// flushes first, as in Java) and commits the transaction: its records and offsets become visible
// to read_committed consumers together. Sends are refused from the moment it is called until the
// next BeginTransaction.
//
// If a record or the offsets of the transaction failed, the commit fails with that error and the
// transaction must be aborted (AbortTransaction). A fatal error (ErrFatal wrapping
// ErrProducerFenced, say) means the producer can only be closed. If ctx ends first, it returns
// ctx's error and the commit goes on: call CommitTransaction again to wait for its result.
// Like Flush, it cannot be called from a send callback (ErrInCallback).
func (p *Producer) CommitTransaction(ctx context.Context) error {
	return p.endTransaction(ctx, actors.TxnCommit)
}

// AbortTransaction aborts the open transaction: its records not sent yet fail with
// ErrTransactionAborted, the ones sent are waited for and then discarded by the brokers (a
// read_committed consumer never sees them), and its offsets are not committed. It is how a
// transaction that failed is ended. If ctx ends first, it returns ctx's error and the abort goes
// on: call AbortTransaction again to wait for its result. It cannot be called from a send
// callback (ErrInCallback).
func (p *Producer) AbortTransaction(ctx context.Context) error {
	return p.endTransaction(ctx, actors.TxnAbort)
}

// SendOffsetsToTransaction adds a consumer group's offsets to the open transaction: they become
// the group's committed offsets if, and only if, the transaction commits (consume-transform-
// produce). offsets maps each consumed partition to the offset of the next record to consume. It
// returns once the group's coordinator has the offsets; an error means the transaction must be
// aborted (or, with ErrFatal, the producer closed).
func (p *Producer) SendOffsetsToTransaction(ctx context.Context, offsets map[TopicPartition]OffsetAndMetadata, group ConsumerGroupMetadata) error {
	if group.GroupID == "" {
		return fmt.Errorf("kastor: SendOffsetsToTransaction needs a group id: %w", wire.ErrInvalidGroupID)
	}
	op := &actors.TxnOp{Kind: actors.TxnSendOffsets, GroupID: group.GroupID, GenerationID: group.GenerationID,
		MemberID: group.MemberID, GroupInstanceID: group.GroupInstanceID}
	topics := map[string]int{}
	for tp, om := range offsets {
		i, ok := topics[tp.Topic]
		if !ok {
			i = len(op.Offsets)
			topics[tp.Topic] = i
			op.Offsets = append(op.Offsets, wire.TxnOffsetCommitTopic{Name: tp.Topic})
		}
		part := wire.TxnOffsetCommitPartition{Partition: tp.Partition, Offset: om.Offset, LeaderEpoch: om.LeaderEpoch}
		if om.Metadata != "" {
			md := om.Metadata
			part.Metadata = &md
		}
		op.Offsets[i].Partitions = append(op.Offsets[i].Partitions, part)
	}
	if len(op.Offsets) == 0 {
		return nil // nothing to commit, as in Java
	}
	return p.txnCall(ctx, op)
}

func (p *Producer) endTransaction(ctx context.Context, kind actors.TxnOpKind) error {
	if p.shared.Completer.OnCompletionGoroutine() {
		return fmt.Errorf("%w: ending a transaction waits for completions that run on this goroutine after the callback returns", ErrInCallback)
	}
	g, err := p.txnGate()
	if err != nil {
		return err
	}
	if err := p.txnReady(ctx, g); err != nil {
		return err
	}
	if reply := p.txnPending.take(kind); reply != nil {
		return p.txnWait(ctx, kind, reply) // the same operation, which a cancelled wait left running
	}
	op := &actors.TxnOp{Kind: kind, Reply: make(chan error, 1)}
	// Closing the gate first: every record admitted is in its accumulator before the operation
	// reaches the transaction actor, so the commit's flush covers it.
	g.End(func() { g.Send(op) })
	return p.txnWait(ctx, kind, op.Reply)
}

// closeTransaction aborts an open transaction as Close begins (Java's behaviour). A failed abort
// is logged: the coordinator aborts the transaction when it times out.
func (p *Producer) closeTransaction(ctx context.Context) error {
	g := p.shared.Txn
	if g == nil {
		return nil
	}
	select {
	case <-g.Ready():
	default:
		return nil // the transaction actor never started: there is nothing open
	}
	op := &actors.TxnOp{Kind: actors.TxnClose, Reply: make(chan error, 1)}
	g.End(func() { g.Send(op) })
	err := p.txnWait(ctx, actors.TxnClose, op.Reply)
	if err != nil && ctx.Err() != nil {
		return err
	}
	if err != nil {
		p.logger.Warn("kastor: aborting the open transaction on close failed", "err", err)
	}
	return nil
}

// abortTransactionAsync is closeTransaction for the producer actor's Close message: it hands the
// abort over and runs then once it is done, waiting on a goroutine of its own.
func (p *Producer) abortTransactionAsync(then func()) {
	g := p.shared.Txn
	if g == nil {
		then()
		return
	}
	select {
	case <-g.Ready():
	default:
		then() // the transaction actor never started: there is nothing open
		return
	}
	op := &actors.TxnOp{Kind: actors.TxnClose, Reply: make(chan error, 1)}
	g.End(func() { g.Send(op) })
	go func() {
		select {
		case err := <-op.Reply:
			if err != nil {
				p.logger.Warn("kastor: aborting the open transaction on close failed", "err", err)
			}
		case <-p.stopped:
		}
		then()
	}()
}

func (p *Producer) txnGate() (*actors.TxnGate, error) {
	g := p.shared.Txn
	if g == nil {
		return nil, fmt.Errorf("%w: the producer has no TransactionalID", ErrTransactionState)
	}
	if p.closedFlag.Load() {
		return nil, ErrProducerClosed
	}
	return g, nil
}

// txnReady waits for the transaction actor to run (it is spawned when the producer actor starts).
func (p *Producer) txnReady(ctx context.Context, g *actors.TxnGate) error {
	select {
	case <-g.Ready():
		return nil
	case <-p.stopped:
		return ErrProducerClosed
	case <-ctx.Done():
		return fmt.Errorf("kastor: %w", context.Cause(ctx))
	}
}

// txnCall hands op to the transaction actor and waits for its answer.
func (p *Producer) txnCall(ctx context.Context, op *actors.TxnOp) error {
	g, err := p.txnGate()
	if err != nil {
		return err
	}
	if err := p.txnReady(ctx, g); err != nil {
		return err
	}
	if reply := p.txnPending.take(op.Kind); reply != nil {
		return p.txnWait(ctx, op.Kind, reply) // the same operation, which a cancelled wait left running
	}
	op.Reply = make(chan error, 1)
	g.Send(op)
	return p.txnWait(ctx, op.Kind, op.Reply)
}

// txnWait waits for an operation's answer. When ctx ends first, an InitTransactions, commit or
// abort goes on, and the next call of the same operation waits for its answer (Java's).
func (p *Producer) txnWait(ctx context.Context, kind actors.TxnOpKind, reply chan error) error {
	select {
	case err := <-reply:
		return err
	case <-p.stopped:
		return ErrProducerClosed
	case <-ctx.Done():
		switch kind {
		case actors.TxnInit, actors.TxnCommit, actors.TxnAbort:
			p.txnPending.keep(kind, reply)
			return fmt.Errorf("kastor: stopped waiting, the operation goes on (call it again to wait for its result): %w", context.Cause(ctx))
		}
		return fmt.Errorf("kastor: stopped waiting, the operation goes on: %w", context.Cause(ctx))
	}
}

// txnPending is the operation a cancelled wait left running, whose answer the next call of the
// same operation waits for. Any other transactional call forgets it.
type txnPending struct {
	mu    sync.Mutex
	kind  actors.TxnOpKind
	reply chan error // nil: none
}

// take forgets the pending operation and returns its answer channel if it is of kind.
func (t *txnPending) take(kind actors.TxnOpKind) chan error {
	t.mu.Lock()
	defer t.mu.Unlock()
	reply, same := t.reply, t.kind == kind
	t.reply = nil
	if same {
		return reply
	}
	return nil
}

func (t *txnPending) keep(kind actors.TxnOpKind, reply chan error) {
	t.mu.Lock()
	t.kind, t.reply = kind, reply
	t.mu.Unlock()
}

// deliverInTransaction pushes e into its accumulator inside the open transaction (refused outside
// one). Only a partition's first record of a transaction is announced to the transaction actor;
// the rest cost a map lookup under a shared lock.
func (p *Producer) deliverInTransaction(g *actors.TxnGate, e *sendEntry) (stage, error) {
	tp := TopicPartition{Topic: e.rec.Topic, Partition: e.part}
	if err := g.Enter(tp); err != nil {
		return stageDone, err
	}
	ok := p.deliver(e)
	g.Exit()
	if !ok {
		return stageAccumulator, nil
	}
	return stageDone, nil
}

// transactionMessage runs a transactional message of an actor user on its own goroutine (the
// operation waits for the cluster) and answers the sender with TransactionDone. Commit, abort and
// offsets go behind the sender's earlier Produce messages first (waitingroom.go).
func (p *Producer) transactionMessage(msg any, sender *actor.PID) {
	var run func() error
	ordered := true
	switch m := msg.(type) {
	case *messages.InitTransactions:
		ordered = false
		run = func() error { return p.InitTransactions(context.Background()) }
	case *messages.BeginTransaction:
		ordered = false
		run = p.BeginTransaction
	case *messages.SendOffsetsToTransaction:
		run = func() error { return p.SendOffsetsToTransaction(context.Background(), m.Offsets, m.Group) }
	case *messages.CommitTransaction:
		run = func() error { return p.CommitTransaction(context.Background()) }
	case *messages.AbortTransaction:
		run = func() error { return p.AbortTransaction(context.Background()) }
	default:
		return
	}
	start := func() {
		p.txnRunner.run(func() {
			err := run()
			if sender != nil {
				p.sys.Root.Send(sender, &messages.TransactionDone{Correlation: txnCorrelation(msg), Request: msg, Err: err})
			}
		})
	}
	if !ordered || !p.pushControl(laneItem{kind: itemTransaction, run: start}) {
		start() // not ordered, or the producer stopped: the operation says so
	}
}

func txnCorrelation(msg any) uint64 {
	switch m := msg.(type) {
	case *messages.InitTransactions:
		return m.Correlation
	case *messages.BeginTransaction:
		return m.Correlation
	case *messages.SendOffsetsToTransaction:
		return m.Correlation
	case *messages.CommitTransaction:
		return m.Correlation
	case *messages.AbortTransaction:
		return m.Correlation
	}
	return 0
}

// txnRunner runs the transactional operations of actor users one at a time, in the order they
// were started, on a goroutine of their own that ends when none is left.
type txnRunner struct {
	mu      sync.Mutex
	queue   []func()
	running bool
}

func (r *txnRunner) run(fn func()) {
	r.mu.Lock()
	r.queue = append(r.queue, fn)
	if r.running {
		r.mu.Unlock()
		return
	}
	r.running = true
	r.mu.Unlock()
	go r.loop()
}

func (r *txnRunner) loop() {
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		fn := r.queue[0]
		r.queue = r.queue[1:]
		r.mu.Unlock()
		fn()
	}
}
