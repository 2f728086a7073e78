package kastor

// Actor-native use: the producer as an actor in the user's own tree, driven by messages.
//
// A user actor sends *messages.Produce to the producer's PID. The producer actor's mailbox is
// kastor's own (producerMailbox, given with protoactor's WithMailbox): its PostUserMessage runs on
// the sender's goroutine, like SendAsync does, so a Produce costs no hop through a central actor:
// it is partitioned, charged to the buffer pool and pushed into its partition's accumulator right
// there, and Delivered is sent back from the completion goroutine. Only what cannot go on without
// waiting (unknown topic metadata, spent buffer memory, a partition's first record, or anything
// behind such a record) goes through the producer actor, which parks it without blocking its
// mailbox and lets it go on when metadata or memory arrives (waitingroom.go). Every other message,
// and every system message, goes into the actor's mailbox unchanged.

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/actors"
	"github.com/kastor-go/kastor/internal/queue"
	"github.com/kastor-go/kastor/messages"
)

// The messages of actor-native use; see the messages package.
type (
	Produce       = messages.Produce
	ProduceBatch  = messages.ProduceBatch
	ProducedBatch = messages.ProducedBatch
	Delivered     = messages.Delivered
	Flush         = messages.Flush
	Flushed       = messages.Flushed
	Close         = messages.Close
	Closed        = messages.Closed
)

// Props returns props that spawn a producer as an actor, for a user actor to run as its child:
//
//	props, err := kastor.Props(cfg)
//	...
//	producer := ctx.Spawn(props) // in the user actor's Receive
//	ctx.Request(producer, &kastor.Produce{Record: rec, Correlation: 7}) // answered with *kastor.Delivered
//
// Each spawn starts an independent producer in the spawning actor's system (cfg.ActorSystem is
// ignored). The producer actor accepts Produce, Flush and Close (see the messages package). Its
// supervisor is the spawning actor: kastor handles connection failures, retries, broker errors
// and panics inside the actors below the producer actor itself; a fatal error (authorization, a fenced producer, a
// cluster that refuses what the config asks for) is escalated as a failure whose reason is an
// error wrapping ErrFatal. A Restart directive gives a fresh producer (records it held fail with
// ErrProducerRestarted, later ones are sent normally); Stop stops it (records it held fail with
// ErrProducerClosed); Resume leaves it failed. Stopping the producer, or its parent, fails what it
// holds; send Close to stop it gracefully. Its goroutines are gone once it has stopped.
//
// opts are applied to the producer actor's own props on every spawn, after kastor's: receiver and
// sender middleware, a context decorator, OnInit functions, a dispatcher or a supervisor strategy
// for the producer's children are honoured. The mailbox and the spawn function are kastor's (the
// mailbox is what takes Produce on the sender's goroutine), so WithMailbox and WithSpawnFunc are
// ignored. Options added to the returned props afterwards (Configure) apply to nothing: pass them
// here.
func Props(cfg Config, opts ...actor.PropsOption) (*actor.Props, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The caller keeps its slices; every spawn reads these copies.
	cfg.BootstrapServers = slices.Clone(cfg.BootstrapServers)
	cfg.Interceptors = slices.Clone(cfg.Interceptors)
	opts = slices.Clone(opts)
	return actor.PropsFromFunc(func(actor.Context) {}, actor.WithSpawnFunc(
		func(sys *actor.ActorSystem, id string, _ *actor.Props, parent actor.SpawnerContext) (*actor.PID, error) {
			p := newProducer(cfg, sys)
			pid, err := p.spawnFunc(true, opts)(sys, id, nil, parent)
			if err != nil {
				p.cleanup()
			}
			return pid, err
		})), nil
}

// PID is the producer actor: actors in the producer's system may send it Produce and Flush (and
// Close, which closes the producer like Close does).
func (p *Producer) PID() *actor.PID { return p.pid }

// props spawns this producer's actor (once).
func (p *Producer) props(escalate bool) *actor.Props {
	return actor.PropsFromFunc(func(actor.Context) {}, actor.WithSpawnFunc(p.spawnFunc(escalate, nil)))
}

// spawnFunc spawns the producer actor with kastor's mailbox (producerMailbox) and the caller's
// options.
func (p *Producer) spawnFunc(escalate bool, opts []actor.PropsOption) actor.SpawnFunc {
	return func(sys *actor.ActorSystem, id string, _ *actor.Props, parent actor.SpawnerContext) (*actor.PID, error) {
		hooks := &producerHooks{p: p, room: newWaitingRoom(p.cfg.MaxBlock)}
		hooks.env.p = p
		hooks.room.env = &hooks.env
		mb := &producerMailbox{inner: actors.NewMailbox(), sys: sys}
		mb.p.Store(p)
		p.mailbox = mb
		props := actors.NewProducerPropsWith(p.shared, actors.ProducerOptions{Stopped: p.stopped, Hooks: hooks, Escalate: escalate}).
			Configure(opts...).
			Configure(actor.WithMailbox(func() actor.Mailbox { return mb }))
		pid, err := actor.DefaultSpawner(sys, id, props, parent)
		if err != nil {
			return pid, err
		}
		mb.self.Store(pid)
		p.pid = pid
		// Once the actor has stopped, protoactor sends what comes to its PID to its dead letters;
		// the actor messages among them still get their answer (ErrProducerClosed), on the
		// sender's goroutine, as before the stop.
		sys.EventStream.Subscribe(func(evt any) {
			if dl, ok := evt.(*actor.DeadLetterEvent); ok && dl.PID != nil && dl.PID.Id == pid.Id && dl.PID.Address == pid.Address {
				mb.refuseDead(dl.Message, dl.Sender)
			}
		})
		return pid, nil
	}
}

// refuseDead answers an actor message that reached the stopped producer's dead letters. Anything
// else is left to protoactor (answering it here would send it to the dead letters again).
func (m *producerMailbox) refuseDead(msg any, sender *actor.PID) {
	switch msg.(type) {
	case *messages.Produce, *messages.ProduceBatch, *messages.Flush, *messages.Close, actor.MessageBatch,
		*messages.InitTransactions, *messages.BeginTransaction, *messages.SendOffsetsToTransaction,
		*messages.CommitTransaction, *messages.AbortTransaction:
		if sender != nil {
			msg = &actor.MessageEnvelope{Message: msg, Sender: sender}
		}
		m.PostUserMessage(msg)
	}
}

// post puts msg into the producer actor's mailbox, past the interception of actor messages.
func (p *Producer) post(msg any) { p.mailbox.inner.PostUserMessage(msg) }

// producerMailbox is the producer actor's mailbox (see the top of this file): protoactor's own
// unbounded mailbox behind a PostUserMessage that handles the actor messages on the sender's
// goroutine.
type producerMailbox struct {
	inner actor.Mailbox
	sys   *actor.ActorSystem
	self  atomic.Pointer[actor.PID]
	p     atomic.Pointer[Producer] // nil once the producer actor has stopped
}

func (m *producerMailbox) PostSystemMessage(msg any) { m.inner.PostSystemMessage(msg) }
func (m *producerMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.inner.RegisterHandlers(invoker, dispatcher)
}
func (m *producerMailbox) Start()                { m.inner.Start() }
func (m *producerMailbox) UserMessageCount() int { return m.inner.UserMessageCount() }

// PostUserMessage implements actor.Mailbox; it runs on the sender's goroutine.
func (f *producerMailbox) PostUserMessage(message interface{}) {
	_, msg, sender := actor.UnwrapEnvelope(message)
	p := f.p.Load()
	switch m := msg.(type) {
	case *messages.Produce:
		if p == nil {
			if sender != nil {
				var rec *Record
				if m != nil {
					rec = m.Record
				}
				f.sys.Root.Send(sender, &messages.Delivered{Correlation: corrOf(m), Record: rec, Err: ErrProducerClosed,
					Metadata: refusedMetadata(rec)})
			}
			return
		}
		p.produce(m, sender)
		return
	case *messages.ProduceBatch:
		if m == nil {
			m = &messages.ProduceBatch{}
		}
		if p == nil {
			if sender != nil {
				reply := &messages.ProducedBatch{Correlation: m.Correlation, Results: make([]messages.Delivered, len(m.Records))}
				for i, rec := range m.Records {
					reply.Results[i] = messages.Delivered{Correlation: m.Correlation, Record: rec, Err: ErrProducerClosed, Metadata: refusedMetadata(rec)}
				}
				f.sys.Root.Send(sender, reply)
			}
			return
		}
		p.produceBatch(m, sender)
		return
	case *messages.Flush:
		if p == nil || !p.pushControl(laneItem{kind: itemFlush, replyTo: sender, corr: m.Correlation}) {
			if sender != nil {
				f.sys.Root.Send(sender, &messages.Flushed{Correlation: m.Correlation, Err: ErrProducerClosed})
			}
		}
		return
	case *messages.Close:
		if p == nil || !p.pushControl(laneItem{kind: itemClose, replyTo: sender}) {
			if sender != nil {
				f.sys.Root.Send(sender, &messages.Closed{})
			}
		}
		return
	case *messages.InitTransactions, *messages.BeginTransaction, *messages.SendOffsetsToTransaction,
		*messages.CommitTransaction, *messages.AbortTransaction:
		if p == nil {
			if sender != nil {
				f.sys.Root.Send(sender, &messages.TransactionDone{Request: msg, Err: ErrProducerClosed, Correlation: txnCorrelation(msg)})
			}
			return
		}
		p.transactionMessage(msg, sender)
		return
	case actor.MessageBatch:
		// Unpacked here, in order, rather than by the mailbox: a Produce taking the mailbox's way
		// would fall behind the Flush sent after it, which goes straight into the lane.
		for _, msg := range m.GetMessages() {
			if sender != nil {
				msg = &actor.MessageEnvelope{Message: msg, Sender: sender}
			}
			f.PostUserMessage(msg)
		}
		return
	}
	if p == nil {
		f.sys.DeadLetter.SendUserMessage(f.self.Load(), message)
		return
	}
	f.inner.PostUserMessage(message)
}

func corrOf(m *messages.Produce) uint64 {
	if m == nil {
		return 0
	}
	return m.Correlation
}

// produce runs a Produce on its sender's goroutine: at once into the accumulator when nothing has to
// wait, else into the producer actor's lane.
func (p *Producer) produce(m *messages.Produce, sender *actor.PID) {
	to := replyTo{sender: sender, corr: corrOf(m)}
	if m == nil || m.Record == nil {
		p.refuse(nil, p.replier(to, nil), fmt.Errorf("%w: nil record", ErrInvalidRecord))
		return
	}
	rec, done, err := p.tryProduce(m.Record, to)
	if err != nil {
		// Outside the lock, like SendAsync's refusals.
		p.refuse(rec, done, err)
	}
}

// produceBatch runs a ProduceBatch on its sender's goroutine: each record as produce runs a
// Produce, in order, each completing into its slot of the one reply.
func (p *Producer) produceBatch(m *messages.ProduceBatch, sender *actor.PID) {
	var b *batchReply
	if sender != nil {
		b = &batchReply{root: p.sys.Root, to: sender,
			reply: &messages.ProducedBatch{Correlation: m.Correlation, Results: make([]messages.Delivered, len(m.Records))}}
		b.left.Store(int64(len(m.Records)) + 1) // + 1: not sent before every record was handed over
	}
	for i, rec := range m.Records {
		to := replyTo{sender: sender, corr: m.Correlation, batch: b, index: i}
		if rec == nil {
			p.refuse(nil, p.replier(to, nil), fmt.Errorf("%w: nil record", ErrInvalidRecord))
			continue
		}
		rec, done, err := p.tryProduce(rec, to)
		if err != nil {
			p.refuse(rec, done, err)
		}
	}
	if b != nil {
		b.done()
	}
}

// batchReply is a ProduceBatch's reply while its records complete; the last one sends it.
type batchReply struct {
	root  *actor.RootContext
	to    *actor.PID
	reply *messages.ProducedBatch
	left  atomic.Int64
}

func (b *batchReply) done() {
	if b.left.Add(-1) == 0 {
		b.root.Send(b.to, b.reply)
	}
}

// replyTo says where a record sent by message is answered: a Delivered to sender (none: counted),
// or slot index of a ProduceBatch's reply.
type replyTo struct {
	sender *actor.PID
	corr   uint64
	batch  *batchReply
	index  int
}

func (p *Producer) tryProduce(rec *Record, to replyTo) (*Record, messages.Completion, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return rec, p.replier(to, rec), ErrProducerClosed
	}
	if err := p.shared.Fatal(); err != nil {
		return rec, p.replier(to, rec), err
	}
	rec = p.intercept(rec)
	done := p.replier(to, rec)
	e, err := p.prepare(rec, done)
	if err != nil {
		return rec, done, err
	}
	if p.gate.clear(rec.Topic, e.want) {
		st, err := p.advance(&e)
		if err != nil {
			if e.reserved {
				p.release(int64(e.size))
			}
			return rec, done, err
		}
		if st == stageDone {
			return rec, done, nil
		}
	}
	p.pushLane(laneItem{kind: itemRecord, entry: e})
	return rec, done, nil
}

// replier is the completion of a record sent by message: a Delivered to its sender, its slot in a
// ProduceBatch's reply, or (sent without a sender) a count.
func (p *Producer) replier(to replyTo, rec *Record) messages.Completion {
	switch {
	case to.batch != nil:
		b, i := to.batch, to.index
		b.reply.Results[i].Correlation, b.reply.Results[i].Record = to.corr, rec
		return func(md RecordMetadata, err error) {
			b.reply.Results[i].Metadata, b.reply.Results[i].Err = md, err
			b.done()
		}
	case to.sender == nil:
		return p.noReply
	}
	root, sender, corr := p.sys.Root, to.sender, to.corr
	return func(md RecordMetadata, err error) {
		root.Send(sender, &messages.Delivered{Correlation: corr, Record: rec, Metadata: md, Err: err})
	}
}

// onUnanswered completes a fire-and-forget Produce: failures are counted and logged, at most one
// line per second (a broker outage fails records by the thousand).
func (p *Producer) onUnanswered(md RecordMetadata, err error) {
	if err == nil {
		return
	}
	n := p.unanswered.Add(1)
	now := time.Now().UnixNano()
	if last := p.lastFailLog.Load(); now-last >= int64(time.Second) && p.lastFailLog.CompareAndSwap(last, now) {
		p.logger.Warn("kastor: a fire-and-forget record failed", "topic", md.Topic, "partition", md.Partition,
			"err", err, "failed_total", n)
	}
}

// laneGate tells a Produce on its sender's goroutine whether it may go straight to the
// accumulator, that is, whether nothing it must not overtake waits in the producer actor:
//   - diverted counts the lane items not yet handled and the records waiting for memory (memory
//     is granted in arrival order, and a record must not pass one of its partition);
//   - topics holds the metadata queues with records (waitKey: a topic, or a partition a topic
//     lacks): a record of such a topic (or naming such a partition) must queue behind them even
//     once the snapshot knows it.
//
// The producer actor updates both before it lets a record go (see waitingroom.go), so a sender that
// sees the gate clear knows its earlier records are already in their accumulators.
type laneGate struct {
	diverted atomic.Int64
	topics   atomic.Pointer[map[string]struct{}]
}

// clear costs two atomic loads (and map lookups only while records wait for metadata).
func (g *laneGate) clear(topic string, want int32) bool {
	if g.diverted.Load() != 0 {
		return false
	}
	if m := g.topics.Load(); m != nil && len(*m) > 0 {
		if _, waits := (*m)[topic]; waits {
			return false
		}
		if want >= 0 {
			_, waits := (*m)[waitKey(topic, want)]
			return !waits
		}
	}
	return true
}

// itemKind is what a lane item carries.
type itemKind uint8

const (
	itemRecord itemKind = iota
	itemFlush
	itemClose
	itemTransaction // a transactional message (transactions.go): run once the records before it went on
)

// laneItem is a Produce (entry), Flush or Close on its way to the producer actor.
type laneItem struct {
	kind    itemKind
	entry   sendEntry
	replyTo *actor.PID
	corr    uint64
	run     func() // itemTransaction
}

// laneQueue carries items to the producer actor. Not its mailbox: protoactor-go drops the user
// messages queued in a mailbox when the actor stops, and these must all be answered. A poke goes to
// the mailbox only when the queue goes from empty to not empty.
type laneQueue = queue.Queue[laneItem]

type laneReady struct{}

var lanePoke = &laneReady{}

// pushLane hands a record to the producer actor. Called with mu held for reading and the producer
// open, so the lane is open: it closes only after the producer stopped.
func (p *Producer) pushLane(it laneItem) {
	p.gate.diverted.Add(1) // before the push: a later send of this sender must see it
	if ok, poke := p.lane.Push(it); !ok {
		p.gate.diverted.Add(-1)
		p.refuse(it.entry.rec, it.entry.done, ErrProducerClosed) // unreachable; never silent
	} else if poke {
		p.post(lanePoke)
	}
}

// pushControl hands a Flush or Close to the producer actor, behind every Produce its sender sent
// before; false once the producer has stopped.
func (p *Producer) pushControl(it laneItem) bool {
	p.gate.diverted.Add(1)
	ok, poke := p.lane.Push(it)
	if !ok {
		p.gate.diverted.Add(-1)
		return false
	}
	if poke {
		p.post(lanePoke)
	}
	return true
}
