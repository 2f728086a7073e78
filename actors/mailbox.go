package actors

import (
	"runtime"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/internal/queue"
)

// mailbox is the mailbox of kastor's actors, through protoactor-go's Mailbox extension point
// (actor.WithMailbox). protoactor's default mailbox schedules an idle mailbox with a method value,
// a new closure every time, and on the record path an idle mailbox is scheduled several times per
// batch: most of the garbage left per batch. This one hands the dispatcher the same func every
// time. Otherwise it keeps the default's contract: every system message before the next user
// message, SuspendMailbox and ResumeMailbox, a yield every Throughput messages, a panic escalated
// to the invoker with the message that caused it (the message is not handled again), and no
// wake-up lost between a post and the end of a turn.
type mailbox struct {
	user   queue.Queue[any]
	system queue.Queue[any]

	// What was taken from the queues and not handled yet (the turn's goroutine only).
	users, systems taken

	running   atomic.Bool
	userCount atomic.Int32 // posted and not handled
	sysCount  atomic.Int32
	suspended atomic.Bool

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
	process    func() // processMessages, bound once
}

// NewMailbox is the actor.MailboxProducer of kastor's actors (the producer actor's wraps one).
func NewMailbox() actor.Mailbox {
	m := &mailbox{}
	m.process = m.processMessages
	return m
}

// PostUserMessage implements actor.Mailbox. A MessageBatch is posted message by message and then
// itself, as protoactor's default mailbox does.
func (m *mailbox) PostUserMessage(message any) {
	if batch, ok := message.(actor.MessageBatch); ok {
		for _, msg := range batch.GetMessages() {
			m.PostUserMessage(msg)
		}
	}
	if env, ok := message.(*actor.MessageEnvelope); ok {
		if batch, ok := env.Message.(actor.MessageBatch); ok {
			for _, msg := range batch.GetMessages() {
				m.PostUserMessage(msg)
			}
		}
	}
	m.user.Push(message)
	m.userCount.Add(1)
	m.schedule()
}

// PostSystemMessage implements actor.Mailbox.
func (m *mailbox) PostSystemMessage(message any) {
	m.system.Push(message)
	m.sysCount.Add(1)
	m.schedule()
}

// RegisterHandlers implements actor.Mailbox.
func (m *mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
}

// Start implements actor.Mailbox.
func (m *mailbox) Start() {}

// UserMessageCount implements actor.Mailbox.
func (m *mailbox) UserMessageCount() int { return int(m.userCount.Load()) }

func (m *mailbox) schedule() {
	if m.running.CompareAndSwap(false, true) {
		m.dispatcher.Schedule(m.process)
	}
}

func (m *mailbox) processMessages() {
	for {
		m.run()
		m.running.Store(false)
		// Posted after run found nothing: whoever posted saw running and did not schedule.
		if m.sysCount.Load() <= 0 && (m.suspended.Load() || m.userCount.Load() <= 0) {
			return
		}
		if !m.running.CompareAndSwap(false, true) {
			return // a post scheduled another turn
		}
	}
}

func (m *mailbox) run() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	throughput := m.dispatcher.Throughput()
	for i := 0; ; i++ {
		if i > throughput {
			i = 0
			runtime.Gosched()
		}
		if msg = m.popSystem(); msg != nil {
			m.sysCount.Add(-1)
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended.Store(true)
			case *actor.ResumeMailbox:
				m.suspended.Store(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if m.suspended.Load() {
			return
		}
		if msg = m.popUser(); msg == nil {
			return
		}
		m.userCount.Add(-1)
		m.invoker.InvokeUserMessage(msg)
	}
}

// popSystem returns the next system message, or nil. The queue is only taken (locked) when the
// count says something was posted: the run loop looks before every user message.
func (m *mailbox) popSystem() any {
	if m.systems.empty() && m.sysCount.Load() <= 0 {
		return nil
	}
	return m.systems.pop(&m.system)
}

// popUser returns the next user message, or nil.
func (m *mailbox) popUser() any { return m.users.pop(&m.user) }

// taken is what one take from a queue returned, handed out one by one.
type taken struct {
	items []any
	next  int
	spare []any // the previous take's storage, for the next
}

func (t *taken) empty() bool { return t.next == len(t.items) }

// pop returns the next item, taking everything q holds when nothing taken is left; nil when q is
// empty too.
func (t *taken) pop(q *queue.Queue[any]) any {
	if t.empty() {
		clear(t.items)
		t.spare, t.items = t.items[:0], q.Take(t.spare)
		t.next = 0
		if len(t.items) == 0 {
			return nil
		}
	}
	it := t.items[t.next]
	t.items[t.next] = nil
	t.next++
	return it
}

// props returns props for one of kastor's actors: its mailbox is kastor's, run on the producer's
// dispatcher.
func (sh *Shared) props(producer actor.Producer, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(producer, append(opts, actor.WithDispatcher(sh.Dispatcher), actor.WithMailbox(NewMailbox))...)
}
