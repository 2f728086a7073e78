package kastor

// The producer actor's share of the Produce path (see actor.go): the records that could not go
// straight from their sender to their accumulator, the Flush and Close messages, and the producer
// actor's lifecycle as it concerns them.
//
// A record waits here, never blocking the mailbox, for one of two things:
//   - its topic's metadata: in that topic's queue, or, for a record naming a partition the known
//     topic does not have (yet), in that partition's queue; until a MetadataUpdated lets it go
//     on. Other topics (and other partitions) are not held up;
//   - buffer memory: in one queue for all, served in order each time memory is released.
//
// Either wait ends after MaxBlock (counted from the Produce) with an ErrTimeout. Order per
// partition holds because a record leaves a queue only in order, and because the gate (laneGate)
// keeps senders from sending past a waiting record (see route, parkTopic, parkMemory).

import (
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/actors"
	"github.com/kastor-go/kastor/messages"
)

// roomEnv is what the waiting room needs from the producer: the real one (producerEnv) or a
// test's fake.
type roomEnv interface {
	choosePartition(e *sendEntry) (bool, error)
	topicKnown(topic string) bool
	reserve(e *sendEntry) bool
	// deliver hands e to its accumulator, spawning it if need be; an error (the accumulator is
	// stopping) leaves e the caller's.
	deliver(e *sendEntry) error
	// refuse completes e with err and releases its memory.
	refuse(e *sendEntry, err error)
	topicTimeout(topic string, want int32) error
	memoryTimeout(size int) error
	divert(n int64)
	setWaitingTopics(topics map[string]struct{})
	// setMemoryWaiting says whether records wait for memory (releases then notify the actor);
	// rearmMemory re-enables that notification before a retry.
	setMemoryWaiting(bool)
	rearmMemory()
	refreshMetadata(topics []string)
	// flushAll flushes every accumulator; done runs on the completion goroutine once everything
	// pushed before has completed.
	flushAll(done func())
	// abortTransaction aborts a transactional producer's open transaction, then runs then (at
	// once when there is none), without blocking the actor.
	abortTransaction(then func())
	post(msg any)
	reply(to *actor.PID, msg any)
	after(d time.Duration, msg any) (stop func() bool)
	now() time.Time
	closed() bool
	beginClose()
	stopSelf()
	takeLane(spare []laneItem) []laneItem
	closeLane() []laneItem
	unanswered() uint64
	cleanup()
}

// parkedEntry is a record in the producer actor's care.
type parkedEntry struct {
	sendEntry
	seq      uint64    // arrival order, for flushes
	deadline time.Time // MaxBlock after the Produce
	// counted: included in the gate's diverted count (from the lane until it leaves it, and while
	// waiting for memory).
	counted bool
	parked  bool // waited in a queue: flushes that came after it count it
}

// waitKey names a metadata queue: the topic's, or that of one partition the topic lacks.
func waitKey(topic string, part int32) string {
	if part < 0 {
		return topic
	}
	return topic + "\x00" + strconv.Itoa(int(part))
}

// flushWait is a Flush (or the Close flush) waiting for the records that were waiting when it came,
// then for every accumulator.
type flushWait struct {
	seq     uint64
	waiting int
	replyTo *actor.PID
	corr    uint64
	close   bool
	then    func() // a transactional message's operation: run instead of the flush
}

type memoryReleased struct{}

var memoryReleasedMsg = &memoryReleased{}

type deadlineDue struct{ gen uint64 }

type closeFlushed struct{}

var closeFlushedMsg = &closeFlushed{}

// waitingRoom is the state; every method runs on the producer actor's goroutine.
type waitingRoom struct {
	env      roomEnv
	maxBlock time.Duration

	taken    []laneItem // what the last take returned; taken[takenPos:] is not handled yet
	takenPos int
	spare    []laneItem
	seq      uint64

	topicWait map[string][]*parkedEntry
	memWait   []*parkedEntry
	parked    int // entries in topicWait and memWait

	flushes []*flushWait // waiting for parked records
	closers []*actor.PID // Close senders, answered once stopped
	closing bool

	timerGen  uint64
	timerStop func() bool
	timerAt   time.Time
}

func newWaitingRoom(maxBlock time.Duration) *waitingRoom {
	return &waitingRoom{maxBlock: maxBlock, topicWait: map[string][]*parkedEntry{}}
}

func (s *waitingRoom) receive(msg any) bool {
	switch m := msg.(type) {
	case *laneReady:
		s.drainLane()
	case *memoryReleased:
		s.retryMemory()
	case *messages.MetadataUpdated:
		s.retryTopics()
	case *deadlineDue:
		if m.gen == s.timerGen {
			s.timerStop = nil
			s.expire()
		}
	case *closeFlushed:
		s.env.stopSelf()
	default:
		return false
	}
	return true
}

func (s *waitingRoom) drainLane() {
	if s.takenPos >= len(s.taken) {
		s.spare, s.taken = s.taken[:0], s.env.takeLane(s.spare)
		s.takenPos = 0
	}
	for s.takenPos < len(s.taken) {
		it := s.taken[s.takenPos]
		s.taken[s.takenPos] = laneItem{}
		s.takenPos++
		s.handle(it)
	}
}

func (s *waitingRoom) handle(it laneItem) {
	s.seq++
	switch it.kind {
	case itemRecord:
		e := &parkedEntry{sendEntry: it.entry, seq: s.seq, deadline: it.entry.now.Add(s.maxBlock), counted: true}
		s.route(e)
	case itemFlush:
		s.env.divert(-1)
		s.flush(&flushWait{seq: s.seq, replyTo: it.replyTo, corr: it.corr})
	case itemClose:
		s.env.divert(-1)
		s.close(it.replyTo)
	case itemTransaction:
		s.env.divert(-1)
		s.flush(&flushWait{seq: s.seq, then: it.run})
	}
}

// route takes a record from the lane as far as it goes, or parks it.
func (s *waitingRoom) route(e *parkedEntry) {
	if s.closing || s.env.closed() {
		s.finish(e, ErrProducerClosed)
		return
	}
	if e.part < 0 {
		// Behind the records of its topic, or of the partition it names, that wait already.
		t := e.rec.Topic
		if len(s.topicWait[t]) > 0 {
			s.parkTopic(e, t)
			return
		}
		if k := waitKey(t, e.want); e.want >= 0 && len(s.topicWait[k]) > 0 {
			s.parkTopic(e, k)
			return
		}
		ok, err := s.env.choosePartition(&e.sendEntry)
		if err != nil {
			s.finish(e, err)
			return
		}
		if !ok {
			s.parkTopic(e, s.metadataKey(e))
			return
		}
	}
	s.routePartitioned(e)
}

// metadataKey is the queue of a record whose partition cannot be chosen yet.
func (s *waitingRoom) metadataKey(e *parkedEntry) string {
	if e.want >= 0 && s.env.topicKnown(e.rec.Topic) {
		return waitKey(e.rec.Topic, e.want)
	}
	return e.rec.Topic
}

func (s *waitingRoom) routePartitioned(e *parkedEntry) {
	if !e.reserved && (len(s.memWait) > 0 || !s.env.reserve(&e.sendEntry)) {
		s.parkMemory(e)
		return
	}
	s.finish(e, s.env.deliver(&e.sendEntry))
}

// finish ends the actor's care of e: delivered (err nil) or refused.
func (s *waitingRoom) finish(e *parkedEntry, err error) {
	if err != nil {
		s.env.refuse(&e.sendEntry, err)
	}
	if e.counted {
		e.counted = false
		s.env.divert(-1)
	}
	if e.parked {
		e.parked = false
		s.parked--
		for _, f := range s.flushes {
			if e.seq < f.seq {
				f.waiting--
			}
		}
		s.startReadyFlushes()
	}
}

func (s *waitingRoom) parkTopic(e *parkedEntry, key string) {
	if !e.deadline.After(s.env.now()) {
		s.finish(e, s.env.topicTimeout(e.rec.Topic, e.want))
		return
	}
	q := s.topicWait[key]
	s.topicWait[key] = append(q, e)
	if !e.parked {
		e.parked = true
		s.parked++
	}
	if len(q) == 0 {
		s.publishTopics()
		s.env.refreshMetadata([]string{e.rec.Topic})
	}
	if e.counted {
		// Only now that the gate names the topic: its later records cannot pass this one.
		e.counted = false
		s.env.divert(-1)
	}
	s.armAt(e.deadline)
}

func (s *waitingRoom) parkMemory(e *parkedEntry) {
	if !e.deadline.After(s.env.now()) {
		s.finish(e, s.env.memoryTimeout(e.size))
		return
	}
	if !e.counted {
		// Before it leaves its topic queue (publishTopics): the gate must hold its partition.
		e.counted = true
		s.env.divert(1)
	}
	if !e.parked {
		e.parked = true
		s.parked++
	}
	s.memWait = append(s.memWait, e)
	s.armAt(e.deadline)
	if len(s.memWait) == 1 {
		s.env.setMemoryWaiting(true)
		s.retryMemory() // memory released between the failed reserve and the line above
	}
}

// retryMemory lets waiting records go, in order, while memory can be reserved.
func (s *waitingRoom) retryMemory() {
	s.env.rearmMemory() // before trying: a release from now on notifies again
	for len(s.memWait) > 0 {
		e := s.memWait[0]
		if !e.reserved && !s.env.reserve(&e.sendEntry) {
			return
		}
		err := s.env.deliver(&e.sendEntry)
		s.memWait[0] = nil
		s.memWait = s.memWait[1:]
		s.finish(e, err)
	}
	s.memWait = nil
	s.env.setMemoryWaiting(false)
}

// retryTopics lets the records of topics now known go on, each queue's in order.
func (s *waitingRoom) retryTopics() {
	changed := false
	still := map[string]bool{}
	for key, q := range s.topicWait {
		i := 0
		for ; i < len(q); i++ {
			e := q[i]
			if s.closing || s.env.closed() {
				q[i] = nil
				s.finish(e, ErrProducerClosed)
				continue
			}
			ok, err := s.env.choosePartition(&e.sendEntry)
			if err == nil && !ok {
				if k := s.metadataKey(e); k != key { // the topic came, its partition not yet
					q[i] = nil
					s.parkTopic(e, k)
					changed = true
					continue
				}
				break
			}
			q[i] = nil
			if err != nil {
				s.finish(e, err)
				continue
			}
			s.routePartitioned(e)
		}
		if i == len(q) {
			delete(s.topicWait, key)
			changed = true
		} else {
			s.topicWait[key] = q[i:]
			still[q[i].rec.Topic] = true
		}
	}
	if changed {
		s.publishTopics()
	}
	if len(still) > 0 {
		topics := make([]string, 0, len(still))
		for t := range still {
			topics = append(topics, t)
		}
		s.env.refreshMetadata(topics)
	}
}

func (s *waitingRoom) publishTopics() {
	m := make(map[string]struct{}, len(s.topicWait))
	for t := range s.topicWait {
		m[t] = struct{}{}
	}
	s.env.setWaitingTopics(m)
}

// expire fails what waited MaxBlock. Deadlines are checked together, at most about 64 times per
// MaxBlock, so a long queue is not scanned once per record: a record may fail up to MaxBlock/64
// late.
func (s *waitingRoom) expire() {
	now := s.env.now()
	var next time.Time
	later := func(d time.Time) {
		if next.IsZero() || d.Before(next) {
			next = d
		}
	}
	kept := s.memWait[:0]
	for _, e := range s.memWait {
		if e.deadline.After(now) {
			kept = append(kept, e)
			later(e.deadline)
			continue
		}
		s.finish(e, s.env.memoryTimeout(e.size))
	}
	clear(s.memWait[len(kept):])
	s.memWait = kept
	changed := false
	for t, q := range s.topicWait {
		keptT := q[:0]
		for _, e := range q {
			if e.deadline.After(now) {
				keptT = append(keptT, e)
				later(e.deadline)
				continue
			}
			s.finish(e, s.env.topicTimeout(e.rec.Topic, e.want))
		}
		clear(q[len(keptT):])
		if len(keptT) == 0 {
			delete(s.topicWait, t)
			changed = true
		} else {
			s.topicWait[t] = keptT
		}
	}
	if changed {
		s.publishTopics()
	}
	if len(s.memWait) > 0 {
		s.retryMemory() // the head may have expired: the next may fit
	} else {
		s.env.setMemoryWaiting(false)
	}
	if !next.IsZero() {
		gap := min(max(s.maxBlock/64, time.Millisecond), time.Second)
		s.armAt(maxTime(next, now.Add(gap)))
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// armAt makes sure the deadline timer fires by at.
func (s *waitingRoom) armAt(at time.Time) {
	if s.timerStop != nil && !at.Before(s.timerAt) {
		return
	}
	s.stopTimer()
	s.timerGen++
	s.timerAt = at
	s.timerStop = s.env.after(at.Sub(s.env.now()), &deadlineDue{gen: s.timerGen})
}

func (s *waitingRoom) stopTimer() {
	if s.timerStop != nil {
		s.timerStop()
		s.timerStop = nil
	}
	s.timerGen++
}

// flush starts f once the records parked before it have left (or at once).
func (s *waitingRoom) flush(f *flushWait) {
	f.waiting = s.parked
	s.flushes = append(s.flushes, f)
	s.startReadyFlushes()
}

func (s *waitingRoom) startReadyFlushes() {
	kept := s.flushes[:0]
	for _, f := range s.flushes {
		if f.waiting > 0 {
			kept = append(kept, f)
			continue
		}
		s.startFlush(f)
	}
	clear(s.flushes[len(kept):])
	s.flushes = kept
}

// startFlush flushes every accumulator. The answer goes from the completion goroutine, after the
// Delivered replies of every record before it; the Close flush comes back to the actor.
func (s *waitingRoom) startFlush(f *flushWait) {
	env := s.env
	switch {
	case f.then != nil:
		f.then()
	case f.close: // Java's close aborts an open transaction first
		env.abortTransaction(func() { env.flushAll(func() { env.post(closeFlushedMsg) }) })
	case f.replyTo != nil:
		to, corr := f.replyTo, f.corr
		env.flushAll(func() {
			env.reply(to, &messages.Flushed{Correlation: corr, UnansweredFailures: env.unanswered()})
		})
	default:
		env.flushAll(func() {})
	}
}

// close starts a graceful close: nothing more is accepted, what waits fails, the accumulators are
// flushed, then the actor stops itself (closeFlushed) and Stopped answers the Close senders.
func (s *waitingRoom) close(replyTo *actor.PID) {
	if replyTo != nil {
		s.closers = append(s.closers, replyTo)
	}
	if s.closing {
		return
	}
	s.closing = true
	s.env.beginClose()
	s.failParked(ErrProducerClosed)
	s.seq++
	s.flush(&flushWait{seq: s.seq, close: true})
}

// failParked fails every waiting record with err; flushes waiting for them then start.
func (s *waitingRoom) failParked(err error) {
	s.stopTimer()
	for _, e := range s.memWait {
		s.finish(e, err)
	}
	s.memWait = nil
	s.env.setMemoryWaiting(false)
	for _, q := range s.topicWait {
		for _, e := range q {
			s.finish(e, err)
		}
	}
	clear(s.topicWait)
	s.publishTopics()
}

// failLane answers everything still in the lane, or taken from it and not handled: records fail
// with err; flushes and closes are handled as usual (they wait for the accumulators to fail what
// they hold, which they do as they stop).
func (s *waitingRoom) failLane(err error) {
	rest := s.taken[s.takenPos:]
	s.taken, s.takenPos = nil, 0
	items := append(rest, s.env.takeLane(nil)...)
	for _, it := range items {
		if it.kind == itemRecord {
			s.seq++
			s.finish(&parkedEntry{sendEntry: it.entry, counted: true}, err)
			continue
		}
		s.handle(it)
	}
}

// restarting: the supervisor restarts the producer actor; its accumulators are about to stop and
// fail what they hold with err. Whatever the actor holds fails with it too; flushes still complete
// (after those failures).
func (s *waitingRoom) restarting(err error) {
	s.failParked(err)
	s.failLane(err)
}

// stopping: the actor is stopping (Close, or stopped by its parent).
func (s *waitingRoom) stopping() {
	s.env.beginClose()
	s.failParked(ErrProducerClosed)
	s.failLane(ErrProducerClosed)
}

// stopped: the children have stopped; release everything and answer the Close senders.
func (s *waitingRoom) stopped() {
	late := s.env.closeLane() // Flush or Close sent while stopping
	s.env.cleanup()
	for _, it := range late {
		switch it.kind {
		case itemRecord: // cannot happen: records are refused once closing began
			s.env.refuse(&it.entry, ErrProducerClosed)
		case itemFlush:
			if it.replyTo != nil {
				s.env.reply(it.replyTo, &messages.Flushed{Correlation: it.corr, UnansweredFailures: s.env.unanswered()})
			}
		case itemClose:
			if it.replyTo != nil {
				s.closers = append(s.closers, it.replyTo)
			}
		case itemTransaction:
			it.run() // fails with ErrProducerClosed
		}
	}
	for _, to := range s.closers {
		s.env.reply(to, &messages.Closed{UnansweredFailures: s.env.unanswered()})
	}
	s.closers = nil
}

// producerHooks plugs the waiting room into the producer actor (actors.ProducerHooks).
type producerHooks struct {
	p    *Producer
	room *waitingRoom
	env  producerEnv
}

func (h *producerHooks) Started(c actor.Context, restarted bool) {
	h.env.c = c
	if restarted {
		h.room.drainLane()
	}
}

func (h *producerHooks) Restarting(c actor.Context, reason error) {
	h.env.c = c
	h.room.restarting(reason)
}

func (h *producerHooks) Stopping(c actor.Context) {
	h.env.c = c
	h.room.stopping()
}

func (h *producerHooks) Stopped(c actor.Context) {
	h.env.c = c
	h.room.stopped()
	h.p.mailbox.p.Store(nil) // later sends are answered by the mailbox alone
}

func (h *producerHooks) Receive(c actor.Context, msg any) bool {
	h.env.c = c
	// The actor messages normally stop at the mailbox; these came another way (put in by post) and
	// are handled the same, not dropped.
	switch m := msg.(type) {
	case *messages.Produce:
		h.p.produce(m, c.Sender())
		return true
	case *messages.Flush, *messages.Close:
		h.p.mailbox.PostUserMessage(&actor.MessageEnvelope{Message: m, Sender: c.Sender()})
		return true
	}
	return h.room.receive(msg)
}

// producerEnv is roomEnv on the real producer; c is the producer actor's context of the message
// being handled.
type producerEnv struct {
	p *Producer
	c actor.Context
	// memWaitStart is when records began to wait for memory in the actor (metrics: one wait per
	// period the queue is not empty).
	memWaitStart time.Time
}

func (v *producerEnv) choosePartition(e *sendEntry) (bool, error) { return v.p.choosePartition(e) }
func (v *producerEnv) topicKnown(topic string) bool {
	return v.p.shared.Cluster().Topics[topic].Usable()
}
func (v *producerEnv) reserve(e *sendEntry) bool { return v.p.reserve(e) }

func (v *producerEnv) deliver(e *sendEntry) error {
	tp := TopicPartition{Topic: e.rec.Topic, Partition: e.part}
	if g := v.p.shared.Txn; g != nil { // refused outside a transaction (transactions.go)
		if err := g.Enter(tp); err != nil {
			return err
		}
		defer g.Exit()
	}
	if v.p.deliver(e) {
		return nil
	}
	if in := v.c.Actor().(*actors.Producer).Accumulator(v.c, tp); in.Push(v.p.appendOf(e)) {
		return nil
	}
	// The partition's accumulator has stopped, and the producer actor is running: it was stopped
	// by a Close (a restart would have replaced it before this message).
	return ErrProducerClosed
}

func (v *producerEnv) refuse(e *sendEntry, err error) {
	if e.reserved {
		e.reserved = false
		v.p.release(int64(e.size))
	}
	v.p.refuse(e.rec, e.done, err)
}

func (v *producerEnv) topicTimeout(topic string, want int32) error {
	return v.p.topicTimeout(topic, want)
}
func (v *producerEnv) memoryTimeout(size int) error { return v.p.memoryTimeout(size) }
func (v *producerEnv) divert(n int64)               { v.p.gate.diverted.Add(n) }
func (v *producerEnv) setWaitingTopics(m map[string]struct{}) {
	v.p.gate.topics.Store(&m)
}
func (v *producerEnv) setMemoryWaiting(b bool) {
	switch was := v.p.memWaiting.Swap(b); {
	case b && !was:
		v.memWaitStart = time.Now()
	case was && !b:
		v.p.shared.Metrics.BufferWaited(v.memWaitStart)
	}
}
func (v *producerEnv) rearmMemory() { v.p.memNotified.Store(false) }
func (v *producerEnv) refreshMetadata(topics []string) {
	v.p.post(&messages.RefreshMetadata{Topics: topics, Reason: "produce"})
}
func (v *producerEnv) flushAll(done func())         { v.p.flushAll(done) }
func (v *producerEnv) post(msg any)                 { v.p.post(msg) }
func (v *producerEnv) abortTransaction(then func()) { v.p.abortTransactionAsync(then) }
func (v *producerEnv) reply(to *actor.PID, msg any) { v.p.sys.Root.Send(to, msg) }
func (v *producerEnv) after(d time.Duration, msg any) func() bool {
	return time.AfterFunc(d, func() { v.p.post(msg) }).Stop
}
func (v *producerEnv) now() time.Time                       { return time.Now() }
func (v *producerEnv) closed() bool                         { return v.p.closedFlag.Load() }
func (v *producerEnv) beginClose()                          { v.p.beginClose() }
func (v *producerEnv) stopSelf()                            { v.c.Stop(v.c.Self()) }
func (v *producerEnv) takeLane(spare []laneItem) []laneItem { return v.p.lane.Take(spare) }
func (v *producerEnv) closeLane() []laneItem                { return v.p.lane.Close() }
func (v *producerEnv) unanswered() uint64                   { return v.p.unanswered.Load() }
func (v *producerEnv) cleanup()                             { v.p.cleanup() }
