package actors

// accumulator actor: one per topic-partition, spawned on first use by the producer actor. Owns the
// partition's batches (open, queued, in flight, done but waiting for an older one), the wake-up
// timer (linger, retry backoff, delivery timeout) and its records' completions. Takes records and
// flush markers from its Inbox (poked by inboxReady); also receives Route, RouteLost, BatchDone,
// AbortPartition and identityNews (the producer identity to seal with). Seals a batch when it is
// ready and hands it to the sink of the partition's leader (Batch); asks the sender for that sink
// (PartitionReady) when it has none; pushes completions, in batch order, to the Completer.

import (
	"bytes"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/internal/faultinject"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

type accBatch struct {
	id        uint64
	builder   wire.BatchBuilder
	buf       []byte // pooled storage behind builder, returned when the batch completes
	records   []pendingRecord
	reserved  int64 // the records' buffer memory (messages.Append.Reserved), released on completion
	createdNs int64 // first append, for linger
	oldestNs  int64 // earliest send time of its records, for the delivery timeout

	full     bool   // takes no more records
	urgent   bool   // holds a record someone waits for: ready without lingering
	waiters  int    // records a Send waits for (see completion.waitersOnly)
	data     []byte // sealed bytes, once sent
	inflight bool
	attempts int
	// baseSequence is the batch's first producer sequence number (idempotence), -1 until first sent.
	baseSequence int32
	// notWritten: the broker refused the last attempt, so the batch is known not to be in the log
	// (after a timeout or a broken connection it may be).
	notWritten bool
	// readers: writers of failed links that may still read buf, where the batch was sealed
	// (frames share batches, see requestFrame): buf is reused once they all stopped.
	readers []<-chan struct{}
	retryNs int64               // not ready before this (retry backoff)
	result  *messages.BatchDone // outcome, held until every older batch completed
	after   []func()            // flush waiters
	// message is the Batch message of the attempt out, reused once the sink answered it (see
	// onBatchDone); answer is a copy of that answer, which the batch's outcome may refer to.
	message *messages.Batch
	answer  messages.BatchDone
	// ownsRecords: records came from the Completer's recordSlice and is this batch's alone.
	ownsRecords bool
}

// accState is the accumulator's state; every method runs on the actor's goroutine.
type accState struct {
	tp     messages.TopicPartition
	shared *Shared
	sender *actor.PID
	// metadata is told the topic is in use (topicInUse) when a batch starts, at most every
	// topicIdle/2 (inUseNs: when it was last told), so it keeps refreshing the topic.
	metadata *actor.PID
	inUseNs  int64

	batches     []*accBatch // in id (send) order: done-but-waiting, in flight, queued; the last may be open
	nextBatchID uint64
	lastCount   int    // records in the last batch started: the next one is sized for as many
	flushUpTo   uint64 // batches with id < flushUpTo are ready at once
	// route is the sink of the partition's leader (nil: ask the sender); routeAsked: a
	// PartitionReady is out.
	route      *actor.PID
	routeAsked bool
	// lent: buffers of batches that completed while out, by batch id, until they come back.
	lent map[uint64]lentBuffer
	// txnOpen: a transactional producer's batches may be sent (the partition is in the open
	// transaction); txnAsked: a txnGateAsk is out. See txn.go.
	txnOpen, txnAsked bool
	// txnAborted: the open transaction is being aborted (abortUndrained), until the partition's
	// next transaction opens: a batch known not to be in the log fails with it rather than wait.
	txnAborted error
	// identity is the producer id and epoch to seal with (idempotence), as the sender last said.
	identity  *producerIdentity
	abortErr  error
	sequences sequenceState // idempotence; see sequences.go
	// sealScratch is where compressed batches are sealed before being copied out at their size.
	sealScratch []byte

	timer   wakeTimer
	timerAt int64 // when timer fires (0: not armed)

	self *actor.PID // the accumulator's PID, which messages it sends name
	now  int64      // the time of the step under way (clock nanoseconds)
	fx   accEffects // what the step under way decided to do

	current any // the message being handled, so a panic can fail it instead of losing it
	// currentHeld: the current Append's record is in a batch (or completed) already, so a panic
	// after that point must not complete it a second time.
	currentHeld bool
	// sending: the batch being marked as out, until the Batch carrying it is sent; a panic in
	// between puts it back.
	sending *accBatch

	// inbox is where callers push records; taken[takenPos:] is what was taken from it and not yet
	// handled (kept here so a panic halfway through loses none of it); spare is the buffer handed
	// back on the next take.
	inbox    *Inbox
	taken    []inboxItem
	takenPos int
	spare    []inboxItem
}

// accumulatorActor is the accumulator actor. Its state lives outside the actor instance so a restart
// after a panic keeps every batch.
type accumulatorActor struct{ st *accState }

// newAccumulator returns props for tp's accumulator and its inbox; the caller sets the inbox's PID
// once spawned, before anyone can push (the accumulator itself never reads it).
// fatal is the producer's fatal error if it failed before this accumulator was spawned (the
// AbortPartition the others got came before it existed): every record it takes fails with it.
func newAccumulator(shared *Shared, tp messages.TopicPartition, sender, metadata *actor.PID, root *actor.RootContext, fatal error) (*actor.Props, *Inbox) {
	st := &accState{tp: tp, shared: shared, sender: sender, metadata: metadata, inbox: newInbox(root), abortErr: fatal}
	return shared.props(func() actor.Actor { return &accumulatorActor{st: st} }), st.inbox
}

// accEffects is what an accumulator step decided to do, as data: messages to send and batch
// outcomes to hand the completer, each in order, and when to wake up next. The actor applies them
// (apply); a test reads them.
type accEffects struct {
	sends       []accSend
	completions []completion
	wakeAt      int64 // with wakeSet: when the next deadline is (0: none)
	wakeSet     bool
}

type accSend struct {
	to  *actor.PID
	msg any
}

func (fx *accEffects) send(to *actor.PID, msg any) { fx.sends = append(fx.sends, accSend{to, msg}) }
func (fx *accEffects) complete(item completion)    { fx.completions = append(fx.completions, item) }

// after runs fn on the completion goroutine after the completions before it.
func (fx *accEffects) after(fn func()) { fx.complete(completion{after: []func(){fn}}) }

// accWakeUp is a step's event for the accumulator's timer.
type accWakeUp struct{}

var wakeUp = &accWakeUp{}

// step is the accumulator's core: it takes one event at time now and returns what to do. It reads
// no clock, arms no timer and sends nothing itself; the effects are valid until the next step.
// Events: *inboxReady (take what the inbox holds), *messages.BatchDone, *messages.Route,
// *messages.RouteLost, *identityNews, *messages.AbortPartition, wakeUp.
func (s *accState) step(now int64, msg any) *accEffects {
	s.now = now
	switch m := msg.(type) {
	case *inboxReady:
		s.drainInbox()
	case *messages.BatchDone:
		s.onBatchDone(m)
	case *messages.Route:
		s.route, s.routeAsked = m.Sink, false
		s.update()
	case *messages.RouteLost:
		s.onRouteLost()
	case *accWakeUp:
		s.update()
	case *identityNews:
		if s.identity == nil || m.id == nil || m.id.Gen >= s.identity.Gen {
			s.identity = m.id // never an older one: a transaction's gate may have brought a newer one
		}
		s.update()
	case *messages.AbortPartition:
		s.abort(m.Err)
		s.update()
	case *txnGateOpen:
		s.txnOpen, s.txnAsked = m.open, false
		if m.open {
			s.txnAborted = nil
		}
		if m.id != nil && (s.identity == nil || m.id.Gen > s.identity.Gen) {
			s.identity = m.id // the transaction's, which the sender's news may not have brought yet
		}
		s.update()
	case *txnAbortUndrained:
		s.abortUndrained(m.err)
		s.update()
	default:
		s.shared.Logger.Warn("accumulator: unexpected message", "type", fmt.Sprintf("%T", m))
	}
	return &s.fx
}

// apply carries out fx and empties it.
func (s *accState) apply(c actor.Context, fx *accEffects) {
	for i, m := range fx.sends {
		c.Send(m.to, m.msg)
		fx.sends[i] = accSend{}
	}
	for i := range fx.completions {
		s.shared.Completer.push(fx.completions[i])
		fx.completions[i] = completion{}
	}
	if fx.wakeSet {
		s.arm(c, fx.wakeAt)
	}
	*fx = accEffects{sends: fx.sends[:0], completions: fx.completions[:0]}
}

// Receive implements actor.Actor: it feeds the core and applies what it decided. Effects a step
// decided before it panicked are applied on Restarting, before the message that panicked is
// settled, as if they had been carried out at once.
func (a *accumulatorActor) Receive(c actor.Context) {
	s := a.st
	msg := c.Message()
	switch msg.(type) {
	case *actor.Restarting:
		s.apply(c, &s.fx)
		s.stopTimer()
		s.settleCurrent()
		s.apply(c, &s.fx)
		return
	case *actor.Started:
		s.self = c.Self()
		s.now = nowNs()
		s.update() // after a restart: re-arm the timer and send what is ready
		s.apply(c, &s.fx)
		if s.takenPos < len(s.taken) {
			s.current, s.currentHeld = pokeInbox, false // so a panic here is settled too
			s.drainInbox()                              // what the failed instance took but did not get to
			s.apply(c, &s.fx)
			s.current = nil
		}
		return
	case *actor.Stopping:
		// Close aborts everything before it stops actors; a restart of the producer actor stops
		// its children with records inside: anything still here is failed, not lost. Batches
		// first, then what was taken, then what is queued: send order. A stop can also come while
		// a restart after a panic is pending: the message that panicked is settled first. The
		// completions are pushed before the inbox closes: a pusher that finds it closed counts on
		// them being queued already.
		s.apply(c, &s.fx)
		s.stopTimer()
		s.settleCurrent()
		err := s.inbox.stopNotice.cause()
		s.abort(err)
		for _, it := range s.taken[s.takenPos:] {
			s.refuseItem(it, err)
		}
		s.taken, s.takenPos = nil, 0
		s.apply(c, &s.fx)
		s.inbox.closeWith(func(items []inboxItem) {
			s.shared.Metrics.RecordsTaken(recordsIn(items))
			for _, it := range items {
				s.refuseItem(it, err)
			}
			s.apply(c, &s.fx)
		})
		s.stopTimer()
		return
	case *actor.Stopped, *actor.Restart:
		return
	case *timerFired:
		if !s.timer.fired(msg.(*timerFired)) {
			return // stale
		}
		s.timerAt = 0
		msg = wakeUp
	}
	s.current, s.currentHeld = msg, false
	s.apply(c, s.step(nowNs(), msg))
	s.current = nil
}

func nowNs() int64 { return time.Now().UnixNano() }

// drainInbox handles what one take from the inbox returned, in order. Records pushed meanwhile
// sent a new poke, queued behind the messages already waiting, so a stream of records does not
// starve drains and results.
func (s *accState) drainInbox() {
	if s.takenPos >= len(s.taken) {
		s.spare, s.taken = s.taken[:0], s.inbox.take(s.spare)
		s.shared.Metrics.RecordsTaken(recordsIn(s.taken))
		s.takenPos = 0
	}
	appended, lastNs := false, int64(0)
	for s.takenPos < len(s.taken) {
		it := &s.taken[s.takenPos]
		s.currentHeld = false
		if it.flush != nil {
			s.flush(it.flush)
		} else {
			s.onAppend(&it.app)
			appended, lastNs = true, it.app.EnqueuedNs
		}
		*it = inboxItem{} // the buffer is reused: drop the record and callbacks
		s.takenPos++
	}
	if appended {
		// Once per take, not per record. The callers read the clock microseconds ago; reading it
		// again costs more than that imprecision matters for linger and delivery timeouts.
		s.updateAt(lastNs)
	}
}

// refuseItem completes a taken item that will never be appended, after the records this partition
// still holds: behind them as a batch that already has its outcome, or at once when none is held.
func (s *accState) refuseItem(it inboxItem, err error) {
	if n := len(s.batches); n > 0 {
		if it.flush != nil {
			s.batches[n-1].after = append(s.batches[n-1].after, it.flush)
			return
		}
		b := &accBatch{id: s.nextBatchID, full: true, baseSequence: -1, records: []pendingRecord{s.pending(&it.app)}, reserved: it.app.Reserved}
		s.nextBatchID++
		s.failBatch(b, err)
		s.batches = append(s.batches, b)
		return
	}
	if it.flush != nil {
		s.fx.after(it.flush)
		return
	}
	s.fx.complete(completion{tp: s.tp, err: err, records: []pendingRecord{s.pending(&it.app)}, reserved: it.app.Reserved})
}

// failBatch gives b its outcome, err; it completes in order with the batches before it.
func (s *accState) failBatch(b *accBatch, err error) {
	b.full = true // in flight or not: complete() keeps the buffer of a batch still out
	b.result = &messages.BatchDone{BatchID: b.id, Err: err}
}

// onAppend adds one record to the open batch (or a new one). The caller updates readiness and
// timers afterwards, once for all the records it appends.
func (s *accState) onAppend(m *messages.Append) {
	if s.abortErr != nil { // every batch is completed already, so this is in send order
		s.fx.complete(completion{tp: s.tp, err: s.abortErr, records: []pendingRecord{s.pending(m)}, reserved: m.Reserved})
		s.currentHeld = true
		return
	}
	faultinject.AccumulatorAppend(s.tp)
	r := m.Record
	limit := s.shared.Settings.BatchSize
	var b *accBatch
	if n := len(s.batches); n > 0 && !s.batches[n-1].full { // a sealed batch is always full
		b = s.batches[n-1]
		if !b.builder.AppendIfFits(limit, m.TimestampMs, r.Key, r.Value, r.Headers) {
			b.full = true
			b = nil
		}
	}
	if b == nil {
		b = s.newBatch(m.EnqueuedNs)
		b.builder.Append(m.TimestampMs, r.Key, r.Value, r.Headers)
	}
	b.records = append(b.records, s.pending(m))
	b.reserved += m.Reserved
	if m.Urgent {
		b.urgent = true
		b.waiters++
	}
	s.currentHeld = true
	faultinject.AccumulatorAppended(s.tp)
	if m.EnqueuedNs < b.oldestNs {
		b.oldestNs = m.EnqueuedNs
	}
	if b.builder.Size() >= s.shared.Settings.BatchSize {
		b.full = true
	}
}

func (s *accState) pending(m *messages.Append) pendingRecord {
	ks, vs := int32(-1), int32(-1)
	if m.Record.Key != nil {
		ks = int32(len(m.Record.Key))
	}
	if m.Record.Value != nil {
		vs = int32(len(m.Record.Value))
	}
	return pendingRecord{done: m.Done, timestampMs: m.TimestampMs, keySize: ks, valueSize: vs}
}

func (s *accState) newBatch(now int64) *accBatch {
	b, ok := s.shared.spareBatches.Get()
	if !ok {
		b = new(accBatch)
	}
	*b = accBatch{id: s.nextBatchID, createdNs: now, oldestNs: now, baseSequence: -1, ownsRecords: true}
	if n := len(s.batches); n > 0 {
		s.lastCount = len(s.batches[n-1].records)
	}
	// Room for as many records as the last batch had, so it rarely regrows: records are usually
	// alike in size.
	b.records = s.shared.Completer.recordSlice(max(s.lastCount, 8))
	if s.metadata != nil && (s.inUseNs == 0 || now-s.inUseNs >= int64(topicIdle/2)) {
		s.inUseNs = now
		s.fx.send(s.metadata, &topicInUse{topic: s.tp.Topic})
	}
	s.nextBatchID++
	b.buf = s.shared.Buffers.Get()
	b.builder.Reset(b.buf)
	s.batches = append(s.batches, b)
	return b
}

// firstQueued is the oldest batch that is neither in flight nor done: the only one that can be
// sent next, so retries keep their place ahead of newer batches.
func (s *accState) firstQueued() *accBatch {
	for _, b := range s.batches {
		if !b.inflight && b.result == nil {
			return b
		}
	}
	return nil
}

// readyAt returns when b may be sent (now or earlier means ready).
func (s *accState) readyAt(b *accBatch) int64 {
	if b.attempts > 0 {
		return b.retryNs
	}
	if b.full || b.urgent || b.id < s.flushUpTo || s.abortErr != nil {
		return 0
	}
	return b.createdNs + int64(s.shared.Settings.Linger)
}

// update is called after every change: it expires old batches, sends the ready ones, completes
// finished ones in order, and arms the wake-up timer for the next deadline.
func (s *accState) update() { s.updateAt(s.now) }

func (s *accState) updateAt(now int64) {
	oldestNs, unfinished := s.expire(now)
	next := s.send(now)
	s.completeInOrder() // a completed batch's struct may be another partition's now
	// Also wake for the oldest unfinished record's delivery timeout.
	if unfinished {
		if d := oldestNs + int64(s.shared.Settings.DeliveryTimeout); next == 0 || d < next {
			next = d
		}
	}
	s.fx.wakeAt, s.fx.wakeSet = next, true
}

// arm sets the wake-up for at (0: none). One timer per accumulator, reset rather than made anew
// for every batch (see wakeTimer); a wake that was already on its way when the timer was reset or
// stopped is stale and ignored.
func (s *accState) arm(c actor.Context, at int64) {
	if at == 0 {
		s.stopTimer()
		return
	}
	if s.timerAt == at {
		return
	}
	s.timerAt = at
	s.timer.arm(c, time.Duration(at-nowNs()))
}

func (s *accState) stopTimer() {
	s.timer.stop()
	s.timerAt = 0
}

// expire fails batches whose oldest record was sent DeliveryTimeout ago (KIP-91), in flight or
// not, as Java does: a record completes at the latest DeliveryTimeout after its send. A batch in
// flight may still be written; its late result is ignored. Batches are in send order, so the scan
// stops at the first one still in time, whose oldest send time it returns (unfinished false when
// none is).
func (s *accState) expire(now int64) (oldestNs int64, unfinished bool) {
	limit := int64(s.shared.Settings.DeliveryTimeout)
	for _, b := range s.batches {
		if b.result != nil {
			continue
		}
		if now-b.oldestNs < limit {
			return b.oldestNs, true
		}
		s.failBatch(b, s.shared.WithAuthFailure(fmt.Errorf("%w: expiring %d records for %s-%d: %v since they were sent",
			messages.ErrDeliveryTimeout, len(b.records), s.tp.Topic, s.tp.Partition, s.shared.Settings.DeliveryTimeout)))
	}
	return 0, false
}

// send hands the partition's ready batches to its sink, oldest first, while the partition may
// have more out (MaxInFlight, and the idempotence rules of sequences.go). A batch takes records
// until this moment. It returns when the head batch will be ready (0: nothing waits on time).
func (s *accState) send(now int64) int64 {
	set := &s.shared.Settings
	for {
		b := s.firstQueued()
		if b == nil {
			return 0
		}
		if at := s.readyAt(b); at > now {
			return at
		}
		if s.sequences.outstanding >= set.MaxInFlight && s.abortErr == nil {
			return 0 // a BatchDone makes room
		}
		if s.shared.Txn != nil && !s.txnOpen && s.abortErr == nil {
			if !s.txnAsked { // held until the partition is in the transaction
				s.txnAsked = true
				s.fx.send(s.shared.Txn.pid.Load(), &txnGateAsk{tp: s.tp, acc: s.self})
			}
			return 0
		}
		id := s.identity
		if s.route == nil || (set.Idempotent && id == nil) {
			if !s.routeAsked {
				s.routeAsked = true
				s.fx.send(s.sender, &messages.PartitionReady{TP: s.tp, Accumulator: s.self})
			}
			return 0
		}
		if s.sequenceBlocked(b, id) {
			return 0
		}
		if b.data == nil {
			s.seal(b, id)
			if b.result != nil {
				continue // it could not be sealed: failed
			}
		}
		s.sending = b
		b.inflight = true
		b.attempts++
		s.sequences.outstanding++
		msg := s.batchMessage()
		*msg = messages.Batch{TP: s.tp, Accumulator: s.self, BatchID: b.id, Data: b.data, Records: len(b.records),
			ExpiresNs: b.oldestNs + int64(set.DeliveryTimeout)}
		b.message = msg
		s.fx.send(s.route, msg)
		s.sending = nil
	}
}

// onRouteLost: the sender restarted and its sinks are gone with what their mailboxes held. Every
// batch still out was answered by now if its sink had it (a stopping sink answers what it holds,
// before the restarted sender says this): the rest never reached one, and go again.
func (s *accState) onRouteLost() {
	s.route, s.routeAsked = nil, false
	s.sequences.bumpAsked = 0 // the old sender forgot the request
	var lost []uint64         // onBatchDone may complete batches, which changes s.batches under a range
	for _, b := range s.batches {
		if b.inflight && b.result == nil {
			lost = append(lost, b.id)
		}
	}
	for _, id := range lost {
		s.onBatchDone(&messages.BatchDone{BatchID: id, Err: errNotSent, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
	}
	s.update()
}

// errNotSent: the batch was handed to a sink that stopped before taking it (the sender restarted).
// Retriable.
var errNotSent = fmt.Errorf("%w: the sender restarted before the batch was sent", messages.ErrConnection)

func (s *accState) onBatchDone(m *messages.BatchDone) {
	b := s.batchByID(m.BatchID)
	if b == nil || b.message == nil || !b.message.Answers(m) {
		s.onOutcome(b, m)
		return
	}
	// The sink answered the message itself, so nothing reads it any more and it is reused for a
	// later attempt. A message the sink never handled is not: it was dropped with a stopped
	// sink's mailbox, where a dead-letter log line may still read it (onRouteLost answers those
	// with a BatchDone of its own). The outcome is taken from a copy in the batch, where it may
	// wait for an older batch; once onOutcome returns, b may be completed and another
	// partition's, so only msg is touched.
	msg := b.message
	b.message = nil
	b.answer = *m
	s.onOutcome(b, &b.answer)
	*msg = messages.Batch{}
	s.shared.spareMessages.Put(msg)
}

// batchMessage returns a Batch message to fill: an answered one, or a new one.
func (s *accState) batchMessage() *messages.Batch {
	if msg, ok := s.shared.spareMessages.Get(); ok {
		return msg
	}
	return new(messages.Batch)
}

// onOutcome takes b's outcome m (b nil: the batch completed already).
func (s *accState) onOutcome(b *accBatch, m *messages.BatchDone) {
	s.sequences.outstanding-- // every Batch handed out comes back exactly once, found here or not
	if b == nil || !b.inflight || b.result != nil {
		// Aborted or expired meanwhile: it has its outcome already. Its return may still unblock
		// the partition (sequences wait for every batch that was out), and gives its buffer back.
		s.returnedLate(b, m)
		s.update()
		return
	}
	b.inflight = false
	b.readers = appendReader(b.readers, m)
	if m.Err != nil {
		s.route = nil // ask again: the leader may have moved, or its connection failed
	}
	forceRetry := false
	if s.shared.Settings.Idempotent {
		m, forceRetry = s.idempotentOutcome(b, m)
	}
	o := classify(m.Err)
	if o.tooLarge {
		if len(b.records) > 1 && s.split(b) {
			s.update()
			return
		}
		m = &messages.BatchDone{BatchID: m.BatchID, Err: fmt.Errorf("%w: %w", messages.ErrRecordTooLarge, m.Err)}
	}
	retriable := m.Err != nil && (forceRetry || o.retry)
	if retriable && s.now-b.oldestNs >= int64(s.shared.Settings.DeliveryTimeout) {
		m = &messages.BatchDone{BatchID: m.BatchID, Err: fmt.Errorf("%w: last attempt failed: %w", messages.ErrDeliveryTimeout, m.Err)}
		retriable = false
	}
	if retriable && s.txnAborted != nil && b.notWritten {
		m, retriable = &messages.BatchDone{BatchID: m.BatchID, Err: s.txnAborted}, false // see abortUndrained
	}
	if retriable && b.attempts <= s.shared.Settings.Retries {
		s.shared.Metrics.BatchRetried(s.tp.Topic, len(b.records))
		b.retryNs = s.now + int64(backoff(s.shared.Settings.RetryBackoff, s.shared.Settings.RetryBackoffMax, b.attempts))
		s.shared.logBatchRetry(s.tp, b.attempts, len(b.records), m.Err)
	} else {
		b.result = m
	}
	s.update()
}

// seal seals b when it is first sent: with the producer id, epoch and the partition's next sequence
// when idempotent, the sequence taken only once the seal succeeded. A batch that cannot be sealed
// fails.
func (s *accState) seal(b *accBatch, id *producerIdentity) {
	opts := wire.SealOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	if s.shared.Settings.Idempotent {
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = id.ID, id.Epoch, s.sequences.next
	}
	opts.Transactional = s.shared.Txn != nil
	data, err := s.sealWith(&b.builder, opts)
	if err != nil {
		s.failBatch(b, fmt.Errorf("kastor: sealing batch for %s-%d: %w", s.tp.Topic, s.tp.Partition, err))
		return
	}
	b.data, b.full = data, true
	s.shared.Metrics.BatchSealed(s.tp.Topic, len(data), b.builder.Size(), b.createdNs)
	if s.shared.Settings.Idempotent {
		b.baseSequence = opts.BaseSequence
		s.sequences.next = nextSequence(opts.BaseSequence, len(b.records))
	}
}

// sealWith seals builder with the configured codec and opts' producer fields. Uncompressed, the
// batch is the builder's own buffer. Compressed, it is compressed into a scratch buffer this
// accumulator keeps (grown once, not per batch) and copied out at its exact size.
func (s *accState) sealWith(builder *wire.BatchBuilder, opts wire.SealOptions) ([]byte, error) {
	opts.Codec, opts.Level, opts.PartitionLeaderEpoch = s.shared.Settings.Codec, s.shared.Settings.CodecLevel, -1
	if opts.Codec == wire.CodecNone {
		return builder.Seal(nil, opts)
	}
	data, err := builder.Seal(s.sealScratch, opts)
	if err != nil {
		return nil, err
	}
	s.sealScratch = data[:0]
	return bytes.Clone(data), nil
}

func (s *accState) batchByID(id uint64) *accBatch {
	for _, b := range s.batches {
		if b.id == id {
			return b
		}
	}
	return nil
}

// split replaces a batch the broker found too large (MESSAGE_TOO_LARGE) by two batches of half its
// records each, in its place, so order holds; they are sent again at once and split again if still
// too large, until a batch of one record is too large on its own (Java's splitAndReenqueue). It
// re-reads the records from the sealed bytes, so nothing else has to be kept per record.
func (s *accState) split(b *accBatch) bool {
	limit := 2*max(s.shared.Settings.BatchSize, s.shared.Settings.MaxRequestSize) + wire.RecordBatchOverhead
	rb, _, err := wire.DecodeRecordBatch(b.data, limit)
	if err != nil || len(rb.Records) != len(b.records) {
		s.shared.Logger.Warn("cannot split an oversize batch", "topic", s.tp.Topic, "partition", s.tp.Partition, "err", err)
		return false
	}
	half := len(b.records) / 2
	parts := [2]*accBatch{}
	for i, rng := range [2][2]int{{0, half}, {half, len(b.records)}} {
		nb := &accBatch{id: s.nextBatchID, createdNs: b.createdNs, oldestNs: b.oldestNs, full: true, baseSequence: -1}
		s.nextBatchID++
		nb.buf = s.shared.Buffers.Get()
		nb.builder.Reset(nb.buf)
		for _, r := range rb.Records[rng[0]:rng[1]] {
			nb.builder.Append(rb.BaseTimestamp+r.TimestampDelta, r.Key, r.Value, r.Headers)
		}
		nb.records = b.records[rng[0]:rng[1]:rng[1]]
		// The reservation is kept per batch, not per record: split in proportion to the records,
		// the rest to the second half, so the halves release exactly what the batch held.
		nb.reserved = b.reserved * int64(len(nb.records)) / int64(len(b.records))
		if i == 1 {
			nb.reserved = b.reserved - parts[0].reserved
		}
		parts[i] = nb
	}
	if b.baseSequence >= 0 {
		// The halves take over the big batch's sequence range, as Java's splitAndReenqueue does:
		// the batches after it are numbered after that range. Neither half was written.
		seq := b.baseSequence
		for _, nb := range parts {
			data, err := s.sealWith(&nb.builder, wire.SealOptions{ProducerID: rb.ProducerID, ProducerEpoch: rb.ProducerEpoch, BaseSequence: seq,
				Transactional: s.shared.Txn != nil})
			if err != nil {
				s.shared.Logger.Warn("cannot split an oversize batch", "topic", s.tp.Topic, "partition", s.tp.Partition, "err", err)
				for _, x := range parts {
					s.shared.Buffers.Put(x.buf)
				}
				return false
			}
			nb.data, nb.baseSequence, nb.notWritten = data, seq, true
			seq = nextSequence(seq, len(nb.records))
		}
	}
	parts[1].after = b.after
	for i, x := range s.batches {
		if x == b {
			s.batches = append(s.batches[:i], append(parts[:], s.batches[i+1:]...)...)
			break
		}
	}
	s.releaseBuffer(b.buf, b.readers)
	s.shared.Metrics.BatchSplit(s.tp.Topic)
	s.shared.Logger.Debug("split an oversize batch", "topic", s.tp.Topic, "partition", s.tp.Partition, "records", len(b.records))
	return true
}

// completeInOrder hands finished batches to the Completer, oldest first, stopping at the first
// unfinished one so a partition's records always complete in send order.
func (s *accState) completeInOrder() {
	n := 0
	for _, b := range s.batches {
		if b.result == nil {
			break
		}
		s.complete(b, b.result)
		if !b.inflight {
			// Nothing refers to it any more (a batch completed while out is looked up by id
			// when it comes back, see returnedLate).
			*b = accBatch{}
			s.shared.spareBatches.Put(b)
		}
		n++
	}
	if n > 0 {
		clear(s.batches[:n])
		s.batches = s.batches[n:]
	}
}

func (s *accState) complete(b *accBatch, r *messages.BatchDone) {
	item := completion{tp: s.tp, records: b.records, reserved: b.reserved, err: r.Err, baseOffset: r.BaseOffset,
		logAppendTime: r.LogAppendTime, after: b.after, waitersOnly: b.waiters == len(b.records), ownsRecords: b.ownsRecords}
	if r.Err != nil {
		s.shared.logBatchFailed(s.tp, len(b.records), r.Err)
		item.baseOffset, item.logAppendTime = -1, -1
		if b.baseSequence >= 0 {
			// Its sequence is now a hole or a write we cannot account for: start over (KIP-360).
			s.sequences.resetNeeded = true
		}
		if s.shared.Txn != nil { // the transaction cannot commit
			s.fx.send(s.shared.Txn.pid.Load(), &txnBatchFailed{err: r.Err, bump: b.baseSequence >= 0})
		}
	}
	s.fx.complete(item)
	if b.inflight {
		// Failed while out (expired, aborted): a sink or a request may still hold its bytes. The
		// buffer waits for the BatchDone that comes back for it (returnedLate).
		if b.buf != nil {
			if s.lent == nil {
				s.lent = map[uint64]lentBuffer{}
			}
			s.lent[b.id] = lentBuffer{b.buf, b.readers}
		}
	} else {
		s.releaseBuffer(b.buf, b.readers)
	}
	b.buf, b.readers = nil, nil
}

// lentBuffer is the buffer of a batch that completed while out, until the batch comes back.
type lentBuffer struct {
	buf     []byte
	readers []<-chan struct{}
}

// returnedLate takes back a batch that already had its outcome when its BatchDone came: b is nil
// once it completed, or still waiting for older batches to complete.
func (s *accState) returnedLate(b *accBatch, m *messages.BatchDone) {
	switch {
	case b != nil && b.inflight:
		b.inflight = false // complete releases its buffer
		b.readers = appendReader(b.readers, m)
	case b == nil:
		if l, ok := s.lent[m.BatchID]; ok {
			delete(s.lent, m.BatchID)
			s.releaseBuffer(l.buf, appendReader(l.readers, m))
		}
	}
}

// releaseBuffer gives a batch's buffer back: at once, or once the writers that may still read it
// stopped.
func (s *accState) releaseBuffer(buf []byte, readers []<-chan struct{}) {
	switch {
	case buf == nil:
	case len(readers) > 0:
		s.shared.Buffers.PutAfter(buf, readers...)
	default:
		s.shared.Buffers.Put(buf)
	}
}

// appendReader notes the writer that may still read a batch that came back failed with its link.
func appendReader(readers []<-chan struct{}, m *messages.BatchDone) []<-chan struct{} {
	if m.WriterDone != nil {
		return append(readers, m.WriterDone)
	}
	return readers
}

func (s *accState) flush(done func()) {
	if len(s.batches) == 0 {
		s.fx.after(done)
		s.currentHeld = true
		return
	}
	last := s.batches[len(s.batches)-1]
	last.full = true // later records start a new batch, so this flush does not wait for them
	last.after = append(last.after, done)
	s.currentHeld = true
	s.flushUpTo = s.nextBatchID
	s.update()
}

// abort fails every batch, in order, with err; results that arrive later are ignored.
func (s *accState) abort(err error) {
	if s.abortErr == nil {
		s.abortErr = err
	}
	for _, b := range s.batches {
		if b.result == nil {
			s.failBatch(b, err)
		}
	}
	s.completeInOrder()
}

// abortUndrained fails, with err, every batch of an aborted transaction that is not out and is
// known not to be in the log: never sent, or refused by the broker on its last attempt (one out
// now that comes back refused fails too, in onBatchDone). A batch the broker may have written (its
// answer was lost) keeps going, as in Java: it is resent as it was and the broker deduplicates it;
// failing it would report a record in the log as never sent. Nothing refused waits for a retry,
// which a hole in the partition's sequences would hold until an epoch bump that only comes once
// the abort is done, while the abort waits for it.
func (s *accState) abortUndrained(err error) {
	s.txnAborted = err
	for _, b := range s.batches {
		if b.result == nil && !b.inflight && (b.baseSequence < 0 || b.notWritten) {
			s.failBatch(b, err)
		}
	}
	s.completeInOrder()
}

// settleCurrent runs on Restarting and on Stopping. The actor system drops the message that
// panicked, so whatever that message was owed is settled here: its record fails (in send order),
// its batch fails, a batch marked as out but not sent is taken back. The batches themselves are
// kept for the new instance. It does nothing when no message was being handled.
func (s *accState) settleCurrent() {
	err := fmt.Errorf("%w: accumulator for %s-%d panicked", messages.ErrInternal, s.tp.Topic, s.tp.Partition)
	if b := s.sending; b != nil {
		b.inflight = false
		b.attempts--
		s.sequences.outstanding--
		s.sending = nil
	}
	switch m := s.current.(type) {
	case *messages.BatchDone:
		if b := s.batchByID(m.BatchID); b != nil && b.result == nil {
			b.inflight = false
			b.readers = appendReader(b.readers, m)
			s.failBatch(b, err)
		}
	case *inboxReady:
		// The item being handled when it panicked; the rest of the take is handled on Started.
		if s.takenPos < len(s.taken) {
			if it := s.taken[s.takenPos]; !s.currentHeld {
				s.refuseItem(it, err)
			}
			s.taken[s.takenPos] = inboxItem{}
			s.takenPos++
		}
	}
	s.current = nil
}
