package actors

// The transactional producer's state machine (Java's TransactionManager), as a pure core: txnCore
// takes one event at a time with the current time and returns what to do as data (txnEffects).
// It reads no clock, arms no timer and sends nothing, so it is tested with scripts
// (txncore_test.go) and against kfake (txncore_kfake_test.go); an actor applies the effects: it sends the request the core names to the
// broker the core names, arms the timer, completes the waiters, publishes the identity, flushes
// or aborts the accumulated batches, and feeds the answers back as events.
//
// One coordinator request is out at a time, as in the Java client: the queue is served by
// priority (InitProducerId, then AddPartitionsToTxn/AddOffsetsToTxn/TxnOffsetCommit, then EndTxn),
// and a FindCoordinator goes first whenever the coordinator a request needs is unknown.
//
// The classic protocol adds each partition with AddPartitionsToTxn before its first batch may be
// drained, and the group's offsets partition with AddOffsetsToTxn before TxnOffsetCommit. With
// transactions v2 (KIP-890, the broker's finalized transaction.version ≥ 2, latched when a
// transaction begins) Produce and TxnOffsetCommit add them implicitly, and every EndTxn (v5)
// answers with the identity of the next transaction (the epoch bumped).

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

var (
	// ErrTransactionState is a transactional operation the producer's state does not allow (Java's
	// IllegalStateException): a send outside a transaction, a commit before begin, a begin while a
	// transaction is open or must first be aborted.
	ErrTransactionState = errors.New("kastor: invalid transaction state")
	// ErrTransactionAborted fails the records of a transaction that was aborted before they were
	// sent (Java's TransactionAbortedException).
	ErrTransactionAborted = errors.New("kastor: transaction aborted")
)

// txnState is Java's TransactionManager.State.
type txnState uint8

const (
	txnUninitialized txnState = iota
	txnInitializing
	txnReady
	txnInTransaction
	txnCommitting
	txnAborting
	txnAbortableError
	txnFatalError
)

func (s txnState) String() string {
	switch s {
	case txnUninitialized:
		return "Uninitialized"
	case txnInitializing:
		return "Initializing"
	case txnReady:
		return "Ready"
	case txnInTransaction:
		return "InTransaction"
	case txnCommitting:
		return "CommittingTransaction"
	case txnAborting:
		return "AbortingTransaction"
	case txnAbortableError:
		return "AbortableError"
	case txnFatalError:
		return "FatalError"
	}
	return fmt.Sprintf("txnState(%d)", uint8(s))
}

// ---------------------------------------------------------------------------------------------
// Events

// txnEvent is one input of txnCore.step.
type txnEvent interface{ txnEvent() }

// User operations. reply is the caller's token, handed back in a txnDone when the operation
// completes.
type (
	txnInit  struct{ reply any } // InitTransactions
	txnBegin struct{ reply any } // BeginTransaction (answered at once)
	// txnRecord: a record is about to be appended for tp. Refused (txnEffects.reject) outside a
	// transaction; the first one for a partition adds it to the transaction, and its batches may be
	// drained only once the partition is in txnEffects.allow.
	txnRecord struct{ tp messages.TopicPartition }
	// txnSendOffsets: SendOffsetsToTransaction: commit the group's offsets with the transaction.
	txnSendOffsets struct {
		reply  any
		group  txnGroupMetadata
		topics []wire.TxnOffsetCommitTopic
	}
	txnCommit struct{ reply any } // CommitTransaction: flush, then EndTxn(commit)
	txnAbort  struct{ reply any } // AbortTransaction: drop unsent batches, wait for the sent, EndTxn(abort)
	txnClose  struct{ reply any } // Close: an open transaction is aborted (Java's behaviour)
)

// txnGroupMetadata is the consumer's group metadata (Java's ConsumerGroupMetadata), which lets
// the group coordinator fence a zombie member (KIP-447).
type txnGroupMetadata struct {
	GroupID         string
	GenerationID    int32 // -1 when unknown
	MemberID        string
	GroupInstanceID *string
}

// Runtime events.
type (
	// txnAnswered: the request of txnSend seq came back: resp decoded at version, or err (a failed
	// call: connection, timeout, no common version).
	txnAnswered struct {
		seq     uint64
		resp    wire.Response
		version int16
		err     error
	}
	// txnTimerFired: the timer of txnTimer gen expired.
	txnTimerFired struct{ gen uint64 }
	// txnFlushed: every record appended before the last txnEffects.flush has completed.
	txnFlushed struct{}
	// txnRecordFailed: a batch of the open transaction failed for good (after the produce path's
	// own retries); the transaction cannot commit.
	txnRecordFailed struct{ err error }
	// txnFeatures: the brokers' transaction protocol; v2 takes effect when the next transaction
	// (or InitTransactions) begins.
	txnFeatures struct{ v2 bool }
)

func (txnInit) txnEvent()         {}
func (txnBegin) txnEvent()        {}
func (txnRecord) txnEvent()       {}
func (txnSendOffsets) txnEvent()  {}
func (txnCommit) txnEvent()       {}
func (txnAbort) txnEvent()        {}
func (txnClose) txnEvent()        {}
func (txnAnswered) txnEvent()     {}
func (txnTimerFired) txnEvent()   {}
func (txnFlushed) txnEvent()      {}
func (txnRecordFailed) txnEvent() {}
func (txnFeatures) txnEvent()     {}

// ---------------------------------------------------------------------------------------------
// Effects

// txnEffects is what the actor must do after a step, in this order: fail (fatal), publish
// identity, abortUndrained, flush, send, timer, newTransaction, allow, done, reject.
type txnEffects struct {
	// send: the one request to send now; its answer comes back as txnAnswered{seq}.
	send *txnSend
	// timer: deliver txnTimerFired{gen} at the given time (replaces any earlier timer).
	timer *txnTimer
	// done: operations to complete.
	done []txnDone
	// reject: the event's record must not be appended; it fails with this error.
	reject error
	// allow: partitions now in the transaction, whose batches may be drained.
	allow []messages.TopicPartition
	// newTransaction: a transaction began; allowances of the last one are void, so no partition's
	// batches may be drained until an allow names it again.
	newTransaction bool
	// abortUndrained: fail every batch not yet sent with this error (an abort, or a fatal error).
	abortUndrained error
	// flush: send every accumulated batch now and report txnFlushed when all records appended so
	// far have completed (Java's commit flushes first; an abort waits for the sent batches).
	flush bool
	// identity: the new producer id and epoch to stamp on batches (sequences start over).
	identity *producerIdentity
	// fail: the producer's fatal error (already wrapping messages.ErrFatal); every later
	// operation fails with it.
	fail error
	// log: what happened, for the actor to log.
	log      string
	logLevel logLevel
}

// txnSend is one request to send.
type txnSend struct {
	seq uint64
	// coordinator is where to send it; nil: any broker (FindCoordinator; the least loaded).
	coordinator *txnNode
	req         wire.Request
	// maxVersion caps the negotiated version (-1: none): the classic protocol must not send the
	// versions that announce transactions v2.
	maxVersion int16
}

// txnNode is a coordinator broker, as FindCoordinator named it.
type txnNode struct {
	ID   int32
	Host string
	Port int32
}

type txnTimer struct {
	at  time.Time
	gen uint64
}

type txnDone struct {
	reply any
	err   error
}

// ---------------------------------------------------------------------------------------------
// The core

type txnOpKind uint8

// In priority order (Java's TransactionManager.Priority): a lower kind is sent first.
const (
	opInitProducerID txnOpKind = iota
	opAddPartitions
	opAddOffsets
	opTxnOffsetCommit
	opEndTxn
)

func (k txnOpKind) apiKey() int16 {
	switch k {
	case opInitProducerID:
		return wire.KeyInitProducerID
	case opAddPartitions:
		return wire.KeyAddPartitionsToTxn
	case opAddOffsets:
		return wire.KeyAddOffsetsToTxn
	case opTxnOffsetCommit:
		return wire.KeyTxnOffsetCommit
	}
	return wire.KeyEndTxn
}

func (k txnOpKind) apiName() string {
	switch k {
	case opInitProducerID:
		return "InitProducerId"
	case opAddPartitions:
		return "AddPartitionsToTxn"
	case opAddOffsets:
		return "AddOffsetsToTxn"
	case opTxnOffsetCommit:
		return "TxnOffsetCommit"
	}
	return "EndTxn"
}

// txnOp is a queued coordinator request.
type txnOp struct {
	kind txnOpKind
	// opInitProducerID: the identity to bump (-1/-1 for a fresh one).
	pid   int64
	epoch int16
	// opAddPartitions: the partitions it adds, taken from pendingAdd when first sent.
	tps []messages.TopicPartition
	// opAddOffsets, opTxnOffsetCommit.
	group  txnGroupMetadata
	topics []wire.TxnOffsetCommitTopic
	reply  any
	// opEndTxn.
	commit bool
}

// txnResult is the user operation under way (init, commit or abort) and who waits for it.
type txnResult struct {
	kind    txnOpKind // opInitProducerID (init), opEndTxn with commit or abort
	commit  bool
	waiters []any
}

// txnCore is the transaction state machine of one transactional producer.
type txnCore struct {
	transactionalID string
	timeoutMillis   int32

	retryBackoff, retryBackoffMax time.Duration

	state   txnState
	lastErr error // the abortable or fatal error
	closed  bool

	v2Advertised bool // the brokers' protocol, latched into v2 by init and begin
	v2           bool

	identity *producerIdentity
	txnCoord *txnNode
	groups   map[string]*txnNode // group coordinators

	// The open transaction.
	partitions map[messages.TopicPartition]bool // in the transaction: true once added
	pendingAdd []messages.TopicPartition        // sent to, not yet in an AddPartitionsToTxn
	started    bool                             // something was added: EndTxn is needed
	bumpEpoch  bool                             // after the abort, InitProducerId bumps the epoch (KIP-360)
	awaitFlush bool                             // EndTxn waits for txnFlushed
	result     *txnResult

	queue []*txnOp // by priority, FIFO within one
	// The request out: seq tags it; out is its op (nil with finding set: a FindCoordinator).
	outstanding bool
	seq         uint64
	out         *txnOp
	finding     *txnFind
	// Backing off: no request until the timer of timerGen fires.
	backingOff bool
	timerGen   uint64
	failures   int
}

type txnFind struct {
	keyType int8
	key     string
}

func newTxnCore(transactionalID string, timeout, retryBackoff, retryBackoffMax time.Duration) *txnCore {
	return &txnCore{
		transactionalID: transactionalID,
		timeoutMillis:   int32(min(timeout.Milliseconds(), 1<<31-1)),
		retryBackoff:    retryBackoff,
		retryBackoffMax: retryBackoffMax,
		groups:          make(map[string]*txnNode),
	}
}

// step applies one event at time now and returns what to do.
func (c *txnCore) step(now time.Time, ev txnEvent) txnEffects {
	var e txnEffects
	switch ev := ev.(type) {
	case txnInit:
		c.onInit(ev.reply, &e)
	case txnBegin:
		c.onBegin(ev.reply, &e)
	case txnRecord:
		c.onRecord(ev.tp, &e)
	case txnSendOffsets:
		c.onSendOffsets(ev, &e)
	case txnCommit:
		c.onEnd(ev.reply, true, &e)
	case txnAbort:
		c.onEnd(ev.reply, false, &e)
	case txnClose:
		c.onClose(ev.reply, &e)
	case txnAnswered:
		c.onAnswered(now, ev, &e)
	case txnTimerFired:
		if c.backingOff && ev.gen == c.timerGen {
			c.backingOff = false
		}
	case txnFlushed:
		c.awaitFlush = false
	case txnRecordFailed:
		c.onRecordFailed(ev.err, &e)
	case txnFeatures:
		c.v2Advertised = ev.v2
	}
	c.pump(now, &e)
	return e
}

// refuse returns why an operation cannot run in the current state, or nil.
func (c *txnCore) refuse(op string, allowed ...txnState) error {
	if c.closed {
		return messages.ErrProducerClosed
	}
	if c.state == txnFatalError {
		return c.lastErr
	}
	if slices.Contains(allowed, c.state) {
		return nil
	}
	if c.state == txnAbortableError {
		return fmt.Errorf("%w: cannot %s: the transaction must be aborted: %w", ErrTransactionState, op, c.lastErr)
	}
	return fmt.Errorf("%w: cannot %s in state %s", ErrTransactionState, op, c.state)
}

func (c *txnCore) onInit(reply any, e *txnEffects) {
	if c.result != nil && c.result.kind == opInitProducerID && c.state == txnInitializing && !c.closed {
		c.result.waiters = append(c.result.waiters, reply) // InitTransactions called again: the same result
		return
	}
	if err := c.refuse("initialize transactions", txnUninitialized); err != nil {
		e.done = append(e.done, txnDone{reply, err})
		return
	}
	c.v2 = c.v2Advertised
	c.state = txnInitializing
	c.result = &txnResult{kind: opInitProducerID, waiters: []any{reply}}
	c.enqueue(&txnOp{kind: opInitProducerID, pid: -1, epoch: -1})
}

func (c *txnCore) onBegin(reply any, e *txnEffects) {
	if err := c.refuse("begin a transaction", txnReady); err != nil {
		e.done = append(e.done, txnDone{reply, err})
		return
	}
	c.v2 = c.v2Advertised
	c.state = txnInTransaction
	c.partitions = make(map[messages.TopicPartition]bool)
	c.pendingAdd, c.started, c.bumpEpoch = nil, false, false
	e.newTransaction = true
	e.done = append(e.done, txnDone{reply, nil})
}

func (c *txnCore) onRecord(tp messages.TopicPartition, e *txnEffects) {
	if err := c.refuse("send outside a transaction", txnInTransaction); err != nil {
		e.reject = err
		return
	}
	if _, ok := c.partitions[tp]; ok {
		return
	}
	if c.v2 {
		c.partitions[tp] = true
		c.started = true
		e.allow = append(e.allow, tp)
		return
	}
	c.partitions[tp] = false
	c.pendingAdd = append(c.pendingAdd, tp)
	if !c.queued(opAddPartitions) {
		c.enqueue(&txnOp{kind: opAddPartitions})
	}
}

func (c *txnCore) onSendOffsets(ev txnSendOffsets, e *txnEffects) {
	if err := c.refuse("send offsets", txnInTransaction); err != nil {
		e.done = append(e.done, txnDone{ev.reply, err})
		return
	}
	kind := opAddOffsets
	if c.v2 {
		kind = opTxnOffsetCommit // TxnOffsetCommit v5 adds the offsets partition itself
		c.started = true
	}
	c.enqueue(&txnOp{kind: kind, group: ev.group, topics: ev.topics, reply: ev.reply})
}

// onEnd begins a commit or an abort.
func (c *txnCore) onEnd(reply any, commit bool, e *txnEffects) {
	op := "abort"
	if commit {
		op = "commit"
	}
	if r := c.result; r != nil && r.kind == opEndTxn && r.commit == commit && !c.closed {
		c.result.waiters = append(c.result.waiters, reply) // called again: the same result
		return
	}
	allowed := []txnState{txnInTransaction}
	if !commit {
		allowed = append(allowed, txnAbortableError)
	}
	if err := c.refuse(op+" a transaction", allowed...); err != nil {
		e.done = append(e.done, txnDone{reply, err})
		return
	}
	c.beginEnd(commit, reply, e)
}

func (c *txnCore) beginEnd(commit bool, reply any, e *txnEffects) {
	c.result = &txnResult{kind: opEndTxn, commit: commit, waiters: []any{reply}}
	c.awaitFlush = true
	e.flush = true
	if commit {
		c.state = txnCommitting
	} else {
		c.state = txnAborting
		e.abortUndrained = ErrTransactionAborted
		// Offsets and partitions not yet sent for have no records to cover. The request out is
		// kept: the coordinator may act on it, and EndTxn must then end what it started.
		c.dropQueued(func(op *txnOp) bool { return op.kind != opInitProducerID }, ErrTransactionAborted, true, e)
		c.pendingAdd = nil
		if errors.Is(c.lastErr, wire.ErrInvalidProducerIDMapping) {
			// The coordinator forgot the id: it would refuse EndTxn; a new id ends the transaction.
			c.bumpEpoch = true
			c.state = txnInitializing
			c.enqueue(c.initOp())
			return
		}
	}
	c.enqueue(&txnOp{kind: opEndTxn, commit: commit})
}

func (c *txnCore) onClose(reply any, e *txnEffects) {
	if c.closed {
		e.done = append(e.done, txnDone{reply, nil})
		return
	}
	switch c.state {
	case txnInTransaction, txnAbortableError:
		c.beginEnd(false, reply, e)
		e.log, e.logLevel = "aborting the open transaction on close", logInfo
	case txnCommitting, txnAborting:
		c.result.waiters = append(c.result.waiters, reply)
	case txnInitializing:
		if c.result != nil && c.result.kind == opEndTxn {
			c.result.waiters = append(c.result.waiters, reply) // an abort's epoch bump: it completes the abort
			break
		}
		// InitTransactions never completed: there is nothing to end.
		c.complete(messages.ErrProducerClosed, e)
		c.queue, c.outstanding = nil, false
		e.done = append(e.done, txnDone{reply, nil})
	default:
		e.done = append(e.done, txnDone{reply, nil})
	}
	c.closed = true
}

// abandon answers every operation waiting in the core with err: its actor is stopping.
func (c *txnCore) abandon(err error) []txnDone {
	var e txnEffects
	c.dropQueued(func(*txnOp) bool { return true }, err, false, &e)
	c.complete(err, &e)
	return e.done
}

// needBump: a batch that had a sequence failed, so its partition's sequences start over under a
// new epoch once the transaction ends (KIP-360: InitProducerId with the current identity after
// the abort; with v2 every EndTxn bumps the epoch anyway).
func (c *txnCore) needBump() {
	switch c.state {
	case txnInTransaction, txnCommitting, txnAborting, txnAbortableError:
		c.bumpEpoch = true
	}
}

func (c *txnCore) onRecordFailed(err error, e *txnEffects) {
	switch c.state {
	case txnInTransaction, txnCommitting, txnAbortableError:
	default:
		return // an abort fails its own records; outside a transaction there is nothing to spoil
	}
	switch cl := classifyTxn(err); cl {
	case txnClassFatal:
		c.fatal(err, e)
	default:
		// Lost, refused or possibly written batches leave the sequences unknown: after the abort
		// the epoch is bumped, so the partitions start over (KIP-360). With v2, EndTxn bumps it.
		c.abortable(err, cl == txnClassAbortableBump || classify(err).maybeWritten, e)
	}
}

// ---------------------------------------------------------------------------------------------
// Requests

func (c *txnCore) initOp() *txnOp {
	op := &txnOp{kind: opInitProducerID, pid: -1, epoch: -1}
	if c.identity != nil {
		op.pid, op.epoch = c.identity.ID, c.identity.Epoch
	}
	return op
}

func (c *txnCore) enqueue(op *txnOp) {
	i := len(c.queue)
	for i > 0 && c.queue[i-1].kind > op.kind {
		i--
	}
	c.queue = slices.Insert(c.queue, i, op)
}

func (c *txnCore) queued(kind txnOpKind) bool {
	for _, op := range c.queue {
		if op.kind == kind && !(c.outstanding && c.out == op) {
			return true
		}
	}
	return false
}

// dropQueued removes the ops that match and fails their waiters with err. With keepOut the
// request out stays (its answer is handled as usual); without, its answer will be ignored.
func (c *txnCore) dropQueued(match func(*txnOp) bool, err error, keepOut bool, e *txnEffects) {
	c.queue = slices.DeleteFunc(c.queue, func(op *txnOp) bool {
		if !match(op) || (keepOut && c.outstanding && c.out == op) {
			return false
		}
		if op.reply != nil {
			e.done = append(e.done, txnDone{op.reply, err})
		}
		if c.out == op {
			c.outstanding, c.out = false, nil
		}
		return true
	})
}

// pump sends the next request when none is out and no backoff runs.
func (c *txnCore) pump(now time.Time, e *txnEffects) {
	for !c.outstanding && !c.backingOff && len(c.queue) > 0 && c.state != txnFatalError {
		op := c.queue[0]
		if op.kind == opEndTxn {
			if c.awaitFlush {
				return
			}
			if !c.started {
				// Nothing was added to the transaction: there is nothing for the coordinator to end.
				c.queue = c.queue[1:]
				c.endDone(e)
				continue
			}
		}
		if op.kind == opAddPartitions && op.tps == nil {
			op.tps, c.pendingAdd = c.pendingAdd, nil
			if len(op.tps) == 0 {
				c.queue = c.queue[1:]
				continue
			}
		}
		coord := c.txnCoord
		find := &txnFind{wire.CoordinatorTypeTransaction, c.transactionalID}
		if op.kind == opTxnOffsetCommit {
			coord = c.groups[op.group.GroupID]
			find = &txnFind{wire.CoordinatorTypeGroup, op.group.GroupID}
		}
		c.seq++
		c.outstanding = true
		if coord == nil {
			c.out, c.finding = nil, find
			e.send = &txnSend{seq: c.seq, req: wire.NewFindCoordinatorRequest(find.keyType, find.key), maxVersion: -1}
			return
		}
		c.out, c.finding = op, nil
		e.send = &txnSend{seq: c.seq, coordinator: coord, req: c.request(op), maxVersion: -1}
		if !c.v2 {
			switch op.kind {
			case opEndTxn:
				e.send.maxVersion = wire.EndTxnMaxVersionV1
			case opTxnOffsetCommit:
				e.send.maxVersion = wire.TxnOffsetCommitMaxVersionV1
			}
		}
		return
	}
}

func (c *txnCore) request(op *txnOp) wire.Request {
	var id producerIdentity
	if c.identity != nil {
		id = *c.identity
	}
	switch op.kind {
	case opInitProducerID:
		tid := c.transactionalID
		return &wire.InitProducerIDRequest{TransactionalID: &tid, TransactionTimeoutMillis: c.timeoutMillis, ProducerID: op.pid, ProducerEpoch: op.epoch}
	case opAddPartitions:
		req := &wire.AddPartitionsToTxnRequest{TransactionalID: c.transactionalID, ProducerID: id.ID, ProducerEpoch: id.Epoch}
		for _, tp := range op.tps {
			i := slices.IndexFunc(req.Topics, func(t wire.AddPartitionsToTxnTopic) bool { return t.Name == tp.Topic })
			if i < 0 {
				req.Topics = append(req.Topics, wire.AddPartitionsToTxnTopic{Name: tp.Topic})
				i = len(req.Topics) - 1
			}
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, tp.Partition)
		}
		return req
	case opAddOffsets:
		return &wire.AddOffsetsToTxnRequest{TransactionalID: c.transactionalID, ProducerID: id.ID, ProducerEpoch: id.Epoch, GroupID: op.group.GroupID}
	case opTxnOffsetCommit:
		return &wire.TxnOffsetCommitRequest{
			TransactionalID: c.transactionalID, GroupID: op.group.GroupID, ProducerID: id.ID, ProducerEpoch: id.Epoch,
			GenerationID: op.group.GenerationID, MemberID: op.group.MemberID, GroupInstanceID: op.group.GroupInstanceID,
			Topics: op.topics,
		}
	default: // opEndTxn
		return &wire.EndTxnRequest{TransactionalID: c.transactionalID, ProducerID: id.ID, ProducerEpoch: id.Epoch, Commit: op.commit}
	}
}

// ---------------------------------------------------------------------------------------------
// Answers

func (c *txnCore) onAnswered(now time.Time, a txnAnswered, e *txnEffects) {
	if !c.outstanding || a.seq != c.seq {
		return // an answer to a request given up on (an abort dropped it, or the producer failed)
	}
	c.outstanding = false
	op, find := c.out, c.finding
	c.out, c.finding = nil, nil
	if find != nil {
		c.onFound(now, find, a, e)
		return
	}
	err := a.err
	if err == nil {
		err = c.answerError(op, a.resp)
	}
	if err != nil {
		c.onRequestError(now, op, err, e)
		return
	}
	c.failures = 0
	c.queue = slices.DeleteFunc(c.queue, func(q *txnOp) bool { return q == op })
	switch op.kind {
	case opInitProducerID:
		resp := a.resp.(*wire.InitProducerIDResponse)
		c.publish(resp.ProducerID, resp.ProducerEpoch, e)
		c.state, c.lastErr, c.bumpEpoch = txnReady, nil, false
		c.partitions, c.pendingAdd, c.started = nil, nil, false
		c.complete(nil, e)
	case opAddPartitions:
		if c.partitions != nil {
			for _, tp := range op.tps {
				c.partitions[tp] = true
			}
		}
		c.started = true
		e.allow = append(e.allow, op.tps...)
		if len(c.pendingAdd) > 0 && (c.state == txnInTransaction || c.state == txnCommitting) {
			c.enqueue(&txnOp{kind: opAddPartitions})
		}
	case opAddOffsets:
		c.started = true
		if c.state != txnInTransaction {
			// The transaction failed or is being aborted meanwhile: the offsets would go nowhere.
			e.done = append(e.done, txnDone{op.reply, c.endedErr()})
			break
		}
		c.enqueue(&txnOp{kind: opTxnOffsetCommit, group: op.group, topics: op.topics, reply: op.reply})
	case opTxnOffsetCommit:
		e.done = append(e.done, txnDone{op.reply, nil})
	case opEndTxn:
		if resp := a.resp.(*wire.EndTxnResponse); c.v2 && resp.ProducerID >= 0 {
			c.publish(resp.ProducerID, resp.ProducerEpoch, e)
		}
		c.endDone(e)
	}
}

// endedErr is why an operation of the open transaction cannot go on.
func (c *txnCore) endedErr() error {
	if c.lastErr != nil {
		return c.lastErr
	}
	return ErrTransactionAborted
}

// endDone: the coordinator ended the transaction (or there was none to end).
func (c *txnCore) endDone(e *txnEffects) {
	if c.bumpEpoch && !c.v2 {
		// The abort is complete once the epoch is bumped: the partitions' sequences start over.
		c.state = txnInitializing
		c.enqueue(c.initOp())
		return
	}
	c.state, c.lastErr, c.bumpEpoch = txnReady, nil, false
	c.partitions, c.pendingAdd, c.started = nil, nil, false
	c.complete(nil, e)
}

func (c *txnCore) publish(id int64, epoch int16, e *txnEffects) {
	gen := uint64(1)
	if c.identity != nil {
		gen = c.identity.Gen + 1
	}
	c.identity = &producerIdentity{ID: id, Epoch: epoch, Gen: gen}
	e.identity = c.identity
	e.log, e.logLevel = fmt.Sprintf("transactional producer id %d epoch %d", id, epoch), logDebug
}

// complete ends the user operation under way.
func (c *txnCore) complete(err error, e *txnEffects) {
	if c.result == nil {
		return
	}
	for _, w := range c.result.waiters {
		e.done = append(e.done, txnDone{w, err})
	}
	c.result = nil
}

// answerError returns the error an answer carries (the worst one of a per-partition answer).
func (c *txnCore) answerError(op *txnOp, resp wire.Response) error {
	if resp == nil || resp.Key() != op.kind.apiKey() {
		return fmt.Errorf("%w: %s answered with %T", messages.ErrInternal, op.kind.apiName(), resp)
	}
	switch r := resp.(type) {
	case *wire.InitProducerIDResponse:
		return wire.ErrorForCode(r.ErrorCode)
	case *wire.AddOffsetsToTxnResponse:
		return wire.ErrorForCode(r.ErrorCode)
	case *wire.EndTxnResponse:
		return wire.ErrorForCode(r.ErrorCode)
	case *wire.AddPartitionsToTxnResponse:
		var codes []int16
		seen := 0
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if slices.Contains(op.tps, messages.TopicPartition{Topic: t.Name, Partition: p.Partition}) {
					seen++
				}
				codes = append(codes, p.ErrorCode)
			}
		}
		if err := worstError(codes); err != nil || seen >= len(op.tps) {
			return err
		}
		return fmt.Errorf("%w: AddPartitionsToTxn answer left out partitions", messages.ErrConnection)
	case *wire.TxnOffsetCommitResponse:
		var codes []int16
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				codes = append(codes, p.ErrorCode)
			}
		}
		return worstError(codes)
	}
	return fmt.Errorf("%w: unexpected answer %T", messages.ErrInternal, resp)
}

// worstError picks the error that decides a per-partition answer: fatal over abortable over
// retriable (OPERATION_NOT_ATTEMPTED only says another partition failed).
func worstError(codes []int16) error {
	var worst error
	rank := -1
	for _, code := range codes {
		err := wire.ErrorForCode(code)
		if err == nil || code == wire.ErrOperationNotAttempted.Code {
			continue
		}
		r := 0
		switch classifyTxn(err) {
		case txnClassFatal:
			r = 3
		case txnClassAbortable, txnClassAbortableBump:
			r = 2
		case txnClassFindCoordinator:
			r = 1
		}
		if r > rank {
			worst, rank = err, r
		}
	}
	return worst
}

func (c *txnCore) onRequestError(now time.Time, op *txnOp, err error, e *txnEffects) {
	name := op.kind.apiName()
	switch cl := classifyTxn(err); cl {
	case txnClassFindCoordinator:
		if op.kind == opTxnOffsetCommit {
			delete(c.groups, op.group.GroupID)
		} else {
			c.txnCoord = nil
		}
		c.retryLater(now, e)
		e.log, e.logLevel = fmt.Sprintf("%s failed, finding the coordinator again: %v", name, err), logDebug
	case txnClassRetry:
		c.retryLater(now, e)
		if op.kind == opAddPartitions && !c.started && errors.Is(err, wire.ErrConcurrentTransactions) {
			// The first partitions of a transaction usually meet the previous one's markers still
			// being written, which takes milliseconds: retry sooner (Java's 20 ms for this case).
			e.timer.at = now.Add(min(addPartitionsRetryBackoff, e.timer.at.Sub(now)))
		}
		e.log, e.logLevel = fmt.Sprintf("%s failed; retrying: %v", name, err), logDebug
	case txnClassAbortable, txnClassAbortableBump:
		if op.kind == opInitProducerID {
			c.fatal(fmt.Errorf("%s: %w", name, err), e) // no transaction to abort
			return
		}
		c.queue = slices.DeleteFunc(c.queue, func(q *txnOp) bool { return q == op })
		if op.kind == opEndTxn && !op.commit {
			if cl != txnClassAbortableBump {
				c.fatal(fmt.Errorf("%s: %w", name, err), e) // the abort itself cannot complete
				return
			}
			// The broker lost the producer's state: a bumped epoch ends the transaction.
			c.bumpEpoch = true
			c.state = txnInitializing
			c.enqueue(c.initOp())
			return
		}
		if op.reply != nil {
			e.done = append(e.done, txnDone{op.reply, fmt.Errorf("%s: %w", name, err)})
		}
		c.abortable(fmt.Errorf("%s: %w", name, err), cl == txnClassAbortableBump, e)
	default:
		c.fatal(fmt.Errorf("%s: %w", name, err), e)
	}
}

func (c *txnCore) onFound(now time.Time, find *txnFind, a txnAnswered, e *txnEffects) {
	err := a.err
	var node *txnNode
	if err == nil {
		resp, isFind := a.resp.(*wire.FindCoordinatorResponse)
		var res wire.FindCoordinatorResult
		ok := false
		if isFind {
			res, ok = resp.Result(find.key, a.version)
		}
		switch {
		case !isFind:
			err = fmt.Errorf("%w: FindCoordinator answered with %T", messages.ErrInternal, a.resp)
		case !ok:
			err = fmt.Errorf("%w: FindCoordinator answer left out the key", messages.ErrConnection)
		case res.ErrorCode != 0:
			err = wire.ErrorForCode(res.ErrorCode)
		default:
			node = &txnNode{ID: res.NodeID, Host: res.Host, Port: res.Port}
		}
	}
	if node != nil {
		// failures stays: a coordinator that keeps moving away backs off longer each time.
		if find.keyType == wire.CoordinatorTypeGroup {
			c.groups[find.key] = node
		} else {
			c.txnCoord = node
		}
		return
	}
	switch cl := classifyTxn(err); {
	case cl == txnClassRetry || cl == txnClassFindCoordinator:
		c.retryLater(now, e)
		e.log, e.logLevel = fmt.Sprintf("FindCoordinator failed; retrying: %v", err), logDebug
	case find.keyType == wire.CoordinatorTypeGroup && (cl == txnClassAbortable || cl == txnClassAbortableBump):
		// The group is off limits (GROUP_AUTHORIZATION_FAILED): the offsets cannot be committed.
		err = fmt.Errorf("FindCoordinator(group %s): %w", find.key, err)
		c.dropQueued(func(op *txnOp) bool { return op.kind == opTxnOffsetCommit && op.group.GroupID == find.key }, err, false, e)
		c.abortable(err, false, e)
	default:
		c.fatal(fmt.Errorf("FindCoordinator(transactional id %s): %w", find.key, err), e)
	}
}

// addPartitionsRetryBackoff caps the wait before retrying the first AddPartitionsToTxn of a
// transaction refused with CONCURRENT_TRANSACTIONS.
const addPartitionsRetryBackoff = 20 * time.Millisecond

func (c *txnCore) retryLater(now time.Time, e *txnEffects) {
	c.failures++
	c.backingOff = true
	c.timerGen++
	e.timer = &txnTimer{at: now.Add(backoff(c.retryBackoff, c.retryBackoffMax, c.failures)), gen: c.timerGen}
}

// abortable moves the open transaction into AbortableError: it cannot commit, and every pending
// transactional request but the ones an abort needs is dropped with the error.
func (c *txnCore) abortable(err error, bump bool, e *txnEffects) {
	if bump {
		c.bumpEpoch = true
	}
	switch c.state {
	case txnInTransaction, txnCommitting, txnAbortableError:
	default:
		return // aborting already (or between transactions): the abort settles it
	}
	if c.state == txnAbortableError {
		return // the first error stays the cause
	}
	c.lastErr = err
	if c.state == txnCommitting {
		c.complete(fmt.Errorf("commit failed, abort the transaction: %w", err), e)
	}
	c.state = txnAbortableError
	c.pendingAdd = nil // their batches are aborted with the transaction
	c.dropQueued(func(op *txnOp) bool { return op.kind != opInitProducerID }, err, true, e)
	e.log, e.logLevel = fmt.Sprintf("the transaction must be aborted: %v", err), logInfo
}

// fatal moves the producer into FatalError for good.
func (c *txnCore) fatal(cause error, e *txnEffects) {
	if c.state == txnFatalError {
		return
	}
	err := cause
	if !errors.Is(err, messages.ErrFatal) {
		err = fmt.Errorf("%w: %w", messages.ErrFatal, cause)
	}
	c.state, c.lastErr = txnFatalError, err
	c.dropQueued(func(*txnOp) bool { return true }, err, false, e)
	c.complete(err, e)
	c.outstanding, c.out, c.finding, c.backingOff = false, nil, nil, false
	e.fail, e.abortUndrained = err, err
	e.log, e.logLevel = fmt.Sprintf("the transactional producer failed; every later operation fails: %v", err), logError
}
